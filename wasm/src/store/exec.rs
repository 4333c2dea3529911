//! The interpreter: the loop over a frame's instructions, control flow, calls (direct,
//! indirect, by reference, tail calls) and variables. Frames live in `Store::frames` and operands
//! and locals in `Store::stack`; a Wasm call pushes a frame and continues the same loop (no host
//! recursion), so Wasm recursion depth is bounded only by `Config::max_call_depth`.
//!
//! Instruction families live in sibling modules: `numeric_ops`, `tables` (tables and memories),
//! `gc_ops` (references, structs, arrays, casts).

use super::roots::ENTRY;
use super::{numeric_ops, Frame, Function, Store};
use crate::error::{Error, Trap};
use crate::instr::{BranchTarget, Instr};
use crate::values::Val;
use alloc::vec::Vec;
use drc_heap::GcRef;

/// The most operand and local slots the stack may hold (64 MiB of slots).
const MAX_STACK_SLOTS: usize = 1 << 23;

/// Moves the top `keep` values to operand height `height` and cuts the stack there.
fn branch(stack: &mut Vec<u64>, operands: usize, target: BranchTarget) {
    let keep = target.keep as usize;
    let destination = operands + target.height as usize;
    let len = stack.len();
    if len >= keep && destination <= len - keep {
        stack.copy_within(len - keep..len, destination);
        stack.truncate(destination + keep);
    }
}

impl<H: 'static> Store<H> {
    fn pop(&mut self) -> u64 {
        // Validation guarantees operands; an empty stack cannot happen in validated code.
        self.stack.pop().unwrap_or(0)
    }

    fn top(&self) -> u64 {
        self.stack.last().copied().unwrap_or(0)
    }

    /// Calls store function `function` from the host.
    pub(super) fn call_function(&mut self, function: u32, args: &[Val]) -> Result<Vec<Val>, Error> {
        let (params, results) = self.signature(function)?;
        if args.len() != params.len() {
            return Err(Error::ArgumentMismatch(alloc::format!(
                "{} arguments given, {} expected",
                args.len(),
                params.len()
            )));
        }
        let entry_stack = self.stack.len();
        let entry_frames = self.frames.len();
        if entry_frames == 0 {
            self.fuel = self.config.fuel.unwrap_or(u64::MAX);
        }
        let references = params.iter().filter(|&&ty| self.is_gc(ty)).count();
        if self.heap.need_gc_before_entering_wasm(references) || self.heap.collection_recommended() {
            self.collect_garbage()?;
        }
        let outcome = self.push_arguments_and_run(function, &params, args);
        let outcome = outcome.and_then(|()| {
            let slots: Vec<u64> = self.stack.get(entry_stack..).map(<[u64]>::to_vec).unwrap_or_default();
            if slots.len() != results.len() {
                return Err(Error::Trap(Trap::Host(alloc::string::String::from("result count mismatch"))));
            }
            let mut values = Vec::with_capacity(results.len());
            for (&ty, slot) in results.iter().zip(slots) {
                values.push(self.slot_to_val(ty, slot)?);
            }
            Ok(values)
        });
        self.stack.truncate(entry_stack);
        self.frames.truncate(entry_frames);
        outcome
    }

    fn push_arguments_and_run(
        &mut self,
        function: u32,
        params: &[crate::types::ValTy],
        args: &[Val],
    ) -> Result<(), Error> {
        for (&ty, value) in params.iter().zip(args) {
            let slot = self.val_to_slot(ty, value)?;
            self.stack.push(slot);
        }
        if self.is_wasm(function) {
            let depth = self.frames.len();
            self.enter(function)?;
            self.execute(depth)
        } else {
            self.call_host(function)
        }
    }

    /// Pushes a frame for Wasm function `function`, whose arguments are on top of the stack.
    fn enter(&mut self, function: u32) -> Result<(), Error> {
        let Some(&Function::Wasm { instance, defined, .. }) = self.functions.get(function as usize) else {
            return Err(Error::ArgumentMismatch(alloc::string::String::from("not a Wasm function")));
        };
        if self.frames.len() >= self.config.max_call_depth as usize {
            return Err(Error::Trap(Trap::CallStackExhausted));
        }
        self.consume_fuel()?;
        let code = self
            .instances
            .get(instance as usize)
            .and_then(|i| i.module.code.get(defined as usize))
            .ok_or_else(|| Error::ArgumentMismatch(alloc::string::String::from("unknown function body")))?;
        let (params, locals) = (code.params as usize, code.locals as usize);
        let base = self.stack.len().checked_sub(params).ok_or(Error::Trap(Trap::CallStackExhausted))?;
        if base + locals > MAX_STACK_SLOTS {
            return Err(Error::Trap(Trap::CallStackExhausted));
        }
        self.stack.resize(base + locals, 0);
        self.frames.push(Frame { instance, defined, base: base as u32, pc: ENTRY });
        self.maybe_collect()?;
        if let Some(frame) = self.frames.last_mut() {
            frame.pc = 0;
        }
        Ok(())
    }

    /// Runs until the frame at depth `entry_depth` returns.
    fn execute(&mut self, entry_depth: usize) -> Result<(), Error> {
        'frames: loop {
            let Some(&frame) = self.frames.last() else { return Ok(()) };
            let instance_index = frame.instance;
            let module = match self.instances.get(instance_index as usize) {
                Some(instance) => instance.module.clone(),
                None => return Err(Error::ArgumentMismatch(alloc::string::String::from("unknown instance"))),
            };
            let Some(function) = module.code.get(frame.defined as usize) else {
                return Err(Error::ArgumentMismatch(alloc::string::String::from("unknown function body")));
            };
            let code = &function.code[..];
            let base = frame.base as usize;
            let operands = base + function.locals as usize;
            let mut pc = frame.pc as usize;
            loop {
                let Some(&instr) = code.get(pc) else {
                    return Err(Error::Trap(Trap::Unreachable));
                };
                match instr {
                    Instr::Unreachable => return Err(Error::Trap(Trap::Unreachable)),
                    Instr::Throw => return Err(Error::Trap(Trap::ExceptionsUnsupported)),
                    Instr::Jump(to) => {
                        pc = to as usize;
                        continue;
                    }
                    Instr::JumpIfZero(to) => {
                        if self.pop() as u32 == 0 {
                            pc = to as usize;
                            continue;
                        }
                    }
                    Instr::Br(target) => {
                        pc = self.take_branch(function, operands, target, pc)?;
                        continue;
                    }
                    Instr::BrIf(target) => {
                        if self.pop() as u32 != 0 {
                            pc = self.take_branch(function, operands, target, pc)?;
                            continue;
                        }
                    }
                    Instr::BrTable { start, count } => {
                        let index = self.pop() as u32;
                        let target = if index < count { start + index } else { start + count };
                        pc = self.take_branch(function, operands, target, pc)?;
                        continue;
                    }
                    Instr::BrOnNull(target) => {
                        if self.top() == 0 {
                            self.pop();
                            pc = self.take_branch(function, operands, target, pc)?;
                            continue;
                        }
                    }
                    Instr::BrOnNonNull(target) => {
                        if self.top() != 0 {
                            pc = self.take_branch(function, operands, target, pc)?;
                            continue;
                        }
                        self.pop();
                    }
                    Instr::BrOnCast { target, ref_type } | Instr::BrOnCastFail { target, ref_type } => {
                        let ty = function.ref_types.get(ref_type as usize).copied().ok_or_else(bad_code)?;
                        let ty = self.canonical_ref(instance_index, ty)?;
                        let matches = self.word_matches(self.top(), ty)?;
                        if matches == matches!(instr, Instr::BrOnCast { .. }) {
                            pc = self.take_branch(function, operands, target, pc)?;
                            continue;
                        }
                    }
                    Instr::Return => {
                        if self.return_from(function.results as usize, base, entry_depth) {
                            return Ok(());
                        }
                        continue 'frames;
                    }
                    Instr::Call(index) => {
                        let callee = self.function_address(instance_index, index)?;
                        if self.call(callee, pc)? {
                            continue 'frames;
                        }
                    }
                    Instr::CallIndirect { type_index, table } => {
                        let callee = self.indirect_callee(instance_index, type_index, table)?;
                        if self.call(callee, pc)? {
                            continue 'frames;
                        }
                    }
                    Instr::CallRef => {
                        let callee = self.ref_callee()?;
                        if self.call(callee, pc)? {
                            continue 'frames;
                        }
                    }
                    Instr::ReturnCall(index) => {
                        let callee = self.function_address(instance_index, index)?;
                        if self.tail_call(callee, function.results as usize, base, entry_depth)? {
                            return Ok(());
                        }
                        continue 'frames;
                    }
                    Instr::ReturnCallIndirect { type_index, table } => {
                        let callee = self.indirect_callee(instance_index, type_index, table)?;
                        if self.tail_call(callee, function.results as usize, base, entry_depth)? {
                            return Ok(());
                        }
                        continue 'frames;
                    }
                    Instr::ReturnCallRef => {
                        let callee = self.ref_callee()?;
                        if self.tail_call(callee, function.results as usize, base, entry_depth)? {
                            return Ok(());
                        }
                        continue 'frames;
                    }
                    Instr::Drop => {
                        self.pop();
                    }
                    Instr::Select => {
                        let condition = self.pop() as u32;
                        let second = self.pop();
                        if condition == 0 {
                            if let Some(first) = self.stack.last_mut() {
                                *first = second;
                            }
                        }
                    }
                    Instr::LocalGet(index) => {
                        let value = self.stack.get(base + index as usize).copied().ok_or_else(bad_code)?;
                        self.stack.push(value);
                    }
                    Instr::LocalSet(index) => {
                        let value = self.pop();
                        *self.stack.get_mut(base + index as usize).ok_or_else(bad_code)? = value;
                    }
                    Instr::LocalTee(index) => {
                        let value = self.top();
                        *self.stack.get_mut(base + index as usize).ok_or_else(bad_code)? = value;
                    }
                    Instr::GlobalGet(index) => self.global_get(instance_index, index)?,
                    Instr::GlobalSet(index) => self.global_set(instance_index, index)?,
                    Instr::Const32(value) => self.stack.push(value as u64),
                    Instr::Const64(value) => self.stack.push(value),
                    Instr::Numeric(op) => numeric_ops::execute(&mut self.stack, op).map_err(Error::Trap)?,
                    Instr::RefNull => self.stack.push(0),
                    Instr::RefIsNull => {
                        let value = self.pop();
                        self.stack.push((value == 0) as u64);
                    }
                    Instr::RefFunc(index) => {
                        let address = self.function_address(instance_index, index)?;
                        self.stack.push(address as u64 + 1);
                    }
                    Instr::RefAsNonNull => {
                        if self.top() == 0 {
                            return Err(Error::Trap(Trap::NullReference));
                        }
                    }
                    Instr::RefEq => {
                        let b = self.pop() as u32;
                        let a = self.pop() as u32;
                        self.stack.push((a == b) as u64);
                    }
                    Instr::RefI31 => {
                        let value = self.pop() as u32 as i32;
                        self.stack.push(GcRef::from_i31(value).as_raw_u32() as u64);
                    }
                    Instr::Convert => {}
                    other => {
                        // Instructions that may allocate record where the frame is, so that a
                        // collection finds this frame's operands through its stack map.
                        if let Some(frame) = self.frames.last_mut() {
                            frame.pc = pc as u32;
                        }
                        self.execute_other(instance_index, function, other)?;
                    }
                }
                pc += 1;
            }
        }
    }

    /// Takes branch `target` from the instruction at `pc`; a backward branch costs fuel.
    fn take_branch(
        &mut self,
        function: &crate::compile::CompiledFunction,
        operands: usize,
        target: u32,
        pc: usize,
    ) -> Result<usize, Error> {
        let target = function.targets.get(target as usize).copied().ok_or_else(bad_code)?;
        if target.pc as usize <= pc {
            self.consume_fuel()?;
        }
        branch(&mut self.stack, operands, target);
        Ok(target.pc as usize)
    }

    /// One unit of fuel (a function entry or a backward branch).
    fn consume_fuel(&mut self) -> Result<(), Error> {
        if self.fuel != u64::MAX {
            self.fuel = self.fuel.checked_sub(1).ok_or(Error::Trap(Trap::OutOfFuel))?;
        }
        Ok(())
    }

    /// Returns from the top frame: its `results` top values move to `base`. True when the
    /// frame at `entry_depth` returned.
    fn return_from(&mut self, results: usize, base: usize, entry_depth: usize) -> bool {
        let len = self.stack.len();
        if len >= results && base <= len - results {
            self.stack.copy_within(len - results..len, base);
            self.stack.truncate(base + results);
        }
        self.frames.pop();
        if self.frames.len() <= entry_depth {
            return true;
        }
        if let Some(caller) = self.frames.last_mut() {
            caller.pc += 1;
        }
        false
    }

    /// Calls `callee` from the instruction at `pc`. True when a Wasm frame was pushed (the loop
    /// switches to it); host functions run to completion here.
    fn call(&mut self, callee: u32, pc: usize) -> Result<bool, Error> {
        if self.is_wasm(callee) {
            if let Some(frame) = self.frames.last_mut() {
                frame.pc = pc as u32;
            }
            self.enter(callee)?;
            Ok(true)
        } else {
            if let Some(frame) = self.frames.last_mut() {
                frame.pc = pc as u32;
            }
            self.call_host(callee)?;
            Ok(false)
        }
    }

    /// A tail call: the top frame is replaced by `callee`'s. True when the frame at
    /// `entry_depth` returned (a host callee finished it).
    fn tail_call(&mut self, callee: u32, results: usize, base: usize, entry_depth: usize) -> Result<bool, Error> {
        if !self.is_wasm(callee) {
            self.call_host(callee)?;
            return Ok(self.return_from(results, base, entry_depth));
        }
        let params = self.wasm_params(callee)?;
        let len = self.stack.len();
        if len >= params && base <= len - params {
            self.stack.copy_within(len - params..len, base);
            self.stack.truncate(base + params);
        }
        self.frames.pop();
        self.enter(callee)?;
        Ok(false)
    }

    /// The parameter count of Wasm function `function`.
    fn wasm_params(&self, function: u32) -> Result<usize, Error> {
        let Some(&Function::Wasm { instance, defined, .. }) = self.functions.get(function as usize) else {
            return Err(bad_code());
        };
        self.instances
            .get(instance as usize)
            .and_then(|i| i.module.code.get(defined as usize))
            .map(|code| code.params as usize)
            .ok_or_else(bad_code)
    }

    /// The store address of global `index` of `instance`.
    pub(super) fn global_address(&self, instance: u32, index: u32) -> Result<u32, Error> {
        self.instances.get(instance as usize).and_then(|i| i.globals.get(index as usize)).copied().ok_or_else(bad_code)
    }

    pub(super) fn function_address(&self, instance: u32, index: u32) -> Result<u32, Error> {
        self.instances
            .get(instance as usize)
            .and_then(|i| i.functions.get(index as usize))
            .copied()
            .ok_or_else(bad_code)
    }

    fn indirect_callee(&mut self, instance: u32, type_index: u32, table: u32) -> Result<u32, Error> {
        let index = self.pop() as u32;
        let instance = self.instances.get(instance as usize).ok_or_else(bad_code)?;
        let expected = instance.types.get(type_index as usize).copied().ok_or_else(bad_code)?;
        let table = instance.tables.get(table as usize).copied().ok_or_else(bad_code)?;
        let table = self.tables.get(table as usize).ok_or_else(bad_code)?;
        let word = *table.elements.get(index as usize).ok_or(Error::Trap(Trap::UndefinedElement))?;
        if word == 0 {
            return Err(Error::Trap(Trap::UninitializedElement));
        }
        let callee = word - 1;
        let actual = self.functions.get(callee as usize).ok_or_else(bad_code)?.type_id();
        if !self.types.id_is_subtype(actual, expected) {
            return Err(Error::Trap(Trap::IndirectCallTypeMismatch));
        }
        Ok(callee)
    }

    fn ref_callee(&mut self) -> Result<u32, Error> {
        match self.pop() as u32 {
            0 => Err(Error::Trap(Trap::NullFunctionReference)),
            word => Ok(word - 1),
        }
    }

    fn global_get(&mut self, instance: u32, index: u32) -> Result<(), Error> {
        let address = self.instances.get(instance as usize).and_then(|i| i.globals.get(index as usize)).copied();
        let global = address.and_then(|a| self.globals.get(a as usize)).ok_or_else(bad_code)?;
        let (gc, value) = (global.gc, global.value);
        if gc {
            // The global keeps its count; Wasm gets a new one through the activations table.
            if let Some(r) = self.heap.retain_raw(value as u32)? {
                self.heap.expose_gc_ref_to_wasm(r)?;
            }
        }
        self.stack.push(value);
        Ok(())
    }

    fn global_set(&mut self, instance: u32, index: u32) -> Result<(), Error> {
        let value = self.pop();
        let address = self.global_address(instance, index)?;
        let gc = self.globals.get(address as usize).ok_or_else(bad_code)?.gc;
        let value = if gc { self.retain_word(value as u32)? as u64 } else { value };
        let global = self.globals.get_mut(address as usize).ok_or_else(bad_code)?;
        let old = core::mem::replace(&mut global.value, value);
        if gc {
            self.release_word(old as u32)?;
        }
        Ok(())
    }
}

pub(super) fn bad_code() -> Error {
    Error::ArgumentMismatch(alloc::string::String::from("internal code names an unknown entity"))
}
