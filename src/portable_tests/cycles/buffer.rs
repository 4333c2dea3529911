//! Cycle collector tests of the candidate buffer: objects freed by counting leave it, acyclic
//! objects never enter it, cycle collection turned off buffers nothing, and a collection with no
//! roots followed by a cycle collection empties the heap.

use super::helpers::{
    ensure_all_freed, heap_with, live, new_heap, new_node, no_automatic_cycle_collection, ring, ring_len, some, Token,
};
use crate::portable_tests::TestResult;
use crate::{GcRef, HeapConfig, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;

pub(super) fn buffered_objects_freed_by_counting_leave_the_buffer(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn acyclic_objects_are_never_buffered(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn cycle_collection_turned_off_buffers_nothing_and_leaks_cycles(region: &'static mut [u8]) -> TestResult {
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

pub(super) fn collection_with_no_roots_then_collect_cycles_empties_the_heap(region: &'static mut [u8]) -> TestResult {
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
