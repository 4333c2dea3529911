//! [`BlockAllocator`]: the free list as a plain public allocator over a caller region
//! (`alloc`, `free`, `coalesce`, statistics and access to block bytes), so that code outside
//! the crate, such as the benchmarks in `bench/`, can drive it. Compiled only with the
//! `block-allocator` cargo feature (which `bench/` turns on) and for the unit tests.
//!
//! # Invariants
//! It writes the minimal header a GC object would (kind [`BLOCK_KIND`] and size), as the heap
//! does on every allocation, and relies on the caller leaving bytes 0..12 of a block alone
//! while it is in use. `free` checks that header first; `free_trusted` trusts the caller's size
//! as an allocator's `dealloc` does and reads nothing from the block (misuse still cannot cause
//! undefined behaviour, as every access is bounds-checked).
//!
//! # Use
//! `bench/` compares it with other allocators over the same region (see `bench/src/alloc_trace/subjects.rs`).

use super::{header_words, FreeList, GRANULE, MAX_BLOCK};
use crate::error::{Error, Result};
use crate::header::{FREE_KIND, SIZE_OFFSET};
use crate::region::Region;

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
        Ok(BlockAllocator { region: Region::from_slice(memory)?, list: FreeList::new() })
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
        // Kind, then zeros, the size at SIZE_OFFSET (8) and a zero reference count.
        const _: () = assert!(SIZE_OFFSET == 8);
        let kind = u32::from_ne_bytes([BLOCK_KIND, 0, 0, 0]);
        self.region.write(index, header_words(kind, 0, block, 0))?;
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

    /// Bytes of host memory (outside the region) the allocator keeps for its bitmap (object
    /// starts, listed free blocks): two bits per 16 bytes below the high-water offset, and an
    /// eighth more.
    pub fn side_table_bytes(&self) -> usize {
        self.list.side_table_bytes()
    }

    /// How many times [`BlockAllocator::coalesce`] ran (`alloc` also runs it before it gives
    /// up). Frees merge at once, so it has nothing to do.
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
