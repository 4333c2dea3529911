//! What every bare-metal kernel shares: the global allocator, the GC test region, the entry point
//! called by the start-up code, the panic handler and the CPU-exception report.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use linked_list_allocator::LockedHeap;

use crate::arch::{self, HEAP_SIZE, MACHINE, REGION_SIZE};

const _: () = assert!(REGION_SIZE >= drc_heap::portable_tests::MIN_TEST_REGION);
const _: () = assert!(REGION_SIZE.is_multiple_of(16));

/// How a run ends, as the process exit status that QEMU reports (see `arch::exit`).
#[derive(Clone, Copy)]
pub enum Exit {
    /// Every test passed: status 0.
    Pass = 0,
    /// Some test returned an error: status 1.
    Fail = 1,
    /// A CPU exception or trap: status 3.
    Trap = 3,
    /// A panic: status 101, as for a panicking Rust program.
    Panic = 101,
}

/// A 16-aligned static byte array that the kernel hands out by raw pointer.
#[repr(C, align(16))]
struct Memory<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: the kernel runs on one core without interrupts; the memory is only reached through the
// raw pointers taken in `kernel_main`, each handed to one owner at a time (the allocator, or the
// one test that is running).
unsafe impl<const N: usize> Sync for Memory<N> {}

impl<const N: usize> Memory<N> {
    const fn new() -> Self {
        Memory(UnsafeCell::new([0; N]))
    }

    fn base(&self) -> *mut u8 {
        self.0.get().cast()
    }
}

/// The memory of the global allocator (hash sets, worklists, messages).
static HEAP_MEMORY: Memory<HEAP_SIZE> = Memory::new();
/// The memory each test builds its GC heap in.
static REGION_MEMORY: Memory<REGION_SIZE> = Memory::new();

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// The console of the machine, as a `core::fmt::Write`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(arch::putc);
        Ok(())
    }
}

/// Called by the start-up code in `arch` once the stack is set and `.bss` is zeroed.
#[no_mangle]
extern "C" fn kernel_main() -> ! {
    arch::init();
    // SAFETY: this runs once, before anything allocates; HEAP_MEMORY is HEAP_SIZE bytes that
    // nothing else ever touches, and it lives for the whole run.
    unsafe { ALLOCATOR.lock().init(HEAP_MEMORY.base(), HEAP_SIZE) };
    let mut console = Console;
    let _ = writeln!(
        console,
        "drc-heap portable tests on {MACHINE}: heap {} KiB, GC region {} KiB",
        HEAP_SIZE / 1024,
        REGION_SIZE / 1024
    );
    let failed = crate::harness::run_all(&mut console, || {
        // SAFETY: REGION_MEMORY is REGION_SIZE bytes, 16-aligned, static, and every byte pattern
        // is a valid u8. The kernel is single-threaded and only ever makes a reference to it here,
        // once per test: the previous test has returned, which ends its borrow (a portable test
        // keeps nothing of its region past its return), so this reference is the only one.
        let region = unsafe { core::slice::from_raw_parts_mut(REGION_MEMORY.base(), REGION_SIZE) };
        // Every test starts from the same memory the host's runner gives it: zeroed.
        region.fill(0);
        region
    });
    arch::exit(if failed == 0 { Exit::Pass } else { Exit::Fail })
}

/// Set by the first panic or trap, so that one inside the report itself exits at once.
static ABORTING: AtomicBool = AtomicBool::new(false);

fn abort(status: Exit, what: fmt::Arguments<'_>) -> ! {
    if !ABORTING.swap(true, Ordering::Relaxed) {
        crate::harness::report_abort(&mut Console, what);
    }
    arch::exit(status)
}

extern "C" {
    /// The guard below the stack (defined by the linker script): an access there faults.
    static __stack_guard_start: u8;
    static __stack_guard_end: u8;
}

/// A note for a fault report: says "stack overflow" if `address` lies in the stack's guard.
pub fn stack_overflow_note(address: usize) -> &'static str {
    let start = core::ptr::addr_of!(__stack_guard_start) as usize;
    let end = core::ptr::addr_of!(__stack_guard_end) as usize;
    if (start..end).contains(&address) {
        " (in the guard below the stack: a stack overflow)"
    } else {
        ""
    }
}

/// Reports a CPU exception or trap (called by the architecture's handlers) and exits non-zero.
pub fn trap(what: fmt::Arguments<'_>) -> ! {
    abort(Exit::Trap, format_args!("CPU exception: {what}"))
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    abort(Exit::Panic, format_args!("panicked: {info}"))
}
