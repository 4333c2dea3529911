//! Typed accessors (`struct_get_<t>`, `array_get_<t>`, the views' `get_<t>` and `set_<t>`): misuse of
//! the object handle, what they read and write, and the order of their checks.

use super::*;

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
