//! `drc-heap-wasm`: a `no_std` WebAssembly GC interpreter whose garbage-collected objects live in a
//! [`drc_heap::Heap`].
//!
//! Modules are decoded and validated by `wasmparser` (validation is always on), their function
//! bodies are compiled once into an internal instruction form, and an interpreter runs them with
//! its operand stack, locals and call frames in explicit vectors (no host recursion), so deep Wasm
//! recursion never overflows the host stack.
//!
//! Supported: the Wasm 3.0 core instruction set except SIMD (`v128`), threads/atomics, memory64 and
//! exception handling: numeric, parametric, variable, memory (bulk memory, multi-memory), table,
//! control (tail calls, typed function references), reference and every GC instruction.
//! Exception handling is partial: `exnref` types and tags validate, link and export, `throw` and
//! `throw_ref` trap ([`Trap::ExceptionsUnsupported`]), so `try_table` runs as a plain block.
//! See the crate's README for the spec test results.
//!
//! Garbage-collected references follow drc-heap's deferred reference-counting protocol: words on
//! the operand stack and in locals hold no count; every reference that enters Wasm from the heap is
//! handed to the heap's activations table; globals, tables, element segments and host handles hold
//! counted references written through the heap's barriers; collections take the live reference
//! slots of every frame as precise roots.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub use drc_heap;

mod compile;
mod error;
mod instr;
mod module;
mod numeric;
mod store;
mod types;
mod values;

pub use error::{Error, Trap};
pub use module::Module;
pub use store::{HostContext, HostFunc, Store};
pub use values::{ExternKind, FuncRef, HeapType, HostHandle, Instance, Ref, RefInfo, RefType, Val, ValType};

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The deepest Wasm call stack, in frames; one more call traps
    /// [`Trap::CallStackExhausted`]. Default 200,000.
    pub max_call_depth: u32,
    /// Whether the heap's cycle collector runs (it frees garbage cycles). Default true.
    pub cycle_collection: bool,
    /// The heap's settings.
    pub heap: drc_heap::HeapConfig,
    /// The most pages (64 KiB each) a linear memory may have: instantiating a larger memory is
    /// [`Error::ResourceLimit`] and `memory.grow` past it returns -1. Default 65,536 (4 GiB, Wasm's
    /// own limit for 32-bit memories); small hosts set less.
    pub max_memory_pages: u32,
    /// A work budget for each call from the host (`invoke`, start functions): one unit per
    /// function entry and per backward branch (each loop iteration), so that every unbounded
    /// computation consumes fuel. When it runs out the call traps [`Trap::OutOfFuel`]. `None`
    /// (the default): unlimited.
    pub fuel: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_call_depth: 200_000,
            cycle_collection: true,
            heap: drc_heap::HeapConfig::default(),
            max_memory_pages: 65536,
            fuel: None,
        }
    }
}
