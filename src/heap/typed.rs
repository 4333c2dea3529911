//! The typed scalar accessors: one method per scalar storage type, in every place that reads
//! (or writes) scalars by index, written once.
//!
//! The names and the Rust types are listed once, in [`for_each_scalar`]; the other macros turn
//! that list into methods over one generic method of the type they are invoked in
//! (`get_as::<T>`, `set_as::<T>`, over the crate's `Scalar` trait in `src/value.rs`). What the
//! methods promise is documented on [`Heap`](crate::Heap) (its "typed" family): a packed field
//! reads as its own width, floats keep their bits, a storage type other than the method's is
//! [`Error::TypeMismatch`](crate::Error::TypeMismatch) naming both and reads or writes nothing.
//!
//! Used by `fast_paths.rs` (the views) and below (the heap's `struct_get_*` and `array_get_*`).

use super::HeapIn;
use crate::error::Result;
use crate::value::{check_scalar, Scalar};
use crate::GcRef;

/// Calls `$callback!($($args)* list)` with the list of scalar storage types: for each, the Rust
/// type, the [`StorageType`](crate::types::StorageType) variant, the storage type's name, and the names of its view getter, view setter, struct getter
/// and array getter.
macro_rules! for_each_scalar {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*
            [i8, I8, "i8", get_i8, set_i8, struct_get_i8, array_get_i8]
            [i16, I16, "i16", get_i16, set_i16, struct_get_i16, array_get_i16]
            [i32, I32, "i32", get_i32, set_i32, struct_get_i32, array_get_i32]
            [i64, I64, "i64", get_i64, set_i64, struct_get_i64, array_get_i64]
            [f32, F32, "f32", get_f32, set_f32, struct_get_f32, array_get_f32]
            [f64, F64, "f64", get_f64, set_f64, struct_get_f64, array_get_f64]
            [u128, V128, "v128", get_v128, set_v128, struct_get_v128, array_get_v128]
        );
    };
}

/// A view's getters: `get_i8(index)` ... over `self.get_as::<T>(index)`; `$what` names the
/// index ("field", "element").
macro_rules! view_getters {
    ($what:literal $([$t:ty, $variant:ident, $storage:literal, $get:ident, $set:ident, $struct_get:ident, $array_get:ident])*) => {
        $(
            #[doc = concat!("Reads ", $what, " `index` of storage type `", $storage, "` as `", stringify!($t), "`; another storage type is [`Error::TypeMismatch`](crate::Error::TypeMismatch) (see the typed family on [`Heap`](crate::Heap)).")]
            #[inline]
            pub fn $get(&self, index: u32) -> Result<$t> {
                self.get_as::<$t>(index)
            }
        )*
    };
}

/// A writable view's setters: `set_i8(index, value)` ... over `self.set_as::<T>(index, value)`.
macro_rules! view_setters {
    ($what:literal $([$t:ty, $variant:ident, $storage:literal, $get:ident, $set:ident, $struct_get:ident, $array_get:ident])*) => {
        $(
            #[doc = concat!("Writes ", $what, " `index` of storage type `", $storage, "` from a `", stringify!($t), "`; another storage type is [`Error::TypeMismatch`](crate::Error::TypeMismatch) and writes nothing.")]
            #[inline]
            pub fn $set(&mut self, index: u32, value: $t) -> Result<()> {
                self.set_as::<$t>(index, value)
            }
        )*
    };
}

/// The heap's getters: `struct_get_i8(r, field)` and `array_get_i8(r, i)` ...
macro_rules! heap_getters {
    ($([$t:ty, $variant:ident, $storage:literal, $get:ident, $set:ident, $struct_get:ident, $array_get:ident])*) => {
        $(
            #[doc = concat!("Reads field `field` of struct `r`, of storage type `", $storage, "`, as `", stringify!($t), "` (the typed family: see [`Heap`](crate::Heap)).")]
            #[inline]
            pub fn $struct_get(&self, r: &GcRef, field: u32) -> Result<$t> {
                self.struct_get_as::<$t>(r, field)
            }

            #[doc = concat!("Reads element `i` of array `r`, of storage type `", $storage, "`, as `", stringify!($t), "` (the typed family: see [`Heap`](crate::Heap)).")]
            #[inline]
            pub fn $array_get(&self, r: &GcRef, i: u32) -> Result<$t> {
                self.array_get_as::<$t>(r, i)
            }
        )*
    };
}

pub(crate) use {for_each_scalar, view_getters, view_setters};

impl<'a, H> HeapIn<'a, H> {
    for_each_scalar!(heap_getters!());

    /// Reads a scalar field of type `T`: the field's bounds, then its storage type.
    #[inline]
    fn struct_get_as<T: Scalar>(&self, r: &GcRef, field: u32) -> Result<T> {
        let (offset, storage) = self.struct_field(r, field)?;
        check_scalar::<T>(storage)?;
        T::read(&self.region, offset)
    }

    /// Reads a scalar element of type `T`: the index's bounds, then the element's storage
    /// type.
    #[inline]
    fn array_get_as<T: Scalar>(&self, r: &GcRef, i: u32) -> Result<T> {
        let (index, layout, element, len) = self.array_info(r)?;
        HeapIn::<H>::check_range(i, 1, len)?;
        check_scalar::<T>(element)?;
        T::read(&self.region, index + layout.element_offset(i))
    }
}
