//! `GcRef::into_raw`: consuming a handle into its word keeps the count the handle stood for,
//! and `GcRef::from_raw_u32` of that word hands the same count back (`verify` agrees at every
//! step, and releasing the rebuilt handle frees the object).

use drc_heap::types::{StorageType, StructType};
use drc_heap::{Error, GcRef, Heap, ValueRef};

#[test]
fn into_raw_then_from_raw_u32_round_trips_the_count() {
    let mut heap: Heap<()> = Heap::with_owned_region(1 << 12).unwrap();
    let ty = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let r = heap.struct_new(ty, &[ValueRef::I32(7)]).unwrap();
    let second = heap.clone_ref(&r).unwrap();
    assert_eq!(heap.ref_count(&r).unwrap(), 2);

    let word = second.into_raw();
    assert_eq!(word, r.as_raw_u32());
    // The word owns the second count: verify agrees only when it is counted as a host root.
    assert_eq!(heap.ref_count(&r).unwrap(), 2);
    heap.verify([r.as_raw_u32(), word]).unwrap();
    assert!(heap.verify([r.as_raw_u32()]).is_err(), "the word's count is not accounted for");

    let rebuilt = GcRef::from_raw_u32(word).unwrap();
    assert_eq!(rebuilt.heap(), None, "a handle rebuilt from a word is unbound");
    heap.drop_ref(rebuilt).unwrap();
    assert_eq!(heap.ref_count(&r).unwrap(), 1);
    heap.verify([r.as_raw_u32()]).unwrap();

    // The last count, through the word as well: the object is freed, and the word is stale.
    let last = r.into_raw();
    heap.drop_ref(GcRef::from_raw_u32(last).unwrap()).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 0);
    heap.verify(core::iter::empty()).unwrap();
    let stale = GcRef::from_raw_u32(last).unwrap();
    assert_eq!(heap.ref_count(&stale), Err(Error::InvalidReference(last)));
}

#[test]
fn into_raw_of_an_i31_is_its_tagged_word() {
    let word = GcRef::from_i31(-5).into_raw();
    assert_eq!(word & 1, 1);
    assert_eq!(GcRef::from_raw_u32(word).unwrap().i31_signed(), Some(-5));
}
