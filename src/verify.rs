//! Verification: recompute everything the heap keeps track of from the heap's own contents.
//!
//! This module holds the report and the bookkeeping of a walk (the live objects seen, in address
//! order, with the references counted to each) and imports nothing of the heap; the walk itself
//! is the heap's `src/heap/verify.rs` (and `src/heap/cycles.rs` for the cycle collector's state).
//!
//! [`crate::Heap::verify`] walks every block in address order and checks that
//! * the blocks tile the used part of the region, every object header decodes (known kind and
//!   flags, size in bounds), and each object's size agrees with its type (struct layout, array
//!   length, externref);
//! * every reference field and element names the start of a live object (or is null or i31);
//! * every object's count equals the references to it that the heap can see, plus the entries
//!   of the activations table, plus the host roots the caller passes in (one per owned `GcRef`
//!   it holds);
//! * each externref names a distinct live host data value, and there are no others;
//! * the free lists hold exactly the free blocks of the walk, each of the right size;
//! * the live object and byte counters agree with the walk;
//! * the cycle collector's state: every object is black or purple, purple exactly when flagged
//!   as buffered, and then marked in the candidate buffer, whose count is the number of
//!   buffered objects; the header's reserved field is 0; the acyclic flag agrees with the type
//!   ([`crate::cycle_collector`]).
//!
//! It allocates one vector of 8 bytes per live object (its offset and recomputed count, sorted
//! by offset since the walk is in address order; references are looked up by binary search),
//! reserved once from the live object counter so that it never grows by doubling, and costs
//! O(objects + references * log objects): a debugging and testing tool, run after every step of
//! the integration tests and by the zeal configuration. Keeping it small matters on the 4 MiB
//! Cortex-M test machines, where a full 1 MiB region holds 32,768 objects.

use crate::error::{Error, Result};
use crate::gc_ref::object_word;
use alloc::vec::Vec;

/// What [`crate::Heap::verify`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Live objects.
    pub objects: u64,
    /// Free blocks below the never-used tail.
    pub free_blocks: u64,
    /// References found inside objects.
    pub heap_references: u64,
}

/// A live object seen by the walk: its offset and the references to it counted so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeenObject {
    /// The object's offset.
    pub(crate) index: u32,
    references: u32,
}

impl SeenObject {
    /// The object at `index`, with no reference counted yet.
    pub(crate) fn new(index: u32) -> SeenObject {
        SeenObject { index, references: 0 }
    }

    /// The references to it counted so far.
    pub(crate) fn references(&self) -> u32 {
        self.references
    }
}

/// The live objects in address order.
pub(crate) type Counts = Vec<SeenObject>;

/// The position of the live object at `index` in `counts`, if there is one.
pub(crate) fn find_object(counts: &[SeenObject], index: u32) -> Option<usize> {
    counts.binary_search_by_key(&index, |object| object.index).ok()
}

/// A verification failure at `offset`: `what` was `found` where `expected` was.
pub(crate) fn mismatch(offset: u32, what: &'static str, found: u64, expected: u64) -> Error {
    Error::VerifyFailed { offset, what, found, expected }
}

/// Counts one reference `raw` (found in the object at `from`, 0 for a root) to the live object
/// it names; nothing for null and i31 words, an error for a word that names no live object.
pub(crate) fn count_reference(counts: &mut Counts, raw: u32, from: u32) -> Result<()> {
    let Some(raw) = object_word(raw) else { return Ok(()) };
    match find_object(counts, raw) {
        Some(position) => {
            counts[position].references += 1;
            Ok(())
        }
        None => Err(mismatch(from, "reference to something that is not a live object", raw as u64, 0)),
    }
}
