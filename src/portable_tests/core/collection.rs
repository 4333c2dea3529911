//! Core portable tests of the activations table and collection: references exposed to Wasm live
//! while the Wasm stack holds them, the bump chunk and its overflow, JIT writes, and collections
//! stepped by hand, dropped midway or failing on a bad root.

use super::helpers::{ensure_empty, register_node, stack_roots, words, work};
use crate::activations_table::{ACTIVATIONS_CHUNK_OFFSET, ACTIVATIONS_NEXT_OFFSET, BUMP_CHUNK_CAPACITY};
use crate::collector::TRACE_STEP;
use crate::portable_tests::TestResult;
use crate::{Error, GcRef, Heap, HeapConfig, Progress, Root, ValueRef};
use alloc::vec;
use alloc::vec::Vec;

pub(super) fn exposed_ref_survives_collection_only_while_on_the_wasm_stack(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let child = ok!(heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]));
    let parent = ok!(heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(Some(&child))]));
    ok!(heap.drop_ref(child));
    let word = parent.as_raw_u32();
    ok!(heap.expose_gc_ref_to_wasm(parent));
    ensure!(heap.activations_table_len() == 1);
    verify!(heap);
    // The simulated Wasm stack: the parent's word and an i31 and a null.
    let mut stack = vec![GcRef::from_i31(4).as_raw_u32(), word, 0];
    for round in 0..3 {
        ok!(heap.collect_all(stack_roots(&stack).chain([Root::host(word)])));
        let stats = ok!(heap.stats());
        ensure!(stats.live_objects == 2, "round {round}: {stats:?}");
        ensure!(stats.collections == round + 1);
        ensure!(stats.activations_table_entries == 1);
        let parent = ok!(heap.retain_raw(word)).ok_or("null")?;
        ensure!(ok!(heap.ref_count(&parent)) == 2, "the precise set's count and ours");
        ok!(heap.drop_ref(parent));
        verify!(heap);
    }
    // Host roots passed to the collections did not keep it: only the stack did.
    stack.retain(|&w| w != word);
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(ok!(heap.stats()).live_objects == 0);
    ensure_empty(&heap)
}

pub(super) fn duplicates_in_the_bump_chunk_each_own_a_count(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let s = ok!(heap.struct_new_default(node));
    let word = s.as_raw_u32();
    for _ in 0..3 {
        let copy = ok!(heap.clone_ref(&s));
        ok!(heap.expose_gc_ref_to_wasm(copy));
    }
    ok!(heap.expose_gc_ref_to_wasm(s));
    ensure!(heap.activations_table_len() == 4);
    let s = ok!(heap.retain_raw(word)).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&s)) == 5);
    verify!(heap, [word]);
    // The stack holds the word twice: one precise count survives.
    let stack = [word, word];
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(heap.activations_table_len() == 1);
    ensure!(ok!(heap.ref_count(&s)) == 2);
    verify!(heap, [word]);
    // Exposing it again while it is in the over-approximated set adds a chunk entry.
    let copy = ok!(heap.clone_ref(&s));
    ok!(heap.expose_gc_ref_to_wasm(copy));
    ensure!(heap.activations_table_len() == 2 && ok!(heap.ref_count(&s)) == 3);
    verify!(heap, [word]);
    ok!(heap.drop_ref(s));
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}

pub(super) fn exposing_past_the_bump_chunk_overflows_into_the_over_approximated_set(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    // Clones of a filler object take the first part of the chunk; then distinct objects fill
    // the rest of it, and the second half of them overflows into the set.
    let distinct = work(BUMP_CHUNK_CAPACITY + 76, 30);
    let fill = BUMP_CHUNK_CAPACITY.saturating_sub(distinct / 2);
    let filler = ok!(heap.struct_new_default(node));
    for _ in 0..fill {
        let copy = ok!(heap.clone_ref(&filler));
        ok!(heap.expose_gc_ref_to_wasm(copy));
    }
    ok!(heap.drop_ref(filler));
    let mut stack = Vec::new();
    for i in 0..distinct {
        let s = ok!(heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(None)]));
        if i % 2 == 0 {
            stack.push(s.as_raw_u32());
        }
        ok!(heap.expose_gc_ref_to_wasm(s));
    }
    let n = fill + distinct;
    ensure!(n > BUMP_CHUNK_CAPACITY);
    ensure!(heap.activations_table_len() == n);
    ensure!(heap.need_gc_before_entering_wasm(1));
    ensure!(heap.collection_recommended());
    verify!(heap);
    // A duplicate that lands in the set hands its count back at once.
    let again = ok!(heap.retain_raw(stack[stack.len() - 2])).ok_or("null")?;
    ok!(heap.expose_gc_ref_to_wasm(again));
    ensure!(heap.activations_table_len() == n, "a set duplicate must not add an entry");
    let last = ok!(heap.retain_raw(*stack.last().ok_or("empty")?)).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&last)) == 2, "chunk overflow: one set entry plus ours");
    ok!(heap.drop_ref(last));
    verify!(heap);
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(ok!(heap.stats()).live_objects == stack.len() as u64);
    ensure!(heap.activations_table_len() == stack.len());
    ensure!(!heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY));
    ensure!(!heap.collection_recommended());
    for &w in &stack {
        let r = ok!(heap.retain_raw(w)).ok_or("null")?;
        ensure!(ok!(heap.ref_count(&r)) == 2);
        ok!(heap.drop_ref(r));
    }
    verify!(heap);
    // The survivors are now the over-approximation; a collection with half of them keeps half.
    let half: Vec<u32> = stack.iter().copied().step_by(2).collect();
    ok!(heap.collect_all(stack_roots(&half)));
    ensure!(ok!(heap.stats()).live_objects == half.len() as u64);
    verify!(heap);
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}

pub(super) fn need_gc_before_entering_wasm_tracks_the_bump_chunk(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    ensure!(!heap.need_gc_before_entering_wasm(0));
    ensure!(!heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY));
    ensure!(heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY + 1));
    let s = ok!(heap.struct_new_default(node));
    for _ in 0..1000 {
        let copy = ok!(heap.clone_ref(&s));
        ok!(heap.expose_gc_ref_to_wasm(copy));
    }
    // i31 references are not exposed: they own nothing.
    ok!(heap.expose_gc_ref_to_wasm(GcRef::from_i31(5)));
    ensure!(heap.activations_table_len() == 1000);
    ensure!(!heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY - 1000));
    ensure!(heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY - 999));
    ensure!(!heap.collection_recommended());
    verify!(heap, words([&s]));
    ok!(heap.collect_all([]));
    ensure!(!heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY));
    ensure!(ok!(heap.ref_count(&s)) == 1);
    verify!(heap, words([&s]));
    ok!(heap.drop_ref(s));
    ensure_empty(&heap)
}

pub(super) fn jit_writes_to_the_bump_chunk_are_swept(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let a = ok!(heap.struct_new_default(node));
    let b = ok!(heap.struct_new_default(node));
    // What JIT code does: move an owned count into the next chunk slot and bump `next`.
    fn jit_expose(heap: &mut Heap<()>, word: u32) -> bool {
        let table = heap.activations_table_ptr().cast::<u8>();
        // SAFETY: the pointer comes from `&mut` access to the boxed table just above and no
        // other access to the heap happens until these writes are done; the offsets are those
        // of the `#[repr(C)]` table's `next` and `chunk` fields (tested against `offset_of!`),
        // `next` is below the chunk's capacity (checked), so the slot is inside the chunk.
        unsafe {
            let next = table.add(ACTIVATIONS_NEXT_OFFSET).cast::<u32>();
            let slot = *next as usize;
            if slot >= BUMP_CHUNK_CAPACITY {
                return false;
            }
            *table.add(ACTIVATIONS_CHUNK_OFFSET + 4 * slot).cast::<u32>() = word;
            *next += 1;
        }
        true
    }
    let a_word = ok!(heap.clone_ref(&a)).as_raw_u32();
    ensure!(jit_expose(&mut heap, a_word));
    let b_word = ok!(heap.clone_ref(&b)).as_raw_u32();
    ensure!(jit_expose(&mut heap, b_word));
    ensure!(heap.activations_table_len() == 2);
    ensure!(heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY - 1));
    verify!(heap, words([&a, &b]));
    ok!(heap.drop_ref(a));
    ok!(heap.drop_ref(b));
    let stack = [b_word];
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(ok!(heap.stats()).live_objects == 1);
    verify!(heap);
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}

pub(super) fn collection_stepped_by_hand_traces_then_sweeps_then_completes(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let keep = ok!(heap.struct_new_default(node));
    let lose = ok!(heap.struct_new_default(node));
    let (keep_word, lose_word) = (keep.as_raw_u32(), lose.as_raw_u32());
    ok!(heap.expose_gc_ref_to_wasm(keep));
    ok!(heap.expose_gc_ref_to_wasm(lose));
    // More roots than one trace step takes (duplicates, i31s and nulls among them); under
    // Miri, a hundred, traced in one step.
    let roots = work(TRACE_STEP + 100, 100);
    let trace_steps = roots.div_ceil(TRACE_STEP);
    let mut stack = vec![keep_word; roots];
    stack[7] = 0;
    stack[8] = GcRef::from_i31(-1).as_raw_u32();
    {
        let mut collection = ok!(heap.collect(stack_roots(&stack)));
        for step in 0..trace_steps {
            ensure!(ok!(collection.step()) == Progress::Continue, "trace step {step}");
        }
        ensure!(ok!(collection.step()) == Progress::Continue, "sweep");
        // Then the phases after the sweep, each one step, until the collection is complete.
        let mut steps = trace_steps + 1;
        while ok!(collection.step()) == Progress::Continue {
            steps += 1;
            ensure!(steps < 10, "the collection never completes");
        }
        ensure!(ok!(collection.step()) == Progress::Complete, "done stays done");
    }
    let stats = ok!(heap.stats());
    ensure!(stats.collections == 1 && stats.live_objects == 1, "{stats:?}");
    let keep = ok!(heap.retain_raw(keep_word)).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&keep)) == 2);
    expect_err!(heap.retain_raw(lose_word), Error::Corrupted { .. } | Error::InvalidReference(_));
    verify!(heap, words([&keep]));
    // `finish` after a first step runs the rest.
    let mut collection = ok!(heap.collect([]));
    ensure!(ok!(collection.step()) == Progress::Continue);
    ok!(collection.finish());
    ensure!(ok!(heap.ref_count(&keep)) == 1);
    verify!(heap, words([&keep]));
    ok!(heap.drop_ref(keep));
    ensure_empty(&heap)
}

/// Regression: a collection dropped between its trace and its sweep leaves counted entries in
/// the precise set, which the next collection folds back; `verify` rejected that state although
/// every count was owned.
pub(super) fn collection_dropped_after_tracing_keeps_counts_and_is_folded_into_the_next(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let mut exposed = Vec::new();
    for i in 0..4 {
        let s = ok!(heap.struct_new(node, &[ValueRef::I32(i), ValueRef::Ref(None)]));
        exposed.push(s.as_raw_u32());
        ok!(heap.expose_gc_ref_to_wasm(s));
    }
    // Abandoned after tracing: [0, 1] are in the precise set with a count each.
    let stack = [exposed[0], exposed[1]];
    {
        let mut collection = ok!(heap.collect(stack_roots(&stack)));
        ensure!(ok!(collection.step()) == Progress::Continue);
    }
    ensure!(ok!(heap.stats()).collections == 0);
    let r0 = ok!(heap.retain_raw(exposed[0])).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&r0)) == 3, "chunk + precise + ours");
    ok!(heap.drop_ref(r0));
    verify!(heap);
    // Abandoned again, twice in a row: counts still add up.
    for _ in 0..2 {
        let mut collection = ok!(heap.collect(stack_roots(&stack)));
        ensure!(ok!(collection.step()) == Progress::Continue);
        drop(collection);
        verify!(heap);
    }
    // A complete collection with only word 1 on the stack.
    let stack = [exposed[1]];
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(ok!(heap.stats()).live_objects == 1);
    verify!(heap);
    // Abandoned before any step at all.
    drop(ok!(heap.collect(stack_roots(&stack))));
    verify!(heap);
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}

/// A bad root is skipped and counted by default (see the soundness table); zeal's
/// `invalid_roots_are_errors` fails the step instead, and the heap stays consistent.
pub(super) fn failed_trace_of_an_invalid_root_under_zeal_leaves_the_heap_consistent(
    region: &'static mut [u8],
) -> TestResult {
    let config = HeapConfig::default().with_zeal(crate::zeal::Zeal::none().with_invalid_roots_are_errors(true));
    let mut heap: Heap<()> = ok!(Heap::with_config(region, config));
    let node = register_node(&mut heap)?;
    let a = ok!(heap.struct_new_default(node));
    let word = a.as_raw_u32();
    ok!(heap.expose_gc_ref_to_wasm(a));
    let bogus = [word, heap.region_len() - 16, word + 8];
    for &bad in &bogus[1..] {
        let stack = [word, bad];
        let mut collection = ok!(heap.collect(stack_roots(&stack)));
        expect_err!(collection.step(), Error::InvalidReference(w) if w == bad);
        drop(collection);
        verify!(heap);
        ensure!(ok!(heap.stats()).live_objects == 1);
    }
    let stack = [word];
    ok!(heap.collect_all(stack_roots(&stack)));
    let a = ok!(heap.retain_raw(word)).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&a)) == 2);
    ok!(heap.drop_ref(a));
    verify!(heap);
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}
