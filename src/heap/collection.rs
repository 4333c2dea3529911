//! Collection, the heap's side: the `impl Heap` part of [`crate::collector`].
//!
//! A [`crate::Collection`] drives the steps; what each step does to the heap is here: tracing a
//! Wasm-stack word into the activations table's precise set ([`Heap::trace_root`], which skips
//! and counts a word that names no live object), the sweep of the bump chunk and the old
//! over-approximated set ([`Heap::sweep`]), folding back the precise set of a collection that
//! was dropped half-way, and the coalescing test. Releases go in batches ([`Batch`]) whose
//! headers are loaded first ([`Heap::touch_headers`]), so that a sweep over a big table in hash
//! order overlaps its cache misses.

use super::object::object_word;
use super::HeapIn;
use crate::error::Result;

/// Words released or traced together: their headers are loaded in one pass first (see
/// [`Heap::release_batch`]).
pub(crate) const BATCH: usize = 256;

/// Up to [`BATCH`] reference words.
#[derive(Debug)]
pub(crate) struct Batch {
    words: [u32; BATCH],
    len: usize,
}

impl Batch {
    /// An empty batch.
    pub(crate) fn new() -> Batch {
        Batch { words: [0; BATCH], len: 0 }
    }

    /// Adds a word; returns whether the batch is now full.
    #[inline]
    pub(crate) fn push(&mut self, raw: u32) -> bool {
        self.words[self.len] = raw;
        self.len += 1;
        self.len == BATCH
    }

    /// The words added since the batch was last emptied.
    pub(crate) fn words(&self) -> &[u32] {
        &self.words[..self.len]
    }

    /// Empties the batch.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

impl<'a, H> HeapIn<'a, H> {
    /// Whether the embedder should collect soon: the over-approximated set has doubled since the
    /// last collection, or the bump chunk is full.
    pub fn collection_recommended(&self) -> bool {
        let table = &self.activations;
        table.bump_capacity_remaining() == 0
            || table.over_approximated.len() > 2 * self.precise_roots_at_last_collection.max(512)
    }

    /// A collection dropped between trace and sweep leaves counted entries in the precise set:
    /// move them to the over-approximation (releasing duplicates) so every count stays owned.
    pub(crate) fn fold_abandoned_precise_set(&mut self) -> Result<()> {
        if self.activations.precise.is_empty() {
            return Ok(());
        }
        let mut precise = core::mem::take(&mut self.activations.precise);
        for raw in precise.drain() {
            if !self.activations.over_approximated.insert(raw) {
                self.release(raw)?;
            }
        }
        self.activations.precise = precise;
        Ok(())
    }

    /// Whether a collection skips (and counts) an invalid word rather than failing.
    fn skips_invalid_roots(&self) -> bool {
        !self.config.zeal.is_some_and(|zeal| zeal.invalid_roots_are_errors)
    }

    /// Traces the Wasm-stack word `raw` (not null, not an i31): the first time it is seen,
    /// it goes into the precise set with one count. A word that names no live object is
    /// skipped and counted (see the module docs); returns whether it was.
    pub(crate) fn trace_root(&mut self, raw: u32) -> Result<bool> {
        if !self.free_list.is_allocated(raw) && self.skips_invalid_roots() {
            self.counters.skipped_invalid_roots(1);
            return Ok(true);
        }
        self.trace_word(raw).map(|()| false)
    }

    fn trace_word(&mut self, raw: u32) -> Result<()> {
        // A word seen before was validated then; a new one is validated by the increment, and
        // taken out again if that fails, so that the set only ever holds counted objects.
        if self.activations.precise.insert(raw) {
            if let Err(error) = self.increment(raw) {
                self.activations.precise.remove(&raw);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Releases the bump chunk and the old over-approximated set; returns how many invalid
    /// bump-chunk words it skipped (JIT code writes the chunk: see the module docs).
    pub(crate) fn sweep(&mut self) -> Result<u64> {
        let filled = self.activations.filled_chunk().len();
        let skip_invalid = self.skips_invalid_roots();
        let mut skipped = 0;
        let mut batch = Batch::new();
        for slot in 0..filled {
            let raw = core::mem::take(&mut self.activations.chunk[slot]);
            if skip_invalid && object_word(raw).is_some_and(|index| !self.free_list.is_allocated(index)) {
                skipped += 1;
                continue;
            }
            if batch.push(raw) {
                self.release_batch(&mut batch)?;
            }
        }
        self.release_batch(&mut batch)?;
        self.counters.skipped_invalid_roots(skipped);
        self.activations.reset_chunk();
        let table = &mut *self.activations;
        core::mem::swap(&mut table.precise, &mut table.over_approximated);
        self.precise_roots_at_last_collection = table.over_approximated.len();
        let mut old = core::mem::take(&mut table.precise);
        for raw in old.drain() {
            if batch.push(raw) {
                self.release_batch(&mut batch)?;
            }
        }
        self.release_batch(&mut batch)?;
        self.activations.precise = old;
        self.counters.collected();
        Ok(skipped)
    }

    /// Releases the words of `batch` and empties it. The headers are loaded first, in a tight
    /// loop of independent loads whose cache misses the processor overlaps, so that the
    /// releases (long, branchy, one after the other) find them in the cache: over a big table
    /// in hash order every header is a miss, and this takes the sweep from one miss latency
    /// per entry to a fraction of one.
    fn release_batch(&mut self, batch: &mut Batch) -> Result<()> {
        self.touch_headers(batch.words());
        for &raw in batch.words() {
            self.release(raw)?;
        }
        batch.clear();
        Ok(())
    }

    /// Loads the reference-count word of each object `words` name (out-of-bounds and i31 words
    /// load nothing), for the cache's sake only.
    #[inline]
    pub(crate) fn touch_headers(&self, words: &[u32]) {
        let mut sink = 0u32;
        for &raw in words {
            sink ^= self.region.read_u32((raw & !15).wrapping_add(crate::header::REF_COUNT_OFFSET)).unwrap_or(0);
        }
        core::hint::black_box(sink);
    }

    /// Whether free blocks make up more than half of the used part of the region.
    pub(crate) fn coalescing_worthwhile(&self) -> bool {
        let unused_tail = (self.region.len() - self.free_list.top()) as u64;
        let listed = self.free_list.free_bytes(&self.region) - unused_tail;
        listed > 0 && listed * 2 > self.free_list.top() as u64
    }
}
