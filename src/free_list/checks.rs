//! The walk over every block below `top` and the consistency checks that [`crate::verify`]
//! (and `BlockAllocator::check` and the unit tests) run with it.
//!
//! # Invariants checked
//! * The blocks tile `[16, top)`: every size read is a multiple of 16, at least a header, and
//!   ends at or below `top` (`walk`, `block_at`).
//! * Every object has its object bit and every free block none (`check_start_bit`), and the
//!   bitmap holds no other object bit (`check_lists`).
//! * Every list holds valid free blocks of its sizes with their boundary bits, linked back to
//!   their predecessors, without a cycle; the list bitmaps agree with the heads; the lists and
//!   the designated victim hold exactly the free blocks of the walk, with the counted bytes;
//!   the bitmap has listed bits exactly at the listed blocks' starts and ends (`check_lists`).
//!
//! # Use
//! These are the only O(n) operations besides `largest_free_block`: they run when the heap is
//! verified, never on allocation or free.

use super::size_classes::{LARGE_LEVELS, LARGE_SUBS, LISTS};
use super::{Block, FreeList, GRANULE, SMALL_CLASSES};
use crate::error::{Error, Result};
use crate::header::{FREE_KIND, HEADER_SIZE};
use crate::region::Region;

impl FreeList {
    /// Reads the kind byte and size of the block at `index` (below `top`), checking that the
    /// size keeps the blocks tiling `[16, top)`.
    #[inline]
    pub(super) fn block_at(&self, region: &Region, index: u32) -> Result<Block> {
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
                if !has_bits {
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
        let (start_bits, end_bits) = self.listed_codes();
        if seen != free_blocks_in_walk || seen != self.listed_blocks as u64 || bytes != self.listed_bytes as u64 {
            return Err(Error::VerifyFailed {
                offset: 0,
                what: "free-list block count",
                found: seen,
                expected: free_blocks_in_walk,
            });
        }
        if start_bits != seen || end_bits != seen {
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
