//! Core portable tests of the bulk array operations (`array.fill`, `array.copy`): counts stay
//! right for references, overlapping copies in both directions, and type mismatches.

use super::helpers::{bits, ensure_empty, ref_bits, register_node, words, ANYREF, EXTERNREF};
use crate::portable_tests::TestResult;
use crate::types::{ArrayType, StorageType};
use crate::{Error, GcRef, Heap, Value, ValueRef};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The words of every element of a reference array.
fn element_words<H>(heap: &mut Heap<H>, array: &GcRef) -> Result<Vec<u32>, String> {
    let len = ok!(heap.array_len(array));
    let mut out = Vec::new();
    for i in 0..len {
        let value = ok!(heap.array_get(array, i));
        out.push(bits(&value).1 as u32);
        ok!(heap.release_value(value));
    }
    Ok(out)
}

pub(super) fn array_fill_keeps_counts_right(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let refs = ok!(heap.register_array(ArrayType::new(ANYREF)));
    let shorts = ok!(heap.register_array(ArrayType::new(StorageType::I16)));
    let vectors = ok!(heap.register_array(ArrayType::new(StorageType::V128)));
    let a = ok!(heap.struct_new_default(node));
    let b = ok!(heap.struct_new_default(node));
    let array = ok!(heap.array_new(refs, 64, ValueRef::Ref(None)));
    let host = words([&a, &b, &array]);
    ok!(heap.array_fill(&array, 8, ValueRef::Ref(Some(&a)), 32));
    ensure!(ok!(heap.ref_count(&a)) == 33);
    verify!(heap, host.iter().copied());
    ok!(heap.array_fill(&array, 16, ValueRef::Ref(Some(&b)), 8));
    ensure!(ok!(heap.ref_count(&a)) == 25 && ok!(heap.ref_count(&b)) == 9);
    verify!(heap, host.iter().copied());
    let model: Vec<u32> = (0..64)
        .map(|i| match i {
            16..24 => b.as_raw_u32(),
            8..40 => a.as_raw_u32(),
            _ => 0,
        })
        .collect();
    ensure!(element_words(&mut heap, &array)? == model);
    // Filling with what is already there changes no count.
    ok!(heap.array_fill(&array, 16, ValueRef::Ref(Some(&b)), 8));
    ensure!(ok!(heap.ref_count(&b)) == 9);
    let i31 = GcRef::from_i31(-7);
    ok!(heap.array_fill(&array, 0, ValueRef::Ref(Some(&i31)), 64));
    ensure!(ok!(heap.ref_count(&a)) == 1 && ok!(heap.ref_count(&b)) == 1);
    ensure!(element_words(&mut heap, &array)? == vec![i31.as_raw_u32(); 64]);
    verify!(heap, host.iter().copied());
    // Filling over the only counts of objects frees them.
    let only = ok!(heap.struct_new_default(node));
    ok!(heap.array_fill(&array, 10, ValueRef::Ref(Some(&only)), 20));
    ok!(heap.drop_ref(only));
    ensure!(ok!(heap.stats()).live_objects == 4);
    ok!(heap.array_fill(&array, 0, ValueRef::Ref(None), 64));
    ensure!(ok!(heap.stats()).live_objects == 3);
    verify!(heap, host.iter().copied());

    // Scalars.
    let s = ok!(heap.array_new(shorts, 33, ValueRef::I16(-1)));
    ok!(heap.array_fill(&s, 3, ValueRef::I16(0x1234), 29));
    for i in 0..33 {
        let expected = if (3..32).contains(&i) { 0x1234 } else { -1 };
        ensure!(ok!(heap.array_get(&s, i)) == Value::I16(expected), "i16 element {i}");
    }
    let v = ok!(heap.array_new(vectors, 5, ValueRef::V128(1)));
    ok!(heap.array_fill(&v, 1, ValueRef::V128(u128::MAX - 1), 3));
    for i in 0..5 {
        let expected = if (1..4).contains(&i) { u128::MAX - 1 } else { 1 };
        ensure!(ok!(heap.array_get(&v, i)) == Value::V128(expected), "v128 element {i}");
    }
    verify!(heap, host.iter().copied().chain(words([&s, &v])));
    for r in [a, b, array, s, v] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}

pub(super) fn array_copy_overlapping_forwards_and_backwards_keeps_counts_right(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let node = register_node(&mut heap)?;
    let refs = ok!(heap.register_array(ArrayType::new(ANYREF)));
    let ints = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    let bytes = ok!(heap.register_array(ArrayType::new(StorageType::I8)));
    let n = 32u32;
    // Each element is the only count of its object: a copy that released an element before
    // reading it would free a live object (and verify would see it).
    let array = ok!(heap.array_new(refs, n, ValueRef::Ref(None)));
    for i in 0..n {
        let s = ok!(heap.struct_new(node, &[ValueRef::I32(i as i32), ValueRef::Ref(None)]));
        ok!(heap.array_set(&array, i, ValueRef::Ref(Some(&s))));
        ok!(heap.drop_ref(s));
    }
    let mut model = element_words(&mut heap, &array)?;
    let other = ok!(heap.array_new(refs, n, ValueRef::Ref(None)));
    let cases: [(bool, u32, u32, u32); 6] = [
        (true, 4, 0, 20),   // overlapping, destination after source: backwards
        (true, 0, 6, 20),   // overlapping, destination before source: forwards
        (true, 1, 0, 31),   // shift right by one over almost everything
        (true, 0, 1, 31),   // shift left by one
        (false, 3, 10, 12), // into another array
        (true, 5, 5, 10),   // onto itself
    ];
    for (same, dst, src, count) in cases {
        let live = |m: &[u32], o: &[u32]| {
            let mut all: Vec<u32> = m.iter().chain(o).copied().filter(|&w| w != 0).collect();
            all.sort_unstable();
            all.dedup();
            all.len() as u64
        };
        let mut other_model = element_words(&mut heap, &other)?;
        if same {
            ok!(heap.array_copy(&array, dst, &array, src, count));
            model.copy_within(src as usize..(src + count) as usize, dst as usize);
        } else {
            ok!(heap.array_copy(&other, dst, &array, src, count));
            other_model[dst as usize..(dst + count) as usize]
                .copy_from_slice(&model[src as usize..(src + count) as usize]);
        }
        ensure!(element_words(&mut heap, &array)? == model, "copy {dst} <- {src} x{count}");
        ensure!(element_words(&mut heap, &other)? == other_model);
        let report = verify!(heap, words([&array, &other]));
        ensure!(report.objects == 2 + live(&model, &other_model), "{report:?}");
    }

    // Scalars, overlapping both ways, against a model.
    for ty in [ints, bytes] {
        let len = 41u32;
        let elements: Vec<ValueRef<'_>> = (0..len)
            .map(|i| if ty == ints { ValueRef::I32(i as i32 * 1000 - 7) } else { ValueRef::I8(i as i8 - 20) })
            .collect();
        let a = ok!(heap.array_new_fixed(ty, &elements));
        let mut model: Vec<(&str, u128)> = elements.iter().map(|v| ref_bits(*v)).collect();
        for (dst, src, count) in [(5, 0, 30), (0, 9, 30), (1, 0, 40), (0, 1, 40), (2, 2, 5)] {
            ok!(heap.array_copy(&a, dst, &a, src, count));
            model.copy_within(src as usize..(src + count) as usize, dst as usize);
            for i in 0..len {
                let read = ok!(heap.array_get(&a, i));
                ensure!(bits(&read) == model[i as usize], "scalar copy {dst} <- {src} x{count}: [{i}]");
            }
        }
        verify!(heap, words([&array, &other, &a]));
        ok!(heap.drop_ref(a));
    }
    ok!(heap.drop_ref(array));
    ok!(heap.drop_ref(other));
    ensure_empty(&heap)
}

/// Regression: `array_copy` compared element sizes only, so it copied `i32` bits into an `f32`
/// array (and back), which Wasm's type rules forbid.
pub(super) fn array_copy_between_different_element_types_is_a_type_mismatch(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let ints = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    let ints2 = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    let floats = ok!(heap.register_array(ArrayType::new(StorageType::F32)));
    let shorts = ok!(heap.register_array(ArrayType::new(StorageType::I16)));
    let externs = ok!(heap.register_array(ArrayType::new(EXTERNREF)));
    let anys = ok!(heap.register_array(ArrayType::new(ANYREF)));
    let i = ok!(heap.array_new(ints, 4, ValueRef::I32(1)));
    let j = ok!(heap.array_new(ints2, 4, ValueRef::I32(2)));
    let f = ok!(heap.array_new(floats, 4, ValueRef::F32(0.5)));
    let s = ok!(heap.array_new(shorts, 4, ValueRef::I16(3)));
    let x = ok!(heap.array_new(externs, 4, ValueRef::Ref(None)));
    let y = ok!(heap.array_new(anys, 4, ValueRef::Ref(None)));
    expect_err!(heap.array_copy(&f, 0, &i, 0, 4), Error::TypeMismatch { .. });
    expect_err!(heap.array_copy(&i, 0, &f, 0, 4), Error::TypeMismatch { .. });
    expect_err!(heap.array_copy(&i, 0, &s, 0, 4), Error::TypeMismatch { .. });
    expect_err!(heap.array_copy(&i, 0, &y, 0, 4), Error::TypeMismatch { .. });
    ensure!(ok!(heap.array_get(&f, 0)) == Value::F32(0.5));
    ensure!(ok!(heap.array_get(&i, 3)) == Value::I32(1));
    // The same element type in two array types copies; null references copy between any
    // reference element types.
    ok!(heap.array_copy(&j, 1, &i, 0, 2));
    ensure!(ok!(heap.array_get(&j, 2)) == Value::I32(1) && ok!(heap.array_get(&j, 3)) == Value::I32(2));
    ok!(heap.array_copy(&x, 0, &y, 0, 4));
    verify!(heap, words([&i, &j, &f, &s, &x, &y]));
    for r in [i, j, f, s, x, y] {
        ok!(heap.drop_ref(r));
    }
    ensure_empty(&heap)
}
