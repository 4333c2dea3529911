//! What the bench asks of a Wasm engine and what one run of a program gives back.
//!
//! An engine runs one program once from a fresh store: it instantiates the module with an `env`
//! host module whose `print_i64` records what the program prints, calls the program's export
//! with its arguments, and reports the outcome, the i64 result, the printed values and the
//! on-CPU and wall time of the call alone (instantiation is not timed). With
//! [`Measure::Memory`] the global allocator counts live bytes from before the store is created
//! to the end of the call (that run is not timed: counting costs an atomic add per allocation,
//! which would tax the engine that allocates most); each engine adds what lies outside the
//! allocator's view (drc-heap-wasm: its region's high-water).

use std::time::{Duration, Instant};

use crate::programs::Program;
use crate::thread_cpu::thread_cpu_time;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call returned.
    Ok,
    /// The call trapped (the engine's message).
    Trap(String),
    /// The engine could not allocate (its GC heap or its limits refused).
    OutOfMemory,
    /// The module did not load, link or instantiate, or the call was refused.
    Error(String),
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Ok => "ok".to_string(),
            Outcome::Trap(message) => format!("trap: {message}"),
            Outcome::OutOfMemory => "out of memory".to_string(),
            Outcome::Error(message) => format!("error: {message}"),
        }
    }
}

/// Whether this run is timed or counts memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Time,
    Memory,
}

/// One run of one program on one engine.
#[derive(Clone, Debug)]
pub struct Run {
    pub outcome: Outcome,
    /// The export's i64 result, when it returned one.
    pub result: Option<i64>,
    /// The values passed to `env.print_i64`, in order.
    pub printed: Vec<i64>,
    /// The call's time on a CPU (this thread), or its wall time where that clock is missing.
    pub cpu: Duration,
    /// The call's wall time.
    pub wall: Duration,
    /// With [`Measure::Memory`]: the peak bytes the run needed (see the engine's definition).
    pub peak_bytes: Option<u64>,
    /// Engine-specific facts of the run (collections, region figures), for the notes column.
    pub notes: String,
}

/// A Wasm engine under test.
pub trait Engine {
    /// Name and settings, for the table (`tinywasm 0.12 (threshold 1 MiB)`).
    fn name(&self) -> String;
    /// Runs `program` once from a fresh store.
    fn run(&self, program: &Program, measure: Measure) -> Run;
    /// Whether it frees garbage cycles (else it is not run on a [`Program::cyclic`] program).
    fn collects_cycles(&self) -> bool {
        true
    }
}

/// A stopwatch of on-CPU and wall time.
pub struct Stopwatch {
    cpu_start: Option<(i64, i64)>,
    wall_start: Instant,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch { cpu_start: thread_cpu_time(), wall_start: Instant::now() }
    }

    /// (on-CPU time, wall time) since `start`; the on-CPU time is the wall time where the thread
    /// clock is missing.
    pub fn stop(&self) -> (Duration, Duration) {
        let wall = self.wall_start.elapsed();
        let cpu = match (self.cpu_start, thread_cpu_time()) {
            (Some(start), Some(end)) => {
                let nanoseconds = (end.0 - start.0) * 1_000_000_000 + (end.1 - start.1);
                Duration::from_nanos(nanoseconds.max(0) as u64)
            }
            _ => wall,
        };
        (cpu, wall)
    }
}
