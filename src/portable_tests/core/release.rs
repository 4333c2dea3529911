//! Core portable tests of release: freeing an object releases what it holds, through a worklist
//! (long lists and deep trees without recursion, big arrays in chunks), and host data is dropped
//! exactly once, never while reachable.

use super::helpers::{
    ensure_empty, externref, get_ref, register_node, slot_words, stack_roots, words, work, Drops, Tracked, ANYREF,
    EXTERNREF,
};
use crate::heap::RELEASE_CHUNK;
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use crate::{Error, GcRef, Heap, TypeIndex, Value, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;

pub(super) fn freeing_a_struct_releases_its_reference_fields(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let leaf = ok!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let bytes = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    let to_leaf = StorageType::Ref(RefType::nullable(HeapType::Concrete(leaf)));
    let parent_ty = ok!(heap.register_struct(StructType::new(&[ANYREF, StorageType::I64, EXTERNREF, to_leaf, ANYREF])));
    let l = ok!(heap.struct_new(leaf, &[ValueRef::I32(1)]));
    let a = ok!(heap.array_new(bytes, 100, ValueRef::I8(5)));
    let e = externref(&mut heap, &drops, 7)?;
    let shared = ok!(heap.struct_new(leaf, &[ValueRef::I32(2)]));
    let parent = ok!(heap.struct_new(
        parent_ty,
        &[
            ValueRef::Ref(Some(&a)),
            ValueRef::I64(9),
            ValueRef::Ref(Some(&e)),
            ValueRef::Ref(Some(&l)),
            ValueRef::Ref(Some(&shared)),
        ]
    ));
    verify!(heap, words([&l, &a, &e, &shared, &parent]));
    for r in [l, a, e] {
        ok!(heap.drop_ref(r));
    }
    ensure!(ok!(heap.stats()).live_objects == 5);
    ensure!(drops.dropped.get() == 0);
    let report = verify!(heap, words([&shared, &parent]));
    ensure!(report.heap_references == 4, "{report:?}");
    ok!(heap.drop_ref(parent));
    // Everything the parent alone held is gone; the shared leaf the host still holds is not.
    ensure!(ok!(heap.stats()).live_objects == 1);
    ensure!(drops.dropped.get() == 1);
    ensure!(ok!(heap.ref_count(&shared)) == 1);
    ensure!(ok!(heap.struct_get(&shared, 0)) == Value::I32(2));
    verify!(heap, words([&shared]));
    ok!(heap.drop_ref(shared));
    ensure_empty(&heap)
}

pub(super) fn linked_list_filling_the_region_is_freed_without_recursion(region: &'static mut [u8]) -> TestResult {
    let len = region.len();
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    ensure!(ok!(heap.types().struct_layout(node)).1.size.next_multiple_of(16) == 32);
    let fit = (len - 16) / 32;
    let target = work(fit, 120);
    // Build until the region is full (or the Miri cap), each node pointing at the previous.
    let mut head: Option<GcRef> = None;
    let mut built = 0usize;
    loop {
        if built == target {
            break;
        }
        match heap.struct_new(node, &[ValueRef::I32(built as i32), ValueRef::Ref(head.as_ref())]) {
            Ok(new) => {
                if let Some(old) = head.replace(new) {
                    ok!(heap.drop_ref(old));
                }
                built += 1;
            }
            Err(Error::OutOfMemory { requested: 32 }) => break,
            Err(other) => return Err(format!("node {built}: {other}")),
        }
    }
    ensure!(built == target, "built {built} nodes, {target} fit");
    if target == fit {
        expect_err!(heap.struct_new_default(node), Error::OutOfMemory { .. });
    }
    let report = verify!(heap, slot_words(core::slice::from_ref(&head)));
    ensure!(report.objects == built as u64 && report.heap_references == built as u64);
    // Walk the list: values descend, every node but the head has a count of one.
    let mut cursor = match &head {
        Some(h) => ok!(heap.clone_ref(h)),
        None => return Err("empty list".into()),
    };
    let mut expected = built as i32 - 1;
    loop {
        ensure!(ok!(heap.struct_get(&cursor, 0)) == Value::I32(expected));
        let next = get_ref(&mut heap, &cursor, 1)?;
        ok!(heap.drop_ref(cursor));
        match next {
            Some(next) => {
                ensure!(ok!(heap.ref_count(&next)) == 2, "node {expected} count");
                cursor = next;
                expected -= 1;
            }
            None => break,
        }
    }
    ensure!(expected == 0, "walk stopped at {expected}");
    verify!(heap, slot_words(core::slice::from_ref(&head)));
    // Dropping the head frees the whole list through the worklist.
    if let Some(head) = head.take() {
        ok!(heap.drop_ref(head));
    }
    ensure!(ok!(heap.stats()).objects_freed == built as u64);
    ensure_empty(&heap)
}

pub(super) fn nested_array_tree_is_freed_completely(region: &'static mut [u8]) -> TestResult {
    let len = region.len() as u64;
    let drops = Rc::new(Drops::default());
    let mut heap: Heap<Tracked> = ok!(Heap::new(region));
    let inner = ok!(heap.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Array)))));
    let leaves = ok!(heap.register_array(ArrayType::new(EXTERNREF)));
    // A tree of arrays: `fanout` children per inner array, externref arrays at the bottom.
    let fanout = 4u32;
    let mut depth = 1u32;
    // Each level multiplies the objects by `fanout`; keep the tree under a quarter of the
    // region (48-byte arrays, 32-byte externrefs).
    while (fanout as u64).pow(depth + 1) * (48 + 32 * fanout as u64) * 2 < len / 4 && depth < 6 {
        depth += 1;
    }
    if cfg!(miri) {
        depth = depth.min(2);
    }
    fn build(
        heap: &mut Heap<Tracked>,
        drops: &Rc<Drops>,
        (inner, leaves): (TypeIndex, TypeIndex),
        fanout: u32,
        depth: u32,
        next_id: &mut u32,
    ) -> Result<GcRef, String> {
        if depth == 0 {
            let array = ok!(heap.array_new(leaves, fanout, ValueRef::Ref(None)));
            for i in 0..fanout {
                let e = externref(heap, drops, *next_id)?;
                *next_id += 1;
                ok!(heap.array_set(&array, i, ValueRef::Ref(Some(&e))));
                ok!(heap.drop_ref(e));
            }
            return Ok(array);
        }
        let array = ok!(heap.array_new(inner, fanout, ValueRef::Ref(None)));
        for i in 0..fanout {
            let child = build(heap, drops, (inner, leaves), fanout, depth - 1, next_id)?;
            ok!(heap.array_set(&array, i, ValueRef::Ref(Some(&child))));
            ok!(heap.drop_ref(child));
        }
        Ok(array)
    }
    let mut next_id = 0;
    let root = build(&mut heap, &drops, (inner, leaves), fanout, depth, &mut next_id)?;
    let arrays: u64 = (0..=depth).map(|d| (fanout as u64).pow(d)).sum();
    let externs = (fanout as u64).pow(depth + 1);
    ensure!(next_id as u64 == externs);
    let report = verify!(heap, words([&root]));
    ensure!(report.objects == arrays + externs, "{report:?}, depth {depth}");
    ensure!(drops.dropped.get() == 0);
    // Follow the leftmost path to the bottom and check a host data value.
    let mut cursor = ok!(heap.clone_ref(&root));
    for _ in 0..depth {
        let child = ok!(heap.array_get(&cursor, fanout - 1));
        ok!(heap.drop_ref(cursor));
        cursor = match child {
            Value::Ref(Some(child)) => child,
            other => return Err(format!("inner element is {other:?}")),
        };
    }
    let e = match ok!(heap.array_get(&cursor, 0)) {
        Value::Ref(Some(e)) => e,
        other => return Err(format!("leaf element is {other:?}")),
    };
    ensure!(ok!(heap.externref_data(&e)).id == externs as u32 - fanout);
    ok!(heap.drop_ref(e));
    ok!(heap.drop_ref(cursor));
    verify!(heap, words([&root]));
    ok!(heap.drop_ref(root));
    ensure!(drops.dropped.get() as u64 == externs && drops.created.get() as u64 == externs);
    ensure_empty(&heap)
}

pub(super) fn array_of_refs_releases_every_element_across_release_chunks(region: &'static mut [u8]) -> TestResult {
    let len = region.len();
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let refs = ok!(heap.register_array(ArrayType::new(ANYREF)));
    // As many 32-byte structs as fit beside the array (4 bytes per element), but at least
    // enough for several release chunks where the region allows.
    // (Under Miri, a few hundred: the chunking is exercised by the other hosts.)
    let n = work((len - 64) / 36, 120) as u32;
    ensure!(n > RELEASE_CHUNK * 2 || cfg!(miri), "only {n} elements fit");
    let array = ok!(heap.array_new(refs, n, ValueRef::Ref(None)));
    for i in 0..n {
        let s = ok!(heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(None)]));
        ok!(heap.array_set(&array, i, ValueRef::Ref(Some(&s))));
        ok!(heap.drop_ref(s));
    }
    // Some elements repeat: the array holds two counts of those.
    ok!(heap.array_copy(&array, n - 10, &array, 0, 10));
    let report = verify!(heap, words([&array]));
    ensure!(report.objects == n as u64 - 10 + 1, "{report:?}");
    ensure!(report.heap_references == n as u64 + (n as u64 - 10), "the array's and the nodes'");
    let first = get_array_ref(&mut heap, &array, 0)?;
    ensure!(ok!(heap.ref_count(&first)) == 3, "two elements and the host");
    ok!(heap.drop_ref(first));
    ok!(heap.drop_ref(array));
    ensure!(ok!(heap.stats()).objects_freed == n as u64 + 1, "every struct and the array");
    ensure_empty(&heap)
}

fn get_array_ref<H>(heap: &mut Heap<H>, array: &GcRef, i: u32) -> Result<GcRef, String> {
    match ok!(heap.array_get(array, i)) {
        Value::Ref(Some(r)) => Ok(r),
        other => Err(format!("element {i} is {other:?}")),
    }
}

pub(super) fn host_data_is_dropped_exactly_once_and_never_while_reachable(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    {
        let mut heap: Heap<Tracked> = ok!(Heap::new(region));
        let refs = ok!(heap.register_array(ArrayType::new(EXTERNREF)));
        let n = work(100, 40) as u32;
        let array = ok!(heap.array_new(refs, n, ValueRef::Ref(None)));
        for i in 0..n {
            let e = externref(&mut heap, &drops, i)?;
            ok!(heap.array_set(&array, i, ValueRef::Ref(Some(&e))));
            // Handing it to Wasm as well: the table holds it too.
            if i % 10 == 0 {
                ok!(heap.expose_gc_ref_to_wasm(e));
            } else {
                ok!(heap.drop_ref(e));
            }
        }
        ensure!(drops.created.get() == n && drops.dropped.get() == 0);
        verify!(heap, words([&array]));
        // Overwriting an element drops only that element's data.
        ok!(heap.array_set(&array, 5, ValueRef::Ref(None)));
        ensure!(drops.dropped.get() == 1);
        // Overwriting an exposed one drops nothing: the table still holds it.
        ok!(heap.array_set(&array, 10, ValueRef::Ref(None)));
        ensure!(drops.dropped.get() == 1);
        verify!(heap, words([&array]));
        // A collection with element 20's word on the stack keeps only that one from the table.
        let stack = [get_word(&mut heap, &array, 20)?];
        ok!(heap.collect_all(stack_roots(&stack)));
        ensure!(drops.dropped.get() == 2, "element 10 went with the table");
        verify!(heap, words([&array]));
        // Dropping the array drops every value not on the stack.
        ok!(heap.drop_ref(array));
        ensure!(drops.dropped.get() == n - 1, "dropped {}", drops.dropped.get());
        verify!(heap);
        ok!(heap.collect_all(stack_roots(&stack)));
        ensure!(drops.dropped.get() == n - 1, "still on the stack");
        ok!(heap.collect_all([]));
        ensure!(drops.dropped.get() == n);
        ensure_empty(&heap)?;
        // Host data still in the heap when the heap is dropped is dropped with it.
        let _kept_until_the_heap_is_dropped = externref(&mut heap, &drops, 1000)?;
    }
    ensure!(
        drops.created.get() == drops.dropped.get(),
        "{} created, {} dropped",
        drops.created.get(),
        drops.dropped.get()
    );
    Ok(())
}

/// The word of element `i` of a reference array, without keeping a count.
fn get_word<H>(heap: &mut Heap<H>, array: &GcRef, i: u32) -> Result<u32, String> {
    let r = get_array_ref(heap, array, i)?;
    let word = r.as_raw_u32();
    ok!(heap.drop_ref(r));
    Ok(word)
}
