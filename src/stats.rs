//! Statistics: what the heap holds and what it has done.
//!
//! `Counters` are kept up to date by the heap as it works (in the heap struct, outside the
//! region, so they are trusted); [`HeapStats`] is the snapshot [`crate::Heap::stats`] returns,
//! adding what is computed from the free list on demand. The work counters are independent of
//! time, so tests and benchmarks can compare them exactly.

use crate::error::Result;
use crate::heap::Heap;
use core::fmt;

/// Counters the heap maintains as it works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub live_objects: u64,
    pub live_bytes: u64,
    pub objects_allocated: u64,
    pub objects_freed: u64,
    pub collections: u64,
    pub coalesces: u64,
    pub peak_live_bytes: u64,
    pub peak_used_bytes: u64,
    pub invalid_roots_skipped: u64,
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

/// Shows the region's size and the heap's counters, never the region's contents (which a
/// sandboxed heap does not trust, and which can be megabytes) nor the host data (so `H` needs
/// no `Debug`). [`Heap::stats`] gives the full snapshot.
impl<H> fmt::Debug for Heap<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        f.debug_struct("Heap")
            .field("region_bytes", &self.region.len())
            .field("used_bytes", &self.free_list.top())
            .field("live_objects", &c.live_objects)
            .field("live_bytes", &c.live_bytes)
            .field("objects_allocated", &c.objects_allocated)
            .field("objects_freed", &c.objects_freed)
            .field("collections", &c.collections)
            .field("types", &self.types)
            .field("activations", &self.activations)
            .field("host_data_values", &self.host_data.len())
            .field("cycle_candidates", &self.cycles.candidates())
            .field("no_gc_depth", &self.no_gc_depth)
            .finish_non_exhaustive()
    }
}

impl<H> Heap<H> {
    /// A snapshot of the statistics.
    pub fn stats(&self) -> Result<HeapStats> {
        let c = &self.counters;
        let mut stats = HeapStats {
            region_bytes: self.region.len() as u64,
            live_objects: c.live_objects,
            live_bytes: c.live_bytes,
            free_bytes: self.free_list.free_bytes(&self.region),
            free_blocks: self.free_list.free_blocks(&self.region),
            largest_free_block: self.free_list.largest_free_block(&self.region)? as u64,
            used_bytes: self.free_list.top() as u64,
            peak_used_bytes: c.peak_used_bytes,
            peak_live_bytes: c.peak_live_bytes,
            objects_allocated: c.objects_allocated,
            objects_freed: c.objects_freed,
            collections: c.collections,
            coalesces: c.coalesces,
            activations_table_entries: self.activations.len() as u64,
            host_data_values: self.host_data.len() as u64,
            invalid_roots_skipped: c.invalid_roots_skipped,
            ..HeapStats::default()
        };
        self.cycles.fill_stats(&mut stats);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use crate::region::test_region;
    use crate::Heap;
    use alloc::format;

    #[test]
    fn heap_debug_shows_counters_and_sizes_not_the_region_or_host_data() {
        struct Opaque; // no `Debug`: the heap's `Debug` must not need it
        let mut heap: Heap<Opaque> = Heap::new(test_region(64 * 1024)).unwrap();
        let externref = heap.alloc_externref(Opaque).map_err(|(error, _)| error).unwrap();
        let shown = format!("{heap:?}");
        for field in ["region_bytes: 65536", "live_objects: 1", "objects_allocated: 1", "host_data_values: 1"] {
            assert!(shown.contains(field), "{field} missing from {shown}");
        }
        // Sizes and counters only: a dump of the region would be hundreds of kilobytes.
        assert!(shown.len() < 1024, "{} bytes: {shown}", shown.len());
        heap.drop_ref(externref).unwrap();
        assert!(format!("{heap:?}").contains("live_objects: 0"));
    }
}
