//! The heap: objects in the region, their reference counts, and typed access to them.
//!
//! [`Heap`] ties the parts together: the `region` it lives in, the
//! [`crate::free_list`] that hands out blocks, the [`crate::types`] registry that lays objects
//! out, the `host_data` of externrefs, and the [`crate::activations_table`] shared with
//! JIT code. Collection is in [`crate::collector`], verification in [`crate::verify`].
//!
//! # Reference counting
//! Every object's header holds the number of references to it from: reference fields and
//! elements of other objects, owned [`GcRef`]s held by the host (globals, tables, locals of
//! host code), and entries of the activations table. References in Wasm frames are not
//! counted; the activations table stands in for them (deferred reference counting).
//!
//! Every path that stores a reference goes through a barrier that increments the new value
//! before decrementing the old one ([`Heap::write_gc_ref`], the struct and array setters, fill
//! and copy). When a count reaches zero the object is freed and every reference it holds is
//! released in turn, through an explicit worklist: no recursion, and a reference array is walked
//! in chunks of [`RELEASE_CHUNK`] elements so the worklist never holds a whole array's worth.
//!
//! # Sandbox
//! Every reference word and every header is validated when it is read
//! (`header::ObjectHeader::decode`, `Heap::object`): corrupted bytes give
//! [`Error::Corrupted`] or [`Error::InvalidReference`], never an access outside the region. A
//! word is an object only if the free list's start bitmap (host memory, exact) says an object
//! starts there, so a word inside an object or at a freed block is [`Error::InvalidReference`]
//! (for a host handle used after its last count was dropped, that is the misuse it names). A
//! dead object's block size is checked against its kind and type before it is freed.

use crate::activations_table::ActivationsTable;
use crate::error::{Error, Result};
use crate::free_list::FreeList;
use crate::gc_ref::HeapId;
use crate::header::{
    HeaderFlags, Kind, ObjectHeader, ARRAY_LENGTH_OFFSET, EXTERNREF_HOST_DATA_OFFSET, EXTERNREF_SIZE, HEADER_SIZE,
    REF_COUNT_OFFSET,
};
use crate::host_data::HostDataTable;
use crate::region::Region;
use crate::stats::Counters;
use crate::types::{
    ArrayLayout, ArrayType, CompositeType, HeapType, RefType, StorageType, StructType, TypeIndex, TypeRegistry,
    MAX_OBJECT_SIZE,
};
use crate::value::{read_scalar, write_scalar, Value, ValueRef};
use crate::GcRef;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Elements of a reference array released per worklist step.
pub const RELEASE_CHUNK: u32 = 1024;

/// Whether a constructor checks the types of the reference operands it stores against the
/// field's or element's reference type ([`Operands::Checked`], the generic API), or the caller
/// proved them ([`Operands::Proved`], the `*_proved` constructors such as [`Heap::struct_new_proved`], and the slot family of [`crate::wasm_slots`]).
/// Either way every word is validated (null, an i31, or the start of a live object) and the
/// counts are taken: only the subtype and nullability check is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operands {
    /// Check every reference operand against the field's or element's reference type.
    Checked,
    /// The caller's validator proved the operands' types: only their words are validated.
    /// A wrong proof can only mistype an object for Wasm (a field then holds a reference of
    /// another type, which every reader validates like any word): counts stay exact and
    /// [`Heap::verify`] passes; an acyclic type given a reference it could not hold may close a
    /// cycle the cycle collector does not see, which then leaks, nothing worse.
    Proved,
}

impl Operands {
    /// The reference type to check a reference operand against, if any.
    #[inline]
    pub(crate) fn check(self, ref_type: RefType) -> Option<RefType> {
        match self {
            Operands::Checked => Some(ref_type),
            Operands::Proved => None,
        }
    }
}

/// Settings of a heap.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HeapConfig {
    /// Debugging checks that find heap bugs close to their cause: poisoning of freed memory,
    /// verification after every collection, and forced collections (a forced retryable
    /// [`Error::OutOfMemory`] every N allocations, which makes a correct embedder collect and
    /// retry). Off (`None`) by default; see [`crate::zeal`].
    pub zeal: Option<crate::zeal::Zeal>,
    /// The cycle collector: on or off, and the candidate-buffer size that triggers a cycle
    /// collection. On, with a threshold of
    /// [`crate::cycle_collector::DEFAULT_CYCLE_CANDIDATE_THRESHOLD`], by default; see
    /// [`crate::cycle_collector`] for the heap policy.
    pub cycles: crate::cycle_collector::CycleConfig,
}

/// One pending piece of release work.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReleaseWork {
    /// An object whose count reached zero: release its references, then free it.
    Object(u32),
    /// A reference array whose elements from `next` on are still to be released.
    ArrayTail { array: u32, next: u32 },
}

/// A deferred reference-counting heap over a caller-supplied region. `H` is the type of
/// externref host data.
pub struct Heap<H = Box<dyn core::any::Any + Send>> {
    pub(crate) free_list: FreeList,
    pub(crate) types: TypeRegistry,
    pub(crate) host_data: HostDataTable<H>,
    pub(crate) activations: Box<ActivationsTable>,
    pub(crate) no_gc_depth: u32,
    pub(crate) release_worklist: Vec<ReleaseWork>,
    pub(crate) counters: Counters,
    /// Size of the precise set at the end of the last collection (see
    /// [`Heap::collection_recommended`]).
    pub(crate) precise_roots_at_last_collection: usize,
    pub(crate) config: HeapConfig,
    /// What the zeal checks keep track of (see [`crate::zeal`]).
    pub(crate) zeal_state: crate::zeal::ZealState,
    /// The cycle collector's candidate buffer, scratch worklists and counters.
    pub(crate) cycles: crate::cycle_collector::CycleCollector,
    /// The identity the handles this heap hands out carry (new at every reset).
    pub(crate) id: HeapId,
    /// Declared last so that it drops last: an owned region is freed after the host data and
    /// everything else of the heap are gone.
    pub(crate) region: Region,
}

/// Removes one count from the object `raw` names in `region` (objects lie below `top`);
/// returns whether it reached zero. Nothing for null and i31 words. A count left above zero
/// makes the object a possible cycle root (`cycles` buffers it unless it is acyclic or
/// buffered already: a flag test).
#[inline]
pub(crate) fn decrement_count(
    region: &mut Region,
    free_list: &FreeList,
    cycles: &mut crate::cycle_collector::CycleCollector,
    raw: u32,
) -> Result<bool> {
    if raw == 0 || raw & 1 == 1 {
        return Ok(false);
    }
    if !free_list.is_allocated(raw) {
        return Err(Error::InvalidReference(raw));
    }
    let header = ObjectHeader::decode(region, raw)?;
    let count = header.ref_count.checked_sub(1).ok_or(Error::corrupted(raw, "released an object with a zero count"))?;
    region.write_u32(raw + REF_COUNT_OFFSET, count)?;
    if count != 0 {
        cycles.possible_root(region, raw, header.flags)?;
    }
    Ok(count == 0)
}

fn kind_error(expected: &'static str, found: Kind) -> Error {
    Error::WrongObjectKind { expected, found: found.name() }
}

impl<H> Heap<H> {
    /// A heap over a static byte array.
    ///
    /// The slice must be 16-byte aligned, a multiple of 16 long, and between
    /// [`crate::MIN_REGION_LEN`] and [`crate::MAX_REGION_LEN`] bytes.
    pub fn new(region: &'static mut [u8]) -> Result<Heap<H>> {
        Heap::with_config(region, HeapConfig::default())
    }

    /// A heap over a static byte array, with settings.
    pub fn with_config(region: &'static mut [u8], config: HeapConfig) -> Result<Heap<H>> {
        Ok(Heap::over(Region::from_static(region)?, config))
    }

    /// A heap over a region of `len` zeroed bytes that it allocates from the global allocator
    /// and frees when it is dropped (after the host data), for hosted programs that would
    /// otherwise leak a `'static` buffer.
    ///
    /// `len` is checked as [`Heap::new`] checks a slice's length, with the same errors in the
    /// same order: [`Error::RegionTooSmall`] below [`crate::MIN_REGION_LEN`],
    /// [`Error::RegionTooLarge`] above [`crate::MAX_REGION_LEN`], then
    /// [`Error::RegionMisaligned`] unless a multiple of [`crate::REGION_ALIGN`]. When the
    /// allocator cannot provide the bytes the error is [`Error::OutOfMemory`] with
    /// `requested: len`, not an abort. The region's base is aligned to
    /// [`crate::REGION_ALIGN`]. Such a heap cannot [`Heap::extend`] its region.
    ///
    /// ```
    /// let heap: drc_heap::Heap<()> = drc_heap::Heap::with_owned_region(1 << 16)?;
    /// assert_eq!(heap.region_len(), 1 << 16);
    /// # Ok::<(), drc_heap::Error>(())
    /// ```
    pub fn with_owned_region(len: usize) -> Result<Heap<H>> {
        Heap::with_owned_region_and_config(len, HeapConfig::default())
    }

    /// A heap over a region it allocates and frees (see [`Heap::with_owned_region`]), with
    /// settings.
    pub fn with_owned_region_and_config(len: usize, config: HeapConfig) -> Result<Heap<H>> {
        Ok(Heap::over(Region::owned(len)?, config))
    }

    /// A heap over `len` bytes at `base`, such as page-mapped memory.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes for the life of the heap, and
    /// nothing else may access that memory while the heap exists.
    pub unsafe fn from_raw_parts(base: *mut u8, len: usize, config: HeapConfig) -> Result<Heap<H>> {
        // SAFETY: forwarded from this function's contract.
        let region = unsafe { Region::from_raw_parts(base, len) }?;
        Ok(Heap::over(region, config))
    }

    fn over(region: Region, config: HeapConfig) -> Heap<H> {
        let cycles = config.cycles;
        Heap {
            region,
            free_list: FreeList::new(),
            types: TypeRegistry::new(),
            host_data: HostDataTable::new(),
            activations: Box::new(ActivationsTable::new()),
            no_gc_depth: 0,
            release_worklist: Vec::new(),
            counters: Counters::default(),
            precise_roots_at_last_collection: 0,
            config,
            zeal_state: crate::zeal::ZealState::default(),
            cycles: crate::cycle_collector::CycleCollector::new(cycles),
            id: HeapId::fresh(),
        }
    }

    /// Grows the heap by `additional` bytes that the caller has mapped right after the region.
    ///
    /// The new length is checked like a constructor's: [`Error::RegionTooLarge`] past
    /// [`crate::MAX_REGION_LEN`], then [`Error::RegionMisaligned`] unless `additional` is a
    /// multiple of [`crate::REGION_ALIGN`]. A heap that owns its region
    /// ([`Heap::with_owned_region`]) is refused with [`Error::OwnedRegionNotExtensible`]
    /// before anything else: the bytes after its allocation are not its to take. On an error
    /// nothing changes.
    ///
    /// # Safety
    /// Unless the heap owns its region (then the call is refused and touches nothing), the
    /// `additional` bytes following the region must be valid for reads and writes for the life
    /// of the heap, and nothing else may access them.
    pub unsafe fn extend(&mut self, additional: usize) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.region.extend(additional) }
    }

    /// The region's base address: object `r` starts at `base + r.as_raw_u32()`.
    pub fn region_base(&self) -> *mut u8 {
        self.region.base()
    }

    /// The region's length in bytes.
    pub fn region_len(&self) -> u32 {
        self.region.len()
    }

    /// The type registry.
    pub fn types(&self) -> &TypeRegistry {
        &self.types
    }

    /// Registers a struct type.
    pub fn register_struct(&mut self, ty: StructType) -> Result<TypeIndex> {
        self.types.register_struct(ty)
    }

    /// Registers an array type.
    pub fn register_array(&mut self, ty: ArrayType) -> Result<TypeIndex> {
        self.types.register_array(ty)
    }

    /// Registers a recursion group of struct and array types whose members name each other by
    /// position; see [`TypeRegistry::register_rec_group`].
    pub fn register_rec_group(&mut self, members: &[CompositeType]) -> Result<Vec<TypeIndex>> {
        self.types.register_rec_group(members)
    }

    // ---------------------------------------------------------------------------------------
    // Headers and counts.

    /// Reads and validates the header of the object at `index`: [`Error::InvalidReference`]
    /// unless an object starts there (the free list's start bitmap, in host memory, says so:
    /// a word pointing inside an object, at a fake header written into one, or at a freed
    /// block is refused before its bytes are read).
    #[inline]
    pub(crate) fn object(&self, index: u32) -> Result<ObjectHeader> {
        if !self.free_list.is_allocated(index) {
            return Err(Error::InvalidReference(index));
        }
        ObjectHeader::decode(&self.region, index)
    }

    /// This heap's identity, which the handles it hands out carry (see [`crate::gc_ref`]).
    /// A reset gives the heap a new one.
    pub fn id(&self) -> HeapId {
        self.id
    }

    /// The word of a handle, if it may be used with this heap: unbound (a raw word), or bound
    /// to this heap; else [`Error::ForeignReference`].
    #[inline]
    pub(crate) fn word(&self, r: &GcRef) -> Result<u32> {
        r.word_for(self.id)
    }

    /// [`Heap::word`] of an optional handle (0 for null).
    #[inline]
    pub(crate) fn word_of(&self, r: Option<&GcRef>) -> Result<u32> {
        match r {
            Some(r) => r.word_for(self.id),
            None => Ok(0),
        }
    }

    /// A handle to the object (or i31) `raw` names, bound to this heap; `None` for null.
    #[inline]
    pub(crate) fn handle(&self, raw: u32) -> Option<GcRef> {
        GcRef::bound(raw, self.id)
    }

    /// A handle to the object at `index` (never 0), bound to this heap.
    #[inline]
    pub(crate) fn object_handle(&self, index: u32) -> GcRef {
        GcRef::bound(index, self.id).unwrap_or_else(|| unreachable!("objects are never at 0"))
    }

    /// The object index of a reference, or an error for an i31 or a foreign handle.
    #[inline]
    pub(crate) fn object_index(&self, r: &GcRef, expected: &'static str) -> Result<u32> {
        let raw = self.word(r)?;
        if raw & 1 == 1 {
            return Err(Error::WrongObjectKind { expected, found: "i31" });
        }
        Ok(raw)
    }

    /// Adds one count to the object `raw` names (nothing for null and i31 words).
    #[inline]
    pub(crate) fn increment(&mut self, raw: u32) -> Result<()> {
        if raw == 0 || raw & 1 == 1 {
            return Ok(());
        }
        let header = self.object(raw)?;
        if header.ref_count == 0 {
            return Err(Error::corrupted(raw, "live reference to an object with a zero count"));
        }
        let count = header.ref_count.checked_add(1).ok_or(Error::RefCountOverflow)?;
        self.region.write_u32(raw + REF_COUNT_OFFSET, count)
    }

    /// Removes one count; returns whether it reached zero (the caller then frees the object).
    #[inline]
    pub(crate) fn decrement(&mut self, raw: u32) -> Result<bool> {
        decrement_count(&mut self.region, &self.free_list, &mut self.cycles, raw)
    }

    /// Releases one count of `raw`, freeing everything that becomes unreachable.
    #[inline]
    pub(crate) fn release(&mut self, raw: u32) -> Result<()> {
        if self.decrement(raw)? {
            // The object is dead: free it at once (no trip through the worklist), then whatever
            // it held that died with it. Its header is read again rather than handed back by
            // the decrement: a header returned through memory in parts stalls store forwarding
            // when it is read back whole, which costs more than the (cached) second read.
            let header = self.object(raw)?;
            self.release_dead(raw, header)?;
            if !self.release_worklist.is_empty() {
                self.drain_release_worklist()?;
            }
        }
        Ok(())
    }

    /// Frees the dead object `index` (count zero, `header` read from the region): releases the
    /// references it holds (children whose count reaches zero go on the worklist; a reference
    /// array goes there as a tail to walk in chunks) and returns its block.
    ///
    /// A struct goes on at once with the last of its children that died (whose header the
    /// decrement just read), so a chain or the spine of a tree is freed without a trip through
    /// the worklist per object.
    #[inline]
    fn release_dead(&mut self, mut index: u32, mut header: ObjectHeader) -> Result<()> {
        loop {
            match header.kind {
                Kind::STRUCT => {
                    let Heap { region, types, free_list, release_worklist, cycles, .. } = self;
                    let (_, layout) = types.struct_layout(TypeIndex(header.type_index))?;
                    // The size the block would be freed with is checked before anything is
                    // released (see `free_object`).
                    if FreeList::block_size(layout.size) != Some(header.size) {
                        return Err(Error::corrupted(index, "object block size disagrees with its kind and type"));
                    }
                    let mut next = None;
                    for &offset in &layout.reference_offsets {
                        let child = region.read_u32(index + offset)?;
                        if decrement_count(region, free_list, cycles, child)? {
                            if let Some(earlier) = next.replace(child) {
                                release_worklist.push(ReleaseWork::Object(earlier));
                            }
                        }
                    }
                    self.free_block(index, header)?;
                    // The child's header is in the cache: reading it again costs less than
                    // carrying it (a header copied through the stack stalls store forwarding).
                    match next {
                        Some(child) => (index, header) = (child, self.object(child)?),
                        None => return Ok(()),
                    }
                }
                Kind::ARRAY => {
                    self.release_worklist.push(ReleaseWork::ArrayTail { array: index, next: 0 });
                    return Ok(());
                }
                _ => {
                    self.check_block_size(index, &header)?;
                    let id = self.region.read_u32(index + EXTERNREF_HOST_DATA_OFFSET)?;
                    let data = self.host_data.take(id)?;
                    self.free_block(index, header)?;
                    drop(data);
                    return Ok(());
                }
            }
        }
    }

    /// Runs the release worklist until it is empty.
    pub(crate) fn drain_release_worklist(&mut self) -> Result<()> {
        while let Some(work) = self.release_worklist.pop() {
            match work {
                ReleaseWork::Object(index) => {
                    let header = self.object(index)?;
                    self.release_dead(index, header)?;
                }
                ReleaseWork::ArrayTail { array, next } => {
                    let header = self.object(array)?;
                    let (layout, len) = self.array_layout_of(array, &header)?;
                    if layout.elements_are_refs && next < len {
                        let end = len.min(next.saturating_add(RELEASE_CHUNK));
                        if end < len {
                            self.release_worklist.push(ReleaseWork::ArrayTail { array, next: end });
                        }
                        for i in next..end {
                            let child = self.region.read_u32(array + layout.element_offset(i))?;
                            if self.decrement(child)? {
                                self.release_worklist.push(ReleaseWork::Object(child));
                            }
                        }
                        if end < len {
                            continue;
                        }
                    }
                    // `array_layout_of` checked the block size against the length.
                    self.free_block(array, header)?;
                }
            }
        }
        Ok(())
    }

    /// Returns a dead object's block to the free list (taking it out of the cycle collector's
    /// buffer first if it is there).
    ///
    /// The block size comes from the header, in the region: it is checked against what the
    /// object's kind and type say first (an externref's fixed size, a struct's layout, an
    /// array's length), so that a corrupted size never frees memory the object does not own;
    /// then nothing is freed and the error is [`Error::Corrupted`].
    pub(crate) fn free_object(&mut self, index: u32, header: ObjectHeader) -> Result<()> {
        self.check_block_size(index, &header)?;
        self.free_block(index, header)
    }

    /// [`Heap::free_object`] for a caller that has checked the block size.
    #[inline]
    fn free_block(&mut self, index: u32, header: ObjectHeader) -> Result<()> {
        if header.flags.contains(HeaderFlags::BUFFERED) {
            self.cycles.remove(&mut self.region, index)?;
        }
        self.counters.objects_freed += 1;
        self.counters.live_objects = self
            .counters
            .live_objects
            .checked_sub(1)
            .ok_or(Error::corrupted(index, "freed more objects than were allocated"))?;
        self.counters.live_bytes = self.counters.live_bytes.saturating_sub(header.size as u64);
        let last = self.counters.live_objects == 0;
        self.zeal_poison_freed(index, header.size, last)?;
        if last {
            // Nothing is left: the whole region is one free block again, in O(1).
            self.free_list.reset();
            return Ok(());
        }
        self.free_list.free(&mut self.region, index, header.size)
    }

    /// Checks the block size in the header of the object at `index` against its kind and type.
    #[inline]
    fn check_block_size(&self, index: u32, header: &ObjectHeader) -> Result<()> {
        let object_size = match header.kind {
            Kind::STRUCT => match self.types.struct_layout(TypeIndex(header.type_index)) {
                Ok((_, layout)) => layout.size,
                Err(_) => return Err(Error::corrupted(index, "struct type index is not a registered struct type")),
            },
            Kind::ARRAY => return self.array_layout_of(index, header).map(|_| ()),
            _ => EXTERNREF_SIZE,
        };
        if FreeList::block_size(object_size) == Some(header.size) {
            Ok(())
        } else {
            Err(Error::corrupted(index, "object block size disagrees with its kind and type"))
        }
    }

    // ---------------------------------------------------------------------------------------
    // Owned references.

    /// A second owned reference to the same object (one more count).
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
        match self.word(r)? {
            raw if raw & 1 == 1 => Ok(0),
            index => Ok(self.object(index)?.ref_count),
        }
    }

    /// The kind of the object `r` names; `None` for an i31.
    pub fn kind_of(&self, r: &GcRef) -> Result<Option<Kind>> {
        match self.word(r)? {
            raw if raw & 1 == 1 => Ok(None),
            index => Ok(Some(self.object(index)?.kind)),
        }
    }

    /// The registered type of the struct or array `r` names.
    pub fn type_of(&self, r: &GcRef) -> Result<Option<TypeIndex>> {
        match self.word(r)? {
            raw if raw & 1 == 1 => Ok(None),
            index => {
                let header = self.object(index)?;
                Ok((header.kind != Kind::EXTERN).then_some(TypeIndex(header.type_index)))
            }
        }
    }

    /// Whether the reference (or null) is a value of `ref_type` (Wasm's `ref.test`). `extern`
    /// and `any` accept every non-null reference (see [`HeapType`]).
    pub fn matches(&self, r: Option<&GcRef>, ref_type: RefType) -> Result<bool> {
        if let HeapType::RecGroupMember(member) = ref_type.heap_type {
            return Err(Error::RecGroupMemberOutOfBounds { member, available: 0 });
        }
        match self.check_ref_type(self.word_of(r)?, ref_type) {
            Ok(()) => Ok(true),
            Err(Error::TypeMismatch { .. } | Error::NullReference) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Whether an object with this header (`None`: an i31 value) is a value of `heap_type`.
    #[inline]
    fn heap_type_accepts(&self, object: Option<&ObjectHeader>, heap_type: HeapType) -> bool {
        let Some(header) = object else {
            return matches!(heap_type, HeapType::Extern | HeapType::Any | HeapType::Eq | HeapType::I31);
        };
        match heap_type {
            // `extern.convert_any` and `any.convert_extern` keep the word: both tops hold anything.
            HeapType::Extern | HeapType::Any => true,
            HeapType::Eq => header.kind.matches(Kind::EQ),
            HeapType::Struct => header.kind == Kind::STRUCT,
            HeapType::Array => header.kind == Kind::ARRAY,
            // Registered types hold no group-relative reference; `matches` refuses one.
            HeapType::I31 | HeapType::None | HeapType::NoExtern | HeapType::RecGroupMember(_) => false,
            HeapType::Concrete(target) => {
                header.kind != Kind::EXTERN && self.types.is_subtype(TypeIndex(header.type_index), target)
            }
        }
    }

    /// Checks that the word `raw` may be stored where `ref_type` is expected.
    #[inline]
    pub(crate) fn check_ref_type(&self, raw: u32, ref_type: RefType) -> Result<()> {
        let header = match raw {
            0 => return if ref_type.nullable { Ok(()) } else { Err(Error::NullReference) },
            _ if raw & 1 == 1 => None,
            _ => Some(self.object(raw)?),
        };
        if self.heap_type_accepts(header.as_ref(), ref_type.heap_type) {
            Ok(())
        } else {
            Err(Error::TypeMismatch {
                expected: "a reference of the field's type",
                found: "a reference of another type",
            })
        }
    }

    /// Checks that `raw` may be stored where `ref_type` is expected and takes `n` counts on it,
    /// reading its header once (the barrier's fast path). With `ref_type` `None` (the caller
    /// proved the type) only the word is validated: null, an i31, or the start of a live object
    /// whose count is not zero.
    #[inline]
    pub(crate) fn retain_as(&mut self, raw: u32, ref_type: Option<RefType>, n: u32) -> Result<()> {
        if raw == 0 || raw & 1 == 1 {
            return ref_type.map_or(Ok(()), |ref_type| self.check_ref_type(raw, ref_type));
        }
        let header = self.object(raw)?;
        if ref_type.is_some_and(|ref_type| !self.heap_type_accepts(Some(&header), ref_type.heap_type)) {
            return Err(Error::TypeMismatch {
                expected: "a reference of the field's type",
                found: "a reference of another type",
            });
        }
        if header.ref_count == 0 {
            return Err(Error::corrupted(raw, "live reference to an object with a zero count"));
        }
        let count = header.ref_count.checked_add(n).ok_or(Error::RefCountOverflow)?;
        self.region.write_u32(raw + REF_COUNT_OFFSET, count)
    }

    // ---------------------------------------------------------------------------------------
    // Allocation.

    /// Allocates a block for an object of `size` bytes and writes its header (count 1).
    #[inline]
    pub(crate) fn alloc_object(&mut self, kind: Kind, type_index: u32, size: u32, flags: HeaderFlags) -> Result<u32> {
        let block = FreeList::block_size(size)
            .filter(|&block| block <= MAX_OBJECT_SIZE && block <= self.region.len() - HEADER_SIZE)
            .ok_or(Error::AllocationTooLarge {
                requested: size as usize,
                max: (self.region.len() - HEADER_SIZE) as usize,
            })?;
        self.zeal_before_alloc(block)?;
        self.collect_cycles_if_due()?;
        let index = match self.free_list.alloc(&mut self.region, block)? {
            Some(index) => index,
            None => self.alloc_slow(block)?,
        };
        self.zeal_after_alloc(index, block)?;
        ObjectHeader::new(kind, type_index, block, flags).encode(&mut self.region, index)?;
        self.counters.objects_allocated += 1;
        self.counters.live_objects += 1;
        self.counters.live_bytes += block as u64;
        self.counters.peak_live_bytes = self.counters.peak_live_bytes.max(self.counters.live_bytes);
        self.counters.peak_used_bytes = self.counters.peak_used_bytes.max(self.free_list.top() as u64);
        Ok(index)
    }

    #[cold]
    fn alloc_slow(&mut self, block: u32) -> Result<u32> {
        self.free_list.coalesce(&mut self.region)?;
        self.counters.coalesces += 1;
        if let Some(index) = self.free_list.alloc(&mut self.region, block)? {
            return Ok(index);
        }
        // Garbage cycles may hold the memory: collect them before reporting out of memory.
        match self.alloc_after_collecting_cycles(block)? {
            Some(index) => Ok(index),
            None => Err(Error::OutOfMemory { requested: block as usize }),
        }
    }

    /// Zeroes the bytes of a fresh object after its header.
    #[inline]
    pub(crate) fn zero_body(&mut self, index: u32, size: u32) -> Result<()> {
        let body = size - HEADER_SIZE;
        if body <= 3 * HEADER_SIZE {
            // Small objects (most of them): a few 16-byte stores rather than a call to memset.
            let mut at = index + HEADER_SIZE;
            while at < index + size {
                self.region.write(at, [0u8; 16])?;
                at += 16;
            }
            return Ok(());
        }
        self.region.fill(index + HEADER_SIZE, body, 0)
    }

    /// Allocates an externref holding `data`. On failure the data is handed back with the error.
    pub fn alloc_externref(&mut self, data: H) -> core::result::Result<GcRef, (Error, H)> {
        let index = match self.alloc_object(Kind::EXTERN, 0, EXTERNREF_SIZE, HeaderFlags::ACYCLIC) {
            Ok(index) => index,
            Err(error) => return Err((error, data)),
        };
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

    fn externref_id(&self, r: &GcRef) -> Result<u32> {
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

    #[inline]
    pub(crate) fn new_object_flags(&self, ty: TypeIndex) -> Result<HeaderFlags> {
        Ok(if self.types.is_acyclic(ty)? { HeaderFlags::ACYCLIC } else { HeaderFlags::empty() })
    }

    /// Allocates a struct of type `ty` with every field zero or null (Wasm's
    /// `struct.new_default`): [`Error::NotDefaultable`] for a type with a non-nullable
    /// reference field.
    pub fn struct_new_default(&mut self, ty: TypeIndex) -> Result<GcRef> {
        self.types.struct_layout(ty)?;
        if !self.types.is_defaultable(ty)? {
            return Err(Error::NotDefaultable { type_index: ty.0 });
        }
        self.struct_alloc(ty)
    }

    /// Allocates a struct of type `ty` with every field zero or null, whatever its field types
    /// (the caller checks and writes the fields).
    pub(crate) fn struct_alloc(&mut self, ty: TypeIndex) -> Result<GcRef> {
        let size = self.types.struct_layout(ty)?.1.size;
        let flags = self.new_object_flags(ty)?;
        let index = self.alloc_object(Kind::STRUCT, ty.0, size, flags)?;
        self.zero_body(index, FreeList::block_size(size).unwrap_or(size))?;
        Ok(self.object_handle(index))
    }

    /// Allocates a struct of type `ty` with the given field values (one per field, in field
    /// order). References are borrowed: the struct takes its own counts.
    pub fn struct_new(&mut self, ty: TypeIndex, fields: &[ValueRef<'_>]) -> Result<GcRef> {
        self.struct_new_operands(ty, fields, Operands::Checked)
    }

    /// [`Heap::struct_new`], checking the reference operands' types or not (`operands`).
    pub(crate) fn struct_new_operands(
        &mut self,
        ty: TypeIndex,
        fields: &[ValueRef<'_>],
        operands: Operands,
    ) -> Result<GcRef> {
        let field_count = self.types.struct_layout(ty)?.0.fields.len();
        if field_count != fields.len() {
            return Err(Error::FieldCountMismatch { expected: field_count as u32, found: fields.len() as u32 });
        }
        // Type-check every value and take the counts of references in one pass (one header read
        // per reference); if anything fails, give back the counts taken so far.
        for (field, &value) in fields.iter().enumerate() {
            let storage = self.types.struct_layout(ty)?.0.fields[field];
            let checked = match (storage, value) {
                (StorageType::Ref(ref_type), ValueRef::Ref(r)) => {
                    self.word_of(r).and_then(|raw| self.retain_as(raw, operands.check(ref_type), 1))
                }
                _ if value.matches_storage(storage) => Ok(()),
                _ => Err(Error::TypeMismatch { expected: storage.name(), found: value.type_name() }),
            };
            if let Err(error) = checked {
                self.release_field_refs(&fields[..field])?;
                return Err(error);
            }
        }
        let object = match self.struct_alloc(ty) {
            Ok(object) => object,
            Err(error) => {
                self.release_field_refs(fields)?;
                return Err(error);
            }
        };
        let index = object.as_raw_u32();
        for (field, &value) in fields.iter().enumerate() {
            let (struct_type, layout) = self.types.struct_layout(ty)?;
            let (storage, offset) = (struct_type.fields[field], index + layout.field_offsets[field]);
            match value {
                // The field is still zero, so there is no old value to release.
                // (The word was checked by `word_of` above.)
                ValueRef::Ref(r) => self.region.write_u32(offset, r.map_or(0, GcRef::as_raw_u32))?,
                _ => write_scalar(&mut self.region, offset, storage, value)?,
            }
        }
        Ok(object)
    }

    /// Gives back the counts [`Heap::struct_new`] took on the references among `values`.
    fn release_field_refs(&mut self, values: &[ValueRef<'_>]) -> Result<()> {
        for value in values {
            if let ValueRef::Ref(r) = value {
                // Only values whose counts were taken, so their words were checked.
                self.release(r.map_or(0, GcRef::as_raw_u32))?;
            }
        }
        Ok(())
    }

    /// Checks that `value` may be written where `storage` is.
    fn check_storage(&self, storage: StorageType, value: ValueRef<'_>) -> Result<()> {
        match (storage, value) {
            (StorageType::Ref(ref_type), ValueRef::Ref(r)) => self.check_ref_type(self.word_of(r)?, ref_type),
            // Scalars: the value's variant must be the storage type's (names are one-to-one).
            _ if storage.name() == value.type_name() && !storage.is_ref() => Ok(()),
            _ => Err(Error::TypeMismatch { expected: storage.name(), found: value.type_name() }),
        }
    }

    /// The offset and storage type of field `field` of struct `r`.
    pub(crate) fn struct_field(&self, r: &GcRef, field: u32) -> Result<(u32, StorageType)> {
        let index = self.object_index(r, "struct")?;
        let header = self.object(index)?;
        if header.kind != Kind::STRUCT {
            return Err(kind_error("struct", header.kind));
        }
        let (ty, layout) = self.types.struct_layout(TypeIndex(header.type_index))?;
        if FreeList::block_size(layout.size) != Some(header.size) {
            return Err(Error::corrupted(index, "struct size disagrees with its type"));
        }
        let storage =
            *ty.fields.get(field as usize).ok_or(Error::FieldOutOfBounds { field, fields: ty.fields.len() as u32 })?;
        Ok((index + layout.field_offsets[field as usize], storage))
    }

    /// Reads a struct field. A reference comes with a new count.
    pub fn struct_get(&mut self, r: &GcRef, field: u32) -> Result<Value> {
        let (offset, storage) = self.struct_field(r, field)?;
        self.read_value(offset, storage)
    }

    /// Writes a struct field through the write barrier.
    pub fn struct_set(&mut self, r: &GcRef, field: u32, value: ValueRef<'_>) -> Result<()> {
        let (offset, storage) = self.struct_field(r, field)?;
        self.write_value(offset, storage, value)
    }

    fn read_value(&mut self, offset: u32, storage: StorageType) -> Result<Value> {
        match read_scalar(&self.region, offset, storage)? {
            Ok(value) => Ok(value),
            Err(raw) => Ok(Value::Ref(self.retain_raw(raw)?)),
        }
    }

    fn write_value(&mut self, offset: u32, storage: StorageType, value: ValueRef<'_>) -> Result<()> {
        match (storage, value) {
            (StorageType::Ref(ref_type), ValueRef::Ref(r)) => {
                let new = self.word_of(r)?;
                self.retain_as(new, Some(ref_type), 1)?;
                let old = self.region.read_u32(offset)?;
                self.region.write_u32(offset, new)?;
                self.release(old)
            }
            _ => write_scalar(&mut self.region, offset, storage, value),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Arrays.

    /// The layout and length of the array at `index` (whose header was just read), validated
    /// against its block size.
    pub(crate) fn array_layout_of(&self, index: u32, header: &ObjectHeader) -> Result<(ArrayLayout, u32)> {
        let (_, layout) = self.types.array_layout(TypeIndex(header.type_index))?;
        let len = self.region.read_u32(index + ARRAY_LENGTH_OFFSET)?;
        match layout.size(len).and_then(FreeList::block_size) {
            Some(block) if block == header.size => Ok((*layout, len)),
            _ => Err(Error::corrupted(index, "array length disagrees with its block size")),
        }
    }

    /// Index, layout, element type and length of the array `r`.
    pub(crate) fn array_info(&self, r: &GcRef) -> Result<(u32, ArrayLayout, StorageType, u32)> {
        let index = self.object_index(r, "array")?;
        let header = self.object(index)?;
        if header.kind != Kind::ARRAY {
            return Err(kind_error("array", header.kind));
        }
        let (layout, len) = self.array_layout_of(index, &header)?;
        let element = self.types.array_layout(TypeIndex(header.type_index))?.0.element;
        Ok((index, layout, element, len))
    }

    pub(crate) fn check_range(index: u32, count: u32, len: u32) -> Result<()> {
        if index as u64 + count as u64 > len as u64 {
            Err(Error::IndexOutOfBounds { index, count, len })
        } else {
            Ok(())
        }
    }

    /// Allocates an array of `len` elements, each a copy of `init`.
    pub fn array_new(&mut self, ty: TypeIndex, len: u32, init: ValueRef<'_>) -> Result<GcRef> {
        self.array_new_operands(ty, len, init, Operands::Checked)
    }

    /// [`Heap::array_new`], checking the reference operand's type or not (`operands`).
    pub(crate) fn array_new_operands(
        &mut self,
        ty: TypeIndex,
        len: u32,
        init: ValueRef<'_>,
        operands: Operands,
    ) -> Result<GcRef> {
        let element = self.types.array_layout(ty)?.0.element;
        self.check_operand(element, init, operands)?;
        let array = self.array_alloc(ty, len)?;
        if !matches!(init, ValueRef::Ref(None)) && len > 0 {
            // Checked above: the fill only validates the word and takes the counts.
            self.fill(&array, 0, init, len, Operands::Proved)?;
        }
        Ok(array)
    }

    /// Checks that `value` may be written where `storage` is; a reference's type only when
    /// `operands` says so (its word is validated when its count is taken).
    fn check_operand(&self, storage: StorageType, value: ValueRef<'_>, operands: Operands) -> Result<()> {
        match (operands, value) {
            (Operands::Checked, _) => self.check_storage(storage, value),
            (Operands::Proved, _) if !value.matches_storage(storage) => {
                Err(Error::TypeMismatch { expected: storage.name(), found: value.type_name() })
            }
            // The word is validated before anything is allocated.
            (Operands::Proved, ValueRef::Ref(Some(r))) if !r.is_i31() => self.object(r.as_raw_u32()).map(|_| ()),
            (Operands::Proved, _) => Ok(()),
        }
    }

    /// Allocates an array of `len` zero or null elements (Wasm's `array.new_default`):
    /// [`Error::NotDefaultable`] for a type with non-nullable reference elements.
    pub fn array_new_default(&mut self, ty: TypeIndex, len: u32) -> Result<GcRef> {
        self.types.array_layout(ty)?;
        if !self.types.is_defaultable(ty)? {
            return Err(Error::NotDefaultable { type_index: ty.0 });
        }
        self.array_alloc(ty, len)
    }

    /// Allocates an array of `len` zero or null elements, whatever its element type (the
    /// caller checks and writes the elements).
    pub(crate) fn array_alloc(&mut self, ty: TypeIndex, len: u32) -> Result<GcRef> {
        let layout = *self.types.array_layout(ty)?.1;
        let size = layout.size(len).ok_or(Error::AllocationTooLarge {
            requested: (layout.elements_offset as usize)
                .saturating_add((len as usize).saturating_mul(layout.element_size as usize)),
            max: MAX_OBJECT_SIZE as usize,
        })?;
        let flags = self.new_object_flags(ty)?;
        let index = self.alloc_object(Kind::ARRAY, ty.0, size, flags)?;
        let block = FreeList::block_size(size).unwrap_or(size);
        self.zero_body(index, block)?;
        self.region.write_u32(index + ARRAY_LENGTH_OFFSET, len)?;
        Ok(self.object_handle(index))
    }

    /// Allocates an array holding copies of `elements`.
    pub fn array_new_fixed(&mut self, ty: TypeIndex, elements: &[ValueRef<'_>]) -> Result<GcRef> {
        self.array_new_fixed_operands(ty, elements, Operands::Checked)
    }

    /// [`Heap::array_new_fixed`], checking the reference operands' types or not (`operands`).
    pub(crate) fn array_new_fixed_operands(
        &mut self,
        ty: TypeIndex,
        elements: &[ValueRef<'_>],
        operands: Operands,
    ) -> Result<GcRef> {
        let element = self.types.array_layout(ty)?.0.element;
        let len = u32::try_from(elements.len())
            .map_err(|_| Error::AllocationTooLarge { requested: usize::MAX, max: MAX_OBJECT_SIZE as usize })?;
        // As `struct_new`: check every value and take the counts of references in one pass (one
        // header read per reference), giving them back if anything fails.
        for (i, &value) in elements.iter().enumerate() {
            let checked = match (element, value) {
                (StorageType::Ref(ref_type), ValueRef::Ref(r)) => {
                    self.word_of(r).and_then(|raw| self.retain_as(raw, operands.check(ref_type), 1))
                }
                _ if value.matches_storage(element) => Ok(()),
                _ => Err(Error::TypeMismatch { expected: element.name(), found: value.type_name() }),
            };
            if let Err(error) = checked {
                self.release_field_refs(&elements[..i])?;
                return Err(error);
            }
        }
        // Not `array_new` with a default value: null is not one for non-nullable elements.
        let array = match self.array_alloc(ty, len) {
            Ok(array) => array,
            Err(error) => {
                self.release_field_refs(elements)?;
                return Err(error);
            }
        };
        let (index, layout) = (array.as_raw_u32(), *self.types.array_layout(ty)?.1);
        for (i, &value) in elements.iter().enumerate() {
            let offset = index + layout.element_offset(i as u32);
            match value {
                // The element is still null, so there is no old value to release (and the word
                // was checked by `word_of` above).
                ValueRef::Ref(r) => self.region.write_u32(offset, r.map_or(0, GcRef::as_raw_u32))?,
                _ => write_scalar(&mut self.region, offset, element, value)?,
            }
        }
        Ok(array)
    }

    /// The length of the array `r`.
    pub fn array_len(&self, r: &GcRef) -> Result<u32> {
        Ok(self.array_info(r)?.3)
    }

    /// Reads element `i`. A reference comes with a new count.
    pub fn array_get(&mut self, r: &GcRef, i: u32) -> Result<Value> {
        let (index, layout, element, len) = self.array_info(r)?;
        Heap::<H>::check_range(i, 1, len)?;
        self.read_value(index + layout.element_offset(i), element)
    }

    /// Writes element `i` through the write barrier.
    pub fn array_set(&mut self, r: &GcRef, i: u32, value: ValueRef<'_>) -> Result<()> {
        let (index, layout, element, len) = self.array_info(r)?;
        Heap::<H>::check_range(i, 1, len)?;
        self.write_value(index + layout.element_offset(i), element, value)
    }

    /// Writes `value` to elements `start..start + count` (Wasm's `array.fill`).
    pub fn array_fill(&mut self, r: &GcRef, start: u32, value: ValueRef<'_>, count: u32) -> Result<()> {
        self.fill(r, start, value, count, Operands::Checked)
    }

    /// [`Heap::array_fill`], checking a reference's type or not (`operands`).
    fn fill(&mut self, r: &GcRef, start: u32, value: ValueRef<'_>, count: u32, operands: Operands) -> Result<()> {
        let (index, layout, element, len) = self.array_info(r)?;
        Heap::<H>::check_range(start, count, len)?;
        if let (StorageType::Ref(ref_type), ValueRef::Ref(new)) = (element, value) {
            let new = self.word_of(new)?;
            self.retain_as(new, operands.check(ref_type), count)?;
            for i in start..start + count {
                let offset = index + layout.element_offset(i);
                let old = self.region.read_u32(offset)?;
                self.region.write_u32(offset, new)?;
                self.release(old)?;
            }
            return Ok(());
        }
        if count == 0 {
            return self.check_storage(element, value);
        }
        let first = index + layout.element_offset(start);
        write_scalar(&mut self.region, first, element, value)?;
        // Double the filled run with each copy: O(log count) copies, not one per element.
        let size = layout.element_size;
        let mut filled = 1;
        while filled < count {
            let n = filled.min(count - filled);
            self.region.copy_within(first, first + filled * size, n * size)?;
            filled += n;
        }
        Ok(())
    }

    /// Copies `count` elements from `source[source_start..]` to `destination[destination_start..]`
    /// (Wasm's `array.copy`; the ranges may overlap when both are the same array).
    pub fn array_copy(
        &mut self,
        destination: &GcRef,
        destination_start: u32,
        source: &GcRef,
        source_start: u32,
        count: u32,
    ) -> Result<()> {
        let (dst, dst_layout, dst_element, dst_len) = self.array_info(destination)?;
        let (src, src_layout, src_element, src_len) = self.array_info(source)?;
        Heap::<H>::check_range(destination_start, count, dst_len)?;
        Heap::<H>::check_range(source_start, count, src_len)?;
        // Scalars need the same storage type (Wasm's rule: i32 bits do not go in an f32 array);
        // references are checked element by element below when the types differ.
        if dst_element.is_ref() != src_element.is_ref() || (!dst_element.is_ref() && dst_element != src_element) {
            return Err(Error::TypeMismatch { expected: dst_element.name(), found: src_element.name() });
        }
        if !dst_element.is_ref() {
            let size = dst_layout.element_size;
            return self.region.copy_within(
                src + src_layout.element_offset(source_start),
                dst + dst_layout.element_offset(destination_start),
                count * size,
            );
        }
        let StorageType::Ref(ref_type) = dst_element else { unreachable!("checked above") };
        // Copy element by element in the direction that reads each source element before it
        // can be overwritten, taking the new count before releasing the old.
        let backwards = dst == src && destination_start > source_start;
        for step in 0..count {
            let i = if backwards { count - 1 - step } else { step };
            let new = self.region.read_u32(src + src_layout.element_offset(source_start + i))?;
            if dst_element != src_element {
                self.check_ref_type(new, ref_type)?;
            }
            self.increment(new)?;
            let offset = dst + dst_layout.element_offset(destination_start + i);
            let old = self.region.read_u32(offset)?;
            self.region.write_u32(offset, new)?;
            self.release(old)?;
        }
        Ok(())
    }

    /// The bytes of the object `r` names, header included (a typed view for embedders that read
    /// object data directly). Writing references behind the heap's back would break counts, so
    /// the view is read-only.
    pub fn object_bytes(&self, r: &GcRef) -> Result<&[u8]> {
        let index = self.object_index(r, "a heap object")?;
        let header = self.object(index)?;
        self.region.slice(index, header.size, "object out of region bounds")
    }

    // ---------------------------------------------------------------------------------------
    // No-GC scopes and the Wasm boundary.

    /// Enters a scope in which collecting is an error. Scopes nest.
    pub fn enter_no_gc_scope(&mut self) {
        self.no_gc_depth += 1;
    }

    /// Leaves the innermost no-GC scope.
    pub fn exit_no_gc_scope(&mut self) -> Result<()> {
        self.no_gc_depth = self.no_gc_depth.checked_sub(1).ok_or(Error::NotInNoGcScope)?;
        Ok(())
    }

    /// Whether a no-GC scope is open.
    pub fn in_no_gc_scope(&self) -> bool {
        self.no_gc_depth > 0
    }

    /// Moves an owned reference into the activations table before handing its word to Wasm.
    /// The table keeps the reference alive until a collection finds it off the Wasm stack.
    pub fn expose_gc_ref_to_wasm(&mut self, r: GcRef) -> Result<()> {
        let raw = self.word(&r)?;
        if r.is_i31() {
            return Ok(());
        }
        // Only the start of a live object goes in the table (no header read: a bitmap test).
        if !self.free_list.is_allocated(raw) {
            return Err(Error::InvalidReference(raw));
        }
        if let Some(duplicate) = self.activations.insert(raw) {
            self.release(duplicate)?;
        }
        Ok(())
    }

    /// Whether exposing `count` more references would overflow the bump chunk, so that the
    /// embedder should collect before entering Wasm.
    pub fn need_gc_before_entering_wasm(&self, count: usize) -> bool {
        count > self.activations.bump_capacity_remaining()
    }

    /// The activations table's address, for JIT code (see [`crate::activations_table`]).
    pub fn activations_table_ptr(&mut self) -> *mut ActivationsTable {
        &mut *self.activations
    }

    /// Number of entries in the activations table (bump chunk and over-approximated set).
    pub fn activations_table_len(&self) -> usize {
        self.activations.len()
    }

    // ---------------------------------------------------------------------------------------
    // Whole-heap operations.

    /// Merges adjacent free blocks now (it also happens on its own when an allocation finds no
    /// block, and at the end of collections).
    pub fn coalesce(&mut self) -> Result<()> {
        self.counters.coalesces += 1;
        self.free_list.coalesce(&mut self.region)
    }

    /// Returns the heap to empty: every object is gone, every host data value is dropped, the
    /// activations table is cleared, and the no-GC scope depth is zero. Types stay registered,
    /// owned `GcRef`s from before are stale (using them gives an error, never undefined
    /// behaviour).
    pub fn reset(&mut self) {
        // Handles from before are refused as foreign from now on, even where a new object
        // comes to lie at the same offset.
        self.id = HeapId::fresh();
        self.zeal_poison_before_reset();
        self.free_list.reset();
        self.host_data.clear();
        *self.activations = ActivationsTable::new();
        self.no_gc_depth = 0;
        self.release_worklist.clear();
        self.counters.live_objects = 0;
        self.counters.live_bytes = 0;
        self.precise_roots_at_last_collection = 0;
        self.cycles.reset();
    }
}
