//! `struct_new_owned` checks its operands from the struct type's precomputed field plans
//! (`FieldPlan`, computed at registration) and stores the precomputed header: its answers must
//! be exactly the generic constructor's (which checks each operand against its field's storage
//! type), for every heap type and every kind of word, valid or not.

mod common;

use common::{assert_empty, field_types, region, verify};
use drc_heap::header::{HeaderFlags, ObjectHeader, HEADER_SIZE, KIND_OFFSET};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{Error, GcRef, Heap, Value, ValueRef};

#[test]
fn struct_new_owned_accepts_and_refuses_every_operand_as_struct_new_does() {
    let mut heap: Heap<u32> = Heap::new(region(1 << 16)).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32])).unwrap();
    let other = heap.register_struct(StructType::new(&[StorageType::I64])).unwrap();
    let array = heap.register_array(ArrayType::new(StorageType::I32)).unwrap();
    let a_node = heap.struct_new(node, &[ValueRef::I32(1)]).unwrap();
    let an_array = heap.array_new(array, 2, ValueRef::I32(0)).unwrap();
    let an_extern = heap.alloc_externref(9).map_err(|(error, _)| error).unwrap();
    // A word inside an object (no object starts there) and a word past everything allocated.
    let inside = a_node.as_raw_u32() + HEADER_SIZE;
    let operands: Vec<(&str, Option<u32>)> = vec![
        ("null", None),
        ("i31", Some(GcRef::from_i31(5).as_raw_u32())),
        ("struct", Some(a_node.as_raw_u32())),
        ("array", Some(an_array.as_raw_u32())),
        ("externref", Some(an_extern.as_raw_u32())),
        ("inside an object", Some(inside)),
        ("past the top", Some(1 << 15)),
    ];
    let mut checked = 0;
    for ref_type in field_types(node, other) {
        let ty = heap.register_struct(StructType::new(&[StorageType::I32, StorageType::Ref(ref_type)])).unwrap();
        for &(name, raw) in &operands {
            // An unbound handle on the word (no count of its own: a count is taken for the
            // owned constructor, which moves it in, only where the word names an object).
            let unbound = raw.and_then(GcRef::from_raw_u32);
            let generic = heap.struct_new(ty, &[ValueRef::I32(2), ValueRef::Ref(unbound.as_ref())]);
            let owned_operand = match (&generic, &unbound) {
                (Ok(_), Some(r)) => Some(heap.clone_ref(r).unwrap()),
                _ => unbound,
            };
            let owned = heap.struct_new_owned(ty, [Value::I32(2), Value::Ref(owned_operand)]);
            match (generic, owned) {
                (Ok(g), Ok(o)) => {
                    heap.drop_ref(g).unwrap();
                    heap.drop_ref(o).unwrap();
                }
                (Err(g), Err((o, _))) => assert_eq!(g, o, "{ref_type:?} given {name}"),
                (g, o) => panic!("{ref_type:?} given {name}: struct_new {g:?}, struct_new_owned {o:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20 * operands.len());
    // A scalar of another width and a reference in a scalar field are refused alike too.
    let wide = heap.struct_new(node, &[ValueRef::I64(1)]).unwrap_err();
    assert_eq!(heap.struct_new_owned(node, [Value::I64(1)]).unwrap_err().0, wide);
    let reference = heap.struct_new(node, &[ValueRef::Ref(None)]).unwrap_err();
    assert_eq!(heap.struct_new_owned(node, [Value::Ref(None)]).unwrap_err().0, reference);
    verify(&heap, &[&a_node, &an_array, &an_extern]);
    for r in [a_node, an_array, an_extern] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_refuses_an_object_whose_kind_byte_is_corrupted() {
    let mut heap: Heap<()> = Heap::new(region(4096)).unwrap();
    let link = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let node = heap.register_struct(StructType::new(&[link, link])).unwrap();
    let child = heap.struct_new_owned(node, [Value::Ref(None), Value::Ref(None)]).map_err(|(e, _)| e).unwrap();
    let raw = child.as_raw_u32();
    let before = heap.stats().unwrap().objects_allocated;
    // SAFETY: the kind byte of the child lies inside the region, which is valid for writes;
    // no reference into the region is alive across the write (as JIT code might do it).
    unsafe { heap.region_base().add((raw + KIND_OFFSET) as usize).write(0xee) };
    let (error, [back, _]) = heap.struct_new_owned(node, [Value::Ref(Some(child)), Value::Ref(None)]).unwrap_err();
    assert!(matches!(error, Error::Corrupted { .. }), "{error:?}");
    assert!(matches!(back, Value::Ref(Some(ref r)) if r.as_raw_u32() == raw));
    assert_eq!(heap.stats().unwrap().objects_allocated, before, "a refused constructor allocates nothing");
}

#[test]
fn struct_new_owned_writes_the_header_registration_precomputed() {
    let mut heap: Heap<()> = Heap::new(region(4096)).unwrap();
    let cyclic = heap.register_struct(StructType::new(&[StorageType::Ref(RefType::nullable(HeapType::Any))])).unwrap();
    let acyclic =
        heap.register_struct(StructType::new(&[StorageType::I8, StorageType::I64, StorageType::V128])).unwrap();
    let a = heap.struct_new_owned(cyclic, [Value::Ref(None)]).map_err(|(e, _)| e).unwrap();
    let b =
        heap.struct_new_owned(acyclic, [Value::I8(-1), Value::I64(-2), Value::V128(3)]).map_err(|(e, _)| e).unwrap();
    for (r, ty, flags, size) in [(&a, cyclic, HeaderFlags::empty(), 32), (&b, acyclic, HeaderFlags::ACYCLIC, 48)] {
        let mut bytes = [0u8; 16];
        // SAFETY: the header lies inside the region; nothing references the region meanwhile.
        unsafe {
            core::ptr::copy_nonoverlapping(heap.region_base().add(r.as_raw_u32() as usize), bytes.as_mut_ptr(), 16)
        };
        let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        let header = ObjectHeader {
            kind: drc_heap::header::Kind::STRUCT,
            flags: HeaderFlags::from_bits(bytes[1]).unwrap(),
            reserved: u16::from_ne_bytes([bytes[2], bytes[3]]),
            type_index: word(4),
            size: word(8),
            ref_count: word(12),
        };
        assert_eq!(bytes[0], drc_heap::header::Kind::STRUCT.to_byte());
        assert_eq!(
            (header.flags, header.reserved, header.type_index, header.size, header.ref_count),
            (flags, 0, ty.0, size, 1)
        );
    }
    assert_eq!(heap.struct_get(&b, 0).unwrap(), Value::I8(-1));
    assert_eq!(heap.struct_get(&b, 1).unwrap(), Value::I64(-2));
    assert_eq!(heap.struct_get(&b, 2).unwrap(), Value::V128(3));
    verify(&heap, &[&a, &b]);
    heap.drop_ref(a).unwrap();
    heap.drop_ref(b).unwrap();
    assert_empty(&heap);
}
