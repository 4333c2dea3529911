//! drc-heap-wasm as a bench engine: a fresh `Store` per run over a region of the program's size
//! (`Program::region_bytes`), the engine's default `Config` (cycle collection on) or the same
//! without cycle collection (the second row measures what cycle collection costs a program that
//! makes no cycles: issue 12's "cycle collection <= 5% of the run's time" through the engine).
//!
//! Peak memory is the region's high-water (`HeapStats::peak_used_bytes`: the part of the region
//! the run actually used) plus the peak of every byte the store allocated outside the region
//! (interpreter stacks, instance, the heap's side tables), counted by the global allocator from
//! before the store is created; the region itself is one allocation of its full size at
//! creation, held to the end, so it is subtracted from that count.

use std::cell::RefCell;
use std::rc::Rc;

use drc_heap_wasm::{Config, Error, Instance, Module, Store, Trap, Val, ValType};

use crate::counting_alloc::Measurement;
use crate::engines::{Engine, Measure, Outcome, Run, Stopwatch};
use crate::programs::Program;

pub struct DrcHeapWasm {
    /// `Config::cycle_collection`.
    pub cycle_collection: bool,
}

fn outcome_of(error: Error) -> Outcome {
    match error {
        Error::Trap(Trap::OutOfGcMemory) => Outcome::OutOfMemory,
        Error::Trap(trap) => Outcome::Trap(trap.to_string()),
        other => Outcome::Error(format!("{other:?}")),
    }
}

fn failed(outcome: Outcome) -> Run {
    Run {
        outcome,
        result: None,
        printed: Vec::new(),
        cpu: Default::default(),
        wall: Default::default(),
        peak_bytes: None,
        notes: String::new(),
    }
}

/// A store over `region_bytes` with `env.print_i64` recording into `printed`, and `module`
/// instantiated in it.
fn instantiate(
    module: &Module,
    region_bytes: usize,
    printed: &Rc<RefCell<Vec<i64>>>,
    cycle_collection: bool,
) -> Result<(Store, Instance), Error> {
    let config = Config { cycle_collection, ..Config::default() };
    let mut store: Store = Store::new(region_bytes, config)?;
    let sink = Rc::clone(printed);
    store.define_func(
        "env",
        "print_i64",
        &[ValType::I64],
        &[],
        Box::new(move |_context, args| match args {
            [Val::I64(value)] => {
                sink.borrow_mut().push(*value);
                Ok(Vec::new())
            }
            _ => Err(Trap::Host(format!("print_i64 called with {args:?}"))),
        }),
    )?;
    let instance = store.instantiate(module)?;
    Ok((store, instance))
}

impl Engine for DrcHeapWasm {
    fn name(&self) -> String {
        if self.cycle_collection {
            "drc-heap-wasm".to_string()
        } else {
            format!("drc-heap-wasm {}", crate::report::NO_CYCLE_COLLECTION)
        }
    }

    fn collects_cycles(&self) -> bool {
        self.cycle_collection
    }

    fn run(&self, program: &Program, measure: Measure) -> Run {
        let module = match Module::new(&program.bytes) {
            Ok(module) => module,
            Err(error) => return failed(Outcome::Error(format!("the module does not load: {error:?}"))),
        };
        let printed = Rc::new(RefCell::new(Vec::new()));
        let measurement = (measure == Measure::Memory).then(Measurement::start);
        let (mut store, instance) = match instantiate(&module, program.region_bytes, &printed, self.cycle_collection) {
            Ok(instantiated) => instantiated,
            Err(error) => return failed(outcome_of(error)),
        };
        let args: Vec<Val> = program.args.iter().map(|&arg| Val::I32(arg)).collect();

        let stopwatch = Stopwatch::start();
        let called = store.invoke(instance, program.export, &args);
        let (cpu, wall) = stopwatch.stop();

        let counts = measurement.map(Measurement::stop);
        let stats = store.heap().stats();
        let (outcome, result) = match called {
            Ok(results) => match results.as_slice() {
                [Val::I64(value)] => (Outcome::Ok, Some(*value)),
                other => (Outcome::Error(format!("the export returned {other:?}, not an i64")), None),
            },
            Err(error) => (outcome_of(error), None),
        };
        let (peak_bytes, notes) = match stats {
            Ok(stats) => {
                let outside = counts.map(|counts| counts.peak_bytes.saturating_sub(stats.region_bytes));
                let peak = outside.map(|outside| stats.peak_used_bytes + outside);
                let notes = format!(
                    "region {} MiB, peak used {:.2} MiB, outside {}; {} objects, {} freed; {} collections; \
                     {} cycle collections freed {} objects",
                    stats.region_bytes >> 20,
                    stats.peak_used_bytes as f64 / (1u64 << 20) as f64,
                    outside.map_or("-".to_string(), |bytes| format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)),
                    stats.objects_allocated,
                    stats.objects_freed,
                    stats.collections,
                    stats.cycle_collections,
                    stats.cycle_objects_freed,
                );
                (peak, notes)
            }
            Err(error) => (None, format!("no heap statistics: {error:?}")),
        };
        drop(store);
        let printed = printed.borrow().clone();
        Run { outcome, result, printed, cpu, wall, peak_bytes, notes }
    }
}
