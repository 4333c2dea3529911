//! Host-facing values and types: what crosses the boundary between the engine and its embedder.
//!
//! Floats are carried as their bits so NaN payloads survive. References held by the host are
//! either function references (store function addresses) or handles into the store's table of
//! counted heap references ([`HostHandle`]); the store owns the counts.

/// An abstract or concrete heap type, as the host sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeapType {
    /// `func`: any function.
    Func,
    /// `nofunc`: the bottom of `func`; only null.
    NoFunc,
    /// `extern`: host references and externalized internal references.
    Extern,
    /// `noextern`: the bottom of `extern`; only null.
    NoExtern,
    /// `any`: every internal reference.
    Any,
    /// `eq`: structs, arrays and i31s.
    Eq,
    /// `i31`: unboxed 31-bit integers.
    I31,
    /// `struct`: every struct.
    Struct,
    /// `array`: every array.
    Array,
    /// `none`: the bottom of `any`; only null.
    None,
    /// A defined type, by its store-wide canonical type id.
    Concrete(u32),
}

/// A reference type: nullability and heap type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefType {
    /// Whether null is a value of this type.
    pub nullable: bool,
    /// What non-null values point to.
    pub heap_type: HeapType,
}

impl RefType {
    /// `funcref`.
    pub const FUNCREF: RefType = RefType { nullable: true, heap_type: HeapType::Func };
    /// `externref`.
    pub const EXTERNREF: RefType = RefType { nullable: true, heap_type: HeapType::Extern };
    /// `anyref`.
    pub const ANYREF: RefType = RefType { nullable: true, heap_type: HeapType::Any };
}

/// Value types as the host sees them (no `v128`: SIMD is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// A reference.
    Ref(RefType),
}

/// A value crossing the host boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, as its bits.
    F32(u32),
    /// An `f64`, as its bits.
    F64(u64),
    /// A reference.
    Ref(Ref),
}

/// A reference held by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    /// Null (of any hierarchy).
    Null,
    /// A function.
    Func(FuncRef),
    /// A heap reference (struct, array, i31 or externref) held through the store's handle table.
    Gc(HostHandle),
}

/// A function of a store, by its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FuncRef(pub(crate) u32);

/// A counted heap reference owned by the store: a slot of its host-handle table. It stays valid
/// until [`crate::Store::release`] or the store is dropped; handles given to a host function as
/// arguments are released when it returns (see [`crate::HostFunc`]). A released handle is an
/// error when used, even after its slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// What a reference is, for hosts and the spec runner.
#[derive(Debug)]
pub enum RefInfo<'a, H> {
    /// Null.
    Null,
    /// A function.
    Func,
    /// An i31 value, sign-extended.
    I31(i32),
    /// A struct.
    Struct,
    /// An array.
    Array,
    /// A host externref and its host data.
    Extern(&'a H),
}

/// An instance of a module in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance(pub(crate) u32);

/// The kind of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A memory.
    Memory,
    /// A global.
    Global,
    /// An exception tag (exception handling is not supported; tags only appear in exports).
    Tag,
}
