//! Merging free blocks at once when a block is freed next to a free neighbour
//! (`free_merging`, which takes the neighbour out of the middle of its list with `unlink`).
//!
//! # Invariants
//! * After a free, no two free blocks are neighbours and no free block ends at `top` (it went
//!   back to the wilderness).
//! * A neighbour is taken as free only when the bitmap or the designated victim's offsets say
//!   so, never because of bytes in the region; its header is validated against the bitmap, and
//!   a list link is written only after both its list neighbours are checked to link back.
//! * A header left inside a merged block becomes a plain granule (links zero), as the zeal
//!   poison check expects.
//!
//! # Use
//! `FreeList::free` calls `free_slow` (out of line, with `free_merging` inlined) when a
//! neighbour may be free or the block reaches `top` after a free neighbour, and for its
//! errors; the heap and `BlockAllocator` call `coalesce` before they give up on an
//! allocation, which has nothing to do since every free merges at once.

use super::bitmaps::{AFTER_FREE, LISTED, NONE, OBJECT};
use super::size_classes::{list_of, Listed};
use super::{plain_header, FreeList, FOOTER_MIN, GRANULE, NEXT_OFFSET, PREV_OFFSET};
use crate::error::{Error, Result};
use crate::header::{FREE_KIND, SIZE_OFFSET};
use crate::region::Region;

impl FreeList {
    /// The part of [`FreeList::free`] that merges or gives back to the wilderness, with the
    /// bitmap's codes at the block's start (`at_index`, an object) and at its end (`at_end`).
    /// Inlined into its one caller, `FreeList::free_slow`, which is out of line.
    #[inline(always)]
    pub(super) fn free_merging(
        &mut self,
        region: &mut Region,
        index: u32,
        size: u32,
        at_index: u64,
        at_end: u64,
    ) -> Result<()> {
        let end = index + size;
        // The next block starts at `end`: an object, a listed free block, the designated victim
        // or the wilderness. Anything else means `size` is not the block's (a corrupted header).
        let at_block_start = match at_end {
            OBJECT | LISTED => true,
            NONE => end == self.top || (self.dv_size != 0 && end == self.dv_start),
            _ => false,
        };
        if !at_block_start {
            return Err(Error::corrupted(index, "freed block does not end where the next block starts"));
        }
        let (index_word, index_shift) = Self::bit(index);
        self.bits[index_word] &= !(OBJECT << index_shift);
        let (mut start, mut stop) = (index, end);
        let dv_end = self.dv_start + self.dv_size;
        let mut joins_dv = false;
        // A listed neighbour's code where it meets the freed block goes when it is unlinked; its
        // code at the far side (the previous block's start, the next block's end) stays: the
        // push at the end sets it again, and only a merged block that is not listed (the
        // designated victim, or back to the wilderness) clears it.
        // The next block, if free: the designated victim, or a listed block (the bitmap, in
        // host memory, says so).
        if self.dv_size != 0 && end == self.dv_start {
            (stop, joins_dv) = (dv_end, true);
        } else if at_end == LISTED {
            // The bitmap has a listed block starting at `end` (16-aligned): its size is checked
            // against the bitmap's end code.
            let next = self.read_proven(region, end)?;
            self.unlink(region, end, &next)?;
            self.clear_listed(end);
            // Its header is now inside a free block: leave it plain.
            region.write(end, plain_header(next.size))?;
            stop = end + next.size;
        }
        // The previous block, if free: the designated victim, or a listed block (the code at
        // `index` says so; its start is the last listed start within FOOTER_MIN bytes, or else
        // its footer tells, as a larger block has one).
        if self.dv_size != 0 && index == dv_end {
            (start, joins_dv) = (self.dv_start, true);
        } else if at_index == AFTER_FREE {
            match self.unlink_previous(region, index) {
                Ok(previous_start) => start = previous_start,
                Err(error) => {
                    // As if the next block's end code had gone with its unlink.
                    if stop != end && !joins_dv {
                        self.clear_listed(stop);
                    }
                    return Err(error);
                }
            }
            self.bits[index_word] &= !(LISTED << index_shift);
        }
        if start != index {
            // The freed block's header is now inside a free block: leave it plain.
            region.write(index, plain_header(size))?;
        }
        if joins_dv {
            (self.dv_start, self.dv_size) = (start, stop - start);
        }
        if joins_dv || stop == self.top {
            // Not listed: the far codes of merged listed neighbours go.
            self.clear_listed(start);
            self.clear_listed(stop);
            region.write(start, plain_header(stop - start))?;
            if stop == self.top {
                self.top = start;
                if joins_dv {
                    (self.dv_start, self.dv_size) = (0, 0);
                }
            }
            return Ok(());
        }
        self.push(region, start, stop - start)
    }

    /// Finds, checks and unlinks the listed block that ends at `index` (the bitmap's code there
    /// is [`AFTER_FREE`]), leaving its start code; returns its start.
    #[inline(always)]
    fn unlink_previous(&mut self, region: &mut Region, index: u32) -> Result<u32> {
        let previous_start = match self.listed_start_just_below(index) {
            // A listed start: the bitmap's.
            Some(start) => start,
            None => {
                let footer = region.read_u32(index - (GRANULE - SIZE_OFFSET))?;
                if footer <= FOOTER_MIN || footer % GRANULE != 0 || footer >= index {
                    return Err(Error::corrupted(index - GRANULE, "free block footer out of bounds"));
                }
                // Checked in the bitmap.
                if !self.is_listed_start(index - footer) {
                    return Err(Error::corrupted(index - footer, "free block does not end where the bitmap says"));
                }
                index - footer
            }
        };
        // A listed start whose size ends at `index`, where the bitmap has a listed block's end.
        let previous = Self::read_links(region, previous_start)?;
        if previous_start.wrapping_add(previous.size) != index {
            return Err(Error::corrupted(previous_start, "free block does not end where the bitmap says"));
        }
        self.unlink(region, previous_start, &previous)?;
        Ok(previous_start)
    }

    /// Takes the listed block at `index` (already read as `block`) out of its list, in O(1),
    /// leaving both its bitmap codes to the caller (`free_merging` keeps one of them).
    /// Always inlined into `free_merging`'s two calls: a call returning its `Result` through
    /// memory, with the merge's state spilled around it, cost a third of an unlink.
    #[inline(always)]
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

    /// Merges adjacent free blocks: nothing to do, since every free merges at once and the
    /// bitmap always covers the blocks; only counted (`BlockAllocator::coalesces`).
    pub(crate) fn coalesce(&mut self, _region: &mut Region) -> Result<()> {
        self.coalesces += 1;
        Ok(())
    }
}
