//! The harness's collections and oracles: the roots an embedder reports, what the model says is
//! reachable and what a reference-counting heap must keep, the weak and the exact oracle, the
//! drop checks after every operation, whole and step-by-step collections, and the end of a
//! program.

use super::helpers::{handle, Slot};
use super::ops::Dest;
use super::values::{Expect, MKind, MRef, MVal};
use super::{collect_cycles, Harness, GLOBALS, MAX_COLLECTION_STEPS, TABLES, TABLE_SIZE};
use drc_heap::{Error, Kind, Progress, Root, TypeIndex};
use std::collections::{HashMap, HashSet};

impl Harness {
    /// The roots an embedder reports: every Wasm stack word, and every host root.
    pub(super) fn roots(&self) -> Vec<Root> {
        let mut roots: Vec<Root> = self.frames.iter().flatten().map(|&(word, _)| Root::wasm_stack(word)).collect();
        roots.extend(self.host_words().into_iter().map(Root::host));
        roots
    }

    /// The words of every owned reference the host holds.
    pub(super) fn host_words(&self) -> Vec<u32> {
        self.locals
            .iter()
            .chain(&self.globals)
            .chain(self.tables.iter().flatten())
            .map(Slot::word)
            .filter(|&w| w != 0)
            .collect()
    }

    /// Model refs of every root: host slots and Wasm stack words.
    pub(super) fn root_refs(&self) -> Vec<MRef> {
        let mut refs: Vec<MRef> =
            self.locals.iter().chain(&self.globals).chain(self.tables.iter().flatten()).map(|s| s.m).collect();
        refs.extend(self.frames.iter().flatten().map(|&(_, m)| m));
        refs
    }

    pub(super) fn children(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.objects.get(&id).into_iter().flat_map(|o| o.fields.iter()).filter_map(|v| match v {
            MVal::Ref(MRef::Obj(child)) => Some(*child),
            _ => None,
        })
    }

    /// Objects reachable from the roots.
    pub(super) fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut work: Vec<u64> = self
            .root_refs()
            .into_iter()
            .filter_map(|m| match m {
                MRef::Obj(id) => Some(id),
                _ => None,
            })
            .collect();
        while let Some(id) = work.pop() {
            if self.objects.contains_key(&id) && seen.insert(id) {
                work.extend(self.children(id));
            }
        }
        seen
    }

    /// The objects a reference-counting heap keeps after a complete collection: with counts
    /// from the roots (one per host root, one per distinct Wasm stack object) and from fields,
    /// free every object whose count is zero, transitively. What is left is what is reachable
    /// from the roots or from a garbage cycle. With `cycles_collected`, only what is reachable.
    pub(super) fn expected_live(&self, cycles_collected: bool) -> HashSet<u64> {
        if cycles_collected {
            return self.reachable();
        }
        let mut counts: HashMap<u64, u64> = self.objects.keys().map(|&id| (id, 0)).collect();
        for m in self.root_refs() {
            if let MRef::Obj(id) = m {
                if let Some(count) = counts.get_mut(&id) {
                    *count += 1;
                }
            }
        }
        for &id in self.objects.keys() {
            for child in self.children(id) {
                if let Some(count) = counts.get_mut(&child) {
                    *count += 1;
                }
            }
        }
        let mut work: Vec<u64> = counts.iter().filter(|&(_, &c)| c == 0).map(|(&id, _)| id).collect();
        let mut freed = HashSet::new();
        while let Some(id) = work.pop() {
            if !freed.insert(id) {
                continue;
            }
            for child in self.children(id).collect::<Vec<_>>() {
                if let Some(count) = counts.get_mut(&child) {
                    *count -= 1;
                    if *count == 0 {
                        work.push(child);
                    }
                }
            }
        }
        self.objects.keys().copied().filter(|id| !freed.contains(id)).collect()
    }

    /// Compares one object of the model with the heap.
    pub(super) fn check_object(&mut self, id: u64) {
        let Some(object) = self.objects.get(&id).cloned() else { return };
        let word = self.word_of(MRef::Obj(id));
        let gc = handle(word).expect("objects have words");
        let kind = self.heap.kind_of(&gc);
        match object.kind {
            MKind::Struct(t) | MKind::Array(t) => {
                let want = if matches!(object.kind, MKind::Struct(_)) { Kind::STRUCT } else { Kind::ARRAY };
                if kind != Ok(Some(want)) || self.heap.type_of(&gc) != Ok(Some(TypeIndex(t))) {
                    self.fail(format!("object {id} at {word:#x}: kind {kind:?}, the model has {:?}", object.kind));
                    return;
                }
                if let MKind::Array(_) = object.kind {
                    let len = self.heap.array_len(&gc);
                    if len != Ok(object.fields.len() as u32) {
                        self.fail(format!(
                            "array {id} at {word:#x}: length {len:?}, the model has {}",
                            object.fields.len()
                        ));
                        return;
                    }
                }
                for (i, &expected) in object.fields.iter().enumerate() {
                    let value = match object.kind {
                        MKind::Struct(_) => self.heap.struct_get(&gc, i as u32),
                        _ => self.heap.array_get(&gc, i as u32),
                    };
                    match value {
                        Ok(value) => self.take_value(
                            &format!("object {id} at {word:#x}, field {i}"),
                            value,
                            expected,
                            Dest::Drop,
                        ),
                        Err(error) => self.fail(format!("object {id} at {word:#x}, field {i}: {error:?}")),
                    }
                }
            }
            MKind::Extern(host) => {
                let data = self.heap.externref_data(&gc).map(|d| d.id);
                if kind != Ok(Some(Kind::EXTERN)) || data != Ok(host) {
                    self.fail(format!(
                        "externref {id} at {word:#x}: kind {kind:?}, data {data:?}, the model has {host}"
                    ));
                }
            }
        }
    }

    /// Checks that the words of `ids` are distinct and each object equals the model's.
    pub(super) fn check_objects(&mut self, ids: &HashSet<u64>) {
        let mut seen = HashMap::new();
        for &id in ids {
            let word = self.word_of(MRef::Obj(id));
            if let Some(other) = seen.insert(word, id) {
                self.fail(format!("objects {id} and {other} share the word {word:#x}"));
            }
        }
        let mut ids: Vec<u64> = ids.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.check_object(id);
        }
    }

    pub(super) fn verify(&mut self) {
        let words = self.host_words();
        if let Err(error) = self.heap.verify(words) {
            self.fail(format!("verify: {error}"));
        }
    }

    /// The weak oracle: every reachable object alive and equal; `verify` passes.
    pub(super) fn check_reachable(&mut self) {
        if !self.checking() {
            let _ = self.heap.verify(self.host_words());
            return;
        }
        let reachable = self.reachable();
        self.check_objects(&reachable);
        self.verify();
    }

    /// The exact oracle after a complete collection (see the module documentation); prunes the
    /// model to what is left.
    pub(super) fn check_after_collection(&mut self, cycles_collected: bool) {
        self.stats.complete_collections += 1;
        if !self.checking() {
            return;
        }
        // `possible`: what reference counting must keep (an upper bound); `certain`: what must be
        // alive. They are equal, except when the heap has a cycle collector that may have run on
        // its own: garbage cycles may then be gone or not.
        let possible = self.expected_live(cycles_collected);
        let certain = if self.has_cycle_collector && !cycles_collected { self.reachable() } else { possible.clone() };
        let stats = self.heap.stats().expect("stats");
        if stats.live_objects < certain.len() as u64 || stats.live_objects > possible.len() as u64 {
            self.fail(format!(
                "after a collection the heap has {} objects, the model expects {} to {} (cycles collected: {cycles_collected})",
                stats.live_objects,
                certain.len(),
                possible.len()
            ));
        }
        self.check_objects(&certain);
        self.verify();
        let hosts = |ids: &HashSet<u64>| -> HashSet<u64> {
            ids.iter()
                .filter_map(|id| match self.objects[id].kind {
                    MKind::Extern(host) => Some(host),
                    _ => None,
                })
                .collect()
        };
        let (certain_hosts, possible_hosts) = (hosts(&certain), hosts(&possible));
        let count = self.heap.host_data_count();
        if count < certain_hosts.len() || count > possible_hosts.len() {
            self.fail(format!(
                "host data values: {count}, the model expects {} to {}",
                certain_hosts.len(),
                possible_hosts.len()
            ));
        }
        {
            let log = self.log.borrow();
            for id in 1..self.next_host_id {
                let drops = log.drops.get(&id).copied().unwrap_or(0);
                let wrong = if certain_hosts.contains(&id) {
                    drops != 0
                } else if !possible_hosts.contains(&id) {
                    drops != 1
                } else {
                    drops > 1
                };
                if wrong {
                    drop(log);
                    self.fail(format!("host data {id} dropped {drops} times after a collection"));
                    return;
                }
            }
        }
        self.objects.retain(|id, _| possible.contains(id));
        self.words.retain(|id, _| possible.contains(id));
        if possible.is_empty() {
            self.check_empty_heap_is_one_block();
        }
    }

    /// With no object left, the free list is one block again: all of the region after the
    /// reserved first granule.
    pub(super) fn check_empty_heap_is_one_block(&self) {
        if !self.checking() {
            return;
        }
        let stats = self.heap.stats().expect("stats");
        if stats.live_objects == 0
            && (stats.free_blocks != 1 || stats.free_bytes != self.region_len as u64 - 16 || stats.used_bytes != 16)
        {
            self.fail(format!("an empty heap is not one free block: {stats:?}"));
        }
    }

    /// A whole collection with every root, then the exact oracle. With `cycles`, also the cycle
    /// collector, when the heap has one.
    pub(super) fn collect_whole(&mut self, cycles: bool) {
        let result = self.heap.collect_all(self.roots());
        if !self.expect("collect_all", &result, Expect::Ok) {
            return;
        }
        let mut cycles_collected = false;
        if cycles {
            if let Some(result) = collect_cycles(&mut self.heap) {
                if self.expect("collect_cycles", &result, Expect::Ok) {
                    cycles_collected = true;
                }
            }
        }
        self.check_after_collection(cycles_collected);
    }

    pub(super) fn collect_steps(&mut self, steps: u16, finish: bool) {
        let roots = self.roots();
        let in_scope = self.no_gc_depth > 0;
        let mut complete = false;
        let outcome: Result<(), Error> = (|| {
            let mut collection = self.heap.collect(roots)?;
            for _ in 0..(steps % 4) {
                if collection.step()? == Progress::Complete {
                    complete = true;
                    return Ok(());
                }
            }
            if finish {
                for _ in 0..MAX_COLLECTION_STEPS {
                    if collection.step()? == Progress::Complete {
                        complete = true;
                        return Ok(());
                    }
                }
                panic!("a collection did not complete in {MAX_COLLECTION_STEPS} steps");
            }
            Ok(())
        })();
        let expected = if in_scope { Expect::InNoGcScope } else { Expect::Ok };
        if !self.expect("collect (step by step)", &outcome, expected) {
            return;
        }
        if complete {
            self.check_after_collection(false);
        } else {
            self.stats.abandoned_collections += 1;
            self.check_reachable();
        }
    }

    /// After every operation: no host data dropped twice, none dropped while reachable.
    pub(super) fn check_drops(&mut self) {
        let log = self.log.borrow();
        if log.order.len() == self.checked_drops {
            return;
        }
        let new: Vec<u64> = log.order[self.checked_drops..].to_vec();
        self.checked_drops = log.order.len();
        let twice: Vec<u64> = new.iter().copied().filter(|id| log.drops[id] > 1).collect();
        drop(log);
        // A double drop is a memory-safety matter even in a corrupted heap: always checked.
        assert!(twice.is_empty(), "host data dropped twice: {twice:?}");
        if !self.checking() {
            return;
        }
        let reachable_hosts: HashSet<u64> = self
            .reachable()
            .iter()
            .filter_map(|id| match self.objects[id].kind {
                MKind::Extern(host) => Some(host),
                _ => None,
            })
            .collect();
        if let Some(id) = new.iter().find(|id| reachable_hosts.contains(id)) {
            self.fail(format!("host data {id} was dropped while the model can reach it"));
        }
    }

    /// The end of a program: every root goes, the heap collects, and only garbage cycles may be
    /// left (nothing, once the cycle collector exists). Then a reset drops the rest.
    pub fn finish(&mut self) {
        self.frames.clear();
        while self.no_gc_depth > 0 {
            let result = self.heap.exit_no_gc_scope();
            self.expect("exit_no_gc_scope", &result, Expect::Ok);
            self.no_gc_depth -= 1;
        }
        for slot in std::mem::take(&mut self.locals) {
            self.release(slot.gc);
        }
        for g in 0..GLOBALS {
            self.clear_host_slot(|h| &mut h.globals[g]);
        }
        for t in 0..TABLES {
            for i in 0..TABLE_SIZE {
                self.clear_host_slot(|h| &mut h.tables[t][i]);
            }
        }
        self.collect_whole(true);
        self.check_drops();
        // The collection above ran the cycle collector when the heap has one (`collect_cycles`,
        // the single place that calls it): then nothing at all may be left.
        if self.checking() && self.has_cycle_collector {
            let stats = self.heap.stats().expect("stats");
            assert_eq!(
                stats.live_objects, 0,
                "objects left after every root went and cycles were collected: {stats:?}"
            );
            self.check_empty_heap_is_one_block();
        }
        self.reset();
    }
}
