//! Core portable tests of the heap's limits and lifetime: out of memory is retryable, a failed
//! externref allocation hands its host data back, releasing everything leaves one free block,
//! reset empties the heap, and the shared heap locks and unwraps.

use super::helpers::{ensure_empty, externref, register_node, words, work, Drops, Tracked, ANYREF, EXTERNREF};
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, StorageType, StructType};
use crate::{Error, GcRef, Heap, Kind, SharedHeap, Value, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;

pub(super) fn out_of_memory_is_retryable_after_dropping_references(region: &'static mut [u8]) -> TestResult {
    let len = region.len();
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let longs = ok!(heap.register_array(ArrayType::new(StorageType::I64)));
    // Under Miri, fill only part of the region: a large array takes the rest.
    let filler = if cfg!(miri) { (len - 16) - 32 * 100 } else { 0 };
    let ballast =
        if filler > 0 { Some(ok!(heap.array_new(longs, ((filler - 24) / 8) as u32, ValueRef::I64(0)))) } else { None };
    let mut nodes = Vec::new();
    let error = loop {
        match heap.struct_new_default(node) {
            Ok(r) => nodes.push(r),
            Err(error) => break error,
        }
    };
    ensure!(error == Error::OutOfMemory { requested: 32 }, "{error:?}");
    ensure!(error.is_retryable() && !error.is_corruption());
    let stats = ok!(heap.stats());
    ensure!(stats.free_bytes < 32, "{stats:?}");
    let full = nodes.len();
    verify!(heap, words(nodes.iter().chain(&ballast)));
    // Retrying without freeing anything fails the same way, and changes nothing.
    expect_err!(heap.struct_new_default(node), Error::OutOfMemory { requested: 32 });
    expect_err!(heap.array_new(longs, 10, ValueRef::I64(0)), Error::OutOfMemory { requested: 112 });
    // Free every other node: as many nodes fit again, but no 64-byte block does.
    let mut kept = Vec::new();
    for (i, r) in nodes.drain(..).enumerate() {
        if i % 2 == 0 {
            ok!(heap.drop_ref(r));
        } else {
            kept.push(r);
        }
    }
    let freed = full - kept.len();
    verify!(heap, words(kept.iter().chain(&ballast)));
    expect_err!(heap.array_new(longs, 5, ValueRef::I64(0)), Error::OutOfMemory { requested: 64 });
    verify!(heap, words(kept.iter().chain(&ballast)));
    for _ in 0..freed {
        nodes.push(ok!(heap.struct_new_default(node)));
    }
    expect_err!(heap.struct_new_default(node), Error::OutOfMemory { .. });
    verify!(heap, words(kept.iter().chain(&nodes).chain(&ballast)));
    // Free a run of adjacent nodes: coalescing on the slow path makes a large block of it.
    let run = 64.min(kept.len());
    for r in nodes.drain(..).chain(kept.drain(..run)) {
        ok!(heap.drop_ref(r));
    }
    let big = ok!(heap.array_new(longs, 100, ValueRef::I64(-1)));
    ensure!(ok!(heap.array_get(&big, 99)) == Value::I64(-1));
    verify!(heap, words(kept.iter().chain([&big]).chain(&ballast)));
    for r in kept.into_iter().chain([big]).chain(ballast) {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

pub(super) fn failed_externref_allocation_hands_the_host_data_back(region: &'static mut [u8]) -> TestResult {
    let len = region.len();
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let bytes = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    // Leave room for a few externrefs only.
    let ballast = ok!(heap.array_new(bytes, (len - 16 - 20 - 32 * 5) as u32, ValueRef::I8(1)));
    let mut externs = Vec::new();
    let (error, data) = loop {
        let id = externs.len() as u32;
        match heap.alloc_externref(Tracked::new(&drops, id)) {
            Ok(e) => externs.push(e),
            Err(failure) => break failure,
        }
    };
    ensure!(externs.len() == 5, "{} externrefs fit", externs.len());
    ensure!(error == Error::OutOfMemory { requested: 32 }, "{error:?}");
    ensure!(data.id == 5, "handed back host data {}", data.id);
    ensure!(drops.dropped.get() == 0, "the failed allocation dropped host data");
    ensure!(heap.host_data_count() == 5);
    verify!(heap, words(externs.iter().chain([&ballast])));
    // Retry after freeing one: the same data goes in.
    let first = externs.remove(0);
    ok!(heap.drop_ref(first));
    ensure!(drops.dropped.get() == 1);
    let e = heap.alloc_externref(data).map_err(|(error, _)| format!("retry failed: {error}"))?;
    ensure!(ok!(heap.externref_data(&e)).id == 5);
    externs.push(e);
    verify!(heap, words(externs.iter().chain([&ballast])));
    for r in externs.into_iter().chain([ballast]) {
        ok!(heap.drop_ref(r));
    }
    ensure!(drops.dropped.get() == 6 && drops.created.get() == 6);
    ensure_empty(&heap)
}

pub(super) fn releasing_everything_leaves_one_free_block(region: &'static mut [u8]) -> TestResult {
    let len = region.len();
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let longs = ok!(heap.register_array(ArrayType::new(StorageType::I64)));
    let refs = ok!(heap.register_array(ArrayType::new(ANYREF)));
    ensure_empty(&heap)?;
    // Objects of many sizes, freed in a scrambled order, over several rounds.
    let count = work(len / 2 / 200, 60);
    let mut seed = 0x2545_F491u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for round in 0..3 {
        let mut objects: Vec<GcRef> = Vec::new();
        for i in 0..count {
            let r = match next() % 4 {
                0 => ok!(heap.struct_new_default(node)),
                1 => ok!(heap.array_new(longs, next() % 40, ValueRef::I64(i as i64))),
                2 => externref(&mut heap, &drops, i as u32)?,
                _ => {
                    let last = objects.iter().rev().find(|r| heap.kind_of(r) != Ok(Some(Kind::EXTERN)));
                    let target = match last {
                        Some(r) => Some(ok!(heap.clone_ref(r))),
                        None => None,
                    };
                    let a = ok!(heap.array_new(refs, next() % 8 + 1, ValueRef::Ref(target.as_ref())));
                    if let Some(t) = target {
                        ok!(heap.drop_ref(t));
                    }
                    a
                }
            };
            objects.push(r);
        }
        verify!(heap, words(&objects));
        while !objects.is_empty() {
            let i = next() as usize % objects.len();
            ok!(heap.drop_ref(objects.swap_remove(i)));
            if objects.len() % 37 == 0 {
                verify!(heap, words(&objects));
            }
        }
        ensure!(drops.created.get() == drops.dropped.get(), "round {round}");
        ensure_empty(&heap)?;
    }
    // Also when the last counts go through a collection.
    let s = ok!(heap.struct_new_default(node));
    let a = ok!(heap.array_new(refs, 3, ValueRef::Ref(Some(&s))));
    ok!(heap.drop_ref(s));
    ok!(heap.expose_gc_ref_to_wasm(a));
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}

pub(super) fn reset_empties_the_heap_and_drops_host_data(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let mut held = Vec::new();
    for i in 0..50 {
        let previous = if i > 0 { Some(&held[held.len() - 2]) } else { None };
        let s = ok!(heap.struct_new(node, &[ValueRef::I32(i), ValueRef::Ref(previous)]));
        held.push(s);
        held.push(externref(&mut heap, &drops, i as u32)?);
    }
    let exposed = ok!(heap.clone_ref(&held[0]));
    ok!(heap.expose_gc_ref_to_wasm(exposed));
    heap.enter_no_gc_scope();
    verify!(heap, words(&held));
    let stale = held.pop().ok_or("empty")?;
    heap.reset();
    ensure!(drops.dropped.get() == 50 && drops.created.get() == 50);
    ensure!(!heap.in_no_gc_scope());
    ensure!(heap.activations_table_len() == 0);
    ensure_empty(&heap)?;
    // Old handles are stale: a reset gives the heap a new identity, so they are refused as
    // foreign, even where a new object comes to lie at the same offset.
    expect_err!(heap.externref_data(&stale), Error::ForeignReference { .. });
    expect_err!(heap.struct_get(&held[10], 0), Error::ForeignReference { .. });
    expect_err!(heap.drop_ref(stale), Error::ForeignReference { .. });
    let first = held.swap_remove(0);
    held.clear();
    // Types stay registered; the heap works as new.
    let r = ok!(heap.struct_new(node, &[ValueRef::I32(5), ValueRef::Ref(None)]));
    ensure!(r.as_raw_u32() == first.as_raw_u32(), "the new object is where the old one was");
    expect_err!(heap.struct_get(&first, 0), Error::ForeignReference { raw } if raw == r.as_raw_u32());
    let e = externref(&mut heap, &drops, 99)?;
    ensure!(ok!(heap.stats()).live_objects == 2);
    verify!(heap, words([&r, &e]));
    ok!(heap.collect_all([]));
    heap.reset();
    ensure!(drops.dropped.get() == 51);
    ensure_empty(&heap)
}

pub(super) fn shared_heap_locks_and_unwraps(region: &'static mut [u8]) -> TestResult {
    let heap: Heap<u32> = ok!(Heap::new(region));
    let shared = SharedHeap::new(heap);
    let node = ok!(shared.with(|heap| heap.register_struct(StructType::new(&[StorageType::I32, EXTERNREF]))));
    let a = ok!(shared.with(|heap| heap.struct_new(node, &[ValueRef::I32(3), ValueRef::Ref(None)])));
    {
        let mut guard = shared.lock();
        ensure!(shared.try_lock().is_none(), "locked twice");
        ok!(guard.struct_set(&a, 0, ValueRef::I32(4)));
        let e = guard.alloc_externref(17).map_err(|(error, _)| format!("{error}"))?;
        ensure!(*ok!(guard.externref_data(&e)) == 17);
        ok!(guard.struct_set(&a, 1, ValueRef::Ref(Some(&e))));
        ok!(guard.drop_ref(e));
        verify!(guard, words([&a]));
    }
    {
        let guard = shared.try_lock().ok_or("unlocked heap refused try_lock")?;
        ensure!(ok!(guard.stats()).live_objects == 2);
    }
    let mut heap = shared.into_inner();
    ensure!(ok!(heap.struct_get(&a, 0)) == Value::I32(4));
    verify!(heap, words([&a]));
    ok!(heap.drop_ref(a));
    ensure_empty(&heap)
}
