//! Portable tests of the cycle collector ([`crate::cycle_collector`]).
//!
//! Every test sizes its work to the region it is given (at least [`super::MIN_TEST_REGION`])
//! and runs [`Heap::verify`] after every step, passing the words of the references it holds as
//! host roots; `verify` also checks the cycle collector's colours, buffered flags and buffer.
//! Host data is a drop-counting token, so "dropped exactly once" is checked by counting.

use super::{PortableTest, TestResult};
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use crate::{Error, GcRef, Heap, HeapConfig, Progress, Root, TypeIndex, Value, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

/// The cycle collector's table.
pub(super) static CYCLES: &[PortableTest] = &[
    PortableTest { name: "self_loop_is_collected", run: self_loop_is_collected },
    PortableTest { name: "two_node_cycle_is_collected", run: two_node_cycle_is_collected },
    PortableTest { name: "doubly_linked_ring_is_collected", run: doubly_linked_ring_is_collected },
    PortableTest {
        name: "binary_tree_with_parent_pointers_is_collected",
        run: binary_tree_with_parent_pointers_is_collected,
    },
    PortableTest {
        name: "cycle_through_a_ref_array_is_collected_across_chunks",
        run: cycle_through_a_ref_array_is_collected_across_chunks,
    },
    PortableTest {
        name: "cycle_holding_externrefs_drops_each_host_data_once",
        run: cycle_holding_externrefs_drops_each_host_data_once,
    },
    PortableTest {
        name: "cycle_reachable_from_a_global_lives_until_the_global_lets_go",
        run: cycle_reachable_from_a_global_lives_until_the_global_lets_go,
    },
    PortableTest {
        name: "cycle_reachable_from_a_table_lives_until_the_slot_is_cleared",
        run: cycle_reachable_from_a_table_lives_until_the_slot_is_cleared,
    },
    PortableTest {
        name: "cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone",
        run: cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone,
    },
    PortableTest {
        name: "cycle_held_by_a_live_object_lives_until_that_object_dies",
        run: cycle_held_by_a_live_object_lives_until_that_object_dies,
    },
    PortableTest {
        name: "garbage_cycle_referencing_live_objects_leaves_their_counts_right",
        run: garbage_cycle_referencing_live_objects_leaves_their_counts_right,
    },
    PortableTest {
        name: "scan_goes_on_after_a_survivor_among_a_white_objects_references",
        run: scan_goes_on_after_a_survivor_among_a_white_objects_references,
    },
    PortableTest {
        name: "rings_are_collected_by_the_allocation_failure_trigger_alone",
        run: rings_are_collected_by_the_allocation_failure_trigger_alone,
    },
    PortableTest {
        name: "candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation",
        run: candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation,
    },
    PortableTest {
        name: "heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage",
        run: heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage,
    },
    PortableTest {
        name: "collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold",
        run: collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold,
    },
    PortableTest {
        name: "no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it",
        run: no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it,
    },
    PortableTest {
        name: "buffered_objects_freed_by_counting_leave_the_buffer",
        run: buffered_objects_freed_by_counting_leave_the_buffer,
    },
    PortableTest { name: "acyclic_objects_are_never_buffered", run: acyclic_objects_are_never_buffered },
    PortableTest {
        name: "cycle_collection_turned_off_buffers_nothing_and_leaks_cycles",
        run: cycle_collection_turned_off_buffers_nothing_and_leaks_cycles,
    },
    PortableTest {
        name: "collection_with_no_roots_then_collect_cycles_empties_the_heap",
        run: collection_with_no_roots_then_collect_cycles_empties_the_heap,
    },
];

// -------------------------------------------------------------------------------------------
// Helpers.

/// Turns a heap result into a test failure naming the expression and the line.
macro_rules! try_heap {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return Err(alloc::format!("{}:{}: {} failed: {}", file!(), line!(), stringify!($e), error)),
        }
    };
}

/// Runs `verify` with the given owned references as host roots.
macro_rules! verify {
    ($heap:expr, $roots:expr) => {
        try_heap!($heap.verify($roots.iter().map(|r: &&GcRef| r.as_raw_u32())))
    };
}

/// Host data that counts its drops.
struct Token(Rc<Cell<u32>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

type TestHeap = Heap<Token>;

/// Node fields: `[id: i32, next: anyref, prev: anyref]`.
const NEXT: u32 = 1;
const PREV: u32 = 2;
/// Block size of a node (16-byte header + 12 bytes, rounded to 16).
const NODE_BLOCK: usize = 32;

struct Types {
    /// `[id: i32, next: anyref, prev: anyref]`.
    node: TypeIndex,
    /// `[left: anyref, right: anyref, parent: anyref]`.
    tree: TypeIndex,
    /// `array (mut anyref)`.
    refs: TypeIndex,
    /// `[next: anyref, data: externref]`.
    holder: TypeIndex,
    /// `[value: i32]`, final: acyclic.
    leaf: TypeIndex,
    /// `array (mut i8)`: acyclic.
    bytes: TypeIndex,
}

fn any() -> StorageType {
    StorageType::Ref(RefType::nullable(HeapType::Any))
}

fn heap_with(region: &'static mut [u8], config: HeapConfig) -> Result<(TestHeap, Types), String> {
    let mut heap: TestHeap = try_heap!(Heap::with_config(region, config));
    let node = try_heap!(heap.register_struct(StructType::new(&[StorageType::I32, any(), any()])));
    let tree = try_heap!(heap.register_struct(StructType::new(&[any(), any(), any()])));
    let refs = try_heap!(heap.register_array(ArrayType::new(any())));
    let holder = try_heap!(
        heap.register_struct(StructType::new(&[any(), StorageType::Ref(RefType::nullable(HeapType::Extern)),]))
    );
    let leaf = try_heap!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let bytes = try_heap!(heap.register_array(ArrayType::new(StorageType::I8)));
    Ok((heap, Types { node, tree, refs, holder, leaf, bytes }))
}

fn new_heap(region: &'static mut [u8]) -> Result<(TestHeap, Types), String> {
    heap_with(region, HeapConfig::default())
}

fn some(r: &GcRef) -> ValueRef<'_> {
    ValueRef::Ref(Some(r))
}

fn new_node(heap: &mut TestHeap, types: &Types, id: i32) -> Result<GcRef, String> {
    Ok(try_heap!(heap.struct_new(types.node, &[ValueRef::I32(id), ValueRef::Ref(None), ValueRef::Ref(None)])))
}

/// Builds a doubly linked ring of `n` nodes (ids `0..n`) and returns the one owned reference
/// to node 0; no other reference leaves the ring.
fn ring(heap: &mut TestHeap, types: &Types, n: usize) -> Result<GcRef, String> {
    let head = new_node(heap, types, 0)?;
    let mut prev = try_heap!(heap.clone_ref(&head));
    for i in 1..n {
        let next = try_heap!(heap.struct_new(types.node, &[ValueRef::I32(i as i32), ValueRef::Ref(None), some(&prev)]));
        try_heap!(heap.struct_set(&prev, NEXT, some(&next)));
        try_heap!(heap.drop_ref(prev));
        prev = next;
    }
    try_heap!(heap.struct_set(&prev, NEXT, some(&head)));
    try_heap!(heap.struct_set(&head, PREV, some(&prev)));
    try_heap!(heap.drop_ref(prev));
    Ok(head)
}

/// Walks `n` steps along `next` from `start` and checks the ids (the ring is intact).
fn check_ring(heap: &mut TestHeap, start: &GcRef, n: usize) -> TestResult {
    let mut at = try_heap!(heap.clone_ref(start));
    for step in 0..n {
        let id = try_heap!(heap.struct_get(&at, 0));
        ensure!(matches!(id, Value::I32(v) if v as usize == step), "node {step} has id {id:?}");
        let next = match try_heap!(heap.struct_get(&at, NEXT)) {
            Value::Ref(Some(next)) => next,
            other => return Err(format!("node {step}'s next is {other:?}")),
        };
        try_heap!(heap.drop_ref(at));
        at = next;
    }
    ensure!(at.as_raw_u32() == start.as_raw_u32(), "the ring does not close after {n} nodes");
    try_heap!(heap.drop_ref(at));
    Ok(())
}

/// Under Miri (slow), one acyclic byte array that takes all but 8 KiB of the region, so that
/// the tests that fill the region do so with few objects; nothing elsewhere.
fn miri_filler(heap: &mut TestHeap, types: &Types) -> Result<Option<GcRef>, String> {
    if !cfg!(miri) {
        return Ok(None);
    }
    let len = heap.region_len() - 8 * 1024 - 64;
    Ok(Some(try_heap!(heap.array_new(types.bytes, len, ValueRef::I8(0)))))
}

/// Nodes that fit in the free bytes.
fn free_nodes(heap: &TestHeap) -> Result<usize, String> {
    Ok(try_heap!(heap.stats()).free_bytes as usize / NODE_BLOCK)
}

fn live(heap: &TestHeap) -> Result<u64, String> {
    Ok(try_heap!(heap.stats()).live_objects)
}

/// The end of a test: the heap verifies with no host roots and holds no object.
fn ensure_all_freed(heap: &TestHeap) -> TestResult {
    verify!(heap, [] as [&GcRef; 0]);
    ensure!(live(heap)? == 0);
    Ok(())
}

/// Cycle collection only by allocation failure or an explicit call: no threshold or growth
/// trigger, so a test controls exactly when it runs.
fn no_automatic_cycle_collection() -> HeapConfig {
    HeapConfig::default().with_cycle_candidate_threshold(usize::MAX).with_cycle_collection_on_heap_growth(false)
}

/// Nodes of a ring that fills about `share` of the region (at least 1,000 in the smallest).
fn ring_len(heap: &TestHeap, max: usize, share: usize) -> usize {
    let fit = heap.region_len() as usize / NODE_BLOCK / share;
    let n = fit.min(max);
    if cfg!(miri) {
        n.min(100)
    } else {
        n
    }
}

/// Bytes of the payload of a node of a fat ring.
const PAYLOAD_LEN: u32 = 1024;
/// Bytes of a fat node: a tree struct (32) and its byte array (16 + 4 + 1024, rounded).
const FAT_BLOCK: usize = 32 + 1056;

/// A doubly linked ring of `n` tree structs (`left` is `next`, `right` is `prev`), each holding
/// an acyclic byte array of [`PAYLOAD_LEN`] in `parent`: few references, many bytes. Returns
/// the one owned reference to the first.
fn fat_ring(heap: &mut TestHeap, types: &Types, n: usize) -> Result<GcRef, String> {
    let fat_node = |heap: &mut TestHeap, prev: Option<&GcRef>| -> Result<GcRef, String> {
        let payload = try_heap!(heap.array_new(types.bytes, PAYLOAD_LEN, ValueRef::I8(7)));
        let node = try_heap!(heap.struct_new(types.tree, &[ValueRef::Ref(None), ValueRef::Ref(prev), some(&payload)]));
        try_heap!(heap.drop_ref(payload));
        Ok(node)
    };
    let head = fat_node(heap, None)?;
    let mut prev = try_heap!(heap.clone_ref(&head));
    for _ in 1..n {
        let next = fat_node(heap, Some(&prev))?;
        try_heap!(heap.struct_set(&prev, 0, some(&next)));
        try_heap!(heap.drop_ref(prev));
        prev = next;
    }
    try_heap!(heap.struct_set(&prev, 0, some(&head)));
    try_heap!(heap.struct_set(&head, 1, some(&prev)));
    try_heap!(heap.drop_ref(prev));
    Ok(head)
}

/// Walks a fat ring through `next` and checks that it closes after `n` nodes.
fn check_fat_ring(heap: &mut TestHeap, start: &GcRef, n: usize) -> TestResult {
    let mut at = try_heap!(heap.clone_ref(start));
    for step in 0..n {
        let next = match try_heap!(heap.struct_get(&at, 0)) {
            Value::Ref(Some(next)) => next,
            other => return Err(format!("fat node {step}'s next is {other:?}")),
        };
        try_heap!(heap.drop_ref(at));
        at = next;
    }
    ensure!(at.as_raw_u32() == start.as_raw_u32(), "the fat ring does not close after {n} nodes");
    try_heap!(heap.drop_ref(at));
    Ok(())
}

// -------------------------------------------------------------------------------------------
// Shapes of garbage.

fn self_loop_is_collected(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let a = new_node(&mut heap, &types, 7)?;
    verify!(heap, [&a]);
    try_heap!(heap.struct_set(&a, NEXT, some(&a)));
    verify!(heap, [&a]);
    ensure!(try_heap!(heap.ref_count(&a)) == 2);
    try_heap!(heap.drop_ref(a));
    verify!(heap, []);
    ensure!(live(&heap)? == 1, "a self-loop is not freed by counting");
    ensure!(heap.cycle_candidates() == 1, "the decrement to 1 buffered it");
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 1 && report.candidates == 1, "{report:?}");
    ensure!(live(&heap)? == 0 && heap.cycle_candidates() == 0);
    let stats = try_heap!(heap.stats());
    ensure!(stats.cycle_collections == 1 && stats.cycle_objects_freed == 1, "{stats:?}");
    ensure!(stats.free_blocks == 1, "an empty heap is one free block, found {}", stats.free_blocks);
    Ok(())
}

fn two_node_cycle_is_collected(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let a = new_node(&mut heap, &types, 1)?;
    let b = new_node(&mut heap, &types, 2)?;
    try_heap!(heap.struct_set(&a, NEXT, some(&b)));
    verify!(heap, [&a, &b]);
    try_heap!(heap.struct_set(&b, NEXT, some(&a)));
    verify!(heap, [&a, &b]);
    try_heap!(heap.drop_ref(a));
    verify!(heap, [&b]);
    // Only `a` is garbage-free so far: `b` keeps it. A cycle collection frees nothing.
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&b]);
    ensure!(report.objects_freed == 0 && live(&heap)? == 2, "{report:?}");
    try_heap!(heap.drop_ref(b));
    verify!(heap, []);
    ensure!(live(&heap)? == 2);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 2 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn doubly_linked_ring_is_collected(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let n = ring_len(&heap, 10_000, 2);
    ensure!(n >= 1_000 || cfg!(miri), "only {n} nodes fit");
    let head = ring(&mut heap, &types, n)?;
    verify!(heap, [&head]);
    check_ring(&mut heap, &head, n)?;
    verify!(heap, [&head]);
    // Held by the host: a cycle collection keeps all of it.
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&head]);
    ensure!(report.objects_freed == 0 && live(&heap)? == n as u64, "{report:?}");
    check_ring(&mut heap, &head, n)?;
    try_heap!(heap.drop_ref(head));
    verify!(heap, []);
    ensure!(live(&heap)? == n as u64, "the ring leaks until cycle collection");
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == n as u64, "freed {} of {n}", report.objects_freed);
    ensure!(live(&heap)? == 0);
    // Each node is visited once by each of mark gray, scan and gather, and nothing else.
    ensure!(report.objects_scanned == 3 * n as u64, "{report:?}");
    Ok(())
}

fn binary_tree_with_parent_pointers_is_collected(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let mut depth = 1;
    while (1usize << (depth + 2)) * NODE_BLOCK <= heap.region_len() as usize / 2 && depth < 14 {
        depth += 1;
    }
    if cfg!(miri) {
        depth = depth.min(5);
    }
    let nodes = (1u64 << (depth + 1)) - 1;
    let root = try_heap!(heap.struct_new(types.tree, &[ValueRef::Ref(None); 3]));
    let mut level = Vec::new();
    level.push(try_heap!(heap.clone_ref(&root)));
    for _ in 0..depth {
        let mut next = Vec::with_capacity(level.len() * 2);
        for parent in &level {
            for side in 0..2 {
                let child =
                    try_heap!(heap.struct_new(types.tree, &[ValueRef::Ref(None), ValueRef::Ref(None), some(parent)]));
                try_heap!(heap.struct_set(parent, side, some(&child)));
                next.push(child);
            }
        }
        for parent in level.drain(..) {
            try_heap!(heap.drop_ref(parent));
        }
        level = next;
        let roots: Vec<&GcRef> = level.iter().chain([&root]).collect();
        verify!(heap, roots);
    }
    // Drop the leaves: every node is still reachable through parent pointers from the root.
    for leaf in level.drain(..) {
        try_heap!(heap.drop_ref(leaf));
    }
    verify!(heap, [&root]);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&root]);
    ensure!(report.objects_freed == 0 && live(&heap)? == nodes, "{report:?}");
    try_heap!(heap.drop_ref(root));
    verify!(heap, []);
    ensure!(live(&heap)? == nodes);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == nodes && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn cycle_through_a_ref_array_is_collected_across_chunks(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    // Longer than two release chunks (one under Miri, which is slow); every element its own
    // node (under Miri, eight nodes hold ranges of elements).
    let chunk = crate::heap::RELEASE_CHUNK as usize;
    let (len, distinct) = if cfg!(miri) { (chunk + 17, 8) } else { (2 * chunk + 17, 2 * chunk + 17) };
    ensure!(len * (NODE_BLOCK + 4) < heap.region_len() as usize / 2);
    let array = try_heap!(heap.array_new(types.refs, len as u32, ValueRef::Ref(None)));
    for k in 0..distinct {
        // Every node points back at the array, and the array holds every node.
        let (start, end) = (k * len / distinct, (k + 1) * len / distinct);
        let node =
            try_heap!(heap.struct_new(types.node, &[ValueRef::I32(k as i32), some(&array), ValueRef::Ref(None)]));
        try_heap!(heap.array_fill(&array, start as u32, some(&node), (end - start) as u32));
        try_heap!(heap.drop_ref(node));
    }
    verify!(heap, [&array]);
    ensure!(try_heap!(heap.ref_count(&array)) == distinct as u32 + 1);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&array]);
    ensure!(report.objects_freed == 0, "{report:?}");
    try_heap!(heap.drop_ref(array));
    verify!(heap, []);
    ensure!(live(&heap)? == distinct as u64 + 1);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == distinct as u64 + 1 && live(&heap)? == 0, "{report:?}");
    // Mark gray, scan and gather each read every element.
    ensure!(report.references_traced >= 3 * len as u64, "{report:?}");
    Ok(())
}

fn cycle_holding_externrefs_drops_each_host_data_once(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let drops = Rc::new(Cell::new(0));
    let token = || Token(drops.clone());
    let externref = |heap: &mut TestHeap| heap.alloc_externref(token()).map_err(|(error, _)| error);
    // A ring of holders, each holding its own externref; one externref is shared by two
    // holders, and one is also held by the host.
    let n = 50;
    let shared = try_heap!(externref(&mut heap));
    let kept = try_heap!(externref(&mut heap));
    let first = try_heap!(heap.struct_new(types.holder, &[ValueRef::Ref(None), some(&shared)]));
    let mut prev = try_heap!(heap.clone_ref(&first));
    for i in 1..n {
        let data = match i {
            1 => try_heap!(heap.clone_ref(&shared)),
            2 => try_heap!(heap.clone_ref(&kept)),
            _ => try_heap!(externref(&mut heap)),
        };
        let holder = try_heap!(heap.struct_new(types.holder, &[ValueRef::Ref(None), some(&data)]));
        try_heap!(heap.drop_ref(data));
        try_heap!(heap.struct_set(&prev, 0, some(&holder)));
        try_heap!(heap.drop_ref(prev));
        prev = holder;
    }
    try_heap!(heap.struct_set(&prev, 0, some(&first)));
    try_heap!(heap.drop_ref(prev));
    try_heap!(heap.drop_ref(shared));
    verify!(heap, [&first, &kept]);
    // n holders, n - 3 own externrefs, the shared one and the kept one.
    ensure!(heap.host_data_count() == n - 1, "{} host data values", heap.host_data_count());
    ensure!(heap.cycle_candidates() > 0);
    try_heap!(heap.drop_ref(first));
    verify!(heap, [&kept]);
    ensure!(drops.get() == 0, "nothing dropped before cycle collection");
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&kept]);
    // All holders, their n - 3 own externrefs and the shared one; the kept one survives.
    ensure!(report.objects_freed == (n + n - 3 + 1) as u64, "{report:?}");
    ensure!(drops.get() == n as u32 - 2, "{} host data values dropped", drops.get());
    ensure!(heap.host_data_count() == 1 && live(&heap)? == 1);
    try_heap!(heap.drop_ref(kept));
    verify!(heap, []);
    ensure!(drops.get() == n as u32 - 1 && heap.host_data_count() == 0 && live(&heap)? == 0);
    // A second collection finds nothing and drops nothing again.
    let report = try_heap!(heap.collect_cycles());
    ensure!(report.objects_freed == 0 && drops.get() == n as u32 - 1);
    Ok(())
}

// -------------------------------------------------------------------------------------------
// What keeps a cycle alive.

fn cycle_reachable_from_a_global_lives_until_the_global_lets_go(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let n = 100;
    let head = ring(&mut heap, &types, n)?;
    let mut global: Option<GcRef> = None;
    try_heap!(heap.write_gc_ref(&mut global, Some(&head)));
    try_heap!(heap.drop_ref(head));
    let Some(held) = global.as_ref() else { return Err(String::from("the global is empty")) };
    verify!(heap, [held]);
    let report = try_heap!(heap.collect_cycles());
    let Some(held) = global.as_ref() else { return Err(String::from("the global is empty")) };
    verify!(heap, [held]);
    ensure!(report.objects_freed == 0 && live(&heap)? == n as u64, "{report:?}");
    let start = try_heap!(heap.clone_ref(held));
    check_ring(&mut heap, &start, n)?;
    try_heap!(heap.drop_ref(start));
    try_heap!(heap.write_gc_ref(&mut global, None));
    verify!(heap, []);
    ensure!(live(&heap)? == n as u64);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == n as u64 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn cycle_reachable_from_a_table_lives_until_the_slot_is_cleared(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let n = 64;
    let mut table: Vec<Option<GcRef>> = (0..8).map(|_| None).collect();
    let a = ring(&mut heap, &types, n)?;
    let b = ring(&mut heap, &types, n)?;
    try_heap!(heap.write_gc_ref(&mut table[3], Some(&a)));
    try_heap!(heap.write_gc_ref(&mut table[5], Some(&b)));
    // Slot 6 holds a node of ring `a` too (a second root into the same cycle).
    let second = match try_heap!(heap.struct_get(&a, NEXT)) {
        Value::Ref(Some(r)) => r,
        other => return Err(format!("next is {other:?}")),
    };
    try_heap!(heap.write_gc_ref(&mut table[6], Some(&second)));
    try_heap!(heap.drop_ref(second));
    try_heap!(heap.drop_ref(a));
    try_heap!(heap.drop_ref(b));
    let held = |table: &Vec<Option<GcRef>>| table.iter().flatten().map(GcRef::as_raw_u32).collect::<Vec<u32>>();
    try_heap!(heap.verify(held(&table)));
    try_heap!(heap.collect_cycles());
    try_heap!(heap.verify(held(&table)));
    ensure!(live(&heap)? == 2 * n as u64);
    try_heap!(heap.write_gc_ref(&mut table[3], None));
    try_heap!(heap.verify(held(&table)));
    let report = try_heap!(heap.collect_cycles());
    try_heap!(heap.verify(held(&table)));
    ensure!(report.objects_freed == 0 && live(&heap)? == 2 * n as u64, "slot 6 still holds ring a: {report:?}");
    try_heap!(heap.write_gc_ref(&mut table[6], None));
    try_heap!(heap.verify(held(&table)));
    let report = try_heap!(heap.collect_cycles());
    try_heap!(heap.verify(held(&table)));
    ensure!(report.objects_freed == n as u64 && live(&heap)? == n as u64, "{report:?}");
    try_heap!(heap.write_gc_ref(&mut table[5], None));
    let report = try_heap!(heap.collect_cycles());
    try_heap!(heap.verify(held(&table)));
    ensure!(report.objects_freed == n as u64 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let n = 100;
    let head = ring(&mut heap, &types, n)?;
    let word = head.as_raw_u32();
    // Wasm takes the reference: the activations table owns its count now.
    try_heap!(heap.expose_gc_ref_to_wasm(head));
    verify!(heap, []);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 0 && live(&heap)? == n as u64, "{report:?}");
    try_heap!(heap.collect_all([Root::wasm_stack(word)]));
    verify!(heap, []);
    ensure!(heap.activations_table_len() == 1);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 0 && live(&heap)? == n as u64, "still on the stack: {report:?}");
    // Off the stack: the collection releases the table's count, and the ring is garbage.
    try_heap!(heap.collect_all([]));
    verify!(heap, []);
    ensure!(heap.activations_table_len() == 0 && live(&heap)? == n as u64);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == n as u64 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn cycle_held_by_a_live_object_lives_until_that_object_dies(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let n = 100;
    let head = ring(&mut heap, &types, n)?;
    // An array the host holds points into the ring.
    let owner = try_heap!(heap.array_new(types.refs, 3, ValueRef::Ref(None)));
    try_heap!(heap.array_set(&owner, 1, some(&head)));
    try_heap!(heap.drop_ref(head));
    verify!(heap, [&owner]);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&owner]);
    ensure!(report.objects_freed == 0 && live(&heap)? == n as u64 + 1, "{report:?}");
    let start = match try_heap!(heap.array_get(&owner, 1)) {
        Value::Ref(Some(r)) => r,
        other => return Err(format!("element 1 is {other:?}")),
    };
    check_ring(&mut heap, &start, n)?;
    try_heap!(heap.drop_ref(start));
    // The owner dies by counting and releases its reference into the ring.
    try_heap!(heap.drop_ref(owner));
    verify!(heap, []);
    ensure!(live(&heap)? == n as u64);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == n as u64 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn garbage_cycle_referencing_live_objects_leaves_their_counts_right(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    // A live ring and a live acyclic leaf, both held by the host; a garbage ring whose every
    // node points (through `prev` of one node, and an array) at them.
    let survivor = ring(&mut heap, &types, 10)?;
    let leaf = try_heap!(heap.struct_new(types.leaf, &[ValueRef::I32(5)]));
    let garbage = ring(&mut heap, &types, 10)?;
    let array = try_heap!(heap.array_new_fixed(types.refs, &[some(&survivor), some(&leaf), some(&garbage)]));
    let extra = try_heap!(heap.struct_new(types.node, &[ValueRef::I32(99), some(&garbage), some(&array)]));
    // Route the ring through `extra` and the array: last -> extra -> head, extra -> array ->
    // head. All twelve are garbage once the host lets go.
    let last = match try_heap!(heap.struct_get(&garbage, PREV)) {
        Value::Ref(Some(r)) => r,
        other => return Err(format!("prev is {other:?}")),
    };
    try_heap!(heap.struct_set(&last, NEXT, some(&extra)));
    try_heap!(heap.drop_ref(last));
    try_heap!(heap.drop_ref(extra));
    try_heap!(heap.drop_ref(array));
    try_heap!(heap.drop_ref(garbage));
    verify!(heap, [&survivor, &leaf]);
    let before = live(&heap)?;
    let survivor_count = try_heap!(heap.ref_count(&survivor));
    let leaf_count = try_heap!(heap.ref_count(&leaf));
    let report = try_heap!(heap.collect_cycles());
    // Exact counts: the survivors lost exactly the references the garbage held.
    verify!(heap, [&survivor, &leaf]);
    ensure!(report.objects_freed == 12 && live(&heap)? == before - 12, "{report:?}");
    ensure!(try_heap!(heap.ref_count(&survivor)) == survivor_count - 1);
    ensure!(try_heap!(heap.ref_count(&leaf)) == leaf_count - 1);
    check_ring(&mut heap, &survivor, 10)?;
    try_heap!(heap.drop_ref(leaf));
    try_heap!(heap.drop_ref(survivor));
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 10 && live(&heap)? == 0, "{report:?}");
    Ok(())
}

fn scan_goes_on_after_a_survivor_among_a_white_objects_references(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    // array = [live, x, y], x.next = array, y.next = array; only `live` is held by the host.
    let live_node = new_node(&mut heap, &types, 1)?;
    let array = try_heap!(heap.array_new(types.refs, 3, ValueRef::Ref(None)));
    try_heap!(heap.array_set(&array, 0, some(&live_node)));
    for i in 1..3 {
        let node = try_heap!(heap.struct_new(types.node, &[ValueRef::I32(i), some(&array), ValueRef::Ref(None)]));
        try_heap!(heap.array_set(&array, i as u32, some(&node)));
        try_heap!(heap.drop_ref(node));
    }
    verify!(heap, [&live_node, &array]);
    // While the array is held, a collection scans everything black and empties the buffer, so
    // that afterwards the array is the only candidate: x and y are reached only through it,
    // after the survivor.
    try_heap!(heap.collect_cycles());
    verify!(heap, [&live_node, &array]);
    ensure!(heap.cycle_candidates() == 0);
    try_heap!(heap.drop_ref(array));
    verify!(heap, [&live_node]);
    ensure!(heap.cycle_candidates() == 1);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&live_node]);
    ensure!(report.objects_freed == 3 && live(&heap)? == 1, "{report:?}");
    ensure!(try_heap!(heap.ref_count(&live_node)) == 1);
    try_heap!(heap.drop_ref(live_node));
    ensure_all_freed(&heap)
}

// -------------------------------------------------------------------------------------------
// Triggers.

fn rings_are_collected_by_the_allocation_failure_trigger_alone(region: &'static mut [u8]) -> TestResult {
    // No threshold or growth trigger, no collection, no explicit call: only a failed
    // allocation collects.
    let config = no_automatic_cycle_collection();
    let (mut heap, types) = heap_with(region, config)?;
    let filler = miri_filler(&mut heap, &types)?;
    let held: Vec<&GcRef> = filler.iter().collect();
    let capacity = free_nodes(&heap)?;
    let n = (capacity / 5).min(10_000);
    // Three times the free memory (under Miri, just past it: enough for one failure).
    let goal = if cfg!(miri) { capacity + 2 * n } else { 3 * capacity };
    let mut allocated = held.len();
    while allocated < goal + held.len() {
        let head = ring(&mut heap, &types, n)?;
        let mut roots = held.clone();
        roots.push(&head);
        verify!(heap, roots);
        check_ring(&mut heap, &head, n)?;
        try_heap!(heap.drop_ref(head));
        verify!(heap, held);
        allocated += n;
    }
    let stats = try_heap!(heap.stats());
    ensure!(stats.collections == 0, "{stats:?}");
    ensure!(stats.cycle_collections >= 1, "more than the region was allocated: {stats:?}");
    ensure!(stats.objects_allocated as usize == allocated);
    ensure!(stats.cycle_objects_freed + stats.live_objects == stats.objects_allocated, "{stats:?}");
    Ok(())
}

fn candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation(region: &'static mut [u8]) -> TestResult {
    let threshold = 64;
    let (mut heap, types) = heap_with(region, HeapConfig::default().with_cycle_candidate_threshold(threshold))?;
    // Building a ring of 40 buffers each node once (when the host drops its reference to it).
    let first = ring(&mut heap, &types, 40)?;
    verify!(heap, [&first]);
    try_heap!(heap.drop_ref(first));
    verify!(heap, []);
    ensure!(heap.cycle_candidates() == 40, "{} candidates", heap.cycle_candidates());
    ensure!(try_heap!(heap.stats()).cycle_collections == 0, "40 candidates are not over 64");
    // Building a second ring passes 64 candidates after 25 of its nodes: the next allocation
    // collects the first ring (and scans the part of the second that exists, which survives).
    let second = ring(&mut heap, &types, 40)?;
    verify!(heap, [&second]);
    let stats = try_heap!(heap.stats());
    ensure!(stats.cycle_collections == 1 && stats.cycle_objects_freed == 40, "{stats:?}");
    ensure!(stats.live_objects == 40, "{stats:?}");
    check_ring(&mut heap, &second, 40)?;
    try_heap!(heap.drop_ref(second));
    verify!(heap, []);
    try_heap!(heap.collect_cycles());
    ensure_all_freed(&heap)
}

fn heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage(
    region: &'static mut [u8],
) -> TestResult {
    // Only the growth trigger: the candidate threshold is out of reach.
    let (mut heap, types) = heap_with(region, HeapConfig::default().with_cycle_candidate_threshold(usize::MAX))?;
    // A ring of 1/8 of the region (of few big objects): over the growth trigger's floor of
    // 1/16.
    let n = heap.region_len() as usize / 8 / FAT_BLOCK;
    let first = fat_ring(&mut heap, &types, n)?;
    // While the ring is held, a cycle collection keeps all of it and empties the buffer; the
    // growth trigger is now twice the live bytes.
    try_heap!(heap.collect_cycles());
    verify!(heap, [&first]);
    let collections = try_heap!(heap.stats()).cycle_collections;
    try_heap!(heap.drop_ref(first));
    verify!(heap, []);
    ensure!(heap.cycle_candidates() == 1, "the whole ring hangs on one candidate");
    // A second ring of the same size doubles the live bytes (the first is garbage); the
    // allocation after that collects the first ring.
    let second = fat_ring(&mut heap, &types, n)?;
    verify!(heap, [&second]);
    ensure!(try_heap!(heap.stats()).cycle_collections == collections, "no growth yet");
    let mut leaves = Vec::new();
    while try_heap!(heap.stats()).cycle_collections == collections {
        ensure!(leaves.len() < 4, "the heap grew past twice its size without a cycle collection");
        leaves.push(try_heap!(heap.struct_new(types.leaf, &[ValueRef::I32(0)])));
    }
    let mut roots: Vec<&GcRef> = leaves.iter().collect();
    roots.push(&second);
    verify!(heap, roots);
    let stats = try_heap!(heap.stats());
    // The first ring's nodes and their payloads.
    ensure!(stats.cycle_objects_freed == 2 * n as u64, "{stats:?}");
    ensure!(stats.live_objects == (2 * n + leaves.len()) as u64, "{stats:?}");
    check_fat_ring(&mut heap, &second, n)?;
    for leaf in leaves {
        try_heap!(heap.drop_ref(leaf));
    }
    try_heap!(heap.drop_ref(second));
    try_heap!(heap.collect_cycles());
    ensure_all_freed(&heap)
}

fn collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = heap_with(region, HeapConfig::default().with_cycle_candidate_threshold(usize::MAX))?;
    // Rings of 8 held only by Wasm frames.
    let mut words = Vec::new();
    for _ in 0..16 {
        let head = ring(&mut heap, &types, 8)?;
        words.push(head.as_raw_u32());
        try_heap!(heap.expose_gc_ref_to_wasm(head));
    }
    verify!(heap, []);
    try_heap!(heap.collect_all(words.iter().map(|&w| Root::wasm_stack(w))));
    verify!(heap, []);
    ensure!(live(&heap)? == 16 * 8, "everything is still on the stack");
    ensure!(try_heap!(heap.stats()).cycle_collections == 0);
    let threshold = 32;
    heap.set_cycle_candidate_threshold(threshold);
    ensure!(heap.cycle_candidates() > threshold, "{} candidates", heap.cycle_candidates());
    // Every ring leaves the stack: the sweep releases the table's counts, and the cycle phase
    // runs because the buffer is over the threshold.
    let mut collection = try_heap!(heap.collect([]));
    let mut steps = 0;
    while try_heap!(collection.step()) == Progress::Continue {
        steps += 1;
        ensure!(steps < 100, "the collection does not complete");
    }
    verify!(heap, []);
    let stats = try_heap!(heap.stats());
    ensure!(stats.cycle_collections == 1 && stats.collections == 2, "{stats:?}");
    ensure!(stats.live_objects == 0 && stats.cycle_objects_freed == 16 * 8, "{stats:?}");
    Ok(())
}

fn no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it(region: &'static mut [u8]) -> TestResult {
    let config = no_automatic_cycle_collection();
    let (mut heap, types) = heap_with(region, config)?;
    let mut held: Vec<GcRef> = miri_filler(&mut heap, &types)?.into_iter().collect();
    let filler_objects = held.len() as u64;
    let n = free_nodes(&heap)? / 3;
    let head = ring(&mut heap, &types, n)?;
    try_heap!(heap.drop_ref(head));
    verify!(heap, held.iter().collect::<Vec<_>>());
    heap.enter_no_gc_scope();
    match heap.collect_cycles() {
        Err(Error::InNoGcScope) => {}
        other => return Err(format!("collect_cycles in a no-GC scope gave {other:?}")),
    }
    ensure!(live(&heap)? == n as u64 + filler_objects && heap.cycle_candidates() > 0);
    // Fill the rest of the region: the failing allocation must not collect the garbage ring.
    let failure = loop {
        match heap.struct_new(types.leaf, &[ValueRef::I32(0)]) {
            Ok(r) => held.push(r),
            Err(error) => break error,
        }
    };
    ensure!(matches!(failure, Error::OutOfMemory { .. }), "{failure:?}");
    ensure!(try_heap!(heap.stats()).cycle_collections == 0);
    verify!(heap, held.iter().collect::<Vec<_>>());
    try_heap!(heap.exit_no_gc_scope());
    // Outside the scope the same allocation collects the ring and succeeds.
    let one_more = try_heap!(heap.struct_new(types.leaf, &[ValueRef::I32(1)]));
    held.push(one_more);
    verify!(heap, held.iter().collect::<Vec<_>>());
    let stats = try_heap!(heap.stats());
    ensure!(stats.cycle_collections == 1 && stats.cycle_objects_freed == n as u64, "{stats:?}");
    for r in held {
        try_heap!(heap.drop_ref(r));
    }
    ensure_all_freed(&heap)
}

// -------------------------------------------------------------------------------------------
// The buffer.

fn buffered_objects_freed_by_counting_leave_the_buffer(region: &'static mut [u8]) -> TestResult {
    // No automatic cycle collection: the test counts the candidates exactly.
    let config = no_automatic_cycle_collection();
    let (mut heap, types) = heap_with(region, config)?;
    // A singly linked list built from the tail: each node is buffered when the host drops its
    // reference to the node after it (count 2 -> 1).
    let n = ring_len(&heap, 5_000, 3);
    let mut head = new_node(&mut heap, &types, 0)?;
    for i in 1..n {
        let node = try_heap!(heap.struct_new(types.node, &[ValueRef::I32(i as i32), some(&head), ValueRef::Ref(None)]));
        try_heap!(heap.drop_ref(head));
        head = node;
    }
    verify!(heap, [&head]);
    ensure!(heap.cycle_candidates() == n - 1, "{} candidates", heap.cycle_candidates());
    // Freeing the list by counting takes every node out of the buffer (in list order, which
    // is the reverse of the order they were buffered in).
    try_heap!(heap.drop_ref(head));
    verify!(heap, []);
    ensure!(heap.cycle_candidates() == 0 && live(&heap)? == 0);
    // The same in an interleaved order: two lists built together, one dropped.
    let mut a = new_node(&mut heap, &types, 0)?;
    let mut b = new_node(&mut heap, &types, 0)?;
    for i in 1..n / 2 {
        for list in [&mut a, &mut b] {
            let node =
                try_heap!(heap.struct_new(types.node, &[ValueRef::I32(i as i32), some(list), ValueRef::Ref(None)]));
            let old = core::mem::replace(list, node);
            try_heap!(heap.drop_ref(old));
        }
    }
    verify!(heap, [&a, &b]);
    try_heap!(heap.drop_ref(a));
    verify!(heap, [&b]);
    ensure!(heap.cycle_candidates() == n / 2 - 1, "{} candidates", heap.cycle_candidates());
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&b]);
    ensure!(report.objects_freed == 0 && heap.cycle_candidates() == 0, "{report:?}");
    try_heap!(heap.drop_ref(b));
    ensure_all_freed(&heap)
}

fn acyclic_objects_are_never_buffered(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let drops = Rc::new(Cell::new(0));
    let leaf = try_heap!(heap.struct_new(types.leaf, &[ValueRef::I32(3)]));
    let ext = match heap.alloc_externref(Token(drops.clone())) {
        Ok(r) => r,
        Err((error, _)) => return Err(format!("{error}")),
    };
    let mut clones = Vec::new();
    for _ in 0..10 {
        clones.push(try_heap!(heap.clone_ref(&leaf)));
        clones.push(try_heap!(heap.clone_ref(&ext)));
    }
    for r in clones.drain(..) {
        try_heap!(heap.drop_ref(r));
    }
    verify!(heap, [&leaf, &ext]);
    ensure!(heap.cycle_candidates() == 0, "{} candidates", heap.cycle_candidates());
    ensure!(try_heap!(heap.stats()).cycle_candidates_buffered == 0);
    try_heap!(heap.drop_ref(leaf));
    try_heap!(heap.drop_ref(ext));
    verify!(heap, []);
    ensure!(drops.get() == 1 && live(&heap)? == 0);
    Ok(())
}

fn cycle_collection_turned_off_buffers_nothing_and_leaks_cycles(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = heap_with(region, HeapConfig::default().with_cycle_collection(false))?;
    let head = ring(&mut heap, &types, 100)?;
    verify!(heap, [&head]);
    ensure!(heap.cycle_candidates() == 0);
    try_heap!(heap.drop_ref(head));
    verify!(heap, []);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == 0 && live(&heap)? == 100, "{report:?}");
    ensure!(try_heap!(heap.stats()).cycle_candidates_buffered == 0);
    Ok(())
}

fn collection_with_no_roots_then_collect_cycles_empties_the_heap(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let drops = Rc::new(Cell::new(0));
    // A mix: rings held by the host, by Wasm, by an array; a tree with parent pointers; an
    // externref in a cycle; plain acyclic garbage.
    let mut held = Vec::new();
    for i in 0..6 {
        let head = ring(&mut heap, &types, 10 + i)?;
        if i % 2 == 0 {
            held.push(head);
        } else {
            try_heap!(heap.expose_gc_ref_to_wasm(head));
        }
    }
    let array = try_heap!(heap.array_new(types.refs, 4, ValueRef::Ref(None)));
    let r = ring(&mut heap, &types, 7)?;
    try_heap!(heap.array_set(&array, 2, some(&r)));
    try_heap!(heap.drop_ref(r));
    held.push(array);
    let ext = match heap.alloc_externref(Token(drops.clone())) {
        Ok(r) => r,
        Err((error, _)) => return Err(format!("{error}")),
    };
    let holder = try_heap!(heap.struct_new(types.holder, &[ValueRef::Ref(None), some(&ext)]));
    try_heap!(heap.struct_set(&holder, 0, some(&holder)));
    try_heap!(heap.drop_ref(ext));
    held.push(holder);
    verify!(heap, held.iter().collect::<Vec<_>>());
    // The end state of a program: the host lets go of everything, Wasm has returned.
    for r in held.drain(..) {
        try_heap!(heap.drop_ref(r));
    }
    try_heap!(heap.collect_all([]));
    verify!(heap, []);
    try_heap!(heap.collect_cycles());
    verify!(heap, []);
    let stats = try_heap!(heap.stats());
    ensure!(stats.live_objects == 0 && stats.host_data_values == 0, "{stats:?}");
    ensure!(drops.get() == 1);
    ensure!(stats.free_blocks == 1, "one free block again: {stats:?}");
    Ok(())
}
