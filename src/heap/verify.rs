//! Verification, the walk: the `impl Heap` part of [`crate::verify`].
//!
//! [`Heap::verify`](crate::Heap::verify) and [`Heap::verify_lower_bound`](crate::Heap::verify_lower_bound) walk every block in address order and
//! recompute every count, host data id and counter from the region's contents; see
//! [`crate::verify`] for what they check and what they cost. Read-only: nothing here changes the
//! heap.

use super::object::object_word;
use super::HeapIn;
use crate::error::{Error, Result};
use crate::free_list::GRANULE;
use crate::header::{Kind, EXTERNREF_HOST_DATA_OFFSET};
use crate::verify::{count_reference, find_object, mismatch, Counts, SeenObject, VerifyReport};

impl<'a, H> HeapIn<'a, H> {
    /// Checks the whole heap; `host_roots` are the words of every owned `GcRef` the caller holds
    /// (globals, tables, host locals). See the module documentation.
    pub fn verify<I: IntoIterator<Item = u32>>(&self, host_roots: I) -> Result<VerifyReport> {
        self.verify_counts(host_roots, true)
    }

    /// Checks the whole heap without knowing the host roots: every check of [`Heap::verify`](crate::Heap::verify),
    /// except that each object's count need only be *at least* the references the heap can see
    /// (fields, elements, activations table entries), and at least one. Unknown host roots can
    /// only add to a count, so this never fails on a correct heap; it finds counts that are too
    /// low (which free objects early), not leaks. The zeal configuration runs it after every
    /// collection ([`crate::zeal`]).
    pub fn verify_lower_bound(&self) -> Result<VerifyReport> {
        self.verify_counts(core::iter::empty(), false)
    }

    fn verify_counts<I: IntoIterator<Item = u32>>(&self, host_roots: I, exact: bool) -> Result<VerifyReport> {
        // The counter is host-side; bounding it by the region's granules keeps a wrong value
        // from asking for more than the region could hold.
        let expected_objects = self.counters.live_objects().min((self.region.len() / GRANULE) as u64) as usize;
        let mut objects = Counts::with_capacity(expected_objects);
        let mut free_blocks = 0u64;
        let mut live_bytes = 0u64;
        self.free_list.walk(&self.region, |block| {
            self.free_list.check_start_bit(block)?;
            if block.free {
                free_blocks += 1;
                return Ok(());
            }
            let header = self.object(block.index)?;
            objects.push(SeenObject::new(block.index));
            live_bytes += header.size as u64;
            Ok(())
        })?;

        let mut host_ids = crate::activations_table::RefSet::default();
        let mut heap_references = 0u64;
        for position in 0..objects.len() {
            let index = objects[position].index;
            let header = self.object(index)?;
            // Every size is checked against the kind and type on the way (`ref_slots`).
            let (slots, _) = self.ref_slots(index, &header, 0, u32::MAX)?;
            for offset in slots {
                count_reference(&mut objects, self.region.read_u32(offset)?, index)?;
                heap_references += 1;
            }
            if header.kind == Kind::EXTERN {
                let id = self.region.read_u32(index + EXTERNREF_HOST_DATA_OFFSET)?;
                self.host_data.get(id)?;
                if !host_ids.insert(id) {
                    return Err(mismatch(index, "host data id shared by two externrefs", id as u64, 0));
                }
            }
        }
        if host_ids.len() != self.host_data.len() {
            return Err(mismatch(
                0,
                "host data values without an externref",
                self.host_data.len() as u64,
                host_ids.len() as u64,
            ));
        }

        // Every entry of the table owns a count, the precise set's too: it is non-empty outside
        // a collection when one was dropped after tracing, and the next one folds it back.
        let table = &self.activations;
        let entries = table.filled_chunk().iter().chain(table.over_approximated.iter()).chain(table.precise.iter());
        for &raw in entries {
            count_reference(&mut objects, raw, 0)?;
        }
        for raw in host_roots {
            if object_word(raw).is_some_and(|index| find_object(&objects, index).is_none()) {
                return Err(Error::InvalidReference(raw));
            }
            count_reference(&mut objects, raw, 0)?;
        }
        for object in &objects {
            let (index, expected) = (object.index, object.references());
            let header = self.object(index)?;
            let wrong = if exact { header.ref_count != expected } else { header.ref_count < expected.max(1) };
            if wrong {
                return Err(mismatch(index, "reference count", header.ref_count as u64, expected as u64));
            }
        }

        self.free_list.check_lists(&self.region, free_blocks, objects.len() as u64)?;
        self.verify_cycle_state(&objects)?;
        let c = &self.counters;
        if c.live_objects() != objects.len() as u64 {
            return Err(mismatch(0, "live object counter", c.live_objects(), objects.len() as u64));
        }
        if c.live_bytes() != live_bytes {
            return Err(mismatch(0, "live byte counter", c.live_bytes(), live_bytes));
        }
        Ok(VerifyReport { objects: objects.len() as u64, free_blocks, heap_references })
    }
}
