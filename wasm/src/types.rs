//! The engine's own type representation and the store-wide canonical type table.
//!
//! A module's types are kept as written: type references are module type indices
//! ([`HeapTy::Index`]). When a store instantiates a module it canonicalizes each recursion group
//! ([`CanonicalTypes::canonicalize`]): the group is keyed by its structure with references to
//! members of the same group written relative to the group ([`HeapTy::RecRelative`]) and
//! references to earlier types written as canonical ids, so two modules that declare the same
//! group get the same canonical ids (iso-recursive type equivalence). Canonical types use
//! [`HeapTy::Index`] for canonical ids.
//!
//! Subtyping between canonical types walks declared supertype chains; the relations between
//! abstract heap types follow Wasm 3.0. Struct and array types are also registered in the heap
//! (their layouts); function types are not heap types. Reference fields are registered with
//! the abstract top type of their hierarchy (the engine's validation and casts use the canonical
//! types), and funcref fields are stored as `i32` words (function address + 1).
//!
//! Invariants: canonical ids are dense and never removed; a canonical type's supertype has a
//! smaller id; every struct or array canonical type has a heap type index and the reverse map
//! gives the canonical id back.

use crate::error::Error;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use drc_heap::types::{
    ArrayType, CompositeType, HeapType as HeapHeapType, RefType as HeapRefType, StorageType, StructType, TypeReference,
};
use drc_heap::TypeIndex;

/// Abstract heap types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Abstract {
    Func,
    NoFunc,
    Extern,
    NoExtern,
    Any,
    Eq,
    I31,
    Struct,
    Array,
    None,
    Exn,
    NoExn,
}

/// Which hierarchy a reference type belongs to (its top type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    Func,
    Extern,
    Any,
    Exn,
}

/// A heap type: abstract, a type index (module-local or canonical, depending on the owner) or a
/// reference within the same recursion group (only in canonicalization keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HeapTy {
    Abstract(Abstract),
    Index(u32),
    RecRelative(u32),
}

/// A reference type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RefTy {
    pub(crate) nullable: bool,
    pub(crate) heap: HeapTy,
}

/// A value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ValTy {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref(RefTy),
}

/// The storage type of a field or element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum StorageTy {
    I8,
    I16,
    Val(ValTy),
}

/// A field or array element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FieldTy {
    pub(crate) storage: StorageTy,
    pub(crate) mutable: bool,
}

/// The body of a defined type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Composite {
    Func { params: Box<[ValTy]>, results: Box<[ValTy]> },
    Struct(Box<[FieldTy]>),
    Array(FieldTy),
}

/// A defined type with its declared supertype and finality.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SubTy {
    pub(crate) is_final: bool,
    pub(crate) supertype: Option<HeapTy>,
    pub(crate) composite: Composite,
}

impl HeapTy {
    fn map(self, f: &impl Fn(u32) -> HeapTy) -> HeapTy {
        match self {
            HeapTy::Index(index) => f(index),
            other => other,
        }
    }
}

impl ValTy {
    pub(crate) fn map(self, f: &impl Fn(u32) -> HeapTy) -> ValTy {
        match self {
            ValTy::Ref(r) => ValTy::Ref(RefTy { nullable: r.nullable, heap: r.heap.map(f) }),
            other => other,
        }
    }
}

impl RefTy {
    /// The hierarchy of this reference type; `types` gives the hierarchy of an indexed type.
    pub(crate) fn hierarchy(self, types: &impl Fn(u32) -> Hierarchy) -> Hierarchy {
        match self.heap {
            HeapTy::Abstract(a) => a.hierarchy(),
            HeapTy::Index(index) | HeapTy::RecRelative(index) => types(index),
        }
    }
}

impl Abstract {
    pub(crate) fn hierarchy(self) -> Hierarchy {
        match self {
            Abstract::Func | Abstract::NoFunc => Hierarchy::Func,
            Abstract::Extern | Abstract::NoExtern => Hierarchy::Extern,
            Abstract::Exn | Abstract::NoExn => Hierarchy::Exn,
            _ => Hierarchy::Any,
        }
    }
}

impl StorageTy {
    fn map(self, f: &impl Fn(u32) -> HeapTy) -> StorageTy {
        match self {
            StorageTy::Val(v) => StorageTy::Val(v.map(f)),
            other => other,
        }
    }
}

impl Composite {
    fn map(&self, f: &impl Fn(u32) -> HeapTy) -> Composite {
        let field = |t: &FieldTy| FieldTy { storage: t.storage.map(f), mutable: t.mutable };
        match self {
            Composite::Func { params, results } => Composite::Func {
                params: params.iter().map(|t| t.map(f)).collect(),
                results: results.iter().map(|t| t.map(f)).collect(),
            },
            Composite::Struct(fields) => Composite::Struct(fields.iter().map(field).collect()),
            Composite::Array(element) => Composite::Array(field(element)),
        }
    }

    pub(crate) fn hierarchy(&self) -> Hierarchy {
        match self {
            Composite::Func { .. } => Hierarchy::Func,
            _ => Hierarchy::Any,
        }
    }
}

impl SubTy {
    pub(crate) fn map(&self, f: &impl Fn(u32) -> HeapTy) -> SubTy {
        SubTy { is_final: self.is_final, supertype: self.supertype.map(|s| s.map(f)), composite: self.composite.map(f) }
    }
}

/// Where a canonical struct or array type is in the heap while a group is registered.
#[derive(Clone, Copy)]
enum HeapReference {
    /// Member `n` of the heap recursion group being registered.
    Member(u32),
    /// A type registered before.
    Registered(TypeIndex),
}

/// One canonical type.
struct Entry {
    sub: SubTy,
    /// The supertype chain, from the root down to this type itself.
    chain: Vec<u32>,
    heap_type: Option<TypeIndex>,
}

/// The store-wide table of canonical types.
#[derive(Default)]
pub(crate) struct CanonicalTypes {
    entries: Vec<Entry>,
    groups: BTreeMap<Vec<SubTy>, u32>,
    canonical_of_heap_type: Vec<u32>,
}

impl CanonicalTypes {
    /// Canonicalizes a module's recursion groups (`groups`: start and length in `types`),
    /// registering new struct and array types in `heap`. Returns the canonical id of each module
    /// type.
    pub(crate) fn canonicalize<H>(
        &mut self,
        heap: &mut drc_heap::Heap<H>,
        types: &[SubTy],
        groups: &[(u32, u32)],
    ) -> Result<Vec<u32>, Error> {
        let mut ids: Vec<u32> = Vec::with_capacity(types.len());
        for &(start, len) in groups {
            let members = types.get(start as usize..(start + len) as usize).ok_or_else(bad_module)?;
            let key: Vec<SubTy> = members
                .iter()
                .map(|sub| {
                    sub.map(&|index| {
                        if index >= start && index < start + len {
                            HeapTy::RecRelative(index - start)
                        } else {
                            ids.get(index as usize).map_or(HeapTy::RecRelative(u32::MAX), |&id| HeapTy::Index(id))
                        }
                    })
                })
                .collect();
            let first = match self.groups.get(&key) {
                Some(&first) => first,
                None => {
                    let first = self.entries.len() as u32;
                    self.add_group(heap, &key, first)?;
                    self.groups.insert(key, first);
                    first
                }
            };
            ids.extend(first..first + len);
        }
        Ok(ids)
    }

    /// Registers a lone function type (a host function's), returning its canonical id.
    pub(crate) fn function_type<H>(
        &mut self,
        heap: &mut drc_heap::Heap<H>,
        params: &[ValTy],
        results: &[ValTy],
    ) -> Result<u32, Error> {
        let sub = SubTy {
            is_final: true,
            supertype: None,
            composite: Composite::Func { params: params.into(), results: results.into() },
        };
        let key = alloc::vec![sub];
        if let Some(&id) = self.groups.get(&key) {
            return Ok(id);
        }
        let first = self.entries.len() as u32;
        self.add_group(heap, &key, first)?;
        self.groups.insert(key, first);
        Ok(first)
    }

    fn add_group<H>(&mut self, heap: &mut drc_heap::Heap<H>, key: &[SubTy], first: u32) -> Result<(), Error> {
        let resolve = |heap: HeapTy| match heap {
            HeapTy::RecRelative(k) => HeapTy::Index(first + k),
            other => other,
        };
        for sub in key {
            let sub = SubTy {
                is_final: sub.is_final,
                supertype: sub.supertype.map(resolve),
                composite: sub.composite.map_rec(&resolve),
            };
            let id = self.entries.len() as u32;
            let mut chain = match sub.supertype {
                Some(HeapTy::Index(parent)) if parent < id => {
                    self.entries.get(parent as usize).map(|e| e.chain.clone()).ok_or_else(bad_module)?
                }
                None => Vec::new(),
                Some(_) => return Err(bad_module()),
            };
            chain.push(id);
            self.entries.push(Entry { sub, chain, heap_type: None });
        }
        // The group's structs and arrays are one heap recursion group (function types are not
        // heap types), registered with their real field types and supertypes.
        let end = self.entries.len() as u32;
        let mut members = Vec::new();
        let mut member_of = Vec::with_capacity((end - first) as usize);
        for id in first..end {
            let is_heap_type = !matches!(self.entries[id as usize].sub.composite, Composite::Func { .. });
            member_of.push(is_heap_type.then_some(members.len() as u32));
            if is_heap_type {
                members.push(id);
            }
        }
        let heap_of = |id: u32| -> Option<HeapReference> {
            if id >= first && id < end {
                member_of[(id - first) as usize].map(HeapReference::Member)
            } else {
                self.entries.get(id as usize).and_then(|e| e.heap_type).map(HeapReference::Registered)
            }
        };
        let mut composites = Vec::with_capacity(members.len());
        for &id in &members {
            let sub = &self.entries[id as usize].sub;
            let supertype = match sub.supertype {
                Some(HeapTy::Index(parent)) => Some(match heap_of(parent).ok_or_else(bad_module)? {
                    HeapReference::Member(member) => TypeReference::RecGroupMember(member),
                    HeapReference::Registered(index) => TypeReference::Registered(index),
                }),
                _ => None,
            };
            composites.push(match &sub.composite {
                Composite::Struct(fields) => CompositeType::Struct(StructType {
                    fields: fields.iter().map(|f| heap_storage(f.storage, &heap_of)).collect(),
                    supertype,
                    is_final: sub.is_final,
                }),
                Composite::Array(element) => CompositeType::Array(ArrayType {
                    element: heap_storage(element.storage, &heap_of),
                    supertype,
                    is_final: sub.is_final,
                }),
                Composite::Func { .. } => return Err(bad_module()),
            });
        }
        let indices = heap.register_rec_group(&composites)?;
        for (&id, index) in members.iter().zip(indices) {
            let slot = index.0 as usize;
            if self.canonical_of_heap_type.len() <= slot {
                self.canonical_of_heap_type.resize(slot + 1, u32::MAX);
            }
            self.canonical_of_heap_type[slot] = id;
            self.entries[id as usize].heap_type = Some(index);
        }
        Ok(())
    }

    /// The hierarchy of canonical type `id` (function types: func; others: any).
    pub(crate) fn hierarchy(&self, id: u32) -> Hierarchy {
        self.entries.get(id as usize).map_or(Hierarchy::Any, |e| e.sub.composite.hierarchy())
    }

    /// The canonical type `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&SubTy> {
        self.entries.get(id as usize).map(|e| &e.sub)
    }

    /// The heap type index of struct or array type `id`.
    pub(crate) fn heap_type(&self, id: u32) -> Option<TypeIndex> {
        self.entries.get(id as usize).and_then(|e| e.heap_type)
    }

    /// The canonical id of a heap type index.
    pub(crate) fn canonical_of_heap_type(&self, index: TypeIndex) -> Option<u32> {
        self.canonical_of_heap_type.get(index.0 as usize).copied().filter(|&id| id != u32::MAX)
    }

    /// Whether canonical type `sub` is `sup` or declares it as a (transitive) supertype.
    pub(crate) fn id_is_subtype(&self, sub: u32, sup: u32) -> bool {
        if sub == sup {
            return true;
        }
        match (self.entries.get(sub as usize), self.entries.get(sup as usize)) {
            (Some(a), Some(b)) => a.chain.get(b.chain.len() - 1) == Some(&sup),
            _ => false,
        }
    }

    /// Heap type subtyping over canonical heap types.
    pub(crate) fn heap_is_subtype(&self, sub: HeapTy, sup: HeapTy) -> bool {
        use Abstract as A;
        match (sub, sup) {
            (HeapTy::Index(a), HeapTy::Index(b)) => self.id_is_subtype(a, b),
            (HeapTy::Index(a), HeapTy::Abstract(b)) => match self.get(a).map(|s| &s.composite) {
                Some(Composite::Func { .. }) => b == A::Func,
                Some(Composite::Struct(_)) => matches!(b, A::Struct | A::Eq | A::Any),
                Some(Composite::Array(_)) => matches!(b, A::Array | A::Eq | A::Any),
                None => false,
            },
            (HeapTy::Abstract(a), HeapTy::Index(b)) => match a {
                A::NoFunc => self.hierarchy(b) == Hierarchy::Func,
                A::None => self.hierarchy(b) == Hierarchy::Any,
                _ => false,
            },
            (HeapTy::Abstract(a), HeapTy::Abstract(b)) => {
                a == b
                    || match a {
                        A::NoFunc => b == A::Func,
                        A::NoExtern => b == A::Extern,
                        A::NoExn => b == A::Exn,
                        A::None => matches!(b, A::Any | A::Eq | A::I31 | A::Struct | A::Array),
                        A::I31 | A::Struct | A::Array => matches!(b, A::Eq | A::Any),
                        A::Eq => b == A::Any,
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    /// Reference type subtyping over canonical types.
    pub(crate) fn ref_is_subtype(&self, sub: RefTy, sup: RefTy) -> bool {
        (sup.nullable || !sub.nullable) && self.heap_is_subtype(sub.heap, sup.heap)
    }

    /// Value type subtyping over canonical types.
    pub(crate) fn val_is_subtype(&self, sub: ValTy, sup: ValTy) -> bool {
        match (sub, sup) {
            (ValTy::Ref(a), ValTy::Ref(b)) => self.ref_is_subtype(a, b),
            (a, b) => a == b,
        }
    }
}

impl Composite {
    fn map_rec(&self, f: &impl Fn(HeapTy) -> HeapTy) -> Composite {
        let val = |t: ValTy| match t {
            ValTy::Ref(r) => ValTy::Ref(RefTy { nullable: r.nullable, heap: f(r.heap) }),
            other => other,
        };
        let field = |t: &FieldTy| FieldTy {
            storage: match t.storage {
                StorageTy::Val(v) => StorageTy::Val(val(v)),
                other => other,
            },
            mutable: t.mutable,
        };
        match self {
            Composite::Func { params, results } => Composite::Func {
                params: params.iter().map(|&t| val(t)).collect(),
                results: results.iter().map(|&t| val(t)).collect(),
            },
            Composite::Struct(fields) => Composite::Struct(fields.iter().map(field).collect()),
            Composite::Array(element) => Composite::Array(field(element)),
        }
    }
}

fn bad_module() -> Error {
    Error::Invalid(String::from("type index out of its recursion group's reach"))
}

/// Conversions from wasmparser's types (module-local type indices).
pub(crate) mod convert {
    use super::*;
    use wasmparser as wp;

    pub(crate) fn abstract_type(ty: wp::AbstractHeapType) -> Abstract {
        use wp::AbstractHeapType as W;
        match ty {
            W::Func => Abstract::Func,
            W::NoFunc => Abstract::NoFunc,
            W::Extern => Abstract::Extern,
            W::NoExtern => Abstract::NoExtern,
            W::Any => Abstract::Any,
            W::Eq => Abstract::Eq,
            W::I31 => Abstract::I31,
            W::Struct => Abstract::Struct,
            W::Array => Abstract::Array,
            W::None => Abstract::None,
            W::Exn => Abstract::Exn,
            W::NoExn => Abstract::NoExn,
            // Continuations (stack switching) are not enabled in the validator.
            W::Cont | W::NoCont => Abstract::None,
        }
    }

    pub(crate) fn heap_type(ty: wp::HeapType) -> HeapTy {
        match ty {
            wp::HeapType::Abstract { ty, .. } => HeapTy::Abstract(abstract_type(ty)),
            wp::HeapType::Concrete(index) | wp::HeapType::Exact(index) => {
                HeapTy::Index(index.as_module_index().unwrap_or(u32::MAX))
            }
        }
    }

    pub(crate) fn ref_type(ty: wp::RefType) -> RefTy {
        RefTy { nullable: ty.is_nullable(), heap: heap_type(ty.heap_type()) }
    }

    pub(crate) fn val_type(ty: wp::ValType) -> ValTy {
        match ty {
            wp::ValType::I32 => ValTy::I32,
            wp::ValType::I64 => ValTy::I64,
            wp::ValType::F32 => ValTy::F32,
            wp::ValType::F64 => ValTy::F64,
            wp::ValType::V128 => ValTy::V128,
            wp::ValType::Ref(r) => ValTy::Ref(ref_type(r)),
        }
    }

    fn field(ty: &wp::FieldType) -> FieldTy {
        let storage = match ty.element_type {
            wp::StorageType::I8 => StorageTy::I8,
            wp::StorageType::I16 => StorageTy::I16,
            wp::StorageType::Val(v) => StorageTy::Val(val_type(v)),
        };
        FieldTy { storage, mutable: ty.mutable }
    }

    pub(crate) fn sub_type(ty: &wp::SubType) -> SubTy {
        let composite = match &ty.composite_type.inner {
            wp::CompositeInnerType::Func(f) => Composite::Func {
                params: f.params().iter().map(|&v| val_type(v)).collect(),
                results: f.results().iter().map(|&v| val_type(v)).collect(),
            },
            wp::CompositeInnerType::Struct(s) => Composite::Struct(s.fields.iter().map(field).collect()),
            wp::CompositeInnerType::Array(a) => Composite::Array(field(&a.0)),
            wp::CompositeInnerType::Cont(_) => Composite::Struct(Box::new([])),
        };
        SubTy {
            is_final: ty.is_final,
            supertype: ty
                .supertype_idxs
                .first()
                .map(|index| HeapTy::Index(index.as_module_index().unwrap_or(u32::MAX))),
            composite,
        }
    }
}

/// The heap storage type of a field: scalars as they are, references with their heap type
/// (`heap_of` gives a concrete type's place in the heap: a member of the group being registered
/// or a registered type), function references as `i32` words (function address + 1).
fn heap_storage(storage: StorageTy, heap_of: &impl Fn(u32) -> Option<HeapReference>) -> StorageType {
    let reference = |nullable: bool, heap_type: HeapHeapType| StorageType::Ref(HeapRefType { nullable, heap_type });
    match storage {
        StorageTy::I8 => StorageType::I8,
        StorageTy::I16 => StorageType::I16,
        StorageTy::Val(ValTy::I32) => StorageType::I32,
        StorageTy::Val(ValTy::I64) => StorageType::I64,
        StorageTy::Val(ValTy::F32) => StorageType::F32,
        StorageTy::Val(ValTy::F64) => StorageType::F64,
        StorageTy::Val(ValTy::V128) => StorageType::V128,
        StorageTy::Val(ValTy::Ref(r)) => match r.heap {
            HeapTy::Abstract(a) => match a {
                Abstract::Any => reference(r.nullable, HeapHeapType::Any),
                Abstract::Eq => reference(r.nullable, HeapHeapType::Eq),
                Abstract::I31 => reference(r.nullable, HeapHeapType::I31),
                Abstract::Struct => reference(r.nullable, HeapHeapType::Struct),
                Abstract::Array => reference(r.nullable, HeapHeapType::Array),
                Abstract::None => reference(r.nullable, HeapHeapType::None),
                Abstract::Extern => reference(r.nullable, HeapHeapType::Extern),
                Abstract::NoExtern => reference(r.nullable, HeapHeapType::NoExtern),
                Abstract::Func | Abstract::NoFunc | Abstract::Exn | Abstract::NoExn => StorageType::I32,
            },
            HeapTy::Index(id) | HeapTy::RecRelative(id) => match heap_of(id) {
                Some(HeapReference::Member(member)) => reference(r.nullable, HeapHeapType::RecGroupMember(member)),
                Some(HeapReference::Registered(index)) => reference(r.nullable, HeapHeapType::Concrete(index)),
                // A function type: function references are i32 words.
                None => StorageType::I32,
            },
        },
    }
}
