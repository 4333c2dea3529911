//! What the harness is built from: a seed mixer, i31 normalization, borrowed handles, host root
//! slots (`Slot`), the caller's memory for a heap (`Memory`) and the run's statistics
//! (`RunStats`).

use super::values::MRef;
use drc_heap::GcRef;

/// splitmix64: spreads a small seed over 64 bits.
pub(super) fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn i31(value: i32) -> i32 {
    (value << 1) >> 1
}

/// A borrowed handle to a word that some root keeps alive: no count is taken or given.
pub(super) fn handle(word: u32) -> Option<GcRef> {
    GcRef::from_raw_u32(word)
}

/// A host root: an owned reference (or null) and what the model says it is.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) gc: Option<GcRef>,
    pub(super) m: MRef,
}

impl Slot {
    pub(super) fn null() -> Slot {
        Slot { gc: None, m: MRef::Null }
    }

    pub(super) fn word(&self) -> u32 {
        self.gc.as_ref().map_or(0, GcRef::as_raw_u32)
    }
}

/// The caller's memory for a heap: a boxed buffer held by raw pointer (so that moving the
/// harness never retags it), freed after the heap.
pub(super) struct Memory {
    pub(super) words: *mut [u128],
}

impl Memory {
    pub(super) fn new(len: usize) -> Memory {
        Memory { words: Box::into_raw(vec![0u128; len / 16].into_boxed_slice()) }
    }

    pub(super) fn base(&self) -> *mut u8 {
        self.words.cast::<u8>()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: `words` came from `Box::into_raw` in `new` and is freed only here; the heap
        // that used it was dropped before (it is declared before the memory in `Harness`).
        drop(unsafe { Box::from_raw(self.words) });
    }
}

/// What a run did, for reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    pub ops: u64,
    pub expected_errors: u64,
    pub complete_collections: u64,
    pub abandoned_collections: u64,
    pub forced_retries: u64,
    pub max_objects: u64,
    pub corruptions: u64,
    pub heap_errors_after_corruption: u64,
}
