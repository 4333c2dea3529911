//! The bench binary's global allocator: the system allocator, plus (only while a measurement is
//! on) a count of the bytes it has live, their peak, and the number of allocations.
//!
//! The workloads on `Rc<RefCell<_>>` and on `bacon_rajan_cc` get their memory from here, so the
//! peak of the live bytes during a run is their peak heap size. Counting is off in the timed
//! runs: the allocator then costs one relaxed load and a predictable branch more than `System`.
//! The numbers are relative to the moment [`Measurement::start`] was called (blocks freed during
//! the measurement that were allocated before it make the live count go below zero; that is
//! why it is signed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes as i64, Relaxed) + bytes as i64;
    PEAK.fetch_max(live, Relaxed);
}

#[inline]
fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes as i64, Relaxed);
}

// SAFETY: every method forwards to `System` with the same arguments and returns its result
// unchanged; the counters are plain atomics that never influence the allocation.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller's contract.
        let block = unsafe { System.alloc(layout) };
        if COUNTING.load(Relaxed) && !block.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        block
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller's contract.
        let block = unsafe { System.alloc_zeroed(layout) };
        if COUNTING.load(Relaxed) && !block.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        block
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { System.dealloc(block, layout) };
        if COUNTING.load(Relaxed) {
            shrank(layout.size());
        }
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller's contract.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if COUNTING.load(Relaxed) && !moved.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            shrank(layout.size());
            grew(new_size);
        }
        moved
    }
}

/// What the allocator saw between [`Measurement::start`] and [`Measurement::stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// The peak of the bytes allocated and not yet freed (requested sizes).
    pub peak_bytes: u64,
    /// Bytes still allocated at the end (allocated during the measurement and not freed: a leak,
    /// unless the workload still holds them).
    pub live_bytes_at_end: i64,
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocations: u64,
}

/// A running measurement; only one at a time (the bench is single-threaded).
pub struct Measurement(());

impl Measurement {
    pub fn start() -> Measurement {
        LIVE.store(0, Relaxed);
        PEAK.store(0, Relaxed);
        ALLOCATIONS.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        Measurement(())
    }

    /// The counts so far, without stopping.
    pub fn counts(&self) -> Counts {
        Counts {
            peak_bytes: PEAK.load(Relaxed).max(0) as u64,
            live_bytes_at_end: LIVE.load(Relaxed),
            allocations: ALLOCATIONS.load(Relaxed),
        }
    }

    pub fn stop(self) -> Counts {
        let counts = self.counts();
        COUNTING.store(false, Relaxed);
        counts
    }
}

impl Drop for Measurement {
    fn drop(&mut self) {
        COUNTING.store(false, Relaxed);
    }
}
