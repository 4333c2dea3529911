//! Fast paths for embedders: moving owned references in, borrowing references out, typed
//! scalar access.
//!
//! The generic API ([`Heap::struct_new`](crate::Heap::struct_new), [`Heap::struct_get`](crate::Heap::struct_get), [`Heap::struct_set`](crate::Heap::struct_set) and the
//! array counterparts) borrows the references it stores and hands out owned ones, so code that
//! builds and walks a data structure from the host pays one increment and one decrement per
//! reference it passes through, and every decrement that leaves a count above zero makes the
//! object a possible cycle root (a buffer entry for the cycle collector). The methods here
//! avoid that traffic where ownership allows it, as Wasm code itself does:
//!
//! * **Moving in** ([`Heap::struct_new_owned`](crate::Heap::struct_new_owned), [`Heap::struct_set_owned`](crate::Heap::struct_set_owned),
//!   [`Heap::array_set_owned`](crate::Heap::array_set_owned)) take [`Value`]s: a reference in one is moved into the field (the
//!   count the caller owned becomes the field's count), like Wasm's `struct.new` consuming its
//!   operands. No increment, no decrement.
//! * **Borrowing out** ([`Heap::struct_get_borrowed`](crate::Heap::struct_get_borrowed), [`Heap::array_get_borrowed`](crate::Heap::array_get_borrowed)) return a
//!   [`BorrowedRef`] that borrows the heap immutably: nothing can change a count while it lives,
//!   so the object cannot be freed under it, and no count is taken. Walking a structure
//!   (counting a tree's nodes, following a list) touches no count at all. Take an owned
//!   reference from a borrowed one with [`Heap::retain_raw`](crate::Heap::retain_raw) once the borrow ends, or read the
//!   field again with [`Heap::struct_get_ref`](crate::Heap::struct_get_ref).
//! * **Views** ([`Heap::struct_view`](crate::Heap::struct_view), [`Heap::array_view`](crate::Heap::array_view), [`Heap::scalar_array_mut`](crate::Heap::scalar_array_mut))
//!   validate an object once (header, kind, type, size or length) and then read fields or
//!   elements (or write scalar elements, which need no barrier) with only an index check and a
//!   storage-type check each: walking a tree node reads both children for one validation,
//!   summing or filling an array checks each index against a length read once.
//! * **Typed access** ([`Heap::struct_get_ref`](crate::Heap::struct_get_ref), [`Heap::struct_get_scalar`](crate::Heap::struct_get_scalar),
//!   [`Heap::array_get_scalar`](crate::Heap::array_get_scalar), and one getter per scalar storage type on the heap and
//!   the views, one setter per type on [`ScalarArrayMut`], generated in `typed.rs`) skip the
//!   [`Value`] match where the caller knows the storage type.
//! * **Proved operand types** ([`Heap::struct_new_proved`](crate::Heap::struct_new_proved), [`Heap::array_new_proved`](crate::Heap::array_new_proved),
//!   [`Heap::array_new_fixed_proved`](crate::Heap::array_new_fixed_proved)) are the generic constructors for a caller whose own
//!   validator has proved that every reference operand has its field's or element's type (a
//!   Wasm engine after validating `struct.new`, `array.new`, `array.new_fixed`): they skip that
//!   one check (subtyping and nullability against the field's reference type, a walk of the
//!   type registry's supertype chain for a concrete type).
//!
//! Every other check of the generic API stays: the object's header is validated, the field or
//! index is bounds-checked, the storage type is checked, and a reference stored is type-checked
//! against the field's reference type (except by the proved constructors, which still validate
//! every reference word: null, an i31, or the start of a live object with a count).
//!
//! A wrong proof can only mistype the new object for Wasm: its field then holds a reference
//! of another type, which every reader validates like any word from the region; counts stay
//! exact (each stored reference takes its count), and [`Heap::verify`](crate::Heap::verify) still passes. An
//! acyclic type (see [`crate::cycle_collector`]) given a reference it could not hold may close
//! a cycle the cycle collector cannot see through it: such a cycle leaks (as with cycle
//! collection off), nothing worse. Scalars are always checked: a scalar of the wrong width is
//! refused, never written over a neighbouring field.

use super::counts::zero_body_bytes;
use super::object::object_word;
use super::typed::{for_each_scalar, view_getters, view_setters};
use super::{HeapIn, Operands};
use crate::error::{Error, Result};
use crate::free_list::GRANULE;
use crate::gc_ref::HeapId;
use crate::header::{Kind, HEADER_SIZE, KIND_OFFSET, TYPE_INDEX_OFFSET};
use crate::region::Region;
use crate::types::{ArrayLayout, RefType, StorageType, StructLayout, StructType, TypeIndex};
use crate::value::{check_scalar, read_scalar, write_scalar, FieldPlan, Scalar, Value, ValueRef};
use crate::GcRef;
use core::marker::PhantomData;
use core::ops::Deref;

/// A reference read out of a field or an array element without taking a count. It borrows the
/// heap immutably, so no count can change and the object cannot be freed while it lives.
///
/// The word is validated, like every reference, when it is used.
#[derive(Debug)]
pub struct BorrowedRef<'h> {
    reference: GcRef,
    heap: PhantomData<&'h ()>,
}

impl Deref for BorrowedRef<'_> {
    type Target = GcRef;

    #[inline]
    fn deref(&self) -> &GcRef {
        &self.reference
    }
}

impl BorrowedRef<'_> {
    #[inline]
    fn new(raw: u32, heap: HeapId) -> Option<BorrowedRef<'static>> {
        GcRef::bound(raw, heap).map(|reference| BorrowedRef { reference, heap: PhantomData })
    }
}

/// A struct whose header and type were validated once, for reading several fields: each read
/// checks only the field index and the field's storage type. It borrows the heap immutably,
/// like [`BorrowedRef`], so nothing can change while it lives. See [`Heap::struct_view`](crate::Heap::struct_view).
#[derive(Debug)]
pub struct StructView<'h> {
    region: &'h Region,
    heap: HeapId,
    index: u32,
    ty: &'h StructType,
    layout: &'h StructLayout,
}

impl<'h> StructView<'h> {
    /// The offset and storage type of `field`.
    #[inline]
    fn field(&self, field: u32) -> Result<(u32, StorageType)> {
        match (self.ty.fields.get(field as usize), self.layout.field_offsets.get(field as usize)) {
            (Some(&storage), Some(&offset)) => Ok((self.index + offset, storage)),
            _ => Err(Error::FieldOutOfBounds { field, fields: self.ty.fields.len() as u32 }),
        }
    }

    /// Number of fields.
    #[inline]
    pub fn fields(&self) -> u32 {
        self.ty.fields.len() as u32
    }

    /// Reads a reference field without taking a count (see [`BorrowedRef`]); `None` for null.
    /// The field's index and storage type are checked together (one load of the layout's
    /// precomputed reference-field offsets); a field out of bounds is
    /// [`Error::FieldOutOfBounds`], a scalar field [`Error::TypeMismatch`].
    #[inline]
    pub fn get_ref(&self, field: u32) -> Result<Option<BorrowedRef<'h>>> {
        match self.layout.reference_field_offsets.get(field as usize) {
            Some(&offset) if offset != 0 => Ok(BorrowedRef::new(self.region.read_u32(self.index + offset)?, self.heap)),
            _ => Err(not_a_reference_field(self.ty, field)),
        }
    }

    for_each_scalar!(view_getters!("field"));

    /// Reads a scalar field of type `T`: the field's bounds, then its storage type.
    #[inline]
    fn get_as<T: Scalar>(&self, field: u32) -> Result<T> {
        let (offset, storage) = self.field(field)?;
        check_scalar::<T>(storage)?;
        T::read(self.region, offset)
    }

    /// Reads a scalar field; a reference field is [`Error::TypeMismatch`].
    #[inline]
    pub fn get_scalar(&self, field: u32) -> Result<Value> {
        let (offset, storage) = self.field(field)?;
        read_scalar(self.region, offset, storage)?
            .map_err(|_| Error::TypeMismatch { expected: "a scalar", found: "ref" })
    }
}

/// The error of [`StructView::get_ref`] for a field of `ty` that is out of bounds or holds no
/// reference. It takes the type, not the view, so that the view need not be in memory for the
/// call (the view's fields stay in registers across a walk).
#[cold]
#[inline(never)]
fn not_a_reference_field(ty: &StructType, field: u32) -> Error {
    match ty.fields.get(field as usize) {
        Some(storage) => Error::TypeMismatch { expected: "ref", found: storage.name() },
        None => Error::FieldOutOfBounds { field, fields: ty.fields.len() as u32 },
    }
}

/// What [`ArrayView`] and [`ScalarArrayMut`] share (both have the fields `index`, `layout`,
/// `element` and `len`): the accessors, and the region offset of element `i` after checking
/// only the index.
macro_rules! array_view_common {
    () => {
        /// The number of elements.
        #[inline]
        pub fn len(&self) -> u32 {
            self.len
        }

        /// Whether the array has no elements.
        #[inline]
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// The element storage type.
        #[inline]
        pub fn element(&self) -> StorageType {
            self.element
        }

        #[inline]
        fn index_offset(&self, i: u32) -> Result<u32> {
            if i >= self.len {
                return Err(Error::IndexOutOfBounds { index: i, count: 1, len: self.len });
            }
            Ok(self.index + self.layout.element_offset(i))
        }

        for_each_scalar!(view_getters!("element"));

        /// Reads element `i` of type `T`: the index's bounds, then the element's storage type
        /// (a mismatch names `T` as expected), in the order of every array access.
        #[inline]
        fn get_as<T: Scalar>(&self, i: u32) -> Result<T> {
            let offset = self.index_offset(i)?;
            check_scalar::<T>(self.element)?;
            T::read(self.region, offset)
        }

        /// Reads scalar element `i`; a reference element type is [`Error::TypeMismatch`].
        #[inline]
        fn scalar_at(&self, i: u32) -> Result<Value> {
            read_scalar(self.region, self.index_offset(i)?, self.element)?
                .map_err(|_| Error::TypeMismatch { expected: "a scalar", found: "ref" })
        }
    };
}

/// An array whose header, type and length were validated once, for reading many elements:
/// each read checks only the index. It borrows the heap immutably. See [`Heap::array_view`](crate::Heap::array_view).
#[derive(Debug)]
pub struct ArrayView<'h> {
    region: &'h Region,
    heap: HeapId,
    index: u32,
    layout: ArrayLayout,
    element: StorageType,
    len: u32,
}

impl<'h> ArrayView<'h> {
    array_view_common!();

    /// Reads reference element `i` without taking a count (see [`BorrowedRef`]).
    #[inline]
    pub fn get_ref(&self, i: u32) -> Result<Option<BorrowedRef<'h>>> {
        if !self.element.is_ref() {
            return Err(Error::TypeMismatch { expected: "ref", found: self.element.name() });
        }
        Ok(BorrowedRef::new(self.region.read_u32(self.index_offset(i)?)?, self.heap))
    }

    /// Reads scalar element `i`; a reference element type is [`Error::TypeMismatch`].
    #[inline]
    pub fn get_scalar(&self, i: u32) -> Result<Value> {
        self.scalar_at(i)
    }
}

/// A scalar array (no reference elements) validated once for writing and reading many
/// elements: each access checks only the index. Scalar stores need no write barrier and change
/// no count, so the view can borrow the heap mutably for as long as it lives. See
/// [`Heap::scalar_array_mut`](crate::Heap::scalar_array_mut).
#[derive(Debug)]
pub struct ScalarArrayMut<'h> {
    region: &'h mut Region,
    index: u32,
    layout: ArrayLayout,
    element: StorageType,
    len: u32,
}

impl ScalarArrayMut<'_> {
    array_view_common!();

    #[inline]
    fn offset(&self, i: u32, storage: StorageType) -> Result<u32> {
        let offset = self.index_offset(i)?;
        if storage != self.element {
            return Err(Error::TypeMismatch { expected: self.element.name(), found: storage.name() });
        }
        Ok(offset)
    }

    for_each_scalar!(view_setters!("element"));

    /// Writes element `i` of type `T`: the index's bounds, then the element's storage type (a
    /// mismatch names the element type as expected and `T` as found, as every setter does).
    #[inline]
    fn set_as<T: Scalar>(&mut self, i: u32, value: T) -> Result<()> {
        let offset = self.offset(i, T::STORAGE)?;
        value.write(self.region, offset)
    }

    /// Writes scalar element `i` (the value's variant must be the element type's).
    #[inline]
    pub fn set(&mut self, i: u32, value: ValueRef<'_>) -> Result<()> {
        let offset = self.index_offset(i)?;
        if !value.matches_storage(self.element) {
            return Err(Error::TypeMismatch { expected: self.element.name(), found: value.type_name() });
        }
        write_scalar(self.region, offset, self.element, value)
    }

    /// Reads scalar element `i`.
    #[inline]
    pub fn get(&self, i: u32) -> Result<Value> {
        self.scalar_at(i)
    }
}

impl<'a, H> HeapIn<'a, H> {
    /// The word of the reference a value owns on this heap: 0 for scalars, null, and a handle
    /// of another heap (whose count is not this heap's to release).
    #[inline]
    fn owned_raw(&self, value: &Value) -> u32 {
        match value {
            Value::Ref(Some(r)) => self.word(r).unwrap_or(0),
            _ => 0,
        }
    }

    /// [`Heap::struct_new`](crate::Heap::struct_new) for a caller whose validator proved the types of the reference
    /// operands: the same, without checking each reference against its field's reference type
    /// (see the module documentation for what a wrong proof can and cannot do). References are
    /// borrowed; every word is still validated and counted, scalars still checked.
    pub fn struct_new_proved(&mut self, ty: TypeIndex, fields: &[ValueRef<'_>]) -> Result<GcRef> {
        self.struct_new_operands(ty, fields, Operands::Proved)
    }

    /// [`Heap::array_new`](crate::Heap::array_new) for a caller whose validator proved the type of `init` (see
    /// [`Heap::struct_new_proved`](crate::Heap::struct_new_proved)).
    pub fn array_new_proved(&mut self, ty: TypeIndex, len: u32, init: ValueRef<'_>) -> Result<GcRef> {
        self.array_new_operands(ty, len, init, Operands::Proved)
    }

    /// [`Heap::array_new_fixed`](crate::Heap::array_new_fixed) for a caller whose validator proved the types of `elements`
    /// (see [`Heap::struct_new_proved`](crate::Heap::struct_new_proved)).
    pub fn array_new_fixed_proved(&mut self, ty: TypeIndex, elements: &[ValueRef<'_>]) -> Result<GcRef> {
        self.array_new_fixed_operands(ty, elements, Operands::Proved)
    }

    /// The error of an owned store refused before the store: the value's reference is
    /// released, so that nothing leaks, and the caller gets the call's own error (the first
    /// misuse), unless releasing finds the region corrupted. A handle of another heap is not
    /// this heap's to release (`owned_raw`).
    #[cold]
    fn refuse_owned(&mut self, error: Error, value: &Value) -> Error {
        match self.release(self.owned_raw(value)) {
            Err(release_error) if release_error.is_corruption() => release_error,
            _ => error,
        }
    }

    /// Allocates a struct of type `ty` from owned field values (one per field, in field order):
    /// a reference in `fields` is moved into its field, its count becoming the field's (no
    /// increment, no decrement), like Wasm's `struct.new` consuming its operands.
    ///
    /// On an error nothing is stored and the values are handed back with it (so that the
    /// caller can collect and retry after [`Error::OutOfMemory`] without losing them).
    #[inline(always)]
    pub fn struct_new_owned<const N: usize>(
        &mut self,
        ty: TypeIndex,
        fields: [Value; N],
    ) -> core::result::Result<GcRef, (Error, [Value; N])> {
        let (index, block, header, offsets) = match self.alloc_owned_struct(ty, &fields) {
            Ok(allocated) => allocated,
            Err(error) => return Err((error, fields)),
        };
        match self.write_owned_struct(index, block, &header, &offsets, &fields) {
            // The references in `fields` are in the struct now (a `GcRef` has no drop glue:
            // `fields` goes without touching a count).
            Ok(()) => Ok(self.object_handle(index)),
            // Cannot happen (the block is in the region, the layout in the block); the values
            // are in the struct or not, and the struct is never handed out.
            Err(error) => Err((error, core::array::from_fn(|_| Value::Ref(None)))),
        }
    }

    /// Type-checks owned field values against struct type `ty` (no count changes), then
    /// allocates its block: one registry lookup gives its precomputed block, header and field
    /// plans (offsets, and tests of the values that need no further lookup: see
    /// [`FieldPlan`]). Returns the new struct's offset, its block, its header (not written
    /// yet: see `alloc_bare_block`) and the field offsets.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn alloc_owned_struct<const N: usize>(
        &mut self,
        ty: TypeIndex,
        fields: &[Value; N],
    ) -> Result<(u32, u32, [u8; HEADER_SIZE as usize], [u32; N])> {
        let (_, layout) = self.types.struct_layout(ty)?;
        let Ok(plans) = <&[FieldPlan; N]>::try_from(&layout.field_plans[..]) else {
            return Err(field_count_mismatch(layout.field_plans.len(), N));
        };
        for (field, (&plan, value)) in plans.iter().zip(fields).enumerate() {
            if !self.owned_value_fits(plan, value) {
                self.check_owned_value(ty, field, value)?;
            }
        }
        let offsets = core::array::from_fn(|field| plans[field].offset);
        let (size, block, header) = (layout.size, layout.block, layout.header);
        Ok((self.alloc_bare_block(size, block)?, block, header, offsets))
    }

    /// Whether the owned `value` may be stored in a field of `plan` as far as the plan decides,
    /// with no count change: null in a nullable reference field; an object of this heap (the
    /// free list's bitmap says one starts at its word) whose header's kind byte the field takes;
    /// a scalar of the field's type. `false` leaves the answer to
    /// [`HeapIn::check_owned_value`].
    #[inline(always)]
    fn owned_value_fits(&self, plan: FieldPlan, value: &Value) -> bool {
        match value {
            Value::Ref(r) => self.owned_word_fits::<false>(plan, r.as_ref()).is_some(),
            _ => plan.accepts_scalar(value),
        }
    }

    /// [`HeapIn::owned_value_fits`] for a reference (or null): its word if the plan takes it
    /// (null in a nullable field; an object of this heap whose kind byte the field takes, or,
    /// with `CONCRETE`, for a concrete type, whose header, validated as the full check
    /// validates it, names exactly that type), `None` if the plan does not decide. The
    /// constructors leave concrete types to the full check: the extra test per operand cost
    /// binary-trees fast 0.95M (0.7%), more than the type check it saves there.
    #[inline(always)]
    fn owned_word_fits<const CONCRETE: bool>(&self, plan: FieldPlan, r: Option<&GcRef>) -> Option<u32> {
        let Some(r) = r else { return plan.accepts_null().then_some(0) };
        let index = r.word_for(self.id).ok().and_then(object_word)?;
        if !self.free_list.is_allocated(index) {
            return None;
        }
        if matches!(self.region.read::<1>(index + KIND_OFFSET), Ok([kind]) if plan.accepts_kind(kind)) {
            return Some(index);
        }
        // A concrete type's plan takes no kind byte alone.
        let target = plan.concrete_type().filter(|_| CONCRETE)?;
        self.is_object_of_type(index, target).then_some(index)
    }

    /// Whether the object at `index` (its bitmap bit tested) has a valid header (as
    /// [`Heap::object`](crate::Heap::object) validates it) naming exactly struct or array type
    /// `target`. Out of line: inlined, the header's decode made every constructor's and
    /// store's frame larger, also for fields it does not serve (GCBench fast +16M).
    #[inline(never)]
    fn is_object_of_type(&self, index: u32, target: u32) -> bool {
        matches!(self.object(index), Ok(header) if header.kind != Kind::EXTERN && header.type_index == target)
    }

    /// The full check of the owned `value` against field `field` of struct type `ty` (its
    /// storage type; a reference's word and reference type, as [`HeapIn::checked_owned_word`]),
    /// for what [`HeapIn::owned_value_fits`] leaves: an error, an i31, a concrete type.
    #[cold]
    #[inline(never)]
    fn check_owned_value(&self, ty: TypeIndex, field: usize, value: &Value) -> Result<()> {
        let (struct_type, _) = self.types.struct_layout(ty)?;
        let Some(&storage) = struct_type.fields.get(field) else {
            return Err(field_count_mismatch(struct_type.fields.len(), field));
        };
        match (storage, value) {
            // A reference straight to its type check (no `ValueRef` made and matched again).
            (StorageType::Ref(ref_type), Value::Ref(r)) => self.checked_owned_word(r.as_ref(), ref_type).map(|_| ()),
            _ if value.matches_storage(storage) => Ok(()),
            _ => Err(Error::TypeMismatch { expected: storage.name(), found: value.type_name() }),
        }
    }

    /// Writes the fresh struct at `index` (a bare block of `block` bytes): its precomputed
    /// `header`, counted as allocated at once, then its body, through one bounds check of the
    /// whole block (see [`write_struct_body`]).
    #[inline(always)]
    fn write_owned_struct<const N: usize>(
        &mut self,
        index: u32,
        block: u32,
        header: &[u8; HEADER_SIZE as usize],
        offsets: &[u32; N],
        fields: &[Value; N],
    ) -> Result<()> {
        let HeapIn { region, counters, .. } = self;
        let bytes = region.slice_mut(index, block, "new struct out of region bounds")?;
        let Some((head, body)) = bytes.split_first_chunk_mut::<{ HEADER_SIZE as usize }>() else {
            return Err(Error::corrupted(index, "new struct smaller than its header"));
        };
        *head = *header;
        counters.allocated(block);
        write_struct_body(body, offsets, fields)
            .map_err(|offset| Error::corrupted(index + offset, "struct field outside its block"))
    }

    /// Writes an owned value to a struct field: a reference is moved in (its count becomes the
    /// field's) and the field's old reference is released.
    ///
    /// On an error before the store (a field out of bounds, a type mismatch, a bad reference)
    /// the value's reference is released, so nothing leaks, and the error is the call's own
    /// (the first misuse found); but a reference of another heap is
    /// [`Error::ForeignReference`] and its count stays in its own heap (it cannot be released
    /// here: see the method families on [`HeapIn`]).
    ///
    /// Costs: the struct's validation (its header read once, one registry lookup) gives the
    /// field's offset and the test that the constructors make of a value without a further
    /// lookup (null in a nullable field; an object whose kind byte alone decides the field's
    /// heap type, its bitmap bit and kind byte read; a scalar of the field's type), and for a
    /// concrete field type, an object whose header (validated whole) names exactly that type.
    /// A value that test does not decide (an i31, an object of a proper subtype, an error)
    /// gets the full check of the field's storage type, out of line. Replacing a null field
    /// releases nothing, with no call.
    #[inline]
    pub fn struct_set_owned(&mut self, r: &GcRef, field: u32, value: Value) -> Result<()> {
        let plan = match self.struct_at(r) {
            Ok((index, _, layout)) => layout.field_plans.get(field as usize).map(|plan| (index, *plan)),
            Err(_) => None,
        };
        let Some((index, plan)) = plan else { return self.struct_set_owned_checked(r, field, value) };
        let offset = index + plan.offset;
        match value {
            Value::Ref(ref moved) => match self.owned_word_fits::<true>(plan, moved.as_ref()) {
                // The value's count becomes the field's.
                Some(raw) => self.replace_reference(offset, raw),
                None => self.struct_set_owned_undecided(r, index, field, value),
            },
            _ if plan.accepts_scalar(&value) => write_owned_scalar(&mut self.region, offset, &value),
            _ => self.struct_set_owned_undecided(r, index, field, value),
        }
    }

    /// [`Heap::struct_set_owned`](crate::Heap::struct_set_owned) for a value its field plan
    /// does not decide: the full check of the field's storage type, without validating the
    /// struct at `index` again (its type index names a struct type with `field`: `struct_at`
    /// validated it just now, and nothing has changed since).
    #[inline(never)]
    fn struct_set_owned_undecided(&mut self, r: &GcRef, index: u32, field: u32, value: Value) -> Result<()> {
        let found = self.region.read_u32(index + TYPE_INDEX_OFFSET).ok().and_then(|ty| {
            let (ty, layout) = self.types.struct_layout(TypeIndex(ty)).ok()?;
            Some((index + *layout.field_offsets.get(field as usize)?, *ty.fields.get(field as usize)?))
        });
        match found {
            Some((offset, storage)) => self.write_owned(offset, storage, value),
            // Cannot happen (see above): the full checks then give the answer.
            None => self.struct_set_owned_checked(r, field, value),
        }
    }

    /// [`Heap::struct_set_owned`](crate::Heap::struct_set_owned) for a struct or field that
    /// is not found: every check in order, for the error.
    #[cold]
    #[inline(never)]
    fn struct_set_owned_checked(&mut self, r: &GcRef, field: u32, value: Value) -> Result<()> {
        let (offset, storage) = match self.struct_field(r, field) {
            Ok(found) => found,
            Err(error) => return Err(self.refuse_owned(error, &value)),
        };
        self.write_owned(offset, storage, value)
    }

    /// Stores an owned value at `offset` (a field or element of storage type `storage`). A
    /// reference to a reference field (the barrier's hot path) is checked inline, as the
    /// constructors check theirs; anything else goes through the generic storage check.
    #[inline]
    fn write_owned(&mut self, offset: u32, storage: StorageType, value: Value) -> Result<()> {
        if let (StorageType::Ref(ref_type), Value::Ref(r)) = (storage, &value) {
            return match self.checked_owned_word(r.as_ref(), ref_type) {
                // The value's count becomes the field's.
                Ok(raw) => self.replace_reference(offset, raw),
                Err(error) => Err(self.refuse_owned(error, &value)),
            };
        }
        if let Err(error) = self.check_storage(storage, value.borrow()) {
            return Err(self.refuse_owned(error, &value));
        }
        // A scalar (a reference to a scalar field was refused above).
        write_scalar(&mut self.region, offset, storage, value.borrow())
    }

    /// The word of the owned reference `r` (null: 0) after checking that it may be stored
    /// where `ref_type` is expected: a handle of this heap, of the reference type. No count
    /// changes.
    #[inline(always)]
    fn checked_owned_word(&self, r: Option<&GcRef>, ref_type: RefType) -> Result<u32> {
        let raw = self.word_of(r)?;
        self.check_ref_type(raw, ref_type)?;
        Ok(raw)
    }

    /// Validates the struct `r` once (its header, kind, type and size) for reading several of
    /// its fields; see [`StructView`].
    #[inline]
    pub fn struct_view(&self, r: &GcRef) -> Result<StructView<'_>> {
        let (index, ty, layout) = self.struct_at(r)?;
        Ok(StructView { region: &self.region, heap: self.id, index, ty, layout })
    }

    /// Validates the array `r` once (its header, kind, type and length against its block
    /// size) for reading many of its elements; see [`ArrayView`].
    #[inline]
    pub fn array_view(&self, r: &GcRef) -> Result<ArrayView<'_>> {
        let (index, layout, element, len) = self.array_info(r)?;
        Ok(ArrayView { region: &self.region, heap: self.id, index, layout, element, len })
    }

    /// Validates the scalar array `r` once (header, kind, type, length) for writing and reading
    /// many of its elements; see [`ScalarArrayMut`]. An array of references is
    /// [`Error::TypeMismatch`]: its stores need the write barrier ([`Heap::array_set`](crate::Heap::array_set),
    /// [`Heap::array_set_owned`](crate::Heap::array_set_owned)).
    #[inline]
    pub fn scalar_array_mut(&mut self, r: &GcRef) -> Result<ScalarArrayMut<'_>> {
        let (index, layout, element, len) = self.array_info(r)?;
        if element.is_ref() {
            return Err(Error::TypeMismatch { expected: "a scalar element type", found: "ref" });
        }
        Ok(ScalarArrayMut { region: &mut self.region, index, layout, element, len })
    }

    /// Reads a reference field without taking a count; see [`BorrowedRef`]. `None` for null.
    /// A scalar field is [`Error::TypeMismatch`].
    #[inline]
    pub fn struct_get_borrowed(&self, r: &GcRef, field: u32) -> Result<Option<BorrowedRef<'_>>> {
        let (offset, storage) = self.struct_field(r, field)?;
        if !storage.is_ref() {
            return Err(Error::TypeMismatch { expected: "ref", found: storage.name() });
        }
        Ok(BorrowedRef::new(self.region.read_u32(offset)?, self.id))
    }

    /// Reads a reference field, with a new count (as [`Heap::struct_get`](crate::Heap::struct_get), without the
    /// [`Value`]). A scalar field is [`Error::TypeMismatch`].
    #[inline]
    pub fn struct_get_ref(&mut self, r: &GcRef, field: u32) -> Result<Option<GcRef>> {
        let (offset, storage) = self.struct_field(r, field)?;
        if !storage.is_ref() {
            return Err(Error::TypeMismatch { expected: "ref", found: storage.name() });
        }
        let raw = self.region.read_u32(offset)?;
        self.retain_raw(raw)
    }

    /// Reads a scalar field through a shared borrow. A reference field is
    /// [`Error::TypeMismatch`] (use [`Heap::struct_get_borrowed`](crate::Heap::struct_get_borrowed) or [`Heap::struct_get_ref`](crate::Heap::struct_get_ref)).
    #[inline]
    pub fn struct_get_scalar(&self, r: &GcRef, field: u32) -> Result<Value> {
        let (offset, storage) = self.struct_field(r, field)?;
        match read_scalar(&self.region, offset, storage)? {
            Ok(value) => Ok(value),
            Err(_) => Err(Error::TypeMismatch { expected: "a scalar", found: "ref" }),
        }
    }

    /// Reads array element `i` (a reference) without taking a count; see [`BorrowedRef`].
    #[inline]
    pub fn array_get_borrowed(&self, r: &GcRef, i: u32) -> Result<Option<BorrowedRef<'_>>> {
        let (index, layout, element, len) = self.array_info(r)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        if !element.is_ref() {
            return Err(Error::TypeMismatch { expected: "ref", found: element.name() });
        }
        Ok(BorrowedRef::new(self.region.read_u32(index + layout.element_offset(i))?, self.id))
    }

    /// Reads scalar array element `i` through a shared borrow. A reference element is
    /// [`Error::TypeMismatch`].
    #[inline]
    pub fn array_get_scalar(&self, r: &GcRef, i: u32) -> Result<Value> {
        let (index, layout, element, len) = self.array_info(r)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        match read_scalar(&self.region, index + layout.element_offset(i), element)? {
            Ok(value) => Ok(value),
            Err(_) => Err(Error::TypeMismatch { expected: "a scalar", found: "ref" }),
        }
    }

    /// Writes an owned value to array element `i`: a reference is moved in and the element's
    /// old reference released. On an error before the store the value's reference is
    /// released and the error is the call's own, as for
    /// [`Heap::struct_set_owned`](crate::Heap::struct_set_owned) (a reference of another heap
    /// included).
    ///
    /// Costs: the array's validation (its header read once), then a reference for reference
    /// elements checked and stored inline (as the constructors check theirs); a scalar, and
    /// every error, out of line. Replacing a null element releases nothing, with no call.
    #[inline]
    pub fn array_set_owned(&mut self, r: &GcRef, i: u32, value: Value) -> Result<()> {
        let found = match self.array_info(r) {
            Ok((index, layout, element, len)) if i < len => Some((index + layout.element_offset(i), element)),
            _ => None,
        };
        let Some((offset, element)) = found else { return self.array_set_owned_checked(r, i, value) };
        if let (StorageType::Ref(ref_type), Value::Ref(moved)) = (element, &value) {
            if let Ok(raw) = self.checked_owned_word(moved.as_ref(), ref_type) {
                // The value's count becomes the element's.
                return self.replace_reference(offset, raw);
            }
        }
        // A scalar, or a reference refused (checked again there, for the error).
        self.write_owned_out_of_line(offset, element, value)
    }

    /// [`HeapIn::write_owned`], never inlined (the stores' path for what they do not store
    /// inline).
    #[inline(never)]
    fn write_owned_out_of_line(&mut self, offset: u32, storage: StorageType, value: Value) -> Result<()> {
        self.write_owned(offset, storage, value)
    }

    /// [`Heap::array_set_owned`](crate::Heap::array_set_owned) for an array or index that is
    /// not found: every check in order, for the error.
    #[cold]
    #[inline(never)]
    fn array_set_owned_checked(&mut self, r: &GcRef, i: u32, value: Value) -> Result<()> {
        let found = self.array_info(r).and_then(|(index, layout, element, len)| {
            HeapIn::<H>::check_range(i, 1, len)?;
            Ok((index + layout.element_offset(i), element))
        });
        match found {
            Ok((offset, element)) => self.write_owned(offset, element, value),
            Err(error) => Err(self.refuse_owned(error, &value)),
        }
    }
}

/// Writes the scalar `value` at `offset` in its variant's width (the caller has checked the
/// variant against the field's storage type, so this is the field's width). A reference is
/// not written (the barrier's).
#[inline(always)]
fn write_owned_scalar(region: &mut Region, offset: u32, value: &Value) -> Result<()> {
    match *value {
        Value::I8(v) => region.write(offset, v.to_ne_bytes()),
        Value::I16(v) => region.write(offset, v.to_ne_bytes()),
        Value::I32(v) => region.write(offset, v.to_ne_bytes()),
        Value::I64(v) => region.write(offset, v.to_ne_bytes()),
        Value::F32(v) => region.write(offset, v.to_bits().to_ne_bytes()),
        Value::F64(v) => region.write(offset, v.to_bits().to_ne_bytes()),
        Value::V128(v) => region.write(offset, v.to_ne_bytes()),
        Value::Ref(_) => Err(Error::TypeMismatch { expected: "a scalar", found: "ref" }),
    }
}

/// The error of a constructor given `found` field values for a struct type of `expected`
/// fields.
#[cold]
fn field_count_mismatch(expected: usize, found: usize) -> Error {
    Error::FieldCountMismatch { expected: expected as u32, found: found as u32 }
}

/// Writes checked owned values (each of its field's storage type: see `alloc_owned_struct`)
/// into `body`, the bytes after a fresh struct's header, and zeroes the rest (padding, packed
/// neighbours). A reference's count moves in: the field was never anything, so there is no
/// old value to release. A body of one granule (the small structs most programs allocate) is
/// built in a zeroed local and stored whole: no zeroing pass over the region before the
/// fields are stored. `Err` holds the offset of a field that does not fit in the block
/// (which registration rules out).
#[inline(always)]
fn write_struct_body<const N: usize>(
    body: &mut [u8],
    offsets: &[u32; N],
    fields: &[Value; N],
) -> core::result::Result<(), u32> {
    if let Ok(granule) = <&mut [u8; GRANULE as usize]>::try_from(&mut *body) {
        let mut image = [0; GRANULE as usize];
        for (&offset, value) in offsets.iter().zip(fields) {
            if !value.write_into_granule(&mut image, (offset as usize).wrapping_sub(HEADER_SIZE as usize)) {
                return Err(offset);
            }
        }
        *granule = image;
        return Ok(());
    }
    zero_body_bytes(body);
    for (&offset, value) in offsets.iter().zip(fields) {
        if !value.write_into(body, (offset as usize).wrapping_sub(HEADER_SIZE as usize)) {
            return Err(offset);
        }
    }
    Ok(())
}
