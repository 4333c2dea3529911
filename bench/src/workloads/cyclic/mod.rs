//! The cyclic workloads: doubly linked rings, binary trees with parent pointers, random graphs.
//! Their garbage is cyclic, so reference counting alone never frees it.
//!
//! Implementations: drc-heap with its cycle collector (the default heap policy: a cycle
//! collection runs when more than 10,000 candidates are buffered, or when an allocation finds
//! no room; plus one explicit `collect_cycles` at the end, and in the random graph one after the
//! host lets go of the nodes, to check what survives); drc-heap with cycle collection off (the
//! garbage leaks until the region is full: it reports where it ran out of memory); `Rc<RefCell>`
//! with `Weak` back-pointers where a Rust programmer would use them; and `bacon_rajan_cc`, whose
//! `collect_cycles` is called whenever more than 10,000 possible roots are buffered (checked
//! after each ring, tree or graph: the crate has no trigger of its own), and at the end.
//!
//! This file holds what the three workloads share (the implementations' table, the drc-heap run
//! and its final check, the windowed program of the rings and the trees); `rings.rs`,
//! `parent_trees.rs` and `random_graph.rs` hold one workload each.

mod parent_trees;
mod random_graph;
mod rings;

use super::binary_trees::fold;
use super::{drc_heap, drc_outcome, DrcResult, Implementation, Outcome, Workload};
use bacon_rajan_cc::{Cc, Trace, Tracer};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{BorrowedRef, GcRef, Heap, TypeIndex, Value, ValueRef};
use parent_trees::{parent_trees, TreeParams};
use random_graph::{random_graph, GraphParams};
use rings::{rings, RingParams};
use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::{Rc, Weak};

/// The region of the drc-heap runs: the workloads need far less with cycle collection, and
/// more than this without (so that run shows the leak as `OutOfMemory`).
const REGION: usize = 16 << 20;
const QUICK_REGION: usize = 256 << 10;
/// bacon_rajan_cc: collect when more possible roots than this are buffered (drc-heap's default
/// candidate threshold).
const CC_THRESHOLD: usize = 10_000;

pub fn workloads(quick: bool) -> Vec<Workload> {
    let region = if quick { QUICK_REGION } else { REGION };
    vec![
        rings(
            if quick {
                RingParams { size: 100, rings: 100, window: 4 }
            } else {
                RingParams { size: 1000, rings: 1000, window: 4 }
            },
            region,
        ),
        parent_trees(
            if quick {
                TreeParams { depth: 8, trees: 40, window: 2 }
            } else {
                TreeParams { depth: 12, trees: 128, window: 2 }
            },
            region,
        ),
        random_graph(
            if quick {
                GraphParams { nodes: 1 << 10, edges: 1 << 10, graphs: 4 }
            } else {
                GraphParams { nodes: 1 << 15, edges: 1 << 15, graphs: 16 }
            },
            region,
        ),
    ]
}

/// The four implementations of a cyclic workload. `cc` runs the bacon_rajan_cc program, which
/// calls `after_each` after each ring, tree or graph; a final `collect_cycles` follows it.
fn implementations(
    drc: impl Fn(bool) -> Outcome + Clone + 'static,
    rc: impl Fn() -> Result<u64, String> + 'static,
    cc: impl Fn(fn()) -> Result<u64, String> + 'static,
) -> Vec<Implementation> {
    let without = drc.clone();
    vec![
        Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc(true)) },
        Implementation {
            name: "drc-heap (no cycle collection)",
            reference: false,
            run: Box::new(move || without(false)),
        },
        Implementation { name: "Rc<RefCell>", reference: false, run: Box::new(move || rc_outcome(rc())) },
        Implementation {
            name: "bacon_rajan_cc",
            reference: false,
            run: Box::new(move || {
                let result = cc(maybe_collect_cc);
                bacon_rajan_cc::collect_cycles();
                rc_outcome(result)
            }),
        },
    ]
}

/// How the cycle collectors are run, shown under every cyclic workload.
const POLICY: &str = "drc-heap: the default heap policy (a cycle collection at an allocation when more than \
     10,000 candidates are buffered, of those buffered before the buffer held half as many, or of \
     all of them when the live bytes doubled since the last one or an allocation finds no room), \
     plus one collect_cycles at the end. bacon_rajan_cc has no trigger \
     of its own: collect_cycles runs after a ring, tree or graph when more than 10,000 possible \
     roots are buffered, and at the end. 'no cycle collection': drc-heap with \
     HeapConfig::with_cycle_collection(false), over the same region.";

/// An error with how far the workload got.
fn failed(error: impl std::fmt::Display, done: u64, total: u64, unit: &str) -> String {
    format!("{error} after {done} of {total} {unit}")
}

fn maybe_collect_cc() {
    if bacon_rajan_cc::number_of_roots_buffered() > CC_THRESHOLD {
        bacon_rajan_cc::collect_cycles();
    }
}

fn rc_outcome(check: Result<u64, String>) -> Outcome {
    Outcome { check, drc: None, note: None }
}

/// A drc-heap run: a fresh heap over `region` bytes, the types `register` registers (their
/// indices handed to `program` with the heap), the program, then [`drc_finish`].
fn drc_run<T>(
    region: usize,
    cycles: bool,
    register: impl FnOnce(&mut Heap<()>) -> DrcResult<T>,
    program: impl FnOnce(Heap<()>, T) -> (Heap<()>, Result<u64, String>),
) -> Outcome {
    let mut heap: Heap<()> = drc_heap(region, cycles);
    let types = match register(&mut heap) {
        Ok(types) => types,
        Err(error) => return drc_outcome(&heap, Err(error)),
    };
    let (mut heap, result) = program(heap, types);
    drc_finish(&mut heap, result, cycles)
}

/// A nullable reference to any struct: the links of the rings, trees and graphs.
const LINK: StorageType = StorageType::Ref(RefType::nullable(HeapType::Struct));

/// The end of a drc-heap run: one last cycle collection, then every object must be gone.
fn drc_finish<H>(heap: &mut Heap<H>, result: Result<u64, String>, cycles: bool) -> Outcome {
    let result = result.and_then(|check| {
        if cycles {
            heap.collect_cycles().map_err(|e| e.to_string())?;
        }
        let live = heap.stats().map_err(|e| e.to_string())?.live_objects;
        if cycles && live != 0 {
            return Err(format!("{live} objects left after the final cycle collection"));
        }
        Ok(check)
    });
    let mut outcome = drc_outcome(heap, Ok(0));
    outcome.check = result;
    outcome
}

/// The program of the rings and the trees: `count` times, `build` one item (returning it with
/// its check value), keep it with at most `window` others (dropping the oldest), fold the
/// check values; at the end drop what is left.
fn windowed_program<S, T, E: std::fmt::Display>(
    s: &mut S,
    count: u32,
    window: usize,
    unit: &str,
    build: impl Fn(&mut S) -> Result<(T, u64), E>,
    drop_item: impl Fn(&mut S, T) -> Result<(), E>,
    after_each: impl Fn(),
) -> Result<u64, String> {
    let mut live = VecDeque::new();
    let mut digest = 0;
    for done in 0..count {
        let step = (|| {
            let (item, check) = build(s)?;
            live.push_back(item);
            if live.len() > window {
                drop_item(s, live.pop_front().unwrap())?;
            }
            Ok::<u64, E>(check)
        })();
        digest = fold(digest, step.map_err(|e| failed(e, done as u64, count as u64, unit))?);
        after_each();
    }
    for item in live {
        drop_item(s, item).map_err(|e| e.to_string())?;
    }
    Ok(digest)
}
