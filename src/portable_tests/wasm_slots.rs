//! Portable tests of the Wasm boundary in slots ([`crate::wasm_slots`]): the slot encoding of
//! every storage type, references exposed to Wasm when read or created and counted when
//! stored, and validation of every operand, with failed constructors giving back every count.

use super::{PortableTest, TestResult};
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use crate::{Error, Heap, Operands, Root, Signedness, TypeIndex};

/// The Wasm-slot table.
pub(super) static WASM_SLOTS: &[PortableTest] = &[
    portable!(slots_round_trip_every_storage_type_and_packed_reads_widen_as_asked),
    portable!(references_in_slots_are_exposed_when_read_and_counted_when_stored),
    portable!(slot_operands_are_validated_and_failed_constructors_give_back_every_count),
];

const SIGNED: Signedness = Signedness::Signed;
const UNSIGNED: Signedness = Signedness::Unsigned;

/// A struct type with one field of every storage type a slot holds, the reference last.
fn every_field(heap: &mut Heap<()>) -> Result<TypeIndex, alloc::string::String> {
    Ok(ok!(heap.register_struct(StructType::new(&[
        StorageType::I8,
        StorageType::I16,
        StorageType::I32,
        StorageType::I64,
        StorageType::F32,
        StorageType::F64,
        StorageType::Ref(RefType::nullable(HeapType::Any)),
    ]))))
}

/// Every live object and table entry gone after a collection with no roots.
fn ends_empty(heap: &mut Heap<()>) -> TestResult {
    ok!(heap.collect_all([]));
    verify!(heap);
    let stats = ok!(heap.stats());
    ensure!(stats.live_objects == 0, "{stats:?}");
    Ok(())
}

fn slots_round_trip_every_storage_type_and_packed_reads_widen_as_asked(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let ty = every_field(&mut heap)?;
    let pi = core::f64::consts::PI.to_bits();
    let e = 2.5f32.to_bits() as u64;
    // Packed fields keep their low bits; an i32 or f32 slot's upper half is ignored.
    let slots = [0x1_80, 0xF_8001, 0xDEAD_BEEF_0000_0007, u64::MAX - 1, 0xFFFF_0000_0000_0000 | e, pi, 0];
    let object = ok!(heap.struct_new_from_slots(ty, &slots, Operands::Checked));
    let expected_unsigned = [0x80, 0x8001, 7, u64::MAX - 1, e, pi, 0];
    let expected_signed = [0xFFFF_FF80, 0xFFFF_8001, 7, u64::MAX - 1, e, pi, 0];
    for field in 0..7u32 {
        let unsigned = ok!(heap.struct_get_slot(object, field, UNSIGNED));
        let signed = ok!(heap.struct_get_slot(object, field, SIGNED));
        ensure!(unsigned == expected_unsigned[field as usize], "field {field}: {unsigned:#x}");
        ensure!(signed == expected_signed[field as usize], "field {field} signed: {signed:#x}");
    }
    // Setters write the same encoding.
    for (field, slot, read) in [(0u32, 0x7Fu64, 0x7Fu64), (1, 0x1_0002, 2), (2, 0x1_0000_0009, 9), (3, 5, 5)] {
        ok!(heap.struct_set_slot(object, field, slot, Operands::Checked));
        ensure!(ok!(heap.struct_get_slot(object, field, SIGNED)) == read, "field {field}");
    }
    // Arrays: array.new, array.new_fixed, get_s/get_u, set.
    let shorts = ok!(heap.register_array(ArrayType::new(StorageType::I16)));
    let array = ok!(heap.array_new_from_slot(shorts, 4, 0x1_8001, Operands::Checked));
    ensure!(ok!(heap.array_get_slot(array, 3, SIGNED)) == 0xFFFF_8001);
    ensure!(ok!(heap.array_get_slot(array, 3, UNSIGNED)) == 0x8001);
    ok!(heap.array_set_slot(array, 0, 0x7FFF, Operands::Checked));
    ensure!(ok!(heap.array_get_slot(array, 0, SIGNED)) == 0x7FFF);
    let doubles = ok!(heap.register_array(ArrayType::new(StorageType::F64)));
    let fixed = ok!(heap.array_new_fixed_from_slots(doubles, &[pi, 0, 1.0f64.to_bits()], Operands::Checked));
    ensure!(ok!(heap.array_get_slot(fixed, 2, UNSIGNED)) == 1.0f64.to_bits());
    ensure!(ok!(heap.array_get_slot(fixed, 0, UNSIGNED)) == pi);
    // A zero-length array and an all-zero fill need no fill at all.
    let empty = ok!(heap.array_new_from_slot(shorts, 0, 5, Operands::Checked));
    expect_err!(heap.array_get_slot(empty, 0, SIGNED), Error::IndexOutOfBounds { index: 0, count: 1, len: 0 });
    // Every new object is exposed to Wasm: the table holds its count.
    verify!(heap);
    ensure!(collect_with_stack(&mut heap, &[object, array, fixed, empty])? == 4, "the stack keeps its objects");
    ends_empty(&mut heap)
}

/// Collects with `words` on the Wasm stack, verifies, and returns the live objects left.
fn collect_with_stack(heap: &mut Heap<()>, words: &[u32]) -> Result<u64, alloc::string::String> {
    ok!(heap.collect_all(words.iter().map(|&word| Root::wasm_stack(word))));
    verify!(heap);
    Ok(ok!(heap.stats()).live_objects)
}

fn references_in_slots_are_exposed_when_read_and_counted_when_stored(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let ty = every_field(&mut heap)?;
    let refs = ok!(heap.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Any)))));
    let zeros = [0u64; 7];
    let leaf = ok!(heap.struct_new_from_slots(ty, &zeros, Operands::Checked));
    let mut fields = zeros;
    fields[6] = leaf as u64;
    let parent = ok!(heap.struct_new_from_slots(ty, &fields, Operands::Checked));
    // The leaf: one count in the table (it was created exposed), one in the parent's field.
    verify!(heap);
    let table = heap.activations_table_len();
    ensure!(ok!(heap.struct_get_slot(parent, 6, UNSIGNED)) == leaf as u64);
    ensure!(heap.activations_table_len() == table + 1, "a reference read is exposed to Wasm");
    verify!(heap);
    // An array of references: new (every element counted), fixed, get (exposed) and set.
    let array = ok!(heap.array_new_from_slot(refs, 3, leaf as u64, Operands::Checked));
    let i31 = (42u64 << 1) | 1;
    let fixed = ok!(heap.array_new_fixed_from_slots(refs, &[parent as u64, i31, 0], Operands::Checked));
    ensure!(ok!(heap.array_get_slot(fixed, 1, UNSIGNED)) == i31, "i31 words pass through");
    ensure!(ok!(heap.array_get_slot(array, 2, UNSIGNED)) == leaf as u64);
    ok!(heap.array_set_slot(array, 2, 0, Operands::Checked));
    verify!(heap);
    // Only `fixed` stays on the Wasm stack: it keeps the parent, which keeps the leaf.
    ensure!(collect_with_stack(&mut heap, &[fixed])? == 3);
    // Storing null through the barrier gives back the parent's count on the leaf.
    ok!(heap.struct_set_slot(parent, 6, 0, Operands::Checked));
    ensure!(collect_with_stack(&mut heap, &[fixed])? == 2, "the leaf was freed when its last field let go");
    ends_empty(&mut heap)
}

fn slot_operands_are_validated_and_failed_constructors_give_back_every_count(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let ty = every_field(&mut heap)?;
    let pair = ok!(heap.register_struct(StructType::new(&[
        StorageType::Ref(RefType::nullable(HeapType::Any)),
        StorageType::Ref(RefType::nullable(HeapType::Concrete(ty))),
    ])));
    let vectors = ok!(heap.register_struct(StructType::new(&[StorageType::V128])));
    let ints = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    let zeros = [0u64; 7];
    let object = ok!(heap.struct_new_from_slots(ty, &zeros, Operands::Checked));
    let array = ok!(heap.array_new_from_slot(ints, 2, 0, Operands::Checked));
    verify!(heap);
    expect_err!(
        heap.struct_new_from_slots(ty, &zeros[..6], Operands::Checked),
        Error::FieldCountMismatch { expected: 7, found: 6 }
    );
    expect_err!(heap.struct_new_from_slots(vectors, &[0], Operands::Checked), Error::TypeMismatch { .. });
    expect_err!(heap.struct_get_slot(0, 0, UNSIGNED), Error::NullReference);
    expect_err!(heap.struct_get_slot(object + 16, 0, UNSIGNED), Error::InvalidReference(_));
    expect_err!(heap.struct_get_slot(array, 0, UNSIGNED), Error::WrongObjectKind { .. });
    expect_err!(heap.array_get_slot(object, 0, UNSIGNED), Error::WrongObjectKind { .. });
    expect_err!(heap.struct_get_slot(object, 7, UNSIGNED), Error::FieldOutOfBounds { field: 7, fields: 7 });
    expect_err!(heap.array_set_slot(array, 2, 0, Operands::Checked), Error::IndexOutOfBounds { index: 2, .. });
    // The first operand's count is taken before the second fails its check: it is given back,
    // and nothing is allocated.
    let before = ok!(heap.stats());
    expect_err!(
        heap.struct_new_from_slots(pair, &[object as u64, array as u64], Operands::Checked),
        Error::TypeMismatch { .. }
    );
    expect_err!(
        heap.struct_new_from_slots(pair, &[object as u64, (object + 16) as u64], Operands::Proved),
        Error::InvalidReference(_)
    );
    expect_err!(heap.struct_set_slot(object, 6, (array + 16) as u64, Operands::Checked), Error::InvalidReference(_));
    let after = ok!(heap.stats());
    ensure!(before.live_objects == after.live_objects && before.live_bytes == after.live_bytes);
    verify!(heap);
    // A proved operand is not type-checked (its word still is): the object is only mistyped
    // for Wasm, and the counts stay exact.
    let mistyped = ok!(heap.struct_new_from_slots(pair, &[object as u64, array as u64], Operands::Proved));
    verify!(heap);
    ensure!(collect_with_stack(&mut heap, &[mistyped])? == 1 + 2, "the mistyped pair keeps both operands");
    ends_empty(&mut heap)
}
