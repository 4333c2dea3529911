//! Unit tests of the free list: the size classes partition the sizes, allocation order, merging
//! at once and through footers, the designated victim, exact resets, the highest `top` kept for the statistics, refused frees, corruption reported as errors (never panics), and
//! `BlockAllocator` (compiled for the tests whether or not its feature is on). They read the
//! private state (bitmaps, counters) to check invariants that the API alone cannot show, and
//! run every check of `checks.rs` along the way.

use super::size_classes::{large_bin, large_bin_max, large_bin_min, LARGE_BINS};
use super::*;
use alloc::vec::Vec;

fn region(len: usize) -> Region {
    Region::from_slice(crate::region::test_region(len)).unwrap()
}

/// Marks a block as an object for the walk (kind byte 0x16, size word), as the heap does.
fn mark_used(region: &mut Region, index: u32, size: u32) {
    region.write_u8(index, 0x16).unwrap();
    region.write_u32(index + SIZE_OFFSET, size).unwrap();
}

fn check(list: &FreeList, region: &Region) {
    let (mut free, mut allocated) = (0, 0);
    list.walk(region, |b| {
        list.check_start_bit(b)?;
        free += b.free as u64;
        allocated += !b.free as u64;
        Ok(())
    })
    .unwrap();
    list.check_lists(region, free, allocated).unwrap();
}

#[test]
fn large_bins_partition_the_sizes() {
    let sizes = (SMALL_MAX + 16..1 << 20).step_by(16 * 37).chain([SMALL_MAX + 16, 1 << 20, MAX_BLOCK]);
    for size in sizes {
        let bin = large_bin(size);
        assert!(bin < LARGE_BINS, "size {size} bin {bin}");
        assert!(large_bin_min(bin) <= size as u64 && size as u64 <= large_bin_max(bin), "size {size} bin {bin}");
        // Every block of the next bin fits a request of `size`.
        assert!(bin + 1 == LARGE_BINS || large_bin_min(bin + 1) > size as u64);
    }
    assert_eq!(large_bin(SMALL_MAX + 16), 0);
    assert_eq!(large_bin(MAX_BLOCK), LARGE_BINS - 1);
    for bin in 0..LARGE_BINS - 1 {
        assert_eq!(large_bin_max(bin) + 1, large_bin_min(bin + 1));
    }
}

/// Allocates blocks of `sizes` in a row and marks them used.
fn alloc_all(list: &mut FreeList, r: &mut Region, sizes: &[u32]) -> Vec<u32> {
    sizes
        .iter()
        .map(|&size| {
            let index = list.alloc(r, size).unwrap().unwrap();
            mark_used(r, index, size);
            index
        })
        .collect()
}

/// The free blocks of the walk, as (index, size).
fn free_blocks_of(list: &FreeList, r: &Region) -> Vec<(u32, u32)> {
    let mut free = Vec::new();
    list.walk(r, |b| {
        if b.free {
            free.push((b.index, b.size));
        }
        Ok(())
    })
    .unwrap();
    free
}

/// Issue 11 hole 1: a free with a size larger than its block (a corrupted header) left a
/// bit inside another block; once `top` dropped below that bit, a reset that cleared only
/// below `top` kept it. Such a free is now refused (its end is not where the next block starts)
/// and a reset clears up to the highest `top` anyway.
#[test]
fn reset_clears_bits_left_above_a_lowered_top() {
    let mut r = region(1 << 16);
    let mut list = FreeList::new();
    let [_, b, c] = alloc_all(&mut list, &mut r, &[32, 32, 8192])[..] else { unreachable!() };
    assert!(list.free(&mut r, b, 4096).unwrap_err().is_corruption(), "the size ends inside `c`");
    // A bit left above a lowered top, as a corrupted free used to leave.
    let (word, shift) = FreeList::bit(b + 4096);
    list.bits[word] |= bitmaps::AFTER_FREE << shift;
    list.free(&mut r, c, 8192).unwrap();
    assert_eq!(list.top(), c, "the last block went back to the wilderness");
    assert!(list.is_listed_end(b + 4096), "the stray bit lies above top");
    list.reset();
    assert!(list.bits.iter().all(|&word| word == 0), "a bit survived the reset");
    let again = alloc_all(&mut list, &mut r, &[32, 4096 + 32, 32]);
    list.free(&mut r, again[1], 4096 + 32).unwrap();
    check(&list, &r);
}

/// A free whose size does not end where the bitmap has the next block start is refused before
/// anything changes: inside the next object, past a listed block's start, or at an object that
/// follows a free block.
#[test]
fn frees_whose_size_disagrees_with_the_bitmap_are_refused() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[32, 64, 32, 48, 16]);
    list.free(&mut r, blocks[2], 32).unwrap();
    for (index, size) in [(blocks[0], 48), (blocks[1], 80), (blocks[0], 32 + 64 + 32), (blocks[1], 64 + 32 + 16)] {
        assert!(list.free(&mut r, index, size).unwrap_err().is_corruption(), "{index} {size}");
        check(&list, &r);
    }
    for (&index, size) in blocks.iter().zip([32, 64, 0, 48, 16]) {
        if size != 0 {
            list.free(&mut r, index, size).unwrap();
        }
    }
    assert_eq!((list.top(), list.free_blocks(&r)), (GRANULE, 1));
}

/// Only the start of an allocated block is freed, once: a free of a point inside a block
/// or of a block freed already is refused, and the start bitmap stays exact.
#[test]
fn frees_of_non_allocated_starts_are_refused() {
    let mut r = region(4096);
    let mut list = FreeList::new();
    let [a, b, _] = alloc_all(&mut list, &mut r, &[64, 64, 16])[..] else { unreachable!() };
    assert!(list.is_allocated(a) && list.is_allocated(b) && !list.is_allocated(a + 16));
    assert_eq!(list.free(&mut r, a + 16, 48), Err(FreeList::bad_free(a + 16)));
    list.free(&mut r, a, 64).unwrap();
    assert!(!list.is_allocated(a));
    assert_eq!(list.free(&mut r, a, 64), Err(FreeList::bad_free(a)));
    check(&list, &r);
    assert_eq!(list.alloc(&mut r, 64).unwrap(), Some(a));
    assert!(list.is_allocated(a));
}

#[test]
fn exact_class_reuse_is_lifo() {
    let mut r = region(4096);
    let mut list = FreeList::new();
    // The guards keep the two blocks from merging with anything.
    let [a, _, b, _] = alloc_all(&mut list, &mut r, &[48, 16, 48, 16])[..] else { unreachable!() };
    list.free(&mut r, a, 48).unwrap();
    list.free(&mut r, b, 48).unwrap();
    check(&list, &r);
    assert_eq!(list.alloc(&mut r, 48).unwrap(), Some(b));
    assert_eq!(list.alloc(&mut r, 48).unwrap(), Some(a));
}

#[test]
fn exhausted_region_splits_larger_blocks_and_reports_none() {
    let mut r = region(16 + 96 * 10);
    let mut list = FreeList::new();
    let mut blocks = Vec::new();
    while let Some(index) = list.alloc(&mut r, 96).unwrap() {
        mark_used(&mut r, index, 96);
        blocks.push(index);
    }
    assert_eq!(blocks.len(), 10);
    list.free(&mut r, blocks[0], 96).unwrap();
    let small = list.alloc(&mut r, 32).unwrap().unwrap();
    assert_eq!(small, blocks[0]);
    mark_used(&mut r, small, 32);
    check(&list, &r);
    assert_eq!(list.alloc(&mut r, 96).unwrap(), None);
}

#[test]
fn freeing_everything_coalesces_to_one_block() {
    let mut r = region(1 << 16);
    let mut list = FreeList::new();
    let sizes = [16u32, 48, 512, 528, 2048, 64, 4096, 16];
    let mut blocks = Vec::new();
    for (i, &size) in sizes.iter().cycle().take(40).enumerate() {
        let index = list.alloc(&mut r, size).unwrap().unwrap();
        mark_used(&mut r, index, size);
        blocks.push((index, size, i));
    }
    for &(index, size, i) in blocks.iter().filter(|b| b.2 % 2 == 0) {
        let _ = i;
        list.free(&mut r, index, size).unwrap();
    }
    list.coalesce(&mut r).unwrap();
    check(&list, &r);
    for &(index, size, _) in blocks.iter().filter(|b| b.2 % 2 == 1) {
        list.free(&mut r, index, size).unwrap();
    }
    list.coalesce(&mut r).unwrap();
    check(&list, &r);
    assert_eq!(list.free_blocks(&r), 1);
    assert_eq!(list.free_bytes(&r), (1 << 16) - 16);
    assert_eq!(list.largest_free_block(&r).unwrap(), (1 << 16) - 16);
}

#[test]
fn corrupted_link_is_an_error_not_a_wild_access() {
    let mut r = region(1024);
    let mut list = FreeList::new();
    let [a, _, b, _] = alloc_all(&mut list, &mut r, &[32, 16, 32, 16])[..] else { unreachable!() };
    list.free(&mut r, a, 32).unwrap();
    list.free(&mut r, b, 32).unwrap();
    r.write_u32(b + NEXT_OFFSET, 0xffff_fff0).unwrap();
    assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(b));
    assert!(list.alloc(&mut r, 32).unwrap_err().is_corruption());
}

/// A corrupted small head is refused with the error that names what is wrong: a link whose
/// header lies beyond the region (inside what the bitmap covers) gives the region's bounds
/// error, one the bitmap does not cover (or whose end wraps) the bad-head error; nothing is
/// handed out either way.
#[test]
fn a_corrupted_small_head_gives_the_region_error_or_the_bad_head_error() {
    for (link, expected) in [
        (2048, Error::corrupted(2048, "read out of region bounds")),
        (0xffff_fff0, FreeList::bad_head(0xffff_fff0)),
        (1 << 30, FreeList::bad_head(1 << 30)),
    ] {
        let mut r = region(1024);
        let mut list = FreeList::new();
        let [a, _, b, _] = alloc_all(&mut list, &mut r, &[32, 16, 32, 16])[..] else { unreachable!() };
        list.free(&mut r, a, 32).unwrap();
        list.free(&mut r, b, 32).unwrap();
        r.write_u32(b + NEXT_OFFSET, link).unwrap();
        assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(b));
        let top = list.top();
        assert_eq!(list.alloc(&mut r, 32).unwrap_err(), expected);
        assert_eq!(list.top(), top);
        assert!(list.is_allocated(b) && !list.is_allocated(a));
    }
}

/// A small head is taken only if the bitmap has a listed block of its class's size there: a
/// link to a larger listed block whose size word was rewritten to the class's size is refused
/// (its end is not where the bitmap has a listed block's end), and nothing is handed out.
#[test]
fn a_small_head_whose_end_the_bitmap_does_not_mark_is_corruption() {
    let mut r = region(1024);
    let mut list = FreeList::new();
    let [a, _, b, _] = alloc_all(&mut list, &mut r, &[32, 16, 48, 16])[..] else { unreachable!() };
    list.free(&mut r, a, 32).unwrap();
    list.free(&mut r, b, 48).unwrap();
    r.write_u32(a + NEXT_OFFSET, b).unwrap();
    r.write_u32(b + SIZE_OFFSET, 32).unwrap();
    assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(a));
    let top = list.top();
    assert!(list.alloc(&mut r, 32).unwrap_err().is_corruption());
    assert!(!list.is_allocated(b));
    assert_eq!(list.top(), top);
}

#[test]
fn frees_merge_with_both_neighbours_at_once() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[128, 2048, 96, 16]);
    list.free(&mut r, blocks[0], 128).unwrap();
    list.free(&mut r, blocks[2], 96).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 128), (blocks[2], 96)]);
    check(&list, &r);
    // The middle block joins both: one free block, one list entry.
    list.free(&mut r, blocks[1], 2048).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 128 + 2048 + 96)]);
    assert_eq!(list.listed_blocks, 1);
    check(&list, &r);
    // The headers left inside the merged block are plain (links zero), as zeal expects.
    for inner in [blocks[1], blocks[2]] {
        let granule: [u8; 16] = r.read(inner).unwrap();
        assert_eq!(granule[0..4], [0; 4]);
        assert_eq!(granule[12..16], [0; 4]);
    }
    // A large request takes it whole.
    assert_eq!(list.alloc(&mut r, 128 + 2048 + 96).unwrap(), Some(blocks[0]));
}

#[test]
fn adjacent_blocks_freed_as_one_leave_what_freeing_them_one_by_one_leaves() {
    let sizes = [32, 48, 32, 64, 32, 16];
    let (mut r1, mut r2) = (region(1 << 14), region(1 << 14));
    let (mut one_by_one, mut as_one) = (FreeList::new(), FreeList::new());
    let first = alloc_all(&mut one_by_one, &mut r1, &sizes);
    let second = alloc_all(&mut as_one, &mut r2, &sizes);
    assert_eq!(first, second);
    // Free blocks 0 and 5 around the run first, so that the run merges on both sides.
    for list_and_region in [(&mut one_by_one, &mut r1), (&mut as_one, &mut r2)] {
        let (list, r) = list_and_region;
        list.free(r, first[0], sizes[0]).unwrap();
        list.free(r, first[5], sizes[5]).unwrap();
    }
    for k in 1..5 {
        one_by_one.free(&mut r1, first[k], sizes[k]).unwrap();
    }
    let run: u32 = sizes[1..5].iter().sum();
    as_one.free_adjacent(&mut r2, first[1], run, first[2..5].iter().copied()).unwrap();
    assert_eq!(free_blocks_of(&as_one, &r2), free_blocks_of(&one_by_one, &r1));
    assert_eq!((as_one.listed_blocks, as_one.listed_bytes), (one_by_one.listed_blocks, one_by_one.listed_bytes));
    assert_eq!(as_one.top, one_by_one.top);
    check(&as_one, &r2);
    for &interior in &first[2..5] {
        assert!(!as_one.is_allocated(interior));
    }
}

#[test]
fn a_run_whose_interior_starts_are_not_objects_changes_nothing() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[32, 32, 32, 32]);
    list.free(&mut r, blocks[2], 32).unwrap();
    let before = (free_blocks_of(&list, &r), list.listed_blocks, list.bits.clone());
    // An interior start inside a block, one that is free, one outside the run, and a run
    // whose end is not a block's: all refused, nothing changed.
    let refused: [(u32, u32, &[u32]); 4] = [
        (blocks[0], 64, &[blocks[0] + 16]),
        (blocks[1], 64, &[blocks[2]]),
        (blocks[0], 64, &[blocks[3]]),
        (blocks[0], 48, &[blocks[1]]),
    ];
    for (index, size, interior) in refused {
        let result = list.free_adjacent(&mut r, index, size, interior.iter().copied());
        assert!(matches!(result, Err(Error::Corrupted { .. })), "{index} {size} {interior:?}: {result:?}");
        assert_eq!((free_blocks_of(&list, &r), list.listed_blocks, list.bits.clone()), before);
    }
    check(&list, &r);
}

#[test]
fn a_free_block_that_reaches_top_goes_back_to_the_wilderness() {
    let mut r = region(1 << 12);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[32, 128, 96]);
    list.free(&mut r, blocks[1], 128).unwrap();
    assert_eq!(list.top(), blocks[2] + 96);
    list.free(&mut r, blocks[2], 96).unwrap();
    // The freed block merged with its free neighbour and both went back.
    assert_eq!(list.top(), blocks[1]);
    assert_eq!(list.free_blocks(&r), 1);
    check(&list, &r);
    list.free(&mut r, blocks[0], 32).unwrap();
    assert_eq!((list.top(), list.free_bytes(&r)), (16, 4096 - 16));
}

/// Binary-trees' pattern: blocks freed in reverse allocation order go straight back to the
/// wilderness (the fast path of `free`, no list touched), each leaving a plain header; an
/// allocation with nothing listed bumps at once, at the same offsets again. A free of the last
/// block with a size that does not end at `top` is still refused.
#[test]
fn blocks_freed_in_reverse_order_go_back_to_the_wilderness_without_listing() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let sizes = [32, 32, 32, 48, 32, 16];
    let blocks = alloc_all(&mut list, &mut r, &sizes);
    let last = blocks[5];
    assert!(list.free(&mut r, last, 32).unwrap_err().is_corruption(), "ends past top");
    assert!(list.free(&mut r, blocks[4], 16).unwrap_err().is_corruption(), "ends inside the block");
    check(&list, &r);
    for (&index, &size) in blocks.iter().zip(&sizes).rev() {
        list.free(&mut r, index, size).unwrap();
        assert_eq!((list.top(), list.listed_blocks, list.small_bitmap), (index, 0, 0));
        assert!(!list.is_allocated(index) && list.code(index) == bitmaps::NONE);
        assert_eq!(r.read::<16>(index).unwrap(), free_header(size, 0, 0), "a plain header");
        check(&list, &r);
    }
    assert_eq!(list.top(), GRANULE);
    assert_eq!(alloc_all(&mut list, &mut r, &sizes), blocks, "bumped at the same offsets");
    check(&list, &r);
}

#[test]
fn a_large_free_block_is_found_through_its_footer() {
    let mut r = region(1 << 15);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[4096, 32, 16]);
    list.free(&mut r, blocks[0], 4096).unwrap();
    let footer: [u8; 16] = r.read(blocks[0] + 4096 - 16).unwrap();
    assert_eq!(footer, free_header(4096, 0, 0));
    list.free(&mut r, blocks[1], 32).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 4096 + 32)]);
    check(&list, &r);
}

#[test]
fn object_bytes_that_look_like_a_free_block_are_never_merged() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[256, 2048, 32, 16]);
    let (free, object, freed) = (blocks[0], blocks[1], blocks[2]);
    list.free(&mut r, free, 256).unwrap();
    // The object's body imitates a free block that would end where `freed` starts: a free
    // header at `fake` and a footer of the right size in its last granule; a second fake
    // footer points back at the real free block.
    let fake = object + 1024;
    r.write(fake, free_header(freed - fake, 0, 0)).unwrap();
    r.write_u32(freed - 8, freed - fake).unwrap();
    list.free(&mut r, freed, 32).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(free, 256), (freed, 32)]);
    check(&list, &r);
    // Again with the object's last word pointing at the real free block before it.
    assert_eq!(list.alloc(&mut r, 32).unwrap(), Some(freed));
    mark_used(&mut r, freed, 32);
    r.write_u32(freed - 8, freed - free).unwrap();
    r.write_u32(free + SIZE_OFFSET, freed - free).unwrap();
    list.free(&mut r, freed, 32).unwrap();
    r.write_u32(free + SIZE_OFFSET, 256).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(free, 256), (freed, 32)]);
    check(&list, &r);
}

#[test]
fn a_header_that_disagrees_with_the_bitmap_is_corruption() {
    let mut r = region(1 << 12);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[128, 32, 16]);
    list.free(&mut r, blocks[0], 128).unwrap();
    r.write_u32(blocks[0] + SIZE_OFFSET, 112).unwrap();
    assert!(list.free(&mut r, blocks[1], 32).unwrap_err().is_corruption());
    let mut list = FreeList::new();
    let mut r = region(1 << 12);
    let blocks = alloc_all(&mut list, &mut r, &[128, 96, 16]);
    list.free(&mut r, blocks[1], 96).unwrap();
    r.write_u8(blocks[1], 0x16).unwrap();
    assert!(list.free(&mut r, blocks[0], 128).unwrap_err().is_corruption());
}

#[test]
fn small_requests_carve_the_designated_victim() {
    let mut r = region(1 << 14);
    let mut list = FreeList::new();
    let blocks = alloc_all(&mut list, &mut r, &[1024, 16]);
    list.free(&mut r, blocks[0], 1024).unwrap();
    // No 48-byte block: the 1024-byte one is split and the rest is carved in order.
    let a = list.alloc(&mut r, 48).unwrap().unwrap();
    let b = list.alloc(&mut r, 32).unwrap().unwrap();
    assert_eq!((a, b), (blocks[0], blocks[0] + 48));
    mark_used(&mut r, a, 48);
    mark_used(&mut r, b, 32);
    assert_eq!(list.free_blocks(&r), 2);
    assert_eq!(list.largest_free_block(&r).unwrap(), (1 << 14) - list.top());
    check(&list, &r);
    // Freeing next to it grows it, on either side.
    list.free(&mut r, b, 32).unwrap();
    list.free(&mut r, a, 48).unwrap();
    assert_eq!(free_blocks_of(&list, &r), [(blocks[0], 1024)]);
    check(&list, &r);
    assert_eq!(list.alloc(&mut r, 1024).unwrap(), Some(blocks[0]));
}

/// A deterministic random mix of allocations and frees, checked all along, then drained.
#[test]
fn random_churn_keeps_every_invariant_and_drains_to_one_block() {
    let len = 1 << 20;
    let mut r = region(len);
    let mut list = FreeList::new();
    let mut live: Vec<(u32, u32)> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Miri interprets every step: a shorter run there still covers every path.
    let steps = if cfg!(miri) { 2_000 } else { 20_000 };
    for step in 0..steps {
        let roll = next();
        if live.len() < 300 && roll % 3 != 0 || live.is_empty() {
            let size = match roll >> 8 & 15 {
                0..=9 => 16 * (1 + (roll >> 16) % 4),
                10..=14 => 16 * (5 + (roll >> 16) % 28),
                _ => 16 * (33 + (roll >> 16) % 400),
            } as u32;
            if let Some(index) = list.alloc(&mut r, size).unwrap() {
                mark_used(&mut r, index, size);
                live.push((index, size));
            }
        } else {
            let (index, size) = live.swap_remove((roll >> 20) as usize % live.len());
            list.free(&mut r, index, size).unwrap();
        }
        if step % 500 == 0 {
            check(&list, &r);
            // Immediate merging: no two free blocks are neighbours, none touches `top`.
            let free = free_blocks_of(&list, &r);
            assert!(free.windows(2).all(|w| w[0].0 + w[0].1 != w[1].0));
            assert!(free.last().is_none_or(|&(index, size)| index + size != list.top()));
        }
    }
    for (index, size) in live.drain(..) {
        list.free(&mut r, index, size).unwrap();
    }
    check(&list, &r);
    list.coalesce(&mut r).unwrap();
    check(&list, &r);
    assert_eq!((list.top(), list.free_blocks(&r)), (GRANULE, 1));
    assert_eq!(list.free_bytes(&r), len as u64 - 16);
}

/// Random churn while random bytes of the region are overwritten: every operation returns
/// `Ok` or an error, never panics (no overflow, no out-of-bounds index) or loops.
#[test]
fn corrupted_bytes_give_errors_never_panics() {
    let rounds = if cfg!(miri) { 4 } else { 40u64 };
    for round in 0..rounds {
        let len = 1 << 16;
        let mut r = region(len);
        let mut list = FreeList::new();
        let mut live: Vec<(u32, u32)> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ round.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..3000 {
            let roll = next();
            if step % 50 == 25 {
                // Overwrite a header word (kind, link, size or prev) below `top` with a random
                // value, an edge value, or a plausible offset or size.
                let top = list.top().max(2 * GRANULE);
                let at = (((roll >> 8) as u32 % top) & !15) | ((roll >> 4) as u32 % 4 * 4);
                let value = match roll % 6 {
                    0 => u32::MAX,
                    1 => (roll >> 32) as u32 & !15,
                    2 => 0,
                    3 => ((roll >> 32) as u32 % top) & !15,
                    4 => 16 << ((roll >> 32) % 8),
                    _ => (roll >> 32) as u32,
                };
                let _ = r.write_u32(at, value);
            }
            let result = if live.len() < 60 && roll % 3 != 0 || live.is_empty() {
                let size = 16 * (1 + (roll >> 16) as u32 % 80);
                list.alloc(&mut r, size).map(|index| {
                    if let Some(index) = index {
                        let _ = r.write_u8(index, 0x16);
                        let _ = r.write_u32(index + SIZE_OFFSET, size);
                        live.push((index, size));
                    }
                })
            } else {
                let (index, size) = live.swap_remove((roll >> 20) as usize % live.len());
                list.free(&mut r, index, size)
            };
            if result.is_err() {
                break;
            }
        }
        let _ = list.coalesce(&mut r);
        let _ = list.largest_free_block(&r);
        let (mut free, mut allocated) = (0, 0);
        if list
            .walk(&r, |b| {
                free += b.free as u64;
                allocated += !b.free as u64;
                Ok(())
            })
            .is_ok()
        {
            let _ = list.check_lists(&r, free, allocated);
        }
    }
}

fn block_allocator(len: usize) -> BlockAllocator {
    BlockAllocator::new(crate::region::test_region(len)).unwrap()
}

#[test]
fn block_allocator_writes_headers_and_checks_frees() {
    let mut heap = block_allocator(1 << 12);
    let a = heap.alloc(20).unwrap().unwrap();
    let b = heap.alloc(1).unwrap().unwrap();
    assert_eq!((a, b), (16, 48));
    assert_eq!(heap.block(a).unwrap().len(), 32);
    assert_eq!(heap.block(a).unwrap()[0], BLOCK_KIND);
    assert_eq!(heap.block(a).unwrap()[8..12], 32u32.to_ne_bytes());
    heap.block_mut(b).unwrap()[12..16].copy_from_slice(&[1, 2, 3, 4]);
    heap.check().unwrap();
    assert_eq!(heap.free(a, 48), Err(Error::InvalidReference(a)), "wrong size");
    assert_eq!(heap.free(a + 16, 16), Err(Error::InvalidReference(a + 16)), "not a block start");
    assert_eq!(heap.free(4096, 16), Err(Error::InvalidReference(4096)), "out of bounds");
    heap.free(a, 20).unwrap();
    assert_eq!(heap.free(a, 20), Err(Error::InvalidReference(a)), "double free");
    assert_eq!(heap.block(a), Err(Error::InvalidReference(a)));
    heap.free_trusted(b, 1).unwrap();
    assert_eq!(heap.free_trusted(b, 1), Err(Error::InvalidReference(b)), "double free");
    assert_eq!(heap.free_trusted(b + 4, 1), Err(Error::InvalidReference(b + 4)), "misaligned");
    heap.check().unwrap();
    heap.coalesce().unwrap();
    assert_eq!((heap.top(), heap.free_blocks(), heap.free_bytes()), (16, 1, 4096 - 16));
    assert!(matches!(heap.alloc(u32::MAX), Err(Error::AllocationTooLarge { .. })));
}

#[test]
fn block_allocator_coalesces_before_giving_up() {
    let mut heap = block_allocator(16 + 64 * 8);
    let blocks: Vec<u32> = (0..8).map(|_| heap.alloc(64).unwrap().unwrap()).collect();
    assert_eq!(heap.alloc(16).unwrap(), None);
    for &index in &blocks[2..6] {
        heap.free(index, 64).unwrap();
    }
    // 256 contiguous free bytes, but only as four 64-byte blocks until coalesced.
    let big = heap.alloc(256).unwrap().unwrap();
    assert_eq!(big, blocks[2]);
    assert_eq!(heap.alloc(16).unwrap(), None);
    heap.check().unwrap();
    assert_eq!(heap.largest_free_block().unwrap(), 0);
}

#[test]
fn block_allocator_rejects_bad_regions() {
    let words = crate::region::test_region(128);
    // SAFETY: the misaligned pointer and the 64 bytes after it stay inside the 128-byte
    // leaked test region, which nothing else uses.
    let misaligned = unsafe { BlockAllocator::from_raw_parts(words.as_mut_ptr().add(8), 64) };
    assert!(matches!(misaligned.err(), Some(Error::RegionMisaligned { .. })));
    assert!(BlockAllocator::new(&mut crate::region::test_region(64)[..32]).is_err());
}

#[test]
fn highest_top_is_the_highest_top_ever_through_frees_to_the_wilderness_and_resets() {
    let mut r = region(4096);
    let mut list = FreeList::new();
    assert_eq!(list.highest_top(), 0, "nothing handed out yet");
    let blocks = alloc_all(&mut list, &mut r, &[32, 64, 48]);
    let high = GRANULE + 32 + 64 + 48;
    assert_eq!((list.top(), list.highest_top()), (high, high));
    // Freed in reverse order, every block goes back to the wilderness: `top` falls, the
    // highest stays.
    for (&index, size) in blocks.iter().zip([32, 64, 48]).rev() {
        list.free(&mut r, index, size).unwrap();
    }
    assert_eq!((list.top(), list.highest_top()), (GRANULE, high));
    // A lower peak after a reset (the bitmap cleared) does not lower it; a higher one raises it.
    list.reset();
    alloc_all(&mut list, &mut r, &[16]);
    assert_eq!(list.highest_top(), high);
    list.reset();
    alloc_all(&mut list, &mut r, &[512]);
    assert_eq!(list.highest_top(), GRANULE + 512);
    check(&list, &r);
}
