//! The host-handle table: the counted heap references the host holds, by [`HostHandle`].
//!
//! Each occupied slot owns one count. Released slots are reused; a slot's generation changes
//! on every release, so a handle used after its release is an error naming the misuse, never
//! another reference.

use crate::error::Error;
use crate::values::HostHandle;
use alloc::format;
use alloc::vec::Vec;
use drc_heap::GcRef;

struct Slot {
    reference: Option<GcRef>,
    generation: u32,
}

/// The store's table of host-held references.
#[derive(Default)]
pub(super) struct Handles {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

fn stale(handle: HostHandle) -> Error {
    Error::ArgumentMismatch(format!("host handle {} was released or never existed", handle.index))
}

impl Handles {
    /// Stores a counted reference; the table owns its count from now on.
    pub(super) fn insert(&mut self, reference: GcRef) -> HostHandle {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.reference = Some(reference);
                HostHandle { index, generation: slot.generation }
            }
            None => {
                self.slots.push(Slot { reference: Some(reference), generation: 0 });
                HostHandle { index: self.slots.len() as u32 - 1, generation: 0 }
            }
        }
    }

    /// The reference `handle` holds.
    pub(super) fn get(&self, handle: HostHandle) -> Result<&GcRef, Error> {
        match self.slots.get(handle.index as usize) {
            Some(Slot { reference: Some(reference), generation }) if *generation == handle.generation => Ok(reference),
            _ => Err(stale(handle)),
        }
    }

    /// Takes the reference (and its count) out of the table.
    pub(super) fn take(&mut self, handle: HostHandle) -> Result<GcRef, Error> {
        let slot = self.slots.get_mut(handle.index as usize).ok_or_else(|| stale(handle))?;
        if slot.generation != handle.generation {
            return Err(stale(handle));
        }
        let reference = slot.reference.take().ok_or_else(|| stale(handle))?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(handle.index);
        Ok(reference)
    }

    /// Takes every reference out (the store is being dropped).
    pub(super) fn drain(&mut self) -> Vec<GcRef> {
        self.free.clear();
        self.slots.drain(..).filter_map(|slot| slot.reference).collect()
    }
}
