//! The free list: an intrusive, segregated-fit allocator of 16-byte-granular blocks that merges
//! a freed block with its free neighbours at once, in O(1).
//!
//! # Layout
//! The region is `[0, 16)` (reserved, so that offset 0 is null), then blocks from offset 16 up
//! to `top`, then the *wilderness* `[top, region end)`, never yet handed out (or given back).
//! Every block below `top` is either an object (see [`crate::header`]) or a free block, and both
//! keep their size in the `u32` at offset 8, so the blocks tile `[16, top)` and can be walked in
//! order. A free block starts with its header:
//!
//! | offset | field                                                       |
//! |--------|-------------------------------------------------------------|
//! | 0      | kind byte [`FREE_KIND`] (0), then 3 zero bytes              |
//! | 4      | next free block of the same list (0 = end)                  |
//! | 8      | size in bytes                                               |
//! | 12     | previous free block of the same list (stale at the head)    |
//!
//! A free block larger than 1024 bytes also ends with a *footer*: its last granule is
//! `[0, 0, size, 0]` (as words). Inside free memory there are only such *plain* granules
//! (links zero: old headers of merged blocks, footers) and bytes the free list never wrote, so
//! the zeal poison check (`crate::zeal`) keeps working. Links are region offsets, never native
//! pointers.
//!
//! # Lists
//! * **Small classes**: one list per exact size 16, 32, ..., 512 ([`SMALL_CLASSES`]), with a
//!   `u32` bitmap of the non-empty ones.
//! * **Large bins** for blocks above 512 bytes, two-level as in TLSF: a size's bin is its power
//!   of two and the next four bits below it (sizes in one bin differ by less than 1/16), with a
//!   bitmap of levels and one of bins per level.
//!
//! Every list is LIFO (push and pop at the head) and doubly linked, so a block can be taken out
//! of the middle of its list when a neighbour is freed: O(1), nothing ever walks a list.
//!
//! # Allocation order
//! 1. The exact small class (the hot path: a pop).
//! 2. A small request then takes the *designated victim* (a free block in no list, as in
//!    dlmalloc) if it is large enough, carving it front first; else the smallest listed block
//!    that fits (a larger small class, else the head of the request's own large bin if it fits,
//!    else the first non-empty bin whose blocks all fit), whose rest becomes the new designated
//!    victim. A large request takes the smallest listed block that fits the same way (its rest
//!    is listed), else the designated victim.
//! 3. The wilderness (bump).
//!
//! This is an O(1) approximation of best fit, which on the allocator trace of `bench/` keeps the
//! footprint below that of talc and rlsf.
//!
//! # Merging
//! A free merges the block with a free neighbour on either side at once, and a block that then
//! reaches `top` goes back to the wilderness; so no two free blocks are ever neighbours and a
//! heap whose objects are all freed is one free block (the wilderness) again. A neighbour that
//! is the designated victim is recognised by its offsets; whether another neighbour is free is
//! read from a bitmap in host memory (two bits per granule: "a listed free block
//! starts here", "one ends here"), never from the region: an object's own bytes can imitate a
//! free block, but cannot make the free list merge with it. The start of a free block before the
//! freed one is found in that bitmap (at most three words back) or, for a block larger than
//! 1024 bytes, from its footer, checked against the bitmap and the block's header. The bitmap
//! grows with `top` (1/64 of the bytes below it, plus an eighth): it is the price of merging at
//! once without trusting the region, and `bench/` reports the footprint with and without it. If
//! the host cannot grow it, blocks above the covered part are not merged on free and
//! `coalesce` ([`BlockAllocator::coalesce`]) merges them in one pass (otherwise it has nothing to do).
//!
//! # Allocated blocks
//! A second host-side bitmap has one bit per granule: "an allocated block starts here". Every
//! allocation sets its bit and every free clears it (a free of anything else, such as a point
//! inside a block or a block freed already, is refused), so it is exact. The heap checks it
//! before it reads a header at a word that came from anywhere (a host handle, a field, a root,
//! the bump chunk): a word pointing inside an object, even at a well-formed fake header written
//! there by ordinary stores, or at a freed block, is refused without its bytes being read. It
//! costs 1/128 of the bytes below `top` in host memory; if that memory cannot grow, the
//! wilderness is not used beyond what the bitmap covers. Both bitmaps are cleared below the
//! highest `top` since their last clear, so a reset leaves them as new whatever happened.
//!
//! # Costs
//! Allocation from an exact class: one read of the head block, one bitmap word updated. A free
//! with no free neighbour: one bitmap word read, the block's header written, one link written
//! in the previous head, one bitmap word updated; it reads nothing from the region. Merging adds
//! reads of the neighbours' headers and of their list neighbours. Nothing is O(n) but
//! the walks that check the heap ([`BlockAllocator::check`]), `largest_free_block` (the largest
//! bin's list) and a `coalesce` that has work to do.
//!
//! # Validation
//! Every link, kind byte and size read from the region is checked before use: a block that is
//! out of bounds, misaligned, not marked free, of the wrong size for its list, whose links
//! disagree with its neighbours in the list, or that disagrees with the bitmap is reported as
//! [`Error::Corrupted`].
//!
//! # [`BlockAllocator`]
//! The free list as a plain public allocator over a caller region (`alloc`, `free`, `coalesce`,
//! statistics and access to block bytes), so that code outside the crate, such as the
//! benchmarks in `bench/`, can drive it. It writes the minimal header a GC object would (kind
//! and size), as the heap does on every allocation. `free` checks that header first;
//! `free_trusted` trusts the caller's size as an allocator's `dealloc` does and reads nothing
//! from the block (misuse still cannot cause undefined behaviour).

use crate::error::{Error, Result};
use crate::header::{FREE_KIND, HEADER_SIZE, REF_COUNT_OFFSET, SIZE_OFFSET, TYPE_INDEX_OFFSET};
use crate::region::Region;
use alloc::vec::Vec;

/// Block granularity and minimum block size.
pub const GRANULE: u32 = 16;
/// Number of exact small size classes: 16, 32, ..., 512 bytes.
pub const SMALL_CLASSES: usize = 32;
/// The largest small block.
pub const SMALL_MAX: u32 = GRANULE * SMALL_CLASSES as u32;
/// The largest block size: `u32::MAX` rounded down to the granularity.
pub const MAX_BLOCK: u32 = !(GRANULE - 1);
/// Offset of a free block's next link.
const NEXT_OFFSET: u32 = TYPE_INDEX_OFFSET;
/// Offset of a free block's previous link (meaningful except at the head of its list).
const PREV_OFFSET: u32 = REF_COUNT_OFFSET;
/// Second-level bits of the large bins: each power of two is cut into `1 << LARGE_SUB_BITS`
/// bins, so the sizes in one bin differ by less than 1/16.
const LARGE_SUB_BITS: u32 = 4;
/// Bins per power of two.
const LARGE_SUBS: usize = 1 << LARGE_SUB_BITS;
/// log2 of the smallest large bin's lower bound (512).
const LARGE_FIRST_LOG2: u32 = 9;
/// Number of powers of two the large bins cover: 2^9 ..= 2^31.
const LARGE_LEVELS: usize = (32 - LARGE_FIRST_LOG2) as usize;
/// Number of large bins.
const LARGE_BINS: usize = LARGE_LEVELS * LARGE_SUBS;
/// Number of lists: the small classes, then the large bins.
const LISTS: usize = SMALL_CLASSES + LARGE_BINS;
/// Granules per word of the boundary bitmap: two bits each, "a listed free block starts here"
/// (the even bit) and "a listed free block ends here" (the odd bit), side by side so that one
/// free or allocation of a small block touches one cache line of the bitmap.
const WORD_GRANULES: usize = 32;
/// The start bits of a bitmap word.
const START_BITS: u64 = 0x5555_5555_5555_5555;
/// Granules per word of the start bitmap (one bit each).
const START_WORD_GRANULES: usize = 64;
/// Free blocks larger than this end with a footer (a plain granule holding their size), so a
/// block freed after one finds its start. Smaller ones are found in the bitmap, at most three
/// words back (64 granules = 1024 bytes, at least).
const FOOTER_MIN: u32 = 2 * WORD_GRANULES as u32 * GRANULE;

/// The allocator state. It lives outside the region and holds only offsets, plus the one
/// piece of state the region cannot be trusted with: where listed free blocks start and end.
#[derive(Debug)]
pub(crate) struct FreeList {
    /// Start of the wilderness.
    top: u32,
    /// Bit `c`: small class `c` is non-empty.
    small_bitmap: u32,
    /// Bit `l`: some large bin of level `l` is non-empty.
    large_levels: u32,
    /// Bit `s` of entry `l`: large bin `l * LARGE_SUBS + s` is non-empty.
    large_bitmaps: [u32; LARGE_LEVELS],
    /// The head of every list (0 = empty): small classes, then large bins.
    heads: [u32; LISTS],
    /// Bytes in listed free blocks (the wilderness excluded).
    listed_bytes: u32,
    /// Number of listed free blocks.
    listed_blocks: u32,
    /// Number of calls to [`FreeList::coalesce`].
    coalesces: u64,
    /// The designated victim: a free block in no list that small requests missing their exact
    /// class are carved from, front first (`dv_size` 0: none, and then `dv_start` is 0 too).
    dv_start: u32,
    dv_size: u32,
    /// Bits `2g` and `2g + 1`: a listed free block starts (ends) at offset `16 * g`. Grows
    /// with `top`.
    bounds: Vec<u64>,
    /// Bit `g % 64` of word `g / 64`: an allocated block (an object) starts at offset `16 * g`.
    /// Set by every allocation and cleared by every free, so it is exact; covers `[0, top)`.
    /// It is how the heap knows that a word from anywhere (a host handle, a field, a root) is
    /// the start of a live object, not a point inside one, nor a block that was freed.
    starts: Vec<u64>,
    /// The highest `top` since the bitmap was last cleared: no bit is set at or above it (a
    /// bit is set only for a block below `top`), so clearing below it leaves the bitmap as
    /// new even after `top` went down past bits that corruption left behind.
    peak_top: u32,
    /// Some listed block has no bits in the bitmaps (they could not grow), so it may not have
    /// been merged with its neighbours: [`FreeList::coalesce`] has work to do.
    unmerged: bool,
}

/// One block met by [`FreeList::walk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// Offset of the block.
    pub index: u32,
    /// Size in bytes.
    pub size: u32,
    /// Whether it is a free block (rather than an object).
    pub free: bool,
}

/// A listed block's header, as read (and validated) from the region.
struct Listed {
    size: u32,
    next: u32,
    prev: u32,
}

/// The list of free blocks of `size` (a multiple of 16, at least 16).
#[inline]
fn list_of(size: u32) -> usize {
    if size <= SMALL_MAX {
        (size / GRANULE - 1) as usize
    } else {
        SMALL_CLASSES + large_bin(size)
    }
}

/// The bin holding free blocks of `size` (> 512).
#[inline]
fn large_bin(size: u32) -> usize {
    let log2 = 31 - size.leading_zeros();
    let sub = (size >> (log2 - LARGE_SUB_BITS)) as usize & (LARGE_SUBS - 1);
    (log2 - LARGE_FIRST_LOG2) as usize * LARGE_SUBS + sub
}

/// The lowest size that belongs to `bin`.
#[inline]
fn large_bin_min(bin: usize) -> u64 {
    let log2 = (bin / LARGE_SUBS) as u32 + LARGE_FIRST_LOG2;
    let sub = (bin % LARGE_SUBS) as u64;
    (1u64 << log2) + (sub << (log2 - LARGE_SUB_BITS))
}

/// The largest size that belongs to `bin`.
#[inline]
fn large_bin_max(bin: usize) -> u64 {
    if bin + 1 < LARGE_BINS {
        large_bin_min(bin + 1) - 1
    } else {
        u32::MAX as u64
    }
}

/// The sizes `list` may hold.
#[inline]
fn list_range(list: usize) -> (u64, u64) {
    if list < SMALL_CLASSES {
        let size = (list as u64 + 1) * GRANULE as u64;
        (size, size)
    } else {
        (large_bin_min(list - SMALL_CLASSES), large_bin_max(list - SMALL_CLASSES))
    }
}

/// A free block's header: kind 0, `next`, `size`, `prev`. With both links 0 it is also the
/// *plain* granule that free memory may hold anywhere (see the module docs).
#[inline]
fn free_header(size: u32, next: u32, prev: u32) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[NEXT_OFFSET as usize..NEXT_OFFSET as usize + 4].copy_from_slice(&next.to_ne_bytes());
    bytes[SIZE_OFFSET as usize..SIZE_OFFSET as usize + 4].copy_from_slice(&size.to_ne_bytes());
    bytes[PREV_OFFSET as usize..PREV_OFFSET as usize + 4].copy_from_slice(&prev.to_ne_bytes());
    bytes
}

impl FreeList {
    /// A free list with the whole region as wilderness.
    pub(crate) fn new() -> FreeList {
        FreeList {
            top: GRANULE,
            small_bitmap: 0,
            large_levels: 0,
            large_bitmaps: [0; LARGE_LEVELS],
            heads: [0; LISTS],
            listed_bytes: 0,
            listed_blocks: 0,
            coalesces: 0,
            dv_start: 0,
            dv_size: 0,
            bounds: Vec::new(),
            starts: Vec::new(),
            peak_top: GRANULE,
            unmerged: false,
        }
    }

    /// Forgets every block: the whole region is wilderness again. Clears the boundary bitmaps
    /// below the highest `top` since the last clear (two bits per granule), whatever happened
    /// since, and keeps their memory.
    pub(crate) fn reset(&mut self) {
        let peak = self.peak_top.max(self.top);
        let used_words = (peak as usize / GRANULE as usize / START_WORD_GRANULES + 1).min(self.starts.len());
        self.starts[..used_words].fill(0);
        self.clear_bitmaps();
        self.clear_lists();
        self.top = GRANULE;
        self.unmerged = false;
    }

    /// Empties every list, keeping `top`, the counters and the bitmap's memory.
    fn clear_lists(&mut self) {
        self.dv_start = 0;
        self.dv_size = 0;
        self.small_bitmap = 0;
        self.large_levels = 0;
        self.large_bitmaps = [0; LARGE_LEVELS];
        self.heads = [0; LISTS];
        self.listed_bytes = 0;
        self.listed_blocks = 0;
    }

    /// The offset where the wilderness begins; every block lies below it.
    #[inline]
    pub(crate) fn top(&self) -> u32 {
        self.top
    }

    /// How many times [`FreeList::coalesce`] was called.
    #[inline]
    pub(crate) fn coalesces(&self) -> u64 {
        self.coalesces
    }

    /// Rounds an object size up to a block size, or `None` if that overflows `u32`.
    #[inline]
    pub(crate) fn block_size(size: u32) -> Option<u32> {
        let rounded = size.checked_add(GRANULE - 1)? & !(GRANULE - 1);
        Some(rounded.max(GRANULE))
    }

    // ---------------------------------------------------------------------------------------
    // The block-start bitmap.

    /// The word and bit of the start bit of offset `offset` (the end bit is the next one).
    #[inline]
    fn bound_bit(offset: u32) -> (usize, u32) {
        let granule = (offset / GRANULE) as usize;
        (granule / WORD_GRANULES, 2 * (granule % WORD_GRANULES) as u32)
    }

    #[inline]
    fn is_listed_start(&self, offset: u32) -> bool {
        let (word, bit) = Self::bound_bit(offset);
        self.bounds.get(word).is_some_and(|w| w >> bit & 1 != 0)
    }

    /// Whether a free block (listed, or the designated victim) starts at `offset`.
    #[inline]
    fn is_free_start(&self, offset: u32) -> bool {
        self.is_listed_start(offset) || (self.dv_size != 0 && offset == self.dv_start)
    }

    #[inline]
    fn is_listed_end(&self, offset: u32) -> bool {
        let (word, bit) = Self::bound_bit(offset);
        self.bounds.get(word).is_some_and(|w| w >> (bit + 1) & 1 != 0)
    }

    /// Records the listed free block `[index, end)` in the bitmap.
    #[inline(always)]
    fn mark_listed(&mut self, index: u32, end: u32) {
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
    fn unmark_listed(&mut self, index: u32, end: u32) {
        let ((start_word, start_bit), (end_word, end_bit)) = (Self::bound_bit(index), Self::bound_bit(end));
        if end_word < self.bounds.len() {
            self.bounds[start_word] &= !(1 << start_bit);
            self.bounds[end_word] &= !(2 << end_bit);
        }
    }

    /// The highest listed start below `offset` and at most [`FOOTER_MIN`] bytes below it, if
    /// the bitmap has one within the three words it looks at.
    #[inline]
    fn listed_start_just_below(&self, offset: u32) -> Option<u32> {
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

    /// Checks that a block met by a walk has its start bit if it is an object, and not if free.
    pub(crate) fn check_start_bit(&self, block: Block) -> Result<()> {
        if self.is_allocated(block.index) == block.free {
            return Err(Error::VerifyFailed {
                offset: block.index,
                what: "allocated-block start bit",
                found: !block.free as u64 ^ 1,
                expected: !block.free as u64,
            });
        }
        Ok(())
    }

    /// Number of allocated blocks the start bitmap records.
    fn allocated_starts(&self) -> u64 {
        self.starts.iter().map(|word| word.count_ones() as u64).sum()
    }

    /// Clears the bitmap below the highest `top` since the last clear (every bit it may hold).
    fn clear_bitmaps(&mut self) {
        let peak = self.peak_top.max(self.top);
        let used_words = (peak as usize / GRANULE as usize / WORD_GRANULES + 1).min(self.bounds.len());
        self.bounds[..used_words].fill(0);
        self.peak_top = self.top;
    }

    /// Grows the bitmap to cover the offsets `[0, end]` and an eighth more (so that growing
    /// stays amortised O(1) without holding twice the memory it needs). If the host cannot give
    /// the memory, blocks above the covered part are simply not merged on free.
    #[cold]
    fn cover(&mut self, end: u32) {
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
    fn cover_starts(&mut self, end: u32) -> bool {
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
    pub(crate) fn side_table_bytes(&self) -> usize {
        (self.bounds.capacity() + self.starts.capacity()) * core::mem::size_of::<u64>()
    }

    // ---------------------------------------------------------------------------------------
    // Lists.

    #[inline]
    fn mark_non_empty(&mut self, list: usize) {
        if list < SMALL_CLASSES {
            self.small_bitmap |= 1 << list;
        } else {
            let bin = list - SMALL_CLASSES;
            self.large_bitmaps[bin / LARGE_SUBS] |= 1 << (bin % LARGE_SUBS);
            self.large_levels |= 1 << (bin / LARGE_SUBS);
        }
    }

    #[inline]
    fn mark_empty(&mut self, list: usize) {
        if list < SMALL_CLASSES {
            self.small_bitmap &= !(1 << list);
        } else {
            let (level, sub) = ((list - SMALL_CLASSES) / LARGE_SUBS, (list - SMALL_CLASSES) % LARGE_SUBS);
            self.large_bitmaps[level] &= !(1 << sub);
            if self.large_bitmaps[level] == 0 {
                self.large_levels &= !(1 << level);
            }
        }
    }

    /// Reads and validates a listed block: in bounds, aligned, marked free, of a size `list`
    /// may hold, inside `[16, top)`.
    #[inline]
    fn read_listed(&self, region: &Region, index: u32, list: usize) -> Result<Listed> {
        let listed = self.read_free(region, index)?;
        let (min, max) = list_range(list);
        if (listed.size as u64) < min || (listed.size as u64) > max {
            return Err(Error::corrupted(index, "free block size does not fit its list"));
        }
        Ok(listed)
    }

    /// Reads and validates a free block's header: in bounds, aligned, marked free, a size that
    /// is a multiple of 16 and ends at or below `top`.
    #[inline]
    fn read_free(&self, region: &Region, index: u32) -> Result<Listed> {
        if index < GRANULE || index % GRANULE != 0 || index >= self.top {
            return Err(Error::corrupted(index, "free-list link out of bounds"));
        }
        let bytes: [u8; 16] = region.read(index)?;
        if bytes[0] != FREE_KIND {
            return Err(Error::corrupted(index, "free-list link to a block not marked free"));
        }
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let size = word(SIZE_OFFSET);
        if size < GRANULE || size % GRANULE != 0 || size > self.top - index {
            return Err(Error::corrupted(index, "free block size out of bounds"));
        }
        Ok(Listed { size, next: word(NEXT_OFFSET), prev: word(PREV_OFFSET) })
    }

    /// Takes the head of the non-empty `list`; returns its offset and size.
    #[inline]
    fn pop(&mut self, region: &Region, list: usize) -> Result<(u32, u32)> {
        let index = self.heads[list];
        let block = self.read_listed(region, index, list)?;
        // The new head's prev link goes stale: a head is recognised as the head, never by it.
        self.heads[list] = block.next;
        if block.next == 0 {
            self.mark_empty(list);
        }
        self.unmark_listed(index, index + block.size);
        self.listed_bytes = self.listed_bytes.wrapping_sub(block.size);
        self.listed_blocks = self.listed_blocks.wrapping_sub(1);
        Ok((index, block.size))
    }

    /// Takes the listed block at `index` (already read as `block`) out of its list, in O(1).
    fn unlink(&mut self, region: &mut Region, index: u32, block: &Listed) -> Result<()> {
        let list = list_of(block.size);
        if self.heads[list] == index {
            self.heads[list] = block.next;
            if block.next == 0 {
                self.mark_empty(list);
            }
        } else {
            // Not the head, so `prev` is its predecessor and `next` its successor: both must be
            // free blocks that link back to it before either is written.
            if !Self::links_back(region, block.prev, NEXT_OFFSET, index)
                || (block.next != 0 && !Self::links_back(region, block.next, PREV_OFFSET, index))
            {
                return Err(Error::corrupted(index, "free-list links disagree"));
            }
            region.write_u32(block.prev + NEXT_OFFSET, block.next)?;
            if block.next != 0 {
                region.write_u32(block.next + PREV_OFFSET, block.prev)?;
            }
        }
        self.unmark_listed(index, index + block.size);
        self.listed_bytes = self.listed_bytes.wrapping_sub(block.size);
        self.listed_blocks = self.listed_blocks.wrapping_sub(1);
        Ok(())
    }

    /// Whether the block at `neighbour` is a free block whose link at `link` is `index`.
    #[inline]
    fn links_back(region: &Region, neighbour: u32, link: u32, index: u32) -> bool {
        match region.read::<16>(neighbour) {
            Ok(bytes) => {
                let at = link as usize;
                let linked = u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
                neighbour % GRANULE == 0 && bytes[0] == FREE_KIND && linked == index
            }
            Err(_) => false,
        }
    }

    /// Lists the free block of `size` bytes at `index` (its neighbours are not free): writes
    /// its header and, if it is larger than [`FOOTER_MIN`], its footer.
    #[inline]
    fn push(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        self.push_at(region, index, size, Self::bound_bit(index), Self::bound_bit(index + size))
    }

    /// [`FreeList::push`] with the bitmap positions of the block's start and end.
    #[inline(always)]
    fn push_at(
        &mut self,
        region: &mut Region,
        index: u32,
        size: u32,
        (start_word, start_bit): (usize, u32),
        (end_word, end_bit): (usize, u32),
    ) -> Result<()> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0 && index % GRANULE == 0);
        let list = if size <= SMALL_MAX {
            let class = (size / GRANULE - 1) as usize;
            self.small_bitmap |= 1 << class;
            class
        } else {
            let bin = large_bin(size);
            self.large_bitmaps[bin / LARGE_SUBS] |= 1 << (bin % LARGE_SUBS);
            self.large_levels |= 1 << (bin / LARGE_SUBS);
            SMALL_CLASSES + bin
        };
        let head = core::mem::replace(&mut self.heads[list], index);
        region.write(index, free_header(size, head, 0))?;
        if size > FOOTER_MIN {
            region.write(index + size - GRANULE, free_header(size, 0, 0))?;
        }
        if head != 0 {
            region.write_u32(head.wrapping_add(PREV_OFFSET), index)?;
        }
        if end_word < self.bounds.len() {
            self.bounds[start_word] |= 1 << start_bit;
            self.bounds[end_word] |= 2 << end_bit;
        } else {
            self.unmerged = true;
        }
        self.listed_bytes = self.listed_bytes.wrapping_add(size);
        self.listed_blocks = self.listed_blocks.wrapping_add(1);
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Allocation.

    /// Allocates a block of exactly `size` bytes (a non-zero multiple of 16) and returns its
    /// offset, or `Ok(None)` when no free block or wilderness is large enough right now. The
    /// block's bytes are unspecified; the caller writes a header at once.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0);
        let class = (size / GRANULE).wrapping_sub(1) as usize;
        let index = if class < SMALL_CLASSES && self.small_bitmap >> class & 1 != 0 {
            self.pop_small(region, class, size)?
        } else {
            match self.alloc_slow(region, size)? {
                Some(index) => index,
                None => return Ok(None),
            }
        };
        // Every block below `top` is covered (`alloc_slow` grows the bitmap with `top`).
        let granule = (index / GRANULE) as usize;
        match self.starts.get_mut(granule / START_WORD_GRANULES) {
            Some(word) => *word |= 1 << (granule % START_WORD_GRANULES),
            None => return Err(Error::corrupted(index, "allocated block outside the start bitmap")),
        }
        Ok(Some(index))
    }

    /// Pops the head of the non-empty small class `class`, whose blocks have `size` bytes: the
    /// hot path of allocation.
    #[inline(always)]
    fn pop_small(&mut self, region: &Region, class: usize, size: u32) -> Result<u32> {
        let index = self.heads[class];
        let bytes: [u8; 16] = region.read(index)?;
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let next = word(NEXT_OFFSET);
        // One test for all: a 16-aligned offset in [16, top - size], a free block, this size.
        let bad = (index < GRANULE)
            | (index % GRANULE != 0)
            | (index as u64 + size as u64 > self.top as u64)
            | (bytes[0] != FREE_KIND)
            | (word(SIZE_OFFSET) != size);
        if bad {
            return Err(Self::bad_head(index));
        }
        // The new head's prev link goes stale: a head is recognised as the head, never by it.
        self.heads[class] = next;
        if next == 0 {
            self.small_bitmap &= !(1 << class);
        }
        self.unmark_listed(index, index + size);
        self.listed_bytes = self.listed_bytes.wrapping_sub(size);
        self.listed_blocks = self.listed_blocks.wrapping_sub(1);
        Ok(index)
    }

    #[cold]
    fn bad_head(index: u32) -> Error {
        Error::corrupted(index, "free-list head is not a free block of its class")
    }

    /// Everything but an exact small class. A small request is carved from the designated
    /// victim if that is large enough, else from the smallest listed block that fits, whose
    /// rest becomes the new designated victim. A large request takes the smallest listed block
    /// that fits (the rest is listed), else the designated victim. Then the wilderness.
    #[cold]
    fn alloc_slow(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        if size <= SMALL_MAX {
            if self.dv_size >= size {
                return self.carve_dv(region, size).map(Some);
            }
            if let Some((index, block_size)) = self.take_fitting(region, size)? {
                if block_size > size {
                    // The block had no free neighbour, so neither has the rest.
                    if self.dv_size != 0 {
                        self.push(region, self.dv_start, self.dv_size)?;
                    }
                    self.dv_start = index + size;
                    self.dv_size = block_size - size;
                    region.write(self.dv_start, free_header(self.dv_size, 0, 0))?;
                }
                return Ok(Some(index));
            }
        } else {
            if let Some((index, block_size)) = self.take_fitting(region, size)? {
                if block_size > size {
                    self.push(region, index + size, block_size - size)?;
                }
                return Ok(Some(index));
            }
            if self.dv_size >= size {
                return self.carve_dv(region, size).map(Some);
            }
        }
        let Some(end) = self.top.checked_add(size).filter(|&end| end <= region.len()) else {
            return Ok(None);
        };
        if (end as usize / GRANULE as usize).div_ceil(START_WORD_GRANULES) > self.starts.len()
            && !self.cover_starts(end)
        {
            return Ok(None);
        }
        let index = self.top;
        self.top = end;
        self.peak_top = self.peak_top.max(end);
        if (end as usize / GRANULE as usize) / WORD_GRANULES >= self.bounds.len() {
            self.cover(end);
        }
        Ok(Some(index))
    }

    /// Takes the first `size` bytes of the designated victim (at least that large).
    #[inline]
    fn carve_dv(&mut self, region: &mut Region, size: u32) -> Result<u32> {
        let index = self.dv_start;
        self.dv_size -= size;
        if self.dv_size == 0 {
            self.dv_start = 0;
        } else {
            self.dv_start += size;
            region.write(self.dv_start, free_header(self.dv_size, 0, 0))?;
        }
        Ok(index)
    }

    /// Takes the smallest listed block of at least `size` bytes that the bitmaps find in O(1):
    /// a larger small class, else the head of the large bin of `size` if it fits, else the
    /// head of the first non-empty large bin whose blocks all fit.
    fn take_fitting(&mut self, region: &mut Region, size: u32) -> Result<Option<(u32, u32)>> {
        if size < SMALL_MAX {
            let above = self.small_bitmap & !((2u32 << (size / GRANULE - 1)) - 1);
            if above != 0 {
                return self.pop(region, above.trailing_zeros() as usize).map(Some);
            }
        }
        let first = if size <= SMALL_MAX {
            0
        } else {
            let bin = large_bin(size);
            if large_bin_min(bin) == size as u64 {
                bin
            } else {
                let head = self.heads[SMALL_CLASSES + bin];
                if head != 0 && self.read_listed(region, head, SMALL_CLASSES + bin)?.size >= size {
                    return self.pop(region, SMALL_CLASSES + bin).map(Some);
                }
                bin + 1
            }
        };
        match self.first_large_bin_from(first) {
            Some(bin) => self.pop(region, SMALL_CLASSES + bin).map(Some),
            None => Ok(None),
        }
    }

    /// The first non-empty large bin at or above `first`.
    #[inline]
    fn first_large_bin_from(&self, first: usize) -> Option<usize> {
        if first >= LARGE_BINS {
            return None;
        }
        let level = first / LARGE_SUBS;
        let subs = self.large_bitmaps[level] & (u32::MAX << (first % LARGE_SUBS));
        if subs != 0 {
            return Some(level * LARGE_SUBS + subs.trailing_zeros() as usize);
        }
        let levels = self.large_levels & u32::MAX.checked_shl(level as u32 + 1).unwrap_or(0);
        if levels == 0 {
            return None;
        }
        let level = levels.trailing_zeros() as usize;
        Some(level * LARGE_SUBS + self.large_bitmaps[level].trailing_zeros() as usize)
    }

    // ---------------------------------------------------------------------------------------
    // Freeing.

    /// Returns the block of `size` bytes at `index` to the free list, merged at once with a
    /// free neighbour on either side; a block that then ends at `top` goes back to the
    /// wilderness. O(1). The caller guarantees that the block was allocated from this free
    /// list and is no longer used; an `index` out of bounds or at the start of a free block
    /// (a double free) gives [`Error::Corrupted`].
    #[inline(always)]
    pub(crate) fn free(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0);
        let end = index.wrapping_add(size);
        let in_dv = index.wrapping_sub(self.dv_start) < self.dv_size;
        if (index < GRANULE) | (index % GRANULE != 0) | (end <= index) | (end > self.top) | in_dv {
            return Err(Self::bad_free(index));
        }
        // Only an allocated block is freed, once: its start bit says so, and goes.
        let granule = (index / GRANULE) as usize;
        let start_bit = 1u64 << (granule % START_WORD_GRANULES);
        match self.starts.get_mut(granule / START_WORD_GRANULES) {
            Some(word) if *word & start_bit != 0 => *word &= !start_bit,
            _ => return Err(Self::bad_free(index)),
        }
        let ((index_word, index_bit), (end_word, end_bit)) = (Self::bound_bit(index), Self::bound_bit(end));
        let at_index = self.bounds.get(index_word).map_or(0, |&word| word >> index_bit);
        let next_is_listed = self.bounds.get(end_word).is_some_and(|&word| word >> end_bit & 1 != 0);
        if at_index & 1 != 0 {
            return Err(Self::bad_free(index));
        }
        let previous_is_listed = at_index & 2 != 0;
        // Without a designated victim both are 0, which no block starts or ends at.
        let next_to_dv = (end == self.dv_start) | (index == self.dv_start + self.dv_size);
        if !(previous_is_listed | next_is_listed | next_to_dv) && end != self.top {
            return self.push_at(region, index, size, (index_word, index_bit), (end_word, end_bit));
        }
        self.free_merging(region, index, size, end, previous_is_listed, next_is_listed)
    }

    #[cold]
    fn bad_free(index: u32) -> Error {
        Error::corrupted(index, "freed block out of bounds, already free or not an allocated block")
    }

    /// The part of [`FreeList::free`] that merges or gives back to the wilderness.
    #[inline(never)]
    fn free_merging(
        &mut self,
        region: &mut Region,
        index: u32,
        size: u32,
        end: u32,
        previous_is_listed: bool,
        next_is_listed: bool,
    ) -> Result<()> {
        let (mut start, mut stop) = (index, end);
        let dv_end = self.dv_start + self.dv_size;
        let mut joins_dv = false;
        // The next block, if free: the designated victim, or a listed block (the start bitmap,
        // in host memory, says so).
        if self.dv_size != 0 && end == self.dv_start {
            (stop, joins_dv) = (dv_end, true);
        } else if next_is_listed {
            let next = self.read_free(region, end)?;
            self.unlink(region, end, &next)?;
            // Its header is now inside a free block: leave it plain.
            region.write(end, free_header(next.size, 0, 0))?;
            stop = end + next.size;
        }
        // The previous block, if free: the designated victim, or a listed block (the end bitmap
        // says so; its start is the last listed start within FOOTER_MIN bytes, or else its
        // footer tells, as a larger block has one).
        if self.dv_size != 0 && index == dv_end {
            (start, joins_dv) = (self.dv_start, true);
        } else if previous_is_listed {
            let previous_start = match self.listed_start_just_below(index) {
                Some(start) => start,
                None => {
                    let footer = region.read_u32(index - (GRANULE - SIZE_OFFSET))?;
                    if footer <= FOOTER_MIN || footer % GRANULE != 0 || footer >= index {
                        return Err(Error::corrupted(index - GRANULE, "free block footer out of bounds"));
                    }
                    index - footer
                }
            };
            let previous = self.read_free(region, previous_start)?;
            if !self.is_listed_start(previous_start) || previous_start + previous.size != index {
                return Err(Error::corrupted(previous_start, "free block does not end where the bitmap says"));
            }
            self.unlink(region, previous_start, &previous)?;
            start = previous_start;
        }
        if start != index {
            // The freed block's header is now inside a free block: leave it plain.
            region.write(index, free_header(size, 0, 0))?;
        }
        if joins_dv {
            (self.dv_start, self.dv_size) = (start, stop - start);
        }
        if stop == self.top {
            region.write(start, free_header(stop - start, 0, 0))?;
            self.top = start;
            if joins_dv {
                (self.dv_start, self.dv_size) = (0, 0);
            }
            return Ok(());
        }
        if joins_dv {
            return region.write(start, free_header(stop - start, 0, 0));
        }
        self.push(region, start, stop - start)
    }

    // ---------------------------------------------------------------------------------------
    // Whole-heap operations.

    /// Reads the kind byte and size of the block at `index` (below `top`), checking that the
    /// size keeps the blocks tiling `[16, top)`.
    #[inline]
    fn block_at(&self, region: &Region, index: u32) -> Result<Block> {
        let bytes: [u8; 12] = region.read(index)?;
        let size = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if size < HEADER_SIZE || size % GRANULE != 0 || size > self.top - index {
            return Err(Error::corrupted(index, "block size breaks the heap's tiling"));
        }
        Ok(Block { index, size, free: bytes[0] == FREE_KIND })
    }

    /// Calls `visit` for every block in `[16, top)` in address order, validating that the
    /// blocks tile that range.
    pub(crate) fn walk(&self, region: &Region, mut visit: impl FnMut(Block) -> Result<()>) -> Result<()> {
        let mut index = GRANULE;
        while index < self.top {
            let block = self.block_at(region, index)?;
            visit(block)?;
            index += block.size;
        }
        Ok(())
    }

    /// Merges every run of adjacent free blocks, returns a trailing run to the wilderness and
    /// relists the runs in address order. Frees merge at once, so there is nothing to do
    /// unless the block-start bitmap could not grow; then this is one pass over the blocks
    /// below `top`. If a block fails validation, the error is returned and the blocks not yet
    /// relisted stay unlisted (memory-safe, leaked until a reset).
    pub(crate) fn coalesce(&mut self, region: &mut Region) -> Result<()> {
        self.coalesces += 1;
        if !self.unmerged {
            return Ok(());
        }
        self.cover(self.top);
        self.clear_bitmaps();
        self.clear_lists();
        self.unmerged = false;
        let mut tails = [0u32; LISTS];
        let mut run: Option<(u32, u32)> = None;
        let mut index = GRANULE;
        while index < self.top {
            let block = self.block_at(region, index)?;
            if block.free {
                // Every free block's header becomes plain or is rewritten by `append`.
                region.write(index, free_header(block.size, 0, 0))?;
                run = Some(match run {
                    Some((start, size)) => (start, size + block.size),
                    None => (index, block.size),
                });
            } else if let Some((start, size)) = run.take() {
                self.append(region, start, size, &mut tails)?;
            }
            index += block.size;
        }
        if let Some((start, _)) = run {
            self.top = start;
        }
        Ok(())
    }

    /// Lists the free block at `index` at the tail of its list (`tails` holds the tails of the
    /// lists being rebuilt).
    fn append(&mut self, region: &mut Region, index: u32, size: u32, tails: &mut [u32; LISTS]) -> Result<()> {
        let list = list_of(size);
        let tail = core::mem::replace(&mut tails[list], index);
        region.write(index, free_header(size, 0, tail))?;
        if size > FOOTER_MIN {
            region.write(index + size - GRANULE, free_header(size, 0, 0))?;
        }
        if tail != 0 {
            region.write_u32(tail + NEXT_OFFSET, index)?;
        } else {
            self.heads[list] = index;
        }
        self.mark_non_empty(list);
        self.mark_listed(index, index + size);
        self.listed_bytes = self.listed_bytes.wrapping_add(size);
        self.listed_blocks = self.listed_blocks.wrapping_add(1);
        Ok(())
    }

    /// Bytes that can still be allocated: free blocks plus the wilderness.
    pub(crate) fn free_bytes(&self, region: &Region) -> u64 {
        self.listed_bytes as u64 + self.dv_size as u64 + (region.len() - self.top) as u64
    }

    /// Number of free blocks, counting a non-empty wilderness as one.
    pub(crate) fn free_blocks(&self, region: &Region) -> u64 {
        self.listed_blocks as u64 + u64::from(self.dv_size != 0) + u64::from(region.len() > self.top)
    }

    /// The largest single block that could be allocated right now.
    pub(crate) fn largest_free_block(&self, region: &Region) -> Result<u32> {
        let mut largest = (region.len() - self.top).max(self.dv_size);
        if self.small_bitmap != 0 {
            largest = largest.max((32 - self.small_bitmap.leading_zeros()) * GRANULE);
        }
        if self.large_levels != 0 {
            let level = 31 - self.large_levels.leading_zeros() as usize;
            let bin = level * LARGE_SUBS + 31 - self.large_bitmaps[level].leading_zeros() as usize;
            let mut index = self.heads[SMALL_CLASSES + bin];
            let mut steps = 0u64;
            while index != 0 {
                let block = self.read_listed(region, index, SMALL_CLASSES + bin)?;
                largest = largest.max(block.size);
                index = block.next;
                steps += 1;
                if steps > (self.top / GRANULE) as u64 {
                    return Err(Error::corrupted(index, "free list has a cycle"));
                }
            }
        }
        Ok(largest)
    }

    /// Checks every list and the start bitmap: the bitmap holds exactly `objects_in_walk` bits
    /// (the walk checks that they are the objects'); each entry is a valid free block of the right size class with its
    /// bitmap bits set, every entry but the head links back to its predecessor, no list has a
    /// cycle, the bitmaps agree with the heads, and the lists and the designated victim hold
    /// exactly `free_blocks_in_walk` blocks.
    pub(crate) fn check_lists(&self, region: &Region, free_blocks_in_walk: u64, objects_in_walk: u64) -> Result<()> {
        // The walk checked that each object has its start bit and each free block none; with
        // as many bits as objects, no bit is left anywhere else (above `top`, for example).
        let allocated = self.allocated_starts();
        if allocated != objects_in_walk {
            return Err(Error::VerifyFailed {
                offset: 0,
                what: "allocated-block start bits",
                found: allocated,
                expected: objects_in_walk,
            });
        }
        if self.dv_size != 0 {
            let dv = self.read_free(region, self.dv_start)?;
            if dv.size != self.dv_size || self.is_listed_start(self.dv_start) {
                return Err(Error::corrupted(self.dv_start, "designated victim header disagrees"));
            }
        }
        let free_blocks_in_walk = free_blocks_in_walk.saturating_sub(u64::from(self.dv_size != 0));
        let mut seen = 0u64;
        let mut bytes = 0u64;
        for list in 0..LISTS {
            let bit = if list < SMALL_CLASSES {
                self.small_bitmap & (1 << list) != 0
            } else {
                let bin = list - SMALL_CLASSES;
                self.large_bitmaps[bin / LARGE_SUBS] & (1 << (bin % LARGE_SUBS)) != 0
            };
            let head = self.heads[list];
            if bit != (head != 0) {
                return Err(Error::VerifyFailed {
                    offset: head,
                    what: "free-list bitmap disagrees with list head",
                    found: bit as u64,
                    expected: (head != 0) as u64,
                });
            }
            let (mut previous, mut index) = (0u32, head);
            while index != 0 {
                let block = self.read_listed(region, index, list)?;
                if previous != 0 && block.prev != previous {
                    return Err(Error::corrupted(index, "free-list prev link disagrees with its list"));
                }
                let has_bits = self.is_listed_start(index) && self.is_listed_end(index + block.size);
                if !has_bits && !self.unmerged {
                    return Err(Error::corrupted(index, "listed free block without its bitmap bits"));
                }
                seen += 1;
                bytes += block.size as u64;
                if seen > free_blocks_in_walk {
                    return Err(Error::VerifyFailed {
                        offset: index,
                        what: "free lists hold more blocks than the heap walk found",
                        found: seen,
                        expected: free_blocks_in_walk,
                    });
                }
                (previous, index) = (index, block.next);
            }
        }
        for level in 0..LARGE_LEVELS {
            if (self.large_levels & (1 << level) != 0) != (self.large_bitmaps[level] != 0) {
                return Err(Error::VerifyFailed {
                    offset: 0,
                    what: "free-list level bitmap disagrees with its bins",
                    found: (self.large_levels >> level & 1) as u64,
                    expected: (self.large_bitmaps[level] != 0) as u64,
                });
            }
        }
        let start_bits: u64 = self.bounds.iter().map(|word| (word & START_BITS).count_ones() as u64).sum();
        let end_bits: u64 = self.bounds.iter().map(|word| (word & !START_BITS).count_ones() as u64).sum();
        if seen != free_blocks_in_walk || seen != self.listed_blocks as u64 || bytes != self.listed_bytes as u64 {
            return Err(Error::VerifyFailed {
                offset: 0,
                what: "free-list block count",
                found: seen,
                expected: free_blocks_in_walk,
            });
        }
        if (start_bits != seen || end_bits != seen) && !self.unmerged {
            return Err(Error::VerifyFailed {
                offset: 0,
                what: "free-block bitmap bits",
                found: start_bits.max(end_bits),
                expected: seen,
            });
        }
        Ok(())
    }
}

/// The kind byte [`BlockAllocator`] writes into the header of the blocks it hands out: that of
/// a struct object, so a heap walk sees them as objects.
pub const BLOCK_KIND: u8 = 0b0001_0110;

/// The free list as a plain allocator over a caller region, for code outside the crate (the
/// benchmarks compare it with other allocators through this).
///
/// Blocks are 16-byte granular and 16-aligned and are named by their offset in the region (never
/// 0). [`BlockAllocator::alloc`] writes the minimal header the coalescing walk needs, as the
/// heap's 16-byte object header would: [`BLOCK_KIND`] at offset 0, the block size at offset 8,
/// zeros elsewhere; the caller owns the rest of the block, and may overwrite bytes 12..16 (the
/// reference count of a GC object) but must leave bytes 0..12 alone while the block is in use.
#[derive(Debug)]
pub struct BlockAllocator {
    region: Region,
    list: FreeList,
}

impl BlockAllocator {
    /// An allocator over `memory`, which must be 16-aligned, a multiple of 16 long, and between
    /// [`crate::MIN_REGION_LEN`] and [`crate::MAX_REGION_LEN`] bytes.
    pub fn new(memory: &'static mut [u8]) -> Result<BlockAllocator> {
        Ok(BlockAllocator { region: Region::from_static(memory)?, list: FreeList::new() })
    }

    /// An allocator over the `len` bytes at `base` (same requirements as [`BlockAllocator::new`]).
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes for the life of the allocator,
    /// and nothing else may access that memory meanwhile, except the bytes of blocks handed out
    /// (between their `alloc` and their `free`) as documented on [`BlockAllocator`].
    pub unsafe fn from_raw_parts(base: *mut u8, len: usize) -> Result<BlockAllocator> {
        // SAFETY: the caller's contract is the region's.
        let region = unsafe { Region::from_raw_parts(base, len) }?;
        Ok(BlockAllocator { region, list: FreeList::new() })
    }

    /// The block size (a multiple of 16, at least 16) that a request of `size` bytes takes.
    #[inline]
    pub fn block_size(size: u32) -> Option<u32> {
        FreeList::block_size(size)
    }

    /// Allocates a block of at least `size` bytes and returns its offset, or `Ok(None)` when
    /// not even coalescing the free blocks makes room. Errors: [`Error::AllocationTooLarge`] if
    /// the size cannot be rounded, [`Error::Corrupted`] if a free block failed validation.
    #[inline]
    pub fn alloc(&mut self, size: u32) -> Result<Option<u32>> {
        let Some(block) = FreeList::block_size(size) else {
            return Err(Error::AllocationTooLarge { requested: size as usize, max: MAX_BLOCK as usize });
        };
        let index = match self.list.alloc(&mut self.region, block)? {
            Some(index) => index,
            None => {
                self.list.coalesce(&mut self.region)?;
                match self.list.alloc(&mut self.region, block)? {
                    Some(index) => index,
                    None => return Ok(None),
                }
            }
        };
        let mut header = [0u8; 16];
        header[0] = BLOCK_KIND;
        header[SIZE_OFFSET as usize..SIZE_OFFSET as usize + 4].copy_from_slice(&block.to_ne_bytes());
        self.region.write(index, header)?;
        Ok(Some(index))
    }

    /// Frees the block at `index` that was allocated for `size` bytes. The block's header is
    /// checked first: [`Error::InvalidReference`] if `index` is not an allocated block of that
    /// size (a double free, for example).
    #[inline]
    pub fn free(&mut self, index: u32, size: u32) -> Result<()> {
        let block = self.check_free(index, size)?;
        let header: [u8; 12] = self.region.read(index)?;
        let stored = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
        if header[0] == FREE_KIND || stored != block {
            return Err(Error::InvalidReference(index));
        }
        self.list.free(&mut self.region, index, block)
    }

    /// Frees the block at `index` that was allocated for `size` bytes, trusting the size as an
    /// allocator's `dealloc(ptr, layout)` does: it does not read the block (the GC heap has
    /// just read the header of the object it frees, so that line is hot; here it would be the
    /// one cache miss of a free). Only the free list's own bookkeeping is checked: an `index`
    /// out of bounds or at the start of a free block gives [`Error::InvalidReference`]. Any
    /// other misuse cannot cause undefined behaviour (every access is bounds-checked), but
    /// leaves the blocks inconsistent, which [`BlockAllocator::check`] reports.
    #[inline]
    pub fn free_trusted(&mut self, index: u32, size: u32) -> Result<()> {
        let block = FreeList::block_size(size).ok_or(Error::InvalidReference(index))?;
        self.list.free(&mut self.region, index, block).map_err(|error| {
            // The free list's own check of `index` is the caller's misuse here.
            if error == FreeList::bad_free(index) {
                Error::InvalidReference(index)
            } else {
                error
            }
        })
    }

    /// The block size of a free of `size` bytes at `index`, if the free list's bookkeeping
    /// allows it.
    #[inline(always)]
    fn check_free(&self, index: u32, size: u32) -> Result<u32> {
        match FreeList::block_size(size) {
            Some(block)
                if index >= GRANULE
                    && index % GRANULE == 0
                    && index as u64 + block as u64 <= self.list.top() as u64
                    && !self.list.is_free_start(index) =>
            {
                Ok(block)
            }
            _ => Err(Error::InvalidReference(index)),
        }
    }

    /// Merges adjacent free blocks and gives a free run at the top back to the wilderness.
    pub fn coalesce(&mut self) -> Result<()> {
        self.list.coalesce(&mut self.region)
    }

    /// Bytes that can still be allocated: free blocks plus the never-used rest of the region.
    pub fn free_bytes(&self) -> u64 {
        self.list.free_bytes(&self.region)
    }

    /// Number of free blocks, counting the never-used rest of the region as one.
    pub fn free_blocks(&self) -> u64 {
        self.list.free_blocks(&self.region)
    }

    /// The high-water offset: every block handed out so far lies below it. It only falls when
    /// coalescing returns a free run at the top to the wilderness.
    pub fn top(&self) -> u32 {
        self.list.top()
    }

    /// Bytes of host memory (outside the region) the allocator keeps for its boundary bitmap:
    /// two bits per 16 bytes below the high-water offset, and an eighth more.
    pub fn side_table_bytes(&self) -> usize {
        self.list.side_table_bytes()
    }

    /// How many times [`BlockAllocator::coalesce`] ran (`alloc` also runs it before it gives
    /// up). Frees merge at once, so it only walks the blocks when the bitmap could not grow.
    pub fn coalesces(&self) -> u64 {
        self.list.coalesces()
    }

    /// The largest block that could be allocated right now without coalescing.
    pub fn largest_free_block(&self) -> Result<u32> {
        self.list.largest_free_block(&self.region)
    }

    /// The region's length in bytes.
    pub fn len(&self) -> u32 {
        self.region.len()
    }

    /// Always false: a region is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The region's base address: block `index` starts at `as_mut_ptr() + index`.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.region.base()
    }

    /// The bytes of the allocated block at `index` (its header included), bounds-checked.
    pub fn block(&self, index: u32) -> Result<&[u8]> {
        let size = self.block_len(index)?;
        self.region.slice(index, size, "block out of region bounds")
    }

    /// The bytes of the allocated block at `index` (its header included), bounds-checked.
    pub fn block_mut(&mut self, index: u32) -> Result<&mut [u8]> {
        let size = self.block_len(index)?;
        self.region.slice_mut(index, size, "block out of region bounds")
    }

    fn block_len(&self, index: u32) -> Result<u32> {
        if index < GRANULE || index % GRANULE != 0 || index >= self.list.top() {
            return Err(Error::InvalidReference(index));
        }
        let header: [u8; 12] = self.region.read(index)?;
        if header[0] == FREE_KIND {
            return Err(Error::InvalidReference(index));
        }
        Ok(u32::from_ne_bytes([header[8], header[9], header[10], header[11]]))
    }

    /// Walks every block and checks every free list (for tests and debugging).
    pub fn check(&self) -> Result<()> {
        let (mut free, mut allocated) = (0, 0);
        self.list.walk(&self.region, |block| {
            self.list.check_start_bit(block)?;
            free += block.free as u64;
            allocated += !block.free as u64;
            Ok(())
        })?;
        self.list.check_lists(&self.region, free, allocated)
    }

    /// Forgets every block: the whole region is free again.
    pub fn reset(&mut self) {
        self.list.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn region(len: usize) -> Region {
        Region::from_static(crate::region::test_region(len)).unwrap()
    }

    /// Marks a block as an object for the walk (kind byte 0x16, size word), as the heap does.
    fn mark_used(region: &mut Region, index: u32, size: u32) {
        region.write_u8(index, 0x16).unwrap();
        region.write_u32(index + SIZE_OFFSET, size).unwrap();
    }

    fn check(list: &FreeList, region: &Region) {
        let (mut free, mut allocated) = (0, 0);
        list.walk(region, |b| {
            list.check_start_bit(b)?;
            free += b.free as u64;
            allocated += !b.free as u64;
            Ok(())
        })
        .unwrap();
        list.check_lists(region, free, allocated).unwrap();
    }

    #[test]
    fn large_bins_partition_the_sizes() {
        let sizes = (SMALL_MAX + 16..1 << 20).step_by(16 * 37).chain([SMALL_MAX + 16, 1 << 20, MAX_BLOCK]);
        for size in sizes {
            let bin = large_bin(size);
            assert!(bin < LARGE_BINS, "size {size} bin {bin}");
            assert!(large_bin_min(bin) <= size as u64 && size as u64 <= large_bin_max(bin), "size {size} bin {bin}");
            // Every block of the next bin fits a request of `size`.
            assert!(bin + 1 == LARGE_BINS || large_bin_min(bin + 1) > size as u64);
        }
        assert_eq!(large_bin(SMALL_MAX + 16), 0);
        assert_eq!(large_bin(MAX_BLOCK), LARGE_BINS - 1);
        for bin in 0..LARGE_BINS - 1 {
            assert_eq!(large_bin_max(bin) + 1, large_bin_min(bin + 1));
        }
    }

    /// Allocates blocks of `sizes` in a row and marks them used.
    fn alloc_all(list: &mut FreeList, r: &mut Region, sizes: &[u32]) -> Vec<u32> {
        sizes
            .iter()
            .map(|&size| {
                let index = list.alloc(r, size).unwrap().unwrap();
                mark_used(r, index, size);
                index
            })
            .collect()
    }

    /// The free blocks of the walk, as (index, size).
    fn free_blocks_of(list: &FreeList, r: &Region) -> Vec<(u32, u32)> {
        let mut free = Vec::new();
        list.walk(r, |b| {
            if b.free {
                free.push((b.index, b.size));
            }
            Ok(())
        })
        .unwrap();
        free
    }

    /// Issue 11 hole 1: a free with a size larger than its block (a corrupted header) leaves
    /// an end bit inside another block; once `top` drops below that bit, a reset that cleared
    /// only below `top` kept it, and the reset heap later failed on a correct program.
    #[test]
    fn reset_clears_bits_left_above_a_lowered_top() {
        let mut r = region(1 << 16);
        let mut list = FreeList::new();
        let [_, b, c] = alloc_all(&mut list, &mut r, &[32, 32, 8192])[..] else { unreachable!() };
        list.free(&mut r, b, 4096).unwrap();
        list.free(&mut r, c, 8192).unwrap();
        assert_eq!(list.top(), c, "the last block went back to the wilderness");
        assert!(list.is_listed_end(b + 4096), "the bogus block's end bit lies above top");
        list.reset();
        assert!(list.bounds.iter().all(|&word| word == 0), "a boundary bit survived the reset");
        assert!(list.starts.iter().all(|&word| word == 0), "a start bit survived the reset");
        let again = alloc_all(&mut list, &mut r, &[32, 4096 + 32, 32]);
        list.free(&mut r, again[1], 4096 + 32).unwrap();
        check(&list, &r);
    }

    /// Only the start of an allocated block is freed, once: a free of a point inside a block
    /// or of a block freed already is refused, and the start bitmap stays exact.
    #[test]
    fn frees_of_non_allocated_starts_are_refused() {
        let mut r = region(4096);
        let mut list = FreeList::new();
        let [a, b, _] = alloc_all(&mut list, &mut r, &[64, 64, 16])[..] else { unreachable!() };
        assert!(list.is_allocated(a) && list.is_allocated(b) && !list.is_allocated(a + 16));
        assert_eq!(list.free(&mut r, a + 16, 48), Err(FreeList::bad_free(a + 16)));
        list.free(&mut r, a, 64).unwrap();
        assert!(!list.is_allocated(a));
        assert_eq!(list.free(&mut r, a, 64), Err(FreeList::bad_free(a)));
        check(&list, &r);
        assert_eq!(list.alloc(&mut r, 64).unwrap(), Some(a));
        assert!(list.is_allocated(a));
    }

    #[test]
    fn exact_class_reuse_is_lifo() {
        let mut r = region(4096);
        let mut list = FreeList::new();
        // The guards keep the two blocks from merging with anything.
        let [a, _, b, _] = alloc_all(&mut list, &mut r, &[48, 16, 48, 16])[..] else { unreachable!() };
        list.free(&mut r, a, 48).unwrap();
        list.free(&mut r, b, 48).unwrap();
        check(&list, &r);
        assert_eq!(list.alloc(&mut r, 48).unwrap(), Some(b));
        assert_eq!(list.alloc(&mut r, 48).unwrap(), Some(a));
    }

    #[test]
    fn exhausted_region_splits_larger_blocks_and_reports_none() {
        let mut r = region(16 + 96 * 10);
        let mut list = FreeList::new();
        let mut blocks = Vec::new();
        while let Some(index) = list.alloc(&mut r, 96).unwrap() {
            mark_used(&mut r, index, 96);
            blocks.push(index);
        }
        assert_eq!(blocks.len(), 10);
        list.free(&mut r, blocks[0], 96).unwrap();
        let small = list.alloc(&mut r, 32).unwrap().unwrap();
        assert_eq!(small, blocks[0]);
        mark_used(&mut r, small, 32);
        check(&list, &r);
        assert_eq!(list.alloc(&mut r, 96).unwrap(), None);
    }

    #[test]
    fn freeing_everything_coalesces_to_one_block() {
        let mut r = region(1 << 16);
        let mut list = FreeList::new();
        let sizes = [16u32, 48, 512, 528, 2048, 64, 4096, 16];
        let mut blocks = Vec::new();
        for (i, &size) in sizes.iter().cycle().take(40).enumerate() {
            let index = list.alloc(&mut r, size).unwrap().unwrap();
            mark_used(&mut r, index, size);
            blocks.push((index, size, i));
        }
        for &(index, size, i) in blocks.iter().filter(|b| b.2 % 2 == 0) {
            let _ = i;
            list.free(&mut r, index, size).unwrap();
        }
        list.coalesce(&mut r).unwrap();
        check(&list, &r);
        for &(index, size, _) in blocks.iter().filter(|b| b.2 % 2 == 1) {
            list.free(&mut r, index, size).unwrap();
        }
        list.coalesce(&mut r).unwrap();
        check(&list, &r);
        assert_eq!(list.free_blocks(&r), 1);
        assert_eq!(list.free_bytes(&r), (1 << 16) - 16);
        assert_eq!(list.largest_free_block(&r).unwrap(), (1 << 16) - 16);
    }

    #[test]
    fn corrupted_link_is_an_error_not_a_wild_access() {
        let mut r = region(1024);
        let mut list = FreeList::new();
        let [a, _, b, _] = alloc_all(&mut list, &mut r, &[32, 16, 32, 16])[..] else { unreachable!() };
        list.free(&mut r, a, 32).unwrap();
        list.free(&mut r, b, 32).unwrap();
        r.write_u32(b + NEXT_OFFSET, 0xffff_fff0).unwrap();
        assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(b));
        assert!(list.alloc(&mut r, 32).unwrap_err().is_corruption());
    }

    #[test]
    fn frees_merge_with_both_neighbours_at_once() {
        let mut r = region(1 << 14);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[128, 2048, 96, 16]);
        list.free(&mut r, blocks[0], 128).unwrap();
        list.free(&mut r, blocks[2], 96).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 128), (blocks[2], 96)]);
        check(&list, &r);
        // The middle block joins both: one free block, one list entry.
        list.free(&mut r, blocks[1], 2048).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 128 + 2048 + 96)]);
        assert_eq!(list.listed_blocks, 1);
        check(&list, &r);
        // The headers left inside the merged block are plain (links zero), as zeal expects.
        for inner in [blocks[1], blocks[2]] {
            let granule: [u8; 16] = r.read(inner).unwrap();
            assert_eq!(granule[0..4], [0; 4]);
            assert_eq!(granule[12..16], [0; 4]);
        }
        // A large request takes it whole.
        assert_eq!(list.alloc(&mut r, 128 + 2048 + 96).unwrap(), Some(blocks[0]));
    }

    #[test]
    fn a_free_block_that_reaches_top_goes_back_to_the_wilderness() {
        let mut r = region(1 << 12);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[32, 128, 96]);
        list.free(&mut r, blocks[1], 128).unwrap();
        assert_eq!(list.top(), blocks[2] + 96);
        list.free(&mut r, blocks[2], 96).unwrap();
        // The freed block merged with its free neighbour and both went back.
        assert_eq!(list.top(), blocks[1]);
        assert_eq!(list.free_blocks(&r), 1);
        check(&list, &r);
        list.free(&mut r, blocks[0], 32).unwrap();
        assert_eq!((list.top(), list.free_bytes(&r)), (16, 4096 - 16));
    }

    #[test]
    fn a_large_free_block_is_found_through_its_footer() {
        let mut r = region(1 << 15);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[4096, 32, 16]);
        list.free(&mut r, blocks[0], 4096).unwrap();
        let footer: [u8; 16] = r.read(blocks[0] + 4096 - 16).unwrap();
        assert_eq!(footer, free_header(4096, 0, 0));
        list.free(&mut r, blocks[1], 32).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 4096 + 32)]);
        check(&list, &r);
    }

    #[test]
    fn object_bytes_that_look_like_a_free_block_are_never_merged() {
        let mut r = region(1 << 14);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[256, 2048, 32, 16]);
        let (free, object, freed) = (blocks[0], blocks[1], blocks[2]);
        list.free(&mut r, free, 256).unwrap();
        // The object's body imitates a free block that would end where `freed` starts: a free
        // header at `fake` and a footer of the right size in its last granule; a second fake
        // footer points back at the real free block.
        let fake = object + 1024;
        r.write(fake, free_header(freed - fake, 0, 0)).unwrap();
        r.write_u32(freed - 8, freed - fake).unwrap();
        list.free(&mut r, freed, 32).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(free, 256), (freed, 32)]);
        check(&list, &r);
        // Again with the object's last word pointing at the real free block before it.
        assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(freed));
        mark_used(&mut r, freed, 32);
        r.write_u32(freed - 8, freed - free).unwrap();
        r.write_u32(free + SIZE_OFFSET, freed - free).unwrap();
        list.free(&mut r, freed, 32).unwrap();
        r.write_u32(free + SIZE_OFFSET, 256).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(free, 256), (freed, 32)]);
        check(&list, &r);
    }

    #[test]
    fn a_header_that_disagrees_with_the_bitmap_is_corruption() {
        let mut r = region(1 << 12);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[128, 32, 16]);
        list.free(&mut r, blocks[0], 128).unwrap();
        r.write_u32(blocks[0] + SIZE_OFFSET, 112).unwrap();
        assert!(list.free(&mut r, blocks[1], 32).unwrap_err().is_corruption());
        let mut list = FreeList::new();
        let mut r = region(1 << 12);
        let blocks = alloc_all(&mut list, &mut r, &[128, 96, 16]);
        list.free(&mut r, blocks[1], 96).unwrap();
        r.write_u8(blocks[1], 0x16).unwrap();
        assert!(list.free(&mut r, blocks[0], 128).unwrap_err().is_corruption());
    }

    #[test]
    fn small_requests_carve_the_designated_victim() {
        let mut r = region(1 << 14);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[1024, 16]);
        list.free(&mut r, blocks[0], 1024).unwrap();
        // No 48-byte block: the 1024-byte one is split and the rest is carved in order.
        let a = list.alloc(&mut r, 48).unwrap().unwrap();
        let b = list.alloc(&mut r, 32).unwrap().unwrap();
        assert_eq!((a, b), (blocks[0], blocks[0] + 48));
        mark_used(&mut r, a, 48);
        mark_used(&mut r, b, 32);
        assert_eq!(list.free_blocks(&r), 2);
        assert_eq!(list.largest_free_block(&r).unwrap(), (1 << 14) - list.top());
        check(&list, &r);
        // Freeing next to it grows it, on either side.
        list.free(&mut r, b, 32).unwrap();
        list.free(&mut r, a, 48).unwrap();
        assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 1024)]);
        check(&list, &r);
        assert_eq!(list.alloc(&mut r, 1024).unwrap(), Some(blocks[0]));
    }

    #[test]
    fn without_the_bitmap_frees_do_not_merge_and_coalesce_walks() {
        let mut r = region(1 << 14);
        let mut list = FreeList::new();
        let blocks = alloc_all(&mut list, &mut r, &[32, 2048, 96, 48, 16]);
        // As if the host could not give the bitmap any memory.
        list.bounds = Vec::new();
        for (&index, size) in blocks.iter().zip([32, 2048, 96, 48]) {
            list.free(&mut r, index, size).unwrap();
        }
        assert!(list.unmerged);
        assert_eq!(free_blocks_of(&list, &r).len(), 4);
        check(&list, &r);
        list.coalesce(&mut r).unwrap();
        assert!(!list.unmerged);
        assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 32 + 2048 + 96 + 48)]);
        check(&list, &r);
        list.free(&mut r, blocks[4], 16).unwrap();
        assert_eq!((list.top(), list.free_blocks(&r)), (GRANULE, 1));
    }

    /// A deterministic random mix of allocations and frees, checked all along, then drained.
    #[test]
    fn random_churn_keeps_every_invariant_and_drains_to_one_block() {
        let len = 1 << 20;
        let mut r = region(len);
        let mut list = FreeList::new();
        let mut live: Vec<(u32, u32)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Miri interprets every step: a shorter run there still covers every path.
        let steps = if cfg!(miri) { 2_000 } else { 20_000 };
        for step in 0..steps {
            let roll = next();
            if live.len() < 300 && roll % 3 != 0 || live.is_empty() {
                let size = match roll >> 8 & 15 {
                    0..=9 => 16 * (1 + (roll >> 16) % 4),
                    10..=14 => 16 * (5 + (roll >> 16) % 28),
                    _ => 16 * (33 + (roll >> 16) % 400),
                } as u32;
                if let Some(index) = list.alloc(&mut r, size).unwrap() {
                    mark_used(&mut r, index, size);
                    live.push((index, size));
                }
            } else {
                let (index, size) = live.swap_remove((roll >> 20) as usize % live.len());
                list.free(&mut r, index, size).unwrap();
            }
            if step % 500 == 0 {
                check(&list, &r);
                // Immediate merging: no two free blocks are neighbours, none touches `top`.
                let free = free_blocks_of(&list, &r);
                assert!(free.windows(2).all(|w| w[0].0 + w[0].1 != w[1].0));
                assert!(free.last().is_none_or(|&(index, size)| index + size != list.top()));
            }
        }
        for (index, size) in live.drain(..) {
            list.free(&mut r, index, size).unwrap();
        }
        check(&list, &r);
        list.coalesce(&mut r).unwrap();
        check(&list, &r);
        assert_eq!((list.top(), list.free_blocks(&r)), (GRANULE, 1));
        assert_eq!(list.free_bytes(&r), len as u64 - 16);
    }

    /// Random churn while random bytes of the region are overwritten: every operation returns
    /// `Ok` or an error, never panics (no overflow, no out-of-bounds index) or loops.
    #[test]
    fn corrupted_bytes_give_errors_never_panics() {
        let rounds = if cfg!(miri) { 4 } else { 40u64 };
        for round in 0..rounds {
            let len = 1 << 16;
            let mut r = region(len);
            let mut list = FreeList::new();
            let mut live: Vec<(u32, u32)> = Vec::new();
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ round.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            for step in 0..3000 {
                let roll = next();
                if step % 50 == 25 {
                    // Overwrite a header word (kind, link, size or prev) below `top` with a random
                    // value, an edge value, or a plausible offset or size.
                    let top = list.top().max(2 * GRANULE);
                    let at = (((roll >> 8) as u32 % top) & !15) | ((roll >> 4) as u32 % 4 * 4);
                    let value = match roll % 6 {
                        0 => u32::MAX,
                        1 => (roll >> 32) as u32 & !15,
                        2 => 0,
                        3 => ((roll >> 32) as u32 % top) & !15,
                        4 => 16 << ((roll >> 32) % 8),
                        _ => (roll >> 32) as u32,
                    };
                    let _ = r.write_u32(at, value);
                }
                let result = if live.len() < 60 && roll % 3 != 0 || live.is_empty() {
                    let size = 16 * (1 + (roll >> 16) as u32 % 80);
                    list.alloc(&mut r, size).map(|index| {
                        if let Some(index) = index {
                            let _ = r.write_u8(index, 0x16);
                            let _ = r.write_u32(index + SIZE_OFFSET, size);
                            live.push((index, size));
                        }
                    })
                } else {
                    let (index, size) = live.swap_remove((roll >> 20) as usize % live.len());
                    list.free(&mut r, index, size)
                };
                if result.is_err() {
                    break;
                }
            }
            let _ = list.coalesce(&mut r);
            let _ = list.largest_free_block(&r);
            let (mut free, mut allocated) = (0, 0);
            if list
                .walk(&r, |b| {
                    free += b.free as u64;
                    allocated += !b.free as u64;
                    Ok(())
                })
                .is_ok()
            {
                let _ = list.check_lists(&r, free, allocated);
            }
        }
    }

    fn block_allocator(len: usize) -> BlockAllocator {
        BlockAllocator::new(crate::region::test_region(len)).unwrap()
    }

    #[test]
    fn block_allocator_writes_headers_and_checks_frees() {
        let mut heap = block_allocator(1 << 12);
        let a = heap.alloc(20).unwrap().unwrap();
        let b = heap.alloc(1).unwrap().unwrap();
        assert_eq!((a, b), (16, 48));
        assert_eq!(heap.block(a).unwrap().len(), 32);
        assert_eq!(heap.block(a).unwrap()[0], BLOCK_KIND);
        assert_eq!(heap.block(a).unwrap()[8..12], 32u32.to_ne_bytes());
        heap.block_mut(b).unwrap()[12..16].copy_from_slice(&[1, 2, 3, 4]);
        heap.check().unwrap();
        assert_eq!(heap.free(a, 48), Err(Error::InvalidReference(a)), "wrong size");
        assert_eq!(heap.free(a + 16, 16), Err(Error::InvalidReference(a + 16)), "not a block start");
        assert_eq!(heap.free(4096, 16), Err(Error::InvalidReference(4096)), "out of bounds");
        heap.free(a, 20).unwrap();
        assert_eq!(heap.free(a, 20), Err(Error::InvalidReference(a)), "double free");
        assert_eq!(heap.block(a), Err(Error::InvalidReference(a)));
        heap.free_trusted(b, 1).unwrap();
        assert_eq!(heap.free_trusted(b, 1), Err(Error::InvalidReference(b)), "double free");
        assert_eq!(heap.free_trusted(b + 4, 1), Err(Error::InvalidReference(b + 4)), "misaligned");
        heap.check().unwrap();
        heap.coalesce().unwrap();
        assert_eq!((heap.top(), heap.free_blocks(), heap.free_bytes()), (16, 1, 4096 - 16));
        assert!(matches!(heap.alloc(u32::MAX), Err(Error::AllocationTooLarge { .. })));
    }

    #[test]
    fn block_allocator_coalesces_before_giving_up() {
        let mut heap = block_allocator(16 + 64 * 8);
        let blocks: Vec<u32> = (0..8).map(|_| heap.alloc(64).unwrap().unwrap()).collect();
        assert_eq!(heap.alloc(16).unwrap(), None);
        for &index in &blocks[2..6] {
            heap.free(index, 64).unwrap();
        }
        // 256 contiguous free bytes, but only as four 64-byte blocks until coalesced.
        let big = heap.alloc(256).unwrap().unwrap();
        assert_eq!(big, blocks[2]);
        assert_eq!(heap.alloc(16).unwrap(), None);
        heap.check().unwrap();
        assert_eq!(heap.largest_free_block().unwrap(), 0);
    }

    #[test]
    fn block_allocator_rejects_bad_regions() {
        let words = crate::region::test_region(128);
        // SAFETY: the misaligned pointer and the 64 bytes after it stay inside the 128-byte
        // leaked test region, which nothing else uses.
        let misaligned = unsafe { BlockAllocator::from_raw_parts(words.as_mut_ptr().add(8), 64) };
        assert!(matches!(misaligned.err(), Some(Error::RegionMisaligned { .. })));
        assert!(BlockAllocator::new(&mut crate::region::test_region(64)[..32]).is_err());
    }
}
