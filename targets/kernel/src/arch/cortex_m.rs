//! QEMU `mps2-an385` (Cortex-M3, thumbv7m) and `mps2-an386` (Cortex-M4F, thumbv7em hard-float).
//! Console: CMSDK UART0 at 0x4000_4000. Exit: semihosting SYS_EXIT_EXTENDED (QEMU runs with
//! `-semihosting-config enable=on`; plain SYS_EXIT only tells 0 from 1 on 32-bit Arm).
//! RAM is 4 MiB: a 2.5 MiB allocator heap, a 1 MiB GC region and a 256 KiB stack fit. An MPU
//! region makes the 16 KiB below the stack a guard; faults are handled on a stack of their own.

use core::arch::{asm, global_asm};

use crate::bare_metal::Exit;

#[cfg(target_abi = "eabihf")]
pub const MACHINE: &str = "thumbv7em QEMU mps2-an386 (Cortex-M4F)";
#[cfg(not(target_abi = "eabihf"))]
pub const MACHINE: &str = "thumbv7m QEMU mps2-an385 (Cortex-M3)";
pub const HEAP_SIZE: usize = 2560 * 1024;
pub const REGION_SIZE: usize = drc_heap::portable_tests::TEST_REGION;

global_asm!(
    r#"
    .syntax unified
    .thumb

    .section .vector_table, "a"
    .global vector_table
vector_table:
    .word __handler_stack_top
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
4:  // Thread mode runs on the process stack; exceptions keep the main stack for themselves.
    ldr r0, =__stack_top
    msr psp, r0
    movs r0, #2
    msr control, r0
    isb
    bl kernel_main
5:  b 5b
    .ltorg

    .irp n, 2,3,4,5,6,11,12,14,15
    .type fault_\n, %function
    .thumb_func
fault_\n:
    movs r0, #\n
    mov r1, lr
    b cortex_m_fault
    .endr

    .type fault_irq, %function
    .thumb_func
fault_irq:
    mrs r0, ipsr
    mov r1, lr
    b cortex_m_fault
"#
);

/// Every exception is fatal: reports the exception number, the fault status registers and, when
/// the core could push it, the stacked program counter. `exc_return` is the handler's `lr`.
#[no_mangle]
extern "C" fn cortex_m_fault(exception: u32, exc_return: u32) -> ! {
    // SAFETY: the System Control Block registers are always readable and reading them has no
    // side effect.
    let (cfsr, hfsr, mmfar, bfar) = unsafe {
        (
            (0xE000_ED28 as *const u32).read_volatile(),
            (0xE000_ED2C as *const u32).read_volatile(),
            (0xE000_ED34 as *const u32).read_volatile(),
            (0xE000_ED38 as *const u32).read_volatile(),
        )
    };
    const STACKING_ERRORS: u32 = (1 << 4) | (1 << 12); // MSTKERR, STKERR
    let frame: *const u32 = if exc_return & 4 != 0 {
        let psp: *const u32;
        // SAFETY: reading the process stack pointer has no side effect.
        unsafe { asm!("mrs {}, psp", out(reg) psp, options(nomem, nostack)) };
        psp
    } else {
        core::ptr::null()
    };
    let overflow = if cfsr & STACKING_ERRORS != 0 {
        " (the core could not push the exception frame: a stack overflow)"
    } else if cfsr & (1 << 7) != 0 {
        // MMARVALID: MMFAR holds the address of the access the MPU refused.
        crate::bare_metal::stack_overflow_note(mmfar as usize)
    } else {
        ""
    };
    let prefix =
        format_args!("exception {exception}, CFSR {cfsr:#x}, HFSR {hfsr:#x}, MMFAR {mmfar:#x}, BFAR {bfar:#x}");
    if !frame.is_null() && cfsr & STACKING_ERRORS == 0 {
        // SAFETY: the core pushed eight words (r0-r3, r12, lr, pc, xpsr) on the process stack
        // at exception entry, without a stacking error, so the seventh, the pc, is readable.
        let pc = unsafe { frame.add(6).read_volatile() };
        crate::bare_metal::trap(format_args!("{prefix}, pc {pc:#x}{overflow}"))
    } else {
        crate::bare_metal::trap(format_args!("{prefix}{overflow}"))
    }
}

extern "C" {
    static __stack_guard_start: u8;
}

const MPU_CTRL: *mut u32 = 0xE000_ED94 as *mut u32;
const MPU_RNR: *mut u32 = 0xE000_ED98 as *mut u32;
const MPU_RBAR: *mut u32 = 0xE000_ED9C as *mut u32;
const MPU_RASR: *mut u32 = 0xE000_EDA0 as *mut u32;

/// Makes the 16 KiB guard below the stack inaccessible (MPU region 0, no access, never
/// executable), with the default memory map everywhere else.
pub fn init() {
    let guard = core::ptr::addr_of!(__stack_guard_start) as u32;
    // SAFETY: the MPU registers of the System Control Space, written once on the only core
    // before anything touches the guard; region 0 covers only the 16 KiB guard (aligned to its
    // size by the linker script), and PRIVDEFENA keeps the default map for everything else.
    unsafe {
        MPU_RNR.write_volatile(0);
        MPU_RBAR.write_volatile(guard);
        // XN, AP = no access, SIZE = 2^(13 + 1) bytes, enabled.
        MPU_RASR.write_volatile((1 << 28) | (13 << 1) | 1);
        // PRIVDEFENA, ENABLE.
        MPU_CTRL.write_volatile((1 << 2) | 1);
        asm!("dsb", "isb", options(nostack));
    }
}

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
