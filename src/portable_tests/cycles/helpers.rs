//! What the cycle collector's tests share: the `try_heap!` and `verify!` macros, the
//! drop-counting host data (`Token`), the heap and its types (nodes, trees, reference arrays,
//! externref holders, acyclic leaves and byte arrays), rings (plain and fat) and the walks that
//! check them, and the measures of the heap a test sizes its work by.

use crate::portable_tests::TestResult;
use crate::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use crate::{GcRef, Heap, HeapConfig, TypeIndex, Value, ValueRef};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::Cell;

/// Turns a heap result into a test failure naming the expression and the line.
macro_rules! try_heap {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return Err(alloc::format!("{}:{}: {} failed: {}", file!(), line!(), stringify!($e), error)),
        }
    };
}

/// Runs `verify` with the given owned references as host roots.
macro_rules! verify {
    ($heap:expr, $roots:expr) => {
        try_heap!($heap.verify($roots.iter().map(|r: &&GcRef| r.as_raw_u32())))
    };
}

/// Host data that counts its drops.
pub(super) struct Token(pub(super) Rc<Cell<u32>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

pub(super) type TestHeap = Heap<Token>;

/// Node fields: `[id: i32, next: anyref, prev: anyref]`.
pub(super) const NEXT: u32 = 1;
pub(super) const PREV: u32 = 2;
/// Block size of a node (16-byte header + 12 bytes, rounded to 16).
pub(super) const NODE_BLOCK: usize = 32;

pub(super) struct Types {
    /// `[id: i32, next: anyref, prev: anyref]`.
    pub(super) node: TypeIndex,
    /// `[left: anyref, right: anyref, parent: anyref]`.
    pub(super) tree: TypeIndex,
    /// `array (mut anyref)`.
    pub(super) refs: TypeIndex,
    /// `[next: anyref, data: externref]`.
    pub(super) holder: TypeIndex,
    /// `[value: i32]`, final: acyclic.
    pub(super) leaf: TypeIndex,
    /// `array (mut i8)`: acyclic.
    pub(super) bytes: TypeIndex,
}

pub(super) fn any() -> StorageType {
    StorageType::Ref(RefType::nullable(HeapType::Any))
}

pub(super) fn heap_with(region: &'static mut [u8], config: HeapConfig) -> Result<(TestHeap, Types), String> {
    let mut heap: TestHeap = try_heap!(Heap::with_config(region, config));
    let node = try_heap!(heap.register_struct(StructType::new(&[StorageType::I32, any(), any()])));
    let tree = try_heap!(heap.register_struct(StructType::new(&[any(), any(), any()])));
    let refs = try_heap!(heap.register_array(ArrayType::new(any())));
    let holder = try_heap!(
        heap.register_struct(StructType::new(&[any(), StorageType::Ref(RefType::nullable(HeapType::Extern)),]))
    );
    let leaf = try_heap!(heap.register_struct(StructType::new(&[StorageType::I32])));
    let bytes = try_heap!(heap.register_array(ArrayType::new(StorageType::I8)));
    Ok((heap, Types { node, tree, refs, holder, leaf, bytes }))
}

pub(super) fn new_heap(region: &'static mut [u8]) -> Result<(TestHeap, Types), String> {
    heap_with(region, HeapConfig::default())
}

pub(super) fn some(r: &GcRef) -> ValueRef<'_> {
    ValueRef::Ref(Some(r))
}

pub(super) fn new_node(heap: &mut TestHeap, types: &Types, id: i32) -> Result<GcRef, String> {
    Ok(try_heap!(heap.struct_new(types.node, &[ValueRef::I32(id), ValueRef::Ref(None), ValueRef::Ref(None)])))
}

/// Builds a doubly linked ring of `n` nodes (ids `0..n`) and returns the one owned reference
/// to node 0; no other reference leaves the ring.
pub(super) fn ring(heap: &mut TestHeap, types: &Types, n: usize) -> Result<GcRef, String> {
    let head = new_node(heap, types, 0)?;
    let mut prev = try_heap!(heap.clone_ref(&head));
    for i in 1..n {
        let next = try_heap!(heap.struct_new(types.node, &[ValueRef::I32(i as i32), ValueRef::Ref(None), some(&prev)]));
        try_heap!(heap.struct_set(&prev, NEXT, some(&next)));
        try_heap!(heap.drop_ref(prev));
        prev = next;
    }
    try_heap!(heap.struct_set(&prev, NEXT, some(&head)));
    try_heap!(heap.struct_set(&head, PREV, some(&prev)));
    try_heap!(heap.drop_ref(prev));
    Ok(head)
}

/// Walks `n` steps along `next` from `start` and checks the ids (the ring is intact).
pub(super) fn check_ring(heap: &mut TestHeap, start: &GcRef, n: usize) -> TestResult {
    let mut at = try_heap!(heap.clone_ref(start));
    for step in 0..n {
        let id = try_heap!(heap.struct_get(&at, 0));
        ensure!(matches!(id, Value::I32(v) if v as usize == step), "node {step} has id {id:?}");
        let next = match try_heap!(heap.struct_get(&at, NEXT)) {
            Value::Ref(Some(next)) => next,
            other => return Err(format!("node {step}'s next is {other:?}")),
        };
        try_heap!(heap.drop_ref(at));
        at = next;
    }
    ensure!(at.as_raw_u32() == start.as_raw_u32(), "the ring does not close after {n} nodes");
    try_heap!(heap.drop_ref(at));
    Ok(())
}

/// Under Miri (slow), one acyclic byte array that takes all but 8 KiB of the region, so that
/// the tests that fill the region do so with few objects; nothing elsewhere.
pub(super) fn miri_filler(heap: &mut TestHeap, types: &Types) -> Result<Option<GcRef>, String> {
    if !cfg!(miri) {
        return Ok(None);
    }
    let len = heap.region_len() - 8 * 1024 - 64;
    Ok(Some(try_heap!(heap.array_new(types.bytes, len, ValueRef::I8(0)))))
}

/// Nodes that fit in the free bytes.
pub(super) fn free_nodes(heap: &TestHeap) -> Result<usize, String> {
    Ok(try_heap!(heap.stats()).free_bytes as usize / NODE_BLOCK)
}

pub(super) fn live(heap: &TestHeap) -> Result<u64, String> {
    Ok(try_heap!(heap.stats()).live_objects)
}

/// The end of a test: the heap verifies with no host roots and holds no object.
pub(super) fn ensure_all_freed(heap: &TestHeap) -> TestResult {
    verify!(heap, [] as [&GcRef; 0]);
    ensure!(live(heap)? == 0);
    Ok(())
}

/// Cycle collection only by allocation failure or an explicit call: no threshold or growth
/// trigger, so a test controls exactly when it runs.
pub(super) fn no_automatic_cycle_collection() -> HeapConfig {
    HeapConfig::default().with_cycle_candidate_threshold(usize::MAX).with_cycle_collection_on_heap_growth(false)
}

/// Nodes of a ring that fills about `share` of the region (at least 1,000 in the smallest).
pub(super) fn ring_len(heap: &TestHeap, max: usize, share: usize) -> usize {
    let fit = heap.region_len() as usize / NODE_BLOCK / share;
    let n = fit.min(max);
    if cfg!(miri) {
        n.min(100)
    } else {
        n
    }
}

/// Bytes of the payload of a node of a fat ring.
pub(super) const PAYLOAD_LEN: u32 = 1024;
/// Bytes of a fat node: a tree struct (32) and its byte array (16 + 4 + 1024, rounded).
pub(super) const FAT_BLOCK: usize = 32 + 1056;

/// A doubly linked ring of `n` tree structs (`left` is `next`, `right` is `prev`), each holding
/// an acyclic byte array of [`PAYLOAD_LEN`] in `parent`: few references, many bytes. Returns
/// the one owned reference to the first.
pub(super) fn fat_ring(heap: &mut TestHeap, types: &Types, n: usize) -> Result<GcRef, String> {
    let fat_node = |heap: &mut TestHeap, prev: Option<&GcRef>| -> Result<GcRef, String> {
        let payload = try_heap!(heap.array_new(types.bytes, PAYLOAD_LEN, ValueRef::I8(7)));
        let node = try_heap!(heap.struct_new(types.tree, &[ValueRef::Ref(None), ValueRef::Ref(prev), some(&payload)]));
        try_heap!(heap.drop_ref(payload));
        Ok(node)
    };
    let head = fat_node(heap, None)?;
    let mut prev = try_heap!(heap.clone_ref(&head));
    for _ in 1..n {
        let next = fat_node(heap, Some(&prev))?;
        try_heap!(heap.struct_set(&prev, 0, some(&next)));
        try_heap!(heap.drop_ref(prev));
        prev = next;
    }
    try_heap!(heap.struct_set(&prev, 0, some(&head)));
    try_heap!(heap.struct_set(&head, 1, some(&prev)));
    try_heap!(heap.drop_ref(prev));
    Ok(head)
}

/// Walks a fat ring through `next` and checks that it closes after `n` nodes.
pub(super) fn check_fat_ring(heap: &mut TestHeap, start: &GcRef, n: usize) -> TestResult {
    let mut at = try_heap!(heap.clone_ref(start));
    for step in 0..n {
        let next = match try_heap!(heap.struct_get(&at, 0)) {
            Value::Ref(Some(next)) => next,
            other => return Err(format!("fat node {step}'s next is {other:?}")),
        };
        try_heap!(heap.drop_ref(at));
        at = next;
    }
    ensure!(at.as_raw_u32() == start.as_raw_u32(), "the fat ring does not close after {n} nodes");
    try_heap!(heap.drop_ref(at));
    Ok(())
}
