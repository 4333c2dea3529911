//! # drc-heap
//!
//! A `#![no_std]` garbage-collected heap for WebAssembly GC objects (externrefs, structs,
//! arrays, i31refs), managed by **deferred reference counting**, placed over memory the caller
//! hands it: a static array or a page-mapped region (or, for a hosted program, one region the
//! heap allocates itself, [`Heap::with_owned_region`], or memory it borrows for a while, a
//! [`HeapIn`] over a stack array or a buffer). No mmap, no OS; otherwise `alloc` is
//! used only for bookkeeping outside the region (the type registry, the activations table's
//! hash sets, the release worklist, host data).
//!
//! ## Architecture
//! * [`region`](crate::Heap::new): the caller's memory (or memory the heap allocates and
//!   frees, [`Heap::with_owned_region`]), addressed by `u32` offsets through bounds-checked
//!   accessors; no native pointer is ever stored in it.
//! * [`gc_ref`]: references are non-zero `u32` offsets; i31 values are tagged in the low bit.
//! * [`header`]: the 16-byte object header (kind, flags, type index, size, count).
//! * [`types`]: the registry of struct and array types and their layouts.
//! * [`free_list`]: segregated exact size classes plus two-level large bins, O(1) alloc and
//!   free, each free merged with its free neighbours at once, through one host-side bitmap
//!   (object starts and free-block bounds, 2 bits per granule).
//! * [`heap`] (a folder, `Heap`'s fields private to it): the type and its invariants
//!   (`mod.rs`), [`HeapConfig`] with all its builders (`config.rs`), the object model (a
//!   header's layout validated once, the one enumeration of an object's references:
//!   `object.rs`), allocation, barriers and release of what a dead object held through a
//!   worklist, no recursion (`counts.rs`), the generic struct and array API (`access.rs`), and:
//!   * fast paths for embedders ([`Heap::struct_new_owned`], [`Heap::struct_view`],
//!     [`Heap::array_view`], [`Heap::scalar_array_mut`], [`BorrowedRef`]): owned references
//!     moved in without count changes, references borrowed out without a count, objects
//!     validated once for several accesses (`fast_paths.rs`);
//!   * [`wasm_slots`]: the Wasm boundary for interpreters and JIT slow paths: `struct.new`,
//!     `struct.get`, `array.set` and the rest as one call each, taking and returning 64-bit
//!     operand-stack slots and raw words (new and read references exposed to Wasm, stored
//!     ones counted) (`wasm_slots.rs`, re-exported here);
//!   * the heap's side of [`collector`], [`cycle_collector`], [`verify`], [`stats`] and
//!     [`zeal`]: what walks or changes heap memory (`collection.rs`, `cycles.rs`, `verify.rs`,
//!     `stats.rs`, `zeal.rs`).
//! * [`abi`]: the JIT ABI in one place (reference words and i31 tagging, header and array
//!   offsets, the activations table's bump chunk), re-exported from the modules that own it.
//! * [`activations_table`]: the bump chunk JIT code writes and the root hash sets.
//! * [`root`]: [`Root`] (a reference word an embedder holds, and where) and [`RootSource`]
//!   (an embedder's roots on demand, for [`Heap::allocate_with_roots`]).
//! * [`collector`]: [`Collection`] and its steps: trace the Wasm-stack roots, sweep the table.
//! * [`cycle_collector`]: garbage cycles by synchronous trial deletion (Bacon and Rajan): the
//!   candidate buffer (the hot path only says "count left above zero" and "freed"), settings,
//!   report, and when a collection is due (the [heap policy](#heap-policy) below: when
//!   collections and cycle collections run, and what an embedder tunes).
//! * [`verify`], [`stats`]: the reports and counters (verification recomputes every count from
//!   the heap's contents).
//! * [`shared`]: a spin-locked heap for several cores.
//! * [`zeal`]: debugging checks (poisoned freed memory, verification after every collection,
//!   forced collections) that any embedder can turn on in [`HeapConfig`].
//!
//! No two modules import each other: [`heap`] imports the parts it is made of, which import
//! nothing of it; [`collector`] and [`shared`] import [`heap`].
//!
//! ## Heap policy
//! * **Reference counting frees at once.** An object is freed the moment its count reaches
//!   zero (its last field, element, host `GcRef` or activations-table entry lets go of it),
//!   together with everything only it held. Most garbage never waits for any collection.
//! * **Collections: the embedder runs them.** Only the embedder can walk its stack, so the heap
//!   never traces Wasm-stack roots on its own; it says when to. Collect
//!   ([`crate::Heap::collect`] or [`crate::Heap::collect_all`] with the Wasm-stack roots) when
//!   an allocation returns the retryable [`Error::OutOfMemory`] (then retry), when
//!   [`crate::Heap::need_gc_before_entering_wasm`] says the bump chunk cannot take the
//!   references a call will expose, and when [`crate::Heap::collection_recommended`] says the
//!   over-approximated root set has doubled since the last collection. A collection releases
//!   the activations-table entries no longer on the Wasm stack, runs a cycle collection when
//!   one is due (below); free blocks need no merging pass (every free merges with its free
//!   neighbours at once). Collecting inside a no-GC scope is [`Error::InNoGcScope`].
//!   [`crate::Heap::allocate_with_roots`] does these duties around one allocation: it collects
//!   when a collection is recommended, and on [`Error::OutOfMemory`] collects, collects cycles
//!   and retries once, asking the embedder's [`crate::RootSource`] for the roots only when a
//!   collection runs (the bump-chunk check before entering Wasm stays the embedder's).
//! * **Cycle collection: the heap runs it.** It needs no roots from the embedder, so the heap
//!   runs it by itself when one is due, at the next allocation or in the cycle phase of the
//!   next collection. One is due when candidates are buffered and either
//!   - the buffer holds more than the candidate trigger: [`CycleConfig::candidate_threshold`]
//!     (default [`DEFAULT_CYCLE_CANDIDATE_THRESHOLD`](crate::cycle_collector::DEFAULT_CYCLE_CANDIDATE_THRESHOLD)), or half the objects the last cycle
//!     collection found alive if that is more, so that rescanning a big live graph costs O(1)
//!     per candidate, amortized; after a collection that freed little for its work (more than
//!     [`UNPRODUCTIVE_VISITS_PER_FREED`](crate::cycle_collector::UNPRODUCTIVE_VISITS_PER_FREED) object visits per freed object, such as one that freed
//!     nothing) the trigger doubles instead, so a program whose candidates are all alive (an
//!     acyclic program whose decrements leave counts above zero) pays a logarithmic number of
//!     collections, and the next productive collection brings it back down; or
//!   - the live bytes have doubled since the last cycle collection and exceed 1/16 of the
//!     region ([`CycleConfig::collect_on_heap_growth`]): few candidates may stand for much
//!     garbage (a big cyclic structure built without decrements and dropped through one
//!     reference is one candidate), and this bounds what garbage cycles hold to about the live
//!     data again, at O(1) amortized work per allocated byte.
//!
//!   A collection the candidate trigger alone makes due takes only the *old* candidates, those
//!   buffered before the buffer held half its trigger; the *young* ones, buffered since, wait
//!   for the next collection (they are most often part of a structure still being built, which
//!   a collection now would only rescan). The buffer holds no more than before, so the
//!   trigger's collections come twice as often, each on the older half; every other cycle
//!   collection takes all the candidates.
//!
//!   Besides, an allocation that finds no block even after merging free blocks collects cycles
//!   before it reports [`Error::OutOfMemory`], and [`crate::Heap::collect_cycles`] runs one
//!   now. The automatic triggers never run inside a no-GC scope, and
//!   [`crate::Heap::collect_cycles`] there is [`Error::InNoGcScope`]. A cycle collection is
//!   synchronous (one step of an incremental collection) and costs O(objects + references
//!   reachable from the candidates it takes), plus one look at each candidate buffered since
//!   the last one (freed since or not; two for a young one left for the next) and a pass over
//!   the buffer's bitmaps up to the heap's high-water mark (one bit per 16 bytes).
//! * **What an embedder tunes** ([`crate::HeapConfig`]): the candidate threshold
//!   ([`crate::HeapConfig::with_cycle_candidate_threshold`], or
//!   [`crate::Heap::set_cycle_candidate_threshold`] at run time): lower for less memory held by
//!   garbage cycles and shorter, more frequent pauses, higher for fewer cycle collections; the
//!   heap-growth trigger ([`crate::HeapConfig::with_cycle_collection_on_heap_growth`]); cycle
//!   collection as a whole ([`crate::HeapConfig::with_cycle_collection`]: off, nothing is buffered, a
//!   decrement costs nothing more, and garbage cycles leak as in Wasmtime: for programs that
//!   build no cycles); and [`crate::HeapConfig::zeal`] for debugging. Types declared final with
//!   concretely typed reference fields are often acyclic, and acyclic objects cost the cycle
//!   collector nothing. The region is the only memory limit: the heap never grows by itself
//!   ([`crate::Heap::extend`] adds memory the caller mapped). To empty a heap of garbage (at
//!   shutdown, or as a test oracle): drop the host roots, run [`crate::Heap::collect_all`] with
//!   no roots, then [`crate::Heap::collect_cycles`].

//!
//! ## The heap is a sandbox
//! Everything read from the region (headers, sizes, links, reference words, host data ids) is
//! validated before use. Corrupted bytes give [`Error::Corrupted`], never undefined behaviour.
//!
//! ## Example
//! ```
//! use drc_heap::types::{HeapType, RefType, StorageType, StructType};
//! use drc_heap::{Heap, Root, ValueRef};
//!
//! // A hosted program lets the heap allocate its region (freed when the heap is dropped); a
//! // unikernel passes a `static` [`HeapMemory`] to [`Heap::new`] instead, and memory borrowed
//! // for a shorter time makes a [`HeapIn`] (see there).
//! let mut heap: Heap<&str> = Heap::with_owned_region(65536)?;
//! let node = heap.register_struct(StructType::new(&[
//!     StorageType::I32,
//!     StorageType::Ref(RefType::nullable(HeapType::Any)),
//! ]))?;
//! let leaf = heap.struct_new(node, &[ValueRef::I32(1), ValueRef::Ref(None)])?;
//! let parent = heap.struct_new(node, &[ValueRef::I32(2), ValueRef::Ref(Some(&leaf))])?;
//! heap.drop_ref(leaf)?; // the parent's field keeps the leaf alive
//! assert_eq!(heap.stats()?.live_objects, 2);
//!
//! // Hand `parent` to Wasm: the activations table keeps it alive while Wasm frames use it.
//! let word = parent.as_raw_u32();
//! heap.expose_gc_ref_to_wasm(parent)?;
//! heap.collect_all([Root::wasm_stack(word)])?; // still on the Wasm stack: survives
//! assert_eq!(heap.stats()?.live_objects, 2);
//! heap.collect_all([])?; // gone from the stack: freed with the leaf it held
//! assert_eq!(heap.stats()?.live_objects, 0);
//! # Ok::<(), drc_heap::Error>(())
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod abi;
pub mod activations_table;
pub mod collector;
pub mod cycle_collector;
pub mod error;
pub mod free_list;
pub mod gc_ref;
pub mod header;
pub mod heap;
mod host_data;
#[cfg(feature = "portable-tests")]
pub mod portable_tests;
mod region;
pub mod root;
pub mod shared;
pub mod stats;
#[cfg(test)]
mod test_support;
pub mod types;
pub mod value;
pub mod verify;
pub mod zeal;

pub use collector::{Collection, Progress, Root};
pub use cycle_collector::{CycleConfig, CycleReport};
pub use error::{Error, Result};
pub use gc_ref::{GcRef, HeapId};
pub use header::Kind;
pub use heap::wasm_slots;
pub use heap::{ArrayView, BorrowedRef, ScalarArrayMut, StructView};
pub use heap::{Heap, HeapConfig, HeapIn, Operands};
pub use region::{HeapMemory, MAX_REGION_LEN, MIN_REGION_LEN, REGION_ALIGN};
pub use root::RootSource;
pub use shared::SharedHeap;
pub use stats::HeapStats;
pub use types::TypeIndex;
pub use value::{Value, ValueRef};
pub use verify::VerifyReport;
pub use wasm_slots::Signedness;

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
