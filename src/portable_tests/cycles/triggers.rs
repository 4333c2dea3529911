//! Cycle collector tests of what triggers a cycle collection: allocation failure alone, the
//! candidate threshold, heap growth, the cycle phase of a collection, and a no-GC scope (which
//! refuses one and makes allocation failure skip it).

use super::helpers::{
    check_fat_ring, check_ring, ensure_all_freed, fat_ring, free_nodes, heap_with, live, miri_filler,
    no_automatic_cycle_collection, ring, FAT_BLOCK,
};
use crate::portable_tests::TestResult;
use crate::{Error, GcRef, HeapConfig, Progress, Root, ValueRef};
use alloc::format;
use alloc::vec::Vec;

pub(super) fn rings_are_collected_by_the_allocation_failure_trigger_alone(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation(
    region: &'static mut [u8],
) -> TestResult {
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
    // collects the first ring (the part of the second that exists is young: it waits, see
    // `candidate_trigger_leaves_the_young_candidates_for_the_next_collection`).
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

pub(super) fn candidate_trigger_leaves_the_young_candidates_for_the_next_collection(
    region: &'static mut [u8],
) -> TestResult {
    let threshold = 64;
    let config =
        HeapConfig::default().with_cycle_candidate_threshold(threshold).with_cycle_collection_on_heap_growth(false);
    let (mut heap, types) = heap_with(region, config)?;
    // A garbage ring of 40: past half the threshold, an allocation starts the young generation
    // (the ring's last nodes are young).
    let first = ring(&mut heap, &types, 40)?;
    try_heap!(heap.drop_ref(first));
    verify!(heap, []);
    ensure!(heap.cycle_candidates() == 40, "{} candidates", heap.cycle_candidates());
    // A second ring, held, passes 64 candidates: the next allocation collects the old
    // candidates, the first ring's first nodes, whose traversal frees all of it (its young
    // nodes with it). The second ring's nodes buffered so far are young: they wait, unscanned
    // (three visits per freed node and no other: without the young generation the part of the
    // second ring built then would be marked gray and scanned black too).
    let second = ring(&mut heap, &types, 40)?;
    verify!(heap, [&second]);
    let stats = try_heap!(heap.stats());
    ensure!(stats.cycle_collections == 1 && stats.cycle_objects_freed == 40, "{stats:?}");
    ensure!(stats.cycle_objects_scanned == 3 * 40, "only the first ring is visited: {stats:?}");
    ensure!(heap.cycle_candidates() == 40, "the second ring's nodes wait: {} candidates", heap.cycle_candidates());
    check_ring(&mut heap, &second, 40)?;
    // An explicit cycle collection takes every candidate, young or old: with the young
    // generation running (a third ring of 40 passes half the threshold), it scans both held
    // rings and frees nothing.
    let third = ring(&mut heap, &types, 40)?;
    verify!(heap, [&second, &third]);
    let collections = try_heap!(heap.stats()).cycle_collections;
    let report = try_heap!(heap.collect_cycles());
    verify!(heap, [&second, &third]);
    ensure!(report.objects_freed == 0 && heap.cycle_candidates() == 0, "{report:?}");
    ensure!(try_heap!(heap.stats()).cycle_collections == collections + 1);
    try_heap!(heap.drop_ref(second));
    try_heap!(heap.drop_ref(third));
    verify!(heap, []);
    ensure!(try_heap!(heap.collect_cycles()).objects_freed == 80);
    ensure_all_freed(&heap)
}

pub(super) fn heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage(
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

pub(super) fn collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold(
    region: &'static mut [u8],
) -> TestResult {
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

pub(super) fn no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it(
    region: &'static mut [u8],
) -> TestResult {
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
