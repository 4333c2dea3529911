//! Cycle collector tests of the shapes of garbage: a self-loop, a two-node cycle, a doubly
//! linked ring, a binary tree with parent pointers, a cycle through a reference array longer
//! than the release chunks, a cycle holding externrefs (each host data dropped once), and
//! garbage with and without references to acyclic objects in one collection.

use super::helpers::{
    check_ring, ensure_all_freed, heap_with, live, new_heap, new_node, no_automatic_cycle_collection, ring, ring_len,
    some, TestHeap, Token, NEXT, NODE_BLOCK,
};
use crate::portable_tests::TestResult;
use crate::zeal::Zeal;
use crate::{GcRef, HeapConfig, ValueRef};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;

pub(super) fn self_loop_is_collected(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn two_node_cycle_is_collected(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn doubly_linked_ring_is_collected(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn binary_tree_with_parent_pointers_is_collected(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn cycle_through_a_ref_array_is_collected_across_chunks(region: &'static mut [u8]) -> TestResult {
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
    // Mark gray reads every element and both fields of every node, once; collect roots reads
    // the elements again (a reference array may hold acyclic objects, released through
    // `release`); nothing else reads a reference.
    ensure!(report.references_traced == 2 * len as u64 + 2 * distinct as u64, "{report:?}");
    Ok(())
}

pub(super) fn cycle_holding_externrefs_drops_each_host_data_once(region: &'static mut [u8]) -> TestResult {
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

/// One collection whose garbage mixes cycles that hold acyclic objects (an externref) with
/// cycles that do not, next to a live ring: the collector releases the acyclic references
/// before it frees any garbage block, and frees each garbage object once (the adjacent ones
/// of a ring as one block).
pub(super) fn mixed_garbage_with_and_without_acyclic_references_is_collected(region: &'static mut [u8]) -> TestResult {
    let (mut heap, types) = new_heap(region)?;
    let drops = Rc::new(Cell::new(0));
    let n = 20;
    let kept = ring(&mut heap, &types, n)?;
    let garbage = ring(&mut heap, &types, n)?;
    try_heap!(heap.drop_ref(garbage));
    // Two holders pointing at each other, the first holding an externref.
    let data = try_heap!(heap.alloc_externref(Token(drops.clone())).map_err(|(error, _)| error));
    let first = try_heap!(heap.struct_new(types.holder, &[ValueRef::Ref(None), some(&data)]));
    try_heap!(heap.drop_ref(data));
    let second = try_heap!(heap.struct_new(types.holder, &[some(&first), ValueRef::Ref(None)]));
    try_heap!(heap.struct_set(&first, 0, some(&second)));
    try_heap!(heap.drop_ref(second));
    try_heap!(heap.drop_ref(first));
    verify!(heap, [&kept]);
    ensure!(live(&heap)? == 2 * n as u64 + 3 && drops.get() == 0);
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&kept]);
    ensure!(report.objects_freed == n as u64 + 3, "{report:?}");
    ensure!(drops.get() == 1 && heap.host_data_count() == 0 && live(&heap)? == n as u64);
    check_ring(&mut heap, &kept, n)?;
    try_heap!(heap.drop_ref(kept));
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(report.objects_freed == n as u64 && live(&heap)? == 0 && drops.get() == 1, "{report:?}");
    Ok(())
}

/// Garbage rings lie in adjacent blocks, which a collection frees as one block per run: with
/// zeal's poisoning on, every freed granule (the rings' interior headers included) is poison
/// or a free-block header (checked by the next collection and when the blocks are handed
/// out), the free list stays sound, and the live ring between the garbage is untouched.
pub(super) fn adjacent_garbage_freed_as_one_block_is_poisoned_and_reusable(region: &'static mut [u8]) -> TestResult {
    let config = HeapConfig::default().with_zeal(Zeal::none().with_poison(true).with_verify_after_collection(true));
    let (mut heap, types) = heap_with(region, config)?;
    let n = 12;
    let first = ring(&mut heap, &types, n)?;
    let kept = ring(&mut heap, &types, n)?;
    let last = ring(&mut heap, &types, n)?;
    // Something after the last ring, so that its run is listed rather than given back to the
    // wilderness.
    let tail = new_node(&mut heap, &types, 99)?;
    try_heap!(heap.drop_ref(first));
    try_heap!(heap.drop_ref(last));
    let report = try_heap!(heap.collect_cycles());
    ensure!(report.objects_freed == 2 * n as u64, "{report:?}");
    // A collection with zeal's verification checks the poison of every free block.
    try_heap!(heap.collect_all([]));
    verify!(heap, [&kept, &tail]);
    ensure!(live(&heap)? == n as u64 + 1);
    check_ring(&mut heap, &kept, n)?;
    // The freed runs are handed out again, their poison checked as they go.
    let again = ring(&mut heap, &types, 2 * n)?;
    verify!(heap, [&kept, &tail, &again]);
    check_ring(&mut heap, &again, 2 * n)?;
    for r in [kept, tail, again] {
        try_heap!(heap.drop_ref(r));
    }
    try_heap!(heap.collect_cycles());
    verify!(heap, []);
    ensure!(live(&heap)? == 0);
    Ok(())
}

/// Garbage that mark gray lists out of address order (a cycle linked in a scrambled order, and
/// one whose members lie far apart, between live objects) is put back in address order before
/// its blocks are freed: each run of adjacent garbage becomes one free block, exactly as for a
/// cycle walked along its allocation, and the freed memory is handed out again.
pub(super) fn garbage_listed_out_of_address_order_is_freed_as_one_block_per_run(
    region: &'static mut [u8],
) -> TestResult {
    let config =
        no_automatic_cycle_collection().with_zeal(Zeal::none().with_poison(true).with_verify_after_collection(true));
    let n = 64;
    // The free blocks a cycle of `n` nodes linked in `order` leaves, with a live node after it.
    let mut outcomes = Vec::new();
    let scrambled: Vec<usize> = (0..n).map(|i| i * 29 % n).collect();
    let backwards: Vec<usize> = (0..n).rev().collect();
    let forwards: Vec<usize> = (0..n).collect();
    let (mut heap, types) = heap_with(region, config)?;
    for order in [&forwards, &scrambled, &backwards] {
        let nodes: Vec<GcRef> = (0..n).map(|i| new_node(&mut heap, &types, i as i32)).collect::<Result<_, _>>()?;
        let tail = new_node(&mut heap, &types, -1)?;
        for (k, &i) in order.iter().enumerate() {
            try_heap!(heap.struct_set(&nodes[i], NEXT, some(&nodes[order[(k + 1) % n]])));
        }
        for node in nodes {
            try_heap!(heap.drop_ref(node));
        }
        let report = try_heap!(heap.collect_cycles());
        verify!(heap, [&tail]);
        ensure!(report.objects_freed == n as u64, "{report:?}");
        let stats = try_heap!(heap.stats());
        outcomes.push((stats.free_blocks, stats.largest_free_block));
        // The freed run is handed out again (its poison checked as it goes).
        let again = ring(&mut heap, &types, n)?;
        verify!(heap, [&tail, &again]);
        check_ring(&mut heap, &again, n)?;
        try_heap!(heap.drop_ref(again));
        try_heap!(heap.collect_cycles());
        try_heap!(heap.drop_ref(tail));
        verify!(heap, []);
        ensure!(live(&heap)? == 0);
    }
    ensure!(outcomes.iter().all(|&o| o == outcomes[0]), "free blocks differ by walk order: {outcomes:?}");
    // Three garbage nodes far apart (live nodes between them), walked high before low.
    let mut fillers = Vec::new();
    let mut far = Vec::new();
    for _ in 0..3 {
        far.push(new_node(&mut heap, &types, 1)?);
        for _ in 0..160 {
            fillers.push(new_node(&mut heap, &types, 0)?);
        }
    }
    try_heap!(heap.struct_set(&far[0], NEXT, some(&far[2])));
    try_heap!(heap.struct_set(&far[2], NEXT, some(&far[1])));
    try_heap!(heap.struct_set(&far[1], NEXT, some(&far[0])));
    for node in far {
        try_heap!(heap.drop_ref(node));
    }
    let report = try_heap!(heap.collect_cycles());
    ensure!(report.objects_freed == 3, "{report:?}");
    let roots: Vec<&GcRef> = fillers.iter().collect();
    verify!(heap, roots);
    for node in fillers {
        try_heap!(heap.drop_ref(node));
    }
    ensure_all_freed(&heap)
}
