//! Runs the portable test table (`drc_heap::portable_tests`) on the host.
#![cfg(feature = "portable-tests")]

use drc_heap::portable_tests::{all, TEST_REGION};

/// A fresh, leaked, 16-aligned region of `len` bytes for one test.
fn region(len: usize) -> &'static mut [u8] {
    let words: &'static mut [u128] = Box::leak(vec![0u128; len / 16].into_boxed_slice());
    // SAFETY: u128 has no padding, every byte pattern is a valid u8, the byte length is exactly
    // that of the words, and the leak makes the memory 'static and unaliased.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), len) }
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
