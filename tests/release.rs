//! Transitive release of large structures on the host: what does not fit the bare-metal
//! machines. Every release goes through the heap's worklist; these run on the default 2 MiB
//! test-thread stack, so recursion over a structure's depth would overflow it. (The
//! million-element reference array is in `release_memory.rs`, which also measures the
//! release's bookkeeping.)

mod common;

use common::{as_ref, assert_empty, externref, region, register_node, size, verify, Drops, ANYREF, EXTERNREF};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, Value, ValueRef};

/// Builds a list of `n` nodes whose payloads count down from `n - 1` at the head, each node
/// held only by its predecessor. Returns the head.
fn build_list<H>(heap: &mut Heap<H>, n: usize) -> GcRef {
    let node = register_node(heap);
    let mut head: Option<GcRef> = None;
    for i in 0..n {
        let new = heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(head.as_ref())]).expect("node");
        if let Some(old) = head.replace(new) {
            heap.drop_ref(old).expect("drop");
        }
    }
    head.expect("a list of at least one node")
}

fn release_list_of(n: usize) {
    let mut heap: Heap<()> = Heap::new(region((n + 1) * 32)).expect("heap");
    let head = build_list(&mut heap, n);
    let report = verify(&heap, &[&head]);
    assert_eq!(report.objects, n as u64);
    assert_eq!(report.heap_references, n as u64);
    // Spot-check the first links.
    let second = as_ref(heap.struct_get(&head, 1).unwrap()).expect("second node");
    assert_eq!(heap.struct_get(&second, 0).unwrap(), Value::I32(n as i32 - 2));
    assert_eq!(heap.ref_count(&second).unwrap(), 2);
    heap.drop_ref(second).unwrap();
    heap.drop_ref(head).unwrap();
    let stats = heap.stats().unwrap();
    assert_eq!(stats.objects_freed, n as u64);
    assert_empty(&heap);
}

#[test]
fn list_of_100_000_nodes_is_released_without_recursion() {
    release_list_of(size(100_000, 200));
}

#[test]
fn list_of_1_000_000_nodes_is_released_without_recursion() {
    release_list_of(size(1_000_000, 200));
}

#[test]
fn list_is_released_when_its_head_dies_in_a_collection() {
    let n = size(100_000, 150);
    let mut heap: Heap<()> = Heap::new(region((n + 1) * 32)).expect("heap");
    let head = build_list(&mut heap, n);
    let word = head.as_raw_u32();
    heap.expose_gc_ref_to_wasm(head).unwrap();
    heap.collect_all([drc_heap::Root::wasm_stack(word)]).unwrap();
    assert_eq!(verify(&heap, &[]).objects, n as u64);
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
}

#[test]
fn deep_chain_of_nested_arrays_is_released() {
    // Each array's only element is the next array: depth equals the number of arrays.
    let depth = size(100_000, 200);
    let mut heap: Heap<()> = Heap::new(region(depth * 32 + 64)).expect("heap");
    let arrays = heap.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Array)))).unwrap();
    let mut inner = heap.array_new(arrays, 1, ValueRef::Ref(None)).unwrap();
    for _ in 1..depth {
        let outer = heap.array_new(arrays, 1, ValueRef::Ref(Some(&inner))).unwrap();
        heap.drop_ref(inner).unwrap();
        inner = outer;
    }
    assert_eq!(verify(&heap, &[&inner]).objects, depth as u64);
    heap.drop_ref(inner).unwrap();
    assert_empty(&heap);
}

/// Builds a tree of reference arrays `fanout` wide and `depth` deep whose leaves are structs
/// holding an externref each; returns the root and the number of arrays.
fn build_tree(
    heap: &mut Heap<common::Tracked>,
    drops: &std::rc::Rc<Drops>,
    fanout: u32,
    depth: u32,
    next_id: &mut u64,
) -> GcRef {
    let arrays = drc_heap::TypeIndex(0);
    let leaf = drc_heap::TypeIndex(1);
    let array = heap.array_new(arrays, fanout, ValueRef::Ref(None)).unwrap();
    for i in 0..fanout {
        let child = if depth == 1 {
            let e = externref(heap, drops, *next_id);
            *next_id += 1;
            let s = heap.struct_new(leaf, &[ValueRef::Ref(Some(&e)), ValueRef::I64(*next_id as i64)]).unwrap();
            heap.drop_ref(e).unwrap();
            s
        } else {
            build_tree(heap, drops, fanout, depth - 1, next_id)
        };
        heap.array_set(&array, i, ValueRef::Ref(Some(&child))).unwrap();
        heap.drop_ref(child).unwrap();
    }
    array
}

#[test]
fn wide_nested_array_tree_drops_every_host_data_value_once() {
    let drops = Drops::new();
    let (fanout, depth) = if cfg!(miri) { (4u32, 3u32) } else { (16, 4) };
    let leaves = (fanout as u64).pow(depth);
    let arrays: u64 = (0..depth).map(|d| (fanout as u64).pow(d)).sum();
    {
        let mut heap: Heap<common::Tracked> = Heap::new(region(16 << 20)).expect("heap");
        heap.register_array(ArrayType::new(ANYREF)).unwrap();
        heap.register_struct(StructType::new(&[EXTERNREF, StorageType::I64])).unwrap();
        let mut next_id = 0;
        let root = build_tree(&mut heap, &drops, fanout, depth, &mut next_id);
        assert_eq!(next_id, leaves);
        let report = verify(&heap, &[&root]);
        assert_eq!(report.objects, arrays + 2 * leaves);
        assert_eq!(drops.created.get(), leaves);
        assert_eq!(drops.dropped.get(), 0, "nothing is dropped while reachable");
        // Cut one subtree off: exactly its leaves' host data go.
        heap.array_set(&root, 0, ValueRef::Ref(None)).unwrap();
        assert_eq!(drops.dropped.get(), leaves / fanout as u64);
        verify(&heap, &[&root]);
        heap.drop_ref(root).unwrap();
        assert_eq!(drops.dropped.get(), leaves);
        assert_empty(&heap);
        // Host data left in a heap is dropped with it.
        let _dropped_with_the_heap = externref(&mut heap, &drops, u64::MAX);
    }
    assert_eq!(drops.created.get(), drops.dropped.get());
    assert_eq!(drops.live(), 0);
}

#[test]
fn externref_list_of_100_000_drops_host_data_in_one_release() {
    let n = size(100_000, 150);
    let drops = Drops::new();
    {
        let mut heap: Heap<common::Tracked> = Heap::new(region(n * 64 + 64)).expect("heap");
        let node = heap.register_struct(StructType::new(&[EXTERNREF, ANYREF])).unwrap();
        let mut head: Option<GcRef> = None;
        for i in 0..n {
            let e = externref(&mut heap, &drops, i as u64);
            let new = heap.struct_new(node, &[ValueRef::Ref(Some(&e)), ValueRef::Ref(head.as_ref())]).unwrap();
            heap.drop_ref(e).unwrap();
            if let Some(old) = head.replace(new) {
                heap.drop_ref(old).unwrap();
            }
        }
        let head = head.unwrap();
        assert_eq!(verify(&heap, &[&head]).objects, 2 * n as u64);
        let e = as_ref(heap.struct_get(&head, 0).unwrap()).unwrap();
        assert_eq!(heap.externref_data(&e).unwrap().id, n as u64 - 1);
        heap.drop_ref(e).unwrap();
        assert_eq!(drops.dropped.get(), 0);
        heap.drop_ref(head).unwrap();
        assert_eq!(drops.dropped.get(), n as u64);
        assert_empty(&heap);
    }
    assert_eq!(drops.created.get(), drops.dropped.get());
}
