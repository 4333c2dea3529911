//! GC references: non-zero `u32` offsets into the region, or tagged i31 values.
//!
//! A [`GcRef`] is what Wasm code holds: a 32-bit word that is either
//! * an **object reference**: the region offset of the object's header, a non-zero multiple of
//!   16 (offset 0 is reserved so that the all-zero word is null), or
//! * an **i31 value**: `(value << 1) | 1`. The low bit tells them apart; i31 values never touch
//!   the heap and have no reference count.
//!
//! Null is the absence of a reference: `Option<GcRef>` (Wasm sees the word 0).
//!
//! # Heap identity
//! Wasm sees only the word. The host-side handle also carries the identity of the heap it
//! belongs to ([`HeapId`]; 8 bytes in all): every handle a heap hands out (allocations,
//! `clone_ref`, `retain_raw`, reads of reference fields, borrowed references) is *bound* to it,
//! and every heap operation refuses a handle bound to another heap with
//! [`crate::Error::ForeignReference`] (a reset gives a heap a new identity, so handles from
//! before it are refused the same way). A handle made from a raw word with
//! [`GcRef::from_raw_u32`] is *unbound*: it is the Wasm-facing raw-word path (an interpreter's
//! operand stack, JIT code's words), which carries no identity, so only the word itself is
//! validated (it must be the start of a live object of the heap it is given to). i31 values
//! belong to no heap and are always unbound.
//!
//! `GcRef` is deliberately neither `Copy` nor `Clone`: an owned `GcRef` *is* one reference count
//! on its object. Duplicate one with [`crate::Heap::clone_ref`] and release it with
//! [`crate::Heap::drop_ref`]. Dropping a `GcRef` any other way leaks one count (safe, and found
//! by [`crate::Heap::verify`]), it never frees early.

use core::fmt;
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU32, Ordering};

/// The bit that marks a word as an i31 value: set in every i31 word, clear in every object
/// offset (a multiple of 16) and in null.
pub const I31_TAG: u32 = 1;
/// How far an i31 value is shifted left in its word: the word is `(value << I31_SHIFT) | I31_TAG`,
/// and the value is the word shifted right again (arithmetically for `i31.get_s`, logically for
/// `i31.get_u`).
pub const I31_SHIFT: u32 = 1;

/// What a reference word names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    /// The null reference (0).
    Null,
    /// An i31 value (the low bit set).
    I31,
    /// The offset of an object (not validated: the heap checks that an object starts there).
    Object(u32),
}

impl Word {
    /// Decodes a reference word.
    #[inline(always)]
    pub(crate) const fn of(raw: u32) -> Word {
        if raw == 0 {
            Word::Null
        } else if raw & I31_TAG != 0 {
            Word::I31
        } else {
            Word::Object(raw)
        }
    }
}

/// The object offset `raw` names, or `None` for null and i31 words.
#[inline(always)]
pub(crate) const fn object_word(raw: u32) -> Option<u32> {
    match Word::of(raw) {
        Word::Object(index) => Some(index),
        _ => None,
    }
}

/// The identity of a heap, which the handles it hands out carry (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeapId(NonZeroU32);

/// The next identity to hand out.
static NEXT_HEAP_ID: AtomicU32 = AtomicU32::new(1);

impl HeapId {
    /// A new identity, distinct from every other one handed out (until 2^32 - 1 of them have
    /// been, after which they repeat).
    pub(crate) fn fresh() -> HeapId {
        loop {
            if let Some(id) = NonZeroU32::new(NEXT_HEAP_ID.fetch_add(1, Ordering::Relaxed)) {
                return HeapId(id);
            }
        }
    }

    /// The identity as a number (for messages).
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

/// A reference to a heap object or an i31 value. See the module docs for ownership and heap
/// identity.
///
/// `#[must_use]`: an owned handle left unused is a count that nothing will release. Release it
/// with [`crate::Heap::drop_ref`], or keep its count as a raw word with [`GcRef::into_raw`].
#[must_use = "a GcRef is one reference count: release it with `Heap::drop_ref` or keep it with `into_raw`"]
#[derive(PartialEq, Eq, Hash)]
pub struct GcRef {
    raw: NonZeroU32,
    /// The heap the handle is bound to, 0 when unbound.
    heap: u32,
}

impl GcRef {
    /// Wraps a raw word as an unbound reference (see the module docs), or `None` for the null
    /// word 0.
    ///
    /// This does not take a reference count: use it for words that already own one (handed back
    /// by JIT code, for example), or pass the result to [`crate::Heap::retain_raw`] first. The
    /// word is not trusted: every heap operation validates it (only the start of a live object
    /// of the heap is accepted).
    #[inline]
    pub const fn from_raw_u32(raw: u32) -> Option<GcRef> {
        match NonZeroU32::new(raw) {
            Some(raw) => Some(GcRef { raw, heap: 0 }),
            None => None,
        }
    }

    /// The word as a reference bound to `heap` (an i31 stays unbound), or `None` for 0.
    #[inline]
    pub(crate) const fn bound(raw: u32, heap: HeapId) -> Option<GcRef> {
        match NonZeroU32::new(raw) {
            Some(raw) => Some(GcRef { raw, heap: if raw.get() & I31_TAG != 0 { 0 } else { heap.0.get() } }),
            None => None,
        }
    }

    /// The heap this handle is bound to; `None` for an unbound one (from a raw word, or an i31).
    #[inline]
    pub const fn heap(&self) -> Option<HeapId> {
        match NonZeroU32::new(self.heap) {
            Some(id) => Some(HeapId(id)),
            None => None,
        }
    }

    /// The word, if this handle may be used with the heap `heap`: unbound, or bound to it.
    #[inline]
    pub(crate) fn word_for(&self, heap: HeapId) -> Result<u32, crate::Error> {
        if self.heap == 0 || self.heap == heap.0.get() {
            Ok(self.raw.get())
        } else {
            Err(crate::Error::ForeignReference { raw: self.raw.get() })
        }
    }

    /// The i31 reference holding the low 31 bits of `value` (as Wasm's `ref.i31`).
    #[inline]
    pub const fn from_i31(value: i32) -> GcRef {
        let raw = ((value as u32) << I31_SHIFT) | I31_TAG;
        match NonZeroU32::new(raw) {
            Some(raw) => GcRef { raw, heap: 0 },
            // The low bit is set, so `raw` is never zero.
            None => unreachable!(),
        }
    }

    /// The raw word: an object offset, or an i31 value tagged in bit 0.
    #[inline]
    pub const fn as_raw_u32(&self) -> u32 {
        self.raw.get()
    }

    /// Consumes the handle into its raw word (as [`GcRef::as_raw_u32`]), running no drop logic
    /// and touching no heap.
    ///
    /// For an object reference the caller now owns the reference count the handle stood for,
    /// in the word: the object stays alive on that count until it is given back, typically by
    /// rebuilding a handle with [`GcRef::from_raw_u32`] and passing it to
    /// [`crate::Heap::drop_ref`] (or by storing the word somewhere that owns a count, such as a
    /// reference field written by JIT code). Losing the word leaks the count, as dropping the
    /// handle would; for [`crate::Heap::verify`] the word is a host root, as the handle was.
    /// The heap identity is not kept: the handle rebuilt from the word is unbound. An i31 word
    /// owns no count.
    #[inline]
    pub const fn into_raw(self) -> u32 {
        self.raw.get()
    }

    /// Whether this is an i31 value rather than an object reference.
    #[inline]
    pub const fn is_i31(&self) -> bool {
        self.raw.get() & I31_TAG == I31_TAG
    }

    /// The i31 value sign-extended from 31 bits (Wasm's `i31.get_s`), if this is one.
    #[inline]
    pub const fn i31_signed(&self) -> Option<i32> {
        if self.is_i31() {
            Some((self.raw.get() as i32) >> I31_SHIFT)
        } else {
            None
        }
    }

    /// The i31 value zero-extended from 31 bits (Wasm's `i31.get_u`), if this is one.
    #[inline]
    pub const fn i31_unsigned(&self) -> Option<u32> {
        if self.is_i31() {
            Some(self.raw.get() >> I31_SHIFT)
        } else {
            None
        }
    }
}

impl fmt::Debug for GcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.i31_signed() {
            Some(value) => write!(f, "i31({value})"),
            None => write!(f, "object@{:#x}", self.raw.get()),
        }
    }
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
            assert_eq!(r.heap(), None);
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
        assert_eq!(r.as_raw_u32(), 32);
        assert_eq!(core::mem::size_of::<Option<GcRef>>(), 8);
        assert_eq!(r.heap(), None);
    }
}
