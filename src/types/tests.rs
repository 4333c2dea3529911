//! Unit tests of the type registry: layouts, recursion groups, subtyping and the checks of
//! registration.

use super::*;
use alloc::vec;

const ANYREF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Any));

#[test]
fn struct_fields_are_naturally_aligned_and_refs_are_listed() {
    let mut types = TypeRegistry::new();
    let index = types
        .register_struct(StructType::new(&[
            StorageType::I8,
            ANYREF,
            StorageType::I64,
            StorageType::V128,
            StorageType::I16,
            ANYREF,
        ]))
        .unwrap();
    let (_, layout) = types.struct_layout(index).unwrap();
    // v128 first (align 16), then i64, the two refs, i16, i8.
    assert_eq!(layout.field_offsets, vec![50, 40, 32, 16, 48, 44]);
    assert_eq!(layout.reference_offsets, vec![40, 44]);
    assert_eq!(layout.size, 51);
    assert!(!types.is_acyclic(index).unwrap());
}

#[test]
fn array_elements_follow_the_length_at_their_alignment() {
    let mut types = TypeRegistry::new();
    let bytes = types.register_array(ArrayType::new(StorageType::I8)).unwrap();
    let vectors = types.register_array(ArrayType::new(StorageType::V128)).unwrap();
    let refs = types.register_array(ArrayType::new(ANYREF)).unwrap();
    assert_eq!(types.array_layout(bytes).unwrap().1.elements_offset, 20);
    assert_eq!(types.array_layout(vectors).unwrap().1.elements_offset, 32);
    let (_, layout) = types.array_layout(refs).unwrap();
    assert!(layout.elements_are_refs);
    assert_eq!(layout.size(3), Some(32));
    assert_eq!(layout.size(u32::MAX), None);
    assert!(types.is_acyclic(bytes).unwrap() && !types.is_acyclic(refs).unwrap());
}

#[test]
fn acyclic_analysis_respects_finality() {
    let mut types = TypeRegistry::new();
    let leaf = types.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let open_leaf =
        types.register_struct(StructType { fields: vec![StorageType::I32], supertype: None, is_final: false }).unwrap();
    let to_leaf = types
        .register_struct(StructType::new(&[StorageType::Ref(RefType::nullable(HeapType::Concrete(leaf)))]))
        .unwrap();
    let to_open = types
        .register_struct(StructType::new(&[StorageType::Ref(RefType::nullable(HeapType::Concrete(open_leaf)))]))
        .unwrap();
    let externs = types.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Extern)))).unwrap();
    let i31s = types.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::I31)))).unwrap();
    assert!(types.is_acyclic(to_leaf).unwrap());
    assert!(!types.is_acyclic(to_open).unwrap(), "a subtype of the open type may have ref fields");
    assert!(types.is_acyclic(i31s).unwrap());
    assert!(!types.is_acyclic(externs).unwrap(), "extern.convert_any puts structs in externref arrays");
}

#[test]
fn subtypes_extend_their_supertype_and_are_checked() {
    let mut types = TypeRegistry::new();
    let base =
        types.register_struct(StructType { fields: vec![StorageType::I32], supertype: None, is_final: false }).unwrap();
    let derived = types
        .register_struct(StructType {
            fields: vec![StorageType::I32, ANYREF],
            supertype: Some(base.into()),
            is_final: true,
        })
        .unwrap();
    assert!(types.is_subtype(derived, base) && !types.is_subtype(base, derived));
    assert!(types
        .register_struct(StructType { fields: vec![StorageType::I64], supertype: Some(base.into()), is_final: true })
        .is_err());
    assert!(matches!(
        types.register_struct(StructType {
            fields: vec![StorageType::I32],
            supertype: Some(derived.into()),
            is_final: true
        }),
        Err(Error::WrongTypeKind { .. })
    ));
    assert_eq!(types.struct_layout(TypeIndex(9)).err(), Some(Error::UnknownType(9)));
    assert!(matches!(types.array_layout(base), Err(Error::WrongTypeKind { .. })));
}
