//! The allocators under test: drc-heap's free list (its `BlockAllocator`, behind the
//! `block-allocator` feature), talc, rlsf, buddy_system_allocator, linked_list_allocator and a
//! bump floor, each behind [`Subject`], and the caller [`Region`] each of them runs in.
//!
//! Every subject is set up afresh over its own region for every run, asked for blocks of
//! [`ALIGN`] alignment, and checks after a full drain that it holds no memory.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The alignment every allocator is asked for (the GC heap's maximum alignment).
pub(super) const ALIGN: usize = 16;

/// The caller region an allocator runs in: allocated once, aligned to its own (power-of-two)
/// length so that the buddy allocator gets its natural layout, every page faulted in before any
/// timing, and reused by every run of its allocator.
pub(super) struct Region {
    pub(super) base: NonNull<u8>,
    pub(super) len: usize,
}

impl Region {
    pub(super) fn new(len: usize) -> Region {
        let layout = Layout::from_size_align(len, len).unwrap();
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).expect("cannot allocate a region");
        // SAFETY: `base` is valid for writes of `len` bytes (just allocated with that size).
        unsafe { base.as_ptr().write_bytes(0, len) };
        Region { base, len }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `Region::new` with this very layout, and no allocator over it is
        // alive any more (each lives only for one run).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), Layout::from_size_align(self.len, self.len).unwrap()) };
    }
}

/// An allocator under test, set up afresh over its region for every run.
pub(super) trait Subject: Sized {
    const NAME: &'static str;
    /// Whether the footprint is meaningful (false for the bump floor, which wraps around).
    const HAS_FOOTPRINT: bool = true;

    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes, aligned to `len`, and used by
    /// nothing else while the allocator lives.
    unsafe fn new(base: NonNull<u8>, len: usize) -> Self;
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>>;
    /// # Safety
    /// `ptr` was returned by `alloc(size)` of this allocator and not freed since.
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: u32);
    /// Checks, after the trace freed every object, that the allocator holds no memory.
    fn check_drained(&mut self) -> Result<(), String>;
    /// How many times the allocator was asked to coalesce its free blocks in a batch, if it
    /// has that operation.
    fn coalesces(&self) -> Option<u64> {
        None
    }
    /// Bytes of metadata the allocator keeps outside its region that grow with the heap (fixed
    /// structures of a few KiB, such as list heads, are not counted for anyone).
    fn side_table_bytes(&self) -> usize {
        0
    }
}

#[inline(always)]
fn layout(size: u32) -> Layout {
    // `size` is at most 64 KiB and ALIGN a power of two, so the layout is always valid.
    Layout::from_size_align(size as usize, ALIGN).unwrap()
}

/// Allocates half of the region in one block and frees it: proves that the frees coalesced.
fn check_half_region<S: Subject>(subject: &mut S, len: usize) -> Result<(), String> {
    let half = (len / 2) as u32;
    match subject.alloc(half) {
        Some(ptr) => {
            // SAFETY: just allocated with this size.
            unsafe { subject.free(ptr, half) };
            Ok(())
        }
        None => Err(format!("cannot allocate half of the region ({half} bytes) after the drain")),
    }
}

pub(super) struct DrcHeap {
    heap: drc_heap::free_list::BlockAllocator,
    base: NonNull<u8>,
}

impl Subject for DrcHeap {
    const NAME: &'static str = "drc-heap";

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        // SAFETY: the caller's contract is the allocator's.
        let heap = unsafe { drc_heap::free_list::BlockAllocator::from_raw_parts(base.as_ptr(), len) }.unwrap();
        DrcHeap { heap, base }
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        let index = self.heap.alloc(size).expect("drc-heap allocation failed")?;
        // SAFETY: the offset of a block lies inside the region.
        Some(unsafe { self.base.add(index as usize) })
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: u32) {
        // SAFETY: `ptr` was derived from `base` by `alloc`.
        let index = unsafe { ptr.offset_from(self.base) } as u32;
        self.heap.free_trusted(index, size).expect("drc-heap free failed");
    }

    fn coalesces(&self) -> Option<u64> {
        Some(self.heap.coalesces())
    }

    fn side_table_bytes(&self) -> usize {
        self.heap.side_table_bytes()
    }

    fn check_drained(&mut self) -> Result<(), String> {
        self.heap.check().map_err(|e| format!("free-list check failed after the drain: {e}"))?;
        self.heap.coalesce().map_err(|e| format!("coalescing failed: {e}"))?;
        self.heap.check().map_err(|e| format!("free-list check failed after coalescing: {e}"))?;
        let (top, blocks, free) = (self.heap.top(), self.heap.free_blocks(), self.heap.free_bytes());
        if top != 16 || blocks != 1 || free != self.heap.len() as u64 - 16 {
            return Err(format!(
                "not one free block after the drain: top {top}, {blocks} free blocks, {free} free bytes"
            ));
        }
        Ok(())
    }
}

pub(super) struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>, usize);

impl Subject for Talc {
    const NAME: &'static str = "talc 5.1";

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        let mut talc = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the region is valid and unused by anything else (the caller's contract).
        unsafe { talc.claim(base.as_ptr(), len) }.expect("talc cannot claim the region");
        Talc(talc, len)
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        // SAFETY: every size in the trace is non-zero.
        unsafe { self.0.try_allocate(layout(size)) }
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: u32) {
        // SAFETY: allocated by this talc with this layout (the caller's contract).
        unsafe { self.0.deallocate(ptr.as_ptr(), layout(size)) }
    }

    fn check_drained(&mut self) -> Result<(), String> {
        check_half_region(self, self.1)
    }
}

/// rlsf's TLSF with 24 first-level (enough for the region) and 32 second-level classes.
pub(super) struct Rlsf(rlsf::Tlsf<'static, u32, u32, 24, 32>, usize);

impl Subject for Rlsf {
    const NAME: &'static str = "rlsf 0.2";

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        let mut tlsf = rlsf::Tlsf::new();
        // SAFETY: the region is valid and unused by anything else (the caller's contract), and
        // the allocator is dropped before the region.
        unsafe { tlsf.insert_free_block_ptr(NonNull::slice_from_raw_parts(base, len)) }
            .expect("rlsf rejected the region");
        Rlsf(tlsf, len)
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        self.0.allocate(layout(size))
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, _size: u32) {
        // SAFETY: allocated by this TLSF with alignment ALIGN (the caller's contract).
        unsafe { self.0.deallocate(ptr, ALIGN) }
    }

    fn check_drained(&mut self) -> Result<(), String> {
        check_half_region(self, self.1)
    }
}

pub(super) struct Buddy(buddy_system_allocator::Heap<32>, usize);

impl Subject for Buddy {
    const NAME: &'static str = "buddy_system_allocator 0.13";

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        let mut heap = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: the region is valid and unused by anything else (the caller's contract).
        unsafe { heap.init(base.as_ptr() as usize, len) };
        Buddy(heap, len)
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        self.0.alloc(layout(size)).ok()
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: u32) {
        // SAFETY: allocated by this heap with this layout (the caller's contract).
        unsafe { self.0.dealloc(ptr, layout(size)) }
    }

    fn check_drained(&mut self) -> Result<(), String> {
        if self.0.stats_alloc_user() != 0 {
            return Err(format!("{} bytes still allocated after the drain", self.0.stats_alloc_user()));
        }
        check_half_region(self, self.1)
    }
}

pub(super) struct LinkedList(linked_list_allocator::Heap, usize);

impl Subject for LinkedList {
    const NAME: &'static str = "linked_list_allocator 0.10";

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        // SAFETY: the region is valid and unused by anything else (the caller's contract).
        LinkedList(unsafe { linked_list_allocator::Heap::new(base.as_ptr(), len) }, len)
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        self.0.allocate_first_fit(layout(size)).ok()
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: u32) {
        // SAFETY: allocated by this heap with this layout (the caller's contract).
        unsafe { self.0.deallocate(ptr, layout(size)) }
    }

    fn check_drained(&mut self) -> Result<(), String> {
        if self.0.used() != 0 {
            return Err(format!("{} bytes still allocated after the drain", self.0.used()));
        }
        check_half_region(self, self.1)
    }
}

/// The floor: bumps through the region in 16-byte steps and wraps around at its end, so every
/// allocation lands on memory that is not in the cache; frees do nothing.
pub(super) struct Bump {
    base: NonNull<u8>,
    len: usize,
    top: usize,
}

impl Subject for Bump {
    const NAME: &'static str = "bump (floor)";
    const HAS_FOOTPRINT: bool = false;

    unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Bump { base, len, top: 0 }
    }

    #[inline(always)]
    fn alloc(&mut self, size: u32) -> Option<NonNull<u8>> {
        let size = (size as usize + ALIGN - 1) & !(ALIGN - 1);
        if self.top + size > self.len {
            self.top = 0;
        }
        // SAFETY: `top + size <= len` (sizes are far below the region length).
        let ptr = unsafe { self.base.add(self.top) };
        self.top += size;
        Some(ptr)
    }

    #[inline(always)]
    unsafe fn free(&mut self, _ptr: NonNull<u8>, _size: u32) {}

    fn check_drained(&mut self) -> Result<(), String> {
        Ok(())
    }
}
