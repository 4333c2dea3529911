//! Cycle collection: synchronous trial deletion (Bacon and Rajan 2001) for garbage cycles.
//!
//! Reference counting frees an object when its count reaches zero, so a group of objects that
//! reference each other (a doubly linked ring, a tree with parent pointers, a struct whose
//! field points to itself) is never freed once the rest of the program lets go of it: every
//! member still has a count from another member. This module finds and frees such garbage.
//!
//! # What it owns
//! * The **candidate buffer**: the objects that may be the root of a garbage cycle, a bitmap
//!   outside the region (one bit per 16-byte granule, set for an object when it is buffered;
//!   a second one, of the same layout, while the young generation runs: see below) and the
//!   number of candidates, behind `CycleCollector`'s narrow methods: the heap's hot
//!   path calls `possible_root` when a decrement leaves a count above zero and `remove` when a
//!   buffered object is freed, and knows nothing else of it.
//! * The colour bits and the [`HeaderFlags::BUFFERED`] bit of every object's header, and the
//!   helpers that write them. The rest of the heap only reads them (the flag test on a
//!   decrement and on a free).
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
//! [`HeaderFlags::BUFFERED`], counted and marked in the buffer's bitmap, once (a buffered
//! object is not buffered again). On the hot path this costs one flag test on the header the
//! decrement has just read: objects of acyclic ("green") types, flagged
//! [`HeaderFlags::ACYCLIC`] at allocation from the type registry's analysis
//! ([`crate::types`]; every externref is acyclic), are never buffered, and neither is an object
//! already in the buffer. Buffering is then one store of the flags byte, one bit set and a
//! count. Increments do not touch colours, so outside a cycle collection an object is purple
//! exactly when it is buffered.
//!
//! **A buffered object whose count reaches zero** is freed at once, like any other object:
//! reference counting's promise that an object is freed the moment its last reference goes
//! holds (the paper instead keeps such objects until the buffer is processed). Leaving the
//! buffer costs one decrement of the candidate count, and nothing else: its bit stays set, and
//! is *stale*. A stale bit names a block that is free, or part of a bigger block, or holds an
//! object allocated there since; the collection takes as roots only the marked offsets where
//! an object starts (the free list's bitmap of object starts) that is flagged buffered. Such an
//! object is a candidate of its own (it was marked with that same bit when it was buffered), so
//! a stale bit never makes the collector act on a block reused by another object as if it were
//! the freed candidate, and a bitmap holds each object once. A bit is cleared only when a
//! collection takes the buffer (it reads the words of bits up to the heap's high-water mark;
//! a bit above it names no object and may stay, stale); the stale bits cost the collection one look each, no
//! more than the buffering that set them. The bitmap grows to the highest object ever
//! buffered, at most one bit per 16 bytes of region (1/128 of its size).
//!
//! **The young generation.** When the buffer holds more than half its candidate trigger, the
//! next allocation starts the young generation: the candidates buffered so far are *old*,
//! their bitmap is set aside, and the candidates buffered from then on are *young*, marked in
//! the (all zero) second bitmap, which the hot path now writes (one swap of two vectors: the
//! hot path is unchanged). A cycle collection that the candidate trigger alone starts takes
//! only the old candidates as roots and leaves the young ones buffered, for the next
//! collection, where they are old. A candidate buffered recently is most often part of a
//! structure still being built or used (the node a list or a ring was just extended from), and
//! a collection then would only mark it gray and scan it black again: waiting lets it either
//! become garbage or be taken once. The buffer still holds at most the trigger's worth of
//! candidates, so the young generation does not add to what garbage cycles hold: it makes the
//! trigger's collections come twice as often, each on the older half. Every other collection
//! (the heap-growth trigger, an allocation that finds no room, [`crate::Heap::collect_cycles`])
//! takes all the candidates. No old candidate lies at an offset the young bitmap marks (it
//! would have been buffered young), so the young bitmap's marks are cleared from the old one
//! as a collection of the old candidates starts; the young candidates are then counted (the
//! objects flagged buffered at the young marks: one look at each), so that the collection can
//! check the roots it finds against the count. A young candidate that mark gray reaches from
//! an old root is unbuffered by the collection like a root (it was visited: if it is alive,
//! its cycles are not garbage now); the others stay buffered and their marks join the old
//! bitmap when the collection ends, which ends the young generation.
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
//! The candidates it takes (all of them, or the old ones: see the young generation above) are
//! the roots: the objects flagged buffered at the marked offsets below the heap's high-water
//! mark, in address order (the bits are cleared as they are read; the number of roots found
//! must be the number of candidates taken, or the region is corrupted). Then,
//! with explicit worklists (no recursion; a struct's references are read straight from its
//! type's reference offsets, its layout checked once per visit; a reference array's elements
//! are visited [`crate::heap::RELEASE_CHUNK`] at a time, the rest of the array waiting on the
//! worklist as one entry):
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
//! 3. **CollectRoots**, one pass over the list: every root (and every young candidate mark gray
//!    reached) leaves the buffer, a black object
//!    survives, a gray one is garbage. The references a garbage object holds to acyclic objects
//!    are released through the heap's ordinary release path (so an externref's host data is
//!    dropped exactly once, when the last reference to it goes); once all of them are, every
//!    garbage object's block is freed, each run of adjacent ones as one block. Only the tagged
//!    garbage objects' references (and whole headers) are read again, for their acyclic
//!    children; of the others the pass reads the flags and the block size (checked against the
//!    type by mark gray). A garbage object's references to other garbage or black
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
//! when it is flagged [`HeaderFlags::BUFFERED`], and then its bit in the buffer (in either
//! bitmap) is set; the
//! candidate count is the number of buffered objects (none with cycle collection off, and no
//! bit set either); no bit lies beyond the region; the header's reserved `u16` is 0; acyclic
//! objects are never buffered, and an object is flagged [`HeaderFlags::ACYCLIC`] exactly when
//! its type is acyclic (always for an externref).
//!
//! # Robustness
//! Every index read from the region goes through `Heap::object`'s checks (header validation; a marked
//! offset is first looked up in the free list's host-side bitmap of object starts) and every
//! access is bounds-checked. The buffer's bitmap and count are outside the region: a forged
//! [`HeaderFlags::BUFFERED`] flag is found out by the count (a free that would take it below
//! zero, a collection that finds other roots than the count says), and gives
//! [`Error::Corrupted`]. A collection visits each object at most once per colour
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
use crate::header::{Colour, HeaderFlags, FLAGS_OFFSET, HEADER_SIZE};
use crate::region::Region;
use crate::stats::HeapStats;
use alloc::vec::Vec;

/// The default [`CycleConfig::candidate_threshold`]: a cycle collection runs when the buffer
/// holds more candidates than this. The threshold bounds the work a collection finds waiting,
/// not memory: the buffer is a bitmap beside the region (one bit per 16 bytes of it) and a
/// count, whatever the threshold.
pub const DEFAULT_CYCLE_CANDIDATE_THRESHOLD: usize = 10_000;

/// The heap-growth trigger ([`CycleConfig::collect_on_heap_growth`]) waits until the live bytes
/// exceed this fraction (1/16) of the region.
pub const HEAP_GROWTH_FLOOR_SHARE: u64 = 16;

/// A cycle collection that made more than this many object visits per object it freed was
/// unproductive: the candidate trigger doubles (see the heap policy). Garbage rings cost
/// 3 visits per freed object (mark gray, the scan pass, the collect pass).
pub const UNPRODUCTIVE_VISITS_PER_FREED: u64 = 8;

/// Offset in the object header of the `u16` that held the buffer-slot hint while the candidate
/// buffer was a list. The buffer is a bitmap now and keeps no hint: the field is reserved and 0
/// in every object (verification checks it). Kept so that code naming the offset still builds.
#[deprecated(
    note = "the candidate buffer keeps no slot hint: the header's u16 at this offset is reserved and always 0"
)]
pub const SLOT_HINT_OFFSET: u32 = crate::header::RESERVED_OFFSET;

/// Bytes per bit of the buffer's bitmap: objects start on 16-byte boundaries (their headers
/// are 16 bytes and their blocks multiples of that).
const MARK_GRANULE: u32 = HEADER_SIZE;

/// Bits per word of the buffer's bitmap.
const MARK_WORD_BITS: usize = u64::BITS as usize;

/// Settings of the cycle collector, in [`crate::HeapConfig::cycles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleConfig {
    /// Whether garbage cycles are collected. When off, nothing is ever buffered (a decrement
    /// costs nothing more) and garbage cycles leak, as in Wasmtime. On by default.
    pub enabled: bool,
    /// A cycle collection runs when the candidate buffer holds more than this many objects
    /// (at the next allocation, or in the next collection's cycle phase); it takes the
    /// candidates buffered before the buffer held half as many, the younger ones wait for the
    /// next. See the module's heap policy. Default [`DEFAULT_CYCLE_CANDIDATE_THRESHOLD`].
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
    /// The buffer length above which the allocation-time check looks at the buffer: half the
    /// trigger before the young generation starts (to start it), the trigger after.
    next_check: usize,
    /// Whether the heap-growth trigger is on.
    growth: bool,
    /// Twice the live bytes after the last cycle collection (`u64::MAX` with the heap-growth
    /// trigger off, so that one comparison covers both): the heap-growth trigger fires
    /// above this (and above the floor).
    live_bytes_trigger: u64,
    /// The number of buffered objects (flagged [`HeaderFlags::BUFFERED`]), old and young.
    candidates: usize,
    /// Whether the young generation has started: `marks` holds the young candidates and
    /// `old_marks` the old ones.
    young: bool,
    /// The bitmap candidates are buffered into: bit `g % 64` of word `g / 64` is set when the
    /// object at offset `16 g` was buffered since the last collection (or, before the young
    /// generation starts, left buffered by it); stale if the object has been freed since.
    /// During a collection, the bitmap of the candidates it takes.
    marks: Vec<u64>,
    /// The old candidates' bitmap while the young generation runs (laid out as `marks`); all
    /// zeros (spare room) before it starts. No old candidate's offset is marked in `marks`
    /// then: a bit set there since the young generation started was set for a young
    /// candidate, and the old one still lies where it was. During a collection of the old
    /// candidates, the young ones' bitmap.
    old_marks: Vec<u64>,
    /// During a collection of the old candidates: how many young ones are buffered (the
    /// buffered objects at the offsets marked in `old_marks`), and that they are.
    young_left: usize,
    young_waiting: bool,
    counters: CycleCounters,
}

impl CycleCollector {
    pub(crate) fn new(config: CycleConfig) -> CycleCollector {
        let mut collector = CycleCollector {
            enabled: config.enabled,
            threshold: config.candidate_threshold,
            trigger: 0,
            next_check: 0,
            growth: config.collect_on_heap_growth,
            live_bytes_trigger: growth_trigger(config.collect_on_heap_growth, 0),
            candidates: 0,
            young: false,
            marks: Vec::new(),
            old_marks: Vec::new(),
            young_left: 0,
            young_waiting: false,
            counters: CycleCounters::default(),
        };
        collector.set_trigger(config.candidate_threshold);
        collector
    }

    /// Forgets every candidate (the heap was reset). Counters stay.
    pub(crate) fn reset(&mut self) {
        self.candidates = 0;
        self.young = false;
        self.marks.clear();
        self.old_marks.clear();
        self.young_left = 0;
        self.young_waiting = false;
        self.set_trigger(self.threshold);
        self.live_bytes_trigger = growth_trigger(self.growth, 0);
    }

    /// Number of objects in the candidate buffer.
    pub(crate) fn candidates(&self) -> usize {
        self.candidates
    }

    /// Whether the bit of the object at `index` is set in the buffer (either bitmap: for
    /// verification).
    pub(crate) fn is_marked(&self, index: u32) -> bool {
        let (word, bit) = mark_position(index);
        let marked = |marks: &[u64]| marks.get(word).is_some_and(|&bits| bits & bit != 0);
        marked(&self.marks) || marked(&self.old_marks)
    }

    /// The offset the highest bit set in the buffer stands for, if any (for verification: it
    /// must lie within the region).
    pub(crate) fn highest_mark(&self) -> Option<u64> {
        let highest = |marks: &[u64]| {
            let word = marks.iter().rposition(|&bits| bits != 0)?;
            let granule = word * MARK_WORD_BITS + (MARK_WORD_BITS - 1 - marks[word].leading_zeros() as usize);
            Some(granule as u64 * MARK_GRANULE as u64)
        };
        highest(&self.marks).max(highest(&self.old_marks))
    }

    /// Whether cycle collection is on.
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Changes the candidate threshold; the trigger starts again from it.
    pub(crate) fn set_threshold(&mut self, threshold: usize) {
        self.threshold = threshold;
        self.set_trigger(threshold);
    }

    /// Sets the candidate trigger (and the check that starts the young generation at half of
    /// it).
    fn set_trigger(&mut self, trigger: usize) {
        self.trigger = trigger;
        self.next_check = if self.young { trigger } else { trigger / 2 };
    }

    /// Whether an automatic cycle collection is due (see the heap policy): the buffer is over
    /// its trigger, or, with candidates buffered and the heap-growth trigger on, `live_bytes`
    /// have doubled since the last cycle collection and exceed 1/[`HEAP_GROWTH_FLOOR_SHARE`] of
    /// a region of `region_len` bytes.
    #[inline]
    pub(crate) fn is_due(&self, live_bytes: u64, region_len: u32) -> bool {
        self.candidates > self.trigger || self.is_due_by_growth(live_bytes, region_len)
    }

    /// The allocation-time check: whether a cycle collection is due or the young generation
    /// is to start ([`CycleCollector::start_young`]: the buffer holds more than half the
    /// trigger). As cheap as [`CycleCollector::is_due`]: one comparison of the buffer length
    /// then the heap-growth test.
    #[inline(always)]
    pub(crate) fn is_due_or_young(&self, live_bytes: u64, region_len: u32) -> bool {
        self.candidates > self.next_check || self.is_due_by_growth(live_bytes, region_len)
    }

    /// Whether the heap-growth trigger makes a collection due (see [`CycleCollector::is_due`]).
    #[inline(always)]
    fn is_due_by_growth(&self, live_bytes: u64, region_len: u32) -> bool {
        self.candidates > 0
            && live_bytes > region_len as u64 / HEAP_GROWTH_FLOOR_SHARE
            && live_bytes > self.live_bytes_trigger
    }

    /// Starts the young generation (the buffer holds more than half the trigger, and no
    /// collection is due): the candidates buffered so far are old, those buffered from now on
    /// young, and a collection the candidate trigger starts leaves the young ones for the
    /// next one (see the heap policy).
    pub(crate) fn start_young(&mut self) {
        if self.young {
            return;
        }
        // `old_marks` is all zeros: it is the young generation's bitmap from now on.
        core::mem::swap(&mut self.marks, &mut self.old_marks);
        self.young = true;
        self.next_check = self.trigger;
    }

    /// Whether a due collection leaves the young candidates for the next one: when the young
    /// generation has started and the candidate trigger alone makes the collection due (see
    /// the heap policy).
    #[inline]
    pub(crate) fn defers_young(&self, live_bytes: u64, region_len: u32) -> bool {
        self.young && self.candidates > self.trigger && !self.is_due_by_growth(live_bytes, region_len)
    }

    /// The offsets word `word` of the young generation's bitmap marks (young candidates, or
    /// stale), if the young generation has started and the word covers an offset below `end`
    /// (the heap's high-water mark). For the caller to count the young candidates before a
    /// collection of the old ones.
    #[inline]
    pub(crate) fn young_marks(&self, word: usize, end: u32) -> Option<MarkedOffsets> {
        if !self.young {
            return None;
        }
        let words = (end as usize).div_ceil(MARK_GRANULE as usize * MARK_WORD_BITS).min(self.marks.len());
        let bits = *self.marks[..words].get(word)?;
        Some(MarkedOffsets { bits, base: (word * MARK_WORD_BITS) as u32 * MARK_GRANULE })
    }

    /// Starts a collection of the old candidates, `young` being the number of young ones
    /// buffered (the caller counted them: see [`CycleCollector::young_marks`]), or, with
    /// `young` `None`, of all of them. The young ones stay buffered (their bitmap waits in
    /// `old_marks`, and their offsets are cleared from the old one, where they are stale);
    /// the buffer holds only them from now on (the collection unbuffers every other
    /// candidate; the caller takes the roots from the bitmap with
    /// [`CycleCollector::take_marks`], and tells [`CycleCollector::unbuffer_young`] of each
    /// buffered object it unbuffers). Returns the counters before the collection, for
    /// [`CycleCollector::finish_collection`], and the number of candidates taken (the caller
    /// checks that it finds that many roots). A collection of the old candidates when all are
    /// young (more young ones than candidates is a corrupted region's doing) takes all of them.
    pub(crate) fn start_collection(&mut self, young: Option<usize>) -> (CycleCounters, usize) {
        match young {
            Some(young) if self.young && young < self.candidates => {
                for (old, young) in self.old_marks.iter_mut().zip(&self.marks) {
                    *old &= !young;
                }
                core::mem::swap(&mut self.marks, &mut self.old_marks);
                self.young = false;
                self.young_left = young;
                self.young_waiting = true;
            }
            _ => {
                self.end_young();
                self.young_left = 0;
            }
        }
        let old = self.candidates - self.young_left;
        self.candidates = self.young_left;
        (self.counters, old)
    }

    /// Whether the young generation has started.
    #[inline]
    pub(crate) fn is_young(&self) -> bool {
        self.young
    }

    /// Ends the young generation: its bits join the old ones in `marks`, and `old_marks` is
    /// all zeros again.
    fn end_young(&mut self) {
        if !self.young {
            return;
        }
        core::mem::swap(&mut self.marks, &mut self.old_marks);
        self.young = false;
        self.merge_spare();
        self.next_check = self.trigger / 2;
    }

    /// Moves the bits of `old_marks` to `marks`, leaving it all zeros.
    fn merge_spare(&mut self) {
        if self.marks.len() < self.old_marks.len() {
            self.marks.resize(self.old_marks.len(), 0);
        }
        for (marks, spare) in self.marks.iter_mut().zip(self.old_marks.iter_mut()) {
            *marks |= core::mem::take(spare);
        }
    }

    /// Clears word `word` of the bitmap of the candidates the collection takes and returns
    /// the offsets its bits stood for (candidates, or stale: see the module documentation),
    /// if the word covers an offset below `end` (the heap's high-water mark). The words wholly
    /// above it are left: no object lies there now, so their bits are stale.
    #[inline]
    pub(crate) fn take_marks(&mut self, word: usize, end: u32) -> Option<MarkedOffsets> {
        let words = (end as usize).div_ceil(MARK_GRANULE as usize * MARK_WORD_BITS).min(self.marks.len());
        let bits = core::mem::take(self.marks[..words].get_mut(word)?);
        // A bit is set only for an object's offset, below the region's length: it fits in a `u32`.
        Some(MarkedOffsets { bits, base: (word * MARK_WORD_BITS) as u32 * MARK_GRANULE })
    }

    /// A collection of the old candidates unbuffers the buffered object at `index`, reached
    /// from a root: if it is a young candidate (marked in the young bitmap), it leaves the
    /// buffer (one candidate less) and its bit is cleared. (The roots left the buffer when the
    /// collection started.)
    #[inline]
    pub(crate) fn unbuffer_young(&mut self, index: u32) {
        if self.young_left == 0 {
            return;
        }
        let (word, bit) = mark_position(index);
        if let Some(bits) = self.old_marks.get_mut(word).filter(|bits| **bits & bit != 0) {
            *bits &= !bit;
            self.young_left -= 1;
            self.candidates -= 1;
        }
    }

    /// Counts `n` object visits of a collection.
    #[inline]
    pub(crate) fn count_visits(&mut self, n: u64) {
        self.counters.objects_scanned += n;
    }

    /// Counts `n` references read by a collection.
    #[inline]
    pub(crate) fn count_references(&mut self, n: usize) {
        self.counters.references_traced += n as u64;
    }

    /// Ends a collection that took `candidates` roots (counters `before` it), freed `freed`
    /// objects and found `survivors` alive, leaving `live_bytes` live: counts it, sets the next
    /// trigger (the policy's amortization and back-off), ends the young generation (the young
    /// candidates left are the next collection's old ones) and reports what it did.
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
        let references = c.references_traced - before.references_traced;
        let floor = self.threshold.max(survivors as usize / 2);
        let trigger = if freed.saturating_mul(UNPRODUCTIVE_VISITS_PER_FREED) >= scanned {
            floor
        } else {
            floor.max(self.trigger.saturating_mul(2))
        };
        // The young candidates left are the next collection's old ones.
        self.end_young();
        if core::mem::take(&mut self.young_waiting) {
            self.merge_spare();
        }
        self.young_left = 0;
        self.set_trigger(trigger);
        self.live_bytes_trigger = growth_trigger(self.growth, live_bytes);
        CycleReport { candidates, objects_scanned: scanned, references_traced: references, objects_freed: freed }
    }

    /// The cycle fields of a statistics snapshot.
    pub(crate) fn fill_stats(&self, stats: &mut HeapStats) {
        let c = &self.counters;
        stats.cycle_candidates = self.candidates as u64;
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

    /// Buffers the object at `index` (flags `flags`): colours it purple and flags it buffered
    /// (one store of the flags byte), sets its bit and counts it. Always inlined into the
    /// decrement: its hot path is a bounds check, the store and the bit; growing the bitmap is
    /// out of line.
    #[inline(always)]
    fn buffer(&mut self, region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
        let flags = flags.with_colour(Colour::Purple) | HeaderFlags::BUFFERED;
        region.write(index + FLAGS_OFFSET, [flags.bits()])?;
        let (word, bit) = mark_position(index);
        match self.marks.get_mut(word) {
            Some(bits) => *bits |= bit,
            None => self.grow_marks(word, bit, region.len()),
        }
        self.candidates += 1;
        self.counters.candidates_buffered += 1;
        Ok(())
    }

    /// Grows the bitmap to hold word `word` (doubling, up to the words a region of
    /// `region_len` bytes needs) and sets `bit` in it.
    #[cold]
    #[inline(never)]
    fn grow_marks(&mut self, word: usize, bit: u64, region_len: u32) {
        let region_words = region_len as usize / MARK_GRANULE as usize / MARK_WORD_BITS + 1;
        let len = (word + 1).max((2 * self.marks.len()).min(region_words));
        self.marks.resize(len, 0);
        self.marks[word] |= bit;
    }

    /// Takes a buffered object whose count reached zero out of the buffer, before its block is
    /// freed: one candidate less; its bit stays, stale (see the module documentation), and its
    /// header is about to be overwritten, so its flags are left as they are. More buffered
    /// objects freed than were buffered is [`Error::Corrupted`] (a forged flag).
    #[inline(always)]
    pub(crate) fn remove(&mut self, index: u32) -> Result<()> {
        self.candidates = self
            .candidates
            .checked_sub(1)
            .ok_or(Error::corrupted(index, "object flagged as buffered is not in the cycle collector's buffer"))?;
        Ok(())
    }
}

/// The heap-growth trigger's `live_bytes_trigger` after a collection that left `live_bytes`
/// live: twice that, or never when the trigger is off.
fn growth_trigger(on: bool, live_bytes: u64) -> u64 {
    if on {
        live_bytes.saturating_mul(2)
    } else {
        u64::MAX
    }
}

/// The offsets one word of the buffer's bitmap stands for, in address order.
pub(crate) struct MarkedOffsets {
    bits: u64,
    base: u32,
}

impl Iterator for MarkedOffsets {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.bits == 0 {
            return None;
        }
        let bit = self.bits.trailing_zeros();
        self.bits &= self.bits - 1;
        Some(self.base + bit * MARK_GRANULE)
    }
}

/// The word of the buffer's bitmap that holds the bit of the object at `index`, and the bit.
#[inline(always)]
fn mark_position(index: u32) -> (usize, u64) {
    let granule = (index / MARK_GRANULE) as usize;
    (granule / MARK_WORD_BITS, 1 << (granule % MARK_WORD_BITS))
}

/// Writes an object's flags without the buffered flag (it leaves the buffer).
#[inline]
pub(crate) fn write_flags_unbuffered(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    write_flags(region, index, flags.difference(HeaderFlags::BUFFERED))
}

/// Writes an object's flags byte (colour changes).
#[inline]
pub(crate) fn write_flags(region: &mut Region, index: u32, flags: HeaderFlags) -> Result<()> {
    region.write(index + FLAGS_OFFSET, [flags.bits()])
}
