//! Zeal, the hooks: the `impl Heap` part of [`crate::zeal`].
//!
//! The heap calls these at fixed points, and each does nothing unless [`crate::HeapConfig::zeal`]
//! turns its check on: [`Heap::zeal_before_alloc`] (the forced out-of-memory failure),
//! [`Heap::zeal_after_alloc`] (count the allocation, check the reused block's poison),
//! [`Heap::zeal_poison_freed`] (poison a freed block), [`Heap::zeal_poison_before_reset`], and
//! [`Heap::zeal_after_collection`] (lower-bound verification and the poison check of every free
//! block). What each check finds and costs is in [`crate::zeal`].

use super::HeapIn;
use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::zeal::{check_poison, POISON};

impl<'a, H> HeapIn<'a, H> {
    /// Called before every allocation: the forced out-of-memory failure. Inline is only the
    /// test whether zeal is on (the allocation fast path); the hook itself is out of line.
    #[inline(always)]
    pub(crate) fn zeal_before_alloc(&mut self, requested: u32) -> Result<()> {
        match self.config.zeal {
            None => Ok(()),
            Some(_) => self.zeal_force_failure(requested),
        }
    }

    #[cold]
    #[inline(never)]
    fn zeal_force_failure(&mut self, requested: u32) -> Result<()> {
        let Some(zeal) = self.config.zeal else { return Ok(()) };
        let Some(every) = zeal.fail_every_nth_allocation else { return Ok(()) };
        if self.in_no_gc_scope() {
            return Ok(());
        }
        if self.zeal_state.take_forced_failure(every) {
            return Err(Error::OutOfMemory { requested: requested as usize });
        }
        Ok(())
    }

    /// Called when the block `[index, index + size)` was just taken from the free list, before
    /// its header is written: counts the allocation and checks the poison of its body. Inline
    /// is only the test whether zeal is on.
    #[inline(always)]
    pub(crate) fn zeal_after_alloc(&mut self, index: u32, size: u32) -> Result<()> {
        match self.config.zeal {
            None => Ok(()),
            Some(_) => self.zeal_check_allocated(index, size),
        }
    }

    #[cold]
    #[inline(never)]
    fn zeal_check_allocated(&mut self, index: u32, size: u32) -> Result<()> {
        let Some(zeal) = self.config.zeal else { return Ok(()) };
        self.zeal_state.count_allocation();
        if zeal.poison_freed_memory {
            let end = index.saturating_add(size);
            // Bytes above the old high-water mark were never handed out: not poisoned.
            self.check_poison(index + HEADER_SIZE, end.min(self.zeal_state.high_water()))?;
            self.zeal_state.set_high_water(self.zeal_state.high_water().max(end));
        }
        Ok(())
    }

    /// Called when the object block `[index, index + size)` is freed, before it goes back to the
    /// free list. `whole_block` also poisons the header: the free list is about to forget every
    /// block (the heap became empty), so this block will not get a free-block header. Inline is
    /// only the test whether zeal is on.
    #[inline(always)]
    pub(crate) fn zeal_poison_freed(&mut self, index: u32, size: u32, whole_block: bool) -> Result<()> {
        match self.config.zeal {
            None => Ok(()),
            Some(_) => self.zeal_poison_block(index, size, whole_block),
        }
    }

    #[cold]
    #[inline(never)]
    fn zeal_poison_block(&mut self, index: u32, size: u32, whole_block: bool) -> Result<()> {
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
                let end = self.zeal_state.high_water().max(self.free_list.top()).min(self.region.len());
                self.zeal_state.set_high_water(end);
                if end > HEADER_SIZE {
                    // In bounds: HEADER_SIZE < end <= the region's length, so this cannot fail.
                    let _ = self.region.fill(HEADER_SIZE, end - HEADER_SIZE, POISON);
                }
            }
            self.zeal_state.restart_allocations();
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
        check_poison(self.region.slice(start, end - start, "poison check out of region bounds")?, start)
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
        self.check_poison(top, self.zeal_state.high_water().min(self.region.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ArrayType, StorageType, StructType};
    use crate::zeal::Zeal;
    use crate::{Heap, HeapConfig, Value, ValueRef};
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
