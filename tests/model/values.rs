//! What the model is made of: host data whose drops are logged (`DropLog`, `Tracked`), model
//! references, values and objects (`MRef`, `MVal`, `MKind`, `MObj`), the errors the model
//! predicts (`Expect`) and how a heap error maps to one, and the heap form of a model value
//! (`ValueRefSlot`).

use drc_heap::types::StorageType;
use drc_heap::{Error, GcRef, ValueRef};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

// -------------------------------------------------------------------------------------------
// Host data with a drop counter.

/// Counts the drops of every host data value by id.
#[derive(Default, Debug)]
pub struct DropLog {
    /// Drops per host data id.
    pub drops: HashMap<u64, u32>,
    /// Ids in drop order (checked incrementally).
    pub order: Vec<u64>,
}

/// Externref host data: its drop is recorded in the log.
pub struct Tracked {
    /// The model's id for this value.
    pub id: u64,
    pub(super) log: Rc<RefCell<DropLog>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut log = self.log.borrow_mut();
        *log.drops.entry(self.id).or_insert(0) += 1;
        log.order.push(self.id);
    }
}

// -------------------------------------------------------------------------------------------
// Model values and objects.

/// A reference in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MRef {
    /// Null.
    Null,
    /// An i31 (normalized to 31 bits, sign-extended).
    I31(i32),
    /// A model object.
    Obj(u64),
}

/// A field or element value in the model (floats by their bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MVal {
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Ref(MRef),
}

impl MVal {
    pub(super) fn default_for(storage: StorageType) -> MVal {
        match storage {
            StorageType::I8 => MVal::I8(0),
            StorageType::I16 => MVal::I16(0),
            StorageType::I32 => MVal::I32(0),
            StorageType::I64 => MVal::I64(0),
            StorageType::F32 => MVal::F32(0),
            StorageType::F64 => MVal::F64(0),
            StorageType::V128 => MVal::V128(0),
            StorageType::Ref(_) => MVal::Ref(MRef::Null),
        }
    }

    pub(super) fn fits(self, storage: StorageType) -> bool {
        matches!(
            (self, storage),
            (MVal::I8(_), StorageType::I8)
                | (MVal::I16(_), StorageType::I16)
                | (MVal::I32(_), StorageType::I32)
                | (MVal::I64(_), StorageType::I64)
                | (MVal::F32(_), StorageType::F32)
                | (MVal::F64(_), StorageType::F64)
                | (MVal::V128(_), StorageType::V128)
                | (MVal::Ref(_), StorageType::Ref(_))
        )
    }

    /// The bits of a scalar, as `array.copy` between arrays of equal element size moves them.
    pub(super) fn bits(self) -> u128 {
        match self {
            MVal::I8(v) => v as u8 as u128,
            MVal::I16(v) => v as u16 as u128,
            MVal::I32(v) => v as u32 as u128,
            MVal::I64(v) => v as u64 as u128,
            MVal::F32(v) => v as u128,
            MVal::F64(v) => v as u128,
            MVal::V128(v) => v,
            MVal::Ref(_) => unreachable!("references are not copied by bits"),
        }
    }

    pub(super) fn from_bits(bits: u128, storage: StorageType) -> MVal {
        match storage {
            StorageType::I8 => MVal::I8(bits as u8 as i8),
            StorageType::I16 => MVal::I16(bits as u16 as i16),
            StorageType::I32 => MVal::I32(bits as u32 as i32),
            StorageType::I64 => MVal::I64(bits as u64 as i64),
            StorageType::F32 => MVal::F32(bits as u32),
            StorageType::F64 => MVal::F64(bits as u64),
            StorageType::V128 => MVal::V128(bits),
            StorageType::Ref(_) => unreachable!("references are not copied by bits"),
        }
    }
}

/// What a model object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MKind {
    Struct(u32),
    Array(u32),
    Extern(u64),
}

/// A model object.
#[derive(Clone, Debug)]
pub struct MObj {
    pub kind: MKind,
    pub fields: Vec<MVal>,
}

/// The kinds of error the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Ok,
    TypeMismatch,
    NullReference,
    WrongObjectKind,
    FieldOutOfBounds,
    IndexOutOfBounds,
    InNoGcScope,
    NotInNoGcScope,
    NotDefaultable,
    InvalidReference,
}

pub(super) fn classify(error: &Error) -> Option<Expect> {
    Some(match error {
        Error::TypeMismatch { .. } => Expect::TypeMismatch,
        Error::NullReference => Expect::NullReference,
        Error::WrongObjectKind { .. } => Expect::WrongObjectKind,
        Error::FieldOutOfBounds { .. } => Expect::FieldOutOfBounds,
        Error::IndexOutOfBounds { .. } => Expect::IndexOutOfBounds,
        Error::InNoGcScope => Expect::InNoGcScope,
        Error::NotInNoGcScope => Expect::NotInNoGcScope,
        Error::NotDefaultable { .. } => Expect::NotDefaultable,
        Error::InvalidReference(_) => Expect::InvalidReference,
        _ => return None,
    })
}

// -------------------------------------------------------------------------------------------
// The heap form of a model value.

/// A value to pass to the heap: plain, or a reference borrowed from a list of handles.
#[derive(Clone, Copy)]
pub(super) enum ValueRefSlot {
    Plain(ValueRef<'static>),
    Handle(usize),
}

impl ValueRefSlot {
    pub(super) fn get<'a>(&self, handles: &'a [GcRef]) -> ValueRef<'a> {
        match *self {
            ValueRefSlot::Plain(v) => v,
            ValueRefSlot::Handle(i) => ValueRef::Ref(Some(&handles[i])),
        }
    }
}
