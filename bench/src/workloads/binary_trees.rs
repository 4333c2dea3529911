//! binary-trees (the Benchmarks Game): min depth 4, max depth N; a stretch tree of depth N+1,
//! a long-lived tree of depth N, then for d = 4, 6, ..., N, 2^(N-d+4) trees of depth d, each
//! built bottom-up, checked (its nodes counted) and dropped.

use super::{drc_heap, drc_outcome, DrcResult, Implementation, Outcome, Workload, REGION_BYTES};
use drc_heap::types::{HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, TypeIndex, Value, ValueRef};
use std::cell::RefCell;
use std::rc::Rc;

const MIN_DEPTH: u32 = 4;

/// Folds the check lines into one number (order matters).
pub fn fold(digest: u64, line: u64) -> u64 {
    digest.wrapping_mul(1_000_003).wrapping_add(line)
}

/// The check lines of depth `n`: stretch, each iteration line, long-lived.
fn expected_lines(n: u32) -> Vec<u64> {
    let mut lines = vec![(1u64 << (n + 2)) - 1];
    for d in (MIN_DEPTH..=n).step_by(2) {
        let iterations = 1u64 << (n - d + MIN_DEPTH);
        lines.push(iterations * ((1u64 << (d + 1)) - 1));
    }
    lines.push((1u64 << (n + 1)) - 1);
    lines
}

pub fn workload(n: u32) -> Workload {
    let lines = expected_lines(n);
    let expected = lines.iter().fold(0, |d, &l| fold(d, l));
    Workload {
        name: format!("binary-trees {n}"),
        description: format!(
            "The Benchmarks Game's binary-trees, max depth {n}: check lines {} folded into one number.",
            lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
        ),
        expected,
        implementations: vec![
            Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc::<true>(n, true)) },
            Implementation {
                name: "drc-heap (generic API)",
                reference: false,
                run: Box::new(move || drc::<false>(n, true)),
            },
            Implementation {
                name: "drc-heap (generic API, no cycle collection)",
                reference: false,
                run: Box::new(move || drc::<false>(n, false)),
            },
            Implementation { name: "Rc<RefCell>", reference: false, run: Box::new(move || rc(n)) },
        ],
        notes: vec!["drc-heap: nodes are structs {left, right: ref null struct}. The drc-heap row uses the \
             fast paths an embedder would: struct_new_owned moves the children in, and the check \
             validates each node once (struct_view) and reads both children without taking a count \
             (get_ref). The generic-API row uses struct_new (borrowed children: count +1, then \
             drop_ref: -1), struct_get (owned: +1) and drop_ref (-1), like examples/binary_trees.rs; \
             its decrements that leave a count above zero make the nodes cycle candidates, hence its \
             cycle collections (all of them find nothing to free). The generic API without cycle \
             collection shows what the cycle collector costs this acyclic program (buffering \
             candidates and collecting)."
            .to_string()],
    }
}

/// What binary-trees needs from a heap.
trait Trees {
    type Tree;
    type Error;
    fn bottom_up(&mut self, depth: u32) -> Result<Self::Tree, Self::Error>;
    fn check(&mut self, tree: &Self::Tree) -> Result<u64, Self::Error>;
    fn drop_tree(&mut self, tree: Self::Tree) -> Result<(), Self::Error>;
}

/// Runs binary-trees of max depth `n` and folds the check lines.
fn program<T: Trees>(n: u32, trees: &mut T) -> Result<u64, T::Error> {
    let stretch = trees.bottom_up(n + 1)?;
    let mut digest = fold(0, trees.check(&stretch)?);
    trees.drop_tree(stretch)?;
    let long_lived = trees.bottom_up(n)?;
    for d in (MIN_DEPTH..=n).step_by(2) {
        let iterations = 1u64 << (n - d + MIN_DEPTH);
        let mut sum = 0;
        for _ in 0..iterations {
            let tree = trees.bottom_up(d)?;
            sum += trees.check(&tree)?;
            trees.drop_tree(tree)?;
        }
        digest = fold(digest, sum);
    }
    digest = fold(digest, trees.check(&long_lived)?);
    trees.drop_tree(long_lived)?;
    Ok(digest)
}

fn node_type<H>(heap: &mut Heap<H>) -> DrcResult<TypeIndex> {
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    heap.register_struct(StructType::new(&[link, link]))
}

// ---- drc-heap, fast paths ----------------------------------------------------------------------

struct Drc<const FAST: bool> {
    heap: Heap<()>,
    node: TypeIndex,
}

impl<const FAST: bool> Trees for Drc<FAST> {
    type Tree = GcRef;
    type Error = drc_heap::Error;

    fn bottom_up(&mut self, depth: u32) -> DrcResult<GcRef> {
        if FAST {
            fast_bottom_up(&mut self.heap, self.node, depth)
        } else {
            generic_bottom_up(&mut self.heap, self.node, depth)
        }
    }

    fn check(&mut self, tree: &GcRef) -> DrcResult<u64> {
        if FAST {
            fast_check(&self.heap, tree)
        } else {
            generic_check(&mut self.heap, tree)
        }
    }

    fn drop_tree(&mut self, tree: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(tree)
    }
}

fn drc<const FAST: bool>(n: u32, cycles: bool) -> Outcome {
    let mut heap: Heap<()> = drc_heap(REGION_BYTES, cycles);
    let node = match node_type(&mut heap) {
        Ok(node) => node,
        Err(error) => return drc_outcome(&heap, Err(error)),
    };
    let mut trees = Drc::<FAST> { heap, node };
    let result = program(n, &mut trees);
    drc_outcome(&trees.heap, result)
}

fn fast_bottom_up(heap: &mut Heap<()>, node: TypeIndex, depth: u32) -> DrcResult<GcRef> {
    if depth == 0 {
        return heap.struct_new_owned(node, [Value::Ref(None), Value::Ref(None)]).map_err(|(e, _)| e);
    }
    let left = fast_bottom_up(heap, node, depth - 1)?;
    let right = fast_bottom_up(heap, node, depth - 1)?;
    heap.struct_new_owned(node, [Value::Ref(Some(left)), Value::Ref(Some(right))]).map_err(|(e, _)| e)
}

/// The nodes of a tree whose children are struct fields 0 and 1 (these trees and GCBench's),
/// each node validated once and its children read without a count.
pub(super) fn fast_check(heap: &Heap<()>, tree: &GcRef) -> DrcResult<u64> {
    let node = heap.struct_view(tree)?;
    let mut nodes = 1;
    for field in 0..2 {
        if let Some(child) = node.get_ref(field)? {
            nodes += fast_check(heap, &child)?;
        }
    }
    Ok(nodes)
}

// ---- drc-heap, generic API ---------------------------------------------------------------------

fn generic_bottom_up(heap: &mut Heap<()>, node: TypeIndex, depth: u32) -> DrcResult<GcRef> {
    if depth == 0 {
        return heap.struct_new(node, &[ValueRef::Ref(None), ValueRef::Ref(None)]);
    }
    let left = generic_bottom_up(heap, node, depth - 1)?;
    let right = generic_bottom_up(heap, node, depth - 1)?;
    let tree = heap.struct_new(node, &[ValueRef::Ref(Some(&left)), ValueRef::Ref(Some(&right))])?;
    heap.drop_ref(left)?;
    heap.drop_ref(right)?;
    Ok(tree)
}

/// [`fast_check`] through the generic API: each child taken with a count (`struct_get`), then
/// dropped.
pub(super) fn generic_check(heap: &mut Heap<()>, tree: &GcRef) -> DrcResult<u64> {
    let mut nodes = 1;
    for field in 0..2 {
        if let Value::Ref(Some(child)) = heap.struct_get(tree, field)? {
            nodes += generic_check(heap, &child)?;
            heap.drop_ref(child)?;
        }
    }
    Ok(nodes)
}

// ---- Rc<RefCell> ---------------------------------------------------------------------------------

struct Node {
    left: Option<Rc<RefCell<Node>>>,
    right: Option<Rc<RefCell<Node>>>,
}

fn rc_bottom_up(depth: u32) -> Rc<RefCell<Node>> {
    let node = if depth == 0 {
        Node { left: None, right: None }
    } else {
        Node { left: Some(rc_bottom_up(depth - 1)), right: Some(rc_bottom_up(depth - 1)) }
    };
    Rc::new(RefCell::new(node))
}

fn rc_check(tree: &Rc<RefCell<Node>>) -> u64 {
    let node = tree.borrow();
    1 + node.left.as_ref().map_or(0, rc_check) + node.right.as_ref().map_or(0, rc_check)
}

struct RcTrees;

impl Trees for RcTrees {
    type Tree = Rc<RefCell<Node>>;
    type Error = std::convert::Infallible;

    fn bottom_up(&mut self, depth: u32) -> Result<Self::Tree, Self::Error> {
        Ok(rc_bottom_up(depth))
    }

    fn check(&mut self, tree: &Self::Tree) -> Result<u64, Self::Error> {
        Ok(rc_check(tree))
    }

    fn drop_tree(&mut self, tree: Self::Tree) -> Result<(), Self::Error> {
        drop(tree);
        Ok(())
    }
}

fn rc(n: u32) -> Outcome {
    let Ok(check) = program(n, &mut RcTrees);
    Outcome { check: Ok(check), drc: None, note: None }
}
