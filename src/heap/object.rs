//! The object model: what a reference word names, an object's header read together with its
//! validated layout, and the one enumeration of an object's reference slots.
//!
//! Everything that looks inside an object goes through here, so each check is written once:
//! * [`Word`] (defined in [`crate::gc_ref`], with the word encoding, so that modules outside
//!   the heap decode words the same way): a reference word is null (0), an i31 value (tagged
//!   with [`crate::gc_ref::I31_TAG`]) or the offset of an object. [`object_word`] is the test
//!   the hot paths use.
//! * [`checked_object`] (and [`Heap::object`] over it): the header of the object a word names,
//!   validated, after the free list's bitmap of object starts says one starts there.
//! * [`checked_struct_layout`], [`Heap::array_layout_of`], [`Heap::object_layout`]: the layout
//!   an object's header claims (its kind and type index, read from the untrusted region),
//!   validated against the header's block size: a struct's size against its type, an array's
//!   length against its block, an externref's fixed size. A header whose type index names no
//!   type of its kind, or whose size disagrees, is [`Error::Corrupted`].
//! * [`Heap::struct_at`], [`Heap::array_info`]: the struct or array a handle names, validated
//!   once (kind, type, size), for the generic API and the views of the fast paths. A struct
//!   that passes every check is answered by one straight run of tests with no error to build;
//!   anything else runs the checks in order, out of line, for the exact error.
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
use crate::header::{
    Kind, ObjectHeader, ARRAY_LENGTH_OFFSET, EXTERNREF_SIZE, KIND_OFFSET, SIZE_OFFSET, TYPE_INDEX_OFFSET,
    UNKNOWN_FLAG_BITS,
};
use crate::region::Region;
use crate::types::{
    ArrayLayout, ArrayType, HeapType, RefType, StorageType, StructLayout, StructType, TypeIndex, TypeRegistry,
};
use crate::GcRef;
use core::ops::Range;

/// Reads and validates the header of the object at `index` over the parts of the heap it
/// needs (so that a caller may hold the others: the cycle collector's walks):
/// [`Error::InvalidReference`] unless an object starts there (the object bits of the free
/// list's host-side bitmap say so: a word pointing inside an object, at a fake header written
/// into one, or at a freed block is refused before its bytes are read), then
/// [`ObjectHeader::decode`].
#[inline(always)]
pub(crate) fn checked_object(region: &Region, free_list: &FreeList, index: u32) -> Result<ObjectHeader> {
    if !free_list.is_allocated(index) {
        return Err(Error::InvalidReference(index));
    }
    ObjectHeader::decode(region, index)
}

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
    ///
    /// One test answers the common case (see [`Heap::valid_struct`]); anything else goes to
    /// [`Heap::struct_at_slow`], which runs every check in order for the exact error.
    #[inline(always)]
    pub(crate) fn struct_at(&self, r: &GcRef) -> Result<(u32, &StructType, &StructLayout)> {
        match self.valid_struct(r) {
            Some(found) => Ok(found),
            None => self.struct_at_slow(r),
        }
    }

    /// What [`Heap::struct_at`] gives if everything [`Heap::struct_at_slow`] checks holds (the
    /// handle may be used with this heap, an object starts at its word, the header is a
    /// struct's with known flag bits, its type index names a struct type whose block is the
    /// header's size, and the block lies inside the region), else `None`. The bitmap's test
    /// refuses an i31 word (not a multiple of 16). The size needs no other test: a layout's
    /// block is a non-zero multiple of 16 (`FreeList::block_size`), so a size equal to it is
    /// one `decode` accepts if the block lies inside the region, which is one compare.
    #[inline(always)]
    fn valid_struct(&self, r: &GcRef) -> Option<(u32, &StructType, &StructLayout)> {
        let index = self.word(r).ok()?;
        if !self.free_list.is_allocated(index) {
            return None;
        }
        let bytes: [u8; 16] = self.region.read(index).ok()?;
        let word = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        // The kind byte is a struct's and the flags byte holds only known bits.
        let kind_and_flags = u16::from_le_bytes([bytes[0], bytes[1]]);
        if kind_and_flags & KIND_AND_UNKNOWN_FLAGS != Kind::STRUCT.to_byte() as u16 {
            return None;
        }
        let size = word(SIZE_OFFSET as usize);
        let (ty, layout) = self.types.struct_layout(TypeIndex(word(TYPE_INDEX_OFFSET as usize))).ok()?;
        // `read` put the header inside the region, so `index + 16 <= len` and the room from
        // `index` does not wrap.
        if (layout.block != size) | (size > self.region.len() - index) {
            return None;
        }
        Some((index, ty, layout))
    }

    /// [`Heap::struct_at`] past its one test: the full checks, in order, for the error
    /// ([`Error::ForeignReference`], [`Error::WrongObjectKind`] for an i31 or an object of
    /// another kind, [`Error::InvalidReference`] if no object starts at the word,
    /// [`Error::Corrupted`] for a header [`ObjectHeader::decode`] refuses or a struct whose
    /// type or size disagrees).
    #[cold]
    #[inline(never)]
    fn struct_at_slow(&self, r: &GcRef) -> Result<(u32, &StructType, &StructLayout)> {
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

/// The bits of a header's first two bytes (kind, then flags, as a little-endian `u16`) that
/// must equal an allocated kind's byte for the kind to be that kind and the flags known bits.
const KIND_AND_UNKNOWN_FLAGS: u16 = 0xff | (UNKNOWN_FLAG_BITS as u16) << 8;

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

#[cfg(test)]
mod tests {
    use crate::header::{HEADER_SIZE, SIZE_OFFSET, TYPE_INDEX_OFFSET};
    use crate::test_support::test_region;
    use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
    use crate::{GcRef, Heap};

    /// `struct_at` of `r` beside its full checks run in order.
    fn assert_same(heap: &Heap<()>, r: &GcRef, what: &str) {
        let fast = heap.struct_at(r).map(|(index, _, layout)| (index, layout.block));
        let full = heap.struct_at_slow(r).map(|(index, _, layout)| (index, layout.block));
        assert_eq!(fast, full, "{what}");
    }

    /// The one test of `struct_at` answers exactly as its full checks do: each of the 20 bytes
    /// at a struct and at an array overwritten (the kind and flags bytes with every value, the
    /// others with values around each check's boundary), another struct type's index and
    /// block, a block past the region's end, i31 and foreign handles, a word inside an object.
    #[test]
    fn struct_at_refuses_exactly_what_its_full_checks_refuse() {
        let mut heap: Heap<()> = Heap::new(test_region(8192)).unwrap();
        let node = heap
            .register_struct(StructType::new(&[StorageType::I32, StorageType::Ref(RefType::nullable(HeapType::Any))]))
            .unwrap();
        let big = heap.register_struct(StructType::new(&[StorageType::I64; 20])).unwrap();
        let ints = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
        let big_block = heap.types.struct_layout(big).unwrap().1.block;
        let s = heap.struct_new_default(node).unwrap();
        let a = heap.array_new_default(ints, 3).unwrap();
        assert!(heap.struct_at(&s).is_ok());
        assert!(matches!(
            heap.struct_at(&a),
            Err(crate::Error::WrongObjectKind { expected: "struct", found: "array" })
        ));
        let every: [u8; 256] = core::array::from_fn(|byte| byte as u8);
        let bytes = [0, 1, 2, 3, 4, 0x0f, 0x10, 0x11, 0x15, 0x16, 0x17, 0x1f, 0x20, 0x30, 0x80, 0xf0, 0xff];
        for r in [&s, &a] {
            let index = r.as_raw_u32();
            for at in index..index + HEADER_SIZE + 4 {
                let [saved] = heap.region.read::<1>(at).unwrap();
                // Every value of the kind and flags bytes, the listed ones elsewhere.
                let values: &[u8] = if at - index < 2 { &every } else { &bytes };
                for &byte in values {
                    heap.region.write(at, [byte]).unwrap();
                    assert_same(&heap, &s, "struct");
                    assert_same(&heap, &a, "array");
                }
                heap.region.write(at, [saved]).unwrap();
            }
            // Another struct type's index, then its block too.
            let saved = heap.region.read::<16>(index).unwrap();
            heap.region.write_u32(index + TYPE_INDEX_OFFSET, big.0).unwrap();
            assert_same(&heap, r, "another type");
            heap.region.write_u32(index + SIZE_OFFSET, big_block).unwrap();
            assert_same(&heap, r, "another type and its block");
            heap.region.write(index, saved).unwrap();
        }
        // A struct near the region's end claiming a type whose block reaches past it.
        let mut last = None;
        while let Ok(r) = heap.struct_new_default(node) {
            last = Some(r);
        }
        let last = last.unwrap();
        let index = last.as_raw_u32();
        assert!(index + big_block > heap.region.len());
        heap.region.write_u32(index + TYPE_INDEX_OFFSET, big.0).unwrap();
        heap.region.write_u32(index + SIZE_OFFSET, big_block).unwrap();
        assert!(matches!(heap.struct_at(&last), Err(crate::Error::Corrupted { .. })));
        assert_same(&heap, &last, "a block past the region's end");
        // Words that name no object of this heap.
        assert_same(&heap, &GcRef::from_i31(7), "an i31");
        assert_same(&heap, &GcRef::from_raw_u32(s.as_raw_u32() + 16).unwrap(), "inside an object");
        let other: Heap<()> = Heap::new(test_region(4096)).unwrap();
        let foreign = other.handle(s.as_raw_u32()).unwrap();
        assert_same(&heap, &foreign, "a foreign handle");
    }
}
