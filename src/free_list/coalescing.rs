//! Merging free blocks: at once when a block is freed next to a free neighbour
//! (`free_merging`, which takes the neighbour out of the middle of its list with `unlink`),
//! and in one pass over the blocks (`coalesce`) when the boundary bitmap could not grow and
//! some blocks were listed without being merged.
//!
//! # Invariants
//! * After a free, no two free blocks are neighbours and no free block ends at `top` (it went
//!   back to the wilderness), except above what the boundary bitmap covers.
//! * A neighbour is taken as free only when the boundary bitmap or the designated victim's
//!   offsets say so, never because of bytes in the region; its header is validated, and a list
//!   link is written only after both its list neighbours are checked to link back.
//! * A header left inside a merged block becomes a plain granule (links zero), as the zeal
//!   poison check expects.
//!
//! # Use
//! `FreeList::free` calls `free_merging` when a neighbour may be free or the block reaches
//! `top`; the heap and `BlockAllocator` call `coalesce` before they give up on an allocation.

use super::size_classes::{list_of, Listed, LISTS};
use super::{free_header, FreeList, FOOTER_MIN, GRANULE, NEXT_OFFSET, PREV_OFFSET};
use crate::error::{Error, Result};
use crate::header::{FREE_KIND, SIZE_OFFSET};
use crate::region::Region;

impl FreeList {
    /// The part of [`FreeList::free`] that merges or gives back to the wilderness.
    #[inline(never)]
    pub(super) fn free_merging(
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
}
