//! `struct_set_owned` checks the value it moves in with the field's precomputed plan
//! (`FieldPlan`, as `struct_new_owned` does) and leaves what the plan does not decide to the
//! full check: its answers and errors must be exactly the generic `struct_set`'s (which checks
//! the value against the field's storage type), for every field type and every kind of word,
//! valid or not (for a concrete field type the plan takes an object of exactly that type and
//! leaves a subtype's to the full check), and a refused value's count is given back (nothing
//! leaks).

mod common;

use common::{assert_empty, field_types, region, verify};
use drc_heap::header::{HEADER_SIZE, KIND_OFFSET};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType, TypeReference};
use drc_heap::{Error, GcRef, Heap, Value, ValueRef};

/// The raw word of field 1 of `target` (a reference field), without a count.
fn field_word<H>(heap: &Heap<H>, target: &GcRef) -> Option<u32> {
    heap.struct_get_borrowed(target, 1).unwrap().map(|r| r.as_raw_u32())
}

#[test]
fn struct_set_owned_accepts_and_refuses_every_value_as_struct_set_does() {
    let mut heap: Heap<u32> = Heap::new(region(1 << 16)).unwrap();
    let open = StructType { fields: vec![StorageType::I32], supertype: None, is_final: false };
    let node = heap.register_struct(open).unwrap();
    let other = heap.register_struct(StructType::new(&[StorageType::I64])).unwrap();
    let sub =
        StructType { fields: vec![StorageType::I32], supertype: Some(TypeReference::Registered(node)), is_final: true };
    let sub = heap.register_struct(sub).unwrap();
    let array = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let a_node = heap.struct_new(node, &[ValueRef::I32(1)]).unwrap();
    let an_other = heap.struct_new(other, &[ValueRef::I64(1)]).unwrap();
    // A value of `node` that is not of exactly that type (the plan leaves it to the full check).
    let a_sub = heap.struct_new(sub, &[ValueRef::I32(1)]).unwrap();
    let an_array = heap.array_new(array, 2, ValueRef::I32(0)).unwrap();
    let an_extern = heap.alloc_externref(9).map_err(|(error, _)| error).unwrap();
    // A word inside an object (no object starts there) and a word past everything allocated.
    let inside = a_node.as_raw_u32() + HEADER_SIZE;
    let operands: Vec<(&str, Option<u32>)> = vec![
        ("null", None),
        ("i31", Some(GcRef::from_i31(5).as_raw_u32())),
        ("struct", Some(a_node.as_raw_u32())),
        ("struct of another type", Some(an_other.as_raw_u32())),
        ("struct of a subtype", Some(a_sub.as_raw_u32())),
        ("array", Some(an_array.as_raw_u32())),
        ("externref", Some(an_extern.as_raw_u32())),
        ("inside an object", Some(inside)),
        ("past the top", Some(1 << 15)),
    ];
    let (mut checked, mut stored) = (0, 0);
    for ref_type in field_types(node, other) {
        let ty = heap.register_struct(StructType::new(&[StorageType::I32, StorageType::Ref(ref_type)])).unwrap();
        // Two structs of the type, their reference field holding the first operand it takes
        // (none for a non-nullable bottom type: no struct of that type can exist).
        let first = operands.iter().find_map(|&(_, raw)| {
            let init = raw.and_then(GcRef::from_raw_u32);
            let target = heap.struct_new(ty, &[ValueRef::I32(2), ValueRef::Ref(init.as_ref())]).ok()?;
            let twin = heap.struct_new(ty, &[ValueRef::I32(2), ValueRef::Ref(init.as_ref())]).unwrap();
            Some((target, twin))
        });
        let Some((generic_target, owned_target)) = first else {
            assert!(!ref_type.nullable && matches!(ref_type.heap_type, HeapType::None | HeapType::NoExtern));
            continue;
        };
        for &(name, raw) in &operands {
            let unbound = raw.and_then(GcRef::from_raw_u32);
            let generic = heap.struct_set(&generic_target, 1, ValueRef::Ref(unbound.as_ref()));
            // The owned value holds a count of its own where the word names an object (the
            // store moves it in, or gives it back when it refuses the value); an unbound
            // handle on a word that names none (no count to move or give back).
            let owned_value = unbound
                .as_ref()
                .map(|r| heap.clone_ref(r).unwrap_or_else(|_| GcRef::from_raw_u32(r.as_raw_u32()).unwrap()));
            let owned = heap.struct_set_owned(&owned_target, 1, Value::Ref(owned_value));
            assert_eq!(generic, owned, "{ref_type:?} given {name}");
            assert_eq!(
                field_word(&heap, &generic_target),
                field_word(&heap, &owned_target),
                "{ref_type:?} given {name}"
            );
            stored += generic.is_ok() as u32;
            checked += 1;
        }
        verify(&heap, &[&a_node, &an_other, &a_sub, &an_array, &an_extern, &generic_target, &owned_target]);
        heap.drop_ref(generic_target).unwrap();
        heap.drop_ref(owned_target).unwrap();
    }
    assert_eq!(checked, 18 * operands.len());
    assert!(stored > 30, "{stored}");
    verify(&heap, &[&a_node, &an_other, &a_sub, &an_array, &an_extern]);
    for r in [a_node, an_other, a_sub, an_array, an_extern] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn array_set_owned_accepts_and_refuses_every_value_as_array_set_does() {
    let mut heap: Heap<u32> = Heap::new(region(1 << 16)).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let other = heap.register_struct(StructType::new(&[StorageType::I64])).unwrap();
    let scalars = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let a_node = heap.struct_new(node, &[ValueRef::I32(1)]).unwrap();
    let an_other = heap.struct_new(other, &[ValueRef::I64(1)]).unwrap();
    let an_array = heap.array_new(scalars, 2, ValueRef::I32(0)).unwrap();
    let an_extern = heap.alloc_externref(9).map_err(|(error, _)| error).unwrap();
    let inside = a_node.as_raw_u32() + HEADER_SIZE;
    let operands: Vec<(&str, Option<u32>)> = vec![
        ("null", None),
        ("i31", Some(GcRef::from_i31(5).as_raw_u32())),
        ("struct", Some(a_node.as_raw_u32())),
        ("struct of another type", Some(an_other.as_raw_u32())),
        ("array", Some(an_array.as_raw_u32())),
        ("externref", Some(an_extern.as_raw_u32())),
        ("inside an object", Some(inside)),
        ("past the top", Some(1 << 15)),
    ];
    let mut checked = 0;
    for ref_type in field_types(node, other) {
        let ty = heap.register_array(ArrayType::new(StorageType::Ref(ref_type))).unwrap();
        let first = operands.iter().find_map(|&(_, raw)| {
            let init = raw.and_then(GcRef::from_raw_u32);
            let target = heap.array_new(ty, 2, ValueRef::Ref(init.as_ref())).ok()?;
            Some((target, heap.array_new(ty, 2, ValueRef::Ref(init.as_ref())).unwrap()))
        });
        let Some((generic_target, owned_target)) = first else { continue };
        for &(name, raw) in &operands {
            // Element 1, and an index out of bounds.
            for i in [1, 2] {
                let unbound = raw.and_then(GcRef::from_raw_u32);
                let generic = heap.array_set(&generic_target, i, ValueRef::Ref(unbound.as_ref()));
                let owned_value = unbound
                    .as_ref()
                    .map(|r| heap.clone_ref(r).unwrap_or_else(|_| GcRef::from_raw_u32(r.as_raw_u32()).unwrap()));
                let owned = heap.array_set_owned(&owned_target, i, Value::Ref(owned_value));
                assert_eq!(generic, owned, "{ref_type:?} given {name} at {i}");
                let word = |heap: &Heap<u32>, a: &GcRef| heap.array_get_borrowed(a, 1).unwrap().map(|r| r.as_raw_u32());
                assert_eq!(word(&heap, &generic_target), word(&heap, &owned_target), "{ref_type:?} given {name}");
                checked += 1;
            }
        }
        // A scalar in a reference array.
        assert_eq!(
            heap.array_set(&generic_target, 0, ValueRef::I32(1)),
            heap.array_set_owned(&owned_target, 0, Value::I32(1))
        );
        heap.drop_ref(generic_target).unwrap();
        heap.drop_ref(owned_target).unwrap();
    }
    assert_eq!(checked, 2 * 18 * operands.len());
    // Scalar elements: the value's variant against the element type.
    let generic_target = heap.array_new(scalars, 2, ValueRef::I32(0)).unwrap();
    let owned_target = heap.array_new(scalars, 2, ValueRef::I32(0)).unwrap();
    for value in [Value::I32(7), Value::I64(7), Value::Ref(None)] {
        let generic = heap.array_set(&generic_target, 1, value.borrow());
        assert_eq!(generic, heap.array_set_owned(&owned_target, 1, value));
    }
    assert_eq!(heap.array_get(&owned_target, 1).unwrap(), Value::I32(7));
    // Not an array.
    assert_eq!(heap.array_set(&a_node, 0, ValueRef::I32(1)), heap.array_set_owned(&a_node, 0, Value::I32(1)));
    verify(&heap, &[&a_node, &an_other, &an_array, &an_extern, &generic_target, &owned_target]);
    for r in [a_node, an_other, an_array, an_extern, generic_target, owned_target] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn struct_set_owned_stores_scalars_and_refuses_mismatches_as_struct_set_does() {
    let mut heap: Heap<()> = Heap::new(region(1 << 14)).unwrap();
    let storages = [
        StorageType::I8,
        StorageType::I16,
        StorageType::I32,
        StorageType::I64,
        StorageType::F32,
        StorageType::F64,
        StorageType::V128,
        StorageType::Ref(RefType::nullable(HeapType::Any)),
    ];
    let values = || {
        [
            Value::I8(-3),
            Value::I16(-300),
            Value::I32(-70_000),
            Value::I64(-1 << 40),
            Value::F32(1.5),
            Value::F64(-2.25),
            Value::V128(u128::MAX - 7),
            Value::Ref(None),
        ]
    };
    let ty = heap.register_struct(StructType::new(&storages)).unwrap();
    let defaults: Vec<_> = storages.iter().map(|&s| ValueRef::default_for(s)).collect();
    let generic_target = heap.struct_new(ty, &defaults).unwrap();
    let owned_target = heap.struct_new(ty, &defaults).unwrap();
    for field in 0..storages.len() as u32 + 1 {
        for value in values() {
            let generic = heap.struct_set(&generic_target, field, value.borrow());
            let owned = heap.struct_set_owned(&owned_target, field, value);
            assert_eq!(generic, owned, "field {field}");
        }
    }
    for field in 0..storages.len() as u32 {
        assert_eq!(heap.struct_get(&generic_target, field).unwrap(), heap.struct_get(&owned_target, field).unwrap());
    }
    // A struct that is not one, a foreign handle's target, an i31.
    let array = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let not_a_struct = heap.array_new(array, 1, ValueRef::I32(0)).unwrap();
    for r in [&not_a_struct, &GcRef::from_i31(1)] {
        assert_eq!(heap.struct_set(r, 0, ValueRef::I8(1)), heap.struct_set_owned(r, 0, Value::I8(1)));
    }
    for r in [generic_target, owned_target, not_a_struct] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn struct_set_owned_refuses_an_object_whose_kind_byte_is_corrupted_and_stores_nothing() {
    for concrete in [false, true] {
        refuses_a_corrupted_kind_byte(concrete);
    }
}

/// The test above with the field of type `ref null struct`, or of the struct's own type
/// (`concrete`: the plan then reads the header whole).
fn refuses_a_corrupted_kind_byte(concrete: bool) {
    let mut heap: Heap<()> = Heap::new(region(4096)).unwrap();
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let own = StorageType::Ref(RefType::nullable(HeapType::Concrete(drc_heap::TypeIndex(0))));
    let node = heap.register_struct(StructType::new(&[link, if concrete { own } else { link }])).unwrap();
    assert_eq!(node.0, 0);
    let new =
        |heap: &mut Heap<()>| heap.struct_new_owned(node, [Value::Ref(None), Value::Ref(None)]).map_err(|(e, _)| e);
    let target = new(&mut heap).unwrap();
    let child = new(&mut heap).unwrap();
    let raw = child.as_raw_u32();
    // SAFETY: the kind byte of the child lies inside the region, which is valid for writes;
    // no reference into the region is alive across the write (as JIT code might do it).
    unsafe { heap.region_base().add((raw + KIND_OFFSET) as usize).write(0xee) };
    let generic = heap.struct_set(&target, 1, ValueRef::Ref(Some(&child)));
    assert!(matches!(generic, Err(Error::Corrupted { .. })), "{generic:?}");
    let owned = heap.struct_set_owned(&target, 1, Value::Ref(Some(child)));
    assert!(matches!(owned, Err(Error::Corrupted { .. })), "{owned:?}");
    assert_eq!(field_word(&heap, &target), None, "a refused store writes nothing");
}
