//! The portable test table: tests that need no `std`, run by every host.
//!
//! Enabled by the `portable-tests` feature. The same table runs
//! * on the host, from `tests/portable.rs`,
//! * on six bare-metal machines under QEMU, from the kernels in `targets/`,
//! * inside a Wasm sandbox (wasm32-wasip1 under Node.js's WASI).
//!
//! A test receives the memory for its heap (16-byte aligned, at least [`MIN_TEST_REGION`] bytes;
//! the hosts give [`TEST_REGION`] bytes where they can) and sizes its work to what it is given, so
//! that the 4 MiB Cortex-M machines run the same tests as the host. A test returns `Err` with a
//! message instead of panicking, so that a bare-metal runner (where a panic aborts) can count
//! failures and carry on.

use crate::GcRef;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The outcome of one portable test.
pub type TestResult = Result<(), String>;

/// One entry of the table.
#[derive(Debug)]
pub struct PortableTest {
    /// The property the test checks, as a snake_case name.
    pub name: &'static str,
    /// Runs the test over the given memory.
    pub run: fn(&'static mut [u8]) -> TestResult,
}

/// The smallest region a runner may hand to a test.
pub const MIN_TEST_REGION: usize = 256 * 1024;
/// The region size runners use when they have the memory.
pub const TEST_REGION: usize = 1024 * 1024;

/// Fails the enclosing test with a message naming the condition, unless it holds.
macro_rules! ensure {
    ($condition:expr) => {
        if !$condition {
            return Err(alloc::format!("{}:{}: check failed: {}", file!(), line!(), stringify!($condition)));
        }
    };
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(alloc::format!("{}:{}: {}", file!(), line!(), alloc::format!($($message)+)));
        }
    };
}

/// A table entry named after its function.
macro_rules! portable {
    ($name:ident) => {
        PortableTest { name: stringify!($name), run: $name }
    };
}

/// Turns a heap result into a test failure naming the expression and the line.
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return Err(alloc::format!("{}:{}: {} failed: {}", file!(), line!(), stringify!($e), error)),
        }
    };
}

/// Fails the test unless the expression is an error matching the pattern.
macro_rules! expect_err {
    ($e:expr, $pattern:pat if $guard:expr) => {
        match $e {
            Err($pattern) if $guard => {}
            Err(other) => {
                return Err(alloc::format!(
                    "{}:{}: {} gave {:?}, expected {} if {}",
                    file!(),
                    line!(),
                    stringify!($e),
                    other,
                    stringify!($pattern),
                    stringify!($guard)
                ))
            }
            Ok(_) => {
                return Err(alloc::format!(
                    "{}:{}: {} succeeded, expected {}",
                    file!(),
                    line!(),
                    stringify!($e),
                    stringify!($pattern)
                ))
            }
        }
    };
    ($e:expr, $pattern:pat) => {
        match $e {
            Err($pattern) => {}
            Err(other) => {
                return Err(alloc::format!(
                    "{}:{}: {} gave {:?}, expected {}",
                    file!(),
                    line!(),
                    stringify!($e),
                    other,
                    stringify!($pattern)
                ))
            }
            Ok(_) => {
                return Err(alloc::format!(
                    "{}:{}: {} succeeded, expected {}",
                    file!(),
                    line!(),
                    stringify!($e),
                    stringify!($pattern)
                ))
            }
        }
    };
}

/// Verifies the heap with the given host roots (any iterator of raw words).
macro_rules! verify {
    ($heap:expr) => {
        ok!($heap.verify(core::iter::empty::<u32>()))
    };
    ($heap:expr, $roots:expr) => {
        ok!($heap.verify($roots))
    };
}

// Declared after the macros so that the tables' modules can use them. The core table's module is
// not named `core`: that would shadow the `core` crate in this file.
#[path = "core/mod.rs"]
mod core_tests;
mod cycles;
mod soundness;
mod types;
mod wasm_slots;

/// Every portable test, from every table below.
pub fn all() -> Vec<&'static PortableTest> {
    TABLES.iter().flat_map(|table| table.iter()).collect()
}

/// The tables: one per area, each owned by the module that tests that area.
static TABLES: &[&[PortableTest]] =
    &[BASICS, core_tests::CORE, cycles::CYCLES, types::TYPES, soundness::SOUNDNESS, wasm_slots::WASM_SLOTS];

static BASICS: &[PortableTest] = &[
    PortableTest { name: "i31_refs_round_trip_without_the_heap", run: i31_refs_round_trip_without_the_heap },
    #[cfg(feature = "deliberately-failing-test")]
    PortableTest { name: "deliberately_failing_test", run: deliberately_failing_test },
];

fn i31_refs_round_trip_without_the_heap(_region: &'static mut [u8]) -> TestResult {
    for value in [0, 1, -1, (1 << 30) - 1, -(1 << 30)] {
        let r = GcRef::from_i31(value);
        ensure!(r.is_i31());
        ensure!(r.i31_signed() == Some(value), "i31 {value} read back as {:?}", r.i31_signed());
    }
    ensure!(GcRef::from_i31(1 << 30).i31_signed() == Some(-(1 << 30)));
    Ok(())
}

#[cfg(feature = "deliberately-failing-test")]
fn deliberately_failing_test(_region: &'static mut [u8]) -> TestResult {
    Err(format!("this test fails on purpose to prove that a failure turns the run red"))
}

#[allow(unused_imports)]
use format as _;
