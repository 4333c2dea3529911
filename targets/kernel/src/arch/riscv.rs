//! QEMU `virt` (riscv64 and riscv32) with `-bios none`: entered in M-mode at 0x8000_0000.
//! Console: the 16550 UART at 0x1000_0000. Exit: the SiFive test device at 0x10_0000.
//! A locked PMP entry makes the 64 KiB below the stack a guard that faults.

use core::arch::global_asm;

use crate::bare_metal::Exit;

#[cfg(target_arch = "riscv64")]
pub const MACHINE: &str = "riscv64 QEMU virt";
#[cfg(target_arch = "riscv32")]
pub const MACHINE: &str = "riscv32 QEMU virt";
pub const HEAP_SIZE: usize = 16 * 1024 * 1024;
pub const REGION_SIZE: usize = drc_heap::portable_tests::TEST_REGION;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    csrr t0, mhartid
    bnez t0, 3f
    la t0, trap_entry
    csrw mtvec, t0
    // mstatus.FS = Initial: riscv64gc code uses the FPU (a no-op where there is none).
    li t0, 0x2000
    csrs mstatus, t0
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    // PMP entry 0, locked so that it binds M-mode too: no access to the NAPOT region that is
    // the 64 KiB guard below the stack, so that an overflow faults instead of corrupting .bss.
    la t0, __stack_guard_start
    li t1, (0x10000 / 2 - 1)
    add t0, t0, t1
    srli t0, t0, 2
    csrw pmpaddr0, t0
    li t0, 0x98
    csrw pmpcfg0, t0
    la sp, __stack_top
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call kernel_main
3:  wfi
    j 3b

    .balign 4
trap_entry:
    // Every trap is fatal: report it on a stack of its own, which works after a stack overflow.
    la sp, __trap_stack_top
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    tail riscv_trap
"#
);

#[no_mangle]
extern "C" fn riscv_trap(mcause: usize, mepc: usize, mtval: usize) -> ! {
    crate::bare_metal::trap(format_args!(
        "mcause {mcause:#x}, mepc {mepc:#x}, mtval {mtval:#x}{}",
        crate::bare_metal::stack_overflow_note(mtval)
    ))
}

pub fn init() {}

const UART_THR: *mut u8 = 0x1000_0000 as *mut u8;
const UART_LSR: *const u8 = 0x1000_0005 as *const u8;
const UART_LSR_THRE: u8 = 1 << 5;

pub fn putc(byte: u8) {
    // SAFETY: 0x1000_0000 is the virt machine's 16550, a device nothing else drives; the volatile
    // accesses touch only its line-status and transmit registers.
    unsafe {
        while UART_LSR.read_volatile() & UART_LSR_THRE == 0 {}
        UART_THR.write_volatile(byte);
    }
}

const SIFIVE_TEST: *mut u32 = 0x10_0000 as *mut u32;

pub fn exit(status: Exit) -> ! {
    let command = match status {
        Exit::Pass => 0x5555,
        status => ((status as u32) << 16) | 0x3333,
    };
    // SAFETY: 0x10_0000 is the virt machine's SiFive test device: this write makes QEMU exit with
    // the given status and touches no memory.
    unsafe { SIFIVE_TEST.write_volatile(command) };
    loop {
        core::hint::spin_loop();
    }
}
