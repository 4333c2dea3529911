//! Core portable tests of host roots and no-GC scopes: host globals and tables hold counts
//! through `write_gc_ref`, and no-GC scopes nest and forbid collection.

use super::helpers::{ensure_empty, register_node, slot_words, stack_roots, words};
use crate::portable_tests::TestResult;
use crate::{Error, GcRef, Heap, Root, ValueRef};
use alloc::vec::Vec;

pub(super) fn host_globals_and_tables_hold_counts_through_write_gc_ref(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let mut globals: Vec<Option<GcRef>> = (0..4).map(|_| None).collect();
    let mut table: Vec<Option<GcRef>> = (0..64).map(|_| None).collect();
    let roots = |g: &[Option<GcRef>], t: &[Option<GcRef>]| -> Vec<u32> {
        let mut w = slot_words(g);
        w.extend(slot_words(t));
        w
    };
    let mut objects = Vec::new();
    for i in 0..8 {
        objects.push(ok!(heap.struct_new(node, &[ValueRef::I32(i), ValueRef::Ref(None)])));
    }
    ok!(heap.write_gc_ref(&mut globals[0], Some(&objects[0])));
    ok!(heap.write_gc_ref(&mut globals[1], Some(&objects[0])));
    let i31 = GcRef::from_i31(31);
    ok!(heap.write_gc_ref(&mut globals[2], Some(&i31)));
    for (i, slot) in table.iter_mut().enumerate() {
        ok!(heap.write_gc_ref(slot, Some(&objects[i % 8])));
    }
    ensure!(ok!(heap.ref_count(&objects[0])) == 1 + 2 + 8);
    ensure!(ok!(heap.ref_count(&objects[1])) == 1 + 8);
    verify!(heap, roots(&globals, &table).into_iter().chain(words(&objects)));
    // The host drops its locals: the globals and the table keep everything alive.
    for r in objects.drain(..) {
        ok!(heap.drop_ref(r));
    }
    ensure!(ok!(heap.stats()).live_objects == 8);
    verify!(heap, roots(&globals, &table));
    // Host roots given to a collection own their counts already: nothing changes.
    let host: Vec<Root> = roots(&globals, &table).into_iter().map(Root::host).collect();
    ok!(heap.collect_all(host));
    ensure!(ok!(heap.stats()).live_objects == 8);
    verify!(heap, roots(&globals, &table));
    // Overwriting releases: objects[1] is in table slots 1, 9, ..., 57.
    for i in (1..64).step_by(8) {
        let replacement = table[0].as_ref().map(GcRef::as_raw_u32);
        let replacement = ok!(heap.retain_raw(replacement.unwrap_or(0)));
        ok!(heap.write_gc_ref(&mut table[i], replacement.as_ref()));
        if let Some(r) = replacement {
            ok!(heap.drop_ref(r));
        }
    }
    ensure!(ok!(heap.stats()).live_objects == 7);
    verify!(heap, roots(&globals, &table));
    // Writing a slot's own value into it keeps the count.
    let same = ok!(heap.retain_raw(slot_words(&globals[..1])[0])).ok_or("null")?;
    ok!(heap.write_gc_ref(&mut globals[0], Some(&same)));
    ok!(heap.drop_ref(same));
    verify!(heap, roots(&globals, &table));
    // An invalid source leaves the slot as it was.
    let stale = GcRef::from_raw_u32(heap.region_len() - 16).ok_or("null")?;
    expect_err!(heap.write_gc_ref(&mut globals[3], Some(&stale)), Error::InvalidReference(_));
    ensure!(globals[3].is_none());
    for slot in globals.iter_mut().chain(table.iter_mut()) {
        ok!(heap.write_gc_ref(slot, None));
    }
    ensure_empty(&heap)
}

pub(super) fn no_gc_scopes_nest_and_forbid_collection(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    expect_err!(heap.exit_no_gc_scope(), Error::NotInNoGcScope);
    ensure!(!heap.in_no_gc_scope());
    let s = ok!(heap.struct_new_default(node));
    let word = s.as_raw_u32();
    ok!(heap.expose_gc_ref_to_wasm(s));
    heap.enter_no_gc_scope();
    heap.enter_no_gc_scope();
    ensure!(heap.in_no_gc_scope());
    expect_err!(heap.collect_all([]), Error::InNoGcScope);
    ensure!(matches!(heap.collect([]).err(), Some(Error::InNoGcScope)));
    // Allocation and release work inside a scope.
    let t = ok!(heap.struct_new_default(node));
    ok!(heap.drop_ref(t));
    ok!(heap.exit_no_gc_scope());
    ensure!(heap.in_no_gc_scope(), "one scope is still open");
    expect_err!(heap.collect_all([]), Error::InNoGcScope);
    // The refused collections changed nothing: the exposed object is still held by the table.
    ensure!(ok!(heap.stats()).live_objects == 1 && ok!(heap.stats()).collections == 0);
    verify!(heap);
    ok!(heap.exit_no_gc_scope());
    expect_err!(heap.exit_no_gc_scope(), Error::NotInNoGcScope);
    ensure!(!heap.in_no_gc_scope());
    let stack = [word];
    ok!(heap.collect_all(stack_roots(&stack)));
    ensure!(ok!(heap.stats()).live_objects == 1);
    verify!(heap);
    ok!(heap.collect_all([]));
    ensure_empty(&heap)
}
