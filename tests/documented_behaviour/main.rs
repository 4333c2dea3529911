//! Black-box checks of documented promises, written against the public API only, as an outside
//! program would: each test names the promise it checks (a doc comment is a promise), misuse
//! gives a typed error naming the misuse (never a panic or `Error::Corrupted`), and nothing
//! leaks (every test ends with an empty heap that verifies). This file holds what the tests
//! share; they are in `typed_accessors`, `references` and `heap_state`.

#[path = "../common/mod.rs"]
mod common;
mod heap_state;
mod references;
mod typed_accessors;

use common::{region, ANYREF};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{
    Error, GcRef, Heap, HeapConfig, HeapIn, HeapMemory, Kind, Root, TypeIndex, Value, ValueRef, MIN_REGION_LEN,
    REGION_ALIGN,
};

/// Every object gone, the free memory one block again, and verification passes with no roots.
#[track_caller]
fn assert_empty<H>(heap: &HeapIn<'_, H>) {
    let stats = heap.stats().expect("stats");
    assert_eq!(stats.live_objects, 0, "{stats:?}");
    assert_eq!(stats.live_bytes, 0, "{stats:?}");
    assert_eq!(stats.host_data_values, 0, "{stats:?}");
    assert_eq!(stats.activations_table_entries, 0, "{stats:?}");
    assert_eq!(heap.verify([]).expect("verify").objects, 0);
}

/// A heap over a leaked region of `len` bytes with a struct type {i32, i64, anyref}, an i32
/// array type and an anyref array type.
fn heap_with_types(len: usize) -> (Heap<u32>, TypeIndex, TypeIndex, TypeIndex) {
    let mut heap: Heap<u32> = Heap::new(region(len)).expect("heap");
    let record = heap.register_struct(StructType::new(&[StorageType::I32, StorageType::I64, ANYREF])).unwrap();
    let ints = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let refs = heap.register_array(ArrayType::new(ANYREF)).unwrap();
    (heap, record, ints, refs)
}

fn words<'r>(refs: impl IntoIterator<Item = &'r GcRef>) -> Vec<u32> {
    refs.into_iter().map(GcRef::as_raw_u32).collect()
}
