//! Statistics: what the heap holds and what it has done.
//!
//! `Counters` are kept up to date by the heap as it works (in the heap struct, outside the
//! region, so they are trusted), through one method per event (an allocation, a free, a
//! collection...); [`HeapStats`] is the snapshot [`crate::Heap::stats`] returns (assembled in
//! `src/heap/stats.rs`), adding what is computed from the free list on demand. The work
//! counters are independent of time, so tests and benchmarks can compare them exactly. This
//! module imports nothing of the heap.

/// Counters the heap maintains as it works. Invariant: `live_objects` and `live_bytes` are the
/// objects and block bytes allocated and not freed since the heap was last empty (reset).
///
/// Two of the counters a snapshot shows are kept as differences, so that an allocation and a
/// free each update one counter fewer (they are most of what counting costs): the live bytes as
/// `headroom`, how far they are below their peak (an allocation that fits in it updates only
/// the headroom, not the live bytes and then the peak), and the objects freed as `unfreed`, what the allocated objects
/// count beyond the live and the freed ones. Each read computes the exact value from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    live_objects: u64,
    /// `peak_live_bytes - live_bytes`.
    headroom: u64,
    objects_allocated: u64,
    /// `objects_allocated - live_objects - objects_freed` (wrapping): the objects live when the
    /// heap was emptied, less the frees that found no live object.
    unfreed: u64,
    collections: u64,
    coalesces: u64,
    peak_live_bytes: u64,
    invalid_roots_skipped: u64,
}

impl Counters {
    /// An object of `block` bytes was allocated. (The peak of the used bytes is the free
    /// list's highest `top`, which it keeps anyway: no count here.)
    #[inline]
    pub(crate) fn allocated(&mut self, block: u32) {
        self.objects_allocated += 1;
        self.live_objects += 1;
        // Past the peak (rare after a workload's start), the peak moves to the live bytes. No
        // call: one out of line, inlined into the constructors' loops, cost spills there.
        let block = block as u64;
        if block <= self.headroom {
            self.headroom -= block;
        } else {
            self.peak_live_bytes += block - self.headroom;
            self.headroom = 0;
        }
    }

    /// An object of `block` bytes was freed: the objects still live, or `None` when none was
    /// (the caller reports the corruption; the free is counted, the live bytes stay).
    #[inline]
    pub(crate) fn freed(&mut self, block: u32) -> Option<u64> {
        let Some(live) = self.live_objects.checked_sub(1) else {
            // One more object freed, as many live.
            self.unfreed = self.unfreed.wrapping_sub(1);
            return None;
        };
        self.live_objects = live;
        // The live bytes less `block`, down to zero at most.
        self.headroom = (self.headroom + block as u64).min(self.peak_live_bytes);
        Some(live)
    }

    /// The heap was reset: nothing is live.
    pub(crate) fn emptied(&mut self) {
        self.unfreed = self.unfreed.wrapping_add(self.live_objects);
        self.live_objects = 0;
        self.headroom = self.peak_live_bytes;
    }

    /// A coalescing pass ran.
    #[inline]
    pub(crate) fn coalesced(&mut self) {
        self.coalesces += 1;
    }

    /// A collection swept the activations table.
    pub(crate) fn collected(&mut self) {
        self.collections += 1;
    }

    /// A collection skipped `n` invalid root words.
    pub(crate) fn skipped_invalid_roots(&mut self, n: u64) {
        self.invalid_roots_skipped += n;
    }

    /// Objects allocated and not freed.
    #[inline]
    pub(crate) fn live_objects(&self) -> u64 {
        self.live_objects
    }

    /// Block bytes of the live objects.
    #[inline]
    pub(crate) fn live_bytes(&self) -> u64 {
        self.peak_live_bytes - self.headroom
    }

    /// Objects freed since the heap was created.
    #[inline]
    pub(crate) fn objects_freed(&self) -> u64 {
        self.objects_allocated.wrapping_sub(self.live_objects).wrapping_sub(self.unfreed)
    }

    /// The counter fields of a statistics snapshot (the others default; the caller adds
    /// `peak_used_bytes`, the free list's highest `top`).
    pub(crate) fn snapshot(&self) -> HeapStats {
        HeapStats {
            live_objects: self.live_objects,
            live_bytes: self.live_bytes(),
            peak_live_bytes: self.peak_live_bytes,
            objects_allocated: self.objects_allocated,
            objects_freed: self.objects_freed(),
            collections: self.collections,
            coalesces: self.coalesces,
            invalid_roots_skipped: self.invalid_roots_skipped,
            ..HeapStats::default()
        }
    }
}

/// A snapshot of the heap's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeapStats {
    /// Size of the region in bytes.
    pub region_bytes: u64,
    /// Objects currently allocated.
    pub live_objects: u64,
    /// Bytes of the blocks of live objects (headers and rounding included).
    pub live_bytes: u64,
    /// Bytes that can still be allocated (free blocks and the never-used tail).
    pub free_bytes: u64,
    /// Number of free blocks (the never-used tail counts as one).
    pub free_blocks: u64,
    /// The largest block that can be allocated without coalescing.
    pub largest_free_block: u64,
    /// The end of the highest block handed out since the heap was last empty or coalesced its
    /// tail: the part of the region in use now.
    pub used_bytes: u64,
    /// The largest `used_bytes` ever reached: the region the workload actually needed.
    pub peak_used_bytes: u64,
    /// The largest `live_bytes` ever reached.
    pub peak_live_bytes: u64,
    /// Objects allocated since the heap was created.
    pub objects_allocated: u64,
    /// Objects freed since the heap was created.
    pub objects_freed: u64,
    /// Completed collections.
    pub collections: u64,
    /// Coalescing passes over the free blocks.
    pub coalesces: u64,
    /// Entries in the activations table (each owning a count).
    pub activations_table_entries: u64,
    /// Live host data values (one per live externref).
    pub host_data_values: u64,
    /// Objects in the cycle collector's candidate buffer now (possible cycle roots).
    pub cycle_candidates: u64,
    /// Objects ever put in the candidate buffer.
    pub cycle_candidates_buffered: u64,
    /// Completed cycle collections (every trigger: threshold, allocation failure, collection
    /// phase, explicit).
    pub cycle_collections: u64,
    /// Objects freed by cycle collections: the garbage cycles and what only they held (also
    /// counted in `objects_freed`).
    pub cycle_objects_freed: u64,
    /// Object visits by cycle collections, over all their phases (work, independent of time).
    pub cycle_objects_scanned: u64,
    /// References read by cycle collections (work, independent of time).
    pub cycle_references_traced: u64,
    /// Words that collections skipped because they named no live object: Wasm-stack roots and
    /// bump-chunk entries (see [`crate::collector`]).
    pub invalid_roots_skipped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counters as they were kept before the differences: each field counted directly.
    #[derive(Default)]
    struct Direct {
        live_objects: u64,
        live_bytes: u64,
        objects_allocated: u64,
        objects_freed: u64,
        peak_live_bytes: u64,
    }

    impl Direct {
        fn allocated(&mut self, block: u32) {
            self.objects_allocated += 1;
            self.live_objects += 1;
            self.live_bytes += block as u64;
            self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        }

        fn freed(&mut self, block: u32) -> Option<u64> {
            self.objects_freed += 1;
            self.live_objects = self.live_objects.checked_sub(1)?;
            self.live_bytes = self.live_bytes.saturating_sub(block as u64);
            Some(self.live_objects)
        }

        fn emptied(&mut self) {
            self.live_objects = 0;
            self.live_bytes = 0;
        }
    }

    /// The counters kept as differences read exactly as counted directly, after every event of
    /// a long pseudo-random sequence of allocations and frees of assorted sizes (frees of more
    /// bytes than are live, and frees with no live object, included) and resets.
    #[test]
    fn counters_kept_as_differences_read_exactly_as_counted_directly() {
        let (mut counters, mut direct) = (Counters::default(), Direct::default());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        // Under Miri, which runs this thousands of times slower, a shorter sequence.
        for step in 0..if cfg!(miri) { 5_000 } else { 100_000 } {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let block = [16, 32, 48, 4096, 0][(state >> 8) as usize % 5];
            match state % 16 {
                0..=6 => {
                    counters.allocated(block);
                    direct.allocated(block);
                }
                7..=14 => assert_eq!(counters.freed(block), direct.freed(block), "step {step}"),
                _ if state >> 40 & 7 == 0 => {
                    counters.emptied();
                    direct.emptied();
                }
                _ => {}
            }
            let snapshot = counters.snapshot();
            assert_eq!(
                (snapshot.live_objects, snapshot.live_bytes, snapshot.peak_live_bytes),
                (direct.live_objects, direct.live_bytes, direct.peak_live_bytes),
                "step {step}"
            );
            assert_eq!(
                (snapshot.objects_allocated, snapshot.objects_freed),
                (direct.objects_allocated, direct.objects_freed)
            );
            assert_eq!((counters.live_objects(), counters.live_bytes()), (direct.live_objects, direct.live_bytes));
            assert_eq!(counters.objects_freed(), direct.objects_freed);
        }
        assert!(direct.objects_freed > direct.objects_allocated / 2 && direct.peak_live_bytes > 4096);
    }
}
