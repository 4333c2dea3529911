//! The JIT ABI: every number that code generated outside the crate needs to read and write
//! heap objects and expose references, in one place. Read this first when writing a JIT.
//!
//! This module owns nothing: it re-exports the constants from the modules that own them
//! ([`crate::gc_ref`], [`crate::header`], [`crate::activations_table`], the region), where
//! unit tests prove the offsets against `core::mem::offset_of!` on the `#[repr(C)]` structs
//! that document the layouts ([`ObjectHeader`], [`ArrayHeader`], [`ExternRefObject`],
//! [`ActivationsTable`]). No owner imports from this module, so there is one direction only.
//!
//! # Reference words
//! A reference is a `u32` word: 0 is null; a word with [`I31_TAG`] set is an i31 value,
//! `(value << I31_SHIFT) | I31_TAG`; any other word is the region offset of an object's header,
//! a non-zero multiple of [`REGION_ALIGN`]. Object `word` starts at
//! `Heap::region_base() + word` ([`crate::Heap::region_base`]). Values are in native byte
//! order.
//!
//! # Objects
//! Every object starts with a [`HEADER_SIZE`]-byte header: the kind byte at [`KIND_OFFSET`]
//! (a [`crate::Kind`] bit pattern), flags at [`FLAGS_OFFSET`], the `u32` type index at
//! [`TYPE_INDEX_OFFSET`], the `u32` block size at [`SIZE_OFFSET`] and the `u32` reference count
//! at [`REF_COUNT_OFFSET`] (see [`crate::header`] for the whole table). An array's `u32` length
//! is at [`ARRAY_LENGTH_OFFSET`]; an externref's `u32` host-data id at
//! [`EXTERNREF_HOST_DATA_OFFSET`]. Struct field offsets and array element offsets depend on the
//! type: [`crate::types::StructLayout`] and [`crate::types::ArrayLayout`] (from
//! [`crate::types::TypeRegistry::struct_layout`] and `array_layout`) give them.
//!
//! # Exposing references to Wasm frames
//! References in Wasm frames hold no count; the activations table stands in for them. Its
//! address is stable ([`crate::Heap::activations_table_ptr`]). To expose a word, read the `u32`
//! at [`ACTIVATIONS_NEXT_OFFSET`]; if it is below the `u32` at [`ACTIVATIONS_END_OFFSET`],
//! store the word at `ACTIVATIONS_CHUNK_OFFSET + 4 * next` and increment `next`; otherwise call
//! the host, which calls [`crate::Heap::expose_gc_ref_to_wasm`]. The chunk holds
//! [`BUMP_CHUNK_CAPACITY`] words; [`crate::Heap::need_gc_before_entering_wasm`] says whether a
//! call's references still fit. See [`crate::activations_table`] for the protocol in full.
//!
//! # Trust
//! The heap treats everything JIT code can write as untrusted: the region's bytes, the chunk's
//! words and `next` are validated when the heap reads them, so a wrong write gives
//! [`crate::Error::Corrupted`] or [`crate::Error::InvalidReference`], never undefined behaviour
//! in the heap.
//!
//! # Example
//! Reading an array's length and an i31 value the way generated code would:
//! ```
//! use drc_heap::abi::{ARRAY_LENGTH_OFFSET, I31_SHIFT, I31_TAG};
//! use drc_heap::types::{ArrayType, StorageType};
//! use drc_heap::{GcRef, Heap, ValueRef};
//!
//! let mut heap: Heap<()> = Heap::with_owned_region(1 << 12)?;
//! let words = heap.register_array(ArrayType::new(StorageType::I32))?;
//! let array = heap.array_new(words, 5, ValueRef::I32(0))?;
//! let word = array.as_raw_u32();
//! assert_eq!(word & I31_TAG, 0);
//! // SAFETY: `word` is a live array of this heap, so its length lies inside the region, and no
//! // heap call runs while the pointer is used.
//! let len = unsafe {
//!     let at = heap.region_base().add((word + ARRAY_LENGTH_OFFSET) as usize);
//!     at.cast::<u32>().read_unaligned()
//! };
//! assert_eq!(len, 5);
//! heap.drop_ref(array)?;
//!
//! let i31 = GcRef::from_i31(-3).into_raw();
//! assert_eq!(i31 & I31_TAG, I31_TAG);
//! assert_eq!((i31 as i32) >> I31_SHIFT, -3);
//! # Ok::<(), drc_heap::Error>(())
//! ```

pub use crate::activations_table::{
    ActivationsTable, ACTIVATIONS_CHUNK_OFFSET, ACTIVATIONS_END_OFFSET, ACTIVATIONS_NEXT_OFFSET, BUMP_CHUNK_CAPACITY,
};
pub use crate::gc_ref::{I31_SHIFT, I31_TAG};
pub use crate::header::{
    ArrayHeader, ExternRefObject, ObjectHeader, ARRAY_LENGTH_OFFSET, EXTERNREF_HOST_DATA_OFFSET, EXTERNREF_SIZE,
    FLAGS_OFFSET, HEADER_SIZE, KIND_OFFSET, REF_COUNT_OFFSET, SIZE_OFFSET, TYPE_INDEX_OFFSET,
};
pub use crate::region::REGION_ALIGN;
