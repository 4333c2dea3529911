//! The harness's corrupting operations (corruption runs only): forged interior headers, a block
//! size overwritten before a free, and random bytes of the region overwritten.

use super::helpers::handle;
use super::values::{Expect, MKind, MRef, MVal};
use super::Harness;
use drc_heap::types::{HeapType, RefType, StorageType};
use drc_heap::{Kind, Root, TypeIndex, ValueRef};

impl Harness {
    /// The `v128` slot of `m` a fake header can be written to: (field or element index, its
    /// offset from the object's start), for a struct with a `v128` field or a non-empty `v128`
    /// array.
    pub(super) fn v128_slot(&self, m: MRef) -> Option<(usize, u32)> {
        let MRef::Obj(id) = m else { return None };
        let object = self.objects.get(&id)?;
        match object.kind {
            MKind::Struct(t) => {
                let (ty, layout) = self.heap.types().struct_layout(TypeIndex(t)).ok()?;
                let field = ty.fields.iter().position(|&s| s == StorageType::V128)?;
                Some((field, layout.field_offsets[field]))
            }
            MKind::Array(t) if !object.fields.is_empty() => {
                let (ty, layout) = self.heap.types().array_layout(TypeIndex(t)).ok()?;
                (ty.element == StorageType::V128).then_some((0, layout.elements_offset))
            }
            _ => None,
        }
    }

    pub(super) fn forge_interior_header(&mut self, target: u16, how: u16) {
        let Some((word, m)) = self.pick(target, |h, m| h.v128_slot(m).is_some()) else { return };
        let Some((slot, offset)) = self.v128_slot(m) else { return };
        // Kind struct, no flags, type 0, a 32-byte block, a count of 1: a header as good as the
        // heap's own, for an object that does not exist.
        let fake = Kind::STRUCT.to_byte() as u128 | 32u128 << 64 | 1u128 << 96;
        let object = handle(word).expect("non-null");
        let stored = match self.kind(m) {
            Some(MKind::Struct(_)) => self.heap.struct_set(&object, slot as u32, ValueRef::V128(fake)),
            _ => self.heap.array_set(&object, slot as u32, ValueRef::V128(fake)),
        };
        if !self.expect("typed store of a fake header", &stored, Expect::Ok) {
            return;
        }
        self.set_field(m, slot, MVal::V128(fake));
        let inner = word + offset;
        match how % 4 {
            0 => {
                let result = self.heap.retain_raw(inner);
                self.expect("retain_raw of a forged interior word", &result, Expect::InvalidReference);
            }
            1 => {
                let result = self.heap.drop_ref(handle(inner).expect("non-null"));
                self.expect("drop_ref of a forged interior word", &result, Expect::InvalidReference);
            }
            2 => {
                let forged = handle(inner).expect("non-null");
                let result = self.heap.matches(Some(&forged), RefType::nullable(HeapType::Any));
                self.expect("ref.test of a forged interior word", &result, Expect::InvalidReference);
            }
            _ if self.no_gc_depth == 0 => {
                // A stack map that reports the word: the collection skips and counts it, and
                // frees exactly what it would have without it.
                let skipped = |h: &Harness| h.heap.stats().map_or(0, |s| s.invalid_roots_skipped);
                let before = skipped(self);
                let mut roots = self.roots();
                roots.insert(how as usize % (roots.len() + 1), Root::wasm_stack(inner));
                let result = self.heap.collect_all(roots);
                if !self.expect("collect_all with a forged root", &result, Expect::Ok) {
                    return;
                }
                if skipped(self) != before + 1 {
                    self.fail(format!("the forged root was not skipped once: {before} -> {}", skipped(self)));
                }
                self.check_after_collection(false);
            }
            _ => {}
        }
    }

    /// Overwrites the block size of an object, then releases the host locals that hold it.
    pub(super) fn corrupt_size_then_free(&mut self, target: u16, size: u32) {
        if !self.corruption_run {
            return;
        }
        let Some((word, _)) = self.pick(target, |_, _| true) else { return };
        if word & 1 == 1 {
            return;
        }
        let offset = word as usize + 8;
        if offset + 4 > self.region_len {
            return;
        }
        let base = self.heap.region_base();
        // SAFETY: `offset + 4 <= region_len` (checked above), inside the harness's own buffer;
        // no reference into the region is alive between heap calls (as in `corrupt`).
        unsafe { base.add(offset).cast::<u32>().write_unaligned(size & !15) };
        self.corrupted = true;
        self.stats.corruptions += 1;
        while let Some(index) = self.locals.iter().position(|slot| slot.word() == word) {
            let slot = self.locals.remove(index);
            self.release(slot.gc);
        }
    }

    pub(super) fn corrupt(&mut self, offset: u32, value: u8, len: u16) {
        if !self.corruption_run {
            return;
        }
        let region_len = self.heap.region_len() as usize;
        let start = offset as usize % region_len;
        let len = (len as usize % 8 + 1).min(region_len - start);
        let base = self.heap.region_base();
        // SAFETY: `start + len <= region_len`, so the bytes are inside the region, which is
        // valid for writes (it is the harness's own buffer); no reference into the region is
        // alive between heap calls, so this write aliases nothing (it is what JIT code or an
        // attacker in the sandbox may do).
        unsafe { core::ptr::write_bytes(base.add(start), value, len) };
        self.corrupted = true;
        self.stats.corruptions += 1;
    }
}
