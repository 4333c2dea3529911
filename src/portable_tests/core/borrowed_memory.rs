//! Core portable tests of heaps over borrowed memory ([`HeapIn`]): a heap over part of the
//! test's memory or over a stack array gives the memory back when it is dropped (with its host
//! data dropped first), and a heap over bytes that are not zero behaves as one over zeroed bytes.

use super::helpers::{ensure_empty, externref, get_ref, register_node, Drops, ANYREF, SCALARS};
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, StorageType, StructType};
use crate::{HeapIn, HeapMemory, Value, ValueRef};
use alloc::rc::Rc;
use alloc::vec::Vec;

pub(super) fn heap_over_borrowed_memory_gives_it_back_when_dropped(region: &'static mut [u8]) -> TestResult {
    let drops = Rc::new(Drops::default());
    let len = region.len().min(64 * 1024);
    for round in 0..2u32 {
        // The heap borrows a part of the test's memory for this block only.
        let mut heap = ok!(HeapIn::new(&mut region[..len]));
        let node = register_node(&mut heap)?;
        let data = externref(&mut heap, &drops, round)?;
        let mut list = None;
        for i in 0..16 {
            let cell = ok!(heap.struct_new(node, &[ValueRef::I32(i), ValueRef::Ref(list.as_ref())]));
            if let Some(old) = list.replace(cell) {
                ok!(heap.drop_ref(old));
            }
        }
        let head = list.take();
        ensure!(ok!(heap.stats()).live_objects == 17);
        if let Some(head) = &head {
            let next = get_ref(&mut heap, head, 1)?;
            ensure!(next.is_some(), "the list's head has no next cell");
            next.map(|next| heap.drop_ref(next)).transpose().map_err(|e| alloc::format!("{e}"))?;
        }
        verify!(heap, head.iter().chain([&data]).map(crate::GcRef::as_raw_u32));
        if round == 0 {
            // Dropping the heap with objects still live drops their host data with it.
            drop(heap);
            ensure!(drops.dropped.get() == 1, "host data dropped {} times", drops.dropped.get());
        } else {
            for r in head.into_iter().chain([data]) {
                ok!(heap.drop_ref(r));
            }
            ensure_empty(&heap)?;
            drop(heap);
            ensure!(drops.dropped.get() == 2);
        }
        // The borrow has ended: the memory is the test's again, to write and to reuse.
        region[..len].fill(0x5a);
    }
    ensure!(drops.created.get() == 2);
    Ok(())
}

pub(super) fn heap_over_a_stack_array_works_and_empties(_region: &'static mut [u8]) -> TestResult {
    let mut memory = HeapMemory::<4096>::new();
    let mut heap: HeapIn<'_, ()> = ok!(HeapIn::new(memory.bytes()));
    let node = register_node(&mut heap)?;
    let mut held = Vec::new();
    // Fill the 4 KiB with nodes until the heap says it is out of memory.
    loop {
        match heap.struct_new(node, &[ValueRef::I32(held.len() as i32), ValueRef::Ref(None)]) {
            Ok(r) => held.push(r),
            Err(crate::Error::OutOfMemory { .. }) => break,
            Err(other) => return Err(alloc::format!("struct_new failed: {other}")),
        }
    }
    ensure!(held.len() >= 100, "only {} nodes fit in 4 KiB", held.len());
    for (i, r) in held.iter().enumerate() {
        ensure!(ok!(heap.struct_get_i32(r, 0)) == i as i32);
    }
    verify!(heap, held.iter().map(crate::GcRef::as_raw_u32));
    for r in held {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)?;
    Ok(())
}

pub(super) fn heap_over_memory_that_is_not_zero_behaves_as_over_zeroed_memory(region: &'static mut [u8]) -> TestResult {
    let len = region.len().min(64 * 1024);
    region[..len].fill(0xa5);
    let mut heap: HeapIn<'_, ()> = ok!(HeapIn::new(&mut region[..len]));
    let fields: Vec<StorageType> = SCALARS.iter().copied().chain([ANYREF]).collect();
    let all = ok!(heap.register_struct(StructType::new(&fields)));
    let array = ok!(heap.register_array(ArrayType::new(ANYREF)));
    ensure_empty(&heap)?;
    let mut held = Vec::new();
    for _ in 0..32 {
        let s = ok!(heap.struct_new_default(all));
        for field in 0..fields.len() as u32 {
            let value = ok!(heap.struct_get(&s, field));
            ensure!(super::helpers::bits(&value).1 == 0, "field {field} of a default struct is {value:?}");
        }
        held.push(s);
        let a = ok!(heap.array_new_default(array, 9));
        for i in 0..9 {
            ensure!(matches!(ok!(heap.array_get(&a, i)), Value::Ref(None)), "element {i} of a default array");
        }
        held.push(a);
    }
    verify!(heap, held.iter().map(crate::GcRef::as_raw_u32));
    for r in held {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)?;
    Ok(())
}
