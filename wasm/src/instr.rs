//! The internal instruction form the interpreter runs: one [`Instr`] per Wasm instruction (blocks
//! and `nop` compile to nothing), with branch targets resolved to instruction indices.
//!
//! Immediates that name module entities (types, functions, globals, tables, memories, segments)
//! are module-local indices; the interpreter resolves them through the running instance. Branches
//! name a [`BranchTarget`] in the function's side table, which says where to jump, how many values
//! the label carries and the operand-stack height (relative to the frame's first operand) to cut
//! the stack to.

/// A resolved branch: jump to `pc`, keeping the top `keep` values, placed at operand height
/// `height` (relative to the frame's first operand slot).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BranchTarget {
    pub(crate) pc: u32,
    pub(crate) keep: u32,
    pub(crate) height: u32,
}

/// How a packed field or element is extended to `i32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extension {
    None,
    Signed,
    Unsigned,
}

/// Memory loads: the width read and how it is extended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Load {
    I32,
    I64,
    F32,
    F64,
    I32S8,
    I32U8,
    I32S16,
    I32U16,
    I64S8,
    I64U8,
    I64S16,
    I64U16,
    I64S32,
    I64U32,
}

/// Memory stores: the width written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Store {
    I32,
    I64,
    F32,
    F64,
    I32As8,
    I32As16,
    I64As8,
    I64As16,
    I64As32,
}

/// Numeric instructions without immediates (see the numeric dispatch in `exec::numeric`).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Numeric {
    I32Eqz,
    I32Eq,
    I32Ne,
    I32LtS,
    I32LtU,
    I32GtS,
    I32GtU,
    I32LeS,
    I32LeU,
    I32GeS,
    I32GeU,
    I64Eqz,
    I64Eq,
    I64Ne,
    I64LtS,
    I64LtU,
    I64GtS,
    I64GtU,
    I64LeS,
    I64LeU,
    I64GeS,
    I64GeU,
    F32Eq,
    F32Ne,
    F32Lt,
    F32Gt,
    F32Le,
    F32Ge,
    F64Eq,
    F64Ne,
    F64Lt,
    F64Gt,
    F64Le,
    F64Ge,
    I32Clz,
    I32Ctz,
    I32Popcnt,
    I32Add,
    I32Sub,
    I32Mul,
    I32DivS,
    I32DivU,
    I32RemS,
    I32RemU,
    I32And,
    I32Or,
    I32Xor,
    I32Shl,
    I32ShrS,
    I32ShrU,
    I32Rotl,
    I32Rotr,
    I64Clz,
    I64Ctz,
    I64Popcnt,
    I64Add,
    I64Sub,
    I64Mul,
    I64DivS,
    I64DivU,
    I64RemS,
    I64RemU,
    I64And,
    I64Or,
    I64Xor,
    I64Shl,
    I64ShrS,
    I64ShrU,
    I64Rotl,
    I64Rotr,
    F32Abs,
    F32Neg,
    F32Ceil,
    F32Floor,
    F32Trunc,
    F32Nearest,
    F32Sqrt,
    F32Add,
    F32Sub,
    F32Mul,
    F32Div,
    F32Min,
    F32Max,
    F32Copysign,
    F64Abs,
    F64Neg,
    F64Ceil,
    F64Floor,
    F64Trunc,
    F64Nearest,
    F64Sqrt,
    F64Add,
    F64Sub,
    F64Mul,
    F64Div,
    F64Min,
    F64Max,
    F64Copysign,
    I32WrapI64,
    I32TruncF32S,
    I32TruncF32U,
    I32TruncF64S,
    I32TruncF64U,
    I64ExtendI32S,
    I64ExtendI32U,
    I64TruncF32S,
    I64TruncF32U,
    I64TruncF64S,
    I64TruncF64U,
    F32ConvertI32S,
    F32ConvertI32U,
    F32ConvertI64S,
    F32ConvertI64U,
    F32DemoteF64,
    F64ConvertI32S,
    F64ConvertI32U,
    F64ConvertI64S,
    F64ConvertI64U,
    F64PromoteF32,
    I32Extend8S,
    I32Extend16S,
    I64Extend8S,
    I64Extend16S,
    I64Extend32S,
    I32TruncSatF32S,
    I32TruncSatF32U,
    I32TruncSatF64S,
    I32TruncSatF64U,
    I64TruncSatF32S,
    I64TruncSatF32U,
    I64TruncSatF64S,
    I64TruncSatF64U,
    I32ReinterpretF32,
    I64ReinterpretF64,
    F32ReinterpretI32,
    F64ReinterpretI64,
}

/// One internal instruction.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Instr {
    // Control.
    Unreachable,
    /// `throw` and `throw_ref`: exception handling is not supported, they trap.
    Throw,
    /// Unconditional jump within the frame (no stack change): the end of an `if` arm.
    Jump(u32),
    /// Pops an `i32`; jumps when it is zero (an `if` without a taken condition).
    JumpIfZero(u32),
    Br(u32),
    BrIf(u32),
    /// Targets `start..start + count` are the table, `start + count` the default.
    BrTable {
        start: u32,
        count: u32,
    },
    BrOnNull(u32),
    BrOnNonNull(u32),
    /// `ref_type` indexes the function's reference type side table.
    BrOnCast {
        target: u32,
        ref_type: u32,
    },
    BrOnCastFail {
        target: u32,
        ref_type: u32,
    },
    Return,
    Call(u32),
    CallIndirect {
        type_index: u32,
        table: u32,
    },
    CallRef,
    ReturnCall(u32),
    ReturnCallIndirect {
        type_index: u32,
        table: u32,
    },
    ReturnCallRef,

    // Parametric.
    Drop,
    Select,

    // Variables.
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
    GlobalGet(u32),
    GlobalSet(u32),

    // Tables.
    TableGet(u32),
    TableSet(u32),
    TableSize(u32),
    TableGrow(u32),
    TableFill(u32),
    TableCopy {
        destination: u32,
        source: u32,
    },
    TableInit {
        segment: u32,
        table: u32,
    },
    ElemDrop(u32),

    // Memories.
    Load {
        op: Load,
        memory: u32,
        offset: u32,
    },
    Store {
        op: Store,
        memory: u32,
        offset: u32,
    },
    MemorySize(u32),
    MemoryGrow(u32),
    MemoryFill(u32),
    MemoryCopy {
        destination: u32,
        source: u32,
    },
    MemoryInit {
        segment: u32,
        memory: u32,
    },
    DataDrop(u32),

    // Constants and numerics.
    Const32(u32),
    Const64(u64),
    Numeric(Numeric),

    // References.
    RefNull,
    RefIsNull,
    RefFunc(u32),
    RefAsNonNull,
    RefEq,
    /// `ref_type` indexes the function's reference type side table.
    RefTest(u32),
    RefCast(u32),
    RefI31,
    I31Get(Extension),
    /// `any.convert_extern` and `extern.convert_any` keep the word; nothing to do at run time.
    Convert,

    // Structs and arrays (type immediates are module type indices).
    StructNew(u32),
    StructNewDefault(u32),
    StructGet {
        field: u32,
        extension: Extension,
    },
    StructSet(u32),
    ArrayNew(u32),
    ArrayNewDefault(u32),
    ArrayNewFixed {
        type_index: u32,
        count: u32,
    },
    ArrayNewData {
        type_index: u32,
        segment: u32,
    },
    ArrayNewElem {
        type_index: u32,
        segment: u32,
    },
    ArrayGet(Extension),
    ArraySet,
    ArrayLen,
    ArrayFill,
    ArrayCopy,
    ArrayInitData(u32),
    ArrayInitElem(u32),
}
