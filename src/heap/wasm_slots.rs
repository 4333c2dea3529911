//! The Wasm boundary for interpreters and JIT slow paths: struct and array access in the
//! engine's own terms, operand-stack slots and raw reference words.
//!
//! An interpreter keeps each Wasm value in a 64-bit **slot**, and a JIT's slow-path calls
//! pass the same bits. The methods here take and return slots, so that an engine's
//! `struct.new`, `struct.get`, `struct.set`, `array.new`, `array.new_fixed`, `array.get` and
//! `array.set` are one heap call each, with no [`crate::Value`] or [`GcRef`] built around the
//! operands:
//!
//! | storage type | slot bits |
//! |---|---|
//! | `i32`, `f32` | the low 32 bits (the upper 32 are ignored on writes, zero on reads) |
//! | `i64`, `f64` | all 64 bits |
//! | `i8`, `i16` (packed) | writes keep the low 8 or 16 bits; reads widen to an `i32` as [`Signedness`] says |
//! | `ref` | the low 32 bits: the raw word (0 null, odd an i31, else an object) |
//! | `v128` | none: a slot cannot hold one, so `v128` fields and elements give [`Error::TypeMismatch`] |
//!
//! # References on the Wasm stack
//! A reference word in a slot carries no count of its own: while Wasm code holds it, the
//! activations table does (the deferred reference counting protocol of
//! [`crate::activations_table`]). So
//! * a reference **read** onto the stack (`struct_get_slot`, `array_get_slot`) and a new
//!   object (the constructors, which return its word) are *exposed to Wasm*: the count they
//!   come with goes into the activations table, exactly as [`Heap::expose_gc_ref_to_wasm`](crate::Heap::expose_gc_ref_to_wasm)
//!   does, and the caller keeps them as roots ([`crate::Root::wasm_stack`]) until it drops them;
//! * a reference **stored** (the constructors' operands, `struct_set_slot`, `array_set_slot`) is
//!   borrowed from the stack: the field takes a count of its own, and the old value's count is
//!   given back. The stack's words keep theirs (in the table).
//!
//! Every word is validated as any word from outside: null, an i31, or the start of a live
//! object ([`Error::InvalidReference`] otherwise); the object operand of a getter or setter
//! must be a struct or array of the right kind (a null word is [`Error::NullReference`], which
//! an engine turns into its null-dereference trap).
//!
//! [`Operands`] says whether a stored reference is checked against the field's or element's
//! reference type ([`Operands::Checked`]) or the caller's validator proved it
//! ([`Operands::Proved`]: see [`Heap::struct_new_proved`](crate::Heap::struct_new_proved) for what a wrong proof can do, which is
//! only to mistype an object for Wasm). A constructor that fails gives back every count it took
//! and allocates nothing; it is then retryable after a collection when the error says so
//! ([`Error::is_retryable`]).

use super::{HeapIn, Operands};
use crate::error::{Error, Result};
use crate::region::Region;
use crate::types::{StorageType, TypeIndex};
use crate::value::{Value, ValueRef};
use crate::GcRef;

/// How a packed (`i8`, `i16`) field or element read into a slot is widened to an `i32`
/// (Wasm's `struct.get_s` / `struct.get_u`, `array.get_s` / `array.get_u`). Ignored for every
/// other storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signedness {
    /// Zero-extended (`_u`, and plain `get` of an unpacked field).
    Unsigned,
    /// Sign-extended (`_s`).
    Signed,
}

/// The error for a `v128` field or element, which a 64-bit slot cannot hold.
fn v128_slot() -> Error {
    Error::TypeMismatch { expected: "a storage type a 64-bit slot holds", found: "v128" }
}

/// The bytes `slot` stores as `storage` (a scalar), in the order the region uses.
fn write_slot_bits(region: &mut Region, offset: u32, storage: StorageType, slot: u64) -> Result<()> {
    match storage {
        StorageType::I8 => region.write(offset, (slot as u8).to_ne_bytes()),
        StorageType::I16 => region.write(offset, (slot as u16).to_ne_bytes()),
        StorageType::I32 | StorageType::F32 => region.write(offset, (slot as u32).to_ne_bytes()),
        StorageType::I64 | StorageType::F64 => region.write(offset, slot.to_ne_bytes()),
        StorageType::V128 => Err(v128_slot()),
        StorageType::Ref(_) => region.write_u32(offset, slot as u32),
    }
}

/// `slot` as a value of `storage` type, for the generic API (a Wasm engine's constant
/// expressions, `array.fill`). A reference borrows `holder`, which the caller makes from the
/// slot's word with [`GcRef::from_raw_u32`] (an unbound handle that is never dropped through the
/// heap, so no count is involved). A `v128` is [`Error::TypeMismatch`]: a slot cannot hold one.
pub fn slot_value(storage: StorageType, slot: u64, holder: &Option<GcRef>) -> Result<ValueRef<'_>> {
    Ok(match storage {
        StorageType::I8 => ValueRef::I8(slot as u8 as i8),
        StorageType::I16 => ValueRef::I16(slot as u16 as i16),
        StorageType::I32 => ValueRef::I32(slot as u32 as i32),
        StorageType::I64 => ValueRef::I64(slot as i64),
        StorageType::F32 => ValueRef::F32(f32::from_bits(slot as u32)),
        StorageType::F64 => ValueRef::F64(f64::from_bits(slot)),
        StorageType::V128 => return Err(v128_slot()),
        StorageType::Ref(_) => ValueRef::Ref(holder.as_ref()),
    })
}

/// The unbound handle of a word from the stack: `NullReference` for 0. It is only borrowed
/// (never dropped through the heap), so no count is involved.
fn operand(word: u32) -> Result<GcRef> {
    GcRef::from_raw_u32(word).ok_or(Error::NullReference)
}

impl<'a, H> HeapIn<'a, H> {
    /// Takes one count on every reference among `slots` (stored as `storage(i)`), checking its
    /// type unless `operands` is proved; on a failure, gives back the counts taken so far.
    fn retain_slots(
        &mut self,
        slots: &[u64],
        storage: impl Fn(&Self, usize) -> Result<StorageType>,
        operands: Operands,
    ) -> Result<()> {
        for (i, &slot) in slots.iter().enumerate() {
            let taken = match storage(self, i) {
                Ok(StorageType::Ref(ref_type)) => self.retain_as(slot as u32, operands.check(ref_type), 1),
                Ok(StorageType::V128) => Err(v128_slot()),
                Ok(_) => Ok(()),
                Err(error) => Err(error),
            };
            if let Err(error) = taken {
                self.release_slots(&slots[..i], &storage)?;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Gives back the counts [`Heap::retain_slots`](crate::Heap::retain_slots) took.
    fn release_slots(&mut self, slots: &[u64], storage: &impl Fn(&Self, usize) -> Result<StorageType>) -> Result<()> {
        for (i, &slot) in slots.iter().enumerate() {
            if storage(self, i)?.is_ref() {
                self.release(slot as u32)?;
            }
        }
        Ok(())
    }

    /// Exposes `r` (a new object, or a reference just read with a count) to Wasm: its count
    /// goes into the activations table. Returns its word.
    fn expose(&mut self, r: GcRef) -> Result<u32> {
        let word = r.as_raw_u32();
        self.expose_gc_ref_to_wasm(r)?;
        Ok(word)
    }

    /// Wasm's `struct.new`: a struct of type `ty` whose fields are `slots` (one per field, in
    /// order; see the module documentation for the encoding). Returns the new object's word,
    /// exposed to Wasm. [`Error::FieldCountMismatch`] for the wrong number of slots; on any
    /// error nothing is allocated and no count changes.
    pub fn struct_new_from_slots(&mut self, ty: TypeIndex, slots: &[u64], operands: Operands) -> Result<u32> {
        let field_count = self.types.struct_layout(ty)?.0.fields.len();
        if field_count != slots.len() {
            return Err(Error::FieldCountMismatch { expected: field_count as u32, found: slots.len() as u32 });
        }
        let storage = |heap: &Self, i: usize| Ok(heap.types.struct_layout(ty)?.0.fields[i]);
        self.retain_slots(slots, storage, operands)?;
        let object = match self.struct_alloc(ty) {
            Ok(object) => object,
            Err(error) => {
                self.release_slots(slots, &storage)?;
                return Err(error);
            }
        };
        let index = object.as_raw_u32();
        // One registry lookup for all the stores (as many slots as fields, checked above).
        let HeapIn { types, region, .. } = self;
        let (struct_type, layout) = types.struct_layout(ty)?;
        for ((&slot, &storage), &offset) in slots.iter().zip(&struct_type.fields).zip(&layout.field_offsets) {
            // A fresh field is zero: there is no old value to release.
            write_slot_bits(region, index + offset, storage, slot)?;
        }
        self.expose(object)
    }

    /// Wasm's `array.new`: an array of type `ty` of `len` copies of `slot`. Returns the new
    /// object's word, exposed to Wasm; on any error nothing is allocated and no count changes.
    pub fn array_new_from_slot(&mut self, ty: TypeIndex, len: u32, slot: u64, operands: Operands) -> Result<u32> {
        let element = self.types.array_layout(ty)?.0.element;
        let holder = if element.is_ref() { GcRef::from_raw_u32(slot as u32) } else { None };
        let init = slot_value(element, slot, &holder)?;
        let array = self.array_new_operands(ty, len, init, operands)?;
        self.expose(array)
    }

    /// Wasm's `array.new_fixed` (and `array.new_data` / `array.new_elem` once the engine has
    /// read the segment): an array of type `ty` whose elements are `slots`. Returns the new
    /// object's word, exposed to Wasm; on any error nothing is allocated and no count changes.
    pub fn array_new_fixed_from_slots(&mut self, ty: TypeIndex, slots: &[u64], operands: Operands) -> Result<u32> {
        let element = self.types.array_layout(ty)?.0.element;
        let len = u32::try_from(slots.len()).map_err(|_| Error::AllocationTooLarge {
            requested: usize::MAX,
            max: crate::types::MAX_OBJECT_SIZE as usize,
        })?;
        let storage = move |_: &Self, _: usize| Ok(element);
        self.retain_slots(slots, storage, operands)?;
        let array = match self.array_alloc(ty, len) {
            Ok(array) => array,
            Err(error) => {
                self.release_slots(slots, &storage)?;
                return Err(error);
            }
        };
        let (index, layout) = (array.as_raw_u32(), *self.types.array_layout(ty)?.1);
        for (i, &slot) in (0u32..).zip(slots) {
            // A fresh element is zero: there is no old value to release.
            write_slot_bits(&mut self.region, index + layout.element_offset(i), element, slot)?;
        }
        self.expose(array)
    }

    /// Reads the value at `offset` (of `storage` type) as a slot; a reference is retained and
    /// exposed to Wasm.
    fn read_slot(&mut self, offset: u32, storage: StorageType, signedness: Signedness) -> Result<u64> {
        let signed = signedness == Signedness::Signed;
        Ok(match self.read_value(offset, storage)? {
            Value::I8(v) if signed => v as i32 as u32 as u64,
            Value::I8(v) => v as u8 as u64,
            Value::I16(v) if signed => v as i32 as u32 as u64,
            Value::I16(v) => v as u16 as u64,
            Value::I32(v) => v as u32 as u64,
            Value::I64(v) => v as u64,
            Value::F32(v) => v.to_bits() as u64,
            Value::F64(v) => v.to_bits(),
            Value::V128(_) => return Err(v128_slot()),
            Value::Ref(None) => 0,
            Value::Ref(Some(r)) => self.expose(r)? as u64,
        })
    }

    /// Wasm's `struct.get`, `struct.get_s`, `struct.get_u`: field `field` of the struct
    /// `word` as a slot. A reference comes exposed to Wasm.
    pub fn struct_get_slot(&mut self, word: u32, field: u32, signedness: Signedness) -> Result<u64> {
        let (offset, storage) = self.struct_field(&operand(word)?, field)?;
        self.read_slot(offset, storage, signedness)
    }

    /// Wasm's `struct.set`: writes `slot` to field `field` of the struct `word` through the
    /// write barrier (a reference is stored with a count of its own; the old one's is given
    /// back).
    pub fn struct_set_slot(&mut self, word: u32, field: u32, slot: u64, operands: Operands) -> Result<()> {
        let (offset, storage) = self.struct_field(&operand(word)?, field)?;
        self.write_slot(offset, storage, slot, operands)
    }

    /// Wasm's `array.get`, `array.get_s`, `array.get_u`: element `i` of the array `word` as a
    /// slot ([`Error::IndexOutOfBounds`] past its length). A reference comes exposed to Wasm.
    pub fn array_get_slot(&mut self, word: u32, i: u32, signedness: Signedness) -> Result<u64> {
        let (index, layout, element, len) = self.array_info(&operand(word)?)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        self.read_slot(index + layout.element_offset(i), element, signedness)
    }

    /// Wasm's `array.set`: writes `slot` to element `i` of the array `word` through the write
    /// barrier ([`Error::IndexOutOfBounds`] past its length).
    pub fn array_set_slot(&mut self, word: u32, i: u32, slot: u64, operands: Operands) -> Result<()> {
        let (index, layout, element, len) = self.array_info(&operand(word)?)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        self.write_slot(index + layout.element_offset(i), element, slot, operands)
    }

    /// Writes `slot` at `offset` (of `storage` type) through the write barrier.
    fn write_slot(&mut self, offset: u32, storage: StorageType, slot: u64, operands: Operands) -> Result<()> {
        match storage {
            StorageType::Ref(ref_type) => {
                let new = slot as u32;
                self.retain_as(new, operands.check(ref_type), 1)?;
                self.replace_reference(offset, new)
            }
            _ => write_slot_bits(&mut self.region, offset, storage, slot),
        }
    }
}
