//! Runs the portable test table (`drc_heap::portable_tests`) on the host.
#![cfg(feature = "portable-tests")]

use drc_heap::portable_tests::{all, TEST_REGION};

/// The regions handed out, kept reachable from a static: they are `'static` by contract, and
/// Miri reports memory that nothing reachable points to as leaked.
static REGIONS: std::sync::Mutex<Vec<Leaked>> = std::sync::Mutex::new(Vec::new());

struct Leaked(#[allow(dead_code)] *mut u128);

// SAFETY: the pointer is only stored, never used, from the thread that holds it.
unsafe impl Send for Leaked {}

/// A fresh, leaked, 16-aligned region of `len` bytes for one test.
fn region(len: usize) -> &'static mut [u8] {
    let words: &'static mut [u128] = Box::leak(vec![0u128; len / 16].into_boxed_slice());
    let base = words.as_mut_ptr();
    REGIONS.lock().unwrap().push(Leaked(base));
    // SAFETY: u128 has no padding, every byte pattern is a valid u8, the byte length is exactly
    // that of the words, and the leak makes the memory 'static and unaliased (the pointer kept
    // in REGIONS is never used).
    unsafe { std::slice::from_raw_parts_mut(base.cast(), len) }
}

#[test]
fn every_portable_test_passes_on_the_host() {
    let len = if cfg!(miri) { drc_heap::portable_tests::MIN_TEST_REGION } else { TEST_REGION };
    let mut failed = Vec::new();
    for test in all() {
        match (test.run)(region(len)) {
            Ok(()) => println!("portable test {} ... ok", test.name),
            Err(message) => {
                println!("portable test {} ... FAILED: {message}", test.name);
                failed.push(test.name);
            }
        }
    }
    assert!(failed.is_empty(), "failed portable tests: {failed:?}");
}
