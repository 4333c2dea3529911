//! Black-box checks of documented promises, written against the public API only, as an outside
//! program would: each test names the promise it checks (a doc comment is a promise), misuse
//! gives a typed error naming the misuse (never a panic or `Error::Corrupted`), and nothing
//! leaks (every test ends with an empty heap that verifies).

mod common;

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

// ---------------------------------------------------------------------------------------------
// Typed accessors: misuse of the object handle.

#[test]
fn typed_getters_and_views_refuse_a_handle_of_another_heap_as_a_foreign_reference() {
    let (mut a, a_record, a_ints, _) = heap_with_types(1 << 14);
    let (mut b, b_record, b_ints, _) = heap_with_types(1 << 14);
    let a_struct = a.struct_new(a_record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a_array = a.array_new(a_ints, 4, ValueRef::I32(3)).unwrap();
    // The same layout on B, so the words would name B's objects if the identity were ignored.
    let b_struct = b.struct_new(b_record, &[ValueRef::I32(10), ValueRef::I64(20), ValueRef::Ref(None)]).unwrap();
    let b_array = b.array_new(b_ints, 4, ValueRef::I32(30)).unwrap();
    assert_eq!(a_struct.as_raw_u32(), b_struct.as_raw_u32());
    assert_eq!(a_array.as_raw_u32(), b_array.as_raw_u32());
    let foreign_struct = Error::ForeignReference { raw: a_struct.as_raw_u32() };
    let foreign_array = Error::ForeignReference { raw: a_array.as_raw_u32() };
    assert_eq!(b.struct_get_i32(&a_struct, 0), Err(foreign_struct.clone()));
    assert_eq!(b.struct_get_i64(&a_struct, 1), Err(foreign_struct.clone()));
    assert_eq!(b.struct_get_scalar(&a_struct, 0), Err(foreign_struct.clone()));
    assert_eq!(b.struct_get_borrowed(&a_struct, 2).err(), Some(foreign_struct.clone()));
    assert_eq!(b.struct_get_ref(&a_struct, 2), Err(foreign_struct.clone()));
    assert_eq!(b.array_get_i32(&a_array, 0), Err(foreign_array.clone()));
    assert_eq!(b.array_get_scalar(&a_array, 0), Err(foreign_array.clone()));
    assert_eq!(b.array_view(&a_array).err(), Some(foreign_array.clone()));
    assert_eq!(b.scalar_array_mut(&a_array).err(), Some(foreign_array.clone()));
    // Nothing on either heap changed.
    assert_eq!(b.array_get_i32(&b_array, 0), Ok(30));
    assert_eq!(a.ref_count(&a_struct), Ok(1));
    a.verify(words([&a_struct, &a_array])).unwrap();
    b.verify(words([&b_struct, &b_array])).unwrap();
    for r in [a_struct, a_array] {
        a.drop_ref(r).unwrap();
    }
    for r in [b_struct, b_array] {
        b.drop_ref(r).unwrap();
    }
    assert_empty(&a);
    assert_empty(&b);
}

#[test]
fn typed_getters_and_views_on_an_i31_name_the_object_kind_they_need_and_i31_as_found() {
    let (mut heap, _, _, _) = heap_with_types(1 << 14);
    let i31 = GcRef::from_i31(7);
    assert_eq!(heap.struct_get_i32(&i31, 0), Err(Error::WrongObjectKind { expected: "struct", found: "i31" }));
    assert_eq!(heap.struct_get_f64(&i31, 0), Err(Error::WrongObjectKind { expected: "struct", found: "i31" }));
    assert!(matches!(heap.struct_view(&i31), Err(Error::WrongObjectKind { expected: "struct", found: "i31" })));
    assert!(matches!(heap.array_get_i8(&i31, 0), Err(Error::WrongObjectKind { found: "i31", .. })));
    assert!(matches!(heap.array_view(&i31), Err(Error::WrongObjectKind { found: "i31", .. })));
    assert!(matches!(heap.scalar_array_mut(&i31), Err(Error::WrongObjectKind { found: "i31", .. })));
    assert_empty(&heap);
}

#[test]
fn typed_struct_getters_on_an_array_or_externref_and_array_getters_on_a_struct_are_wrong_object_kinds() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a = heap.array_new(ints, 2, ValueRef::I32(3)).unwrap();
    let e = heap.alloc_externref(5).map_err(|(error, _)| error).unwrap();
    assert_eq!(heap.struct_get_i32(&a, 0), Err(Error::WrongObjectKind { expected: "struct", found: "array" }));
    assert!(matches!(heap.struct_view(&a), Err(Error::WrongObjectKind { expected: "struct", found: "array" })));
    assert!(matches!(heap.struct_get_i32(&e, 0), Err(Error::WrongObjectKind { expected: "struct", .. })));
    assert!(matches!(heap.array_get_i32(&s, 0), Err(Error::WrongObjectKind { expected: "array", found: "struct" })));
    assert!(matches!(heap.array_view(&s), Err(Error::WrongObjectKind { expected: "array", found: "struct" })));
    assert!(matches!(heap.scalar_array_mut(&s), Err(Error::WrongObjectKind { expected: "array", found: "struct" })));
    assert!(matches!(heap.array_get_i32(&e, 0), Err(Error::WrongObjectKind { expected: "array", .. })));
    heap.verify(words([&s, &a, &e])).unwrap();
    for r in [s, a, e] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn typed_getters_and_views_on_a_freed_object_are_invalid_references_not_corruption() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a = heap.array_new(ints, 2, ValueRef::I32(3)).unwrap();
    let (s_word, a_word) = (s.as_raw_u32(), a.as_raw_u32());
    heap.drop_ref(s).unwrap();
    heap.drop_ref(a).unwrap();
    let stale_s = GcRef::from_raw_u32(s_word).unwrap();
    let stale_a = GcRef::from_raw_u32(a_word).unwrap();
    assert_eq!(heap.struct_get_i32(&stale_s, 0), Err(Error::InvalidReference(s_word)));
    assert_eq!(heap.struct_view(&stale_s).err(), Some(Error::InvalidReference(s_word)));
    assert_eq!(heap.array_get_i32(&stale_a, 0), Err(Error::InvalidReference(a_word)));
    assert_eq!(heap.array_view(&stale_a).err(), Some(Error::InvalidReference(a_word)));
    assert_eq!(heap.scalar_array_mut(&stale_a).err(), Some(Error::InvalidReference(a_word)));
    assert_empty(&heap);
}

#[test]
fn typed_getters_and_views_refuse_handles_from_before_a_reset_as_foreign() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a = heap.array_new(ints, 2, ValueRef::I32(3)).unwrap();
    heap.reset();
    // New objects at the same offsets: the old handles still name nothing of this heap.
    let s2 = heap.struct_new(record, &[ValueRef::I32(4), ValueRef::I64(5), ValueRef::Ref(None)]).unwrap();
    let a2 = heap.array_new(ints, 2, ValueRef::I32(6)).unwrap();
    assert_eq!((s2.as_raw_u32(), a2.as_raw_u32()), (s.as_raw_u32(), a.as_raw_u32()));
    assert_eq!(heap.struct_get_i32(&s, 0), Err(Error::ForeignReference { raw: s.as_raw_u32() }));
    assert_eq!(heap.struct_view(&s).err(), Some(Error::ForeignReference { raw: s.as_raw_u32() }));
    assert_eq!(heap.array_get_i32(&a, 0), Err(Error::ForeignReference { raw: a.as_raw_u32() }));
    assert_eq!(heap.scalar_array_mut(&a).err(), Some(Error::ForeignReference { raw: a.as_raw_u32() }));
    assert_eq!(heap.struct_get_i32(&s2, 0), Ok(4));
    // The stale handles own nothing any more: forgetting them is right.
    let _ = (s.into_raw(), a.into_raw());
    for r in [s2, a2] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Typed accessors: what they read and write.

#[test]
fn typed_getter_on_a_field_of_another_type_names_the_method_type_as_expected() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    assert_eq!(heap.struct_get_i64(&s, 0), Err(Error::TypeMismatch { expected: "i64", found: "i32" }));
    assert_eq!(heap.struct_get_v128(&s, 2), Err(Error::TypeMismatch { expected: "v128", found: "ref" }));
    let view = heap.struct_view(&s).unwrap();
    assert_eq!(view.get_f32(1), Err(Error::TypeMismatch { expected: "f32", found: "i64" }));
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn scalar_array_mut_typed_setter_of_another_type_names_the_storage_type_as_expected_and_writes_nothing() {
    let (mut heap, _, ints, _) = heap_with_types(1 << 14);
    let a = heap.array_new(ints, 3, ValueRef::I32(7)).unwrap();
    {
        let mut view = heap.scalar_array_mut(&a).unwrap();
        assert_eq!(view.set_i64(1, -1), Err(Error::TypeMismatch { expected: "i32", found: "i64" }));
        assert_eq!(view.set_f32(1, 1.5), Err(Error::TypeMismatch { expected: "i32", found: "f32" }));
        assert_eq!(view.set_v128(1, u128::MAX), Err(Error::TypeMismatch { expected: "i32", found: "v128" }));
        assert_eq!(view.get_i32(1), Ok(7));
    }
    assert_eq!(heap.array_get_i32(&a, 1), Ok(7));
    heap.drop_ref(a).unwrap();
    assert_empty(&heap);
}

#[test]
fn scalar_array_mut_generic_set_of_another_variant_names_the_element_type_as_expected_and_writes_nothing() {
    let (mut heap, _, ints, _) = heap_with_types(1 << 14);
    let a = heap.array_new(ints, 3, ValueRef::I32(7)).unwrap();
    {
        let mut view = heap.scalar_array_mut(&a).unwrap();
        assert_eq!(view.set(0, ValueRef::I64(1)), Err(Error::TypeMismatch { expected: "i32", found: "i64" }));
        assert_eq!(view.set(0, ValueRef::Ref(None)), Err(Error::TypeMismatch { expected: "i32", found: "ref" }));
        assert_eq!(view.get(0), Ok(Value::I32(7)));
        view.set(0, ValueRef::I32(-3)).unwrap();
    }
    assert_eq!(heap.array_get_i32(&a, 0), Ok(-3));
    heap.drop_ref(a).unwrap();
    assert_empty(&heap);
}

#[test]
fn typed_accessors_out_of_range_are_field_or_index_out_of_bounds_naming_the_bounds() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a = heap.array_new(ints, 3, ValueRef::I32(7)).unwrap();
    assert_eq!(heap.struct_get_i32(&s, 3), Err(Error::FieldOutOfBounds { field: 3, fields: 3 }));
    assert_eq!(heap.struct_get_i32(&s, u32::MAX), Err(Error::FieldOutOfBounds { field: u32::MAX, fields: 3 }));
    assert_eq!(heap.struct_view(&s).unwrap().get_i32(3), Err(Error::FieldOutOfBounds { field: 3, fields: 3 }));
    assert_eq!(heap.array_get_i32(&a, 3), Err(Error::IndexOutOfBounds { index: 3, count: 1, len: 3 }));
    assert_eq!(
        heap.array_view(&a).unwrap().get_i32(u32::MAX),
        Err(Error::IndexOutOfBounds { index: u32::MAX, count: 1, len: 3 })
    );
    {
        let mut view = heap.scalar_array_mut(&a).unwrap();
        assert_eq!(view.set_i32(3, 1), Err(Error::IndexOutOfBounds { index: 3, count: 1, len: 3 }));
        assert_eq!(view.get_i32(3), Err(Error::IndexOutOfBounds { index: 3, count: 1, len: 3 }));
    }
    for r in [s, a] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn typed_float_accessors_keep_nan_payload_bits() {
    let mut heap: Heap<()> = Heap::new(region(1 << 14)).unwrap();
    let pair = heap.register_struct(StructType::new(&[StorageType::F32, StorageType::F64])).unwrap();
    let floats = heap.register_array(ArrayType::new(StorageType::F32)).unwrap();
    let nan32 = f32::from_bits(0x7fa0_0001);
    let nan64 = f64::from_bits(0xfff4_0000_0000_0123);
    let s = heap.struct_new(pair, &[ValueRef::F32(nan32), ValueRef::F64(nan64)]).unwrap();
    assert_eq!(heap.struct_get_f32(&s, 0).unwrap().to_bits(), 0x7fa0_0001);
    assert_eq!(heap.struct_get_f64(&s, 1).unwrap().to_bits(), 0xfff4_0000_0000_0123);
    assert_eq!(heap.struct_view(&s).unwrap().get_f64(1).unwrap().to_bits(), 0xfff4_0000_0000_0123);
    let a = heap.array_new_default(floats, 2).unwrap();
    heap.scalar_array_mut(&a).unwrap().set_f32(1, f32::from_bits(0xffc0_0042)).unwrap();
    assert_eq!(heap.array_get_f32(&a, 1).unwrap().to_bits(), 0xffc0_0042);
    assert_eq!(heap.array_view(&a).unwrap().get_f32(1).unwrap().to_bits(), 0xffc0_0042);
    for r in [s, a] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn typed_packed_getters_read_the_field_at_its_own_width() {
    let mut heap: Heap<()> = Heap::new(region(1 << 14)).unwrap();
    let packed = heap.register_struct(StructType::new(&[StorageType::I8, StorageType::I16])).unwrap();
    let bytes = heap.register_array(ArrayType::new(StorageType::I8)).unwrap();
    let s = heap.struct_new(packed, &[ValueRef::I8(-1), ValueRef::I16(-2)]).unwrap();
    assert_eq!(heap.struct_get_i8(&s, 0), Ok(-1i8));
    assert_eq!(heap.struct_get_i8(&s, 0).unwrap() as u8 as i32, 255, "struct.get_u is `as u8 as i32`");
    assert_eq!(heap.struct_get_i16(&s, 1), Ok(-2i16));
    assert_eq!(heap.struct_get_i32(&s, 0), Err(Error::TypeMismatch { expected: "i32", found: "i8" }));
    let a = heap.array_new(bytes, 4, ValueRef::I8(-128)).unwrap();
    heap.scalar_array_mut(&a).unwrap().set_i8(2, 127).unwrap();
    assert_eq!(heap.array_get_i8(&a, 1), Ok(-128));
    assert_eq!(heap.array_get_i8(&a, 2), Ok(127));
    // The neighbours of a packed element are untouched by its store.
    assert_eq!(heap.array_get_i8(&a, 3), Ok(-128));
    for r in [s, a] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Views and borrowed/typed reference reads.

#[test]
fn views_report_the_fields_length_and_element_type_they_validated() {
    let (mut heap, record, ints, refs) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let empty = heap.array_new_default(refs, 0).unwrap();
    let a = heap.array_new(ints, 5, ValueRef::I32(0)).unwrap();
    assert_eq!(heap.struct_view(&s).unwrap().fields(), 3);
    let view = heap.array_view(&empty).unwrap();
    assert_eq!((view.len(), view.is_empty(), view.element()), (0, true, ANYREF));
    let view = heap.scalar_array_mut(&a).unwrap();
    assert_eq!((view.len(), view.is_empty(), view.element()), (5, false, StorageType::I32));
    for r in [s, empty, a] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn scalar_array_mut_of_a_reference_array_is_a_type_mismatch() {
    let (mut heap, _, _, refs) = heap_with_types(1 << 14);
    let a = heap.array_new_default(refs, 2).unwrap();
    assert!(matches!(heap.scalar_array_mut(&a), Err(Error::TypeMismatch { found: "ref", .. })));
    heap.drop_ref(a).unwrap();
    assert_empty(&heap);
}

#[test]
fn reference_reads_of_a_scalar_field_or_element_are_type_mismatches_and_take_no_count() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let a = heap.array_new(ints, 2, ValueRef::I32(3)).unwrap();
    assert!(matches!(heap.struct_get_borrowed(&s, 0), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.struct_get_ref(&s, 1), Err(Error::TypeMismatch { .. })));
    assert_eq!(
        heap.struct_view(&s).unwrap().get_ref(0).err(),
        Some(Error::TypeMismatch { expected: "ref", found: "i32" })
    );
    assert!(matches!(heap.array_get_borrowed(&a, 0), Err(Error::TypeMismatch { .. })));
    assert_eq!(
        heap.array_view(&a).unwrap().get_ref(0).err(),
        Some(Error::TypeMismatch { expected: "ref", found: "i32" })
    );
    // And the scalar reads of a reference field are type mismatches too.
    assert!(matches!(heap.struct_get_scalar(&s, 2), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.struct_view(&s).unwrap().get_scalar(2), Err(Error::TypeMismatch { .. })));
    assert_eq!(heap.ref_count(&s), Ok(1));
    heap.verify(words([&s, &a])).unwrap();
    for r in [s, a] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn struct_get_ref_comes_with_a_new_count_and_borrowed_reads_take_none() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let child = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let parent = heap.struct_new(record, &[ValueRef::I32(3), ValueRef::I64(4), ValueRef::Ref(Some(&child))]).unwrap();
    assert_eq!(heap.ref_count(&child), Ok(2));
    {
        let borrowed = heap.struct_get_borrowed(&parent, 2).unwrap().unwrap();
        assert_eq!(borrowed.as_raw_u32(), child.as_raw_u32());
        assert_eq!(heap.ref_count(&borrowed), Ok(2));
    }
    let owned = heap.struct_get_ref(&parent, 2).unwrap().unwrap();
    assert_eq!(owned.heap(), Some(heap.id()));
    assert_eq!(heap.ref_count(&child), Ok(3));
    heap.verify(words([&child, &parent, &owned])).unwrap();
    for r in [owned, child, parent] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Owned (moving-in) family.

#[test]
fn struct_set_owned_on_a_foreign_struct_releases_the_moved_value_so_nothing_leaks() {
    let (mut a, a_record, _, _) = heap_with_types(1 << 14);
    let (mut b, b_record, _, _) = heap_with_types(1 << 14);
    let foreign = a.struct_new(a_record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let target = b.struct_new(b_record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let moved = b.clone_ref(&target).unwrap();
    assert_eq!(
        b.struct_set_owned(&foreign, 2, Value::Ref(Some(moved))),
        Err(Error::ForeignReference { raw: foreign.as_raw_u32() })
    );
    assert_eq!(b.ref_count(&target), Ok(1), "the moved count was released");
    b.verify(words([&target])).unwrap();
    a.drop_ref(foreign).unwrap();
    b.drop_ref(target).unwrap();
    assert_empty(&a);
    assert_empty(&b);
}

#[test]
fn array_set_owned_with_a_wrong_value_type_releases_the_moved_reference() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let a = heap.array_new(ints, 2, ValueRef::I32(0)).unwrap();
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let moved = heap.clone_ref(&s).unwrap();
    assert!(matches!(heap.array_set_owned(&a, 0, Value::Ref(Some(moved))), Err(Error::TypeMismatch { .. })));
    assert_eq!(heap.ref_count(&s), Ok(1));
    assert_eq!(heap.array_get_i32(&a, 0), Ok(0));
    heap.verify(words([&a, &s])).unwrap();
    for r in [a, s] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_with_a_wrong_field_count_hands_the_values_back_with_field_count_mismatch() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let child = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let moved = heap.clone_ref(&child).unwrap();
    match heap.struct_new_owned(record, [Value::I32(1), Value::Ref(Some(moved))]) {
        Err((Error::FieldCountMismatch { expected: 3, found: 2 }, [Value::I32(1), Value::Ref(Some(back))])) => {
            assert_eq!(back.as_raw_u32(), child.as_raw_u32());
            heap.drop_ref(back).unwrap();
        }
        other => panic!("struct_new_owned with 2 of 3 fields gave {other:?}"),
    }
    assert_eq!(heap.ref_count(&child), Ok(1));
    assert_eq!(heap.stats().unwrap().live_objects, 1, "nothing was allocated");
    heap.drop_ref(child).unwrap();
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_with_a_scalar_of_another_type_names_the_field_type_as_expected() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    match heap.struct_new_owned(record, [Value::I32(1), Value::F64(2.0), Value::Ref(None)]) {
        Err((
            Error::TypeMismatch { expected: "i64", found: "f64" },
            [Value::I32(1), Value::F64(_), Value::Ref(None)],
        )) => {}
        other => panic!("{other:?}"),
    }
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Constructors that fail give back every count they took.

#[test]
fn constructors_that_run_out_of_memory_allocate_nothing_and_give_back_the_counts_they_took() {
    let (mut heap, record, _, refs) = heap_with_types(4096);
    let child = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    // Fill the heap.
    let mut filler = Vec::new();
    loop {
        match heap.alloc_externref(0) {
            Ok(r) => filler.push(r),
            Err((error, data)) => {
                assert!(error.is_retryable(), "{error:?}");
                assert_eq!(data, 0, "the host data is handed back");
                break;
            }
        }
    }
    let live = heap.stats().unwrap().live_objects;
    let c = Some(&child);
    let e = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(c)]).unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(heap.array_new(refs, 4, ValueRef::Ref(c)).unwrap_err().is_retryable());
    assert!(heap.array_new_fixed(refs, &[ValueRef::Ref(c), ValueRef::Ref(c)]).unwrap_err().is_retryable());
    assert!(heap
        .struct_new_proved(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(c)])
        .unwrap_err()
        .is_retryable());
    assert_eq!(heap.ref_count(&child), Ok(1), "every count taken was given back");
    assert_eq!(heap.stats().unwrap().live_objects, live, "nothing was allocated");
    heap.verify(words(filler.iter().chain([&child]))).unwrap();
    for r in filler {
        heap.drop_ref(r).unwrap();
    }
    heap.drop_ref(child).unwrap();
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Counts and handles.

#[test]
fn i31_references_have_no_count_and_clone_and_drop_without_the_heap() {
    let (mut heap, _, _, _) = heap_with_types(1 << 14);
    let i31 = GcRef::from_i31(-5);
    assert_eq!(heap.ref_count(&i31), Ok(0));
    assert_eq!(heap.kind_of(&i31), Ok(None));
    assert_eq!(heap.type_of(&i31), Ok(None));
    let copy = heap.clone_ref(&i31).unwrap();
    assert_eq!(copy.i31_signed(), Some(-5));
    assert_eq!(copy.heap(), None, "an i31 belongs to no heap");
    heap.drop_ref(copy).unwrap();
    heap.expose_gc_ref_to_wasm(GcRef::from_i31(3)).unwrap();
    assert_eq!(heap.activations_table_len(), 0, "an i31 never enters the table");
    let retained = heap.retain_raw(i31.as_raw_u32()).unwrap().unwrap();
    assert_eq!(retained.i31_unsigned(), Some(((-5i32) as u32) & 0x7fff_ffff));
    heap.drop_ref(retained).unwrap();
    assert_empty(&heap);
}

#[test]
fn handles_a_heap_hands_out_are_bound_to_its_identity_and_raw_words_are_unbound() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    assert_eq!(s.heap(), Some(heap.id()));
    let c = heap.clone_ref(&s).unwrap();
    assert_eq!(c.heap(), Some(heap.id()));
    let unbound = GcRef::from_raw_u32(s.as_raw_u32()).unwrap();
    assert_eq!(unbound.heap(), None);
    let retained = heap.retain_raw(unbound.into_raw()).unwrap().unwrap();
    assert_eq!(retained.heap(), Some(heap.id()));
    let before = heap.id();
    for r in [s, c, retained] {
        heap.drop_ref(r).unwrap();
    }
    heap.reset();
    assert_ne!(heap.id(), before, "a reset gives the heap a new identity");
    assert_empty(&heap);
}

#[test]
fn object_bytes_and_externref_data_of_the_wrong_kind_name_it() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    assert!(matches!(heap.object_bytes(&GcRef::from_i31(1)), Err(Error::WrongObjectKind { found: "i31", .. })));
    assert!(matches!(heap.externref_data(&s), Err(Error::WrongObjectKind { expected: "externref", found: "struct" })));
    assert!(matches!(heap.externref_data_mut(&s), Err(Error::WrongObjectKind { expected: "externref", .. })));
    assert!(matches!(heap.externref_data(&GcRef::from_i31(1)), Err(Error::WrongObjectKind { found: "i31", .. })));
    // The header is included: the bytes start with the object and cover the whole block.
    let bytes = heap.object_bytes(&s).unwrap().len();
    assert!(bytes >= 16 + 4 + 8 + 4 && bytes % 16 == 0, "{bytes}");
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn write_gc_ref_into_a_slot_holding_a_foreign_handle_is_refused_and_takes_no_count() {
    let (mut a, a_record, _, _) = heap_with_types(1 << 14);
    let (mut b, b_record, _, _) = heap_with_types(1 << 14);
    let foreign = a.struct_new(a_record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let source = b.struct_new(b_record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let mut slot = Some(foreign);
    assert!(matches!(b.write_gc_ref(&mut slot, Some(&source)), Err(Error::ForeignReference { .. })));
    assert_eq!(b.ref_count(&source), Ok(1));
    let foreign = slot.take().expect("the slot keeps its handle");
    assert_eq!(a.ref_count(&foreign), Ok(1));
    // A slot of this heap: the count moves with the store and back with the clear.
    b.write_gc_ref(&mut slot, Some(&source)).unwrap();
    assert_eq!(b.ref_count(&source), Ok(2));
    b.write_gc_ref(&mut slot, None).unwrap();
    assert_eq!((slot.is_none(), b.ref_count(&source)), (true, Ok(1)));
    a.drop_ref(foreign).unwrap();
    b.drop_ref(source).unwrap();
    assert_empty(&a);
    assert_empty(&b);
}

#[test]
fn exposing_a_freed_object_to_wasm_is_an_invalid_reference() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let word = s.as_raw_u32();
    heap.drop_ref(s).unwrap();
    assert_eq!(heap.expose_gc_ref_to_wasm(GcRef::from_raw_u32(word).unwrap()), Err(Error::InvalidReference(word)));
    assert_eq!(heap.activations_table_len(), 0);
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// No-GC scopes and reset.

#[test]
fn exit_no_gc_scope_without_a_matching_enter_is_not_in_no_gc_scope() {
    let (mut heap, _, _, _) = heap_with_types(1 << 14);
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    heap.enter_no_gc_scope();
    heap.enter_no_gc_scope();
    heap.exit_no_gc_scope().unwrap();
    assert!(heap.in_no_gc_scope(), "scopes nest");
    assert_eq!(heap.collect_all([]), Err(Error::InNoGcScope));
    assert!(matches!(heap.collect_cycles(), Err(Error::InNoGcScope)));
    heap.exit_no_gc_scope().unwrap();
    assert!(!heap.in_no_gc_scope());
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
}

#[test]
fn reset_closes_every_no_gc_scope_keeps_the_types_and_drops_the_host_data() {
    let drops = common::Drops::new();
    let mut heap: Heap<common::Tracked> = Heap::new(region(1 << 14)).unwrap();
    let node = common::register_node(&mut heap);
    let e = common::externref(&mut heap, &drops, 1);
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(Some(&e))]).unwrap();
    heap.expose_gc_ref_to_wasm(n).unwrap();
    heap.enter_no_gc_scope();
    heap.enter_no_gc_scope();
    heap.reset();
    assert_eq!(drops.live(), 0, "the host data was dropped");
    assert!(!heap.in_no_gc_scope());
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    assert_eq!(heap.activations_table_len(), 0);
    let _ = e.into_raw(); // stale: it owns nothing after the reset
                          // The type registered before the reset is still there.
    let again = heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(None)]).unwrap();
    assert_eq!(heap.struct_get_i32(&again, 0), Ok(2));
    heap.collect_all([]).unwrap();
    heap.drop_ref(again).unwrap();
    assert_empty(&heap);
    let stats = heap.stats().unwrap();
    assert_eq!((stats.free_blocks, stats.free_bytes), (1, stats.region_bytes - 16));
}

// ---------------------------------------------------------------------------------------------
// Borrowed memory, HeapMemory, configuration, regions.

#[test]
fn heap_memory_debug_shows_its_length_not_its_bytes() {
    let memory = HeapMemory::<4096>::new();
    let shown = format!("{memory:?}");
    assert!(shown.contains("4096"), "{shown}");
    assert!(shown.len() < 64, "{shown}");
}

#[test]
fn heap_memory_default_is_zeroed_and_16_byte_aligned() {
    let mut memory = Box::new(HeapMemory::<4096>::default());
    let bytes = memory.bytes();
    assert_eq!(bytes.len(), 4096);
    assert_eq!(bytes.as_ptr() as usize % REGION_ALIGN, 0);
    assert!(bytes.iter().all(|&b| b == 0));
    let mut heap: HeapIn<'_, ()> = HeapIn::new(bytes).unwrap();
    let e = heap.alloc_externref(()).map_err(|(error, _)| error).unwrap();
    heap.drop_ref(e).unwrap();
    assert_empty(&heap);
}

#[test]
fn heap_in_over_a_misaligned_or_short_borrow_is_a_typed_region_error() {
    let mut memory = HeapMemory::<4096>::new();
    let bytes = memory.bytes();
    assert!(matches!(HeapIn::<()>::new(&mut bytes[1..1025]), Err(Error::RegionMisaligned { align: 16, .. })));
    assert_eq!(
        HeapIn::<()>::new(&mut bytes[..MIN_REGION_LEN - 16]).err(),
        Some(Error::RegionTooSmall { len: MIN_REGION_LEN - 16, min: MIN_REGION_LEN })
    );
    assert_eq!(HeapIn::<()>::new(&mut bytes[..1000]).err(), Some(Error::RegionMisaligned { value: 1000, align: 16 }));
    // The smallest accepted region works.
    let heap: HeapIn<'_, ()> = HeapIn::new(&mut bytes[..MIN_REGION_LEN]).unwrap();
    assert_eq!(heap.region_len() as usize, MIN_REGION_LEN);
}

#[test]
fn heap_in_with_config_applies_the_settings_over_borrowed_memory() {
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let config = HeapConfig::default().with_cycle_collection(false);
    let mut heap: HeapIn<'_, ()> = HeapIn::with_config(memory.bytes(), config).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).unwrap();
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]).unwrap();
    let second = heap.clone_ref(&n).unwrap();
    // A decrement that leaves a count above zero buffers nothing with cycle collection off.
    heap.drop_ref(second).unwrap();
    assert_eq!(heap.cycle_candidates(), 0);
    heap.drop_ref(n).unwrap();
    assert_empty(&heap);
}

#[test]
fn heap_in_with_default_config_buffers_a_possible_cycle_root() {
    // The counterpart of the test above: the decrement does buffer with cycle collection on, so
    // that test can fail.
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let mut heap: HeapIn<'_, ()> = HeapIn::with_config(memory.bytes(), HeapConfig::default()).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).unwrap();
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]).unwrap();
    let second = heap.clone_ref(&n).unwrap();
    heap.drop_ref(second).unwrap();
    assert_eq!(heap.cycle_candidates(), 1);
    heap.drop_ref(n).unwrap();
    assert_eq!(heap.cycle_candidates(), 0, "a freed buffered object leaves the buffer");
    assert_empty(&heap);
}

#[test]
fn extend_past_the_largest_region_or_by_a_misaligned_length_changes_nothing() {
    let mut memory = HeapMemory::<4096>::new();
    let mut heap: HeapIn<'_, ()> = HeapIn::new(memory.bytes()).unwrap();
    // SAFETY: both calls are refused before any byte past the region is used (the documented
    // order: the size first, then the alignment), so no memory past the region is touched.
    unsafe {
        assert!(matches!(heap.extend(usize::MAX), Err(Error::RegionTooLarge { .. })));
        assert_eq!(heap.extend(8), Err(Error::RegionMisaligned { value: 8, align: REGION_ALIGN }));
    }
    assert_eq!(heap.region_len(), 4096);
    assert_eq!(heap.stats().unwrap().region_bytes, 4096);
    assert_empty(&heap);
}

#[test]
fn heap_debug_shows_sizes_and_counters_over_borrowed_memory_without_host_data_debug() {
    struct Opaque;
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let mut heap: HeapIn<'_, Opaque> = HeapIn::new(memory.bytes()).unwrap();
    let e = heap.alloc_externref(Opaque).map_err(|(error, _)| error).unwrap();
    heap.enter_no_gc_scope();
    let shown = format!("{heap:?}");
    for field in ["region_bytes: 16384", "live_objects: 1", "host_data_values: 1", "no_gc_depth: 1"] {
        assert!(shown.contains(field), "{field} missing from {shown}");
    }
    heap.exit_no_gc_scope().unwrap();
    heap.drop_ref(e).unwrap();
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Errors, roots, stats and verify.

#[test]
fn only_out_of_memory_is_retryable_and_only_corrupted_or_verify_failed_are_corruption() {
    let misuse = [
        Error::UnknownType(3),
        Error::FieldOutOfBounds { field: 1, fields: 1 },
        Error::IndexOutOfBounds { index: 0, count: 1, len: 0 },
        Error::TypeMismatch { expected: "i32", found: "i64" },
        Error::NullReference,
        Error::InvalidReference(16),
        Error::ForeignReference { raw: 16 },
        Error::InNoGcScope,
        Error::NotInNoGcScope,
        Error::AllocationTooLarge { requested: usize::MAX, max: 1 },
        Error::OwnedRegionNotExtensible,
    ];
    for error in &misuse {
        assert!(!error.is_retryable() && !error.is_corruption(), "{error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert!(Error::OutOfMemory { requested: 32 }.is_retryable());
    assert!(!Error::OutOfMemory { requested: 32 }.is_corruption());
    assert!(Error::Corrupted { offset: 16, what: "x" }.is_corruption());
    assert!(Error::VerifyFailed { offset: 16, what: "x", found: 1, expected: 2 }.is_corruption());
    assert!(!Error::Corrupted { offset: 16, what: "x" }.is_retryable());
}

#[test]
fn roots_keep_their_word_and_where_it_lives() {
    assert_eq!((Root::wasm_stack(32).raw(), Root::wasm_stack(32).is_on_wasm_stack()), (32, true));
    assert_eq!((Root::host(48).raw(), Root::host(48).is_on_wasm_stack()), (48, false));
    assert_ne!(Root::wasm_stack(32), Root::host(32));
}

#[test]
fn verify_lower_bound_passes_without_host_roots_where_exact_verify_does_not() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let report = heap.verify_lower_bound().unwrap();
    assert_eq!(report.objects, 1);
    let error = heap.verify([]).unwrap_err();
    assert!(matches!(error, Error::VerifyFailed { .. }), "{error:?}");
    assert!(error.is_corruption());
    assert_eq!(heap.verify([s.as_raw_u32()]).unwrap().objects, 1);
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn stats_count_allocations_frees_and_peaks() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let before = heap.stats().unwrap();
    let a = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let b = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(Some(&a))]).unwrap();
    let during = heap.stats().unwrap();
    assert_eq!(during.live_objects, 2);
    assert_eq!(during.objects_allocated, before.objects_allocated + 2);
    assert!(during.live_bytes >= 2 * 32 && during.peak_live_bytes >= during.live_bytes, "{during:?}");
    heap.drop_ref(a).unwrap();
    heap.drop_ref(b).unwrap(); // frees b, then a with it
    let after = heap.stats().unwrap();
    assert_eq!(after.objects_freed, before.objects_freed + 2);
    assert_eq!(after.peak_live_bytes, during.peak_live_bytes, "a peak stays");
    assert_empty(&heap);
}

#[test]
fn allocate_with_roots_returns_a_misuse_error_of_the_allocation_at_once() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let asked = std::cell::Cell::new(0);
    let mut roots = |_: &mut Vec<Root>| -> drc_heap::Result<()> {
        asked.set(asked.get() + 1);
        Ok(())
    };
    let result = heap.allocate_with_roots(&mut roots, |heap| heap.struct_new(record, &[ValueRef::I32(1)]));
    assert_eq!(result.err(), Some(Error::FieldCountMismatch { expected: 3, found: 1 }));
    assert_eq!(asked.get(), 0);
    let r = heap.allocate_with_roots(&mut roots, |heap| heap.alloc_externref(9).map_err(|(error, _)| error)).unwrap();
    assert_eq!(heap.externref_data(&r), Ok(&9));
    heap.drop_ref(r).unwrap();
    assert_empty(&heap);
}

#[test]
fn kind_of_and_type_of_name_what_a_reference_points_to() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new_default(record).unwrap();
    let a = heap.array_new_default(ints, 1).unwrap();
    let e = heap.alloc_externref(1).map_err(|(error, _)| error).unwrap();
    assert_eq!((heap.kind_of(&s), heap.type_of(&s)), (Ok(Some(Kind::STRUCT)), Ok(Some(record))));
    assert_eq!((heap.kind_of(&a), heap.type_of(&a)), (Ok(Some(Kind::ARRAY)), Ok(Some(ints))));
    assert_eq!((heap.kind_of(&e), heap.type_of(&e)), (Ok(Some(Kind::EXTERN)), Ok(None)));
    assert_eq!(heap.matches(Some(&e), RefType::non_null(HeapType::Extern)), Ok(true));
    assert_eq!(heap.matches(Some(&s), RefType::non_null(HeapType::Any)), Ok(true));
    assert_eq!(heap.matches(None, RefType::nullable(HeapType::Struct)), Ok(true));
    assert_eq!(heap.matches(None, RefType::non_null(HeapType::Struct)), Ok(false));
    for r in [s, a, e] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn a_host_root_given_to_a_collection_does_not_keep_an_object_only_the_table_held() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let word = s.as_raw_u32();
    heap.expose_gc_ref_to_wasm(s).unwrap();
    // Host roots own counts of their own; only Wasm-stack roots are traced.
    heap.collect_all([Root::host(word)]).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 0);
    assert_empty(&heap);
}

#[test]
fn shared_heap_debug_shows_the_heaps_counters_only_while_it_is_not_locked() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let shared = drc_heap::SharedHeap::new(heap);
    assert!(format!("{shared:?}").contains("live_objects: 1"), "{shared:?}");
    let guard = shared.lock();
    assert!(!format!("{shared:?}").contains("live_objects"), "{shared:?}");
    drop(guard);
    let mut heap = shared.into_inner();
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_with_a_stale_reference_hands_the_values_back_with_invalid_reference() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let gone = heap.struct_new_default(record).unwrap();
    let word = gone.as_raw_u32();
    heap.drop_ref(gone).unwrap();
    let stale = GcRef::from_raw_u32(word);
    match heap.struct_new_owned(record, [Value::I32(1), Value::I64(2), Value::Ref(stale)]) {
        Err((Error::InvalidReference(w), [_, _, Value::Ref(Some(back))])) if w == word => {
            assert_eq!(back.into_raw(), word);
        }
        other => panic!("{other:?}"),
    }
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Found by these checks and fixed: the call's own error first, one order of checks.

#[test]
fn owned_stores_refused_before_the_store_report_their_own_misuse_even_with_a_stale_value() {
    let (mut heap, record, ints, refs) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let array = heap.array_new_default(refs, 2).unwrap();
    let scalars = heap.array_new(ints, 2, ValueRef::I32(0)).unwrap();
    // Freed last, so that nothing is allocated in its block again: its word stays stale.
    let gone = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let word = gone.as_raw_u32();
    heap.drop_ref(gone).unwrap();
    let stale = || Value::Ref(Some(GcRef::from_raw_u32(word).unwrap()));
    assert_eq!(heap.struct_set_owned(&s, 9, stale()), Err(Error::FieldOutOfBounds { field: 9, fields: 3 }));
    assert!(matches!(heap.array_set_owned(&s, 0, stale()), Err(Error::WrongObjectKind { .. })));
    assert!(matches!(heap.array_set_owned(&array, 5, stale()), Err(Error::IndexOutOfBounds { index: 5, .. })));
    assert!(matches!(heap.array_set_owned(&scalars, 0, stale()), Err(Error::TypeMismatch { .. })));
    for r in [s, array, scalars] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn array_getters_of_the_heap_and_of_views_check_the_index_before_the_storage_type() {
    let (mut heap, _, ints, _) = heap_with_types(1 << 14);
    let a = heap.array_new(ints, 2, ValueRef::I32(7)).unwrap();
    let out_of_range = Err(Error::IndexOutOfBounds { index: 9, count: 1, len: 2 });
    assert_eq!(heap.array_get_i64(&a, 9), out_of_range);
    assert_eq!(heap.array_view(&a).unwrap().get_i64(9), out_of_range);
    assert_eq!(heap.scalar_array_mut(&a).unwrap().get_i64(9), out_of_range);
    assert_eq!(
        heap.scalar_array_mut(&a).unwrap().set_i64(9, 1),
        Err(Error::IndexOutOfBounds { index: 9, count: 1, len: 2 })
    );
    assert_eq!(
        heap.scalar_array_mut(&a).unwrap().set(9, ValueRef::I64(1)),
        Err(Error::IndexOutOfBounds { index: 9, count: 1, len: 2 })
    );
    // In range, the storage type decides, the same everywhere.
    assert!(matches!(heap.array_get_i64(&a, 1), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.array_view(&a).unwrap().get_i64(1), Err(Error::TypeMismatch { .. })));
    assert_eq!(heap.array_get_i32(&a, 1), Ok(7));
    heap.drop_ref(a).unwrap();
    assert_empty(&heap);
}
