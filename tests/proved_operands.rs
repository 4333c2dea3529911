//! The proved-operand constructors (`struct_new_proved`, `array_new_proved`,
//! `array_new_fixed_proved` in `src/heap/fast_paths.rs`): a caller that claims the reference operands
//! have their fields' types skips that check, and a wrong claim can only mistype the new object
//! (or, through an acyclic type, leak a cycle), never break memory safety or the counts.

mod common;

use common::{assert_empty, region, verify};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{Error, GcRef, Heap, TypeIndex, Value, ValueRef};

struct Types {
    /// `leaf = struct { i32 }` (final, acyclic).
    leaf: TypeIndex,
    /// `other = struct { f64 }`: a struct that is no leaf.
    other: TypeIndex,
    /// `to_leaf = struct { ref null $leaf }` (acyclic: only final acyclic leaves).
    to_leaf: TypeIndex,
    /// `leaves = array (ref $leaf)`: non-nullable elements.
    leaves: TypeIndex,
    /// `any = struct { anyref }` (cyclic).
    any: TypeIndex,
}

fn heap_with_types(len: usize) -> (Heap<()>, Types) {
    let mut heap: Heap<()> = Heap::new(region(len)).unwrap();
    let leaf = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let other = heap.register_struct(StructType::new(&[StorageType::F64])).unwrap();
    let leaf_ref = RefType::nullable(HeapType::Concrete(leaf));
    let to_leaf = heap.register_struct(StructType::new(&[StorageType::Ref(leaf_ref)])).unwrap();
    let leaves =
        heap.register_array(ArrayType::new(StorageType::Ref(RefType::non_null(HeapType::Concrete(leaf))))).unwrap();
    let any = heap.register_struct(StructType::new(&[common::ANYREF])).unwrap();
    (heap, Types { leaf, other, to_leaf, leaves, any })
}

fn some(r: &GcRef) -> ValueRef<'_> {
    ValueRef::Ref(Some(r))
}

#[test]
fn proved_constructors_store_what_the_checked_ones_refuse_with_exact_counts() {
    let (mut heap, t) = heap_with_types(1 << 16);
    let wrong = heap.struct_new(t.other, &[ValueRef::F64(2.5)]).unwrap();
    // The checked constructors refuse an `other` where a `leaf` is expected, and null where
    // the element is non-nullable; nothing is allocated and no count changes.
    let error = heap.struct_new(t.to_leaf, &[some(&wrong)]).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    let error = heap.array_new(t.leaves, 2, some(&wrong)).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    let error = heap.array_new_fixed(t.leaves, &[some(&wrong)]).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    let error = heap.array_new_fixed(t.leaves, &[ValueRef::Ref(None)]).unwrap_err();
    assert!(matches!(error, Error::NullReference), "{error:?}");
    assert_eq!((heap.stats().unwrap().live_objects, heap.ref_count(&wrong).unwrap()), (1, 1));

    // The proved ones store them: the objects are mistyped for Wasm, the counts exact.
    let holder = heap.struct_new_proved(t.to_leaf, &[some(&wrong)]).unwrap();
    let filled = heap.array_new_proved(t.leaves, 3, some(&wrong)).unwrap();
    let fixed = heap.array_new_fixed_proved(t.leaves, &[some(&wrong), ValueRef::Ref(None)]).unwrap();
    assert_eq!(heap.ref_count(&wrong).unwrap(), 1 + 1 + 3 + 1);
    verify(&heap, &[&wrong, &holder, &filled, &fixed]);

    // Readers validate what they find like any word: the field holds an `other`.
    let Value::Ref(Some(read)) = heap.struct_get(&holder, 0).unwrap() else { panic!("a reference") };
    assert_eq!(heap.type_of(&read).unwrap(), Some(t.other));
    assert_eq!(heap.struct_get_scalar(&read, 0).unwrap(), Value::F64(2.5));
    heap.drop_ref(read).unwrap();
    assert_eq!(heap.array_get(&fixed, 1).unwrap(), Value::Ref(None));

    // Everything is freed exactly once when the last reference goes.
    for r in [holder, filled, fixed] {
        heap.drop_ref(r).unwrap();
    }
    assert_eq!(heap.ref_count(&wrong).unwrap(), 1);
    heap.drop_ref(wrong).unwrap();
    assert_empty(&heap);
}

#[test]
fn proved_constructors_still_validate_every_reference_word_and_scalar() {
    let (mut heap, t) = heap_with_types(1 << 16);
    let leaf = heap.struct_new(t.leaf, &[ValueRef::I32(7)]).unwrap();
    let freed = heap.struct_new(t.leaf, &[ValueRef::I32(8)]).unwrap();
    let stale = GcRef::from_raw_u32(freed.as_raw_u32()).unwrap();
    heap.drop_ref(freed).unwrap();
    // A word inside a live object (its field), even where a header could be forged.
    let inside = GcRef::from_raw_u32(leaf.as_raw_u32() + 16).unwrap();

    for bad in [&stale, &inside] {
        let error = heap.struct_new_proved(t.any, &[some(bad)]).unwrap_err();
        assert!(matches!(error, Error::InvalidReference(_)), "{error:?}");
        let error = heap.array_new_proved(t.leaves, 4, some(bad)).unwrap_err();
        assert!(matches!(error, Error::InvalidReference(_)), "{error:?}");
        // The counts taken on the valid elements before the bad one are given back.
        let error = heap.array_new_fixed_proved(t.leaves, &[some(&leaf), some(&leaf), some(bad)]).unwrap_err();
        assert!(matches!(error, Error::InvalidReference(_)), "{error:?}");
    }
    // Scalars are checked whatever the claim: an f64 is not written into an i32 field.
    let error = heap.struct_new_proved(t.leaf, &[ValueRef::F64(1.0)]).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    let error = heap.struct_new_proved(t.leaf, &[ValueRef::I32(1), ValueRef::I32(2)]).unwrap_err();
    assert!(matches!(error, Error::FieldCountMismatch { .. }), "{error:?}");
    let error = heap.array_new_fixed_proved(t.leaves, &[some(&leaf), ValueRef::I64(3)]).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");

    assert_eq!((heap.stats().unwrap().live_objects, heap.ref_count(&leaf).unwrap()), (1, 1));
    verify(&heap, &[&leaf]);
    heap.drop_ref(leaf).unwrap();
    assert_empty(&heap);
}

#[test]
fn a_wrong_proof_through_an_acyclic_type_can_only_leak_the_cycle_it_closes() {
    let (mut heap, t) = heap_with_types(1 << 16);
    assert!(heap.types().is_acyclic(t.to_leaf).unwrap() && !heap.types().is_acyclic(t.any).unwrap());
    // `to_leaf` can only hold leaves, so it is never a cycle candidate; a wrong proof puts an
    // `any` in it, and a checked store (anyref takes anything) closes the cycle.
    let any = heap.struct_new(t.any, &[ValueRef::Ref(None)]).unwrap();
    let holder = heap.struct_new_proved(t.to_leaf, &[some(&any)]).unwrap();
    heap.struct_set(&any, 0, some(&holder)).unwrap();
    verify(&heap, &[&any, &holder]);
    heap.drop_ref(holder).unwrap();
    heap.drop_ref(any).unwrap();
    // The cycle collector does not trace through the acyclic object, so it keeps the pair: a
    // leak, as with cycle collection off. The counts are still exact and the heap sound.
    let report = heap.collect_cycles().unwrap();
    assert_eq!(report.objects_freed, 0);
    assert_eq!(heap.stats().unwrap().live_objects, 2);
    heap.verify([]).unwrap();
    // And the heap keeps working: new objects, a reset that gives everything back.
    let leaf = heap.struct_new(t.leaf, &[ValueRef::I32(1)]).unwrap();
    verify(&heap, &[&leaf]);
    heap.drop_ref(leaf).unwrap();
    heap.reset();
    assert_empty(&heap);
}
