//! Portable tests of type registration and the Wasm typing rules the heap enforces: recursion
//! groups, checked type references, subtypes that refine reference fields, defaultable types,
//! and `extern`/`any` holding each other's words.
//!
//! Every test runs [`Heap::verify`] after its steps, passing the words of the references it
//! holds as host roots, and ends with an empty heap.

use super::{PortableTest, TestResult};
use crate::types::{ArrayType, CompositeType, HeapType, RefType, StorageType, StructType, TypeReference};
use crate::{Error, GcRef, Heap, TypeIndex, Value, ValueRef};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The type table.
pub(super) static TYPES: &[PortableTest] = &[
    portable!(rec_group_members_refer_to_each_other_by_position),
    portable!(rec_group_with_a_bad_reference_registers_nothing),
    portable!(registration_refuses_a_concrete_index_that_is_not_registered),
    portable!(struct_subtype_may_refine_reference_fields_but_not_scalars),
    portable!(array_subtype_may_refine_a_reference_element_but_not_a_scalar_one),
    portable!(default_allocation_refuses_non_nullable_reference_fields_and_elements),
    portable!(cycle_through_externref_fields_is_collected),
];

fn nullable(heap_type: HeapType) -> StorageType {
    StorageType::Ref(RefType::nullable(heap_type))
}

fn non_null(heap_type: HeapType) -> StorageType {
    StorageType::Ref(RefType::non_null(heap_type))
}

fn words<const N: usize>(refs: [&GcRef; N]) -> impl Iterator<Item = u32> {
    refs.map(GcRef::as_raw_u32).into_iter()
}

fn ensure_empty<H>(heap: &Heap<H>) -> TestResult {
    verify!(heap);
    let stats = ok!(heap.stats());
    ensure!(stats.live_objects == 0, "{} objects still live", stats.live_objects);
    Ok(())
}

/// `(rec (type $tree (sub (struct (field (ref null $forest)) (field i32))))
///       (type $forest (array (ref null $tree)))
///       (type $leaf (sub final $tree (struct (field (ref null $forest)) (field i32) (field (ref $text))))))`
/// after an earlier `$text`: the members name each other and the earlier type without their
/// indices being predicted.
fn rec_group_members_refer_to_each_other_by_position(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let text = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    let filler = ok!(heap.register_struct(StructType::new(&[])));
    let tree = StructType {
        fields: vec![nullable(HeapType::RecGroupMember(1)), StorageType::I32],
        supertype: None,
        is_final: false,
    };
    let leaf = StructType {
        fields: vec![nullable(HeapType::RecGroupMember(1)), StorageType::I32, non_null(HeapType::Concrete(text))],
        supertype: Some(TypeReference::RecGroupMember(0)),
        is_final: true,
    };
    let forest = ArrayType::new(nullable(HeapType::RecGroupMember(0)));
    let members = ok!(heap.register_rec_group(&[
        CompositeType::Struct(tree),
        CompositeType::Array(forest),
        CompositeType::Struct(leaf),
    ]));
    ensure!(members == vec![TypeIndex(2), TypeIndex(3), TypeIndex(4)], "{members:?}");
    let (tree, forest, leaf) = (members[0], members[1], members[2]);
    // The group-relative references are resolved to the members' indices.
    let (tree_type, _) = ok!(heap.types().struct_layout(tree));
    ensure!(tree_type.fields[0] == nullable(HeapType::Concrete(forest)), "{tree_type:?}");
    ensure!(ok!(heap.types().array_layout(forest)).0.element == nullable(HeapType::Concrete(tree)));
    ensure!(ok!(heap.types().supertype(leaf)) == Some(tree));
    ensure!(heap.types().is_subtype(leaf, tree) && !heap.types().is_subtype(tree, leaf));
    ensure!(!ok!(heap.types().is_acyclic(tree)), "a tree may hold a forest holding itself");
    // And the heap checks stores against them: a forest holds trees and leaves, nothing else.
    let name = ok!(heap.array_new(text, 3, ValueRef::I8(b'x' as i8)));
    let a_leaf = ok!(heap.struct_new(leaf, &[ValueRef::Ref(None), ValueRef::I32(1), ValueRef::Ref(Some(&name))]));
    let a_forest = ok!(heap.array_new(forest, 2, ValueRef::Ref(Some(&a_leaf))));
    let root = ok!(heap.struct_new(tree, &[ValueRef::Ref(Some(&a_forest)), ValueRef::I32(2)]));
    let other = ok!(heap.struct_new_default(filler));
    expect_err!(heap.array_set(&a_forest, 0, ValueRef::Ref(Some(&other))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_set(&root, 0, ValueRef::Ref(Some(&root))), Error::TypeMismatch { .. });
    ok!(heap.array_set(&a_forest, 1, ValueRef::Ref(Some(&root))));
    ensure!(ok!(heap.matches(Some(&a_leaf), RefType::non_null(HeapType::Concrete(tree)))));
    verify!(heap, words([&name, &a_leaf, &a_forest, &root, &other]));
    // root -> forest -> root is a cycle: break it before letting go.
    ok!(heap.array_set(&a_forest, 1, ValueRef::Ref(None)));
    for r in [name, a_leaf, a_forest, root, other] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

/// Every kind of bad reference in a group is a typed error naming it, and nothing of the
/// group (not even its valid members before the bad one) is registered.
fn rec_group_with_a_bad_reference_registers_nothing(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let open = StructType { fields: vec![StorageType::I32], supertype: None, is_final: false };
    let base = ok!(heap.register_struct(open.clone()));
    let good = CompositeType::Struct(open.clone());
    let cases: [(CompositeType, Error); 5] = [
        // A field naming member 2 of a group of 2.
        (
            CompositeType::Array(ArrayType::new(nullable(HeapType::RecGroupMember(2)))),
            Error::RecGroupMemberOutOfBounds { member: 2, available: 2 },
        ),
        // A field naming a concrete index past the group.
        (CompositeType::Struct(StructType::new(&[nullable(HeapType::Concrete(TypeIndex(3)))])), Error::UnknownType(3)),
        // A supertype that is the member itself, so not declared before it.
        (
            CompositeType::Struct(StructType { supertype: Some(TypeReference::RecGroupMember(1)), ..open.clone() }),
            Error::RecGroupMemberOutOfBounds { member: 1, available: 1 },
        ),
        // A supertype given by the (predicted) index of the member itself.
        (
            CompositeType::Struct(StructType {
                supertype: Some(TypeReference::Registered(TypeIndex(2))),
                ..open.clone()
            }),
            Error::UnknownType(2),
        ),
        // A supertype of the other kind (a group member that is a struct).
        (
            CompositeType::Array(ArrayType {
                element: StorageType::I32,
                supertype: Some(TypeReference::RecGroupMember(0)),
                is_final: true,
            }),
            Error::WrongTypeKind { type_index: 1, expected: "an array type" },
        ),
    ];
    for (bad, expected) in cases {
        let result = heap.register_rec_group(&[good.clone(), bad.clone()]);
        ensure!(result.as_ref().err() == Some(&expected), "{bad:?} gave {result:?}, expected {expected:?}");
        ensure!(heap.types().len() == 1, "a failed group left {} types", heap.types().len());
    }
    // The same members in a valid group register, and a supertype from before the group works.
    let sub = StructType { supertype: Some(base.into()), ..open.clone() };
    let members = ok!(heap.register_rec_group(&[good, CompositeType::Struct(sub)]));
    ensure!(members == vec![TypeIndex(1), TypeIndex(2)] && heap.types().is_subtype(TypeIndex(2), base));
    ensure!(ok!(heap.register_rec_group(&[])).is_empty(), "an empty group is valid Wasm");
    // A single registration is a group of one: member 0 is the type itself, member 1 is not.
    let list = ok!(heap.register_struct(StructType::new(&[nullable(HeapType::RecGroupMember(0))])));
    ensure!(ok!(heap.types().struct_layout(list)).0.fields[0] == nullable(HeapType::Concrete(list)));
    expect_err!(
        heap.register_array(ArrayType::new(nullable(HeapType::RecGroupMember(1)))),
        Error::RecGroupMemberOutOfBounds { member: 1, available: 1 }
    );
    ensure!(heap.types().len() == 4);
    ensure_empty(&heap)
}

/// Issue 11 item 6: a concrete index that is not registered (nor in the group being
/// registered) was accepted silently, and objects of the type then referred to whatever type
/// was registered there next.
fn registration_refuses_a_concrete_index_that_is_not_registered(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let leaf = ok!(heap.register_struct(StructType::new(&[StorageType::I32])));
    expect_err!(
        heap.register_struct(StructType::new(&[nullable(HeapType::Concrete(TypeIndex(5)))])),
        Error::UnknownType(5)
    );
    expect_err!(heap.register_array(ArrayType::new(non_null(HeapType::Concrete(TypeIndex(2))))), Error::UnknownType(2));
    expect_err!(
        heap.register_array(ArrayType {
            element: StorageType::I8,
            supertype: Some(TypeIndex(9).into()),
            is_final: true
        }),
        Error::UnknownType(9)
    );
    ensure!(heap.types().len() == 1);
    // A type naming itself by its index is a group of one naming its own member: accepted.
    let list = ok!(heap.register_struct(StructType::new(&[nullable(HeapType::Concrete(TypeIndex(1)))])));
    let to_leaf = ok!(heap.register_array(ArrayType::new(nullable(HeapType::Concrete(leaf)))));
    ensure!(list == TypeIndex(1) && to_leaf == TypeIndex(2));
    ensure_empty(&heap)
}

/// Wasm lets a subtype refine an immutable reference field (covariance); the heap has no
/// mutability, so it accepts any reference type where the supertype has a reference, keeps the
/// layout, and checks stores against the object's own (refined) type. Scalars must match.
fn struct_subtype_may_refine_reference_fields_but_not_scalars(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let base = ok!(heap.register_struct(StructType {
        fields: vec![nullable(HeapType::Any), StorageType::I32],
        supertype: None,
        is_final: false,
    }));
    let refined = ok!(heap.register_struct(StructType {
        fields: vec![non_null(HeapType::Struct), StorageType::I32, StorageType::I64],
        supertype: Some(base.into()),
        is_final: true,
    }));
    let (_, base_layout) = ok!(heap.types().struct_layout(base));
    let base_offsets = base_layout.field_offsets.clone();
    ensure!(ok!(heap.types().struct_layout(refined)).1.field_offsets[..2] == base_offsets[..]);
    for scalar_change in [vec![nullable(HeapType::Any), StorageType::F32], vec![StorageType::I32, StorageType::I32]] {
        expect_err!(
            heap.register_struct(StructType { fields: scalar_change, supertype: Some(base.into()), is_final: true }),
            Error::TypeMismatch { .. }
        );
    }
    expect_err!(
        heap.register_struct(StructType {
            fields: vec![nullable(HeapType::Any)],
            supertype: Some(base.into()),
            is_final: true
        }),
        Error::TypeMismatch { .. }
    );
    let target = ok!(heap.struct_new(base, &[ValueRef::Ref(None), ValueRef::I32(0)]));
    let object = ok!(heap.struct_new(refined, &[ValueRef::Ref(Some(&target)), ValueRef::I32(1), ValueRef::I64(2)]));
    // Stores follow the refined type: an i31 fits the supertype's anyref but not `(ref struct)`.
    let i31 = GcRef::from_i31(5);
    expect_err!(heap.struct_set(&object, 0, ValueRef::Ref(Some(&i31))), Error::TypeMismatch { .. });
    expect_err!(heap.struct_set(&object, 0, ValueRef::Ref(None)), Error::NullReference);
    ensure!(ok!(heap.matches(Some(&object), RefType::non_null(HeapType::Concrete(base)))));
    verify!(heap, words([&target, &object]));
    ok!(heap.drop_ref(target));
    ok!(heap.drop_ref(object));
    ensure_empty(&heap)
}

/// The array counterpart: a reference element may be refined, a scalar one may not change.
fn array_subtype_may_refine_a_reference_element_but_not_a_scalar_one(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let open = |element| ArrayType { element, supertype: None, is_final: false };
    let anys = ok!(heap.register_array(open(nullable(HeapType::Any))));
    let bytes = ok!(heap.register_array(open(StorageType::I8)));
    let i31s = ok!(heap.register_array(ArrayType {
        element: nullable(HeapType::I31),
        supertype: Some(anys.into()),
        is_final: true,
    }));
    ensure!(heap.types().is_subtype(i31s, anys));
    expect_err!(
        heap.register_array(ArrayType { element: StorageType::I16, supertype: Some(bytes.into()), is_final: true }),
        Error::TypeMismatch { .. }
    );
    expect_err!(
        heap.register_array(ArrayType {
            element: nullable(HeapType::Any),
            supertype: Some(bytes.into()),
            is_final: true
        }),
        Error::TypeMismatch { .. }
    );
    let array = ok!(heap.array_new(i31s, 2, ValueRef::Ref(Some(&GcRef::from_i31(3)))));
    let other = ok!(heap.array_new_default(bytes, 1));
    expect_err!(heap.array_set(&array, 0, ValueRef::Ref(Some(&other))), Error::TypeMismatch { .. });
    match ok!(heap.array_get(&array, 1)) {
        Value::Ref(Some(r)) => ensure!(r.i31_signed() == Some(3)),
        other => return Err(format!("element 1 read back as {other:?}")),
    }
    verify!(heap, words([&array, &other]));
    ok!(heap.drop_ref(array));
    ok!(heap.drop_ref(other));
    ensure_empty(&heap)
}

/// Issue 11 item 2: `struct_new_default` stored null in a `(ref $t)` field, which `struct_get`
/// then returned. Wasm has no `struct.new_default`/`array.new_default` for such types: both
/// refuse them with a typed error and allocate nothing; defaultable types still work.
fn default_allocation_refuses_non_nullable_reference_fields_and_elements(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let strict = ok!(heap.register_struct(StructType::new(&[StorageType::I32, non_null(HeapType::Any)])));
    let strict_array = ok!(heap.register_array(ArrayType::new(non_null(HeapType::Struct))));
    let loose = ok!(heap.register_struct(StructType::new(&[StorageType::I64, nullable(HeapType::Struct)])));
    let loose_array = ok!(heap.register_array(ArrayType::new(nullable(HeapType::Eq))));
    ensure!(!ok!(heap.types().is_defaultable(strict)) && !ok!(heap.types().is_defaultable(strict_array)));
    ensure!(ok!(heap.types().is_defaultable(loose)) && ok!(heap.types().is_defaultable(loose_array)));
    expect_err!(heap.struct_new_default(strict), Error::NotDefaultable { type_index } if type_index == strict.0);
    expect_err!(heap.array_new_default(strict_array, 4), Error::NotDefaultable { type_index } if type_index == strict_array.0);
    expect_err!(heap.array_new_default(strict_array, 0), Error::NotDefaultable { .. });
    // The wrong kind of type is still named as such.
    expect_err!(heap.struct_new_default(strict_array), Error::WrongTypeKind { .. });
    expect_err!(heap.array_new_default(strict, 1), Error::WrongTypeKind { .. });
    ensure!(ok!(heap.stats()).live_objects == 0, "a refused default allocation allocated");
    let s = ok!(heap.struct_new_default(loose));
    let a = ok!(heap.array_new_default(loose_array, 3));
    ensure!(matches!(ok!(heap.struct_get(&s, 1)), Value::Ref(None)));
    ensure!(matches!(ok!(heap.struct_get(&s, 0)), Value::I64(0)));
    ensure!(ok!(heap.array_len(&a)) == 3 && matches!(ok!(heap.array_get(&a, 2)), Value::Ref(None)));
    // The non-defaultable types are made with values.
    let made = ok!(heap.struct_new(strict, &[ValueRef::I32(1), ValueRef::Ref(Some(&s))]));
    let made_array = ok!(heap.array_new(strict_array, 2, ValueRef::Ref(Some(&s))));
    verify!(heap, words([&s, &a, &made, &made_array]));
    for r in [made, made_array, s, a] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

/// A struct can sit in an externref field (`extern.convert_any`), so types with externref
/// fields are not acyclic: a garbage cycle through such fields is found and freed.
fn cycle_through_externref_fields_is_collected(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let boxed = ok!(heap.register_struct(StructType::new(&[nullable(HeapType::Extern)])));
    let externs = ok!(heap.register_array(ArrayType::new(nullable(HeapType::Extern))));
    ensure!(!ok!(heap.types().is_acyclic(boxed)) && !ok!(heap.types().is_acyclic(externs)));
    let a = ok!(heap.struct_new_default(boxed));
    let b = ok!(heap.array_new_default(externs, 2));
    let host = ok!(heap.alloc_externref(7).map_err(|(error, _)| error));
    ok!(heap.struct_set(&a, 0, ValueRef::Ref(Some(&b))));
    ok!(heap.array_set(&b, 0, ValueRef::Ref(Some(&a))));
    ok!(heap.array_set(&b, 1, ValueRef::Ref(Some(&host))));
    verify!(heap, words([&a, &b, &host]));
    for r in [a, b, host] {
        ok!(heap.drop_ref(r));
    }
    ensure!(ok!(heap.stats()).live_objects == 3, "the cycle and the externref it holds stay until collected");
    let report = ok!(heap.collect_cycles());
    ensure!(report.objects_freed == 3, "{report:?}");
    ensure!(heap.host_data_count() == 0);
    ensure_empty(&heap)
}

#[allow(unused_imports)]
use {format as _, String as _, Vec as _};
