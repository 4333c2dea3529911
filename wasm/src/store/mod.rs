//! [`Store`]: the heap and everything instances own (functions, tables, memories, globals,
//! segments, host definitions, host handles), and the public calls that instantiate modules and
//! run their exports.
//!
//! Ownership of heap references (drc-heap's deferred reference counting): globals, tables,
//! element segments and host handles hold *counted* references; their words are written with
//! the count taken first and the old word's count released after. Words on the interpreter's
//! operand stack and in locals hold no count: every reference that enters Wasm goes through the
//! heap's activations table first (`expose`). Dropping the store releases every count it holds,
//! then drops the heap, which frees the region it allocated for [`Store::new`].
//!
//! Submodules: `instantiate` (linking, constant expressions, segments), `exec` (the interpreter
//! loop and calls), `gc_ops` (structs, arrays, casts), `tables` (table and memory instructions),
//! `roots` (collections with precise roots), `host` (host values and handles).

mod exec;
mod gc_ops;
mod handles;
mod host;
mod instantiate;
mod numeric_ops;
mod roots;
mod tables;

use crate::error::{Error, Trap};
use crate::module::{GlobalTy, ModuleData, TableTy};
use crate::types::{CanonicalTypes, ValTy};
use crate::values::{Instance, Val, ValType};
use crate::Config;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use drc_heap::{GcRef, Heap};

pub use host::HostContext;

/// Signature of a host function: it gets the store's host context (to allocate externrefs and
/// inspect references) and the arguments, and returns the results or a trap. Reference
/// arguments are host handles valid until the function returns; [`HostContext::keep`] gives one
/// that stays.
pub type HostFunc<H> = Box<dyn FnMut(&mut HostContext<'_, H>, &[Val]) -> Result<Vec<Val>, Trap>>;

/// A function type's parameter and result types.
type Signature = (Box<[ValTy]>, Box<[ValTy]>);

/// Bytes in a Wasm page.
const PAGE: u64 = 65536;
/// The most pages a 32-bit memory may have.
const MAX_PAGES: u64 = 65536;

enum Function<H: 'static> {
    Wasm { instance: u32, defined: u32, type_id: u32 },
    Host { type_id: u32, params: Box<[ValTy]>, results: Box<[ValTy]>, func: Option<HostFunc<H>> },
}

impl<H> Function<H> {
    fn type_id(&self) -> u32 {
        match self {
            Function::Wasm { type_id, .. } | Function::Host { type_id, .. } => *type_id,
        }
    }
}

/// A table: words that are either heap references owning a count (`gc`) or function words
/// (function address + 1; 0 is null).
struct Table {
    ty: TableTy,
    gc: bool,
    elements: Vec<u32>,
}

struct Memory {
    bytes: Vec<u8>,
    max_pages: u64,
}

struct Global {
    ty: GlobalTy,
    gc: bool,
    value: u64,
}

/// An element segment's words (counted when `gc`); empty once dropped.
struct ElementInstance {
    gc: bool,
    words: Vec<u32>,
}

/// What an export or a host definition names.
#[derive(Clone, Copy, Debug)]
enum Extern {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
    /// An exception tag: a store tag address.
    Tag(u32),
}

struct InstanceData {
    module: Rc<ModuleData>,
    /// Canonical type id of each module type.
    types: Vec<u32>,
    functions: Vec<u32>,
    tables: Vec<u32>,
    memories: Vec<u32>,
    globals: Vec<u32>,
    tags: Vec<u32>,
    elements: Vec<ElementInstance>,
    data: Vec<Box<[u8]>>,
    exports: BTreeMap<String, Extern>,
}

/// A call frame. `pc` is the instruction a paused caller is at (its call); `base` is the stack
/// index of local 0.
#[derive(Clone, Copy, Debug)]
struct Frame {
    instance: u32,
    defined: u32,
    base: u32,
    pc: u32,
}

/// A store: the heap and every instance, function, table, memory and global. `H` is the type
/// of externref host data.
pub struct Store<H: 'static = u32> {
    /// Declared first so that it drops first of the fields (after `drop` released every count
    /// the store holds), with the region it owns when the store came from [`Store::new`].
    heap: Heap<H>,
    config: Config,
    types: CanonicalTypes,
    functions: Vec<Function<H>>,
    tables: Vec<Table>,
    memories: Vec<Memory>,
    globals: Vec<Global>,
    /// Canonical function type id of every tag.
    tags: Vec<u32>,
    instances: Vec<InstanceData>,
    handles: handles::Handles,
    definitions: BTreeMap<(String, String), Extern>,
    registered: BTreeMap<String, u32>,
    stack: Vec<u64>,
    frames: Vec<Frame>,
    /// What is left of the current host call's fuel (`u64::MAX` when unlimited).
    fuel: u64,
}

impl<H: 'static> Store<H> {
    /// A store over a region of `region_bytes` bytes (rounded down to 16 bytes) that its heap
    /// allocates and frees on drop ([`Heap::with_owned_region`]). A rounded length below
    /// [`drc_heap::MIN_REGION_LEN`] is [`drc_heap::Error::RegionTooSmall`], one above
    /// [`drc_heap::MAX_REGION_LEN`] is [`drc_heap::Error::RegionTooLarge`], and memory the
    /// allocator cannot provide is [`drc_heap::Error::OutOfMemory`] (all in [`Error::Heap`]).
    pub fn new(region_bytes: usize, config: Config) -> Result<Store<H>, Error> {
        let len = region_bytes & !(drc_heap::REGION_ALIGN - 1);
        let heap_config = config.heap.clone().with_cycle_collection(config.cycle_collection);
        let heap = Heap::with_owned_region_and_config(len, heap_config)?;
        Ok(Store::over(heap, config))
    }

    /// A store over a static region (for unikernels).
    pub fn with_static_region(region: &'static mut [u8], config: Config) -> Result<Store<H>, Error> {
        let heap_config = config.heap.clone().with_cycle_collection(config.cycle_collection);
        let heap = Heap::with_config(region, heap_config)?;
        Ok(Store::over(heap, config))
    }

    fn over(heap: Heap<H>, config: Config) -> Store<H> {
        Store {
            heap,
            config,
            types: CanonicalTypes::default(),
            functions: Vec::new(),
            tables: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            tags: Vec::new(),
            instances: Vec::new(),
            handles: handles::Handles::default(),
            definitions: BTreeMap::new(),
            registered: BTreeMap::new(),
            stack: Vec::new(),
            frames: Vec::new(),
            fuel: u64::MAX,
        }
    }

    /// The heap: statistics, verification.
    pub fn heap(&self) -> &Heap<H> {
        &self.heap
    }

    /// Makes `instance`'s exports importable under module name `name`.
    pub fn register(&mut self, name: &str, instance: Instance) -> Result<(), Error> {
        self.instance(instance)?;
        self.registered.insert(String::from(name), instance.0);
        Ok(())
    }

    fn instance(&self, instance: Instance) -> Result<&InstanceData, Error> {
        self.instances
            .get(instance.0 as usize)
            .ok_or_else(|| Error::ArgumentMismatch(alloc::format!("no instance {}", instance.0)))
    }

    fn export(&self, instance: Instance, name: &str) -> Result<Extern, Error> {
        self.instance(instance)?.exports.get(name).copied().ok_or_else(|| Error::UnknownExport(String::from(name)))
    }

    /// Calls the exported function `export` of `instance` with `args`.
    pub fn invoke(&mut self, instance: Instance, export: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let Extern::Func(function) = self.export(instance, export)? else {
            return Err(Error::UnknownExport(String::from(export)));
        };
        self.call_function(function, args)
    }

    /// The parameter and result types of the exported function `export` of `instance`.
    pub fn func_type(&self, instance: Instance, export: &str) -> Result<(Vec<ValType>, Vec<ValType>), Error> {
        let Extern::Func(function) = self.export(instance, export)? else {
            return Err(Error::UnknownExport(String::from(export)));
        };
        let (params, results) = self.signature(function)?;
        Ok((params.iter().map(|&t| host::val_type(t)).collect(), results.iter().map(|&t| host::val_type(t)).collect()))
    }

    /// The value of the exported global `export` of `instance`.
    pub fn global_value(&mut self, instance: Instance, export: &str) -> Result<Val, Error> {
        let Extern::Global(global) = self.export(instance, export)? else {
            return Err(Error::UnknownExport(String::from(export)));
        };
        let global = self.globals.get(global as usize).ok_or_else(|| Error::UnknownExport(String::from(export)))?;
        let (ty, value) = (global.ty.content, global.value);
        self.slot_to_val(ty, value)
    }

    /// Runs a full collection (with cycle collection) while no Wasm frame is live.
    pub fn collect(&mut self) -> Result<(), Error> {
        self.collect_garbage()?;
        self.heap.collect_cycles()?;
        Ok(())
    }

    /// The parameter and result types of store function `function`.
    fn signature(&self, function: u32) -> Result<Signature, Error> {
        let function = self.functions.get(function as usize).ok_or_else(stale_function)?;
        match self.types.get(function.type_id()).map(|sub| &sub.composite) {
            Some(crate::types::Composite::Func { params, results }) => Ok((params.clone(), results.clone())),
            _ => Err(stale_function()),
        }
    }

    /// Releases every count the store holds (globals, tables, segments, handles).
    fn release_all(&mut self) -> Result<(), Error> {
        let mut words: Vec<u32> = Vec::new();
        for global in &mut self.globals {
            if global.gc {
                words.push(core::mem::take(&mut global.value) as u32);
            }
        }
        for table in &mut self.tables {
            if table.gc {
                words.append(&mut table.elements);
            }
        }
        for instance in &mut self.instances {
            for segment in &mut instance.elements {
                if segment.gc {
                    words.append(&mut segment.words);
                }
            }
        }
        for handle in self.handles.drain() {
            words.push(handle.as_raw_u32());
        }
        for word in words {
            self.release_word(word)?;
        }
        Ok(())
    }

    /// Releases the count a stored word owns (nothing for null and i31).
    fn release_word(&mut self, word: u32) -> Result<(), Error> {
        if let Some(r) = GcRef::from_raw_u32(word) {
            self.heap.drop_ref(r)?;
        }
        Ok(())
    }

    /// Takes a count on `word` for a place that stores it; returns the word.
    fn retain_word(&mut self, word: u32) -> Result<u32, Error> {
        Ok(self.heap.retain_raw(word)?.map_or(0, |r| r.as_raw_u32()))
    }
}

impl<H: 'static> Drop for Store<H> {
    fn drop(&mut self) {
        // Errors here mean a corrupted heap; the heap (and the region it owns) is dropped after
        // this whatever happens.
        let _ = self.release_all();
        self.stack.clear();
        self.frames.clear();
        let _ = self.heap.collect_all([]);
    }
}

/// Zeroed memory of `pages` Wasm pages, or an error when it passes `max_pages` or the host
/// cannot allocate it.
fn zeroed_pages(pages: u64, max_pages: u32) -> Result<Vec<u8>, Error> {
    let limit = || Error::ResourceLimit(alloc::format!("a memory of {pages} pages"));
    if pages > max_pages as u64 {
        return Err(limit());
    }
    let bytes = usize::try_from(pages * PAGE).map_err(|_| limit())?;
    let mut memory = Vec::new();
    memory.try_reserve_exact(bytes).map_err(|_| limit())?;
    memory.resize(bytes, 0);
    Ok(memory)
}

fn stale_function() -> Error {
    Error::ArgumentMismatch(String::from("unknown function"))
}
