//! What the core portable tests share: storage-type constants, sample values of every storage
//! type, host data that counts its drops, the raw words `verify` takes as host roots, and the
//! check that a heap is empty.

use crate::portable_tests::TestResult;
use crate::types::{HeapType, RefType, StorageType, StructType};
use crate::{GcRef, HeapIn, Root, TypeIndex, Value, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

pub(super) const ANYREF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Any));
pub(super) const EXTERNREF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Extern));
pub(super) const I31REF: StorageType = StorageType::Ref(RefType::nullable(HeapType::I31));
pub(super) const SCALARS: [StorageType; 7] = [
    StorageType::I8,
    StorageType::I16,
    StorageType::I32,
    StorageType::I64,
    StorageType::F32,
    StorageType::F64,
    StorageType::V128,
];

/// Caps a loop's iteration count under Miri, which runs this code a few thousand times slower
/// than a debug build (an allocation takes milliseconds there, and `verify` as long per
/// object); elsewhere the test's own size (derived from the region) is used unchanged.
pub(super) fn work(n: usize, miri_cap: usize) -> usize {
    if cfg!(miri) {
        n.min(miri_cap)
    } else {
        n
    }
}

/// The raw words of references, for `verify`'s host roots.
pub(super) fn words<'a>(refs: impl IntoIterator<Item = &'a GcRef>) -> Vec<u32> {
    refs.into_iter().map(GcRef::as_raw_u32).collect()
}

/// The raw words of the non-null slots of a host table.
pub(super) fn slot_words(slots: &[Option<GcRef>]) -> Vec<u32> {
    slots.iter().flatten().map(GcRef::as_raw_u32).collect()
}

/// Wasm-stack roots from a simulated stack of raw words.
pub(super) fn stack_roots(stack: &[u32]) -> impl Iterator<Item = Root> + '_ {
    stack.iter().map(|&word| Root::wasm_stack(word))
}

/// A value's storage type name and bits (floats by their bits, references by their word), so
/// that NaN payloads compare exactly.
pub(super) fn bits(value: &Value) -> (&'static str, u128) {
    match value {
        Value::Ref(r) => ("ref", r.as_ref().map_or(0, GcRef::as_raw_u32) as u128),
        other => ref_bits(other.borrow()),
    }
}

pub(super) fn ref_bits(value: ValueRef<'_>) -> (&'static str, u128) {
    let bits = match value {
        ValueRef::I8(v) => v as u8 as u128,
        ValueRef::I16(v) => v as u16 as u128,
        ValueRef::I32(v) => v as u32 as u128,
        ValueRef::I64(v) => v as u64 as u128,
        ValueRef::F32(v) => v.to_bits() as u128,
        ValueRef::F64(v) => v.to_bits() as u128,
        ValueRef::V128(v) => v,
        ValueRef::Ref(r) => r.map_or(0, GcRef::as_raw_u32) as u128,
    };
    (value.type_name(), bits)
}

/// A scalar value of `storage` that differs with `seed` (NaN payloads for the floats).
pub(super) fn scalar(storage: StorageType, seed: u32) -> ValueRef<'static> {
    let s = seed.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A;
    match storage {
        StorageType::I8 => ValueRef::I8(s as i8),
        StorageType::I16 => ValueRef::I16(s as i16),
        StorageType::I32 => ValueRef::I32(s as i32),
        StorageType::I64 => ValueRef::I64(((s as u64) << 32 | seed as u64) as i64),
        StorageType::F32 => ValueRef::F32(f32::from_bits(0x7FC0_0000 | (s & 0x3F_FFFF))),
        StorageType::F64 => ValueRef::F64(f64::from_bits(0x7FF8_0000_0000_0000 | s as u64)),
        StorageType::V128 => ValueRef::V128((s as u128) << 96 | (seed as u128) << 32 | 0xFEED),
        StorageType::Ref(_) => ValueRef::Ref(None),
    }
}

/// A value for slot `seed` of a field or element of `storage`: a scalar, or a reference picked
/// from `refs` (or null).
pub(super) fn sample(storage: StorageType, seed: u32, refs: &[GcRef]) -> ValueRef<'_> {
    match storage {
        StorageType::Ref(_) if seed % 3 == 0 || refs.is_empty() => ValueRef::Ref(None),
        StorageType::Ref(_) => ValueRef::Ref(Some(&refs[seed as usize % refs.len()])),
        _ => scalar(storage, seed),
    }
}

/// Counts host data values created and dropped.
#[derive(Default)]
pub(super) struct Drops {
    pub(super) created: Cell<u32>,
    pub(super) dropped: Cell<u32>,
}

/// Host data that counts its drops.
pub(super) struct Tracked {
    pub(super) id: u32,
    pub(super) drops: Rc<Drops>,
}

impl Tracked {
    pub(super) fn new(drops: &Rc<Drops>, id: u32) -> Tracked {
        drops.created.set(drops.created.get() + 1);
        Tracked { id, drops: drops.clone() }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.dropped.set(self.drops.dropped.get() + 1);
    }
}

pub(super) fn externref(heap: &mut HeapIn<'_, Tracked>, drops: &Rc<Drops>, id: u32) -> Result<GcRef, String> {
    heap.alloc_externref(Tracked::new(drops, id))
        .map_err(|(error, _data)| format!("alloc_externref({id}) failed: {error}"))
}

/// Checks that the heap holds nothing and its free memory is a single block.
pub(super) fn ensure_empty<H>(heap: &HeapIn<'_, H>) -> TestResult {
    let stats = ok!(heap.stats());
    ensure!(stats.live_objects == 0, "{} objects left", stats.live_objects);
    ensure!(stats.live_bytes == 0, "{} live bytes left", stats.live_bytes);
    ensure!(stats.free_blocks == 1, "free memory in {} blocks", stats.free_blocks);
    ensure!(stats.free_bytes == stats.region_bytes - 16, "{stats:?}");
    ensure!(stats.largest_free_block == stats.region_bytes - 16, "{stats:?}");
    ensure!(stats.activations_table_entries == 0, "{stats:?}");
    ensure!(stats.host_data_values == 0, "{stats:?}");
    let report = verify!(heap);
    ensure!(report.objects == 0 && report.free_blocks == 0, "{report:?}");
    Ok(())
}

/// A node type: an `i32` payload and a reference to the next node.
pub(super) fn register_node<H>(heap: &mut HeapIn<'_, H>) -> Result<TypeIndex, String> {
    Ok(ok!(heap.register_struct(StructType::new(&[StorageType::I32, ANYREF]))))
}

/// Reads field `field` of `r` as an owned reference (must be a reference field).
pub(super) fn get_ref<H>(heap: &mut HeapIn<'_, H>, r: &GcRef, field: u32) -> Result<Option<GcRef>, String> {
    match ok!(heap.struct_get(r, field)) {
        Value::Ref(r) => Ok(r),
        other => Err(format!("field {field} is {other:?}, not a reference")),
    }
}
