//! Zeal: a debugging configuration that makes heap bugs show up close to their cause.
//!
//! A reference-counting bug frees a live object or keeps a dead one, silently, and the damage
//! shows much later, somewhere else. Zeal trades speed for early detection, in three independent
//! checks that any embedder can turn on through [`crate::HeapConfig::zeal`]:
//!
//! * **Poison freed memory** ([`Zeal::poison_freed_memory`]): the body of every freed block (the
//!   bytes after its 16-byte free-block header) is filled with [`POISON`]. When a block is handed
//!   out again, its body is checked first; a byte that changed means something wrote to freed
//!   memory (a use after free), and the allocation fails with [`Error::Corrupted`]. The
//!   collection check below also checks every free block. The poison bytes are chosen so that a
//!   read of freed memory as a reference word (`0xA6A6_A6A6`) is neither null, nor an i31, nor a
//!   16-aligned object index, and as a kind byte is no kind: using it fails validation at once.
//!   Free blocks that the free list merged (coalescing) keep the 16-byte headers of the blocks
//!   they were made of inside their bodies; the check accepts those (a granule whose bytes 0..4
//!   are zero and whose size and link words are 16-aligned), so it needs no hook in the free
//!   list. Bytes the heap has never handed out (above the high-water mark) are the
//!   caller's memory, never written, and never checked: zeal does not touch pages a big mapped
//!   region has not used.
//! * **Verify after every collection** ([`Zeal::verify_after_collection`]): when a collection
//!   completes, the heap runs [`crate::Heap::verify_lower_bound`] (and the poison check of every
//!   free block when poisoning is on), and the step that completes the collection returns its
//!   error. The exact [`crate::Heap::verify`] needs the embedder's host roots, which the heap
//!   does not know; the lower-bound mode is sound without them (every check it makes holds in
//!   every correct heap) and still finds a dangling reference, a count too low (the cause of an
//!   early free), a broken free list, a lost host data value or a wrong counter. A count too high
//!   (a leak) needs the exact verify.
//! * **Force a collection every N allocations** ([`Zeal::fail_every_nth_allocation`]): the heap
//!   cannot collect by itself (only the embedder can walk its stack), so after every N
//!   allocations that succeeded, the next one fails with the retryable [`Error::OutOfMemory`].
//!   A correct embedder collects and retries, as it must do for a real out-of-memory error, and
//!   the retry succeeds: collections then happen far more often than they would, and a root the
//!   embedder forgot to report is freed early and found. No failure is forced inside a no-GC
//!   scope, where the embedder may not collect.
//!
//! * **Invalid roots are errors** ([`Zeal::invalid_roots_are_errors`]): a collection skips a
//!   Wasm-stack root or bump-chunk word that names no live object (and counts it); with this on,
//!   it fails with [`Error::InvalidReference`] instead.
//!
//! All checks are off by default. They cost: poisoning writes every freed byte and reads every
//! reused one; verification is O(objects + references + free bytes) per collection; forced
//! failures cost the collections they cause.

use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, SIZE_OFFSET, TYPE_INDEX_OFFSET};
use crate::heap::Heap;
use core::num::NonZeroU32;

/// The byte that fills freed memory when [`Zeal::poison_freed_memory`] is on.
pub const POISON: u8 = 0xA6;

/// The zeal settings. See the module documentation.
///
/// ```
/// use drc_heap::{zeal::Zeal, Heap, HeapConfig, HeapMemory};
/// let memory: &'static mut HeapMemory<65536> = Box::leak(Box::new(HeapMemory::new()));
/// let config = HeapConfig::default().with_zeal(Zeal::all_checks(64));
/// let heap: Heap<()> = Heap::with_config(memory.bytes(), config)?;
/// # drop(heap);
/// # Ok::<(), drc_heap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Zeal {
    /// Fill freed blocks with [`POISON`] and check it when they are handed out again.
    pub poison_freed_memory: bool,
    /// Run [`crate::Heap::verify_lower_bound`] (and check the poison of every free block) at
    /// the end of every collection.
    pub verify_after_collection: bool,
    /// After every N allocations that succeeded, fail the next one with
    /// [`Error::OutOfMemory`] so that the embedder collects (never inside a no-GC scope).
    pub fail_every_nth_allocation: Option<NonZeroU32>,
    /// A Wasm-stack root or bump-chunk word that names no live object fails the collection
    /// with [`Error::InvalidReference`], instead of being skipped and counted (see
    /// [`crate::collector`]): a stack map or JIT code that reports garbage is found at once.
    pub invalid_roots_are_errors: bool,
}

impl Zeal {
    /// No check (the same as `Zeal::default()`); turn them on one by one with the setters.
    pub const fn none() -> Zeal {
        Zeal {
            poison_freed_memory: false,
            verify_after_collection: false,
            fail_every_nth_allocation: None,
            invalid_roots_are_errors: false,
        }
    }

    /// Every check, with a forced collection after every `n` allocations (none if `n` is 0).
    pub const fn all_checks(n: u32) -> Zeal {
        Zeal {
            poison_freed_memory: true,
            verify_after_collection: true,
            fail_every_nth_allocation: NonZeroU32::new(n),
            invalid_roots_are_errors: true,
        }
    }

    /// These settings with poisoning on or off.
    pub const fn with_poison(mut self, on: bool) -> Zeal {
        self.poison_freed_memory = on;
        self
    }

    /// These settings with verification after each collection on or off.
    pub const fn with_verify_after_collection(mut self, on: bool) -> Zeal {
        self.verify_after_collection = on;
        self
    }

    /// These settings with invalid root words failing collections (on) or skipped (off).
    pub const fn with_invalid_roots_are_errors(mut self, on: bool) -> Zeal {
        self.invalid_roots_are_errors = on;
        self
    }

    /// These settings with a forced [`Error::OutOfMemory`] after every `n` allocations (none if
    /// `n` is 0).
    pub const fn with_fail_every_nth_allocation(mut self, n: u32) -> Zeal {
        self.fail_every_nth_allocation = NonZeroU32::new(n);
        self
    }
}

/// What zeal keeps track of in a heap (outside the region).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ZealState {
    /// Allocations that succeeded since the last forced failure.
    allocations: u32,
    /// The end of the highest block ever handed out: every byte between the wilderness and
    /// this mark is freed memory (poisoned); above it, the caller's memory was never touched.
    high_water: u32,
}

/// Whether the 16 bytes are a free-block header (see [`crate::free_list`]): kind, flags and
/// reserved bytes zero, a non-zero 16-aligned size, and 16-aligned words at offsets 4 and 12
/// (the free list's links, or zero).
fn is_free_block_header(granule: &[u8]) -> bool {
    let word = |at: u32| {
        let at = at as usize;
        u32::from_ne_bytes([granule[at], granule[at + 1], granule[at + 2], granule[at + 3]])
    };
    word(0) == 0
        && word(12) % HEADER_SIZE == 0
        && word(TYPE_INDEX_OFFSET) % HEADER_SIZE == 0
        && word(SIZE_OFFSET) != 0
        && word(SIZE_OFFSET) % HEADER_SIZE == 0
}

impl<H> Heap<H> {
    /// Called before every allocation: the forced out-of-memory failure.
    #[inline]
    pub(crate) fn zeal_before_alloc(&mut self, requested: u32) -> Result<()> {
        let Some(zeal) = self.config.zeal else { return Ok(()) };
        let Some(every) = zeal.fail_every_nth_allocation else { return Ok(()) };
        if self.in_no_gc_scope() {
            return Ok(());
        }
        if self.zeal_state.allocations >= every.get() {
            self.zeal_state.allocations = 0;
            return Err(Error::OutOfMemory { requested: requested as usize });
        }
        Ok(())
    }

    /// Called when the block `[index, index + size)` was just taken from the free list, before
    /// its header is written: counts the allocation and checks the poison of its body.
    #[inline]
    pub(crate) fn zeal_after_alloc(&mut self, index: u32, size: u32) -> Result<()> {
        let Some(zeal) = self.config.zeal else { return Ok(()) };
        self.zeal_state.allocations = self.zeal_state.allocations.saturating_add(1);
        if zeal.poison_freed_memory {
            let end = index.saturating_add(size);
            // Bytes above the old high-water mark were never handed out: not poisoned.
            self.check_poison(index + HEADER_SIZE, end.min(self.zeal_state.high_water))?;
            self.zeal_state.high_water = self.zeal_state.high_water.max(end);
        }
        Ok(())
    }

    /// Called when the object block `[index, index + size)` is freed, before it goes back to the
    /// free list. `whole_block` also poisons the header: the free list is about to forget every
    /// block (the heap became empty), so this block will not get a free-block header.
    #[inline]
    pub(crate) fn zeal_poison_freed(&mut self, index: u32, size: u32, whole_block: bool) -> Result<()> {
        match self.config.zeal {
            Some(zeal) if zeal.poison_freed_memory => {
                let skip = if whole_block { 0 } else { HEADER_SIZE };
                self.region.fill(index + skip, size.saturating_sub(skip), POISON)
            }
            _ => Ok(()),
        }
    }

    /// Called by [`Heap::reset`] before the free list forgets every block: poisons everything
    /// ever handed out, so that the reset heap starts from fully poisoned memory even if the
    /// region was corrupted (a reset is how a heap recovers from corruption).
    pub(crate) fn zeal_poison_before_reset(&mut self) {
        if let Some(zeal) = self.config.zeal {
            if zeal.poison_freed_memory {
                let end = self.zeal_state.high_water.max(self.free_list.top()).min(self.region.len());
                self.zeal_state.high_water = end;
                if end > HEADER_SIZE {
                    // In bounds: HEADER_SIZE < end <= the region's length, so this cannot fail.
                    let _ = self.region.fill(HEADER_SIZE, end - HEADER_SIZE, POISON);
                }
            }
            self.zeal_state.allocations = 0;
        }
    }

    /// Called when a collection completes: the lower-bound verification and the poison check of
    /// every free block, when configured. Any other collection (the cycle collector) may call it
    /// at its end too.
    pub(crate) fn zeal_after_collection(&mut self) -> Result<()> {
        let Some(zeal) = self.config.zeal else { return Ok(()) };
        if !zeal.verify_after_collection {
            return Ok(());
        }
        self.verify_lower_bound()?;
        if zeal.poison_freed_memory {
            self.check_all_poison()?;
        }
        Ok(())
    }

    /// Checks that every granule of `[start, end)` (16-aligned) is poison or a free-block
    /// header.
    fn check_poison(&self, start: u32, end: u32) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let bytes = self.region.slice(start, end - start, "poison check out of region bounds")?;
        for (i, granule) in bytes.chunks(HEADER_SIZE as usize).enumerate() {
            if granule.iter().all(|&b| b == POISON) {
                continue;
            }
            if granule.len() == HEADER_SIZE as usize && is_free_block_header(granule) {
                continue;
            }
            let at = start + i as u32 * HEADER_SIZE;
            return Err(Error::corrupted(at, "freed memory was written (poison overwritten): a use after free"));
        }
        Ok(())
    }

    /// Checks the poison of every free block and of the freed part of the wilderness.
    fn check_all_poison(&self) -> Result<()> {
        let mut result = Ok(());
        self.free_list.walk(&self.region, |block| {
            if block.free && result.is_ok() {
                result = self.check_poison(block.index + HEADER_SIZE, block.index + block.size);
            }
            Ok(())
        })?;
        result?;
        let top = self.free_list.top();
        self.check_poison(top, self.zeal_state.high_water.min(self.region.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ArrayType, StorageType, StructType};
    use crate::{HeapConfig, Value, ValueRef};
    use alloc::vec;

    fn heap(zeal: Zeal) -> Heap<()> {
        Heap::with_config(crate::region::test_region(4096 * 16), HeapConfig::default().with_zeal(zeal)).unwrap()
    }

    #[test]
    fn freed_bodies_are_poisoned_and_a_write_after_free_is_found_on_reuse() {
        let mut heap = heap(Zeal::none().with_poison(true));
        let ty = heap.register_struct(StructType::new(&[StorageType::I64, StorageType::I64])).unwrap();
        let keep = heap.struct_new_default(ty).unwrap();
        let dead = heap.struct_new_default(ty).unwrap();
        let index = dead.as_raw_u32();
        heap.drop_ref(dead).unwrap();
        let body = index + HEADER_SIZE;
        assert!(heap.region.slice(body, 16, "").unwrap().iter().all(|&b| b == POISON));
        // A use after free: a stale reference writes into the freed block.
        heap.region.write_u32(body + 8, 7).unwrap();
        let error = heap.struct_new_default(ty).unwrap_err();
        assert!(matches!(error, Error::Corrupted { offset, .. } if offset == body), "{error:?}");
        heap.drop_ref(keep).unwrap();
    }

    #[test]
    fn reused_blocks_pass_the_check_after_merging_and_emptying() {
        let mut heap = heap(Zeal::all_checks(0));
        let bytes = heap.register_array(ArrayType::new(StorageType::I8)).unwrap();
        let mut arrays = vec::Vec::new();
        for len in 0..40 {
            arrays.push(heap.array_new(bytes, len * 7, ValueRef::I8(1)).unwrap());
        }
        let keep = heap.array_new(bytes, 3, ValueRef::I8(2)).unwrap();
        for array in arrays.drain(..) {
            heap.drop_ref(array).unwrap();
        }
        heap.coalesce().unwrap();
        heap.collect_all([]).unwrap();
        // A merged block is reused across the headers of the blocks it was made of.
        let big = heap.array_new(bytes, 2000, ValueRef::I8(3)).unwrap();
        assert_eq!(heap.array_get(&big, 1999).unwrap(), Value::I8(3));
        heap.drop_ref(big).unwrap();
        heap.drop_ref(keep).unwrap();
        assert_eq!(heap.stats().unwrap().live_objects, 0);
        // The heap emptied: everything below the old top is wilderness, and poisoned.
        let again = heap.array_new(bytes, 5000, ValueRef::I8(4)).unwrap();
        heap.drop_ref(again).unwrap();
        heap.verify([]).unwrap();
    }

    #[test]
    fn every_nth_allocation_fails_once_and_the_retry_succeeds() {
        let mut heap = heap(Zeal::none().with_fail_every_nth_allocation(3));
        let ty = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
        let mut outcomes = vec::Vec::new();
        let mut refs = vec::Vec::new();
        for _ in 0..8 {
            match heap.struct_new_default(ty) {
                Ok(r) => {
                    outcomes.push(true);
                    refs.push(r);
                }
                Err(error) => {
                    assert!(error.is_retryable());
                    outcomes.push(false);
                }
            }
        }
        assert_eq!(outcomes, [true, true, true, false, true, true, true, false]);
        heap.enter_no_gc_scope();
        for _ in 0..5 {
            refs.push(heap.struct_new_default(ty).expect("no forced failure inside a no-GC scope"));
        }
        heap.exit_no_gc_scope().unwrap();
        for r in refs {
            heap.drop_ref(r).unwrap();
        }
    }

    #[test]
    fn verify_after_collection_reports_a_count_too_low() {
        let mut heap = heap(Zeal::none().with_verify_after_collection(true));
        let ty = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
        let r = heap.struct_new_default(ty).unwrap();
        let parent_ty = heap
            .register_struct(StructType::new(&[StorageType::Ref(crate::types::RefType::nullable(
                crate::types::HeapType::Any,
            ))]))
            .unwrap();
        let parent = heap.struct_new(parent_ty, &[ValueRef::Ref(Some(&r))]).unwrap();
        heap.collect_all([]).unwrap();
        // Simulate a missed increment: the child's count drops below its referrers.
        let index = r.as_raw_u32();
        heap.region.write_u32(index + crate::header::REF_COUNT_OFFSET, 0).unwrap();
        let error = heap.collect_all([]).unwrap_err();
        assert!(matches!(error, Error::VerifyFailed { offset, .. } if offset == index), "{error:?}");
        // The heap is corrupted now: the references are left as they are.
        let _ = (parent, r);
    }
}
