//! Runs the portable test table (`drc_heap::portable_tests`) on the host.
#![cfg(feature = "portable-tests")]

mod common;

use common::region;
use drc_heap::portable_tests::{all, TEST_REGION};

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
