//! Allocation and counts: blocks for new objects, increments and decrements, and the release of
//! dead objects through the worklist.
//!
//! Every count change of the heap goes through here: [`Heap::increment`] and
//! [`Heap::retain_as`] (a barrier's new value, one header read), [`Heap::decrement`] and
//! [`Heap::release`] (a barrier's old value; freeing at zero). A decrement that leaves a count
//! above zero tells the cycle collector's buffer ([`CycleCollector::possible_root`]); a freed
//! object that was buffered leaves it ([`CycleCollector::remove`]). Those two calls are all the
//! hot path knows of cycle collection.
//!
//! Release never recurses: the children of a dead struct that die wait on the release
//! worklist ([`ReleaseWork`]), from whose top the release goes on in the same loop, and a
//! reference array's elements are released [`RELEASE_CHUNK`] at a time. Before a block is freed its size
//! is checked against the object's kind and type (the header is in the untrusted region).
//!
//! Owned references ([`Heap::clone_ref`], [`Heap::drop_ref`], [`Heap::retain_raw`],
//! [`Heap::write_gc_ref`]) and externrefs with their host data are the public face of this.

use super::object::{check_immediate_ref_type, heap_type_accepts, kind_error, ref_type_mismatch};
use super::object::{checked_struct_layout, object_word, RefSlots};
use super::HeapIn;
use crate::cycle_collector::CycleCollector;
use crate::error::{Error, Result};
use crate::free_list::{FreeList, GRANULE};
use crate::gc_ref::I31_TAG;
use crate::header::{
    HeaderFlags, Kind, ObjectHeader, EXTERNREF_HOST_DATA_OFFSET, EXTERNREF_SIZE, HEADER_SIZE, REF_COUNT_OFFSET,
    SIZE_OFFSET, UNKNOWN_FLAG_BITS,
};
use crate::region::Region;
use crate::types::{RefType, TypeIndex, TypeRegistry, MAX_OBJECT_SIZE};
use crate::value::{Value, ValueRef};
use crate::GcRef;

/// The block size of an externref object.
const EXTERNREF_BLOCK: u32 = (EXTERNREF_SIZE + GRANULE - 1) & !(GRANULE - 1);

/// The bits of a header's first two bytes (kind, then flags, as a little-endian `u16`) that
/// must equal [`Kind::EXTERN`]'s byte for the kind to be an externref's and the flags known bits.
const EXTERN_KIND_AND_UNKNOWN_FLAGS: u16 = 0xff | (UNKNOWN_FLAG_BITS as u16) << 8;

/// Elements of a reference array released per worklist step.
pub const RELEASE_CHUNK: u32 = 1024;

/// One pending piece of release work.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReleaseWork {
    /// An object whose count reached zero, with its header as the decrement read and validated
    /// it (in host memory from then on: see [`decrement_count`]): release its references, then
    /// free it.
    Object(u32, Dead),
    /// A reference array whose elements from `next` on are still to be released.
    ArrayTail { array: u32, next: u32 },
}

/// What release needs of the header of an object whose count reached zero (validated by the
/// decrement that read it, but for the size, which release checks against the object's type
/// before it frees the block). Its fields are ordered so that the type index and size, read
/// together from the header, stay in one register: carried as an [`ObjectHeader`] (whose
/// reserved 16 bits lie between the flags and the type index), the header was rebuilt
/// through the stack with overlapping stores and loads, which stall store forwarding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dead {
    type_index: u32,
    size: u32,
    kind: Kind,
    flags: HeaderFlags,
}

impl Dead {
    /// The header, as the functions that validate layouts take it (count zero).
    #[inline(always)]
    fn header(self) -> ObjectHeader {
        ObjectHeader {
            kind: self.kind,
            flags: self.flags,
            reserved: 0,
            type_index: self.type_index,
            size: self.size,
            ref_count: 0,
        }
    }
}

/// Removes one count from the object `raw` names in `region` (objects lie below `top`);
/// returns what release needs of its header (validated) when the count reached zero.
/// Nothing for null and i31 words. A count left above zero makes the object a possible cycle
/// root (`cycles` buffers it unless it is acyclic or buffered already: a flag test).
///
/// The header's index, kind and flags are validated, its size only later, against the type, by
/// the release that frees the block with it (`ObjectHeader::decode_unbounded_size`).
/// The header returned is what release goes on with, not read again: once an object's count
/// is zero nothing changes the kind, type, size or flags in its header until it is freed (no
/// reference may name it: a corrupted one that does is refused here, as a zero count), and the
/// free itself checks the size against the type and the free list's bitmap. Always inlined,
/// so that the header stays in registers (a header handed back through memory in parts and
/// read whole stalls store forwarding).
#[inline(always)]
pub(crate) fn decrement_count(
    region: &mut Region,
    free_list: &FreeList,
    cycles: &mut CycleCollector,
    raw: u32,
) -> Result<Option<Dead>> {
    // One test for the words a heap field holds most (null and aligned object offsets, the
    // only ones that end in four zero bits); an i31 (which holds no count) or a word of neither
    // kind goes the longer way.
    if raw % GRANULE != 0 {
        return if raw & I31_TAG != 0 { Ok(None) } else { Err(Error::InvalidReference(raw)) };
    }
    if raw == 0 {
        return Ok(None);
    }
    if !free_list.is_allocated(raw) {
        return Err(Error::InvalidReference(raw));
    }
    // The size is not bounds-checked here: release checks it against exactly what the kind and
    // type say (`checked_struct_layout`, `free_externref`'s test, or the array header read again)
    // before it frees the block with it.
    let header = ObjectHeader::decode_unbounded_size(region, raw)?;
    let Some(count) = header.ref_count.checked_sub(1) else {
        return Err(Error::corrupted(raw, "released an object with a zero count"));
    };
    region.write_u32(raw + REF_COUNT_OFFSET, count)?;
    if count != 0 {
        cycles.possible_root(region, raw, header.flags)?;
        return Ok(None);
    }
    Ok(Some(Dead { type_index: header.type_index, size: header.size, kind: header.kind, flags: header.flags }))
}

/// Checks that `raw` may be stored where `ref_type` is expected and takes `n` counts on it,
/// reading its header once (the barrier's fast path), over the parts of the heap it needs (so
/// that a caller may hold the type registry meanwhile). With `ref_type` `None` (the caller
/// proved the type) only the word is validated: null, an i31, or the start of a live object
/// (the free list's bitmap, then its header's kind and flags) whose count is not zero. The
/// header's block size is not read (`ObjectHeader::decode_count`): a count change and a type
/// check do not use it. Always inlined (it is the barrier's hot path; a null word costs one
/// test).
#[inline(always)]
pub(crate) fn retain_word(
    region: &mut Region,
    free_list: &FreeList,
    types: &TypeRegistry,
    raw: u32,
    ref_type: Option<RefType>,
    n: u32,
) -> Result<()> {
    if object_word(raw).is_none() {
        return ref_type.map_or(Ok(()), |ref_type| check_immediate_ref_type(raw, ref_type));
    }
    if !free_list.is_allocated(raw) {
        return Err(Error::InvalidReference(raw));
    }
    // A count change and a type check trust nothing of the header but these: no size read.
    let header = ObjectHeader::decode_count(region, raw)?;
    if ref_type
        .is_some_and(|ref_type| !heap_type_accepts(types, Some((header.kind, header.type_index)), ref_type.heap_type))
    {
        return Err(ref_type_mismatch());
    }
    if header.ref_count == 0 {
        return Err(Error::corrupted(raw, "live reference to an object with a zero count"));
    }
    let count = header.ref_count.checked_add(n).ok_or(Error::RefCountOverflow)?;
    region.write_u32(raw + REF_COUNT_OFFSET, count)
}

impl<'a, H> HeapIn<'a, H> {
    /// Allocates a block for an object of `size` bytes and writes its header (count 1).
    /// Always inlined into its few callers (the constructors): its hot path is a handful of
    /// tests, a pop or a bump and the header store, and a call returning its `Result` through
    /// memory cost a quarter of it; what is rare (zeal, a cycle collection, the free list's
    /// slow paths) stays out of line.
    #[inline(always)]
    pub(crate) fn alloc_object(&mut self, kind: Kind, type_index: u32, size: u32, flags: HeaderFlags) -> Result<u32> {
        let block =
            FreeList::block_size(size).filter(|&block| block <= MAX_OBJECT_SIZE).ok_or_else(|| self.too_large(size))?;
        self.alloc_block(kind, type_index, size, block, flags)
    }

    /// [`Heap::alloc_object`] for a caller that knows the block size already (a struct type's
    /// [`StructLayout::block`](crate::types::StructLayout::block), a non-zero multiple of the
    /// granule no larger than [`MAX_OBJECT_SIZE`]): no rounding, one test against the region.
    /// `size` is the object's size as asked (the block before rounding), for
    /// [`Error::AllocationTooLarge`]'s `requested` only, so that every constructor reports the
    /// bytes requested.
    #[inline(always)]
    pub(crate) fn alloc_block(
        &mut self,
        kind: Kind,
        type_index: u32,
        size: u32,
        block: u32,
        flags: HeaderFlags,
    ) -> Result<u32> {
        let index = self.alloc_bare_block(size, block)?;
        ObjectHeader::new(kind, type_index, block, flags).encode(&mut self.region, index)?;
        self.counters.allocated(block);
        Ok(index)
    }

    /// [`Heap::alloc_block`] without the header and the count of the allocation: the caller
    /// writes the block's header (a struct type's precomputed
    /// [`StructLayout::header`](crate::types::StructLayout)) and then counts the object
    /// (`Counters::allocated`), before anything else can fail.
    #[inline(always)]
    pub(crate) fn alloc_bare_block(&mut self, size: u32, block: u32) -> Result<u32> {
        if block > self.region.len() - HEADER_SIZE {
            return Err(self.too_large(size));
        }
        // One test for zeal's two hooks: with zeal on, the same steps out of line.
        if self.config.zeal.is_some() {
            return self.alloc_bare_block_with_zeal(block);
        }
        self.collect_cycles_if_due()?;
        match self.free_list.alloc(&mut self.region, block)? {
            Some(index) => Ok(index),
            None => self.alloc_slow(block),
        }
    }

    /// [`Heap::alloc_bare_block`] with zeal on: its hooks before and after the allocation.
    #[cold]
    #[inline(never)]
    fn alloc_bare_block_with_zeal(&mut self, block: u32) -> Result<u32> {
        self.zeal_before_alloc(block)?;
        self.collect_cycles_if_due()?;
        let index = match self.free_list.alloc(&mut self.region, block)? {
            Some(index) => index,
            None => self.alloc_slow(block)?,
        };
        self.zeal_after_alloc(index, block)?;
        Ok(index)
    }

    /// The error of an object of `size` bytes that no block of this region can hold.
    #[cold]
    fn too_large(&self, size: u32) -> Error {
        Error::AllocationTooLarge { requested: size as usize, max: (self.region.len() - HEADER_SIZE) as usize }
    }

    #[cold]
    fn alloc_slow(&mut self, block: u32) -> Result<u32> {
        self.free_list.coalesce(&mut self.region)?;
        self.counters.coalesced();
        if let Some(index) = self.free_list.alloc(&mut self.region, block)? {
            return Ok(index);
        }
        // Garbage cycles may hold the memory: collect them before reporting out of memory.
        match self.alloc_after_collecting_cycles(block)? {
            Some(index) => Ok(index),
            None => Err(Error::OutOfMemory { requested: block as usize }),
        }
    }

    /// Zeroes the bytes of a fresh object after its header (one bounds check for the block).
    #[inline]
    pub(crate) fn zero_body(&mut self, index: u32, size: u32) -> Result<()> {
        zero_after_header(self.region.slice_mut(index, size, "new object out of region bounds")?);
        Ok(())
    }

    #[inline]
    pub(crate) fn new_object_flags(&self, ty: TypeIndex) -> Result<HeaderFlags> {
        Ok(if self.types.is_acyclic(ty)? { HeaderFlags::ACYCLIC } else { HeaderFlags::empty() })
    }

    /// Adds one count to the object `raw` names (nothing for null and i31 words).
    #[inline]
    pub(crate) fn increment(&mut self, raw: u32) -> Result<()> {
        if object_word(raw).is_none() {
            return Ok(());
        }
        // A count change trusts nothing of the header but the count: its size is not read.
        if !self.free_list.is_allocated(raw) {
            return Err(Error::InvalidReference(raw));
        }
        let count = ObjectHeader::decode_count(&self.region, raw)?.ref_count;
        if count == 0 {
            return Err(Error::corrupted(raw, "live reference to an object with a zero count"));
        }
        let count = count.checked_add(1).ok_or(Error::RefCountOverflow)?;
        self.region.write_u32(raw + REF_COUNT_OFFSET, count)
    }

    /// Checks that `raw` may be stored where `ref_type` is expected and takes `n` counts on it,
    /// reading its header once (the barrier's fast path; see [`retain_word`]).
    #[inline]
    pub(crate) fn retain_as(&mut self, raw: u32, ref_type: Option<RefType>, n: u32) -> Result<()> {
        retain_word(&mut self.region, &self.free_list, &self.types, raw, ref_type, n)
    }

    /// Removes one count; returns the object's header when it reached zero (the caller then
    /// frees the object with it: see [`decrement_count`]).
    #[inline(always)]
    pub(crate) fn decrement(&mut self, raw: u32) -> Result<Option<Dead>> {
        decrement_count(&mut self.region, &self.free_list, &mut self.cycles, raw)
    }

    /// The second half of the write barrier: stores the word `new` at `offset` (a reference
    /// field or element; the caller has validated `new` and taken its count) and gives back the
    /// count of the word it replaces. A null old word (a field written the first time) is
    /// answered inline, with no call: it holds no count.
    #[inline]
    pub(crate) fn replace_reference(&mut self, offset: u32, new: u32) -> Result<()> {
        let old = self.region.read_u32(offset)?;
        self.region.write_u32(offset, new)?;
        if old == 0 {
            return Ok(());
        }
        self.release(old)
    }

    /// Releases one count of `raw`, freeing everything that becomes unreachable.
    #[inline]
    pub(crate) fn release(&mut self, raw: u32) -> Result<()> {
        if let Some(dead) = self.decrement(raw)? {
            // An externref (it holds no references) takes a call of its own, whose frame is a
            // fraction of `release_dead`'s. Of the allocated kinds (the decrement validated it)
            // only the externref is outside the internal hierarchy: one bit test.
            if !dead.kind.matches(Kind::ANY) {
                return self.release_externref(raw, dead);
            }
            // The object is dead: free it at once (no trip through the worklist), then whatever
            // it held that died with it, with the header the decrement validated.
            self.release_dead(raw, dead)?;
            if !self.release_worklist.is_empty() {
                self.drain_release_worklist()?;
            }
        }
        Ok(())
    }

    /// Frees the dead object `index` (count zero, `dead` read from its header): releases the
    /// references it holds (children whose count reaches zero go on the worklist; a reference
    /// array goes there as a tail to walk in chunks) and returns its block.
    ///
    /// A struct's children that died go on the worklist (with the header the decrement just
    /// read and validated, so no dead object's header is read twice), and once its block is
    /// freed the loop goes on with the dead object on top of the worklist: its last child that
    /// died, else the one the drain would pop next, in the same order. So a chain, a tree and
    /// what waits on the worklist are freed in this loop without a return to the drain and a
    /// call back per object; it returns when the worklist is empty or holds an array's tail on
    /// top (for [`Heap::drain_release_worklist`](crate::Heap::drain_release_worklist)). (A
    /// push and a pop per child cost less than keeping the last child that died out of the
    /// worklist: it lived on the stack, stored and reloaded, in the field loop.)
    ///
    /// Never inlined (nor is the drain): inlined into [`Heap::release`], they made every
    /// release save and restore six registers and a large frame, also the most common one,
    /// which leaves the count above zero and frees nothing.
    #[inline(never)]
    fn release_dead(&mut self, mut index: u32, mut dead: Dead) -> Result<()> {
        loop {
            match dead.kind {
                Kind::STRUCT => {
                    let HeapIn { region, types, free_list, release_worklist, cycles, .. } = self;
                    // The size the block would be freed with is checked before anything is
                    // released (see `free_block`).
                    let (_, layout) = checked_struct_layout(types, index, &dead.header())?;
                    for &offset in &layout.reference_offsets {
                        let child = region.read_u32(index + offset)?;
                        if let Some(child_dead) = decrement_count(region, free_list, cycles, child)? {
                            release_worklist.push(ReleaseWork::Object(child, child_dead));
                        }
                    }
                    self.free_block(index, dead.flags, dead.size)?;
                    // Then the most recent dead object on the worklist (the last child that
                    // died, or what the drain would pop next), without a return to it and a
                    // call back.
                    match self.release_worklist.pop() {
                        Some(ReleaseWork::Object(waiting, waiting_dead)) => (index, dead) = (waiting, waiting_dead),
                        Some(tail) => {
                            self.release_worklist.push(tail);
                            return Ok(());
                        }
                        None => return Ok(()),
                    }
                }
                Kind::ARRAY => {
                    self.release_worklist.push(ReleaseWork::ArrayTail { array: index, next: 0 });
                    return Ok(());
                }
                _ => return self.free_externref(index, dead),
            }
        }
    }

    /// [`Heap::release`] of a dead externref: [`Heap::free_externref`], then the release
    /// worklist if work is waiting there (it is empty unless an error interrupted a release),
    /// as `release` drains it after [`Heap::release_dead`]. This call saves and restores fewer
    /// registers and sets up a smaller frame than `release_dead`. Never inlined, as
    /// `release_dead` is not.
    #[inline(never)]
    fn release_externref(&mut self, index: u32, dead: Dead) -> Result<()> {
        self.free_externref(index, dead)?;
        if !self.release_worklist.is_empty() {
            self.drain_release_worklist()?;
        }
        Ok(())
    }

    /// Frees the dead externref `index` (count zero, `dead` read from its header): checks its
    /// block size, takes its host data out of the table, frees the block, then drops the data
    /// (also when the free fails: the table no longer holds it).
    #[inline(always)]
    fn free_externref(&mut self, index: u32, dead: Dead) -> Result<()> {
        // `Heap::object_layout`'s test and error for an externref (then the block size is a
        // constant for `free_block`).
        if dead.size != EXTERNREF_BLOCK {
            return Err(Error::corrupted(index, "externref block size disagrees with its kind"));
        }
        let id = self.region.read_u32(index + EXTERNREF_HOST_DATA_OFFSET)?;
        let data = self.host_data.take(id)?;
        self.free_block(index, dead.flags, EXTERNREF_BLOCK)?;
        drop(data);
        Ok(())
    }

    /// Runs the release worklist until it is empty. Never inlined (see [`Heap::release_dead`]).
    #[inline(never)]
    pub(crate) fn drain_release_worklist(&mut self) -> Result<()> {
        while let Some(work) = self.release_worklist.pop() {
            match work {
                ReleaseWork::Object(index, dead) => self.release_dead(index, dead)?,
                ReleaseWork::ArrayTail { array, next } => {
                    let header = self.object(array)?;
                    // `ref_slots` checks the block size against the length.
                    let (slots, rest) = self.ref_slots(array, &header, next, RELEASE_CHUNK)?;
                    if let RefSlots::Elements { layout, range, .. } = slots {
                        if let Some(end) = rest {
                            self.release_worklist.push(ReleaseWork::ArrayTail { array, next: end });
                        }
                        for i in range {
                            let child = self.region.read_u32(array + layout.element_offset(i))?;
                            if let Some(dead) = self.decrement(child)? {
                                self.release_worklist.push(ReleaseWork::Object(child, dead));
                            }
                        }
                        if rest.is_some() {
                            continue;
                        }
                    }
                    self.free_block(array, header.flags, header.size)?;
                }
            }
        }
        Ok(())
    }

    /// Returns a dead object's block to the free list (taking it out of the cycle collector's
    /// buffer first if it is there).
    ///
    /// The block size (`size`, with `flags`, from the object's header, in the region) must have
    /// been checked against what the object's kind and type say earlier in the same operation
    /// (an externref's fixed size, a struct's layout, an array's length: `free_externref`'s test,
    /// the layout checks of `release_dead`, or the cycle collector's mark gray, as no
    /// collection writes a size), so that a corrupted size never frees memory the object does
    /// not own. Always inlined: it is most of what freeing a small object costs, and a call
    /// with its `Result` returned through memory added a quarter.
    #[inline(always)]
    pub(super) fn free_block(&mut self, index: u32, flags: HeaderFlags, size: u32) -> Result<()> {
        if flags.contains(HeaderFlags::BUFFERED) {
            self.cycles.remove(index)?;
        }
        let live =
            self.counters.freed(size).ok_or(Error::corrupted(index, "freed more objects than were allocated"))?;
        let last = live == 0;
        self.zeal_poison_freed(index, size, last)?;
        if last {
            // Nothing is left: the whole region is one free block again, in O(1).
            self.free_list.reset();
            return Ok(());
        }
        self.free_list.free(&mut self.region, index, size)
    }

    /// [`Heap::free_block`] for many dead objects at once: `blocks` is their offsets and block
    /// sizes sorted by offset, none of them buffered, their sizes checked as `free_block`
    /// requires. Each is counted and poisoned (zeal) as `free_block` does, and each run of
    /// adjacent ones (each starting where the one before ends) is freed as one block
    /// ([`FreeList::free_adjacent`]; an interior block is poisoned whole, header included, as
    /// the run gets one free-block header): one merge with the neighbours per run instead of
    /// one per object.
    pub(super) fn free_sorted_blocks(&mut self, blocks: &[(u32, u32)]) -> Result<()> {
        let mut rest = blocks;
        while let Some(&(start, _)) = rest.first() {
            let (mut end, mut len, mut live) = (start, 0, None);
            while let Some(&(index, size)) = rest.get(len) {
                if index != end {
                    break;
                }
                end = index.checked_add(size).ok_or(Error::corrupted(index, "object size out of bounds"))?;
                live = Some(
                    self.counters
                        .freed(size)
                        .ok_or(Error::corrupted(index, "freed more objects than were allocated"))?,
                );
                len += 1;
            }
            let (run, after) = rest.split_at(len);
            let last = live == Some(0);
            for &(index, size) in run {
                self.zeal_poison_freed(index, size, last || index != start)?;
            }
            if last {
                // Nothing is left: the whole region is one free block again, in O(1).
                self.free_list.reset();
                return Ok(());
            }
            self.free_list.free_adjacent(
                &mut self.region,
                start,
                end - start,
                run[1..].iter().map(|&(index, _)| index),
            )?;
            rest = after;
        }
        Ok(())
    }

    /// A second owned reference to the same object (one more count).
    #[inline]
    pub fn clone_ref(&mut self, r: &GcRef) -> Result<GcRef> {
        let raw = self.word(r)?;
        self.increment(raw)?;
        Ok(self.handle(raw).unwrap_or_else(|| unreachable!("a GcRef is never 0")))
    }

    /// Releases an owned reference; frees the object and what only it reached when the count
    /// reaches zero.
    ///
    /// A handle of another heap is [`Error::ForeignReference`] (its count stays with it).
    pub fn drop_ref(&mut self, r: GcRef) -> Result<()> {
        let raw = self.word(&r)?;
        self.release(raw)
    }

    /// Takes a new count on the object a raw word names (a reference Wasm hands back to the
    /// host, for example) after validating it. `Ok(None)` for the null word.
    #[inline]
    pub fn retain_raw(&mut self, raw: u32) -> Result<Option<GcRef>> {
        self.increment(raw)?;
        Ok(self.handle(raw))
    }

    /// An owned copy of a value, with a new count for a reference.
    pub fn to_owned_value(&mut self, value: ValueRef<'_>) -> Result<Value> {
        Ok(match value {
            ValueRef::I8(v) => Value::I8(v),
            ValueRef::I16(v) => Value::I16(v),
            ValueRef::I32(v) => Value::I32(v),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F32(v) => Value::F32(v),
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::V128(v) => Value::V128(v),
            ValueRef::Ref(None) => Value::Ref(None),
            ValueRef::Ref(Some(r)) => Value::Ref(Some(self.clone_ref(r)?)),
        })
    }

    /// Releases the reference a value holds, if any.
    pub fn release_value(&mut self, value: Value) -> Result<()> {
        match value {
            Value::Ref(Some(r)) => self.drop_ref(r),
            _ => Ok(()),
        }
    }

    /// The write barrier for a host-side slot (a global, a table element): stores `source`
    /// (taking a count on it) and releases what the slot held.
    pub fn write_gc_ref(&mut self, destination: &mut Option<GcRef>, source: Option<&GcRef>) -> Result<()> {
        let raw = self.word_of(source)?;
        if let Some(old) = destination.as_ref() {
            self.word(old)?;
        }
        self.increment(raw)?;
        let old = core::mem::replace(destination, self.handle(raw));
        match old {
            Some(old) => self.drop_ref(old),
            None => Ok(()),
        }
    }

    /// The current count of the object `r` names (0 for an i31).
    pub fn ref_count(&self, r: &GcRef) -> Result<u32> {
        Ok(self.handle_object(r)?.map_or(0, |(_, header)| header.ref_count))
    }

    /// Allocates an externref holding `data`. On failure the data is handed back with the error.
    pub fn alloc_externref(&mut self, data: H) -> core::result::Result<GcRef, (Error, H)> {
        // `alloc_object` of an externref: the block size is a constant.
        let index = match self.alloc_bare_block(EXTERNREF_SIZE, EXTERNREF_BLOCK) {
            Ok(index) => index,
            Err(error) => return Err((error, data)),
        };
        // The header and the host-data id in one store after one bounds check (the free list
        // hands out blocks inside the region: the other way is for a region that says not).
        let Ok(bytes) = self.region.slice_mut(index, EXTERNREF_SIZE, "externref out of region bounds") else {
            return self.init_externref_in_parts(index, data);
        };
        let id = self.host_data.insert(data);
        // The header (a constant), then the id: one store each (the 20 bytes built as one
        // array were stored in six pieces). The slice is the object's 20 bytes.
        let header = ObjectHeader::new(Kind::EXTERN, 0, EXTERNREF_BLOCK, HeaderFlags::ACYCLIC).to_bytes();
        let (header_bytes, id_bytes) = bytes.split_at_mut(HEADER_SIZE as usize);
        header_bytes.copy_from_slice(&header);
        id_bytes.copy_from_slice(&id.to_ne_bytes());
        self.counters.allocated(EXTERNREF_BLOCK);
        // The free list hands out multiples of the granule, so the mask changes nothing; with
        // it the compiler knows the word is no i31 and drops `object_handle`'s test of that.
        Ok(self.object_handle(index & !I31_TAG))
    }

    /// The rest of [`Heap::alloc_externref`] in its parts, for a block whose bytes are not all
    /// in the region: the header written and the allocation counted, then the data stored and
    /// its id written, each with its own error (the data handed back).
    #[cold]
    fn init_externref_in_parts(&mut self, index: u32, data: H) -> core::result::Result<GcRef, (Error, H)> {
        let header = ObjectHeader::new(Kind::EXTERN, 0, EXTERNREF_BLOCK, HeaderFlags::ACYCLIC);
        if let Err(error) = header.encode(&mut self.region, index) {
            return Err((error, data));
        }
        self.counters.allocated(EXTERNREF_BLOCK);
        let id = self.host_data.insert(data);
        match self.region.write_u32(index + EXTERNREF_HOST_DATA_OFFSET, id) {
            Ok(()) => Ok(self.object_handle(index)),
            Err(error) => {
                let data = self.host_data.take(id).map_err(|_| error.clone());
                match data {
                    Ok(data) => Err((error, data)),
                    Err(_) => unreachable!("the id was just inserted"),
                }
            }
        }
    }

    /// The host-data id of the externref `r` names. One test answers the common case (see
    /// [`Heap::valid_externref_id`]); anything else goes to [`Heap::externref_id_slow`], which
    /// runs every check in order for the exact error.
    #[inline(always)]
    fn externref_id(&self, r: &GcRef) -> Result<u32> {
        match self.valid_externref_id(r) {
            Some(id) => Ok(id),
            None => self.externref_id_slow(r),
        }
    }

    /// What [`Heap::externref_id`] gives if everything [`Heap::externref_id_slow`] checks holds
    /// (the handle may be used with this heap, an object starts at its word, the header is an
    /// externref's with known flag bits, its size is the externref block and the block lies
    /// inside the region), else `None`. The bitmap's test refuses an i31 word (not a multiple of
    /// 16). The size needs no other test: [`EXTERNREF_BLOCK`] is a non-zero multiple of 16, so a
    /// size equal to it is one `decode` accepts if the block lies inside the region, which is
    /// one compare; and the id lies inside the block.
    #[inline(always)]
    fn valid_externref_id(&self, r: &GcRef) -> Option<u32> {
        let index = self.word(r).ok()?;
        if !self.free_list.is_allocated(index) {
            return None;
        }
        let bytes: [u8; EXTERNREF_SIZE as usize] = self.region.read(index).ok()?;
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        // The kind byte is an externref's and the flags byte holds only known bits.
        if u16::from_le_bytes([bytes[0], bytes[1]]) & EXTERN_KIND_AND_UNKNOWN_FLAGS != Kind::EXTERN.to_byte() as u16 {
            return None;
        }
        let size = word(SIZE_OFFSET);
        // `read` put the object's first bytes inside the region, so `index < len`.
        if (size != EXTERNREF_BLOCK) | (size > self.region.len() - index) {
            return None;
        }
        Some(word(EXTERNREF_HOST_DATA_OFFSET))
    }

    /// [`Heap::externref_id`] past its one test: the full checks, in order, for the error
    /// ([`Error::ForeignReference`], [`Error::WrongObjectKind`] for an i31 or an object of
    /// another kind, [`Error::InvalidReference`] if no object starts at the word,
    /// [`Error::Corrupted`] for a header [`ObjectHeader::decode`] refuses).
    #[cold]
    #[inline(never)]
    fn externref_id_slow(&self, r: &GcRef) -> Result<u32> {
        let index = self.object_index(r, "externref")?;
        let header = self.object(index)?;
        if header.kind != Kind::EXTERN {
            return Err(kind_error("externref", header.kind));
        }
        self.region.read_u32(index + EXTERNREF_HOST_DATA_OFFSET)
    }

    /// The host data of an externref.
    pub fn externref_data(&self, r: &GcRef) -> Result<&H> {
        self.host_data.get(self.externref_id(r)?)
    }

    /// The host data of an externref, mutably.
    pub fn externref_data_mut(&mut self, r: &GcRef) -> Result<&mut H> {
        let id = self.externref_id(r)?;
        self.host_data.get_mut(id)
    }

    /// Number of host data values alive (one per live externref).
    pub fn host_data_count(&self) -> usize {
        self.host_data.len()
    }
}

/// Zeroes the bytes of a fresh block after its header: for the small blocks most objects have
/// (bodies of up to three 16-byte granules) stores of a known width rather than a call to
/// memset. The granules are zeroed one after the other, each after a test that the body goes
/// on: a `match` on the body's length with one constant-size store per arm was merged by LLVM,
/// once inlined into a constructor, into one memset call of the length.
#[inline(always)]
pub(super) fn zero_after_header(bytes: &mut [u8]) {
    if let Some(body) = bytes.get_mut(HEADER_SIZE as usize..) {
        zero_body_bytes(body);
    }
}

/// Zeroes `body`, the bytes after a fresh block's header, as [`zero_after_header`] does.
#[inline(always)]
pub(super) fn zero_body_bytes(mut body: &mut [u8]) {
    for _ in 0..3 {
        let Some((granule, rest)) = body.split_first_chunk_mut::<{ GRANULE as usize }>() else { return };
        *granule = [0; GRANULE as usize];
        body = rest;
    }
    body.fill(0);
}

#[cfg(test)]
mod tests;
