//! Unit tests of `access.rs` (private items: `use super::*`).

use super::*;
use crate::header::UNKNOWN_FLAG_BITS;
use crate::test_support::test_region;
use crate::types::{ArrayType, StructType};
use crate::Heap;
use alloc::vec::Vec;

/// The checks `retain_struct_operands` made before the field plans: each operand's full
/// check in field order (`retain_operand`), the counts taken so far given back on an error.
fn full_retain(heap: &mut Heap<()>, ty: TypeIndex, fields: &[ValueRef<'_>], operands: Operands) -> Result<()> {
    let id = heap.id;
    let HeapIn { types, region, free_list, .. } = heap;
    let (struct_type, _) = types.struct_layout(ty)?;
    let failed = fields.iter().enumerate().find_map(|(i, &value)| {
        retain_operand(region, free_list, types, id, struct_type, i, value, operands).err().map(|error| (i, error))
    });
    match failed {
        Some((i, error)) => {
            heap.release_field_refs(&fields[..i])?;
            Err(error)
        }
        None => Ok(()),
    }
}

/// The field plans of `retain_struct_operands` (and so of `struct_new` and
/// `struct_new_proved`) accept and refuse every operand exactly as each field's full check
/// does, with the same error and the same count taken: every storage type (every heap
/// type, nullable and not) against scalars of each type, null, an i31, a struct of each of
/// two types, an array, an externref, a word inside an object, a foreign handle, and each
/// object operand with its kind and flags bytes at every value and its count at zero and
/// at its maximum (a corrupted kind or flags byte is `Corrupted`).
#[test]
fn struct_operands_are_checked_exactly_as_each_fields_full_check_does() {
    let mut heap: Heap<()> = Heap::new(test_region(1 << 16)).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let other = heap.register_struct(StructType::new(&[StorageType::I64])).unwrap();
    let ints = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let a_node = heap.struct_new(node, &[ValueRef::I32(1)]).unwrap();
    let an_other = heap.struct_new(other, &[ValueRef::I64(1)]).unwrap();
    let an_array = heap.array_new(ints, 2, ValueRef::I32(0)).unwrap();
    let an_extern = heap.alloc_externref(()).map_err(|(error, _)| error).unwrap();
    let inside = GcRef::from_raw_u32(a_node.as_raw_u32() + HEADER_SIZE).unwrap();
    let i31 = GcRef::from_i31(5);
    let stranger: Heap<()> = Heap::new(test_region(4096)).unwrap();
    let foreign = stranger.handle(a_node.as_raw_u32()).unwrap();
    let heap_types = [
        HeapType::Extern,
        HeapType::Any,
        HeapType::Eq,
        HeapType::I31,
        HeapType::Struct,
        HeapType::Array,
        HeapType::None,
        HeapType::NoExtern,
        HeapType::Concrete(node),
        HeapType::Concrete(other),
    ];
    let mut storages = Vec::from([
        StorageType::I8,
        StorageType::I16,
        StorageType::I32,
        StorageType::I64,
        StorageType::F32,
        StorageType::F64,
        StorageType::V128,
    ]);
    for heap_type in heap_types {
        for nullable in [true, false] {
            storages.push(StorageType::Ref(RefType { nullable, heap_type }));
        }
    }
    let scalars = [
        ValueRef::I8(1),
        ValueRef::I16(1),
        ValueRef::I32(1),
        ValueRef::I64(1),
        ValueRef::F32(1.0),
        ValueRef::F64(1.0),
        ValueRef::V128(1),
    ];
    let objects = [&a_node, &an_other, &an_array, &an_extern];
    let mut values: Vec<ValueRef<'_>> = Vec::from(scalars);
    values.extend([ValueRef::Ref(None), ValueRef::Ref(Some(&i31)), ValueRef::Ref(Some(&inside))]);
    values.push(ValueRef::Ref(Some(&foreign)));
    values.extend(objects.iter().map(|&r| ValueRef::Ref(Some(r))));
    // Every value of the kind and flags bytes; under Miri, which runs this thousands of times
    // slower, a few: no kind, the externref and array kinds, and other bytes.
    let every: Vec<u8> =
        if cfg!(miri) { Vec::from([0, 0x01, 0x08, 0x15, 0x20, 0x80, 0xff]) } else { (0..=u8::MAX).collect() };
    let mut compared = 0;
    for storage in storages {
        // The field after an i32 (a plan's offset that is not the first field's).
        let ty = heap.register_struct(StructType::new(&[StorageType::I32, storage])).unwrap();
        for operands in [Operands::Checked, Operands::Proved] {
            for &value in &values {
                let fields = [ValueRef::I32(0), value];
                let object = objects.iter().find(|&&r| matches!(value, ValueRef::Ref(Some(v)) if v == r));
                // The operand's header as it is, then (objects only) corrupted.
                let mut headers = Vec::from([None]);
                if let Some(r) = object {
                    let index = r.as_raw_u32();
                    let saved: [u8; 16] = heap.region.read(index).unwrap();
                    for &kind in &every {
                        headers.push(Some((index, [kind, saved[1]], None)));
                    }
                    for &flags in &every {
                        headers.push(Some((index, [saved[0], flags], None)));
                    }
                    headers.push(Some((index, [saved[0], saved[1]], Some(0))));
                    headers.push(Some((index, [saved[0], saved[1]], Some(u32::MAX))));
                }
                for header in headers {
                    let saved = header.map(|(index, _, _)| (index, heap.region.read::<16>(index).unwrap()));
                    let corrupt = |heap: &mut Heap<()>| {
                        if let Some((index, kind_and_flags, count)) = header {
                            heap.region.write(index, kind_and_flags).unwrap();
                            if let Some(count) = count {
                                heap.region.write_u32(index + REF_COUNT_OFFSET, count).unwrap();
                            }
                        }
                    };
                    let after = |heap: &mut Heap<()>| {
                        let bytes = saved.map(|(index, _)| heap.region.read::<16>(index).unwrap());
                        if let Some((index, saved)) = saved {
                            heap.region.write(index, saved).unwrap();
                        }
                        bytes
                    };
                    corrupt(&mut heap);
                    let planned = heap.retain_struct_operands(ty, &fields, operands);
                    let planned = (planned, after(&mut heap));
                    corrupt(&mut heap);
                    let full = full_retain(&mut heap, ty, &fields, operands);
                    let full = (full, after(&mut heap));
                    assert_eq!(planned, full, "{storage:?} {value:?} {operands:?} {header:?}");
                    let corrupted = |(_, [kind, flags], _): (u32, [u8; 2], Option<u32>)| {
                        Kind::from_byte(kind).is_none() || flags & UNKNOWN_FLAG_BITS != 0
                    };
                    if storage.is_ref() && header.is_some_and(corrupted) {
                        assert!(matches!(planned.0, Err(Error::Corrupted { .. })), "{planned:?}");
                    }
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > if cfg!(miri) { 2_000 } else { 20_000 }, "{compared}");
}
