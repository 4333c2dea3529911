//! tinywasm 0.12.0-beta.0 as a bench engine: a fresh `Store` per run, from an engine `Config`
//! whose only setting changed is the GC collection threshold (tinywasm collects when its GC heap
//! has grown past max(threshold, 2 x the bytes live after the last collection); 1 MiB by
//! default).
//!
//! Peak memory is the peak of the bytes live in the global allocator from before the store is
//! created to the end of the call: tinywasm allocates every GC object, its value stacks and its
//! module instance there, so that is all the memory it needs (the parsed module, shared by all
//! runs, is left out, as drc-heap-wasm's is).

use std::cell::RefCell;
use std::rc::Rc;

use tinywasm::types::{FuncType, WasmType, WasmValue};
use tinywasm::{HostFunction, Imports, ModuleInstance, Store, Trap};

use crate::counting_alloc::Measurement;
use crate::engines::{Engine, Measure, Outcome, Run, Stopwatch};
use crate::programs::Program;

pub struct Tinywasm {
    /// tinywasm's `gc_collection_threshold`, bytes.
    collection_threshold: usize,
    /// Whether this is tinywasm's default setting (for the name).
    default_settings: bool,
}

impl Tinywasm {
    /// `Config::default()`.
    pub fn default_settings() -> Tinywasm {
        let threshold = tinywasm::engine::Config::default().gc_collection_threshold;
        Tinywasm { collection_threshold: threshold, default_settings: true }
    }

    /// The collection threshold set to `bytes` (fewer collections, more memory).
    pub fn with_threshold(bytes: usize) -> Tinywasm {
        Tinywasm { collection_threshold: bytes, default_settings: false }
    }
}

fn outcome_of(error: tinywasm::Error) -> Outcome {
    match error {
        tinywasm::Error::Trap(Trap::OutOfMemory) => Outcome::OutOfMemory,
        tinywasm::Error::Trap(trap) => Outcome::Trap(trap.to_string()),
        other => Outcome::Error(other.to_string()),
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

impl Engine for Tinywasm {
    fn name(&self) -> String {
        let mib = self.collection_threshold as f64 / (1 << 20) as f64;
        if self.default_settings {
            format!("tinywasm 0.12 (default: threshold {mib} MiB)")
        } else {
            format!("tinywasm 0.12 (threshold {mib} MiB)")
        }
    }

    fn run(&self, program: &Program, measure: Measure) -> Run {
        let module = match tinywasm::parse_bytes(&program.bytes) {
            Ok(module) => module,
            Err(error) => return failed(Outcome::Error(format!("the module does not load: {error}"))),
        };
        let measurement = (measure == Measure::Memory).then(Measurement::start);
        let config = tinywasm::engine::Config::new().with_gc_collection_threshold(self.collection_threshold);
        let mut store = Store::new(tinywasm::Engine::new(config));
        let printed = Rc::new(RefCell::new(Vec::new()));
        let mut imports = Imports::new();
        let sink = Rc::clone(&printed);
        let print_type = FuncType::new(&[WasmType::I64], &[]);
        imports.define(
            "env",
            "print_i64",
            HostFunction::from_untyped(&print_type, move |_context, args, _results| {
                match args {
                    [WasmValue::I64(value)] => sink.borrow_mut().push(*value),
                    _ => return Err(tinywasm::Error::Other(format!("print_i64 called with {args:?}"))),
                }
                Ok(())
            }),
        );
        let instance = match ModuleInstance::instantiate(&mut store, &module, Some(&imports)) {
            Ok(instance) => instance,
            Err(error) => return failed(outcome_of(error)),
        };
        let function = match instance.func_untyped(&store, program.export) {
            Ok(function) => function,
            Err(error) => return failed(outcome_of(error)),
        };
        let args: Vec<WasmValue> = program.args.iter().map(|&arg| WasmValue::I32(arg)).collect();
        let mut results = [WasmValue::I64(0)];

        let stopwatch = Stopwatch::start();
        let called = function.call(&mut store, &args, &mut results);
        let (cpu, wall) = stopwatch.stop();

        let counts = measurement.map(Measurement::stop);
        let peak_bytes = counts.map(|counts| counts.peak_bytes);
        let notes = counts.map_or(String::new(), |counts| format!("{} allocations", counts.allocations));
        let (outcome, result) = match called {
            Ok(()) => match results {
                [WasmValue::I64(value)] => (Outcome::Ok, Some(value)),
                other => (Outcome::Error(format!("the export returned {other:?}, not an i64")), None),
            },
            Err(error) => (outcome_of(error), None),
        };
        drop(store);
        let printed = printed.borrow().clone();
        Run { outcome, result, printed, cpu, wall, peak_bytes, notes }
    }
}
