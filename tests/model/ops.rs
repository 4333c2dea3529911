//! The operations of a random program, and how they are decoded from plain numbers.
//!
//! Every operation is decoded from one `(kind, a, b, c)` tuple of a `u8`, two `u16`s and a
//! `u32`, so that proptest (which generates and shrinks the tuples) and libFuzzer (which reads
//! them from its byte string) share one decoder, and shrinking a number towards zero gives a
//! simpler operation. Parameters are selectors: the harness takes them modulo what exists when
//! the operation runs (a "type fixup" pass: a selector for a struct finds the next struct among
//! the references the program holds, unless its top bit asks for whatever is there).

/// A selector's top bit: take the reference it names as it is, without looking for one of the
/// kind the operation needs (so that misuse is tested too).
pub const RAW: u16 = 0x8000;

/// Where a reference read from the heap goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Released at once.
    Drop,
    /// Kept by the host as a local.
    Local,
    /// Handed to Wasm: exposed and pushed on the top frame.
    Stack,
}

/// One operation, applied to the heap and to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `struct.new` (fields from `init`), or `struct.new_default` when `init` is even.
    NewStruct { ty: u16, init: u32 },
    /// `array.new` of `len` copies of a value made from `init`.
    NewArray { ty: u16, len: u16, init: u32 },
    /// `array.new_fixed` with values made from `init`.
    NewArrayFixed { ty: u16, len: u16, init: u32 },
    /// A new externref whose host data is counted when dropped.
    NewExtern { payload: u32 },
    /// `struct.set`.
    StructSet { target: u16, field: u16, value: u32 },
    /// `struct.get`.
    StructGet { target: u16, field: u16, dest: Dest },
    /// `array.set`.
    ArraySet { target: u16, index: u16, value: u32 },
    /// `array.get`.
    ArrayGet { target: u16, index: u16, dest: Dest },
    /// `array.fill`.
    ArrayFill { target: u16, start: u16, count_value: u32 },
    /// `array.copy` (`source` may name the same array).
    ArrayCopy { destination: u16, source: u16, starts_count: u32 },
    /// `array.len`.
    ArrayLen { target: u16 },
    /// Reads an externref's host data.
    ExternData { target: u16 },
    /// `ref.test` against one of the reference types of the schema.
    RefTest { target: u16, ty: u16 },
    /// A Wasm call: a new frame holding up to four references (each exposed first).
    PushFrame { picks: u32, count: u16 },
    /// A Wasm return: the top frame's references are gone (no count changes).
    PopFrame,
    /// Wasm overwrites a local of the top frame.
    WasmDropSlot { slot: u16 },
    /// Exposes one reference many times (fills the bump chunk, then the set, with duplicates).
    ExposeMany { target: u16, times: u16 },
    /// Stores a reference (or null) in a global, through the barrier.
    SetGlobal { global: u16, source: u16 },
    /// Stores a reference (or null) in a table element, through the barrier.
    SetTable { table: u16, source: u16, index: u32 },
    /// Stores one reference in a range of table elements (a bulk fill), through the barrier.
    FillTable { table: u16, source: u16, range: u32 },
    /// Clears a global.
    ClearGlobal { global: u16 },
    /// Clears a table.
    ClearTable { table: u16 },
    /// A new host local: a clone of a reference.
    CloneLocal { source: u16 },
    /// Drops a host local.
    DropLocal { local: u16 },
    /// Enters a no-GC scope.
    EnterNoGc,
    /// Leaves a no-GC scope (an error when none is open).
    ExitNoGc,
    /// A whole collection; then a cycle collection when `cycles` and the heap has one.
    Collect { cycles: bool },
    /// A collection run step by step: `steps` steps, then finished or abandoned.
    CollectSteps { steps: u16, finish: bool },
    /// Merges free blocks.
    Coalesce,
    /// `verify` with every host root.
    Verify,
    /// Empties the heap.
    Reset,
    /// Writes a well-formed fake object header into a `v128` slot of an object by a typed store
    /// (a correct program can), then hands the word of that slot to the heap as a reference
    /// (`how`: retain, drop, `ref.test`, or as a Wasm-stack root): it must be refused, or
    /// skipped by the collection, and nothing else may change.
    ForgeInteriorHeader { target: u16, how: u16 },
    /// Corruption runs only: overwrites the block size in an object's header, then drops the
    /// host's references to it so that it may be freed with that size.
    CorruptSizeThenFree { target: u16, size: u32 },
    /// Corruption runs only: overwrites bytes of the region and resets the heap at once; the
    /// operations after it must succeed exactly as on a new heap.
    CorruptThenReset { offset: u32, value: u8, len: u16 },
    /// Corruption runs only: overwrites `len` bytes of the region at `offset` with `value`.
    Corrupt { offset: u32, value: u8, len: u16 },
}

/// Number of operation kinds [`Op::decode`] maps a kind byte onto (the corruption kind is only
/// produced when corruption is allowed).
pub const KINDS: u8 = 35;

impl Op {
    /// Decodes one operation. Kinds are weighted by repetition: allocation and field access are
    /// common, resets rare.
    pub fn decode(kind: u8, a: u16, b: u16, c: u32, corruption: bool) -> Op {
        let dest = match c % 3 {
            0 => Dest::Drop,
            1 => Dest::Local,
            _ => Dest::Stack,
        };
        match kind % KINDS {
            0 | 1 => Op::NewStruct { ty: a, init: c },
            2 => Op::NewArray { ty: a, len: b, init: c },
            3 => Op::NewArrayFixed { ty: a, len: b, init: c },
            4 => Op::NewExtern { payload: c },
            5 | 6 => Op::StructSet { target: a, field: b, value: c },
            7 => Op::StructGet { target: a, field: b, dest },
            8 => Op::ArraySet { target: a, index: b, value: c },
            9 => Op::ArrayGet { target: a, index: b, dest },
            10 => Op::ArrayFill { target: a, start: b, count_value: c },
            11 => Op::ArrayCopy { destination: a, source: b, starts_count: c },
            12 => Op::ArrayLen { target: a },
            13 => Op::ExternData { target: a },
            14 => Op::RefTest { target: a, ty: b },
            15 | 16 => Op::PushFrame { picks: c, count: b },
            17 => Op::PopFrame,
            18 => Op::WasmDropSlot { slot: a },
            19 => Op::ExposeMany { target: a, times: b },
            20 => Op::SetGlobal { global: a, source: b },
            21 => Op::SetTable { table: a, source: b, index: c },
            22 => Op::FillTable { table: a, source: b, range: c },
            23 => {
                if b % 2 == 0 {
                    Op::ClearGlobal { global: a }
                } else {
                    Op::ClearTable { table: a }
                }
            }
            24 => Op::CloneLocal { source: a },
            25 => Op::DropLocal { local: a },
            26 => {
                if b % 2 == 0 {
                    Op::EnterNoGc
                } else {
                    Op::ExitNoGc
                }
            }
            27 => Op::Collect { cycles: b % 2 == 1 },
            28 => Op::CollectSteps { steps: b, finish: c % 2 == 0 },
            29 => {
                if b % 2 == 0 {
                    Op::Coalesce
                } else {
                    Op::Verify
                }
            }
            30 => {
                // Resets are rare: most of their draws drop a local instead.
                if b % 8 == 7 {
                    Op::Reset
                } else {
                    Op::DropLocal { local: a }
                }
            }
            31 => Op::ForgeInteriorHeader { target: a, how: b },
            32 if corruption => Op::CorruptSizeThenFree { target: a, size: c },
            33 if corruption => Op::CorruptThenReset { offset: c, value: a as u8, len: b },
            32 | 33 => Op::DropLocal { local: a },
            _ => {
                if corruption {
                    Op::Corrupt { offset: c, value: a as u8, len: b }
                } else {
                    Op::DropLocal { local: a }
                }
            }
        }
    }
}

/// How the heap of one program is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Region size in bytes.
    pub region_len: usize,
    /// Poison freed memory.
    pub poison: bool,
    /// Verify after every collection.
    pub verify_after_collection: bool,
    /// Forced out-of-memory failure after every N allocations (0: none).
    pub fail_every: u32,
}

impl Setup {
    /// Decodes a setup from one byte.
    pub fn decode(byte: u8) -> Setup {
        Setup {
            region_len: if byte & 1 == 0 { 64 * 1024 } else { 16 * 1024 },
            poison: byte & 2 != 0,
            verify_after_collection: byte & 4 != 0,
            fail_every: match (byte >> 3) & 3 {
                0 => 0,
                1 => 1,
                2 => 3,
                _ => 17,
            },
        }
    }
}

/// Decodes a libFuzzer input: a setup byte, then 9 bytes per operation (at most `max_ops`).
pub fn decode_program(bytes: &[u8], corruption: bool, max_ops: usize) -> (Setup, Vec<Op>) {
    let Some((&first, rest)) = bytes.split_first() else {
        return (Setup::decode(0), Vec::new());
    };
    let ops = rest
        .chunks_exact(9)
        .take(max_ops)
        .map(|chunk| {
            let a = u16::from_le_bytes([chunk[1], chunk[2]]);
            let b = u16::from_le_bytes([chunk[3], chunk[4]]);
            let c = u32::from_le_bytes([chunk[5], chunk[6], chunk[7], chunk[8]]);
            Op::decode(chunk[0], a, b, c, corruption)
        })
        .collect();
    (Setup::decode(first), ops)
}
