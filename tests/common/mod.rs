//! Helpers shared by the host integration tests: leaked 16-aligned regions, host data that
//! counts its drops, verification with host roots, and sizes that shrink under Miri.
#![allow(dead_code)]

use drc_heap::types::{HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, TypeIndex, Value, VerifyReport};
use std::cell::Cell;
use std::rc::Rc;

/// A nullable `anyref` field or element.
pub const ANYREF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Any));
/// A nullable `externref` field or element.
pub const EXTERNREF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Extern));

/// The library's test-region helper (leaked, zeroed, 16-aligned, reachable for Miri), shared
/// with its unit tests.
#[path = "../../src/test_support.rs"]
mod test_support;

pub use test_support::test_region as region;

/// `n` normally, at most `miri_cap` under Miri (which runs thousands of times slower).
pub fn size(n: usize, miri_cap: usize) -> usize {
    if cfg!(miri) {
        n.min(miri_cap)
    } else {
        n
    }
}

/// Counts host data values created and dropped.
#[derive(Default, Debug)]
pub struct Drops {
    pub created: Cell<u64>,
    pub dropped: Cell<u64>,
}

impl Drops {
    pub fn new() -> Rc<Drops> {
        Rc::new(Drops::default())
    }

    /// Values created and not yet dropped.
    pub fn live(&self) -> u64 {
        self.created.get() - self.dropped.get()
    }
}

/// Host data that counts its drops.
#[derive(Debug)]
pub struct Tracked {
    pub id: u64,
    drops: Rc<Drops>,
}

impl Tracked {
    pub fn new(drops: &Rc<Drops>, id: u64) -> Tracked {
        drops.created.set(drops.created.get() + 1);
        Tracked { id, drops: drops.clone() }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.dropped.set(self.drops.dropped.get() + 1);
    }
}

/// Allocates an externref holding a new `Tracked`.
pub fn externref(heap: &mut Heap<Tracked>, drops: &Rc<Drops>, id: u64) -> GcRef {
    heap.alloc_externref(Tracked::new(drops, id)).map_err(|(error, _)| error).expect("alloc_externref")
}

/// Verifies the heap with the given owned references as host roots, panicking with the error.
#[track_caller]
pub fn verify<H>(heap: &Heap<H>, roots: &[&GcRef]) -> VerifyReport {
    match heap.verify(roots.iter().map(|r| r.as_raw_u32())) {
        Ok(report) => report,
        Err(error) => panic!("verify failed: {error}"),
    }
}

/// Checks that nothing is left and the free memory is one block again.
#[track_caller]
pub fn assert_empty<H>(heap: &Heap<H>) {
    let stats = heap.stats().expect("stats");
    assert_eq!(stats.live_objects, 0, "{stats:?}");
    assert_eq!(stats.free_blocks, 1, "{stats:?}");
    assert_eq!(stats.free_bytes, stats.region_bytes - 16, "{stats:?}");
    assert_eq!(stats.activations_table_entries, 0, "{stats:?}");
    assert_eq!(stats.host_data_values, 0, "{stats:?}");
    let report = verify(heap, &[]);
    assert_eq!(report.objects, 0);
}

/// A list node type: an `i32` payload and a reference to the next node (32-byte blocks).
pub fn register_node<H>(heap: &mut Heap<H>) -> TypeIndex {
    heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).expect("register node")
}

/// Field or element value as an owned reference, panicking on anything else.
#[track_caller]
pub fn as_ref(value: Value) -> Option<GcRef> {
    match value {
        Value::Ref(r) => r,
        other => panic!("{other:?} is not a reference"),
    }
}

/// Every heap type a field can have after registration, nullable and not (`node` and `other`
/// two registered struct types, for the concrete ones).
pub fn field_types(node: TypeIndex, other: TypeIndex) -> Vec<RefType> {
    let heap_types = [
        HeapType::Extern,
        HeapType::Any,
        HeapType::Eq,
        HeapType::I31,
        HeapType::Struct,
        HeapType::Array,
        HeapType::None,
        HeapType::NoExtern,
        HeapType::Concrete(node),
        HeapType::Concrete(other),
    ];
    heap_types
        .iter()
        .flat_map(|&heap_type| [RefType { nullable: true, heap_type }, RefType { nullable: false, heap_type }])
        .collect()
}
