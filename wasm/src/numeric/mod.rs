//! Pure numeric semantics of WebAssembly's core instructions (the Wasm 3.0 spec, section
//! "Numerics"), free of any interpreter state.
//!
//! Owns: integer arithmetic that wraps or traps, shifts and rotations (counts taken modulo the
//! width), sign extension, float arithmetic with the spec's NaN rules, rounding to integral values,
//! and every conversion between the four number types.
//!
//! Interface conventions:
//! - Integers are carried as `i32`/`i64` (Wasm integers have no sign; the `_u` functions
//!   reinterpret them as unsigned).
//! - Floats are carried as their bits (`u32` for f32, `u64` for f64), so NaN payloads survive where
//!   the spec requires it: `abs`, `neg` and `copysign` are pure bit operations, and the
//!   `reinterpret` functions are identities on the bits.
//! - Every other float operation that produces a NaN obeys the spec's `nans` rule: when no operand
//!   is a NaN the result is a canonical NaN (only the quiet bit set in the payload, either sign);
//!   when some operand is a NaN the result is an arithmetic NaN (quiet bit set), and it is
//!   canonical when every NaN operand is canonical.
//! - Operations that can trap return `Result<_, ArithmeticTrap>`; nothing here panics for any
//!   input.
//!
//! Integer operations that are a single Rust operator with no overflow (`and`, `or`, `xor`, `eqz`,
//! `eq`, `ne`, and the comparisons, with `as u32`/`as u64` for the unsigned ones) are left to the
//! caller. Everything is `core` only (no `libm`): rounding to integral values and `sqrt` are exact
//! integer computations on the bits, because `core` has no float `floor`/`sqrt` on no_std targets.

use core::fmt;

/// A trap raised by a numeric instruction. [`fmt::Display`] gives the spec test suite's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithmeticTrap {
    /// Integer division or remainder by zero.
    IntegerDivideByZero,
    /// Signed division overflow (`MIN / -1`), or a checked float-to-integer truncation whose
    /// truncated value does not fit the integer type.
    IntegerOverflow,
    /// A checked float-to-integer truncation of a NaN.
    InvalidConversionToInteger,
}

impl ArithmeticTrap {
    /// The message the spec test suite expects in `assert_trap`.
    pub fn message(self) -> &'static str {
        match self {
            ArithmeticTrap::IntegerDivideByZero => "integer divide by zero",
            ArithmeticTrap::IntegerOverflow => "integer overflow",
            ArithmeticTrap::InvalidConversionToInteger => "invalid conversion to integer",
        }
    }
}

impl fmt::Display for ArithmeticTrap {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

macro_rules! integer_operations {
    (
        $int:ty, $uint:ty,
        $add:ident, $sub:ident, $mul:ident,
        $div_s:ident, $div_u:ident, $rem_s:ident, $rem_u:ident,
        $clz:ident, $ctz:ident, $popcnt:ident,
        $shl:ident, $shr_s:ident, $shr_u:ident, $rotl:ident, $rotr:ident
    ) => {
        #[doc = concat!("`", stringify!($add), "`: addition modulo 2^N.")]
        pub fn $add(a: $int, b: $int) -> $int {
            a.wrapping_add(b)
        }

        #[doc = concat!("`", stringify!($sub), "`: subtraction modulo 2^N.")]
        pub fn $sub(a: $int, b: $int) -> $int {
            a.wrapping_sub(b)
        }

        #[doc = concat!("`", stringify!($mul), "`: multiplication modulo 2^N.")]
        pub fn $mul(a: $int, b: $int) -> $int {
            a.wrapping_mul(b)
        }

        #[doc = concat!("`", stringify!($div_s), "`: signed division truncating toward zero; ")]
        /// traps on a zero divisor and on `MIN / -1`.
        pub fn $div_s(a: $int, b: $int) -> Result<$int, ArithmeticTrap> {
            if b == 0 {
                return Err(ArithmeticTrap::IntegerDivideByZero);
            }
            a.checked_div(b).ok_or(ArithmeticTrap::IntegerOverflow)
        }

        #[doc = concat!("`", stringify!($div_u), "`: unsigned division; traps on a zero divisor.")]
        pub fn $div_u(a: $int, b: $int) -> Result<$int, ArithmeticTrap> {
            match (a as $uint).checked_div(b as $uint) {
                Some(quotient) => Ok(quotient as $int),
                None => Err(ArithmeticTrap::IntegerDivideByZero),
            }
        }

        #[doc = concat!("`", stringify!($rem_s), "`: signed remainder with the dividend's sign; ")]
        /// traps on a zero divisor; `MIN rem -1` is 0 (no overflow trap).
        pub fn $rem_s(a: $int, b: $int) -> Result<$int, ArithmeticTrap> {
            if b == 0 {
                return Err(ArithmeticTrap::IntegerDivideByZero);
            }
            Ok(a.wrapping_rem(b))
        }

        #[doc = concat!("`", stringify!($rem_u), "`: unsigned remainder; traps on a zero divisor.")]
        pub fn $rem_u(a: $int, b: $int) -> Result<$int, ArithmeticTrap> {
            match (a as $uint).checked_rem(b as $uint) {
                Some(remainder) => Ok(remainder as $int),
                None => Err(ArithmeticTrap::IntegerDivideByZero),
            }
        }

        #[doc = concat!("`", stringify!($clz), "`: number of leading zero bits (N for 0).")]
        pub fn $clz(a: $int) -> $int {
            a.leading_zeros() as $int
        }

        #[doc = concat!("`", stringify!($ctz), "`: number of trailing zero bits (N for 0).")]
        pub fn $ctz(a: $int) -> $int {
            a.trailing_zeros() as $int
        }

        #[doc = concat!("`", stringify!($popcnt), "`: number of one bits.")]
        pub fn $popcnt(a: $int) -> $int {
            a.count_ones() as $int
        }

        #[doc = concat!("`", stringify!($shl), "`: shift left by `count` modulo N.")]
        pub fn $shl(a: $int, count: $int) -> $int {
            a.wrapping_shl(count as u32)
        }

        #[doc = concat!("`", stringify!($shr_s), "`: arithmetic shift right by `count` modulo N.")]
        pub fn $shr_s(a: $int, count: $int) -> $int {
            a.wrapping_shr(count as u32)
        }

        #[doc = concat!("`", stringify!($shr_u), "`: logical shift right by `count` modulo N.")]
        pub fn $shr_u(a: $int, count: $int) -> $int {
            (a as $uint).wrapping_shr(count as u32) as $int
        }

        #[doc = concat!("`", stringify!($rotl), "`: rotate left by `count` modulo N.")]
        pub fn $rotl(a: $int, count: $int) -> $int {
            a.rotate_left((count as u32) % <$int>::BITS)
        }

        #[doc = concat!("`", stringify!($rotr), "`: rotate right by `count` modulo N.")]
        pub fn $rotr(a: $int, count: $int) -> $int {
            a.rotate_right((count as u32) % <$int>::BITS)
        }
    };
}

integer_operations!(
    i32, u32, i32_add, i32_sub, i32_mul, i32_div_s, i32_div_u, i32_rem_s, i32_rem_u, i32_clz, i32_ctz, i32_popcnt,
    i32_shl, i32_shr_s, i32_shr_u, i32_rotl, i32_rotr
);
integer_operations!(
    i64, u64, i64_add, i64_sub, i64_mul, i64_div_s, i64_div_u, i64_rem_s, i64_rem_u, i64_clz, i64_ctz, i64_popcnt,
    i64_shl, i64_shr_s, i64_shr_u, i64_rotl, i64_rotr
);

/// Defines one-expression operations: `name(argument: Type) -> Type = expression;`, each with its doc.
macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident($argument:ident: $from:ty) -> $to:ty = $body:expr;)*) => {
        $($(#[$doc])* pub fn $name($argument: $from) -> $to { $body })*
    };
}

operations! {
    /// `i32.extend8_s`: sign-extends the low 8 bits.
    i32_extend8_s(a: i32) -> i32 = a as i8 as i32;
    /// `i32.extend16_s`: sign-extends the low 16 bits.
    i32_extend16_s(a: i32) -> i32 = a as i16 as i32;
    /// `i64.extend8_s`: sign-extends the low 8 bits.
    i64_extend8_s(a: i64) -> i64 = a as i8 as i64;
    /// `i64.extend16_s`: sign-extends the low 16 bits.
    i64_extend16_s(a: i64) -> i64 = a as i16 as i64;
    /// `i64.extend32_s`: sign-extends the low 32 bits.
    i64_extend32_s(a: i64) -> i64 = a as i32 as i64;
    /// `i32.wrap_i64`: the low 32 bits.
    i32_wrap_i64(a: i64) -> i32 = a as i32;
    /// `i64.extend_i32_s`: sign extension.
    i64_extend_i32_s(a: i32) -> i64 = a as i64;
    /// `i64.extend_i32_u`: zero extension.
    i64_extend_i32_u(a: i32) -> i64 = a as u32 as i64;
}

// ---------------------------------------------------------------------------------------------
// Float bit layout, shared by f32 and f64 (f32 bits are zero-extended to u64)
// ---------------------------------------------------------------------------------------------

/// The layout of one IEEE 754 binary format.
#[derive(Clone, Copy)]
struct Format {
    /// Stored fraction bits (23 or 52).
    fraction_bits: u32,
    /// Exponent field bits (8 or 11).
    exponent_bits: u32,
    /// Exponent bias (127 or 1023).
    bias: i32,
}

const F32: Format = Format { fraction_bits: 23, exponent_bits: 8, bias: 127 };
const F64: Format = Format { fraction_bits: 52, exponent_bits: 11, bias: 1023 };

impl Format {
    fn sign_mask(self) -> u64 {
        1 << (self.fraction_bits + self.exponent_bits)
    }

    fn fraction_mask(self) -> u64 {
        (1 << self.fraction_bits) - 1
    }

    fn quiet_bit(self) -> u64 {
        1 << (self.fraction_bits - 1)
    }

    /// The positive infinity; also the mask of the exponent field.
    fn infinity(self) -> u64 {
        self.sign_mask() - 1 - self.fraction_mask()
    }

    /// The positive canonical NaN.
    fn canonical_nan(self) -> u64 {
        self.infinity() | self.quiet_bit()
    }

    fn is_nan(self, bits: u64) -> bool {
        bits & !self.sign_mask() > self.infinity()
    }

    /// A NaN operand with its quiet bit set: canonical stays canonical, any NaN becomes
    /// arithmetic.
    fn quieted(self, bits: u64) -> u64 {
        bits | self.quiet_bit()
    }

    /// The biased exponent field.
    fn biased_exponent(self, magnitude: u64) -> i32 {
        (magnitude >> self.fraction_bits) as i32
    }
}

/// The four ways of rounding a float to an integral value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    TowardZero,
    Down,
    Up,
    NearestTiesEven,
}

/// Rounds `bits` to an integral value by exact integer work on the encoding (the encoding of
/// magnitudes is monotonic, so adding one unit of the integer position to a truncated magnitude
/// gives the next integer away from zero, carrying into the exponent when needed).
fn round_to_integral(format: Format, bits: u64, rounding: Rounding) -> u64 {
    if format.is_nan(bits) {
        return format.quieted(bits);
    }
    let sign = bits & format.sign_mask();
    let magnitude = bits & !format.sign_mask();
    let negative = sign != 0;
    if magnitude == 0 {
        return bits;
    }
    // Unbiased exponent of the leading bit; |x| >= 2^fraction_bits means already integral (and
    // infinities take this branch too).
    let exponent = format.biased_exponent(magnitude) - format.bias;
    if exponent >= format.fraction_bits as i32 {
        return bits;
    }
    let one = ((format.bias as u64) << format.fraction_bits) | sign;
    if exponent < 0 {
        // 0 < |x| < 1.
        let away = match rounding {
            Rounding::TowardZero => false,
            Rounding::Down => negative,
            Rounding::Up => !negative,
            // Above one half (exponent -1 with a nonzero fraction) rounds to one; exactly one
            // half ties to the even zero.
            Rounding::NearestTiesEven => exponent == -1 && magnitude & format.fraction_mask() != 0,
        };
        return if away { one } else { sign };
    }
    let fraction_position = format.fraction_bits - exponent as u32;
    let below_integer_mask = (1u64 << fraction_position) - 1;
    let fraction = magnitude & below_integer_mask;
    if fraction == 0 {
        return bits;
    }
    let truncated = magnitude & !below_integer_mask;
    let half = 1u64 << (fraction_position - 1);
    let away = match rounding {
        Rounding::TowardZero => false,
        Rounding::Down => negative,
        Rounding::Up => !negative,
        Rounding::NearestTiesEven => {
            // The integer's lowest bit is the implicit leading one when exponent is 0.
            let odd = exponent == 0 || (truncated >> fraction_position) & 1 == 1;
            fraction > half || (fraction == half && odd)
        }
    };
    let rounded = if away { truncated + (1u64 << fraction_position) } else { truncated };
    rounded | sign
}

/// Correctly rounded (ties to even) square root on the encoding, by an exact integer square root.
fn square_root(format: Format, bits: u64) -> u64 {
    if format.is_nan(bits) {
        return format.quieted(bits);
    }
    let magnitude = bits & !format.sign_mask();
    if magnitude == 0 {
        return bits; // sqrt(+-0) = +-0
    }
    if bits & format.sign_mask() != 0 {
        return format.canonical_nan();
    }
    if magnitude == format.infinity() {
        return bits;
    }
    // x = significand * 2^exponent with significand in [2^F, 2^(F+1)).
    let fraction_bits = format.fraction_bits;
    let biased = format.biased_exponent(magnitude);
    let (mut significand, mut exponent) = if biased == 0 {
        (magnitude, 1 - format.bias - fraction_bits as i32)
    } else {
        let implicit = 1u64 << fraction_bits;
        (implicit | (magnitude & format.fraction_mask()), biased - format.bias - fraction_bits as i32)
    };
    while significand >> fraction_bits == 0 {
        significand <<= 1;
        exponent -= 1;
    }
    // Scale by 2^shift (shift of F+2 or F+3, making exponent - shift even) so the integer root
    // has F+2 bits: the result's F+1 significand bits and one rounding bit.
    let mut shift = fraction_bits + 2;
    if (exponent - shift as i32) % 2 != 0 {
        shift += 1;
    }
    let scaled = (significand as u128) << shift;
    let root = scaled.isqrt();
    let inexact = root * root != scaled;
    let mut result_significand = (root >> 1) as u64;
    let rounding_bit = root & 1 == 1;
    if rounding_bit && (inexact || result_significand & 1 == 1) {
        result_significand += 1;
    }
    // sqrt(x) = root * 2^((exponent - shift) / 2) and root = 2 * result_significand (before
    // rounding), so the leading bit of the result has exponent (exponent - shift)/2 + 1 + F.
    // Results are always normal: the smallest input 2^-149 (2^-1074) has root 2^-74.5 (2^-537).
    let result_exponent = (exponent - shift as i32) / 2 + 1 + fraction_bits as i32;
    let biased_result = (result_exponent + format.bias) as u64;
    // Adding the significand with its implicit bit carries into the exponent field, which also
    // handles a rounding carry to the next power of two.
    ((biased_result - 1) << fraction_bits) + result_significand
}

/// `min` or `max` with the spec's rules: NaN if either operand is NaN, and -0 below +0.
fn minimum_or_maximum(format: Format, a: u64, b: u64, a_less: bool, want_minimum: bool) -> u64 {
    if format.is_nan(a) {
        return format.quieted(a);
    }
    if format.is_nan(b) {
        return format.quieted(b);
    }
    let zero_mask = !format.sign_mask();
    if a & zero_mask == 0 && b & zero_mask == 0 {
        // Both zeros: the minimum has a sign if either has, the maximum only if both have.
        return if want_minimum { a | b } else { a & b };
    }
    if a_less == want_minimum {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------------------------------------
// Float operations
// ---------------------------------------------------------------------------------------------

macro_rules! float_operations {
    (
        $float:ty, $bits:ty, $format:expr,
        $abs:ident, $neg:ident, $copysign:ident,
        $ceil:ident, $floor:ident, $trunc:ident, $nearest:ident, $sqrt:ident,
        $add:ident, $sub:ident, $mul:ident, $div:ident, $min:ident, $max:ident,
        $eq:ident, $ne:ident, $lt:ident, $gt:ident, $le:ident, $ge:ident
    ) => {
        #[doc = concat!("`", stringify!($abs), "`: clears the sign bit (NaN payload kept).")]
        pub fn $abs(bits: $bits) -> $bits {
            bits & !($format.sign_mask() as $bits)
        }

        #[doc = concat!("`", stringify!($neg), "`: flips the sign bit (NaN payload kept).")]
        pub fn $neg(bits: $bits) -> $bits {
            bits ^ ($format.sign_mask() as $bits)
        }

        #[doc = concat!("`", stringify!($copysign), "`: `magnitude` with the sign bit of `sign` ")]
        /// (NaN payloads kept).
        pub fn $copysign(magnitude: $bits, sign: $bits) -> $bits {
            let sign_mask = $format.sign_mask() as $bits;
            (magnitude & !sign_mask) | (sign & sign_mask)
        }

        #[doc = concat!("`", stringify!($ceil), "`: rounds toward +infinity (-0.5 gives -0).")]
        pub fn $ceil(bits: $bits) -> $bits {
            round_to_integral($format, bits as u64, Rounding::Up) as $bits
        }

        #[doc = concat!("`", stringify!($floor), "`: rounds toward -infinity (0.5 gives +0).")]
        pub fn $floor(bits: $bits) -> $bits {
            round_to_integral($format, bits as u64, Rounding::Down) as $bits
        }

        #[doc = concat!("`", stringify!($trunc), "`: rounds toward zero, keeping the sign.")]
        pub fn $trunc(bits: $bits) -> $bits {
            round_to_integral($format, bits as u64, Rounding::TowardZero) as $bits
        }

        #[doc = concat!("`", stringify!($nearest), "`: rounds to the nearest integral value, ")]
        /// ties to even, keeping the sign (-0.5 gives -0).
        pub fn $nearest(bits: $bits) -> $bits {
            round_to_integral($format, bits as u64, Rounding::NearestTiesEven) as $bits
        }

        #[doc = concat!("`", stringify!($sqrt), "`: correctly rounded square root; a canonical ")]
        /// NaN for negative operands other than -0.
        pub fn $sqrt(bits: $bits) -> $bits {
            square_root($format, bits as u64) as $bits
        }

        #[doc = concat!("`", stringify!($add), "`: IEEE 754 addition, round to nearest even.")]
        pub fn $add(a: $bits, b: $bits) -> $bits {
            // Rust's float arithmetic follows the same NaN rules as Wasm (RFC 3514): a canonical
            // NaN from non-NaN operands, an arithmetic NaN from NaN operands.
            (<$float>::from_bits(a) + <$float>::from_bits(b)).to_bits()
        }

        #[doc = concat!("`", stringify!($sub), "`: IEEE 754 subtraction, round to nearest even.")]
        pub fn $sub(a: $bits, b: $bits) -> $bits {
            (<$float>::from_bits(a) - <$float>::from_bits(b)).to_bits()
        }

        #[doc = concat!("`", stringify!($mul), "`: IEEE 754 multiplication, round to nearest ")]
        /// even.
        pub fn $mul(a: $bits, b: $bits) -> $bits {
            (<$float>::from_bits(a) * <$float>::from_bits(b)).to_bits()
        }

        #[doc = concat!("`", stringify!($div), "`: IEEE 754 division, round to nearest even.")]
        pub fn $div(a: $bits, b: $bits) -> $bits {
            (<$float>::from_bits(a) / <$float>::from_bits(b)).to_bits()
        }

        #[doc = concat!("`", stringify!($min), "`: the smaller operand; NaN if either is NaN; ")]
        /// -0 is smaller than +0.
        pub fn $min(a: $bits, b: $bits) -> $bits {
            let a_less = <$float>::from_bits(a) < <$float>::from_bits(b);
            minimum_or_maximum($format, a as u64, b as u64, a_less, true) as $bits
        }

        #[doc = concat!("`", stringify!($max), "`: the larger operand; NaN if either is NaN; ")]
        /// +0 is larger than -0.
        pub fn $max(a: $bits, b: $bits) -> $bits {
            let a_less = <$float>::from_bits(a) < <$float>::from_bits(b);
            minimum_or_maximum($format, a as u64, b as u64, a_less, false) as $bits
        }

        #[doc = concat!("`", stringify!($eq), "`: ordered equality (false with a NaN; -0 == +0).")]
        pub fn $eq(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) == <$float>::from_bits(b)
        }

        #[doc = concat!("`", stringify!($ne), "`: negation of `eq` (true with a NaN).")]
        pub fn $ne(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) != <$float>::from_bits(b)
        }

        #[doc = concat!("`", stringify!($lt), "`: ordered less-than (false with a NaN).")]
        pub fn $lt(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) < <$float>::from_bits(b)
        }

        #[doc = concat!("`", stringify!($gt), "`: ordered greater-than (false with a NaN).")]
        pub fn $gt(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) > <$float>::from_bits(b)
        }

        #[doc = concat!("`", stringify!($le), "`: ordered less-or-equal (false with a NaN).")]
        pub fn $le(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) <= <$float>::from_bits(b)
        }

        #[doc = concat!("`", stringify!($ge), "`: ordered greater-or-equal (false with a NaN).")]
        pub fn $ge(a: $bits, b: $bits) -> bool {
            <$float>::from_bits(a) >= <$float>::from_bits(b)
        }
    };
}

float_operations!(
    f32,
    u32,
    F32,
    f32_abs,
    f32_neg,
    f32_copysign,
    f32_ceil,
    f32_floor,
    f32_trunc,
    f32_nearest,
    f32_sqrt,
    f32_add,
    f32_sub,
    f32_mul,
    f32_div,
    f32_min,
    f32_max,
    f32_eq,
    f32_ne,
    f32_lt,
    f32_gt,
    f32_le,
    f32_ge
);
float_operations!(
    f64,
    u64,
    F64,
    f64_abs,
    f64_neg,
    f64_copysign,
    f64_ceil,
    f64_floor,
    f64_trunc,
    f64_nearest,
    f64_sqrt,
    f64_add,
    f64_sub,
    f64_mul,
    f64_div,
    f64_min,
    f64_max,
    f64_eq,
    f64_ne,
    f64_lt,
    f64_gt,
    f64_le,
    f64_ge
);

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

/// Checked truncation toward zero: traps on NaN and when the truncated value lies outside
/// (`lower_exclusive`, `upper_exclusive`), both exact in f64. Every f32 is exact in f64.
fn checked_truncation(value: f64, lower_exclusive: f64, upper_exclusive: f64) -> Result<f64, ArithmeticTrap> {
    if value.is_nan() {
        return Err(ArithmeticTrap::InvalidConversionToInteger);
    }
    if value <= lower_exclusive || value >= upper_exclusive {
        return Err(ArithmeticTrap::IntegerOverflow);
    }
    Ok(value)
}

// Exclusive bounds: a value converts when its truncation is in range, i.e. when it lies strictly
// between MIN - 1 and MAX + 1. For i64, MIN - 1 = -2^63 - 1 is not an f64, but no f64 lies
// strictly between it and -2^63 either, so -2^63 - 2^11 (the next f64 below) is equivalent.
const I32_LOWER: f64 = -2_147_483_649.0;
const I32_UPPER: f64 = 2_147_483_648.0;
const U32_UPPER: f64 = 4_294_967_296.0;
const I64_LOWER: f64 = -9_223_372_036_854_777_856.0;
const I64_UPPER: f64 = 9_223_372_036_854_775_808.0;
const U64_UPPER: f64 = 18_446_744_073_709_551_616.0;

operations! {
    /// `i32.trunc_f32_s`: truncation toward zero; traps on NaN or out of range.
    i32_trunc_f32_s(bits: u32) -> Result<i32, ArithmeticTrap> =
        checked_truncation(f32::from_bits(bits) as f64, I32_LOWER, I32_UPPER).map(|x| x as i32);
    /// `i32.trunc_f32_u`: truncation toward zero; traps on NaN or out of range (-1 < x < 2^32).
    i32_trunc_f32_u(bits: u32) -> Result<i32, ArithmeticTrap> =
        checked_truncation(f32::from_bits(bits) as f64, -1.0, U32_UPPER).map(|x| x as u32 as i32);
    /// `i32.trunc_f64_s`: truncation toward zero; traps on NaN or out of range.
    i32_trunc_f64_s(bits: u64) -> Result<i32, ArithmeticTrap> =
        checked_truncation(f64::from_bits(bits), I32_LOWER, I32_UPPER).map(|x| x as i32);
    /// `i32.trunc_f64_u`: truncation toward zero; traps on NaN or out of range (-1 < x < 2^32).
    i32_trunc_f64_u(bits: u64) -> Result<i32, ArithmeticTrap> =
        checked_truncation(f64::from_bits(bits), -1.0, U32_UPPER).map(|x| x as u32 as i32);
    /// `i64.trunc_f32_s`: truncation toward zero; traps on NaN or out of range.
    i64_trunc_f32_s(bits: u32) -> Result<i64, ArithmeticTrap> =
        checked_truncation(f32::from_bits(bits) as f64, I64_LOWER, I64_UPPER).map(|x| x as i64);
    /// `i64.trunc_f32_u`: truncation toward zero; traps on NaN or out of range (-1 < x < 2^64).
    i64_trunc_f32_u(bits: u32) -> Result<i64, ArithmeticTrap> =
        checked_truncation(f32::from_bits(bits) as f64, -1.0, U64_UPPER).map(|x| x as u64 as i64);
    /// `i64.trunc_f64_s`: truncation toward zero; traps on NaN or out of range.
    i64_trunc_f64_s(bits: u64) -> Result<i64, ArithmeticTrap> =
        checked_truncation(f64::from_bits(bits), I64_LOWER, I64_UPPER).map(|x| x as i64);
    /// `i64.trunc_f64_u`: truncation toward zero; traps on NaN or out of range (-1 < x < 2^64).
    i64_trunc_f64_u(bits: u64) -> Result<i64, ArithmeticTrap> =
        checked_truncation(f64::from_bits(bits), -1.0, U64_UPPER).map(|x| x as u64 as i64);
}

// Rust's float-to-integer `as` is exactly Wasm's saturating truncation: toward zero, NaN to 0,
// out-of-range values to the nearest bound.
operations! {
    /// `i32.trunc_sat_f32_s`: truncation toward zero, saturating; NaN gives 0.
    i32_trunc_sat_f32_s(bits: u32) -> i32 = f32::from_bits(bits) as i32;
    /// `i32.trunc_sat_f32_u`: truncation toward zero, saturating; NaN gives 0.
    i32_trunc_sat_f32_u(bits: u32) -> i32 = f32::from_bits(bits) as u32 as i32;
    /// `i32.trunc_sat_f64_s`: truncation toward zero, saturating; NaN gives 0.
    i32_trunc_sat_f64_s(bits: u64) -> i32 = f64::from_bits(bits) as i32;
    /// `i32.trunc_sat_f64_u`: truncation toward zero, saturating; NaN gives 0.
    i32_trunc_sat_f64_u(bits: u64) -> i32 = f64::from_bits(bits) as u32 as i32;
    /// `i64.trunc_sat_f32_s`: truncation toward zero, saturating; NaN gives 0.
    i64_trunc_sat_f32_s(bits: u32) -> i64 = f32::from_bits(bits) as i64;
    /// `i64.trunc_sat_f32_u`: truncation toward zero, saturating; NaN gives 0.
    i64_trunc_sat_f32_u(bits: u32) -> i64 = f32::from_bits(bits) as u64 as i64;
    /// `i64.trunc_sat_f64_s`: truncation toward zero, saturating; NaN gives 0.
    i64_trunc_sat_f64_s(bits: u64) -> i64 = f64::from_bits(bits) as i64;
    /// `i64.trunc_sat_f64_u`: truncation toward zero, saturating; NaN gives 0.
    i64_trunc_sat_f64_u(bits: u64) -> i64 = f64::from_bits(bits) as u64 as i64;
}

// Rust's integer-to-float `as` rounds once, to nearest with ties to even, as Wasm requires.
operations! {
    /// `f32.convert_i32_s`: the nearest f32 (ties to even).
    f32_convert_i32_s(a: i32) -> u32 = (a as f32).to_bits();
    /// `f32.convert_i32_u`: the nearest f32 (ties to even).
    f32_convert_i32_u(a: i32) -> u32 = (a as u32 as f32).to_bits();
    /// `f32.convert_i64_s`: the nearest f32 (ties to even, rounded once).
    f32_convert_i64_s(a: i64) -> u32 = (a as f32).to_bits();
    /// `f32.convert_i64_u`: the nearest f32 (ties to even, rounded once).
    f32_convert_i64_u(a: i64) -> u32 = (a as u64 as f32).to_bits();
    /// `f64.convert_i32_s`: exact.
    f64_convert_i32_s(a: i32) -> u64 = (a as f64).to_bits();
    /// `f64.convert_i32_u`: exact.
    f64_convert_i32_u(a: i32) -> u64 = (a as u32 as f64).to_bits();
    /// `f64.convert_i64_s`: the nearest f64 (ties to even).
    f64_convert_i64_s(a: i64) -> u64 = (a as f64).to_bits();
    /// `f64.convert_i64_u`: the nearest f64 (ties to even).
    f64_convert_i64_u(a: i64) -> u64 = (a as u64 as f64).to_bits();
}

/// `f32.demote_f64`: the nearest f32 (ties to even, overflow to infinity). A NaN keeps its sign
/// and the high bits of its payload with the quiet bit set (canonical stays canonical).
pub fn f32_demote_f64(bits: u64) -> u32 {
    if F64.is_nan(bits) {
        let sign = ((bits >> 32) as u32) & F32.sign_mask() as u32;
        let payload = ((bits & F64.fraction_mask()) >> (52 - 23)) as u32;
        return sign | F32.canonical_nan() as u32 | payload;
    }
    (f64::from_bits(bits) as f32).to_bits()
}

/// `f64.promote_f32`: exact. A NaN keeps its sign and payload (as the high payload bits) with the
/// quiet bit set (canonical stays canonical).
pub fn f64_promote_f32(bits: u32) -> u64 {
    if F32.is_nan(bits as u64) {
        let sign = ((bits as u64) << 32) & F64.sign_mask();
        let payload = ((bits as u64) & F32.fraction_mask()) << (52 - 23);
        return sign | F64.canonical_nan() | payload;
    }
    (f32::from_bits(bits) as f64).to_bits()
}

operations! {
    /// `i32.reinterpret_f32`: the same bits.
    i32_reinterpret_f32(bits: u32) -> i32 = bits as i32;
    /// `i64.reinterpret_f64`: the same bits.
    i64_reinterpret_f64(bits: u64) -> i64 = bits as i64;
    /// `f32.reinterpret_i32`: the same bits.
    f32_reinterpret_i32(a: i32) -> u32 = a as u32;
    /// `f64.reinterpret_i64`: the same bits.
    f64_reinterpret_i64(a: i64) -> u64 = a as u64;
}

#[cfg(test)]
mod tests;
