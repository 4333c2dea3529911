//! Instantiation: resolving imports against host definitions and registered instances (with
//! Wasm 3.0's import subtyping), canonicalizing the module's types, creating functions, tables,
//! memories and globals, evaluating constant expressions, applying active segments and running
//! the start function.
//!
//! Constant expressions run on a small stack of their own whose heap references each own a count
//! (so they need no roots): a constructor takes its own counts on the fields, then the operands'
//! counts are released; the final value's count moves into the global, table or segment.

use super::exec::bad_code;
use super::{ElementInstance, Extern, Function, Global, InstanceData, Memory, Store, Table, PAGE};
use crate::error::Error;
use crate::module::{ConstOp, ImportKind, Module, SegmentMode};
use crate::types::{HeapTy, ValTy};
use crate::values::Instance;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use drc_heap::types::StorageType;
use drc_heap::wasm_slots::slot_value;
use drc_heap::{GcRef, ValueRef};

impl<H: 'static> Store<H> {
    fn resolve(&self, module: &str, name: &str) -> Option<Extern> {
        if let Some(&instance) = self.registered.get(module) {
            if let Some(&found) = self.instances.get(instance as usize).and_then(|i| i.exports.get(name)) {
                return Some(found);
            }
        }
        self.definitions.get(&(String::from(module), String::from(name))).copied()
    }

    /// Instantiates `module`: links its imports, then runs its segments and start function.
    pub fn instantiate(&mut self, module: &Module) -> Result<Instance, Error> {
        let data = module.data.clone();
        let types = self.types.canonicalize(&mut self.heap, &data.types, &data.rec_groups)?;
        let canonical =
            |ty: ValTy| ty.map(&|index| HeapTy::Index(types.get(index as usize).copied().unwrap_or(u32::MAX)));
        let mut instance = InstanceData {
            module: data.clone(),
            types: types.clone(),
            functions: Vec::new(),
            tables: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            tags: Vec::new(),
            elements: Vec::new(),
            data: Vec::new(),
            exports: BTreeMap::new(),
        };
        // Imports.
        for import in &data.imports {
            let unlinkable = |what: &str| Error::Unlinkable(format!("{what} {}::{}", import.module, import.name));
            let found = self.resolve(&import.module, &import.name).ok_or_else(|| unlinkable("unknown import"))?;
            match (import.kind, found) {
                (ImportKind::Func(type_index), Extern::Func(address)) => {
                    let expected = *types.get(type_index as usize).ok_or_else(bad_code)?;
                    let actual = self.functions.get(address as usize).ok_or_else(bad_code)?.type_id();
                    if !self.types.id_is_subtype(actual, expected) {
                        return Err(unlinkable("incompatible import type for"));
                    }
                    instance.functions.push(address);
                }
                (ImportKind::Table(ty), Extern::Table(address)) => {
                    let table = self.tables.get(address as usize).ok_or_else(bad_code)?;
                    let expected = canonical(ValTy::Ref(ty.element));
                    let actual = ValTy::Ref(table.ty.element);
                    let size = table.elements.len() as u64;
                    let limits_ok = size >= ty.min
                        && match ty.max {
                            None => true,
                            Some(max) => table.ty.max.is_some_and(|m| m <= max),
                        };
                    if !(limits_ok
                        && self.types.val_is_subtype(actual, expected)
                        && self.types.val_is_subtype(expected, actual))
                    {
                        return Err(unlinkable("incompatible import type for"));
                    }
                    instance.tables.push(address);
                }
                (ImportKind::Memory(ty), Extern::Memory(address)) => {
                    let memory = self.memories.get(address as usize).ok_or_else(bad_code)?;
                    let pages = memory.bytes.len() as u64 / PAGE;
                    let limits_ok = pages >= ty.min
                        && match ty.max {
                            None => true,
                            Some(max) => memory.max_pages <= max,
                        };
                    if !limits_ok {
                        return Err(unlinkable("incompatible import type for"));
                    }
                    instance.memories.push(address);
                }
                (ImportKind::Global(ty), Extern::Global(address)) => {
                    let global = self.globals.get(address as usize).ok_or_else(bad_code)?;
                    let expected = canonical(ty.content);
                    let actual = global.ty.content;
                    let ok = global.ty.mutable == ty.mutable
                        && self.types.val_is_subtype(actual, expected)
                        && (!ty.mutable || self.types.val_is_subtype(expected, actual));
                    if !ok {
                        return Err(unlinkable("incompatible import type for"));
                    }
                    instance.globals.push(address);
                }
                (ImportKind::Tag(type_index), Extern::Tag(address)) => {
                    let expected = *types.get(type_index as usize).ok_or_else(bad_code)?;
                    if self.tags.get(address as usize) != Some(&expected) {
                        return Err(unlinkable("incompatible import type for"));
                    }
                    instance.tags.push(address);
                }
                _ => return Err(unlinkable("incompatible import type for")),
            }
        }
        // Defined functions.
        let instance_index = self.instances.len() as u32;
        for (defined, &type_index) in data.functions.iter().skip(data.imported_functions as usize).enumerate() {
            let type_id = *types.get(type_index as usize).ok_or_else(bad_code)?;
            self.functions.push(Function::Wasm { instance: instance_index, defined: defined as u32, type_id });
            instance.functions.push(self.functions.len() as u32 - 1);
        }
        let imported_tags = instance.tags.len();
        for &type_index in data.tags.iter().skip(imported_tags) {
            self.tags.push(*types.get(type_index as usize).ok_or_else(bad_code)?);
            instance.tags.push(self.tags.len() as u32 - 1);
        }
        for memory in &data.memories {
            let bytes = super::zeroed_pages(memory.min, self.config.max_memory_pages)?;
            self.memories.push(Memory { bytes, max_pages: memory.max.unwrap_or(super::MAX_PAGES) });
            instance.memories.push(self.memories.len() as u32 - 1);
        }
        // The instance exists from here on (constant expressions read its globals and
        // functions); a failure later leaves it in the store, unexported, as the spec allows.
        self.instances.push(instance);
        for (ty, init) in &data.tables {
            let element = match canonical(ValTy::Ref(ty.element)) {
                ValTy::Ref(r) => r,
                _ => return Err(bad_code()),
            };
            let gc = self.is_gc(ValTy::Ref(element));
            let word = match init {
                Some(expression) => self.evaluate(instance_index, expression)? as u32,
                None => 0,
            };
            self.tables.push(Table {
                ty: crate::module::TableTy { element, min: ty.min, max: ty.max },
                gc,
                elements: Vec::new(),
            });
            let address = self.tables.len() as u32 - 1;
            self.instances[instance_index as usize].tables.push(address);
            let grown = self.grow_table(address, ty.min as u32, word);
            if gc {
                self.release_word(word)?;
            }
            if grown?.is_none() {
                return Err(Error::ResourceLimit(format!("a table of {} elements", ty.min)));
            }
        }
        for (ty, init) in &data.globals {
            let content = canonical(ty.content);
            let gc = self.is_gc(content);
            let value = self.evaluate(instance_index, init)?;
            self.globals.push(Global { ty: crate::module::GlobalTy { content, mutable: ty.mutable }, gc, value });
            let address = self.globals.len() as u32 - 1;
            self.instances[instance_index as usize].globals.push(address);
        }
        let mut exports = BTreeMap::new();
        {
            let instance = &self.instances[instance_index as usize];
            for (name, kind, index) in &data.exports {
                let index = *index as usize;
                let found = match kind {
                    crate::values::ExternKind::Func => instance.functions.get(index).map(|&a| Extern::Func(a)),
                    crate::values::ExternKind::Table => instance.tables.get(index).map(|&a| Extern::Table(a)),
                    crate::values::ExternKind::Memory => instance.memories.get(index).map(|&a| Extern::Memory(a)),
                    crate::values::ExternKind::Global => instance.globals.get(index).map(|&a| Extern::Global(a)),
                    crate::values::ExternKind::Tag => instance.tags.get(index).map(|&a| Extern::Tag(a)),
                };
                if let Some(found) = found {
                    exports.insert(name.clone(), found);
                }
            }
        }
        self.instances[instance_index as usize].exports = exports;
        // Segments.
        for segment in &data.elements {
            let element = match canonical(ValTy::Ref(segment.element)) {
                ValTy::Ref(r) => r,
                _ => return Err(bad_code()),
            };
            let gc = self.is_gc(ValTy::Ref(element));
            let mut words = Vec::with_capacity(segment.items.len());
            for item in &segment.items {
                match self.evaluate(instance_index, item) {
                    Ok(word) => words.push(word as u32),
                    Err(error) => {
                        if gc {
                            for word in words {
                                self.release_word(word)?;
                            }
                        }
                        return Err(error);
                    }
                }
            }
            self.instances[instance_index as usize].elements.push(ElementInstance { gc, words });
        }
        for segment in &data.data {
            self.instances[instance_index as usize].data.push(segment.bytes.clone());
        }
        for (index, segment) in data.elements.iter().enumerate() {
            match &segment.mode {
                SegmentMode::Active { index: table, offset } => {
                    let offset = self.evaluate(instance_index, offset)?;
                    let count = segment.items.len() as u64;
                    self.init_table(instance_index, index as u32, *table, offset as u32 as u64, 0, count)?;
                    self.elem_drop(instance_index, index as u32)?;
                }
                SegmentMode::Declared => self.elem_drop(instance_index, index as u32)?,
                SegmentMode::Passive => {}
            }
        }
        for (index, segment) in data.data.iter().enumerate() {
            if let SegmentMode::Active { index: memory, offset } = &segment.mode {
                let offset = self.evaluate(instance_index, offset)?;
                let count = segment.bytes.len() as u64;
                self.init_memory(instance_index, index as u32, *memory, offset as u32 as u64, 0, count)?;
                self.data_drop(instance_index, index as u32)?;
            }
        }
        if let Some(start) = data.start {
            let function = self.function_address(instance_index, start)?;
            self.call_function(function, &[])?;
        }
        Ok(Instance(instance_index))
    }

    /// Evaluates a constant expression of `instance`. A heap reference result owns a count.
    fn evaluate(&mut self, instance: u32, expression: &[ConstOp]) -> Result<u64, Error> {
        // Each entry: the slot and whether it owns a heap count.
        let mut stack: Vec<(u64, bool)> = Vec::new();
        let outcome = self.evaluate_on(instance, expression, &mut stack);
        let result = match outcome {
            Ok(()) if stack.len() == 1 => Ok(stack.pop().map_or(0, |(slot, _)| slot)),
            Ok(()) => Err(bad_code()),
            Err(error) => Err(error),
        };
        for (slot, counted) in stack {
            if counted {
                self.release_word(slot as u32)?;
            }
        }
        result
    }

    fn evaluate_on(
        &mut self,
        instance: u32,
        expression: &[ConstOp],
        stack: &mut Vec<(u64, bool)>,
    ) -> Result<(), Error> {
        for &op in expression {
            match op {
                ConstOp::Const32(v) => stack.push((v as u64, false)),
                ConstOp::Const64(v) => stack.push((v, false)),
                ConstOp::RefNull => stack.push((0, false)),
                ConstOp::RefFunc(index) => stack.push((self.function_address(instance, index)? as u64 + 1, false)),
                ConstOp::GlobalGet(index) => {
                    let address = self.global_address(instance, index)?;
                    let global = self.globals.get(address as usize).ok_or_else(bad_code)?;
                    let (gc, value) = (global.gc, global.value);
                    if gc {
                        self.retain_word(value as u32)?;
                    }
                    stack.push((value, gc));
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let (b, _) = stack.pop().ok_or_else(bad_code)?;
                    let (a, _) = stack.pop().ok_or_else(bad_code)?;
                    let (a, b) = (a as u32, b as u32);
                    let value = match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    };
                    stack.push((value as u64, false));
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let (b, _) = stack.pop().ok_or_else(bad_code)?;
                    let (a, _) = stack.pop().ok_or_else(bad_code)?;
                    let value = match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    };
                    stack.push((value, false));
                }
                ConstOp::RefI31 => {
                    let (value, _) = stack.pop().ok_or_else(bad_code)?;
                    stack.push((GcRef::from_i31(value as u32 as i32).as_raw_u32() as u64, false));
                }
                ConstOp::Convert => {}
                ConstOp::StructNew(type_index)
                | ConstOp::StructNewDefault(type_index)
                | ConstOp::ArrayNew(type_index)
                | ConstOp::ArrayNewDefault(type_index)
                | ConstOp::ArrayNewFixed(type_index, _) => {
                    let id = self
                        .instances
                        .get(instance as usize)
                        .and_then(|i| i.types.get(type_index as usize))
                        .copied()
                        .ok_or_else(bad_code)?;
                    let ty = self.types.heap_type(id).ok_or_else(bad_code)?;
                    let (storage, operands): (Vec<StorageType>, usize) = match op {
                        ConstOp::StructNew(_) => {
                            let fields = self.heap.types().struct_layout(ty)?.0.fields.clone();
                            let n = fields.len();
                            (fields, n)
                        }
                        ConstOp::StructNewDefault(_) => (Vec::new(), 0),
                        ConstOp::ArrayNew(_) => (vec![self.heap.types().array_layout(ty)?.0.element], 2),
                        ConstOp::ArrayNewDefault(_) => (Vec::new(), 1),
                        ConstOp::ArrayNewFixed(_, n) => {
                            let element = self.heap.types().array_layout(ty)?.0.element;
                            (vec![element; n as usize], n as usize)
                        }
                        _ => return Err(bad_code()),
                    };
                    let start = stack.len().checked_sub(operands).ok_or_else(bad_code)?;
                    let slots: Vec<u64> = stack[start..].iter().map(|&(s, _)| s).collect();
                    let holders: Vec<Option<GcRef>> = slots.iter().map(|&s| GcRef::from_raw_u32(s as u32)).collect();
                    // The operands as heap values, for struct.new and array.new_fixed.
                    let values: Vec<ValueRef<'_>> = storage
                        .iter()
                        .zip(&slots)
                        .zip(&holders)
                        .map(|((&st, &sl), h)| slot_value(st, sl, h))
                        .collect::<drc_heap::Result<_>>()?;
                    let r = match op {
                        ConstOp::StructNew(_) => self.allocate(|heap| heap.struct_new(ty, &values))?,
                        ConstOp::StructNewDefault(_) => self.allocate(|heap| heap.struct_new_default(ty))?,
                        ConstOp::ArrayNew(_) => {
                            let element = storage[0];
                            let init = slot_value(element, slots[0], &holders[0])?;
                            let len = slots[1] as u32;
                            self.allocate(|heap| heap.array_new(ty, len, init))?
                        }
                        ConstOp::ArrayNewDefault(_) => {
                            let element = self.heap.types().array_layout(ty)?.0.element;
                            let len = slots[0] as u32;
                            self.allocate(|heap| heap.array_new(ty, len, ValueRef::default_for(element)))?
                        }
                        _ => self.allocate(|heap| heap.array_new_fixed(ty, &values))?,
                    };
                    for (slot, counted) in stack.drain(start..) {
                        if counted {
                            if let Some(r) = GcRef::from_raw_u32(slot as u32) {
                                self.heap.drop_ref(r)?;
                            }
                        }
                    }
                    stack.push((r.as_raw_u32() as u64, true));
                }
            }
        }
        Ok(())
    }
}
