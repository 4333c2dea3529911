//! The host side of the store: host definitions (functions, globals, tables, memories),
//! conversions between host values ([`Val`]) and stack slots, the host-handle table of counted
//! references, and [`HostContext`], what host functions get.
//!
//! A [`HostHandle`] is a slot of the handle table holding one counted reference; it stays valid
//! until [`Store::release`]. Values that leave Wasm as references get a new handle (the count is
//! taken while the word is still covered by the activations table); handles entering Wasm are
//! cloned and exposed.

use super::handles::Handles;
use super::{Extern, Function, Global, Memory, Store, Table};
use crate::error::{Error, Trap};
use crate::module::{GlobalTy, TableTy};
use crate::types::{Abstract, HeapTy, Hierarchy, RefTy, ValTy};
use crate::values::{FuncRef, HeapType, Ref, RefInfo, RefType, Val, ValType};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use drc_heap::{GcRef, Heap, Kind};

/// What a host function gets: the heap (to allocate externrefs and inspect references) and the
/// store's handle table.
pub struct HostContext<'a, H> {
    pub(super) heap: &'a mut Heap<H>,
    pub(super) handles: &'a mut Handles,
}

impl<H> HostContext<'_, H> {
    /// A new host externref holding `data`.
    pub fn externref(&mut self, data: H) -> Result<Val, Error> {
        new_externref(self.heap, self.handles, data)
    }

    /// What `value` is.
    pub fn ref_info(&self, value: &Val) -> Result<RefInfo<'_, H>, Error> {
        ref_info(self.heap, self.handles, value)
    }

    /// The heap.
    pub fn heap(&self) -> &Heap<H> {
        self.heap
    }

    /// A handle to the same reference as `value` that stays valid after the host function
    /// returns (until [`Store::release`]); other values come back unchanged.
    pub fn keep(&mut self, value: &Val) -> Result<Val, Error> {
        match value {
            Val::Ref(Ref::Gc(h)) => {
                let r = self.handles.get(*h)?;
                let kept = self.heap.clone_ref(r)?;
                Ok(Val::Ref(Ref::Gc(self.handles.insert(kept))))
            }
            other => Ok(*other),
        }
    }
}

fn new_externref<H>(heap: &mut Heap<H>, handles: &mut Handles, data: H) -> Result<Val, Error> {
    let r = match heap.alloc_externref(data) {
        Ok(r) => r,
        Err((error, _data)) => return Err(Error::Heap(error)),
    };
    Ok(Val::Ref(Ref::Gc(handles.insert(r))))
}

fn ref_info<'h, H>(heap: &'h Heap<H>, handles: &Handles, value: &Val) -> Result<RefInfo<'h, H>, Error> {
    match value {
        Val::Ref(Ref::Null) => Ok(RefInfo::Null),
        Val::Ref(Ref::Func(_)) => Ok(RefInfo::Func),
        Val::Ref(Ref::Gc(h)) => {
            let r = handles.get(*h)?;
            if let Some(value) = r.i31_signed() {
                return Ok(RefInfo::I31(value));
            }
            match heap.kind_of(r)? {
                Some(kind) if kind == Kind::EXTERN => Ok(RefInfo::Extern(heap.externref_data(r)?)),
                Some(kind) if kind == Kind::STRUCT => Ok(RefInfo::Struct),
                Some(kind) if kind == Kind::ARRAY => Ok(RefInfo::Array),
                _ => Err(Error::ArgumentMismatch(String::from("a reference of unknown kind"))),
            }
        }
        _ => Err(Error::ArgumentMismatch(String::from("not a reference"))),
    }
}

/// The engine's value type for a host one (concrete types are canonical ids already).
pub(super) fn engine_val_type(ty: ValType) -> ValTy {
    match ty {
        ValType::I32 => ValTy::I32,
        ValType::I64 => ValTy::I64,
        ValType::F32 => ValTy::F32,
        ValType::F64 => ValTy::F64,
        ValType::Ref(r) => ValTy::Ref(engine_ref_type(r)),
    }
}

pub(super) fn engine_ref_type(r: RefType) -> RefTy {
    let heap = match r.heap_type {
        HeapType::Func => HeapTy::Abstract(Abstract::Func),
        HeapType::NoFunc => HeapTy::Abstract(Abstract::NoFunc),
        HeapType::Extern => HeapTy::Abstract(Abstract::Extern),
        HeapType::NoExtern => HeapTy::Abstract(Abstract::NoExtern),
        HeapType::Any => HeapTy::Abstract(Abstract::Any),
        HeapType::Eq => HeapTy::Abstract(Abstract::Eq),
        HeapType::I31 => HeapTy::Abstract(Abstract::I31),
        HeapType::Struct => HeapTy::Abstract(Abstract::Struct),
        HeapType::Array => HeapTy::Abstract(Abstract::Array),
        HeapType::None => HeapTy::Abstract(Abstract::None),
        HeapType::Concrete(id) => HeapTy::Index(id),
    };
    RefTy { nullable: r.nullable, heap }
}

/// The host's value type for a canonical engine one.
pub(super) fn val_type(ty: ValTy) -> ValType {
    match ty {
        ValTy::I32 => ValType::I32,
        ValTy::I64 => ValType::I64,
        ValTy::F32 => ValType::F32,
        ValTy::F64 | ValTy::V128 => ValType::F64,
        ValTy::Ref(r) => {
            let heap_type = match r.heap {
                HeapTy::Abstract(a) => match a {
                    Abstract::Func => HeapType::Func,
                    Abstract::NoFunc => HeapType::NoFunc,
                    Abstract::Extern => HeapType::Extern,
                    Abstract::NoExtern => HeapType::NoExtern,
                    Abstract::Any => HeapType::Any,
                    Abstract::Eq => HeapType::Eq,
                    Abstract::I31 => HeapType::I31,
                    Abstract::Struct => HeapType::Struct,
                    Abstract::Array => HeapType::Array,
                    Abstract::None | Abstract::Exn | Abstract::NoExn => HeapType::None,
                },
                HeapTy::Index(id) | HeapTy::RecRelative(id) => HeapType::Concrete(id),
            };
            ValType::Ref(RefType { nullable: r.nullable, heap_type })
        }
    }
}

impl<H: 'static> Store<H> {
    /// The hierarchy of a canonical reference type.
    pub(super) fn hierarchy(&self, r: RefTy) -> Hierarchy {
        r.hierarchy(&|id| self.types.hierarchy(id))
    }

    /// Whether slots of canonical type `ty` hold heap references.
    pub(super) fn is_gc(&self, ty: ValTy) -> bool {
        match ty {
            ValTy::Ref(r) => matches!(self.hierarchy(r), Hierarchy::Any | Hierarchy::Extern),
            _ => false,
        }
    }

    /// A host value as a stack slot of canonical type `ty`. A heap reference gets a new count
    /// that is exposed to Wasm (the slot itself holds none).
    pub(super) fn val_to_slot(&mut self, ty: ValTy, value: &Val) -> Result<u64, Error> {
        let mismatch = || Error::ArgumentMismatch(format!("{value:?} is not a value of type {ty:?}"));
        Ok(match (ty, value) {
            (ValTy::I32, Val::I32(v)) => *v as u32 as u64,
            (ValTy::I64, Val::I64(v)) => *v as u64,
            (ValTy::F32, Val::F32(v)) => *v as u64,
            (ValTy::F64, Val::F64(v)) => *v,
            (ValTy::Ref(r), Val::Ref(Ref::Null)) if r.nullable => 0,
            (ValTy::Ref(r), Val::Ref(Ref::Func(f))) if self.hierarchy(r) == Hierarchy::Func => {
                let function = self.functions.get(f.0 as usize).ok_or_else(mismatch)?;
                if !self.types.heap_is_subtype(HeapTy::Index(function.type_id()), r.heap) {
                    return Err(mismatch());
                }
                f.0 as u64 + 1
            }
            (ValTy::Ref(r), Val::Ref(Ref::Gc(h))) if self.is_gc(ty) => {
                let r2 = self.handles.get(*h)?;
                let word = r2.as_raw_u32();
                if !self.word_matches(word as u64, r)? {
                    return Err(mismatch());
                }
                let counted = self.heap.clone_ref(&GcRef::from_raw_u32(word).ok_or_else(mismatch)?)?;
                self.heap.expose_gc_ref_to_wasm(counted)?;
                word as u64
            }
            _ => return Err(mismatch()),
        })
    }

    /// A stack slot of canonical type `ty` as a host value; a heap reference gets a handle
    /// (a new count).
    pub(super) fn slot_to_val(&mut self, ty: ValTy, slot: u64) -> Result<Val, Error> {
        Ok(match ty {
            ValTy::I32 => Val::I32(slot as u32 as i32),
            ValTy::I64 => Val::I64(slot as i64),
            ValTy::F32 => Val::F32(slot as u32),
            ValTy::F64 | ValTy::V128 => Val::F64(slot),
            ValTy::Ref(_) if slot == 0 => Val::Ref(Ref::Null),
            ValTy::Ref(r) => match self.hierarchy(r) {
                Hierarchy::Func | Hierarchy::Exn => Val::Ref(Ref::Func(FuncRef(slot as u32 - 1))),
                Hierarchy::Any | Hierarchy::Extern => {
                    let r = self.heap.retain_raw(slot as u32)?.ok_or_else(|| Error::ArgumentMismatch(String::new()))?;
                    Val::Ref(Ref::Gc(self.handles.insert(r)))
                }
            },
        })
    }

    /// Defines a host function importable as (`module`, `name`).
    pub fn define_func(
        &mut self,
        module: &str,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        f: super::HostFunc<H>,
    ) -> Result<(), Error> {
        let params: Vec<ValTy> = params.iter().map(|&t| engine_val_type(t)).collect();
        let results: Vec<ValTy> = results.iter().map(|&t| engine_val_type(t)).collect();
        let type_id = self.types.function_type(&mut self.heap, &params, &results)?;
        self.functions.push(Function::Host { type_id, params: params.into(), results: results.into(), func: Some(f) });
        let address = self.functions.len() as u32 - 1;
        self.definitions.insert((String::from(module), String::from(name)), Extern::Func(address));
        Ok(())
    }

    /// Defines a host global importable as (`module`, `name`).
    pub fn define_global(
        &mut self,
        module: &str,
        name: &str,
        ty: ValType,
        mutable: bool,
        value: Val,
    ) -> Result<(), Error> {
        let ty = engine_val_type(ty);
        let gc = self.is_gc(ty);
        let mut slot = self.val_to_slot(ty, &value)?;
        if gc {
            slot = self.retain_word(slot as u32)? as u64;
        }
        self.globals.push(Global { ty: GlobalTy { content: ty, mutable }, gc, value: slot });
        let address = self.globals.len() as u32 - 1;
        self.definitions.insert((String::from(module), String::from(name)), Extern::Global(address));
        Ok(())
    }

    /// Defines a host table of null elements importable as (`module`, `name`).
    pub fn define_table(
        &mut self,
        module: &str,
        name: &str,
        element: RefType,
        min: u32,
        max: Option<u32>,
    ) -> Result<(), Error> {
        let element = engine_ref_type(element);
        let gc = self.is_gc(ValTy::Ref(element));
        let ty = TableTy { element, min: min as u64, max: max.map(u64::from) };
        let mut elements = Vec::new();
        elements
            .try_reserve_exact(min as usize)
            .map_err(|_| Error::ResourceLimit(format!("a table of {min} elements")))?;
        elements.resize(min as usize, 0);
        self.tables.push(Table { ty, gc, elements });
        let address = self.tables.len() as u32 - 1;
        self.definitions.insert((String::from(module), String::from(name)), Extern::Table(address));
        Ok(())
    }

    /// Defines a host memory importable as (`module`, `name`).
    pub fn define_memory(
        &mut self,
        module: &str,
        name: &str,
        min_pages: u32,
        max_pages: Option<u32>,
    ) -> Result<(), Error> {
        let bytes = super::zeroed_pages(min_pages as u64, self.config.max_memory_pages)?;
        self.memories.push(Memory { bytes, max_pages: max_pages.map_or(super::MAX_PAGES, u64::from) });
        let address = self.memories.len() as u32 - 1;
        self.definitions.insert((String::from(module), String::from(name)), Extern::Memory(address));
        Ok(())
    }

    /// A new host externref holding `data`.
    pub fn externref(&mut self, data: H) -> Result<Val, Error> {
        match self.heap.alloc_externref(data) {
            Ok(r) => Ok(Val::Ref(Ref::Gc(self.handles.insert(r)))),
            Err((error, data)) if error.is_retryable() => {
                self.collect_garbage()?;
                new_externref(&mut self.heap, &mut self.handles, data)
            }
            Err((error, _)) => Err(Error::Heap(error)),
        }
    }

    /// What `value` is.
    pub fn ref_info(&self, value: &Val) -> Result<RefInfo<'_, H>, Error> {
        ref_info(&self.heap, &self.handles, value)
    }

    /// Drops a handle's count (nothing for values that are not handles).
    pub fn release(&mut self, value: Val) -> Result<(), Error> {
        if let Val::Ref(Ref::Gc(h)) = value {
            let reference = self.handles.take(h)?;
            self.heap.drop_ref(reference)?;
        }
        Ok(())
    }

    /// Calls host function `function` with the arguments on top of the stack, replacing them
    /// with its results.
    pub(super) fn call_host(&mut self, function: u32) -> Result<(), Error> {
        let (params, results) = match self.functions.get(function as usize) {
            Some(Function::Host { params, results, .. }) => (params.clone(), results.clone()),
            _ => return Err(Error::ArgumentMismatch(String::from("not a host function"))),
        };
        let base = self.stack.len().checked_sub(params.len()).ok_or(Error::Trap(Trap::CallStackExhausted))?;
        let slots: Vec<u64> = self.stack[base..].to_vec();
        let mut args = Vec::with_capacity(params.len());
        let mut outcome = Ok(());
        for (&ty, &slot) in params.iter().zip(&slots) {
            match self.slot_to_val(ty, slot) {
                Ok(value) => args.push(value),
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        self.stack.truncate(base);
        if outcome.is_ok() {
            outcome = self.run_host(function, &results, &args);
        }
        // Argument handles live for the call only.
        for value in args {
            if let Val::Ref(Ref::Gc(h)) = value {
                let reference = self.handles.take(h)?;
                self.heap.drop_ref(reference)?;
            }
        }
        outcome
    }

    /// Runs host function `function` on `args` and pushes its results (of types `results`).
    fn run_host(&mut self, function: u32, results: &[ValTy], args: &[Val]) -> Result<(), Error> {
        let func = match self.functions.get_mut(function as usize) {
            Some(Function::Host { func, .. }) => func.take(),
            _ => None,
        };
        let Some(mut f) = func else {
            return Err(Error::Trap(Trap::Host(String::from("host function re-entered"))));
        };
        let outcome = {
            let mut context = HostContext { heap: &mut self.heap, handles: &mut self.handles };
            f(&mut context, args)
        };
        if let Some(Function::Host { func, .. }) = self.functions.get_mut(function as usize) {
            *func = Some(f);
        }
        let values = outcome.map_err(Error::Trap)?;
        if values.len() != results.len() {
            return Err(Error::Trap(Trap::Host(format!(
                "host function returned {} values, expected {}",
                values.len(),
                results.len()
            ))));
        }
        for (&ty, value) in results.iter().zip(&values) {
            let slot = self.val_to_slot(ty, value).map_err(|e| Error::Trap(Trap::Host(format!("{e}"))))?;
            self.stack.push(slot);
        }
        Ok(())
    }
}
