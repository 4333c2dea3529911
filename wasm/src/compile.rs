//! Compiles one function body, while wasmparser validates it, into the internal form
//! ([`CompiledFunction`]): a vector of [`Instr`] with branch targets resolved, a side table of
//! reference types for casts, and the function's stack maps.
//!
//! Stack maps make the collector's roots precise: at every instruction that can collect (an
//! allocation, or a call, where the caller is paused while the callee runs) the validator knows
//! the type of every operand, and the map lists the operand slots (counted from the frame's first
//! operand) that hold heap references. At a call the arguments are left out: they belong to the
//! callee's frame (its parameters) from then on. `gc_locals` lists the locals that hold heap
//! references. Function references are store function addresses, not heap references, and are
//! never roots.

use crate::error::Error;
use crate::instr::{BranchTarget, Extension, Instr, Load, Numeric, Store};
use crate::types::{convert, RefTy};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::{
    BlockType, FrameKind, FuncValidator, FunctionBody, Operator, OperatorsReader, ValidatorResources,
    WasmModuleResources,
};

/// The operand slots holding heap references at instruction `pc`: `map_slots[start..start + len]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackMap {
    pub(crate) pc: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// A function body in the internal form.
#[derive(Debug, Default)]
pub(crate) struct CompiledFunction {
    /// Number of parameters and results.
    pub(crate) params: u32,
    pub(crate) results: u32,
    /// Number of locals, parameters included.
    pub(crate) locals: u32,
    pub(crate) code: Vec<Instr>,
    pub(crate) targets: Vec<BranchTarget>,
    pub(crate) ref_types: Vec<RefTy>,
    pub(crate) gc_locals: Vec<u32>,
    pub(crate) stack_maps: Vec<StackMap>,
    pub(crate) map_slots: Vec<u32>,
}

impl CompiledFunction {
    /// The operand slots holding heap references when the frame is at `pc`.
    pub(crate) fn stack_map(&self, pc: u32) -> &[u32] {
        match self.stack_maps.binary_search_by_key(&pc, |map| map.pc) {
            Ok(found) => {
                let map = self.stack_maps[found];
                self.map_slots.get(map.start as usize..(map.start + map.len) as usize).unwrap_or(&[])
            }
            Err(_) => &[],
        }
    }
}

enum Patch {
    Target(u32),
    Instr(usize),
}

struct Control {
    is_loop: bool,
    loop_pc: u32,
    if_jump: Option<usize>,
    patches: Vec<Patch>,
}

struct Compiler<'v> {
    validator: &'v mut FuncValidator<ValidatorResources>,
    out: CompiledFunction,
    control: Vec<Control>,
}

fn invalid(error: wasmparser::BinaryReaderError) -> Error {
    Error::Invalid(format!("{} (at offset {:#x})", error.message(), error.offset()))
}

fn malformed(error: wasmparser::BinaryReaderError) -> Error {
    Error::Malformed(format!("{} (at offset {:#x})", error.message(), error.offset()))
}

/// Validates and compiles `body`.
pub(crate) fn compile_function(
    validator: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    features: wasmparser::WasmFeatures,
) -> Result<CompiledFunction, Error> {
    let mut reader = body.get_binary_reader();
    validator.read_locals(&mut reader).map_err(invalid)?;
    reader.set_features(features);
    let locals = validator.len_locals();
    let mut gc_locals = Vec::new();
    for index in 0..locals {
        if let Some(ty) = validator.get_local_type(index) {
            if is_gc(validator.resources(), ty) {
                gc_locals.push(index);
            }
        }
    }
    let (params, results) = match validator.resources().type_id_of_function(validator.index()) {
        Some(id) => match &validator.resources().sub_type_at_id(id).composite_type.inner {
            wasmparser::CompositeInnerType::Func(f) => (f.params().len() as u32, f.results().len() as u32),
            _ => (0, 0),
        },
        None => (0, 0),
    };
    let mut compiler = Compiler {
        validator,
        out: CompiledFunction { params, results, locals, gc_locals, ..CompiledFunction::default() },
        control: Vec::new(),
    };
    compiler.control.push(Control { is_loop: false, loop_pc: 0, if_jump: None, patches: Vec::new() });
    let mut operators = OperatorsReader::new(reader);
    while !operators.eof() {
        let offset = operators.original_position();
        let operator = operators.read().map_err(malformed)?;
        compiler.operator(offset, &operator)?;
    }
    operators.finish().map_err(malformed)?;
    if !compiler.control.is_empty() {
        return Err(Error::Malformed(String::from("function body ends without `end`")));
    }
    Ok(compiler.out)
}

fn is_gc(resources: &ValidatorResources, ty: wasmparser::ValType) -> bool {
    match ty {
        wasmparser::ValType::Ref(r) => matches!(
            resources.top_type(&r.heap_type()),
            wasmparser::HeapType::Abstract {
                ty: wasmparser::AbstractHeapType::Any | wasmparser::AbstractHeapType::Extern,
                ..
            }
        ),
        _ => false,
    }
}

impl Compiler<'_> {
    fn pc(&self) -> u32 {
        self.out.code.len() as u32
    }

    fn emit(&mut self, instr: Instr) {
        self.out.code.push(instr);
    }

    fn block_arity(&self, block_type: BlockType) -> (u32, u32) {
        match block_type {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(index) => match self.validator.resources().sub_type_at(index) {
                Some(sub) => match &sub.composite_type.inner {
                    wasmparser::CompositeInnerType::Func(f) => (f.params().len() as u32, f.results().len() as u32),
                    _ => (0, 0),
                },
                None => (0, 0),
            },
        }
    }

    fn function_params(&self, type_index: u32) -> u32 {
        self.block_arity(BlockType::FuncType(type_index)).0
    }

    /// A branch target for the label `depth` levels out, as the stack is before the branch.
    fn target(&mut self, depth: u32) -> Result<u32, Error> {
        let frame = self
            .validator
            .get_control_frame(depth as usize)
            .ok_or_else(|| Error::Invalid(format!("unknown label {depth}")))?;
        let (params, results) = self.block_arity(frame.block_type);
        let is_loop = frame.kind == FrameKind::Loop;
        let keep = if is_loop { params } else { results };
        let height = frame.height as u32;
        let control_index = self
            .control
            .len()
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| Error::Invalid(format!("unknown label {depth}")))?;
        let index = self.out.targets.len() as u32;
        let control = &mut self.control[control_index];
        let pc = if control.is_loop {
            control.loop_pc
        } else {
            control.patches.push(Patch::Target(index));
            u32::MAX
        };
        self.out.targets.push(BranchTarget { pc, keep, height });
        Ok(index)
    }

    /// Records which operand slots hold heap references at the next instruction, leaving out
    /// the top `exclude` operands.
    fn stack_map(&mut self, exclude: u32) {
        let height = self.validator.operand_stack_height();
        let live = height.saturating_sub(exclude);
        let start = self.out.map_slots.len() as u32;
        for slot in 0..live {
            let depth = (height - 1 - slot) as usize;
            if let Some(Some(ty)) = self.validator.get_operand_type(depth) {
                if is_gc(self.validator.resources(), ty) {
                    self.out.map_slots.push(slot);
                }
            }
        }
        let len = self.out.map_slots.len() as u32 - start;
        if len > 0 {
            let pc = self.pc();
            self.out.stack_maps.push(StackMap { pc, start, len });
        }
    }

    fn ref_type(&mut self, ty: RefTy) -> u32 {
        self.out.ref_types.push(ty);
        self.out.ref_types.len() as u32 - 1
    }

    fn patch(&mut self, patch: Patch, pc: u32) {
        match patch {
            Patch::Target(index) => {
                if let Some(target) = self.out.targets.get_mut(index as usize) {
                    target.pc = pc;
                }
            }
            Patch::Instr(position) => {
                if let Some(Instr::Jump(to) | Instr::JumpIfZero(to)) = self.out.code.get_mut(position) {
                    *to = pc;
                }
            }
        }
    }

    fn operator(&mut self, offset: u64, op: &Operator<'_>) -> Result<(), Error> {
        // Work that needs the validator's state before the operator.
        let pre = self.before(op)?;
        self.validator.op(offset, op).map_err(invalid)?;
        self.after(op, pre)
    }

    fn before(&mut self, op: &Operator<'_>) -> Result<Option<Instr>, Error> {
        use Operator as O;
        let instr = match *op {
            O::Br { relative_depth } => Instr::Br(self.target(relative_depth)?),
            O::BrIf { relative_depth } => Instr::BrIf(self.target(relative_depth)?),
            O::BrOnNull { relative_depth } => Instr::BrOnNull(self.target(relative_depth)?),
            O::BrOnNonNull { relative_depth } => Instr::BrOnNonNull(self.target(relative_depth)?),
            O::BrOnCast { relative_depth, to_ref_type, .. } => {
                let target = self.target(relative_depth)?;
                Instr::BrOnCast { target, ref_type: self.ref_type(convert::ref_type(to_ref_type)) }
            }
            O::BrOnCastFail { relative_depth, to_ref_type, .. } => {
                let target = self.target(relative_depth)?;
                Instr::BrOnCastFail { target, ref_type: self.ref_type(convert::ref_type(to_ref_type)) }
            }
            O::BrTable { ref targets } => {
                let mut depths = Vec::with_capacity(targets.len() as usize + 1);
                for depth in targets.targets() {
                    depths.push(depth.map_err(malformed)?);
                }
                depths.push(targets.default());
                let start = self.out.targets.len() as u32;
                let mut created = Vec::with_capacity(depths.len());
                for depth in depths {
                    created.push(self.target(depth)?);
                }
                // `target` appends in order, so the table is contiguous from `start`.
                Instr::BrTable { start, count: created.len() as u32 - 1 }
            }
            O::Call { function_index } => {
                let type_index = self.validator.resources().type_index_of_function(function_index).unwrap_or(0);
                let params = self.function_params(type_index);
                self.stack_map(params);
                Instr::Call(function_index)
            }
            O::CallIndirect { type_index, table_index } => {
                let params = self.function_params(type_index);
                self.stack_map(params + 1);
                Instr::CallIndirect { type_index, table: table_index }
            }
            O::CallRef { type_index } => {
                let params = self.function_params(type_index);
                self.stack_map(params + 1);
                Instr::CallRef
            }
            O::StructNew { struct_type_index } => {
                self.stack_map(0);
                Instr::StructNew(struct_type_index)
            }
            O::StructNewDefault { struct_type_index } => {
                self.stack_map(0);
                Instr::StructNewDefault(struct_type_index)
            }
            O::ArrayNew { array_type_index } => {
                self.stack_map(0);
                Instr::ArrayNew(array_type_index)
            }
            O::ArrayNewDefault { array_type_index } => {
                self.stack_map(0);
                Instr::ArrayNewDefault(array_type_index)
            }
            O::ArrayNewFixed { array_type_index, array_size } => {
                self.stack_map(0);
                Instr::ArrayNewFixed { type_index: array_type_index, count: array_size }
            }
            O::ArrayNewData { array_type_index, array_data_index } => {
                self.stack_map(0);
                Instr::ArrayNewData { type_index: array_type_index, segment: array_data_index }
            }
            O::ArrayNewElem { array_type_index, array_elem_index } => {
                self.stack_map(0);
                Instr::ArrayNewElem { type_index: array_type_index, segment: array_elem_index }
            }
            _ => return Ok(None),
        };
        Ok(Some(instr))
    }

    fn after(&mut self, op: &Operator<'_>, pre: Option<Instr>) -> Result<(), Error> {
        use Operator as O;
        if let Some(instr) = pre {
            self.emit(instr);
            return Ok(());
        }
        let instr = match *op {
            O::Nop => return Ok(()),
            // Nothing ever throws (`throw` traps), so a `try_table` is a block whose catch
            // clauses never fire.
            O::Block { .. } | O::TryTable { .. } => {
                self.control.push(Control { is_loop: false, loop_pc: 0, if_jump: None, patches: Vec::new() });
                return Ok(());
            }
            O::Loop { .. } => {
                let pc = self.pc();
                self.control.push(Control { is_loop: true, loop_pc: pc, if_jump: None, patches: Vec::new() });
                return Ok(());
            }
            O::If { .. } => {
                let position = self.out.code.len();
                self.emit(Instr::JumpIfZero(u32::MAX));
                self.control.push(Control { is_loop: false, loop_pc: 0, if_jump: Some(position), patches: Vec::new() });
                return Ok(());
            }
            O::Else => {
                let position = self.out.code.len();
                self.emit(Instr::Jump(u32::MAX));
                let pc = self.pc();
                let control = self.control.last_mut().ok_or_else(|| Error::Invalid(String::from("else outside if")))?;
                control.patches.push(Patch::Instr(position));
                if let Some(jump) = control.if_jump.take() {
                    self.patch(Patch::Instr(jump), pc);
                }
                return Ok(());
            }
            O::End => {
                let control = self.control.pop().ok_or_else(|| Error::Invalid(String::from("unbalanced end")))?;
                let pc = self.pc();
                if let Some(jump) = control.if_jump {
                    self.patch(Patch::Instr(jump), pc);
                }
                for patch in control.patches {
                    self.patch(patch, pc);
                }
                if self.control.is_empty() {
                    self.emit(Instr::Return);
                }
                return Ok(());
            }
            O::Unreachable => Instr::Unreachable,
            O::Throw { .. } | O::ThrowRef => Instr::Throw,
            O::Return => Instr::Return,
            O::ReturnCall { function_index } => Instr::ReturnCall(function_index),
            O::ReturnCallIndirect { type_index, table_index } => {
                Instr::ReturnCallIndirect { type_index, table: table_index }
            }
            O::ReturnCallRef { .. } => Instr::ReturnCallRef,
            O::Drop => Instr::Drop,
            O::Select | O::TypedSelect { .. } | O::TypedSelectMulti { .. } => Instr::Select,
            O::LocalGet { local_index } => Instr::LocalGet(local_index),
            O::LocalSet { local_index } => Instr::LocalSet(local_index),
            O::LocalTee { local_index } => Instr::LocalTee(local_index),
            O::GlobalGet { global_index } => Instr::GlobalGet(global_index),
            O::GlobalSet { global_index } => Instr::GlobalSet(global_index),
            O::TableGet { table } => Instr::TableGet(table),
            O::TableSet { table } => Instr::TableSet(table),
            O::TableSize { table } => Instr::TableSize(table),
            O::TableGrow { table } => Instr::TableGrow(table),
            O::TableFill { table } => Instr::TableFill(table),
            O::TableCopy { dst_table, src_table } => Instr::TableCopy { destination: dst_table, source: src_table },
            O::TableInit { elem_index, table } => Instr::TableInit { segment: elem_index, table },
            O::ElemDrop { elem_index } => Instr::ElemDrop(elem_index),
            O::I32Load { memarg } => load(Load::I32, memarg),
            O::I64Load { memarg } => load(Load::I64, memarg),
            O::F32Load { memarg } => load(Load::F32, memarg),
            O::F64Load { memarg } => load(Load::F64, memarg),
            O::I32Load8S { memarg } => load(Load::I32S8, memarg),
            O::I32Load8U { memarg } => load(Load::I32U8, memarg),
            O::I32Load16S { memarg } => load(Load::I32S16, memarg),
            O::I32Load16U { memarg } => load(Load::I32U16, memarg),
            O::I64Load8S { memarg } => load(Load::I64S8, memarg),
            O::I64Load8U { memarg } => load(Load::I64U8, memarg),
            O::I64Load16S { memarg } => load(Load::I64S16, memarg),
            O::I64Load16U { memarg } => load(Load::I64U16, memarg),
            O::I64Load32S { memarg } => load(Load::I64S32, memarg),
            O::I64Load32U { memarg } => load(Load::I64U32, memarg),
            O::I32Store { memarg } => store(Store::I32, memarg),
            O::I64Store { memarg } => store(Store::I64, memarg),
            O::F32Store { memarg } => store(Store::F32, memarg),
            O::F64Store { memarg } => store(Store::F64, memarg),
            O::I32Store8 { memarg } => store(Store::I32As8, memarg),
            O::I32Store16 { memarg } => store(Store::I32As16, memarg),
            O::I64Store8 { memarg } => store(Store::I64As8, memarg),
            O::I64Store16 { memarg } => store(Store::I64As16, memarg),
            O::I64Store32 { memarg } => store(Store::I64As32, memarg),
            O::MemorySize { mem } => Instr::MemorySize(mem),
            O::MemoryGrow { mem } => Instr::MemoryGrow(mem),
            O::MemoryFill { mem } => Instr::MemoryFill(mem),
            O::MemoryCopy { dst_mem, src_mem } => Instr::MemoryCopy { destination: dst_mem, source: src_mem },
            O::MemoryInit { data_index, mem } => Instr::MemoryInit { segment: data_index, memory: mem },
            O::DataDrop { data_index } => Instr::DataDrop(data_index),
            O::I32Const { value } => Instr::Const32(value as u32),
            O::I64Const { value } => Instr::Const64(value as u64),
            O::F32Const { value } => Instr::Const32(value.bits()),
            O::F64Const { value } => Instr::Const64(value.bits()),
            O::RefNull { .. } => Instr::RefNull,
            O::RefIsNull => Instr::RefIsNull,
            O::RefFunc { function_index } => Instr::RefFunc(function_index),
            O::RefAsNonNull => Instr::RefAsNonNull,
            O::RefEq => Instr::RefEq,
            O::RefTestNonNull { hty } => Instr::RefTest(self.heap_ref_type(false, hty)),
            O::RefTestNullable { hty } => Instr::RefTest(self.heap_ref_type(true, hty)),
            O::RefCastNonNull { hty } => Instr::RefCast(self.heap_ref_type(false, hty)),
            O::RefCastNullable { hty } => Instr::RefCast(self.heap_ref_type(true, hty)),
            O::RefI31 => Instr::RefI31,
            O::I31GetS => Instr::I31Get(Extension::Signed),
            O::I31GetU => Instr::I31Get(Extension::Unsigned),
            O::AnyConvertExtern | O::ExternConvertAny => Instr::Convert,
            O::StructGet { field_index, .. } => Instr::StructGet { field: field_index, extension: Extension::None },
            O::StructGetS { field_index, .. } => Instr::StructGet { field: field_index, extension: Extension::Signed },
            O::StructGetU { field_index, .. } => {
                Instr::StructGet { field: field_index, extension: Extension::Unsigned }
            }
            O::StructSet { field_index, .. } => Instr::StructSet(field_index),
            O::ArrayGet { .. } => Instr::ArrayGet(Extension::None),
            O::ArrayGetS { .. } => Instr::ArrayGet(Extension::Signed),
            O::ArrayGetU { .. } => Instr::ArrayGet(Extension::Unsigned),
            O::ArraySet { .. } => Instr::ArraySet,
            O::ArrayLen => Instr::ArrayLen,
            O::ArrayFill { .. } => Instr::ArrayFill,
            O::ArrayCopy { .. } => Instr::ArrayCopy,
            O::ArrayInitData { array_data_index, .. } => Instr::ArrayInitData(array_data_index),
            O::ArrayInitElem { array_elem_index, .. } => Instr::ArrayInitElem(array_elem_index),
            ref other => match numeric(other) {
                Some(numeric) => Instr::Numeric(numeric),
                None => return Err(Error::Invalid(format!("unsupported instruction {other:?}"))),
            },
        };
        self.emit(instr);
        Ok(())
    }

    fn heap_ref_type(&mut self, nullable: bool, heap: wasmparser::HeapType) -> u32 {
        self.ref_type(RefTy { nullable, heap: convert::heap_type(heap) })
    }
}

fn memory_index(memarg: wasmparser::MemArg) -> u32 {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(index) => index,
        // Array-targeted accesses are not enabled in the validator.
        wasmparser::MemArgTarget::Array(_) => u32::MAX,
    }
}

fn load(op: Load, memarg: wasmparser::MemArg) -> Instr {
    Instr::Load { op, memory: memory_index(memarg), offset: memarg.offset as u32 }
}

fn store(op: Store, memarg: wasmparser::MemArg) -> Instr {
    Instr::Store { op, memory: memory_index(memarg), offset: memarg.offset as u32 }
}

fn numeric(op: &Operator<'_>) -> Option<Numeric> {
    use Numeric as N;
    use Operator as O;
    Some(match op {
        O::I32Eqz => N::I32Eqz,
        O::I32Eq => N::I32Eq,
        O::I32Ne => N::I32Ne,
        O::I32LtS => N::I32LtS,
        O::I32LtU => N::I32LtU,
        O::I32GtS => N::I32GtS,
        O::I32GtU => N::I32GtU,
        O::I32LeS => N::I32LeS,
        O::I32LeU => N::I32LeU,
        O::I32GeS => N::I32GeS,
        O::I32GeU => N::I32GeU,
        O::I64Eqz => N::I64Eqz,
        O::I64Eq => N::I64Eq,
        O::I64Ne => N::I64Ne,
        O::I64LtS => N::I64LtS,
        O::I64LtU => N::I64LtU,
        O::I64GtS => N::I64GtS,
        O::I64GtU => N::I64GtU,
        O::I64LeS => N::I64LeS,
        O::I64LeU => N::I64LeU,
        O::I64GeS => N::I64GeS,
        O::I64GeU => N::I64GeU,
        O::F32Eq => N::F32Eq,
        O::F32Ne => N::F32Ne,
        O::F32Lt => N::F32Lt,
        O::F32Gt => N::F32Gt,
        O::F32Le => N::F32Le,
        O::F32Ge => N::F32Ge,
        O::F64Eq => N::F64Eq,
        O::F64Ne => N::F64Ne,
        O::F64Lt => N::F64Lt,
        O::F64Gt => N::F64Gt,
        O::F64Le => N::F64Le,
        O::F64Ge => N::F64Ge,
        O::I32Clz => N::I32Clz,
        O::I32Ctz => N::I32Ctz,
        O::I32Popcnt => N::I32Popcnt,
        O::I32Add => N::I32Add,
        O::I32Sub => N::I32Sub,
        O::I32Mul => N::I32Mul,
        O::I32DivS => N::I32DivS,
        O::I32DivU => N::I32DivU,
        O::I32RemS => N::I32RemS,
        O::I32RemU => N::I32RemU,
        O::I32And => N::I32And,
        O::I32Or => N::I32Or,
        O::I32Xor => N::I32Xor,
        O::I32Shl => N::I32Shl,
        O::I32ShrS => N::I32ShrS,
        O::I32ShrU => N::I32ShrU,
        O::I32Rotl => N::I32Rotl,
        O::I32Rotr => N::I32Rotr,
        O::I64Clz => N::I64Clz,
        O::I64Ctz => N::I64Ctz,
        O::I64Popcnt => N::I64Popcnt,
        O::I64Add => N::I64Add,
        O::I64Sub => N::I64Sub,
        O::I64Mul => N::I64Mul,
        O::I64DivS => N::I64DivS,
        O::I64DivU => N::I64DivU,
        O::I64RemS => N::I64RemS,
        O::I64RemU => N::I64RemU,
        O::I64And => N::I64And,
        O::I64Or => N::I64Or,
        O::I64Xor => N::I64Xor,
        O::I64Shl => N::I64Shl,
        O::I64ShrS => N::I64ShrS,
        O::I64ShrU => N::I64ShrU,
        O::I64Rotl => N::I64Rotl,
        O::I64Rotr => N::I64Rotr,
        O::F32Abs => N::F32Abs,
        O::F32Neg => N::F32Neg,
        O::F32Ceil => N::F32Ceil,
        O::F32Floor => N::F32Floor,
        O::F32Trunc => N::F32Trunc,
        O::F32Nearest => N::F32Nearest,
        O::F32Sqrt => N::F32Sqrt,
        O::F32Add => N::F32Add,
        O::F32Sub => N::F32Sub,
        O::F32Mul => N::F32Mul,
        O::F32Div => N::F32Div,
        O::F32Min => N::F32Min,
        O::F32Max => N::F32Max,
        O::F32Copysign => N::F32Copysign,
        O::F64Abs => N::F64Abs,
        O::F64Neg => N::F64Neg,
        O::F64Ceil => N::F64Ceil,
        O::F64Floor => N::F64Floor,
        O::F64Trunc => N::F64Trunc,
        O::F64Nearest => N::F64Nearest,
        O::F64Sqrt => N::F64Sqrt,
        O::F64Add => N::F64Add,
        O::F64Sub => N::F64Sub,
        O::F64Mul => N::F64Mul,
        O::F64Div => N::F64Div,
        O::F64Min => N::F64Min,
        O::F64Max => N::F64Max,
        O::F64Copysign => N::F64Copysign,
        O::I32WrapI64 => N::I32WrapI64,
        O::I32TruncF32S => N::I32TruncF32S,
        O::I32TruncF32U => N::I32TruncF32U,
        O::I32TruncF64S => N::I32TruncF64S,
        O::I32TruncF64U => N::I32TruncF64U,
        O::I64ExtendI32S => N::I64ExtendI32S,
        O::I64ExtendI32U => N::I64ExtendI32U,
        O::I64TruncF32S => N::I64TruncF32S,
        O::I64TruncF32U => N::I64TruncF32U,
        O::I64TruncF64S => N::I64TruncF64S,
        O::I64TruncF64U => N::I64TruncF64U,
        O::F32ConvertI32S => N::F32ConvertI32S,
        O::F32ConvertI32U => N::F32ConvertI32U,
        O::F32ConvertI64S => N::F32ConvertI64S,
        O::F32ConvertI64U => N::F32ConvertI64U,
        O::F32DemoteF64 => N::F32DemoteF64,
        O::F64ConvertI32S => N::F64ConvertI32S,
        O::F64ConvertI32U => N::F64ConvertI32U,
        O::F64ConvertI64S => N::F64ConvertI64S,
        O::F64ConvertI64U => N::F64ConvertI64U,
        O::F64PromoteF32 => N::F64PromoteF32,
        O::I32ReinterpretF32 => N::I32ReinterpretF32,
        O::I64ReinterpretF64 => N::I64ReinterpretF64,
        O::F32ReinterpretI32 => N::F32ReinterpretI32,
        O::F64ReinterpretI64 => N::F64ReinterpretI64,
        O::I32Extend8S => N::I32Extend8S,
        O::I32Extend16S => N::I32Extend16S,
        O::I64Extend8S => N::I64Extend8S,
        O::I64Extend16S => N::I64Extend16S,
        O::I64Extend32S => N::I64Extend32S,
        O::I32TruncSatF32S => N::I32TruncSatF32S,
        O::I32TruncSatF32U => N::I32TruncSatF32U,
        O::I32TruncSatF64S => N::I32TruncSatF64S,
        O::I32TruncSatF64U => N::I32TruncSatF64U,
        O::I64TruncSatF32S => N::I64TruncSatF32S,
        O::I64TruncSatF32U => N::I64TruncSatF32U,
        O::I64TruncSatF64S => N::I64TruncSatF64S,
        O::I64TruncSatF64U => N::I64TruncSatF64U,
        _ => return None,
    })
}
