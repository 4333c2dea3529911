//! The cyclic workload of random graphs: its parameters, its program (one per
//! implementation behind a trait), and the drc-heap, `Rc<RefCell>` and `bacon_rajan_cc`
//! implementations.

use super::*;

#[derive(Clone, Copy)]
pub(super) struct GraphParams {
    pub(super) nodes: u32,
    pub(super) edges: u32,
    pub(super) graphs: u32,
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

pub(super) fn random_graph(p: GraphParams, region: usize) -> Workload {
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
