//! References in and out: views and borrowed or typed reference reads, the owned (moving-in)
//! family, constructors that fail, counts and handles.

use super::*;

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
