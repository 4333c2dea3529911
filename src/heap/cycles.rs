//! Cycle collection, the algorithm: trial deletion over the heap's memory (the `impl Heap`
//! part of [`crate::cycle_collector`]).
//!
//! [`crate::cycle_collector`] owns the candidate buffer, the colour and buffered bits of
//! headers, the settings, the report and the policy of when a collection is due;
//! it knows nothing of the heap. This file walks the heap: MarkRoots, ScanRoots and
//! CollectRoots with explicit worklists ([`Scratch`], kept between collections in the heap),
//! each object visit counted against a budget so that a corrupted graph ends in
//! [`Error::Corrupted`], never in an endless loop. The algorithm and its invariants are written
//! down in [`crate::cycle_collector`]'s documentation; [`Heap::verify_cycle_state`] checks the
//! invariants for [`Heap::verify`].
//!
//! Entry points: [`Heap::collect_cycles`] (explicit), [`Heap::collect_cycles_if_due`] (the
//! allocation-time trigger), [`Heap::alloc_after_collecting_cycles`] (before an allocation
//! reports out of memory) and [`Heap::run_cycle_collection`] (a collection's cycle phase).

use super::object::{checked_struct_layout, object_word};
use super::{HeapIn, RELEASE_CHUNK};
use crate::cycle_collector::{write_flags, write_flags_unbuffered, CycleReport};
use crate::error::{Error, Result};
use crate::header::{
    Colour, HeaderFlags, Kind, ObjectHeader, FLAGS_OFFSET, REF_COUNT_OFFSET, RESERVED_OFFSET, SIZE_OFFSET,
};
use crate::region::Region;
use crate::types::TypeIndex;
use alloc::vec::Vec;

/// Entries a scratch worklist keeps between collections; a bigger one is shrunk back.
const SCRATCH_KEEP: usize = 16 * 1024;

/// [`Heap::free_garbage`] puts the garbage in address order when it has more than one descent
/// (an object listed after one at a higher offset) per this many objects, and frees its
/// ascending stretches as they are otherwise.
const SORT_ABOVE_STRETCH: usize = 16;

/// Objects start on 16-byte boundaries (a bit of [`Heap::free_garbage`]'s bitmap per 16 bytes).
const HEADER_GRANULE: u32 = crate::header::HEADER_SIZE;

/// Bit 0 of a [`Scratch::gray`] entry (object offsets are multiples of 16): the object may hold
/// references to acyclic objects, which collecting it must release. Set by mark gray for a
/// struct that holds one and for every reference array (whose elements it visits in chunks).
const HOLDS_ACYCLIC: u32 = 1;

/// One pending visit of a traversal, with the header read and validated when the object was
/// queued, in this collection. Only its kind, type index and size are used (for the object's
/// layout): a collection writes counts and flags, never those, and nothing else writes to the
/// region while it runs, so the copy stays true.
#[derive(Clone, Copy, Debug)]
struct Visit {
    object: u32,
    header: ObjectHeader,
    /// 0: the whole object, all of its references (or the first chunk of an array's); else
    /// the elements of a reference array from `next` on (never 0: the rest of an array begins
    /// after a chunk).
    next: u32,
}

impl Visit {
    /// The visit of a whole object.
    #[inline(always)]
    fn whole(object: u32, header: ObjectHeader) -> Visit {
        Visit { object, header, next: 0 }
    }
}

/// Worklists of a collection, taken out of the heap while it runs.
#[derive(Default)]
pub(super) struct Scratch {
    worklist: Vec<Visit>,
    /// Every object mark gray coloured gray, once each, in the order it visited them, tagged
    /// with [`HOLDS_ACYCLIC`]; after ScanRoots, those still gray are the garbage. Once
    /// CollectRoots has read it, its room is [`Heap::free_garbage`]'s bitmap.
    gray: Vec<u32>,
    black: Vec<Visit>,
    children: Vec<u32>,
    /// The garbage objects CollectRoots found (offset, block size: checked against the type by
    /// mark gray), freed once it has read every header it needs, in address order.
    garbage: Vec<(u32, u32)>,
}

impl Scratch {
    fn clear(&mut self) {
        fn keep<T>(v: &mut Vec<T>) {
            v.clear();
            if v.capacity() > SCRATCH_KEEP {
                v.shrink_to(SCRATCH_KEEP);
            }
        }
        keep(&mut self.worklist);
        keep(&mut self.gray);
        keep(&mut self.black);
        keep(&mut self.children);
        keep(&mut self.garbage);
    }
}

impl<'a, H> HeapIn<'a, H> {
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
        self.cycle_collection(true)
    }

    /// Number of objects buffered as possible cycle roots.
    pub fn cycle_candidates(&self) -> usize {
        self.cycles.candidates()
    }

    /// Changes the candidate threshold of a running heap (see
    /// [`crate::CycleConfig::candidate_threshold`]); the trigger starts again from it.
    pub fn set_cycle_candidate_threshold(&mut self, threshold: usize) {
        self.cycles.set_threshold(threshold);
    }

    /// Whether an automatic cycle collection is due: the candidate buffer is over its trigger,
    /// or (with candidates buffered) the heap has grown enough (see the heap policy; the caller
    /// checks for a no-GC scope).
    #[inline]
    pub(crate) fn cycle_collection_due(&self) -> bool {
        self.cycles.is_due(self.counters.live_bytes(), self.region.len())
    }

    /// The allocation-time trigger: collects cycles when one is due and no no-GC scope is
    /// open, and starts the candidate buffer's young generation when it holds more than half
    /// its trigger. Always inlined: the test is on every allocation's fast path (what it
    /// starts is out of line).
    #[inline(always)]
    pub(crate) fn collect_cycles_if_due(&mut self) -> Result<()> {
        if self.cycles.is_due_or_young(self.counters.live_bytes(), self.region.len()) && !self.in_no_gc_scope() {
            self.run_cycle_collection()?;
        }
        Ok(())
    }

    /// The allocation-failure trigger: an allocation of `block` bytes found nothing even after
    /// coalescing. Collects cycles (unless in a no-GC scope, or with nothing buffered), merges
    /// free blocks and tries again. `None` when there is still no block.
    #[cold]
    pub(crate) fn alloc_after_collecting_cycles(&mut self, block: u32) -> Result<Option<u32>> {
        if self.cycles.candidates() == 0 || self.in_no_gc_scope() {
            return Ok(None);
        }
        if self.cycle_collection(true)?.objects_freed == 0 {
            return Ok(None);
        }
        self.coalesce()?;
        self.free_list.alloc(&mut self.region, block)
    }

    /// Runs the cycle collection that is due (the caller has checked the no-GC scope): of the
    /// old candidates alone when the candidate trigger alone made it due (the young ones wait
    /// for the next: see the heap policy), else of all of them. When none is due (the
    /// allocation-time check calls this when the buffer holds more than half its trigger too)
    /// it starts the young generation instead, and reports no work.
    pub(crate) fn run_cycle_collection(&mut self) -> Result<CycleReport> {
        if !self.cycle_collection_due() {
            self.cycles.start_young();
            return Ok(CycleReport::default());
        }
        let all = !self.cycles.defers_young(self.counters.live_bytes(), self.region.len());
        self.cycle_collection(all)
    }

    /// Runs one cycle collection of the old candidates, and of the young ones too if `all`.
    fn cycle_collection(&mut self, all: bool) -> Result<CycleReport> {
        let mut scratch = core::mem::take(&mut self.cycle_scratch);
        let result = self.trial_deletion(&mut scratch, all);
        scratch.clear();
        self.cycle_scratch = scratch;
        result
    }

    /// The number of young candidates (see [`crate::cycle_collector`]): the objects flagged
    /// buffered at the offsets the young generation's bitmap marks (one look at each mark).
    fn young_candidates(&self) -> Result<usize> {
        let (mut young, mut word, end) = (0, 0, self.free_list.top());
        while let Some(marked) = self.cycles.young_marks(word, end) {
            word += 1;
            for index in marked {
                if self.free_list.is_allocated(index) {
                    young += usize::from(
                        ObjectHeader::decode_one_test(&self.region, index)?.flags.contains(HeaderFlags::BUFFERED),
                    );
                }
            }
        }
        Ok(young)
    }

    fn trial_deletion(&mut self, s: &mut Scratch, all: bool) -> Result<CycleReport> {
        s.clear();
        let young = match all || !self.cycles.is_young() {
            true => None,
            false => Some(self.young_candidates()?),
        };
        let (before, candidates) = self.cycles.start_collection(young);
        let freed_before = self.counters.objects_freed();
        // Four visits (gray, white, black, gathered) per 16-byte granule in use at most.
        let full_budget = 4 * (self.free_list.top() as u64 / 16 + 1);
        let mut budget = full_budget;
        let result = self.trial_deletion_phases(s, &mut budget, candidates);
        // The visits are what the budget lost (counted once here, not once per visit).
        self.cycles.count_visits(full_budget - budget);
        let (roots, survivors) = result?;
        let freed = self.counters.objects_freed() - freed_before;
        let report = self.cycles.finish_collection(before, roots, freed, survivors, self.counters.live_bytes());
        log::debug!("cycle collection: {roots} candidates, {freed} objects freed, {survivors} survivors");
        Ok(report)
    }

    /// MarkRoots, ScanRoots and CollectRoots, visits counted against `budget`; the number of
    /// roots found must be `candidates`. Returns the roots and the survivors.
    fn trial_deletion_phases(&mut self, s: &mut Scratch, budget: &mut u64, candidates: usize) -> Result<(u64, u64)> {
        let roots = self.mark_roots(s, budget)?;
        if roots != candidates as u64 {
            return Err(Error::corrupted(0, "a cycle collection found other buffered objects than were buffered"));
        }
        let survivors = self.scan_roots(s, budget)?;
        self.collect_roots(s, budget)?;
        Ok((roots, survivors))
    }

    /// Counts one object visit against the budget (the collection's visit counter is the
    /// budget it used, added once at its end).
    #[inline]
    fn visit(&mut self, budget: &mut u64, index: u32) -> Result<()> {
        if *budget == 0 {
            return Err(Error::corrupted(index, "cycle collection visited more objects than the heap can hold"));
        }
        *budget -= 1;
        Ok(())
    }

    /// Pops the next visit from `worklist`, counts a whole object against the budget, and puts
    /// the references the visit covers into `children` (pushing the rest of a long array back
    /// on the worklist). Returns the object and its header with whether the visit was a whole
    /// object's, or `None` when the worklist is empty.
    fn next_visit(
        &mut self,
        worklist: &mut Vec<Visit>,
        children: &mut Vec<u32>,
        budget: &mut u64,
    ) -> Result<Option<(u32, ObjectHeader, bool)>> {
        let Some(visit) = worklist.pop() else { return Ok(None) };
        let Visit { object, header, next } = visit;
        if next == 0 {
            self.visit(budget, object)?;
        }
        if let Some(rest) = self.children(object, &header, next, children)? {
            worklist.push(rest);
        }
        Ok(Some((object, header, next == 0)))
    }

    /// Puts the references `visit` covers into `out` (cleared first) and returns the visit of
    /// the rest of the array, if any. `header` is the object's, read and validated in this
    /// collection (its layout is checked against its type here).
    fn children(&mut self, object: u32, header: &ObjectHeader, next: u32, out: &mut Vec<u32>) -> Result<Option<Visit>> {
        out.clear();
        let (slots, rest) = self.ref_slots(object, header, next, RELEASE_CHUNK)?;
        for offset in slots {
            out.push(self.region.read_u32(offset)?);
        }
        self.cycles.count_references(out.len());
        Ok(rest.map(|next| Visit { object, header: *header, next }))
    }

    /// The header of an object of the gray list, validated again as a header
    /// ([`ObjectHeader::decode`]: kind, flags, size within the region) but without the bitmap
    /// test: mark gray took it through [`Heap::object`] in this collection, and the collection
    /// frees gray objects only at its end (and acyclic ones, which are never gray).
    #[inline]
    fn listed_header(&self, object: u32) -> Result<ObjectHeader> {
        ObjectHeader::decode(&self.region, object)
    }

    /// The flags (validated) of an object of the gray list, all that CollectRoots reads of an
    /// object it does not release references from (and its block size, checked against its
    /// type by mark gray in this collection: a collection writes only counts and flags).
    #[inline]
    fn listed_flags(&self, object: u32) -> Result<HeaderFlags> {
        let [byte] = self.region.read::<1>(object + FLAGS_OFFSET)?;
        HeaderFlags::from_bits(byte).ok_or(Error::corrupted(object, "unknown header flag bits"))
    }

    /// The flags (validated) and count of an object of the gray list, all that ScanRoots reads
    /// of it: the rest of its header was validated by mark gray in this collection, and a
    /// collection writes only counts and flags.
    #[inline]
    fn listed_flags_and_count(&self, object: u32) -> Result<(HeaderFlags, u32)> {
        let [byte] = self.region.read::<1>(object + FLAGS_OFFSET)?;
        let flags = HeaderFlags::from_bits(byte).ok_or(Error::corrupted(object, "unknown header flag bits"))?;
        Ok((flags, self.region.read_u32(object + REF_COUNT_OFFSET)?))
    }

    /// MarkRoots: mark gray from every purple root; a root already gray (reached from an
    /// earlier one) leaves the buffer. Every object coloured gray is listed in `s.gray`.
    /// The roots are the objects flagged buffered at the offsets marked in the buffer's
    /// bitmap, which this clears (the other marks are stale: see [`crate::cycle_collector`]).
    /// Returns their number.
    #[inline(never)]
    fn mark_roots(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        let mut roots = 0;
        // Every object lies below the free list's high-water mark.
        let (mut word, end) = (0, self.free_list.top());
        while let Some(marked) = self.cycles.take_marks(word, end) {
            word += 1;
            for root in marked {
                roots += self.mark_root(s, budget, root)?;
            }
        }
        Ok(roots)
    }

    /// Mark gray from `root`, an offset marked in the buffer's bitmap, if it is a candidate.
    /// Returns 1 for a candidate, 0 for a stale mark.
    #[inline]
    fn mark_root(&mut self, s: &mut Scratch, budget: &mut u64, root: u32) -> Result<u64> {
        if !self.free_list.is_allocated(root) {
            return Ok(0); // Freed since it was buffered, and no object starts there now.
        }
        let header = ObjectHeader::decode_one_test(&self.region, root)?;
        if !header.flags.contains(HeaderFlags::BUFFERED) {
            return Ok(0); // Freed since it was buffered; the object there now is not a candidate.
        }
        if header.flags.contains(HeaderFlags::ACYCLIC) {
            return Err(Error::corrupted(root, "acyclic object flagged as a buffered cycle candidate"));
        }
        match header.flags.colour() {
            Colour::Purple if header.ref_count > 0 => {
                write_flags(&mut self.region, root, header.flags.with_colour(Colour::Gray))?;
                s.worklist.push(Visit::whole(root, header));
                self.mark_gray(s, budget)?;
            }
            // Reached from an earlier root: that root's traversal covers it.
            Colour::Gray => write_flags_unbuffered(&mut self.region, root, header.flags)?,
            _ => return Err(Error::corrupted(root, "buffered object is not purple or has a zero count")),
        }
        Ok(1)
    }

    /// Mark gray: runs the worklist, whose objects are gray already, listing each in `s.gray`
    /// when its visit begins. A struct's references are read straight from its layout's
    /// reference offsets ([`Heap::mark_gray_struct`]); arrays go through the chunked
    /// enumeration of [`Heap::next_visit`].
    #[inline(never)]
    fn mark_gray(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<()> {
        while let Some(visit) = s.worklist.pop() {
            if visit.next == 0 && visit.header.kind == Kind::STRUCT {
                let (object, header) = (visit.object, visit.header);
                self.visit(budget, object)?;
                let holds_acyclic = self.mark_gray_struct(object, &header, &mut s.worklist)?;
                s.gray.push(object | if holds_acyclic { HOLDS_ACYCLIC } else { 0 });
                continue;
            }
            s.worklist.push(visit);
            let Some((object, header, whole)) = self.next_visit(&mut s.worklist, &mut s.children, budget)? else {
                break;
            };
            let mut holds_acyclic = false;
            let mut j = 0;
            while let Some(&child) = s.children.get(j) {
                j += 1;
                let Some(index) = object_word(child) else { continue };
                let header = checked_child(&self.region, &self.free_list, index)?;
                holds_acyclic |= mark_gray_child(&mut self.region, &mut s.worklist, index, header)?;
            }
            if whole {
                // A reference array is listed as holding acyclic objects whatever its first
                // chunk held: the rest of its elements are visited later.
                let tag = holds_acyclic || header.kind == Kind::ARRAY;
                s.gray.push(object | if tag { HOLDS_ACYCLIC } else { 0 });
            }
        }
        Ok(())
    }

    /// Mark gray's visit of the struct `object` (gray, `header` read and validated when it was
    /// queued): each reference field is read, and the object it names validated
    /// ([`checked_object`]), counted down and queued gray. Returns whether a field names an
    /// acyclic object. Scan black has the same loop written out in place: one helper for both
    /// (a closure for the child's step) cost the rings 0.5% of their instructions.
    #[inline]
    fn mark_gray_struct(&mut self, object: u32, header: &ObjectHeader, worklist: &mut Vec<Visit>) -> Result<bool> {
        let HeapIn { region, types, free_list, cycles, .. } = self;
        let (_, layout) = checked_struct_layout(types, object, header)?;
        cycles.count_references(layout.reference_offsets.len());
        let mut holds_acyclic = false;
        for &offset in &layout.reference_offsets {
            let Some(index) = object_word(region.read_u32(object + offset)?) else { continue };
            let header = checked_child(region, free_list, index)?;
            holds_acyclic |= mark_gray_child(region, worklist, index, header)?;
        }
        Ok(holds_acyclic)
    }

    /// ScanRoots, in one pass over the gray objects instead of a traversal from each root: a
    /// gray object whose count is still above zero is referenced from outside the gray
    /// subgraph, so scan black restores the counts of everything reachable from it and colours
    /// it black. What is still gray afterwards is exactly what the paper's scan colours white
    /// (everything reachable from a black object is black, and every gray object with a count
    /// is black), so it is left gray: CollectRoots takes a gray object for white. Returns the
    /// number of objects scan black kept alive.
    #[inline(never)]
    fn scan_roots(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        let mut survivors = 0;
        for i in 0..s.gray.len() {
            let object = s.gray[i] & !HOLDS_ACYCLIC;
            let (flags, count) = self.listed_flags_and_count(object)?;
            match flags.colour() {
                Colour::Gray if count > 0 => {
                    write_flags(&mut self.region, object, flags.with_colour(Colour::Black))?;
                    s.black.push(Visit::whole(object, self.listed_header(object)?));
                    survivors += self.scan_black(s, budget)?;
                }
                // Scanned without a count: white unless a later scan black reaches it.
                Colour::Gray => self.visit(budget, object)?,
                // Reached by scan black from an earlier gray object.
                Colour::Black => {}
                _ => return Err(Error::corrupted(object, "gray object changed colour during a cycle collection")),
            }
        }
        Ok(survivors)
    }

    /// Scan black: runs the black worklist, whose objects are black already, restoring the
    /// count of every reference they hold. Returns the number of objects visited. A struct's
    /// references are read straight from its layout, as in mark gray.
    #[inline(never)]
    fn scan_black(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<u64> {
        let mut blackened = 0;
        while let Some(visit) = s.black.pop() {
            if visit.next == 0 && visit.header.kind == Kind::STRUCT {
                let (object, header) = (visit.object, visit.header);
                self.visit(budget, object)?;
                blackened += 1;
                let HeapIn { region, types, free_list, cycles, .. } = self;
                let (_, layout) = checked_struct_layout(types, object, &header)?;
                cycles.count_references(layout.reference_offsets.len());
                for &offset in &layout.reference_offsets {
                    let Some(index) = object_word(region.read_u32(object + offset)?) else { continue };
                    let header = checked_child(region, free_list, index)?;
                    scan_black_child(region, &mut s.black, index, header)?;
                }
                continue;
            }
            s.black.push(visit);
            let Some((_, _, whole)) = self.next_visit(&mut s.black, &mut s.children, budget)? else { break };
            blackened += u64::from(whole);
            let mut j = 0;
            while let Some(&child) = s.children.get(j) {
                j += 1;
                let Some(index) = object_word(child) else { continue };
                let header = checked_child(&self.region, &self.free_list, index)?;
                scan_black_child(&mut self.region, &mut s.black, index, header)?;
            }
        }
        Ok(blackened)
    }

    /// CollectRoots, in one pass over the gray list: every root leaves the buffer; a black
    /// object survives; a gray one is garbage (white): the references it holds to acyclic
    /// objects are released (through the ordinary release path: what only it held is freed,
    /// an externref's host data dropped once) and, once every garbage object's references are
    /// released, the garbage blocks are freed ([`Heap::free_garbage`]). Its references to
    /// cyclic objects are not decremented again: trial deletion already removed them, and a
    /// black object's count now holds exactly its references from survivors.
    ///
    /// Releasing frees only acyclic objects (an acyclic type reaches only final acyclic
    /// types), which are never gray: every header of the gray list is still there when the
    /// pass reads it, and each garbage block's size, read then, is still its own when it is
    /// freed.
    #[inline(never)]
    fn collect_roots(&mut self, s: &mut Scratch, budget: &mut u64) -> Result<()> {
        for i in 0..s.gray.len() {
            let entry = s.gray[i];
            let object = entry & !HOLDS_ACYCLIC;
            let flags = self.listed_flags(object)?;
            let buffered = flags.contains(HeaderFlags::BUFFERED);
            match flags.colour() {
                Colour::Black => {
                    if buffered {
                        write_flags_unbuffered(&mut self.region, object, flags)?;
                        self.cycles.unbuffer_young(object);
                    }
                }
                Colour::Gray => {
                    self.visit(budget, object)?;
                    if buffered {
                        write_flags_unbuffered(&mut self.region, object, flags)?;
                        self.cycles.unbuffer_young(object);
                    }
                    let size = if entry & HOLDS_ACYCLIC != 0 {
                        let header = self.listed_header(object)?;
                        self.release_acyclic_references(object, header, &mut s.children)?;
                        header.size
                    } else {
                        // Checked against the object's type by mark gray in this collection.
                        self.region.read_u32(object + SIZE_OFFSET)?
                    };
                    s.garbage.push((object, size));
                }
                _ => return Err(Error::corrupted(object, "gray object changed colour during a cycle collection")),
            }
        }
        // The gray list is read no more: its room holds free_garbage's bitmap.
        self.free_garbage(&mut s.garbage, &mut s.gray)
    }

    /// Frees the garbage kept in `garbage` (with `order`, scratch for a bitmap: the gray list,
    /// whose entries are no longer needed, so that it allocates nothing), each run of
    /// adjacent objects as one block ([`Heap::free_sorted_blocks`]: a ring or a tree allocated
    /// in one go is usually one run). Empties `garbage`.
    ///
    /// Mark gray lists objects in the order it walks them. A list of a few ascending stretches
    /// (the roots are taken in address order, and a ring allocated in one go is walked along
    /// its allocation) is freed a stretch at a time (a stretch that begins next to the end of
    /// an earlier one merges with it in the free list). Any other list is put in address order
    /// first: through a bitmap of its offsets when that is no more words than the list has
    /// objects (one bit set per object and one look per word instead of a sort's comparisons;
    /// each block size is read again from its header, which mark gray checked against the
    /// object's type in this collection), else by sorting.
    #[inline(never)]
    fn free_garbage(&mut self, garbage: &mut Vec<(u32, u32)>, order: &mut Vec<u32>) -> Result<()> {
        let descents = garbage.windows(2).filter(|pair| pair[0].0 > pair[1].0).count();
        // Not buffered: CollectRoots cleared the flag of every garbage object.
        if descents * SORT_ABOVE_STRETCH <= garbage.len() {
            for stretch in garbage.chunk_by(|a, b| a.0 < b.0) {
                self.free_sorted_blocks(stretch)?;
            }
        } else {
            let (low, high) =
                garbage.iter().fold((u32::MAX, 0), |(low, high), &(object, _)| (low.min(object), high.max(object)));
            let words = ((high - low) / HEADER_GRANULE / u32::BITS) as usize + 1;
            // No more words than the gray list had entries (at least one per garbage object):
            // its capacity holds the bitmap without growing.
            if words <= garbage.len() {
                order.clear();
                order.resize(words, 0);
                for &(object, _) in garbage.iter() {
                    let granule = (object - low) / HEADER_GRANULE;
                    if let Some(word) = order.get_mut((granule / u32::BITS) as usize) {
                        *word |= 1 << (granule % u32::BITS);
                    }
                }
                // Each garbage object is listed once (coloured gray once), so there are as many
                // bits as entries; `k` counts the entries rewritten.
                let mut k = 0;
                for (word, &bits) in order.iter().enumerate() {
                    let mut bits = bits;
                    while bits != 0 {
                        let object = low + (word as u32 * u32::BITS + bits.trailing_zeros()) * HEADER_GRANULE;
                        bits &= bits - 1;
                        if let Some(entry) = garbage.get_mut(k) {
                            *entry = (object, self.region.read_u32(object + SIZE_OFFSET)?);
                        }
                        k += 1;
                    }
                }
                garbage.truncate(k);
            } else {
                garbage.sort_unstable_by_key(|&(object, _)| object);
            }
            self.free_sorted_blocks(garbage)?;
        }
        garbage.clear();
        Ok(())
    }

    /// Releases the references the garbage object `object` (its header just read) holds to
    /// acyclic objects, a chunk of a reference array's elements at a time.
    fn release_acyclic_references(&mut self, object: u32, header: ObjectHeader, children: &mut Vec<u32>) -> Result<()> {
        let mut next = 0;
        loop {
            let rest = self.children(object, &header, next, children)?;
            for &child in children.iter() {
                let Some(index) = object_word(child) else { continue };
                if self.object(index)?.flags.contains(HeaderFlags::ACYCLIC) {
                    // A real reference going away: ordinary release (the object and what only
                    // it holds are freed when this was the last one).
                    self.release(child)?;
                }
            }
            match rest {
                Some(rest) => next = rest.next,
                None => return Ok(()),
            }
        }
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
                if !self.cycles.is_marked(index) {
                    return Err(mismatch(index, "buffered object whose bit in the cycle buffer is clear", 0, 1));
                }
            }
            let reserved = u16::from_ne_bytes(self.region.read(index + RESERVED_OFFSET)?);
            if reserved != 0 {
                return Err(mismatch(index, "reserved header field", reserved as u64, 0));
            }
        }
        let candidates = self.cycles.candidates() as u64;
        if buffered != candidates {
            return Err(mismatch(0, "buffered objects against the cycle buffer's count", buffered, candidates));
        }
        let highest = self.cycles.highest_mark();
        if let Some(offset) = highest.filter(|&offset| offset >= self.region.len() as u64) {
            return Err(mismatch(0, "cycle buffer bit beyond the region", offset, self.region.len() as u64));
        }
        if !self.cycles.is_enabled() && (candidates != 0 || highest.is_some()) {
            return Err(mismatch(0, "candidates with cycle collection off", candidates, 0));
        }
        Ok(())
    }
}

/// [`checked_object`] for the struct loops of mark gray and scan black: the same checks in
/// the same order and the same errors, with the header's kind and flags tested at once
/// ([`ObjectHeader::decode_one_test`]).
#[inline(always)]
fn checked_child(region: &Region, free_list: &crate::free_list::FreeList, index: u32) -> Result<ObjectHeader> {
    if !free_list.is_allocated(index) {
        return Err(Error::InvalidReference(index));
    }
    ObjectHeader::decode_one_test(region, index)
}

/// Mark gray's step along one reference to the object at `index` (`header` just read and
/// validated): an acyclic object is skipped (returns `true`: the holder must release it if it
/// is garbage); any other loses one count (trial deletion of the reference) and, unless gray
/// already, is coloured gray and queued.
#[inline(always)]
fn mark_gray_child(region: &mut Region, worklist: &mut Vec<Visit>, index: u32, header: ObjectHeader) -> Result<bool> {
    if header.flags.contains(HeaderFlags::ACYCLIC) {
        return Ok(true);
    }
    let count = header
        .ref_count
        .checked_sub(1)
        .ok_or(Error::corrupted(index, "more references to an object than its count"))?;
    region.write_u32(index + REF_COUNT_OFFSET, count)?;
    if header.flags.colour() != Colour::Gray {
        write_flags(region, index, header.flags.with_colour(Colour::Gray))?;
        worklist.push(Visit::whole(index, header));
    }
    Ok(false)
}

/// Scan black's step along one reference to the object at `index` (`header` just read and
/// validated): an acyclic object is skipped; any other gets its count back and, unless black
/// already, is coloured black and queued.
#[inline(always)]
fn scan_black_child(region: &mut Region, worklist: &mut Vec<Visit>, index: u32, header: ObjectHeader) -> Result<()> {
    if header.flags.contains(HeaderFlags::ACYCLIC) {
        return Ok(());
    }
    let count = header.ref_count.checked_add(1).ok_or(Error::RefCountOverflow)?;
    region.write_u32(index + REF_COUNT_OFFSET, count)?;
    if header.flags.colour() != Colour::Black {
        write_flags(region, index, header.flags.with_colour(Colour::Black))?;
        worklist.push(Visit::whole(index, header));
    }
    Ok(())
}
