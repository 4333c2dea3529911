//! The CPU time of the benchmark thread, for the allocator trace and the GC workloads.

/// This thread's time on a CPU (`CLOCK_THREAD_CPUTIME_ID`) as (seconds, nanoseconds), or
/// `None` where that is not available. On a shared machine this leaves out the time the thread
/// waited for a CPU, which wall time includes.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn thread_cpu_time() -> Option<(i64, i64)> {
    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    /// Linux's `CLOCK_THREAD_CPUTIME_ID`.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec { seconds: 0, nanoseconds: 0 };
    // SAFETY: `clock_gettime` is the C library's (std links it on Linux); it writes one
    // `struct timespec`, whose layout on 64-bit Linux `Timespec` is, through a valid pointer.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    (status == 0).then_some((time.seconds, time.nanoseconds))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn thread_cpu_time() -> Option<(i64, i64)> {
    None
}
