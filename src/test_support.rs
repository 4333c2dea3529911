//! Regions for tests: the one helper that hands a test fresh heap memory.
//!
//! Compiled into the library's unit tests (`#[cfg(test)]` in `lib.rs`) and included with
//! `#[path]` by the integration tests' `tests/common/mod.rs`, so both use the same code. It needs
//! only `alloc` and `spin` (a dependency of the library), so it builds in either crate.
//!
//! [`crate::Heap::new`] takes `&'static mut [u8]`, so a test region is leaked. Every region stays
//! reachable from a static: Miri's leak check reports only memory that nothing reachable points
//! to, so the tests run under Miri without leak suppressions.

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// A leaked region's base, only kept so that the region stays reachable.
struct Leaked(#[allow(dead_code)] *mut u128);

// SAFETY: the pointer is only stored, never used, so moving it between threads shares nothing.
unsafe impl Send for Leaked {}

/// Every region handed out.
static LEAKED: spin::Mutex<Vec<Leaked>> = spin::Mutex::new(Vec::new());

/// A fresh, leaked, zeroed, 16-aligned region of `len` bytes (rounded up to whole 16-byte words
/// underneath, so any `len` is fine, including lengths a region must reject).
pub fn test_region(len: usize) -> &'static mut [u8] {
    let words: &'static mut [u128] = Box::leak(vec![0u128; len.div_ceil(16)].into_boxed_slice());
    let base = words.as_mut_ptr();
    LEAKED.lock().push(Leaked(base));
    // SAFETY: u128 has no padding and every byte pattern is a valid u8; `len` bytes fit in the
    // words; the leak makes them 'static and unaliased (the pointer kept in LEAKED is never used).
    unsafe { core::slice::from_raw_parts_mut(base.cast(), len) }
}
