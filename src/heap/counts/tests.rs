//! Unit tests of `counts.rs` (private items: `use super::*`).

use super::*;
use crate::test_support::test_region;
use crate::types::{ArrayType, HeapType, StorageType, StructType};
use crate::Heap;

/// `externref_id` of `r` beside its full checks run in order.
fn assert_same_id(heap: &Heap<u32>, r: &GcRef, what: &str) {
    assert_eq!(heap.externref_id(r), heap.externref_id_slow(r), "{what}");
}

/// The one test of `externref_id` (and so of `externref_data` and `externref_data_mut`)
/// answers exactly as its full checks do: each of the 20 bytes at an externref, a struct
/// and an array overwritten (the kind and flags bytes with every value, the others with
/// values around each check's boundary), an externref whose block reaches past the
/// region's end, i31 and foreign handles, a word inside an object.
#[test]
fn externref_id_refuses_exactly_what_its_full_checks_refuse() {
    let mut heap: Heap<u32> = Heap::new(test_region(8192)).unwrap();
    let node = heap
        .register_struct(StructType::new(&[StorageType::I32, StorageType::Ref(RefType::nullable(HeapType::Any))]))
        .unwrap();
    let ints = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let e = heap.alloc_externref(7).map_err(|(error, _)| error).unwrap();
    let s = heap.struct_new_default(node).unwrap();
    let a = heap.array_new_default(ints, 3).unwrap();
    assert_eq!(heap.externref_data(&e), Ok(&7));
    assert_eq!(heap.externref_data_mut(&e), Ok(&mut 7));
    assert!(matches!(heap.externref_data(&s), Err(Error::WrongObjectKind { expected: "externref", found: "struct" })));
    let every: [u8; 256] = core::array::from_fn(|byte| byte as u8);
    let bytes = [0, 1, 2, 3, 4, 0x0f, 0x10, 0x11, 0x15, 0x16, 0x17, 0x1f, 0x20, 0x21, 0x30, 0x80, 0xf0, 0xff];
    for r in [&e, &s, &a] {
        let index = r.as_raw_u32();
        for at in index..index + EXTERNREF_SIZE {
            let [saved] = heap.region.read::<1>(at).unwrap();
            // Every value of the kind and flags bytes, the listed ones elsewhere (and everywhere
            // under Miri, which runs this thousands of times slower).
            let values: &[u8] = if at - index < 2 && !cfg!(miri) { &every } else { &bytes };
            for &byte in values {
                heap.region.write(at, [byte]).unwrap();
                assert_same_id(&heap, &e, "externref");
                assert_same_id(&heap, &s, "struct");
                assert_same_id(&heap, &a, "array");
            }
            heap.region.write(at, [saved]).unwrap();
        }
    }
    // An externref at the region's end, its size claiming a block past it.
    let mut last = None;
    while let Ok(r) = heap.alloc_externref(1) {
        last = Some(r);
    }
    let last = last.unwrap();
    let index = last.as_raw_u32();
    assert!(index + 2 * EXTERNREF_BLOCK > heap.region.len());
    heap.region.write_u32(index + SIZE_OFFSET, 2 * EXTERNREF_BLOCK).unwrap();
    assert!(matches!(heap.externref_data(&last), Err(Error::Corrupted { .. })));
    assert_same_id(&heap, &last, "a block past the region's end");
    heap.region.write_u32(index + SIZE_OFFSET, EXTERNREF_BLOCK).unwrap();
    assert_eq!(heap.externref_data(&last), Ok(&1));
    // Words that name no object of this heap.
    assert_same_id(&heap, &GcRef::from_i31(7), "an i31");
    assert_same_id(&heap, &GcRef::from_raw_u32(e.as_raw_u32() + 16).unwrap(), "inside an object");
    let other: Heap<u32> = Heap::new(test_region(4096)).unwrap();
    let foreign = other.handle(e.as_raw_u32()).unwrap();
    assert_same_id(&heap, &foreign, "a foreign handle");
    assert!(matches!(heap.externref_data(&foreign), Err(Error::ForeignReference { .. })));
}

/// `free_externref` frees with this constant after testing the header's size against it:
/// it must be exactly the size that `object_layout` accepts for an externref.
#[test]
fn the_externref_block_constant_is_the_block_size_of_an_externref() {
    assert_eq!(FreeList::block_size(EXTERNREF_SIZE), Some(EXTERNREF_BLOCK));
}
