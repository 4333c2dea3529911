//! Struct and array access: the generic API.
//!
//! Constructors ([`Heap::struct_new`](crate::Heap::struct_new), [`Heap::array_new`](crate::Heap::array_new), [`Heap::array_new_fixed`](crate::Heap::array_new_fixed) and the
//! `_default` ones), getters that hand out owned values ([`Heap::struct_get`](crate::Heap::struct_get),
//! [`Heap::array_get`]: a reference comes with a new count), setters through the write barrier
//! ([`Heap::struct_set`](crate::Heap::struct_set), [`Heap::array_set`](crate::Heap::array_set), [`Heap::array_fill`](crate::Heap::array_fill), [`Heap::array_copy`](crate::Heap::array_copy)),
//! and the reference type checks they all use ([`Heap::matches`](crate::Heap::matches), Wasm's `ref.test`).
//!
//! Every access validates the object once (its header, kind, and its size against its type or
//! length), checks the field or index, and checks a stored value against the field's or
//! element's storage type; a reference also against its reference type unless the caller
//! proved it ([`Operands`]). A constructor that fails gives back every count it took.

use super::counts::{retain_word, zero_body_bytes};
use super::object::{check_immediate_ref_type, heap_type_accepts, kind_decides, object_word, ref_type_mismatch, Word};
use super::HeapIn;
use crate::error::{Error, Result};
use crate::free_list::{FreeList, GRANULE};
use crate::gc_ref::HeapId;
use crate::header::{Kind, ObjectHeader, ARRAY_LENGTH_OFFSET, HEADER_SIZE, REF_COUNT_OFFSET};
use crate::region::Region;
use crate::types::{HeapType, RefType, StorageType, StructType, TypeIndex, TypeRegistry, MAX_OBJECT_SIZE};
use crate::value::{mismatch, read_scalar, write_scalar, FieldPlan, Value, ValueRef};
use crate::GcRef;

/// Whether a constructor checks the types of the reference operands it stores against the
/// field's or element's reference type ([`Operands::Checked`], the generic API), or the caller
/// proved them ([`Operands::Proved`], the `*_proved` constructors such as [`Heap::struct_new_proved`](crate::Heap::struct_new_proved), and the slot family of [`crate::wasm_slots`]).
/// Either way every word is validated (null, an i31, or the start of a live object) and the
/// counts are taken: only the subtype and nullability check is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operands {
    /// Check every reference operand against the field's or element's reference type.
    Checked,
    /// The caller's validator proved the operands' types: only their words are validated.
    /// A wrong proof can only mistype an object for Wasm (a field then holds a reference of
    /// another type, which every reader validates like any word): counts stay exact and
    /// [`Heap::verify`](crate::Heap::verify) passes; an acyclic type given a reference it could not hold may close a
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

impl<'a, H> HeapIn<'a, H> {
    /// The kind of the object `r` names; `None` for an i31.
    pub fn kind_of(&self, r: &GcRef) -> Result<Option<Kind>> {
        Ok(self.handle_object(r)?.map(|(_, header)| header.kind))
    }

    /// The registered type of the struct or array `r` names.
    pub fn type_of(&self, r: &GcRef) -> Result<Option<TypeIndex>> {
        let header = self.handle_object(r)?.map(|(_, header)| header);
        Ok(header.filter(|header| header.kind != Kind::EXTERN).map(|header| TypeIndex(header.type_index)))
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

    /// Checks that the word `raw` may be stored where `ref_type` is expected. Answered inline:
    /// the null word for a nullable type (the leaves of a tree store nulls), and an object for
    /// a heap type its kind alone decides (`eq`, `struct`, `array`: the bitmap says an object
    /// starts there and its kind byte is read and validated, nothing else of its header);
    /// everything else is [`Heap::check_non_null_ref_type`](crate::Heap::check_non_null_ref_type), out of line.
    #[inline(always)]
    pub(crate) fn check_ref_type(&self, raw: u32, ref_type: RefType) -> Result<()> {
        match Word::of(raw) {
            Word::Null if ref_type.nullable => Ok(()),
            Word::Object(index) => match kind_decides(ref_type.heap_type) {
                Some(required) if self.object_kind(index)?.matches(required) => Ok(()),
                Some(_) => Err(ref_type_mismatch()),
                None => self.check_non_null_ref_type(raw, ref_type),
            },
            _ => self.check_non_null_ref_type(raw, ref_type),
        }
    }

    /// [`Heap::check_ref_type`](crate::Heap::check_ref_type) past its inline tests. An object
    /// is validated as far as the heap type needs: `extern` and `any` accept every object (the
    /// bitmap says one starts there), a concrete type reads and validates the whole header (its
    /// type index), the others the kind byte ([`Heap::object_kind`](crate::Heap::object_kind)).
    #[inline(never)]
    fn check_non_null_ref_type(&self, raw: u32, ref_type: RefType) -> Result<()> {
        let accepted = match Word::of(raw) {
            Word::Null | Word::I31 => return check_immediate_ref_type(raw, ref_type),
            Word::Object(index) => match ref_type.heap_type {
                HeapType::Extern | HeapType::Any => {
                    if !self.free_list.is_allocated(index) {
                        return Err(Error::InvalidReference(index));
                    }
                    true
                }
                HeapType::Concrete(_) => {
                    let header = self.object(index)?;
                    heap_type_accepts(&self.types, Some((header.kind, header.type_index)), ref_type.heap_type)
                }
                heap_type => {
                    let kind = self.object_kind(index)?;
                    kind_decides(heap_type).is_some_and(|required| kind.matches(required))
                }
            },
        };
        if accepted {
            Ok(())
        } else {
            Err(ref_type_mismatch())
        }
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

    /// [`Heap::struct_new`](crate::Heap::struct_new), checking the reference operands' types or not (`operands`).
    ///
    /// One registry lookup gives the checks, the allocation and the stores their plan: the
    /// type's precomputed block, fresh header and field plans ([`FieldPlan`]). Each operand is
    /// checked against its field's plan and its count taken in one pass (one header read per
    /// reference); an operand the plan does not decide (an i31, a concrete reference type, any
    /// error) goes to the field's full check ([`retain_operand`]), so the answers and errors
    /// are the full checks'.
    #[inline(always)]
    pub(crate) fn struct_new_operands(
        &mut self,
        ty: TypeIndex,
        fields: &[ValueRef<'_>],
        operands: Operands,
    ) -> Result<GcRef> {
        let (struct_type, layout) = self.types.struct_layout(ty)?;
        let field_count = struct_type.fields.len();
        if field_count != fields.len() || layout.field_plans.len() != fields.len() {
            return Err(Error::FieldCountMismatch { expected: field_count as u32, found: fields.len() as u32 });
        }
        let (size, block, header) = (layout.size, layout.block, layout.header);
        self.retain_struct_operands(ty, fields, operands)?;
        let index = match self.alloc_bare_block(size, block) {
            Ok(index) => index,
            Err(error) => {
                self.release_field_refs(fields)?;
                return Err(error);
            }
        };
        let HeapIn { types, region, counters, .. } = self;
        // The block `alloc_bare_block` gave, in one bounds check; its header is written and the
        // object counted before anything else can fail; each store then checks only that its
        // bytes lie in the block.
        let bytes = region.slice_mut(index, block, "new struct out of region bounds")?;
        let Some((head, body)) = bytes.split_first_chunk_mut::<{ HEADER_SIZE as usize }>() else {
            return Err(Error::corrupted(index, "new struct smaller than its header"));
        };
        *head = header;
        counters.allocated(block);
        let (_, layout) = types.struct_layout(ty)?;
        // Checked by `retain_struct_operands`: the variant is the field's storage type, a
        // reference's word was validated and its count taken; the field was never anything,
        // so there is no old value to release.
        write_borrowed_struct_body(body, &layout.field_plans, fields)
            .map_err(|offset| Error::corrupted(index + offset, "struct field outside its block"))?;
        Ok(self.object_handle(index))
    }

    /// Checks the operands of a constructor of struct type `ty` (as many values as it has
    /// fields) and takes the counts of the references among them in one pass, with one
    /// registry lookup for all of them; if anything fails, gives back the counts taken so far.
    ///
    /// Each operand is first tried against its field's [`FieldPlan`]: null in a nullable
    /// field; an object of this heap (the bitmap says one starts at its word; its header's
    /// kind and flags validated, its count not zero and not at its maximum) whose kind byte the
    /// field takes (any object in a reference field when `operands` is [`Operands::Proved`]),
    /// which gets its count;
    /// a scalar of the field's type. Whatever the plan does not decide goes to
    /// [`retain_operand`], the field's full check, which takes the count or gives the error.
    #[inline(always)]
    fn retain_struct_operands(&mut self, ty: TypeIndex, fields: &[ValueRef<'_>], operands: Operands) -> Result<()> {
        let id = self.id;
        let HeapIn { types, region, free_list, .. } = self;
        let (struct_type, layout) = types.struct_layout(ty)?;
        let mut failed = None;
        for (i, (value, &plan)) in fields.iter().zip(&layout.field_plans).enumerate() {
            let decided = match value {
                ValueRef::Ref(None) => plan.accepts_null(),
                ValueRef::Ref(Some(r)) => retain_if_plan_takes(region, free_list, id, plan, r, operands),
                _ => plan.accepts_scalar_ref(*value),
            };
            if decided {
                continue;
            }
            if let Err(error) = retain_operand(region, free_list, types, id, struct_type, i, *value, operands) {
                failed = Some((i, error));
                break;
            }
        }
        match failed {
            Some((i, error)) => {
                self.release_field_refs(&fields[..i])?;
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// Checks every value of a constructor against its storage type (`storage(i)`) and takes
    /// the counts of the references among them in one pass (one header read per reference);
    /// if anything fails, gives back the counts taken so far.
    fn retain_operands(
        &mut self,
        values: &[ValueRef<'_>],
        storage: impl Fn(&Self, usize) -> Result<StorageType>,
        operands: Operands,
    ) -> Result<()> {
        for (i, &value) in values.iter().enumerate() {
            let checked = storage(self, i).and_then(|storage| match (storage, value) {
                (StorageType::Ref(ref_type), ValueRef::Ref(r)) => {
                    self.word_of(r).and_then(|raw| self.retain_as(raw, operands.check(ref_type), 1))
                }
                _ if value.matches_storage(storage) => Ok(()),
                _ => Err(mismatch(storage, value)),
            });
            if let Err(error) = checked {
                self.release_field_refs(&values[..i])?;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Gives back the counts [`Heap::retain_operands`](crate::Heap::retain_operands) took on the references among `values`.
    fn release_field_refs(&mut self, values: &[ValueRef<'_>]) -> Result<()> {
        for value in values {
            if let ValueRef::Ref(r) = value {
                // Only values whose counts were taken, so their words were checked.
                self.release(r.map_or(0, GcRef::as_raw_u32))?;
            }
        }
        Ok(())
    }

    /// Checks that `value` may be written where `storage` is, without touching counts: a
    /// scalar's variant must be the storage type's, a reference must be of the reference type.
    #[inline]
    pub(super) fn check_storage(&self, storage: StorageType, value: ValueRef<'_>) -> Result<()> {
        match (storage, value) {
            (StorageType::Ref(ref_type), ValueRef::Ref(r)) => self.check_ref_type(self.word_of(r)?, ref_type),
            _ if value.matches_storage(storage) => Ok(()),
            _ => Err(mismatch(storage, value)),
        }
    }

    /// The offset and storage type of field `field` of struct `r`.
    #[inline]
    pub(crate) fn struct_field(&self, r: &GcRef, field: u32) -> Result<(u32, StorageType)> {
        self.struct_field_inline(r, field)
    }

    /// [`Heap::struct_field`](crate::Heap::struct_field), always inlined: into the generic
    /// getter and setter, so that the struct's validation and the field's read (and the
    /// child's increment) or write are one function (no result handed back through memory
    /// between them).
    #[inline(always)]
    fn struct_field_inline(&self, r: &GcRef, field: u32) -> Result<(u32, StorageType)> {
        let (index, ty, layout) = self.struct_at(r)?;
        let storage =
            *ty.fields.get(field as usize).ok_or(Error::FieldOutOfBounds { field, fields: ty.fields.len() as u32 })?;
        Ok((index + layout.field_offsets[field as usize], storage))
    }

    /// Reads a struct field. A reference comes with a new count.
    ///
    /// A reference field is found with one load and one test (the layout's precomputed
    /// reference-field offsets, as [`StructView::get_ref`](crate::StructView::get_ref)); any
    /// other field through its storage type. Inlined into the caller's loop: its `Result`
    /// through memory and the call cost 14 instructions a read on binary-trees (generic API).
    #[inline]
    pub fn struct_get(&mut self, r: &GcRef, field: u32) -> Result<Value> {
        let (index, ty, layout) = self.struct_at(r)?;
        if let Some(&offset) = layout.reference_field_offsets.get(field as usize).filter(|&&offset| offset != 0) {
            let raw = self.region.read_u32(index + offset)?;
            // Null and i31 words carry no count; an object's handle is made from what the
            // branch knows of its word (neither 0 nor an i31), with no test of its own.
            let Some(child) = object_word(raw) else { return Ok(Value::Ref(self.handle(raw))) };
            self.increment(child)?;
            return Ok(Value::Ref(Some(self.object_handle(child))));
        }
        let storage =
            *ty.fields.get(field as usize).ok_or(Error::FieldOutOfBounds { field, fields: ty.fields.len() as u32 })?;
        let offset = index + layout.field_offsets[field as usize];
        self.read_value(offset, storage)
    }

    /// Writes a struct field through the write barrier.
    ///
    /// A reference to a reference field is checked, counted and stored in this function (no
    /// result handed back through memory between the struct's validation and the store).
    pub fn struct_set(&mut self, r: &GcRef, field: u32, value: ValueRef<'_>) -> Result<()> {
        let (offset, storage) = self.struct_field_inline(r, field)?;
        if let (StorageType::Ref(ref_type), ValueRef::Ref(r)) = (storage, value) {
            let new = self.word_of(r)?;
            self.retain_as(new, Some(ref_type), 1)?;
            return self.replace_reference(offset, new);
        }
        write_scalar(&mut self.region, offset, storage, value)
    }

    /// Reads the value at `offset` (of `storage` type); a reference comes with a new count.
    #[inline]
    pub(super) fn read_value(&mut self, offset: u32, storage: StorageType) -> Result<Value> {
        if storage.is_ref() {
            // A reference straight from its word (no scalar dispatch, no nested result).
            let raw = self.region.read_u32(offset)?;
            return Ok(Value::Ref(self.retain_raw(raw)?));
        }
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
                self.replace_reference(offset, new)
            }
            _ => write_scalar(&mut self.region, offset, storage, value),
        }
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

    /// [`Heap::array_new`](crate::Heap::array_new), checking the reference operand's type or not (`operands`).
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
            (Operands::Proved, _) if !value.matches_storage(storage) => Err(mismatch(storage, value)),
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

    /// [`Heap::array_new_fixed`](crate::Heap::array_new_fixed), checking the reference operands' types or not (`operands`).
    pub(crate) fn array_new_fixed_operands(
        &mut self,
        ty: TypeIndex,
        elements: &[ValueRef<'_>],
        operands: Operands,
    ) -> Result<GcRef> {
        let element = self.types.array_layout(ty)?.0.element;
        let len = u32::try_from(elements.len())
            .map_err(|_| Error::AllocationTooLarge { requested: usize::MAX, max: MAX_OBJECT_SIZE as usize })?;
        self.retain_operands(elements, |_, _| Ok(element), operands)?;
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
        HeapIn::<H>::check_range(i, 1, len)?;
        self.read_value(index + layout.element_offset(i), element)
    }

    /// Writes element `i` through the write barrier.
    pub fn array_set(&mut self, r: &GcRef, i: u32, value: ValueRef<'_>) -> Result<()> {
        let (index, layout, element, len) = self.array_info(r)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        self.write_value(index + layout.element_offset(i), element, value)
    }

    /// Writes `value` to elements `start..start + count` (Wasm's `array.fill`).
    pub fn array_fill(&mut self, r: &GcRef, start: u32, value: ValueRef<'_>, count: u32) -> Result<()> {
        self.fill(r, start, value, count, Operands::Checked)
    }

    /// [`Heap::array_fill`](crate::Heap::array_fill), checking a reference's type or not (`operands`).
    fn fill(&mut self, r: &GcRef, start: u32, value: ValueRef<'_>, count: u32, operands: Operands) -> Result<()> {
        let (index, layout, element, len) = self.array_info(r)?;
        HeapIn::<H>::check_range(start, count, len)?;
        if let (StorageType::Ref(ref_type), ValueRef::Ref(new)) = (element, value) {
            let new = self.word_of(new)?;
            self.retain_as(new, operands.check(ref_type), count)?;
            for i in start..start + count {
                self.replace_reference(index + layout.element_offset(i), new)?;
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
        HeapIn::<H>::check_range(destination_start, count, dst_len)?;
        HeapIn::<H>::check_range(source_start, count, src_len)?;
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
            self.replace_reference(dst + dst_layout.element_offset(destination_start + i), new)?;
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
}

/// Takes a count on the borrowed reference `r` if the plan of the field it is stored in
/// decides that it may be stored there (see [`HeapIn::retain_struct_operands`]): a handle of
/// heap `id` naming an object (the free list's bitmap says one starts at its word) whose
/// header's kind and flags are valid ([`ObjectHeader::decode_count`]), whose kind byte the
/// plan takes (any kind for [`Operands::Proved`], if the field holds references) and whose count is neither zero nor at its
/// maximum. `false`, with nothing changed, leaves the check (and the error) to
/// [`retain_operand`]: the tests are the ones `retain_word` makes, in its order.
#[inline(always)]
fn retain_if_plan_takes(
    region: &mut Region,
    free_list: &FreeList,
    id: HeapId,
    plan: FieldPlan,
    r: &GcRef,
    operands: Operands,
) -> bool {
    let Some(index) = r.word_for(id).ok().and_then(object_word) else { return false };
    if !free_list.is_allocated(index) {
        return false;
    }
    let Ok(header) = ObjectHeader::decode_count(region, index) else { return false };
    let taken = match operands {
        Operands::Checked => plan.accepts_kind(header.kind.to_byte()),
        Operands::Proved => plan.holds_references(),
    };
    if !taken {
        return false;
    }
    match header.ref_count.checked_add(1) {
        Some(count) if header.ref_count != 0 => region.write_u32(index + REF_COUNT_OFFSET, count).is_ok(),
        _ => false,
    }
}

/// The full check of operand `value` of field `field` of `struct_type` (a constructor's, on
/// heap `id`), taking its count if it is a reference: its storage type, then a reference's
/// word and (unless `operands` is [`Operands::Proved`]) its reference type, as `retain_word`
/// checks them. For what a field's plan leaves undecided (see
/// [`HeapIn::retain_struct_operands`]).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn retain_operand(
    region: &mut Region,
    free_list: &FreeList,
    types: &TypeRegistry,
    id: HeapId,
    struct_type: &StructType,
    field: usize,
    value: ValueRef<'_>,
    operands: Operands,
) -> Result<()> {
    let Some(&storage) = struct_type.fields.get(field) else {
        return Err(Error::FieldCountMismatch { expected: struct_type.fields.len() as u32, found: field as u32 });
    };
    match (storage, value) {
        (StorageType::Ref(ref_type), ValueRef::Ref(r)) => r
            .map_or(Ok(0), |r| r.word_for(id))
            .and_then(|raw| retain_word(region, free_list, types, raw, operands.check(ref_type), 1)),
        _ if value.matches_storage(storage) => Ok(()),
        _ => Err(mismatch(storage, value)),
    }
}

/// Writes checked borrowed operands (each of its field's storage type, a reference's count
/// taken: see [`HeapIn::retain_struct_operands`]) at their plans' offsets into `body`, the bytes
/// after a fresh struct's header, and zeroes the rest (padding, packed neighbours), as
/// `write_struct_body` (fast paths) writes owned ones: a body of one granule is built in a
/// zeroed local and stored whole. `Err` holds the offset of a field that does not fit in the
/// block (which registration rules out).
#[inline(always)]
fn write_borrowed_struct_body(
    body: &mut [u8],
    plans: &[FieldPlan],
    fields: &[ValueRef<'_>],
) -> core::result::Result<(), u32> {
    if let Ok(granule) = <&mut [u8; GRANULE as usize]>::try_from(&mut *body) {
        let mut image = [0; GRANULE as usize];
        for (plan, value) in plans.iter().zip(fields) {
            if !value.write_into_granule(&mut image, (plan.offset as usize).wrapping_sub(HEADER_SIZE as usize)) {
                return Err(plan.offset);
            }
        }
        *granule = image;
        return Ok(());
    }
    zero_body_bytes(body);
    for (plan, value) in plans.iter().zip(fields) {
        if !value.write_into(body, (plan.offset as usize).wrapping_sub(HEADER_SIZE as usize)) {
            return Err(plan.offset);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
