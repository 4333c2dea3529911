//! Heaps that own their region (`Heap::with_owned_region`): they work like any heap, refuse the
//! lengths `Heap::new` refuses with the same errors, refuse `extend`, report an allocator
//! failure as a typed error, and free their region when dropped, after their host data. Under
//! Miri (`cargo +nightly miri test --test owned_region`) the leak check proves the freeing:
//! nothing here leaks a region on purpose.

mod common;

use common::{region, ANYREF};
use drc_heap::types::{StorageType, StructType};
use drc_heap::{Error, Heap, HeapConfig, ValueRef, MAX_REGION_LEN};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

/// A region length the test allocator refuses (a multiple of 16 that no other test asks for).
const REFUSED_LEN: usize = 0x7_7770;

/// The system allocator, except that it fails every allocation of exactly [`REFUSED_LEN`] bytes.
struct RefusesOneSize;

// SAFETY: every call is forwarded to `System` unchanged, or fails with null as the contract
// allows.
unsafe impl GlobalAlloc for RefusesOneSize {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == REFUSED_LEN {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() == REFUSED_LEN {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from this function's contract (`ptr` came from `System`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: RefusesOneSize = RefusesOneSize;

/// A region size: 1 MiB natively (above glibc's mmap threshold, so a freed region is unmapped
/// and reading it faults), 64 KiB under Miri (which checks every access itself).
fn len() -> usize {
    if cfg!(miri) {
        1 << 16
    } else {
        1 << 20
    }
}

#[test]
fn owned_heap_allocates_collects_resets_and_verifies() {
    let mut heap: Heap<u32> = Heap::with_owned_region(len()).unwrap();
    assert_eq!(heap.region_len() as usize, len());
    assert_eq!(heap.region_base() as usize % drc_heap::REGION_ALIGN, 0);
    let node = heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).unwrap();
    for round in 0..2 {
        let leaf = heap.struct_new(node, &[ValueRef::I32(round), ValueRef::Ref(None)]).unwrap();
        let parent = heap.struct_new(node, &[ValueRef::I32(7), ValueRef::Ref(Some(&leaf))]).unwrap();
        heap.drop_ref(leaf).unwrap();
        let data = heap.alloc_externref(5).unwrap();
        assert_eq!(*heap.externref_data(&data).unwrap(), 5);
        heap.drop_ref(data).unwrap();
        assert_eq!(heap.stats().unwrap().live_objects, 2);
        heap.verify(core::iter::once(parent.as_raw_u32())).unwrap();
        heap.drop_ref(parent).unwrap();
        heap.collect_all([]).unwrap();
        assert_eq!(heap.stats().unwrap().live_objects, 0);
        // The region survives a reset (and stays owned: the drop at the end frees it once).
        heap.reset();
    }
}

#[test]
fn owned_heap_refuses_the_lengths_new_refuses_with_the_same_errors() {
    for len in [0, 16, 48, 63, 64 + 8, 100, 4100, 4096 + 16 + 1] {
        let owned = Heap::<()>::with_owned_region(len).err();
        let borrowed = Heap::<()>::new(region(len)).err();
        assert!(owned.is_some(), "length {len} accepted");
        assert_eq!(owned, borrowed, "length {len}");
    }
    // Too large, and too large before misaligned, as `Heap::new`'s length checks order them.
    let max = MAX_REGION_LEN;
    let too_large = Heap::<()>::with_owned_region_and_config(usize::MAX, HeapConfig::default()).err();
    assert_eq!(too_large, Some(Error::RegionTooLarge { len: usize::MAX, max }));
    let just_above = (max as u64 + 16).min(usize::MAX as u64) as usize;
    assert_eq!(Heap::<()>::with_owned_region(just_above).err(), Some(Error::RegionTooLarge { len: just_above, max }));
    // The smallest and a ragged-but-valid length are accepted by both.
    for len in [64, 4096 + 16] {
        assert!(Heap::<()>::with_owned_region(len).is_ok());
        assert!(Heap::<()>::new(region(len)).is_ok());
    }
}

#[test]
fn an_allocator_failure_is_out_of_memory_not_an_abort() {
    let refused = Heap::<()>::with_owned_region(REFUSED_LEN).err();
    assert_eq!(refused, Some(Error::OutOfMemory { requested: REFUSED_LEN }));
    assert!(refused.unwrap().is_retryable());
    assert!(Heap::<()>::with_owned_region(REFUSED_LEN + 16).is_ok());
}

#[test]
fn owned_heap_refuses_extend_and_keeps_working() {
    let mut heap: Heap<()> = Heap::with_owned_region(1 << 12).unwrap();
    // SAFETY: a heap that owns its region refuses before touching anything (the exception in
    // `extend`'s contract), so no memory after the region is needed.
    let extended = unsafe { heap.extend(1 << 12) };
    assert_eq!(extended, Err(Error::OwnedRegionNotExtensible));
    assert_eq!(heap.region_len(), 1 << 12);
    let array = heap.register_array(drc_heap::types::ArrayType::new(StorageType::I32)).unwrap();
    let a = heap.array_new(array, 16, ValueRef::I32(3)).unwrap();
    assert_eq!(heap.array_len(&a).unwrap(), 16);
    heap.drop_ref(a).unwrap();
    heap.verify(core::iter::empty()).unwrap();
}

/// Host data that, when dropped, reads an `i32` at `base + offset` in the heap's region and
/// records it: it reads the right value only if the region is still allocated then.
struct ReadsRegionOnDrop {
    base: *const u8,
    offset: usize,
    seen: Rc<Cell<Option<i32>>>,
}

impl Drop for ReadsRegionOnDrop {
    fn drop(&mut self) {
        // SAFETY: `base + offset` is the i32 field of a live struct inside the region (offset
        // from `region_base` as the docs describe for JIT code); the heap dropping this value
        // holds no reference into the region while host data drops, and the region is freed only
        // after host data (the property under test: Miri reports a use after free otherwise).
        let value = unsafe { self.base.add(self.offset).cast::<i32>().read_unaligned() };
        self.seen.set(Some(value));
    }
}

#[test]
fn owned_region_is_freed_on_drop_after_host_data() {
    let seen = Rc::new(Cell::new(None));
    {
        let mut heap: Heap<ReadsRegionOnDrop> = Heap::with_owned_region(len()).unwrap();
        let ty = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
        let s = heap.struct_new(ty, &[ValueRef::I32(0x5a5a_1234)]).unwrap();
        let offset = s.as_raw_u32() as usize + drc_heap::header::HEADER_SIZE as usize;
        let base = heap.region_base().cast_const();
        let data = heap.alloc_externref(ReadsRegionOnDrop { base, offset, seen: seen.clone() });
        let data = data.map_err(|(error, _)| error).unwrap();
        // Both keep their counts (the handles are never released), so both are live when the
        // heap itself is dropped.
        heap.verify([s.as_raw_u32(), data.as_raw_u32()]).unwrap();
        assert_eq!(seen.get(), None);
    }
    assert_eq!(seen.get(), Some(0x5a5a_1234));
}
