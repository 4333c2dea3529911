//! The loop over the portable test table, shared by every build of the kernel.

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use drc_heap::portable_tests::all;

/// Tests that have passed so far (read by the panic and trap paths to print a summary).
static PASSED: AtomicUsize = AtomicUsize::new(0);
/// Tests that have failed so far.
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Runs every portable test and then the Wasm programs, each over the region that `region` hands
/// out, printing one line per test and then the summary line. Returns the number of tests that
/// failed.
pub fn run_all(out: &mut impl Write, mut region: impl FnMut() -> &'static mut [u8]) -> usize {
    for test in all().into_iter().chain(crate::wasm_programs::WASM_PROGRAMS) {
        // Printed before the run, so that a panic or a CPU exception completes this very line.
        let _ = write!(out, "test {} ... ", test.name);
        match (test.run)(region()) {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::Relaxed);
                let _ = writeln!(out, "ok");
            }
            Err(message) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                let _ = writeln!(out, "FAILED: {message}");
            }
        }
    }
    self_tests(out);
    let failed = FAILED.load(Ordering::Relaxed);
    let _ = writeln!(out, "{} passed, {} failed", PASSED.load(Ordering::Relaxed), failed);
    failed
}

/// Ends the current test line with `what` as its failure and prints a failing summary line that
/// counts the test that was running. For panics and CPU exceptions, after which nothing runs on.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub fn report_abort(out: &mut impl Write, what: core::fmt::Arguments<'_>) {
    let _ = writeln!(out, "FAILED: {what}");
    let _ = writeln!(out, "{} passed, {} failed", PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed) + 1);
}

/// Recurses until the stack overflows, with 1 KiB frames the optimiser cannot remove.
#[cfg(feature = "self-test-stack-overflow")]
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_without_end(caller: &mut [u8; 256]) -> usize {
    let mut frame = [0u8; 1024];
    frame[caller[0] as usize] = caller[1].wrapping_add(1);
    core::hint::black_box(&mut frame);
    recurse_without_end(core::hint::black_box(&mut [frame[0]; 256])) + 1
}

/// The kernel's checks of itself (cargo features `self-test-*`): a last test that must end the run
/// red. Each feature is meant to be used alone: the first one enabled ends the run.
#[allow(unreachable_code, unused_variables)]
fn self_tests(out: &mut impl Write) {
    #[cfg(feature = "self-test-panic")]
    {
        let _ = write!(out, "test kernel_self_test_panic ... ");
        panic!("the kernel_self_test_panic test panics on purpose");
    }
    #[cfg(feature = "self-test-trap")]
    {
        let _ = write!(out, "test kernel_self_test_trap ... ");
        crate::undefined_instruction();
    }
    #[cfg(feature = "self-test-stack-overflow")]
    {
        let _ = write!(out, "test kernel_self_test_stack_overflow ... ");
        let depth = recurse_without_end(&mut [0; 256]);
        let _ = writeln!(out, "FAILED: recursed {depth} times without a fault");
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
}
