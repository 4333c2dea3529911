//! Cycle collection: synchronous trial deletion (Bacon and Rajan 2001) for garbage cycles.
//!
//! Reference counting frees an object when its count reaches zero, so a group of objects that
//! reference each other (a doubly linked ring, a tree with parent pointers, a struct whose
//! field points to itself) is never freed once the rest of the program lets go of it: every
//! member still has a count from another member. This module finds and frees such garbage.
//!
//! # What it owns
//! * The **candidate buffer** (`Vec<u32>` outside the region): objects that may be the root of
//!   a garbage cycle.
//! * The colour bits, the [`HeaderFlags::BUFFERED`] bit and the **buffer-slot hint** (the
//!   header's `u16` at [`SLOT_HINT_OFFSET`]) of every object's header. The rest of the heap
//!   only reads them (the flag test on a decrement, and removal from the buffer when a buffered
//!   object is freed).
//! * The scratch worklists of a collection, kept between collections (and shrunk after a big
//!   one) so that a collection allocates nothing in the steady state.
//! * [`CycleConfig`] (in [`crate::HeapConfig`]), the work counters in [`crate::HeapStats`], and the
//!   policy of when a cycle collection runs (below).
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
//! Nothing to do: the heap buffers candidates and collects cycles by itself (see the heap
//! policy below). An embedder may tune it in [`crate::HeapConfig`], run one now with
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
//! reference array's elements are visited [`RELEASE_CHUNK`] at a time, the rest of the array
//! waiting on the worklist as one entry):
//! 1. **MarkRoots**: from each purple root, *mark gray*: colour every object reachable through
//!    non-acyclic objects gray, and remove one count from each for every edge from a gray
//!    object (trial deletion of the internal references). A root already gray (reached from
//!    an earlier root) leaves the buffer.
//! 2. **ScanRoots**: *scan* from each root: a gray object whose count is still above zero is
//!    referenced from outside the gray subgraph (a host `GcRef`, an activations-table entry,
//!    an object that was not reached): *scan black* restores the counts of everything
//!    reachable from it and colours it black. A gray object with count zero turns white.
//! 3. **CollectRoots**: every root leaves the buffer. The white objects reachable from white
//!    roots are gathered (coloured black on the way so that each is gathered once); the
//!    references they hold to acyclic objects are released through the heap's ordinary release
//!    worklist (so an externref's host data is dropped exactly once, when the last reference to
//!    it goes); then every gathered object's block is freed. A white object's references to
//!    other white or black objects are *not* decremented again: trial deletion already removed
//!    them, and black objects' counts now hold exactly their references from survivors.
//!
//! Acyclic objects are never coloured: mark gray, scan and scan black skip them, so their
//! counts stay real and they are freed by reference counting when their last white holder goes.
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
//! change (gray, white, black, gathered), and counts its visits against a budget of four per
//! 16-byte granule below the high-water mark: a corrupted graph gives [`Error::Corrupted`],
//! never an endless loop. A collection that fails leaves the heap in an unspecified but
//! memory-safe state ([`crate::Heap::reset`] recovers it).
//!
//! # Heap policy
//! * **Reference counting frees at once.** An object is freed the moment its count reaches
//!   zero (its last field, element, host `GcRef` or activations-table entry lets go of it),
//!   together with everything only it held. Most garbage never waits for any collection.
//! * **Collections: the embedder runs them.** Only the embedder can walk its stack, so the heap
//!   never traces Wasm-stack roots on its own; it says when to. Collect
//!   ([`crate::Heap::collect`] or [`crate::Heap::collect_all`] with the Wasm-stack roots) when
//!   an allocation returns the retryable [`Error::OutOfMemory`] (then retry), when
//!   [`crate::Heap::need_gc_before_entering_wasm`] says the bump chunk cannot take the
//!   references a call will expose, and when [`crate::Heap::collection_recommended`] says the
//!   over-approximated root set has doubled since the last collection. A collection releases
//!   the activations-table entries no longer on the Wasm stack, runs a cycle collection when
//!   one is due (below), and merges free blocks when more than half of the used part of the
//!   region is free. Collecting inside a no-GC scope is [`Error::InNoGcScope`].
//! * **Cycle collection: the heap runs it.** It needs no roots from the embedder, so the heap
//!   runs it by itself when one is due, at the next allocation or in the cycle phase of the
//!   next collection. One is due when candidates are buffered and either
//!   - the buffer holds more than the candidate trigger: [`CycleConfig::candidate_threshold`]
//!     (default [`DEFAULT_CYCLE_CANDIDATE_THRESHOLD`]), or half the objects the last cycle
//!     collection found alive if that is more, so that rescanning a big live graph costs O(1)
//!     per candidate, amortized; after a collection that freed little for its work (more than
//!     [`UNPRODUCTIVE_VISITS_PER_FREED`] object visits per freed object, such as one that freed
//!     nothing) the trigger doubles instead, so a program whose candidates are all alive (an
//!     acyclic program whose decrements leave counts above zero) pays a logarithmic number of
//!     collections, and the next productive collection brings it back down; or
//!   - the live bytes have doubled since the last cycle collection and exceed 1/16 of the
//!     region ([`CycleConfig::collect_on_heap_growth`]): few candidates may stand for much
//!     garbage (a big cyclic structure built without decrements and dropped through one
//!     reference is one candidate), and this bounds what garbage cycles hold to about the live
//!     data again, at O(1) amortized work per allocated byte.
//!
//!   Besides, an allocation that finds no block even after merging free blocks collects cycles
//!   before it reports [`Error::OutOfMemory`], and [`crate::Heap::collect_cycles`] runs one
//!   now. The automatic triggers never run inside a no-GC scope, and
//!   [`crate::Heap::collect_cycles`] there is [`Error::InNoGcScope`]. A cycle collection is
//!   synchronous (one step of an incremental collection) and costs O(objects + references
//!   reachable from the candidates).
//! * **What an embedder tunes** ([`crate::HeapConfig`]): the candidate threshold
//!   ([`crate::HeapConfig::with_cycle_candidate_threshold`], or
//!   [`crate::Heap::set_cycle_candidate_threshold`] at run time): lower for less memory held by
//!   garbage cycles and shorter, more frequent pauses, higher for fewer cycle collections; the
//!   heap-growth trigger ([`crate::HeapConfig::with_cycle_collection_on_heap_growth`]); cycle
//!   collection as a whole ([`crate::HeapConfig::with_cycle_collection`]: off, nothing is buffered, a
//!   decrement costs nothing more, and garbage cycles leak as in Wasmtime: for programs that
//!   build no cycles); and [`crate::HeapConfig::zeal`] for debugging. Types declared final with
//!   concretely typed reference fields are often acyclic, and acyclic objects cost the cycle
//!   collector nothing. The region is the only memory limit: the heap never grows by itself
//!   ([`crate::Heap::extend`] adds memory the caller mapped). To empty a heap of garbage (at
//!   shutdown, or as a test oracle): drop the host roots, run [`crate::Heap::collect_all`] with
//!   no roots, then [`crate::Heap::collect_cycles`].

use crate::error::{Error, Result};
use crate::free_list::FreeList;
use crate::header::{Colour, HeaderFlags, Kind, ObjectHeader, FLAGS_OFFSET, REF_COUNT_OFFSET};
use crate::heap::{Heap, ReleaseWork, RELEASE_CHUNK};
use crate::region::Region;
use crate::types::TypeIndex;
use alloc::vec::Vec;

/// The default [`CycleConfig::candidate_threshold`]: a cycle collection runs when the buffer
/// holds more candidates than this (40 KiB of buffer).
pub const DEFAULT_CYCLE_CANDIDATE_THRESHOLD: usize = 10_000;

/// The heap-growth trigger ([`CycleConfig::collect_on_heap_growth`]) waits until the live bytes
/// exceed this fraction (1/16) of the region.
pub const HEAP_GROWTH_FLOOR_SHARE: u64 = 16;

/// A cycle collection that made more than this many object visits per object it freed was
/// unproductive: the candidate trigger doubles (see the heap policy). Garbage rings cost
/// 3 visits per freed object (mark gray, scan, gather).
pub const UNPRODUCTIVE_VISITS_PER_FREED: u64 = 8;

/// Offset in the object header of the `u16` buffer-slot hint (the header's reserved field).
pub const SLOT_HINT_OFFSET: u32 = 2;

/// Slots that share one hint value: the hint is the low 16 bits of the slot.
const HINT_STRIDE: usize = 1 << 16;

/// Entries a scratch worklist keeps between collections; a bigger one is shrunk back.
const SCRATCH_KEEP: usize = 16 * 1024;

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
    pub candidates_buffered: u64,
    pub collections: u64,
    pub objects_scanned: u64,
    pub references_traced: u64,
    pub objects_freed: u64,
}

/// One pending visit of a traversal.
#[derive(Clone, Copy, Debug)]
enum Visit {
    /// An object, all of its references (or the first chunk of an array's).
    Object(u32),
    /// The elements of a reference array from `next` on.
    Elements { array: u32, next: u32 },
}

/// Worklists of a collection, taken out of the heap while it runs.
#[derive(Default)]
struct Scratch {
    roots: Vec<u32>,
    worklist: Vec<Visit>,
    black: Vec<Visit>,
    children: Vec<u32>,
    /// Scan black's own children buffer: it runs in the middle of scan's loop over `children`.
    black_children: Vec<u32>,
    garbage: Vec<u32>,
}

impl Scratch {
    fn clear(&mut self) {
        fn keep<T>(v: &mut Vec<T>) {
            v.clear();
            if v.capacity() > SCRATCH_KEEP {
                v.shrink_to(SCRATCH_KEEP);
            }
        }
        keep(&mut self.roots);
        keep(&mut self.worklist);
        keep(&mut self.black);
        keep(&mut self.children);
        keep(&mut self.black_children);
        keep(&mut self.garbage);
    }
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
    scratch: Scratch,
    pub(crate) counters: CycleCounters,
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
            scratch: Scratch::default(),
            counters: CycleCounters::default(),
        }
    }

    /// Forgets every candidate (the heap was reset). Counters stay.
    pub(crate) fn reset(&mut self) {
        self.candidates.clear();
        self.scratch = Scratch::default();
        self.trigger = self.threshold;
        self.live_bytes_trigger = 0;
    }

    /// Number of objects in the candidate buffer.
    pub(crate) fn candidates(&self) -> usize {
        self.candidates.len()
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

    fn buffer(&mut self, region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
        let slot = self.candidates.len();
        let flags = flags.with_colour(Colour::Purple) | HeaderFlags::BUFFERED;
        let [low, high] = (slot as u16).to_ne_bytes();
        region.write(index + FLAGS_OFFSET, [flags.bits(), low, high])?;
        self.candidates.push(index);
        self.counters.candidates_buffered += 1;
        Ok(())
    }

    /// The slot of `index` in the buffer: first the slots its hint names, then a search.
    fn slot_of(&self, region: &Region, index: u32) -> Result<usize> {
        let hint = u16::from_ne_bytes(region.read(index + SLOT_HINT_OFFSET)?) as usize;
        let hinted = (hint..self.candidates.len()).step_by(HINT_STRIDE).find(|&slot| self.candidates[slot] == index);
        hinted
            .or_else(|| self.candidates.iter().rposition(|&entry| entry == index))
            .ok_or(Error::corrupted(index, "object flagged as buffered is not in the cycle collector's buffer"))
    }

    /// Takes a buffered object whose count reached zero out of the buffer, before its block is
    /// freed (its header is about to be overwritten, so its flags are left as they are).
    pub(crate) fn remove(&mut self, region: &mut Region, index: u32) -> Result<()> {
        let slot = self.slot_of(region, index)?;
        self.candidates.swap_remove(slot);
        if let Some(&moved) = self.candidates.get(slot) {
            region.write(moved + SLOT_HINT_OFFSET, (slot as u16).to_ne_bytes())?;
        }
        Ok(())
    }
}

/// Writes an object's flags and clears its slot hint.
#[inline]
fn write_flags_unbuffered(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    region.write(index + FLAGS_OFFSET, [flags.difference(HeaderFlags::BUFFERED).bits(), 0, 0])
}

/// Writes an object's flags byte (colour changes; the slot hint stays).
#[inline]
fn write_flags(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    region.write(index + FLAGS_OFFSET, [flags.bits()])
}

impl<H> Heap<H> {
    /// Collects the garbage cycles among the objects buffered as possible cycle roots, now.
    /// See the module documentation of [`crate::cycle_collector`] for the algorithm and the
    /// heap policy (the heap also runs it by itself).
    ///
    /// Objects held by host `GcRef`s, by the activations table or by live objects are never
    /// freed. Errors: [`Error::InNoGcScope`] inside a no-GC scope (nothing is done), and
    /// [`Error::Corrupted`] when the region fails validation. With cycle collection turned off
    /// in the configuration the buffer is always empty and this does nothing.
    pub fn collect_cycles(&mut self) -> Result<CycleReport> {
        if self.in_no_gc_scope() {
            return Err(Error::InNoGcScope);
        }
        self.run_cycle_collection()
    }

    /// Number of objects buffered as possible cycle roots.
    pub fn cycle_candidates(&self) -> usize {
        self.cycles.candidates()
    }

    /// Changes the candidate threshold of a running heap (see
    /// [`CycleConfig::candidate_threshold`]); the trigger starts again from it.
    pub fn set_cycle_candidate_threshold(&mut self, threshold: usize) {
        self.cycles.threshold = threshold;
        self.cycles.trigger = threshold;
    }

    /// Whether an automatic cycle collection is due: the candidate buffer is over its trigger,
    /// or (with candidates buffered) the heap has grown enough (see the heap policy; the caller
    /// checks for a no-GC scope).
    #[inline]
    pub(crate) fn cycle_collection_due(&self) -> bool {
        let c = &self.cycles;
        let len = c.candidates.len();
        len > c.trigger
            || (c.growth
                && len > 0
                && self.counters.live_bytes
                    > c.live_bytes_trigger.max(self.region.len() as u64 / HEAP_GROWTH_FLOOR_SHARE))
    }

    /// The allocation-time threshold trigger: collects cycles when the buffer is over its
    /// trigger and no no-GC scope is open.
    #[inline]
    pub(crate) fn collect_cycles_if_due(&mut self) -> Result<()> {
        if self.cycle_collection_due() && !self.in_no_gc_scope() {
            self.run_cycle_collection()?;
        }
        Ok(())
    }

    /// The allocation-failure trigger: an allocation of `block` bytes found nothing even after
    /// coalescing. Collects cycles (unless in a no-GC scope, or with nothing buffered), merges
    /// free blocks and tries again. `None` when there is still no block.
    #[cold]
    pub(crate) fn alloc_after_collecting_cycles(&mut self, block: u32) -> Result<Option<u32>> {
        if self.cycles.candidates.is_empty() || self.in_no_gc_scope() {
            return Ok(None);
        }
        if self.run_cycle_collection()?.objects_freed == 0 {
            return Ok(None);
        }
        self.coalesce()?;
        self.free_list.alloc(&mut self.region, block)
    }

    /// Runs one cycle collection (the caller has checked the no-GC scope).
    pub(crate) fn run_cycle_collection(&mut self) -> Result<CycleReport> {
        let mut scratch = core::mem::take(&mut self.cycles.scratch);
        let result = self.trial_deletion(&mut scratch);
        scratch.clear();
        self.cycles.scratch = scratch;
        result
    }

    fn trial_deletion(&mut self, s: &mut Scratch) -> Result<CycleReport> {
        s.clear();
        core::mem::swap(&mut s.roots, &mut self.cycles.candidates);
        let before = self.cycles.counters;
        let freed_before = self.counters.objects_freed;
        let candidates = s.roots.len() as u64;
        // Four visits (gray, white, black, gathered) per 16-byte granule in use at most.
        let mut budget = 4 * (self.free_list.top() as u64 / 16 + 1);

        let survivors = self.mark_and_scan(s, &mut budget)?;
        self.collect_roots(s, &mut budget)?;

        let freed = self.counters.objects_freed - freed_before;
        let c = &mut self.cycles.counters;
        c.collections += 1;
        c.objects_freed += freed;
        // Amortization: the next collection waits for at least half as many new candidates as
        // this one found survivors, so rescanning a big live graph costs O(1) per candidate.
        // Back-off: a collection that freed little for its work (an acyclic program whose
        // decrements buffer candidates that are all alive) doubles the trigger, so such a
        // program pays O(log) collections instead of one per threshold's worth of candidates;
        // a productive collection brings the trigger back down.
        let scanned = c.objects_scanned - before.objects_scanned;
        let floor = self.cycles.threshold.max(survivors as usize / 2);
        self.cycles.trigger = if freed.saturating_mul(UNPRODUCTIVE_VISITS_PER_FREED) >= scanned {
            floor
        } else {
            floor.max(self.cycles.trigger.saturating_mul(2))
        };
        self.cycles.live_bytes_trigger = self.counters.live_bytes.saturating_mul(2);
        log::debug!("cycle collection: {candidates} candidates, {freed} objects freed, {survivors} survivors");
        Ok(CycleReport {
            candidates,
            objects_scanned: c.objects_scanned - before.objects_scanned,
            references_traced: c.references_traced - before.references_traced,
            objects_freed: freed,
        })
    }

    /// Counts one object visit against the budget.
    #[inline]
    fn visit(&mut self, budget: &mut u64, index: u32) -> Result<()> {
        if *budget == 0 {
            return Err(Error::corrupted(index, "cycle collection visited more objects than the heap can hold"));
        }
        *budget -= 1;
        self.cycles.counters.objects_scanned += 1;
        Ok(())
    }

    /// Pops the next visit from `worklist`, counts a whole object against the budget, and puts
    /// the references the visit covers into `children` (pushing the rest of a long array back
    /// on the worklist). Returns whether the visit was a whole object's, or `None` when the
    /// worklist is empty.
    fn next_visit(
        &mut self,
        worklist: &mut Vec<Visit>,
        children: &mut Vec<u32>,
        budget: &mut u64,
    ) -> Result<Option<bool>> {
        let Some(visit) = worklist.pop() else { return Ok(None) };
        let (object, next) = match visit {
            Visit::Object(object) => {
                self.visit(budget, object)?;
                (object, 0)
            }
            Visit::Elements { array, next } => (array, next),
        };
        let header = self.object(object)?;
        if let Some(rest) = self.children(object, &header, next, children)? {
            worklist.push(rest);
        }
        Ok(Some(matches!(visit, Visit::Object(_))))
    }

    /// Puts the references `visit` covers into `out` (cleared first) and returns the visit of
    /// the rest of the array, if any. `header` is the object's, just read.
    fn children(&mut self, object: u32, header: &ObjectHeader, next: u32, out: &mut Vec<u32>) -> Result<Option<Visit>> {
        out.clear();
        let mut rest = None;
        match header.kind {
            Kind::STRUCT => {
                let (_, layout) = self.types.struct_layout(TypeIndex(header.type_index))?;
                if FreeList::block_size(layout.size) != Some(header.size) {
                    return Err(Error::corrupted(object, "struct size disagrees with its type"));
                }
                for &offset in &layout.reference_offsets {
                    out.push(self.region.read_u32(object + offset)?);
                }
            }
            Kind::ARRAY => {
                let (layout, len) = self.array_layout_of(object, header)?;
                if layout.elements_are_refs && next < len {
                    let end = len.min(next.saturating_add(RELEASE_CHUNK));
                    for i in next..end {
                        out.push(self.region.read_u32(object + layout.element_offset(i))?);
                    }
                    if end < len {
                        rest = Some(Visit::Elements { array: object, next: end });
                    }
                }
            }
            _ => {}
        }
        self.cycles.counters.references_traced += out.len() as u64;
        Ok(rest)
    }

    /// The header of a reference word that names an object which takes part in cycle
    /// collection: `None` for null, i31 and acyclic objects.
    #[inline]
    fn cyclic_child(&self, raw: u32) -> Result<Option<ObjectHeader>> {
        if raw == 0 || raw & 1 == 1 {
            return Ok(None);
        }
        let header = self.object(raw)?;
        Ok((!header.flags.contains(HeaderFlags::ACYCLIC)).then_some(header))
    }

    /// MarkRoots then ScanRoots. Returns the number of objects scan black kept alive.
    fn mark_and_scan(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        // MarkRoots.
        let mut kept = 0;
        for i in 0..s.roots.len() {
            let root = s.roots[i];
            let header = self.object(root)?;
            if !header.flags.contains(HeaderFlags::BUFFERED) || header.flags.contains(HeaderFlags::ACYCLIC) {
                return Err(Error::corrupted(root, "cycle candidate not flagged as a buffered cyclic object"));
            }
            match header.flags.colour() {
                Colour::Purple if header.ref_count > 0 => {
                    write_flags(&mut self.region, root, header.flags.with_colour(Colour::Gray))?;
                    s.worklist.push(Visit::Object(root));
                    self.mark_gray(s, budget)?;
                    s.roots[kept] = root;
                    kept += 1;
                }
                // Reached from an earlier root: that root's traversal covers it.
                Colour::Gray => write_flags_unbuffered(&mut self.region, root, header.flags)?,
                _ => return Err(Error::corrupted(root, "buffered object is not purple or has a zero count")),
            }
        }
        s.roots.truncate(kept);

        // ScanRoots.
        let mut survivors = 0;
        for i in 0..s.roots.len() {
            let root = s.roots[i];
            let header = self.object(root)?;
            survivors += self.scan(root, header, s, budget)?;
            while let Some(visit) = s.worklist.pop() {
                let (object, next) = match visit {
                    Visit::Object(object) => (object, 0),
                    Visit::Elements { array, next } => (array, next),
                };
                let header = self.object(object)?;
                // Scan black may have reached it since it was pushed: then its references are
                // done.
                if header.flags.colour() != Colour::White {
                    continue;
                }
                if next == 0 {
                    self.visit(budget, object)?;
                }
                if let Some(rest) = self.children(object, &header, next, &mut s.children)? {
                    s.worklist.push(rest);
                }
                let mut j = 0;
                while let Some(&child) = s.children.get(j) {
                    j += 1;
                    if let Some(child_header) = self.cyclic_child(child)? {
                        survivors += self.scan(child, child_header, s, budget)?;
                    }
                }
            }
        }
        Ok(survivors)
    }

    /// Mark gray: runs the worklist, whose objects are gray already.
    fn mark_gray(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<()> {
        while self.next_visit(&mut s.worklist, &mut s.children, budget)?.is_some() {
            let mut j = 0;
            while let Some(&child) = s.children.get(j) {
                j += 1;
                let Some(header) = self.cyclic_child(child)? else { continue };
                let count = header
                    .ref_count
                    .checked_sub(1)
                    .ok_or(Error::corrupted(child, "more references to an object than its count"))?;
                self.region.write_u32(child + REF_COUNT_OFFSET, count)?;
                if header.flags.colour() != Colour::Gray {
                    write_flags(&mut self.region, child, header.flags.with_colour(Colour::Gray))?;
                    s.worklist.push(Visit::Object(child));
                }
            }
        }
        Ok(())
    }

    /// Scan of one object: a gray object with a count turns black with everything it reaches
    /// (returns how many objects that made black); a gray object without one turns white and is
    /// pushed on the scan worklist.
    fn scan(&mut self, object: u32, header: ObjectHeader, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        if header.flags.colour() != Colour::Gray {
            return Ok(0);
        }
        if header.ref_count > 0 {
            write_flags(&mut self.region, object, header.flags.with_colour(Colour::Black))?;
            s.black.push(Visit::Object(object));
            self.scan_black(s, budget)
        } else {
            write_flags(&mut self.region, object, header.flags.with_colour(Colour::White))?;
            s.worklist.push(Visit::Object(object));
            Ok(0)
        }
    }

    /// Scan black: runs the black worklist, whose objects are black already, restoring the
    /// count of every reference they hold. Returns the number of objects visited.
    fn scan_black(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        let mut blackened = 0;
        while let Some(whole_object) = self.next_visit(&mut s.black, &mut s.black_children, budget)? {
            blackened += u64::from(whole_object);
            let mut j = 0;
            while let Some(&child) = s.black_children.get(j) {
                j += 1;
                let Some(header) = self.cyclic_child(child)? else { continue };
                let count = header.ref_count.checked_add(1).ok_or(Error::RefCountOverflow)?;
                self.region.write_u32(child + REF_COUNT_OFFSET, count)?;
                if header.flags.colour() != Colour::Black {
                    write_flags(&mut self.region, child, header.flags.with_colour(Colour::Black))?;
                    s.black.push(Visit::Object(child));
                }
            }
        }
        Ok(blackened)
    }

    /// CollectRoots: every root leaves the buffer; the white objects reachable from white roots
    /// are gathered, their references to acyclic objects released, and their blocks freed.
    fn collect_roots(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<()> {
        for i in 0..s.roots.len() {
            let root = s.roots[i];
            let header = self.object(root)?;
            let white = header.flags.colour() == Colour::White;
            // Gathered objects are coloured black, so each is gathered once.
            write_flags_unbuffered(&mut self.region, root, header.flags.with_colour(Colour::Black))?;
            if white {
                s.garbage.push(root);
                s.worklist.push(Visit::Object(root));
                self.gather_white(s, budget)?;
            }
        }
        // Nothing was freed while gathering, except acyclic objects, which are never gathered:
        // every gathered header is still there.
        for i in 0..s.garbage.len() {
            let object = s.garbage[i];
            let header = self.object(object)?;
            self.free_object(object, header)?;
        }
        Ok(())
    }

    /// Gathers the white objects reachable from the worklist's (gathered) objects, and releases
    /// the references gathered objects hold to acyclic objects.
    fn gather_white(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<()> {
        while self.next_visit(&mut s.worklist, &mut s.children, budget)?.is_some() {
            let mut j = 0;
            while let Some(&child) = s.children.get(j) {
                j += 1;
                if child == 0 || child & 1 == 1 {
                    continue;
                }
                let header = self.object(child)?;
                if header.flags.contains(HeaderFlags::ACYCLIC) {
                    // A real reference going away: ordinary release (the object and what only
                    // it holds are freed when this was the last one).
                    if self.decrement(child)? {
                        self.release_worklist.push(ReleaseWork::Object(child));
                    }
                } else if header.flags.colour() == Colour::White {
                    write_flags(&mut self.region, child, header.flags.with_colour(Colour::Black))?;
                    s.garbage.push(child);
                    s.worklist.push(Visit::Object(child));
                }
            }
            // At most one chunk's worth of releases waits at a time.
            self.drain_release_worklist()?;
        }
        Ok(())
    }

    /// Checks the cycle collector's invariants for verification: `objects` are the heap's
    /// objects (with their headers) in address order.
    pub(crate) fn verify_cycle_state(&self, objects: &[crate::verify::SeenObject]) -> Result<()> {
        let mismatch = |offset: u32, what: &'static str, found: u64, expected: u64| Error::VerifyFailed {
            offset,
            what,
            found,
            expected,
        };
        let mut buffered = 0u64;
        for object in objects {
            let index = object.index;
            let header = self.object(index)?;
            let flags = header.flags;
            let colour = flags.colour();
            if !matches!(colour, Colour::Black | Colour::Purple) {
                return Err(mismatch(index, "colour outside a cycle collection (1 gray, 2 white)", colour as u64, 0));
            }
            let is_buffered = flags.contains(HeaderFlags::BUFFERED);
            if is_buffered != (colour == Colour::Purple) {
                return Err(mismatch(
                    index,
                    "purple exactly when buffered",
                    is_buffered as u64,
                    (colour == Colour::Purple) as u64,
                ));
            }
            let acyclic = match header.kind {
                Kind::EXTERN => true,
                _ => self.types.is_acyclic(TypeIndex(header.type_index))?,
            };
            if flags.contains(HeaderFlags::ACYCLIC) != acyclic {
                return Err(mismatch(index, "acyclic flag disagrees with the type", !acyclic as u64, acyclic as u64));
            }
            if is_buffered && acyclic {
                return Err(mismatch(index, "acyclic object in the cycle buffer", 1, 0));
            }
            if is_buffered {
                buffered += 1;
            } else {
                let hint = u16::from_ne_bytes(self.region.read(index + SLOT_HINT_OFFSET)?);
                if hint != 0 {
                    return Err(mismatch(index, "slot hint of an unbuffered object", hint as u64, 0));
                }
            }
        }
        let candidates = &self.cycles.candidates;
        if buffered != candidates.len() as u64 {
            return Err(mismatch(
                0,
                "buffered objects against the cycle buffer's length",
                buffered,
                candidates.len() as u64,
            ));
        }
        let mut seen = crate::activations_table::RefSet::default();
        for (slot, &index) in candidates.iter().enumerate() {
            if crate::verify::find_object(objects, index).is_none() {
                return Err(mismatch(index, "cycle buffer entry that is not a live object", index as u64, 0));
            }
            if !self.object(index)?.flags.contains(HeaderFlags::BUFFERED) {
                return Err(mismatch(index, "cycle buffer entry not flagged as buffered", 0, 1));
            }
            if !seen.insert(index) {
                return Err(mismatch(index, "object twice in the cycle buffer", 2, 1));
            }
            let hint = u16::from_ne_bytes(self.region.read(index + SLOT_HINT_OFFSET)?);
            if hint != slot as u16 {
                return Err(mismatch(index, "slot hint of a buffered object", hint as u64, slot as u16 as u64));
            }
        }
        if !self.cycles.enabled && !candidates.is_empty() {
            return Err(mismatch(0, "candidates with cycle collection off", candidates.len() as u64, 0));
        }
        Ok(())
    }
}
