//! drc-heap's benchmarks: the allocator trace (`alloc_trace/`), the GC workloads
//! (`workloads/`) and the collector costs (`collector_costs.rs`); see `README.md`.
//!
//! `cargo run --release -p drc-heap-bench -- [--quick] [--runs N] [--cap-ms MS] [--json PATH]`

mod alloc_trace;
mod collector_costs;
mod counting_alloc;
mod json;
mod sections;
mod thread_cpu;
mod workloads;

/// The system allocator, counting live bytes while a workload measures them.
#[global_allocator]
static ALLOCATOR: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: drc-heap-bench [--quick] [--runs N] [--cap-ms MS] [--only NAMES] [--json PATH]\n\
         \x20                     [--sections trace,workloads,costs] [--workloads NAMES]\n\
         \n\
         --quick      a 50k-operation trace for every allocator, one run, with consistency checks\n\
         --runs N     timed runs per allocator and trace (default 5; 1 with --quick)\n\
         --cap-ms MS  time cap of one run in milliseconds (default 2000)\n\
         --only NAMES only the allocators whose names contain one of these comma-separated\n\
                      words (drc-heap always runs: the ratios need it)\n\
         --json PATH  also write the results as JSON to PATH\n\
         --sections S which sections to run (default all: trace, workloads, costs)\n\
         --workloads NAMES only the workloads whose names contain one of these words\n\
         \n\
         Workloads and collector costs: --runs N timed runs (default 3; 1 with --quick)."
    );
    std::process::exit(2)
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut runs = None;
    let mut cap = Duration::from_secs(2);
    let mut json_path = None;
    let mut only: Vec<String> = Vec::new();
    let mut sections = sections::Sections::all();
    let mut workload_filter: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--runs" => {
                runs = Some(args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or_else(|| usage()))
            }
            "--cap-ms" => {
                cap = Duration::from_millis(args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| usage()))
            }
            "--only" => only = args.next().unwrap_or_else(|| usage()).split(',').map(str::to_string).collect(),
            "--json" => json_path = Some(args.next().unwrap_or_else(|| usage())),
            "--sections" => {
                sections = sections::Sections::parse(&args.next().unwrap_or_else(|| usage())).unwrap_or_else(|| usage())
            }
            "--workloads" => {
                workload_filter = args.next().unwrap_or_else(|| usage()).split(',').map(str::to_string).collect()
            }
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    let mut output = sections::Output::default();
    if sections.trace {
        let config = alloc_trace::Config::new(quick, runs.unwrap_or(if quick { 1 } else { 5 }), cap, only);
        let report = alloc_trace::run(&config);
        print!("{}", report.markdown());
        output.add("allocator_trace", report.json(), report.problems);
    }
    sections::run_gc_sections(
        &sections,
        quick,
        runs.unwrap_or(if quick { 1 } else { 3 }),
        workload_filter,
        &mut output,
    );
    if let Some(path) = json_path {
        if let Err(error) = std::fs::write(&path, output.json()) {
            eprintln!("cannot write {path}: {error}");
            return ExitCode::FAILURE;
        }
    }
    if output.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in &output.problems {
            eprintln!("check failed: {problem}");
        }
        ExitCode::FAILURE
    }
}
