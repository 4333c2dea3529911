//! Runs drc-heap's portable test table (`drc_heap::portable_tests::all()`), then two Wasm GC
//! programs on drc-heap-wasm ([`wasm_programs`]), outside the host:
//!
//! * as a bare-metal kernel on six QEMU machines (`target_os = "none"`): start-up code, console and
//!   exit per architecture in [`arch`], the global allocator and the test region in [`bare_metal`];
//! * as a WASI program (`wasm32-wasip1`, with std) that Node.js runs, in [`hosted`].
//!
//! Every build prints `test NAME ... ok` or `test NAME ... FAILED: message` per test, then the line
//! `N passed, M failed`, and exits with status 0 exactly when M is 0.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod harness;
mod wasm_programs;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod bare_metal;

#[cfg(not(target_os = "none"))]
mod hosted;

#[cfg(not(target_os = "none"))]
fn main() {
    hosted::main()
}

/// Executes an undefined instruction: the CPU exception (or the Wasm trap) that the
/// `self-test-trap` feature uses to prove that such a fault ends the run red.
#[cfg(all(feature = "self-test-trap", not(target_arch = "wasm32")))]
fn undefined_instruction() -> ! {
    // SAFETY: the instruction raises an exception that never returns; it touches no memory.
    unsafe {
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("udf #0", options(noreturn, nomem, nostack));
        #[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
        core::arch::asm!("unimp", options(noreturn, nomem, nostack));
        #[cfg(target_arch = "arm")]
        core::arch::asm!("udf #0", options(noreturn, nomem, nostack));
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("ud2", options(noreturn, nomem, nostack));
    }
}

/// Executes Wasm's `unreachable`, which traps: see the other `undefined_instruction`.
#[cfg(all(feature = "self-test-trap", target_arch = "wasm32"))]
fn undefined_instruction() -> ! {
    core::arch::wasm32::unreachable()
}
