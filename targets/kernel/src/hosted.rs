//! The hosted build: a std program for wasm32-wasip1 (run by Node.js's WASI), which also runs
//! natively when built for the host.

use std::io::Write as _;

use drc_heap::portable_tests::TEST_REGION;

/// `std::io::Stdout` as a `core::fmt::Write`, flushing after every piece so that the output is
/// complete even if the Wasm instance traps.
struct Stdout;

impl core::fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut out = std::io::stdout().lock();
        out.write_all(s.as_bytes()).and_then(|()| out.flush()).map_err(|_| core::fmt::Error)
    }
}

pub fn main() {
    std::panic::set_hook(Box::new(|info| {
        crate::harness::report_abort(&mut Stdout, format_args!("panicked: {info}"));
    }));
    println!("drc-heap portable tests on {}: GC region {} KiB", std::env::consts::ARCH, TEST_REGION / 1024);
    // One region for the whole run, zeroed before each test, as on the bare-metal kernels.
    let words: &'static mut [u128] = Box::leak(vec![0u128; TEST_REGION / 16].into_boxed_slice());
    let base: *mut u8 = words.as_mut_ptr().cast();
    let failed = crate::harness::run_all(&mut Stdout, || {
        // SAFETY: `base` points to TEST_REGION bytes, 16-aligned, leaked and so valid for 'static;
        // every byte pattern is a valid u8. The program is single-threaded and hands the memory
        // only to one test at a time: the previous test has returned, which ends its borrow (a
        // portable test keeps nothing of its region past its return).
        let region = unsafe { core::slice::from_raw_parts_mut(base, TEST_REGION) };
        region.fill(0);
        region
    });
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
