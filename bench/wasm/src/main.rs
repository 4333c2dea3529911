//! The Wasm GC programs of `wasm/examples/` (binary-trees, GCBench, doubly linked rings, growing
//! arrays) on drc-heap-wasm and on tinywasm 0.12, side by side in one run: on-CPU time (min / median of N runs),
//! peak memory, result and outcome per program and engine; see `../README.md`.
//!
//! ```text
//! cargo run --release --ignore-rust-version --manifest-path bench/wasm/Cargo.toml -- \
//!     [--quick] [--runs N] [--programs NAMES] [--engines NAMES] [--tuned-threshold-kib K]
//! ```
//!
//! Every run's result (and binary-trees' printed check values) is checked against the program's
//! model in `programs.rs`; any disagreement, trap or out-of-memory exits 1 (`--quick`, small
//! sizes and one run each, is the CI check).

// Shared with the main bench (the same counting allocator and thread clock); this crate uses
// only part of their API.
#[allow(dead_code)]
#[path = "../../src/counting_alloc.rs"]
mod counting_alloc;
mod drc_heap_engine;
mod engines;
mod programs;
mod report;
#[path = "../../src/thread_cpu.rs"]
mod thread_cpu;
mod tinywasm_engine;

use std::process::ExitCode;

use engines::{Engine, Measure, Outcome};
use report::{EngineRuns, ProgramResults};

/// The system allocator, counting live bytes while a memory run measures them.
#[global_allocator]
static ALLOCATOR: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

/// The prefix of the baseline engine's name: the ratios are against tinywasm's default settings.
const BASELINE: &str = "tinywasm 0.12 (default";

/// The prefix of drc-heap-wasm's name, for the targets.
const DRC_HEAP_WASM: &str = "drc-heap-wasm";

fn usage() -> ! {
    eprintln!(
        "usage: drc-heap-wasm-bench [--quick] [--runs N] [--programs NAMES] [--engines NAMES]\n\
         \x20                          [--tuned-threshold-kib K]\n\
         \n\
         --quick      small sizes (binary-trees 10, GCBench 12, 200 rings of 100, 1024 array\n\
         \x20            rounds), one timed run each: the CI check\n\
         --runs N     timed runs per program and engine (default 3; 1 with --quick)\n\
         --programs NAMES  only the programs whose names contain one of these comma-separated words\n\
         --engines NAMES   only the engines named exactly so, ';'-separated (the names in the table's\n\
         \x20            engine column), e.g. \"drc-heap-wasm;drc-heap-wasm (no cycle collection)\"\n\
         --tuned-threshold-kib K  tinywasm's collection threshold in its tuned run, KiB (default 256)"
    );
    std::process::exit(2)
}

struct Options {
    quick: bool,
    runs: usize,
    programs: Vec<String>,
    /// Empty: every engine.
    engines: Vec<String>,
    tuned_threshold_kib: usize,
}

fn parse_options() -> Options {
    let mut quick = false;
    let mut runs = None;
    let mut programs = Vec::new();
    let mut engines = Vec::new();
    let mut tuned_threshold_kib = 256;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || args.next().and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0);
        match arg.as_str() {
            "--quick" => quick = true,
            "--runs" => runs = Some(number().unwrap_or_else(|| usage())),
            "--tuned-threshold-kib" => tuned_threshold_kib = number().unwrap_or_else(|| usage()),
            "--programs" => programs = args.next().unwrap_or_else(|| usage()).split(',').map(str::to_string).collect(),
            "--engines" => engines = args.next().unwrap_or_else(|| usage()).split(';').map(str::to_string).collect(),
            _ => usage(),
        }
    }
    Options { quick, runs: runs.unwrap_or(if quick { 1 } else { 3 }), programs, engines, tuned_threshold_kib }
}

/// One memory run per engine, then `runs` timed rounds, each round running every engine once in a
/// rotating order (so the machine's load changes hit all engines alike). An engine whose run
/// fails is not run again on this program; one that does not collect cycles is not run on a
/// program that makes them.
fn run_program(program: &programs::Program, engines: &[Box<dyn Engine>], runs: usize) -> ProgramResults {
    let engines: Vec<&dyn Engine> = engines
        .iter()
        .map(|engine| engine.as_ref())
        .filter(|engine| engine.collects_cycles() || !program.cyclic)
        .collect();
    let mut results: Vec<EngineRuns> = engines
        .iter()
        .map(|engine| EngineRuns {
            engine: engine.name(),
            memory_run: engine.run(program, Measure::Memory),
            timed_runs: Vec::new(),
        })
        .collect();
    for round in 0..runs {
        for offset in 0..engines.len() {
            let index = (round + offset) % engines.len();
            let runs = &results[index];
            let failed =
                std::iter::once(&runs.memory_run).chain(&runs.timed_runs).any(|run| run.outcome != Outcome::Ok);
            if !failed {
                let run = engines[index].run(program, Measure::Time);
                results[index].timed_runs.push(run);
            }
        }
    }
    ProgramResults { label: program.label.clone(), expected: program.expected, engines: results }
}

fn main() -> ExitCode {
    let options = parse_options();
    let programs = match programs::all(options.quick) {
        Ok(programs) => programs,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let all_engines: Vec<Box<dyn Engine>> = vec![
        Box::new(drc_heap_engine::DrcHeapWasm { cycle_collection: true }),
        Box::new(drc_heap_engine::DrcHeapWasm { cycle_collection: false }),
        Box::new(tinywasm_engine::Tinywasm::default_settings()),
        Box::new(tinywasm_engine::Tinywasm::with_threshold(options.tuned_threshold_kib << 10)),
    ];
    let engines: Vec<Box<dyn Engine>> = all_engines
        .into_iter()
        .filter(|engine| options.engines.is_empty() || options.engines.contains(&engine.name()))
        .collect();
    if engines.is_empty() {
        eprintln!("--engines {:?} names no engine", options.engines.join(";"));
        return ExitCode::FAILURE;
    }
    let selected = |name: &str| options.programs.is_empty() || options.programs.iter().any(|word| name.contains(word));

    println!("## Wasm GC programs ({} timed runs each)\n", options.runs);
    let mut all_results = Vec::new();
    let mut problems = Vec::new();
    for program in programs.iter().filter(|program| selected(program.name)) {
        let results = run_program(program, &engines, options.runs);
        problems.extend(report::problems(program, &results));
        all_results.push(results);
    }
    print!("{}", report::table(&all_results, BASELINE));
    println!();
    for (program, results) in programs.iter().filter(|program| selected(program.name)).zip(&all_results) {
        println!(
            "{}: expected result {}, drc-heap-wasm region {} MiB",
            results.label,
            results.expected,
            program.region_bytes >> 20
        );
    }
    println!();
    print!("{}", report::targets(&all_results, DRC_HEAP_WASM, BASELINE));
    if problems.is_empty() {
        println!("\nEvery run returned the expected result.");
        ExitCode::SUCCESS
    } else {
        println!("\nProblems:");
        for problem in &problems {
            println!("- {problem}");
        }
        ExitCode::FAILURE
    }
}
