//! Portable tests of the heap as a sandbox against a wrong program or a corrupted region, from
//! issue 11: frees check the block size they free, `reset` restores a heap exactly, only the
//! start of a live object is accepted as a reference, and misuse is named as such.
//!
//! Corruption is written through [`Heap::region_base`], as JIT code or an attacker inside the
//! sandbox could. Every test ends by showing that the heap works exactly again.

use super::{PortableTest, TestResult};
use crate::header::{Kind, SIZE_OFFSET};
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use crate::zeal::Zeal;
use crate::{Error, GcRef, Heap, HeapConfig, Progress, Root, TypeIndex, Value, ValueRef, MAX_REGION_LEN};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The soundness table.
pub(super) static SOUNDNESS: &[PortableTest] = &[
    portable!(freeing_with_a_corrupted_block_size_frees_nothing_and_reset_restores_the_heap),
    portable!(a_struct_with_a_corrupted_block_size_is_refused_before_its_fields_are_released),
    portable!(a_child_that_died_before_a_corrupted_field_is_freed_by_the_next_release),
    portable!(words_pointing_at_a_fake_header_inside_an_object_are_invalid_references),
    portable!(handles_used_after_their_last_count_was_dropped_are_invalid_references),
    portable!(errors_name_a_wrong_field_count_and_region_size_or_null_before_alignment),
    portable!(garbage_roots_are_skipped_and_counted_and_the_collection_still_frees),
    portable!(handles_of_one_heap_are_refused_by_another_but_raw_words_are_not),
    portable!(a_cycle_collection_names_a_bad_kind_before_bad_flags_in_a_root_and_in_a_child),
];

/// Writes `value` at byte `offset` of the region, as JIT code or an attacker could.
fn poke_u32<H>(heap: &mut Heap<H>, offset: u32, value: u32) -> TestResult {
    ensure!(offset.checked_add(4).is_some_and(|end| end <= heap.region_len()), "poke out of the region");
    // SAFETY: the four bytes at `offset` are inside the region (checked above), which the heap
    // owns; no reference into it is live while we hold `&mut heap`, and the write is unaligned-
    // safe. The heap treats the region's bytes as untrusted, so any value is allowed.
    unsafe { heap.region_base().add(offset as usize).cast::<u32>().write_unaligned(value) };
    Ok(())
}

fn words<const N: usize>(refs: [&GcRef; N]) -> impl Iterator<Item = u32> {
    refs.map(GcRef::as_raw_u32).into_iter()
}

/// A strict sequence that must succeed exactly on a heap that is as new: objects at the first
/// offsets, exact counts, host data dropped once, and one free block at the end.
fn strict_sequence(heap: &mut Heap<u32>, node: TypeIndex, ints: TypeIndex) -> TestResult {
    let e = ok!(heap.alloc_externref(9).map_err(|(error, _)| error));
    ensure!(e.as_raw_u32() == 16, "the first object of a heap as new is at 16, found {e:?}");
    let array = ok!(heap.array_new(ints, 100, ValueRef::I32(7)));
    let a = ok!(heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(Some(&e))]));
    let b = ok!(heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(Some(&a))]));
    ensure!(ok!(heap.ref_count(&a)) == 2 && ok!(heap.ref_count(&e)) == 2);
    ensure!(matches!(ok!(heap.array_get(&array, 99)), Value::I32(7)));
    ok!(heap.verify(words([&e, &array, &a, &b])));
    for r in [e, a, array, b] {
        ok!(heap.drop_ref(r));
    }
    ok!(heap.verify(core::iter::empty()));
    let stats = ok!(heap.stats());
    ensure!(stats.live_objects == 0 && stats.free_blocks == 1 && heap.host_data_count() == 0, "{stats:?}");
    Ok(())
}

fn node_types(heap: &mut Heap<u32>) -> Result<(TypeIndex, TypeIndex), String> {
    let node =
        ok!(heap
            .register_struct(StructType::new(
                &[StorageType::I32, StorageType::Ref(RefType::nullable(HeapType::Any)),]
            )));
    let ints = ok!(heap.register_array(ArrayType::new(StorageType::I32)));
    Ok((node, ints))
}

/// Issue 11 hole 1: the size word of a dead externref was trusted, so a free released memory
/// that a live array owned, and `reset` left bitmap bits set above the final `top`.
fn freeing_with_a_corrupted_block_size_frees_nothing_and_reset_restores_the_heap(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let a = ok!(heap.alloc_externref(1).map_err(|(error, _)| error));
    let b = ok!(heap.alloc_externref(2).map_err(|(error, _)| error));
    let big = ok!(heap.array_new(ints, 4000, ValueRef::I32(0)));
    ensure!((a.as_raw_u32(), b.as_raw_u32(), big.as_raw_u32()) == (0x10, 0x30, 0x50));
    poke_u32(&mut heap, b.as_raw_u32() + SIZE_OFFSET, 0x2000)?;
    expect_err!(heap.drop_ref(b), Error::Corrupted { offset: 0x30, .. });
    // Nothing was freed: the array still owns its block and reads back.
    ok!(heap.array_set(&big, 3999, ValueRef::I32(5)));
    ensure!(matches!(ok!(heap.array_get(&big, 3999)), Value::I32(5)));
    ensure!(ok!(heap.stats()).live_objects == 3);
    ok!(heap.drop_ref(big));
    ok!(heap.drop_ref(a));
    heap.reset();
    ok!(heap.verify(core::iter::empty()));
    strict_sequence(&mut heap, node, ints)?;
    // The same with the heap's automatic reset (its last object freed) after the corruption:
    // a second corrupted externref whose count is then made right again by hand.
    let c = ok!(heap.alloc_externref(3).map_err(|(error, _)| error));
    let big = ok!(heap.array_new(ints, 4000, ValueRef::I32(0)));
    poke_u32(&mut heap, c.as_raw_u32() + SIZE_OFFSET, 0x4000)?;
    let stale = GcRef::from_raw_u32(c.as_raw_u32()).ok_or("null word")?;
    expect_err!(heap.drop_ref(c), Error::Corrupted { .. });
    poke_u32(&mut heap, stale.as_raw_u32() + SIZE_OFFSET, 32)?;
    poke_u32(&mut heap, stale.as_raw_u32() + crate::header::REF_COUNT_OFFSET, 1)?;
    ok!(heap.drop_ref(big));
    ok!(heap.drop_ref(stale));
    ok!(heap.verify(core::iter::empty()));
    strict_sequence(&mut heap, node, ints)
}

/// The size of a dead struct is checked before its fields are released: with a block size
/// that disagrees with its type, nothing it references loses a count.
fn a_struct_with_a_corrupted_block_size_is_refused_before_its_fields_are_released(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let child = ok!(heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]));
    let parent = ok!(heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(Some(&child))]));
    let word = parent.as_raw_u32();
    poke_u32(&mut heap, word + SIZE_OFFSET, 0x400)?;
    expect_err!(heap.drop_ref(parent), Error::Corrupted { offset, .. } if offset == word);
    ensure!(ok!(heap.ref_count(&child)) == 2, "the child lost the count its parent holds");
    ok!(heap.drop_ref(child));
    heap.reset();
    strict_sequence(&mut heap, node, ints)
}

/// The children of a dead struct that die go on the release worklist as they are found: when
/// a later field of the struct is a corrupted word, the release stops with its error but a
/// child that died before it still waits there, and the next release frees it.
fn a_child_that_died_before_a_corrupted_field_is_freed_by_the_next_release(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let any = StorageType::Ref(RefType::nullable(HeapType::Any));
    let pair = ok!(heap.register_struct(StructType::new(&[any, any])));
    let child = ok!(heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]));
    let parent = ok!(heap.struct_new(pair, &[ValueRef::Ref(Some(&child)), ValueRef::Ref(None)]));
    ok!(heap.drop_ref(child));
    // The second reference field holds a word that is no reference.
    poke_u32(&mut heap, parent.as_raw_u32() + 20, 0x8)?;
    expect_err!(heap.drop_ref(parent), Error::InvalidReference(0x8));
    ensure!(ok!(heap.stats()).live_objects == 2);
    let other = ok!(heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(None)]));
    ok!(heap.drop_ref(other));
    // `other` and the child are freed; the parent (count zero) stays until a reset.
    ensure!(ok!(heap.stats()).live_objects == 1, "the child that died is still allocated");
    heap.reset();
    strict_sequence(&mut heap, node, ints)
}

/// Issue 11 hole 3: typed stores can write a well-formed fake header into an object's body (a
/// `v128` field); a word pointing there was accepted as an object by `retain_raw`, `drop_ref`,
/// accessors and stores. Only a word at the start of a live object is a reference.
fn words_pointing_at_a_fake_header_inside_an_object_are_invalid_references(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let carrier = ok!(heap.register_struct(StructType::new(&[StorageType::V128, StorageType::V128])));
    let object = ok!(heap.struct_new_default(carrier));
    // A fake struct header of type `node`: kind, flags 0, type index, a 32-byte block, count 1,
    // and then a zero body: as valid a header as the heap writes itself.
    let fake_header = Kind::STRUCT.to_byte() as u128 | (node.0 as u128) << 32 | 32u128 << 64 | 1u128 << 96;
    ok!(heap.struct_set(&object, 0, ValueRef::V128(fake_header)));
    ensure!(ok!(heap.types().struct_layout(carrier)).1.field_offsets[0] == 16);
    let inner = object.as_raw_u32() + 16;
    let forged = GcRef::from_raw_u32(inner).ok_or("null word")?;
    expect_err!(heap.retain_raw(inner), Error::InvalidReference(word) if word == inner);
    expect_err!(heap.struct_get(&forged, 0), Error::InvalidReference(word) if word == inner);
    expect_err!(heap.ref_count(&forged), Error::InvalidReference(word) if word == inner);
    let holder = ok!(heap.struct_new(node, &[ValueRef::I32(0), ValueRef::Ref(None)]));
    expect_err!(heap.struct_set(&holder, 1, ValueRef::Ref(Some(&forged))), Error::InvalidReference(_));
    expect_err!(heap.struct_new(node, &[ValueRef::I32(0), ValueRef::Ref(Some(&forged))]), Error::InvalidReference(_));
    expect_err!(heap.expose_gc_ref_to_wasm(forged), Error::InvalidReference(_));
    let forged = GcRef::from_raw_u32(inner).ok_or("null word")?;
    expect_err!(heap.drop_ref(forged), Error::InvalidReference(word) if word == inner);
    // Unaligned and out-of-range words too.
    for word in [object.as_raw_u32() + 4, object.as_raw_u32() + 8, heap.region_len() - 16] {
        expect_err!(heap.retain_raw(word), Error::InvalidReference(w) if w == word);
    }
    ensure!(ok!(heap.ref_count(&object)) == 1, "the carrier's own count changed");
    ok!(heap.verify(words([&object, &holder])));
    ok!(heap.drop_ref(object));
    ok!(heap.drop_ref(holder));
    ok!(heap.verify(core::iter::empty()));
    strict_sequence(&mut heap, node, ints)
}

/// Issue 11 item 5: a handle used after its object's last count was dropped gave `Corrupted`
/// ("invalid object kind") or `InvalidReference` depending on where the block lay. It is the
/// host's misuse, reported as `InvalidReference` wherever the block now lies: in a free list,
/// merged into a larger free block, or back in the wilderness.
fn handles_used_after_their_last_count_was_dropped_are_invalid_references(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let first = ok!(heap.struct_new_default(node));
    let listed = ok!(heap.struct_new_default(node));
    let merged_a = ok!(heap.array_new(ints, 10, ValueRef::I32(1)));
    let merged_b = ok!(heap.array_new(ints, 10, ValueRef::I32(2)));
    let keep = ok!(heap.alloc_externref(1).map_err(|(error, _)| error));
    let last = ok!(heap.struct_new_default(node));
    let stale_words: Vec<u32> = [&listed, &merged_a, &merged_b, &last].iter().map(|r| r.as_raw_u32()).collect();
    for r in [listed, merged_a, merged_b, last] {
        ok!(heap.drop_ref(r));
    }
    for word in stale_words {
        let stale = GcRef::from_raw_u32(word).ok_or("null word")?;
        expect_err!(heap.struct_get(&stale, 0), Error::InvalidReference(w) if w == word);
        expect_err!(heap.array_len(&stale), Error::InvalidReference(w) if w == word);
        expect_err!(heap.clone_ref(&stale), Error::InvalidReference(w) if w == word);
        expect_err!(heap.kind_of(&stale), Error::InvalidReference(w) if w == word);
        expect_err!(heap.struct_set(&first, 1, ValueRef::Ref(Some(&stale))), Error::InvalidReference(w) if w == word);
        expect_err!(heap.drop_ref(stale), Error::InvalidReference(w) if w == word);
    }
    ok!(heap.verify(words([&first, &keep])));
    ok!(heap.drop_ref(first));
    ok!(heap.drop_ref(keep));
    ok!(heap.verify(core::iter::empty()));
    strict_sequence(&mut heap, node, ints)
}

/// Issue 11 item 7: a wrong number of field values said `FieldOutOfBounds`; `extend(usize::MAX)`
/// said `RegionMisaligned` (alignment was checked before size) and a null base
/// `RegionMisaligned { value: 0 }`.
fn errors_name_a_wrong_field_count_and_region_size_or_null_before_alignment(region: &'static mut [u8]) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    expect_err!(heap.struct_new(node, &[ValueRef::I32(1)]), Error::FieldCountMismatch { expected: 2, found: 1 });
    let three = [ValueRef::I32(1), ValueRef::Ref(None), ValueRef::I32(3)];
    expect_err!(heap.struct_new(node, &three), Error::FieldCountMismatch { expected: 2, found: 3 });
    let (error, _) = match heap.struct_new_owned(node, [Value::I32(1)]) {
        Err(failure) => failure,
        Ok(_) => return Err(String::from("struct_new_owned with one value of two succeeded")),
    };
    ensure!(error == Error::FieldCountMismatch { expected: 2, found: 1 }, "{error:?}");
    // SAFETY: each extension is refused before the bytes after the region are assumed to exist
    // (the size is checked first, then the alignment), so no memory is claimed.
    unsafe {
        expect_err!(heap.extend(usize::MAX), Error::RegionTooLarge { len: _, max: MAX_REGION_LEN });
        expect_err!(heap.extend(MAX_REGION_LEN + 1), Error::RegionTooLarge { .. });
        expect_err!(heap.extend(8), Error::RegionMisaligned { value: 8, align: 16 });
    }
    // SAFETY: a null base is refused before it is used.
    let null = unsafe { Heap::<u32>::from_raw_parts(core::ptr::null_mut(), 4096, HeapConfig::default()) };
    ensure!(null.as_ref().err() == Some(&Error::NullRegion), "a null base gave {:?}", null.as_ref().err());
    // SAFETY: as above, with a length that is also misaligned: the null base is named first.
    let null = unsafe { Heap::<u32>::from_raw_parts(core::ptr::null_mut(), 4100, HeapConfig::default()) };
    ensure!(null.as_ref().err() == Some(&Error::NullRegion));
    strict_sequence(&mut heap, node, ints)
}

/// Issue 11 item 8: one bad word among the roots (from a wrong stack map) failed the whole
/// collection with `InvalidReference`, so the heap could not get memory back. Now it is skipped
/// and counted, the rest of the collection frees what it must, and zeal makes it an error.
fn garbage_roots_are_skipped_and_counted_and_the_collection_still_frees(region: &'static mut [u8]) -> TestResult {
    let half = region.len() / 2 / 16 * 16;
    let (first, second) = region.split_at_mut(half);
    let mut heap: Heap<u32> = ok!(Heap::new(first));
    let (node, ints) = node_types(&mut heap)?;
    let kept = ok!(heap.struct_new_default(node));
    let dropped = ok!(heap.array_new(ints, 8, ValueRef::I32(1)));
    let freed = ok!(heap.struct_new_default(node));
    let (kept_word, dropped_word, freed_word) = (kept.as_raw_u32(), dropped.as_raw_u32(), freed.as_raw_u32());
    ok!(heap.drop_ref(freed));
    ok!(heap.expose_gc_ref_to_wasm(kept));
    ok!(heap.expose_gc_ref_to_wasm(dropped));
    // Garbage: a stale word, a word inside an object, an unaligned one, one past the heap.
    let garbage = [freed_word, dropped_word + 16, kept_word + 4, heap.region_len() - 16];
    let roots: Vec<Root> = garbage.iter().chain([&kept_word]).map(|&word| Root::wasm_stack(word)).collect();
    let mut collection = ok!(heap.collect(roots.iter().copied()));
    while ok!(collection.step()) == Progress::Continue {}
    ensure!(collection.invalid_roots_skipped() == 4, "skipped {}", collection.invalid_roots_skipped());
    let stats = ok!(heap.stats());
    ensure!(stats.invalid_roots_skipped == 4 && stats.collections == 1, "{stats:?}");
    ensure!(stats.live_objects == 1, "the array off the stack was not freed: {stats:?}");
    let kept = ok!(heap.retain_raw(kept_word)).ok_or("null")?;
    ensure!(ok!(heap.ref_count(&kept)) == 2, "the precise set and the handle");
    ok!(heap.verify(words([&kept])));
    ok!(heap.drop_ref(kept));
    ok!(heap.collect_all(garbage.iter().map(|&word| Root::wasm_stack(word))));
    ensure!(ok!(heap.stats()).invalid_roots_skipped == 8);
    ok!(heap.verify(core::iter::empty()));
    strict_sequence(&mut heap, node, ints)?;

    // With zeal, the same garbage fails the collection, and the failed collection keeps every
    // count owned: the next one, with good roots, frees what it must.
    let config = HeapConfig::default().with_zeal(Zeal::none().with_invalid_roots_are_errors(true));
    let mut heap: Heap<u32> = ok!(Heap::with_config(second, config));
    let (node, ints) = node_types(&mut heap)?;
    let kept = ok!(heap.struct_new_default(node));
    let kept_word = kept.as_raw_u32();
    ok!(heap.expose_gc_ref_to_wasm(kept));
    let bad = kept_word + 16;
    expect_err!(
        heap.collect_all([Root::wasm_stack(bad), Root::wasm_stack(kept_word)]),
        Error::InvalidReference(word) if word == bad
    );
    ok!(heap.verify(core::iter::empty()));
    ok!(heap.collect_all([Root::wasm_stack(kept_word)]));
    ensure!(ok!(heap.stats()).live_objects == 1 && ok!(heap.stats()).invalid_roots_skipped == 0);
    ok!(heap.collect_all([]));
    ensure!(ok!(heap.stats()).live_objects == 0);
    strict_sequence(&mut heap, node, ints)
}

/// Issue 11 item 4: a `GcRef` of heap A used on heap B read or freed B's object at the same
/// offset. Handles carry their heap's identity and every operation checks it; raw words
/// (`from_raw_u32`, the Wasm-facing path) carry none and are validated as words.
fn handles_of_one_heap_are_refused_by_another_but_raw_words_are_not(region: &'static mut [u8]) -> TestResult {
    let half = region.len() / 2 / 16 * 16;
    let (first, second) = region.split_at_mut(half);
    let mut a: Heap<u32> = ok!(Heap::new(first));
    let mut b: Heap<u32> = ok!(Heap::new(second));
    ensure!(a.id() != b.id());
    let (node_a, ints_a) = node_types(&mut a)?;
    let (node_b, ints_b) = node_types(&mut b)?;
    // The same layout on both heaps, so the words are the same.
    let a_node = ok!(a.struct_new(node_a, &[ValueRef::I32(1), ValueRef::Ref(None)]));
    let b_node = ok!(b.struct_new(node_b, &[ValueRef::I32(2), ValueRef::Ref(None)]));
    let a_ints = ok!(a.array_new(ints_a, 4, ValueRef::I32(3)));
    let b_ints = ok!(b.array_new(ints_b, 4, ValueRef::I32(4)));
    ensure!(a_node.as_raw_u32() == b_node.as_raw_u32() && a_ints.as_raw_u32() == b_ints.as_raw_u32());
    ensure!(a_node.heap() == Some(a.id()) && b_ints.heap() == Some(b.id()));
    let foreign = |error: Error| matches!(error, Error::ForeignReference { raw } if raw == a_node.as_raw_u32());
    ensure!(foreign(b.struct_get(&a_node, 0).err().ok_or("struct_get")?));
    ensure!(foreign(b.struct_set(&a_node, 0, ValueRef::I32(9)).err().ok_or("struct_set")?));
    ensure!(foreign(b.clone_ref(&a_node).err().ok_or("clone_ref")?));
    ensure!(foreign(b.ref_count(&a_node).err().ok_or("ref_count")?));
    ensure!(foreign(b.kind_of(&a_node).err().ok_or("kind_of")?));
    ensure!(foreign(b.matches(Some(&a_node), RefType::nullable(HeapType::Any)).err().ok_or("matches")?));
    ensure!(foreign(b.struct_view(&a_node).err().ok_or("struct_view")?));
    ensure!(foreign(b.struct_set(&b_node, 1, ValueRef::Ref(Some(&a_node))).err().ok_or("stored")?));
    ensure!(foreign(b.struct_new(node_b, &[ValueRef::I32(0), ValueRef::Ref(Some(&a_node))]).err().ok_or("new")?));
    expect_err!(b.array_len(&a_ints), Error::ForeignReference { .. });
    expect_err!(b.array_copy(&b_ints, 0, &a_ints, 0, 1), Error::ForeignReference { .. });
    let mut slot = None;
    expect_err!(b.write_gc_ref(&mut slot, Some(&a_node)), Error::ForeignReference { .. });
    // Owned values moved in are handed back (their counts stay with heap A).
    let moved = ok!(a.clone_ref(&a_node));
    match b.struct_new_owned(node_b, [Value::I32(0), Value::Ref(Some(moved))]) {
        Err((Error::ForeignReference { .. }, [_, Value::Ref(Some(back))])) => ok!(a.drop_ref(back)),
        other => return Err(format!("struct_new_owned of a foreign value gave {other:?}")),
    }
    // Borrowed references carry their heap too.
    let borrowed_word = {
        let outer = ok!(a.struct_new(node_a, &[ValueRef::I32(0), ValueRef::Ref(Some(&a_node))]));
        let word = {
            let borrowed = ok!(a.struct_get_borrowed(&outer, 1)).ok_or("null field")?;
            ensure!(borrowed.heap() == Some(a.id()));
            expect_err!(b.ref_count(&borrowed), Error::ForeignReference { .. });
            borrowed.as_raw_u32()
        };
        ok!(a.drop_ref(outer));
        word
    };
    ensure!(borrowed_word == a_node.as_raw_u32());
    // A foreign handle dropped on the wrong heap is refused; its count stays with heap A (here
    // given back through the raw-word path).
    let a_copy = ok!(a.clone_ref(&a_node));
    expect_err!(b.drop_ref(a_copy), Error::ForeignReference { .. });
    ok!(a.drop_ref(GcRef::from_raw_u32(a_node.as_raw_u32()).ok_or("null")?));
    // Raw words are the Wasm-facing path: unbound, accepted by whichever heap they are given to
    // when an object starts there; i31s belong to no heap.
    let raw = GcRef::from_raw_u32(a_node.as_raw_u32()).ok_or("null")?;
    ensure!(matches!(ok!(b.struct_get(&raw, 0)), Value::I32(2)), "the raw word names B's object on B");
    let i31 = GcRef::from_i31(5);
    ok!(b.struct_set(&b_node, 1, ValueRef::Ref(Some(&i31))));
    let retained = ok!(b.retain_raw(a_node.as_raw_u32())).ok_or("null")?;
    ensure!(retained.heap() == Some(b.id()), "retain_raw binds the handle to its heap");
    ok!(b.drop_ref(retained));
    // Nothing on either heap changed.
    ensure!(ok!(a.ref_count(&a_node)) == 1 && ok!(b.ref_count(&b_node)) == 1);
    ok!(a.verify(words([&a_node, &a_ints])));
    ok!(b.verify(words([&b_node, &b_ints])));
    for r in [a_node, a_ints] {
        ok!(a.drop_ref(r));
    }
    for r in [b_node, b_ints] {
        ok!(b.drop_ref(r));
    }
    strict_sequence(&mut a, node_a, ints_a)?;
    strict_sequence(&mut b, node_b, ints_b)
}

#[allow(unused_imports)]
use {format as _, String as _};

/// The cycle collector tests a header's kind and flags at once (mark roots and mark gray's
/// struct loop): a bad kind byte is still named before bad flags, and bad flags alone as such,
/// both in a root and in a child reached from one; after `reset` the heap works exactly.
fn a_cycle_collection_names_a_bad_kind_before_bad_flags_in_a_root_and_in_a_child(
    region: &'static mut [u8],
) -> TestResult {
    let mut heap: Heap<u32> = ok!(Heap::new(region));
    let (node, ints) = node_types(&mut heap)?;
    let kind = u32::from(Kind::STRUCT.to_byte());
    // (word of the first 4 header bytes: kind, flags, reserved; the error it must give)
    let cases = [(0xff | 0xff << 8, "invalid object kind"), (kind | 0xf8 << 8, "unknown header flag bits")];
    for (child, (bytes, what)) in [false, true].into_iter().flat_map(|c| cases.iter().map(move |case| (c, *case))) {
        let first = ok!(heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)]));
        let second = ok!(heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(Some(&first))]));
        ok!(heap.struct_set(&first, 1, ValueRef::Ref(Some(&second))));
        let (low, high) = (first.as_raw_u32(), second.as_raw_u32());
        ok!(heap.drop_ref(first));
        ok!(heap.drop_ref(second));
        // The lower root is taken first; the other object is its child.
        let target = if child { high } else { low };
        poke_u32(&mut heap, target, bytes)?;
        expect_err!(heap.collect_cycles(), Error::Corrupted { offset, what: w } if offset == target && w == what);
        heap.reset();
    }
    strict_sequence(&mut heap, node, ints)
}
