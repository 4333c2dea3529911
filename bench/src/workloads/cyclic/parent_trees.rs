//! The cyclic workload of binary trees with parent pointers: its parameters, its program (one per
//! implementation behind a trait), and the drc-heap, `Rc<RefCell>` and `bacon_rajan_cc`
//! implementations.

use super::*;

#[derive(Clone, Copy)]
pub(super) struct TreeParams {
    pub(super) depth: u32,
    pub(super) trees: u32,
    pub(super) window: usize,
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

pub(super) fn parent_trees(p: TreeParams, region: usize) -> Workload {
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
