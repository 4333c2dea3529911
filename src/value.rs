//! Values of fields and array elements, and their encoding in the region.
//!
//! Values have one variant per [`StorageType`]; writing a value whose variant does not match the
//! field's storage type is a [`Error::TypeMismatch`]. They come in two forms, so that ownership
//! of references is always visible:
//! * [`Value`] is what getters return. A reference in it is an owned `GcRef` (a new count):
//!   release it with [`crate::Heap::release_value`] or keep it.
//! * [`ValueRef`] is what setters and constructors take. A reference in it is borrowed; the heap
//!   takes its own count for the field, and the caller still owns (and must release) its own.
//!
//! Scalars are stored in native byte order at their field offset; floats by their bits, so NaN
//! payloads survive a round trip.
//!
//! A `FieldPlan` (crate-private) is a struct field's offset and the test of a value against its
//! storage type that a constructor or an owned store can make without the type registry,
//! computed once at registration.

use crate::error::{Error, Result};
use crate::free_list::GRANULE;
use crate::header::Kind;
use crate::region::Region;
use crate::types::{HeapType, StorageType};
use crate::GcRef;

/// The value of a field or array element.
#[derive(Debug, PartialEq)]
pub enum Value {
    /// An `i8` field (packed).
    I8(i8),
    /// An `i16` field (packed).
    I16(i16),
    /// An `i32` field.
    I32(i32),
    /// An `i64` field.
    I64(i64),
    /// An `f32` field.
    F32(f32),
    /// An `f64` field.
    F64(f64),
    /// A `v128` field.
    V128(u128),
    /// A reference field: null, an object or an i31.
    Ref(Option<GcRef>),
}

impl Value {
    /// The name of the value's storage type, for error messages.
    pub fn type_name(&self) -> &'static str {
        self.borrow().type_name()
    }

    /// The reference, if this is a non-null reference value.
    pub fn as_gc_ref(&self) -> Option<&GcRef> {
        match self {
            Value::Ref(r) => r.as_ref(),
            _ => None,
        }
    }

    /// Whether the value's variant is the one `storage` holds (any reference for a reference
    /// type: its reference type is checked apart), as [`ValueRef::matches_storage`].
    #[inline]
    pub(crate) fn matches_storage(&self, storage: StorageType) -> bool {
        self.borrow().matches_storage(storage)
    }

    /// Stores the value at `at` in `bytes` (the block of a fresh object) in its variant's
    /// width (a reference as its word, whose count the field then owns); `false`, with nothing
    /// written, if those bytes are not all in `bytes`. The caller has checked the variant
    /// against the field's storage type.
    #[inline(always)]
    pub(crate) fn write_into(&self, bytes: &mut [u8], at: usize) -> bool {
        self.borrow().write_into(bytes, at)
    }

    /// [`Value::write_into`] for a granule built in a local ([`ValueRef::write_into_granule`]).
    #[inline(always)]
    pub(crate) fn write_into_granule(&self, granule: &mut [u8; GRANULE as usize], at: usize) -> bool {
        self.borrow().write_into_granule(granule, at)
    }

    /// The same value with its reference borrowed, to pass to a setter.
    pub fn borrow(&self) -> ValueRef<'_> {
        match self {
            Value::I8(v) => ValueRef::I8(*v),
            Value::I16(v) => ValueRef::I16(*v),
            Value::I32(v) => ValueRef::I32(*v),
            Value::I64(v) => ValueRef::I64(*v),
            Value::F32(v) => ValueRef::F32(*v),
            Value::F64(v) => ValueRef::F64(*v),
            Value::V128(v) => ValueRef::V128(*v),
            Value::Ref(r) => ValueRef::Ref(r.as_ref()),
        }
    }
}

/// A value to write: like [`Value`], with the reference borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// An `i8` field (packed).
    I8(i8),
    /// An `i16` field (packed).
    I16(i16),
    /// An `i32` field.
    I32(i32),
    /// An `i64` field.
    I64(i64),
    /// An `f32` field.
    F32(f32),
    /// An `f64` field.
    F64(f64),
    /// A `v128` field.
    V128(u128),
    /// A reference field: null, an object or an i31.
    Ref(Option<&'a GcRef>),
}

impl ValueRef<'_> {
    /// The name of the value's storage type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::I8(_) => "i8",
            ValueRef::I16(_) => "i16",
            ValueRef::I32(_) => "i32",
            ValueRef::I64(_) => "i64",
            ValueRef::F32(_) => "f32",
            ValueRef::F64(_) => "f64",
            ValueRef::V128(_) => "v128",
            ValueRef::Ref(_) => "ref",
        }
    }

    /// Stores the value at `at` in `bytes` (the block of a fresh object), as
    /// [`Value::write_into`]: a reference as its word (the caller took its count).
    #[inline(always)]
    pub(crate) fn write_into(&self, bytes: &mut [u8], at: usize) -> bool {
        self.store::<false>(bytes, at)
    }

    /// [`ValueRef::write_into`] for a granule built in a local (see `write_struct_body` in
    /// `crate::heap::fast_paths`): the same test, in the form that compiles to one compare
    /// against a constant there (the other form costs the dynamic-length callers more).
    #[inline(always)]
    pub(crate) fn write_into_granule(&self, granule: &mut [u8; GRANULE as usize], at: usize) -> bool {
        self.store::<true>(granule, at)
    }

    #[inline(always)]
    fn store<const FIXED: bool>(&self, bytes: &mut [u8], at: usize) -> bool {
        match *self {
            ValueRef::I8(v) => put::<1, FIXED>(bytes, at, v.to_ne_bytes()),
            ValueRef::I16(v) => put::<2, FIXED>(bytes, at, v.to_ne_bytes()),
            ValueRef::I32(v) => put::<4, FIXED>(bytes, at, v.to_ne_bytes()),
            ValueRef::I64(v) => put::<8, FIXED>(bytes, at, v.to_ne_bytes()),
            ValueRef::F32(v) => put::<4, FIXED>(bytes, at, v.to_bits().to_ne_bytes()),
            ValueRef::F64(v) => put::<8, FIXED>(bytes, at, v.to_bits().to_ne_bytes()),
            ValueRef::V128(v) => put::<16, FIXED>(bytes, at, v.to_ne_bytes()),
            ValueRef::Ref(r) => put::<4, FIXED>(bytes, at, r.map_or(0, GcRef::as_raw_u32).to_ne_bytes()),
        }
    }

    /// Whether this value's variant is the one for `storage`.
    #[inline]
    pub fn matches_storage(&self, storage: StorageType) -> bool {
        matches!(
            (storage, self),
            (StorageType::I8, ValueRef::I8(_))
                | (StorageType::I16, ValueRef::I16(_))
                | (StorageType::I32, ValueRef::I32(_))
                | (StorageType::I64, ValueRef::I64(_))
                | (StorageType::F32, ValueRef::F32(_))
                | (StorageType::F64, ValueRef::F64(_))
                | (StorageType::V128, ValueRef::V128(_))
                | (StorageType::Ref(_), ValueRef::Ref(_))
        )
    }

    /// The default value of a storage type: zero, or null.
    pub fn default_for(storage: StorageType) -> ValueRef<'static> {
        match storage {
            StorageType::I8 => ValueRef::I8(0),
            StorageType::I16 => ValueRef::I16(0),
            StorageType::I32 => ValueRef::I32(0),
            StorageType::I64 => ValueRef::I64(0),
            StorageType::F32 => ValueRef::F32(0.0),
            StorageType::F64 => ValueRef::F64(0.0),
            StorageType::V128 => ValueRef::V128(0),
            StorageType::Ref(_) => ValueRef::Ref(None),
        }
    }
}

/// Copies `value` to `bytes[at..at + W]`; `false`, with nothing written, if those bytes are
/// not all in `bytes`. One test of `at` against the last start that fits, which also bounds
/// the slice taken after it; `FIXED` picks the slicing that compiles best for a `bytes` of
/// constant length (see [`ValueRef::write_into_granule`]).
#[inline(always)]
fn put<const W: usize, const FIXED: bool>(bytes: &mut [u8], at: usize, value: [u8; W]) -> bool {
    let Some(last) = bytes.len().checked_sub(W) else { return false };
    if at > last {
        return false;
    }
    let destination = if FIXED {
        bytes.split_at_mut_checked(at).and_then(|(_, tail)| tail.first_chunk_mut::<W>())
    } else {
        bytes.get_mut(at..at + W).and_then(|tail| tail.first_chunk_mut::<W>())
    };
    match destination {
        Some(destination) => {
            *destination = value;
            true
        }
        None => false,
    }
}

/// The error of a value whose variant is not `storage`'s (cold: the names are looked up only
/// when the error happens).
#[cold]
#[inline(never)]
pub(crate) fn mismatch(storage: StorageType, value: ValueRef<'_>) -> Error {
    Error::TypeMismatch { expected: storage.name(), found: value.type_name() }
}

/// Writes a scalar value at `offset`. Reference values are the caller's (they need barriers).
pub(crate) fn write_scalar(region: &mut Region, offset: u32, storage: StorageType, value: ValueRef<'_>) -> Result<()> {
    match (storage, value) {
        (StorageType::I8, ValueRef::I8(v)) => region.write(offset, v.to_ne_bytes()),
        (StorageType::I16, ValueRef::I16(v)) => region.write(offset, v.to_ne_bytes()),
        (StorageType::I32, ValueRef::I32(v)) => region.write(offset, v.to_ne_bytes()),
        (StorageType::I64, ValueRef::I64(v)) => region.write(offset, v.to_ne_bytes()),
        (StorageType::F32, ValueRef::F32(v)) => region.write(offset, v.to_bits().to_ne_bytes()),
        (StorageType::F64, ValueRef::F64(v)) => region.write(offset, v.to_bits().to_ne_bytes()),
        (StorageType::V128, ValueRef::V128(v)) => region.write(offset, v.to_ne_bytes()),
        _ => Err(mismatch(storage, value)),
    }
}

/// Reads a scalar value at `offset`; for a reference field, returns its raw word instead.
pub(crate) fn read_scalar(region: &Region, offset: u32, storage: StorageType) -> Result<Result<Value, u32>> {
    Ok(Ok(match storage {
        StorageType::I8 => Value::I8(i8::from_ne_bytes(region.read(offset)?)),
        StorageType::I16 => Value::I16(i16::from_ne_bytes(region.read(offset)?)),
        StorageType::I32 => Value::I32(i32::from_ne_bytes(region.read(offset)?)),
        StorageType::I64 => Value::I64(i64::from_ne_bytes(region.read(offset)?)),
        StorageType::F32 => Value::F32(f32::from_bits(u32::from_ne_bytes(region.read(offset)?))),
        StorageType::F64 => Value::F64(f64::from_bits(u64::from_ne_bytes(region.read(offset)?))),
        StorageType::V128 => Value::V128(u128::from_ne_bytes(region.read(offset)?)),
        StorageType::Ref(_) => return Ok(Err(region.read_u32(offset)?)),
    }))
}

/// A Rust type that stores one scalar storage type exactly: `i8`, `i16`, `i32`, `i64`, `f32`,
/// `f64`, and `u128` for `v128`. The typed accessors (`get_i64`, `set_f32`, ...) are written
/// once over it.
pub(crate) trait Scalar: Sized {
    /// The storage type a field or element must have to hold this type.
    const STORAGE: StorageType;
    /// Reads the value at `offset` (a field or element of storage type [`Scalar::STORAGE`]).
    fn read(region: &Region, offset: u32) -> Result<Self>;
    /// Writes the value at `offset` (a field or element of storage type [`Scalar::STORAGE`]).
    fn write(self, region: &mut Region, offset: u32) -> Result<()>;
}

macro_rules! scalar {
    ($($t:ty => $storage:ident),* $(,)?) => {
        $(
            impl Scalar for $t {
                const STORAGE: StorageType = StorageType::$storage;
                #[inline]
                fn read(region: &Region, offset: u32) -> Result<Self> {
                    Ok(<$t>::from_ne_bytes(region.read(offset)?))
                }
                #[inline]
                fn write(self, region: &mut Region, offset: u32) -> Result<()> {
                    region.write(offset, self.to_ne_bytes())
                }
            }
        )*
    };
}

scalar!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, f32 => F32, f64 => F64, u128 => V128);

/// The [`Error::TypeMismatch`] of asking for `T` where the storage type is `found`, or nothing
/// when they agree.
#[inline]
pub(crate) fn check_scalar<T: Scalar>(found: StorageType) -> Result<()> {
    if found == T::STORAGE {
        Ok(())
    } else {
        Err(Error::TypeMismatch { expected: T::STORAGE.name(), found: found.name() })
    }
}

/// A struct field as a constructor or a store sees it (see
/// [`Heap::struct_new_owned`](crate::Heap::struct_new_owned) and
/// [`Heap::struct_set_owned`](crate::Heap::struct_set_owned), which move owned values in, and
/// [`Heap::struct_new`](crate::Heap::struct_new) and
/// [`Heap::struct_new_proved`](crate::Heap::struct_new_proved), which borrow them): its offset
/// and a test of a value against its storage type that needs no registry lookup, computed at
/// registration ([`StructLayout`](crate::types::StructLayout)). The test only accepts:
/// whatever it does not decide (an error, an i31, a concrete reference type for a
/// constructor, an object of a proper subtype of one for a store) goes to the full check of
/// the field's storage type, which gives the answer and the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldPlan {
    /// The field's offset from the object's start.
    pub(crate) offset: u32,
    /// For a reference field: bit `k` set for each allocated kind byte `k` (all below 32) that
    /// the field's heap type takes whatever the object's type (none: not decided here).
    kinds: u32,
    /// For a reference field of a concrete heap type: its type index plus one (0: none, or an
    /// index too large to add one to, left to the full check). An object whose header (read
    /// and validated whole) names exactly this type is one the field takes; a subtype is left
    /// to the full check (the registry's supertype chain).
    concrete: u32,
    /// For a reference field: whether it holds null.
    nullable: bool,
    /// For a scalar field: its [`scalar_code`] (0 for a reference field).
    scalar: u8,
}

// Every allocated kind byte has its bit in `FieldPlan::kinds`.
const _: () = assert!(Kind::EXTERN.to_byte() < 32 && Kind::ARRAY.to_byte() < 32 && Kind::STRUCT.to_byte() < 32);

impl FieldPlan {
    /// The plan of a field of type `storage` at `offset`.
    pub(crate) fn new(offset: u32, storage: StorageType) -> FieldPlan {
        let StorageType::Ref(ref_type) = storage else {
            return FieldPlan {
                offset,
                kinds: 0,
                concrete: 0,
                nullable: false,
                scalar: scalar_code(ValueRef::default_for(storage)),
            };
        };
        // The kinds that decide the heap types a header's kind byte alone decides; `extern`
        // and `any` take every object (the bitmap said one starts there; the slow path takes
        // a kind byte that names none, as the type check always did, without reading it).
        let bit = |kind: Kind| 1 << kind.to_byte();
        let kinds = match ref_type.heap_type {
            HeapType::Struct => bit(Kind::STRUCT),
            HeapType::Array => bit(Kind::ARRAY),
            HeapType::Eq => bit(Kind::STRUCT) | bit(Kind::ARRAY),
            HeapType::Extern | HeapType::Any => bit(Kind::STRUCT) | bit(Kind::ARRAY) | bit(Kind::EXTERN),
            _ => 0,
        };
        let concrete = match ref_type.heap_type {
            HeapType::Concrete(target) => target.0.checked_add(1).unwrap_or(0),
            _ => 0,
        };
        FieldPlan { offset, kinds, concrete, nullable: ref_type.nullable, scalar: 0 }
    }

    /// For a field of a concrete heap type, the type index an object's header must name for
    /// this plan to take it (`None`: the plan decides by the kind byte, or not at all).
    #[inline(always)]
    pub(crate) fn concrete_type(self) -> Option<u32> {
        self.concrete.checked_sub(1)
    }

    /// Whether the field holds references (of any reference type).
    #[inline(always)]
    pub(crate) fn holds_references(self) -> bool {
        self.scalar == 0
    }

    /// Whether null may be stored in the field (a nullable reference type).
    #[inline(always)]
    pub(crate) fn accepts_null(self) -> bool {
        self.nullable
    }

    /// Whether an object whose header's kind byte is `kind` may be stored in the field as far
    /// as this plan decides (`false`: not decided here).
    #[inline(always)]
    pub(crate) fn accepts_kind(self, kind: u8) -> bool {
        self.kinds.checked_shr(kind as u32).is_some_and(|kinds| kinds & 1 != 0)
    }

    /// Whether the field holds scalars of `value`'s variant (`false` for a reference value).
    #[inline(always)]
    pub(crate) fn accepts_scalar(self, value: &Value) -> bool {
        self.accepts_scalar_ref(value.borrow())
    }

    /// [`FieldPlan::accepts_scalar`] for a borrowed value (a constructor's operand).
    #[inline(always)]
    pub(crate) fn accepts_scalar_ref(self, value: ValueRef<'_>) -> bool {
        let code = scalar_code(value);
        code != 0 && self.scalar == code
    }
}

/// A scalar variant's code in a [`FieldPlan`] (from 1), 0 for a reference.
#[inline(always)]
fn scalar_code(value: ValueRef<'_>) -> u8 {
    match value {
        ValueRef::I8(_) => 1,
        ValueRef::I16(_) => 2,
        ValueRef::I32(_) => 3,
        ValueRef::I64(_) => 4,
        ValueRef::F32(_) => 5,
        ValueRef::F64(_) => 6,
        ValueRef::V128(_) => 7,
        ValueRef::Ref(_) => 0,
    }
}
