//! A reference array of a million elements, each holding the only count of its object, is
//! released without recursion, and the release worklist stays small: the release needs a
//! bounded amount of bookkeeping memory.
//!
//! This binary has a counting global allocator and a single test, so that the peak it sees is
//! the release's own.

mod common;

use common::{as_ref, assert_empty, region, register_node, size, verify, ANYREF};
use drc_heap::types::ArrayType;
use drc_heap::{Heap, Value, ValueRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes currently allocated and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters are plain atomics that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded; `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` was allocated by `System` with `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes of bookkeeping the release may allocate at most: a few release chunks' worth of
/// worklist entries. A worklist holding every element would need more than ten times this
/// for the million-element array.
const RELEASE_BUDGET: usize = 256 * 1024;

#[test]
fn array_of_1_000_000_refs_each_holding_the_only_count_is_released_with_bounded_bookkeeping() {
    let n = size(1_000_000, 500) as u32;
    // 4 bytes of element and a 32-byte struct per element.
    let mut heap: Heap<()> = Heap::new(region(n as usize * 36 + 4096)).expect("heap");
    let node = register_node(&mut heap);
    let refs = heap.register_array(ArrayType::new(ANYREF)).unwrap();
    let array = heap.array_new(refs, n, ValueRef::Ref(None)).unwrap();
    for i in 0..n {
        let s = heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(None)]).unwrap();
        heap.array_set(&array, i, ValueRef::Ref(Some(&s))).unwrap();
        heap.drop_ref(s).unwrap();
    }
    let report = verify(&heap, &[&array]);
    assert_eq!(report.objects, n as u64 + 1);
    let last = as_ref(heap.array_get(&array, n - 1).unwrap()).unwrap();
    assert_eq!(heap.struct_get(&last, 0).unwrap(), Value::I32(n as i32 - 1));
    assert_eq!(heap.ref_count(&last).unwrap(), 2);
    heap.drop_ref(last).unwrap();

    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    heap.drop_ref(array).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(peak <= RELEASE_BUDGET, "releasing {n} elements allocated up to {peak} bytes (budget {RELEASE_BUDGET})");
    assert_eq!(heap.stats().unwrap().objects_freed, n as u64 + 1);
    assert_empty(&heap);
}
