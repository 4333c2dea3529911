//! Collection: turning the activations table's over-approximation into the precise set.
//!
//! Between collections, references enter the activations table (JIT code's bump chunk and the
//! over-approximated set) and never leave it, so objects that Wasm frames dropped stay alive.
//! A collection fixes that, in steps an embedder may interleave with other work:
//!
//! 1. **Trace**: the embedder's roots are walked (its stack-map walk yields each reference slot
//!    with a flag saying whether it is in a Wasm frame). Only Wasm-stack roots matter here: host
//!    roots already own counts. Each distinct object on the Wasm stack goes into the precise set
//!    and takes one count. Roots are consumed [`TRACE_STEP`] at a time.
//! 2. **Sweep**: every bump-chunk entry and every entry of the old over-approximated set releases
//!    its count (freeing what only Wasm frames held), the precise set becomes the new
//!    over-approximation, and the bump chunk is empty again.
//! 3. **Cycles** (only when due): when the cycle collector's candidate buffer is over its
//!    trigger, one synchronous cycle collection frees the garbage cycles
//!    ([`crate::cycle_collector`]).
//! 4. **Coalesce** (only when worth it): when more than half of the used part of the region is
//!    in free blocks, adjacent free blocks are merged.
//!
//! # Invalid words
//! A collection is how the heap gets memory back, so one garbage word must not stop it. A
//! Wasm-stack root or a bump-chunk entry that names no live object (the free list's start
//! bitmap says no object starts there: a stale word, a word inside an object, a word past the
//! heap) is skipped: it owns no count, so there is nothing to take or release. Each one is
//! counted in [`crate::HeapStats::invalid_roots_skipped`] and in
//! [`Collection::invalid_roots_skipped`]; with [`crate::zeal::Zeal::invalid_roots_are_errors`]
//! the collection fails with [`Error::InvalidReference`] instead. Any other error (a corrupted
//! header at an object start) still fails the step.
//!
//! A collection inside a no-GC scope is [`Error::InNoGcScope`]. A collection that is dropped
//! before it completes leaves the heap consistent: the precise set's counts are folded back into
//! the over-approximation when the next collection starts.
//!
//! This module holds the public face ([`Root`], [`Progress`], [`Collection`] and its steps,
//! [`crate::Heap::collect`]); what each step does to the heap (trace a word, sweep the table,
//! the coalescing test) is the heap's `src/heap/collection.rs`, reached through its methods.
//!
//! # Policy
//! The heap never collects on its own, because only the embedder can walk its stack; it says
//! when to (see [the heap policy](crate#heap-policy), written once in the crate docs).

use crate::error::{Error, Result};
use crate::gc_ref::object_word;
use crate::heap::{Batch, HeapIn};
pub use crate::root::Root;

/// Roots consumed per trace step.
pub const TRACE_STEP: usize = 16 * 1024;

/// Whether a collection has more steps to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Call [`Collection::step`] again.
    Continue,
    /// The collection is complete.
    Complete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Trace,
    Sweep,
    Cycles,
    Coalesce,
    Done,
}

/// A collection in progress. Run it with [`Collection::step`] or [`Collection::finish`].
#[derive(Debug)]
pub struct Collection<'h, 'a, H, I> {
    heap: &'h mut HeapIn<'a, H>,
    roots: I,
    phase: Phase,
    /// Wasm-stack words taken from `roots` and not traced yet: `pending.words()[traced..]`.
    pending: Batch,
    traced: usize,
    /// Invalid words this collection skipped.
    skipped: u64,
}

impl<'a, H> HeapIn<'a, H> {
    /// Starts a collection with the embedder's roots.
    pub fn collect<I: IntoIterator<Item = Root>>(&mut self, roots: I) -> Result<Collection<'_, 'a, H, I::IntoIter>> {
        if self.in_no_gc_scope() {
            return Err(Error::InNoGcScope);
        }
        self.fold_abandoned_precise_set()?;
        Ok(Collection {
            heap: self,
            roots: roots.into_iter(),
            phase: Phase::Trace,
            pending: Batch::new(),
            traced: 0,
            skipped: 0,
        })
    }

    /// Runs a whole collection.
    pub fn collect_all<I: IntoIterator<Item = Root>>(&mut self, roots: I) -> Result<()> {
        self.collect(roots)?.finish()
    }
}

impl<H, I: Iterator<Item = Root>> Collection<'_, '_, H, I> {
    /// Traces the pending roots, their headers loaded first (see `Heap::release_batch`). On
    /// an error the roots after the failing one stay pending for the next step.
    fn trace_pending(&mut self) -> Result<()> {
        if self.traced == 0 {
            self.heap.touch_headers(self.pending.words());
        }
        while let Some(&raw) = self.pending.words().get(self.traced) {
            self.traced += 1;
            self.skipped += self.heap.trace_root(raw)? as u64;
        }
        self.pending.clear();
        self.traced = 0;
        Ok(())
    }

    /// Runs the next step.
    pub fn step(&mut self) -> Result<Progress> {
        match self.phase {
            Phase::Trace => {
                log::trace!("collection: trace step");
                // Roots a failed step gathered but did not trace come first.
                self.trace_pending()?;
                let mut traced = 0;
                while traced < TRACE_STEP {
                    let Some(root) = self.roots.next() else {
                        self.trace_pending()?;
                        self.phase = Phase::Sweep;
                        break;
                    };
                    traced += 1;
                    // Only Wasm-stack words matter (host roots own counts already).
                    let raw = root.raw();
                    if root.is_on_wasm_stack() && object_word(raw).is_some() && self.pending.push(raw) {
                        self.trace_pending()?;
                    }
                }
                self.trace_pending()?;
                Ok(Progress::Continue)
            }
            Phase::Sweep => {
                log::trace!("collection: sweep");
                self.skipped += self.heap.sweep()?;
                self.phase = Phase::Cycles;
                Ok(Progress::Continue)
            }
            Phase::Cycles => {
                // The sweep's releases buffer possible cycle roots: collect the garbage cycles
                // when the buffer is over its trigger (see `crate::cycle_collector`).
                if self.heap.cycle_collection_due() {
                    log::trace!("collection: cycle collection");
                    self.heap.run_cycle_collection()?;
                }
                self.phase = Phase::Coalesce;
                Ok(Progress::Continue)
            }
            Phase::Coalesce => {
                if self.heap.coalescing_worthwhile() {
                    log::trace!("collection: coalesce");
                    self.heap.coalesce()?;
                }
                self.phase = Phase::Done;
                // Zeal: verify the heap as the collection left it (nothing when not configured).
                self.heap.zeal_after_collection()?;
                Ok(Progress::Complete)
            }
            Phase::Done => Ok(Progress::Complete),
        }
    }

    /// Invalid words (Wasm-stack roots, bump-chunk entries) this collection has skipped so far
    /// (see the module docs).
    pub fn invalid_roots_skipped(&self) -> u64 {
        self.skipped
    }

    /// Runs the remaining steps.
    pub fn finish(mut self) -> Result<()> {
        while self.step()? == Progress::Continue {}
        Ok(())
    }
}
