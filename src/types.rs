//! Type registry and object layouts.
//!
//! The embedder declares the struct and array types its Wasm modules use; the registry gives
//! each a [`TypeIndex`] (stored in every object's header) and computes its layout once:
//!
//! * **Structs**: fields are placed after the 16-byte header in order of decreasing alignment
//!   (declaration order among equals), each at its natural alignment, so that JIT code can use
//!   aligned accesses. A subtype keeps its supertype's field offsets and places the fields it
//!   adds after the supertype's, in the same order. [`StructLayout::reference_offsets`] lists
//!   where the references are: this is how the heap finds the references inside any object
//!   without type-specific code. [`StructLayout::block`] is the block every object of the type
//!   takes (its size rounded up to the free list's granule), so that neither a constructor nor
//!   the check of a struct header's size rounds anything.
//! * **Arrays**: a `u32` length at offset 16, then the elements from
//!   [`ArrayLayout::elements_offset`] (16 + 4 rounded up to the element's alignment).
//!
//! # Recursion groups
//! Types are registered a recursion group at a time ([`TypeRegistry::register_rec_group`];
//! [`TypeRegistry::register_struct`] and [`TypeRegistry::register_array`] register a group of
//! one). Inside a group, a field names member `n` of the group as [`HeapType::RecGroupMember`]
//! and a supertype as [`TypeReference::RecGroupMember`], so the caller never predicts indices;
//! registration resolves them to [`HeapType::Concrete`] and [`TypeReference::Registered`]
//! (registered types never hold a group-relative reference) and gives the members consecutive
//! indices. Every reference is checked: a member past the group's end, a concrete index that is
//! neither registered nor in the group, and a supertype that is not declared before its subtype
//! are errors, and then nothing of the group is registered.
//!
//! ```
//! use drc_heap::types::{
//!     ArrayType, CompositeType, HeapType, RefType, StorageType, StructType, TypeReference, TypeRegistry,
//! };
//! # fn main() -> Result<(), drc_heap::Error> {
//! let mut types = TypeRegistry::new();
//! let text = types.register_array(ArrayType::new(StorageType::I8))?; // an earlier type
//! // (rec (type $node (sub (struct (field (ref null $forest)) (field (ref null $text)))))
//! //      (type $forest (array (ref null $node)))
//! //      (type $leaf (sub final $node (struct (field (ref null $forest)) (field (ref $text))))))
//! let forest = StorageType::Ref(RefType::nullable(HeapType::RecGroupMember(1)));
//! let node = StructType {
//!     fields: vec![forest, StorageType::Ref(RefType::nullable(HeapType::Concrete(text)))],
//!     supertype: None,
//!     is_final: false,
//! };
//! let leaf = StructType {
//!     // A subtype may refine a reference field: here to a non-nullable one.
//!     fields: vec![forest, StorageType::Ref(RefType::non_null(HeapType::Concrete(text)))],
//!     supertype: Some(TypeReference::RecGroupMember(0)),
//!     is_final: true,
//! };
//! let members = types.register_rec_group(&[
//!     CompositeType::Struct(node),
//!     CompositeType::Array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::RecGroupMember(0))))),
//!     CompositeType::Struct(leaf),
//! ])?;
//! assert!(types.is_subtype(members[2], members[0]));
//! assert_eq!(types.array_layout(members[1])?.0.element,
//!            StorageType::Ref(RefType::nullable(HeapType::Concrete(members[0]))));
//! # Ok(()) }
//! ```
//!
//! # Subtyping
//! A type may name a supertype of the same kind that is not final. A struct subtype's fields
//! start with its supertype's fields: the same scalar types, and references where the
//! supertype has references (of any reference type: Wasm lets a subtype refine an immutable
//! field's reference type, and the heap, which does not know mutability, accepts any
//! refinement; the layout is the same). An array subtype has the same element type, or a
//! reference element where its supertype has one. Field references name a [`HeapType`];
//! [`TypeRegistry::is_subtype`] walks the supertype chain.
//!
//! # Function references
//! Functions are not heap objects, so there is no storage type for `funcref`: an engine stores
//! a function reference field or element as a scalar [`StorageType::I32`] (for example its
//! function address + 1, so that 0 is null) and keeps the real reference type in its own
//! types for validation and subtyping.
//!
//! # Defaultable types
//! A type is defaultable when none of its fields (or its element) is a non-nullable reference:
//! only then can an object be made with every field zero or null (Wasm's `struct.new_default`
//! and `array.new_default`); [`TypeRegistry::is_defaultable`] says which.
//!
//! # Acyclic ("green") types
//! A type is acyclic when no object of it can ever lie on a reference cycle: all its reference
//! fields can only hold externrefs, i31s or null, or objects of *final* acyclic types declared
//! before it. The analysis is conservative and stays valid whatever types are registered later.
//! A reference to `extern` is not acyclic: in Wasm, `extern.convert_any` makes any struct or
//! array an `externref` (the same word), so such a field may hold an object with references.
//! The cycle collector never buffers objects of acyclic types.
//!
//! # Invariants
//! Type indices are dense (`0..len`), types are never removed, and a layout's sizes never
//! exceed [`MAX_OBJECT_SIZE`].

use crate::error::{Error, Result};
use crate::free_list::FreeList;
use crate::header::{HeaderFlags, Kind, ObjectHeader, ARRAY_LENGTH_OFFSET, HEADER_SIZE};
use crate::value::FieldPlan;
use alloc::vec::Vec;

/// The largest object the heap supports, header included.
pub const MAX_OBJECT_SIZE: u32 = !15; // u32::MAX rounded down to a multiple of 16

/// The index of a registered type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeIndex(pub u32);

/// The abstract or concrete type a reference points to.
///
/// `extern` and `any` accept every non-null reference, as in Wasm where
/// `extern.convert_any` and `any.convert_extern` keep the same word: an `externref` location may
/// hold a struct, an array or an i31, and an `anyref` location an externref object. The other
/// abstract types are strict (an externref object is not `eq`, `struct`, `array` nor `i31`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeapType {
    /// `extern`: every non-null reference (externrefs, and structs, arrays and i31s converted by
    /// `extern.convert_any`).
    Extern,
    /// `any`: every non-null reference (structs, arrays and i31s, and externrefs converted by
    /// `any.convert_extern`).
    Any,
    /// `eq`: structs, arrays and i31s.
    Eq,
    /// `i31`.
    I31,
    /// `struct`: any struct.
    Struct,
    /// `array`: any array.
    Array,
    /// `none`: the bottom of `any`; only null.
    None,
    /// `noextern`: the bottom of `extern`; only null.
    NoExtern,
    /// A registered type and its subtypes.
    Concrete(TypeIndex),
    /// Member `n` (from 0) of the recursion group being registered, at registration only (see
    /// the module docs): registration resolves it to [`HeapType::Concrete`]. Anywhere else it
    /// is an [`Error::RecGroupMemberOutOfBounds`].
    RecGroupMember(u32),
}

/// A supertype named at registration: a type registered before, or an earlier member of the
/// recursion group being registered (see the module docs). Registered types hold only
/// [`TypeReference::Registered`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeReference {
    /// A type registered before.
    Registered(TypeIndex),
    /// Member `n` (from 0) of the recursion group being registered, declared before the member
    /// that names it.
    RecGroupMember(u32),
}

impl From<TypeIndex> for TypeReference {
    fn from(index: TypeIndex) -> TypeReference {
        TypeReference::Registered(index)
    }
}

/// A reference type: nullability and what it points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefType {
    /// Whether null is a value of this type.
    pub nullable: bool,
    /// What non-null values point to.
    pub heap_type: HeapType,
}

impl RefType {
    /// A nullable reference to `heap_type`.
    pub const fn nullable(heap_type: HeapType) -> RefType {
        RefType { nullable: true, heap_type }
    }

    /// A non-nullable reference to `heap_type`.
    pub const fn non_null(heap_type: HeapType) -> RefType {
        RefType { nullable: false, heap_type }
    }
}

/// The storage type of a struct field or array element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageType {
    /// Packed 8-bit integer.
    I8,
    /// Packed 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 128-bit vector.
    V128,
    /// A reference, stored as a 32-bit word.
    Ref(RefType),
}

impl StorageType {
    /// Size in bytes.
    pub const fn size(self) -> u32 {
        match self {
            StorageType::I8 => 1,
            StorageType::I16 => 2,
            StorageType::I32 | StorageType::F32 | StorageType::Ref(_) => 4,
            StorageType::I64 | StorageType::F64 => 8,
            StorageType::V128 => 16,
        }
    }

    /// Natural alignment in bytes (equal to the size).
    pub const fn align(self) -> u32 {
        self.size()
    }

    /// Whether values of this type are references.
    pub const fn is_ref(self) -> bool {
        matches!(self, StorageType::Ref(_))
    }

    /// Whether this type has a default value (zero, or null): everything but a non-nullable
    /// reference.
    pub const fn is_defaultable(self) -> bool {
        !matches!(self, StorageType::Ref(RefType { nullable: false, .. }))
    }

    /// The type's name, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            StorageType::I8 => "i8",
            StorageType::I16 => "i16",
            StorageType::I32 => "i32",
            StorageType::I64 => "i64",
            StorageType::F32 => "f32",
            StorageType::F64 => "f64",
            StorageType::V128 => "v128",
            StorageType::Ref(_) => "ref",
        }
    }
}

/// A struct type declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructType {
    /// Field storage types in declaration order.
    pub fields: Vec<StorageType>,
    /// The declared supertype, if any.
    pub supertype: Option<TypeReference>,
    /// Whether subtypes of this type are forbidden.
    pub is_final: bool,
}

impl StructType {
    /// A final struct type without a supertype.
    pub fn new(fields: &[StorageType]) -> StructType {
        StructType { fields: fields.to_vec(), supertype: None, is_final: true }
    }
}

/// The registered supertype of a registered type (which holds only registered references).
fn registered_supertype(supertype: Option<TypeReference>) -> Option<TypeIndex> {
    match supertype {
        Some(TypeReference::Registered(index)) => Some(index),
        _ => None,
    }
}

/// An array type declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayType {
    /// The element storage type.
    pub element: StorageType,
    /// The declared supertype, if any.
    pub supertype: Option<TypeReference>,
    /// Whether subtypes of this type are forbidden.
    pub is_final: bool,
}

impl ArrayType {
    /// A final array type without a supertype.
    pub fn new(element: StorageType) -> ArrayType {
        ArrayType { element, supertype: None, is_final: true }
    }
}

/// Where a struct's fields are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// Object size in bytes, header included, before rounding to a block.
    pub size: u32,
    /// The block an object of this type takes: `size` rounded up to the free list's granule
    /// (what a constructor allocates and what a struct's header must hold), computed once at
    /// registration.
    pub block: u32,
    /// Field offsets from the object start, by field index.
    pub field_offsets: Vec<u32>,
    /// Offsets of the reference fields, ascending.
    pub reference_offsets: Vec<u32>,
    /// By field index: the field's offset if it holds a reference, else 0 (no field lies at
    /// offset 0, in the header), so that a reader of a reference field checks its index and
    /// its storage type with one load and one test.
    pub(crate) reference_field_offsets: Vec<u32>,
    /// The header of a fresh object of this type (its type index, `block`, its flags, a count
    /// of one) as its 16 bytes, computed at registration: a constructor stores it whole.
    pub(crate) header: [u8; HEADER_SIZE as usize],
    /// By field index: the field's offset and the test a constructor makes of a value for it
    /// without looking up the field's storage type (see [`FieldPlan`]).
    pub(crate) field_plans: Vec<FieldPlan>,
}

/// Where an array's elements are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayLayout {
    /// Offset of element 0 from the object start.
    pub elements_offset: u32,
    /// Size of one element.
    pub element_size: u32,
    /// Whether the elements are references.
    pub elements_are_refs: bool,
}

impl ArrayLayout {
    /// Object size of an array of `len` elements, or `None` when larger than
    /// [`MAX_OBJECT_SIZE`].
    #[inline]
    pub fn size(&self, len: u32) -> Option<u32> {
        let size = self.elements_offset as u64 + len as u64 * self.element_size as u64;
        if size > MAX_OBJECT_SIZE as u64 {
            None
        } else {
            Some(size as u32)
        }
    }

    /// Offset of element `index`; the caller has checked `index` against the length.
    #[inline]
    pub fn element_offset(&self, index: u32) -> u32 {
        self.elements_offset + index * self.element_size
    }
}

/// A struct or array type declaration: a member of a recursion group given to
/// [`TypeRegistry::register_rec_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompositeType {
    /// A struct type.
    Struct(StructType),
    /// An array type.
    Array(ArrayType),
}

/// A registered type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeDefinition {
    /// A struct type and its layout.
    Struct(StructType, StructLayout),
    /// An array type and its layout.
    Array(ArrayType, ArrayLayout),
}

struct Entry {
    definition: TypeDefinition,
    acyclic: bool,
    defaultable: bool,
}

/// Where references named at registration resolve: the group's first index and its size.
#[derive(Clone, Copy)]
struct Group {
    first: u32,
    members: u32,
}

/// The registry of struct and array types.
#[derive(Default)]
pub struct TypeRegistry {
    entries: Vec<Entry>,
}

/// Shows how many types are registered, not their declarations.
impl core::fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TypeRegistry").field("types", &self.entries.len()).finish()
    }
}

impl TypeRegistry {
    /// An empty registry.
    pub fn new() -> TypeRegistry {
        TypeRegistry { entries: Vec::new() }
    }

    /// Number of registered types.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no type is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The definition and layout of a registered type.
    #[inline]
    pub fn get(&self, index: TypeIndex) -> Result<&TypeDefinition> {
        self.entries.get(index.0 as usize).map(|entry| &entry.definition).ok_or(Error::UnknownType(index.0))
    }

    /// Whether objects of this type can never be part of a reference cycle.
    pub fn is_acyclic(&self, index: TypeIndex) -> Result<bool> {
        self.entries.get(index.0 as usize).map(|e| e.acyclic).ok_or(Error::UnknownType(index.0))
    }

    /// The struct type and layout of `index` and whether it is acyclic, in one lookup (what a
    /// constructor needs); an error if it is not a struct type.
    #[inline]
    pub(crate) fn struct_layout_acyclic(&self, index: TypeIndex) -> Result<(&StructType, &StructLayout, bool)> {
        match self.entries.get(index.0 as usize) {
            Some(Entry { definition: TypeDefinition::Struct(ty, layout), acyclic, .. }) => Ok((ty, layout, *acyclic)),
            Some(_) => Err(Error::WrongTypeKind { type_index: index.0, expected: "a struct type" }),
            None => Err(Error::UnknownType(index.0)),
        }
    }

    /// The struct layout of `index`, or an error if it is not a struct type.
    #[inline]
    pub fn struct_layout(&self, index: TypeIndex) -> Result<(&StructType, &StructLayout)> {
        self.struct_layout_acyclic(index).map(|(ty, layout, _)| (ty, layout))
    }

    /// The array layout of `index`, or an error if it is not an array type.
    #[inline]
    pub fn array_layout(&self, index: TypeIndex) -> Result<(&ArrayType, &ArrayLayout)> {
        match self.get(index)? {
            TypeDefinition::Array(ty, layout) => Ok((ty, layout)),
            TypeDefinition::Struct(..) => Err(Error::WrongTypeKind { type_index: index.0, expected: "an array type" }),
        }
    }

    /// Whether objects of this type can be made with every field (element) zero or null: it
    /// has no non-nullable reference field (element).
    pub fn is_defaultable(&self, index: TypeIndex) -> Result<bool> {
        self.entries.get(index.0 as usize).map(|e| e.defaultable).ok_or(Error::UnknownType(index.0))
    }

    /// The supertype a registered type declares, if any.
    pub fn supertype(&self, index: TypeIndex) -> Result<Option<TypeIndex>> {
        Ok(match self.get(index)? {
            TypeDefinition::Struct(ty, _) => registered_supertype(ty.supertype),
            TypeDefinition::Array(ty, _) => registered_supertype(ty.supertype),
        })
    }

    /// Registers a struct type (a recursion group of one: [`HeapType::RecGroupMember`]`(0)`
    /// names the type itself) and computes its layout.
    pub fn register_struct(&mut self, ty: StructType) -> Result<TypeIndex> {
        self.register_one(CompositeType::Struct(ty))
    }

    /// Registers an array type (a recursion group of one) and computes its layout.
    pub fn register_array(&mut self, ty: ArrayType) -> Result<TypeIndex> {
        self.register_one(CompositeType::Array(ty))
    }

    fn register_one(&mut self, member: CompositeType) -> Result<TypeIndex> {
        let group = self.open_group(1)?;
        match self.register_member(group, 0, member) {
            Ok(index) => Ok(index),
            Err(error) => {
                self.entries.truncate(group.first as usize);
                Err(error)
            }
        }
    }

    /// Registers a recursion group: its members get consecutive indices, in order, returned
    /// in order. Members name each other (and themselves) by position in the group, with
    /// [`HeapType::RecGroupMember`] in fields and [`TypeReference::RecGroupMember`] as
    /// supertype; see the module docs for the rules and an example. On an error nothing of
    /// the group is registered.
    pub fn register_rec_group(&mut self, members: &[CompositeType]) -> Result<Vec<TypeIndex>> {
        let count = u32::try_from(members.len()).map_err(|_| Error::TooManyTypes)?;
        let group = self.open_group(count)?;
        let mut indices = Vec::with_capacity(members.len());
        for (position, member) in (0..count).zip(members) {
            match self.register_member(group, position, member.clone()) {
                Ok(index) => indices.push(index),
                Err(error) => {
                    self.entries.truncate(group.first as usize);
                    return Err(error);
                }
            }
        }
        Ok(indices)
    }

    /// The group of `members` types that starts at the next index, if the indices fit.
    fn open_group(&self, members: u32) -> Result<Group> {
        let first = u32::try_from(self.entries.len()).map_err(|_| Error::TooManyTypes)?;
        first.checked_add(members).ok_or(Error::TooManyTypes)?;
        Ok(Group { first, members })
    }

    /// Resolves, checks and registers member `position` of `group` (the members before it are
    /// registered already).
    fn register_member(&mut self, group: Group, position: u32, member: CompositeType) -> Result<TypeIndex> {
        match member {
            CompositeType::Struct(mut ty) => {
                for field in &mut ty.fields {
                    *field = self.resolve_storage(group, *field)?;
                }
                ty.supertype = self.resolve_supertype(group, position, ty.supertype)?;
                self.push_struct(ty)
            }
            CompositeType::Array(mut ty) => {
                ty.element = self.resolve_storage(group, ty.element)?;
                ty.supertype = self.resolve_supertype(group, position, ty.supertype)?;
                self.push_array(ty)
            }
        }
    }

    /// A field's storage type with a group-relative reference made concrete, every concrete
    /// index checked to be registered or in the group.
    fn resolve_storage(&self, group: Group, storage: StorageType) -> Result<StorageType> {
        let StorageType::Ref(ref_type) = storage else { return Ok(storage) };
        let heap_type = match ref_type.heap_type {
            HeapType::RecGroupMember(member) if member < group.members => {
                HeapType::Concrete(TypeIndex(group.first + member))
            }
            HeapType::RecGroupMember(member) => {
                return Err(Error::RecGroupMemberOutOfBounds { member, available: group.members })
            }
            // Registered before, or a member of the group named by its (predicted) index.
            HeapType::Concrete(index) if index.0 < group.first + group.members => HeapType::Concrete(index),
            HeapType::Concrete(index) => return Err(Error::UnknownType(index.0)),
            abstract_type => abstract_type,
        };
        Ok(StorageType::Ref(RefType { heap_type, ..ref_type }))
    }

    /// A member's supertype as a registered index: a type registered before the group, or a
    /// member of the group declared before `position`.
    fn resolve_supertype(
        &self,
        group: Group,
        position: u32,
        supertype: Option<TypeReference>,
    ) -> Result<Option<TypeReference>> {
        let index = match supertype {
            None => return Ok(None),
            Some(TypeReference::RecGroupMember(member)) if member < position => TypeIndex(group.first + member),
            Some(TypeReference::RecGroupMember(member)) => {
                return Err(Error::RecGroupMemberOutOfBounds { member, available: position })
            }
            Some(TypeReference::Registered(index)) if index.0 < group.first + position => index,
            Some(TypeReference::Registered(index)) => return Err(Error::UnknownType(index.0)),
        };
        Ok(Some(TypeReference::Registered(index)))
    }

    /// Checks a resolved struct type against its supertype and registers it with its layout.
    fn push_struct(&mut self, ty: StructType) -> Result<TypeIndex> {
        let supertype = registered_supertype(ty.supertype);
        if let Some(supertype) = supertype {
            let (parent, _) = self.struct_layout(supertype)?;
            if parent.is_final {
                return Err(Error::WrongTypeKind { type_index: supertype.0, expected: "a non-final supertype" });
            }
            let refines = |(field, inherited): (&StorageType, &StorageType)| {
                field == inherited || (field.is_ref() && inherited.is_ref())
            };
            if ty.fields.len() < parent.fields.len() || !ty.fields.iter().zip(&parent.fields).all(refines) {
                return Err(Error::TypeMismatch {
                    expected: "the supertype's fields as a prefix",
                    found: "different fields",
                });
            }
        }
        // A subtype keeps its supertype's offsets for the inherited fields (JIT code compiled
        // against the supertype accesses subtype objects with them) and places its own after.
        let (inherited, mut field_offsets, mut offset) = match supertype {
            Some(supertype) => {
                let (parent, layout) = self.struct_layout(supertype)?;
                (parent.fields.len(), layout.field_offsets.clone(), layout.size as u64)
            }
            None => (0, Vec::new(), HEADER_SIZE as u64),
        };
        field_offsets.resize(ty.fields.len(), 0);
        let mut order: Vec<usize> = (inherited..ty.fields.len()).collect();
        order.sort_by_key(|&field| core::cmp::Reverse(ty.fields[field].align()));
        for field in order {
            let storage = ty.fields[field];
            offset = offset.next_multiple_of(storage.align() as u64);
            if offset + storage.size() as u64 > MAX_OBJECT_SIZE as u64 {
                return Err(Error::AllocationTooLarge { requested: usize::MAX, max: MAX_OBJECT_SIZE as usize });
            }
            field_offsets[field] = offset as u32;
            offset += storage.size() as u64;
        }
        let mut reference_offsets: Vec<u32> = ty
            .fields
            .iter()
            .zip(&field_offsets)
            .filter(|(storage, _)| storage.is_ref())
            .map(|(_, &offset)| offset)
            .collect();
        reference_offsets.sort_unstable();
        let acyclic = ty.fields.iter().all(|&storage| self.storage_is_acyclic(storage));
        let defaultable = ty.fields.iter().all(|storage| storage.is_defaultable());
        let size = offset as u32;
        // `size` is at most `MAX_OBJECT_SIZE` (checked above), so it rounds up without overflow.
        let block = FreeList::block_size(size).unwrap_or(MAX_OBJECT_SIZE);
        let reference_field_offsets = ty
            .fields
            .iter()
            .zip(&field_offsets)
            .map(|(storage, &offset)| if storage.is_ref() { offset } else { 0 })
            .collect();
        let index = u32::try_from(self.entries.len()).map_err(|_| Error::TooManyTypes)?;
        let flags = if acyclic { HeaderFlags::ACYCLIC } else { HeaderFlags::empty() };
        let header = ObjectHeader::new(Kind::STRUCT, index, block, flags).to_bytes();
        let field_plans =
            ty.fields.iter().zip(&field_offsets).map(|(&storage, &at)| FieldPlan::new(at, storage)).collect();
        let layout = StructLayout {
            size,
            block,
            field_offsets,
            reference_offsets,
            reference_field_offsets,
            header,
            field_plans,
        };
        self.push(TypeDefinition::Struct(ty, layout), acyclic, defaultable)
    }

    /// Checks a resolved array type against its supertype and registers it with its layout.
    fn push_array(&mut self, ty: ArrayType) -> Result<TypeIndex> {
        if let Some(supertype) = registered_supertype(ty.supertype) {
            let (parent, _) = self.array_layout(supertype)?;
            if parent.is_final {
                return Err(Error::WrongTypeKind { type_index: supertype.0, expected: "a non-final supertype" });
            }
            if parent.element != ty.element && !(parent.element.is_ref() && ty.element.is_ref()) {
                return Err(Error::TypeMismatch {
                    expected: "the supertype's element type",
                    found: "a different element type",
                });
            }
        }
        let elements_offset = (ARRAY_LENGTH_OFFSET + 4).next_multiple_of(ty.element.align());
        let layout =
            ArrayLayout { elements_offset, element_size: ty.element.size(), elements_are_refs: ty.element.is_ref() };
        let acyclic = self.storage_is_acyclic(ty.element);
        let defaultable = ty.element.is_defaultable();
        self.push(TypeDefinition::Array(ty, layout), acyclic, defaultable)
    }

    fn push(&mut self, definition: TypeDefinition, acyclic: bool, defaultable: bool) -> Result<TypeIndex> {
        let index = u32::try_from(self.entries.len()).map_err(|_| Error::TooManyTypes)?;
        self.entries.push(Entry { definition, acyclic, defaultable });
        Ok(TypeIndex(index))
    }

    fn storage_is_acyclic(&self, storage: StorageType) -> bool {
        let StorageType::Ref(ref_type) = storage else { return true };
        match ref_type.heap_type {
            HeapType::NoExtern | HeapType::I31 | HeapType::None => true,
            // `extern` holds converted structs and arrays too (see the module docs).
            HeapType::Extern | HeapType::Any | HeapType::Eq | HeapType::Struct | HeapType::Array => false,
            // Resolved before any type is registered; an unresolved one is not trusted.
            HeapType::RecGroupMember(_) => false,
            HeapType::Concrete(target) => match self.entries.get(target.0 as usize) {
                Some(entry) => entry.acyclic && self.is_final(target),
                None => false,
            },
        }
    }

    fn is_final(&self, index: TypeIndex) -> bool {
        match self.get(index) {
            Ok(TypeDefinition::Struct(ty, _)) => ty.is_final,
            Ok(TypeDefinition::Array(ty, _)) => ty.is_final,
            Err(_) => false,
        }
    }

    /// Whether `sub` is `sup` or declares it, directly or transitively, as a supertype.
    pub fn is_subtype(&self, sub: TypeIndex, sup: TypeIndex) -> bool {
        let mut current = Some(sub);
        // Supertypes are registered before their subtypes, so each step lowers the index and
        // the walk ends; the bound is a second guard.
        for _ in 0..=self.entries.len() {
            match current {
                Some(index) if index == sup => return true,
                Some(index) => {
                    current = self.supertype(index).unwrap_or(None);
                }
                None => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
