//! binary-trees (the Benchmarks Game) over a drc-heap placed in a static region.
//!
//! `cargo run --release --example binary_trees -- 10` prints the standard check lines (for
//! depth 10: 4095, 31744, 32512, 32704, 32752 and 2047), then the heap's statistics.
//!
//! Trees are structs `{ left: ref null $node, right: ref null $node }` built bottom-up by host
//! code through the heap's fast paths (owned children moved into new nodes, children read
//! without taking counts); every dropped tree is freed by reference counting as its last
//! reference goes, through the heap's release worklist.

use drc_heap::types::{HeapType, RefType, StorageType, StructType};
use drc_heap::{GcRef, Heap, HeapMemory, TypeIndex, Value};

/// 256 MiB: enough for depth 21 (a stretch tree of depth 22 plus the long-lived tree).
const REGION_BYTES: usize = 256 << 20;
const MAX_DEPTH: u32 = 21;
const MIN_DEPTH: u32 = 4;

static mut MEMORY: HeapMemory<REGION_BYTES> = HeapMemory::new();

type Result<T> = core::result::Result<T, drc_heap::Error>;

fn bottom_up_tree(heap: &mut Heap<()>, node: TypeIndex, depth: u32) -> Result<GcRef> {
    let children = if depth == 0 {
        [Value::Ref(None), Value::Ref(None)]
    } else {
        let left = bottom_up_tree(heap, node, depth - 1)?;
        let right = bottom_up_tree(heap, node, depth - 1)?;
        [Value::Ref(Some(left)), Value::Ref(Some(right))]
    };
    // The children's counts move into the new node's fields, as Wasm's `struct.new` does.
    heap.struct_new_owned(node, children).map_err(|(error, _)| error)
}

/// Counts a tree's nodes, validating each node once and reading its children without taking
/// counts (the borrows keep the heap unchanged while they live).
fn item_check(heap: &Heap<()>, tree: &GcRef) -> Result<u32> {
    let view = heap.struct_view(tree)?;
    let mut nodes = 1;
    for field in 0..2 {
        if let Some(child) = view.get_ref(field)? {
            nodes += item_check(heap, &child)?;
        }
    }
    Ok(nodes)
}

fn main() -> Result<()> {
    let depth: u32 = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(10);
    let max_depth = depth.clamp(MIN_DEPTH + 2, MAX_DEPTH);

    // SAFETY: `main` is the only code that touches MEMORY, once.
    let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
    let mut heap: Heap<()> = Heap::new(memory.bytes())?;
    let link = StorageType::Ref(RefType::nullable(HeapType::Any));
    let node = heap.register_struct(StructType::new(&[link, link]))?;

    let stretch = bottom_up_tree(&mut heap, node, max_depth + 1)?;
    println!("stretch tree of depth {}\t check: {}", max_depth + 1, item_check(&heap, &stretch)?);
    heap.drop_ref(stretch)?;

    let long_lived = bottom_up_tree(&mut heap, node, max_depth)?;
    for depth in (MIN_DEPTH..=max_depth).step_by(2) {
        let iterations = 1u32 << (max_depth - depth + MIN_DEPTH);
        let mut check = 0;
        for _ in 0..iterations {
            let tree = bottom_up_tree(&mut heap, node, depth)?;
            check += item_check(&heap, &tree)?;
            heap.drop_ref(tree)?;
        }
        println!("{iterations}\t trees of depth {depth}\t check: {check}");
    }
    println!("long lived tree of depth {max_depth}\t check: {}", item_check(&heap, &long_lived)?);
    heap.verify([long_lived.as_raw_u32()])?;
    heap.drop_ref(long_lived)?;

    let stats = heap.stats()?;
    println!();
    println!(
        "heap: {} bytes region, {} live objects, {} free bytes in {} block(s)",
        stats.region_bytes, stats.live_objects, stats.free_bytes, stats.free_blocks
    );
    println!("      {} objects allocated, {} freed", stats.objects_allocated, stats.objects_freed);
    println!("      peak live {} bytes, peak region used {} bytes", stats.peak_live_bytes, stats.peak_used_bytes);
    Ok(())
}
