//! GC instructions (structs, arrays, `ref.test`/`ref.cast`, i31) and the dispatch of the
//! instructions the interpreter loop does not handle inline.
//!
//! Stack words become heap values with no count of their own (`GcRef::from_raw_u32`, never
//! dropped through the heap): the heap's setters and constructors take the counts the stored
//! references need. Every reference read from an object gets a count that goes to the activations
//! table before its word is pushed. Allocations go through `Store::allocate` (collect when
//! recommended, collect and retry once when out of memory).

use super::exec::bad_code;
use super::tables::range;
use super::Store;
use crate::compile::CompiledFunction;
use crate::error::{Error, Trap};
use crate::instr::{Extension, Instr};
use crate::types::{Abstract, HeapTy, Hierarchy, RefTy};
use alloc::vec::Vec;
use drc_heap::types::StorageType;
use drc_heap::wasm_slots::slot_value;
use drc_heap::{GcRef, Kind, Operands, Signedness, TypeIndex, Value};

/// A stack slot's word as the unbound handle a heap value of `storage` type borrows.
pub(super) fn holder(storage: StorageType, slot: u64) -> Option<GcRef> {
    match storage {
        StorageType::Ref(_) => GcRef::from_raw_u32(slot as u32),
        _ => None,
    }
}

/// Little-endian bytes as a heap value of `storage` type (for `array.new_data`).
fn bytes_value(storage: StorageType, bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[..len].copy_from_slice(&bytes[..len]);
    let _ = storage;
    u64::from_le_bytes(buffer)
}

fn storage_size(storage: StorageType) -> u64 {
    storage.size() as u64
}

/// Structs with at most this many fields are built from inline buffers.
const INLINE_FIELDS: usize = 8;

/// How the heap widens a packed field for `extension` (`Extension::None` reads unpacked fields,
/// for which the heap ignores it).
fn signedness(extension: Extension) -> Signedness {
    match extension {
        Extension::Signed => Signedness::Signed,
        _ => Signedness::Unsigned,
    }
}

fn null_struct() -> Error {
    Error::Trap(Trap::NullStructReference)
}

fn null_array() -> Error {
    Error::Trap(Trap::NullArrayReference)
}

/// A heap error of an array access: an index out of bounds is the Wasm trap.
fn array_error(error: drc_heap::Error) -> Error {
    match error {
        drc_heap::Error::IndexOutOfBounds { .. } => out_of_bounds_array(),
        other => Error::Heap(other),
    }
}

fn out_of_bounds_array() -> Error {
    Error::Trap(Trap::OutOfBoundsArrayAccess)
}

impl<H: 'static> Store<H> {
    /// Pushes a value read from the heap; a reference's count goes to the activations table.
    fn push_value(&mut self, value: Value, extension: Extension) -> Result<(), Error> {
        let slot = match value {
            Value::I8(v) if extension == Extension::Signed => v as i32 as u32 as u64,
            Value::I8(v) => v as u8 as u64,
            Value::I16(v) if extension == Extension::Signed => v as i32 as u32 as u64,
            Value::I16(v) => v as u16 as u64,
            Value::I32(v) => v as u32 as u64,
            Value::I64(v) => v as u64,
            Value::F32(v) => v.to_bits() as u64,
            Value::F64(v) => v.to_bits(),
            Value::V128(v) => v as u64,
            Value::Ref(None) => 0,
            Value::Ref(Some(r)) => {
                let word = r.as_raw_u32();
                self.heap.expose_gc_ref_to_wasm(r)?;
                word as u64
            }
        };
        self.stack.push(slot);
        Ok(())
    }

    /// The heap type index of module type `type_index` of `instance`.
    fn heap_type(&self, instance: u32, type_index: u32) -> Result<TypeIndex, Error> {
        let id = self
            .instances
            .get(instance as usize)
            .and_then(|i| i.types.get(type_index as usize))
            .copied()
            .ok_or_else(bad_code)?;
        self.types.heap_type(id).ok_or_else(bad_code)
    }

    fn array_element(&self, ty: TypeIndex) -> Result<StorageType, Error> {
        Ok(self.heap.types().array_layout(ty)?.0.element)
    }

    /// Allocates a struct of heap type `ty` from the top `fields.len()` slots (left in place
    /// during the allocation so that a collection sees them) and replaces them with it. The
    /// validator proved the operands' types.
    pub(super) fn struct_new(&mut self, ty: TypeIndex, default: bool) -> Result<(), Error> {
        if default {
            let r = self.allocate(|heap| heap.struct_new_default(ty))?;
            return self.push_value(Value::Ref(Some(r)), Extension::None);
        }
        let count = self.heap.types().struct_layout(ty)?.0.fields.len();
        let start = self.stack.len().checked_sub(count).ok_or_else(bad_code)?;
        let word = if count <= INLINE_FIELDS {
            // Most structs are small: their slots are copied without a heap allocation.
            let mut slots = [0u64; INLINE_FIELDS];
            slots[..count].copy_from_slice(&self.stack[start..]);
            self.allocate(|heap| heap.struct_new_from_slots(ty, &slots[..count], Operands::Proved))?
        } else {
            let slots = self.stack[start..].to_vec();
            self.allocate(|heap| heap.struct_new_from_slots(ty, &slots, Operands::Proved))?
        };
        self.stack.truncate(start);
        self.stack.push(word as u64);
        Ok(())
    }

    fn pop_object(&mut self, null: fn() -> Error) -> Result<GcRef, Error> {
        let word = self.stack.pop().unwrap_or(0) as u32;
        GcRef::from_raw_u32(word).ok_or_else(null)
    }

    /// The object word on top of the stack, popped; `null` for a null word.
    fn pop_object_word(&mut self, null: fn() -> Error) -> Result<u32, Error> {
        match self.stack.pop().unwrap_or(0) as u32 {
            0 => Err(null()),
            word => Ok(word),
        }
    }

    fn struct_get(&mut self, field: u32, extension: Extension) -> Result<(), Error> {
        let word = self.pop_object_word(null_struct)?;
        let slot = self.heap.struct_get_slot(word, field, signedness(extension))?;
        self.stack.push(slot);
        Ok(())
    }

    fn struct_set(&mut self, field: u32) -> Result<(), Error> {
        let slot = self.stack.pop().unwrap_or(0);
        let word = self.pop_object_word(null_struct)?;
        self.heap.struct_set_slot(word, field, slot, Operands::Proved)?;
        Ok(())
    }

    /// `array.new`, `array.new_default`: length on top, then (not default) the initial value.
    fn array_new(&mut self, ty: TypeIndex, default: bool) -> Result<(), Error> {
        let len = self.stack.pop().unwrap_or(0) as u32;
        if default {
            let r = self.allocate(|heap| heap.array_new_default(ty, len))?;
            return self.push_value(Value::Ref(Some(r)), Extension::None);
        }
        // The initial value stays on the stack during the allocation (a root).
        let init = self.stack.last().copied().unwrap_or(0);
        let word = self.allocate(|heap| heap.array_new_from_slot(ty, len, init, Operands::Proved))?;
        self.stack.pop();
        self.stack.push(word as u64);
        Ok(())
    }

    fn array_new_fixed(&mut self, ty: TypeIndex, count: u32) -> Result<(), Error> {
        let start = self.stack.len().checked_sub(count as usize).ok_or_else(bad_code)?;
        let slots: Vec<u64> = self.stack[start..].to_vec();
        let word = self.allocate(|heap| heap.array_new_fixed_from_slots(ty, &slots, Operands::Proved))?;
        self.stack.truncate(start);
        self.stack.push(word as u64);
        Ok(())
    }

    /// The bytes of data segment `segment` for `count` elements of `element` from `offset`.
    fn data_slots(
        &self,
        instance: u32,
        segment: u32,
        element: StorageType,
        offset: u32,
        count: u32,
    ) -> Result<Vec<u64>, Error> {
        let data =
            self.instances.get(instance as usize).and_then(|i| i.data.get(segment as usize)).ok_or_else(bad_code)?;
        let size = storage_size(element);
        let bytes = (count as u64).checked_mul(size).ok_or(Error::Trap(Trap::OutOfBoundsMemoryAccess))?;
        let range = range(offset as u64, bytes, data.len()).ok_or(Error::Trap(Trap::OutOfBoundsMemoryAccess))?;
        Ok(data[range].chunks(size as usize).map(|chunk| bytes_value(element, chunk)).collect())
    }

    fn element_slots(&self, instance: u32, segment: u32, offset: u32, count: u32) -> Result<Vec<u64>, Error> {
        let words = self.element_words(instance, segment)?;
        let range = range(offset as u64, count as u64, words.len()).ok_or(Error::Trap(Trap::OutOfBoundsTableAccess))?;
        Ok(words[range].iter().map(|&w| w as u64).collect())
    }

    fn array_new_segment(&mut self, instance: u32, ty: TypeIndex, segment: u32, data: bool) -> Result<(), Error> {
        let element = self.array_element(ty)?;
        let count = self.stack.pop().unwrap_or(0) as u32;
        let offset = self.stack.pop().unwrap_or(0) as u32;
        let slots = if data {
            self.data_slots(instance, segment, element, offset, count)?
        } else {
            self.element_slots(instance, segment, offset, count)?
        };
        // Segment elements are counted references of the instance's, checked at validation.
        let word = self.allocate(|heap| heap.array_new_fixed_from_slots(ty, &slots, Operands::Proved))?;
        self.stack.push(word as u64);
        Ok(())
    }

    fn array_init_segment(&mut self, instance: u32, segment: u32, data: bool) -> Result<(), Error> {
        let count = self.stack.pop().unwrap_or(0) as u32;
        let offset = self.stack.pop().unwrap_or(0) as u32;
        let start = self.stack.pop().unwrap_or(0) as u32;
        let r = self.pop_object(null_array)?;
        let ty = self.heap.type_of(&r)?.ok_or_else(null_array)?;
        let element = self.array_element(ty)?;
        let len = self.heap.array_len(&r)?;
        range(start as u64, count as u64, len as usize).ok_or_else(out_of_bounds_array)?;
        let slots = if data {
            self.data_slots(instance, segment, element, offset, count)?
        } else {
            self.element_slots(instance, segment, offset, count)?
        };
        let word = r.as_raw_u32();
        for (index, slot) in (start..).zip(slots) {
            self.heap.array_set_slot(word, index, slot, Operands::Proved)?;
        }
        Ok(())
    }

    fn array_get(&mut self, extension: Extension) -> Result<(), Error> {
        let index = self.stack.pop().unwrap_or(0) as u32;
        let word = self.pop_object_word(null_array)?;
        // The heap checks the index: one validation of the object per access.
        let slot = self.heap.array_get_slot(word, index, signedness(extension)).map_err(array_error)?;
        self.stack.push(slot);
        Ok(())
    }

    fn array_set(&mut self) -> Result<(), Error> {
        let slot = self.stack.pop().unwrap_or(0);
        let index = self.stack.pop().unwrap_or(0) as u32;
        let word = self.pop_object_word(null_array)?;
        self.heap.array_set_slot(word, index, slot, Operands::Proved).map_err(array_error)?;
        Ok(())
    }

    fn array_len(&mut self) -> Result<(), Error> {
        let r = self.pop_object(null_array)?;
        let len = self.heap.array_len(&r)?;
        self.stack.push(len as u64);
        Ok(())
    }

    fn array_fill(&mut self) -> Result<(), Error> {
        let count = self.stack.pop().unwrap_or(0) as u32;
        let slot = self.stack.pop().unwrap_or(0);
        let start = self.stack.pop().unwrap_or(0) as u32;
        let r = self.pop_object(null_array)?;
        let len = self.heap.array_len(&r)?;
        range(start as u64, count as u64, len as usize).ok_or_else(out_of_bounds_array)?;
        if count == 0 {
            return Ok(());
        }
        let ty = self.heap.type_of(&r)?.ok_or_else(null_array)?;
        let element = self.array_element(ty)?;
        let h = holder(element, slot);
        self.heap.array_fill(&r, start, slot_value(element, slot, &h)?, count)?;
        Ok(())
    }

    fn array_copy(&mut self) -> Result<(), Error> {
        let count = self.stack.pop().unwrap_or(0) as u32;
        let source_start = self.stack.pop().unwrap_or(0) as u32;
        let source = self.stack.pop().unwrap_or(0) as u32;
        let destination_start = self.stack.pop().unwrap_or(0) as u32;
        let destination = self.pop_object(null_array)?;
        let source = GcRef::from_raw_u32(source).ok_or_else(null_array)?;
        let destination_len = self.heap.array_len(&destination)?;
        let source_len = self.heap.array_len(&source)?;
        range(destination_start as u64, count as u64, destination_len as usize).ok_or_else(out_of_bounds_array)?;
        range(source_start as u64, count as u64, source_len as usize).ok_or_else(out_of_bounds_array)?;
        if count == 0 {
            return Ok(());
        }
        self.heap.array_copy(&destination, destination_start, &source, source_start, count)?;
        Ok(())
    }

    /// A module reference type of `instance` with its type indices made canonical.
    pub(super) fn canonical_ref(&self, instance: u32, ty: RefTy) -> Result<RefTy, Error> {
        let heap = match ty.heap {
            HeapTy::Index(index) => HeapTy::Index(
                self.instances
                    .get(instance as usize)
                    .and_then(|i| i.types.get(index as usize))
                    .copied()
                    .ok_or_else(bad_code)?,
            ),
            other => other,
        };
        Ok(RefTy { nullable: ty.nullable, heap })
    }

    /// Whether the slot `word` is a value of canonical reference type `ty`.
    pub(super) fn word_matches(&self, word: u64, ty: RefTy) -> Result<bool, Error> {
        let word = word as u32;
        if word == 0 {
            return Ok(ty.nullable);
        }
        match self.hierarchy(ty) {
            Hierarchy::Func => {
                let function = self.functions.get(word as usize - 1).ok_or_else(bad_code)?;
                Ok(self.types.heap_is_subtype(HeapTy::Index(function.type_id()), ty.heap))
            }
            Hierarchy::Extern => Ok(ty.heap == HeapTy::Abstract(Abstract::Extern)),
            Hierarchy::Exn => Ok(false),
            Hierarchy::Any => {
                let r = GcRef::from_raw_u32(word).ok_or_else(bad_code)?;
                if r.is_i31() {
                    return Ok(matches!(ty.heap, HeapTy::Abstract(Abstract::Any | Abstract::Eq | Abstract::I31)));
                }
                match self.heap.kind_of(&r)? {
                    Some(kind) if kind == Kind::EXTERN => Ok(ty.heap == HeapTy::Abstract(Abstract::Any)),
                    _ => {
                        let index = self.heap.type_of(&r)?.ok_or_else(bad_code)?;
                        let id = self.types.canonical_of_heap_type(index).ok_or_else(bad_code)?;
                        Ok(self.types.heap_is_subtype(HeapTy::Index(id), ty.heap))
                    }
                }
            }
        }
    }

    /// Instructions the loop does not handle inline. The top frame's `pc` is up to date.
    pub(super) fn execute_other(
        &mut self,
        instance: u32,
        function: &CompiledFunction,
        instr: Instr,
    ) -> Result<(), Error> {
        match instr {
            Instr::TableGet(table) => self.table_get(instance, table),
            Instr::TableSet(table) => self.table_set(instance, table),
            Instr::TableSize(table) => self.table_size(instance, table),
            Instr::TableGrow(table) => self.table_grow(instance, table),
            Instr::TableFill(table) => self.table_fill(instance, table),
            Instr::TableCopy { destination, source } => self.table_copy(instance, destination, source),
            Instr::TableInit { segment, table } => self.table_init(instance, segment, table),
            Instr::ElemDrop(segment) => self.elem_drop(instance, segment),
            Instr::Load { op, memory, offset } => self.load(instance, op, memory, offset),
            Instr::Store { op, memory, offset } => self.store(instance, op, memory, offset),
            Instr::MemorySize(memory) => self.memory_size(instance, memory),
            Instr::MemoryGrow(memory) => self.memory_grow(instance, memory),
            Instr::MemoryFill(memory) => self.memory_fill(instance, memory),
            Instr::MemoryCopy { destination, source } => self.memory_copy(instance, destination, source),
            Instr::MemoryInit { segment, memory } => self.memory_init(instance, segment, memory),
            Instr::DataDrop(segment) => self.data_drop(instance, segment),
            Instr::RefTest(index) | Instr::RefCast(index) => {
                let ty = function.ref_types.get(index as usize).copied().ok_or_else(bad_code)?;
                let ty = self.canonical_ref(instance, ty)?;
                let word = self.stack.last().copied().unwrap_or(0);
                let matches = self.word_matches(word, ty)?;
                if let Instr::RefTest(_) = instr {
                    if let Some(top) = self.stack.last_mut() {
                        *top = matches as u64;
                    }
                } else if !matches {
                    return Err(Error::Trap(Trap::CastFailure));
                }
                Ok(())
            }
            Instr::I31Get(extension) => {
                let word = self.stack.pop().unwrap_or(0) as u32;
                let r = GcRef::from_raw_u32(word).ok_or(Error::Trap(Trap::NullI31Reference))?;
                let value = match extension {
                    Extension::Signed => r.i31_signed().map(|v| v as u32),
                    _ => r.i31_unsigned(),
                };
                self.stack.push(value.ok_or_else(bad_code)? as u64);
                Ok(())
            }
            Instr::StructNew(type_index) => self.struct_new(self.heap_type(instance, type_index)?, false),
            Instr::StructNewDefault(type_index) => self.struct_new(self.heap_type(instance, type_index)?, true),
            Instr::StructGet { field, extension } => self.struct_get(field, extension),
            Instr::StructSet(field) => self.struct_set(field),
            Instr::ArrayNew(type_index) => self.array_new(self.heap_type(instance, type_index)?, false),
            Instr::ArrayNewDefault(type_index) => self.array_new(self.heap_type(instance, type_index)?, true),
            Instr::ArrayNewFixed { type_index, count } => {
                self.array_new_fixed(self.heap_type(instance, type_index)?, count)
            }
            Instr::ArrayNewData { type_index, segment } => {
                self.array_new_segment(instance, self.heap_type(instance, type_index)?, segment, true)
            }
            Instr::ArrayNewElem { type_index, segment } => {
                self.array_new_segment(instance, self.heap_type(instance, type_index)?, segment, false)
            }
            Instr::ArrayGet(extension) => self.array_get(extension),
            Instr::ArraySet => self.array_set(),
            Instr::ArrayLen => self.array_len(),
            Instr::ArrayFill => self.array_fill(),
            Instr::ArrayCopy => self.array_copy(),
            Instr::ArrayInitData(segment) => self.array_init_segment(instance, segment, true),
            Instr::ArrayInitElem(segment) => self.array_init_segment(instance, segment, false),
            _ => Err(bad_code()),
        }
    }
}
