//! Binary-trees (the Computer Language Benchmarks Game program) over the heap, as a portable
//! test: its check values must match the benchmark's.

use super::helpers::{ensure_empty, get_ref, words};
use crate::portable_tests::TestResult;
use crate::types::{HeapType, RefType, StorageType, StructType};
use crate::{GcRef, Heap, TypeIndex, ValueRef};
use alloc::string::String;
use alloc::vec::Vec;

fn bottom_up_tree(heap: &mut Heap<()>, node: TypeIndex, depth: u32) -> Result<GcRef, String> {
    if depth == 0 {
        return Ok(ok!(heap.struct_new(node, &[ValueRef::Ref(None), ValueRef::Ref(None)])));
    }
    let left = bottom_up_tree(heap, node, depth - 1)?;
    let right = bottom_up_tree(heap, node, depth - 1)?;
    let tree = ok!(heap.struct_new(node, &[ValueRef::Ref(Some(&left)), ValueRef::Ref(Some(&right))]));
    ok!(heap.drop_ref(left));
    ok!(heap.drop_ref(right));
    Ok(tree)
}

fn item_check(heap: &mut Heap<()>, tree: &GcRef) -> Result<u32, String> {
    let left = get_ref(heap, tree, 0)?;
    let right = get_ref(heap, tree, 1)?;
    match (left, right) {
        (None, None) => Ok(1),
        (Some(left), Some(right)) => {
            let n = 1 + item_check(heap, &left)? + item_check(heap, &right)?;
            ok!(heap.drop_ref(left));
            ok!(heap.drop_ref(right));
            Ok(n)
        }
        _ => Err("a node with one child".into()),
    }
}

pub(super) fn binary_trees_check_values_match_the_benchmarks_game(region: &'static mut [u8]) -> TestResult {
    let len = region.len() as u64;
    let mut heap: Heap<()> = ok!(Heap::new(region));
    let to_node = StorageType::Ref(RefType::nullable(HeapType::Struct));
    let node = ok!(heap.register_struct(StructType::new(&[to_node, to_node])));
    // The largest even n in 6..=8 whose stretch tree (the peak) takes at most half the region.
    let n: u32 = if !cfg!(miri) && (1u64 << 10) * 32 <= len / 2 && len >= 1 << 20 { 8 } else { 6 };
    let min_depth = 4;
    let max_depth = n.max(min_depth + 2);
    // The program's output lines for n = 6 and n = 8, as the Benchmarks Game prints them.
    let expected: &[(u32, u32, u32)] = if n == 8 {
        &[(1, 9, 1023), (256, 4, 7936), (64, 6, 8128), (16, 8, 8176), (1, 8, 511)]
    } else {
        &[(1, 7, 255), (64, 4, 1984), (16, 6, 2032), (1, 6, 127)]
    };
    // Under Miri, one tree per depth (the check values scale with the count).
    let iterations_cap = if cfg!(miri) { 1 } else { u32::MAX };
    let expected: Vec<(u32, u32, u32)> = expected
        .iter()
        .map(|&(iterations, depth, check)| {
            let run = iterations.min(iterations_cap);
            (run, depth, check / iterations * run)
        })
        .collect();
    let mut lines: Vec<(u32, u32, u32)> = Vec::new();

    let stretch_depth = max_depth + 1;
    let stretch = bottom_up_tree(&mut heap, node, stretch_depth)?;
    let report = verify!(heap, words([&stretch]));
    ensure!(report.objects == (1 << (stretch_depth + 1)) - 1);
    lines.push((1, stretch_depth, item_check(&mut heap, &stretch)?));
    ok!(heap.drop_ref(stretch));
    ensure_empty(&heap)?;

    let long_lived = bottom_up_tree(&mut heap, node, max_depth)?;
    for depth in (min_depth..=max_depth).step_by(2) {
        let iterations = (1u32 << (max_depth - depth + min_depth)).min(iterations_cap);
        let mut check = 0;
        for _ in 0..iterations {
            let tree = bottom_up_tree(&mut heap, node, depth)?;
            check += item_check(&mut heap, &tree)?;
            ok!(heap.drop_ref(tree));
        }
        lines.push((iterations, depth, check));
        let report = verify!(heap, words([&long_lived]));
        ensure!(report.objects == (1 << (max_depth + 1)) - 1, "{report:?}");
    }
    lines.push((1, max_depth, item_check(&mut heap, &long_lived)?));
    ensure!(lines == expected, "binary-trees {n}: {lines:?}");
    let stats = ok!(heap.stats());
    let allocated: u64 = expected.iter().map(|&(_, _, check)| check as u64).sum();
    ensure!(stats.objects_allocated == allocated, "{stats:?}");
    ok!(heap.drop_ref(long_lived));
    ensure_empty(&heap)
}
