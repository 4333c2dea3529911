//! `Heap::allocate_with_roots`: the embedder's collect-and-retry duties in one call.

mod common;

use common::{region, register_node, verify};
use drc_heap::types::{ArrayType, StorageType};
use drc_heap::zeal::Zeal;
use drc_heap::{Error, GcRef, Heap, HeapConfig, Root, RootSource, TypeIndex, ValueRef};

/// A region of 4 KiB: about a hundred 32-byte nodes.
const REGION: usize = 4096;

/// A root source over a simulated Wasm stack that counts how often it is asked.
struct Stack {
    words: Vec<u32>,
    calls: usize,
}

impl Stack {
    fn new(words: Vec<u32>) -> Stack {
        Stack { words, calls: 0 }
    }
}

impl RootSource for Stack {
    fn roots(&mut self, into: &mut Vec<Root>) -> drc_heap::Result<()> {
        self.calls += 1;
        into.extend(self.words.iter().map(|&word| Root::wasm_stack(word)));
        Ok(())
    }
}

fn node(heap: &mut Heap<()>, ty: TypeIndex, payload: i32) -> drc_heap::Result<GcRef> {
    heap.struct_new(ty, &[ValueRef::I32(payload), ValueRef::Ref(None)])
}

/// A heap of [`REGION`] bytes with the node type registered.
fn node_heap() -> (Heap<()>, TypeIndex) {
    let mut heap: Heap<()> = Heap::new(region(REGION)).unwrap();
    let ty = register_node(&mut heap);
    (heap, ty)
}

/// A node heap full of nodes exposed to Wasm (held only by the activations table, until an
/// allocation fails), and their words.
fn heap_full_of_exposed() -> (Heap<()>, TypeIndex, Vec<u32>) {
    let (mut heap, ty) = node_heap();
    let mut words = Vec::new();
    loop {
        match node(&mut heap, ty, words.len() as i32) {
            Ok(r) => {
                words.push(r.as_raw_u32());
                heap.expose_gc_ref_to_wasm(r).unwrap();
            }
            Err(error) => {
                assert!(error.is_retryable(), "{error}");
                return (heap, ty, words);
            }
        }
    }
}

/// Fills the heap with nodes the host holds; returns them.
fn fill_with_host_held(heap: &mut Heap<()>, ty: TypeIndex) -> Vec<GcRef> {
    let mut held = Vec::new();
    while let Ok(r) = node(heap, ty, held.len() as i32) {
        held.push(r);
    }
    held
}

fn drop_all(heap: &mut Heap<()>, refs: Vec<GcRef>) {
    for r in refs {
        heap.drop_ref(r).unwrap();
    }
}

#[test]
fn a_full_heap_of_garbage_held_by_the_activations_table_allocates_after_the_collection() {
    let (mut heap, ty, exposed) = heap_full_of_exposed();
    assert!(!exposed.is_empty());
    assert!(node(&mut heap, ty, 0).unwrap_err().is_retryable());
    let mut stack = Stack::new(Vec::new());
    let r = heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, 7)).unwrap();
    assert!(stack.calls >= 1);
    assert_eq!(heap.activations_table_len(), 0);
    assert_eq!(heap.stats().unwrap().live_objects, 1);
    verify(&heap, &[&r]);
    heap.drop_ref(r).unwrap();
}

#[test]
fn the_roots_given_stay_alive_through_the_collection() {
    let (mut heap, ty, exposed) = heap_full_of_exposed();
    let kept: Vec<u32> = exposed.iter().copied().step_by(3).collect();
    let mut stack = Stack::new(kept.clone());
    let r = heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, 7)).unwrap();
    assert!(stack.calls >= 1);
    assert_eq!(heap.activations_table_len(), kept.len());
    assert_eq!(heap.stats().unwrap().live_objects, kept.len() as u64 + 1);
    for &word in &kept {
        let alive = heap.retain_raw(word).unwrap().unwrap();
        heap.drop_ref(alive).unwrap();
    }
    verify(&heap, &[&r]);
    heap.drop_ref(r).unwrap();
    heap.collect_all(core::iter::empty()).unwrap();
    verify(&heap, &[]);
}

#[test]
fn the_roots_are_not_computed_when_no_collection_runs() {
    let (mut heap, ty) = node_heap();
    let mut stack = Stack::new(Vec::new());
    let mut held = Vec::new();
    for i in 0..10 {
        held.push(heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, i)).unwrap());
    }
    assert_eq!(stack.calls, 0);
    drop_all(&mut heap, held);
}

#[test]
fn zeals_forced_out_of_memory_is_absorbed_by_the_retry() {
    let config = HeapConfig::default().with_zeal(Zeal::none().with_fail_every_nth_allocation(1));
    let mut heap: Heap<()> = Heap::with_config(region(REGION), config).unwrap();
    let ty = register_node(&mut heap);
    let mut stack = Stack::new(Vec::new());
    let mut held = Vec::new();
    for i in 0..10 {
        held.push(heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, i)).unwrap());
    }
    assert!(stack.calls >= 5, "{} collections", stack.calls);
    verify(&heap, &held.iter().collect::<Vec<_>>());
    drop_all(&mut heap, held);
}

#[test]
fn a_second_failure_returns_out_of_memory_and_the_heap_still_verifies() {
    let (mut heap, ty) = node_heap();
    let held = fill_with_host_held(&mut heap, ty);
    let mut stack = Stack::new(Vec::new());
    let error = heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, 7)).unwrap_err();
    assert!(matches!(error, Error::OutOfMemory { .. }), "{error}");
    assert_eq!(stack.calls, 1);
    verify(&heap, &held.iter().collect::<Vec<_>>());
    drop_all(&mut heap, held);
}

#[test]
fn an_allocation_too_large_returns_at_once_without_collecting() {
    let mut heap: Heap<()> = Heap::new(region(REGION)).unwrap();
    let bytes = heap.register_array(ArrayType::new(StorageType::I8)).unwrap();
    let mut stack = Stack::new(Vec::new());
    let mut calls = 0;
    let error = heap
        .allocate_with_roots(&mut stack, |heap| {
            calls += 1;
            heap.array_new_default(bytes, u32::MAX)
        })
        .unwrap_err();
    assert!(matches!(error, Error::AllocationTooLarge { .. }), "{error}");
    assert_eq!((stack.calls, calls), (0, 1));
}

#[test]
fn a_non_retryable_error_returns_at_once_without_collecting() {
    let mut heap: Heap<()> = Heap::new(region(REGION)).unwrap();
    let mut stack = Stack::new(Vec::new());
    let error = heap.allocate_with_roots(&mut stack, |heap| node(heap, TypeIndex(99), 0)).unwrap_err();
    assert!(matches!(error, Error::UnknownType(99)), "{error}");
    assert_eq!(stack.calls, 0);
}

#[test]
fn a_root_source_that_fails_stops_the_call_before_the_collection() {
    let (mut heap, ty, exposed) = heap_full_of_exposed();
    let mut failing = |_: &mut Vec<Root>| Err(Error::NullReference);
    let error = heap.allocate_with_roots(&mut failing, |heap| node(heap, ty, 7)).unwrap_err();
    assert!(matches!(error, Error::NullReference), "{error}");
    assert_eq!(heap.activations_table_len(), exposed.len());
    heap.collect_all(core::iter::empty()).unwrap();
    verify(&heap, &[]);
}

#[test]
fn inside_a_no_gc_scope_nothing_collects() {
    let (mut heap, ty, exposed) = heap_full_of_exposed();
    let mut stack = Stack::new(Vec::new());
    heap.enter_no_gc_scope();
    let mut calls = 0;
    let error = heap
        .allocate_with_roots(&mut stack, |heap| {
            calls += 1;
            node(heap, ty, 7)
        })
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!((stack.calls, calls), (0, 1));
    assert_eq!(heap.activations_table_len(), exposed.len());
    assert_eq!(heap.stats().unwrap().live_objects, exposed.len() as u64);
    heap.exit_no_gc_scope().unwrap();
    let r = heap.allocate_with_roots(&mut stack, |heap| node(heap, ty, 7)).unwrap();
    assert!(stack.calls >= 1);
    verify(&heap, &[&r]);
    heap.drop_ref(r).unwrap();
}
