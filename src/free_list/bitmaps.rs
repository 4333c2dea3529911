//! The free list's bitmap in host memory, which nothing written into the region can forge:
//! two bits per granule, in one array (`bits`) so that an allocation or a free of a small
//! block reads and writes one word of it:
//! * the *object bit* (the even bit of a pair): "an allocated block starts here", which tells
//!   the heap whether a word from anywhere is the start of a live object;
//! * the *listed bit* (the odd bit): "a listed free block starts or ends here", which tells a
//!   free whether its neighbours are free.
//!
//! A listed free block is always followed by an object (no two free blocks are neighbours, and
//! a free block never ends at `top`), so the two bits of a granule read as a code:
//!
//! | object | listed | code          | meaning                                                   |
//! |--------|--------|---------------|-----------------------------------------------------------|
//! | 0      | 0      | [`NONE`]      | no block starts here, or the designated victim, or `top`  |
//! | 1      | 0      | [`OBJECT`]    | an object starts here, after an object or the victim      |
//! | 0      | 1      | [`LISTED`]    | a listed free block starts here                           |
//! | 1      | 1      | [`AFTER_FREE`]| an object starts here, right after a listed free block    |
//!
//! # Invariants
//! * The object bits are exact: set exactly at the start of every allocated block.
//! * A listed free block `[index, end)` has code [`LISTED`] at `index` and [`AFTER_FREE`] at
//!   `end`, and no other granule has a listed bit. The designated victim has no bits.
//! * The bitmap covers `[0, top]`: the wilderness is not handed out beyond what it covers.
//! * No bit is set above `peak_top`, so clearing up to it leaves the bitmap as new.
//! * It grows with `top`, an eighth more than asked; growing is amortised O(1) and may fail
//!   (the host has no memory), and then the wilderness is not used beyond it.
//!
//! # Use
//! Every query and update is O(1) and reads nothing from the region: the core `alloc` and
//! `free`, the lists, merging and the checks all go through the functions here.

use super::{FreeList, FOOTER_MIN, GRANULE};

/// Granules per word of the bitmap: two bits each, side by side, so that one free or
/// allocation of a small block touches one word.
pub(super) const WORD_GRANULES: usize = 32;
/// The object bits (the even bits) of a word.
pub(super) const OBJECT_BITS: u64 = 0x5555_5555_5555_5555;
/// The code of a granule where no listed block starts or ends and no object starts.
pub(super) const NONE: u64 = 0b00;
/// The code of an object start after an object (or the designated victim).
pub(super) const OBJECT: u64 = 0b01;
/// The code of a listed free block's start.
pub(super) const LISTED: u64 = 0b10;
/// The code of an object start right after a listed free block (that block's end).
pub(super) const AFTER_FREE: u64 = 0b11;

impl FreeList {
    /// The word and shift of the code of offset `offset`.
    #[inline(always)]
    pub(super) fn bit(offset: u32) -> (usize, u32) {
        let granule = (offset / GRANULE) as usize;
        (granule / WORD_GRANULES, 2 * (granule % WORD_GRANULES) as u32)
    }

    /// The code ([`NONE`], [`OBJECT`], [`LISTED`], [`AFTER_FREE`]) of offset `offset`, a
    /// multiple of 16 (`NONE` beyond the bitmap).
    #[inline(always)]
    pub(super) fn code(&self, offset: u32) -> u64 {
        let (word, shift) = Self::bit(offset);
        self.bits.get(word).map_or(NONE, |&w| w >> shift & 0b11)
    }

    #[inline]
    pub(super) fn is_listed_start(&self, offset: u32) -> bool {
        self.code(offset) == LISTED
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
        self.code(offset) == AFTER_FREE
    }

    /// Forgets the listed free block `[index, end)`.
    #[inline(always)]
    pub(super) fn unmark_listed(&mut self, index: u32, end: u32) {
        let ((start_word, start_shift), (end_word, end_shift)) = (Self::bit(index), Self::bit(end));
        if end_word < self.bits.len() {
            self.bits[start_word] &= !(LISTED << start_shift);
            self.bits[end_word] &= !(LISTED << end_shift);
        }
    }

    /// Clears the listed bit at `offset` (nothing beyond the bitmap).
    #[inline(always)]
    pub(super) fn clear_listed(&mut self, offset: u32) {
        let (word, shift) = Self::bit(offset);
        if let Some(word) = self.bits.get_mut(word) {
            *word &= !(LISTED << shift);
        }
    }

    /// The highest listed start below `offset` and at most [`FOOTER_MIN`] bytes below it, if
    /// the bitmap has one within the three words it looks at.
    #[inline]
    pub(super) fn listed_start_just_below(&self, offset: u32) -> Option<u32> {
        let (word, shift) = Self::bit(offset);
        let mut found = None;
        for back in 0..3 {
            let Some(&w) = word.checked_sub(back).and_then(|w| self.bits.get(w)) else { break };
            // Code LISTED: the listed bit without the object bit, moved onto the even bit.
            let listed = w >> 1 & !w & OBJECT_BITS;
            let starts = if back == 0 { listed & ((1u64 << shift) - 1) } else { listed };
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
        index % GRANULE == 0 && self.code(index) & OBJECT != 0
    }

    /// Number of allocated blocks the bitmap records.
    pub(super) fn allocated_starts(&self) -> u64 {
        self.bits.iter().map(|word| (word & OBJECT_BITS).count_ones() as u64).sum()
    }

    /// Numbers of granules with code [`LISTED`] and with code [`AFTER_FREE`].
    pub(super) fn listed_codes(&self) -> (u64, u64) {
        self.bits.iter().fold((0, 0), |(starts, ends), &w| {
            let listed = w >> 1 & OBJECT_BITS;
            ((listed & !w).count_ones() as u64 + starts, (listed & w).count_ones() as u64 + ends)
        })
    }

    /// Clears the bitmap up to the highest `top` since the last clear (every bit it may hold).
    pub(super) fn clear_bitmap(&mut self) {
        let peak = self.peak_top.max(self.top);
        let used_words = (peak as usize / GRANULE as usize / WORD_GRANULES + 1).min(self.bits.len());
        self.bits[..used_words].fill(0);
        self.highest_top_before_clear = self.highest_top_before_clear.max(peak);
        self.peak_top = self.top;
    }

    /// Grows the bitmap to cover the offsets `[0, end]` and an eighth more (so that growing
    /// stays amortised O(1) without holding twice the memory it needs); false if the host
    /// cannot give the memory (then no block may be handed out that ends beyond it).
    #[cold]
    pub(super) fn cover(&mut self, end: u32) -> bool {
        let words = end as usize / GRANULE as usize / WORD_GRANULES + 1;
        if words > self.bits.len() {
            let want = (words + words / 8).max(64);
            if self.bits.try_reserve_exact(want - self.bits.len()).is_err() {
                return false;
            }
            self.bits.resize(want, 0);
        }
        true
    }

    /// Bytes of host memory the bitmap holds.
    /// Only `BlockAllocator` asks, so it is compiled with it.
    #[cfg(any(test, feature = "block-allocator"))]
    pub(crate) fn side_table_bytes(&self) -> usize {
        self.bits.capacity() * core::mem::size_of::<u64>()
    }
}
