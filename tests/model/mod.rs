//! A reference model of the heap, and a harness that applies random programs to both.
//!
//! Shared by `tests/model.rs` (proptest), `tests/corruption.rs` (Miri) and the cargo-fuzz
//! targets in `fuzz/` (which include this file with `#[path]`), so there is one model.
//!
//! # The model
//! Plain Rust: objects (structs, arrays, externrefs) with their field values, identified by
//! model ids; the host roots (locals, globals, tables, each an owned reference); a simulated
//! Wasm stack of frames holding uncounted reference words; and the no-GC scope depth. The model
//! knows the Wasm semantics of every operation (values, bounds, subtyping, errors), not how the
//! heap implements them.
//!
//! # Oracles
//! * Every value read equals the model's, every error is the one the model predicts, and an
//!   operation that fails changes nothing.
//! * After every complete collection: the objects alive in the heap are exactly those a
//!   reference-counting heap must keep (those reachable from the roots and the Wasm stack, plus
//!   those reachable from garbage cycles, which reference counting cannot free, unless the cycle
//!   collector ran), each with equal contents; the exact `verify` passes with the host roots;
//!   the host data of every other externref was dropped exactly once; and an empty heap is one
//!   free block again.
//! * After a collection abandoned part-way, or a `Verify` operation: every reachable object is
//!   alive with equal contents, and `verify` passes.
//! * After every operation: no host data was dropped twice, or while the model can reach it.
//! * At the end: with every root gone and the heap collected, only garbage cycles are left (no
//!   object at all once the cycle collector exists); after a reset every host data value was
//!   dropped exactly once.
//!
//! In corruption runs ([`Harness::new`] with `corruption`), the first `Corrupt` operation turns
//! the comparisons off (the heap may return errors, but must stay memory-safe and must still
//! drop each host data value at most once); a `Reset` turns them back on, since a reset heap
//! must work again whatever the region holds.

#![allow(dead_code)]

pub mod ops;

use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType, TypeReference};
use drc_heap::zeal::Zeal;
use drc_heap::{Error, GcRef, Heap, HeapConfig, Kind, Progress, Root, TypeIndex, Value, ValueRef};
use ops::{Dest, Op, Setup, RAW};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Host locals kept at most.
const MAX_LOCALS: usize = 16;
/// Globals.
const GLOBALS: usize = 3;
/// Tables and their size.
const TABLES: usize = 2;
const TABLE_SIZE: usize = 6;
/// Wasm frames at most, and references per frame pushed at once.
const MAX_FRAMES: usize = 6;
const MAX_FRAME_PICKS: u16 = 4;
/// Steps a step-by-step collection may take before the harness calls it stuck.
const MAX_COLLECTION_STEPS: usize = 64;

// -------------------------------------------------------------------------------------------
// Host data with a drop counter.

/// Counts the drops of every host data value by id.
#[derive(Default, Debug)]
pub struct DropLog {
    /// Drops per host data id.
    pub drops: HashMap<u64, u32>,
    /// Ids in drop order (checked incrementally).
    pub order: Vec<u64>,
}

/// Externref host data: its drop is recorded in the log.
pub struct Tracked {
    /// The model's id for this value.
    pub id: u64,
    log: Rc<RefCell<DropLog>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut log = self.log.borrow_mut();
        *log.drops.entry(self.id).or_insert(0) += 1;
        log.order.push(self.id);
    }
}

// -------------------------------------------------------------------------------------------
// Model values and objects.

/// A reference in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MRef {
    /// Null.
    Null,
    /// An i31 (normalized to 31 bits, sign-extended).
    I31(i32),
    /// A model object.
    Obj(u64),
}

/// A field or element value in the model (floats by their bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MVal {
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Ref(MRef),
}

impl MVal {
    fn default_for(storage: StorageType) -> MVal {
        match storage {
            StorageType::I8 => MVal::I8(0),
            StorageType::I16 => MVal::I16(0),
            StorageType::I32 => MVal::I32(0),
            StorageType::I64 => MVal::I64(0),
            StorageType::F32 => MVal::F32(0),
            StorageType::F64 => MVal::F64(0),
            StorageType::V128 => MVal::V128(0),
            StorageType::Ref(_) => MVal::Ref(MRef::Null),
        }
    }

    fn fits(self, storage: StorageType) -> bool {
        matches!(
            (self, storage),
            (MVal::I8(_), StorageType::I8)
                | (MVal::I16(_), StorageType::I16)
                | (MVal::I32(_), StorageType::I32)
                | (MVal::I64(_), StorageType::I64)
                | (MVal::F32(_), StorageType::F32)
                | (MVal::F64(_), StorageType::F64)
                | (MVal::V128(_), StorageType::V128)
                | (MVal::Ref(_), StorageType::Ref(_))
        )
    }

    /// The bits of a scalar, as `array.copy` between arrays of equal element size moves them.
    fn bits(self) -> u128 {
        match self {
            MVal::I8(v) => v as u8 as u128,
            MVal::I16(v) => v as u16 as u128,
            MVal::I32(v) => v as u32 as u128,
            MVal::I64(v) => v as u64 as u128,
            MVal::F32(v) => v as u128,
            MVal::F64(v) => v as u128,
            MVal::V128(v) => v,
            MVal::Ref(_) => unreachable!("references are not copied by bits"),
        }
    }

    fn from_bits(bits: u128, storage: StorageType) -> MVal {
        match storage {
            StorageType::I8 => MVal::I8(bits as u8 as i8),
            StorageType::I16 => MVal::I16(bits as u16 as i16),
            StorageType::I32 => MVal::I32(bits as u32 as i32),
            StorageType::I64 => MVal::I64(bits as u64 as i64),
            StorageType::F32 => MVal::F32(bits as u32),
            StorageType::F64 => MVal::F64(bits as u64),
            StorageType::V128 => MVal::V128(bits),
            StorageType::Ref(_) => unreachable!("references are not copied by bits"),
        }
    }
}

/// What a model object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MKind {
    Struct(u32),
    Array(u32),
    Extern(u64),
}

/// A model object.
#[derive(Clone, Debug)]
pub struct MObj {
    pub kind: MKind,
    pub fields: Vec<MVal>,
}

/// The kinds of error the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Ok,
    TypeMismatch,
    NullReference,
    WrongObjectKind,
    FieldOutOfBounds,
    IndexOutOfBounds,
    InNoGcScope,
    NotInNoGcScope,
    NotDefaultable,
    InvalidReference,
}

fn classify(error: &Error) -> Option<Expect> {
    Some(match error {
        Error::TypeMismatch { .. } => Expect::TypeMismatch,
        Error::NullReference => Expect::NullReference,
        Error::WrongObjectKind { .. } => Expect::WrongObjectKind,
        Error::FieldOutOfBounds { .. } => Expect::FieldOutOfBounds,
        Error::IndexOutOfBounds { .. } => Expect::IndexOutOfBounds,
        Error::InNoGcScope => Expect::InNoGcScope,
        Error::NotInNoGcScope => Expect::NotInNoGcScope,
        Error::NotDefaultable { .. } => Expect::NotDefaultable,
        Error::InvalidReference(_) => Expect::InvalidReference,
        _ => return None,
    })
}

// -------------------------------------------------------------------------------------------
// The schema: types with subtyping, and fields and elements of every storage type.

/// A type of the schema, as the model sees it.
#[derive(Clone, Debug)]
pub enum Decl {
    Struct(StructType),
    Array(ArrayType),
}

const fn nullable(heap_type: HeapType) -> StorageType {
    StorageType::Ref(RefType::nullable(heap_type))
}

/// The types every program's heap registers, in order (index = type index).
pub fn schema() -> Vec<Decl> {
    let leaf = TypeIndex(0);
    let base = TypeIndex(1);
    let any_array = TypeIndex(8);
    vec![
        // 0: a leaf struct, final, no references (acyclic).
        Decl::Struct(StructType::new(&[StorageType::I32, StorageType::I64, StorageType::F32])),
        // 1: a non-final base with an anyref (cyclic).
        Decl::Struct(StructType {
            fields: vec![StorageType::I8, nullable(HeapType::Any)],
            supertype: None,
            is_final: false,
        }),
        // 2: a subtype of 1 adding scalars and a reference to the base type.
        Decl::Struct(StructType {
            fields: vec![
                StorageType::I8,
                nullable(HeapType::Any),
                StorageType::F64,
                nullable(HeapType::Concrete(base)),
            ],
            supertype: Some(base.into()),
            is_final: true,
        }),
        // 3: every storage type, and references of several heap types, one non-nullable.
        Decl::Struct(StructType::new(&[
            StorageType::I16,
            StorageType::V128,
            nullable(HeapType::Eq),
            nullable(HeapType::Extern),
            nullable(HeapType::Concrete(leaf)),
            nullable(HeapType::I31),
            StorageType::Ref(RefType::non_null(HeapType::Struct)),
            nullable(HeapType::Array),
        ])),
        // 4..: arrays of every scalar type.
        Decl::Array(ArrayType::new(StorageType::I8)),
        Decl::Array(ArrayType::new(StorageType::I16)),
        Decl::Array(ArrayType::new(StorageType::I32)),
        Decl::Array(ArrayType::new(StorageType::F64)),
        // 8: a non-final anyref array, and 9 its subtype.
        Decl::Array(ArrayType { element: nullable(HeapType::Any), supertype: None, is_final: false }),
        Decl::Array(ArrayType { element: nullable(HeapType::Any), supertype: Some(any_array.into()), is_final: true }),
        // 10: externrefs (which may hold any reference: not acyclic), 11: references to the base struct type, 12..: more scalars.
        Decl::Array(ArrayType::new(nullable(HeapType::Extern))),
        Decl::Array(ArrayType::new(nullable(HeapType::Concrete(base)))),
        Decl::Array(ArrayType::new(StorageType::F32)),
        Decl::Array(ArrayType::new(StorageType::I64)),
        Decl::Array(ArrayType::new(StorageType::V128)),
    ]
}

/// Reference types `ref.test` is tried against.
fn test_types() -> [RefType; 12] {
    [
        RefType::nullable(HeapType::Any),
        RefType::non_null(HeapType::Eq),
        RefType::nullable(HeapType::Struct),
        RefType::non_null(HeapType::Array),
        RefType::nullable(HeapType::I31),
        RefType::nullable(HeapType::Extern),
        RefType::nullable(HeapType::None),
        RefType::nullable(HeapType::NoExtern),
        RefType::non_null(HeapType::Concrete(TypeIndex(1))),
        RefType::nullable(HeapType::Concrete(TypeIndex(2))),
        RefType::nullable(HeapType::Concrete(TypeIndex(8))),
        RefType::non_null(HeapType::Concrete(TypeIndex(0))),
    ]
}

// -------------------------------------------------------------------------------------------
// Small helpers.

/// splitmix64: spreads a small seed over 64 bits.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn i31(value: i32) -> i32 {
    (value << 1) >> 1
}

/// A borrowed handle to a word that some root keeps alive: no count is taken or given.
fn handle(word: u32) -> Option<GcRef> {
    GcRef::from_raw_u32(word)
}

/// A host root: an owned reference (or null) and what the model says it is.
#[derive(Debug)]
struct Slot {
    gc: Option<GcRef>,
    m: MRef,
}

impl Slot {
    fn null() -> Slot {
        Slot { gc: None, m: MRef::Null }
    }

    fn word(&self) -> u32 {
        self.gc.as_ref().map_or(0, GcRef::as_raw_u32)
    }
}

/// The caller's memory for a heap: a boxed buffer held by raw pointer (so that moving the
/// harness never retags it), freed after the heap.
struct Memory {
    words: *mut [u128],
}

impl Memory {
    fn new(len: usize) -> Memory {
        Memory { words: Box::into_raw(vec![0u128; len / 16].into_boxed_slice()) }
    }

    fn base(&self) -> *mut u8 {
        self.words.cast::<u8>()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: `words` came from `Box::into_raw` in `new` and is freed only here; the heap
        // that used it was dropped before (it is declared before the memory in `Harness`).
        drop(unsafe { Box::from_raw(self.words) });
    }
}

/// What a run did, for reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    pub ops: u64,
    pub expected_errors: u64,
    pub complete_collections: u64,
    pub abandoned_collections: u64,
    pub forced_retries: u64,
    pub max_objects: u64,
    pub corruptions: u64,
    pub heap_errors_after_corruption: u64,
}

// -------------------------------------------------------------------------------------------
// The harness.

/// A heap and its model, driven by operations.
pub struct Harness {
    /// The heap under test (declared before `memory`: dropped first).
    pub heap: Heap<Tracked>,
    memory: Memory,
    region_len: usize,
    schema: Vec<Decl>,
    /// Model objects, including garbage not yet known to be freed (pruned after collections).
    objects: HashMap<u64, MObj>,
    /// Model id -> the heap word of the object.
    words: HashMap<u64, u32>,
    next_id: u64,
    next_host_id: u64,
    locals: Vec<Slot>,
    globals: Vec<Slot>,
    tables: Vec<Vec<Slot>>,
    frames: Vec<Vec<(u32, MRef)>>,
    no_gc_depth: u32,
    log: Rc<RefCell<DropLog>>,
    checked_drops: usize,
    /// Corruption runs: bytes may be overwritten between operations.
    corruption_run: bool,
    /// A corruption happened since the last reset: comparisons are off.
    corrupted: bool,
    /// The heap has `collect_cycles` (and may run it on its own).
    has_cycle_collector: bool,
    /// What the run did.
    pub stats: RunStats,
}

/// `Heap::collect_cycles`, when the heap has one (an inherent method wins over this trait's),
/// else nothing: the oracle then expects garbage cycles to stay.
#[allow(dead_code)]
trait NoCycleCollector {
    fn collect_cycles(&mut self) -> CyclesUnavailable;
}

#[allow(dead_code)]
struct CyclesUnavailable;

#[allow(dead_code)]
impl NoCycleCollector for Heap<Tracked> {
    fn collect_cycles(&mut self) -> CyclesUnavailable {
        CyclesUnavailable
    }
}

/// Runs the heap's cycle collector: `None` when the heap has none. This is the one line that
/// calls `Heap::collect_cycles` (if its signature changes, adapt it here; to turn the
/// cycle-collector oracles off, return `None`).
fn collect_cycles(heap: &mut Heap<Tracked>) -> Option<Result<(), Error>> {
    heap.collect_cycles().outcome()
}

/// What `collect_cycles` returned: `None` when the heap has no cycle collector.
trait CycleOutcome {
    fn outcome(self) -> Option<Result<(), Error>>;
}

impl CycleOutcome for CyclesUnavailable {
    fn outcome(self) -> Option<Result<(), Error>> {
        None
    }
}

impl<T> CycleOutcome for Result<T, Error> {
    fn outcome(self) -> Option<Result<(), Error>> {
        Some(self.map(|_| ()))
    }
}

impl Harness {
    /// A fresh heap with the schema registered, and an empty model.
    pub fn new(setup: Setup, corruption_run: bool) -> Harness {
        let memory = Memory::new(setup.region_len);
        let mut zeal = Zeal::none()
            .with_poison(setup.poison)
            .with_verify_after_collection(setup.verify_after_collection)
            .with_fail_every_nth_allocation(setup.fail_every);
        if corruption_run {
            // Verification after collections would only report the corruption early.
            zeal = zeal.with_verify_after_collection(false);
        }
        let config = HeapConfig::default().with_zeal(zeal);
        // SAFETY: the buffer is `region_len` bytes, 16-aligned (u128 words), used by nothing else
        // but this heap (and the harness's own `Corrupt` writes, made between heap calls, as JIT
        // code would), and freed only after the heap is dropped (field order).
        let mut heap = unsafe { Heap::from_raw_parts(memory.base(), setup.region_len, config) }.expect("heap");
        let schema = schema();
        for decl in &schema {
            match decl {
                Decl::Struct(ty) => heap.register_struct(ty.clone()).expect("register struct"),
                Decl::Array(ty) => heap.register_array(*ty).expect("register array"),
            };
        }
        // Whether `Heap::collect_cycles` exists (on an empty heap, running it changes nothing).
        let has_cycle_collector = collect_cycles(&mut heap).is_some();
        Harness {
            heap,
            memory,
            region_len: setup.region_len,
            schema,
            objects: HashMap::new(),
            words: HashMap::new(),
            next_id: 1,
            next_host_id: 1,
            locals: Vec::new(),
            globals: (0..GLOBALS).map(|_| Slot::null()).collect(),
            tables: (0..TABLES).map(|_| (0..TABLE_SIZE).map(|_| Slot::null()).collect()).collect(),
            frames: Vec::new(),
            no_gc_depth: 0,
            log: Rc::new(RefCell::new(DropLog::default())),
            checked_drops: 0,
            corruption_run,
            corrupted: false,
            has_cycle_collector,
            stats: RunStats::default(),
        }
    }

    /// Whether the model's comparisons are on.
    fn checking(&self) -> bool {
        !self.corrupted
    }

    /// Reports an oracle failure (a panic, so proptest shrinks and libFuzzer saves the input).
    #[track_caller]
    fn fail(&self, message: String) {
        if self.checking() {
            panic!("model oracle failed: {message}");
        }
    }

    /// Checks a heap result against the model's prediction; `true` when the operation succeeded
    /// (and the model should apply it).
    #[track_caller]
    fn expect<T>(&mut self, what: &str, result: &Result<T, Error>, expected: Expect) -> bool {
        match (result, expected) {
            (Ok(_), Expect::Ok) => true,
            (Ok(_), _) => {
                self.fail(format!("{what}: succeeded, the model expected {expected:?}"));
                false
            }
            (Err(error), Expect::Ok) => {
                self.fail(format!("{what}: failed with {error:?}, the model expected success"));
                if !self.checking() {
                    self.stats.heap_errors_after_corruption += 1;
                }
                false
            }
            (Err(error), _) => {
                if classify(error) != Some(expected) {
                    self.fail(format!("{what}: failed with {error:?}, the model expected {expected:?}"));
                }
                self.stats.expected_errors += 1;
                false
            }
        }
    }

    /// Runs a whole program, then the final oracles.
    pub fn run(setup: Setup, ops: &[Op], corruption_run: bool) -> RunStats {
        let mut harness = Harness::new(setup, corruption_run);
        for op in ops {
            harness.apply(op);
        }
        harness.finish();
        harness.stats
    }

    /// Adds `delta` to the reference count of the object host local `local` holds, behind the
    /// heap's back and without turning the comparisons off: for tests that prove the oracles
    /// catch a count that is wrong.
    pub fn tamper_count(&mut self, local: usize, delta: i32) {
        let word = self.locals[local].word();
        let offset = word as usize + 12;
        assert!(word != 0 && word & 1 == 0 && offset + 4 <= self.region_len, "an object in the region");
        let base = self.heap.region_base();
        // SAFETY: `offset + 4` is within the region (checked above), the harness's own buffer;
        // no reference into the region is alive between heap calls.
        unsafe {
            let count = base.add(offset).cast::<u32>();
            count.write_unaligned(count.read_unaligned().wrapping_add_signed(delta));
        }
    }

    // ---------------------------------------------------------------------------------------
    // References the program holds.

    /// The word of a model reference (the heap word of an object; 0 for null).
    fn word_of(&self, m: MRef) -> u32 {
        match m {
            MRef::Null => 0,
            MRef::I31(v) => GcRef::from_i31(v).as_raw_u32(),
            MRef::Obj(id) => self.words.get(&id).copied().unwrap_or(0),
        }
    }

    /// Every non-null reference the program holds: locals, globals, tables, the Wasm stack.
    fn candidates(&self) -> Vec<(u32, MRef)> {
        let mut all = Vec::new();
        let slots = self.locals.iter().chain(&self.globals).chain(self.tables.iter().flatten());
        for slot in slots {
            if slot.m != MRef::Null || slot.gc.is_some() {
                all.push((slot.word(), slot.m));
            }
        }
        for frame in &self.frames {
            all.extend(frame.iter().copied());
        }
        all.retain(|&(word, _)| word != 0);
        all
    }

    /// Picks a reference with selector `sel`: the first from `sel` on that satisfies `want`,
    /// unless the selector has its [`RAW`] bit.
    fn pick(&self, sel: u16, want: impl Fn(&Harness, MRef) -> bool) -> Option<(u32, MRef)> {
        let all = self.candidates();
        if all.is_empty() {
            return None;
        }
        let start = (sel & !RAW) as usize % all.len();
        if sel & RAW != 0 {
            return Some(all[start]);
        }
        (0..all.len()).map(|i| all[(start + i) % all.len()]).find(|&(_, m)| want(self, m)).or(Some(all[start]))
    }

    fn kind(&self, m: MRef) -> Option<MKind> {
        match m {
            MRef::Obj(id) => self.objects.get(&id).map(|o| o.kind),
            _ => None,
        }
    }

    fn is_struct(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Struct(_)))
    }

    fn is_array(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Array(_)))
    }

    fn is_extern(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Extern(_)))
    }

    fn is_subtype(&self, sub: u32, sup: u32) -> bool {
        let mut current = Some(sub);
        while let Some(t) = current {
            if t == sup {
                return true;
            }
            current = match &self.schema[t as usize] {
                Decl::Struct(StructType { supertype, .. }) | Decl::Array(ArrayType { supertype, .. }) => {
                    match supertype {
                        Some(TypeReference::Registered(index)) => Some(index.0),
                        _ => None,
                    }
                }
            };
        }
        false
    }

    /// Wasm's rule: may `m` be stored where `ref_type` is expected?
    fn ref_fits(&self, m: MRef, ref_type: RefType) -> Expect {
        let ok = match m {
            MRef::Null => return if ref_type.nullable { Expect::Ok } else { Expect::NullReference },
            MRef::I31(_) => {
                matches!(ref_type.heap_type, HeapType::Extern | HeapType::Any | HeapType::Eq | HeapType::I31)
            }
            MRef::Obj(_) => match (self.kind(m), ref_type.heap_type) {
                // Wasm's `extern.convert_any` / `any.convert_extern` keep the word: both tops hold anything.
                (Some(_), HeapType::Extern | HeapType::Any) => true,
                (Some(MKind::Extern(_)), _) => false,
                (Some(MKind::Struct(t)), HeapType::Eq | HeapType::Struct) => {
                    let _ = t;
                    true
                }
                (Some(MKind::Array(_)), HeapType::Eq | HeapType::Array) => true,
                (Some(MKind::Struct(t) | MKind::Array(t)), HeapType::Concrete(target)) => self.is_subtype(t, target.0),
                _ => false,
            },
        };
        if ok {
            Expect::Ok
        } else {
            Expect::TypeMismatch
        }
    }

    /// Whether value `v` may be written where `storage` is.
    fn value_fits(&self, v: MVal, storage: StorageType) -> Expect {
        match (v, storage) {
            (MVal::Ref(m), StorageType::Ref(ref_type)) => self.ref_fits(m, ref_type),
            _ if v.fits(storage) => Expect::Ok,
            _ => Expect::TypeMismatch,
        }
    }

    /// A value for `storage` made from `seed`: mostly of the right type (references found among
    /// those the program holds, matching the type when one does), sometimes deliberately wrong.
    fn make_value(&self, storage: StorageType, seed: u32) -> MVal {
        let mode = seed & 7;
        let payload = seed >> 3;
        let bits = mix(payload as u64);
        let wide = ((mix(bits) as u128) << 64) | bits as u128;
        if mode == 7 {
            // The wrong storage type.
            return match storage {
                StorageType::Ref(_) => MVal::I32(payload as i32),
                StorageType::I32 => MVal::F32(bits as u32),
                _ => MVal::Ref(MRef::Null),
            };
        }
        match storage {
            StorageType::I8 => MVal::I8(bits as i8),
            StorageType::I16 => MVal::I16(bits as i16),
            StorageType::I32 => MVal::I32(bits as i32),
            StorageType::I64 => MVal::I64(bits as i64),
            StorageType::F32 => MVal::F32(if mode == 1 { 0x7fc0_0001 } else { bits as u32 }),
            StorageType::F64 => MVal::F64(bits),
            StorageType::V128 => MVal::V128(wide),
            StorageType::Ref(ref_type) => MVal::Ref(match mode {
                0 => MRef::Null,
                1 => MRef::I31(i31(bits as i32)),
                _ => {
                    let sel = (payload & 0x7fff) as u16 | if mode == 6 { RAW } else { 0 };
                    let want = |h: &Harness, m: MRef| h.ref_fits(m, ref_type) == Expect::Ok;
                    match self.pick(sel, want) {
                        Some((_, m)) => m,
                        None => MRef::Null,
                    }
                }
            }),
        }
    }

    /// The heap form of a model value, borrowing `handles` for references.
    fn value_ref(&self, v: MVal, handles: &mut Vec<GcRef>) -> ValueRefSlot {
        match v {
            MVal::Ref(m) => {
                let word = self.word_of(m);
                match handle(word) {
                    Some(h) => {
                        handles.push(h);
                        ValueRefSlot::Handle(handles.len() - 1)
                    }
                    None => ValueRefSlot::Plain(ValueRef::Ref(None)),
                }
            }
            MVal::I8(x) => ValueRefSlot::Plain(ValueRef::I8(x)),
            MVal::I16(x) => ValueRefSlot::Plain(ValueRef::I16(x)),
            MVal::I32(x) => ValueRefSlot::Plain(ValueRef::I32(x)),
            MVal::I64(x) => ValueRefSlot::Plain(ValueRef::I64(x)),
            MVal::F32(x) => ValueRefSlot::Plain(ValueRef::F32(f32::from_bits(x))),
            MVal::F64(x) => ValueRefSlot::Plain(ValueRef::F64(f64::from_bits(x))),
            MVal::V128(x) => ValueRefSlot::Plain(ValueRef::V128(x)),
        }
    }

    /// Whether a heap value equals a model value.
    fn same(&self, value: &Value, m: MVal) -> bool {
        match (value, m) {
            (Value::I8(a), MVal::I8(b)) => *a == b,
            (Value::I16(a), MVal::I16(b)) => *a == b,
            (Value::I32(a), MVal::I32(b)) => *a == b,
            (Value::I64(a), MVal::I64(b)) => *a == b,
            (Value::F32(a), MVal::F32(b)) => a.to_bits() == b,
            (Value::F64(a), MVal::F64(b)) => a.to_bits() == b,
            (Value::V128(a), MVal::V128(b)) => *a == b,
            (Value::Ref(r), MVal::Ref(m)) => r.as_ref().map_or(0, GcRef::as_raw_u32) == self.word_of(m),
            _ => false,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Ownership of references the heap hands out.

    /// Releases an owned reference the heap handed out.
    fn release(&mut self, gc: Option<GcRef>) {
        if let Some(gc) = gc {
            let result = self.heap.drop_ref(gc);
            self.expect("drop_ref", &result, Expect::Ok);
        }
    }

    /// Keeps an owned reference as a host local (or releases it when the locals are full).
    fn keep_local(&mut self, gc: Option<GcRef>, m: MRef) {
        if self.locals.len() < MAX_LOCALS {
            self.locals.push(Slot { gc, m });
        } else {
            self.release(gc);
        }
    }

    /// Hands an owned reference to Wasm: exposes it and pushes its word on the top frame (a new
    /// frame if there is none).
    fn give_to_wasm(&mut self, gc: Option<GcRef>, m: MRef) {
        let Some(gc) = gc else { return };
        let word = gc.as_raw_u32();
        let result = self.heap.expose_gc_ref_to_wasm(gc);
        if self.expect("expose_gc_ref_to_wasm", &result, Expect::Ok) {
            if self.frames.is_empty() {
                self.frames.push(Vec::new());
            }
            self.frames.last_mut().expect("a frame").push((word, m));
        }
    }

    fn deliver(&mut self, gc: Option<GcRef>, m: MRef, dest: Dest) {
        match dest {
            Dest::Drop => self.release(gc),
            Dest::Local => self.keep_local(gc, m),
            Dest::Stack => self.give_to_wasm(gc, m),
        }
    }

    /// A new model object for a heap object just allocated.
    fn add_object(&mut self, gc: &GcRef, object: MObj) -> MRef {
        let id = self.next_id;
        self.next_id += 1;
        self.words.insert(id, gc.as_raw_u32());
        self.objects.insert(id, object);
        self.stats.max_objects = self.stats.max_objects.max(self.objects.len() as u64);
        MRef::Obj(id)
    }

    /// Runs an allocation; on `OutOfMemory` collects (as a correct embedder must) and retries
    /// once. `None` when it still fails (the heap is full, or collecting is not allowed), or
    /// when the object can never fit in the region.
    fn allocate<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Heap<Tracked>) -> Result<T, Error>,
    ) -> Option<Result<T, Error>> {
        match attempt(&mut self.heap) {
            Err(error) if error.is_retryable() => {
                if self.no_gc_depth > 0 {
                    return None;
                }
                self.stats.forced_retries += 1;
                self.collect_whole(false);
                match attempt(&mut self.heap) {
                    Err(error) if error.is_retryable() => None,
                    other => Some(other),
                }
            }
            // An object bigger than the whole region (a long array in a small one).
            Err(Error::AllocationTooLarge { requested, max }) if requested > max => None,
            other => Some(other),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Operations.

    /// Applies one operation to the heap and the model, then the per-operation checks.
    pub fn apply(&mut self, op: &Op) {
        self.stats.ops += 1;
        match *op {
            Op::NewStruct { ty, init } => self.new_struct(ty, init),
            Op::NewArray { ty, len, init } => self.new_array(ty, len, init, false),
            Op::NewArrayFixed { ty, len, init } => self.new_array(ty, len, init, true),
            Op::NewExtern { payload } => self.new_extern(payload),
            Op::StructSet { target, field, value } => self.struct_set(target, field, value),
            Op::StructGet { target, field, dest } => self.struct_get(target, field, dest),
            Op::ArraySet { target, index, value } => self.array_set(target, index, value),
            Op::ArrayGet { target, index, dest } => self.array_get(target, index, dest),
            Op::ArrayFill { target, start, count_value } => self.array_fill(target, start, count_value),
            Op::ArrayCopy { destination, source, starts_count } => self.array_copy(destination, source, starts_count),
            Op::ArrayLen { target } => self.array_len(target),
            Op::ExternData { target } => self.extern_data(target),
            Op::RefTest { target, ty } => self.ref_test(target, ty),
            Op::PushFrame { picks, count } => self.push_frame(picks, count),
            Op::PopFrame => {
                self.frames.pop();
            }
            Op::WasmDropSlot { slot } => {
                if let Some(frame) = self.frames.last_mut() {
                    if !frame.is_empty() {
                        let slot = slot as usize % frame.len();
                        frame.remove(slot);
                    }
                }
            }
            Op::ExposeMany { target, times } => self.expose_many(target, times),
            Op::SetGlobal { global, source } => {
                let global = global as usize % GLOBALS;
                self.set_host_slot(source, |h| &mut h.globals[global]);
            }
            Op::SetTable { table, source, index } => {
                let (table, index) = (table as usize % TABLES, index as usize % TABLE_SIZE);
                self.set_host_slot(source, |h| &mut h.tables[table][index]);
            }
            Op::FillTable { table, source, range } => {
                let table = table as usize % TABLES;
                let start = range as usize % TABLE_SIZE;
                let count = (range as usize >> 8) % (TABLE_SIZE - start + 1);
                for index in start..start + count {
                    self.set_host_slot(source, |h| &mut h.tables[table][index]);
                }
            }
            Op::ClearGlobal { global } => {
                let global = global as usize % GLOBALS;
                self.clear_host_slot(|h| &mut h.globals[global]);
            }
            Op::ClearTable { table } => {
                let table = table as usize % TABLES;
                for index in 0..TABLE_SIZE {
                    self.clear_host_slot(|h| &mut h.tables[table][index]);
                }
            }
            Op::CloneLocal { source } => {
                if let Some((word, m)) = self.pick(source, |_, _| true) {
                    let result = self.heap.clone_ref(&handle(word).expect("non-null"));
                    if self.expect("clone_ref", &result, Expect::Ok) {
                        self.keep_local(result.ok(), m);
                    }
                }
            }
            Op::DropLocal { local } => {
                if !self.locals.is_empty() {
                    let slot = self.locals.remove(local as usize % self.locals.len());
                    self.release(slot.gc);
                }
            }
            Op::EnterNoGc => {
                if self.no_gc_depth < 2 {
                    self.heap.enter_no_gc_scope();
                    self.no_gc_depth += 1;
                }
            }
            Op::ExitNoGc => {
                let result = self.heap.exit_no_gc_scope();
                let expected = if self.no_gc_depth > 0 { Expect::Ok } else { Expect::NotInNoGcScope };
                if self.expect("exit_no_gc_scope", &result, expected) {
                    self.no_gc_depth -= 1;
                }
            }
            Op::Collect { cycles } => {
                if self.no_gc_depth > 0 {
                    let result = self.heap.collect_all(self.roots());
                    self.expect("collect_all in a no-GC scope", &result, Expect::InNoGcScope);
                } else {
                    self.collect_whole(cycles);
                }
            }
            Op::CollectSteps { steps, finish } => self.collect_steps(steps, finish),
            Op::Coalesce => {
                let result = self.heap.coalesce();
                self.expect("coalesce", &result, Expect::Ok);
            }
            Op::Verify => self.check_reachable(),
            Op::Reset => self.reset(),
            Op::Corrupt { offset, value, len } => self.corrupt(offset, value, len),
            Op::ForgeInteriorHeader { target, how } => self.forge_interior_header(target, how),
            Op::CorruptSizeThenFree { target, size } => self.corrupt_size_then_free(target, size),
            Op::CorruptThenReset { offset, value, len } => {
                self.corrupt(offset, value, len);
                if self.corruption_run && self.no_gc_depth == 0 {
                    self.reset();
                }
            }
        }
        self.check_drops();
    }

    fn new_struct(&mut self, ty: u16, init: u32) {
        let structs: Vec<u32> =
            (0..self.schema.len() as u32).filter(|&t| matches!(self.schema[t as usize], Decl::Struct(_))).collect();
        let t = structs[ty as usize % structs.len()];
        let Decl::Struct(decl) = self.schema[t as usize].clone() else { unreachable!() };
        let default = init % 2 == 0;
        let values: Vec<MVal> = if default {
            decl.fields.iter().map(|&s| MVal::default_for(s)).collect()
        } else {
            decl.fields
                .iter()
                .enumerate()
                .map(|(i, &s)| self.make_value(s, (mix(init as u64 + i as u64) as u32) | 1 << 3))
                .collect()
        };
        let expected = if default {
            // Wasm's `struct.new_default` has no null for a non-nullable reference field.
            if decl.fields.iter().all(|s| s.is_defaultable()) {
                Expect::Ok
            } else {
                Expect::NotDefaultable
            }
        } else {
            values
                .iter()
                .zip(&decl.fields)
                .map(|(&v, &s)| self.value_fits(v, s))
                .find(|&e| e != Expect::Ok)
                .unwrap_or(Expect::Ok)
        };
        let mut handles = Vec::new();
        let slots: Vec<ValueRefSlot> = values.iter().map(|&v| self.value_ref(v, &mut handles)).collect();
        let Some(result) = self.allocate(|heap| {
            if default {
                heap.struct_new_default(TypeIndex(t))
            } else {
                let fields: Vec<ValueRef<'_>> = slots.iter().map(|s| s.get(&handles)).collect();
                heap.struct_new(TypeIndex(t), &fields)
            }
        }) else {
            return;
        };
        if self.expect("struct_new", &result, expected) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Struct(t), fields: values });
            self.keep_local(Some(gc), m);
        }
    }

    fn array_types(&self) -> Vec<u32> {
        (0..self.schema.len() as u32).filter(|&t| matches!(self.schema[t as usize], Decl::Array(_))).collect()
    }

    fn element(&self, t: u32) -> StorageType {
        match &self.schema[t as usize] {
            Decl::Array(ty) => ty.element,
            Decl::Struct(_) => unreachable!("not an array type"),
        }
    }

    fn new_array(&mut self, ty: u16, len: u16, init: u32, fixed: bool) {
        let arrays = self.array_types();
        let t = arrays[ty as usize % arrays.len()];
        let element = self.element(t);
        // Mostly short; sometimes longer than a release chunk (1024 elements).
        let len = if len & 0x8000 != 0 && !fixed { 1020 + (len as u32 & 31) } else { len as u32 % 24 };
        let values: Vec<MVal> = if fixed {
            (0..len).map(|i| self.make_value(element, mix(init as u64 ^ (i as u64) << 32) as u32 | 1 << 3)).collect()
        } else {
            vec![self.make_value(element, init); len as usize]
        };
        let expected = if fixed {
            values.iter().map(|&v| self.value_fits(v, element)).find(|&e| e != Expect::Ok).unwrap_or(Expect::Ok)
        } else {
            self.value_fits(self.make_value(element, init), element)
        };
        let init_value = self.make_value(element, init);
        let mut handles = Vec::new();
        let slots: Vec<ValueRefSlot> = values.iter().map(|&v| self.value_ref(v, &mut handles)).collect();
        let init_slot = self.value_ref(init_value, &mut handles);
        let Some(result) = self.allocate(|heap| {
            if fixed {
                let elements: Vec<ValueRef<'_>> = slots.iter().map(|s| s.get(&handles)).collect();
                heap.array_new_fixed(TypeIndex(t), &elements)
            } else {
                heap.array_new(TypeIndex(t), len, init_slot.get(&handles))
            }
        }) else {
            return;
        };
        if self.expect("array_new", &result, expected) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Array(t), fields: values });
            self.keep_local(Some(gc), m);
        }
    }

    fn new_extern(&mut self, payload: u32) {
        // The id counts as created once the allocation is over: a collection that the
        // allocation causes (to retry) must not look for this value yet.
        let id = self.next_host_id;
        let mut data = Some(Tracked { id, log: self.log.clone() });
        let outcome = self.allocate(|heap| match heap.alloc_externref(data.take().expect("data")) {
            Ok(gc) => Ok(gc),
            Err((error, back)) => {
                data = Some(back);
                Err(error)
            }
        });
        // When allocation failed for good, the data comes back and is dropped here: count it
        // as the one drop of that id.
        drop(data);
        self.next_host_id = id + 1;
        let Some(result) = outcome else { return };
        if self.expect("alloc_externref", &result, Expect::Ok) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Extern(id), fields: Vec::new() });
            let _ = payload;
            self.keep_local(Some(gc), m);
        }
    }

    /// The struct a selector names: its word, model ref, and the expected error if it is not a
    /// struct (`None` when the program holds no reference at all).
    fn target(&self, sel: u16, want: fn(&Harness, MRef) -> bool) -> Option<(u32, MRef, Expect)> {
        let (word, m) = self.pick(sel, want)?;
        Some((word, m, if want(self, m) { Expect::Ok } else { Expect::WrongObjectKind }))
    }

    fn struct_fields(&self, m: MRef) -> Vec<StorageType> {
        match self.kind(m) {
            Some(MKind::Struct(t)) => match &self.schema[t as usize] {
                Decl::Struct(ty) => ty.fields.clone(),
                Decl::Array(_) => unreachable!(),
            },
            _ => Vec::new(),
        }
    }

    fn struct_set(&mut self, target: u16, field: u16, seed: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_struct) else { return };
        let fields = self.struct_fields(m);
        // Sometimes one past the last field.
        let field = field as usize % (fields.len() + 1);
        if expected == Expect::Ok && field >= fields.len() {
            expected = Expect::FieldOutOfBounds;
        }
        let storage = fields.get(field).copied().unwrap_or(StorageType::I32);
        let value = self.make_value(storage, seed);
        if expected == Expect::Ok {
            expected = self.value_fits(value, storage);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result = self.heap.struct_set(&handle(word).expect("non-null"), field as u32, slot.get(&handles));
        if self.expect("struct_set", &result, expected) {
            self.set_field(m, field, value);
        }
    }

    fn set_field(&mut self, m: MRef, index: usize, value: MVal) {
        if let MRef::Obj(id) = m {
            if let Some(object) = self.objects.get_mut(&id) {
                object.fields[index] = value;
            }
        }
    }

    fn field(&self, m: MRef, index: usize) -> MVal {
        match m {
            MRef::Obj(id) => self.objects.get(&id).map_or(MVal::I32(0), |o| o.fields[index]),
            _ => MVal::I32(0),
        }
    }

    /// Takes a value the heap returned: compares it, then delivers a reference to `dest`.
    fn take_value(&mut self, what: &str, value: Value, expected: MVal, dest: Dest) {
        if !self.same(&value, expected) {
            self.fail(format!(
                "{what}: read {value:?}, the model has {expected:?} (word {:#x})",
                match expected {
                    MVal::Ref(m) => self.word_of(m),
                    _ => 0,
                }
            ));
        }
        if let Value::Ref(gc) = value {
            let m = match expected {
                MVal::Ref(m) => m,
                _ => MRef::Null,
            };
            self.deliver(gc, m, dest);
        }
    }

    fn struct_get(&mut self, target: u16, field: u16, dest: Dest) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_struct) else { return };
        let fields = self.struct_fields(m);
        let field = field as usize % (fields.len() + 1);
        if expected == Expect::Ok && field >= fields.len() {
            expected = Expect::FieldOutOfBounds;
        }
        let result = self.heap.struct_get(&handle(word).expect("non-null"), field as u32);
        if self.expect("struct_get", &result, expected) {
            let value = self.field(m, field);
            self.take_value("struct_get", result.expect("checked"), value, dest);
        }
    }

    fn array_info(&self, m: MRef) -> (StorageType, usize) {
        match self.kind(m) {
            Some(MKind::Array(t)) => (self.element(t), self.objects[&self.id(m)].fields.len()),
            _ => (StorageType::I32, 0),
        }
    }

    fn id(&self, m: MRef) -> u64 {
        match m {
            MRef::Obj(id) => id,
            _ => 0,
        }
    }

    fn array_set(&mut self, target: u16, index: u16, seed: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (element, len) = self.array_info(m);
        let index = index as usize % (len + 2);
        if expected == Expect::Ok && index >= len {
            expected = Expect::IndexOutOfBounds;
        }
        let value = self.make_value(element, seed);
        if expected == Expect::Ok {
            expected = self.value_fits(value, element);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result = self.heap.array_set(&handle(word).expect("non-null"), index as u32, slot.get(&handles));
        if self.expect("array_set", &result, expected) {
            self.set_field(m, index, value);
        }
    }

    fn array_get(&mut self, target: u16, index: u16, dest: Dest) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (_, len) = self.array_info(m);
        let index = index as usize % (len + 2);
        if expected == Expect::Ok && index >= len {
            expected = Expect::IndexOutOfBounds;
        }
        let result = self.heap.array_get(&handle(word).expect("non-null"), index as u32);
        if self.expect("array_get", &result, expected) {
            let value = self.field(m, index);
            self.take_value("array_get", result.expect("checked"), value, dest);
        }
    }

    fn array_fill(&mut self, target: u16, start: u16, count_value: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (element, len) = self.array_info(m);
        let start = start as usize % (len + 2);
        let count = (count_value & 0xffff) as usize % (len + 2);
        if expected == Expect::Ok && start + count > len {
            expected = Expect::IndexOutOfBounds;
        }
        let value = self.make_value(element, count_value >> 16 | (count_value & 0x7) << 16);
        if expected == Expect::Ok {
            expected = self.value_fits(value, element);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result =
            self.heap.array_fill(&handle(word).expect("non-null"), start as u32, slot.get(&handles), count as u32);
        if self.expect("array_fill", &result, expected) {
            for i in start..start + count {
                self.set_field(m, i, value);
            }
        }
    }

    fn array_copy(&mut self, destination: u16, source: u16, starts_count: u32) {
        let Some((dst_word, dst, dst_expected)) = self.target(destination, Harness::is_array) else { return };
        // Sometimes the same array.
        let (src_word, src, src_expected) = if source % 4 == 0 {
            (dst_word, dst, dst_expected)
        } else {
            match self.target(source, Harness::is_array) {
                Some(t) => t,
                None => return,
            }
        };
        let (dst_element, dst_len) = self.array_info(dst);
        let (src_element, src_len) = self.array_info(src);
        let dst_start = (starts_count & 0x3ff) as usize % (dst_len + 2);
        let src_start = ((starts_count >> 10) & 0x3ff) as usize % (src_len + 2);
        let count = (starts_count >> 20) as usize % (dst_len.max(src_len) + 2);
        let mut expected = if dst_expected != Expect::Ok { dst_expected } else { src_expected };
        if expected == Expect::Ok && (dst_start + count > dst_len || src_start + count > src_len) {
            expected = Expect::IndexOutOfBounds;
        }
        if expected == Expect::Ok
            && (dst_element.is_ref() != src_element.is_ref() || (!dst_element.is_ref() && dst_element != src_element))
        {
            // Wasm's rule: scalars of the same storage type only.
            expected = Expect::TypeMismatch;
        }
        // References of another type are checked one by one, in order: the copy stops at the
        // first that does not fit (the elements before it are copied).
        let source_values: Vec<MVal> = (0..count)
            .map(|i| if expected == Expect::Ok { self.field(src, src_start + i) } else { MVal::I32(0) })
            .collect();
        let mut copied = count;
        if expected == Expect::Ok && dst_element != src_element {
            if let StorageType::Ref(ref_type) = dst_element {
                if let Some(first_bad) = source_values.iter().position(|&v| match v {
                    MVal::Ref(r) => self.ref_fits(r, ref_type) != Expect::Ok,
                    _ => true,
                }) {
                    copied = first_bad;
                    expected = self.value_fits(source_values[first_bad], dst_element);
                }
            }
        }
        let (dst_handle, src_handle) = (handle(dst_word).expect("non-null"), handle(src_word).expect("non-null"));
        let result = self.heap.array_copy(&dst_handle, dst_start as u32, &src_handle, src_start as u32, count as u32);
        let ok = self.expect("array_copy", &result, expected);
        let partial = !ok && expected != Expect::Ok && copied < count;
        if ok || partial {
            for (i, &v) in source_values.iter().enumerate().take(copied) {
                let v = if v.fits(dst_element) { v } else { MVal::from_bits(v.bits(), dst_element) };
                self.set_field(dst, dst_start + i, v);
            }
        }
    }

    fn array_len(&mut self, target: u16) {
        let Some((word, m, expected)) = self.target(target, Harness::is_array) else { return };
        let result = self.heap.array_len(&handle(word).expect("non-null"));
        if self.expect("array_len", &result, expected) {
            let len = self.array_info(m).1;
            if result != Ok(len as u32) {
                self.fail(format!("array_len: {result:?}, the model has {len}"));
            }
        }
    }

    fn extern_data(&mut self, target: u16) {
        let Some((word, m, expected)) = self.target(target, Harness::is_extern) else { return };
        let result = self.heap.externref_data(&handle(word).expect("non-null")).map(|data| data.id);
        if self.expect("externref_data", &result, expected) {
            if let Some(MKind::Extern(id)) = self.kind(m) {
                if result != Ok(id) {
                    self.fail(format!("externref_data: host data {result:?}, the model has {id}"));
                }
            }
        }
    }

    fn ref_test(&mut self, target: u16, ty: u16) {
        let types = test_types();
        let ref_type = types[ty as usize % types.len()];
        let result = self.heap.matches(None, ref_type);
        if result != Ok(ref_type.nullable) {
            self.fail(format!("ref.test null {ref_type:?}: {result:?}"));
        }
        let Some((word, m)) = self.pick(target | RAW, |_, _| true) else { return };
        let result = self.heap.matches(Some(&handle(word).expect("non-null")), ref_type);
        let expected = self.ref_fits(m, ref_type) == Expect::Ok;
        if result != Ok(expected) {
            self.fail(format!("ref.test {m:?} {ref_type:?}: {result:?}, the model says {expected}"));
        }
    }

    fn push_frame(&mut self, picks: u32, count: u16) {
        if self.frames.len() >= MAX_FRAMES {
            return;
        }
        self.frames.push(Vec::new());
        for i in 0..(count % (MAX_FRAME_PICKS + 1)) as u32 {
            let sel = (picks >> (8 * i)) as u16 & 0xff;
            let Some((word, m)) = self.pick(sel, |_, _| true) else { break };
            let result = self.heap.clone_ref(&handle(word).expect("non-null"));
            if self.expect("clone_ref", &result, Expect::Ok) {
                self.give_to_wasm(result.ok(), m);
            }
        }
    }

    fn expose_many(&mut self, target: u16, times: u16) {
        let Some((word, m)) = self.pick(target, |_, _| true) else { return };
        let times = if times & 0x8000 != 0 { 1000 + (times as u32 & 0x7f) } else { times as u32 % 8 + 1 };
        for i in 0..times {
            let result = self.heap.clone_ref(&handle(word).expect("non-null"));
            if !self.expect("clone_ref", &result, Expect::Ok) {
                return;
            }
            let gc = result.expect("checked");
            if i + 1 == times {
                self.give_to_wasm(Some(gc), m);
            } else {
                let result = self.heap.expose_gc_ref_to_wasm(gc);
                self.expect("expose_gc_ref_to_wasm", &result, Expect::Ok);
            }
        }
    }

    /// Stores the reference `source` names (or null, for one value of the selector) in a host
    /// slot through the barrier.
    fn set_host_slot(&mut self, source: u16, slot: impl Fn(&mut Harness) -> &mut Slot) {
        let picked = if source % 7 == 6 { None } else { self.pick(source, |_, _| true) };
        let (word, m) = picked.unwrap_or((0, MRef::Null));
        let source_handle = handle(word);
        let mut destination = slot(self).gc.take();
        let result = self.heap.write_gc_ref(&mut destination, source_handle.as_ref());
        if self.expect("write_gc_ref", &result, Expect::Ok) {
            let slot = slot(self);
            slot.gc = destination;
            slot.m = m;
        } else {
            slot(self).gc = destination;
        }
    }

    fn clear_host_slot(&mut self, slot: impl Fn(&mut Harness) -> &mut Slot) {
        let mut destination = slot(self).gc.take();
        let result = self.heap.write_gc_ref(&mut destination, None);
        self.expect("write_gc_ref(null)", &result, Expect::Ok);
        let slot = slot(self);
        slot.gc = destination;
        slot.m = if slot.gc.is_some() { slot.m } else { MRef::Null };
    }

    fn reset(&mut self) {
        self.heap.reset();
        self.objects.clear();
        self.words.clear();
        self.locals.clear();
        for slot in self.globals.iter_mut().chain(self.tables.iter_mut().flatten()) {
            *slot = Slot::null();
        }
        self.frames.clear();
        self.no_gc_depth = 0;
        // Every host data value was dropped exactly once by now, corrupted heap or not: the
        // host data table is the single owner of every value.
        let log = self.log.borrow();
        for id in 1..self.next_host_id {
            let drops = log.drops.get(&id).copied().unwrap_or(0);
            assert_eq!(drops, 1, "after a reset, host data {id} was dropped {drops} times");
        }
        drop(log);
        // A reset heap must work whatever the region held: comparisons are back on.
        self.corrupted = false;
        let stats = self.heap.stats().expect("stats after reset");
        assert_eq!(stats.live_objects, 0, "objects after a reset");
        self.check_empty_heap_is_one_block();
    }

    /// The `v128` slot of `m` a fake header can be written to: (field or element index, its
    /// offset from the object's start), for a struct with a `v128` field or a non-empty `v128`
    /// array.
    fn v128_slot(&self, m: MRef) -> Option<(usize, u32)> {
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

    fn forge_interior_header(&mut self, target: u16, how: u16) {
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
    fn corrupt_size_then_free(&mut self, target: u16, size: u32) {
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

    fn corrupt(&mut self, offset: u32, value: u8, len: u16) {
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

    // ---------------------------------------------------------------------------------------
    // Collections and oracles.

    /// The roots an embedder reports: every Wasm stack word, and every host root.
    fn roots(&self) -> Vec<Root> {
        let mut roots: Vec<Root> = self.frames.iter().flatten().map(|&(word, _)| Root::wasm_stack(word)).collect();
        roots.extend(self.host_words().into_iter().map(Root::host));
        roots
    }

    /// The words of every owned reference the host holds.
    fn host_words(&self) -> Vec<u32> {
        self.locals
            .iter()
            .chain(&self.globals)
            .chain(self.tables.iter().flatten())
            .map(Slot::word)
            .filter(|&w| w != 0)
            .collect()
    }

    /// Model refs of every root: host slots and Wasm stack words.
    fn root_refs(&self) -> Vec<MRef> {
        let mut refs: Vec<MRef> =
            self.locals.iter().chain(&self.globals).chain(self.tables.iter().flatten()).map(|s| s.m).collect();
        refs.extend(self.frames.iter().flatten().map(|&(_, m)| m));
        refs
    }

    fn children(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.objects.get(&id).into_iter().flat_map(|o| o.fields.iter()).filter_map(|v| match v {
            MVal::Ref(MRef::Obj(child)) => Some(*child),
            _ => None,
        })
    }

    /// Objects reachable from the roots.
    fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut work: Vec<u64> = self
            .root_refs()
            .into_iter()
            .filter_map(|m| match m {
                MRef::Obj(id) => Some(id),
                _ => None,
            })
            .collect();
        while let Some(id) = work.pop() {
            if self.objects.contains_key(&id) && seen.insert(id) {
                work.extend(self.children(id));
            }
        }
        seen
    }

    /// The objects a reference-counting heap keeps after a complete collection: with counts
    /// from the roots (one per host root, one per distinct Wasm stack object) and from fields,
    /// free every object whose count is zero, transitively. What is left is what is reachable
    /// from the roots or from a garbage cycle. With `cycles_collected`, only what is reachable.
    fn expected_live(&self, cycles_collected: bool) -> HashSet<u64> {
        if cycles_collected {
            return self.reachable();
        }
        let mut counts: HashMap<u64, u64> = self.objects.keys().map(|&id| (id, 0)).collect();
        for m in self.root_refs() {
            if let MRef::Obj(id) = m {
                if let Some(count) = counts.get_mut(&id) {
                    *count += 1;
                }
            }
        }
        for &id in self.objects.keys() {
            for child in self.children(id) {
                if let Some(count) = counts.get_mut(&child) {
                    *count += 1;
                }
            }
        }
        let mut work: Vec<u64> = counts.iter().filter(|&(_, &c)| c == 0).map(|(&id, _)| id).collect();
        let mut freed = HashSet::new();
        while let Some(id) = work.pop() {
            if !freed.insert(id) {
                continue;
            }
            for child in self.children(id).collect::<Vec<_>>() {
                if let Some(count) = counts.get_mut(&child) {
                    *count -= 1;
                    if *count == 0 {
                        work.push(child);
                    }
                }
            }
        }
        self.objects.keys().copied().filter(|id| !freed.contains(id)).collect()
    }

    /// Compares one object of the model with the heap.
    fn check_object(&mut self, id: u64) {
        let Some(object) = self.objects.get(&id).cloned() else { return };
        let word = self.word_of(MRef::Obj(id));
        let gc = handle(word).expect("objects have words");
        let kind = self.heap.kind_of(&gc);
        match object.kind {
            MKind::Struct(t) | MKind::Array(t) => {
                let want = if matches!(object.kind, MKind::Struct(_)) { Kind::STRUCT } else { Kind::ARRAY };
                if kind != Ok(Some(want)) || self.heap.type_of(&gc) != Ok(Some(TypeIndex(t))) {
                    self.fail(format!("object {id} at {word:#x}: kind {kind:?}, the model has {:?}", object.kind));
                    return;
                }
                if let MKind::Array(_) = object.kind {
                    let len = self.heap.array_len(&gc);
                    if len != Ok(object.fields.len() as u32) {
                        self.fail(format!(
                            "array {id} at {word:#x}: length {len:?}, the model has {}",
                            object.fields.len()
                        ));
                        return;
                    }
                }
                for (i, &expected) in object.fields.iter().enumerate() {
                    let value = match object.kind {
                        MKind::Struct(_) => self.heap.struct_get(&gc, i as u32),
                        _ => self.heap.array_get(&gc, i as u32),
                    };
                    match value {
                        Ok(value) => self.take_value(
                            &format!("object {id} at {word:#x}, field {i}"),
                            value,
                            expected,
                            Dest::Drop,
                        ),
                        Err(error) => self.fail(format!("object {id} at {word:#x}, field {i}: {error:?}")),
                    }
                }
            }
            MKind::Extern(host) => {
                let data = self.heap.externref_data(&gc).map(|d| d.id);
                if kind != Ok(Some(Kind::EXTERN)) || data != Ok(host) {
                    self.fail(format!(
                        "externref {id} at {word:#x}: kind {kind:?}, data {data:?}, the model has {host}"
                    ));
                }
            }
        }
    }

    /// Checks that the words of `ids` are distinct and each object equals the model's.
    fn check_objects(&mut self, ids: &HashSet<u64>) {
        let mut seen = HashMap::new();
        for &id in ids {
            let word = self.word_of(MRef::Obj(id));
            if let Some(other) = seen.insert(word, id) {
                self.fail(format!("objects {id} and {other} share the word {word:#x}"));
            }
        }
        let mut ids: Vec<u64> = ids.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.check_object(id);
        }
    }

    fn verify(&mut self) {
        let words = self.host_words();
        if let Err(error) = self.heap.verify(words) {
            self.fail(format!("verify: {error}"));
        }
    }

    /// The weak oracle: every reachable object alive and equal; `verify` passes.
    fn check_reachable(&mut self) {
        if !self.checking() {
            let _ = self.heap.verify(self.host_words());
            return;
        }
        let reachable = self.reachable();
        self.check_objects(&reachable);
        self.verify();
    }

    /// The exact oracle after a complete collection (see the module documentation); prunes the
    /// model to what is left.
    fn check_after_collection(&mut self, cycles_collected: bool) {
        self.stats.complete_collections += 1;
        if !self.checking() {
            return;
        }
        // `possible`: what reference counting must keep (an upper bound); `certain`: what must be
        // alive. They are equal, except when the heap has a cycle collector that may have run on
        // its own: garbage cycles may then be gone or not.
        let possible = self.expected_live(cycles_collected);
        let certain = if self.has_cycle_collector && !cycles_collected { self.reachable() } else { possible.clone() };
        let stats = self.heap.stats().expect("stats");
        if stats.live_objects < certain.len() as u64 || stats.live_objects > possible.len() as u64 {
            self.fail(format!(
                "after a collection the heap has {} objects, the model expects {} to {} (cycles collected: {cycles_collected})",
                stats.live_objects,
                certain.len(),
                possible.len()
            ));
        }
        self.check_objects(&certain);
        self.verify();
        let hosts = |ids: &HashSet<u64>| -> HashSet<u64> {
            ids.iter()
                .filter_map(|id| match self.objects[id].kind {
                    MKind::Extern(host) => Some(host),
                    _ => None,
                })
                .collect()
        };
        let (certain_hosts, possible_hosts) = (hosts(&certain), hosts(&possible));
        let count = self.heap.host_data_count();
        if count < certain_hosts.len() || count > possible_hosts.len() {
            self.fail(format!(
                "host data values: {count}, the model expects {} to {}",
                certain_hosts.len(),
                possible_hosts.len()
            ));
        }
        {
            let log = self.log.borrow();
            for id in 1..self.next_host_id {
                let drops = log.drops.get(&id).copied().unwrap_or(0);
                let wrong = if certain_hosts.contains(&id) {
                    drops != 0
                } else if !possible_hosts.contains(&id) {
                    drops != 1
                } else {
                    drops > 1
                };
                if wrong {
                    drop(log);
                    self.fail(format!("host data {id} dropped {drops} times after a collection"));
                    return;
                }
            }
        }
        self.objects.retain(|id, _| possible.contains(id));
        self.words.retain(|id, _| possible.contains(id));
        if possible.is_empty() {
            self.check_empty_heap_is_one_block();
        }
    }

    /// With no object left, the free list is one block again: all of the region after the
    /// reserved first granule.
    fn check_empty_heap_is_one_block(&self) {
        if !self.checking() {
            return;
        }
        let stats = self.heap.stats().expect("stats");
        if stats.live_objects == 0
            && (stats.free_blocks != 1 || stats.free_bytes != self.region_len as u64 - 16 || stats.used_bytes != 16)
        {
            self.fail(format!("an empty heap is not one free block: {stats:?}"));
        }
    }

    /// A whole collection with every root, then the exact oracle. With `cycles`, also the cycle
    /// collector, when the heap has one.
    fn collect_whole(&mut self, cycles: bool) {
        let result = self.heap.collect_all(self.roots());
        if !self.expect("collect_all", &result, Expect::Ok) {
            return;
        }
        let mut cycles_collected = false;
        if cycles {
            if let Some(result) = collect_cycles(&mut self.heap) {
                if self.expect("collect_cycles", &result, Expect::Ok) {
                    cycles_collected = true;
                }
            }
        }
        self.check_after_collection(cycles_collected);
    }

    fn collect_steps(&mut self, steps: u16, finish: bool) {
        let roots = self.roots();
        let in_scope = self.no_gc_depth > 0;
        let mut complete = false;
        let outcome: Result<(), Error> = (|| {
            let mut collection = self.heap.collect(roots)?;
            for _ in 0..(steps % 4) {
                if collection.step()? == Progress::Complete {
                    complete = true;
                    return Ok(());
                }
            }
            if finish {
                for _ in 0..MAX_COLLECTION_STEPS {
                    if collection.step()? == Progress::Complete {
                        complete = true;
                        return Ok(());
                    }
                }
                panic!("a collection did not complete in {MAX_COLLECTION_STEPS} steps");
            }
            Ok(())
        })();
        let expected = if in_scope { Expect::InNoGcScope } else { Expect::Ok };
        if !self.expect("collect (step by step)", &outcome, expected) {
            return;
        }
        if complete {
            self.check_after_collection(false);
        } else {
            self.stats.abandoned_collections += 1;
            self.check_reachable();
        }
    }

    /// After every operation: no host data dropped twice, none dropped while reachable.
    fn check_drops(&mut self) {
        let log = self.log.borrow();
        if log.order.len() == self.checked_drops {
            return;
        }
        let new: Vec<u64> = log.order[self.checked_drops..].to_vec();
        self.checked_drops = log.order.len();
        let twice: Vec<u64> = new.iter().copied().filter(|id| log.drops[id] > 1).collect();
        drop(log);
        // A double drop is a memory-safety matter even in a corrupted heap: always checked.
        assert!(twice.is_empty(), "host data dropped twice: {twice:?}");
        if !self.checking() {
            return;
        }
        let reachable_hosts: HashSet<u64> = self
            .reachable()
            .iter()
            .filter_map(|id| match self.objects[id].kind {
                MKind::Extern(host) => Some(host),
                _ => None,
            })
            .collect();
        if let Some(id) = new.iter().find(|id| reachable_hosts.contains(id)) {
            self.fail(format!("host data {id} was dropped while the model can reach it"));
        }
    }

    /// The end of a program: every root goes, the heap collects, and only garbage cycles may be
    /// left (nothing, once the cycle collector exists). Then a reset drops the rest.
    pub fn finish(&mut self) {
        self.frames.clear();
        while self.no_gc_depth > 0 {
            let result = self.heap.exit_no_gc_scope();
            self.expect("exit_no_gc_scope", &result, Expect::Ok);
            self.no_gc_depth -= 1;
        }
        for slot in std::mem::take(&mut self.locals) {
            self.release(slot.gc);
        }
        for g in 0..GLOBALS {
            self.clear_host_slot(|h| &mut h.globals[g]);
        }
        for t in 0..TABLES {
            for i in 0..TABLE_SIZE {
                self.clear_host_slot(|h| &mut h.tables[t][i]);
            }
        }
        self.collect_whole(true);
        self.check_drops();
        // The collection above ran the cycle collector when the heap has one (`collect_cycles`,
        // the single place that calls it): then nothing at all may be left.
        if self.checking() && self.has_cycle_collector {
            let stats = self.heap.stats().expect("stats");
            assert_eq!(
                stats.live_objects, 0,
                "objects left after every root went and cycles were collected: {stats:?}"
            );
            self.check_empty_heap_is_one_block();
        }
        self.reset();
    }
}

/// A value to pass to the heap: plain, or a reference borrowed from a list of handles.
#[derive(Clone, Copy)]
enum ValueRefSlot {
    Plain(ValueRef<'static>),
    Handle(usize),
}

impl ValueRefSlot {
    fn get<'a>(&self, handles: &'a [GcRef]) -> ValueRef<'a> {
        match *self {
            ValueRefSlot::Plain(v) => v,
            ValueRefSlot::Handle(i) => ValueRef::Ref(Some(&handles[i])),
        }
    }
}
