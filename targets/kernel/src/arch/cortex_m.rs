//! QEMU `mps2-an385` (Cortex-M3, thumbv7m) and `mps2-an386` (Cortex-M4F, thumbv7em hard-float).
//! Console: CMSDK UART0 at 0x4000_4000. Exit: semihosting SYS_EXIT_EXTENDED (QEMU runs with
//! `-semihosting-config enable=on`; plain SYS_EXIT only tells 0 from 1 on 32-bit Arm).
//! RAM is 4 MiB: a 2 MiB allocator heap, a 1 MiB GC region and a 256 KiB stack fit.

use core::arch::{asm, global_asm};

use crate::bare_metal::Exit;

#[cfg(target_abi = "eabihf")]
pub const MACHINE: &str = "thumbv7em QEMU mps2-an386 (Cortex-M4F)";
#[cfg(not(target_abi = "eabihf"))]
pub const MACHINE: &str = "thumbv7m QEMU mps2-an385 (Cortex-M3)";
pub const HEAP_SIZE: usize = 2 * 1024 * 1024;
pub const REGION_SIZE: usize = drc_heap::portable_tests::TEST_REGION;

global_asm!(
    r#"
    .syntax unified
    .thumb

    .section .vector_table, "a"
    .global vector_table
vector_table:
    .word __stack_top
    .word reset
    .word fault_2       // NMI
    .word fault_3       // HardFault
    .word fault_4       // MemManage
    .word fault_5       // BusFault
    .word fault_6       // UsageFault
    .word 0, 0, 0, 0
    .word fault_11      // SVCall
    .word fault_12      // DebugMonitor
    .word 0
    .word fault_14      // PendSV
    .word fault_15      // SysTick
    .rept 32
    .word fault_irq     // external interrupts: none is enabled
    .endr

    .section .text.reset, "ax"
    .global reset
    .type reset, %function
    .thumb_func
reset:
"#,
    // The FPU is off at reset, and hard-float code uses it: grant CP10/CP11 full access.
    #[cfg(target_abi = "eabihf")]
    r#"
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
"#,
    r#"
    // Copy .data from its load address, then zero .bss.
    ldr r0, =__data_start
    ldr r1, =__data_end
    ldr r2, =__data_load
1:  cmp r0, r1
    bhs 2f
    ldr r3, [r2], #4
    str r3, [r0], #4
    b 1b
2:  ldr r0, =__bss_start
    ldr r1, =__bss_end
    movs r2, #0
3:  cmp r0, r1
    bhs 4f
    str r2, [r0], #4
    b 3b
4:  bl kernel_main
5:  b 5b
    .ltorg

    .irp n, 2,3,4,5,6,11,12,14,15
    .type fault_\n, %function
    .thumb_func
fault_\n:
    movs r0, #\n
    mov r1, sp
    b cortex_m_fault
    .endr

    .type fault_irq, %function
    .thumb_func
fault_irq:
    mrs r0, ipsr
    mov r1, sp
    b cortex_m_fault
"#
);

/// Every exception is fatal: reports the exception number, the fault status registers and the
/// stacked program counter.
#[no_mangle]
extern "C" fn cortex_m_fault(exception: u32, frame: *const u32) -> ! {
    // SAFETY: the System Control Block registers are always readable and reading them has no
    // side effect; `frame` is the stack pointer at exception entry, where the core pushed eight
    // words (r0-r3, r12, lr, pc, xpsr), the seventh being the faulting pc.
    let (cfsr, hfsr, mmfar, bfar, pc) = unsafe {
        (
            (0xE000_ED28 as *const u32).read_volatile(),
            (0xE000_ED2C as *const u32).read_volatile(),
            (0xE000_ED34 as *const u32).read_volatile(),
            (0xE000_ED38 as *const u32).read_volatile(),
            frame.add(6).read_volatile(),
        )
    };
    crate::bare_metal::trap(format_args!(
        "exception {exception}, CFSR {cfsr:#x}, HFSR {hfsr:#x}, MMFAR {mmfar:#x}, BFAR {bfar:#x}, pc {pc:#x}"
    ))
}

pub fn init() {}

const UART_DATA: *mut u32 = 0x4000_4000 as *mut u32;
const UART_STATE: *const u32 = 0x4000_4004 as *const u32;
const UART_CTRL: *mut u32 = 0x4000_4008 as *mut u32;
const UART_STATE_TXFULL: u32 = 1;
const UART_CTRL_TX_ENABLE: u32 = 1;

pub fn putc(byte: u8) {
    // SAFETY: 0x4000_4000 is the CMSDK UART0 of the MPS2 boards, a device nothing else drives;
    // the volatile accesses touch only its data, state and control registers.
    unsafe {
        UART_CTRL.write_volatile(UART_CTRL_TX_ENABLE);
        while UART_STATE.read_volatile() & UART_STATE_TXFULL != 0 {}
        UART_DATA.write_volatile(u32::from(byte));
    }
}

pub fn exit(status: Exit) -> ! {
    // SYS_EXIT_EXTENDED takes a block: ADP_Stopped_ApplicationExit, then the exit status.
    let block: [u32; 2] = [0x20026, status as u32];
    // SAFETY: `bkpt #0xab` with r0 = 0x20 is the semihosting SYS_EXIT_EXTENDED call, which QEMU
    // turns into its own exit; it reads only `block`, which lives on this stack frame.
    unsafe { asm!("bkpt #0xab", in("r0") 0x20u32, in("r1") block.as_ptr(), options(nostack)) };
    // Without semihosting the breakpoint is a HardFault and never gets here.
    loop {
        core::hint::spin_loop();
    }
}
