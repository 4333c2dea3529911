//! GC references: non-zero `u32` offsets into the region, or tagged i31 values.
//!
//! A [`GcRef`] is what Wasm code holds: a 32-bit word that is either
//! * an **object reference**: the region offset of the object's header, a non-zero multiple of
//!   16 (offset 0 is reserved so that the all-zero word is null), or
//! * an **i31 value**: `(value << 1) | 1`. The low bit tells them apart; i31 values never touch
//!   the heap and have no reference count.
//!
//! Null is the absence of a reference: `Option<GcRef>`, which is also a `u32` (0 is null).
//!
//! `GcRef` is deliberately neither `Copy` nor `Clone`: an owned `GcRef` *is* one reference count
//! on its object. Duplicate one with [`crate::Heap::clone_ref`] and release it with
//! [`crate::Heap::drop_ref`]. Dropping a `GcRef` any other way leaks one count (safe, and found
//! by [`crate::Heap::verify`]), it never frees early.

use core::fmt;
use core::num::NonZeroU32;

/// A reference to a heap object or an i31 value. See the module docs for ownership.
#[repr(transparent)]
#[derive(PartialEq, Eq, Hash)]
pub struct GcRef(NonZeroU32);

impl GcRef {
    /// Wraps a raw word as a reference, or `None` for the null word 0.
    ///
    /// This does not take a reference count: use it for words that already own one (handed back
    /// by JIT code, for example), or pass the result to [`crate::Heap::retain_raw`] first. The
    /// word is not trusted: every heap operation validates it (only the start of a live object
    /// of the heap is accepted).
    #[inline]
    pub const fn from_raw_u32(raw: u32) -> Option<GcRef> {
        match NonZeroU32::new(raw) {
            Some(raw) => Some(GcRef(raw)),
            None => None,
        }
    }

    /// The i31 reference holding the low 31 bits of `value` (as Wasm's `ref.i31`).
    #[inline]
    pub const fn from_i31(value: i32) -> GcRef {
        let raw = ((value as u32) << 1) | 1;
        match NonZeroU32::new(raw) {
            Some(raw) => GcRef(raw),
            // The low bit is set, so `raw` is never zero.
            None => unreachable!(),
        }
    }

    /// The raw word: an object offset, or an i31 value tagged in bit 0.
    #[inline]
    pub const fn as_raw_u32(&self) -> u32 {
        self.0.get()
    }

    /// Whether this is an i31 value rather than an object reference.
    #[inline]
    pub const fn is_i31(&self) -> bool {
        self.0.get() & 1 == 1
    }

    /// The i31 value sign-extended from 31 bits (Wasm's `i31.get_s`), if this is one.
    #[inline]
    pub const fn i31_signed(&self) -> Option<i32> {
        if self.is_i31() {
            Some((self.0.get() as i32) >> 1)
        } else {
            None
        }
    }

    /// The i31 value zero-extended from 31 bits (Wasm's `i31.get_u`), if this is one.
    #[inline]
    pub const fn i31_unsigned(&self) -> Option<u32> {
        if self.is_i31() {
            Some(self.0.get() >> 1)
        } else {
            None
        }
    }

    /// The object offset, if this is an object reference.
    #[inline]
    pub(crate) const fn object_index(&self) -> Option<u32> {
        if self.is_i31() {
            None
        } else {
            Some(self.0.get())
        }
    }

    /// A second handle to the same word without touching its count. The caller accounts for it.
    #[inline]
    pub(crate) const fn unchecked_copy(&self) -> GcRef {
        GcRef(self.0)
    }
}

impl fmt::Debug for GcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.i31_signed() {
            Some(value) => write!(f, "i31({value})"),
            None => write!(f, "object@{:#x}", self.0.get()),
        }
    }
}

/// The raw word of an optional reference: 0 for null.
#[inline]
pub(crate) fn raw_of(reference: Option<&GcRef>) -> u32 {
    reference.map_or(0, GcRef::as_raw_u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i31_round_trips_signed_and_unsigned() {
        for value in [0, 1, -1, 42, -42, (1 << 30) - 1, -(1 << 30)] {
            let r = GcRef::from_i31(value);
            assert!(r.is_i31());
            assert_eq!(r.i31_signed(), Some(value));
            assert_eq!(r.object_index(), None);
        }
        // Wasm keeps the low 31 bits: 2^30 wraps to -2^30, and get_u gives the unsigned view.
        assert_eq!(GcRef::from_i31(1 << 30).i31_signed(), Some(-(1 << 30)));
        assert_eq!(GcRef::from_i31(-1).i31_unsigned(), Some((1 << 31) - 1));
    }

    #[test]
    fn null_is_zero_and_objects_are_even() {
        assert!(GcRef::from_raw_u32(0).is_none());
        let r = GcRef::from_raw_u32(32).unwrap();
        assert!(!r.is_i31());
        assert_eq!(r.object_index(), Some(32));
        assert_eq!(raw_of(Some(&r)), 32);
        assert_eq!(raw_of(None), 0);
        assert_eq!(core::mem::size_of::<Option<GcRef>>(), 4);
    }
}
