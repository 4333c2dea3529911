//! The object model: what a reference word names, an object's header read together with its
//! validated layout, and the one enumeration of an object's reference slots.
//!
//! Everything that looks inside an object goes through here, so each check is written once:
//! * [`Word`] (defined in [`crate::gc_ref`], with the word encoding, so that modules outside
//!   the heap decode words the same way): a reference word is null (0), an i31 value (tagged
//!   with [`crate::gc_ref::I31_TAG`]) or the offset of an object. [`object_word`] is the test
//!   the hot paths use.
//! * [`checked_struct_layout`], [`Heap::array_layout_of`], [`Heap::object_layout`]: the layout
//!   an object's header claims (its kind and type index, read from the untrusted region),
//!   validated against the header's block size: a struct's size against its type, an array's
//!   length against its block, an externref's fixed size. A header whose type index names no
//!   type of its kind, or whose size disagrees, is [`Error::Corrupted`].
//! * [`Heap::struct_at`], [`Heap::array_info`]: the struct or array a handle names, validated
//!   once (kind, type, size), for the generic API and the views of the fast paths.
//! * [`Heap::ref_slots`]: the region offsets of an object's references, for one visit: all of a
//!   struct's reference fields, or up to a chunk of a reference array's elements with where the
//!   rest begins. Release, the cycle collector and verification all walk references with it
//!   (release's struct path takes the same offsets from [`checked_struct_layout`] directly, to
//!   keep its borrows of the heap split).
//! * [`heap_type_accepts`], [`check_immediate_ref_type`], [`kind_decides`]: which words and
//!   objects a reference type accepts, for the type checks of stores (access) and of the
//!   barrier's retain (counts).
//!
//! Invariant: nothing here writes to the region; every offset it returns lies inside the block
//! of the object it was computed for (the layout was validated against the block size).

use super::HeapIn;
use crate::error::{Error, Result};
use crate::free_list::FreeList;
pub(crate) use crate::gc_ref::{object_word, Word};
use crate::header::{Kind, ObjectHeader, ARRAY_LENGTH_OFFSET, EXTERNREF_SIZE, KIND_OFFSET};
use crate::types::{
    ArrayLayout, ArrayType, HeapType, RefType, StorageType, StructLayout, StructType, TypeIndex, TypeRegistry,
};
use crate::GcRef;
use core::ops::Range;

/// The struct type and layout the header of the struct at `index` claims, validated against
/// its block size.
#[inline]
pub(crate) fn checked_struct_layout<'t>(
    types: &'t TypeRegistry,
    index: u32,
    header: &ObjectHeader,
) -> Result<(&'t StructType, &'t StructLayout)> {
    let (ty, layout) = types
        .struct_layout(TypeIndex(header.type_index))
        .map_err(|_| Error::corrupted(index, "struct type index is not a registered struct type"))?;
    if layout.block != header.size {
        return Err(Error::corrupted(index, "struct size disagrees with its type"));
    }
    Ok((ty, layout))
}

/// An object's layout, validated against its block size (see [`Heap::object_layout`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ObjectLayout<'t> {
    /// A struct.
    Struct(&'t StructLayout),
    /// An array of `len` elements.
    Array(ArrayLayout, u32),
    /// An externref.
    Extern,
}

/// The region offsets of the references one visit of an object covers (see
/// [`Heap::ref_slots`]).
#[derive(Clone, Debug)]
pub(crate) enum RefSlots<'t> {
    /// The reference fields of the struct at `object` (offsets from its start).
    Fields { object: u32, offsets: core::slice::Iter<'t, u32> },
    /// Elements `range` of the reference array at `object`.
    Elements { object: u32, layout: ArrayLayout, range: Range<u32> },
    /// No reference (an externref, a scalar array, or nothing left of an array).
    None,
}

impl Iterator for RefSlots<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            RefSlots::Fields { object, offsets } => offsets.next().map(|&offset| *object + offset),
            RefSlots::Elements { object, layout, range } => range.next().map(|i| *object + layout.element_offset(i)),
            RefSlots::None => None,
        }
    }
}

impl<'a, H> HeapIn<'a, H> {
    /// The layout and length of the array at `index` (whose header was just read), validated
    /// against its block size.
    #[inline]
    pub(crate) fn array_layout_of(&self, index: u32, header: &ObjectHeader) -> Result<(ArrayLayout, u32)> {
        self.array_type_of(index, header).map(|(_, layout, len)| (layout, len))
    }

    /// [`Heap::array_layout_of`] with the array type, from the same registry lookup.
    #[inline]
    fn array_type_of(&self, index: u32, header: &ObjectHeader) -> Result<(&ArrayType, ArrayLayout, u32)> {
        let (ty, layout) = self
            .types
            .array_layout(TypeIndex(header.type_index))
            .map_err(|_| Error::corrupted(index, "array type index is not a registered array type"))?;
        let len = self.region.read_u32(index + ARRAY_LENGTH_OFFSET)?;
        match layout.size(len).and_then(FreeList::block_size) {
            Some(block) if block == header.size => Ok((ty, *layout, len)),
            _ => Err(Error::corrupted(index, "array length disagrees with its block size")),
        }
    }

    /// The layout of the object at `index` (whose header was just read), validated against
    /// its block size: what its kind and type say it owns.
    #[inline]
    pub(crate) fn object_layout(&self, index: u32, header: &ObjectHeader) -> Result<ObjectLayout<'_>> {
        match header.kind {
            Kind::STRUCT => Ok(ObjectLayout::Struct(checked_struct_layout(&self.types, index, header)?.1)),
            Kind::ARRAY => self.array_layout_of(index, header).map(|(layout, len)| ObjectLayout::Array(layout, len)),
            _ if FreeList::block_size(EXTERNREF_SIZE) == Some(header.size) => Ok(ObjectLayout::Extern),
            _ => Err(Error::corrupted(index, "externref block size disagrees with its kind")),
        }
    }

    /// The reference slots of one visit of the object at `index` (its header just read): every
    /// reference field of a struct, or elements `from..` of a reference array, at most `chunk`
    /// of them; with the element where the rest of the array begins, if any is left.
    #[inline]
    pub(crate) fn ref_slots(
        &self,
        index: u32,
        header: &ObjectHeader,
        from: u32,
        chunk: u32,
    ) -> Result<(RefSlots<'_>, Option<u32>)> {
        Ok(match self.object_layout(index, header)? {
            ObjectLayout::Struct(layout) => {
                (RefSlots::Fields { object: index, offsets: layout.reference_offsets.iter() }, None)
            }
            ObjectLayout::Array(layout, len) if layout.elements_are_refs && from < len => {
                let end = len.min(from.saturating_add(chunk));
                let rest = (end < len).then_some(end);
                (RefSlots::Elements { object: index, layout, range: from..end }, rest)
            }
            ObjectLayout::Array(..) | ObjectLayout::Extern => (RefSlots::None, None),
        })
    }

    /// The kind of the object at `index`, for a check that needs nothing else of its header
    /// (a reference type whose heap type is `eq`, `struct` or `array`): [`Error::InvalidReference`]
    /// unless an object starts there (the free list's bitmap, as [`Heap::object`] tests it),
    /// [`Error::Corrupted`] for a kind byte that is no object kind. Only the kind byte is read
    /// and validated; the rest of the header is validated by whatever reads it later.
    #[inline(always)]
    pub(crate) fn object_kind(&self, index: u32) -> Result<Kind> {
        if !self.free_list.is_allocated(index) {
            return Err(Error::InvalidReference(index));
        }
        let [byte] = self.region.read::<1>(index + KIND_OFFSET)?;
        Kind::from_byte(byte).ok_or(Error::corrupted(index, "invalid object kind"))
    }

    /// The object a handle names and its header; `None` for an i31 (a handle is never null).
    #[inline]
    pub(crate) fn handle_object(&self, r: &GcRef) -> Result<Option<(u32, ObjectHeader)>> {
        match object_word(self.word(r)?) {
            Some(index) => Ok(Some((index, self.object(index)?))),
            None => Ok(None),
        }
    }

    /// The struct `r` names, validated once: its offset, type and layout ([`Error::WrongObjectKind`]
    /// for another kind, [`Error::Corrupted`] for a size that disagrees with its type).
    #[inline(always)]
    pub(crate) fn struct_at(&self, r: &GcRef) -> Result<(u32, &StructType, &StructLayout)> {
        let index = self.object_index(r, "struct")?;
        let header = self.object(index)?;
        if header.kind != Kind::STRUCT {
            return Err(kind_error("struct", header.kind));
        }
        let (ty, layout) = checked_struct_layout(&self.types, index, &header)?;
        Ok((index, ty, layout))
    }

    /// Index, layout, element type and length of the array `r`, validated once.
    #[inline]
    pub(crate) fn array_info(&self, r: &GcRef) -> Result<(u32, ArrayLayout, StorageType, u32)> {
        let index = self.object_index(r, "array")?;
        let header = self.object(index)?;
        if header.kind != Kind::ARRAY {
            return Err(kind_error("array", header.kind));
        }
        let (ty, layout, len) = self.array_type_of(index, &header)?;
        Ok((index, layout, ty.element, len))
    }
}

/// The error of an object whose kind is not the one the operation needs (cold: its kind's
/// name is looked up only when the error happens).
#[cold]
#[inline(never)]
pub(super) fn kind_error(expected: &'static str, found: Kind) -> Error {
    Error::WrongObjectKind { expected, found: found.name() }
}

// ---- Reference types: which words and objects a reference type accepts ----------------------

/// For a heap type that an object's kind alone decides, the kind the object's must match
/// ([`Kind::matches`]): `eq`, `struct`, `array`. `None` for the others (`extern` and `any`
/// accept every object, a concrete type needs the type index, the bottom types and a group
/// member accept none).
#[inline(always)]
pub(super) fn kind_decides(heap_type: HeapType) -> Option<Kind> {
    match heap_type {
        HeapType::Eq => Some(Kind::EQ),
        HeapType::Struct => Some(Kind::STRUCT),
        HeapType::Array => Some(Kind::ARRAY),
        _ => None,
    }
}

/// Whether an object of this kind and type index (from its header; `None`: an i31 value) is a
/// value of `heap_type`, with the registry `types` for a concrete type's supertype chain.
#[inline]
pub(super) fn heap_type_accepts(types: &TypeRegistry, object: Option<(Kind, u32)>, heap_type: HeapType) -> bool {
    let Some((kind, type_index)) = object else { return heap_type_accepts_i31(heap_type) };
    match heap_type {
        // `extern.convert_any` and `any.convert_extern` keep the word: both tops hold anything.
        HeapType::Extern | HeapType::Any => true,
        HeapType::Eq => kind.matches(Kind::EQ),
        HeapType::Struct => kind == Kind::STRUCT,
        HeapType::Array => kind == Kind::ARRAY,
        // Registered types hold no group-relative reference; `matches` refuses one.
        HeapType::I31 | HeapType::None | HeapType::NoExtern | HeapType::RecGroupMember(_) => false,
        HeapType::Concrete(target) => kind != Kind::EXTERN && types.is_subtype(TypeIndex(type_index), target),
    }
}

/// Checks that the word `raw`, null or an i31 (no object), may be stored where `ref_type` is
/// expected: null for a nullable type ([`Error::NullReference`] otherwise), an i31 for a heap
/// type that holds i31 values.
#[inline]
pub(super) fn check_immediate_ref_type(raw: u32, ref_type: RefType) -> Result<()> {
    match Word::of(raw) {
        Word::Null if ref_type.nullable => Ok(()),
        Word::Null => Err(Error::NullReference),
        _ if heap_type_accepts_i31(ref_type.heap_type) => Ok(()),
        _ => Err(ref_type_mismatch()),
    }
}

/// Whether `heap_type` holds i31 values.
#[inline(always)]
pub(super) fn heap_type_accepts_i31(heap_type: HeapType) -> bool {
    matches!(heap_type, HeapType::Extern | HeapType::Any | HeapType::Eq | HeapType::I31)
}

/// The error of a reference whose type is not the field's or element's.
#[cold]
pub(super) fn ref_type_mismatch() -> Error {
    Error::TypeMismatch { expected: "a reference of the field's type", found: "a reference of another type" }
}
