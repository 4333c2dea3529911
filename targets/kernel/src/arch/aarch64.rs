//! QEMU `virt` with a Cortex-A53, entered at EL1 with the MMU off; the start-up code identity-maps
//! devices and RAM, leaving a 2 MiB guard below the stack unmapped, and takes exceptions on a
//! stack of their own. Console: the PL011 UART at 0x0900_0000. Exit: semihosting SYS_EXIT (QEMU
//! runs with `-semihosting-config enable=on`).

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
    adrp x0, __bss_start
    add x0, x0, :lo12:__bss_start
    adrp x1, __bss_end
    add x1, x1, :lo12:__bss_end
1:  cmp x0, x1
    b.hs 2f
    stp xzr, xzr, [x0], #16
    b 1b
2:
    // Identity-map with a 39-bit address space (level 1 first, 4 KiB granule): the first GiB
    // (devices) as one Device-nGnRnE block, the 128 MiB of RAM at 0x4000_0000 as 2 MiB blocks
    // of write-back Normal memory, except the guard below the stack, which stays unmapped.
    adrp x0, page_table_l1
    add x0, x0, :lo12:page_table_l1
    adrp x1, page_table_l2
    add x1, x1, :lo12:page_table_l2
    mov x2, #0x401                      // block, AF, AttrIndx 0 (Device)
    str x2, [x0]
    orr x2, x1, #0x3                    // table
    str x2, [x0, #8]
    mov x2, #0x40000000
    mov x3, #0x705                      // block, AttrIndx 1 (Normal), inner shareable, AF
    orr x2, x2, x3
    mov x3, #64
3:  str x2, [x1], #8
    add x2, x2, #0x200000
    subs x3, x3, #1
    b.ne 3b
    adrp x1, page_table_l2
    add x1, x1, :lo12:page_table_l2
    adrp x2, __stack_guard_start
    add x2, x2, :lo12:__stack_guard_start
    mov x3, #0x40000000
    sub x2, x2, x3
    lsr x2, x2, #21
    str xzr, [x1, x2, lsl #3]
    // MAIR: attribute 0 Device-nGnRnE, attribute 1 Normal write-back.
    mov x1, #0xff00
    msr mair_el1, x1
    // TCR: T0SZ 25, write-back walks, inner shareable, 4 KiB granule, no TTBR1 walks, 4 GiB PA.
    mov x1, #0x3519
    movk x1, #0x80, lsl #16
    msr tcr_el1, x1
    msr ttbr0_el1, x0
    isb
    tlbi vmalle1
    dsb ish
    isb
    // SCTLR: MMU, data and instruction caches on (alignment checking stays off).
    mrs x1, sctlr_el1
    mov x2, #0x1005
    orr x1, x1, x2
    msr sctlr_el1, x1
    isb
    // Exceptions run on SP_EL1, a stack of their own; the kernel runs on SP_EL0.
    adrp x0, __exception_stack_top
    add x0, x0, :lo12:__exception_stack_top
    mov sp, x0
    msr spsel, #0
    adrp x0, __stack_top
    add x0, x0, :lo12:__stack_top
    mov sp, x0
    bl kernel_main
4:  wfe
    b 4b

    .section .bss.page_tables, "aw", @nobits
    .balign 4096
page_table_l1:
    .skip 4096
page_table_l2:
    .skip 4096

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
        "vector entry {entry}, ESR_EL1 {esr:#x} (class {:#x}), ELR_EL1 {elr:#x}, FAR_EL1 {far:#x}{}",
        esr >> 26,
        crate::bare_metal::stack_overflow_note(far as usize)
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
