//! Collections over a simulated Wasm stack on the host: many frames, many roots, and a long
//! randomized run checked against a model after every collection.

mod common;

use common::{assert_empty, externref, region, size, verify, Drops, Tracked, ANYREF};
use drc_heap::activations_table::BUMP_CHUNK_CAPACITY;
use drc_heap::collector::TRACE_STEP;
use drc_heap::types::{StorageType, StructType};
use drc_heap::{GcRef, Heap, Progress, Root, ValueRef};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A small deterministic generator (xorshift64*), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The words of a simulated Wasm stack: one `Vec` per frame.
fn stack_roots(frames: &[Vec<u32>]) -> impl Iterator<Item = Root> + '_ {
    frames.iter().flatten().map(|&word| Root::wasm_stack(word))
}

#[test]
fn more_roots_than_a_trace_step_are_traced_in_steps() {
    let n = size(3 * TRACE_STEP + 17, 40);
    let mut heap: Heap<()> = Heap::new(region(n * 32 + 4096)).expect("heap");
    let node = common::register_node(&mut heap);
    let mut frames: Vec<Vec<u32>> = vec![Vec::new(); 8];
    for i in 0..n {
        let r = heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(None)]).unwrap();
        frames[i % 8].push(r.as_raw_u32());
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    assert_eq!(heap.activations_table_len(), n);
    assert_eq!(heap.need_gc_before_entering_wasm(1), n >= BUMP_CHUNK_CAPACITY);
    verify(&heap, &[]);
    let mut steps = 0;
    {
        let mut collection = heap.collect(stack_roots(&frames)).unwrap();
        while collection.step().unwrap() == Progress::Continue {
            steps += 1;
        }
    }
    // One step per TRACE_STEP roots, one to notice the end of the roots, then the later phases.
    assert!(steps > n / TRACE_STEP + 1, "{steps} steps for {n} roots");
    assert_eq!(heap.stats().unwrap().live_objects, n as u64);
    assert_eq!(heap.activations_table_len(), n);
    assert!(!heap.need_gc_before_entering_wasm(BUMP_CHUNK_CAPACITY));
    verify(&heap, &[]);
    // The inner frames return: only the outer three frames' roots survive.
    frames.truncate(3);
    heap.collect_all(stack_roots(&frames)).unwrap();
    let survivors: usize = frames.iter().map(Vec::len).sum();
    assert_eq!(heap.stats().unwrap().live_objects, survivors as u64);
    assert_eq!(heap.activations_table_len(), survivors);
    verify(&heap, &[]);
    frames.clear();
    heap.collect_all(stack_roots(&frames)).unwrap();
    assert_empty(&heap);
}

/// What the model knows about one object.
struct Object {
    /// The host's owned references to it (each one count).
    host: usize,
    /// Objects its fields name (each one count), by slot.
    fields: [Option<u32>; 2],
    /// Whether it is an externref.
    is_extern: bool,
}

/// A randomized run of host code calling into Wasm and back: allocating, linking objects,
/// exposing references to Wasm frames, returning from frames, dropping host references and
/// collecting (when the heap asks for it, and at random). After each collection the heap must
/// hold exactly what is reachable from the host, the Wasm stack and the fields (the graph is
/// acyclic, so reference counting frees everything else), and `verify` must agree.
#[test]
fn randomized_calls_into_wasm_agree_with_a_model() {
    let drops = Drops::new();
    let steps = size(20_000, 300);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut heap: Heap<Tracked> = Heap::new(region(8 << 20)).expect("heap");
    let node = heap.register_struct(StructType::new(&[ANYREF, StorageType::I64, ANYREF])).unwrap();
    // Objects by word; the host's owned references; the Wasm frames; the words the activations
    // table holds (everything exposed since the last collection, and what it found on the stack).
    let mut model: BTreeMap<u32, Object> = BTreeMap::new();
    let mut host: Vec<GcRef> = Vec::new();
    let mut frames: Vec<Vec<u32>> = vec![Vec::new()];
    let mut table: HashSet<u32> = HashSet::new();
    // Objects are numbered in allocation order; a field may only name an older object, so
    // the graph stays acyclic.
    let mut age: HashMap<u32, u64> = HashMap::new();
    let mut clock = 0u64;
    let mut collections = 0;

    let reachable = |model: &BTreeMap<u32, Object>, table: &HashSet<u32>| -> HashSet<u32> {
        let mut seen = HashSet::new();
        let mut work: Vec<u32> = table.iter().copied().collect();
        work.extend(model.iter().filter(|(_, o)| o.host > 0).map(|(&w, _)| w));
        while let Some(w) = work.pop() {
            if seen.insert(w) {
                work.extend(model[&w].fields.iter().flatten().copied());
            }
        }
        seen
    };

    for step in 0..steps {
        let choice = rng.below(100);
        match choice {
            // Allocate a struct or an externref, owned by the host (which holds at most 64).
            0..=24 if host.len() < 64 => {
                let is_extern = rng.below(5) == 0;
                let r = if is_extern {
                    externref(&mut heap, &drops, clock)
                } else {
                    heap.struct_new(node, &[ValueRef::Ref(None), ValueRef::I64(clock as i64), ValueRef::Ref(None)])
                        .unwrap()
                };
                let word = r.as_raw_u32();
                if model.contains_key(&word) {
                    // The block was freed and reused: the model's object must be unreachable.
                    let live = reachable(&model, &table);
                    assert!(!live.contains(&word), "step {step}: {word:#x} handed out while reachable");
                    model.retain(|w, _| live.contains(w));
                }
                model.insert(word, Object { host: 1, fields: [None, None], is_extern });
                age.insert(word, clock);
                clock += 1;
                host.push(r);
            }
            // Link: a host-held struct's field names an older object (or null).
            25..=39 if !host.is_empty() => {
                let from = host[rng.below(host.len())].as_raw_u32();
                if model[&from].is_extern {
                    continue;
                }
                let slot = rng.below(2);
                let live = reachable(&model, &table);
                let candidates: Vec<u32> = model
                    .keys()
                    .copied()
                    .filter(|w| live.contains(w) && age[w] < age[&from] && !model[w].is_extern)
                    .collect();
                let to = if candidates.is_empty() || rng.below(4) == 0 {
                    None
                } else {
                    Some(candidates[rng.below(candidates.len())])
                };
                let target = to.map(|w| heap.retain_raw(w).unwrap().unwrap());
                let from_ref = heap.retain_raw(from).unwrap().unwrap();
                heap.struct_set(&from_ref, [0, 2][slot], ValueRef::Ref(target.as_ref())).unwrap();
                heap.drop_ref(from_ref).unwrap();
                if let Some(t) = target {
                    heap.drop_ref(t).unwrap();
                }
                // The old target may now be unreachable (the heap freed it if so): the model
                // forgets it at the next check.
                model.get_mut(&from).unwrap().fields[slot] = to;
            }
            // Pass a host reference into Wasm: expose a new count, put the word on the stack.
            40..=59 if !host.is_empty() => {
                let r = &host[rng.below(host.len())];
                let word = r.as_raw_u32();
                if heap.need_gc_before_entering_wasm(1) {
                    heap.collect_all(stack_roots(&frames)).unwrap();
                    collections += 1;
                    table = frames.iter().flatten().copied().collect();
                    check(&heap, &mut model, &host, &table, &reachable, step);
                }
                let copy = heap.clone_ref(r).unwrap();
                heap.expose_gc_ref_to_wasm(copy).unwrap();
                table.insert(word);
                frames.last_mut().unwrap().push(word);
            }
            // Call deeper (at most 32 frames), or return.
            60..=67 if frames.len() < 32 => frames.push(Vec::new()),
            68..=75 if frames.len() > 1 => {
                frames.pop();
            }
            // Wasm hands a reference from its stack back to the host.
            76..=80 => {
                let words: Vec<u32> = frames.iter().flatten().copied().collect();
                if !words.is_empty() {
                    let word = words[rng.below(words.len())];
                    host.push(heap.retain_raw(word).unwrap().unwrap());
                    model.get_mut(&word).unwrap().host += 1;
                }
            }
            // The host drops a reference (always, when it holds many).
            _ if host.len() >= 64 || (81..=94).contains(&choice) && !host.is_empty() => {
                let r = host.swap_remove(rng.below(host.len()));
                model.get_mut(&r.as_raw_u32()).unwrap().host -= 1;
                heap.drop_ref(r).unwrap();
            }
            // Collect now.
            95..=99 => {
                heap.collect_all(stack_roots(&frames)).unwrap();
                collections += 1;
                table = frames.iter().flatten().copied().collect();
                check(&heap, &mut model, &host, &table, &reachable, step);
            }
            _ => {}
        }
    }
    assert!(collections > 0);
    // Unwind everything.
    frames.clear();
    for r in host.drain(..) {
        heap.drop_ref(r).unwrap();
    }
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
    assert_eq!(drops.created.get(), drops.dropped.get());
}

/// After a collection: the live objects are exactly the reachable ones, the table holds each
/// stack word once, every count is what the model says, and `verify` agrees.
fn check(
    heap: &Heap<Tracked>,
    model: &mut BTreeMap<u32, Object>,
    host: &[GcRef],
    table: &HashSet<u32>,
    reachable: &impl Fn(&BTreeMap<u32, Object>, &HashSet<u32>) -> HashSet<u32>,
    step: usize,
) {
    let live = reachable(model, table);
    model.retain(|w, _| live.contains(w));
    let report = heap.verify(host.iter().map(GcRef::as_raw_u32)).unwrap_or_else(|e| panic!("step {step}: {e}"));
    assert_eq!(report.objects, live.len() as u64, "step {step}: live objects");
    assert_eq!(heap.activations_table_len(), table.len(), "step {step}: precise set");
    let mut expected: HashMap<u32, u32> = model.iter().map(|(&w, o)| (w, o.host as u32)).collect();
    for object in model.values() {
        for target in object.fields.iter().flatten() {
            *expected.get_mut(target).expect("a field names a live object") += 1;
        }
    }
    for word in table {
        *expected.get_mut(word).expect("a stack word names a live object") += 1;
    }
    for (word, count) in expected {
        let r = GcRef::from_raw_u32(word).unwrap();
        assert_eq!(heap.ref_count(&r).unwrap(), count, "step {step}: count of {word:#x}");
        assert_eq!(heap.kind_of(&r).unwrap() == Some(drc_heap::Kind::EXTERN), model[&word].is_extern);
    }
}
