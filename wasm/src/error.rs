//! The engine's errors: [`Error`] for everything a public call can fail with, and [`Trap`] for
//! the traps of running Wasm code, whose `Display` prints the official spec test suite's message.

use alloc::string::String;
use core::fmt;

/// Everything a public call of the engine can fail with.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The binary could not be decoded.
    Malformed(String),
    /// The module failed validation.
    Invalid(String),
    /// An import is unknown or its type does not match.
    Unlinkable(String),
    /// A trap while running Wasm code (including during instantiation).
    Trap(Trap),
    /// No export of that name, or not of the expected kind.
    UnknownExport(String),
    /// `invoke` with the wrong number or types of arguments, or a stale host handle.
    ArgumentMismatch(String),
    /// A heap error that is not a trap (corruption, misuse).
    Heap(drc_heap::Error),
    /// The host could not provide what a module declares (a memory or table too large to
    /// allocate).
    ResourceLimit(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(message) => write!(f, "malformed module: {message}"),
            Error::Invalid(message) => write!(f, "invalid module: {message}"),
            Error::Unlinkable(message) => write!(f, "unlinkable: {message}"),
            Error::Trap(trap) => write!(f, "trap: {trap}"),
            Error::UnknownExport(name) => write!(f, "unknown export: {name}"),
            Error::ArgumentMismatch(message) => write!(f, "argument mismatch: {message}"),
            Error::Heap(error) => write!(f, "heap error: {error}"),
            Error::ResourceLimit(message) => write!(f, "resource limit: {message}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<Trap> for Error {
    fn from(trap: Trap) -> Error {
        Error::Trap(trap)
    }
}

impl From<drc_heap::Error> for Error {
    fn from(error: drc_heap::Error) -> Error {
        Error::Heap(error)
    }
}

/// A trap: the abrupt end of running Wasm code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trap {
    /// `unreachable` ran.
    Unreachable,
    /// Integer division or remainder by zero.
    IntegerDivideByZero,
    /// Signed division overflow (`INT_MIN / -1`).
    IntegerOverflow,
    /// A float-to-integer truncation of a NaN or an out-of-range value.
    InvalidConversionToInteger,
    /// A load, store or bulk memory operation out of a memory's bounds.
    OutOfBoundsMemoryAccess,
    /// A table access out of bounds.
    OutOfBoundsTableAccess,
    /// `call_indirect` on an index past the table's end.
    UndefinedElement,
    /// `call_indirect` on a null table element.
    UninitializedElement,
    /// `call_indirect` on a function of the wrong type.
    IndirectCallTypeMismatch,
    /// `call_ref` or `return_call_ref` on null.
    NullFunctionReference,
    /// A struct access through null.
    NullStructReference,
    /// An array access through null.
    NullArrayReference,
    /// `i31.get_*` on null.
    NullI31Reference,
    /// `ref.as_non_null` on null.
    NullReference,
    /// `ref.cast` failed.
    CastFailure,
    /// An array access out of bounds.
    OutOfBoundsArrayAccess,
    /// `memory.init` or `array.new_data` out of a data segment's bounds.
    OutOfBoundsDataSegmentAccess,
    /// `table.init` or `array.new_elem` out of an element segment's bounds.
    OutOfBoundsElementSegmentAccess,
    /// An allocation failed after a collection and a retry, or asked for more than the heap
    /// can ever hold.
    OutOfGcMemory,
    /// The call depth passed [`crate::Config::max_call_depth`] (or the operand stack its limit).
    CallStackExhausted,
    /// The call used up [`crate::Config::fuel`].
    OutOfFuel,
    /// `throw` or `throw_ref` ran: exception handling is not supported.
    ExceptionsUnsupported,
    /// A host function's own trap.
    Host(String),
}

impl Trap {
    /// The message the official spec test suite expects for this trap.
    pub fn message(&self) -> &str {
        match self {
            Trap::Unreachable => "unreachable",
            Trap::IntegerDivideByZero => "integer divide by zero",
            Trap::IntegerOverflow => "integer overflow",
            Trap::InvalidConversionToInteger => "invalid conversion to integer",
            Trap::OutOfBoundsMemoryAccess | Trap::OutOfBoundsDataSegmentAccess => "out of bounds memory access",
            Trap::OutOfBoundsTableAccess | Trap::OutOfBoundsElementSegmentAccess => "out of bounds table access",
            Trap::UndefinedElement => "undefined element",
            Trap::UninitializedElement => "uninitialized element",
            Trap::IndirectCallTypeMismatch => "indirect call type mismatch",
            Trap::NullFunctionReference => "null function reference",
            Trap::NullStructReference => "null structure reference",
            Trap::NullArrayReference => "null array reference",
            Trap::NullI31Reference => "null i31 reference",
            Trap::NullReference => "null reference",
            Trap::CastFailure => "cast failure",
            Trap::OutOfBoundsArrayAccess => "out of bounds array access",
            Trap::OutOfGcMemory => "out of GC memory",
            Trap::CallStackExhausted => "call stack exhausted",
            Trap::OutOfFuel => "all fuel consumed",
            Trap::ExceptionsUnsupported => "exception handling is not supported",
            Trap::Host(message) => message,
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for Trap {}
