//! QEMU `virt` with a Cortex-A53, entered at EL1 with the MMU off. Console: the PL011 UART at
//! 0x0900_0000. Exit: semihosting SYS_EXIT (QEMU runs with `-semihosting-config enable=on`).

use core::arch::{asm, global_asm};

use crate::bare_metal::Exit;

pub const MACHINE: &str = "aarch64 QEMU virt (Cortex-A53)";
pub const HEAP_SIZE: usize = 16 * 1024 * 1024;
pub const REGION_SIZE: usize = drc_heap::portable_tests::TEST_REGION;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    // Allow FP/NEON at EL1: compiled code uses the SIMD registers.
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb
    adrp x0, exception_vectors
    add x0, x0, :lo12:exception_vectors
    msr vbar_el1, x0
    isb
    adrp x0, __stack_top
    add x0, x0, :lo12:__stack_top
    mov sp, x0
    adrp x0, __bss_start
    add x0, x0, :lo12:__bss_start
    adrp x1, __bss_end
    add x1, x1, :lo12:__bss_end
1:  cmp x0, x1
    b.hs 2f
    stp xzr, xzr, [x0], #16
    b 1b
2:  bl kernel_main
3:  wfe
    b 3b

    // 16 entries of 0x80 bytes: every exception is fatal and reports which entry was taken.
    .section .text.vectors, "ax"
    .balign 0x800
exception_vectors:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .balign 0x80
    mov x0, #\n
    b exception_common
    .endr
exception_common:
    mrs x1, esr_el1
    mrs x2, elr_el1
    mrs x3, far_el1
    b aarch64_exception
"#
);

#[no_mangle]
extern "C" fn aarch64_exception(entry: u64, esr: u64, elr: u64, far: u64) -> ! {
    crate::bare_metal::trap(format_args!(
        "vector entry {entry}, ESR_EL1 {esr:#x} (class {:#x}), ELR_EL1 {elr:#x}, FAR_EL1 {far:#x}",
        esr >> 26
    ))
}

pub fn init() {}

const UART_DR: *mut u32 = 0x0900_0000 as *mut u32;
const UART_FR: *const u32 = 0x0900_0018 as *const u32;
const UART_FR_TXFF: u32 = 1 << 5;

pub fn putc(byte: u8) {
    // SAFETY: 0x0900_0000 is the PL011 of the virt machine, a device that nothing else drives;
    // the volatile accesses touch only its flag and data registers.
    unsafe {
        while UART_FR.read_volatile() & UART_FR_TXFF != 0 {}
        UART_DR.write_volatile(u32::from(byte));
    }
}

pub fn exit(status: Exit) -> ! {
    // SYS_EXIT on AArch64 takes a block: ADP_Stopped_ApplicationExit, then the exit status.
    let block: [u64; 2] = [0x20026, status as u64];
    // SAFETY: `hlt #0xf000` with x0 = 0x18 is the semihosting SYS_EXIT call, which QEMU turns into
    // its own exit; it reads only `block`, which lives on this stack frame.
    unsafe { asm!("hlt #0xf000", in("x0") 0x18u64, in("x1") block.as_ptr(), options(nostack)) };
    // Without semihosting the `hlt` is an exception and never gets here; park just in case.
    loop {
        // SAFETY: waiting for an event has no effect on memory.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}
