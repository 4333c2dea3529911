//! GCBench (Ellis, Kovac, Boehm), standard parameters: node {left, right, i, j}; a stretch tree
//! of depth 18; a long-lived tree of depth 16 (built top-down); an array of 500000 doubles whose
//! first half is set to 1/i; then for d = 4, 6, ..., 16, NumIters(d) = 2 * TreeSize(18) /
//! TreeSize(d) trees built top-down (Populate) and as many bottom-up (MakeTree), each dropped at
//! once; finally the long-lived tree and `array[1000] == 1/1000` are checked.
//!
//! Checks (folded into one number): the node count of the stretch tree, of the first top-down
//! and the first bottom-up tree of every depth, and of the long-lived tree at the end; whether
//! `array[1000]` is 1/1000.
//!
//! Top-down construction (Populate) allocates a node's two children, populates them, then links
//! them into the node. GCBench links first and populates through the fields; the allocation
//! order, the trees and their lifetimes are the same, and every implementation does it the same
//! way, so the owned children can be moved into the fields.

use super::binary_trees::{fast_check, fold, generic_check};
use super::{drc_heap, drc_outcome, DrcResult, Implementation, Outcome, Workload, REGION_BYTES};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, TypeIndex, Value, ValueRef};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Copy)]
pub struct Params {
    stretch: u32,
    long_lived: u32,
    array: u32,
    min: u32,
    max: u32,
}

const STANDARD: Params = Params { stretch: 18, long_lived: 16, array: 500_000, min: 4, max: 16 };
const QUICK: Params = Params { stretch: 12, long_lived: 10, array: 5_000, min: 4, max: 10 };

fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

fn iterations(p: Params, depth: u32) -> u64 {
    2 * tree_size(p.stretch) / tree_size(depth)
}

fn expected(p: Params) -> u64 {
    let mut digest = fold(0, tree_size(p.stretch));
    for d in (p.min..=p.max).step_by(2) {
        digest = fold(digest, tree_size(d));
        digest = fold(digest, tree_size(d));
    }
    digest = fold(digest, tree_size(p.long_lived));
    fold(digest, 1)
}

pub fn workload(quick: bool) -> Workload {
    let p = if quick { QUICK } else { STANDARD };
    let nodes: u64 = tree_size(p.stretch)
        + tree_size(p.long_lived)
        + (p.min..=p.max).step_by(2).map(|d| 2 * iterations(p, d) * tree_size(d)).sum::<u64>();
    Workload {
        name: "GCBench".to_string(),
        description: format!(
            "GCBench: stretch depth {}, long-lived depth {}, array of {} doubles, depths {}..={} step 2 \
             ({nodes} nodes allocated in all).",
            p.stretch, p.long_lived, p.array, p.min, p.max
        ),
        expected: expected(p),
        implementations: vec![
            Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc::<true>(p)) },
            Implementation { name: "drc-heap (generic API)", reference: false, run: Box::new(move || drc::<false>(p)) },
            Implementation { name: "Rc<RefCell>", reference: false, run: Box::new(move || rc(p)) },
        ],
        notes: vec!["drc-heap: node = struct {left, right: ref null struct, i, j: i32}; the array is an f64 \
             array (set through scalar_array_mut in the drc-heap row, array_set in the generic one). \
             The drc-heap row moves children in (struct_new_owned, struct_set_owned) and counts nodes \
             through struct views (one validation per node, children borrowed); the generic-API row \
             uses struct_set with a borrowed child, then drop_ref, and struct_get/drop_ref to count."
            .to_string()],
    }
}

/// What GCBench needs from a heap.
trait Gc {
    type Node;
    type Array;
    type Error;
    fn new_node(&mut self, children: Option<(Self::Node, Self::Node)>) -> Result<Self::Node, Self::Error>;
    fn link(&mut self, node: &Self::Node, left: Self::Node, right: Self::Node) -> Result<(), Self::Error>;
    fn count(&mut self, node: &Self::Node) -> Result<u64, Self::Error>;
    fn drop_node(&mut self, node: Self::Node) -> Result<(), Self::Error>;
    fn new_array(&mut self, len: u32) -> Result<Self::Array, Self::Error>;
    /// Sets `array[i] = 1 / i` for `i` in `0..count`.
    fn set_reciprocals(&mut self, array: &Self::Array, count: u32) -> Result<(), Self::Error>;
    fn array_get(&mut self, array: &Self::Array, i: u32) -> Result<f64, Self::Error>;
    fn drop_array(&mut self, array: Self::Array) -> Result<(), Self::Error>;
}

fn populate<G: Gc>(gc: &mut G, depth: u32, node: &G::Node) -> Result<(), G::Error> {
    if depth == 0 {
        return Ok(());
    }
    let left = gc.new_node(None)?;
    let right = gc.new_node(None)?;
    populate(gc, depth - 1, &left)?;
    populate(gc, depth - 1, &right)?;
    gc.link(node, left, right)
}

fn make_tree<G: Gc>(gc: &mut G, depth: u32) -> Result<G::Node, G::Error> {
    if depth == 0 {
        return gc.new_node(None);
    }
    let left = make_tree(gc, depth - 1)?;
    let right = make_tree(gc, depth - 1)?;
    gc.new_node(Some((left, right)))
}

fn program<G: Gc>(gc: &mut G, p: Params) -> Result<u64, G::Error> {
    let stretch = make_tree(gc, p.stretch)?;
    let mut digest = fold(0, gc.count(&stretch)?);
    gc.drop_node(stretch)?;

    let long_lived = gc.new_node(None)?;
    populate(gc, p.long_lived, &long_lived)?;
    let array = gc.new_array(p.array)?;
    gc.set_reciprocals(&array, p.array / 2)?;

    for depth in (p.min..=p.max).step_by(2) {
        let n = iterations(p, depth);
        for i in 0..n {
            let tree = gc.new_node(None)?;
            populate(gc, depth, &tree)?;
            if i == 0 {
                digest = fold(digest, gc.count(&tree)?);
            }
            gc.drop_node(tree)?;
        }
        for i in 0..n {
            let tree = make_tree(gc, depth)?;
            if i == 0 {
                digest = fold(digest, gc.count(&tree)?);
            }
            gc.drop_node(tree)?;
        }
    }
    digest = fold(digest, gc.count(&long_lived)?);
    let ok = gc.array_get(&array, 1000)? == 1.0 / 1000.0;
    digest = fold(digest, ok as u64);
    gc.drop_node(long_lived)?;
    gc.drop_array(array)?;
    Ok(digest)
}

// ---- drc-heap ----------------------------------------------------------------------------------

struct Drc<const FAST: bool> {
    heap: Heap<()>,
    node: TypeIndex,
    doubles: TypeIndex,
}

impl<const FAST: bool> Gc for Drc<FAST> {
    type Node = GcRef;
    type Array = GcRef;
    type Error = drc_heap::Error;

    fn new_node(&mut self, children: Option<(GcRef, GcRef)>) -> DrcResult<GcRef> {
        let (left, right) = match children {
            Some((left, right)) => (Some(left), Some(right)),
            None => (None, None),
        };
        if FAST {
            let fields = [Value::Ref(left), Value::Ref(right), Value::I32(0), Value::I32(0)];
            return self.heap.struct_new_owned(self.node, fields).map_err(|(error, _)| error);
        }
        let fields = [ValueRef::Ref(left.as_ref()), ValueRef::Ref(right.as_ref()), ValueRef::I32(0), ValueRef::I32(0)];
        let node = self.heap.struct_new(self.node, &fields)?;
        for child in [left, right].into_iter().flatten() {
            self.heap.drop_ref(child)?;
        }
        Ok(node)
    }

    fn link(&mut self, node: &GcRef, left: GcRef, right: GcRef) -> DrcResult<()> {
        if FAST {
            self.heap.struct_set_owned(node, 0, Value::Ref(Some(left)))?;
            return self.heap.struct_set_owned(node, 1, Value::Ref(Some(right)));
        }
        self.heap.struct_set(node, 0, ValueRef::Ref(Some(&left)))?;
        self.heap.struct_set(node, 1, ValueRef::Ref(Some(&right)))?;
        self.heap.drop_ref(left)?;
        self.heap.drop_ref(right)
    }

    fn count(&mut self, node: &GcRef) -> DrcResult<u64> {
        if FAST {
            fast_check(&self.heap, node)
        } else {
            generic_check(&mut self.heap, node)
        }
    }

    fn drop_node(&mut self, node: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(node)
    }

    fn new_array(&mut self, len: u32) -> DrcResult<GcRef> {
        self.heap.array_new(self.doubles, len, ValueRef::F64(0.0))
    }

    fn set_reciprocals(&mut self, array: &GcRef, count: u32) -> DrcResult<()> {
        if FAST {
            let mut elements = self.heap.scalar_array_mut(array)?;
            for i in 0..count {
                elements.set_f64(i, 1.0 / i as f64)?;
            }
            return Ok(());
        }
        for i in 0..count {
            self.heap.array_set(array, i, ValueRef::F64(1.0 / i as f64))?;
        }
        Ok(())
    }

    fn array_get(&mut self, array: &GcRef, i: u32) -> DrcResult<f64> {
        let value = if FAST { self.heap.array_get_scalar(array, i)? } else { self.heap.array_get(array, i)? };
        match value {
            Value::F64(x) => Ok(x),
            other => Err(drc_heap::Error::TypeMismatch { expected: "f64", found: other.type_name() }),
        }
    }

    fn drop_array(&mut self, array: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(array)
    }
}

fn drc<const FAST: bool>(p: Params) -> Outcome {
    let mut heap: Heap<()> = drc_heap(REGION_BYTES, true);
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let types = heap
        .register_struct(StructType::new(&[link, link, StorageType::I32, StorageType::I32]))
        .and_then(|node| Ok((node, heap.register_array(ArrayType::new(StorageType::F64))?)));
    let (node, doubles) = match types {
        Ok(types) => types,
        Err(error) => return drc_outcome(&heap, Err(error)),
    };
    let mut gc = Drc::<FAST> { heap, node, doubles };
    let result = program(&mut gc, p);
    drc_outcome(&gc.heap, result)
}

// ---- Rc<RefCell> ---------------------------------------------------------------------------------

#[derive(Default)]
struct Node {
    left: Option<Rc<RefCell<Node>>>,
    right: Option<Rc<RefCell<Node>>>,
    #[allow(dead_code)]
    i: i32,
    #[allow(dead_code)]
    j: i32,
}

struct RcGc;

fn rc_count(node: &Rc<RefCell<Node>>) -> u64 {
    let node = node.borrow();
    1 + node.left.as_ref().map_or(0, rc_count) + node.right.as_ref().map_or(0, rc_count)
}

impl Gc for RcGc {
    type Node = Rc<RefCell<Node>>;
    type Array = Rc<RefCell<Vec<f64>>>;
    type Error = std::convert::Infallible;

    fn new_node(&mut self, children: Option<(Self::Node, Self::Node)>) -> Result<Self::Node, Self::Error> {
        let node = match children {
            Some((left, right)) => Node { left: Some(left), right: Some(right), i: 0, j: 0 },
            None => Node::default(),
        };
        Ok(Rc::new(RefCell::new(node)))
    }

    fn link(&mut self, node: &Self::Node, left: Self::Node, right: Self::Node) -> Result<(), Self::Error> {
        let mut node = node.borrow_mut();
        node.left = Some(left);
        node.right = Some(right);
        Ok(())
    }

    fn count(&mut self, node: &Self::Node) -> Result<u64, Self::Error> {
        Ok(rc_count(node))
    }

    fn drop_node(&mut self, node: Self::Node) -> Result<(), Self::Error> {
        drop(node);
        Ok(())
    }

    fn new_array(&mut self, len: u32) -> Result<Self::Array, Self::Error> {
        Ok(Rc::new(RefCell::new(vec![0.0; len as usize])))
    }

    fn set_reciprocals(&mut self, array: &Self::Array, count: u32) -> Result<(), Self::Error> {
        let mut array = array.borrow_mut();
        for i in 0..count {
            array[i as usize] = 1.0 / i as f64;
        }
        Ok(())
    }

    fn array_get(&mut self, array: &Self::Array, i: u32) -> Result<f64, Self::Error> {
        Ok(array.borrow()[i as usize])
    }

    fn drop_array(&mut self, array: Self::Array) -> Result<(), Self::Error> {
        drop(array);
        Ok(())
    }
}

fn rc(p: Params) -> Outcome {
    let Ok(check) = program(&mut RcGc, p);
    Outcome { check: Ok(check), drc: None, note: None }
}
