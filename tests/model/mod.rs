//! A reference model of the heap, and a harness that applies random programs to both.
//!
//! Shared by `tests/model.rs` (proptest), `tests/corruption.rs` (Miri) and the cargo-fuzz
//! targets in `fuzz/` (which include this file with `#[path]`), so there is one model.
//!
//! # The model
//! Plain Rust: objects (structs, arrays, externrefs) with their field values, identified by
//! model ids; the host roots (locals, globals, tables, each an owned reference); a simulated
//! Wasm stack of frames holding uncounted reference words; and the no-GC scope depth. The model
//! knows the Wasm semantics of every operation (values, bounds, subtyping, errors), not how the
//! heap implements them.
//!
//! # Oracles
//! * Every value read equals the model's, every error is the one the model predicts, and an
//!   operation that fails changes nothing.
//! * After every complete collection: the objects alive in the heap are exactly those a
//!   reference-counting heap must keep (those reachable from the roots and the Wasm stack, plus
//!   those reachable from garbage cycles, which reference counting cannot free, unless the cycle
//!   collector ran), each with equal contents; the exact `verify` passes with the host roots;
//!   the host data of every other externref was dropped exactly once; and an empty heap is one
//!   free block again.
//! * After a collection abandoned part-way, or a `Verify` operation: every reachable object is
//!   alive with equal contents, and `verify` passes.
//! * After every operation: no host data was dropped twice, or while the model can reach it.
//! * At the end: with every root gone and the heap collected, only garbage cycles are left (no
//!   object at all once the cycle collector exists); after a reset every host data value was
//!   dropped exactly once.
//!
//! In corruption runs ([`Harness::new`] with `corruption`), the first `Corrupt` operation turns
//! the comparisons off (the heap may return errors, but must stay memory-safe and must still
//! drop each host data value at most once); a `Reset` turns them back on, since a reset heap
//! must work again whatever the region holds.
//!
//! # Files
//! This file holds the harness (`Harness`, its construction, `run` and the oracle's failure
//! reports) and the limits of a program; the rest is one file per part:
//! * `values`: host data with a drop log, model values and objects, expected errors;
//! * `schema`: the types every heap registers, and the `ref.test` types;
//! * `helpers`: small helpers, host root slots, the heap's memory, run statistics;
//! * `references`: the references the program holds and the ownership of those the heap hands
//!   out;
//! * `operations`: one method per operation, applied to the heap and the model;
//! * `corruption`: the operations of corruption runs;
//! * `oracles`: collections and the checks against the model;
//! * `ops`: the operations themselves, their generation and decoding.

#![allow(dead_code)]

mod corruption;
mod helpers;
mod operations;
pub mod ops;
mod oracles;
mod references;
mod schema;
mod values;

// The model's public items keep their paths (`model::MVal`, `model::RunStats`, ...), whether or
// not a given test binary names them.
pub use helpers::RunStats;
pub use schema::{schema, Decl};
#[allow(unused_imports)]
pub use values::{DropLog, Expect, MKind, MObj, MRef, MVal, Tracked};

use drc_heap::zeal::Zeal;
use drc_heap::{Error, Heap, HeapConfig};
use helpers::{Memory, Slot};
use ops::{Op, Setup};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use values::classify;

/// Host locals kept at most.
const MAX_LOCALS: usize = 16;
/// Globals.
const GLOBALS: usize = 3;
/// Tables and their size.
const TABLES: usize = 2;
const TABLE_SIZE: usize = 6;
/// Wasm frames at most, and references per frame pushed at once.
const MAX_FRAMES: usize = 6;
const MAX_FRAME_PICKS: u16 = 4;
/// Steps a step-by-step collection may take before the harness calls it stuck.
const MAX_COLLECTION_STEPS: usize = 64;

// -------------------------------------------------------------------------------------------
// The harness.

/// A heap and its model, driven by operations.
pub struct Harness {
    /// The heap under test (declared before `memory`: dropped first).
    pub heap: Heap<Tracked>,
    memory: Memory,
    region_len: usize,
    schema: Vec<Decl>,
    /// Model objects, including garbage not yet known to be freed (pruned after collections).
    objects: HashMap<u64, MObj>,
    /// Model id -> the heap word of the object.
    words: HashMap<u64, u32>,
    next_id: u64,
    next_host_id: u64,
    locals: Vec<Slot>,
    globals: Vec<Slot>,
    tables: Vec<Vec<Slot>>,
    frames: Vec<Vec<(u32, MRef)>>,
    no_gc_depth: u32,
    log: Rc<RefCell<DropLog>>,
    checked_drops: usize,
    /// Corruption runs: bytes may be overwritten between operations.
    corruption_run: bool,
    /// A corruption happened since the last reset: comparisons are off.
    corrupted: bool,
    /// The heap has `collect_cycles` (and may run it on its own).
    has_cycle_collector: bool,
    /// What the run did.
    pub stats: RunStats,
}

/// `Heap::collect_cycles`, when the heap has one (an inherent method wins over this trait's),
/// else nothing: the oracle then expects garbage cycles to stay.
#[allow(dead_code)]
trait NoCycleCollector {
    fn collect_cycles(&mut self) -> CyclesUnavailable;
}

#[allow(dead_code)]
struct CyclesUnavailable;

#[allow(dead_code)]
impl NoCycleCollector for Heap<Tracked> {
    fn collect_cycles(&mut self) -> CyclesUnavailable {
        CyclesUnavailable
    }
}

/// Runs the heap's cycle collector: `None` when the heap has none. This is the one line that
/// calls `Heap::collect_cycles` (if its signature changes, adapt it here; to turn the
/// cycle-collector oracles off, return `None`).
fn collect_cycles(heap: &mut Heap<Tracked>) -> Option<Result<(), Error>> {
    heap.collect_cycles().outcome()
}

/// What `collect_cycles` returned: `None` when the heap has no cycle collector.
trait CycleOutcome {
    fn outcome(self) -> Option<Result<(), Error>>;
}

impl CycleOutcome for CyclesUnavailable {
    fn outcome(self) -> Option<Result<(), Error>> {
        None
    }
}

impl<T> CycleOutcome for Result<T, Error> {
    fn outcome(self) -> Option<Result<(), Error>> {
        Some(self.map(|_| ()))
    }
}

impl Harness {
    /// A fresh heap with the schema registered, and an empty model.
    pub fn new(setup: Setup, corruption_run: bool) -> Harness {
        let memory = Memory::new(setup.region_len);
        let mut zeal = Zeal::none()
            .with_poison(setup.poison)
            .with_verify_after_collection(setup.verify_after_collection)
            .with_fail_every_nth_allocation(setup.fail_every);
        if corruption_run {
            // Verification after collections would only report the corruption early.
            zeal = zeal.with_verify_after_collection(false);
        }
        let config = HeapConfig::default().with_zeal(zeal);
        // SAFETY: the buffer is `region_len` bytes, 16-aligned (u128 words), used by nothing else
        // but this heap (and the harness's own `Corrupt` writes, made between heap calls, as JIT
        // code would), and freed only after the heap is dropped (field order).
        let mut heap = unsafe { Heap::from_raw_parts(memory.base(), setup.region_len, config) }.expect("heap");
        let schema = schema();
        for decl in &schema {
            match decl {
                Decl::Struct(ty) => heap.register_struct(ty.clone()).expect("register struct"),
                Decl::Array(ty) => heap.register_array(*ty).expect("register array"),
            };
        }
        // Whether `Heap::collect_cycles` exists (on an empty heap, running it changes nothing).
        let has_cycle_collector = collect_cycles(&mut heap).is_some();
        Harness {
            heap,
            memory,
            region_len: setup.region_len,
            schema,
            objects: HashMap::new(),
            words: HashMap::new(),
            next_id: 1,
            next_host_id: 1,
            locals: Vec::new(),
            globals: (0..GLOBALS).map(|_| Slot::null()).collect(),
            tables: (0..TABLES).map(|_| (0..TABLE_SIZE).map(|_| Slot::null()).collect()).collect(),
            frames: Vec::new(),
            no_gc_depth: 0,
            log: Rc::new(RefCell::new(DropLog::default())),
            checked_drops: 0,
            corruption_run,
            corrupted: false,
            has_cycle_collector,
            stats: RunStats::default(),
        }
    }

    /// Whether the model's comparisons are on.
    fn checking(&self) -> bool {
        !self.corrupted
    }

    /// Reports an oracle failure (a panic, so proptest shrinks and libFuzzer saves the input).
    #[track_caller]
    fn fail(&self, message: String) {
        if self.checking() {
            panic!("model oracle failed: {message}");
        }
    }

    /// Checks a heap result against the model's prediction; `true` when the operation succeeded
    /// (and the model should apply it).
    #[track_caller]
    fn expect<T>(&mut self, what: &str, result: &Result<T, Error>, expected: Expect) -> bool {
        match (result, expected) {
            (Ok(_), Expect::Ok) => true,
            (Ok(_), _) => {
                self.fail(format!("{what}: succeeded, the model expected {expected:?}"));
                false
            }
            (Err(error), Expect::Ok) => {
                self.fail(format!("{what}: failed with {error:?}, the model expected success"));
                if !self.checking() {
                    self.stats.heap_errors_after_corruption += 1;
                }
                false
            }
            (Err(error), _) => {
                if classify(error) != Some(expected) {
                    self.fail(format!("{what}: failed with {error:?}, the model expected {expected:?}"));
                }
                self.stats.expected_errors += 1;
                false
            }
        }
    }

    /// Runs a whole program, then the final oracles.
    pub fn run(setup: Setup, ops: &[Op], corruption_run: bool) -> RunStats {
        let mut harness = Harness::new(setup, corruption_run);
        for op in ops {
            harness.apply(op);
        }
        harness.finish();
        harness.stats
    }

    /// Adds `delta` to the reference count of the object host local `local` holds, behind the
    /// heap's back and without turning the comparisons off: for tests that prove the oracles
    /// catch a count that is wrong.
    pub fn tamper_count(&mut self, local: usize, delta: i32) {
        let word = self.locals[local].word();
        let offset = word as usize + 12;
        assert!(word != 0 && word & 1 == 0 && offset + 4 <= self.region_len, "an object in the region");
        let base = self.heap.region_base();
        // SAFETY: `offset + 4` is within the region (checked above), the harness's own buffer;
        // no reference into the region is alive between heap calls.
        unsafe {
            let count = base.add(offset).cast::<u32>();
            count.write_unaligned(count.read_unaligned().wrapping_add_signed(delta));
        }
    }
}
