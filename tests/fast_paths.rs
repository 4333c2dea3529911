//! The embedder fast paths (`src/heap/fast_paths.rs`): owned values moved in, borrowed references
//! and views read out; and the release, sweep and trace paths the benchmarks tuned.

mod common;

use common::{assert_empty, region, size, verify};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::zeal::Zeal;
use drc_heap::{Error, GcRef, Heap, HeapConfig, Root, TypeIndex, Value, ValueRef};

const STRUCT_REF: StorageType = StorageType::Ref(RefType::nullable(HeapType::Struct));

/// A heap with node = struct {left, right: ref null struct, value: i32}.
fn node_heap(len: usize) -> (Heap<()>, TypeIndex) {
    let mut heap: Heap<()> = Heap::new(region(len)).expect("heap");
    let node = heap.register_struct(StructType::new(&[STRUCT_REF, STRUCT_REF, StorageType::I32])).expect("node");
    (heap, node)
}

fn new_node(heap: &mut Heap<()>, node: TypeIndex, left: Option<GcRef>, right: Option<GcRef>, value: i32) -> GcRef {
    heap.struct_new_owned(node, [Value::Ref(left), Value::Ref(right), Value::I32(value)])
        .map_err(|(error, _)| error)
        .expect("struct_new_owned")
}

#[test]
fn struct_new_owned_moves_references_without_count_changes() {
    let (mut heap, node) = node_heap(1 << 16);
    let left = new_node(&mut heap, node, None, None, 1);
    let right = new_node(&mut heap, node, None, None, 2);
    let parent = new_node(&mut heap, node, Some(left), Some(right), 3);
    let view = heap.struct_view(&parent).unwrap();
    let (l, r) = (view.get_ref(0).unwrap().unwrap(), view.get_ref(1).unwrap().unwrap());
    // The children's only counts are the parent's fields.
    assert_eq!(heap.ref_count(&l).unwrap(), 1);
    assert_eq!(heap.ref_count(&r).unwrap(), 1);
    assert_eq!(heap.struct_view(&l).unwrap().get_i32(2).unwrap(), 1);
    assert_eq!(heap.struct_get_i32(&r, 2).unwrap(), 2);
    assert_eq!(view.get_i32(2).unwrap(), 3);
    assert_eq!(view.fields(), 3);
    verify(&heap, &[&parent]);
    heap.drop_ref(parent).unwrap();
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_hands_values_back_on_errors() {
    let (mut heap, node) = node_heap(4096);
    let child = new_node(&mut heap, node, None, None, 7);
    // Wrong number of fields, then a wrong storage type: nothing stored, the value comes back.
    let (error, [back]) = heap.struct_new_owned(node, [Value::Ref(Some(child))]).unwrap_err();
    assert!(matches!(error, Error::FieldCountMismatch { found: 1, .. }), "{error:?}");
    let Value::Ref(Some(child)) = back else { panic!("{back:?}") };
    let fields = [Value::Ref(Some(child)), Value::Ref(None), Value::F64(1.0)];
    let (error, [back, _, _]) = heap.struct_new_owned(node, fields).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    let Value::Ref(Some(child)) = back else { panic!("{back:?}") };
    assert_eq!(heap.ref_count(&child).unwrap(), 1);
    // An externref is not a struct: the field's reference type rejects it.
    let mut externs: Heap<u32> = Heap::new(region(4096)).unwrap();
    let ty = externs.register_struct(StructType::new(&[STRUCT_REF])).unwrap();
    let e = externs.alloc_externref(5).map_err(|(error, _)| error).unwrap();
    let (error, [back]) = externs.struct_new_owned(ty, [Value::Ref(Some(e))]).unwrap_err();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{error:?}");
    externs.release_value(back).unwrap();
    assert_empty(&externs);
    // Out of memory: the values come back too, and the caller can free room and retry.
    let mut held = Vec::new();
    while let Ok(r) = heap.struct_new_owned(node, [Value::Ref(None), Value::Ref(None), Value::I32(0)]) {
        held.push(r);
    }
    let fields = [Value::Ref(Some(child)), Value::Ref(None), Value::I32(1)];
    let (error, [back, _, _]) = heap.struct_new_owned(node, fields).unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    let Value::Ref(Some(child)) = back else { panic!("{back:?}") };
    heap.drop_ref(held.pop().unwrap()).unwrap();
    let parent = new_node(&mut heap, node, Some(child), None, 1);
    for r in held {
        heap.drop_ref(r).unwrap();
    }
    verify(&heap, &[&parent]);
    heap.drop_ref(parent).unwrap();
    assert_empty(&heap);
}

#[test]
fn owned_setters_move_in_and_release_the_old_value() {
    let (mut heap, node) = node_heap(1 << 16);
    let parent = new_node(&mut heap, node, None, None, 0);
    let a = new_node(&mut heap, node, None, None, 1);
    let a_word = a.as_raw_u32();
    heap.struct_set_owned(&parent, 0, Value::Ref(Some(a))).unwrap();
    assert_eq!(heap.struct_get_borrowed(&parent, 0).unwrap().map(|r| r.as_raw_u32()), Some(a_word));
    let b = new_node(&mut heap, node, None, None, 2);
    heap.struct_set_owned(&parent, 0, Value::Ref(Some(b))).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 2, "a was released with its last count");
    heap.struct_set_owned(&parent, 2, Value::I32(9)).unwrap();
    assert_eq!(heap.struct_get_scalar(&parent, 2).unwrap(), Value::I32(9));
    // Errors release the value, so nothing leaks.
    let c = new_node(&mut heap, node, None, None, 3);
    assert!(matches!(heap.struct_set_owned(&parent, 2, Value::Ref(Some(c))), Err(Error::TypeMismatch { .. })));
    let d = new_node(&mut heap, node, None, None, 4);
    assert!(matches!(heap.struct_set_owned(&parent, 9, Value::Ref(Some(d))), Err(Error::FieldOutOfBounds { .. })));
    assert_eq!(heap.stats().unwrap().live_objects, 2);
    // Typed getters check the storage type.
    assert!(matches!(heap.struct_get_borrowed(&parent, 2), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.struct_get_scalar(&parent, 0), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.struct_get_i32(&parent, 1), Err(Error::TypeMismatch { .. })));
    let owned = heap.struct_get_ref(&parent, 0).unwrap().unwrap();
    assert_eq!(heap.ref_count(&owned).unwrap(), 2);
    heap.drop_ref(owned).unwrap();
    verify(&heap, &[&parent]);
    heap.drop_ref(parent).unwrap();
    assert_empty(&heap);
}

#[test]
fn views_check_kinds_indices_and_storage_types() {
    let (mut heap, node) = node_heap(1 << 16);
    let doubles = heap.register_array(ArrayType::new(StorageType::F64)).unwrap();
    let nodes = heap.register_array(ArrayType::new(STRUCT_REF)).unwrap();
    let a = heap.array_new(doubles, 10, ValueRef::F64(0.5)).unwrap();
    heap.array_set(&a, 3, ValueRef::F64(3.0)).unwrap();
    let view = heap.array_view(&a).unwrap();
    assert_eq!((view.len(), view.is_empty(), view.element()), (10, false, StorageType::F64));
    assert_eq!(view.get_f64(3).unwrap(), 3.0);
    assert_eq!(view.get_scalar(4).unwrap(), Value::F64(0.5));
    assert!(matches!(view.get_f64(10), Err(Error::IndexOutOfBounds { .. })));
    assert!(matches!(view.get_i32(0), Err(Error::TypeMismatch { .. })));
    assert!(matches!(view.get_ref(0), Err(Error::TypeMismatch { .. })));
    assert_eq!(heap.array_get_scalar(&a, 3).unwrap(), Value::F64(3.0));
    assert!(matches!(heap.struct_view(&a), Err(Error::WrongObjectKind { .. })));
    assert!(matches!(heap.array_get_borrowed(&a, 0), Err(Error::TypeMismatch { .. })));

    let refs = heap.array_new(nodes, 4, ValueRef::Ref(None)).unwrap();
    let n = new_node(&mut heap, node, None, None, 5);
    let word = n.as_raw_u32();
    heap.array_set_owned(&refs, 2, Value::Ref(Some(n))).unwrap();
    assert_eq!(heap.array_get_borrowed(&refs, 2).unwrap().map(|r| r.as_raw_u32()), Some(word));
    assert!(heap.array_view(&refs).unwrap().get_ref(1).unwrap().is_none());
    assert!(matches!(heap.array_get_scalar(&refs, 0), Err(Error::TypeMismatch { .. })));
    assert!(matches!(heap.array_view(&refs).unwrap().get_scalar(0), Err(Error::TypeMismatch { .. })));
    let extra = new_node(&mut heap, node, None, None, 6);
    assert!(matches!(heap.array_set_owned(&refs, 4, Value::Ref(Some(extra))), Err(Error::IndexOutOfBounds { .. })));
    assert!(matches!(heap.array_view(&n_ref(&heap, &refs)), Err(Error::WrongObjectKind { .. })));
    assert!(matches!(heap.struct_view(&GcRef::from_i31(3)), Err(Error::WrongObjectKind { .. })));
    verify(&heap, &[&a, &refs]);
    heap.drop_ref(a).unwrap();
    heap.drop_ref(refs).unwrap();
    assert_empty(&heap);
}

#[test]
fn scalar_arrays_are_written_and_read_through_one_validation() {
    let (mut heap, _) = node_heap(1 << 16);
    let doubles = heap.register_array(ArrayType::new(StorageType::F64)).unwrap();
    let ints = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let refs = heap.register_array(ArrayType::new(STRUCT_REF)).unwrap();
    let a = heap.array_new(doubles, 100, ValueRef::F64(0.0)).unwrap();
    let mut elements = heap.scalar_array_mut(&a).unwrap();
    assert_eq!((elements.len(), elements.is_empty(), elements.element()), (100, false, StorageType::F64));
    for i in 0..100 {
        elements.set_f64(i, i as f64 / 4.0).unwrap();
    }
    elements.set(7, ValueRef::F64(-1.0)).unwrap();
    assert_eq!(elements.get_f64(8).unwrap(), 2.0);
    assert_eq!(elements.get(7).unwrap(), Value::F64(-1.0));
    assert!(matches!(elements.set_f64(100, 0.0), Err(Error::IndexOutOfBounds { .. })));
    assert!(matches!(elements.set_i32(0, 1), Err(Error::TypeMismatch { .. })));
    assert!(matches!(elements.set(0, ValueRef::I32(1)), Err(Error::TypeMismatch { .. })));
    let sum: f64 = (0..100).map(|i| heap.array_view(&a).unwrap().get_f64(i).unwrap()).sum();
    assert_eq!(sum, (0..100).map(|i| i as f64 / 4.0).sum::<f64>() - 7.0 / 4.0 - 1.0);
    let b = heap.array_new(ints, 3, ValueRef::I32(0)).unwrap();
    heap.scalar_array_mut(&b).unwrap().set_i32(2, -5).unwrap();
    assert_eq!(heap.array_view(&b).unwrap().get_i32(2).unwrap(), -5);
    // Reference arrays need the barrier: no scalar view of them.
    let c = heap.array_new(refs, 3, ValueRef::Ref(None)).unwrap();
    assert!(matches!(heap.scalar_array_mut(&c), Err(Error::TypeMismatch { .. })));
    verify(&heap, &[&a, &b, &c]);
    for r in [a, b, c] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

/// The struct in element 2 of `refs`, owned.
fn n_ref(heap: &Heap<()>, refs: &GcRef) -> GcRef {
    let word = heap.array_get_borrowed(refs, 2).unwrap().unwrap().as_raw_u32();
    // A second handle to a word the array owns, used only to be read through.
    GcRef::from_raw_u32(word).unwrap()
}

#[test]
fn release_frees_trees_and_long_chains_through_the_worklist() {
    let (mut heap, node) = node_heap(1 << 22);
    fn tree(heap: &mut Heap<()>, node: TypeIndex, depth: u32) -> GcRef {
        if depth == 0 {
            return new_node(heap, node, None, None, 0);
        }
        let (l, r) = (tree(heap, node, depth - 1), tree(heap, node, depth - 1));
        new_node(heap, node, Some(l), Some(r), depth as i32)
    }
    fn count(heap: &Heap<()>, r: &GcRef) -> u64 {
        let view = heap.struct_view(r).unwrap();
        1 + [0, 1].iter().filter_map(|&f| view.get_ref(f).unwrap()).map(|c| count(heap, &c)).sum::<u64>()
    }
    let depth = size(12, 6) as u32;
    let t = tree(&mut heap, node, depth);
    assert_eq!(count(&heap, &t), (1 << (depth + 1)) - 1);
    verify(&heap, &[&t]);
    heap.drop_ref(t).unwrap();
    assert_empty(&heap);
    // A chain through the right field (the release loop follows it without the worklist) and
    // one through the left field (every node goes through the worklist).
    for field in [1, 0] {
        let mut head: Option<GcRef> = None;
        for i in 0..size(100_000, 500) {
            let (l, r) = if field == 0 { (head.take(), None) } else { (None, head.take()) };
            head = Some(new_node(&mut heap, node, l, r, i as i32));
        }
        heap.drop_ref(head.unwrap()).unwrap();
        assert_empty(&heap);
    }
}

#[test]
fn a_failed_trace_step_keeps_the_rest_of_its_roots() {
    // A bad root fails a step only when zeal asks for it (otherwise it is skipped and counted).
    let config = HeapConfig::default().with_zeal(Zeal::none().with_invalid_roots_are_errors(true));
    let mut heap: Heap<()> = Heap::with_config(region(1 << 20), config).expect("heap");
    let node = heap.register_struct(StructType::new(&[STRUCT_REF, STRUCT_REF, StorageType::I32])).expect("node");
    let n = size(1000, 100);
    let objects: Vec<GcRef> = (0..n).map(|i| new_node(&mut heap, node, None, None, i as i32)).collect();
    let words: Vec<u32> = objects.iter().map(|r| r.as_raw_u32()).collect();
    for r in objects {
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    // A bad word in the middle of the stack: the step fails, the roots after it stay pending.
    let mut roots: Vec<Root> = words.iter().map(|&w| Root::wasm_stack(w)).collect();
    roots.insert(n / 2, Root::wasm_stack(heap.region_len() - 16));
    let mut collection = heap.collect(roots).unwrap();
    assert!(collection.step().is_err());
    collection.finish().unwrap();
    // Every object was on the stack: all survive, each once in the table.
    let stats = heap.stats().unwrap();
    assert_eq!((stats.live_objects, stats.activations_table_entries), (n as u64, n as u64));
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
}

#[test]
fn sweeps_of_big_tables_release_every_entry_once() {
    let (mut heap, node) = node_heap(1 << 22);
    let n = size(50_000, 300);
    let objects: Vec<GcRef> = (0..n).map(|i| new_node(&mut heap, node, None, None, i as i32)).collect();
    // Duplicates, in a scrambled order, some garbage words from "JIT code" in the chunk.
    for k in 0..2 * n {
        let r = heap.clone_ref(&objects[(k * 7919) % n]).unwrap();
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    let stack: Vec<Root> = objects.iter().step_by(10).map(|r| Root::wasm_stack(r.as_raw_u32())).collect();
    heap.collect_all(stack.iter().copied()).unwrap();
    assert_eq!(heap.stats().unwrap().activations_table_entries, n.div_ceil(10) as u64);
    let refs: Vec<&GcRef> = objects.iter().collect();
    verify(&heap, &refs);
    for r in objects {
        heap.drop_ref(r).unwrap();
    }
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
}
