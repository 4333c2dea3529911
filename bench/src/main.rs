//! drc-heap's benchmarks. For now: the allocator trace (see `README.md` and `alloc_trace.rs`).
//!
//! `cargo run --release -p drc-heap-bench -- [--quick] [--runs N] [--cap-ms MS] [--json PATH]`

mod alloc_trace;
mod json;

use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: drc-heap-bench [--quick] [--runs N] [--cap-ms MS] [--only NAMES] [--json PATH]\n\
         \n\
         --quick      a 50k-operation trace for every allocator, one run, with consistency checks\n\
         --runs N     timed runs per allocator and trace (default 5; 1 with --quick)\n\
         --cap-ms MS  time cap of one run in milliseconds (default 2000)\n\
         --only NAMES only the allocators whose names contain one of these comma-separated\n\
                      words (drc-heap always runs: the ratios need it)\n\
         --json PATH  also write the results as JSON to PATH"
    );
    std::process::exit(2)
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut runs = None;
    let mut cap = Duration::from_secs(2);
    let mut json_path = None;
    let mut only: Vec<String> = Vec::new();
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
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    let config = alloc_trace::Config::new(quick, runs.unwrap_or(if quick { 1 } else { 5 }), cap, only);
    let report = alloc_trace::run(&config);
    print!("{}", report.markdown());
    if let Some(path) = json_path {
        if let Err(error) = std::fs::write(&path, report.json()) {
            eprintln!("cannot write {path}: {error}");
            return ExitCode::FAILURE;
        }
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in &report.problems {
            eprintln!("check failed: {problem}");
        }
        ExitCode::FAILURE
    }
}
