//! Part 2 of the benchmarks: GC workloads on drc-heap, on `Rc<RefCell<_>>` over the system
//! allocator, and (for the cyclic ones) on `bacon_rajan_cc`.
//!
//! Every implementation of a workload computes the same check value (node counts, sums), which
//! the harness compares with the value the workload expects (a known answer such as the
//! binary-trees check lines, or one computed from the definition). A run whose check differs,
//! or that fails, is a problem: the bench exits with an error.
//!
//! # What is measured
//! * **time**: wall time of one run of the whole workload, heap creation included (for
//!   drc-heap that is O(1): the region is allocated once per process and reused). Each
//!   implementation runs once untimed with memory counting on (also the warm-up), then `runs`
//!   times timed with counting off, interleaved in a rotating order with the other
//!   implementations of the same workload.
//! * **peak bytes**: drc-heap: the region high-water mark (`stats().peak_used_bytes`: the
//!   smallest region the workload fits in) and the peak of the live object bytes
//!   (`stats().peak_live_bytes`); what drc-heap allocates outside the region (type registry,
//!   hash sets, worklists, host data) is shown apart. `Rc` and `cc`: the peak of the bytes the
//!   system allocator had live for the workload (the counting `#[global_allocator]`, reset
//!   before each run).
//! * **objects**: drc-heap: `stats().objects_allocated`; `Rc` and `cc`: allocator calls.
//! * **left at end**: what is still allocated after the workload dropped everything (and, for
//!   the cycle collectors, ran a final cycle collection): leaked garbage cycles.

mod arrays;
mod binary_trees;
mod churn;
mod cyclic;
mod gcbench;

use crate::counting_alloc::{Counts, Measurement};
use crate::json::Json;
use crate::thread_cpu::thread_cpu_time;
use drc_heap::{Heap, HeapConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::time::Instant;

/// What to run.
pub struct Config {
    pub quick: bool,
    pub runs: usize,
    /// Only the workloads whose names contain one of these words (all when empty).
    pub only: Vec<String>,
    /// Only the implementations whose names are one of these (all when empty; for profiling).
    pub implementations: Vec<String>,
}

/// What one run of one implementation reports, besides its time.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The check value, or why the run stopped (such as drc-heap's `OutOfMemory` when garbage
    /// cycles are not collected).
    pub check: Result<u64, String>,
    /// drc-heap only: the statistics at the end of the run.
    pub drc: Option<DrcNumbers>,
    /// A note shown under the table (the first run's note is kept).
    pub note: Option<String>,
}

/// drc-heap's own numbers for a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct DrcNumbers {
    pub peak_used_bytes: u64,
    pub peak_live_bytes: u64,
    pub objects_allocated: u64,
    pub live_objects_at_end: u64,
    pub live_bytes_at_end: u64,
    pub collections: u64,
    pub cycle_collections: u64,
    pub cycle_objects_scanned: u64,
    pub cycle_objects_freed: u64,
    pub region_bytes: u64,
}

impl DrcNumbers {
    pub fn of<H>(heap: &Heap<H>) -> DrcNumbers {
        let stats = heap.stats().expect("stats of a healthy heap");
        DrcNumbers {
            peak_used_bytes: stats.peak_used_bytes,
            peak_live_bytes: stats.peak_live_bytes,
            objects_allocated: stats.objects_allocated,
            live_objects_at_end: stats.live_objects,
            live_bytes_at_end: stats.live_bytes,
            collections: stats.collections,
            cycle_collections: stats.cycle_collections,
            cycle_objects_scanned: stats.cycle_objects_scanned,
            cycle_objects_freed: stats.cycle_objects_freed,
            region_bytes: stats.region_bytes,
        }
    }
}

/// An implementation of a workload.
pub struct Implementation {
    pub name: &'static str,
    /// Whether this is the drc-heap row the ratios are taken against.
    pub reference: bool,
    pub run: Box<dyn Fn() -> Outcome>,
}

/// A workload: its implementations and the check value they must all compute.
pub struct Workload {
    pub name: String,
    pub description: String,
    pub expected: u64,
    pub implementations: Vec<Implementation>,
    /// Notes shown under the table (design choices of the implementations).
    pub notes: Vec<String>,
}

/// One caller-supplied region for every drc-heap in the process, allocated once (zeroed, so
/// its pages are mapped on first touch) directly from the system allocator so that it is not
/// counted as the workloads' memory.
pub struct SharedRegion {
    base: *mut u8,
    len: usize,
}

/// The region all drc-heap runs use; big enough for the largest workload (binary-trees 18).
pub const REGION_BYTES: usize = 128 << 20;

static mut REGION: SharedRegion = SharedRegion { base: std::ptr::null_mut(), len: 0 };

fn region() -> &'static SharedRegion {
    // SAFETY: the bench runs its workloads on one thread; REGION is written once here, before
    // any reader, and never again.
    unsafe {
        let region = &mut *std::ptr::addr_of_mut!(REGION);
        if region.base.is_null() {
            let layout = Layout::from_size_align(REGION_BYTES, 4096).unwrap();
            let base = System.alloc_zeroed(layout);
            assert!(!base.is_null(), "cannot allocate the {REGION_BYTES}-byte region");
            *region = SharedRegion { base, len: REGION_BYTES };
        }
        &*region
    }
}

/// A fresh drc-heap over the first `len` bytes of the shared region.
pub fn drc_heap<H>(len: usize, cycles: bool) -> Heap<H> {
    let region = region();
    assert!(len <= region.len);
    let config = HeapConfig::default().with_cycle_collection(cycles);
    // SAFETY: the shared region is valid for `REGION_BYTES` bytes for the life of the process,
    // and the workloads run one at a time and drop their heap before the next run, so nothing
    // else uses the memory while this heap exists.
    unsafe { Heap::from_raw_parts(region.base, len, config) }.expect("a heap over the shared region")
}

/// A checked-result helper for drc-heap code: errors become the run's failure text.
pub type DrcResult<T> = Result<T, drc_heap::Error>;

/// Turns a drc-heap run's result into an outcome, with the heap's numbers.
pub fn drc_outcome<H>(heap: &Heap<H>, result: DrcResult<u64>) -> Outcome {
    let numbers = DrcNumbers::of(heap);
    Outcome { check: result.map_err(|e| format!("{e}")), drc: Some(numbers), note: None }
}

struct Row {
    workload: usize,
    implementation: &'static str,
    reference: bool,
    /// Seconds on a CPU per timed run (wall seconds where that is not available).
    times: Vec<f64>,
    /// Wall seconds per timed run.
    wall: Vec<f64>,
    outcome: Outcome,
    counts: Counts,
}

pub struct Report {
    quick: bool,
    runs: usize,
    workloads: Vec<(String, String, u64, Vec<String>)>,
    rows: Vec<Row>,
    pub problems: Vec<String>,
}

pub fn all(quick: bool) -> Vec<Workload> {
    let mut workloads = Vec::new();
    if quick {
        workloads.push(binary_trees::workload(10));
    } else {
        workloads.push(binary_trees::workload(16));
        workloads.push(binary_trees::workload(18));
    }
    workloads.push(gcbench::workload(quick));
    workloads.extend(cyclic::workloads(quick));
    workloads.push(churn::workload(quick));
    workloads.extend(arrays::workloads(quick));
    workloads
}

pub fn run(config: &Config) -> Report {
    let workloads: Vec<Workload> = all(config.quick)
        .into_iter()
        .filter(|w| config.only.is_empty() || config.only.iter().any(|o| w.name.contains(o.as_str())))
        .map(|mut w| {
            w.implementations
                .retain(|i| config.implementations.is_empty() || config.implementations.iter().any(|n| n == i.name));
            w
        })
        .collect();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (w, workload) in workloads.iter().enumerate() {
        eprintln!("workload {} ...", workload.name);
        let n = workload.implementations.len();
        let mut first: Vec<Row> = Vec::new();
        // The counting run of each implementation (also its warm-up and its check).
        for implementation in &workload.implementations {
            let measurement = Measurement::start();
            let outcome = (implementation.run)();
            let counts = measurement.stop();
            match &outcome.check {
                Ok(check) if *check == workload.expected => {}
                Ok(check) => problems.push(format!(
                    "{} on {}: check {} instead of {}",
                    implementation.name, workload.name, check, workload.expected
                )),
                // A run without cycle collection may run out of memory: that is its result.
                Err(error) if implementation.name.contains("no cycle collection") => {
                    let _ = error;
                }
                Err(error) => problems.push(format!("{} on {}: {}", implementation.name, workload.name, error)),
            }
            first.push(Row {
                workload: w,
                implementation: implementation.name,
                reference: implementation.reference,
                times: Vec::new(),
                wall: Vec::new(),
                outcome,
                counts,
            });
        }
        for run in 0..config.runs {
            for k in 0..n {
                let i = (k + run) % n;
                let start = Instant::now();
                let cpu_start = thread_cpu_seconds();
                let outcome = (workload.implementations[i].run)();
                let cpu = thread_cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
                let elapsed = start.elapsed().as_secs_f64();
                first[i].wall.push(elapsed);
                if outcome.check.is_ok() && outcome.check != first[i].outcome.check {
                    problems.push(format!(
                        "{} on {}: a timed run computed {:?}, the first {:?}",
                        first[i].implementation, workload.name, outcome.check, first[i].outcome.check
                    ));
                }
                // On-CPU time where the system reports it (it leaves out the time the thread
                // waited for a CPU on a busy machine), else wall time.
                first[i].times.push(cpu.unwrap_or(elapsed));
            }
        }
        rows.extend(first);
    }
    Report {
        quick: config.quick,
        runs: config.runs,
        workloads: workloads.into_iter().map(|w| (w.name, w.description, w.expected, w.notes)).collect(),
        rows,
        problems,
    }
}

/// Seconds this thread has spent on a CPU (as the allocator trace), or `None` where that is not
/// available (see [`thread_cpu_time`]).
pub fn thread_cpu_seconds() -> Option<f64> {
    thread_cpu_time().map(|(seconds, nanoseconds)| seconds as f64 + nanoseconds as f64 * 1e-9)
}

fn sorted(times: &[f64]) -> Vec<f64> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

fn min(times: &[f64]) -> f64 {
    sorted(times).first().copied().unwrap_or(f64::NAN)
}

fn median(times: &[f64]) -> f64 {
    let sorted = sorted(times);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub fn time_text(seconds: f64) -> String {
    if !seconds.is_finite() {
        "-".to_string()
    } else if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.1} us", seconds * 1e6)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1 << 20) as f64)
}

impl Row {
    /// The peak heap bytes to compare: drc-heap's region high-water mark, the others' peak of
    /// allocator-live bytes.
    fn peak_bytes(&self) -> u64 {
        match &self.outcome.drc {
            Some(drc) => drc.peak_used_bytes,
            None => self.counts.peak_bytes,
        }
    }

    fn objects(&self) -> u64 {
        match &self.outcome.drc {
            Some(drc) => drc.objects_allocated,
            None => self.counts.allocations,
        }
    }

    fn result_text(&self) -> String {
        match &self.outcome.check {
            Ok(check) => format!("ok ({check})"),
            Err(error) => error.clone(),
        }
    }

    fn left_text(&self) -> String {
        match &self.outcome.drc {
            Some(drc) if drc.live_objects_at_end == 0 => "0".to_string(),
            Some(drc) => format!("{} objects ({} MiB)", drc.live_objects_at_end, mib(drc.live_bytes_at_end)),
            None if self.counts.live_bytes_at_end <= 0 => "0".to_string(),
            None => format!("{} MiB", mib(self.counts.live_bytes_at_end as u64)),
        }
    }
}

impl Report {
    fn reference(&self, row: &Row) -> Option<&Row> {
        self.rows.iter().find(|r| r.workload == row.workload && r.reference)
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "## Workloads{}\n\n{} timed runs per implementation (after one untimed run with memory \
             counting), interleaved; times are one whole run of the workload, on-CPU time of the \
             benchmark thread (wall time in the last column and in the JSON).\n",
            if self.quick { " (quick)" } else { "" },
            self.runs
        ));
        for (w, (name, description, expected, notes)) in self.workloads.iter().enumerate() {
            out.push_str(&format!("\n### {name}\n\n{description} Expected check value: {expected}.\n\n"));
            out.push_str(
                "| implementation | cpu min | cpu median | min vs drc-heap | median vs drc-heap | \
                 peak heap MiB | peak vs drc-heap | objects allocated | left at end | result | wall median |\n",
            );
            out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
            for row in self.rows.iter().filter(|r| r.workload == w) {
                let reference = self.reference(row);
                let ratio = |f: &dyn Fn(&Row) -> f64| match reference {
                    Some(reference) => format!("{:.2}x", f(row) / f(reference)),
                    None => "-".to_string(),
                };
                let peak = match &row.outcome.drc {
                    Some(drc) => format!(
                        "{} (live {}; +{} outside)",
                        mib(drc.peak_used_bytes),
                        mib(drc.peak_live_bytes),
                        mib(row.counts.peak_bytes)
                    ),
                    None => mib(row.counts.peak_bytes),
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    row.implementation,
                    time_text(min(&row.times)),
                    time_text(median(&row.times)),
                    ratio(&|r| min(&r.times)),
                    ratio(&|r| median(&r.times)),
                    peak,
                    ratio(&|r| r.peak_bytes() as f64),
                    row.objects(),
                    row.left_text(),
                    row.result_text(),
                    time_text(median(&row.wall)),
                ));
            }
            for row in self.rows.iter().filter(|r| r.workload == w) {
                if let Some(drc) = &row.outcome.drc {
                    if drc.cycle_collections > 0 {
                        out.push_str(&format!(
                            "\n{}: {} cycle collections scanned {} objects and freed {}.",
                            row.implementation,
                            drc.cycle_collections,
                            drc.cycle_objects_scanned,
                            drc.cycle_objects_freed
                        ));
                    }
                }
                if let Some(note) = &row.outcome.note {
                    out.push_str(&format!("\n{}: {note}", row.implementation));
                }
            }
            for note in notes {
                out.push_str(&format!("\n{note}"));
            }
            out.push('\n');
        }
        out.push_str(
            "\nvs drc-heap: this implementation's number / the drc-heap row's (above 1: slower or bigger). \
             peak heap: drc-heap: region high-water mark (live: peak of live object bytes; outside: peak \
             of what drc-heap allocated from the system allocator beside the region); Rc and cc: peak of \
             the system allocator's live bytes. objects allocated: drc-heap: objects; Rc and cc: \
             allocator calls. left at end: what is still allocated once the workload let go of \
             everything (and ran a final cycle collection where there is one).\n",
        );
        out
    }

    pub fn json(&self) -> Json {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let reference = self.reference(row);
                let ratio = |f: &dyn Fn(&Row) -> f64| reference.map_or(Json::Null, |r| Json::Num(f(row) / f(r)));
                let mut fields = vec![
                    ("workload", Json::Str(self.workloads[row.workload].0.clone())),
                    ("implementation", Json::Str(row.implementation.to_string())),
                    ("cpu_ms_min", Json::Num(min(&row.times) * 1e3)),
                    ("cpu_ms_median", Json::Num(median(&row.times) * 1e3)),
                    ("cpu_ms_runs", Json::Arr(row.times.iter().map(|&t| Json::Num(t * 1e3)).collect())),
                    ("wall_ms_runs", Json::Arr(row.wall.iter().map(|&t| Json::Num(t * 1e3)).collect())),
                    ("min_vs_drc_heap", ratio(&|r| min(&r.times))),
                    ("median_vs_drc_heap", ratio(&|r| median(&r.times))),
                    ("peak_heap_bytes", Json::Int(row.peak_bytes())),
                    ("peak_vs_drc_heap", ratio(&|r| r.peak_bytes() as f64)),
                    ("objects_allocated", Json::Int(row.objects())),
                    ("system_allocator_peak_bytes", Json::Int(row.counts.peak_bytes)),
                    ("system_allocator_bytes_left", Json::Int(row.counts.live_bytes_at_end.max(0) as u64)),
                    (
                        "result",
                        match &row.outcome.check {
                            Ok(check) => Json::Int(*check),
                            Err(error) => Json::Str(error.clone()),
                        },
                    ),
                ];
                if let Some(drc) = &row.outcome.drc {
                    fields.push((
                        "drc_heap",
                        Json::Obj(vec![
                            ("region_bytes", Json::Int(drc.region_bytes)),
                            ("peak_used_bytes", Json::Int(drc.peak_used_bytes)),
                            ("peak_live_bytes", Json::Int(drc.peak_live_bytes)),
                            ("live_objects_at_end", Json::Int(drc.live_objects_at_end)),
                            ("collections", Json::Int(drc.collections)),
                            ("cycle_collections", Json::Int(drc.cycle_collections)),
                            ("cycle_objects_scanned", Json::Int(drc.cycle_objects_scanned)),
                            ("cycle_objects_freed", Json::Int(drc.cycle_objects_freed)),
                        ]),
                    ));
                }
                Json::Obj(fields)
            })
            .collect();
        Json::Obj(vec![
            ("benchmark", Json::Str("workloads".to_string())),
            ("quick", Json::Bool(self.quick)),
            ("runs", Json::Int(self.runs as u64)),
            (
                "workloads",
                Json::Arr(
                    self.workloads
                        .iter()
                        .map(|(name, description, expected, notes)| {
                            Json::Obj(vec![
                                ("name", Json::Str(name.clone())),
                                ("description", Json::Str(description.clone())),
                                ("expected_check", Json::Int(*expected)),
                                ("notes", Json::Arr(notes.iter().map(|n| Json::Str(n.clone())).collect())),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("results", Json::Arr(rows)),
            ("problems", Json::Arr(self.problems.iter().map(|p| Json::Str(p.clone())).collect())),
        ])
    }
}
