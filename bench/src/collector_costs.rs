//! Part 3 of the benchmarks: what drc-heap's collections cost.
//!
//! * **Collection vs activations-table size**: n objects are exposed to Wasm
//!   (`expose_gc_ref_to_wasm`), every object twice (so the table sees duplicates: the bump
//!   chunk keeps both, the over-approximated set releases the second), in a shuffled order; a
//!   simulated Wasm stack holds one object in 64 (or in 8), each of them twice, as stacks do,
//!   in a shuffled order. Then one `collect_all` with the stack as `Root::wasm_stack` roots is
//!   timed and divided by the table's entries just before it. Cases: the host also owns every
//!   object (nothing is freed: the table's own cost, trace and sweep), and the table holds the
//!   only counts (every object not on the stack is freed by the collection, which is then most
//!   of its work: a free per entry).
//! * **Cycle collection**: garbage rings (every member freed) and live rings (the host still
//!   holds every head: all scanned, nothing freed), all nodes buffered as candidates; one timed
//!   `collect_cycles`, divided by the objects it scanned (its own work counter: an object
//!   visit in any phase counts once).
//! * **Release of a long list**: dropping the only reference to the head of an n-node singly
//!   linked list frees every node through the release worklist; time per node. `Rc<RefCell>`
//!   for comparison (its drop recurses: the bench runs on a 1 GiB stack).

use crate::json::Json;
use crate::workloads::{thread_cpu_seconds, time_text};
use drc_heap::types::{HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, HeapConfig, Root, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Times `f`: on-CPU seconds of this thread where available, else wall seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
    let result = f();
    let seconds = match (thread_cpu_seconds(), cpu) {
        (Some(end), Some(start)) => end - start,
        _ => wall.elapsed().as_secs_f64(),
    };
    (result, seconds)
}

const REGION_BYTES: usize = 128 << 20;

/// The region for these measurements, allocated once (directly from the system allocator).
fn region() -> *mut u8 {
    static mut BASE: usize = 0;
    // SAFETY: one thread runs the bench; BASE is written once before it is read.
    unsafe {
        let base = &mut *std::ptr::addr_of_mut!(BASE);
        if *base == 0 {
            let layout = Layout::from_size_align(REGION_BYTES, 4096).unwrap();
            let memory = System.alloc_zeroed(layout);
            assert!(!memory.is_null());
            *base = memory as usize;
        }
        *base as *mut u8
    }
}

fn heap(config: HeapConfig) -> Heap<()> {
    // SAFETY: the region is valid for REGION_BYTES for the life of the process; each
    // measurement drops its heap before the next one makes another.
    unsafe { Heap::from_raw_parts(region(), REGION_BYTES, config) }.expect("a heap over the region")
}

/// One measured quantity over repeated runs.
struct Row {
    section: &'static str,
    case: String,
    /// Units of work per run (table entries, objects scanned, nodes).
    units: u64,
    unit: &'static str,
    /// The column title of `units`.
    units_name: &'static str,
    seconds: Vec<f64>,
    /// Extra numbers, shown as they are.
    extra: Vec<(&'static str, u64)>,
}

impl Row {
    /// A row with no runs yet.
    fn new(section: &'static str, case: String, units: u64, unit: &'static str, units_name: &'static str) -> Row {
        Row { section, case, units, unit, units_name, seconds: Vec::new(), extra: Vec::new() }
    }

    /// `runs` runs of `run` (given the run's number), which records its time and numbers in
    /// the row; the first failure ends the runs as a problem. The row is kept if a run
    /// recorded a time.
    fn measure(mut self, report: &mut Report, mut run: impl FnMut(usize, &mut Row) -> Result<(), String>) {
        for i in 0..report.runs {
            if let Err(error) = run(i, &mut self) {
                report.problems.push(format!("{}: {error}", self.case));
                break;
            }
        }
        if !self.seconds.is_empty() {
            report.rows.push(self);
        }
    }

    fn ns_per_unit(&self) -> (f64, f64) {
        let mut s = self.seconds.clone();
        s.sort_by(f64::total_cmp);
        let median = if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 };
        let per = |t: f64| t * 1e9 / self.units.max(1) as f64;
        (per(s[0]), per(median))
    }
}

pub struct Report {
    quick: bool,
    runs: usize,
    rows: Vec<Row>,
    pub problems: Vec<String>,
}

/// xorshift for shuffling.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

// ---- collection vs activations-table size --------------------------------------------------------

/// One collection over `objects` distinct objects each exposed twice, one in `stack_share` of
/// them on the simulated Wasm stack (twice each); returns (seconds, table entries before,
/// stack slots, objects freed).
fn one_collection(
    objects: usize,
    host_owns: bool,
    stack_share: usize,
    seed: u64,
) -> Result<(f64, u64, u64, u64), String> {
    let mut heap = heap(HeapConfig::default());
    let e = |e: drc_heap::Error| e.to_string();
    let ty = heap.register_struct(StructType::new(&[StorageType::I32])).map_err(e)?;
    let exposures = 2 * objects;
    let mut owned = Vec::with_capacity(objects);
    for i in 0..objects {
        owned.push(heap.struct_new_owned(ty, [Value::I32(i as i32)]).map_err(|(error, _)| error.to_string())?);
    }
    let mut order: Vec<u32> = (0..exposures as u32).map(|k| k % objects as u32).collect();
    shuffle(&mut order, seed);
    for &i in &order {
        let r = heap.clone_ref(&owned[i as usize]).map_err(e)?;
        heap.expose_gc_ref_to_wasm(r).map_err(e)?;
    }
    let mut stack: Vec<Root> = Vec::with_capacity(objects / 4);
    for r in owned.iter().step_by(stack_share) {
        stack.push(Root::wasm_stack(r.as_raw_u32()));
        stack.push(Root::wasm_stack(r.as_raw_u32()));
    }
    shuffle(&mut stack, seed ^ 1);
    if !host_owns {
        for r in owned.drain(..) {
            heap.drop_ref(r).map_err(e)?;
        }
    }
    let entries = heap.activations_table_len() as u64;
    let freed_before = heap.stats().map_err(e)?.objects_freed;
    let (result, seconds) = timed(|| heap.collect_all(stack.iter().copied()));
    result.map_err(e)?;
    let stats = heap.stats().map_err(e)?;
    let freed = stats.objects_freed - freed_before;
    // Checks: what survives is what the stack or the host holds, and the table now holds
    // exactly the distinct stack objects.
    let on_stack = objects.div_ceil(stack_share) as u64;
    let survivors = if host_owns { objects as u64 } else { on_stack };
    if stats.live_objects != survivors || stats.activations_table_entries != on_stack {
        return Err(format!(
            "after the collection: {} live objects (expected {survivors}), {} table entries (expected {on_stack})",
            stats.live_objects, stats.activations_table_entries,
        ));
    }
    for r in owned {
        heap.drop_ref(r).map_err(e)?;
    }
    heap.collect_all([]).map_err(e)?;
    if heap.stats().map_err(e)?.live_objects != 0 {
        return Err("objects left after the final collection".to_string());
    }
    Ok((seconds, entries, stack.len() as u64, freed))
}

fn activations(report: &mut Report, sizes: &[usize]) {
    // (host owns every object, one object in `share` on the stack)
    for &(host_owns, share) in &[(true, 64), (true, 8), (false, 64)] {
        for &objects in sizes {
            let case = format!(
                "{objects} objects exposed twice each, 1 in {share} on the stack, {}",
                if host_owns { "host owns every object (nothing freed)" } else { "table-only (the rest freed)" }
            );
            let row = Row::new("collection vs activations table", case, 0, "entry", "table entries");
            row.measure(report, |run, row| {
                let (seconds, entries, slots, freed) =
                    one_collection(objects, host_owns, share, 0x1234_5678 + run as u64)?;
                row.seconds.push(seconds);
                row.units = entries;
                row.extra = vec![("stack slots", slots), ("objects freed", freed)];
                Ok(())
            });
        }
    }
}

// ---- cycle collection ------------------------------------------------------------------------------

/// Builds `rings` doubly linked rings of `size` nodes (every node ends up a candidate) and
/// times one `collect_cycles`. Returns (seconds, report) after checking the outcome.
fn one_cycle_collection(rings: u32, size: u32, live: bool) -> Result<(f64, drc_heap::CycleReport), String> {
    // No automatic cycle collection while the rings are built: only the timed one.
    let config =
        HeapConfig::default().with_cycle_candidate_threshold(usize::MAX).with_cycle_collection_on_heap_growth(false);
    let mut heap = heap(config);
    let e = |e: drc_heap::Error| e.to_string();
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let node = heap.register_struct(StructType::new(&[link, link, StorageType::I32])).map_err(e)?;
    let new = |heap: &mut Heap<()>, prev: Option<GcRef>| {
        heap.struct_new_owned(node, [Value::Ref(prev), Value::Ref(None), Value::I32(0)])
            .map_err(|(error, _)| error.to_string())
    };
    let mut heads = Vec::new();
    for _ in 0..rings {
        let head = new(&mut heap, None)?;
        let mut tail = heap.clone_ref(&head).map_err(e)?;
        for _ in 1..size {
            let prev = heap.clone_ref(&tail).map_err(e)?;
            let node = new(&mut heap, Some(prev))?;
            let next = heap.clone_ref(&node).map_err(e)?;
            heap.struct_set_owned(&tail, 1, Value::Ref(Some(next))).map_err(e)?;
            heap.drop_ref(std::mem::replace(&mut tail, node)).map_err(e)?;
        }
        let next = heap.clone_ref(&head).map_err(e)?;
        heap.struct_set_owned(&tail, 1, Value::Ref(Some(next))).map_err(e)?;
        let extra = heap.clone_ref(&tail).map_err(e)?;
        heap.drop_ref(extra).map_err(e)?;
        heap.struct_set_owned(&head, 0, Value::Ref(Some(tail))).map_err(e)?;
        // The head and the tail too become candidates: take a second count and drop it.
        let extra = heap.clone_ref(&head).map_err(e)?;
        heap.drop_ref(extra).map_err(e)?;
        heads.push(head);
    }
    if !live {
        for head in heads.drain(..) {
            heap.drop_ref(head).map_err(e)?;
        }
    }
    let objects = rings as u64 * size as u64;
    let (report, seconds) = timed(|| heap.collect_cycles());
    let report = report.map_err(e)?;
    let expected_freed = if live { 0 } else { objects };
    if report.objects_freed != expected_freed || report.candidates != objects {
        return Err(format!(
            "{} candidates (expected {objects}), {} freed (expected {expected_freed})",
            report.candidates, report.objects_freed
        ));
    }
    for head in heads {
        heap.drop_ref(head).map_err(e)?;
    }
    heap.collect_cycles().map_err(e)?;
    if heap.stats().map_err(e)?.live_objects != 0 {
        return Err("objects left after the final cycle collection".to_string());
    }
    Ok((seconds, report))
}

fn cycles(report: &mut Report, sizes: &[u32]) {
    for &live in &[false, true] {
        for &objects in sizes {
            let (rings, size) = (objects / 1000, 1000);
            let case = format!(
                "{rings} rings of {size} nodes, {}",
                if live { "live (host holds the heads)" } else { "garbage" }
            );
            let row = Row::new("cycle collection", case, 0, "object scanned", "objects scanned");
            row.measure(report, |_, row| {
                let (seconds, cycle) = one_cycle_collection(rings, size, live)?;
                row.seconds.push(seconds);
                row.units = cycle.objects_scanned;
                row.extra = vec![
                    ("candidates", cycle.candidates),
                    ("objects scanned", cycle.objects_scanned),
                    ("references traced", cycle.references_traced),
                    ("objects freed", cycle.objects_freed),
                ];
                Ok(())
            });
        }
    }
}

// ---- release of a long list --------------------------------------------------------------------------

fn one_release(nodes: u32) -> Result<f64, String> {
    let mut heap = heap(HeapConfig::default());
    let e = |e: drc_heap::Error| e.to_string();
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let node = heap.register_struct(StructType::new(&[link, StorageType::I32])).map_err(e)?;
    let mut head: Option<GcRef> = None;
    for i in 0..nodes {
        let fields = [Value::Ref(head.take()), Value::I32(i as i32)];
        head = Some(heap.struct_new_owned(node, fields).map_err(|(error, _)| error.to_string())?);
    }
    let head = head.ok_or("an empty list")?;
    let (result, seconds) = timed(|| heap.drop_ref(head));
    result.map_err(e)?;
    let stats = heap.stats().map_err(e)?;
    if stats.live_objects != 0 || stats.objects_freed != nodes as u64 {
        return Err(format!("{} objects left, {} freed", stats.live_objects, stats.objects_freed));
    }
    Ok(seconds)
}

/// A list node; its fields are only written (dropping the head drops the chain).
#[allow(dead_code)]
struct RcList {
    next: Option<Rc<RefCell<RcList>>>,
    value: u32,
}

fn one_rc_release(nodes: u32) -> f64 {
    let mut head: Option<Rc<RefCell<RcList>>> = None;
    for value in 0..nodes {
        head = Some(Rc::new(RefCell::new(RcList { next: head.take(), value })));
    }
    timed(|| drop(head)).1
}

fn release(report: &mut Report, nodes: u32) {
    let row = |case| Row::new("release of a list", case, nodes as u64, "node", "nodes");
    let mut drc = row(format!("drc-heap: drop the head of a {nodes}-node list"));
    let mut rc = row(format!("Rc<RefCell>: drop the head of a {nodes}-node list (recursive drop)"));
    for _ in 0..report.runs {
        match one_release(nodes) {
            Ok(seconds) => drc.seconds.push(seconds),
            Err(error) => {
                report.problems.push(format!("{}: {error}", drc.case));
                break;
            }
        }
        rc.seconds.push(one_rc_release(nodes));
    }
    if !drc.seconds.is_empty() {
        report.rows.push(drc);
    }
    report.rows.push(rc);
}

pub fn run(quick: bool, runs: usize) -> Report {
    let mut report = Report { quick, runs, rows: Vec::new(), problems: Vec::new() };
    eprintln!("collector costs ...");
    if quick {
        activations(&mut report, &[1_000, 10_000]);
        cycles(&mut report, &[10_000]);
        release(&mut report, 100_000);
    } else {
        activations(&mut report, &[1_000, 10_000, 100_000, 1_000_000]);
        cycles(&mut report, &[10_000, 100_000, 1_000_000]);
        release(&mut report, 1_000_000);
    }
    report
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Collector costs{}\n\n{} runs per case (fresh heap each), on-CPU time of the operation alone.\n",
            if self.quick { " (quick)" } else { "" },
            self.runs
        );
        let mut section = "";
        for row in &self.rows {
            if row.section != section {
                section = row.section;
                out.push_str(&format!(
                    "\n### {section}\n\n| case | {units} | time min | time median | ns/{unit} min | ns/{unit} median | details |\n|---|---:|---:|---:|---:|---:|---|\n",
                    unit = row.unit,
                    units = row.units_name
                ));
            }
            let (min, median) = row.ns_per_unit();
            let mut times = row.seconds.clone();
            times.sort_by(f64::total_cmp);
            let details: Vec<String> = row.extra.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {:.2} | {} |\n",
                row.case,
                row.units,
                time_text(times[0]),
                time_text(times[times.len() / 2]),
                min,
                median,
                details.join(", ")
            ));
        }
        if let Some(target) = self.target() {
            out.push_str(&target);
        }
        out
    }

    /// The target: at most 10 ns per activations-table entry at 1M entries.
    fn target(&self) -> Option<String> {
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.section == "collection vs activations table" && r.units >= 1_000_000)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut out =
            String::from("\nTarget: a collection costs at most 10 ns per activations-table entry at 1M entries:\n");
        for row in rows {
            let (min, median) = row.ns_per_unit();
            let met = if min <= 10.0 && median <= 10.0 { "met" } else { "MISSED" };
            out.push_str(&format!("- {}: {min:.2} / {median:.2} ns per entry (min / median): {met}\n", row.case));
        }
        Some(out)
    }

    pub fn json(&self) -> Json {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let (min, median) = row.ns_per_unit();
                Json::Obj(vec![
                    ("section", Json::Str(row.section.to_string())),
                    ("case", Json::Str(row.case.clone())),
                    ("unit", Json::Str(row.unit.to_string())),
                    ("units", Json::Int(row.units)),
                    ("ms_runs", Json::Arr(row.seconds.iter().map(|&s| Json::Num(s * 1e3)).collect())),
                    ("ns_per_unit_min", Json::Num(min)),
                    ("ns_per_unit_median", Json::Num(median)),
                    ("details", Json::Obj(row.extra.iter().map(|&(k, v)| (k, Json::Int(v))).collect())),
                ])
            })
            .collect();
        Json::Obj(vec![
            ("benchmark", Json::Str("collector-costs".to_string())),
            ("quick", Json::Bool(self.quick)),
            ("runs", Json::Int(self.runs as u64)),
            ("results", Json::Arr(rows)),
            ("problems", Json::Arr(self.problems.iter().map(|p| Json::Str(p.clone())).collect())),
        ])
    }
}
