//! The allocator trace: one deterministic, GC-like sequence of allocations and frees, replayed
//! against drc-heap's free list and against other allocators, each over its own region.
//!
//! # The trace
//! Object sizes: 80% uniform in 16..=64 bytes, 18% uniform in 65..=512, 2% log-uniform in
//! 513..=65536 (a uniformly chosen power-of-two octave, then uniform within it). Phases: a ramp
//! of `live` allocations, then churn (alternately free a uniformly chosen live object and
//! allocate a new one) until `ops - live` operations are done, then a drain that frees the
//! remaining objects in random order. The full trace has 2M operations and `live` = 100k
//! (about 34 MiB live) or 10k. The trace is generated up front from a fixed seed, so the timed
//! loop only replays it and every allocator sees exactly the same requests.
//!
//! # What is measured
//! * **ns/op**: wall time of the replay divided by the operations done (allocations and frees
//!   alike). Every allocated block is touched (a `u32` write at offset 12, where a GC object's
//!   reference count is), so every allocator pays for bringing its block into the cache.
//! * **footprint/live**: the peak address high-water mark (the largest `block end - region
//!   base` over every block handed out, with the block end at `start + requested size`) divided
//!   by the peak of the live requested bytes (the sum of the requested sizes of live objects).
//!   The same definition applies to every allocator: it is how much of its region the allocator
//!   used, its metadata in the region included. A second column adds the metadata an allocator
//!   keeps outside the region that grows with the heap (drc-heap's bitmap of object starts and
//!   free-block bounds); fixed structures of a few KiB (list heads) are not counted for anyone.

mod subjects;

use crate::json::Json;
use crate::thread_cpu::thread_cpu_time;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};
use subjects::{Buddy, Bump, DrcHeap, LinkedList, Region, Rlsf, Subject, Talc, ALIGN};

/// The high bit of an operation marks a free; the rest is the victim's index in the live array.
/// Without it, the operation allocates that many bytes.
const FREE: u32 = 1 << 31;
const MIB: f64 = (1 << 20) as f64;

/// What to run.
pub struct Config {
    quick: bool,
    runs: usize,
    cap: Duration,
    region_len: usize,
    traces: Vec<TraceSpec>,
    only: Vec<String>,
}

#[derive(Clone, Copy)]
struct TraceSpec {
    name: &'static str,
    live: usize,
    ops: usize,
    seed: u64,
}

impl Config {
    pub fn new(quick: bool, runs: usize, cap: Duration, only: Vec<String>) -> Config {
        let traces = if quick {
            vec![
                TraceSpec { name: "5k live (quick)", live: 5_000, ops: 50_000, seed: 0x5eed_0001 },
                TraceSpec { name: "500 live (quick)", live: 500, ops: 50_000, seed: 0x5eed_0002 },
            ]
        } else {
            vec![
                TraceSpec { name: "100k live", live: 100_000, ops: 2_000_000, seed: 0x5eed_0001 },
                TraceSpec { name: "10k live", live: 10_000, ops: 2_000_000, seed: 0x5eed_0002 },
            ]
        };
        Config { quick, runs, cap, region_len: if quick { 16 << 20 } else { 64 << 20 }, traces, only }
    }
}

/// xoshiro256** seeded through splitmix64: deterministic and fast enough to generate 2M ops.
struct Rng([u64; 4]);

impl Rng {
    fn new(mut seed: u64) -> Rng {
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }

    fn range(&mut self, low: u32, high: u32) -> u32 {
        low + self.below((high - low + 1) as u64) as u32
    }

    fn object_size(&mut self) -> u32 {
        match self.below(100) {
            0..80 => self.range(16, 64),
            80..98 => self.range(65, 512),
            _ => {
                let octave = 9 + self.below(7) as u32;
                self.range(1 << octave, (2 << octave) - 1).max(513)
            }
        }
    }
}

struct Trace {
    spec: TraceSpec,
    ops: Vec<u32>,
    max_live: usize,
}

impl Trace {
    fn generate(spec: TraceSpec) -> Trace {
        assert!(spec.ops >= 2 * spec.live);
        let mut rng = Rng::new(spec.seed);
        let mut ops = Vec::with_capacity(spec.ops);
        let mut live: Vec<u32> = Vec::with_capacity(spec.live + 1);
        let free = |rng: &mut Rng, ops: &mut Vec<u32>, live: &mut Vec<u32>| {
            let victim = rng.below(live.len() as u64) as usize;
            live.swap_remove(victim);
            ops.push(FREE | victim as u32);
        };
        for _ in 0..spec.live {
            let size = rng.object_size();
            live.push(size);
            ops.push(size);
        }
        while ops.len() < spec.ops - spec.live {
            if ops.len() % 2 == 0 {
                free(&mut rng, &mut ops, &mut live);
            } else {
                let size = rng.object_size();
                live.push(size);
                ops.push(size);
            }
        }
        while !live.is_empty() {
            free(&mut rng, &mut ops, &mut live);
        }
        let max_live = spec.live + 1;
        Trace { spec, ops, max_live }
    }

    /// The peak of the live requested bytes over the first `done` operations.
    fn peak_live_bytes(&self, done: usize) -> u64 {
        let mut live: Vec<u32> = Vec::with_capacity(self.max_live);
        let (mut bytes, mut peak) = (0u64, 0u64);
        for &op in &self.ops[..done] {
            if op & FREE != 0 {
                bytes -= live.swap_remove((op & !FREE) as usize) as u64;
            } else {
                live.push(op);
                bytes += op as u64;
                peak = peak.max(bytes);
            }
        }
        peak
    }
}

/// One timed replay.
#[derive(Clone, Copy)]
struct RunResult {
    ns_per_op: f64,
    /// The same with the time this thread was on a CPU, when the system tells it.
    cpu_ns_per_op: Option<f64>,
    done: usize,
    /// An allocation returned nothing at operation `done`.
    failed: bool,
    high_water: usize,
    /// Batch coalescings during the replay (drc-heap only).
    coalesces: Option<u64>,
    /// Metadata outside the region at the end of the replay (its peak: it never shrinks).
    side_table: usize,
}

/// Nanoseconds this thread has spent on a CPU, or `None` where that is not available (see
/// [`thread_cpu_time`]).
fn thread_cpu_ns() -> Option<u64> {
    thread_cpu_time().map(|(seconds, nanoseconds)| seconds as u64 * 1_000_000_000 + nanoseconds as u64)
}

/// Replays `trace` against a fresh `S` over `region`.
#[inline(never)]
fn replay<S: Subject>(
    region: &Region,
    trace: &Trace,
    cap: Duration,
    live: &mut Vec<(NonNull<u8>, u32)>,
) -> (RunResult, Option<String>) {
    live.clear();
    live.reserve(trace.max_live);
    // SAFETY: the region is valid, aligned to its length and used by nothing else while
    // `subject` lives.
    let mut subject = unsafe { S::new(region.base, region.len) };
    let base = region.base.as_ptr() as usize;
    let ops = black_box(&trace.ops[..]);
    let (mut done, mut failed, mut high_water) = (ops.len(), false, 0usize);
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    for (i, &op) in ops.iter().enumerate() {
        if i % 1024 == 1023 && start.elapsed() >= cap {
            done = i;
            break;
        }
        if op & FREE != 0 {
            let (ptr, size) = live.swap_remove((op & !FREE) as usize);
            // SAFETY: `ptr` was allocated by `subject` for `size` bytes and is freed only here
            // (the trace frees each live object once).
            unsafe { subject.free(ptr, size) };
        } else {
            let Some(ptr) = subject.alloc(op) else {
                done = i;
                failed = true;
                break;
            };
            // SAFETY: the block has at least 16 bytes (every size is >= 16) and is 16-aligned,
            // so the u32 at offset 12 is in bounds and aligned; the block is ours until freed.
            unsafe { ptr.as_ptr().add(12).cast::<u32>().write_volatile(i as u32) };
            high_water = high_water.max(ptr.as_ptr() as usize - base + op as usize);
            live.push((ptr, op));
        }
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu_ns().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    let result = RunResult {
        ns_per_op: elapsed.as_nanos() as f64 / done.max(1) as f64,
        cpu_ns_per_op: cpu.map(|cpu| cpu as f64 / done.max(1) as f64),
        done,
        failed,
        high_water,
        coalesces: subject.coalesces(),
        side_table: subject.side_table_bytes(),
    };
    let problem = if failed {
        Some(format!("{} on {}: allocation failed at operation {done}", S::NAME, trace.spec.name))
    } else if done == ops.len() {
        subject.check_drained().err().map(|e| format!("{} on {}: {e}", S::NAME, trace.spec.name))
    } else {
        None
    };
    (result, problem)
}

/// A replay of one trace by one allocator: its result and the problem it found, if any.
type ReplayFn = fn(&Region, &Trace, Duration, &mut Vec<(NonNull<u8>, u32)>) -> (RunResult, Option<String>);

/// Type-erased entry point for one allocator.
struct Entry {
    name: &'static str,
    has_footprint: bool,
    replay: ReplayFn,
}

fn entry<S: Subject>() -> Entry {
    Entry { name: S::NAME, has_footprint: S::HAS_FOOTPRINT, replay: replay::<S> }
}

/// The results of one allocator on one trace.
struct Row {
    trace: TraceSpec,
    allocator: &'static str,
    runs: Vec<RunResult>,
    min: f64,
    median: f64,
    /// Min and median of the on-CPU time per operation, when known.
    cpu: Option<(f64, f64)>,
    /// The run that got furthest (all do, unless capped).
    best: RunResult,
    peak_live: u64,
    footprint: Option<f64>,
    /// The footprint with the metadata outside the region that grows with the heap.
    footprint_with_side_table: Option<f64>,
}

pub struct Report {
    config_quick: bool,
    runs: usize,
    cap: Duration,
    region_len: usize,
    rows: Vec<Row>,
    pub problems: Vec<String>,
}

pub fn run(config: &Config) -> Report {
    let entries: Vec<Entry> = [
        entry::<DrcHeap>(),
        entry::<Talc>(),
        entry::<Rlsf>(),
        entry::<Buddy>(),
        entry::<LinkedList>(),
        entry::<Bump>(),
    ]
    .into_iter()
    .filter(|e| {
        e.name == DrcHeap::NAME || config.only.is_empty() || config.only.iter().any(|o| e.name.contains(o.as_str()))
    })
    .collect();
    let regions: Vec<Region> = entries.iter().map(|_| Region::new(config.region_len)).collect();
    let traces: Vec<Trace> = config.traces.iter().map(|&spec| Trace::generate(spec)).collect();
    let mut live = Vec::new();
    let mut results: Vec<Vec<Vec<RunResult>>> = vec![vec![Vec::new(); entries.len()]; traces.len()];
    let mut problems = Vec::new();
    // Interleave: every run goes through every trace and every allocator (in a rotating order),
    // so machine noise spreads over all of them alike.
    for run in 0..config.runs {
        for (t, trace) in traces.iter().enumerate() {
            for k in 0..entries.len() {
                let e = (k + run) % entries.len();
                let (result, problem) = (entries[e].replay)(&regions[e], trace, config.cap, &mut live);
                if result.done < trace.ops.len() && !result.failed && config.quick {
                    problems.push(format!("{} on {}: hit the time cap", entries[e].name, trace.spec.name));
                }
                problems.extend(problem);
                results[t][e].push(result);
            }
        }
    }
    let mut rows = Vec::new();
    for (t, trace) in traces.iter().enumerate() {
        for (e, entry) in entries.iter().enumerate() {
            let runs = std::mem::take(&mut results[t][e]);
            let mut times: Vec<f64> = runs.iter().map(|r| r.ns_per_op).collect();
            times.sort_by(f64::total_cmp);
            let mut cpu_times: Vec<f64> = runs.iter().filter_map(|r| r.cpu_ns_per_op).collect();
            cpu_times.sort_by(f64::total_cmp);
            let cpu = (cpu_times.len() == runs.len()).then(|| (cpu_times[0], median(&cpu_times)));
            let best = *runs.iter().max_by_key(|r| r.done).unwrap();
            let peak_live = trace.peak_live_bytes(best.done);
            let ratio = |bytes: usize| (entry.has_footprint && peak_live > 0).then(|| bytes as f64 / peak_live as f64);
            let footprint = ratio(best.high_water);
            let footprint_with_side_table = ratio(best.high_water + best.side_table);
            rows.push(Row {
                trace: trace.spec,
                allocator: entry.name,
                min: times[0],
                median: median(&times),
                cpu,
                runs,
                best,
                peak_live,
                footprint,
                footprint_with_side_table,
            });
        }
    }
    if config.quick {
        // Footprints are deterministic, so this guards against a regression of the free list.
        for trace in &traces {
            let footprint = |name: &str| {
                rows.iter().find(|r| r.trace.name == trace.spec.name && r.allocator == name).and_then(|r| r.footprint)
            };
            if let (Some(drc), Some(talc)) = (footprint(DrcHeap::NAME), footprint(Talc::NAME)) {
                if drc > talc {
                    problems.push(format!(
                        "{} on {}: footprint/live {drc:.3} is above talc's {talc:.3}",
                        DrcHeap::NAME,
                        trace.spec.name
                    ));
                }
            }
        }
    }
    Report {
        config_quick: config.quick,
        runs: config.runs,
        cap: config.cap,
        region_len: config.region_len,
        rows,
        problems,
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
}

impl Report {
    /// The row of drc-heap on the same trace as `row`.
    fn drc(&self, row: &Row) -> &Row {
        self.rows.iter().find(|r| r.trace.name == row.trace.name && r.allocator == DrcHeap::NAME).unwrap()
    }

    fn done_text(row: &Row) -> String {
        let total = row.trace.ops;
        if row.best.failed {
            format!("failed at {:.1}%", 100.0 * row.best.done as f64 / total as f64)
        } else if row.best.done < total {
            format!("{:.2}% (capped)", 100.0 * row.best.done as f64 / total as f64)
        } else {
            "100%".to_string()
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "## Allocator trace{}\n\n{} runs per allocator and trace, interleaved; time cap {} ms per run; \
             each allocator over its own {} MiB region; {} ({} cores).\n\n",
            if self.config_quick { " (quick)" } else { "" },
            self.runs,
            self.cap.as_millis(),
            self.region_len >> 20,
            cpu_model(),
            cores(),
        ));
        out.push_str(
            "| trace | allocator | ns/op min | ns/op median | min vs drc-heap | median vs drc-heap \
             | cpu ns/op min | cpu min vs drc-heap | done | footprint/live | + side table | high-water MiB \
             | peak live MiB |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for row in &self.rows {
            let drc = self.drc(row);
            let cpu_ratio = row.cpu.zip(drc.cpu).map(|((cpu, _), (drc_cpu, _))| cpu / drc_cpu);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.2}x | {:.2}x | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
                row.trace.name,
                row.allocator,
                ns(row.min),
                ns(row.median),
                row.min / drc.min,
                row.median / drc.median,
                row.cpu.map_or("-".to_string(), |(min, _)| ns(min)),
                cpu_ratio.map_or("-".to_string(), |ratio| format!("{ratio:.2}x")),
                Self::done_text(row),
                row.footprint.map_or("-".to_string(), |f| format!("{f:.3}")),
                row.footprint_with_side_table.map_or("-".to_string(), |f| format!("{f:.3}")),
                row.best.high_water as f64 / MIB,
                row.peak_live as f64 / MIB,
            ));
        }
        out.push_str(
            "\nns/op: wall time of the replay / operations done (allocations and frees; every allocated \
             block gets a u32 write). vs drc-heap: this allocator's time / drc-heap's (above 1 = slower). \
             cpu ns/op: the same with the time the thread spent on a CPU (leaves out waiting for one \
             on a busy machine). \
             footprint/live: peak address high-water (max of block start + requested size - region base) / \
             peak live requested bytes. + side table: the same with the metadata kept outside the region \
             that grows with the heap added to the high-water (drc-heap's bitmap of object starts and \
             free-block bounds; the peers keep all theirs in the region). done: the share of the trace replayed before the time cap.\n",
        );
        for row in self.rows.iter().filter(|r| r.best.coalesces.is_some()) {
            out.push_str(&format!(
                "{} on {}: coalesce called {} times per run, side table {:.0} KiB.\n",
                row.allocator,
                row.trace.name,
                row.best.coalesces.unwrap_or(0),
                row.best.side_table as f64 / 1024.0,
            ));
        }
        if let Some(targets) = self.targets() {
            out.push_str(&targets);
        }
        out
    }

    /// The targets on the first (largest) trace, when not quick.
    fn targets(&self) -> Option<String> {
        if self.config_quick {
            return None;
        }
        let name = self.rows.first()?.trace.name;
        let find = |allocator: &str| self.rows.iter().find(|r| r.trace.name == name && r.allocator == allocator);
        let (drc, bump, talc, rlsf) = (find(DrcHeap::NAME)?, find(Bump::NAME)?, find(Talc::NAME)?, find(Rlsf::NAME)?);
        let check = |ok: bool| if ok { "met" } else { "MISSED" };
        let ratio = |a: &Row, b: &Row| (a.min / b.min, a.median / b.median);
        let (bmin, bmed) = ratio(drc, bump);
        let (tmin, tmed) = ratio(talc, drc);
        let (rmin, rmed) = ratio(rlsf, drc);
        let cpu_ratio =
            |a: &Row, b: &Row| a.cpu.zip(b.cpu).map_or("-".to_string(), |((a, _), (b, _))| format!("{:.2}x", a / b));
        let (bcpu, tcpu, rcpu) = (cpu_ratio(drc, bump), cpu_ratio(talc, drc), cpu_ratio(rlsf, drc));
        let footprint = drc.footprint.unwrap_or(f64::NAN);
        let with_side_table = drc.footprint_with_side_table.unwrap_or(f64::NAN);
        Some(format!(
            "\nTargets on {name} (wall min / wall median; cpu min):\n\
             - drc-heap <= 2x bump: {bmin:.2}x / {bmed:.2}x; {bcpu}: {}\n\
             - talc >= 3x drc-heap: {tmin:.2}x / {tmed:.2}x; {tcpu}: {}\n\
             - rlsf >= 4x drc-heap: {rmin:.2}x / {rmed:.2}x; {rcpu}: {}\n\
             - drc-heap footprint/live <= 1.15: {footprint:.3} in the region: {}; \
             {with_side_table:.3} with the side table: {}\n",
            check(bmin <= 2.0 && bmed <= 2.0),
            check(tmin >= 3.0 && tmed >= 3.0),
            check(rmin >= 4.0 && rmed >= 4.0),
            check(footprint <= 1.15),
            check(with_side_table <= 1.15),
        ))
    }

    pub fn json(&self) -> String {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let drc = self.drc(row);
                Json::Obj(vec![
                    ("trace", Json::Str(row.trace.name.to_string())),
                    ("live_objects", Json::Int(row.trace.live as u64)),
                    ("ops", Json::Int(row.trace.ops as u64)),
                    ("allocator", Json::Str(row.allocator.to_string())),
                    ("ns_per_op_min", Json::Num(row.min)),
                    ("ns_per_op_median", Json::Num(row.median)),
                    ("ns_per_op_runs", Json::Arr(row.runs.iter().map(|r| Json::Num(r.ns_per_op)).collect())),
                    ("cpu_ns_per_op_min", row.cpu.map_or(Json::Null, |(min, _)| Json::Num(min))),
                    ("cpu_ns_per_op_median", row.cpu.map_or(Json::Null, |(_, median)| Json::Num(median))),
                    ("min_vs_drc_heap", Json::Num(row.min / drc.min)),
                    ("median_vs_drc_heap", Json::Num(row.median / drc.median)),
                    ("ops_done", Json::Int(row.best.done as u64)),
                    ("fraction_done", Json::Num(row.best.done as f64 / row.trace.ops as f64)),
                    ("failed", Json::Bool(row.best.failed)),
                    ("high_water_bytes", Json::Int(row.best.high_water as u64)),
                    ("peak_live_bytes", Json::Int(row.peak_live)),
                    ("footprint_over_live", row.footprint.map_or(Json::Null, Json::Num)),
                    ("side_table_bytes", Json::Int(row.best.side_table as u64)),
                    ("coalesce_calls", row.best.coalesces.map_or(Json::Null, Json::Int)),
                    (
                        "footprint_with_side_table_over_live",
                        row.footprint_with_side_table.map_or(Json::Null, Json::Num),
                    ),
                ])
            })
            .collect();
        Json::Obj(vec![
            ("benchmark", Json::Str("allocator-trace".to_string())),
            ("quick", Json::Bool(self.config_quick)),
            ("machine", Json::Obj(vec![("cpu", Json::Str(cpu_model())), ("cores", Json::Int(cores() as u64))])),
            ("runs", Json::Int(self.runs as u64)),
            ("cap_ms", Json::Int(self.cap.as_millis() as u64)),
            ("region_bytes", Json::Int(self.region_len as u64)),
            ("alignment", Json::Int(ALIGN as u64)),
            (
                "definitions",
                Json::Obj(vec![
                    ("ns_per_op", Json::Str("wall time of the replay / operations done (allocations and frees)".to_string())),
                    ("vs_drc_heap", Json::Str("this allocator's ns/op / drc-heap's on the same trace".to_string())),
                    (
                        "cpu_ns_per_op",
                        Json::Str("time the thread spent on a CPU during the replay / operations done".to_string()),
                    ),
                    (
                        "footprint_over_live",
                        Json::Str("max over blocks of (block start + requested size - region base) / max over time of the live requested bytes".to_string()),
                    ),
                    (
                        "side_table_bytes",
                        Json::Str("metadata outside the region that grows with the heap, at its peak (drc-heap's bitmap of object starts and free-block bounds)".to_string()),
                    ),
                ]),
            ),
            ("results", Json::Arr(rows)),
            ("problems", Json::Arr(self.problems.iter().map(|p| Json::Str(p.clone())).collect())),
        ])
        .render()
    }
}

fn ns(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} us", x / 1000.0)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}
