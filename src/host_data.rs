//! Host data of externrefs: values of the embedder's type `H`, kept outside the region.
//!
//! An externref object in the region holds only a `u32` id; the value itself lives here, in a
//! slab with a free list of ids. The table is the single owner of every value: a value is
//! dropped exactly once, when [`HostDataTable::take`] hands it back as its externref dies (or
//! when the table is cleared by a heap reset). Ids read from the region are untrusted and are
//! checked: an id that is out of range or names an empty slot is [`Error::Corrupted`].
//!
//! # Invariants
//! * `live` is the number of occupied slots.
//! * The vacant slots form a singly linked list from `free_head` (id + 1, 0 = none).

use crate::error::{Error, Result};
use alloc::vec::Vec;

enum Slot<H> {
    Occupied(H),
    Vacant { next: u32 },
}

/// The slab of host data values.
pub(crate) struct HostDataTable<H> {
    slots: Vec<Slot<H>>,
    free_head: u32,
    live: usize,
}

impl<H> HostDataTable<H> {
    pub(crate) fn new() -> Self {
        HostDataTable { slots: Vec::new(), free_head: 0, live: 0 }
    }

    /// Stores `value` and returns its id.
    #[inline]
    pub(crate) fn insert(&mut self, value: H) -> u32 {
        self.live += 1;
        if self.free_head != 0 {
            let id = self.free_head - 1;
            let slot = &mut self.slots[id as usize];
            if let Slot::Vacant { next } = *slot {
                self.free_head = next;
            }
            *slot = Slot::Occupied(value);
            id
        } else {
            self.slots.push(Slot::Occupied(value));
            (self.slots.len() - 1) as u32
        }
    }

    /// Removes and returns the value with this id.
    #[inline]
    pub(crate) fn take(&mut self, id: u32) -> Result<H> {
        match self.slots.get_mut(id as usize) {
            Some(slot @ Slot::Occupied(_)) => {
                let Slot::Occupied(value) = core::mem::replace(slot, Slot::Vacant { next: self.free_head }) else {
                    unreachable!("matched as occupied")
                };
                self.free_head = id + 1;
                self.live -= 1;
                Ok(value)
            }
            _ => Err(Error::corrupted(id, "externref host-data id names no value")),
        }
    }

    /// The value with this id.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Result<&H> {
        match self.slots.get(id as usize) {
            Some(Slot::Occupied(value)) => Ok(value),
            _ => Err(Error::corrupted(id, "externref host-data id names no value")),
        }
    }

    /// The value with this id, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: u32) -> Result<&mut H> {
        match self.slots.get_mut(id as usize) {
            Some(Slot::Occupied(value)) => Ok(value),
            _ => Err(Error::corrupted(id, "externref host-data id names no value")),
        }
    }

    /// Number of stored values.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Drops every value.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free_head = 0;
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::rc::Rc;

    #[test]
    fn values_are_dropped_exactly_once_and_ids_reused() {
        let token = Rc::new(());
        let mut table = HostDataTable::new();
        let a = table.insert(token.clone());
        let b = table.insert(token.clone());
        assert_eq!(Rc::strong_count(&token), 3);
        drop(table.take(a).unwrap());
        assert_eq!(Rc::strong_count(&token), 2);
        assert!(table.take(a).unwrap_err().is_corruption(), "a second take must fail");
        assert_eq!(table.insert(token.clone()), a, "vacant ids are reused");
        assert!(table.get(99).is_err());
        assert!(table.get(b).is_ok());
        assert_eq!(table.len(), 2);
        table.clear();
        assert_eq!(Rc::strong_count(&token), 1);
    }
}
