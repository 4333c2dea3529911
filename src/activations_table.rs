//! The activations table: the references that Wasm activations may be using.
//!
//! Deferred reference counting does not count references held in Wasm locals and operand
//! stacks. Instead, every reference handed to Wasm is *exposed*: moved, with the count it owns,
//! into this table, which therefore over-approximates what live Wasm frames use. A collection
//! learns the precise set from the embedder's stack-map walk, keeps a count for each reference
//! still on the stack, and releases everything else the table held.
//!
//! The table has three parts:
//! * the **bump chunk**: a fixed array of [`BUMP_CHUNK_CAPACITY`] raw words with `next` and `end`
//!   indices, written directly by JIT code on the fast path (duplicates allowed);
//! * the **over-approximated set**: a hash set that takes insertions when the chunk is full, and
//!   that becomes the precise set of the last collection when a collection ends;
//! * the **precise set**: filled while a collection traces the Wasm stack, empty otherwise.
//!
//! Each chunk entry and each over-approximated set entry owns one reference count.
//!
//! # JIT protocol
//! The table is `#[repr(C)]` and boxed by the heap, so its address is stable
//! ([`crate::Heap::activations_table_ptr`]). To expose a reference, JIT code reads the `u32` at
//! [`ACTIVATIONS_NEXT_OFFSET`]; if it is below the `u32` at [`ACTIVATIONS_END_OFFSET`], it stores
//! the reference word at `ACTIVATIONS_CHUNK_OFFSET + 4 * next` and increments `next`; otherwise it
//! calls the host's slow path ([`crate::Heap::expose_gc_ref_to_wasm`]). The chunk's contents and
//! `next` are untrusted: the collector validates them before use.
//!
//! The sets use `hashbrown` without default features and the crate's own no_std hasher.

use core::hash::{BuildHasherDefault, Hasher};
use hashbrown::HashSet;

/// Number of slots in the bump chunk (4 KiB of `u32` words, as in Wasmtime).
pub const BUMP_CHUNK_CAPACITY: usize = 1024;
/// Offset of the `u32` bump index `next` in [`ActivationsTable`].
pub const ACTIVATIONS_NEXT_OFFSET: usize = 0;
/// Offset of the `u32` bump limit `end` in [`ActivationsTable`].
pub const ACTIVATIONS_END_OFFSET: usize = 4;
/// Offset of the bump chunk's first slot in [`ActivationsTable`].
pub const ACTIVATIONS_CHUNK_OFFSET: usize = 8;

/// A fast hasher for reference words (multiples of 16 for objects). The hash's low bits are
/// the word's 16-byte granule index, so the bucket hashbrown puts a word in follows its
/// address, and walking the table (the sweep drains the over-approximated set) visits objects
/// in address order, wrapping around every table-size granules: nearly sequential memory
/// accesses instead of one cache and TLB miss per entry (4.5 instead of 11.5 ns per entry when
/// sweeping a million entries). The 7 bits hashbrown keeps as each bucket's tag come from a
/// multiplication by a large odd constant, so tags stay well spread. Like the
/// multiplicative hash before it, this is not keyed: words that collide lie a multiple of the
/// table's span apart, and the table grows with its entries, so a set never holds more than
/// region length / (16 * buckets) colliding words.
#[derive(Default, Clone, Copy, Debug)]
pub struct RefHasher(u64);

impl Hasher for RefHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(byte as u32);
        }
    }

    #[inline]
    fn write_u32(&mut self, word: u32) {
        self.0 = (self.0 << 32) ^ word as u64;
    }

    #[inline]
    fn finish(&self) -> u64 {
        let word = self.0;
        let tag = word.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57;
        // hashbrown takes the tag from the top 7 bits of the hash's usize-wide part: bits 57..63
        // on 64-bit targets, 25..31 on 32-bit ones. The bucket index comes from the low bits:
        // the granule index, 25 bits of it (tables of up to 2^25 buckets keep address order).
        (tag << 57) | (tag << 25) | ((word >> 4) & ((1 << 25) - 1))
    }
}

/// A set of reference words.
pub type RefSet = HashSet<u32, BuildHasherDefault<RefHasher>>;

/// The activations table. See the module documentation.
#[repr(C)]
pub struct ActivationsTable {
    pub(crate) next: u32,
    pub(crate) end: u32,
    pub(crate) chunk: [u32; BUMP_CHUNK_CAPACITY],
    pub(crate) over_approximated: RefSet,
    pub(crate) precise: RefSet,
}

/// Shows the bump chunk's cursor and how many words each part holds, not the words.
impl core::fmt::Debug for ActivationsTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ActivationsTable")
            .field("next", &self.next)
            .field("end", &self.end)
            .field("over_approximated", &self.over_approximated.len())
            .field("precise", &self.precise.len())
            .finish_non_exhaustive()
    }
}

impl ActivationsTable {
    pub(crate) fn new() -> ActivationsTable {
        ActivationsTable {
            next: 0,
            end: BUMP_CHUNK_CAPACITY as u32,
            chunk: [0; BUMP_CHUNK_CAPACITY],
            over_approximated: RefSet::default(),
            precise: RefSet::default(),
        }
    }

    /// Free slots left in the bump chunk, trusting `next` only as far as it is in range.
    #[inline]
    pub(crate) fn bump_capacity_remaining(&self) -> usize {
        (BUMP_CHUNK_CAPACITY as u32).saturating_sub(self.next) as usize
    }

    /// The filled part of the bump chunk; an out-of-range `next` (written by JIT code) is
    /// clamped to the chunk.
    #[inline]
    pub(crate) fn filled_chunk(&self) -> &[u32] {
        let filled = (self.next as usize).min(BUMP_CHUNK_CAPACITY);
        &self.chunk[..filled]
    }

    /// Moves an owned reference word into the table: the chunk if it has room, else the set.
    /// Returns the word back if it was already in the set (its count must then be released).
    #[inline]
    pub(crate) fn insert(&mut self, raw: u32) -> Option<u32> {
        if let Some(slot) = self.chunk.get_mut(self.next as usize) {
            *slot = raw;
            self.next += 1;
            None
        } else if self.over_approximated.insert(raw) {
            None
        } else {
            Some(raw)
        }
    }

    /// Empties the bump chunk (the caller has released its entries).
    pub(crate) fn reset_chunk(&mut self) {
        let filled = (self.next as usize).min(BUMP_CHUNK_CAPACITY);
        self.chunk[..filled].fill(0);
        self.next = 0;
        self.end = BUMP_CHUNK_CAPACITY as u32;
    }

    /// Number of entries (each owning a count): chunk plus over-approximated set.
    pub(crate) fn len(&self) -> usize {
        self.filled_chunk().len() + self.over_approximated.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use core::mem::offset_of;

    #[test]
    fn jit_offsets_match_repr_c_layout() {
        assert_eq!(offset_of!(ActivationsTable, next), ACTIVATIONS_NEXT_OFFSET);
        assert_eq!(offset_of!(ActivationsTable, end), ACTIVATIONS_END_OFFSET);
        assert_eq!(offset_of!(ActivationsTable, chunk), ACTIVATIONS_CHUNK_OFFSET);
    }

    #[test]
    fn insert_fills_the_chunk_then_the_set() {
        let mut table = Box::new(ActivationsTable::new());
        for i in 0..BUMP_CHUNK_CAPACITY as u32 {
            assert_eq!(table.insert(16 * (i + 1)), None);
        }
        assert_eq!(table.bump_capacity_remaining(), 0);
        assert_eq!(table.insert(32), None);
        assert_eq!(table.insert(32), Some(32), "a duplicate in the set is handed back");
        assert_eq!(table.len(), BUMP_CHUNK_CAPACITY + 1);
        table.reset_chunk();
        assert_eq!(table.filled_chunk().len(), 0);
        assert_eq!(table.bump_capacity_remaining(), BUMP_CHUNK_CAPACITY);
    }

    #[test]
    fn an_out_of_range_next_is_clamped() {
        let mut table = Box::new(ActivationsTable::new());
        table.next = u32::MAX;
        assert_eq!(table.filled_chunk().len(), BUMP_CHUNK_CAPACITY);
        assert_eq!(table.bump_capacity_remaining(), 0);
        assert_eq!(table.insert(48), None, "falls back to the set");
    }

    #[test]
    fn a_set_iterates_in_nearly_address_order() {
        // The sweep relies on it: draining the set walks the region nearly sequentially.
        let n = 4096u32;
        let mut set = RefSet::default();
        for i in 0..n {
            set.insert(32 * (i.wrapping_mul(2_654_435_761) % n + 1));
        }
        let words: alloc::vec::Vec<u32> = set.iter().copied().collect();
        let ascending = words.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!(ascending as u32 > n * 9 / 10, "{ascending} of {n} steps ascend");
    }

    #[test]
    fn ref_hasher_tags_vary_on_64_and_32_bit_targets() {
        let (mut tags64, mut tags32) = ([false; 128], [false; 128]);
        for i in 1..=4096u32 {
            let mut hasher = RefHasher::default();
            hasher.write_u32(i * 16);
            let hash = hasher.finish();
            tags64[(hash >> 57) as usize] = true;
            tags32[(hash >> 25 & 0x7F) as usize] = true;
        }
        assert!(tags64.iter().filter(|&&t| t).count() > 100);
        assert!(tags32.iter().filter(|&&t| t).count() > 100);
    }

    #[test]
    fn ref_hasher_spreads_aligned_words_over_low_bits() {
        let mut buckets = [0u32; 64];
        for i in 1..=4096u32 {
            let mut hasher = RefHasher::default();
            hasher.write_u32(i * 16);
            buckets[(hasher.finish() & 63) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 20 && n < 110), "{buckets:?}");
    }
}
