//! Core portable tests of allocation and typed access: every storage type read back from struct
//! fields and array elements, externrefs and their host data, typed errors for every misuse
//! (which change nothing), region bounds, struct subtyping and `ref.test`.

use super::helpers::{
    bits, ensure_empty, externref, get_ref, ref_bits, register_node, sample, scalar, words, Drops, Tracked, ANYREF,
    EXTERNREF, I31REF, SCALARS,
};
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType, MAX_OBJECT_SIZE};
use crate::{Error, GcRef, Heap, Kind, TypeIndex, Value, ValueRef, MIN_REGION_LEN, REGION_ALIGN};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

pub(super) fn struct_fields_of_every_storage_type_read_back_what_was_written(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let leaf = ok!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let leaf_ref = StorageType::Ref(RefType::nullable(HeapType::Concrete(leaf)));
    let mut fields: Vec<StorageType> = SCALARS.to_vec();
    fields.extend([ANYREF, EXTERNREF, leaf_ref, I31REF]);
    let ty = ok!(heap.register_struct(StructType::new(&fields)));

    // A default struct reads back zeros and nulls.
    let blank = ok!(heap.struct_new_default(ty));
    for (field, &storage) in fields.iter().enumerate() {
        let value = ok!(heap.struct_get(&blank, field as u32));
        ensure!(bits(&value) == ref_bits(ValueRef::default_for(storage)), "default field {field} is {value:?}");
    }
    ensure!(ok!(heap.kind_of(&blank)) == Some(Kind::STRUCT));
    ensure!(ok!(heap.type_of(&blank)) == Some(ty));
    verify!(heap, words([&blank]));

    // A struct built with a value in every field.
    let a = ok!(heap.struct_new(leaf, &[ValueRef::I32(7)]));
    let e = externref(&mut heap, &drops, 1)?;
    let i31 = GcRef::from_i31(-12345);
    let refs_for = |storage: StorageType| -> u32 {
        match storage {
            s if s == ANYREF || s == leaf_ref => a.as_raw_u32(),
            s if s == EXTERNREF => e.as_raw_u32(),
            _ => i31.as_raw_u32(),
        }
    };
    let mut values: Vec<ValueRef<'_>> = Vec::new();
    for (field, &storage) in fields.iter().enumerate() {
        values.push(match storage {
            StorageType::Ref(_) if refs_for(storage) == a.as_raw_u32() => ValueRef::Ref(Some(&a)),
            StorageType::Ref(_) if refs_for(storage) == e.as_raw_u32() => ValueRef::Ref(Some(&e)),
            StorageType::Ref(_) => ValueRef::Ref(Some(&i31)),
            _ => scalar(storage, field as u32 + 1),
        });
    }
    let full = ok!(heap.struct_new(ty, &values));
    ensure!(ok!(heap.ref_count(&a)) == 3, "host + anyref field + concrete field");
    ensure!(ok!(heap.ref_count(&e)) == 2, "host + externref field");
    verify!(heap, words([&blank, &full, &a, &e]));
    for (field, value) in values.iter().enumerate() {
        let read = ok!(heap.struct_get(&full, field as u32));
        ensure!(bits(&read) == ref_bits(*value), "field {field}: wrote {value:?}, read {read:?}");
        // A reference read back is a new count, until it is released.
        if let Some(r) = read.as_gc_ref().filter(|r| !r.is_i31()) {
            let before = ok!(heap.ref_count(r));
            ok!(heap.release_value(read));
            let after = ok!(heap.ref_count(if refs_for(fields[field]) == a.as_raw_u32() { &a } else { &e }));
            ensure!(after + 1 == before, "field {field}: count {before} -> {after}");
        }
    }
    verify!(heap, words([&blank, &full, &a, &e]));

    // Setting every field of the blank struct, last field first, then reading all of them
    // back: a write that spilled into a neighbour would show.
    for field in (0..fields.len()).rev() {
        ok!(heap.struct_set(&blank, field as u32, values[field]));
    }
    for (field, value) in values.iter().enumerate() {
        let read = ok!(heap.struct_get(&blank, field as u32));
        ensure!(bits(&read) == ref_bits(*value), "field {field}: wrote {value:?}, read {read:?}");
        ok!(heap.release_value(read));
    }
    ensure!(ok!(heap.ref_count(&a)) == 5);
    verify!(heap, words([&blank, &full, &a, &e]));

    // Overwriting one field at a time with a second pattern leaves every other field alone.
    for field in 0..fields.len() {
        let new = match fields[field] {
            StorageType::Ref(_) => ValueRef::Ref(None),
            storage => scalar(storage, 1000 + field as u32),
        };
        ok!(heap.struct_set(&blank, field as u32, new));
        for (other, value) in values.iter().enumerate() {
            let expected = if other <= field {
                match fields[other] {
                    StorageType::Ref(_) => ValueRef::Ref(None),
                    storage => scalar(storage, 1000 + other as u32),
                }
            } else {
                *value
            };
            let read = ok!(heap.struct_get(&blank, other as u32));
            ensure!(bits(&read) == ref_bits(expected), "after setting field {field}, field {other} reads {read:?}");
            ok!(heap.release_value(read));
        }
        verify!(heap, words([&blank, &full, &a, &e]));
    }
    ensure!(ok!(heap.ref_count(&a)) == 3 && ok!(heap.ref_count(&e)) == 2);

    // The object's bytes are its whole block.
    let layout_size = ok!(heap.types().struct_layout(ty)).1.size;
    ensure!(ok!(heap.object_bytes(&full)).len() as u32 == layout_size.next_multiple_of(16));

    for r in [blank, full, a, e] {
        ok!(heap.drop_ref(r));
    }
    ensure!(drops.dropped.get() == 1 && drops.created.get() == 1);
    ensure_empty(&heap)
}

pub(super) fn array_elements_of_every_storage_type_read_back_what_was_written(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let leaf = ok!(heap.register_struct(StructType::new(&[StorageType::I64])));
    let mut objects = Vec::new();
    for i in 0..4 {
        objects.push(ok!(heap.struct_new(leaf, &[ValueRef::I64(i)])));
    }
    objects.push(GcRef::from_i31(77));
    let mut externs = Vec::new();
    for i in 0..3 {
        externs.push(externref(&mut heap, &drops, i)?);
    }
    let mut held: Vec<u32> = words(objects.iter().chain(&externs));
    verify!(heap, held.iter().copied());

    let mut element_types: Vec<StorageType> = SCALARS.to_vec();
    element_types.extend([ANYREF, EXTERNREF]);
    let len = if cfg!(miri) { 5 } else { 37u32 };
    for &storage in &element_types {
        let ty = ok!(heap.register_array(ArrayType::new(storage)));
        let refs: &[GcRef] = if storage == EXTERNREF { &externs } else { &objects };
        // array.new: every element is the initial value.
        let init = sample(storage, 1, refs);
        let array = ok!(heap.array_new(ty, len, init));
        held.push(array.as_raw_u32());
        ensure!(ok!(heap.array_len(&array)) == len);
        ensure!(ok!(heap.kind_of(&array)) == Some(Kind::ARRAY));
        if let ValueRef::Ref(Some(r)) = init {
            ensure!(ok!(heap.ref_count(r)) == 1 + len, "{storage:?}: init count");
        }
        for i in 0..len {
            let read = ok!(heap.array_get(&array, i));
            ensure!(bits(&read) == ref_bits(init), "{storage:?}[{i}] = {read:?}, init {init:?}");
            ok!(heap.release_value(read));
        }
        verify!(heap, held.iter().copied());

        // array.set of a different value at every index, then read all back.
        for i in 0..len {
            ok!(heap.array_set(&array, i, sample(storage, i + 2, refs)));
        }
        for i in 0..len {
            let read = ok!(heap.array_get(&array, i));
            let expected = sample(storage, i + 2, refs);
            ensure!(bits(&read) == ref_bits(expected), "{storage:?}[{i}] = {read:?}, wrote {expected:?}");
            ok!(heap.release_value(read));
        }
        verify!(heap, held.iter().copied());

        // array.new_fixed.
        let elements: Vec<ValueRef<'_>> = (0..5).map(|i| sample(storage, i + 9, refs)).collect();
        let fixed = ok!(heap.array_new_fixed(ty, &elements));
        held.push(fixed.as_raw_u32());
        ensure!(ok!(heap.array_len(&fixed)) == 5);
        for (i, expected) in elements.iter().enumerate() {
            let read = ok!(heap.array_get(&fixed, i as u32));
            ensure!(bits(&read) == ref_bits(*expected), "{storage:?} fixed[{i}] = {read:?}");
            ok!(heap.release_value(read));
        }
        // An empty array.
        let empty = ok!(heap.array_new(ty, 0, ValueRef::default_for(storage)));
        ensure!(ok!(heap.array_len(&empty)) == 0);
        expect_err!(heap.array_get(&empty, 0), Error::IndexOutOfBounds { index: 0, count: 1, len: 0 });
        verify!(heap, held.iter().copied().chain([empty.as_raw_u32()]));
        ok!(heap.drop_ref(empty));
        ok!(heap.drop_ref(array));
        ok!(heap.drop_ref(fixed));
        held.truncate(held.len() - 2);
        verify!(heap, held.iter().copied());
    }
    for r in objects.into_iter().chain(externs) {
        ok!(heap.drop_ref(r));
    }
    ensure!(drops.dropped.get() == 3);
    ensure_empty(&heap)
}

pub(super) fn externrefs_hold_their_host_data_and_convert_to_anyref_but_not_eqref(
    region: &'static mut [u8],
) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let eqref = StorageType::Ref(RefType::nullable(HeapType::Eq));
    let holder = ok!(heap.register_struct(StructType::new(&[EXTERNREF, ANYREF, eqref])));
    let e = externref(&mut heap, &drops, 41)?;
    ensure!(ok!(heap.externref_data(&e)).id == 41);
    ok!(heap.externref_data_mut(&e)).id = 42;
    ensure!(ok!(heap.externref_data(&e)).id == 42);
    ensure!(ok!(heap.kind_of(&e)) == Some(Kind::EXTERN));
    ensure!(ok!(heap.type_of(&e)).is_none());
    ensure!(heap.host_data_count() == 1);
    expect_err!(heap.struct_get(&e, 0), Error::WrongObjectKind { expected: "struct", found: "externref" });
    expect_err!(heap.array_len(&e), Error::WrongObjectKind { expected: "array", found: "externref" });
    // Wasm's `any.convert_extern` keeps the word: an externref goes in an anyref field too...
    let h = ok!(heap.struct_new(holder, &[ValueRef::Ref(Some(&e)), ValueRef::Ref(None), ValueRef::Ref(None)]));
    ok!(heap.struct_set(&h, 1, ValueRef::Ref(Some(&e))));
    // ...but it is not an eqref.
    expect_err!(heap.struct_set(&h, 2, ValueRef::Ref(Some(&e))), Error::TypeMismatch { .. });
    // And `extern.convert_any` puts an i31 or a struct in an externref field.
    let i31 = GcRef::from_i31(7);
    let inner = ok!(heap.struct_new(holder, &[ValueRef::Ref(Some(&i31)), ValueRef::Ref(None), ValueRef::Ref(None)]));
    ok!(heap.struct_set(&inner, 0, ValueRef::Ref(Some(&h))));
    ensure!(ok!(heap.ref_count(&h)) == 2);
    ok!(heap.drop_ref(inner));
    // A struct's "host data" is an error.
    expect_err!(heap.externref_data(&h), Error::WrongObjectKind { expected: "externref", found: "struct" });
    expect_err!(
        heap.externref_data(&GcRef::from_i31(3)),
        Error::WrongObjectKind { expected: "externref", found: "i31" }
    );
    ensure!(ok!(heap.ref_count(&e)) == 3);
    verify!(heap, words([&e, &h]));
    ok!(heap.drop_ref(e));
    ensure!(drops.dropped.get() == 0, "the struct's field still holds the externref");
    let from_field = get_ref(&mut heap, &h, 0)?.ok_or("externref field read back null")?;
    ensure!(ok!(heap.externref_data(&from_field)).id == 42);
    ok!(heap.drop_ref(from_field));
    ok!(heap.drop_ref(h));
    ensure!(drops.dropped.get() == 1 && heap.host_data_count() == 0);
    ensure_empty(&heap)
}

pub(super) fn struct_access_errors_are_typed_and_change_nothing(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let base =
        ok!(heap.register_struct(StructType { fields: vec![StorageType::I32], supertype: None, is_final: false }));
    let derived = ok!(heap.register_struct(StructType {
        fields: vec![StorageType::I32, StorageType::I64],
        supertype: Some(base.into()),
        is_final: true
    }));
    let other = ok!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let bytes = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    let to_base = StorageType::Ref(RefType::nullable(HeapType::Concrete(base)));
    let non_null = StorageType::Ref(RefType::non_null(HeapType::Any));
    let to_struct = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let ty = ok!(heap.register_struct(StructType::new(&[StorageType::I32, to_base, to_struct, ANYREF])));
    let ty_non_null = ok!(heap.register_struct(StructType::new(&[non_null])));

    let b = ok!(heap.struct_new(base, &[ValueRef::I32(1)]));
    let d = ok!(heap.struct_new(derived, &[ValueRef::I32(2), ValueRef::I64(3)]));
    let o = ok!(heap.struct_new(other, &[ValueRef::I32(4)]));
    let arr = ok!(heap.array_new(bytes, 4, ValueRef::I8(0)));
    let s = ok!(heap.struct_new_default(ty));
    let host = [&b, &d, &o, &arr, &s];
    let live = ok!(heap.stats()).live_objects;
    let check = |heap: &Heap<()>| -> TestResult {
        let report = verify!(heap, words(host));
        ensure!(report.objects == live, "{report:?}");
        for r in host {
            ensure!(ok!(heap.ref_count(r)) == 1, "{r:?} count changed");
        }
        Ok(())
    };

    // Field out of bounds.
    expect_err!(heap.struct_get(&s, 4), Error::FieldOutOfBounds { field: 4, fields: 4 });
    expect_err!(heap.struct_set(&s, 9, ValueRef::I32(1)), Error::FieldOutOfBounds { field: 9, fields: 4 });
    expect_err!(heap.struct_new(ty, &[ValueRef::I32(1)]), Error::FieldCountMismatch { expected: 4, found: 1 });
    // Type mismatch between a value and a field.
    expect_err!(heap.struct_set(&s, 0, ValueRef::I64(1)), Error::TypeMismatch { expected: "i32", found: "i64" });
    expect_err!(heap.struct_set(&s, 0, ValueRef::Ref(None)), Error::TypeMismatch { expected: "i32", .. });
    expect_err!(heap.struct_set(&s, 3, ValueRef::I32(0)), Error::TypeMismatch { found: "i32", .. });
    check(&heap)?;
    // Wrong subtype into a concrete-typed field; a real subtype goes in.
    expect_err!(heap.struct_set(&s, 1, ValueRef::Ref(Some(&o))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_set(&s, 1, ValueRef::Ref(Some(&arr))), Error::TypeMismatch { .. });
    // An i31 where a struct (or a concrete type) is needed.
    let i31 = GcRef::from_i31(5);
    expect_err!(heap.struct_set(&s, 1, ValueRef::Ref(Some(&i31))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_set(&s, 2, ValueRef::Ref(Some(&i31))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_set(&s, 2, ValueRef::Ref(Some(&arr))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_get(&i31, 0), Error::WrongObjectKind { expected: "struct", found: "i31" });
    expect_err!(heap.struct_get(&arr, 0), Error::WrongObjectKind { expected: "struct", found: "array" });
    check(&heap)?;
    // Null into a non-nullable field, at construction and by a setter.
    expect_err!(heap.struct_new(ty_non_null, &[ValueRef::Ref(None)]), Error::NullReference);
    let nn = ok!(heap.struct_new(ty_non_null, &[ValueRef::Ref(Some(&i31))]));
    expect_err!(heap.struct_set(&nn, 0, ValueRef::Ref(None)), Error::NullReference);
    ok!(heap.drop_ref(nn));
    check(&heap)?;

    // The accepted writes.
    ok!(heap.struct_set(&s, 1, ValueRef::Ref(Some(&d))));
    ok!(heap.struct_set(&s, 1, ValueRef::Ref(Some(&b))));
    ok!(heap.struct_set(&s, 2, ValueRef::Ref(Some(&o))));
    ok!(heap.struct_set(&s, 3, ValueRef::Ref(Some(&i31))));
    ensure!(ok!(heap.ref_count(&d)) == 1 && ok!(heap.ref_count(&b)) == 2 && ok!(heap.ref_count(&o)) == 2);
    verify!(heap, words(host));
    for r in [b, d, o, arr, s] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

pub(super) fn array_access_errors_are_typed_and_change_nothing(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let ints = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    let refs = ok!(heap.register_array(ArrayType::new(ANYREF)));
    let structs = ok!(heap.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Struct)))));
    let node = register_node(&mut heap)?;
    let a = ok!(heap.array_new(ints, 8, ValueRef::I32(3)));
    let r = ok!(heap.array_new(refs, 8, ValueRef::Ref(None)));
    let st = ok!(heap.array_new(structs, 2, ValueRef::Ref(None)));
    let n = ok!(heap.struct_new_default(node));
    let host = [&a, &r, &st, &n];

    expect_err!(heap.array_get(&a, 8), Error::IndexOutOfBounds { index: 8, count: 1, len: 8 });
    expect_err!(heap.array_set(&a, u32::MAX, ValueRef::I32(0)), Error::IndexOutOfBounds { .. });
    expect_err!(heap.array_fill(&a, 4, ValueRef::I32(0), 5), Error::IndexOutOfBounds { index: 4, count: 5, len: 8 });
    expect_err!(heap.array_fill(&a, u32::MAX, ValueRef::I32(0), 2), Error::IndexOutOfBounds { .. });
    expect_err!(heap.array_copy(&a, 0, &a, 7, 2), Error::IndexOutOfBounds { index: 7, count: 2, len: 8 });
    expect_err!(heap.array_copy(&a, 7, &a, 0, 2), Error::IndexOutOfBounds { index: 7, count: 2, len: 8 });
    expect_err!(heap.array_set(&a, 0, ValueRef::F32(1.0)), Error::TypeMismatch { expected: "i32", found: "f32" });
    expect_err!(heap.array_fill(&a, 0, ValueRef::I64(1), 3), Error::TypeMismatch { .. });
    expect_err!(heap.array_set(&r, 0, ValueRef::I32(1)), Error::TypeMismatch { .. });
    expect_err!(heap.array_copy(&a, 0, &r, 0, 1), Error::TypeMismatch { .. });
    expect_err!(heap.array_set(&st, 0, ValueRef::Ref(Some(&a))), Error::TypeMismatch { .. });
    expect_err!(heap.array_fill(&st, 0, ValueRef::Ref(Some(&GcRef::from_i31(1))), 2), Error::TypeMismatch { .. });
    expect_err!(heap.array_len(&n), Error::WrongObjectKind { expected: "array", found: "struct" });
    expect_err!(heap.array_get(&GcRef::from_i31(0), 0), Error::WrongObjectKind { found: "i31", .. });
    verify!(heap, words(host));
    for i in 0..8 {
        ensure!(ok!(heap.array_get(&a, i)) == Value::I32(3), "element {i} changed");
        ensure!(ok!(heap.array_get(&r, i)) == Value::Ref(None));
    }
    for x in host {
        ensure!(ok!(heap.ref_count(x)) == 1);
    }
    // Zero-length accesses at the end are in bounds.
    ok!(heap.array_fill(&a, 8, ValueRef::I32(1), 0));
    ok!(heap.array_copy(&a, 8, &a, 0, 0));
    ok!(heap.array_fill(&r, 8, ValueRef::Ref(Some(&n)), 0));
    ensure!(ok!(heap.ref_count(&n)) == 1);
    verify!(heap, words(host));
    for x in [a, r, st, n] {
        ok!(heap.drop_ref(x));
    }
    ensure_empty(&heap)
}

pub(super) fn unknown_and_wrong_kind_type_indices_are_typed_errors(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let st = ok!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let ar = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    expect_err!(heap.struct_new_default(TypeIndex(99)), Error::UnknownType(99));
    expect_err!(heap.struct_new(TypeIndex(7), &[]), Error::UnknownType(7));
    expect_err!(heap.array_new(TypeIndex(5), 1, ValueRef::I32(0)), Error::UnknownType(5));
    expect_err!(heap.array_new_fixed(TypeIndex(5), &[]), Error::UnknownType(5));
    expect_err!(heap.struct_new_default(ar), Error::WrongTypeKind { expected: "a struct type", .. });
    expect_err!(heap.array_new(st, 1, ValueRef::I32(0)), Error::WrongTypeKind { expected: "an array type", .. });
    // A supertype that does not exist, that is final, or of the other kind.
    expect_err!(
        heap.register_struct(StructType { fields: vec![], supertype: Some(TypeIndex(40).into()), is_final: true }),
        Error::UnknownType(40)
    );
    expect_err!(
        heap.register_struct(StructType { fields: vec![StorageType::I32], supertype: Some(st.into()), is_final: true }),
        Error::WrongTypeKind { .. }
    );
    expect_err!(
        heap.register_array(ArrayType { element: StorageType::I32, supertype: Some(st.into()), is_final: true }),
        Error::WrongTypeKind { .. }
    );
    ensure!(heap.types().len() == 2);
    ensure_empty(&heap)
}

pub(super) fn array_length_whose_size_overflows_is_allocation_too_large(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let max = MAX_OBJECT_SIZE as usize;
    for storage in SCALARS.into_iter().chain([ANYREF]) {
        let ty = ok!(heap.register_array(ArrayType::new(storage)));
        // u32::MAX elements of any size but i8 overflow the largest object.
        if storage.size() > 1 {
            expect_err!(
                heap.array_new(ty, u32::MAX, ValueRef::default_for(storage)),
                Error::AllocationTooLarge { max: m, .. } if m == max
            );
        }
        let elements = (MAX_OBJECT_SIZE / storage.size()) + 1;
        expect_err!(
            heap.array_new(ty, elements, ValueRef::default_for(storage)),
            Error::AllocationTooLarge { requested, max: m } if m == max && requested > max
        );
    }
    let stats = ok!(heap.stats());
    ensure!(stats.objects_allocated == 0, "{stats:?}");
    ensure_empty(&heap)
}

pub(super) fn too_small_or_misaligned_regions_are_typed_errors(region: &'static mut [u8]) -> TestResult {
    let base = region.as_ptr() as usize;
    let (small, rest) = region.split_at_mut(MIN_REGION_LEN);
    let (tiny, _) = small.split_at_mut(MIN_REGION_LEN - REGION_ALIGN);
    expect_err!(Heap::<()>::new(tiny), Error::RegionTooSmall { len, min } if len == 48 && min == MIN_REGION_LEN);
    let (odd, rest) = rest.split_at_mut(4096 + 16);
    let (_, odd) = odd.split_at_mut(1);
    let (odd, _) = odd.split_at_mut(4096);
    expect_err!(
        Heap::<()>::new(odd),
        Error::RegionMisaligned { value, align: 16 } if value == base + MIN_REGION_LEN + 1
    );
    let (chunk, rest) = rest.split_at_mut(4096 + 16);
    let (ragged, _) = chunk.split_at_mut(4096 + 8);
    expect_err!(Heap::<()>::new(ragged), Error::RegionMisaligned { value: 4104, align: 16 });
    // The smallest region works and fits exactly three 16-byte objects.
    let (minimal, _) = rest.split_at_mut(MIN_REGION_LEN);
    let mut heap: Heap<()> = ok!(Heap::new(minimal));
    let empty = ok!(heap.register_struct(StructType::new(&[])));
    let mut objects = Vec::new();
    for _ in 0..3 {
        objects.push(ok!(heap.struct_new_default(empty)));
    }
    expect_err!(heap.struct_new_default(empty), Error::OutOfMemory { requested: 16 });
    verify!(heap, words(&objects));
    for r in objects {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

/// Regression: the region's accessors computed `offset + len` in `usize` unchecked, which
/// overflows on the 32-bit targets for an offset near `u32::MAX` (a panic in debug builds).
pub(super) fn region_offsets_near_u32_max_are_out_of_bounds_not_overflows(region: &'static mut [u8]) -> TestResult {
    let len = region.len() as u32;
    let mut region = ok!(crate::region::Region::from_slice(region));
    for offset in [u32::MAX, u32::MAX - 3, u32::MAX - 15, len - 3, len] {
        ensure!(region.read_u32(offset).is_err_and(|e| e.is_corruption()), "read at {offset:#x}");
        ensure!(region.write_u32(offset, 1).is_err_and(|e| e.is_corruption()), "write at {offset:#x}");
        ensure!(region.read::<16>(offset).is_err(), "16-byte read at {offset:#x}");
        ensure!(region.slice(offset, u32::MAX, "test").is_err(), "slice at {offset:#x}");
        ensure!(region.copy_within(offset, 16, 16).is_err(), "copy from {offset:#x}");
        ensure!(region.copy_within(16, offset, 16).is_err(), "copy to {offset:#x}");
        ensure!(region.fill(offset, 16, 0).is_err(), "fill at {offset:#x}");
    }
    ok!(region.write_u32(len - 4, 0xDEAD_BEEF));
    ensure!(ok!(region.read_u32(len - 4)) == 0xDEAD_BEEF);
    ok!(region.copy_within(len - 4, 16, 4));
    ensure!(ok!(region.read_u32(16)) == 0xDEAD_BEEF);
    Ok(())
}

/// Regression: constructors checked reference values before allocating, but not scalar ones,
/// so a scalar of the wrong type failed after the object was allocated and leaked it.
pub(super) fn scalar_type_mismatch_in_a_constructor_allocates_nothing(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let st = ok!(heap.register_struct(StructType::new(&[StorageType::I32, StorageType::I64])));
    let ar = ok!(heap.register_array(ArrayType::new(StorageType::F64)));
    expect_err!(
        heap.struct_new(st, &[ValueRef::I32(1), ValueRef::I32(2)]),
        Error::TypeMismatch { expected: "i64", found: "i32" }
    );
    expect_err!(heap.array_new(ar, 4, ValueRef::F32(1.0)), Error::TypeMismatch { expected: "f64", found: "f32" });
    expect_err!(heap.array_new(ar, 0, ValueRef::I64(1)), Error::TypeMismatch { .. });
    expect_err!(heap.array_new_fixed(ar, &[ValueRef::F64(1.0), ValueRef::I8(2)]), Error::TypeMismatch { .. });
    let stats = ok!(heap.stats());
    ensure!(stats.objects_allocated == 0, "a failed constructor allocated: {stats:?}");
    ensure_empty(&heap)
}

/// Regression: `array_new_fixed` built a default (null) array first, which a non-nullable
/// element type rejects, so it could never build an array of non-nullable references.
pub(super) fn array_new_fixed_accepts_non_nullable_reference_elements(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let ty = ok!(heap.register_array(ArrayType::new(StorageType::Ref(RefType::non_null(HeapType::Any)))));
    let a = ok!(heap.struct_new_default(node));
    let i31 = GcRef::from_i31(9);
    let array = ok!(heap.array_new_fixed(ty, &[ValueRef::Ref(Some(&a)), ValueRef::Ref(Some(&i31))]));
    ensure!(ok!(heap.ref_count(&a)) == 2);
    ensure!(ok!(heap.array_len(&array)) == 2);
    let first = ok!(heap.array_get(&array, 0));
    ensure!(bits(&first) == ("ref", a.as_raw_u32() as u128));
    ok!(heap.release_value(first));
    expect_err!(heap.array_new_fixed(ty, &[ValueRef::Ref(Some(&a)), ValueRef::Ref(None)]), Error::NullReference);
    // array.new with a non-null initial value works too; a null one is refused.
    let filled = ok!(heap.array_new(ty, 3, ValueRef::Ref(Some(&a))));
    expect_err!(heap.array_new(ty, 3, ValueRef::Ref(None)), Error::NullReference);
    ensure!(ok!(heap.ref_count(&a)) == 5);
    verify!(heap, words([&a, &array, &filled]));
    for r in [array, filled, a] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

/// Regression: fields were ordered by alignment over the whole subtype, so a subtype's
/// inherited fields could move, and JIT code compiled against the supertype's layout read the
/// wrong bytes of a subtype object.
pub(super) fn struct_subtype_keeps_its_supertypes_field_offsets(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let base = ok!(heap.register_struct(StructType {
        fields: vec![StorageType::I8, StorageType::I32, ANYREF],
        supertype: None,
        is_final: false
    }));
    let derived = ok!(heap.register_struct(StructType {
        fields: vec![StorageType::I8, StorageType::I32, ANYREF, StorageType::V128, StorageType::I64, ANYREF],
        supertype: Some(base.into()),
        is_final: false
    }));
    let leaf = ok!(heap.register_struct(StructType {
        fields: vec![
            StorageType::I8,
            StorageType::I32,
            ANYREF,
            StorageType::V128,
            StorageType::I64,
            ANYREF,
            StorageType::I16,
        ],
        supertype: Some(derived.into()),
        is_final: true
    }));
    for (sub, sup) in [(derived, base), (leaf, derived), (leaf, base)] {
        let sub_layout = ok!(heap.types().struct_layout(sub)).1.clone();
        let (sup_type, sup_layout) = ok!(heap.types().struct_layout(sup));
        let inherited = sup_type.fields.len();
        ensure!(
            sub_layout.field_offsets[..inherited] == sup_layout.field_offsets[..],
            "type {sub:?} moved its inherited fields: {:?} vs {:?}",
            sub_layout.field_offsets,
            sup_layout.field_offsets
        );
        ensure!(sub_layout.size >= sup_layout.size);
    }
    // Every field is naturally aligned and no two overlap.
    let (leaf_type, layout) = ok!(heap.types().struct_layout(leaf));
    let mut spans: Vec<(u32, u32)> = Vec::new();
    for (storage, &offset) in leaf_type.fields.iter().zip(&layout.field_offsets) {
        ensure!(offset % storage.align() == 0 && offset >= 16, "field at {offset} misaligned");
        spans.push((offset, offset + storage.size()));
    }
    spans.sort_unstable();
    ensure!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping fields: {spans:?}");
    ensure!(spans.last().map(|s| s.1) <= Some(layout.size));
    ensure!(layout.reference_offsets.len() == 2);
    // And the heap reads and writes them correctly.
    let child = ok!(heap.struct_new_default(base));
    let values = [
        ValueRef::I8(-1),
        ValueRef::I32(-2),
        ValueRef::Ref(Some(&child)),
        ValueRef::V128(u128::MAX - 3),
        ValueRef::I64(-4),
        ValueRef::Ref(Some(&child)),
        ValueRef::I16(-5),
    ];
    let s = ok!(heap.struct_new(leaf, &values));
    for (field, value) in values.iter().enumerate() {
        let read = ok!(heap.struct_get(&s, field as u32));
        ensure!(bits(&read) == ref_bits(*value), "field {field}: {read:?}");
        ok!(heap.release_value(read));
    }
    ensure!(ok!(heap.ref_count(&child)) == 3);
    verify!(heap, words([&child, &s]));
    ok!(heap.drop_ref(s));
    ok!(heap.drop_ref(child));
    ensure_empty(&heap)
}

pub(super) fn ref_test_and_retain_raw_follow_the_type_hierarchy(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let base = ok!(heap.register_struct(StructType { fields: vec![], supertype: None, is_final: false }));
    let derived =
        ok!(heap.register_struct(StructType { fields: vec![], supertype: Some(base.into()), is_final: true }));
    let arr = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    let b = ok!(heap.struct_new_default(base));
    let d = ok!(heap.struct_new_default(derived));
    let a = ok!(heap.array_new(arr, 1, ValueRef::I8(0)));
    let e = externref(&mut heap, &drops, 0)?;
    let i = GcRef::from_i31(0);
    let n = |h| RefType::nullable(h);
    let nn = |h| RefType::non_null(h);
    let cases: [(&GcRef, HeapType, bool); 23] = [
        (&b, HeapType::Any, true),
        (&b, HeapType::Eq, true),
        (&b, HeapType::Struct, true),
        (&b, HeapType::Array, false),
        (&b, HeapType::Extern, true),
        (&b, HeapType::Concrete(base), true),
        (&b, HeapType::Concrete(derived), false),
        (&d, HeapType::Concrete(base), true),
        (&d, HeapType::Concrete(derived), true),
        (&a, HeapType::Array, true),
        (&a, HeapType::Struct, false),
        (&a, HeapType::Concrete(arr), true),
        (&a, HeapType::Concrete(base), false),
        (&e, HeapType::Extern, true),
        (&e, HeapType::Any, true),
        (&e, HeapType::Eq, false),
        (&e, HeapType::Struct, false),
        (&e, HeapType::NoExtern, false),
        (&i, HeapType::Extern, true),
        (&i, HeapType::I31, true),
        (&i, HeapType::Eq, true),
        (&i, HeapType::Struct, false),
        (&i, HeapType::None, false),
    ];
    for (r, heap_type, expected) in cases {
        ensure!(ok!(heap.matches(Some(r), nn(heap_type))) == expected, "{r:?} as {heap_type:?}");
        ensure!(ok!(heap.matches(Some(r), n(heap_type))) == expected, "{r:?} as null {heap_type:?}");
    }
    ensure!(ok!(heap.matches(None, n(HeapType::None))));
    ensure!(!ok!(heap.matches(None, nn(HeapType::Any))));
    // A group-relative type means nothing outside registration.
    expect_err!(
        heap.matches(Some(&b), n(HeapType::RecGroupMember(0))),
        Error::RecGroupMemberOutOfBounds { member: 0, available: 0 }
    );
    // A raw word handed back by Wasm becomes an owned reference with its own count.
    let again = ok!(heap.retain_raw(d.as_raw_u32())).ok_or("retain_raw lost the reference")?;
    ensure!(ok!(heap.ref_count(&d)) == 2);
    ensure!(ok!(heap.retain_raw(0)).is_none());
    ensure!(ok!(heap.retain_raw(i.as_raw_u32())).map(|r| r.as_raw_u32()) == Some(i.as_raw_u32()));
    expect_err!(heap.retain_raw(d.as_raw_u32() + 4), Error::InvalidReference(_));
    expect_err!(heap.retain_raw(heap.region_len() - 16), Error::InvalidReference(_));
    let copy = ok!(heap.clone_ref(&b));
    ensure!(ok!(heap.ref_count(&b)) == 2);
    verify!(heap, words([&b, &d, &a, &e, &again, &copy]));
    for r in [b, d, a, e, again, copy] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}
