//! Cycle collector tests of what keeps a cycle alive: a global, a table slot, the Wasm stack
//! (through the activations table) and a live object; and that collecting a garbage cycle leaves
//! the counts of the live objects it referenced right, even when scan meets a survivor among a
//! white object's references.

use super::helpers::{check_ring, ensure_all_freed, live, new_heap, new_node, ring, some, NEXT, PREV};
use crate::portable_tests::TestResult;
use crate::{GcRef, Root, Value, ValueRef};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub(super) fn cycle_reachable_from_a_global_lives_until_the_global_lets_go(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn cycle_reachable_from_a_table_lives_until_the_slot_is_cleared(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn cycle_held_by_a_live_object_lives_until_that_object_dies(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn garbage_cycle_referencing_live_objects_leaves_their_counts_right(
    region: &'static mut [u8],
) -> TestResult {
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

pub(super) fn scan_goes_on_after_a_survivor_among_a_white_objects_references(region: &'static mut [u8]) -> TestResult {
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
