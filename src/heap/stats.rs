//! The heap's statistics and its `Debug` output: the `impl Heap` part of [`crate::stats`].
//!
//! [`Heap::stats`](crate::Heap::stats) assembles a [`HeapStats`] from the heap's counters
//! ([`crate::stats::Counters`]), the cycle collector's, and what the free list computes on
//! demand; `Debug` shows sizes and counters only, never the region's contents (which a
//! sandboxed heap does not trust, and which can be megabytes) nor the host data (so `H` needs
//! no `Debug`).

use super::HeapIn;
use crate::error::Result;
use crate::stats::HeapStats;
use core::fmt;

/// Shows the region's size and the heap's counters, never the region's contents nor the host
/// data. [`Heap::stats`](crate::Heap::stats) gives the full snapshot.
impl<H> fmt::Debug for HeapIn<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters.snapshot();
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

impl<'a, H> HeapIn<'a, H> {
    /// A snapshot of the statistics.
    pub fn stats(&self) -> Result<HeapStats> {
        let mut stats = HeapStats {
            region_bytes: self.region.len() as u64,
            free_bytes: self.free_list.free_bytes(&self.region),
            free_blocks: self.free_list.free_blocks(&self.region),
            largest_free_block: self.free_list.largest_free_block(&self.region)? as u64,
            used_bytes: self.free_list.top() as u64,
            peak_used_bytes: self.free_list.highest_top() as u64,
            activations_table_entries: self.activations.len() as u64,
            host_data_values: self.host_data.len() as u64,
            ..self.counters.snapshot()
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
