//! Table and memory instructions: element and byte access with bounds checks, growth, bulk
//! operations and segment initialization and dropping.
//!
//! Tables of heap references own a count per element: a write takes the new word's count first
//! and releases the old word's after; a read takes a new count that goes to the activations table
//! before the word is pushed.

use super::exec::bad_code;
use super::{Store, MAX_PAGES, PAGE};
use crate::error::{Error, Trap};
use crate::instr::{Load, Store as StoreOp};
use alloc::vec::Vec;

/// The most elements a table may grow to (a host-memory bound; beyond it `table.grow` fails).
const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

fn out_of_bounds_memory() -> Error {
    Error::Trap(Trap::OutOfBoundsMemoryAccess)
}

fn out_of_bounds_table() -> Error {
    Error::Trap(Trap::OutOfBoundsTableAccess)
}

/// `start..start + len` if it lies within `0..limit`.
pub(super) fn range(start: u64, len: u64, limit: usize) -> Option<core::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= limit as u64).then_some(start as usize..end as usize)
}

impl<H: 'static> Store<H> {
    /// The words of element segment `segment` of `instance` (empty once dropped).
    pub(super) fn element_words(&self, instance: u32, segment: u32) -> Result<&[u32], Error> {
        self.instances
            .get(instance as usize)
            .and_then(|i| i.elements.get(segment as usize))
            .map(|s| s.words.as_slice())
            .ok_or_else(bad_code)
    }

    fn pop_u32(&mut self) -> u32 {
        self.stack.pop().unwrap_or(0) as u32
    }

    pub(super) fn table_address(&self, instance: u32, table: u32) -> Result<u32, Error> {
        self.instances.get(instance as usize).and_then(|i| i.tables.get(table as usize)).copied().ok_or_else(bad_code)
    }

    fn memory_address(&self, instance: u32, memory: u32) -> Result<usize, Error> {
        self.instances
            .get(instance as usize)
            .and_then(|i| i.memories.get(memory as usize))
            .map(|&m| m as usize)
            .ok_or_else(bad_code)
    }

    /// Writes `word` at `index` of table `table` (a store address), moving counts.
    pub(super) fn table_write(&mut self, table: u32, index: usize, word: u32) -> Result<(), Error> {
        let gc = self.tables.get(table as usize).ok_or_else(bad_code)?.gc;
        let word = if gc { self.retain_word(word)? } else { word };
        let slot = self.tables.get_mut(table as usize).and_then(|t| t.elements.get_mut(index));
        let Some(slot) = slot else {
            if gc {
                self.release_word(word)?;
            }
            return Err(out_of_bounds_table());
        };
        let old = core::mem::replace(slot, word);
        if gc {
            self.release_word(old)?;
        }
        Ok(())
    }

    pub(super) fn table_get(&mut self, instance: u32, table: u32) -> Result<(), Error> {
        let index = self.pop_u32();
        let table = self.tables.get(self.table_address(instance, table)? as usize).ok_or_else(bad_code)?;
        let word = *table.elements.get(index as usize).ok_or_else(out_of_bounds_table)?;
        if table.gc {
            if let Some(r) = self.heap.retain_raw(word)? {
                self.heap.expose_gc_ref_to_wasm(r)?;
            }
        }
        self.stack.push(word as u64);
        Ok(())
    }

    pub(super) fn table_set(&mut self, instance: u32, table: u32) -> Result<(), Error> {
        let word = self.pop_u32();
        let index = self.pop_u32();
        let table = self.table_address(instance, table)?;
        self.table_write(table, index as usize, word)
    }

    pub(super) fn table_size(&mut self, instance: u32, table: u32) -> Result<(), Error> {
        let table = self.tables.get(self.table_address(instance, table)? as usize).ok_or_else(bad_code)?;
        let len = table.elements.len() as u64;
        self.stack.push(len);
        Ok(())
    }

    pub(super) fn table_grow(&mut self, instance: u32, table: u32) -> Result<(), Error> {
        let delta = self.pop_u32();
        let word = self.pop_u32();
        let address = self.table_address(instance, table)?;
        let grown = self.grow_table(address, delta, word)?;
        self.stack.push(grown.map_or(u32::MAX, |old| old) as u64);
        Ok(())
    }

    /// Grows table `address` by `delta` elements set to `word`; the old size, or `None` when
    /// the table may not grow that much.
    pub(super) fn grow_table(&mut self, address: u32, delta: u32, word: u32) -> Result<Option<u32>, Error> {
        let table = self.tables.get_mut(address as usize).ok_or_else(bad_code)?;
        let old = table.elements.len() as u64;
        let new = old + delta as u64;
        let max = table.ty.max.unwrap_or(u32::MAX as u64).min(MAX_TABLE_ELEMENTS);
        if new > max || table.elements.try_reserve(delta as usize).is_err() {
            return Ok(None);
        }
        table.elements.resize(new as usize, 0);
        for index in old..new {
            self.table_write(address, index as usize, word)?;
        }
        Ok(Some(old as u32))
    }

    pub(super) fn table_fill(&mut self, instance: u32, table: u32) -> Result<(), Error> {
        let count = self.pop_u32();
        let word = self.pop_u32();
        let start = self.pop_u32();
        let address = self.table_address(instance, table)?;
        let len = self.tables.get(address as usize).ok_or_else(bad_code)?.elements.len();
        let range = range(start as u64, count as u64, len).ok_or_else(out_of_bounds_table)?;
        for index in range {
            self.table_write(address, index, word)?;
        }
        Ok(())
    }

    pub(super) fn table_copy(&mut self, instance: u32, destination: u32, source: u32) -> Result<(), Error> {
        let count = self.pop_u32() as u64;
        let from = self.pop_u32() as u64;
        let to = self.pop_u32() as u64;
        let destination = self.table_address(instance, destination)?;
        let source = self.table_address(instance, source)?;
        let source_table = self.tables.get(source as usize).ok_or_else(bad_code)?;
        let destination_len = self.tables.get(destination as usize).ok_or_else(bad_code)?.elements.len();
        let from = range(from, count, source_table.elements.len()).ok_or_else(out_of_bounds_table)?;
        let to = range(to, count, destination_len).ok_or_else(out_of_bounds_table)?;
        let words: Vec<u32> = source_table.elements[from].to_vec();
        for (index, word) in to.zip(words) {
            self.table_write(destination, index, word)?;
        }
        Ok(())
    }

    pub(super) fn table_init(&mut self, instance: u32, segment: u32, table: u32) -> Result<(), Error> {
        let count = self.pop_u32() as u64;
        let from = self.pop_u32() as u64;
        let to = self.pop_u32() as u64;
        self.init_table(instance, segment, table, to, from, count)
    }

    /// `table.init`: copies `count` words of element segment `segment` from `from` into table
    /// `table` at `to`.
    pub(super) fn init_table(
        &mut self,
        instance: u32,
        segment: u32,
        table: u32,
        to: u64,
        from: u64,
        count: u64,
    ) -> Result<(), Error> {
        let address = self.table_address(instance, table)?;
        let len = self.tables.get(address as usize).ok_or_else(bad_code)?.elements.len();
        let words = self.element_words(instance, segment)?;
        let from = range(from, count, words.len()).ok_or_else(out_of_bounds_table)?;
        let to = range(to, count, len).ok_or_else(out_of_bounds_table)?;
        let words: Vec<u32> = words[from].to_vec();
        for (index, word) in to.zip(words) {
            self.table_write(address, index, word)?;
        }
        Ok(())
    }

    pub(super) fn elem_drop(&mut self, instance: u32, segment: u32) -> Result<(), Error> {
        let segment = self
            .instances
            .get_mut(instance as usize)
            .and_then(|i| i.elements.get_mut(segment as usize))
            .ok_or_else(bad_code)?;
        let gc = segment.gc;
        let words = core::mem::take(&mut segment.words);
        if gc {
            for word in words {
                self.release_word(word)?;
            }
        }
        Ok(())
    }

    pub(super) fn load(&mut self, instance: u32, op: Load, memory: u32, offset: u32) -> Result<(), Error> {
        let address = self.pop_u32() as u64 + offset as u64;
        let memory = self.memories.get(self.memory_address(instance, memory)?).ok_or_else(bad_code)?;
        let width = match op {
            Load::I32 | Load::F32 | Load::I64S32 | Load::I64U32 => 4,
            Load::I64 | Load::F64 => 8,
            Load::I32S8 | Load::I32U8 | Load::I64S8 | Load::I64U8 => 1,
            Load::I32S16 | Load::I32U16 | Load::I64S16 | Load::I64U16 => 2,
        };
        let bytes = range(address, width, memory.bytes.len())
            .and_then(|r| memory.bytes.get(r))
            .ok_or_else(out_of_bounds_memory)?;
        let mut buffer = [0u8; 8];
        buffer[..bytes.len()].copy_from_slice(bytes);
        let raw = u64::from_le_bytes(buffer);
        let value = match op {
            Load::I32 | Load::F32 | Load::I64U32 | Load::I64 | Load::F64 | Load::I32U8 | Load::I32U16 => raw,
            Load::I64U8 | Load::I64U16 => raw,
            Load::I32S8 => raw as u8 as i8 as i32 as u32 as u64,
            Load::I32S16 => raw as u16 as i16 as i32 as u32 as u64,
            Load::I64S8 => raw as u8 as i8 as i64 as u64,
            Load::I64S16 => raw as u16 as i16 as i64 as u64,
            Load::I64S32 => raw as u32 as i32 as i64 as u64,
        };
        self.stack.push(value);
        Ok(())
    }

    pub(super) fn store(&mut self, instance: u32, op: StoreOp, memory: u32, offset: u32) -> Result<(), Error> {
        let value = self.stack.pop().unwrap_or(0);
        let address = self.pop_u32() as u64 + offset as u64;
        let memory_address = self.memory_address(instance, memory)?;
        let memory = self.memories.get_mut(memory_address).ok_or_else(bad_code)?;
        let width = match op {
            StoreOp::I32 | StoreOp::F32 | StoreOp::I64As32 => 4,
            StoreOp::I64 | StoreOp::F64 => 8,
            StoreOp::I32As8 | StoreOp::I64As8 => 1,
            StoreOp::I32As16 | StoreOp::I64As16 => 2,
        };
        let len = memory.bytes.len();
        let bytes =
            range(address, width, len).and_then(|r| memory.bytes.get_mut(r)).ok_or_else(out_of_bounds_memory)?;
        bytes.copy_from_slice(&value.to_le_bytes()[..width as usize]);
        Ok(())
    }

    pub(super) fn memory_size(&mut self, instance: u32, memory: u32) -> Result<(), Error> {
        let memory = self.memories.get(self.memory_address(instance, memory)?).ok_or_else(bad_code)?;
        let pages = memory.bytes.len() as u64 / PAGE;
        self.stack.push(pages);
        Ok(())
    }

    pub(super) fn memory_grow(&mut self, instance: u32, memory: u32) -> Result<(), Error> {
        let delta = self.pop_u32() as u64;
        let address = self.memory_address(instance, memory)?;
        let limit = MAX_PAGES.min(self.config.max_memory_pages as u64);
        let memory = self.memories.get_mut(address).ok_or_else(bad_code)?;
        let old = memory.bytes.len() as u64 / PAGE;
        let new = old + delta;
        let result = if new > memory.max_pages.min(limit) || memory.bytes.try_reserve((delta * PAGE) as usize).is_err()
        {
            u32::MAX as u64
        } else {
            memory.bytes.resize((new * PAGE) as usize, 0);
            old
        };
        self.stack.push(result);
        Ok(())
    }

    pub(super) fn memory_fill(&mut self, instance: u32, memory: u32) -> Result<(), Error> {
        let count = self.pop_u32() as u64;
        let value = self.pop_u32() as u8;
        let start = self.pop_u32() as u64;
        let address = self.memory_address(instance, memory)?;
        let memory = self.memories.get_mut(address).ok_or_else(bad_code)?;
        let range = range(start, count, memory.bytes.len()).ok_or_else(out_of_bounds_memory)?;
        memory.bytes[range].fill(value);
        Ok(())
    }

    pub(super) fn memory_copy(&mut self, instance: u32, destination: u32, source: u32) -> Result<(), Error> {
        let count = self.pop_u32() as u64;
        let from = self.pop_u32() as u64;
        let to = self.pop_u32() as u64;
        let destination = self.memory_address(instance, destination)?;
        let source = self.memory_address(instance, source)?;
        let source_len = self.memories.get(source).ok_or_else(bad_code)?.bytes.len();
        let destination_len = self.memories.get(destination).ok_or_else(bad_code)?.bytes.len();
        let from = range(from, count, source_len).ok_or_else(out_of_bounds_memory)?;
        let to = range(to, count, destination_len).ok_or_else(out_of_bounds_memory)?;
        if source == destination {
            self.memories[source].bytes.copy_within(from, to.start);
        } else {
            let bytes: Vec<u8> = self.memories[source].bytes[from].to_vec();
            self.memories[destination].bytes[to].copy_from_slice(&bytes);
        }
        Ok(())
    }

    pub(super) fn memory_init(&mut self, instance: u32, segment: u32, memory: u32) -> Result<(), Error> {
        let count = self.pop_u32() as u64;
        let from = self.pop_u32() as u64;
        let to = self.pop_u32() as u64;
        self.init_memory(instance, segment, memory, to, from, count)
    }

    /// `memory.init`: copies `count` bytes of data segment `segment` from `from` into memory
    /// `memory` at `to`.
    pub(super) fn init_memory(
        &mut self,
        instance: u32,
        segment: u32,
        memory: u32,
        to: u64,
        from: u64,
        count: u64,
    ) -> Result<(), Error> {
        let address = self.memory_address(instance, memory)?;
        let data =
            self.instances.get(instance as usize).and_then(|i| i.data.get(segment as usize)).ok_or_else(bad_code)?;
        let from = range(from, count, data.len()).ok_or_else(out_of_bounds_memory)?;
        let memory = self.memories.get_mut(address).ok_or_else(bad_code)?;
        let to = range(to, count, memory.bytes.len()).ok_or_else(out_of_bounds_memory)?;
        memory.bytes[to].copy_from_slice(&data[from]);
        Ok(())
    }

    pub(super) fn data_drop(&mut self, instance: u32, segment: u32) -> Result<(), Error> {
        let data = self
            .instances
            .get_mut(instance as usize)
            .and_then(|i| i.data.get_mut(segment as usize))
            .ok_or_else(bad_code)?;
        *data = alloc::boxed::Box::new([]);
        Ok(())
    }
}
