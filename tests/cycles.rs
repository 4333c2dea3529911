//! Host-only tests of the cycle collector: sizes that need more memory than the portable table
//! may assume, a small stack, and workloads run long enough to prove a bound. Every figure
//! checked here is a count (objects, bytes, visits), never a time.

mod common;

use common::region;
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{Error, GcRef, Heap, HeapConfig, Root, TypeIndex, Value, ValueRef};
use std::cell::Cell;
use std::rc::Rc;

/// Host data that counts its drops.
struct Token(Rc<Cell<u64>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

type TestHeap = Heap<Token>;

/// Node fields: `[id: i32, next: anyref, prev: anyref, data: externref]`.
const NEXT: u32 = 1;
const PREV: u32 = 2;
const DATA: u32 = 3;
/// Block size of a node: 16-byte header + 16 bytes.
const NODE_BLOCK: u64 = 32;

fn any() -> StorageType {
    StorageType::Ref(RefType::nullable(HeapType::Any))
}

fn new_heap(len: usize, config: HeapConfig) -> (TestHeap, TypeIndex, TypeIndex) {
    let mut heap: TestHeap = Heap::with_config(region(len), config).unwrap();
    let node = heap
        .register_struct(StructType::new(&[
            StorageType::I32,
            any(),
            any(),
            StorageType::Ref(RefType::nullable(HeapType::Extern)),
        ]))
        .unwrap();
    let refs = heap.register_array(ArrayType::new(any())).unwrap();
    (heap, node, refs)
}

fn some(r: &GcRef) -> ValueRef<'_> {
    ValueRef::Ref(Some(r))
}

fn node(heap: &mut TestHeap, ty: TypeIndex, id: i32, prev: Option<&GcRef>) -> Result<GcRef, Error> {
    heap.struct_new(ty, &[ValueRef::I32(id), ValueRef::Ref(None), ValueRef::Ref(prev), ValueRef::Ref(None)])
}

/// Builds a doubly linked ring of `n` nodes and returns the one owned reference to node 0.
fn ring(heap: &mut TestHeap, ty: TypeIndex, n: usize) -> Result<GcRef, Error> {
    let head = node(heap, ty, 0, None)?;
    let mut prev = heap.clone_ref(&head)?;
    for i in 1..n {
        let next = node(heap, ty, i as i32, Some(&prev))?;
        heap.struct_set(&prev, NEXT, some(&next))?;
        heap.drop_ref(prev)?;
        prev = next;
    }
    heap.struct_set(&prev, NEXT, some(&head))?;
    heap.struct_set(&head, PREV, some(&prev))?;
    heap.drop_ref(prev)?;
    Ok(head)
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn million_node_ring_is_collected_on_a_small_stack() {
    const N: usize = 1_000_000;
    // A recursive traversal of a million-node ring would need far more than this stack.
    let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| {
        let (mut heap, ty, _) = new_heap(N * NODE_BLOCK as usize + (1 << 20), HeapConfig::default());
        let head = ring(&mut heap, ty, N).unwrap();
        heap.verify([head.as_raw_u32()]).unwrap();
        let built = heap.stats().unwrap();
        assert_eq!(built.live_objects, N as u64);
        heap.drop_ref(head).unwrap();
        let report = heap.collect_cycles().unwrap();
        heap.verify([]).unwrap();
        assert_eq!(report.objects_freed, N as u64);
        let stats = heap.stats().unwrap();
        assert_eq!(stats.live_objects, 0);
        assert_eq!(stats.free_blocks, 1, "the region is one free block again");
        println!(
            "million-node ring: {} cycle collections while building ({} visits), final one {} visits, {} references",
            built.cycle_collections, built.cycle_objects_scanned, report.objects_scanned, report.references_traced
        );
        // Mark gray, scan and gather visit each node once.
        assert_eq!(report.objects_scanned, 3 * N as u64);
    });
    worker.unwrap().join().expect("the collector must not overflow a 256 KiB stack");
}

/// What a run of the ring workload did.
#[derive(Debug)]
struct RingRun {
    rounds: usize,
    result: Result<(), Error>,
    largest_ring_bytes: u64,
    peak_live_bytes: u64,
    cycle_objects_freed: u64,
    cycle_objects_scanned: u64,
    cycle_references_traced: u64,
    cycle_collections: u64,
}

/// Builds doubly linked rings of 100 to 1,000 nodes and drops each, `rounds` times (or until an
/// allocation fails). Every ring is checked before it is dropped, and the heap is verified
/// every 50 rounds.
fn ring_workload(config: HeapConfig, rounds: usize) -> RingRun {
    let (mut heap, ty, _) = new_heap(1 << 20, config);
    let mut random = Lcg(7);
    let mut largest = 0;
    let mut run = |heap: &mut TestHeap, round: &mut usize| -> Result<(), Error> {
        while *round < rounds {
            let n = 100 + random.below(901) as usize;
            largest = largest.max(n as u64);
            let head = ring(heap, ty, n)?;
            match heap.struct_get(&head, PREV)? {
                Value::Ref(Some(last)) => {
                    assert!(matches!(heap.struct_get(&last, 0)?, Value::I32(id) if id as usize == n - 1));
                    heap.drop_ref(last)?;
                }
                other => panic!("prev of the head is {other:?}"),
            }
            heap.drop_ref(head)?;
            if *round % 50 == 0 {
                heap.verify([])?;
            }
            *round += 1;
        }
        Ok(())
    };
    let mut round = 0;
    let result = run(&mut heap, &mut round);
    if result.is_ok() {
        heap.verify([]).unwrap();
    }
    let stats = heap.stats().unwrap();
    RingRun {
        rounds: round,
        result,
        largest_ring_bytes: largest * NODE_BLOCK,
        peak_live_bytes: stats.peak_live_bytes,
        cycle_objects_freed: stats.cycle_objects_freed,
        cycle_objects_scanned: stats.cycle_objects_scanned,
        cycle_references_traced: stats.cycle_references_traced,
        cycle_collections: stats.cycle_collections,
    }
}

#[test]
fn ring_workload_stays_bounded_with_cycle_collection_and_fills_the_heap_without() {
    // 600 rounds allocate about ten times the 1 MiB region.
    const ROUNDS: usize = 600;
    let on = ring_workload(HeapConfig::default().with_cycle_candidate_threshold(250), ROUNDS);
    println!("with cycle collection: {on:?}");
    assert!(on.result.is_ok(), "{on:?}");
    assert_eq!(on.rounds, ROUNDS);
    assert!(
        on.peak_live_bytes <= 2 * on.largest_ring_bytes,
        "peak live {} bytes, largest ring {} bytes",
        on.peak_live_bytes,
        on.largest_ring_bytes
    );
    println!(
        "work: {:.2} objects scanned and {:.2} references traced per object freed, over {} cycle collections",
        on.cycle_objects_scanned as f64 / on.cycle_objects_freed as f64,
        on.cycle_references_traced as f64 / on.cycle_objects_freed as f64,
        on.cycle_collections
    );
    // Each freed node is visited three times (mark gray, scan, gather). A collection that the
    // candidate trigger starts leaves the young candidates (most often the ring being built)
    // for the next one; a heap-growth collection takes them too, and then a live ring is
    // visited (mark gray and scan black), and again at the next collection if that comes before
    // the ring is dropped.
    assert!(on.cycle_objects_scanned <= 8 * on.cycle_objects_freed, "{on:?}");

    // The default threshold also keeps it bounded (by the threshold instead of the ring).
    let default = ring_workload(HeapConfig::default(), ROUNDS);
    println!("with the default threshold: {default:?}");
    assert!(default.result.is_ok(), "{default:?}");

    let off = ring_workload(HeapConfig::default().with_cycle_collection(false), ROUNDS);
    println!("without cycle collection: {off:?}");
    assert!(matches!(off.result, Err(Error::OutOfMemory { .. })), "{off:?}");
    assert!(off.rounds < ROUNDS / 4, "the region fills after about 60 rounds: {off:?}");
    assert_eq!(off.cycle_collections, 0);
}

#[test]
fn many_candidates_freed_in_a_scattered_order_leave_the_buffer() {
    // More candidates than 16 bits can count, freed by counting in a scattered order: each
    // leaves the buffer (its count), whatever its place.
    const N: usize = 150_000;
    let config =
        HeapConfig::default().with_cycle_candidate_threshold(usize::MAX).with_cycle_collection_on_heap_growth(false);
    let (mut heap, ty, _) = new_heap(N * NODE_BLOCK as usize + (1 << 20), config);
    let mut nodes = Vec::with_capacity(N);
    for i in 0..N {
        let r = node(&mut heap, ty, i as i32, None).unwrap();
        // A decrement to a non-zero count buffers the node.
        let copy = heap.clone_ref(&r).unwrap();
        heap.drop_ref(copy).unwrap();
        nodes.push(Some(r));
    }
    assert_eq!(heap.cycle_candidates(), N);
    heap.verify(nodes.iter().flatten().map(GcRef::as_raw_u32)).unwrap();
    let mut order: Vec<usize> = (0..N).collect();
    let mut random = Lcg(42);
    for i in (1..N).rev() {
        order.swap(i, random.below(i as u64 + 1) as usize);
    }
    for (done, &i) in order.iter().enumerate() {
        heap.drop_ref(nodes[i].take().unwrap()).unwrap();
        if done % 30_000 == 0 {
            heap.verify(nodes.iter().flatten().map(GcRef::as_raw_u32)).unwrap();
            assert_eq!(heap.cycle_candidates(), N - done - 1);
        }
    }
    heap.verify([]).unwrap();
    assert_eq!(heap.cycle_candidates(), 0);
    assert_eq!(heap.stats().unwrap().live_objects, 0);
}

#[test]
fn a_freed_candidates_block_reused_by_another_object_is_never_taken_for_it() {
    // A candidate freed by counting leaves its bit in the buffer (stale). The block it leaves is
    // reused; the collection must take the object there as a root only if it is a candidate of
    // its own, and count it once.
    let config =
        HeapConfig::default().with_cycle_candidate_threshold(usize::MAX).with_cycle_collection_on_heap_growth(false);
    let (mut heap, ty, _) = new_heap(1 << 20, config);
    let make_candidate = |heap: &mut TestHeap, r: &GcRef| {
        let copy = heap.clone_ref(r).unwrap();
        heap.drop_ref(copy).unwrap();
    };
    let keep = node(&mut heap, ty, 0, None).unwrap(); // So that freeing does not empty the heap.
    let a = node(&mut heap, ty, 1, None).unwrap();
    let block = a.as_raw_u32();
    make_candidate(&mut heap, &a);
    assert_eq!(heap.cycle_candidates(), 1);
    heap.drop_ref(a).unwrap();
    assert_eq!(heap.cycle_candidates(), 0);
    heap.verify([keep.as_raw_u32()]).unwrap();

    // The block is reused by an object that is not a candidate: a collection finds no root and
    // leaves the object alone (a root would be coloured and counted in the report).
    let b = node(&mut heap, ty, 2, None).unwrap();
    assert_eq!(b.as_raw_u32(), block, "the free list hands the freed block out again");
    let report = heap.collect_cycles().unwrap();
    assert_eq!((report.candidates, report.objects_scanned, report.objects_freed), (0, 0, 0), "{report:?}");
    assert_eq!(heap.ref_count(&b).unwrap(), 1);
    heap.verify([keep.as_raw_u32(), b.as_raw_u32()]).unwrap();
    heap.drop_ref(b).unwrap();

    // Freed again after a new candidate at the same block, which is garbage (a self-cycle):
    // one root, one object freed.
    let a = node(&mut heap, ty, 1, None).unwrap();
    make_candidate(&mut heap, &a);
    heap.drop_ref(a).unwrap();
    let c = node(&mut heap, ty, 3, None).unwrap();
    assert_eq!(c.as_raw_u32(), block);
    heap.struct_set(&c, NEXT, some(&c)).unwrap();
    heap.drop_ref(c).unwrap(); // Count 1 from itself: buffered, with the bit already set.
    assert_eq!(heap.cycle_candidates(), 1);
    heap.verify([keep.as_raw_u32()]).unwrap();
    let report = heap.collect_cycles().unwrap();
    assert_eq!((report.candidates, report.objects_freed), (1, 1), "{report:?}");
    assert_eq!(heap.cycle_candidates(), 0);
    heap.verify([keep.as_raw_u32()]).unwrap();
    heap.drop_ref(keep).unwrap();
    heap.verify([]).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 0);
}

#[test]
fn large_live_ring_built_under_a_small_threshold_costs_linear_work() {
    // Each cycle collection while the ring grows scans all of it (it is reachable from the new
    // candidates). The trigger rises to the survivors of the last collection, so collections
    // come at geometrically spaced sizes and the total work stays linear.
    const N: usize = 200_000;
    let config = HeapConfig::default().with_cycle_candidate_threshold(64);
    let (mut heap, ty, _) = new_heap(N * NODE_BLOCK as usize + (1 << 20), config);
    let head = ring(&mut heap, ty, N).unwrap();
    heap.verify([head.as_raw_u32()]).unwrap();
    let stats = heap.stats().unwrap();
    println!(
        "live ring of {N}: {} cycle collections, {} visits ({:.2} per node)",
        stats.cycle_collections,
        stats.cycle_objects_scanned,
        stats.cycle_objects_scanned as f64 / N as f64
    );
    assert_eq!(stats.cycle_objects_freed, 0);
    assert!(stats.cycle_collections <= 32, "{stats:?}");
    assert!(stats.cycle_objects_scanned <= 8 * N as u64, "{stats:?}");
    heap.drop_ref(head).unwrap();
    assert_eq!(heap.collect_cycles().unwrap().objects_freed, N as u64);
    heap.verify([]).unwrap();
}

#[test]
fn unproductive_cycle_collections_back_off_and_a_productive_one_restores_the_threshold() {
    // Phase 1: an acyclic program whose decrements make every node a candidate, all alive.
    // Without back-off it would run one collection per 64 candidates (about 300), each freeing
    // nothing; the doubling trigger makes that a logarithmic number.
    const LIVE: usize = 20_000;
    const THRESHOLD: usize = 64;
    const RING: usize = 8;
    let config =
        HeapConfig::default().with_cycle_candidate_threshold(THRESHOLD).with_cycle_collection_on_heap_growth(false);
    let (mut heap, ty, _) = new_heap((LIVE + 8 * LIVE) * NODE_BLOCK as usize + (1 << 20), config);
    let mut held = Vec::with_capacity(LIVE);
    for i in 0..LIVE {
        let r = node(&mut heap, ty, i as i32, None).unwrap();
        let copy = heap.clone_ref(&r).unwrap();
        heap.drop_ref(copy).unwrap();
        held.push(r);
    }
    let stats = heap.stats().unwrap();
    println!(
        "{LIVE} live candidates: {} cycle collections, {} visits",
        stats.cycle_collections, stats.cycle_objects_scanned
    );
    assert_eq!(stats.cycle_objects_freed, 0);
    assert!(stats.cycle_collections >= 2, "the threshold still triggers: {stats:?}");
    assert!(stats.cycle_collections <= 10, "log2(20,000 / 64) + 1 collections: {stats:?}");
    assert!(stats.cycle_objects_scanned <= 2 * LIVE as u64, "{stats:?}");

    // Phase 2: the program lets go of its nodes (reference counting frees them) and makes
    // garbage rings. The raised trigger delays the first collection (by at most twice the
    // last buffer), which frees every garbage ring; from then on the threshold is back, and
    // garbage never holds more than about a threshold's worth of candidates again.
    for r in held {
        heap.drop_ref(r).unwrap();
    }
    assert_eq!(heap.stats().unwrap().live_objects, 0);
    let collections = stats.cycle_collections;
    let mut rings = 0;
    while heap.stats().unwrap().cycle_collections == collections {
        let head = ring(&mut heap, ty, RING).unwrap();
        heap.drop_ref(head).unwrap();
        rings += 1;
        assert!(rings * RING <= 4 * LIVE, "the backed-off trigger is at most twice the last buffer");
    }
    let stats = heap.stats().unwrap();
    println!("first collection after {rings} garbage rings: {stats:?}");
    assert!(rings * RING > 4 * THRESHOLD, "the trigger was raised: {rings} rings");
    assert!(stats.cycle_objects_freed >= ((rings - 1) * RING) as u64, "{rings} rings: {stats:?}");
    for _ in 0..1_000 {
        let head = ring(&mut heap, ty, RING).unwrap();
        heap.drop_ref(head).unwrap();
        let live = heap.stats().unwrap().live_objects as usize;
        assert!(live <= THRESHOLD + 2 * RING, "garbage beyond the threshold: {live} live");
    }
    heap.collect_cycles().unwrap();
    heap.verify([]).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 0);
}

#[test]
fn random_graphs_never_lose_a_reachable_object_and_end_empty() {
    for seed in 1..=4 {
        random_graph(seed);
    }
}

/// Random operations on a graph of nodes (two anyref edges and an externref each) and
/// reference arrays, with cycle collections and collections among them; the heap is verified
/// with the host's references after every operation (a freed reachable object would show as
/// a dangling reference or a wrong count), and everything is freed at the end.
fn random_graph(seed: u64) {
    let threshold = [usize::MAX, 16, 200, 1_000][seed as usize % 4];
    let (mut heap, ty, refs) = new_heap(4 << 20, HeapConfig::default().with_cycle_candidate_threshold(threshold));
    let drops = Rc::new(Cell::new(0u64));
    let mut created = 0u64;
    let mut random = Lcg(seed);
    let mut held: Vec<GcRef> = Vec::new();
    let mut on_stack: Vec<u32> = Vec::new();
    let roots = |held: &Vec<GcRef>| held.iter().map(GcRef::as_raw_u32).collect::<Vec<_>>();
    for step in 0..2_000 {
        let pick = |random: &mut Lcg, held: &Vec<GcRef>| random.below(held.len() as u64) as usize;
        match random.below(100) {
            0..=24 => {
                let r = node(&mut heap, ty, step, None).unwrap();
                if random.below(4) == 0 {
                    let data = heap.alloc_externref(Token(drops.clone())).map_err(|(e, _)| e).unwrap();
                    created += 1;
                    heap.struct_set(&r, DATA, some(&data)).unwrap();
                    heap.drop_ref(data).unwrap();
                }
                held.push(r);
            }
            25..=54 if !held.is_empty() => {
                let (from, to) = (pick(&mut random, &held), pick(&mut random, &held));
                let field = 1 + random.below(2) as u32;
                if heap.type_of(&held[from]).unwrap() == Some(ty) {
                    let value = if random.below(8) == 0 { None } else { Some(&held[to]) };
                    heap.struct_set(&held[from], field, ValueRef::Ref(value)).unwrap();
                } else {
                    let len = heap.array_len(&held[from]).unwrap();
                    let i = random.below(len as u64) as u32;
                    heap.array_set(&held[from], i, some(&held[to])).unwrap();
                }
            }
            55..=57 if !held.is_empty() => {
                // Mostly small arrays; now and then one longer than two release chunks.
                let max = if random.below(8) == 0 { 2_500 } else { 32 };
                let len = 1 + random.below(max) as u32;
                let init = pick(&mut random, &held);
                let array = heap.array_new(refs, len, some(&held[init])).unwrap();
                held.push(array);
            }
            60..=84 if !held.is_empty() => {
                let i = pick(&mut random, &held);
                let r = held.swap_remove(i);
                if random.below(3) == 0 {
                    // Hand it to Wasm instead of dropping it.
                    on_stack.push(r.as_raw_u32());
                    heap.expose_gc_ref_to_wasm(r).unwrap();
                } else {
                    heap.drop_ref(r).unwrap();
                }
            }
            85..=92 if !held.is_empty() => {
                let i = pick(&mut random, &held);
                if heap.type_of(&held[i]).unwrap() == Some(ty) {
                    if let Value::Ref(Some(r)) = heap.struct_get(&held[i], 1 + random.below(2) as u32).unwrap() {
                        held.push(r);
                    }
                }
            }
            93..=96 => {
                heap.collect_cycles().unwrap();
            }
            97..=99 => {
                // Wasm returns from some frames.
                on_stack.retain(|_| random.below(2) == 0);
                heap.collect_all(on_stack.iter().map(|&w| Root::wasm_stack(w))).unwrap();
            }
            _ => {}
        }
        heap.verify(roots(&held)).unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
    }
    for r in held.drain(..) {
        heap.drop_ref(r).unwrap();
    }
    heap.collect_all([]).unwrap();
    heap.collect_cycles().unwrap();
    heap.verify([]).unwrap();
    let stats = heap.stats().unwrap();
    assert_eq!(stats.live_objects, 0, "seed {seed}: {stats:?}");
    assert_eq!(drops.get(), created, "every host data value is dropped exactly once");
    println!("seed {seed}: {created} externrefs, {stats:?}");
}

#[test]
fn corrupted_headers_and_fields_give_errors_never_panics_or_endless_loops() {
    // Garbage rings and live rings with externrefs; then bytes of object headers (flags, slot
    // hint, count) and reference fields are overwritten, and the cycle collector runs. It may
    // fail, but must return; a host data value is never dropped twice; a reset recovers.
    let mut errors = 0;
    for seed in 0..200u64 {
        let (mut heap, ty, _) = new_heap(1 << 20, HeapConfig::default());
        let drops = Rc::new(Cell::new(0u64));
        let mut random = Lcg(seed);
        let mut live = Vec::new();
        let mut created = 0;
        for i in 0..6 {
            let head = ring(&mut heap, ty, 20 + i).unwrap();
            let data = heap.alloc_externref(Token(drops.clone())).map_err(|(e, _)| e).unwrap();
            created += 1;
            heap.struct_set(&head, DATA, some(&data)).unwrap();
            heap.drop_ref(data).unwrap();
            if i % 2 == 0 {
                live.push(head);
            } else {
                heap.drop_ref(head).unwrap();
            }
        }
        let words: Vec<u32> = live.iter().map(GcRef::as_raw_u32).collect();
        heap.verify(words.iter().copied()).unwrap();
        let used = heap.stats().unwrap().used_bytes as usize;
        let base = heap.region_base();
        for _ in 0..1 + random.below(4) {
            // An object's block starts at a multiple of 32 here (every object is 32 bytes).
            let object = 32 * (1 + random.below(used as u64 / 32 - 1) as usize) - 16;
            let offset = object + [1, 2, 3, 12, 13, 20, 24][random.below(7) as usize];
            let byte = random.next() as u8;
            assert!(offset < used);
            // SAFETY: `offset` is inside the region's used part (checked above), which this test
            // allocated and leaked; no reference into the region is alive between heap calls.
            unsafe { base.add(offset).write(byte) };
        }
        let first = heap.collect_cycles();
        let second = heap.collect_cycles();
        if first.is_err() || second.is_err() {
            errors += 1;
        }
        let _ = heap.verify(words.iter().copied());
        assert!(drops.get() <= created, "seed {seed}: a host data value was dropped twice");
        std::mem::forget(live);
        heap.reset();
        heap.verify([]).unwrap();
        assert_eq!(drops.get(), created, "seed {seed}: after a reset every host data value is dropped once");
        let head = ring(&mut heap, ty, 10).unwrap();
        heap.drop_ref(head).unwrap();
        assert_eq!(heap.collect_cycles().unwrap().objects_freed, 10, "seed {seed}: works again after a reset");
    }
    println!("corruption: 200 programs, {errors} ended in an error");
    assert!(errors > 0, "the corruptions were never noticed");
}
