//! Typed errors.
//!
//! Every fallible operation of the heap returns [`Error`]. The variants fall into three groups:
//!
//! * **Retryable**: [`Error::OutOfMemory`] means the request does not fit *now*; collect, grow
//!   the region or drop references, then retry ([`Error::is_retryable`] is true only for it).
//! * **Misuse**: the caller asked for something that can never succeed (a type that does not
//!   exist, a field out of bounds, a value of the wrong storage type, collecting inside a no-GC
//!   scope...). Nothing in the heap changed.
//! * **Corruption**: [`Error::Corrupted`] means a byte read from the region failed validation.
//!   The heap treats the region as untrusted memory (a JIT or an attacker may have written
//!   anything there), so this is a possible outcome of any operation that reads the region. The
//!   heap is then in an unspecified but memory-safe state; [`crate::Heap::reset`] recovers it.

use core::fmt;

/// An error from the heap. See the module documentation for the three groups.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The region given to a constructor is smaller than the minimum a heap needs.
    RegionTooSmall {
        /// The length that was given.
        len: usize,
        /// The smallest length accepted.
        min: usize,
    },
    /// The region (or the region after extension) is too large for 32-bit indices.
    RegionTooLarge {
        /// The length that was given or that extension would produce.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The region's base address is null.
    NullRegion,
    /// The region's base address is not aligned to [`crate::REGION_ALIGN`], or an extension is
    /// not a multiple of it.
    RegionMisaligned {
        /// The offending address or length.
        value: usize,
        /// The alignment required.
        align: usize,
    },
    /// [`crate::Heap::extend`] on a heap that owns its region
    /// ([`crate::Heap::with_owned_region`]): the bytes after the heap's own allocation are not
    /// its to take, so such a region never grows. Nothing changed.
    OwnedRegionNotExtensible,
    /// The allocation does not fit in the free memory right now. Collect garbage (or extend the
    /// region) and retry. From [`crate::Heap::with_owned_region`], the global allocator could
    /// not provide the region's `requested` bytes (retrying later may succeed).
    OutOfMemory {
        /// Bytes the allocation needs, header included (for an object), or the region's length
        /// (for an owned region).
        requested: usize,
    },
    /// The allocation can never fit: its size overflows or exceeds the largest object.
    AllocationTooLarge {
        /// Bytes requested, saturated at `usize::MAX` when the arithmetic overflowed.
        requested: usize,
        /// The largest object size the heap supports.
        max: usize,
    },
    /// No type with this index is registered.
    UnknownType(u32),
    /// A reference to a member of a recursion group that is not there: a field's
    /// `HeapType::RecGroupMember` past the group's end (or used outside registration), or a
    /// supertype's `TypeReference::RecGroupMember` not declared before its subtype.
    RecGroupMemberOutOfBounds {
        /// The member named.
        member: u32,
        /// The number of members that could be named there.
        available: u32,
    },
    /// Registering more types than `u32` indices can name.
    TooManyTypes,
    /// A type with a non-nullable reference field or element given to an allocation that
    /// fills the object with zeros and nulls (`struct_new_default`, `array_new_default`):
    /// null is not a value of that field, so Wasm has no default for it.
    NotDefaultable {
        /// The type index.
        type_index: u32,
    },
    /// The type exists, but is of the wrong kind for the operation (an array type given to a
    /// struct allocation, for example).
    WrongTypeKind {
        /// The type index.
        type_index: u32,
        /// What the operation needed.
        expected: &'static str,
    },
    /// A struct allocation given a number of field values other than the type's field count.
    FieldCountMismatch {
        /// The number of fields the type has.
        expected: u32,
        /// The number of values given.
        found: u32,
    },
    /// A struct field index past the type's last field.
    FieldOutOfBounds {
        /// The field index asked for.
        field: u32,
        /// The number of fields the type has.
        fields: u32,
    },
    /// An array access past the array's end.
    IndexOutOfBounds {
        /// First element index accessed.
        index: u32,
        /// Number of elements accessed.
        count: u32,
        /// The array's length.
        len: u32,
    },
    /// A value whose storage type does not match the field or element it is written to, or a
    /// reference to an object whose type is not a subtype of the field's reference type.
    TypeMismatch {
        /// What the field or element holds.
        expected: &'static str,
        /// What was given.
        found: &'static str,
    },
    /// A null reference where a non-null one is required.
    NullReference,
    /// A reference of the wrong kind for the operation (an i31 where a heap object is needed, a
    /// struct where an array is needed...).
    WrongObjectKind {
        /// What the operation needed.
        expected: &'static str,
        /// What the reference points to.
        found: &'static str,
    },
    /// A raw reference that is not a valid object index of this heap: no live object starts
    /// there (a word inside an object, past the heap, or at a block that was freed: a host
    /// handle used after its last count was dropped).
    InvalidReference(u32),
    /// A handle bound to another heap, or to this heap before a reset (see
    /// [`crate::gc_ref`]'s heap identity).
    ForeignReference {
        /// The handle's word.
        raw: u32,
    },
    /// A collection was requested inside a no-GC scope.
    InNoGcScope,
    /// `exit_no_gc_scope` without a matching `enter_no_gc_scope`.
    NotInNoGcScope,
    /// A reference count would overflow `u32`.
    RefCountOverflow,
    /// A byte read from the region failed validation. `offset` is where, `what` says which check.
    Corrupted {
        /// The region offset that failed validation.
        offset: u32,
        /// Which check failed.
        what: &'static str,
    },
    /// `verify` found a disagreement between the heap's bookkeeping and its contents.
    VerifyFailed {
        /// The object or block offset where the disagreement is.
        offset: u32,
        /// What disagreed.
        what: &'static str,
        /// The value the heap holds.
        found: u64,
        /// The value recomputed from the heap's contents.
        expected: u64,
    },
}

impl Error {
    /// True only for [`Error::OutOfMemory`]: collect or grow, then retry.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::OutOfMemory { .. })
    }

    /// True for errors that mean the region's bytes failed validation.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupted { .. } | Error::VerifyFailed { .. })
    }

    /// Shorthand used by the region readers.
    pub(crate) const fn corrupted(offset: u32, what: &'static str) -> Error {
        Error::Corrupted { offset, what }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::RegionTooSmall { len, min } => {
                write!(f, "region of {len} bytes is too small: a heap needs at least {min}")
            }
            Error::RegionTooLarge { len, max } => {
                write!(f, "region of {len} bytes is too large: object indices are 32-bit, at most {max} bytes")
            }
            Error::NullRegion => write!(f, "region base address is null"),
            Error::RegionMisaligned { value, align } => {
                write!(f, "region address or length {value:#x} is not a multiple of {align}")
            }
            Error::OwnedRegionNotExtensible => {
                write!(
                    f,
                    "a heap that owns its region cannot extend it: the bytes after the allocation are not the heap's"
                )
            }
            Error::OutOfMemory { requested } => write!(
                f,
                "no free block of {requested} bytes right now: collect garbage or grow the region, then retry"
            ),
            Error::AllocationTooLarge { requested, max } => {
                write!(f, "allocation of {requested} bytes can never fit: the largest object is {max} bytes")
            }
            Error::UnknownType(index) => write!(f, "no type is registered at index {index}"),
            Error::RecGroupMemberOutOfBounds { member, available } => {
                write!(f, "recursion group member {member} does not exist here: {available} members can be named")
            }
            Error::TooManyTypes => write!(f, "too many types: type indices are 32-bit"),
            Error::NotDefaultable { type_index } => {
                write!(f, "type {type_index} has a non-nullable reference field or element: it has no default value")
            }
            Error::WrongTypeKind { type_index, expected } => {
                write!(f, "type {type_index} is not {expected}")
            }
            Error::FieldCountMismatch { expected, found } => {
                write!(f, "{found} field values given for a struct type of {expected} fields")
            }
            Error::FieldOutOfBounds { field, fields } => {
                write!(f, "field {field} out of bounds: the struct has {fields} fields")
            }
            Error::IndexOutOfBounds { index, count, len } => {
                write!(f, "elements {index}..{index}+{count} out of bounds for an array of length {len}")
            }
            Error::TypeMismatch { expected, found } => {
                write!(f, "type mismatch: expected {expected}, found {found}")
            }
            Error::NullReference => write!(f, "null reference where a non-null one is required"),
            Error::WrongObjectKind { expected, found } => {
                write!(f, "expected a reference to {expected}, found {found}")
            }
            Error::InvalidReference(raw) => {
                write!(f, "{raw:#x} is not a valid object reference of this heap")
            }
            Error::ForeignReference { raw } => {
                write!(f, "reference {raw:#x} belongs to another heap (or to this one before a reset)")
            }
            Error::InNoGcScope => write!(f, "cannot collect garbage inside a no-GC scope"),
            Error::NotInNoGcScope => write!(f, "exit_no_gc_scope called outside any no-GC scope"),
            Error::RefCountOverflow => write!(f, "reference count overflow"),
            Error::Corrupted { offset, what } => {
                write!(f, "heap corrupted at offset {offset:#x}: {what}")
            }
            Error::VerifyFailed { offset, what, found, expected } => {
                write!(f, "verify failed at offset {offset:#x}: {what}: heap holds {found}, expected {expected}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
