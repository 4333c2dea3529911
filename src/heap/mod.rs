//! The heap: objects in the region, their reference counts, and typed access to them.
//!
//! [`Heap`] ties the parts together: the `region` it lives in, the
//! [`crate::free_list`] that hands out blocks, the [`crate::types`] registry that lays objects
//! out, the `host_data` of externrefs, and the [`crate::activations_table`] shared with
//! JIT code. Its fields are private to this folder; every file below is one part of `Heap`'s
//! `impl`, and every other module reaches the heap through its methods:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the [`HeapIn`] type (and its `'static` alias [`Heap`]), its fields and their invariants, constructors, the region, the type registry, handles and words, no-GC scopes, the activations table's entry point, reset |
//! | `config.rs` | [`HeapConfig`] and all its builders |
//! | `object.rs` | the object model: a word decoded (null, i31, object), a header's layout validated against its block size, the one enumeration of an object's reference slots (chunked for big arrays) |
//! | `counts.rs` | allocation, increments and decrements, release of dead objects through the worklist, owned references, externrefs |
//! | `access.rs` | the generic struct and array API ([`Heap::struct_new`], [`Heap::array_get`], ...), reference type checks |
//! | `fast_paths.rs` | owned references moved in, references borrowed out ([`BorrowedRef`]), views validated once ([`StructView`], [`ArrayView`], [`ScalarArrayMut`]) |
//! | `typed.rs` | the typed scalar accessors (`struct_get_<t>`, `array_get_<t>`, the views' `get_<t>` and `set_<t>`), one per scalar storage type, generated from one list |
//! | `retry.rs` | [`Heap::allocate_with_roots`]: the embedder's collect-and-retry duties in one call, over a [`RootSource`] |
//! | `wasm_slots.rs` | [`crate::wasm_slots`]: the Wasm boundary in operand-stack slots and raw words |
//! | `collection.rs` | the heap's side of [`crate::collector`]: trace a Wasm-stack word, sweep the activations table |
//! | `cycles.rs` | the walk of [`crate::cycle_collector`]: trial deletion over the heap's memory |
//! | `verify.rs`, `stats.rs`, `zeal.rs` | the heap's side of [`crate::verify`], [`crate::stats`] and [`crate::zeal`] |
//!
//! The modules whose heap side lives here ([`crate::cycle_collector`], [`crate::stats`],
//! [`crate::verify`], [`crate::zeal`]) own their types with private fields (the candidate
//! buffer, the counters, the zeal state) and import nothing of the heap; the heap reaches them
//! through narrow methods (a decrement that leaves a count above zero calls
//! `CycleCollector::possible_root`, a freed buffered object `CycleCollector::remove`).
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
//! [`Error::Corrupted`] or [`Error::InvalidReference`], never an access outside the region. An
//! increment reads only what it trusts (`ObjectHeader::decode_count`: the kind, the flags and
//! the count, not the block size, which whatever uses it validates). A
//! word is an object only if the object bits of the free list's host-side bitmap (exact) say an object
//! starts there, so a word inside an object or at a freed block is [`Error::InvalidReference`]
//! (for a host handle used after its last count was dropped, that is the misuse it names). A
//! dead object's block size is checked against its kind and type before it is freed.

mod access;
mod collection;
mod config;
mod counts;
mod cycles;
mod fast_paths;
mod object;
mod retry;
mod stats;
mod typed;
mod verify;
pub mod wasm_slots;
mod zeal;

pub use crate::root::RootSource;
pub use access::Operands;
pub(crate) use collection::Batch;
pub use config::HeapConfig;
pub(crate) use counts::ReleaseWork;
pub use counts::RELEASE_CHUNK;
pub use fast_paths::{ArrayView, BorrowedRef, ScalarArrayMut, StructView};
#[cfg(feature = "portable-tests")]
pub(crate) use typed::for_each_scalar;

use crate::activations_table::ActivationsTable;
use crate::error::{Error, Result};
use crate::free_list::FreeList;
use crate::gc_ref::HeapId;
use crate::header::ObjectHeader;
use crate::host_data::HostDataTable;
use crate::region::Region;
use crate::stats::Counters;
use crate::types::{ArrayType, CompositeType, StructType, TypeIndex, TypeRegistry};
use crate::GcRef;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::marker::PhantomData;
use object::object_word;

/// A deferred reference-counting heap over a caller-supplied region, borrowed for `'a`. `H` is
/// the type of externref host data.
///
/// Most code names it [`Heap`], the alias for `HeapIn<'static, H>`: a heap over a `static`
/// array ([`Heap::new`]), over memory it allocates and frees itself
/// ([`Heap::with_owned_region`]), or over raw parts ([`Heap::from_raw_parts`]). A heap over
/// memory the caller borrows for a shorter time (a stack array, a `Vec` the caller keeps) is a
/// `HeapIn<'a, H>`: [`HeapIn::new`] takes any `&'a mut [u8]`, and the borrow checker keeps the
/// memory alive and untouched while the heap exists, with nothing leaked:
///
/// ```
/// use drc_heap::{HeapIn, HeapMemory};
///
/// let mut memory = HeapMemory::<{ 1 << 16 }>::new(); // on the stack, 16-byte aligned
/// let mut heap: HeapIn<'_, ()> = HeapIn::new(memory.bytes())?;
/// let greeting = heap.alloc_externref(()).map_err(|(error, _)| error)?;
/// assert_eq!(heap.stats()?.live_objects, 1);
/// heap.drop_ref(greeting)?;
/// drop(heap); // the heap goes first; then `memory` may be used or dropped
/// # Ok::<(), drc_heap::Error>(())
/// ```
///
/// A heap cannot outlive the memory it borrows:
///
/// ```compile_fail,E0597
/// use drc_heap::{HeapIn, HeapMemory};
///
/// let heap: HeapIn<'_, ()> = {
///     let mut memory = HeapMemory::<4096>::new();
///     HeapIn::new(memory.bytes()).unwrap()
/// }; // error[E0597]: `memory` does not live long enough
/// drop(heap);
/// ```
///
/// # Method families
///
/// Each family is one way of passing references in and out; pick the one that matches who
/// owns what.
///
/// | family | create | read | write | references in / out | for |
/// |---|---|---|---|---|---|
/// | generic | [`struct_new`], [`struct_new_default`], [`array_new`], [`array_new_default`], [`array_new_fixed`], [`alloc_externref`] | [`struct_get`], [`array_get`], [`array_len`] | [`struct_set`], [`array_set`], [`array_fill`], [`array_copy`] | borrowed [`ValueRef`] in (the heap takes the counts it stores); owned [`Value`] out (a reference comes with a count: give it back with [`drop_ref`]) | host code, tests |
/// | proved operands | [`struct_new_proved`], [`array_new_proved`], [`array_new_fixed_proved`] | | | as generic, without the subtype check of reference operands ([`Operands::Proved`]) | an engine whose validator proved the operands' types |
/// | owned (moving in) | [`struct_new_owned`] | | [`struct_set_owned`], [`array_set_owned`] | owned [`Value`] in: a reference's count becomes the field's (no increment, no decrement) | host code building structures |
/// | borrowed (reading out) | | [`struct_get_borrowed`], [`array_get_borrowed`] | | a [`BorrowedRef`] out, no count (it borrows the heap, so nothing can free the object meanwhile) | walking structures |
/// | typed | | [`struct_get_ref`], [`struct_get_scalar`], [`array_get_scalar`], and for every scalar storage type `struct_get_<t>`, `array_get_<t>` (below) | | as generic, skipping the [`Value`] match where the storage type is known | hot host loops |
/// | views | | [`struct_view`], [`array_view`]: `get_ref`, `get_scalar`, `get_<t>` | [`scalar_array_mut`] (scalars, no barrier): `set`, `set_<t>` | one validation of the object, then index and storage checks per access | several accesses to one object |
/// | Wasm slots ([`crate::wasm_slots`]) | [`struct_new_from_slots`], [`array_new_from_slot`], [`array_new_fixed_from_slots`] | [`struct_get_slot`], [`array_get_slot`] | [`struct_set_slot`], [`array_set_slot`] | 64-bit operand-stack slots and raw words in; results and reads exposed to Wasm (their counts in the activations table) | interpreters, JIT slow paths |
///
/// The typed accessors exist for every scalar storage type `<t>`, named after it, in each place
/// that reads scalars by index (the heap, [`StructView`], [`ArrayView`], [`ScalarArrayMut`]) and
/// each that writes them ([`ScalarArrayMut`]):
///
/// | `<t>` | `i8` | `i16` | `i32` | `i64` | `f32` | `f64` | `v128` |
/// |---|---|---|---|---|---|---|---|
/// | Rust type | `i8` | `i16` | `i32` | `i64` | `f32` | `f64` | `u128` |
///
/// for example [`struct_get_i64`], [`array_get_f32`], `StructView::get_i8`, `ArrayView::get_v128`,
/// `ScalarArrayMut::set_i16`. A packed field reads as its own width (Wasm's `struct.get_s` is
/// `as i32` of it, `struct.get_u` is `as u8 as i32`); floats keep their bits, NaN payloads
/// included. A field or element of any other storage type than the method's (a reference one
/// too) is [`Error::TypeMismatch`] naming both, and nothing is read or written: a getter's
/// error has the method's type as `expected` and the storage type as `found`, a setter's the
/// storage type as `expected` and the value's type as `found` (as the generic setters). The
/// other checks are the family's, and every accessor makes them in one order: the object (once
/// for a view), the field or index bounds, then the storage type.
///
/// Counts and raw words: [`clone_ref`], [`drop_ref`], [`retain_raw`], [`write_gc_ref`] (a
/// host global or table slot), [`expose_gc_ref_to_wasm`]. Allocation with the embedder's duties
/// done for it: [`allocate_with_roots`] wraps any constructor above, collecting (with roots
/// asked of a [`RootSource`] only then) when the heap recommends it and collecting and
/// retrying once on [`Error::OutOfMemory`]. A consuming call that fails hands its
/// input back with the error where the input is the caller's to keep ([`alloc_externref`]
/// gives `(Error, H)`, [`struct_new_owned`] `(Error, [Value; N])`), so that the caller can
/// collect and retry after [`Error::OutOfMemory`]; the other constructors borrow their
/// operands, and one that fails allocates nothing and gives back every count it took. The
/// calls that consume a handle and return only an error ([`drop_ref`],
/// [`expose_gc_ref_to_wasm`], [`struct_set_owned`], [`array_set_owned`]) release what they
/// were given when they fail, with one exception: a handle of another heap is
/// [`Error::ForeignReference`], and its count cannot be released here, so it stays in its own
/// heap (a misuse that leaks that one count there until the heap is reset or dropped).
///
/// [`struct_new`]: Heap::struct_new
/// [`struct_new_default`]: Heap::struct_new_default
/// [`array_new`]: Heap::array_new
/// [`array_new_default`]: Heap::array_new_default
/// [`array_new_fixed`]: Heap::array_new_fixed
/// [`alloc_externref`]: Heap::alloc_externref
/// [`struct_get`]: Heap::struct_get
/// [`array_get`]: Heap::array_get
/// [`array_len`]: Heap::array_len
/// [`struct_set`]: Heap::struct_set
/// [`array_set`]: Heap::array_set
/// [`array_fill`]: Heap::array_fill
/// [`array_copy`]: Heap::array_copy
/// [`drop_ref`]: Heap::drop_ref
/// [`struct_new_proved`]: Heap::struct_new_proved
/// [`array_new_proved`]: Heap::array_new_proved
/// [`array_new_fixed_proved`]: Heap::array_new_fixed_proved
/// [`struct_new_owned`]: Heap::struct_new_owned
/// [`struct_set_owned`]: Heap::struct_set_owned
/// [`array_set_owned`]: Heap::array_set_owned
/// [`struct_get_borrowed`]: Heap::struct_get_borrowed
/// [`array_get_borrowed`]: Heap::array_get_borrowed
/// [`struct_get_ref`]: Heap::struct_get_ref
/// [`struct_get_scalar`]: Heap::struct_get_scalar
/// [`struct_get_i64`]: Heap::struct_get_i64
/// [`array_get_f32`]: Heap::array_get_f32
/// [`array_get_scalar`]: Heap::array_get_scalar
/// [`struct_view`]: Heap::struct_view
/// [`array_view`]: Heap::array_view
/// [`scalar_array_mut`]: Heap::scalar_array_mut
/// [`struct_new_from_slots`]: Heap::struct_new_from_slots
/// [`array_new_from_slot`]: Heap::array_new_from_slot
/// [`array_new_fixed_from_slots`]: Heap::array_new_fixed_from_slots
/// [`struct_get_slot`]: Heap::struct_get_slot
/// [`array_get_slot`]: Heap::array_get_slot
/// [`struct_set_slot`]: Heap::struct_set_slot
/// [`array_set_slot`]: Heap::array_set_slot
/// [`clone_ref`]: Heap::clone_ref
/// [`retain_raw`]: Heap::retain_raw
/// [`write_gc_ref`]: Heap::write_gc_ref
/// [`expose_gc_ref_to_wasm`]: Heap::expose_gc_ref_to_wasm
/// [`allocate_with_roots`]: Heap::allocate_with_roots
/// [`ValueRef`]: crate::ValueRef
/// [`Value`]: crate::Value
/// [`BorrowedRef`]: crate::BorrowedRef
///
/// The fields are private to `src/heap/`; each states the invariant the heap keeps on it
/// between public calls (a call that fails with [`Error::Corrupted`] may leave them broken,
/// [`Heap::reset`] restores them).
pub struct HeapIn<'a, H = Box<dyn core::any::Any + Send>> {
    /// The blocks of the region: every block below its top is free (listed) or an object (its
    /// start bit set); only objects' starts have the bit, so a word is an object exactly when
    /// `free_list.is_allocated(word)`.
    free_list: FreeList,
    /// The registered types. Only grows (a reset keeps it): every type index in a live
    /// struct's or array's header names a registered type of its kind.
    types: TypeRegistry,
    /// The host data of externrefs: exactly one value per live externref, under the id its
    /// header holds.
    host_data: HostDataTable<H>,
    /// The activations table (boxed: JIT code holds its address). Every entry owns one count.
    activations: Box<ActivationsTable>,
    /// Open no-GC scopes; no collection and no cycle collection runs while above zero.
    no_gc_depth: u32,
    /// Release work pending: empty between public calls (a release drains it before it
    /// returns).
    release_worklist: Vec<ReleaseWork>,
    /// What the heap did and holds: `live_objects` and `live_bytes` are the objects and block
    /// bytes allocated and not freed.
    counters: Counters,
    /// Size of the precise set at the end of the last collection (see
    /// [`Heap::collection_recommended`]).
    precise_roots_at_last_collection: usize,
    /// The settings the heap was made with; never changes.
    config: HeapConfig,
    /// What the zeal checks keep track of (see [`crate::zeal`]).
    zeal_state: crate::zeal::ZealState,
    /// The cycle collector's candidate buffer, settings and counters: an object is in the
    /// buffer exactly when its header is flagged buffered (see [`crate::cycle_collector`]).
    cycles: crate::cycle_collector::CycleCollector,
    /// The worklists of a cycle collection, empty between collections and kept for the next
    /// one (see `cycles.rs`).
    cycle_scratch: cycles::Scratch,
    /// The identity the handles this heap hands out carry (new at every reset).
    id: HeapId,
    /// The caller's memory (or the heap's own). Declared last so that it drops last: an owned
    /// region is freed after the host data and everything else of the heap are gone.
    region: Region,
    /// Ties the heap to the borrow of its memory: `'static` for static, owned and raw regions.
    memory: PhantomData<&'a mut [u8]>,
}

/// A heap over memory that lives as long as the program, or that it owns: [`HeapIn`] at
/// `'static`, the name most code uses.
pub type Heap<H = Box<dyn core::any::Any + Send>> = HeapIn<'static, H>;

impl<'a, H> HeapIn<'a, H> {
    /// A heap over a byte array: a `static` one for a [`Heap`], or one borrowed for `'a`.
    ///
    /// The slice must be 16-byte aligned, a multiple of 16 long, and between
    /// [`crate::MIN_REGION_LEN`] and [`crate::MAX_REGION_LEN`] bytes ([`crate::HeapMemory`]
    /// is such an array). The heap uses the bytes as they are: it does not need them zeroed.
    pub fn new(region: &'a mut [u8]) -> Result<HeapIn<'a, H>> {
        HeapIn::with_config(region, HeapConfig::default())
    }

    /// A heap over a byte array (see [`HeapIn::new`]), with settings.
    pub fn with_config(region: &'a mut [u8], config: HeapConfig) -> Result<HeapIn<'a, H>> {
        Ok(HeapIn::over(Region::from_slice(region)?, config))
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
    pub fn with_owned_region(len: usize) -> Result<HeapIn<'a, H>> {
        HeapIn::with_owned_region_and_config(len, HeapConfig::default())
    }

    /// A heap over a region it allocates and frees (see [`Heap::with_owned_region`]), with
    /// settings.
    pub fn with_owned_region_and_config(len: usize, config: HeapConfig) -> Result<HeapIn<'a, H>> {
        Ok(HeapIn::over(Region::owned(len)?, config))
    }

    /// A heap over `len` bytes at `base`, such as page-mapped memory.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes for the life of the heap, and
    /// nothing else may access that memory while the heap exists.
    pub unsafe fn from_raw_parts(base: *mut u8, len: usize, config: HeapConfig) -> Result<HeapIn<'a, H>> {
        // SAFETY: forwarded from this function's contract.
        let region = unsafe { Region::from_raw_parts(base, len) }?;
        Ok(HeapIn::over(region, config))
    }

    fn over(region: Region, config: HeapConfig) -> HeapIn<'a, H> {
        let cycles = config.cycles;
        HeapIn {
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
            cycle_scratch: cycles::Scratch::default(),
            id: HeapId::fresh(),
            memory: PhantomData,
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

    /// This heap's identity, which the handles it hands out carry (see [`crate::gc_ref`]).
    /// A reset gives the heap a new one.
    pub fn id(&self) -> HeapId {
        self.id
    }

    /// Reads and validates the header of the object at `index` ([`object::checked_object`]:
    /// [`Error::InvalidReference`] unless the free list's bitmap says an object starts there).
    #[inline]
    pub(crate) fn object(&self, index: u32) -> Result<ObjectHeader> {
        object::checked_object(&self.region, &self.free_list, index)
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
        object_word(self.word(r)?).ok_or(Error::WrongObjectKind { expected, found: "i31" })
    }

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
    /// A handle of another heap is [`Error::ForeignReference`] (its count stays in its own
    /// heap: see the method families on [`HeapIn`]).
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

    /// Merges adjacent free blocks now (it also happens on its own when an allocation finds no
    /// block, and at the end of collections).
    pub fn coalesce(&mut self) -> Result<()> {
        self.counters.coalesced();
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
        self.counters.emptied();
        self.precise_roots_at_last_collection = 0;
        self.cycles.reset();
        self.cycle_scratch = cycles::Scratch::default();
    }
}
