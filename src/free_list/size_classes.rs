//! The size classes and large bins of the free list: which list a block size belongs to, the
//! bitmaps of the non-empty lists, pushing and popping list heads, the designated victim, and
//! the fit policy of every allocation that misses its exact small class.
//!
//! # Invariants
//! * List `c < SMALL_CLASSES` holds free blocks of exactly `16 * (c + 1)` bytes; list
//!   `SMALL_CLASSES + b` holds blocks whose size lies in large bin `b` (`list_range`).
//! * A list's bit in `small_bitmap` or `large_bitmaps` is set exactly when its head is not 0,
//!   and a level's bit in `large_levels` exactly when some bin of that level is non-empty.
//! * Every list is LIFO and doubly linked through the blocks' headers (`next`, `prev`); the
//!   head's `prev` is stale, so a head is recognised as the head, never by its link. A listed
//!   block larger than `FOOTER_MIN` ends with its footer.
//! * The designated victim (`dv_start`, `dv_size`) is a free block in no list and without
//!   bitmap bits, whose header is plain; `dv_size` 0 means none, and then `dv_start` is 0 too.
//! * `listed_bytes` and `listed_blocks` count the listed blocks (the victim excluded).
//!
//! # Use
//! `FreeList::alloc` pops an exact small class itself (the hot path) and calls `alloc_slow`
//! for everything else; a free lists its block with `push` or `push_unmarked`. Every link, kind
//! byte and size read from the region goes through `read_listed` or `read_free` first, or, for a
//! block whose start the bitmap has as listed, `read_links` and `read_proven` (its size checked
//! against the bitmap's end code).

use super::bitmaps::{AFTER_FREE, LISTED, WORD_GRANULES};
use super::{
    free_header, plain_header, FreeList, FOOTER_MIN, GRANULE, NEXT_OFFSET, PREV_OFFSET, SMALL_CLASSES, SMALL_MAX,
};
use crate::error::{Error, Result};
use crate::header::{FREE_KIND, SIZE_OFFSET};
use crate::region::Region;

/// Second-level bits of the large bins: each power of two is cut into `1 << LARGE_SUB_BITS`
/// bins, so the sizes in one bin differ by less than 1/16.
const LARGE_SUB_BITS: u32 = 4;
/// Bins per power of two.
pub(super) const LARGE_SUBS: usize = 1 << LARGE_SUB_BITS;
/// log2 of the smallest large bin's lower bound (512).
const LARGE_FIRST_LOG2: u32 = 9;
/// Number of powers of two the large bins cover: 2^9 ..= 2^31.
pub(super) const LARGE_LEVELS: usize = (32 - LARGE_FIRST_LOG2) as usize;
/// Number of large bins.
pub(super) const LARGE_BINS: usize = LARGE_LEVELS * LARGE_SUBS;
/// Number of lists: the small classes, then the large bins.
pub(super) const LISTS: usize = SMALL_CLASSES + LARGE_BINS;

/// A listed block's header, as read (and validated) from the region.
pub(super) struct Listed {
    pub(super) size: u32,
    pub(super) next: u32,
    pub(super) prev: u32,
}

/// The list of free blocks of `size` (a multiple of 16, at least 16).
#[inline]
pub(super) fn list_of(size: u32) -> usize {
    if size <= SMALL_MAX {
        (size / GRANULE - 1) as usize
    } else {
        SMALL_CLASSES + large_bin(size)
    }
}

/// The bin holding free blocks of `size` (> 512).
#[inline]
pub(super) fn large_bin(size: u32) -> usize {
    let log2 = 31 - size.leading_zeros();
    let sub = (size >> (log2 - LARGE_SUB_BITS)) as usize & (LARGE_SUBS - 1);
    (log2 - LARGE_FIRST_LOG2) as usize * LARGE_SUBS + sub
}

/// The lowest size that belongs to `bin`.
#[inline]
pub(super) fn large_bin_min(bin: usize) -> u64 {
    let log2 = (bin / LARGE_SUBS) as u32 + LARGE_FIRST_LOG2;
    let sub = (bin % LARGE_SUBS) as u64;
    (1u64 << log2) + (sub << (log2 - LARGE_SUB_BITS))
}

/// The largest size that belongs to `bin`.
#[inline]
pub(super) fn large_bin_max(bin: usize) -> u64 {
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

impl FreeList {
    /// Empties every list, keeping `top`, the counters and the bitmap's memory.
    pub(super) fn clear_lists(&mut self) {
        self.dv_start = 0;
        self.dv_size = 0;
        self.small_bitmap = 0;
        self.large_levels = 0;
        self.large_bitmaps = [0; LARGE_LEVELS];
        self.heads = [0; LISTS];
        self.listed_bytes = 0;
        self.listed_blocks = 0;
    }

    #[inline]
    pub(super) fn mark_empty(&mut self, list: usize) {
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
    pub(super) fn read_listed(&self, region: &Region, index: u32, list: usize) -> Result<Listed> {
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
    pub(super) fn read_free(&self, region: &Region, index: u32) -> Result<Listed> {
        if index < GRANULE || index % GRANULE != 0 || index >= self.top {
            return Err(Error::corrupted(index, "free-list link out of bounds"));
        }
        let block = Self::read_links(region, index)?;
        if block.size < GRANULE || block.size % GRANULE != 0 || block.size > self.top - index {
            return Err(Error::corrupted(index, "free block size out of bounds"));
        }
        Ok(block)
    }

    /// Takes the head of the non-empty `list`; returns its offset and size.
    #[inline(always)]
    fn pop(&mut self, region: &Region, list: usize) -> Result<(u32, u32)> {
        let index = self.heads[list];
        let block = self.read_proven(region, index)?;
        let (min, max) = list_range(list);
        if (index % GRANULE != 0)
            | !self.is_listed_start(index)
            | ((block.size as u64) < min)
            | ((block.size as u64) > max)
        {
            return Err(Error::corrupted(index, "free-list head disagrees with the bitmap"));
        }
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

    /// Reads the header of the listed block that the bitmap has starting at `index` (the
    /// caller checks that code, and that `index` is 16-aligned) and validates it against the
    /// bitmap: marked free, and a size that is a non-zero multiple of 16 at whose end the bitmap
    /// has a listed block's end ([`AFTER_FREE`]), so the block lies in `[16, top)`.
    #[inline(always)]
    pub(super) fn read_proven(&self, region: &Region, index: u32) -> Result<Listed> {
        let block = Self::read_links(region, index)?;
        let end = index.wrapping_add(block.size);
        if (block.size % GRANULE != 0) | (end <= index) || self.code(end) != AFTER_FREE {
            return Err(Error::corrupted(index, "free block does not end where the bitmap says"));
        }
        Ok(block)
    }

    /// The links and size of the block at `index`, if it is marked free; the size and links are
    /// not validated (the caller validates what it uses, against the bitmap).
    #[inline(always)]
    pub(super) fn read_links(region: &Region, index: u32) -> Result<Listed> {
        let bytes: [u8; 16] = region.read(index)?;
        if bytes[0] != FREE_KIND {
            return Err(Error::corrupted(index, "free-list link to a block not marked free"));
        }
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(Listed { size: word(SIZE_OFFSET), next: word(NEXT_OFFSET), prev: word(PREV_OFFSET) })
    }

    /// Lists the free block of `size` bytes at `index` (its neighbours are not free): writes
    /// its header and, if it is larger than [`FOOTER_MIN`], its footer, and marks its start
    /// and end in the bitmap.
    #[inline(always)]
    pub(super) fn push(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        let ((start_word, start_bit), (end_word, end_bit)) = (Self::bit(index), Self::bit(index + size));
        // The bitmap covers `[0, top]` and the block ends at or below `top`.
        if end_word < self.bits.len() {
            self.bits[start_word] |= LISTED << start_bit;
            self.bits[end_word] |= LISTED << end_bit;
        }
        self.push_unmarked(region, index, size)
    }

    /// [`FreeList::push`] of a block whose start and end the caller has marked in the bitmap.
    #[inline(always)]
    pub(super) fn push_unmarked(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
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
        self.listed_bytes = self.listed_bytes.wrapping_add(size);
        self.listed_blocks = self.listed_blocks.wrapping_add(1);
        region.write(index, free_header(size, head, 0))?;
        if size > FOOTER_MIN {
            region.write(index + size - GRANULE, plain_header(size))?;
        }
        if head != 0 {
            region.write_u32(head.wrapping_add(PREV_OFFSET), index)?;
        }
        Ok(())
    }

    /// Everything but an exact small class. A small request is carved from the designated
    /// victim if that is large enough, else from the smallest listed block that fits, whose
    /// rest becomes the new designated victim. A large request takes the smallest listed block
    /// that fits (the rest is listed), else the designated victim. Then the wilderness
    /// (`FreeList::alloc` bumps at once, without calling this, when nothing is listed and
    /// there is no victim).
    #[cold]
    pub(super) fn alloc_slow(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        let small = size <= SMALL_MAX;
        if small && self.dv_size >= size {
            return self.carve_dv(region, size).map(Some);
        }
        // One call site, so that `take_fitting` is inlined once (its `Result` is not returned
        // through memory).
        if let Some((index, block_size)) = self.take_fitting(region, size)? {
            if block_size > size {
                if small {
                    // The block had no free neighbour, so neither has the rest.
                    if self.dv_size != 0 {
                        self.push(region, self.dv_start, self.dv_size)?;
                    }
                    self.dv_start = index + size;
                    self.dv_size = block_size - size;
                    region.write(self.dv_start, plain_header(self.dv_size))?;
                } else {
                    self.push(region, index + size, block_size - size)?;
                }
            }
            return Ok(Some(index));
        }
        if !small && self.dv_size >= size {
            return self.carve_dv(region, size).map(Some);
        }
        Ok(self.bump(region, size))
    }

    /// Takes `size` bytes from the wilderness, if it has them and the bitmap can cover them.
    /// Always inlined: it is the allocation fast path of a growing heap (growing the bitmap,
    /// `cover`, is out of line).
    #[inline(always)]
    pub(super) fn bump(&mut self, region: &Region, size: u32) -> Option<u32> {
        let end = self.top.checked_add(size).filter(|&end| end <= region.len())?;
        if (end as usize / GRANULE as usize) / WORD_GRANULES >= self.bits.len() && !self.cover(end) {
            return None;
        }
        let index = self.top;
        self.top = end;
        self.peak_top = self.peak_top.max(end);
        Some(index)
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
            region.write(self.dv_start, plain_header(self.dv_size))?;
        }
        Ok(index)
    }

    /// Takes the smallest listed block of at least `size` bytes that the bitmaps find in O(1):
    /// a larger small class, else the head of the large bin of `size` if it fits, else the
    /// head of the first non-empty large bin whose blocks all fit.
    #[inline(always)]
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
}
