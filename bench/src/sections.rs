//! Which sections of the benchmark run, and their combined output (markdown on stdout, one JSON
//! document with a member per section).

use crate::{collector_costs, workloads};

pub struct Sections {
    pub trace: bool,
    pub workloads: bool,
    pub costs: bool,
}

impl Sections {
    pub fn all() -> Sections {
        Sections { trace: true, workloads: true, costs: true }
    }

    /// A comma-separated list of `trace`, `workloads`, `costs`.
    pub fn parse(list: &str) -> Option<Sections> {
        let mut sections = Sections { trace: false, workloads: false, costs: false };
        for name in list.split(',') {
            match name.trim() {
                "trace" => sections.trace = true,
                "workloads" => sections.workloads = true,
                "costs" => sections.costs = true,
                _ => return None,
            }
        }
        Some(sections)
    }
}

#[derive(Default)]
pub struct Output {
    /// (member name, rendered JSON value).
    parts: Vec<(&'static str, String)>,
    pub problems: Vec<String>,
}

impl Output {
    pub fn add(&mut self, name: &'static str, json: String, problems: Vec<String>) {
        self.parts.push((name, json));
        self.problems.extend(problems);
    }

    /// One JSON object with a member per section that ran.
    pub fn json(&self) -> String {
        let members: Vec<String> = self
            .parts
            .iter()
            .map(|(name, json)| format!("\"{name}\": {}", json.trim_end().replace('\n', "\n  ")))
            .collect();
        format!("{{\n  {}\n}}\n", members.join(",\n  "))
    }
}

/// Runs the workloads and the collector costs on a thread with a large stack
/// (`DRC_BENCH_IMPLEMENTATIONS=name;name` keeps only those implementations, for profiling; `;`
/// separates them, as row names such as "drc-heap (generic API, no cycle collection)" hold commas):
/// `bacon_rajan_cc`'s collector and `Rc`'s drop recurse along the structures they free.
pub fn run_gc_sections(sections: &Sections, quick: bool, runs: usize, filter: Vec<String>, output: &mut Output) {
    let (run_workloads, run_costs) = (sections.workloads, sections.costs);
    let results = std::thread::Builder::new()
        .name("gc-workloads".to_string())
        .stack_size(1 << 30)
        .spawn(move || {
            let mut parts = Vec::new();
            if run_workloads {
                let implementations = std::env::var("DRC_BENCH_IMPLEMENTATIONS")
                    .map(|names| names.split(';').map(str::to_string).collect())
                    .unwrap_or_default();
                let report = workloads::run(&workloads::Config { quick, runs, only: filter, implementations });
                print!("\n{}", report.markdown());
                parts.push(("workloads", report.json().render(), report.problems.clone()));
            }
            if run_costs {
                let report = collector_costs::run(quick, runs);
                print!("\n{}", report.markdown());
                parts.push(("collector_costs", report.json().render(), report.problems.clone()));
            }
            parts
        })
        .expect("spawn the workload thread")
        .join();
    match results {
        Ok(parts) => {
            for (name, json, problems) in parts {
                output.add(name, json, problems);
            }
        }
        Err(_) => output.problems.push("the workload thread panicked".to_string()),
    }
}
