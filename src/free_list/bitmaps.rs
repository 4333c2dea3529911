//! The free list's two bitmaps in host memory, which nothing written into the region can
//! forge:
//! * the *boundary bitmap* (`bounds`): two bits per granule, "a listed free block starts here"
//!   and "a listed free block ends here", which tell a free whether its neighbours are free;
//! * the *block-start bitmap* (`starts`): one bit per granule, "an allocated block starts
//!   here", which tells the heap whether a word from anywhere is the start of a live object.
//!
//! # Invariants
//! * A listed free block `[index, end)` has its start bit at `index` and its end bit at `end`
//!   whenever the boundary bitmap covers `end`; otherwise `unmerged` is set, and `coalesce` has
//!   work to do. The designated victim has no bits.
//! * The block-start bitmap is exact: a bit is set exactly for the start of an allocated block.
//!   It covers `[0, top)`: the wilderness is not handed out beyond what it covers.
//! * No bit of either is set at or above `peak_top`, so clearing below it leaves both as new.
//! * Both grow with `top`, an eighth more than asked; growing is amortised O(1) and may fail
//!   (the host has no memory), which costs merging or wilderness, never correctness.
//!
//! # Use
//! Every query and update is O(1) and reads nothing from the region: the core `alloc` and
//! `free`, the lists, merging and the checks all go through the functions here.

use super::{FreeList, FOOTER_MIN, GRANULE};

/// Granules per word of the boundary bitmap: two bits each, "a listed free block starts here"
/// (the even bit) and "a listed free block ends here" (the odd bit), side by side so that one
/// free or allocation of a small block touches one cache line of the bitmap.
pub(super) const WORD_GRANULES: usize = 32;
/// The start bits of a bitmap word.
pub(super) const START_BITS: u64 = 0x5555_5555_5555_5555;
/// Granules per word of the start bitmap (one bit each).
pub(super) const START_WORD_GRANULES: usize = 64;

impl FreeList {
    /// The word and bit of the start bit of offset `offset` (the end bit is the next one).
    #[inline]
    pub(super) fn bound_bit(offset: u32) -> (usize, u32) {
        let granule = (offset / GRANULE) as usize;
        (granule / WORD_GRANULES, 2 * (granule % WORD_GRANULES) as u32)
    }

    #[inline]
    pub(super) fn is_listed_start(&self, offset: u32) -> bool {
        let (word, bit) = Self::bound_bit(offset);
        self.bounds.get(word).is_some_and(|w| w >> bit & 1 != 0)
    }

    /// Whether a free block (listed, or the designated victim) starts at `offset`.
    /// Only `BlockAllocator` asks, so it is compiled with it.
    #[cfg(any(test, feature = "block-allocator"))]
    #[inline]
    pub(super) fn is_free_start(&self, offset: u32) -> bool {
        self.is_listed_start(offset) || (self.dv_size != 0 && offset == self.dv_start)
    }

    #[inline]
    pub(super) fn is_listed_end(&self, offset: u32) -> bool {
        let (word, bit) = Self::bound_bit(offset);
        self.bounds.get(word).is_some_and(|w| w >> (bit + 1) & 1 != 0)
    }

    /// Records the listed free block `[index, end)` in the bitmap.
    #[inline(always)]
    pub(super) fn mark_listed(&mut self, index: u32, end: u32) {
        let ((start_word, start_bit), (end_word, end_bit)) = (Self::bound_bit(index), Self::bound_bit(end));
        if end_word < self.bounds.len() {
            self.bounds[start_word] |= 1 << start_bit;
            self.bounds[end_word] |= 2 << end_bit;
        } else {
            self.unmerged = true;
        }
    }

    /// Forgets the listed free block `[index, end)` in the bitmap.
    #[inline(always)]
    pub(super) fn unmark_listed(&mut self, index: u32, end: u32) {
        let ((start_word, start_bit), (end_word, end_bit)) = (Self::bound_bit(index), Self::bound_bit(end));
        if end_word < self.bounds.len() {
            self.bounds[start_word] &= !(1 << start_bit);
            self.bounds[end_word] &= !(2 << end_bit);
        }
    }

    /// The highest listed start below `offset` and at most [`FOOTER_MIN`] bytes below it, if
    /// the bitmap has one within the three words it looks at.
    #[inline]
    pub(super) fn listed_start_just_below(&self, offset: u32) -> Option<u32> {
        let (word, bit) = Self::bound_bit(offset);
        let mut found = None;
        for back in 0..3 {
            let Some(w) = word.checked_sub(back).and_then(|w| self.bounds.get(w)) else { break };
            let mask = if back == 0 { START_BITS & ((1u64 << bit) - 1) } else { START_BITS };
            let starts = w & mask;
            if starts != 0 {
                let granule = (word - back) * WORD_GRANULES + (63 - starts.leading_zeros() as usize) / 2;
                found = Some(granule as u32 * GRANULE);
                break;
            }
        }
        found.filter(|&start| offset - start <= FOOTER_MIN)
    }

    /// Whether an allocated block (an object) starts at `index`.
    #[inline(always)]
    pub(crate) fn is_allocated(&self, index: u32) -> bool {
        let granule = (index / GRANULE) as usize;
        index % GRANULE == 0
            && self
                .starts
                .get(granule / START_WORD_GRANULES)
                .is_some_and(|w| w >> (granule % START_WORD_GRANULES) & 1 != 0)
    }

    /// Number of allocated blocks the start bitmap records.
    pub(super) fn allocated_starts(&self) -> u64 {
        self.starts.iter().map(|word| word.count_ones() as u64).sum()
    }

    /// Clears the bitmap below the highest `top` since the last clear (every bit it may hold).
    pub(super) fn clear_bitmaps(&mut self) {
        let peak = self.peak_top.max(self.top);
        let used_words = (peak as usize / GRANULE as usize / WORD_GRANULES + 1).min(self.bounds.len());
        self.bounds[..used_words].fill(0);
        self.peak_top = self.top;
    }

    /// Grows the bitmap to cover the offsets `[0, end]` and an eighth more (so that growing
    /// stays amortised O(1) without holding twice the memory it needs). If the host cannot give
    /// the memory, blocks above the covered part are simply not merged on free.
    #[cold]
    pub(super) fn cover(&mut self, end: u32) {
        let words = end as usize / GRANULE as usize / WORD_GRANULES + 1;
        if words > self.bounds.len() {
            let want = (words + words / 8).max(64);
            if self.bounds.try_reserve_exact(want - self.bounds.len()).is_ok() {
                self.bounds.resize(want, 0);
            }
        }
    }

    /// Grows the start bitmap to cover `[0, end)` and an eighth more; false if the host cannot
    /// give the memory (then no block may be handed out at or above its end).
    #[cold]
    pub(super) fn cover_starts(&mut self, end: u32) -> bool {
        let words = (end as usize / GRANULE as usize).div_ceil(START_WORD_GRANULES);
        if words > self.starts.len() {
            let want = (words + words / 8).max(32);
            if self.starts.try_reserve_exact(want - self.starts.len()).is_err() {
                return false;
            }
            self.starts.resize(want, 0);
        }
        true
    }

    /// Bytes of host memory the bitmap holds.
    /// Only `BlockAllocator` asks, so it is compiled with it.
    #[cfg(any(test, feature = "block-allocator"))]
    pub(crate) fn side_table_bytes(&self) -> usize {
        (self.bounds.capacity() + self.starts.capacity()) * core::mem::size_of::<u64>()
    }
}
