//! Collections with precise roots, and allocation with the collect-and-retry-once policy.
//!
//! The roots are the heap-reference slots of every live frame: its heap-reference locals and
//! the operand slots its stack map lists at the instruction it is at (a paused caller is at its
//! call, whose arguments belong to the callee; the top frame is at the allocating instruction,
//! or at function entry (`pc == ENTRY`) with no operands). Null and i31 words are skipped.
//! Globals, tables, segments and handles own counts and are not roots.

use super::{Frame, Function, InstanceData, Store};
use crate::error::{Error, Trap};
use alloc::vec::Vec;
use drc_heap::{Root, RootSource};

/// The `pc` of a frame that has just been entered and has no operands yet.
pub(super) const ENTRY: u32 = u32::MAX;

/// The roots of a store's frames, borrowing its frames, stack and instances apart from its
/// heap so that the heap can ask for them in the middle of an allocation.
struct FrameRoots<'a> {
    frames: &'a [Frame],
    stack: &'a [u64],
    instances: &'a [InstanceData],
    /// The error of a frame that names an unknown function, kept to be reported after the heap
    /// call that asked for the roots (the heap only sees that the roots are unavailable).
    error: Option<Error>,
}

impl<'a> FrameRoots<'a> {
    fn new(frames: &'a [Frame], stack: &'a [u64], instances: &'a [InstanceData]) -> FrameRoots<'a> {
        FrameRoots { frames, stack, instances, error: None }
    }

    /// Appends the live heap-reference words of every frame to `roots`.
    fn push_roots(&self, roots: &mut Vec<Root>) -> Result<(), Error> {
        for frame in self.frames {
            let instance = self.instances.get(frame.instance as usize).ok_or_else(corrupt_frame)?;
            let function = instance.module.code.get(frame.defined as usize).ok_or_else(corrupt_frame)?;
            let base = frame.base as usize;
            let mut push = |slot: usize| {
                if let Some(&word) = self.stack.get(slot) {
                    let word = word as u32;
                    if word != 0 && word & 1 == 0 {
                        roots.push(Root::wasm_stack(word));
                    }
                }
            };
            for &local in &function.gc_locals {
                push(base + local as usize);
            }
            let operands = base + function.locals as usize;
            if frame.pc != ENTRY {
                for &slot in function.stack_map(frame.pc) {
                    push(operands + slot as usize);
                }
            }
        }
        Ok(())
    }
}

impl RootSource for FrameRoots<'_> {
    fn roots(&mut self, into: &mut Vec<Root>) -> drc_heap::Result<()> {
        self.push_roots(into).map_err(|error| {
            self.error = Some(error);
            drc_heap::Error::Corrupted { offset: 0, what: "a frame names an unknown function" }
        })
    }
}

impl<H: 'static> Store<H> {
    /// A full collection with the frames' roots.
    pub(super) fn collect_garbage(&mut self) -> Result<(), Error> {
        let mut roots = Vec::new();
        FrameRoots::new(&self.frames, &self.stack, &self.instances).push_roots(&mut roots)?;
        self.heap.collect_all(roots)?;
        Ok(())
    }

    /// Collects when the heap recommends it (at allocations and function entries).
    pub(super) fn maybe_collect(&mut self) -> Result<(), Error> {
        if self.heap.collection_recommended() {
            self.collect_garbage()?;
        }
        Ok(())
    }

    /// Runs `allocate` through [`drc_heap::Heap::allocate_with_roots`]: collects when the heap
    /// recommends it and, when the heap is out of memory, collects and retries once. A second
    /// failure, or an allocation that can never fit, traps "out of GC memory".
    pub(super) fn allocate<T>(
        &mut self,
        allocate: impl FnMut(&mut drc_heap::Heap<H>) -> drc_heap::Result<T>,
    ) -> Result<T, Error> {
        let mut roots = FrameRoots::new(&self.frames, &self.stack, &self.instances);
        let result = self.heap.allocate_with_roots(&mut roots, allocate);
        if let Some(error) = roots.error {
            return Err(error);
        }
        match result {
            Ok(value) => Ok(value),
            Err(error) if error.is_retryable() => Err(Error::Trap(Trap::OutOfGcMemory)),
            Err(drc_heap::Error::AllocationTooLarge { .. }) => Err(Error::Trap(Trap::OutOfGcMemory)),
            Err(error) => Err(Error::Heap(error)),
        }
    }

    /// Whether store function `function` is a Wasm function (for frames).
    pub(super) fn is_wasm(&self, function: u32) -> bool {
        matches!(self.functions.get(function as usize), Some(Function::Wasm { .. }))
    }
}

fn corrupt_frame() -> Error {
    Error::ArgumentMismatch(alloc::string::String::from("a frame names an unknown function"))
}
