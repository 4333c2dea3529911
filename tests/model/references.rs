//! The harness's references: those the program holds (locals, globals, tables, the Wasm stack),
//! how a selector picks one, Wasm's typing rules for storing a value, the heap form of model
//! values; and the ownership of the references the heap hands out (released, kept as a local,
//! given to Wasm, or allocated with a retry after a collection).

use super::helpers::{handle, i31, mix, Slot};
use super::ops::{Dest, RAW};
use super::schema::Decl;
use super::values::{Expect, MKind, MObj, MRef, MVal, Tracked, ValueRefSlot};
use super::{Harness, MAX_LOCALS};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType, TypeReference};
use drc_heap::{Error, GcRef, Heap, Value, ValueRef};

impl Harness {
    // ---------------------------------------------------------------------------------------
    // References the program holds.

    /// The word of a model reference (the heap word of an object; 0 for null).
    pub(super) fn word_of(&self, m: MRef) -> u32 {
        match m {
            MRef::Null => 0,
            MRef::I31(v) => GcRef::from_i31(v).as_raw_u32(),
            MRef::Obj(id) => self.words.get(&id).copied().unwrap_or(0),
        }
    }

    /// Every non-null reference the program holds: locals, globals, tables, the Wasm stack.
    pub(super) fn candidates(&self) -> Vec<(u32, MRef)> {
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
    pub(super) fn pick(&self, sel: u16, want: impl Fn(&Harness, MRef) -> bool) -> Option<(u32, MRef)> {
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

    pub(super) fn kind(&self, m: MRef) -> Option<MKind> {
        match m {
            MRef::Obj(id) => self.objects.get(&id).map(|o| o.kind),
            _ => None,
        }
    }

    pub(super) fn is_struct(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Struct(_)))
    }

    pub(super) fn is_array(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Array(_)))
    }

    pub(super) fn is_extern(&self, m: MRef) -> bool {
        matches!(self.kind(m), Some(MKind::Extern(_)))
    }

    pub(super) fn is_subtype(&self, sub: u32, sup: u32) -> bool {
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
    pub(super) fn ref_fits(&self, m: MRef, ref_type: RefType) -> Expect {
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
    pub(super) fn value_fits(&self, v: MVal, storage: StorageType) -> Expect {
        match (v, storage) {
            (MVal::Ref(m), StorageType::Ref(ref_type)) => self.ref_fits(m, ref_type),
            _ if v.fits(storage) => Expect::Ok,
            _ => Expect::TypeMismatch,
        }
    }

    /// A value for `storage` made from `seed`: mostly of the right type (references found among
    /// those the program holds, matching the type when one does), sometimes deliberately wrong.
    pub(super) fn make_value(&self, storage: StorageType, seed: u32) -> MVal {
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
    pub(super) fn value_ref(&self, v: MVal, handles: &mut Vec<GcRef>) -> ValueRefSlot {
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
    pub(super) fn same(&self, value: &Value, m: MVal) -> bool {
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
    pub(super) fn release(&mut self, gc: Option<GcRef>) {
        if let Some(gc) = gc {
            let result = self.heap.drop_ref(gc);
            self.expect("drop_ref", &result, Expect::Ok);
        }
    }

    /// Keeps an owned reference as a host local (or releases it when the locals are full).
    pub(super) fn keep_local(&mut self, gc: Option<GcRef>, m: MRef) {
        if self.locals.len() < MAX_LOCALS {
            self.locals.push(Slot { gc, m });
        } else {
            self.release(gc);
        }
    }

    /// Hands an owned reference to Wasm: exposes it and pushes its word on the top frame (a new
    /// frame if there is none).
    pub(super) fn give_to_wasm(&mut self, gc: Option<GcRef>, m: MRef) {
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

    pub(super) fn deliver(&mut self, gc: Option<GcRef>, m: MRef, dest: Dest) {
        match dest {
            Dest::Drop => self.release(gc),
            Dest::Local => self.keep_local(gc, m),
            Dest::Stack => self.give_to_wasm(gc, m),
        }
    }

    /// A new model object for a heap object just allocated.
    pub(super) fn add_object(&mut self, gc: &GcRef, object: MObj) -> MRef {
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
    pub(super) fn allocate<T>(
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
}
