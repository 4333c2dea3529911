//! Object headers: the 16 bytes in front of every object, and the kinds of object.
//!
//! Every block in the region starts with the same 16-byte word layout, whether it holds an
//! object or is free, so a linear walk can step from block to block by the size word:
//!
//! | offset | object                         | free block ([`crate::free_list`]) |
//! |--------|--------------------------------|-----------------------------------|
//! | 0      | kind (`u8`, never 0)           | 0 ([`FREE_KIND`])                 |
//! | 1      | flags ([`HeaderFlags`])        | 0                                 |
//! | 2      | reserved (`u16`, 0)            | 0                                 |
//! | 4      | type index (`u32`)             | next free block (`u32`, 0 = none) |
//! | 8      | block size in bytes (`u32`)    | block size in bytes (`u32`)       |
//! | 12     | reference count (`u32`)        | 0                                 |
//!
//! The reserved field is 0 in every object; only verification reads it, to check that.
//!
//! Arrays follow the header with their `u32` length at [`ARRAY_LENGTH_OFFSET`]; externrefs with
//! their `u32` host-data id at [`EXTERNREF_HOST_DATA_OFFSET`]. The `#[repr(C)]` structs below
//! document that layout for JIT code, and the offset constants are tested against
//! `core::mem::offset_of!`. The heap never forms Rust references into the region: it reads and
//! writes these fields through `region`'s checked accessors, and
//! `ObjectHeader::decode` validates what it reads (`ObjectHeader::decode_count`, for a count
//! change, reads and validates all but the block size, which a count change does not use;
//! `ObjectHeader::decode_unbounded_size`, for the decrement that may free the object, all but
//! the size's bounds, which release checks exactly against the object's kind and type).
//!
//! # Kinds
//! A [`Kind`] is a bit pattern in which a subtype contains all the bits of its supertypes
//! (`struct` = `eq` + 0b10, `eq` = `any` + 0b100), so `a.matches(b)` is `a & b == b`. Only the
//! concrete kinds [`Kind::EXTERN`], [`Kind::STRUCT`] and [`Kind::ARRAY`] are ever allocated.

use crate::error::{Error, Result};
use crate::region::Region;
use bitflags::bitflags;

/// Size of the common object header in bytes.
pub const HEADER_SIZE: u32 = 16;
/// Offset of the kind byte.
pub const KIND_OFFSET: u32 = 0;
/// Offset of the flags byte.
pub const FLAGS_OFFSET: u32 = 1;
/// Offset of the reserved `u16`, 0 in every object (verification checks it).
pub(crate) const RESERVED_OFFSET: u32 = 2;
/// Offset of the `u32` type index.
pub const TYPE_INDEX_OFFSET: u32 = 4;
/// Offset of the `u32` block size (header included, a multiple of 16).
pub const SIZE_OFFSET: u32 = 8;
/// Offset of the `u32` reference count.
pub const REF_COUNT_OFFSET: u32 = 12;
/// Offset of an array's `u32` length.
pub const ARRAY_LENGTH_OFFSET: u32 = 16;
/// Offset of an externref's `u32` host-data id.
pub const EXTERNREF_HOST_DATA_OFFSET: u32 = 16;
/// Size of an externref object before rounding to the block granularity.
pub const EXTERNREF_SIZE: u32 = 20;
/// The kind byte of a free block.
pub const FREE_KIND: u8 = 0;

/// The header as JIT code sees it. The heap itself encodes and decodes these bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectHeader {
    /// The object's [`Kind`] bits.
    pub kind: Kind,
    /// Collector flag bits.
    pub flags: HeaderFlags,
    /// The reserved field (see the module docs). `ObjectHeader::decode` does not read it and
    /// always gives 0 here.
    pub reserved: u16,
    /// The registered type of a struct or array; 0 for an externref.
    pub type_index: u32,
    /// The size of the object's block in bytes, header included.
    pub size: u32,
    /// The number of references to this object (heap fields, host roots, activations table).
    pub ref_count: u32,
}

/// What a count change reads of a header ([`ObjectHeader::decode_count`]): no block size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CountFields {
    /// The object's kind (an allocated one).
    pub(crate) kind: Kind,
    /// The registered type of a struct or array; 0 for an externref.
    pub(crate) type_index: u32,
    /// The number of references to the object.
    pub(crate) ref_count: u32,
}

/// The array header as JIT code sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ArrayHeader {
    /// The common header.
    pub header: ObjectHeader,
    /// The number of elements.
    pub length: u32,
}

/// The externref object as JIT code sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExternRefObject {
    /// The common header.
    pub header: ObjectHeader,
    /// Index of the host data in the heap's host-data table.
    pub host_data: u32,
}

/// The kind of a heap object or of a reference type; see the module docs for the bit scheme.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind(u8);

impl Kind {
    /// `externref`: host data outside the region.
    pub const EXTERN: Kind = Kind(0b0000_0001);
    /// `anyref`: the top of the internal hierarchy (abstract, never allocated).
    pub const ANY: Kind = Kind(0b0001_0000);
    /// `eqref` (abstract, never allocated).
    pub const EQ: Kind = Kind(0b0001_0100);
    /// An array object.
    pub const ARRAY: Kind = Kind(0b0001_0101);
    /// A struct object.
    pub const STRUCT: Kind = Kind(0b0001_0110);

    /// The kind encoded by a header byte, if it is one of the allocated kinds (one table
    /// lookup: every header read tests it).
    #[inline]
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        if ALLOCATED_KIND_BYTES[byte as usize] {
            Some(Kind(byte))
        } else {
            None
        }
    }

    /// The header byte.
    #[inline]
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// Whether an object of kind `self` is a value of kind `other` (subtyping).
    #[inline]
    pub const fn matches(self, other: Kind) -> bool {
        self.0 & other.0 == other.0
    }

    /// The kind's name, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::EXTERN => "externref",
            Kind::ANY => "anyref",
            Kind::EQ => "eqref",
            Kind::ARRAY => "array",
            Kind::STRUCT => "struct",
            _ => "invalid kind",
        }
    }
}

/// Which header bytes are allocated kinds ([`Kind::EXTERN`], [`Kind::ARRAY`], [`Kind::STRUCT`]),
/// indexed by the byte.
static ALLOCATED_KIND_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    table[Kind::EXTERN.0 as usize] = true;
    table[Kind::ARRAY.0 as usize] = true;
    table[Kind::STRUCT.0 as usize] = true;
    table
};

impl core::fmt::Debug for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

bitflags! {
    /// Flag bits in the header's byte 1, owned by the collectors.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct HeaderFlags: u8 {
        /// Low bit of the cycle collector's colour (see [`Colour`]).
        const COLOUR_LOW = 0b0000_0001;
        /// High bit of the cycle collector's colour.
        const COLOUR_HIGH = 0b0000_0010;
        /// The object is in the cycle collector's candidate buffer.
        const BUFFERED = 0b0000_0100;
        /// The object's type can never be part of a cycle ("green"): it is never buffered.
        const ACYCLIC = 0b0000_1000;
    }
}

/// The cycle collector's colour of an object (Bacon and Rajan 2001).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// In use or free: the colour every object has outside cycle collection.
    Black,
    /// A possible member of a garbage cycle, being trial-decremented.
    Gray,
    /// A member of a garbage cycle.
    White,
    /// A possible root of a garbage cycle: its count was decremented to a non-zero value.
    Purple,
}

impl HeaderFlags {
    const COLOUR_MASK: HeaderFlags = HeaderFlags::COLOUR_LOW.union(HeaderFlags::COLOUR_HIGH);

    /// The colour bits.
    #[inline]
    pub fn colour(self) -> Colour {
        match self.intersection(Self::COLOUR_MASK).bits() {
            0 => Colour::Black,
            1 => Colour::Gray,
            2 => Colour::White,
            _ => Colour::Purple,
        }
    }

    /// These flags with the colour bits replaced.
    #[inline]
    pub fn with_colour(self, colour: Colour) -> HeaderFlags {
        let bits = match colour {
            Colour::Black => 0,
            Colour::Gray => 1,
            Colour::White => 2,
            Colour::Purple => 3,
        };
        self.difference(Self::COLOUR_MASK) | HeaderFlags::from_bits_retain(bits)
    }
}

/// The first steps of every header decoder, written once and expanded in place (a function
/// shared by the decoders changed their code generation on the hot paths; the macro keeps each
/// decoder's code what it was): checks that `index` is a non-zero multiple of 16, reads the 16
/// header bytes (inside the region), and validates the kind byte (an allocated kind) and the
/// flags (known bits); evaluates to `(bytes, kind, flags)`, or returns the error from the
/// enclosing function.
macro_rules! read_header_bytes {
    ($region:expr, $index:expr) => {{
        let index: u32 = $index;
        if index == 0 || index % HEADER_SIZE != 0 {
            return Err(Error::InvalidReference(index));
        }
        let bytes: [u8; 16] = $region.read(index)?;
        let kind = Kind::from_byte(bytes[0]).ok_or(Error::corrupted(index, "invalid object kind"))?;
        let flags = HeaderFlags::from_bits(bytes[1]).ok_or(Error::corrupted(index, "unknown header flag bits"))?;
        (bytes, kind, flags)
    }};
    // The same checks with the kind and the flags in one test
    // ([`allocated_kind_with_known_flags`]): for `decode_count`, where it saves instructions
    // (in `decode` and `decode_unbounded_size` it moved code around their callers and cost).
    ($region:expr, $index:expr, one_test) => {{
        let index: u32 = $index;
        if index == 0 || index % HEADER_SIZE != 0 {
            return Err(Error::InvalidReference(index));
        }
        let bytes: [u8; 16] = $region.read(index)?;
        if !allocated_kind_with_known_flags(bytes[0], bytes[1]) {
            return Err(kind_or_flags_error(index, bytes[0]));
        }
        (bytes, Kind(bytes[0]), HeaderFlags::from_bits_retain(bytes[1]))
    }};
}

/// The bits of a header's flags byte that no known flag uses (a header with any of them set
/// is corrupted).
pub(crate) const UNKNOWN_FLAG_BITS: u8 = !HeaderFlags::all().bits();

/// The allocated kinds' bytes as bits of a `u32` (each below 32: see
/// [`allocated_kind_with_known_flags`]).
const ALLOCATED_KIND_BITS: u32 = 1 << Kind::EXTERN.0 | 1 << Kind::ARRAY.0 | 1 << Kind::STRUCT.0;

/// Whether `kind` is an allocated kind's byte and `flags` holds only known flag bits (what
/// [`Kind::from_byte`] and [`HeaderFlags::from_bits`] test), in one test of the two bytes and
/// one bit test: every allocated kind's byte is below 32.
#[inline(always)]
fn allocated_kind_with_known_flags(kind: u8, flags: u8) -> bool {
    // The kind's bits from 32 up and the unknown flag bits.
    const ZERO: u32 = 0xe0 | (UNKNOWN_FLAG_BITS as u32) << 8;
    let bytes = kind as u32 | (flags as u32) << 8;
    bytes & ZERO == 0 && ALLOCATED_KIND_BITS >> (bytes & 31) & 1 != 0
}

/// The error of a header whose kind byte or flags byte [`allocated_kind_with_known_flags`]
/// refused: the kind's if the kind byte is no allocated kind, else the flags'.
#[inline]
fn kind_or_flags_error(index: u32, kind: u8) -> Error {
    match Kind::from_byte(kind) {
        None => Error::corrupted(index, "invalid object kind"),
        Some(_) => Error::corrupted(index, "unknown header flag bits"),
    }
}

impl ObjectHeader {
    /// A fresh header with a count of one.
    pub(crate) fn new(kind: Kind, type_index: u32, size: u32, flags: HeaderFlags) -> ObjectHeader {
        ObjectHeader { kind, flags, reserved: 0, type_index, size, ref_count: 1 }
    }

    /// Reads and validates the header of the object at `index`.
    ///
    /// Checks: `index` is a non-zero multiple of 16, the kind byte names an allocated kind, the
    /// flags are known bits, the size is at least a header, a multiple of 16, and the block lies
    /// inside the region.
    #[inline]
    pub(crate) fn decode(region: &Region, index: u32) -> Result<ObjectHeader> {
        let (bytes, kind, flags) = read_header_bytes!(region, index);
        ObjectHeader::with_checked_size(region, index, &bytes, kind, flags)
    }

    /// [`ObjectHeader::decode`] with the kind and flags tested at once (the `one_test` form of
    /// `read_header_bytes`): the same checks in the same order and the same errors. For the
    /// cycle collector's inner loops, where the one test saves instructions (in `decode`'s
    /// other callers it moved code around and cost).
    #[inline(always)]
    pub(crate) fn decode_one_test(region: &Region, index: u32) -> Result<ObjectHeader> {
        let (bytes, kind, flags) = read_header_bytes!(region, index, one_test);
        ObjectHeader::with_checked_size(region, index, &bytes, kind, flags)
    }

    /// The rest of [`ObjectHeader::decode`] and [`ObjectHeader::decode_one_test`] once the
    /// header's 16 `bytes` at `index` are read and its kind and flags checked: the size is at
    /// least a header, a multiple of 16, and the block lies inside the region.
    #[inline(always)]
    fn with_checked_size(
        region: &Region,
        index: u32,
        bytes: &[u8; 16],
        kind: Kind,
        flags: HeaderFlags,
    ) -> Result<ObjectHeader> {
        let word = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let size = word(SIZE_OFFSET as usize);
        // At least a header, a multiple of 16, and the block inside the region, in two tests:
        // `read` put the header inside the region (`index + 16 <= len`), so `room` is the
        // room after it, and a size below 16 wraps around to more than any room.
        let room = region.len() - index - HEADER_SIZE;
        if (size % HEADER_SIZE != 0) | (size.wrapping_sub(HEADER_SIZE) > room) {
            return Err(Error::corrupted(index, "object size out of bounds"));
        }
        Ok(ObjectHeader {
            kind,
            flags,
            reserved: 0,
            type_index: word(TYPE_INDEX_OFFSET as usize),
            size,
            ref_count: word(REF_COUNT_OFFSET as usize),
        })
    }

    /// [`ObjectHeader::decode`] without the bounds check of the size: for a caller that checks
    /// the size against exactly what the object's kind and type say before it uses it (release,
    /// which then frees the block with it: see `free_block` in `crate::heap::counts`), so that
    /// the size is not checked twice. The index, kind and flags are validated as `decode` does.
    #[inline(always)]
    pub(crate) fn decode_unbounded_size(region: &Region, index: u32) -> Result<ObjectHeader> {
        let (bytes, kind, flags) = read_header_bytes!(region, index);
        let word = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        Ok(ObjectHeader {
            kind,
            flags,
            reserved: 0,
            type_index: word(TYPE_INDEX_OFFSET as usize),
            size: word(SIZE_OFFSET as usize),
            ref_count: word(REF_COUNT_OFFSET as usize),
        })
    }

    /// Reads what a count change needs of the header of the object at `index` (the count, and
    /// the kind and type index a reference type check needs), validating what it trusts:
    /// `index` is a non-zero multiple of 16, the kind byte names an allocated kind and the flags
    /// are known bits (as [`ObjectHeader::decode`]); the size is not read, since a count change
    /// does not use it (whatever does, validates it).
    #[inline(always)]
    pub(crate) fn decode_count(region: &Region, index: u32) -> Result<CountFields> {
        let (bytes, kind, _) = read_header_bytes!(region, index, one_test);
        let word = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        Ok(CountFields {
            kind,
            type_index: word(TYPE_INDEX_OFFSET as usize),
            ref_count: word(REF_COUNT_OFFSET as usize),
        })
    }

    /// The 16 bytes of this header as [`ObjectHeader::encode`] writes them (the reserved field
    /// 0). A struct type's fresh header is computed once, at registration, with this
    /// ([`StructLayout::header`](crate::types::StructLayout)), and a constructor stores it whole.
    #[inline]
    pub(crate) const fn to_bytes(self) -> [u8; 16] {
        let [t0, t1, t2, t3] = self.type_index.to_ne_bytes();
        let [s0, s1, s2, s3] = self.size.to_ne_bytes();
        let [c0, c1, c2, c3] = self.ref_count.to_ne_bytes();
        [self.kind.to_byte(), self.flags.bits(), 0, 0, t0, t1, t2, t3, s0, s1, s2, s3, c0, c1, c2, c3]
    }

    /// Writes this header at `index`.
    #[inline]
    pub(crate) fn encode(&self, region: &mut Region, index: u32) -> Result<()> {
        region.write(index, self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn jit_offsets_match_repr_c_layout() {
        assert_eq!(size_of::<ObjectHeader>() as u32, HEADER_SIZE);
        assert_eq!(offset_of!(ObjectHeader, kind) as u32, KIND_OFFSET);
        assert_eq!(offset_of!(ObjectHeader, flags) as u32, FLAGS_OFFSET);
        assert_eq!(offset_of!(ObjectHeader, reserved) as u32, RESERVED_OFFSET);
        assert_eq!(offset_of!(ObjectHeader, type_index) as u32, TYPE_INDEX_OFFSET);
        assert_eq!(offset_of!(ObjectHeader, size) as u32, SIZE_OFFSET);
        assert_eq!(offset_of!(ObjectHeader, ref_count) as u32, REF_COUNT_OFFSET);
        assert_eq!(offset_of!(ArrayHeader, length) as u32, ARRAY_LENGTH_OFFSET);
        assert_eq!(offset_of!(ExternRefObject, host_data) as u32, EXTERNREF_HOST_DATA_OFFSET);
        assert_eq!(size_of::<ExternRefObject>() as u32, EXTERNREF_SIZE);
    }

    #[test]
    fn kind_subtyping_follows_the_wasm_hierarchy() {
        assert!(Kind::STRUCT.matches(Kind::EQ) && Kind::STRUCT.matches(Kind::ANY));
        assert!(Kind::ARRAY.matches(Kind::EQ) && Kind::EQ.matches(Kind::ANY));
        assert!(!Kind::ARRAY.matches(Kind::STRUCT) && !Kind::STRUCT.matches(Kind::ARRAY));
        assert!(!Kind::EXTERN.matches(Kind::ANY) && !Kind::ANY.matches(Kind::EXTERN));
        assert!(!Kind::EQ.matches(Kind::STRUCT));
        assert_eq!(Kind::from_byte(FREE_KIND), None);
        assert_eq!(Kind::from_byte(Kind::EQ.to_byte()), None);
    }

    #[test]
    fn decode_count_validates_all_but_the_block_size() {
        let mut region = Region::owned(4096).unwrap();
        let header = ObjectHeader::new(Kind::STRUCT, 7, 32, HeaderFlags::ACYCLIC);
        header.encode(&mut region, 32).unwrap();
        let fields = ObjectHeader::decode_count(&region, 32).unwrap();
        assert_eq!((fields.kind, fields.type_index, fields.ref_count), (Kind::STRUCT, 7, 1));
        // A size no block has: `decode` refuses it, a count change does not read it.
        region.write_u32(32 + SIZE_OFFSET, 8).unwrap();
        assert!(matches!(ObjectHeader::decode(&region, 32), Err(Error::Corrupted { .. })));
        assert_eq!(ObjectHeader::decode_count(&region, 32).unwrap().ref_count, 1);
        // The index, the kind and the flags are validated as `decode` validates them.
        assert!(matches!(ObjectHeader::decode_count(&region, 40), Err(Error::InvalidReference(40))));
        assert!(matches!(ObjectHeader::decode_count(&region, 0), Err(Error::InvalidReference(0))));
        region.write(32 + FLAGS_OFFSET, [0x80]).unwrap();
        assert!(matches!(ObjectHeader::decode_count(&region, 32), Err(Error::Corrupted { .. })));
        region.write(32 + KIND_OFFSET, [Kind::EQ.to_byte(), 0]).unwrap();
        assert!(matches!(ObjectHeader::decode_count(&region, 32), Err(Error::Corrupted { .. })));
    }

    /// `decode_count`'s one test of the kind and flags bytes refuses exactly the pairs that
    /// `decode` refuses, with the same error: all 65536 of them.
    #[test]
    fn decode_count_refuses_exactly_the_kind_and_flags_bytes_decode_refuses() {
        let mut region = Region::owned(4096).unwrap();
        ObjectHeader::new(Kind::STRUCT, 7, 32, HeaderFlags::empty()).encode(&mut region, 32).unwrap();
        for kind in 0..=u8::MAX {
            for flags in 0..=u8::MAX {
                region.write(32 + KIND_OFFSET, [kind, flags]).unwrap();
                let full = ObjectHeader::decode(&region, 32).map(|header| (header.kind, header.type_index));
                let count = ObjectHeader::decode_count(&region, 32).map(|fields| (fields.kind, fields.type_index));
                assert_eq!(count, full, "kind {kind:#x}, flags {flags:#x}");
            }
        }
    }

    #[test]
    fn allocated_kinds_are_exactly_the_three_concrete_kinds() {
        let allocated: alloc::vec::Vec<u8> = (0..=u8::MAX).filter(|&byte| Kind::from_byte(byte).is_some()).collect();
        assert_eq!(allocated, [Kind::EXTERN.to_byte(), Kind::ARRAY.to_byte(), Kind::STRUCT.to_byte()]);
    }

    #[test]
    fn colour_bits_round_trip_without_touching_other_flags() {
        let flags = HeaderFlags::BUFFERED | HeaderFlags::ACYCLIC;
        for colour in [Colour::Black, Colour::Gray, Colour::White, Colour::Purple] {
            let with = flags.with_colour(colour);
            assert_eq!(with.colour(), colour);
            assert!(with.contains(flags));
        }
    }
}
