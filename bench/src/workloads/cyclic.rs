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

use super::binary_trees::fold;
use super::{drc_heap, drc_outcome, DrcResult, Implementation, Outcome, Workload};
use bacon_rajan_cc::{Cc, Trace, Tracer};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{BorrowedRef, GcRef, Heap, TypeIndex, Value, ValueRef};
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
     10,000 candidates are buffered or the live bytes doubled since the last one, or when an \
     allocation finds no room), plus one collect_cycles at the end. bacon_rajan_cc has no trigger \
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

// =================================================================================================
// Doubly linked rings

#[derive(Clone, Copy)]
struct RingParams {
    size: u32,
    rings: u32,
    /// Rings alive at once: each new ring replaces the oldest.
    window: usize,
}

trait Rings {
    type Ring;
    type Error: std::fmt::Display;
    /// A ring of `size` nodes with values 0..size; returns its head.
    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error>;
    /// Walks the ring once through `next`, checking every `prev` link on the way; the sum of
    /// the values, or `u64::MAX` if a link is wrong.
    fn walk(&mut self, ring: &Self::Ring, size: u32) -> Result<u64, Self::Error>;
    fn drop_ring(&mut self, ring: Self::Ring) -> Result<(), Self::Error>;
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

fn rings_program<R: Rings>(r: &mut R, p: RingParams, after_each: impl Fn()) -> Result<u64, String> {
    let build = |r: &mut R| {
        let ring = r.build(p.size)?;
        let sum = r.walk(&ring, p.size)?;
        Ok((ring, sum))
    };
    windowed_program(r, p.rings, p.window, "rings", build, R::drop_ring, after_each)
}

fn rings(p: RingParams, region: usize) -> Workload {
    let sum = p.size as u64 * (p.size as u64 - 1) / 2;
    let expected = (0..p.rings).fold(0, |d, _| fold(d, sum));
    Workload {
        name: "doubly linked rings".to_string(),
        description: format!(
            "{} rings of {} nodes {{prev, next, value}}, built one at a time by linking each new node \
             after the tail, walked once through `next` (checking every `prev`), {} alive at a time; \
             drc-heap region {} KiB.",
            p.rings,
            p.size,
            p.window,
            region >> 10
        ),
        expected,
        implementations: implementations(
            move |cycles| drc_rings(p, region, cycles),
            move || rings_program(&mut RcRings, p, || {}),
            move |after_each| rings_program(&mut CcRings, p, after_each),
        ),
        notes: vec![
            "Rc<RefCell>: `next` is an Rc, `prev` a Weak; the ring's owner breaks the one strong cycle \
             (the tail's `next`) before dropping the head, as a Rust programmer would."
                .to_string(),
            POLICY.to_string(),
        ],
    }
}

// ---- drc-heap --------------------------------------------------------------------------------------

struct DrcRings {
    heap: Heap<()>,
    node: TypeIndex,
}

const PREV: u32 = 0;
const NEXT: u32 = 1;
const VALUE: u32 = 2;

impl Rings for DrcRings {
    type Ring = GcRef;
    type Error = drc_heap::Error;

    fn build(&mut self, size: u32) -> DrcResult<GcRef> {
        let heap = &mut self.heap;
        let new = |heap: &mut Heap<()>, prev: Option<GcRef>, value: i32| {
            heap.struct_new_owned(self.node, [Value::Ref(prev), Value::Ref(None), Value::I32(value)])
                .map_err(|(e, _)| e)
        };
        let head = new(heap, None, 0)?;
        let mut tail = heap.clone_ref(&head)?;
        for value in 1..size as i32 {
            let prev = heap.clone_ref(&tail)?;
            let node = new(heap, Some(prev), value)?;
            let next = heap.clone_ref(&node)?;
            heap.struct_set_owned(&tail, NEXT, Value::Ref(Some(next)))?;
            heap.drop_ref(std::mem::replace(&mut tail, node))?;
        }
        let next = heap.clone_ref(&head)?;
        heap.struct_set_owned(&tail, NEXT, Value::Ref(Some(next)))?;
        heap.struct_set_owned(&head, PREV, Value::Ref(Some(tail)))?;
        Ok(head)
    }

    fn walk(&mut self, head: &GcRef, size: u32) -> DrcResult<u64> {
        let heap = &self.heap;
        let raw = |r: Option<BorrowedRef<'_>>| r.map_or(0, |r| r.as_raw_u32());
        let first = heap.struct_view(head)?;
        let mut sum = first.get_i32(VALUE)? as u64;
        let mut prev = head.as_raw_u32();
        let Some(mut current) = first.get_ref(NEXT)? else { return Ok(u64::MAX) };
        for _ in 1..size {
            let node = heap.struct_view(&current)?;
            if raw(node.get_ref(PREV)?) != prev {
                return Ok(u64::MAX);
            }
            sum += node.get_i32(VALUE)? as u64;
            prev = current.as_raw_u32();
            let Some(next) = node.get_ref(NEXT)? else { return Ok(u64::MAX) };
            current = next;
        }
        let closed = current.as_raw_u32() == head.as_raw_u32() && raw(first.get_ref(PREV)?) == prev;
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, ring: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(ring)
    }
}

fn drc_rings(p: RingParams, region: usize, cycles: bool) -> Outcome {
    let register = |heap: &mut Heap<()>| heap.register_struct(StructType::new(&[LINK, LINK, StorageType::I32]));
    drc_run(region, cycles, register, |heap, node| {
        let mut rings = DrcRings { heap, node };
        let result = rings_program(&mut rings, p, || {});
        (rings.heap, result)
    })
}

// ---- Rc<RefCell> -------------------------------------------------------------------------------------

struct RcRingNode {
    prev: Weak<RefCell<RcRingNode>>,
    next: Option<Rc<RefCell<RcRingNode>>>,
    value: i32,
}

struct RcRings;

impl Rings for RcRings {
    type Ring = Rc<RefCell<RcRingNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error> {
        let head = Rc::new(RefCell::new(RcRingNode { prev: Weak::new(), next: None, value: 0 }));
        let mut tail = head.clone();
        for value in 1..size as i32 {
            let node = Rc::new(RefCell::new(RcRingNode { prev: Rc::downgrade(&tail), next: None, value }));
            tail.borrow_mut().next = Some(node.clone());
            tail = node;
        }
        tail.borrow_mut().next = Some(head.clone());
        head.borrow_mut().prev = Rc::downgrade(&tail);
        Ok(head)
    }

    fn walk(&mut self, head: &Self::Ring, size: u32) -> Result<u64, Self::Error> {
        let mut sum = head.borrow().value as u64;
        let mut prev = head.clone();
        let Some(mut current) = head.borrow().next.clone() else { return Ok(u64::MAX) };
        for _ in 1..size {
            if !current.borrow().prev.upgrade().is_some_and(|p| Rc::ptr_eq(&p, &prev)) {
                return Ok(u64::MAX);
            }
            sum += current.borrow().value as u64;
            let Some(next) = current.borrow().next.clone() else { return Ok(u64::MAX) };
            prev = std::mem::replace(&mut current, next);
        }
        let closed = Rc::ptr_eq(&current, head) && head.borrow().prev.upgrade().is_some_and(|p| Rc::ptr_eq(&p, &prev));
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, head: Self::Ring) -> Result<(), Self::Error> {
        // Break the strong cycle through `next`, then the chain drops from the head.
        let tail = head.borrow().prev.upgrade();
        if let Some(tail) = tail {
            tail.borrow_mut().next = None;
        }
        drop(head);
        Ok(())
    }
}

// ---- bacon_rajan_cc ----------------------------------------------------------------------------------

struct CcRingNode {
    prev: Option<Cc<RefCell<CcRingNode>>>,
    next: Option<Cc<RefCell<CcRingNode>>>,
    value: i32,
}

impl Trace for CcRingNode {
    fn trace(&self, tracer: &mut Tracer) {
        self.prev.trace(tracer);
        self.next.trace(tracer);
    }
}

struct CcRings;

impl Rings for CcRings {
    type Ring = Cc<RefCell<CcRingNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error> {
        let head = Cc::new(RefCell::new(CcRingNode { prev: None, next: None, value: 0 }));
        let mut tail = head.clone();
        for value in 1..size as i32 {
            let node = Cc::new(RefCell::new(CcRingNode { prev: Some(tail.clone()), next: None, value }));
            tail.borrow_mut().next = Some(node.clone());
            tail = node;
        }
        tail.borrow_mut().next = Some(head.clone());
        head.borrow_mut().prev = Some(tail);
        Ok(head)
    }

    fn walk(&mut self, head: &Self::Ring, size: u32) -> Result<u64, Self::Error> {
        let mut sum = head.borrow().value as u64;
        let mut prev = head.clone();
        let Some(mut current) = head.borrow().next.clone() else { return Ok(u64::MAX) };
        for _ in 1..size {
            if !current.borrow().prev.as_ref().is_some_and(|p| Cc::ptr_eq(p, &prev)) {
                return Ok(u64::MAX);
            }
            sum += current.borrow().value as u64;
            let Some(next) = current.borrow().next.clone() else { return Ok(u64::MAX) };
            prev = std::mem::replace(&mut current, next);
        }
        let closed = Cc::ptr_eq(&current, head) && head.borrow().prev.as_ref().is_some_and(|p| Cc::ptr_eq(p, &prev));
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, head: Self::Ring) -> Result<(), Self::Error> {
        drop(head);
        Ok(())
    }
}

// =================================================================================================
// Binary trees with parent pointers

#[derive(Clone, Copy)]
struct TreeParams {
    depth: u32,
    trees: u32,
    window: usize,
}

trait ParentTrees {
    type Tree;
    type Error: std::fmt::Display;
    /// A complete tree of `depth` built top-down; every node's value is its depth.
    fn build(&mut self, depth: u32) -> Result<Self::Tree, Self::Error>;
    /// Counts the nodes and sums the values, checking every child's parent link; `u64::MAX`
    /// if a link is wrong.
    fn check(&mut self, tree: &Self::Tree) -> Result<u64, Self::Error>;
    fn drop_tree(&mut self, tree: Self::Tree) -> Result<(), Self::Error>;
}

fn trees_program<T: ParentTrees>(t: &mut T, p: TreeParams, after_each: impl Fn()) -> Result<u64, String> {
    let build = |t: &mut T| {
        let tree = t.build(p.depth)?;
        let check = t.check(&tree)?;
        Ok((tree, check))
    };
    windowed_program(t, p.trees, p.window, "trees", build, T::drop_tree, after_each)
}

/// Nodes and value sum of a complete tree of `depth` whose nodes hold their depth, folded.
fn tree_check(depth: u32) -> u64 {
    let nodes = (1u64 << (depth + 1)) - 1;
    // Level k (from the root, k = 0..=depth) has 2^k nodes of value depth - k.
    let sum: u64 = (0..=depth).map(|k| (1u64 << k) * (depth - k) as u64).sum();
    nodes * 1_000_000_007 + sum
}

fn parent_trees(p: TreeParams, region: usize) -> Workload {
    let expected = (0..p.trees).fold(0, |d, _| fold(d, tree_check(p.depth)));
    Workload {
        name: "trees with parent pointers".to_string(),
        description: format!(
            "{} complete binary trees of depth {} ({} nodes {{left, right, parent, value}} each), built \
             top-down, checked (node count, values, every parent link), {} alive at a time; drc-heap \
             region {} KiB.",
            p.trees,
            p.depth,
            (1u64 << (p.depth + 1)) - 1,
            p.window,
            region >> 10
        ),
        expected,
        implementations: implementations(
            move |cycles| drc_trees(p, region, cycles),
            move || trees_program(&mut RcTrees, p, || {}),
            move |after_each| trees_program(&mut CcTrees, p, after_each),
        ),
        notes: vec![
            "Rc<RefCell>: children are Rcs, the parent a Weak (the usual Rust tree).".to_string(),
            "bacon_rajan_cc: dropping a tree buffers one possible root (its root node), so the \
             10,000-root trigger never fires and every tree waits for the final collection (its \
             peak); drc-heap's heap-growth trigger collects when the live bytes have doubled."
                .to_string(),
            POLICY.to_string(),
        ],
    }
}

// ---- drc-heap --------------------------------------------------------------------------------------

struct DrcTrees {
    heap: Heap<()>,
    node: TypeIndex,
}

const LEFT: u32 = 0;
const RIGHT: u32 = 1;
const PARENT: u32 = 2;
const DEPTH: u32 = 3;

fn drc_build(heap: &mut Heap<()>, node: TypeIndex, parent: Option<&GcRef>, depth: u32) -> DrcResult<GcRef> {
    let parent = match parent {
        Some(parent) => Some(heap.clone_ref(parent)?),
        None => None,
    };
    let fields = [Value::Ref(None), Value::Ref(None), Value::Ref(parent), Value::I32(depth as i32)];
    let this = heap.struct_new_owned(node, fields).map_err(|(e, _)| e)?;
    if depth > 0 {
        let left = drc_build(heap, node, Some(&this), depth - 1)?;
        let right = drc_build(heap, node, Some(&this), depth - 1)?;
        heap.struct_set_owned(&this, LEFT, Value::Ref(Some(left)))?;
        heap.struct_set_owned(&this, RIGHT, Value::Ref(Some(right)))?;
    }
    Ok(this)
}

/// (nodes, value sum), or `None` if a parent link is wrong.
fn drc_check(heap: &Heap<()>, tree: &GcRef) -> DrcResult<Option<(u64, u64)>> {
    let node = heap.struct_view(tree)?;
    let mut totals = (1, node.get_i32(DEPTH)? as u64);
    for field in [LEFT, RIGHT] {
        if let Some(child) = node.get_ref(field)? {
            let parent = heap.struct_view(&child)?.get_ref(PARENT)?;
            if parent.map(|p| p.as_raw_u32()) != Some(tree.as_raw_u32()) {
                return Ok(None);
            }
            let Some((nodes, sum)) = drc_check(heap, &child)? else { return Ok(None) };
            totals = (totals.0 + nodes, totals.1 + sum);
        }
    }
    Ok(Some(totals))
}

impl ParentTrees for DrcTrees {
    type Tree = GcRef;
    type Error = drc_heap::Error;

    fn build(&mut self, depth: u32) -> DrcResult<GcRef> {
        drc_build(&mut self.heap, self.node, None, depth)
    }

    fn check(&mut self, tree: &GcRef) -> DrcResult<u64> {
        Ok(drc_check(&self.heap, tree)?.map_or(u64::MAX, |(nodes, sum)| nodes * 1_000_000_007 + sum))
    }

    fn drop_tree(&mut self, tree: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(tree)
    }
}

fn drc_trees(p: TreeParams, region: usize, cycles: bool) -> Outcome {
    let register = |heap: &mut Heap<()>| heap.register_struct(StructType::new(&[LINK, LINK, LINK, StorageType::I32]));
    drc_run(region, cycles, register, |heap, node| {
        let mut trees = DrcTrees { heap, node };
        let result = trees_program(&mut trees, p, || {});
        (trees.heap, result)
    })
}

// ---- Rc<RefCell> -------------------------------------------------------------------------------------

struct RcTreeNode {
    left: Option<Rc<RefCell<RcTreeNode>>>,
    right: Option<Rc<RefCell<RcTreeNode>>>,
    parent: Weak<RefCell<RcTreeNode>>,
    depth: u32,
}

struct RcTrees;

fn rc_build(parent: Weak<RefCell<RcTreeNode>>, depth: u32) -> Rc<RefCell<RcTreeNode>> {
    let this = Rc::new(RefCell::new(RcTreeNode { left: None, right: None, parent, depth }));
    if depth > 0 {
        let left = rc_build(Rc::downgrade(&this), depth - 1);
        let right = rc_build(Rc::downgrade(&this), depth - 1);
        let mut node = this.borrow_mut();
        node.left = Some(left);
        node.right = Some(right);
    }
    this
}

fn rc_check(tree: &Rc<RefCell<RcTreeNode>>) -> Option<(u64, u64)> {
    let node = tree.borrow();
    let mut totals = (1, node.depth as u64);
    for child in [&node.left, &node.right].into_iter().flatten() {
        if !child.borrow().parent.upgrade().is_some_and(|p| Rc::ptr_eq(&p, tree)) {
            return None;
        }
        let (nodes, sum) = rc_check(child)?;
        totals = (totals.0 + nodes, totals.1 + sum);
    }
    Some(totals)
}

impl ParentTrees for RcTrees {
    type Tree = Rc<RefCell<RcTreeNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, depth: u32) -> Result<Self::Tree, Self::Error> {
        Ok(rc_build(Weak::new(), depth))
    }

    fn check(&mut self, tree: &Self::Tree) -> Result<u64, Self::Error> {
        Ok(rc_check(tree).map_or(u64::MAX, |(nodes, sum)| nodes * 1_000_000_007 + sum))
    }

    fn drop_tree(&mut self, tree: Self::Tree) -> Result<(), Self::Error> {
        drop(tree);
        Ok(())
    }
}

// ---- bacon_rajan_cc ----------------------------------------------------------------------------------

struct CcTreeNode {
    left: Option<Cc<RefCell<CcTreeNode>>>,
    right: Option<Cc<RefCell<CcTreeNode>>>,
    parent: Option<Cc<RefCell<CcTreeNode>>>,
    depth: u32,
}

impl Trace for CcTreeNode {
    fn trace(&self, tracer: &mut Tracer) {
        self.left.trace(tracer);
        self.right.trace(tracer);
        self.parent.trace(tracer);
    }
}

struct CcTrees;

fn cc_build(parent: Option<Cc<RefCell<CcTreeNode>>>, depth: u32) -> Cc<RefCell<CcTreeNode>> {
    let this = Cc::new(RefCell::new(CcTreeNode { left: None, right: None, parent, depth }));
    if depth > 0 {
        let left = cc_build(Some(this.clone()), depth - 1);
        let right = cc_build(Some(this.clone()), depth - 1);
        let mut node = this.borrow_mut();
        node.left = Some(left);
        node.right = Some(right);
    }
    this
}

fn cc_check(tree: &Cc<RefCell<CcTreeNode>>) -> Option<(u64, u64)> {
    let node = tree.borrow();
    let mut totals = (1, node.depth as u64);
    for child in [&node.left, &node.right].into_iter().flatten() {
        if !child.borrow().parent.as_ref().is_some_and(|p| Cc::ptr_eq(p, tree)) {
            return None;
        }
        let (nodes, sum) = cc_check(child)?;
        totals = (totals.0 + nodes, totals.1 + sum);
    }
    Some(totals)
}

impl ParentTrees for CcTrees {
    type Tree = Cc<RefCell<CcTreeNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, depth: u32) -> Result<Self::Tree, Self::Error> {
        Ok(cc_build(None, depth))
    }

    fn check(&mut self, tree: &Self::Tree) -> Result<u64, Self::Error> {
        Ok(cc_check(tree).map_or(u64::MAX, |(nodes, sum)| nodes * 1_000_000_007 + sum))
    }

    fn drop_tree(&mut self, tree: Self::Tree) -> Result<(), Self::Error> {
        drop(tree);
        Ok(())
    }
}

// =================================================================================================
// Random graphs

#[derive(Clone, Copy)]
struct GraphParams {
    nodes: u32,
    edges: u32,
    graphs: u32,
}

/// splitmix64: a small deterministic generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }
}

/// Graph `g`'s out-edges, node by node (in generation order).
fn adjacency(p: GraphParams, g: u32) -> Vec<Vec<u32>> {
    let mut rng = SplitMix(0x6a09_e667_f3bc_c908 ^ g as u64);
    let mut adjacency = vec![Vec::new(); p.nodes as usize];
    for _ in 0..p.edges {
        let (from, to) = (rng.below(p.nodes), rng.below(p.nodes));
        adjacency[from as usize].push(to);
    }
    adjacency
}

/// What a traversal from node 0 finds: (reachable nodes, sum of their ids, edges followed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reach {
    nodes: u64,
    ids: u64,
    edges: u64,
}

impl Reach {
    fn fold(self, digest: u64) -> u64 {
        fold(fold(fold(digest, self.nodes), self.ids), self.edges)
    }
}

fn reach(adjacency: &[Vec<u32>]) -> Reach {
    let mut seen = vec![false; adjacency.len()];
    let mut queue = vec![0u32];
    seen[0] = true;
    let mut reach = Reach::default();
    while let Some(node) = queue.pop() {
        reach.nodes += 1;
        reach.ids += node as u64;
        for &to in &adjacency[node as usize] {
            reach.edges += 1;
            if !seen[to as usize] {
                seen[to as usize] = true;
                queue.push(to);
            }
        }
    }
    reach
}

trait Graphs {
    type Node;
    type Error: std::fmt::Display;
    /// The graph's nodes (ids 0..n) with their out-edges in adjacency order.
    fn build(&mut self, adjacency: &[Vec<u32>]) -> Result<Vec<Self::Node>, Self::Error>;
    /// Lets go of every node but the root; `reachable_objects` is what must survive.
    fn release_all_but_root(
        &mut self,
        nodes: Vec<Self::Node>,
        reachable_objects: u64,
    ) -> Result<Self::Node, Self::Error>;
    /// Depth-first traversal from the root (the same order as [`reach`]).
    fn traverse(&mut self, root: &Self::Node) -> Result<Reach, Self::Error>;
    fn drop_root(&mut self, root: Self::Node) -> Result<(), Self::Error>;
}

fn graphs_program<G: Graphs>(g: &mut G, p: GraphParams, after_each: impl Fn()) -> Result<u64, String> {
    let mut digest = 0;
    for done in 0..p.graphs {
        let adjacency = adjacency(p, done);
        let expected = reach(&adjacency);
        // Objects reachable from the root: its nodes and their non-empty edge arrays.
        let mut objects = expected.nodes;
        let mut seen = vec![false; adjacency.len()];
        let mut queue = vec![0u32];
        seen[0] = true;
        while let Some(node) = queue.pop() {
            objects += (!adjacency[node as usize].is_empty()) as u64;
            for &to in &adjacency[node as usize] {
                if !std::mem::replace(&mut seen[to as usize], true) {
                    queue.push(to);
                }
            }
        }
        let step = (|| {
            let nodes = g.build(&adjacency)?;
            let root = g.release_all_but_root(nodes, objects)?;
            let found = g.traverse(&root)?;
            g.drop_root(root)?;
            Ok::<Reach, G::Error>(found)
        })();
        let found = step.map_err(|e| failed(e, done as u64, p.graphs as u64, "graphs"))?;
        digest = found.fold(digest);
        after_each();
    }
    Ok(digest)
}

fn random_graph(p: GraphParams, region: usize) -> Workload {
    let expected = (0..p.graphs).fold(0, |d, g| reach(&adjacency(p, g)).fold(d));
    Workload {
        name: "random graph".to_string(),
        description: format!(
            "{} random graphs of {} nodes and {} edges (uniform random ends): the host builds the nodes \
             and their edge lists, lets go of every node but node 0, traverses what node 0 reaches \
             (check: reachable nodes, sum of their ids, edges followed), then lets go of node 0; \
             drc-heap region {} KiB.",
            p.graphs,
            p.nodes,
            p.edges,
            region >> 10
        ),
        expected,
        implementations: implementations(
            move |cycles| drc_graphs(p, region, cycles),
            move || graphs_program(&mut RcGraphs, p, || {}),
            move |after_each| graphs_program(&mut CcGraphs, p, after_each),
        ),
        notes: vec![
            "drc-heap: node = struct {edges: ref null (array (ref null struct)), id: i32}, edge lists \
             built with array_new_fixed; after the host lets go of all nodes but node 0 it runs \
             collect_cycles and checks that exactly what node 0 reaches is left (nodes and edge \
             arrays). bacon_rajan_cc also collects at that point."
                .to_string(),
            "Rc<RefCell>: edges are Rcs (no node owns another, so Weak cannot express the graph; a \
             Rust program would use an arena with indices): every cycle leaks, see 'left at end'."
                .to_string(),
            "With as many edges as nodes, most of a random graph is trees hanging off a few cycles: \
             little of it is cyclic garbage, so without cycle collection drc-heap leaks only what the \
             cycles hold ('left at end') and does not run out of memory."
                .to_string(),
            POLICY.to_string(),
        ],
    }
}

// ---- drc-heap --------------------------------------------------------------------------------------

struct DrcGraphs {
    heap: Heap<()>,
    node: TypeIndex,
    edges: TypeIndex,
    cycles: bool,
}

/// A failed build: lets go of the nodes built so far, then fails with `error`.
fn drop_all<T>(heap: &mut Heap<()>, nodes: Vec<GcRef>, error: drc_heap::Error) -> DrcResult<T> {
    for node in nodes {
        heap.drop_ref(node)?;
    }
    Err(error)
}

impl Graphs for DrcGraphs {
    type Node = GcRef;
    type Error = drc_heap::Error;

    fn build(&mut self, adjacency: &[Vec<u32>]) -> DrcResult<Vec<GcRef>> {
        let heap = &mut self.heap;
        let mut nodes = Vec::with_capacity(adjacency.len());
        for id in 0..adjacency.len() {
            let node = heap.struct_new_owned(self.node, [Value::Ref(None), Value::I32(id as i32)]);
            match node {
                Ok(node) => nodes.push(node),
                Err((error, _)) => return drop_all(heap, nodes, error),
            }
        }
        let mut elements = Vec::new();
        for (from, out) in adjacency.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            elements.clear();
            elements.extend(out.iter().map(|&to| ValueRef::Ref(Some(&nodes[to as usize]))));
            let edges = match heap.array_new_fixed(self.edges, &elements) {
                Ok(edges) => edges,
                Err(error) => return drop_all(heap, nodes, error),
            };
            heap.struct_set_owned(&nodes[from], 0, Value::Ref(Some(edges)))?;
        }
        Ok(nodes)
    }

    fn release_all_but_root(&mut self, nodes: Vec<GcRef>, reachable_objects: u64) -> DrcResult<GcRef> {
        let mut nodes = nodes.into_iter();
        let root = nodes.next().expect("a graph has nodes");
        for node in nodes {
            self.heap.drop_ref(node)?;
        }
        if self.cycles {
            self.heap.collect_cycles()?;
            let live = self.heap.stats()?.live_objects;
            if live != reachable_objects {
                return Err(drc_heap::Error::Corrupted {
                    offset: 0,
                    what: "unexpected live objects after collect_cycles",
                });
            }
        }
        Ok(root)
    }

    fn traverse(&mut self, root: &GcRef) -> DrcResult<Reach> {
        let heap = &self.heap;
        let mut seen = HashSet::new();
        seen.insert(root.as_raw_u32());
        let mut stack: Vec<BorrowedRef<'_>> = Vec::new();
        let mut reach = Reach::default();
        let mut next: Option<BorrowedRef<'_>> = None;
        loop {
            let node: &GcRef = match &next {
                Some(node) => node,
                None => root,
            };
            reach.nodes += 1;
            let view = heap.struct_view(node)?;
            reach.ids += view.get_i32(1)? as u64;
            if let Some(edges) = view.get_ref(0)? {
                let edges = heap.array_view(&edges)?;
                for i in 0..edges.len() {
                    reach.edges += 1;
                    if let Some(to) = edges.get_ref(i)? {
                        if seen.insert(to.as_raw_u32()) {
                            stack.push(to);
                        }
                    }
                }
            }
            match stack.pop() {
                Some(node) => next = Some(node),
                None => return Ok(reach),
            }
        }
    }

    fn drop_root(&mut self, root: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(root)
    }
}

fn drc_graphs(p: GraphParams, region: usize, cycles: bool) -> Outcome {
    let register = |heap: &mut Heap<()>| {
        let edges = heap.register_array(ArrayType::new(LINK))?;
        let edge_list = StorageType::Ref(RefType::nullable(HeapType::Concrete(edges)));
        Ok((heap.register_struct(StructType::new(&[edge_list, StorageType::I32]))?, edges))
    };
    drc_run(region, cycles, register, |heap, (node, edges)| {
        let mut graphs = DrcGraphs { heap, node, edges, cycles };
        let result = graphs_program(&mut graphs, p, || {});
        (graphs.heap, result)
    })
}

// ---- Rc<RefCell> and bacon_rajan_cc: the same code but for the pointer ----------------------------

/// `build` and `traverse` of the Rc and bacon_rajan_cc graphs, whose nodes `$node` are held by
/// `$ptr<RefCell<$node>>` (`Rc` or `Cc`).
macro_rules! shared_graph_methods {
    ($ptr:ident, $node:ident) => {
        fn build(&mut self, adjacency: &[Vec<u32>]) -> Result<Vec<Self::Node>, Self::Error> {
            let nodes: Vec<Self::Node> = (0..adjacency.len())
                .map(|id| $ptr::new(RefCell::new($node { edges: Vec::new(), id: id as u32 })))
                .collect();
            for (from, out) in adjacency.iter().enumerate() {
                if !out.is_empty() {
                    nodes[from].borrow_mut().edges = out.iter().map(|&to| nodes[to as usize].clone()).collect();
                }
            }
            Ok(nodes)
        }

        fn traverse(&mut self, root: &Self::Node) -> Result<Reach, Self::Error> {
            let mut seen = HashSet::new();
            let mut stack = vec![root.clone()];
            seen.insert(&**root as *const RefCell<$node>);
            let mut reach = Reach::default();
            while let Some(node) = stack.pop() {
                let node = node.borrow();
                reach.nodes += 1;
                reach.ids += node.id as u64;
                for to in &node.edges {
                    reach.edges += 1;
                    if seen.insert(&**to as *const RefCell<$node>) {
                        stack.push(to.clone());
                    }
                }
            }
            Ok(reach)
        }
    };
}

// ---- Rc<RefCell> -------------------------------------------------------------------------------------

struct RcGraphNode {
    edges: Vec<Rc<RefCell<RcGraphNode>>>,
    id: u32,
}

struct RcGraphs;

impl Graphs for RcGraphs {
    type Node = Rc<RefCell<RcGraphNode>>;
    type Error = std::convert::Infallible;

    shared_graph_methods!(Rc, RcGraphNode);

    fn release_all_but_root(&mut self, nodes: Vec<Self::Node>, _: u64) -> Result<Self::Node, Self::Error> {
        Ok(nodes.into_iter().next().expect("a graph has nodes"))
    }

    fn drop_root(&mut self, root: Self::Node) -> Result<(), Self::Error> {
        drop(root);
        Ok(())
    }
}

// ---- bacon_rajan_cc ----------------------------------------------------------------------------------

struct CcGraphNode {
    edges: Vec<Cc<RefCell<CcGraphNode>>>,
    id: u32,
}

impl Trace for CcGraphNode {
    fn trace(&self, tracer: &mut Tracer) {
        self.edges.trace(tracer);
    }
}

struct CcGraphs;

impl Graphs for CcGraphs {
    type Node = Cc<RefCell<CcGraphNode>>;
    type Error = std::convert::Infallible;

    shared_graph_methods!(Cc, CcGraphNode);

    fn release_all_but_root(&mut self, nodes: Vec<Self::Node>, _: u64) -> Result<Self::Node, Self::Error> {
        let root = nodes.into_iter().next().expect("a graph has nodes");
        bacon_rajan_cc::collect_cycles();
        Ok(root)
    }

    fn drop_root(&mut self, root: Self::Node) -> Result<(), Self::Error> {
        drop(root);
        Ok(())
    }
}
