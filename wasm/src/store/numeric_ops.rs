//! The numeric instructions on the operand stack: pops the operands, calls the pure semantics
//! in `crate::numeric`, pushes the result. Slots carry `i32`/`f32` in their low 32 bits (floats
//! as bits) and `i64`/`f64` whole.

use crate::error::Trap;
use crate::instr::Numeric;
use crate::numeric::{self, ArithmeticTrap};
use alloc::vec::Vec;

/// A type a stack slot can carry.
trait Slot: Copy {
    fn from_slot(slot: u64) -> Self;
    fn to_slot(self) -> u64;
}

impl Slot for i32 {
    fn from_slot(slot: u64) -> i32 {
        slot as u32 as i32
    }
    fn to_slot(self) -> u64 {
        self as u32 as u64
    }
}

impl Slot for i64 {
    fn from_slot(slot: u64) -> i64 {
        slot as i64
    }
    fn to_slot(self) -> u64 {
        self as u64
    }
}

impl Slot for u32 {
    fn from_slot(slot: u64) -> u32 {
        slot as u32
    }
    fn to_slot(self) -> u64 {
        self as u64
    }
}

impl Slot for u64 {
    fn from_slot(slot: u64) -> u64 {
        slot
    }
    fn to_slot(self) -> u64 {
        self
    }
}

fn trap(error: ArithmeticTrap) -> Trap {
    match error {
        ArithmeticTrap::IntegerDivideByZero => Trap::IntegerDivideByZero,
        ArithmeticTrap::IntegerOverflow => Trap::IntegerOverflow,
        ArithmeticTrap::InvalidConversionToInteger => Trap::InvalidConversionToInteger,
    }
}

#[inline]
fn unary<A: Slot, R: Slot>(stack: &mut [u64], f: impl Fn(A) -> R) {
    if let Some(top) = stack.last_mut() {
        *top = f(A::from_slot(*top)).to_slot();
    }
}

#[inline]
fn checked_unary<A: Slot, R: Slot>(stack: &mut [u64], f: impl Fn(A) -> Result<R, ArithmeticTrap>) -> Result<(), Trap> {
    if let Some(top) = stack.last_mut() {
        *top = f(A::from_slot(*top)).map_err(trap)?.to_slot();
    }
    Ok(())
}

#[inline]
fn binary<A: Slot, R: Slot>(stack: &mut Vec<u64>, f: impl Fn(A, A) -> R) {
    let b = A::from_slot(stack.pop().unwrap_or(0));
    if let Some(top) = stack.last_mut() {
        *top = f(A::from_slot(*top), b).to_slot();
    }
}

#[inline]
fn checked_binary<A: Slot, R: Slot>(
    stack: &mut Vec<u64>,
    f: impl Fn(A, A) -> Result<R, ArithmeticTrap>,
) -> Result<(), Trap> {
    let b = A::from_slot(stack.pop().unwrap_or(0));
    if let Some(top) = stack.last_mut() {
        *top = f(A::from_slot(*top), b).map_err(trap)?.to_slot();
    }
    Ok(())
}

/// Runs numeric instruction `op` on the top of `stack`.
pub(super) fn execute(stack: &mut Vec<u64>, op: Numeric) -> Result<(), Trap> {
    use Numeric as N;
    match op {
        N::I32Eqz => unary::<i32, i32>(stack, |a: i32| (a == 0) as i32),
        N::I32Eq => binary::<i32, i32>(stack, |a: i32, b: i32| (a == b) as i32),
        N::I32Ne => binary::<i32, i32>(stack, |a: i32, b: i32| (a != b) as i32),
        N::I32LtS => binary::<i32, i32>(stack, |a: i32, b: i32| (a < b) as i32),
        N::I32LtU => binary::<i32, i32>(stack, |a: i32, b: i32| ((a as u32) < (b as u32)) as i32),
        N::I32GtS => binary::<i32, i32>(stack, |a: i32, b: i32| (a > b) as i32),
        N::I32GtU => binary::<i32, i32>(stack, |a: i32, b: i32| ((a as u32) > (b as u32)) as i32),
        N::I32LeS => binary::<i32, i32>(stack, |a: i32, b: i32| (a <= b) as i32),
        N::I32LeU => binary::<i32, i32>(stack, |a: i32, b: i32| ((a as u32) <= (b as u32)) as i32),
        N::I32GeS => binary::<i32, i32>(stack, |a: i32, b: i32| (a >= b) as i32),
        N::I32GeU => binary::<i32, i32>(stack, |a: i32, b: i32| ((a as u32) >= (b as u32)) as i32),
        N::I64Eqz => unary::<i64, i32>(stack, |a: i64| (a == 0) as i32),
        N::I64Eq => binary::<i64, i32>(stack, |a: i64, b: i64| (a == b) as i32),
        N::I64Ne => binary::<i64, i32>(stack, |a: i64, b: i64| (a != b) as i32),
        N::I64LtS => binary::<i64, i32>(stack, |a: i64, b: i64| (a < b) as i32),
        N::I64LtU => binary::<i64, i32>(stack, |a: i64, b: i64| ((a as u64) < (b as u64)) as i32),
        N::I64GtS => binary::<i64, i32>(stack, |a: i64, b: i64| (a > b) as i32),
        N::I64GtU => binary::<i64, i32>(stack, |a: i64, b: i64| ((a as u64) > (b as u64)) as i32),
        N::I64LeS => binary::<i64, i32>(stack, |a: i64, b: i64| (a <= b) as i32),
        N::I64LeU => binary::<i64, i32>(stack, |a: i64, b: i64| ((a as u64) <= (b as u64)) as i32),
        N::I64GeS => binary::<i64, i32>(stack, |a: i64, b: i64| (a >= b) as i32),
        N::I64GeU => binary::<i64, i32>(stack, |a: i64, b: i64| ((a as u64) >= (b as u64)) as i32),
        N::F32Eq => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_eq(a, b) as i32),
        N::F32Ne => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_ne(a, b) as i32),
        N::F32Lt => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_lt(a, b) as i32),
        N::F32Gt => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_gt(a, b) as i32),
        N::F32Le => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_le(a, b) as i32),
        N::F32Ge => binary::<u32, i32>(stack, |a: u32, b: u32| numeric::f32_ge(a, b) as i32),
        N::F64Eq => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_eq(a, b) as i32),
        N::F64Ne => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_ne(a, b) as i32),
        N::F64Lt => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_lt(a, b) as i32),
        N::F64Gt => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_gt(a, b) as i32),
        N::F64Le => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_le(a, b) as i32),
        N::F64Ge => binary::<u64, i32>(stack, |a: u64, b: u64| numeric::f64_ge(a, b) as i32),
        N::I32Clz => unary::<i32, i32>(stack, numeric::i32_clz),
        N::I32Ctz => unary::<i32, i32>(stack, numeric::i32_ctz),
        N::I32Popcnt => unary::<i32, i32>(stack, numeric::i32_popcnt),
        N::I32Add => binary::<i32, i32>(stack, numeric::i32_add),
        N::I32Sub => binary::<i32, i32>(stack, numeric::i32_sub),
        N::I32Mul => binary::<i32, i32>(stack, numeric::i32_mul),
        N::I32DivS => checked_binary::<i32, i32>(stack, numeric::i32_div_s)?,
        N::I32DivU => checked_binary::<i32, i32>(stack, numeric::i32_div_u)?,
        N::I32RemS => checked_binary::<i32, i32>(stack, numeric::i32_rem_s)?,
        N::I32RemU => checked_binary::<i32, i32>(stack, numeric::i32_rem_u)?,
        N::I32And => binary::<i32, i32>(stack, |a: i32, b: i32| a & b),
        N::I32Or => binary::<i32, i32>(stack, |a: i32, b: i32| a | b),
        N::I32Xor => binary::<i32, i32>(stack, |a: i32, b: i32| a ^ b),
        N::I32Shl => binary::<i32, i32>(stack, numeric::i32_shl),
        N::I32ShrS => binary::<i32, i32>(stack, numeric::i32_shr_s),
        N::I32ShrU => binary::<i32, i32>(stack, numeric::i32_shr_u),
        N::I32Rotl => binary::<i32, i32>(stack, numeric::i32_rotl),
        N::I32Rotr => binary::<i32, i32>(stack, numeric::i32_rotr),
        N::I64Clz => unary::<i64, i64>(stack, numeric::i64_clz),
        N::I64Ctz => unary::<i64, i64>(stack, numeric::i64_ctz),
        N::I64Popcnt => unary::<i64, i64>(stack, numeric::i64_popcnt),
        N::I64Add => binary::<i64, i64>(stack, numeric::i64_add),
        N::I64Sub => binary::<i64, i64>(stack, numeric::i64_sub),
        N::I64Mul => binary::<i64, i64>(stack, numeric::i64_mul),
        N::I64DivS => checked_binary::<i64, i64>(stack, numeric::i64_div_s)?,
        N::I64DivU => checked_binary::<i64, i64>(stack, numeric::i64_div_u)?,
        N::I64RemS => checked_binary::<i64, i64>(stack, numeric::i64_rem_s)?,
        N::I64RemU => checked_binary::<i64, i64>(stack, numeric::i64_rem_u)?,
        N::I64And => binary::<i64, i64>(stack, |a: i64, b: i64| a & b),
        N::I64Or => binary::<i64, i64>(stack, |a: i64, b: i64| a | b),
        N::I64Xor => binary::<i64, i64>(stack, |a: i64, b: i64| a ^ b),
        N::I64Shl => binary::<i64, i64>(stack, numeric::i64_shl),
        N::I64ShrS => binary::<i64, i64>(stack, numeric::i64_shr_s),
        N::I64ShrU => binary::<i64, i64>(stack, numeric::i64_shr_u),
        N::I64Rotl => binary::<i64, i64>(stack, numeric::i64_rotl),
        N::I64Rotr => binary::<i64, i64>(stack, numeric::i64_rotr),
        N::F32Abs => unary::<u32, u32>(stack, numeric::f32_abs),
        N::F32Neg => unary::<u32, u32>(stack, numeric::f32_neg),
        N::F32Ceil => unary::<u32, u32>(stack, numeric::f32_ceil),
        N::F32Floor => unary::<u32, u32>(stack, numeric::f32_floor),
        N::F32Trunc => unary::<u32, u32>(stack, numeric::f32_trunc),
        N::F32Nearest => unary::<u32, u32>(stack, numeric::f32_nearest),
        N::F32Sqrt => unary::<u32, u32>(stack, numeric::f32_sqrt),
        N::F32Add => binary::<u32, u32>(stack, numeric::f32_add),
        N::F32Sub => binary::<u32, u32>(stack, numeric::f32_sub),
        N::F32Mul => binary::<u32, u32>(stack, numeric::f32_mul),
        N::F32Div => binary::<u32, u32>(stack, numeric::f32_div),
        N::F32Min => binary::<u32, u32>(stack, numeric::f32_min),
        N::F32Max => binary::<u32, u32>(stack, numeric::f32_max),
        N::F32Copysign => binary::<u32, u32>(stack, numeric::f32_copysign),
        N::F64Abs => unary::<u64, u64>(stack, numeric::f64_abs),
        N::F64Neg => unary::<u64, u64>(stack, numeric::f64_neg),
        N::F64Ceil => unary::<u64, u64>(stack, numeric::f64_ceil),
        N::F64Floor => unary::<u64, u64>(stack, numeric::f64_floor),
        N::F64Trunc => unary::<u64, u64>(stack, numeric::f64_trunc),
        N::F64Nearest => unary::<u64, u64>(stack, numeric::f64_nearest),
        N::F64Sqrt => unary::<u64, u64>(stack, numeric::f64_sqrt),
        N::F64Add => binary::<u64, u64>(stack, numeric::f64_add),
        N::F64Sub => binary::<u64, u64>(stack, numeric::f64_sub),
        N::F64Mul => binary::<u64, u64>(stack, numeric::f64_mul),
        N::F64Div => binary::<u64, u64>(stack, numeric::f64_div),
        N::F64Min => binary::<u64, u64>(stack, numeric::f64_min),
        N::F64Max => binary::<u64, u64>(stack, numeric::f64_max),
        N::F64Copysign => binary::<u64, u64>(stack, numeric::f64_copysign),
        N::I32WrapI64 => unary::<i64, i32>(stack, numeric::i32_wrap_i64),
        N::I32TruncF32S => checked_unary::<u32, i32>(stack, numeric::i32_trunc_f32_s)?,
        N::I32TruncF32U => checked_unary::<u32, i32>(stack, numeric::i32_trunc_f32_u)?,
        N::I32TruncF64S => checked_unary::<u64, i32>(stack, numeric::i32_trunc_f64_s)?,
        N::I32TruncF64U => checked_unary::<u64, i32>(stack, numeric::i32_trunc_f64_u)?,
        N::I64ExtendI32S => unary::<i32, i64>(stack, numeric::i64_extend_i32_s),
        N::I64ExtendI32U => unary::<i32, i64>(stack, numeric::i64_extend_i32_u),
        N::I64TruncF32S => checked_unary::<u32, i64>(stack, numeric::i64_trunc_f32_s)?,
        N::I64TruncF32U => checked_unary::<u32, i64>(stack, numeric::i64_trunc_f32_u)?,
        N::I64TruncF64S => checked_unary::<u64, i64>(stack, numeric::i64_trunc_f64_s)?,
        N::I64TruncF64U => checked_unary::<u64, i64>(stack, numeric::i64_trunc_f64_u)?,
        N::F32ConvertI32S => unary::<i32, u32>(stack, numeric::f32_convert_i32_s),
        N::F32ConvertI32U => unary::<i32, u32>(stack, numeric::f32_convert_i32_u),
        N::F32ConvertI64S => unary::<i64, u32>(stack, numeric::f32_convert_i64_s),
        N::F32ConvertI64U => unary::<i64, u32>(stack, numeric::f32_convert_i64_u),
        N::F32DemoteF64 => unary::<u64, u32>(stack, numeric::f32_demote_f64),
        N::F64ConvertI32S => unary::<i32, u64>(stack, numeric::f64_convert_i32_s),
        N::F64ConvertI32U => unary::<i32, u64>(stack, numeric::f64_convert_i32_u),
        N::F64ConvertI64S => unary::<i64, u64>(stack, numeric::f64_convert_i64_s),
        N::F64ConvertI64U => unary::<i64, u64>(stack, numeric::f64_convert_i64_u),
        N::F64PromoteF32 => unary::<u32, u64>(stack, numeric::f64_promote_f32),
        N::I32Extend8S => unary::<i32, i32>(stack, numeric::i32_extend8_s),
        N::I32Extend16S => unary::<i32, i32>(stack, numeric::i32_extend16_s),
        N::I64Extend8S => unary::<i64, i64>(stack, numeric::i64_extend8_s),
        N::I64Extend16S => unary::<i64, i64>(stack, numeric::i64_extend16_s),
        N::I64Extend32S => unary::<i64, i64>(stack, numeric::i64_extend32_s),
        N::I32TruncSatF32S => unary::<u32, i32>(stack, numeric::i32_trunc_sat_f32_s),
        N::I32TruncSatF32U => unary::<u32, i32>(stack, numeric::i32_trunc_sat_f32_u),
        N::I32TruncSatF64S => unary::<u64, i32>(stack, numeric::i32_trunc_sat_f64_s),
        N::I32TruncSatF64U => unary::<u64, i32>(stack, numeric::i32_trunc_sat_f64_u),
        N::I64TruncSatF32S => unary::<u32, i64>(stack, numeric::i64_trunc_sat_f32_s),
        N::I64TruncSatF32U => unary::<u32, i64>(stack, numeric::i64_trunc_sat_f32_u),
        N::I64TruncSatF64S => unary::<u64, i64>(stack, numeric::i64_trunc_sat_f64_s),
        N::I64TruncSatF64U => unary::<u64, i64>(stack, numeric::i64_trunc_sat_f64_u),
        N::I32ReinterpretF32 => unary::<u32, i32>(stack, numeric::i32_reinterpret_f32),
        N::I64ReinterpretF64 => unary::<u64, i64>(stack, numeric::i64_reinterpret_f64),
        N::F32ReinterpretI32 => unary::<i32, u32>(stack, numeric::f32_reinterpret_i32),
        N::F64ReinterpretI64 => unary::<i64, u64>(stack, numeric::f64_reinterpret_i64),
    }
    Ok(())
}
