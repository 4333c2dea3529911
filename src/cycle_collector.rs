//! Cycle collection: synchronous trial deletion (Bacon and Rajan 2001) for garbage cycles.
//!
//! Reference counting frees an object when its count reaches zero, so a group of objects that
//! reference each other (a doubly linked ring, a tree with parent pointers, a struct whose
//! field points to itself) is never freed once the rest of the program lets go of it: every
//! member still has a count from another member. This module finds and frees such garbage.
//!
//! # What it owns
//! * The **candidate buffer** (`Vec<u32>` outside the region): objects that may be the root of
//!   a garbage cycle, behind `CycleCollector`'s narrow methods: the heap's hot path calls
//!   `possible_root` when a decrement leaves a count above zero and `remove` when a buffered
//!   object is freed, and knows nothing else of it.
//! * The colour bits, the [`HeaderFlags::BUFFERED`] bit and the **buffer-slot hint** (the
//!   header's `u16` at [`SLOT_HINT_OFFSET`]) of every object's header, and the helpers that
//!   write them. The rest of the heap only reads them (the flag test on a decrement).
//! * [`CycleConfig`] (in [`crate::HeapConfig`]), [`CycleReport`], the work counters in
//!   [`crate::HeapStats`], and the policy of when a cycle collection runs (the trigger, its
//!   amortization and back-off; stated in [the heap policy](crate#heap-policy)).
//!
//! This module imports nothing of the heap. The algorithm that walks the heap's memory (below)
//! is the heap's `src/heap/cycles.rs`, with its scratch worklists, kept between collections
//! (and shrunk after a big one) so that a collection allocates nothing in the steady state.
//!
//! # Candidates
//! A decrement that leaves a count above zero may have cut the last outside reference to a
//! cycle, so the object becomes a *possible root*: it is coloured purple, flagged
//! [`HeaderFlags::BUFFERED`] and pushed on the buffer, once (a buffered object is not pushed
//! again). On the hot path this costs one flag test on the header the decrement has just read:
//! objects of acyclic ("green") types, flagged [`HeaderFlags::ACYCLIC`] at allocation from the
//! type registry's analysis ([`crate::types`]; every externref is acyclic), are never buffered,
//! and neither is an object already in the buffer. Increments do not touch colours, so outside
//! a cycle collection an object is purple exactly when it is buffered.
//!
//! **A buffered object whose count reaches zero** is freed at once, like any other object, and
//! leaves the buffer first: the header's slot hint holds the low 16 bits of its slot, the
//! buffer entry at that slot (or at that slot plus a multiple of 65,536, for a buffer that
//! large) is the object, and a `swap_remove` takes it out (the object moved into the hole gets
//! its hint rewritten). So removal is O(1) for buffers of up to 65,536 entries and
//! O(len / 65,536) above, and a freed block never stays in the buffer. The hint is validated
//! (the entry must name the object); a hint that does not lead to the object (the region is
//! untrusted) falls back to a search of the buffer, and an object flagged as buffered that is
//! not in it is [`Error::Corrupted`]. This keeps reference counting's promise that an object
//! is freed the moment its last reference goes (the paper instead keeps such objects until the
//! buffer is processed).
//!
//! # Use
//! Nothing to do: the heap buffers candidates and collects cycles by itself (see [the heap
//! policy](crate#heap-policy)). An embedder may tune it in [`crate::HeapConfig`], run one now with
//! [`crate::Heap::collect_cycles`], and watch it in [`crate::HeapStats`] (`cycle_*` fields).
//!
//! ```
//! use drc_heap::types::{HeapType, RefType, StorageType, StructType};
//! use drc_heap::{Heap, HeapConfig, HeapMemory, ValueRef};
//!
//! let memory: &'static mut HeapMemory<65536> = Box::leak(Box::new(HeapMemory::new()));
//! let config = HeapConfig::default().with_cycle_candidate_threshold(1_000);
//! let mut heap: Heap<()> = Heap::with_config(memory.bytes(), config)?;
//! let node = heap.register_struct(StructType::new(&[StorageType::Ref(RefType::nullable(HeapType::Any))]))?;
//! let a = heap.struct_new_default(node)?;
//! heap.struct_set(&a, 0, ValueRef::Ref(Some(&a)))?; // a points to itself: count 2
//! heap.drop_ref(a)?; // count 1: garbage that counting alone never frees; now a candidate
//! assert_eq!((heap.stats()?.live_objects, heap.cycle_candidates()), (1, 1));
//! let report = heap.collect_cycles()?;
//! assert_eq!(report.objects_freed, 1);
//! assert_eq!(heap.stats()?.live_objects, 0);
//! # Ok::<(), drc_heap::Error>(())
//! ```
//!
//! # A cycle collection
//! The whole buffer is taken as the roots, then, with explicit worklists (no recursion; a
//! reference array's elements are visited [`crate::heap::RELEASE_CHUNK`] at a time, the rest of the array
//! waiting on the worklist as one entry):
//! 1. **MarkRoots**: from each purple root, *mark gray*: colour every object reachable through
//!    non-acyclic objects gray, and remove one count from each for every edge from a gray
//!    object (trial deletion of the internal references). A root already gray (reached from
//!    an earlier root) leaves the buffer. Every object coloured gray is listed once, in the
//!    order mark gray visited it, tagged when it may hold references to acyclic objects (a
//!    struct that holds one, any reference array).
//! 2. **ScanRoots**, one pass over that list instead of the paper's traversal from each root: a
//!    gray object whose count is still above zero is referenced from outside the gray subgraph
//!    (a host `GcRef`, an activations-table entry, an object that was not reached): *scan black*
//!    restores the counts of everything reachable from it and colours it black. What is still
//!    gray after the pass is exactly what the paper's scan leaves white: its scan colours white
//!    the gray objects without a count and turns black everything reachable from a gray object
//!    with one, whatever the order; so the gray ones are left gray and taken for white.
//! 3. **CollectRoots**, one pass over the list: every root leaves the buffer, a black object
//!    survives, a gray one is garbage. The references a garbage object holds to acyclic objects
//!    are released through the heap's ordinary release path (so an externref's host data is
//!    dropped exactly once, when the last reference to it goes); once all of them are, every
//!    garbage object's block is freed. Only the tagged garbage objects' references are read
//!    again, for their acyclic children; when no garbage object is tagged, each is freed in the
//!    same pass, as it is reached. A garbage object's references to other garbage or black
//!    objects are *not* decremented again: trial deletion already removed them, and black
//!    objects' counts now hold exactly their references from survivors.
//!
//! Acyclic objects are never coloured: mark gray, scan and scan black skip them, so their
//! counts stay real and they are freed by reference counting when their last garbage holder
//! goes.
//!
//! Objects held by the activations table (bump chunk and over-approximated set), by the host
//! (an owned `GcRef` is a count) or by any object outside the garbage are never freed: those
//! references are counts that trial deletion does not remove, so scan finds them and turns
//! everything they reach black.
//!
//! # Invariants (checked by [`crate::Heap::verify`])
//! Outside a cycle collection: every object is black or purple; an object is purple exactly
//! when it is flagged [`HeaderFlags::BUFFERED`], exactly when it is in the buffer (once); its
//! slot hint is the low 16 bits of its slot (0 when not buffered); acyclic objects are never
//! buffered, and an object is flagged [`HeaderFlags::ACYCLIC`] exactly when its type is
//! acyclic (always for an externref).
//!
//! # Robustness
//! Every index read from the region goes through `Heap::object` (header validation) and
//! every access is bounds-checked. A collection visits each object at most once per colour
//! change (gray, black) or pass (scanned without a count, collected), and counts its visits
//! against a budget of four per 16-byte granule below the high-water mark: a corrupted graph
//! gives [`Error::Corrupted`], never an endless loop. A collection that fails leaves the heap in an unspecified but
//! memory-safe state ([`crate::Heap::reset`] recovers it).
//!
//! # Heap policy
//! When collections and cycle collections run, and what an embedder tunes, is written once, in
//! the crate documentation: [the heap policy](crate#heap-policy). This module holds the
//! cycle collector's side of it (the candidate trigger and its back-off, the heap-growth
//! trigger).

use crate::error::{Error, Result};
use crate::header::{Colour, HeaderFlags, FLAGS_OFFSET};
use crate::region::Region;
use crate::stats::HeapStats;
use alloc::vec::Vec;

/// The default [`CycleConfig::candidate_threshold`]: a cycle collection runs when the buffer
/// holds more candidates than this (40 KiB of buffer).
pub const DEFAULT_CYCLE_CANDIDATE_THRESHOLD: usize = 10_000;

/// The heap-growth trigger ([`CycleConfig::collect_on_heap_growth`]) waits until the live bytes
/// exceed this fraction (1/16) of the region.
pub const HEAP_GROWTH_FLOOR_SHARE: u64 = 16;

/// A cycle collection that made more than this many object visits per object it freed was
/// unproductive: the candidate trigger doubles (see the heap policy). Garbage rings cost
/// 3 visits per freed object (mark gray, the scan pass, the collect pass).
pub const UNPRODUCTIVE_VISITS_PER_FREED: u64 = 8;

/// Offset in the object header of the `u16` buffer-slot hint (the header's reserved field).
pub const SLOT_HINT_OFFSET: u32 = 2;

/// Slots that share one hint value: the hint is the low 16 bits of the slot.
const HINT_STRIDE: usize = 1 << 16;

/// Settings of the cycle collector, in [`crate::HeapConfig::cycles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleConfig {
    /// Whether garbage cycles are collected. When off, nothing is ever buffered (a decrement
    /// costs nothing more) and garbage cycles leak, as in Wasmtime. On by default.
    pub enabled: bool,
    /// A cycle collection runs when the candidate buffer holds more than this many objects
    /// (at the next allocation, or in the next collection's cycle phase). See the module's
    /// heap policy. Default [`DEFAULT_CYCLE_CANDIDATE_THRESHOLD`].
    pub candidate_threshold: usize,
    /// Also collect when, with candidates buffered, the live bytes have doubled since the last
    /// cycle collection and exceed 1/[`HEAP_GROWTH_FLOOR_SHARE`] of the region (at the next
    /// allocation, or in the next collection's cycle phase). This bounds the memory garbage
    /// cycles hold when few candidates stand for much garbage (a big structure that is built
    /// without decrements and dropped through one reference buffers one candidate). On by
    /// default.
    pub collect_on_heap_growth: bool,
}

impl Default for CycleConfig {
    fn default() -> CycleConfig {
        CycleConfig {
            enabled: true,
            candidate_threshold: DEFAULT_CYCLE_CANDIDATE_THRESHOLD,
            collect_on_heap_growth: true,
        }
    }
}

/// What one cycle collection did. The counts are work, not time: they are the same on every
/// machine for the same heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleReport {
    /// Candidates taken from the buffer.
    pub candidates: u64,
    /// Object visits, over all phases (an object is visited at most once per phase).
    pub objects_scanned: u64,
    /// References read from visited objects.
    pub references_traced: u64,
    /// Objects freed: the garbage cycles and what only they held.
    pub objects_freed: u64,
}

/// Totals over the heap's life, reported by [`crate::Heap::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CycleCounters {
    candidates_buffered: u64,
    collections: u64,
    objects_scanned: u64,
    references_traced: u64,
    objects_freed: u64,
}

/// The cycle collector's state in a heap. See the module documentation.
pub(crate) struct CycleCollector {
    enabled: bool,
    threshold: usize,
    /// The buffer length above which the automatic triggers collect: the threshold, or half
    /// the survivors of the last collection when that is more.
    trigger: usize,
    /// Whether the heap-growth trigger is on.
    growth: bool,
    /// Twice the live bytes after the last cycle collection: the heap-growth trigger fires
    /// above this (and above the floor).
    live_bytes_trigger: u64,
    /// The candidate buffer.
    candidates: Vec<u32>,
    counters: CycleCounters,
}

impl CycleCollector {
    pub(crate) fn new(config: CycleConfig) -> CycleCollector {
        CycleCollector {
            enabled: config.enabled,
            threshold: config.candidate_threshold,
            trigger: config.candidate_threshold,
            growth: config.collect_on_heap_growth,
            live_bytes_trigger: 0,
            candidates: Vec::new(),
            counters: CycleCounters::default(),
        }
    }

    /// Forgets every candidate (the heap was reset). Counters stay.
    pub(crate) fn reset(&mut self) {
        self.candidates.clear();
        self.trigger = self.threshold;
        self.live_bytes_trigger = 0;
    }

    /// Number of objects in the candidate buffer.
    pub(crate) fn candidates(&self) -> usize {
        self.candidates.len()
    }

    /// The candidate buffer, slot by slot (for verification).
    pub(crate) fn buffered(&self) -> &[u32] {
        &self.candidates
    }

    /// Whether cycle collection is on.
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Changes the candidate threshold; the trigger starts again from it.
    pub(crate) fn set_threshold(&mut self, threshold: usize) {
        self.threshold = threshold;
        self.trigger = threshold;
    }

    /// Whether an automatic cycle collection is due (see the heap policy): the buffer is over
    /// its trigger, or, with candidates buffered and the heap-growth trigger on, `live_bytes`
    /// have doubled since the last cycle collection and exceed 1/[`HEAP_GROWTH_FLOOR_SHARE`] of
    /// a region of `region_len` bytes.
    #[inline]
    pub(crate) fn is_due(&self, live_bytes: u64, region_len: u32) -> bool {
        let len = self.candidates.len();
        len > self.trigger
            || (self.growth
                && len > 0
                && live_bytes > self.live_bytes_trigger.max(region_len as u64 / HEAP_GROWTH_FLOOR_SHARE))
    }

    /// Starts a collection: the whole buffer becomes `roots` (which must be empty) and the
    /// buffer is empty. Returns the counters before the collection, for
    /// [`CycleCollector::finish_collection`].
    pub(crate) fn start_collection(&mut self, roots: &mut Vec<u32>) -> CycleCounters {
        debug_assert!(roots.is_empty());
        core::mem::swap(roots, &mut self.candidates);
        self.counters
    }

    /// Counts one object visit of a collection.
    #[inline]
    pub(crate) fn count_visit(&mut self) {
        self.counters.objects_scanned += 1;
    }

    /// Counts `n` references read by a collection.
    #[inline]
    pub(crate) fn count_references(&mut self, n: usize) {
        self.counters.references_traced += n as u64;
    }

    /// Ends a collection that took `candidates` roots (counters `before` it), freed `freed`
    /// objects and found `survivors` alive, leaving `live_bytes` live: counts it, sets the next
    /// trigger (the policy's amortization and back-off) and reports what it did.
    pub(crate) fn finish_collection(
        &mut self,
        before: CycleCounters,
        candidates: u64,
        freed: u64,
        survivors: u64,
        live_bytes: u64,
    ) -> CycleReport {
        let c = &mut self.counters;
        c.collections += 1;
        c.objects_freed += freed;
        // Amortization: the next collection waits for at least half as many new candidates as
        // this one found survivors, so rescanning a big live graph costs O(1) per candidate.
        // Back-off: a collection that freed little for its work (an acyclic program whose
        // decrements buffer candidates that are all alive) doubles the trigger, so such a
        // program pays O(log) collections instead of one per threshold's worth of candidates;
        // a productive collection brings the trigger back down.
        let scanned = c.objects_scanned - before.objects_scanned;
        let floor = self.threshold.max(survivors as usize / 2);
        self.trigger = if freed.saturating_mul(UNPRODUCTIVE_VISITS_PER_FREED) >= scanned {
            floor
        } else {
            floor.max(self.trigger.saturating_mul(2))
        };
        self.live_bytes_trigger = live_bytes.saturating_mul(2);
        CycleReport {
            candidates,
            objects_scanned: scanned,
            references_traced: c.references_traced - before.references_traced,
            objects_freed: freed,
        }
    }

    /// The cycle fields of a statistics snapshot.
    pub(crate) fn fill_stats(&self, stats: &mut HeapStats) {
        let c = &self.counters;
        stats.cycle_candidates = self.candidates.len() as u64;
        stats.cycle_candidates_buffered = c.candidates_buffered;
        stats.cycle_collections = c.collections;
        stats.cycle_objects_freed = c.objects_freed;
        stats.cycle_objects_scanned = c.objects_scanned;
        stats.cycle_references_traced = c.references_traced;
    }

    /// The hot-path hook: a decrement left the object at `index` (whose header flags were
    /// `flags` before the decrement) with a count above zero. Buffers it unless it is acyclic
    /// or already buffered.
    #[inline(always)]
    pub(crate) fn possible_root(&mut self, region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
        if flags.intersects(HeaderFlags::ACYCLIC.union(HeaderFlags::BUFFERED)) || !self.enabled {
            return Ok(());
        }
        self.buffer(region, index, flags)
    }

    /// Buffers the object at `index` (flags `flags`): colours it purple, flags it buffered and
    /// writes its slot hint (one store of the flags byte and the hint), then pushes it. Always
    /// inlined into the decrement: its hot path is a bounds check, the store and a push into
    /// spare capacity.
    #[inline(always)]
    fn buffer(&mut self, region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
        let slot = self.candidates.len();
        let flags = flags.with_colour(Colour::Purple) | HeaderFlags::BUFFERED;
        let [low, high] = (slot as u16).to_ne_bytes();
        region.write(index + FLAGS_OFFSET, [flags.bits(), low, high])?;
        self.candidates.push(index);
        self.counters.candidates_buffered += 1;
        Ok(())
    }

    /// Takes a buffered object whose count reached zero out of the buffer, before its block is
    /// freed (its header is about to be overwritten, so its flags are left as they are). Always
    /// inlined into the free: its hot path is the hint read, one comparison, the move of the
    /// last entry into the object's slot and that entry's new hint. A hint whose slot does not
    /// hold the object goes to [`CycleCollector::remove_searching`].
    #[inline(always)]
    pub(crate) fn remove(&mut self, region: &mut Region, index: u32) -> Result<()> {
        let slot = slot_hint(region, index)? as usize;
        let len = self.candidates.len();
        if slot < len && self.candidates[slot] == index {
            self.remove_slot(region, slot)
        } else {
            self.remove_searching(region, index)
        }
    }

    /// [`CycleCollector::remove`] when the hint's own slot does not hold the object: a buffer of
    /// more than 65,536 entries (the slots the hint names, a multiple of 65,536 apart, are
    /// tried), or a corrupted hint (the buffer is searched).
    #[cold]
    #[inline(never)]
    fn remove_searching(&mut self, region: &mut Region, index: u32) -> Result<()> {
        let hint = slot_hint(region, index)? as usize;
        let hinted = (hint..self.candidates.len()).step_by(HINT_STRIDE).find(|&slot| self.candidates[slot] == index);
        let slot = hinted
            .or_else(|| self.candidates.iter().rposition(|&entry| entry == index))
            .ok_or(Error::corrupted(index, "object flagged as buffered is not in the cycle collector's buffer"))?;
        self.remove_slot(region, slot)
    }

    /// Takes the entry at `slot` (below the buffer's length) out: the last entry moves into it
    /// and gets its hint rewritten (`swap_remove`, written out so that the bounds checks fold
    /// into the caller's).
    #[inline(always)]
    fn remove_slot(&mut self, region: &mut Region, slot: usize) -> Result<()> {
        let Some(last) = self.candidates.len().checked_sub(1) else { return Ok(()) };
        let moved = self.candidates[last];
        self.candidates.truncate(last);
        match self.candidates.get_mut(slot) {
            Some(entry) => {
                *entry = moved;
                region.write(moved + SLOT_HINT_OFFSET, (slot as u16).to_ne_bytes())
            }
            None => Ok(()),
        }
    }
}

/// The buffer-slot hint in the header of the object at `index`.
#[inline]
pub(crate) fn slot_hint(region: &Region, index: u32) -> Result<u16> {
    Ok(u16::from_ne_bytes(region.read(index + SLOT_HINT_OFFSET)?))
}

/// Writes an object's flags and clears its slot hint.
#[inline]
pub(crate) fn write_flags_unbuffered(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    region.write(index + FLAGS_OFFSET, [flags.difference(HeaderFlags::BUFFERED).bits(), 0, 0])
}

/// Writes an object's flags byte (colour changes; the slot hint stays).
#[inline]
pub(crate) fn write_flags(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    region.write(index + FLAGS_OFFSET, [flags.bits()])
}
