//! Roots: the references an embedder holds outside the heap, as a collection sees them.
//!
//! A [`Root`] is one reference word and where it lives (a Wasm frame, found through a stack
//! map, or the host, which owns a count); a [`RootSource`] yields an embedder's roots on demand,
//! for the collections the heap runs on its behalf ([`crate::Heap::allocate_with_roots`]).
//! Collections take roots ([`crate::Heap::collect`], [`crate::Heap::collect_all`], see
//! [`crate::collector`]); this module only names them, and imports nothing of the heap, so
//! that the heap and the collector can both use it.

use crate::error::Result;
use alloc::vec::Vec;

/// A root the embedder found: a reference word and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    raw: u32,
    on_wasm_stack: bool,
}

impl Root {
    /// A reference word in a Wasm frame (found through a stack map).
    pub const fn wasm_stack(raw: u32) -> Root {
        Root { raw, on_wasm_stack: true }
    }

    /// A reference held by the host (a global, a table, a host local): it owns a count.
    pub const fn host(raw: u32) -> Root {
        Root { raw, on_wasm_stack: false }
    }

    /// The reference word.
    pub const fn raw(&self) -> u32 {
        self.raw
    }

    /// Whether the root is in a Wasm frame.
    pub const fn is_on_wasm_stack(&self) -> bool {
        self.on_wasm_stack
    }
}

/// The roots an embedder holds (its Wasm-stack references), asked for only when
/// [`crate::Heap::allocate_with_roots`] runs a collection on the embedder's behalf.
///
/// A closure `FnMut(&mut Vec<Root>) -> Result<()>` is a root source.
pub trait RootSource {
    /// Appends every root to `into` (empty when called). An error means the roots cannot be
    /// computed: the collection does not run and the error is returned as is.
    fn roots(&mut self, into: &mut Vec<Root>) -> Result<()>;
}

impl<F: FnMut(&mut Vec<Root>) -> Result<()>> RootSource for F {
    fn roots(&mut self, into: &mut Vec<Root>) -> Result<()> {
        self(into)
    }
}
