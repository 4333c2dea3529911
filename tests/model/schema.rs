//! The schema every program's heap registers: types with subtyping, fields and elements of
//! every storage type, and the reference types `ref.test` is tried against.

use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::TypeIndex;

/// A type of the schema, as the model sees it.
#[derive(Clone, Debug)]
pub enum Decl {
    Struct(StructType),
    Array(ArrayType),
}

pub(super) const fn nullable(heap_type: HeapType) -> StorageType {
    StorageType::Ref(RefType::nullable(heap_type))
}

/// The types every program's heap registers, in order (index = type index).
pub fn schema() -> Vec<Decl> {
    let leaf = TypeIndex(0);
    let base = TypeIndex(1);
    let any_array = TypeIndex(8);
    vec![
        // 0: a leaf struct, final, no references (acyclic).
        Decl::Struct(StructType::new(&[StorageType::I32, StorageType::I64, StorageType::F32])),
        // 1: a non-final base with an anyref (cyclic).
        Decl::Struct(StructType {
            fields: vec![StorageType::I8, nullable(HeapType::Any)],
            supertype: None,
            is_final: false,
        }),
        // 2: a subtype of 1 adding scalars and a reference to the base type.
        Decl::Struct(StructType {
            fields: vec![
                StorageType::I8,
                nullable(HeapType::Any),
                StorageType::F64,
                nullable(HeapType::Concrete(base)),
            ],
            supertype: Some(base.into()),
            is_final: true,
        }),
        // 3: every storage type, and references of several heap types, one non-nullable.
        Decl::Struct(StructType::new(&[
            StorageType::I16,
            StorageType::V128,
            nullable(HeapType::Eq),
            nullable(HeapType::Extern),
            nullable(HeapType::Concrete(leaf)),
            nullable(HeapType::I31),
            StorageType::Ref(RefType::non_null(HeapType::Struct)),
            nullable(HeapType::Array),
        ])),
        // 4..: arrays of every scalar type.
        Decl::Array(ArrayType::new(StorageType::I8)),
        Decl::Array(ArrayType::new(StorageType::I16)),
        Decl::Array(ArrayType::new(StorageType::I32)),
        Decl::Array(ArrayType::new(StorageType::F64)),
        // 8: a non-final anyref array, and 9 its subtype.
        Decl::Array(ArrayType { element: nullable(HeapType::Any), supertype: None, is_final: false }),
        Decl::Array(ArrayType { element: nullable(HeapType::Any), supertype: Some(any_array.into()), is_final: true }),
        // 10: externrefs (which may hold any reference: not acyclic), 11: references to the base struct type, 12..: more scalars.
        Decl::Array(ArrayType::new(nullable(HeapType::Extern))),
        Decl::Array(ArrayType::new(nullable(HeapType::Concrete(base)))),
        Decl::Array(ArrayType::new(StorageType::F32)),
        Decl::Array(ArrayType::new(StorageType::I64)),
        Decl::Array(ArrayType::new(StorageType::V128)),
    ]
}

/// Reference types `ref.test` is tried against.
pub(super) fn test_types() -> [RefType; 12] {
    [
        RefType::nullable(HeapType::Any),
        RefType::non_null(HeapType::Eq),
        RefType::nullable(HeapType::Struct),
        RefType::non_null(HeapType::Array),
        RefType::nullable(HeapType::I31),
        RefType::nullable(HeapType::Extern),
        RefType::nullable(HeapType::None),
        RefType::nullable(HeapType::NoExtern),
        RefType::non_null(HeapType::Concrete(TypeIndex(1))),
        RefType::nullable(HeapType::Concrete(TypeIndex(2))),
        RefType::nullable(HeapType::Concrete(TypeIndex(8))),
        RefType::non_null(HeapType::Concrete(TypeIndex(0))),
    ]
}
