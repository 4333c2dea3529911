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
//! 3. The wilderness (bump); at once, without step 2, when nothing is listed and there is no
//!    designated victim.
//!
//! This is an O(1) approximation of best fit, which on the allocator trace of `bench/` keeps the
//! footprint below that of talc and rlsf.
//!
//! # Merging
//! A free merges the block with a free neighbour on either side at once, and a block that then
//! reaches `top` goes back to the wilderness; so no two free blocks are ever neighbours and a
//! heap whose objects are all freed is one free block (the wilderness) again. A neighbour that
//! is the designated victim is recognised by its offsets; whether another neighbour is free is
//! read from a bitmap in host memory (`bitmaps.rs`: two bits per granule, "an object starts
//! here" and "a listed free block starts or ends here"), never from the region: an object's own
//! bytes can imitate a free block, but cannot make the free list merge with it. The start of a
//! free block before the freed one is found in that bitmap (at most three words back) or, for
//! a block larger than 1024 bytes, from its footer, checked against the bitmap and the block's
//! header. The bitmap grows with `top` (1/64 of the bytes below it, plus an eighth): it is the
//! price of merging at once without trusting the region, and `bench/` reports the footprint
//! with and without it. If the host cannot grow it, the wilderness is not used beyond it.
//!
//! # Allocated blocks
//! The object bits are exact: every allocation sets its block's bit and every free clears it
//! (a free of anything else, such as a point inside a block or a block freed already, is
//! refused; so is a free whose end is not where the bitmap has the next block start). The heap
//! checks it before it reads a header at a word that came from anywhere (a host handle, a
//! field, a root, the bump chunk): a word pointing inside an object, even at a well-formed fake
//! header written there by ordinary stores, or at a freed block, is refused without its bytes
//! being read. The bitmap is cleared below the highest `top` since its last clear, so a reset
//! leaves it as new whatever happened.
//!
//! # Costs
//! Allocation from an exact class: one read of the head block, the bitmap words of its start
//! and end updated (the start's object bit set with them). A free with no free neighbour: one
//! bitmap word read and written (two if the block ends in the next word), the block's header
//! written, one link written in the previous head; it reads nothing from the region. A free of
//! the last block below `top` whose previous block is an object
//! (a tree freed in reverse allocation order, as binary-trees frees): one bitmap word, a plain
//! header written, `top` lowered; and with nothing listed and no designated victim an
//! allocation bumps inline. Merging adds reads of the neighbours' headers and of their list
//! neighbours. Nothing is O(n) but the walks that check the heap ([`crate::verify`],
//! `BlockAllocator::check`) and `largest_free_block` (the largest bin's list).

//! # Validation
//! Every link, kind byte and size read from the region is checked before use: a block that is
//! out of bounds, misaligned, not marked free, of the wrong size for its list, whose links
//! disagree with its neighbours in the list, or that disagrees with the bitmap is reported as
//! [`Error::Corrupted`]. Where a listed block is taken (a pop, a neighbour merged), the bitmap
//! proves it: a listed start at its offset and a listed block's end where its size ends, which
//! also puts it in `[16, top)`.
//!
//! # `BlockAllocator` (cargo feature `block-allocator`)
//! The free list as a plain public allocator over a caller region (`alloc`, `free`, `coalesce`,
//! statistics and access to block bytes), so that code outside the crate, such as the
//! benchmarks in `bench/` (which turn the feature on), can drive it. It writes the minimal
//! header a GC object would (kind and size), as the heap does on every allocation. `free` checks
//! that header first; `free_trusted` trusts the caller's size as an allocator's `dealloc` does
//! and reads nothing from the block (misuse still cannot cause undefined behaviour).
//!
//! # Use
//! The heap ([`crate::heap`]) owns one free list next to its region: every allocation calls
//! `alloc` (and `coalesce`, which has nothing to do since frees merge at once, then `alloc`
//! again, before it reports that the region is full),
//! every object freed calls `free`, every word that claims to be a reference is checked with
//! `is_allocated` before its header is read, and a reset calls `reset`. [`crate::verify`] and
//! [`crate::zeal`] walk the blocks with `walk`, [`crate::stats`] reads the counters.
//!
//! # Files
//! * `mod.rs`: the [`GRANULE`] and block-size constants, the free-block header, the
//!   `FreeList` state and its core API (`new`, `reset`, `alloc` and its exact-class hot path,
//!   `free` of a block with no free neighbour, the free byte and block counts).
//! * `size_classes.rs`: the small classes and large bins (which list a size belongs to, the
//!   bitmaps of non-empty lists, pushing and popping), the designated victim and the fit policy
//!   of an allocation that misses its exact class.
//! * `bitmaps.rs`: the host-side bitmap of object starts and listed free blocks.
//! * `coalescing.rs`: merging a freed block with its free neighbours.
//! * `checks.rs`: the walk over every block and the consistency checks of [`crate::verify`].
//! * `block_allocator.rs`: `BlockAllocator`, only with the `block-allocator` feature.
//! * `tests.rs`: the unit tests.

mod bitmaps;
#[cfg(any(test, feature = "block-allocator"))]
mod block_allocator;
mod checks;
mod coalescing;
mod size_classes;
#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "block-allocator"))]
pub use block_allocator::{BlockAllocator, BLOCK_KIND};

use crate::error::{Error, Result};
use crate::header::{FREE_KIND, REF_COUNT_OFFSET, SIZE_OFFSET, TYPE_INDEX_OFFSET};
use crate::region::Region;
use alloc::vec::Vec;
use bitmaps::{AFTER_FREE, LISTED, OBJECT};
use size_classes::{LARGE_LEVELS, LISTS};

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
/// Free blocks larger than this end with a footer (a plain granule holding their size), so a
/// block freed after one finds its start. Smaller ones are found in the bitmap, at most three
/// words back (64 granules = 1024 bytes, at least).
const FOOTER_MIN: u32 = 2 * bitmaps::WORD_GRANULES as u32 * GRANULE;

/// The allocator state. It lives outside the region and holds only offsets, plus the one
/// piece of state the region cannot be trusted with: where objects start and where listed free
/// blocks start and end.
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
    /// Bits `2g` and `2g + 1` of word `g / 32` (with `g % 32`): an object starts at offset
    /// `16 * g`; a listed free block starts or ends there (`bitmaps.rs`). Set and cleared by
    /// every allocation and free, so exact; covers `[0, top]`. It is how the heap knows that a
    /// word from anywhere (a host handle, a field, a root) is the start of a live object, not a
    /// point inside one, nor a block that was freed, and how a free finds free neighbours.
    bits: Vec<u64>,
    /// The highest `top` since the bitmap was last cleared: no bit is set above it (a bit is
    /// set only at offsets up to `top`), so clearing up to it leaves the bitmap as new even
    /// after `top` went down past bits that corruption left behind.
    peak_top: u32,
    /// The highest `top` before the bitmap was last cleared (`peak_top` holds the highest
    /// since): with it, the highest `top` ever, which the heap reports as the peak of its used
    /// bytes without a count on every allocation.
    highest_top_before_clear: u32,
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

/// `free_header(size, 0, 0)`, the plain granule, as two stores ([`header_words`]; a header
/// with a link keeps `free_header`'s four, as a link in a `u64` half would need a shift).
#[inline(always)]
fn plain_header(size: u32) -> [u8; 16] {
    const _: () = assert!(SIZE_OFFSET == 8);
    header_words(0, 0, size, 0)
}

/// The 16 bytes of the four native-endian `u32` words `[w0, w1, w2, w3]`, made of two `u64`
/// halves so that a header is written with two stores (a constant or zero-extended half
/// needs no shift), not one per word or per byte.
#[inline(always)]
pub(super) fn header_words(w0: u32, w1: u32, w2: u32, w3: u32) -> [u8; 16] {
    let half = |first: u32, second: u32| {
        let (low, high) = if cfg!(target_endian = "little") { (first, second) } else { (second, first) };
        (low as u64 | (high as u64) << 32).to_ne_bytes()
    };
    let (front, back) = (half(w0, w1), half(w2, w3));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&front);
    bytes[8..].copy_from_slice(&back);
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
            bits: Vec::new(),
            peak_top: GRANULE,
            highest_top_before_clear: GRANULE,
        }
    }

    /// Forgets every block: the whole region is wilderness again. Clears the bitmap up to the
    /// highest `top` since the last clear (two bits per granule), whatever happened since, and
    /// keeps its memory.
    pub(crate) fn reset(&mut self) {
        self.clear_bitmap();
        self.clear_lists();
        self.top = GRANULE;
        self.peak_top = GRANULE;
    }

    /// The offset where the wilderness begins; every block lies below it.
    #[inline]
    pub(crate) fn top(&self) -> u32 {
        self.top
    }

    /// The highest `top` ever: the end of the highest block ever handed out, 0 before the
    /// first (`top` only rises when the wilderness hands out a block).
    pub(crate) fn highest_top(&self) -> u32 {
        let highest = self.highest_top_before_clear.max(self.peak_top).max(self.top);
        if highest > GRANULE {
            highest
        } else {
            0
        }
    }

    /// How many times [`FreeList::coalesce`] was called.
    /// Only `BlockAllocator` asks (the heap keeps its own statistics), so it is compiled with it.
    #[cfg(any(test, feature = "block-allocator"))]
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

    /// Allocates a block of exactly `size` bytes (a non-zero multiple of 16) and returns its
    /// offset, or `Ok(None)` when no free block or wilderness is large enough right now. The
    /// block's bytes are unspecified; the caller writes a header at once.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, region: &mut Region, size: u32) -> Result<Option<u32>> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0);
        let index = if (self.small_bitmap | self.large_levels | self.dv_size) == 0 {
            // Nothing listed and no designated victim (a heap that only grows, or whose frees
            // all went back to the wilderness, as a tree freed in reverse order does): bump.
            match self.bump(region, size) {
                Some(index) => index,
                None => return Ok(None),
            }
        } else {
            let class = (size / GRANULE).wrapping_sub(1) as usize;
            if class < SMALL_CLASSES && self.small_bitmap >> class & 1 != 0 {
                // The pop sets the block's object bit itself (with the bitmap word it updates).
                return self.pop_small(region, class, size).map(Some);
            }
            match self.alloc_slow(region, size)? {
                Some(index) => index,
                None => return Ok(None),
            }
        };
        self.mark_allocated(index).map(Some)
    }

    /// Sets the object bit of the block just allocated at `index` (every block below `top` is
    /// covered: `bump` grows the bitmap with `top`), and returns `index`.
    #[inline(always)]
    fn mark_allocated(&mut self, index: u32) -> Result<u32> {
        let (word, shift) = Self::bit(index);
        match self.bits.get_mut(word) {
            Some(word) => *word |= OBJECT << shift,
            None => return Err(Self::outside_bitmap(index)),
        }
        Ok(index)
    }

    #[cold]
    fn outside_bitmap(index: u32) -> Error {
        Error::corrupted(index, "allocated block outside the bitmap")
    }

    /// Pops the head of the non-empty small class `class`, whose blocks have `size` bytes: the
    /// hot path of allocation.
    #[inline(always)]
    fn pop_small(&mut self, region: &Region, class: usize, size: u32) -> Result<u32> {
        match self.try_pop_small(region, class, size) {
            Some(index) => Ok(index),
            None => Err(self.pop_small_error(region, class, size)),
        }
    }

    /// [`FreeList::pop_small`], or `None` (and nothing changed) where it reports an error.
    /// The block's start goes to [`OBJECT`] (allocated), its end from [`AFTER_FREE`] to
    /// [`OBJECT`].
    #[inline(always)]
    fn try_pop_small(&mut self, region: &Region, class: usize, size: u32) -> Option<u32> {
        let index = self.heads[class];
        let end = index.wrapping_add(size);
        let ((start_word, start_shift), (end_word, end_shift)) = (Self::bit(index), Self::bit(end));
        // The bitmap (host memory) proves the block: a listed start at `index` (so a free
        // block's start in `[16, top)`, not bytes inside an object that imitate one) and the end
        // of a listed block at `end`; the header must be marked free and of this class's size.
        let codes = match self.bits.get(end_word) {
            Some(&at_end) if start_word <= end_word => {
                (self.bits[start_word] >> start_shift & 0b11) | (at_end >> end_shift & 0b11) << 2
            }
            _ => return None,
        };
        let header: [u8; 12] = region.read(index).ok()?;
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let next = word(NEXT_OFFSET);
        if (index % GRANULE != 0)
            | (end <= index)
            | (codes != (LISTED | AFTER_FREE << 2))
            | (header[0] != FREE_KIND)
            | (word(SIZE_OFFSET) != size)
        {
            return None;
        }
        // The new head's prev link goes stale: a head is recognised as the head, never by it.
        self.heads[class] = next;
        if next == 0 {
            self.small_bitmap &= !(1 << class);
        }
        // The start goes from LISTED to OBJECT (the allocation), the end from AFTER_FREE to
        // OBJECT.
        self.bits[start_word] ^= (LISTED | OBJECT) << start_shift;
        self.bits[end_word] &= !(LISTED << end_shift);
        self.listed_bytes = self.listed_bytes.wrapping_sub(size);
        self.listed_blocks = self.listed_blocks.wrapping_sub(1);
        Some(index)
    }

    /// The error [`FreeList::pop_small`] reports where `try_pop_small` refused: the region's
    /// if the head's header is out of bounds and the bitmap covers its end, else `bad_head`.
    #[cold]
    fn pop_small_error(&self, region: &Region, class: usize, size: u32) -> Error {
        let index = self.heads[class];
        let (start_word, end_word) = (Self::bit(index).0, Self::bit(index.wrapping_add(size)).0);
        if end_word < self.bits.len() && start_word <= end_word {
            if let Err(error) = region.read::<12>(index) {
                return error;
            }
        }
        Self::bad_head(index)
    }

    #[cold]
    fn bad_head(index: u32) -> Error {
        Error::corrupted(index, "free-list head is not a free block of its class")
    }

    /// Returns the block of `size` bytes at `index` to the free list, merged at once with a
    /// free neighbour on either side; a block that then ends at `top` goes back to the
    /// wilderness. O(1). The caller guarantees that the block was allocated from this free
    /// list and is no longer used; an `index` out of bounds or that the bitmap does not know as
    /// an object start (a double free, a point inside a block), or a `size` that does not end
    /// where the next block starts, gives [`Error::Corrupted`].
    #[inline(always)]
    pub(crate) fn free(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        debug_assert!(size >= GRANULE && size % GRANULE == 0);
        let end = index.wrapping_add(size);
        let dv_end = self.dv_start + self.dv_size;
        // The fast cases; anything else (an error included) is `free_slow`'s.
        // Only an allocated block is freed, once: its object bit says so, and goes (so offset 0
        // and offsets inside the designated victim, where no bit is set, are refused by the
        // bitmap). Its end is the start of the next block: an object (the fast case), a listed
        // free block, the designated victim or `top`; anything else means that `size` is not
        // the block's.
        if (index % GRANULE == 0) & (end > index) & (end <= self.top) {
            let (index_word, index_shift) = Self::bit(index);
            if let Some(&word) = self.bits.get(index_word) {
                if (word >> index_shift & 0b11 == OBJECT) & (index != dv_end) {
                    // After an object: no free neighbour before the block.
                    if end == self.top {
                        // The last block below the wilderness (nothing starts or ends at
                        // `top`): back to the wilderness, as a tree freed in reverse
                        // allocation order (binary-trees) goes, without a look at the bitmap
                        // there. Its header goes plain, as in free memory everywhere.
                        self.bits[index_word] &= !(OBJECT << index_shift);
                        self.top = index;
                        return region.write(index, plain_header(size));
                    }
                    let (end_word, end_shift) = Self::bit(end);
                    if self.code(end) == OBJECT {
                        // Listed: the start goes from OBJECT to LISTED, the end from OBJECT to
                        // AFTER_FREE.
                        self.bits[index_word] ^= (LISTED | OBJECT) << index_shift;
                        self.bits[end_word] |= LISTED << end_shift;
                        return self.push_unmarked(region, index, size);
                    }
                }
            }
        }
        self.free_slow(region, index, size)
    }

    /// [`FreeList::free`] but for its fast cases: the errors, and a merge with a free
    /// neighbour (or a free neighbour before the block and `top` after it).
    #[cold]
    #[inline(never)]
    fn free_slow(&mut self, region: &mut Region, index: u32, size: u32) -> Result<()> {
        let end = index.wrapping_add(size);
        if (index % GRANULE != 0) | (end <= index) | (end > self.top) {
            return Err(Self::bad_free(index));
        }
        let (index_word, index_shift) = Self::bit(index);
        let at_index = match self.bits.get(index_word) {
            Some(&word) => word >> index_shift & 0b11,
            None => return Err(Self::bad_free(index)),
        };
        if at_index & OBJECT == 0 {
            return Err(Self::bad_free(index));
        }
        self.free_merging(region, index, size, at_index, self.code(end))
    }

    #[cold]
    fn bad_free(index: u32) -> Error {
        Error::corrupted(index, "freed block out of bounds, already free or not an allocated block")
    }

    /// Frees the allocated blocks that tile `[index, index + size)`, adjacent in the region, as
    /// one block: the object bits of the blocks after the first (their starts, `interior`, in
    /// any order) go, then the range is freed as [`FreeList::free`] frees a block (merged with
    /// a free neighbour on either side, or back to the wilderness): one merge for the run
    /// instead of one per block. Every interior start must be an allocated block's right after
    /// another allocated block (code [`OBJECT`]) strictly inside the range, else nothing changes
    /// and the error is [`Error::Corrupted`], as it is for whatever [`FreeList::free`] refuses.
    pub(crate) fn free_adjacent(
        &mut self,
        region: &mut Region,
        index: u32,
        size: u32,
        interior: impl Iterator<Item = u32> + Clone,
    ) -> Result<()> {
        let end = index.wrapping_add(size);
        for start in interior.clone() {
            if (start <= index) | (start >= end) | (start % GRANULE != 0) || self.code(start) != OBJECT {
                return Err(Self::bad_free(start));
            }
        }
        self.flip_object_bits(interior.clone());
        let freed = self.free(region, index, size);
        if freed.is_err() {
            // The interior blocks are objects again (`free` checks before it changes anything,
            // but for a corrupted neighbour found while merging).
            self.flip_object_bits(interior);
        }
        freed
    }

    /// Flips the object bits at `starts` (each in the bitmap: its code was just read).
    fn flip_object_bits(&mut self, starts: impl Iterator<Item = u32>) {
        for start in starts {
            let (word, shift) = Self::bit(start);
            if let Some(word) = self.bits.get_mut(word) {
                *word ^= OBJECT << shift;
            }
        }
    }

    /// Bytes that can still be allocated: free blocks plus the wilderness.
    pub(crate) fn free_bytes(&self, region: &Region) -> u64 {
        self.listed_bytes as u64 + self.dv_size as u64 + (region.len() - self.top) as u64
    }

    /// Number of free blocks, counting a non-empty wilderness as one.
    pub(crate) fn free_blocks(&self, region: &Region) -> u64 {
        self.listed_blocks as u64 + u64::from(self.dv_size != 0) + u64::from(region.len() > self.top)
    }
}
