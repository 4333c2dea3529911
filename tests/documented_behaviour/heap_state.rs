//! The heap as a whole: no-GC scopes and reset, borrowed memory and configuration, errors,
//! roots, stats and verification.

use super::*;

// ---------------------------------------------------------------------------------------------
// No-GC scopes and reset.

#[test]
fn exit_no_gc_scope_without_a_matching_enter_is_not_in_no_gc_scope() {
    let (mut heap, _, _, _) = heap_with_types(1 << 14);
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    heap.enter_no_gc_scope();
    heap.enter_no_gc_scope();
    heap.exit_no_gc_scope().unwrap();
    assert!(heap.in_no_gc_scope(), "scopes nest");
    assert_eq!(heap.collect_all([]), Err(Error::InNoGcScope));
    assert!(matches!(heap.collect_cycles(), Err(Error::InNoGcScope)));
    heap.exit_no_gc_scope().unwrap();
    assert!(!heap.in_no_gc_scope());
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    heap.collect_all([]).unwrap();
    assert_empty(&heap);
}

#[test]
fn reset_closes_every_no_gc_scope_keeps_the_types_and_drops_the_host_data() {
    let drops = common::Drops::new();
    let mut heap: Heap<common::Tracked> = Heap::new(region(1 << 14)).unwrap();
    let node = common::register_node(&mut heap);
    let e = common::externref(&mut heap, &drops, 1);
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(Some(&e))]).unwrap();
    heap.expose_gc_ref_to_wasm(n).unwrap();
    heap.enter_no_gc_scope();
    heap.enter_no_gc_scope();
    heap.reset();
    assert_eq!(drops.live(), 0, "the host data was dropped");
    assert!(!heap.in_no_gc_scope());
    assert_eq!(heap.exit_no_gc_scope(), Err(Error::NotInNoGcScope));
    assert_eq!(heap.activations_table_len(), 0);
    let _ = e.into_raw(); // stale: it owns nothing after the reset
                          // The type registered before the reset is still there.
    let again = heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(None)]).unwrap();
    assert_eq!(heap.struct_get_i32(&again, 0), Ok(2));
    heap.collect_all([]).unwrap();
    heap.drop_ref(again).unwrap();
    assert_empty(&heap);
    let stats = heap.stats().unwrap();
    assert_eq!((stats.free_blocks, stats.free_bytes), (1, stats.region_bytes - 16));
}

// ---------------------------------------------------------------------------------------------
// Borrowed memory, HeapMemory, configuration, regions.

#[test]
fn heap_memory_debug_shows_its_length_not_its_bytes() {
    let memory = HeapMemory::<4096>::new();
    let shown = format!("{memory:?}");
    assert!(shown.contains("4096"), "{shown}");
    assert!(shown.len() < 64, "{shown}");
}

#[test]
fn heap_memory_default_is_zeroed_and_16_byte_aligned() {
    let mut memory = Box::new(HeapMemory::<4096>::default());
    let bytes = memory.bytes();
    assert_eq!(bytes.len(), 4096);
    assert_eq!(bytes.as_ptr() as usize % REGION_ALIGN, 0);
    assert!(bytes.iter().all(|&b| b == 0));
    let mut heap: HeapIn<'_, ()> = HeapIn::new(bytes).unwrap();
    let e = heap.alloc_externref(()).map_err(|(error, _)| error).unwrap();
    heap.drop_ref(e).unwrap();
    assert_empty(&heap);
}

#[test]
fn heap_in_over_a_misaligned_or_short_borrow_is_a_typed_region_error() {
    let mut memory = HeapMemory::<4096>::new();
    let bytes = memory.bytes();
    assert!(matches!(HeapIn::<()>::new(&mut bytes[1..1025]), Err(Error::RegionMisaligned { align: 16, .. })));
    assert_eq!(
        HeapIn::<()>::new(&mut bytes[..MIN_REGION_LEN - 16]).err(),
        Some(Error::RegionTooSmall { len: MIN_REGION_LEN - 16, min: MIN_REGION_LEN })
    );
    assert_eq!(HeapIn::<()>::new(&mut bytes[..1000]).err(), Some(Error::RegionMisaligned { value: 1000, align: 16 }));
    // The smallest accepted region works.
    let heap: HeapIn<'_, ()> = HeapIn::new(&mut bytes[..MIN_REGION_LEN]).unwrap();
    assert_eq!(heap.region_len() as usize, MIN_REGION_LEN);
}

#[test]
fn heap_in_with_config_applies_the_settings_over_borrowed_memory() {
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let config = HeapConfig::default().with_cycle_collection(false);
    let mut heap: HeapIn<'_, ()> = HeapIn::with_config(memory.bytes(), config).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).unwrap();
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]).unwrap();
    let second = heap.clone_ref(&n).unwrap();
    // A decrement that leaves a count above zero buffers nothing with cycle collection off.
    heap.drop_ref(second).unwrap();
    assert_eq!(heap.cycle_candidates(), 0);
    heap.drop_ref(n).unwrap();
    assert_empty(&heap);
}

#[test]
fn heap_in_with_default_config_buffers_a_possible_cycle_root() {
    // The counterpart of the test above: the decrement does buffer with cycle collection on, so
    // that test can fail.
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let mut heap: HeapIn<'_, ()> = HeapIn::with_config(memory.bytes(), HeapConfig::default()).unwrap();
    let node = heap.register_struct(StructType::new(&[StorageType::I32, ANYREF])).unwrap();
    let n = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]).unwrap();
    let second = heap.clone_ref(&n).unwrap();
    heap.drop_ref(second).unwrap();
    assert_eq!(heap.cycle_candidates(), 1);
    heap.drop_ref(n).unwrap();
    assert_eq!(heap.cycle_candidates(), 0, "a freed buffered object leaves the buffer");
    assert_empty(&heap);
}

#[test]
fn extend_past_the_largest_region_or_by_a_misaligned_length_changes_nothing() {
    let mut memory = HeapMemory::<4096>::new();
    let mut heap: HeapIn<'_, ()> = HeapIn::new(memory.bytes()).unwrap();
    // SAFETY: both calls are refused before any byte past the region is used (the documented
    // order: the size first, then the alignment), so no memory past the region is touched.
    unsafe {
        assert!(matches!(heap.extend(usize::MAX), Err(Error::RegionTooLarge { .. })));
        assert_eq!(heap.extend(8), Err(Error::RegionMisaligned { value: 8, align: REGION_ALIGN }));
    }
    assert_eq!(heap.region_len(), 4096);
    assert_eq!(heap.stats().unwrap().region_bytes, 4096);
    assert_empty(&heap);
}

#[test]
fn heap_debug_shows_sizes_and_counters_over_borrowed_memory_without_host_data_debug() {
    struct Opaque;
    let mut memory = HeapMemory::<{ 1 << 14 }>::new();
    let mut heap: HeapIn<'_, Opaque> = HeapIn::new(memory.bytes()).unwrap();
    let e = heap.alloc_externref(Opaque).map_err(|(error, _)| error).unwrap();
    heap.enter_no_gc_scope();
    let shown = format!("{heap:?}");
    for field in ["region_bytes: 16384", "live_objects: 1", "host_data_values: 1", "no_gc_depth: 1"] {
        assert!(shown.contains(field), "{field} missing from {shown}");
    }
    heap.exit_no_gc_scope().unwrap();
    heap.drop_ref(e).unwrap();
    assert_empty(&heap);
}

// ---------------------------------------------------------------------------------------------
// Errors, roots, stats and verify.

#[test]
fn only_out_of_memory_is_retryable_and_only_corrupted_or_verify_failed_are_corruption() {
    let misuse = [
        Error::UnknownType(3),
        Error::FieldOutOfBounds { field: 1, fields: 1 },
        Error::IndexOutOfBounds { index: 0, count: 1, len: 0 },
        Error::TypeMismatch { expected: "i32", found: "i64" },
        Error::NullReference,
        Error::InvalidReference(16),
        Error::ForeignReference { raw: 16 },
        Error::InNoGcScope,
        Error::NotInNoGcScope,
        Error::AllocationTooLarge { requested: usize::MAX, max: 1 },
        Error::OwnedRegionNotExtensible,
    ];
    for error in &misuse {
        assert!(!error.is_retryable() && !error.is_corruption(), "{error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert!(Error::OutOfMemory { requested: 32 }.is_retryable());
    assert!(!Error::OutOfMemory { requested: 32 }.is_corruption());
    assert!(Error::Corrupted { offset: 16, what: "x" }.is_corruption());
    assert!(Error::VerifyFailed { offset: 16, what: "x", found: 1, expected: 2 }.is_corruption());
    assert!(!Error::Corrupted { offset: 16, what: "x" }.is_retryable());
}

#[test]
fn roots_keep_their_word_and_where_it_lives() {
    assert_eq!((Root::wasm_stack(32).raw(), Root::wasm_stack(32).is_on_wasm_stack()), (32, true));
    assert_eq!((Root::host(48).raw(), Root::host(48).is_on_wasm_stack()), (48, false));
    assert_ne!(Root::wasm_stack(32), Root::host(32));
}

#[test]
fn verify_lower_bound_passes_without_host_roots_where_exact_verify_does_not() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let report = heap.verify_lower_bound().unwrap();
    assert_eq!(report.objects, 1);
    let error = heap.verify([]).unwrap_err();
    assert!(matches!(error, Error::VerifyFailed { .. }), "{error:?}");
    assert!(error.is_corruption());
    assert_eq!(heap.verify([s.as_raw_u32()]).unwrap().objects, 1);
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn stats_count_allocations_frees_and_peaks() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let before = heap.stats().unwrap();
    let a = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let b = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(Some(&a))]).unwrap();
    let during = heap.stats().unwrap();
    assert_eq!(during.live_objects, 2);
    assert_eq!(during.objects_allocated, before.objects_allocated + 2);
    assert!(during.live_bytes >= 2 * 32 && during.peak_live_bytes >= during.live_bytes, "{during:?}");
    heap.drop_ref(a).unwrap();
    heap.drop_ref(b).unwrap(); // frees b, then a with it
    let after = heap.stats().unwrap();
    assert_eq!(after.objects_freed, before.objects_freed + 2);
    assert_eq!(after.peak_live_bytes, during.peak_live_bytes, "a peak stays");
    assert_empty(&heap);
}

#[test]
fn allocate_with_roots_returns_a_misuse_error_of_the_allocation_at_once() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let asked = std::cell::Cell::new(0);
    let mut roots = |_: &mut Vec<Root>| -> drc_heap::Result<()> {
        asked.set(asked.get() + 1);
        Ok(())
    };
    let result = heap.allocate_with_roots(&mut roots, |heap| heap.struct_new(record, &[ValueRef::I32(1)]));
    assert_eq!(result.err(), Some(Error::FieldCountMismatch { expected: 3, found: 1 }));
    assert_eq!(asked.get(), 0);
    let r = heap.allocate_with_roots(&mut roots, |heap| heap.alloc_externref(9).map_err(|(error, _)| error)).unwrap();
    assert_eq!(heap.externref_data(&r), Ok(&9));
    heap.drop_ref(r).unwrap();
    assert_empty(&heap);
}

#[test]
fn kind_of_and_type_of_name_what_a_reference_points_to() {
    let (mut heap, record, ints, _) = heap_with_types(1 << 14);
    let s = heap.struct_new_default(record).unwrap();
    let a = heap.array_new_default(ints, 1).unwrap();
    let e = heap.alloc_externref(1).map_err(|(error, _)| error).unwrap();
    assert_eq!((heap.kind_of(&s), heap.type_of(&s)), (Ok(Some(Kind::STRUCT)), Ok(Some(record))));
    assert_eq!((heap.kind_of(&a), heap.type_of(&a)), (Ok(Some(Kind::ARRAY)), Ok(Some(ints))));
    assert_eq!((heap.kind_of(&e), heap.type_of(&e)), (Ok(Some(Kind::EXTERN)), Ok(None)));
    assert_eq!(heap.matches(Some(&e), RefType::non_null(HeapType::Extern)), Ok(true));
    assert_eq!(heap.matches(Some(&s), RefType::non_null(HeapType::Any)), Ok(true));
    assert_eq!(heap.matches(None, RefType::nullable(HeapType::Struct)), Ok(true));
    assert_eq!(heap.matches(None, RefType::non_null(HeapType::Struct)), Ok(false));
    for r in [s, a, e] {
        heap.drop_ref(r).unwrap();
    }
    assert_empty(&heap);
}

#[test]
fn a_host_root_given_to_a_collection_does_not_keep_an_object_only_the_table_held() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let word = s.as_raw_u32();
    heap.expose_gc_ref_to_wasm(s).unwrap();
    // Host roots own counts of their own; only Wasm-stack roots are traced.
    heap.collect_all([Root::host(word)]).unwrap();
    assert_eq!(heap.stats().unwrap().live_objects, 0);
    assert_empty(&heap);
}

#[test]
fn shared_heap_debug_shows_the_heaps_counters_only_while_it_is_not_locked() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let s = heap.struct_new(record, &[ValueRef::I32(1), ValueRef::I64(2), ValueRef::Ref(None)]).unwrap();
    let shared = drc_heap::SharedHeap::new(heap);
    assert!(format!("{shared:?}").contains("live_objects: 1"), "{shared:?}");
    let guard = shared.lock();
    assert!(!format!("{shared:?}").contains("live_objects"), "{shared:?}");
    drop(guard);
    let mut heap = shared.into_inner();
    heap.drop_ref(s).unwrap();
    assert_empty(&heap);
}

#[test]
fn struct_new_owned_with_a_stale_reference_hands_the_values_back_with_invalid_reference() {
    let (mut heap, record, _, _) = heap_with_types(1 << 14);
    let gone = heap.struct_new_default(record).unwrap();
    let word = gone.as_raw_u32();
    heap.drop_ref(gone).unwrap();
    let stale = GcRef::from_raw_u32(word);
    match heap.struct_new_owned(record, [Value::I32(1), Value::I64(2), Value::Ref(stale)]) {
        Err((Error::InvalidReference(w), [_, _, Value::Ref(Some(back))])) if w == word => {
            assert_eq!(back.into_raw(), word);
        }
        other => panic!("{other:?}"),
    }
    assert_empty(&heap);
}

#[test]
fn allocation_too_large_reports_the_bytes_requested_not_the_rounded_block() {
    // `Error::AllocationTooLarge::requested` is "bytes requested": for a struct, its layout's
    // size, also where the constructor allocates the type's precomputed (rounded) block.
    let mut heap: Heap<()> = Heap::new(region(MIN_REGION_LEN)).expect("heap");
    let fields = [StorageType::V128, StorageType::V128, StorageType::V128, StorageType::I8];
    let ty = heap.register_struct(StructType::new(&fields)).expect("type");
    let size = heap.types().struct_layout(ty).expect("layout").1.size as usize;
    assert_ne!(size % 16, 0, "the layout's size must not be a whole block for this test to tell them apart");
    let values = [Value::V128(1), Value::V128(2), Value::V128(3), Value::I8(4)];
    let Err((owned, _)) = heap.struct_new_owned(ty, values) else { panic!("a struct larger than the region") };
    let default = heap.struct_new_default(ty).expect_err("a struct larger than the region");
    for error in [owned, default] {
        assert!(matches!(error, Error::AllocationTooLarge { requested, .. } if requested == size), "{error:?}");
    }
    assert_eq!(heap.stats().expect("stats").objects_allocated, 0);
}
