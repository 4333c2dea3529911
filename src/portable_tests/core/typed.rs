//! Core portable test of the typed scalar accessors: for every scalar storage type, the heap's
//! `struct_get_<t>` and `array_get_<t>`, the views' `get_<t>` and [`ScalarArrayMut`]'s
//! `get_<t>`/`set_<t>` read (and write) exactly the bits the generic API does, and refuse
//! every other storage type (a reference one too) with a typed error that names both.
//!
//! [`ScalarArrayMut`]: crate::ScalarArrayMut

use super::helpers::{bits, ensure_empty, scalar, words, ANYREF, SCALARS};
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, StorageType, StructType};
use crate::{Error, GcRef, Heap, Value, ValueRef};
use alloc::vec::Vec;

/// Checks one typed read: the value's bits when the storage types agree, else the typed error.
fn check_read<T>(
    read: Result<T, Error>,
    wrap: fn(T) -> Value,
    wanted: StorageType,
    found: StorageType,
    generic: &Value,
    place: &str,
) -> TestResult {
    match read {
        Ok(value) if found == wanted => {
            let value = wrap(value);
            ensure!(bits(&value) == bits(generic), "{place}: typed {value:?}, generic {generic:?}");
        }
        Ok(value) => {
            return Err(alloc::format!("{place}: {} read from {}: {:?}", wanted.name(), found.name(), wrap(value)))
        }
        Err(Error::TypeMismatch { expected, found: name }) if found != wanted => {
            ensure!(expected == wanted.name() && name == found.name(), "{place}: mismatch names {expected}/{name}");
        }
        Err(error) => return Err(alloc::format!("{place}: {} of {} gave {error:?}", wanted.name(), found.name())),
    }
    Ok(())
}

pub(super) fn typed_accessors_of_every_scalar_type_agree_with_the_generic_api(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let fields: Vec<StorageType> = SCALARS.iter().copied().chain([ANYREF]).collect();
    let ty = ok!(heap.register_struct(StructType::new(&fields)));
    let values: Vec<ValueRef<'_>> = fields.iter().enumerate().map(|(f, &s)| scalar(s, f as u32 + 1)).collect();
    let object = ok!(heap.struct_new(ty, &values));
    // One array per storage type, three elements each.
    let mut arrays: Vec<GcRef> = Vec::new();
    for &storage in &fields {
        let array_type = ok!(heap.register_array(ArrayType::new(storage)));
        let elements: Vec<ValueRef<'_>> = (0..3).map(|i| scalar(storage, 10 + i)).collect();
        arrays.push(ok!(heap.array_new_fixed(array_type, &elements)));
    }
    let generic_fields: Vec<Value> = (0..fields.len() as u32)
        .map(|f| heap.struct_get(&object, f))
        .collect::<Result<_, _>>()
        .map_err(|e| alloc::format!("{e}"))?;
    let mut checked = 0;

    macro_rules! each_type {
        ($([$t:ty, $variant:ident, $storage:literal, $get:ident, $set:ident, $struct_get:ident, $array_get:ident])*) => {$(
            let wanted = StorageType::$variant;
            for (f, &found) in fields.iter().enumerate() {
                let field = f as u32;
                check_read(heap.$struct_get(&object, field), Value::$variant, wanted, found, &generic_fields[f], "struct_get")?;
                check_read(ok!(heap.struct_view(&object)).$get(field), Value::$variant, wanted, found, &generic_fields[f], "StructView")?;
                let array = &arrays[f];
                for i in 0..3 {
                    let generic = ok!(heap.array_get(array, i));
                    check_read(heap.$array_get(array, i), Value::$variant, wanted, found, &generic, "array_get")?;
                    check_read(ok!(heap.array_view(array)).$get(i), Value::$variant, wanted, found, &generic, "ArrayView")?;
                    if found.is_ref() {
                        ok!(heap.release_value(generic));
                        continue;
                    }
                    let mut view = ok!(heap.scalar_array_mut(array));
                    check_read(view.$get(i), Value::$variant, wanted, found, &generic, "ScalarArrayMut")?;
                    // A typed write of the right type stores exactly the value; another type
                    // writes nothing.
                    let fresh = match scalar(wanted, 99 + i) { ValueRef::$variant(v) => v, _ => unreachable!() };
                    let stored = view.$set(i, fresh);
                    if found == wanted {
                        ok!(stored);
                        ensure!(bits(&ok!(heap.array_get(array, i))) == bits(&Value::$variant(fresh)), "set_{} did not store", wanted.name());
                        ok!(ok!(heap.scalar_array_mut(array)).set(i, generic.borrow()));
                    } else {
                        expect_err!(stored, Error::TypeMismatch { expected, found: name } if expected == found.name() && name == wanted.name());
                        ensure!(bits(&ok!(heap.array_get(array, i))) == bits(&generic), "a refused set changed element {i}");
                    }
                    checked += 1;
                }
            }
            // Out-of-bounds indices are refused by every typed getter.
            expect_err!(heap.$struct_get(&object, fields.len() as u32), Error::FieldOutOfBounds { .. } if true);
            expect_err!(heap.$array_get(&arrays[0], 3), Error::IndexOutOfBounds { .. } if true);
        )*};
    }
    crate::heap::for_each_scalar!(each_type!());
    ensure!(checked == 7 * 7 * 3, "checked {checked} scalar elements");
    for value in generic_fields {
        ok!(heap.release_value(value));
    }
    verify!(heap, words(arrays.iter().chain([&object])));
    for r in arrays.into_iter().chain([object]) {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}
