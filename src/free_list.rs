//! The free list: an intrusive, segregated-fit allocator of 16-byte-granular blocks.
//!
//! # Layout
//! The region is `[0, 16)` (reserved, so that offset 0 is null), then blocks from offset 16 up
//! to `top`, then the *wilderness* `[top, region end)`, never yet handed out (or returned by
//! coalescing). Every block below `top` is either an object (see [`crate::header`]) or a free
//! block, and both keep their size in the `u32` at offset 8, so the blocks tile `[16, top)` and
//! can be walked in order. A free block is:
//!
//! | offset | field                                          |
//! |--------|------------------------------------------------|
//! | 0      | kind byte [`FREE_KIND`] (0), then 3 zero bytes |
//! | 4      | next free block of the same list (0 = end)     |
//! | 8      | size in bytes                                  |
//! | 12     | 0                                              |
//!
//! Links are region offsets, never native pointers.
//!
//! # Lists
//! * **Small classes**: one LIFO list per exact size 16, 32, ..., 512 ([`SMALL_CLASSES`]), with a
//!   `u32` bitmap of the non-empty ones. Allocation pops, free pushes: O(1), no search.
//! * **Large bins** for blocks above 512 bytes, two-level as in TLSF: the bin of a size is its
//!   power of two and the next two bits below it, with a `u128` bitmap. A request is rounded up
//!   to the next bin boundary, so the head of any non-empty bin at or above it fits: O(1).
//!
//! # Allocation order
//! Exact small class, then the wilderness (bump), then a larger small class or large bin whose
//! block is split (the rest goes back to its list). Nothing walks a list.
//!
//! # Coalescing
//! Frees do not merge with neighbours (that would need boundary tags and costs every free). The
//! heap calls [`FreeList::coalesce`] in batches instead: when an allocation found nothing and at
//! the end of collections. It walks `[16, top)` once, merges every run of adjacent free blocks,
//! gives a run that ends at `top` back to the wilderness, and rebuilds the lists. A heap whose
//! objects are all gone is therefore a single free block (the wilderness) again.
//!
//! # Validation
//! Every link, kind byte and size read from the region is checked before use: a head that is
//! out of bounds, misaligned, not marked free, or of the wrong size for its list is reported as
//! [`Error::Corrupted`].

use crate::error::{Error, Result};
use crate::header::{FREE_KIND, HEADER_SIZE, SIZE_OFFSET, TYPE_INDEX_OFFSET};
use crate::region::Region;

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
/// Second-level bits of the large bins.
const LARGE_SUB_BITS: u32 = 2;
/// log2 of the smallest large bin's lower bound (512).
const LARGE_FIRST_LOG2: u32 = 9;
/// Number of large bins: log2 levels 9..=31, four sub-bins each.
const LARGE_BINS: usize = ((32 - LARGE_FIRST_LOG2) << LARGE_SUB_BITS) as usize;

/// The allocator state. It lives outside the region and holds only offsets.
pub(crate) struct FreeList {
    /// Start of the wilderness.
    top: u32,
    small_heads: [u32; SMALL_CLASSES],
    small_bitmap: u32,
    large_heads: [u32; LARGE_BINS],
    large_bitmap: u128,
    /// Bytes in listed free blocks (the wilderness excluded).
    listed_bytes: u64,
    /// Number of listed free blocks.
    listed_blocks: u64,
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

#[inline]
fn small_class(size: u32) -> usize {
    (size / GRANULE - 1) as usize
}

/// The bin holding free blocks of `size` (> 512).
#[inline]
fn large_bin(size: u32) -> usize {
    let log2 = 31 - size.leading_zeros();
    let sub = (size >> (log2 - LARGE_SUB_BITS)) & ((1 << LARGE_SUB_BITS) - 1);
    (((log2 - LARGE_FIRST_LOG2) << LARGE_SUB_BITS) | sub) as usize
}

/// The lowest size that belongs to `bin`.
#[inline]
fn large_bin_min(bin: usize) -> u64 {
    let log2 = (bin as u32 >> LARGE_SUB_BITS) + LARGE_FIRST_LOG2;
    let sub = bin as u64 & ((1 << LARGE_SUB_BITS) - 1);
    (1u64 << log2) + (sub << (log2 - LARGE_SUB_BITS))
}

/// The first bin whose every block is at least `size` bytes, if any.
#[inline]
fn large_bin_fitting(size: u32) -> Option<usize> {
    let bin = large_bin(size);
    if large_bin_min(bin) == size as u64 {
        Some(bin)
    } else if bin + 1 < LARGE_BINS {
        Some(bin + 1)
    } else {
        None
    }
}

impl FreeList {
    /// A free list with the whole region as wilderness.
    pub(crate) fn new() -> FreeList {
        FreeList {
            top: GRANULE,
            small_heads: [0; SMALL_CLASSES],
            small_bitmap: 0,
            large_heads: [0; LARGE_BINS],
            large_bitmap: 0,
            listed_bytes: 0,
            listed_blocks: 0,
        }
    }

    /// Forgets every block: the whole region is wilderness again.
    pub(crate) fn reset(&mut self) {
        *self = FreeList::new();
    }

    /// The offset where the wilderness begins; every block lies below it.
    #[inline]
    pub(crate) fn top(&self) -> u32 {
        self.top
    }

    /// Rounds an object size up to a block size, or `None` if that overflows `u32`.
    #[inline]
    pub(crate) fn block_size(size: u32) -> Option<u32> {
        let rounded = size.checked_add(GRANULE - 1)? & !(GRANULE - 1);
        Some(rounded.max(GRANULE))
    }

    /// Allocates a block of exactly `size` bytes (a non-zero multiple of 16) and returns its
    /// offset, or `Ok(None)` when no free block or wilderness is large enough right now. The
    /// block's bytes are unspecified; the caller writes a header at once.
    #[inline]
    pub(crate) fn alloc(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0);
        if size <= SMALL_MAX {
            let class = small_class(size);
            if self.small_bitmap & (1 << class) != 0 {
                return self.pop_small(region, class).map(Some);
            }
        }
        if let Some(index) = self.bump(region, size) {
            return Ok(Some(index));
        }
        self.alloc_by_splitting(region, size)
    }

    #[inline]
    fn bump(&mut self, region: &Region, size: u32) -> Option<u32> {
        let end = self.top.checked_add(size)?;
        if end > region.len() {
            return None;
        }
        let index = self.top;
        self.top = end;
        Some(index)
    }

    #[cold]
    fn alloc_by_splitting(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        // A larger small class.
        if size < SMALL_MAX {
            let above = self.small_bitmap & !((2u32 << small_class(size)) - 1);
            if above != 0 {
                let class = above.trailing_zeros() as usize;
                let index = self.pop_small(region, class)?;
                self.split(region, index, (class as u32 + 1) * GRANULE, size)?;
                return Ok(Some(index));
            }
        }
        // A large bin whose blocks all fit.
        let first = if size <= SMALL_MAX {
            Some(0)
        } else {
            large_bin_fitting(size)
        };
        let Some(first) = first else { return Ok(None) };
        let candidates = if first >= 128 {
            0
        } else {
            self.large_bitmap >> first << first
        };
        if candidates == 0 {
            return Ok(None);
        }
        let bin = candidates.trailing_zeros() as usize;
        let (index, block_size) = self.pop_large(region, bin)?;
        self.split(region, index, block_size, size)?;
        Ok(Some(index))
    }

    /// Keeps the first `size` bytes of the block at `index` and frees the rest.
    #[inline]
    fn split(&mut self, region: &mut Region, index: u32, block_size: u32, size: u32) -> Result<()> {
        if block_size > size {
            self.free(region, index + size, block_size - size)?;
        }
        Ok(())
    }

    /// Reads and validates the head of a list: in bounds, aligned, marked free, of a size the
    /// list may hold. Returns the block's size and its next link.
    #[inline]
    fn check_free_block(
        &self,
        region: &Region,
        index: u32,
        min: u64,
        max: u64,
    ) -> Result<(u32, u32)> {
        if index < GRANULE || index % GRANULE != 0 || index >= self.top {
            return Err(Error::corrupted(index, "free-list link out of bounds"));
        }
        let bytes: [u8; 16] = region.read(index)?;
        if bytes[0] != FREE_KIND {
            return Err(Error::corrupted(
                index,
                "free-list link to a block not marked free",
            ));
        }
        let word = |at: usize| {
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let size = word(SIZE_OFFSET as usize);
        if (size as u64) < min
            || (size as u64) > max
            || size % GRANULE != 0
            || index as u64 + size as u64 > self.top as u64
        {
            return Err(Error::corrupted(
                index,
                "free block size does not fit its list",
            ));
        }
        Ok((size, word(NEXT_OFFSET as usize)))
    }

    #[inline]
    fn pop_small(&mut self, region: &mut Region, class: usize) -> Result<u32> {
        let index = self.small_heads[class];
        let size = (class as u32 + 1) * GRANULE;
        let (_, next) = self.check_free_block(region, index, size as u64, size as u64)?;
        self.small_heads[class] = next;
        if next == 0 {
            self.small_bitmap &= !(1 << class);
        }
        self.listed_bytes -= size as u64;
        self.listed_blocks -= 1;
        Ok(index)
    }

    fn pop_large(&mut self, region: &mut Region, bin: usize) -> Result<(u32, u32)> {
        let index = self.large_heads[bin];
        let max = if bin + 1 < LARGE_BINS {
            large_bin_min(bin + 1) - 1
        } else {
            u32::MAX as u64
        };
        let (size, next) = self.check_free_block(region, index, large_bin_min(bin), max)?;
        self.large_heads[bin] = next;
        if next == 0 {
            self.large_bitmap &= !(1 << bin);
        }
        self.listed_bytes -= size as u64;
        self.listed_blocks -= 1;
        Ok((index, size))
    }

    /// Returns the block of `size` bytes at `index` to its list. The caller guarantees that the
    /// block was allocated from this free list and is no longer used.
    #[inline]
    pub(crate) fn free(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0 && index % GRANULE == 0);
        let head = if size <= SMALL_MAX {
            let class = small_class(size);
            self.small_bitmap |= 1 << class;
            core::mem::replace(&mut self.small_heads[class], index)
        } else {
            let bin = large_bin(size);
            self.large_bitmap |= 1 << bin;
            core::mem::replace(&mut self.large_heads[bin], index)
        };
        let mut bytes = [0u8; 16];
        bytes[NEXT_OFFSET as usize..NEXT_OFFSET as usize + 4].copy_from_slice(&head.to_ne_bytes());
        bytes[SIZE_OFFSET as usize..SIZE_OFFSET as usize + 4].copy_from_slice(&size.to_ne_bytes());
        region.write(index, bytes)?;
        self.listed_bytes += size as u64;
        self.listed_blocks += 1;
        Ok(())
    }

    /// Calls `visit` for every block in `[16, top)` in address order, validating that the
    /// blocks tile that range.
    pub(crate) fn walk(
        &self,
        region: &Region,
        mut visit: impl FnMut(Block) -> Result<()>,
    ) -> Result<()> {
        let mut index = GRANULE;
        while index < self.top {
            let bytes: [u8; 12] = region.read(index)?;
            let size = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            if size < HEADER_SIZE || size % GRANULE != 0 || size > self.top - index {
                return Err(Error::corrupted(
                    index,
                    "block size breaks the heap's tiling",
                ));
            }
            visit(Block {
                index,
                size,
                free: bytes[0] == FREE_KIND,
            })?;
            index += size;
        }
        Ok(())
    }

    /// Merges every run of adjacent free blocks, returns a trailing run to the wilderness and
    /// rebuilds the lists. O(blocks below `top`).
    pub(crate) fn coalesce(&mut self, region: &mut Region) -> Result<()> {
        let mut runs: alloc::vec::Vec<(u32, u32)> = alloc::vec::Vec::new();
        let mut current: Option<(u32, u32)> = None;
        self.walk(region, |block| {
            if block.free {
                current = Some(match current {
                    Some((start, size)) => (start, size + block.size),
                    None => (block.index, block.size),
                });
            } else if let Some(run) = current.take() {
                runs.push(run);
            }
            Ok(())
        })?;
        let top = self.top;
        self.reset();
        self.top = top;
        if let Some((start, _)) = current {
            self.top = start;
        }
        for (start, size) in runs {
            self.free(region, start, size)?;
        }
        Ok(())
    }

    /// Bytes that can still be allocated: listed blocks plus the wilderness.
    pub(crate) fn free_bytes(&self, region: &Region) -> u64 {
        self.listed_bytes + (region.len() - self.top) as u64
    }

    /// Number of free blocks, counting a non-empty wilderness as one.
    pub(crate) fn free_blocks(&self, region: &Region) -> u64 {
        self.listed_blocks + u64::from(region.len() > self.top)
    }

    /// The largest single block that could be allocated without coalescing.
    pub(crate) fn largest_free_block(&self, region: &Region) -> Result<u32> {
        let mut largest = region.len() - self.top;
        if self.small_bitmap != 0 {
            largest = largest.max((32 - self.small_bitmap.leading_zeros()) * GRANULE);
        }
        if self.large_bitmap != 0 {
            let bin = 127 - self.large_bitmap.leading_zeros() as usize;
            let mut index = self.large_heads[bin];
            let mut steps = 0u64;
            while index != 0 {
                let (size, next) =
                    self.check_free_block(region, index, large_bin_min(bin), u32::MAX as u64)?;
                largest = largest.max(size);
                index = next;
                steps += 1;
                if steps > self.listed_blocks {
                    return Err(Error::corrupted(index, "free list has a cycle"));
                }
            }
        }
        Ok(largest)
    }

    /// Checks every list: each entry is a valid free block of the right size class, no list
    /// has a cycle, and the lists hold exactly `free_blocks_in_walk` blocks.
    pub(crate) fn check_lists(&self, region: &Region, free_blocks_in_walk: u64) -> Result<()> {
        let mut seen = 0u64;
        let mut bytes = 0u64;
        let lists = (0..SMALL_CLASSES)
            .map(|class| {
                (
                    self.small_heads[class],
                    ((class as u64 + 1) * 16, (class as u64 + 1) * 16),
                    self.small_bitmap & (1 << class) != 0,
                )
            })
            .chain((0..LARGE_BINS).map(|bin| {
                let max = if bin + 1 < LARGE_BINS {
                    large_bin_min(bin + 1) - 1
                } else {
                    u32::MAX as u64
                };
                (
                    self.large_heads[bin],
                    (large_bin_min(bin), max),
                    self.large_bitmap & (1 << bin) != 0,
                )
            }));
        for (head, (min, max), bit) in lists {
            if bit != (head != 0) {
                return Err(Error::VerifyFailed {
                    offset: head,
                    what: "free-list bitmap disagrees with list head",
                    found: bit as u64,
                    expected: (head != 0) as u64,
                });
            }
            let mut index = head;
            while index != 0 {
                let (size, next) = self.check_free_block(region, index, min, max)?;
                seen += 1;
                bytes += size as u64;
                if seen > free_blocks_in_walk {
                    return Err(Error::VerifyFailed {
                        offset: index,
                        what: "free lists hold more blocks than the heap walk found",
                        found: seen,
                        expected: free_blocks_in_walk,
                    });
                }
                index = next;
            }
        }
        if seen != free_blocks_in_walk || seen != self.listed_blocks || bytes != self.listed_bytes {
            return Err(Error::VerifyFailed {
                offset: 0,
                what: "free-list block count",
                found: seen,
                expected: free_blocks_in_walk,
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
pub struct BlockAllocator {
    region: Region,
    list: FreeList,
}

impl BlockAllocator {
    /// An allocator over `memory`, which must be 16-aligned, a multiple of 16 long, and between
    /// [`crate::MIN_REGION_LEN`] and [`crate::MAX_REGION_LEN`] bytes.
    pub fn new(memory: &'static mut [u8]) -> Result<BlockAllocator> {
        Ok(BlockAllocator {
            region: Region::from_static(memory)?,
            list: FreeList::new(),
        })
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
        Ok(BlockAllocator {
            region,
            list: FreeList::new(),
        })
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
            return Err(Error::AllocationTooLarge {
                requested: size as usize,
                max: MAX_BLOCK as usize,
            });
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
        header[SIZE_OFFSET as usize..SIZE_OFFSET as usize + 4]
            .copy_from_slice(&block.to_ne_bytes());
        self.region.write(index, header)?;
        Ok(Some(index))
    }

    /// Frees the block at `index` that was allocated for `size` bytes. The block's header is
    /// checked first: [`Error::InvalidReference`] if `index` is not an allocated block of that
    /// size (a double free, for example).
    #[inline]
    pub fn free(&mut self, index: u32, size: u32) -> Result<()> {
        let block = FreeList::block_size(size).ok_or(Error::InvalidReference(index))?;
        if index < GRANULE
            || index % GRANULE != 0
            || index as u64 + block as u64 > self.list.top() as u64
        {
            return Err(Error::InvalidReference(index));
        }
        let header: [u8; 12] = self.region.read(index)?;
        let stored = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
        if header[0] == FREE_KIND || stored != block {
            return Err(Error::InvalidReference(index));
        }
        self.list.free(&mut self.region, index, block)
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
        self.region
            .slice_mut(index, size, "block out of region bounds")
    }

    fn block_len(&self, index: u32) -> Result<u32> {
        if index < GRANULE || index % GRANULE != 0 || index >= self.list.top() {
            return Err(Error::InvalidReference(index));
        }
        let header: [u8; 12] = self.region.read(index)?;
        if header[0] == FREE_KIND {
            return Err(Error::InvalidReference(index));
        }
        Ok(u32::from_ne_bytes([
            header[8], header[9], header[10], header[11],
        ]))
    }

    /// Walks every block and checks every free list (for tests and debugging).
    pub fn check(&self) -> Result<()> {
        let mut free = 0;
        self.list.walk(&self.region, |block| {
            free += block.free as u64;
            Ok(())
        })?;
        self.list.check_lists(&self.region, free)
    }

    /// Forgets every block: the whole region is free again.
    pub fn reset(&mut self) {
        self.list.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    fn region(len: usize) -> Region {
        let words: &'static mut [u128] = Box::leak(vec![0u128; len / 16].into_boxed_slice());
        // SAFETY: the leaked buffer is `len` bytes, 16-aligned, 'static and used by nothing else.
        unsafe { Region::from_raw_parts(words.as_mut_ptr().cast(), len) }.unwrap()
    }

    /// Marks a block as an object for the walk (kind byte 0x16, size word), as the heap does.
    fn mark_used(region: &mut Region, index: u32, size: u32) {
        region.write_u8(index, 0x16).unwrap();
        region.write_u32(index + SIZE_OFFSET, size).unwrap();
    }

    fn check(list: &FreeList, region: &Region) {
        let mut free = 0;
        list.walk(region, |b| {
            free += b.free as u64;
            Ok(())
        })
        .unwrap();
        list.check_lists(region, free).unwrap();
    }

    #[test]
    fn large_bins_round_up_so_heads_always_fit() {
        for size in (SMALL_MAX + 16..1 << 20).step_by(16 * 37) {
            let bin = large_bin_fitting(size).unwrap();
            assert!(large_bin_min(bin) >= size as u64, "size {size} bin {bin}");
            assert!(large_bin_min(large_bin(size)) <= size as u64);
            assert!(large_bin_min(large_bin(size) + 1) > size as u64);
        }
    }

    #[test]
    fn exact_class_reuse_is_lifo() {
        let mut r = region(4096);
        let mut list = FreeList::new();
        let a = list.alloc(&mut r, 48).unwrap().unwrap();
        let b = list.alloc(&mut r, 48).unwrap().unwrap();
        mark_used(&mut r, a, 48);
        mark_used(&mut r, b, 48);
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
        let a = list.alloc(&mut r, 32).unwrap().unwrap();
        let b = list.alloc(&mut r, 32).unwrap().unwrap();
        mark_used(&mut r, b, 32);
        list.free(&mut r, a, 32).unwrap();
        list.free(&mut r, b, 32).unwrap();
        r.write_u32(b + NEXT_OFFSET, 0xffff_fff0).unwrap();
        assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(b));
        assert!(list.alloc(&mut r, 32).unwrap_err().is_corruption());
    }

    fn block_allocator(len: usize) -> BlockAllocator {
        let words: &'static mut [u128] = Box::leak(vec![0u128; len / 16].into_boxed_slice());
        // SAFETY: the leaked buffer is `len` bytes, 16-aligned, 'static and used by nothing else.
        unsafe { BlockAllocator::from_raw_parts(words.as_mut_ptr().cast(), len) }.unwrap()
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
        assert_eq!(
            heap.free(a, 48),
            Err(Error::InvalidReference(a)),
            "wrong size"
        );
        assert_eq!(
            heap.free(a + 16, 16),
            Err(Error::InvalidReference(a + 16)),
            "not a block start"
        );
        assert_eq!(
            heap.free(4096, 16),
            Err(Error::InvalidReference(4096)),
            "out of bounds"
        );
        heap.free(a, 20).unwrap();
        assert_eq!(
            heap.free(a, 20),
            Err(Error::InvalidReference(a)),
            "double free"
        );
        assert_eq!(heap.block(a), Err(Error::InvalidReference(a)));
        heap.free(b, 1).unwrap();
        heap.check().unwrap();
        heap.coalesce().unwrap();
        assert_eq!(
            (heap.top(), heap.free_blocks(), heap.free_bytes()),
            (16, 1, 4096 - 16)
        );
        assert!(matches!(
            heap.alloc(u32::MAX),
            Err(Error::AllocationTooLarge { .. })
        ));
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
        let words: &'static mut [u128] = Box::leak(vec![0u128; 8].into_boxed_slice());
        // SAFETY: as in `block_allocator`; the misaligned pointer stays inside the buffer.
        let misaligned =
            unsafe { BlockAllocator::from_raw_parts(words.as_mut_ptr().cast::<u8>().add(8), 64) };
        assert!(matches!(
            misaligned.err(),
            Some(Error::RegionMisaligned { .. })
        ));
        let bytes: &'static mut [u8] = Box::leak(vec![0u8; 32].into_boxed_slice());
        assert!(BlockAllocator::new(bytes).is_err());
    }
}
