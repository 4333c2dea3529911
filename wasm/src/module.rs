//! [`Module`]: a decoded and validated module, its sections as plain Rust data and its function
//! bodies compiled to the internal form.
//!
//! Validation is always on: every payload goes through wasmparser's validator with the feature
//! set of Wasm 3.0 minus SIMD, relaxed SIMD, threads, memory64 and exception handling. Decoding
//! errors give [`Error::Malformed`], validation errors [`Error::Invalid`]. Constant expressions
//! (global, table and segment initializers, segment offsets) are kept as [`ConstOp`] sequences
//! that the store evaluates at instantiation.

use crate::compile::{compile_function, CompiledFunction};
use crate::error::Error;
use crate::types::{convert, RefTy, SubTy, ValTy};
use crate::values::ExternKind;
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use wasmparser::{FuncValidatorAllocations, Parser, Payload, ValidPayload, Validator, WasmFeatures};

/// One operation of a constant expression.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ConstOp {
    Const32(u32),
    Const64(u64),
    RefNull,
    RefFunc(u32),
    GlobalGet(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
    StructNew(u32),
    StructNewDefault(u32),
    ArrayNew(u32),
    ArrayNewDefault(u32),
    ArrayNewFixed(u32, u32),
    RefI31,
    Convert,
}

/// A table's type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableTy {
    pub(crate) element: RefTy,
    pub(crate) min: u64,
    pub(crate) max: Option<u64>,
}

/// A memory's type, in pages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemoryTy {
    pub(crate) min: u64,
    pub(crate) max: Option<u64>,
}

/// A global's type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GlobalTy {
    pub(crate) content: ValTy,
    pub(crate) mutable: bool,
}

/// What an import asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ImportKind {
    Func(u32),
    Table(TableTy),
    Memory(MemoryTy),
    Global(GlobalTy),
    /// An exception tag, by its function type index.
    Tag(u32),
}

#[derive(Clone, Debug)]
pub(crate) struct Import {
    pub(crate) module: String,
    pub(crate) name: String,
    pub(crate) kind: ImportKind,
}

#[derive(Clone, Debug)]
pub(crate) enum SegmentMode {
    Passive,
    Active { index: u32, offset: Box<[ConstOp]> },
    Declared,
}

#[derive(Clone, Debug)]
pub(crate) struct ElementSegment {
    pub(crate) element: RefTy,
    pub(crate) mode: SegmentMode,
    pub(crate) items: Vec<Box<[ConstOp]>>,
}

#[derive(Clone, Debug)]
pub(crate) struct DataSegment {
    pub(crate) mode: SegmentMode,
    pub(crate) bytes: Box<[u8]>,
}

/// Everything a module declares; shared by its instances.
#[derive(Debug, Default)]
pub(crate) struct ModuleData {
    pub(crate) types: Vec<SubTy>,
    pub(crate) rec_groups: Vec<(u32, u32)>,
    pub(crate) imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub(crate) functions: Vec<u32>,
    pub(crate) imported_functions: u32,
    /// Defined tables with their initializers.
    pub(crate) tables: Vec<(TableTy, Option<Box<[ConstOp]>>)>,
    pub(crate) memories: Vec<MemoryTy>,
    /// Function type index of every tag, imported ones first.
    pub(crate) tags: Vec<u32>,
    pub(crate) globals: Vec<(GlobalTy, Box<[ConstOp]>)>,
    pub(crate) exports: Vec<(String, ExternKind, u32)>,
    pub(crate) start: Option<u32>,
    pub(crate) elements: Vec<ElementSegment>,
    pub(crate) data: Vec<DataSegment>,
    pub(crate) code: Vec<CompiledFunction>,
}

/// A decoded and validated module.
#[derive(Clone, Debug)]
pub struct Module {
    pub(crate) data: Rc<ModuleData>,
}

/// The features the engine accepts.
pub(crate) fn features() -> WasmFeatures {
    WasmFeatures::WASM3
        .difference(WasmFeatures::SIMD)
        .difference(WasmFeatures::RELAXED_SIMD)
        .difference(WasmFeatures::THREADS)
        .difference(WasmFeatures::SHARED_EVERYTHING_THREADS)
        .difference(WasmFeatures::LEGACY_EXCEPTIONS)
        .difference(WasmFeatures::MEMORY64)
}

fn malformed(error: wasmparser::BinaryReaderError) -> Error {
    Error::Malformed(format!("{} (at offset {:#x})", error.message(), error.offset()))
}

fn invalid(error: wasmparser::BinaryReaderError) -> Error {
    Error::Invalid(format!("{} (at offset {:#x})", error.message(), error.offset()))
}

impl Module {
    /// Decodes and validates a binary module, compiling its function bodies.
    pub fn new(bytes: &[u8]) -> Result<Module, Error> {
        let features = features();
        let mut validator = Validator::new_with_features(features);
        let mut data = ModuleData::default();
        let mut allocations = FuncValidatorAllocations::default();
        let mut parser = Parser::new(0);
        parser.set_features(features);
        for payload in parser.parse_all(bytes) {
            let payload = payload.map_err(malformed)?;
            read_section(&mut data, &payload)?;
            match validator.payload(&payload).map_err(invalid)? {
                ValidPayload::Func(function, body) => {
                    let mut function_validator = function.into_validator(allocations);
                    let compiled = compile_function(&mut function_validator, &body, features)?;
                    data.code.push(compiled);
                    allocations = function_validator.into_allocations();
                }
                ValidPayload::End(_) => {}
                ValidPayload::Ok => {}
                ValidPayload::Parser(_) => return Err(Error::Invalid("nested modules are not supported".to_string())),
            }
        }
        Ok(Module { data: Rc::new(data) })
    }

    /// The module's exports: names and kinds.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExternKind)> {
        self.data.exports.iter().map(|(name, kind, _)| (name.as_str(), *kind))
    }
}

fn read_section(data: &mut ModuleData, payload: &Payload<'_>) -> Result<(), Error> {
    match payload {
        Payload::TypeSection(reader) => {
            for group in reader.clone() {
                let group = group.map_err(malformed)?;
                let start = data.types.len() as u32;
                for sub in group.types() {
                    data.types.push(convert::sub_type(sub));
                }
                data.rec_groups.push((start, data.types.len() as u32 - start));
            }
        }
        Payload::ImportSection(reader) => {
            for import in reader.clone().into_imports() {
                let import = import.map_err(malformed)?;
                let kind = match import.ty {
                    wasmparser::TypeRef::Func(index) | wasmparser::TypeRef::FuncExact(index) => {
                        data.functions.push(index);
                        data.imported_functions += 1;
                        ImportKind::Func(index)
                    }
                    wasmparser::TypeRef::Table(t) => ImportKind::Table(table_type(t)),
                    wasmparser::TypeRef::Memory(m) => ImportKind::Memory(memory_type(m)),
                    wasmparser::TypeRef::Global(g) => ImportKind::Global(global_type(g)),
                    wasmparser::TypeRef::Tag(tag) => {
                        data.tags.push(tag.func_type_idx);
                        ImportKind::Tag(tag.func_type_idx)
                    }
                };
                data.imports.push(Import { module: import.module.to_string(), name: import.name.to_string(), kind });
            }
        }
        Payload::FunctionSection(reader) => {
            for index in reader.clone() {
                data.functions.push(index.map_err(malformed)?);
            }
        }
        Payload::TableSection(reader) => {
            for table in reader.clone() {
                let table = table.map_err(malformed)?;
                let init = match table.init {
                    wasmparser::TableInit::RefNull => None,
                    wasmparser::TableInit::Expr(expr) => Some(const_expr(&expr)?),
                };
                data.tables.push((table_type(table.ty), init));
            }
        }
        Payload::MemorySection(reader) => {
            for memory in reader.clone() {
                data.memories.push(memory_type(memory.map_err(malformed)?));
            }
        }
        Payload::GlobalSection(reader) => {
            for global in reader.clone() {
                let global = global.map_err(malformed)?;
                data.globals.push((global_type(global.ty), const_expr(&global.init_expr)?));
            }
        }
        Payload::ExportSection(reader) => {
            for export in reader.clone() {
                let export = export.map_err(malformed)?;
                let kind = match export.kind {
                    wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => ExternKind::Func,
                    wasmparser::ExternalKind::Table => ExternKind::Table,
                    wasmparser::ExternalKind::Memory => ExternKind::Memory,
                    wasmparser::ExternalKind::Global => ExternKind::Global,
                    wasmparser::ExternalKind::Tag => ExternKind::Tag,
                };
                data.exports.push((export.name.to_string(), kind, export.index));
            }
        }
        Payload::TagSection(reader) => {
            for tag in reader.clone() {
                data.tags.push(tag.map_err(malformed)?.func_type_idx);
            }
        }
        Payload::StartSection { func, .. } => data.start = Some(*func),
        Payload::ElementSection(reader) => {
            for element in reader.clone() {
                let element = element.map_err(malformed)?;
                let mode = match element.kind {
                    wasmparser::ElementKind::Passive => SegmentMode::Passive,
                    wasmparser::ElementKind::Declared => SegmentMode::Declared,
                    wasmparser::ElementKind::Active { table_index, offset_expr } => {
                        SegmentMode::Active { index: table_index.unwrap_or(0), offset: const_expr(&offset_expr)? }
                    }
                };
                let (element_type, items) = match element.items {
                    wasmparser::ElementItems::Functions(functions) => {
                        let mut items = Vec::new();
                        for function in functions {
                            let index = function.map_err(malformed)?;
                            items.push(Box::from([ConstOp::RefFunc(index)]) as Box<[ConstOp]>);
                        }
                        (
                            RefTy {
                                nullable: false,
                                heap: crate::types::HeapTy::Abstract(crate::types::Abstract::Func),
                            },
                            items,
                        )
                    }
                    wasmparser::ElementItems::Expressions(ty, expressions) => {
                        let mut items = Vec::new();
                        for expression in expressions {
                            items.push(const_expr(&expression.map_err(malformed)?)?);
                        }
                        (convert::ref_type(ty), items)
                    }
                };
                data.elements.push(ElementSegment { element: element_type, mode, items });
            }
        }
        Payload::DataSection(reader) => {
            for segment in reader.clone() {
                let segment = segment.map_err(malformed)?;
                let mode = match segment.kind {
                    wasmparser::DataKind::Passive => SegmentMode::Passive,
                    wasmparser::DataKind::Active { memory_index, offset_expr } => {
                        SegmentMode::Active { index: memory_index, offset: const_expr(&offset_expr)? }
                    }
                };
                data.data.push(DataSegment { mode, bytes: segment.data.into() });
            }
        }
        _ => {}
    }
    Ok(())
}

fn table_type(ty: wasmparser::TableType) -> TableTy {
    TableTy { element: convert::ref_type(ty.element_type), min: ty.initial, max: ty.maximum }
}

fn memory_type(ty: wasmparser::MemoryType) -> MemoryTy {
    MemoryTy { min: ty.initial, max: ty.maximum }
}

fn global_type(ty: wasmparser::GlobalType) -> GlobalTy {
    GlobalTy { content: convert::val_type(ty.content_type), mutable: ty.mutable }
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<Box<[ConstOp]>, Error> {
    use wasmparser::Operator as O;
    let mut ops = Vec::new();
    let mut reader = expr.get_operators_reader();
    while !reader.eof() {
        let op = reader.read().map_err(malformed)?;
        ops.push(match op {
            O::End => continue,
            O::I32Const { value } => ConstOp::Const32(value as u32),
            O::I64Const { value } => ConstOp::Const64(value as u64),
            O::F32Const { value } => ConstOp::Const32(value.bits()),
            O::F64Const { value } => ConstOp::Const64(value.bits()),
            O::RefNull { .. } => ConstOp::RefNull,
            O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            O::I32Add => ConstOp::I32Add,
            O::I32Sub => ConstOp::I32Sub,
            O::I32Mul => ConstOp::I32Mul,
            O::I64Add => ConstOp::I64Add,
            O::I64Sub => ConstOp::I64Sub,
            O::I64Mul => ConstOp::I64Mul,
            O::StructNew { struct_type_index } => ConstOp::StructNew(struct_type_index),
            O::StructNewDefault { struct_type_index } => ConstOp::StructNewDefault(struct_type_index),
            O::ArrayNew { array_type_index } => ConstOp::ArrayNew(array_type_index),
            O::ArrayNewDefault { array_type_index } => ConstOp::ArrayNewDefault(array_type_index),
            O::ArrayNewFixed { array_type_index, array_size } => ConstOp::ArrayNewFixed(array_type_index, array_size),
            O::RefI31 => ConstOp::RefI31,
            O::AnyConvertExtern | O::ExternConvertAny => ConstOp::Convert,
            // Anything else is rejected by the validator; keep it out of the internal form.
            other => return Err(Error::Invalid(format!("constant expression required, found {other:?}"))),
        });
    }
    Ok(ops.into())
}
