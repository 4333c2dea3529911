//! Zeal: a debugging configuration that makes heap bugs show up close to their cause.
//!
//! A reference-counting bug frees a live object or keeps a dead one, silently, and the damage
//! shows much later, somewhere else. Zeal trades speed for early detection, in three independent
//! checks that any embedder can turn on through [`crate::HeapConfig::zeal`]:
//!
//! * **Poison freed memory** ([`Zeal::poison_freed_memory`]): the body of every freed block (the
//!   bytes after its 16-byte free-block header) is filled with [`POISON`]. When a block is handed
//!   out again, its body is checked first; a byte that changed means something wrote to freed
//!   memory (a use after free), and the allocation fails with [`Error::Corrupted`]. The
//!   collection check below also checks every free block. The poison bytes are chosen so that a
//!   read of freed memory as a reference word (`0xA6A6_A6A6`) is neither null, nor an i31, nor a
//!   16-aligned object index, and as a kind byte is no kind: using it fails validation at once.
//!   Free blocks that the free list merged (coalescing) keep the 16-byte headers of the blocks
//!   they were made of inside their bodies; the check accepts those (a granule whose bytes 0..4
//!   are zero and whose size and link words are 16-aligned), so it needs no hook in the free
//!   list. Bytes the heap has never handed out (above the high-water mark) are the
//!   caller's memory, never written, and never checked: zeal does not touch pages a big mapped
//!   region has not used.
//! * **Verify after every collection** ([`Zeal::verify_after_collection`]): when a collection
//!   completes, the heap runs [`crate::Heap::verify_lower_bound`] (and the poison check of every
//!   free block when poisoning is on), and the step that completes the collection returns its
//!   error. The exact [`crate::Heap::verify`] needs the embedder's host roots, which the heap
//!   does not know; the lower-bound mode is sound without them (every check it makes holds in
//!   every correct heap) and still finds a dangling reference, a count too low (the cause of an
//!   early free), a broken free list, a lost host data value or a wrong counter. A count too high
//!   (a leak) needs the exact verify.
//! * **Force a collection every N allocations** ([`Zeal::fail_every_nth_allocation`]): the heap
//!   cannot collect by itself (only the embedder can walk its stack), so after every N
//!   allocations that succeeded, the next one fails with the retryable [`Error::OutOfMemory`].
//!   A correct embedder collects and retries, as it must do for a real out-of-memory error, and
//!   the retry succeeds: collections then happen far more often than they would, and a root the
//!   embedder forgot to report is freed early and found. No failure is forced inside a no-GC
//!   scope, where the embedder may not collect.
//!
//! * **Invalid roots are errors** ([`Zeal::invalid_roots_are_errors`]): a collection skips a
//!   Wasm-stack root or bump-chunk word that names no live object (and counts it); with this on,
//!   it fails with [`Error::InvalidReference`] instead.
//!
//! This module holds the settings, the state zeal keeps and the poison check over bytes, and
//! imports nothing of the heap; the hooks the heap calls (before and after an allocation, when
//! an object is freed, at a reset, after a collection) are the heap's `src/heap/zeal.rs`.
//!
//! All checks are off by default. They cost: poisoning writes every freed byte and reads every
//! reused one; verification is O(objects + references + free bytes) per collection; forced
//! failures cost the collections they cause.

use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, SIZE_OFFSET, TYPE_INDEX_OFFSET};
use core::num::NonZeroU32;

/// The byte that fills freed memory when [`Zeal::poison_freed_memory`] is on.
pub const POISON: u8 = 0xA6;

/// The zeal settings. See the module documentation.
///
/// ```
/// use drc_heap::{zeal::Zeal, Heap, HeapConfig, HeapMemory};
/// let memory: &'static mut HeapMemory<65536> = Box::leak(Box::new(HeapMemory::new()));
/// let config = HeapConfig::default().with_zeal(Zeal::all_checks(64));
/// let heap: Heap<()> = Heap::with_config(memory.bytes(), config)?;
/// # drop(heap);
/// # Ok::<(), drc_heap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Zeal {
    /// Fill freed blocks with [`POISON`] and check it when they are handed out again.
    pub poison_freed_memory: bool,
    /// Run [`crate::Heap::verify_lower_bound`] (and check the poison of every free block) at
    /// the end of every collection.
    pub verify_after_collection: bool,
    /// After every N allocations that succeeded, fail the next one with
    /// [`Error::OutOfMemory`] so that the embedder collects (never inside a no-GC scope).
    pub fail_every_nth_allocation: Option<NonZeroU32>,
    /// A Wasm-stack root or bump-chunk word that names no live object fails the collection
    /// with [`Error::InvalidReference`], instead of being skipped and counted (see
    /// [`crate::collector`]): a stack map or JIT code that reports garbage is found at once.
    pub invalid_roots_are_errors: bool,
}

impl Zeal {
    /// No check (the same as `Zeal::default()`); turn them on one by one with the setters.
    pub const fn none() -> Zeal {
        Zeal {
            poison_freed_memory: false,
            verify_after_collection: false,
            fail_every_nth_allocation: None,
            invalid_roots_are_errors: false,
        }
    }

    /// Every check, with a forced collection after every `n` allocations (none if `n` is 0).
    pub const fn all_checks(n: u32) -> Zeal {
        Zeal {
            poison_freed_memory: true,
            verify_after_collection: true,
            fail_every_nth_allocation: NonZeroU32::new(n),
            invalid_roots_are_errors: true,
        }
    }

    /// These settings with poisoning on or off.
    pub const fn with_poison(mut self, on: bool) -> Zeal {
        self.poison_freed_memory = on;
        self
    }

    /// These settings with verification after each collection on or off.
    pub const fn with_verify_after_collection(mut self, on: bool) -> Zeal {
        self.verify_after_collection = on;
        self
    }

    /// These settings with invalid root words failing collections (on) or skipped (off).
    pub const fn with_invalid_roots_are_errors(mut self, on: bool) -> Zeal {
        self.invalid_roots_are_errors = on;
        self
    }

    /// These settings with a forced [`Error::OutOfMemory`] after every `n` allocations (none if
    /// `n` is 0).
    pub const fn with_fail_every_nth_allocation(mut self, n: u32) -> Zeal {
        self.fail_every_nth_allocation = NonZeroU32::new(n);
        self
    }
}

/// What zeal keeps track of in a heap (outside the region).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ZealState {
    /// Allocations that succeeded since the last forced failure.
    allocations: u32,
    /// The end of the highest block ever handed out: every byte between the wilderness and
    /// this mark is freed memory (poisoned); above it, the caller's memory was never touched.
    high_water: u32,
}

impl ZealState {
    /// Whether the next allocation is the forced failure (`every` allocations succeeded since
    /// the last one); if so the count starts again.
    #[inline]
    pub(crate) fn take_forced_failure(&mut self, every: NonZeroU32) -> bool {
        let due = self.allocations >= every.get();
        if due {
            self.allocations = 0;
        }
        due
    }

    /// Counts an allocation that succeeded.
    #[inline]
    pub(crate) fn count_allocation(&mut self) {
        self.allocations = self.allocations.saturating_add(1);
    }

    /// Starts the count of allocations again (the heap was reset).
    pub(crate) fn restart_allocations(&mut self) {
        self.allocations = 0;
    }

    /// The end of the highest block ever handed out.
    #[inline]
    pub(crate) fn high_water(&self) -> u32 {
        self.high_water
    }

    /// Moves the high-water mark to `end`.
    #[inline]
    pub(crate) fn set_high_water(&mut self, end: u32) {
        self.high_water = end;
    }
}

/// Whether the 16 bytes are a free-block header (see [`crate::free_list`]): kind, flags and
/// reserved bytes zero, a non-zero 16-aligned size, and 16-aligned words at offsets 4 and 12
/// (the free list's links, or zero).
fn is_free_block_header(granule: &[u8]) -> bool {
    let word = |at: u32| {
        let at = at as usize;
        u32::from_ne_bytes([granule[at], granule[at + 1], granule[at + 2], granule[at + 3]])
    };
    word(0) == 0
        && word(12) % HEADER_SIZE == 0
        && word(TYPE_INDEX_OFFSET) % HEADER_SIZE == 0
        && word(SIZE_OFFSET) != 0
        && word(SIZE_OFFSET) % HEADER_SIZE == 0
}

/// Checks that every granule of `bytes`, the region's bytes from offset `start` (16-aligned),
/// is poison or a free-block header.
pub(crate) fn check_poison(bytes: &[u8], start: u32) -> Result<()> {
    for (i, granule) in bytes.chunks(HEADER_SIZE as usize).enumerate() {
        if granule.iter().all(|&b| b == POISON) {
            continue;
        }
        if granule.len() == HEADER_SIZE as usize && is_free_block_header(granule) {
            continue;
        }
        let at = start + i as u32 * HEADER_SIZE;
        return Err(Error::corrupted(at, "freed memory was written (poison overwritten): a use after free"));
    }
    Ok(())
}
