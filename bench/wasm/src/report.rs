//! The bench's results: every engine's runs of every program, the checks on them (each result and
//! printed value against the program's model, so the engines also agree with each other), the
//! markdown table and the targets as ratios.

use std::fmt::Write;
use std::time::Duration;

use crate::engines::{Outcome, Run};
use crate::programs::Program;

/// One engine's runs of one program.
pub struct EngineRuns {
    pub engine: String,
    /// The untimed run that counted memory.
    pub memory_run: Run,
    /// The timed runs (fewer than asked if one failed: the runs stop at the first failure).
    pub timed_runs: Vec<Run>,
}

impl EngineRuns {
    fn cpu_min_median(&self) -> Option<(Duration, Duration)> {
        min_median(self.timed_runs.iter().map(|run| run.cpu).collect())
    }

    fn wall_min(&self) -> Option<Duration> {
        self.timed_runs.iter().map(|run| run.wall).min()
    }

    fn all_runs(&self) -> impl Iterator<Item = &Run> {
        std::iter::once(&self.memory_run).chain(&self.timed_runs)
    }

    /// The first run whose outcome is not ok, else the memory run.
    fn representative(&self) -> &Run {
        self.all_runs().find(|run| run.outcome != Outcome::Ok).unwrap_or(&self.memory_run)
    }
}

/// All engines' runs of one program.
pub struct ProgramResults {
    pub label: String,
    pub expected: i64,
    pub engines: Vec<EngineRuns>,
}

fn min_median(mut values: Vec<Duration>) -> Option<(Duration, Duration)> {
    values.sort();
    let min = *values.first()?;
    Some((min, values[values.len() / 2]))
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e3)
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1u64 << 20) as f64)
}

/// Every disagreement: a run whose outcome is not ok, or whose result or printed values differ
/// from the program's model.
pub fn problems(program: &Program, results: &ProgramResults) -> Vec<String> {
    let mut problems = Vec::new();
    for engine in &results.engines {
        for run in engine.all_runs() {
            let problem = if run.outcome != Outcome::Ok {
                Some(run.outcome.label())
            } else if run.result != Some(program.expected) {
                Some(format!("returned {:?}, expected {}", run.result, program.expected))
            } else if run.printed != program.expected_printed {
                Some(format!("printed {:?}, expected {:?}", run.printed, program.expected_printed))
            } else {
                None
            };
            if let Some(problem) = problem {
                problems.push(format!("{} on {}: {problem}", results.label, engine.engine));
                break;
            }
        }
    }
    problems
}

/// The markdown table: one row per program and engine; ratios against `baseline` (the engine
/// whose name starts with it, tinywasm's default settings).
pub fn table(results: &[ProgramResults], baseline: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "| program | engine | outcome | result | cpu ms min | cpu ms median | wall ms min | \
         cpu min vs tinywasm | peak MiB | peak vs tinywasm | notes |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for program in results {
        let base = program.engines.iter().find(|engine| engine.engine.starts_with(baseline));
        let base_cpu = base.and_then(|engine| engine.cpu_min_median()).map(|(min, _)| min);
        let base_peak = base.and_then(|engine| engine.memory_run.peak_bytes);
        for engine in &program.engines {
            let run = engine.representative();
            let result = run.result.map_or("-".to_string(), |value| value.to_string());
            let (cpu_min, cpu_median) = match engine.cpu_min_median() {
                Some((min, median)) => (milliseconds(min), milliseconds(median)),
                None => ("-".to_string(), "-".to_string()),
            };
            let wall_min = engine.wall_min().map_or("-".to_string(), milliseconds);
            let cpu_ratio = match (engine.cpu_min_median(), base_cpu) {
                (Some((min, _)), Some(base)) if !base.is_zero() => {
                    format!("{:.2}x", min.as_secs_f64() / base.as_secs_f64())
                }
                _ => "-".to_string(),
            };
            let peak = engine.memory_run.peak_bytes;
            let peak_ratio = match (peak, base_peak) {
                (Some(peak), Some(base)) if base > 0 => format!("{:.2}x", peak as f64 / base as f64),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                program.label,
                engine.engine,
                run.outcome.label(),
                result,
                cpu_min,
                cpu_median,
                wall_min,
                cpu_ratio,
                peak.map_or("-".to_string(), mebibytes),
                peak_ratio,
                engine.memory_run.notes,
            );
        }
    }
    out
}

/// `engine`'s figure over `baseline`'s for `program` (cpu min, or peak bytes), when both ran.
pub fn ratio(results: &[ProgramResults], program: &str, engine: &str, baseline: &str, memory: bool) -> Option<f64> {
    let program = results.iter().find(|results| results.label.starts_with(program))?;
    let figure = |name: &str| -> Option<f64> {
        let runs = program.engines.iter().find(|runs| runs.engine.starts_with(name))?;
        if memory {
            runs.memory_run.peak_bytes.map(|bytes| bytes as f64)
        } else {
            runs.cpu_min_median().map(|(min, _)| min.as_secs_f64())
        }
    };
    let base = figure(baseline)?;
    (base > 0.0).then(|| figure(engine).map(|value| value / base)).flatten()
}

/// The targets, as ratios of drc-heap-wasm's figures to tinywasm's default settings in
/// this run: peak memory on binary-trees and GCBench at most 1/3, rings run in their region
/// without running out of memory, and every program's time ratio.
pub fn targets(results: &[ProgramResults], engine: &str, baseline: &str) -> String {
    let mut out = String::new();
    if !results.iter().any(|program| program.engines.iter().any(|runs| runs.engine.starts_with(engine))) {
        let _ = writeln!(out, "Targets: not measured ({engine} is not in this build).");
        return out;
    }
    let _ = writeln!(out, "Targets ({engine} / tinywasm default, this run):");
    for program in ["binary-trees", "GCBench"] {
        let line = match ratio(results, program, engine, baseline, true) {
            Some(value) => {
                let verdict = if value <= 1.0 / 3.0 { "met" } else { "MISSED" };
                format!("- {program} peak memory <= 1/3 of tinywasm's: {value:.3}x: {verdict}")
            }
            None => format!("- {program} peak memory <= 1/3 of tinywasm's: not measured"),
        };
        let _ = writeln!(out, "{line}");
    }
    if let Some(rings) = results.iter().find(|program| program.label.starts_with("rings")) {
        if let Some(runs) = rings.engines.iter().find(|runs| runs.engine.starts_with(engine)) {
            let outcomes: Vec<String> = runs.all_runs().map(|run| run.outcome.label()).collect();
            let flat = runs.all_runs().all(|run| run.outcome == Outcome::Ok);
            let verdict = if flat { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "- {} with cycle collection, never out of memory in its region: {}: {verdict}",
                rings.label,
                outcomes.join(", ")
            );
        }
    }
    for program in results {
        let name = program.label.split(' ').next().unwrap_or_default();
        if let Some(value) = ratio(results, &program.label, engine, baseline, false) {
            let _ = writeln!(out, "- time, {}: {value:.2}x tinywasm's (cpu min; below 1 is faster)", program.label);
        } else {
            let _ = writeln!(out, "- time, {name}: not measured");
        }
    }
    let without = format!("{engine} {NO_CYCLE_COLLECTION}");
    for program in results {
        if let Some(share) = cycle_collection_share(program, engine, &without) {
            let verdict = if share <= 0.05 { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "- cycle collection's share of {engine}'s time on {} (which makes no cycles; cpu min against \
                 the run without it) <= 5%: {:.1}%: {verdict}",
                program.label,
                share * 1e2
            );
        }
    }
    out
}

/// The suffix of the name of drc-heap-wasm's engine without cycle collection.
pub const NO_CYCLE_COLLECTION: &str = "(no cycle collection)";

/// What cycle collection adds to `engine`'s time on `program`: (cpu min with it - cpu min of
/// the engine named `without`) / cpu min with it; `None` unless both ran. Negative when the run
/// without was the slower (noise).
pub fn cycle_collection_share(program: &ProgramResults, engine: &str, without: &str) -> Option<f64> {
    let cpu_min = |name: &str| {
        let runs = program.engines.iter().find(|runs| runs.engine == name)?;
        runs.cpu_min_median().map(|(min, _)| min.as_secs_f64())
    };
    let (with, without) = (cpu_min(engine)?, cpu_min(without)?);
    (with > 0.0).then(|| (with - without) / with)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome, result: Option<i64>, cpu_ms: u64) -> Run {
        Run {
            outcome,
            result,
            printed: Vec::new(),
            cpu: Duration::from_millis(cpu_ms),
            wall: Duration::from_millis(cpu_ms),
            peak_bytes: Some(1000),
            notes: String::new(),
        }
    }

    fn program(expected: i64) -> Program {
        Program {
            label: "p".to_string(),
            name: "p",
            bytes: Vec::new(),
            export: "p",
            args: Vec::new(),
            expected,
            expected_printed: Vec::new(),
            region_bytes: 0,
            cyclic: false,
        }
    }

    #[test]
    fn a_wrong_result_or_a_trap_is_a_problem_and_the_right_result_is_not() {
        let results = ProgramResults {
            label: "p".to_string(),
            expected: 7,
            engines: vec![
                EngineRuns {
                    engine: "right".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 1),
                    timed_runs: vec![run(Outcome::Ok, Some(7), 1)],
                },
                EngineRuns {
                    engine: "wrong".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 1),
                    timed_runs: vec![run(Outcome::Ok, Some(8), 1)],
                },
                EngineRuns {
                    engine: "trapped".to_string(),
                    memory_run: run(Outcome::OutOfMemory, None, 1),
                    timed_runs: Vec::new(),
                },
            ],
        };
        let problems = problems(&program(7), &results);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("wrong") && problems[0].contains("returned Some(8)"));
        assert!(problems[1].contains("trapped") && problems[1].contains("out of memory"));
    }

    #[test]
    fn ratios_divide_the_minimum_cpu_time_by_the_baselines() {
        let results = vec![ProgramResults {
            label: "p 1".to_string(),
            expected: 7,
            engines: vec![
                EngineRuns {
                    engine: "base".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 0),
                    timed_runs: vec![run(Outcome::Ok, Some(7), 40), run(Outcome::Ok, Some(7), 20)],
                },
                EngineRuns {
                    engine: "other".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 0),
                    timed_runs: vec![run(Outcome::Ok, Some(7), 10), run(Outcome::Ok, Some(7), 30)],
                },
            ],
        }];
        assert_eq!(ratio(&results, "p", "other", "base", false), Some(0.5));
        assert_eq!(ratio(&results, "p", "other", "base", true), Some(1.0));
        assert_eq!(ratio(&results, "q", "other", "base", false), None);
    }

    #[test]
    fn cycle_collection_share_is_the_time_it_adds_over_the_run_with_it_by_exact_engine_name() {
        let program = ProgramResults {
            label: "p 1".to_string(),
            expected: 7,
            engines: vec![
                EngineRuns {
                    engine: "e".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 0),
                    timed_runs: vec![run(Outcome::Ok, Some(7), 50), run(Outcome::Ok, Some(7), 40)],
                },
                EngineRuns {
                    engine: "e (no cycle collection)".to_string(),
                    memory_run: run(Outcome::Ok, Some(7), 0),
                    timed_runs: vec![run(Outcome::Ok, Some(7), 38), run(Outcome::Ok, Some(7), 39)],
                },
            ],
        };
        let share = cycle_collection_share(&program, "e", "e (no cycle collection)").unwrap();
        assert!((share - 0.05).abs() < 1e-9, "{share}");
        assert_eq!(cycle_collection_share(&program, "e", "f (no cycle collection)"), None);
        assert_eq!(cycle_collection_share(&program, "e (no", "e (no cycle collection)"), None);
    }
}
