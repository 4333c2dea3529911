//! Unit tests of the pure numeric semantics in `numeric/mod.rs`: integer traps, wrapping,
//! shifts and sign extension; float NaN rules (canonical and arithmetic NaNs, payloads kept by
//! the bit operations), rounding to integral values, `sqrt`, `min`/`max` and comparisons; every
//! conversion (checked and saturating truncation, integer to float, promotion, demotion,
//! reinterpretation); and the trap messages. Each test's name states the rule it checks. They
//! read the functions through `use super::*` and need no allocator (the `Display` test writes
//! into a fixed buffer).

use super::*;

const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F32_SIGNALING_NAN: u32 = 0x7fa0_0001;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;
const F64_SIGNALING_NAN: u64 = 0x7ff4_0000_0000_0001;

fn f32(value: f32) -> u32 {
    value.to_bits()
}

fn f64(value: f64) -> u64 {
    value.to_bits()
}

fn is_f32_canonical_nan(bits: u32) -> bool {
    bits & 0x7fff_ffff == F32_CANONICAL_NAN
}

fn is_f32_arithmetic_nan(bits: u32) -> bool {
    bits & 0x7fc0_0000 == 0x7fc0_0000
}

fn is_f64_canonical_nan(bits: u64) -> bool {
    bits & 0x7fff_ffff_ffff_ffff == F64_CANONICAL_NAN
}

fn is_f64_arithmetic_nan(bits: u64) -> bool {
    bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000
}

#[test]
fn division_by_zero_traps_for_every_division_and_remainder() {
    let zero = ArithmeticTrap::IntegerDivideByZero;
    assert_eq!(i32_div_s(1, 0), Err(zero));
    assert_eq!(i32_div_u(1, 0), Err(zero));
    assert_eq!(i32_rem_s(1, 0), Err(zero));
    assert_eq!(i32_rem_u(1, 0), Err(zero));
    assert_eq!(i64_div_s(i64::MIN, 0), Err(zero));
    assert_eq!(i64_div_u(1, 0), Err(zero));
    assert_eq!(i64_rem_s(i64::MIN, 0), Err(zero));
    assert_eq!(i64_rem_u(1, 0), Err(zero));
}

#[test]
fn signed_division_of_minimum_by_minus_one_overflows_but_remainder_is_zero() {
    assert_eq!(i32_div_s(i32::MIN, -1), Err(ArithmeticTrap::IntegerOverflow));
    assert_eq!(i64_div_s(i64::MIN, -1), Err(ArithmeticTrap::IntegerOverflow));
    assert_eq!(i32_rem_s(i32::MIN, -1), Ok(0));
    assert_eq!(i64_rem_s(i64::MIN, -1), Ok(0));
}

#[test]
fn signed_division_truncates_toward_zero_and_remainder_takes_the_dividend_sign() {
    assert_eq!(i32_div_s(-7, 2), Ok(-3));
    assert_eq!(i32_rem_s(-7, 2), Ok(-1));
    assert_eq!(i32_rem_s(7, -2), Ok(1));
    assert_eq!(i64_div_s(7, -2), Ok(-3));
    assert_eq!(i64_rem_s(-7, -2), Ok(-1));
}

#[test]
fn unsigned_division_reads_operands_as_unsigned() {
    assert_eq!(i32_div_u(-1, 2), Ok(0x7fff_ffff));
    assert_eq!(i32_rem_u(i32::MIN, -1), Ok(i32::MIN));
    assert_eq!(i32_div_u(i32::MIN, 2), Ok(0x4000_0000));
    assert_eq!(i64_div_u(-1, 2), Ok(i64::MAX));
    assert_eq!(i64_rem_u(-1, 10), Ok(5)); // 18446744073709551615 % 10
}

#[test]
fn add_sub_mul_wrap_modulo_two_to_the_width() {
    assert_eq!(i32_add(i32::MAX, 1), i32::MIN);
    assert_eq!(i32_sub(i32::MIN, 1), i32::MAX);
    assert_eq!(i32_mul(0x1234_5678, 0x10), 0x2345_6780);
    assert_eq!(i64_add(i64::MAX, 1), i64::MIN);
    assert_eq!(i64_sub(i64::MIN, 1), i64::MAX);
    assert_eq!(i64_mul(i64::MIN, -1), i64::MIN);
}

#[test]
fn shift_and_rotate_counts_are_taken_modulo_the_width() {
    assert_eq!(i32_shl(1, 32), 1);
    assert_eq!(i32_shl(1, 33), 2);
    assert_eq!(i32_shl(1, -1), i32::MIN);
    assert_eq!(i32_shr_s(i32::MIN, 31), -1);
    assert_eq!(i32_shr_s(-1, 32), -1);
    assert_eq!(i32_shr_u(i32::MIN, 31), 1);
    assert_eq!(i32_shr_u(i32::MIN, 63), 1);
    assert_eq!(i32_rotl(0x8000_0001u32 as i32, 1), 3);
    assert_eq!(i32_rotl(1, 33), 2);
    assert_eq!(i32_rotr(1, 1), i32::MIN);
    assert_eq!(i32_rotr(1, -1), 2);
    assert_eq!(i64_shl(1, 64), 1);
    assert_eq!(i64_shl(1, 65), 2);
    assert_eq!(i64_shr_s(i64::MIN, 63), -1);
    assert_eq!(i64_shr_u(i64::MIN, 127), 1);
    assert_eq!(i64_rotl(i64::MIN, 1), 1);
    assert_eq!(i64_rotr(1, 65), i64::MIN);
    assert_eq!(i64_rotl(1, -1), i64::MIN);
}

#[test]
fn bit_counts_of_zero_are_the_width() {
    assert_eq!((i32_clz(0), i32_ctz(0), i32_popcnt(0)), (32, 32, 0));
    assert_eq!((i64_clz(0), i64_ctz(0), i64_popcnt(0)), (64, 64, 0));
    assert_eq!((i32_clz(-1), i32_ctz(i32::MIN), i32_popcnt(-1)), (0, 31, 32));
    assert_eq!((i64_clz(1), i64_ctz(i64::MIN), i64_popcnt(-1)), (63, 63, 64));
}

#[test]
fn sign_extensions_copy_the_top_kept_bit() {
    assert_eq!(i32_extend8_s(0x7f), 0x7f);
    assert_eq!(i32_extend8_s(0x80), -128);
    assert_eq!(i32_extend8_s(0x1234_5680), -128);
    assert_eq!(i32_extend16_s(0x8000), -32768);
    assert_eq!(i32_extend16_s(0x1234_7fff), 0x7fff);
    assert_eq!(i64_extend8_s(0x80), -128);
    assert_eq!(i64_extend16_s(0x0123_4567_8000), -32768);
    assert_eq!(i64_extend32_s(0x8000_0000), -0x8000_0000);
    assert_eq!(i64_extend32_s(0x1_7fff_ffff), 0x7fff_ffff);
    assert_eq!(i64_extend_i32_s(-1), -1);
    assert_eq!(i64_extend_i32_u(-1), 0xffff_ffff);
    assert_eq!(i32_wrap_i64(0x1_0000_0002), 2);
}

#[test]
fn abs_neg_copysign_keep_nan_payloads_bit_for_bit() {
    assert_eq!(f32_abs(F32_SIGNALING_NAN | 0x8000_0000), F32_SIGNALING_NAN);
    assert_eq!(f32_neg(F32_SIGNALING_NAN), F32_SIGNALING_NAN | 0x8000_0000);
    assert_eq!(f32_copysign(F32_SIGNALING_NAN, f32(-0.0)), F32_SIGNALING_NAN | 0x8000_0000);
    assert_eq!(f32_copysign(f32(-2.0), F32_CANONICAL_NAN), f32(2.0));
    assert_eq!(f64_abs(F64_SIGNALING_NAN | 1 << 63), F64_SIGNALING_NAN);
    assert_eq!(f64_neg(F64_SIGNALING_NAN), F64_SIGNALING_NAN | 1 << 63);
    assert_eq!(f64_copysign(f64(1.5), f64(-0.0)), f64(-1.5));
    assert_eq!(f64_neg(f64(0.0)), f64(-0.0));
}

#[test]
fn rounding_keeps_the_sign_of_zero_results() {
    assert_eq!(f32_ceil(f32(-0.5)), f32(-0.0));
    assert_eq!(f32_floor(f32(0.5)), f32(0.0));
    assert_eq!(f32_trunc(f32(-0.9)), f32(-0.0));
    assert_eq!(f32_nearest(f32(-0.5)), f32(-0.0));
    assert_eq!(f32_nearest(f32(-0.0)), f32(-0.0));
    assert_eq!(f64_ceil(f64(-0.9)), f64(-0.0));
    assert_eq!(f64_nearest(f64(-0.25)), f64(-0.0));
    assert_eq!(f64_floor(f64(-0.0)), f64(-0.0));
    assert_eq!(f64_trunc(f64(-f64::MIN_POSITIVE)), f64(-0.0));
}

#[test]
fn floor_and_ceil_of_small_nonzero_values_reach_the_next_integer() {
    let smallest_f32 = 1; // 0x1p-149
    assert_eq!(f32_ceil(smallest_f32), f32(1.0));
    assert_eq!(f32_floor(smallest_f32 | 0x8000_0000), f32(-1.0));
    assert_eq!(f32_floor(f32(-1.5)), f32(-2.0));
    assert_eq!(f32_ceil(f32(1.5)), f32(2.0));
    assert_eq!(f32_ceil(f32(8_388_607.5)), f32(8_388_608.0)); // carries into the exponent
    assert_eq!(f64_ceil(1), f64(1.0));
    assert_eq!(f64_floor(f64(-4_503_599_627_370_495.5)), f64(-4_503_599_627_370_496.0));
    assert_eq!(f64_trunc(f64(-4_503_599_627_370_495.5)), f64(-4_503_599_627_370_495.0));
}

#[test]
fn nearest_rounds_ties_to_even() {
    for (input, expected) in [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-2.5, -2.0), (3.5, 4.0), (0.75, 1.0)] {
        assert_eq!(f32_nearest(f32(input)), f32(expected), "{input}");
        assert_eq!(f64_nearest(f64(input as f64)), f64(expected as f64), "{input}");
    }
    assert_eq!(f32_nearest(f32(8_388_607.5)), f32(8_388_608.0));
    assert_eq!(f32_nearest(f32(-8_388_605.5)), f32(-8_388_606.0));
    assert_eq!(f64_nearest(f64(4_503_599_627_370_495.5)), f64(4_503_599_627_370_496.0));
    assert_eq!(f64_nearest(f64(4_503_599_627_370_494.5)), f64(4_503_599_627_370_494.0));
}

#[test]
fn rounding_leaves_large_values_and_infinities_unchanged() {
    for operation in [f32_ceil, f32_floor, f32_trunc, f32_nearest] {
        assert_eq!(operation(f32(8_388_609.0)), f32(8_388_609.0));
        assert_eq!(operation(f32(f32::MAX)), f32(f32::MAX));
        assert_eq!(operation(f32(f32::NEG_INFINITY)), f32(f32::NEG_INFINITY));
    }
    for operation in [f64_ceil, f64_floor, f64_trunc, f64_nearest] {
        assert_eq!(operation(f64(4_503_599_627_370_497.0)), f64(4_503_599_627_370_497.0));
        assert_eq!(operation(f64(f64::INFINITY)), f64(f64::INFINITY));
    }
}

#[test]
fn unary_operations_quiet_nan_operands_and_keep_their_payload() {
    for operation in [f32_ceil, f32_floor, f32_trunc, f32_nearest, f32_sqrt] {
        assert_eq!(operation(F32_SIGNALING_NAN), F32_SIGNALING_NAN | 0x0040_0000);
        assert_eq!(operation(F32_CANONICAL_NAN | 0x8000_0000), F32_CANONICAL_NAN | 0x8000_0000);
    }
    for operation in [f64_ceil, f64_floor, f64_trunc, f64_nearest, f64_sqrt] {
        assert_eq!(operation(F64_SIGNALING_NAN), F64_SIGNALING_NAN | 0x0008_0000_0000_0000);
        assert_eq!(operation(F64_CANONICAL_NAN), F64_CANONICAL_NAN);
    }
}

#[test]
fn sqrt_is_correctly_rounded_and_exact_on_squares() {
    assert_eq!(f32_sqrt(f32(4.0)), f32(2.0));
    assert_eq!(f32_sqrt(f32(2.0)), 0x3fb5_04f3); // 0x1.6a09e6p+0
    assert_eq!(f32_sqrt(1), 0x1a35_04f3); // sqrt(0x1p-149) = 0x1.6a09e6p-75
    assert_eq!(f32_sqrt(f32(f32::MAX)), 0x5f7f_ffff); // 0x1.fffffep+63
    assert_eq!(f64_sqrt(f64(2.0)), 0x3ff6_a09e_667f_3bcd);
    assert_eq!(f64_sqrt(f64(1e300)), f64(1e150));
    assert_eq!(f64_sqrt(1), 0x1e60_0000_0000_0000); // sqrt(0x1p-1074) = 0x1p-537
    assert_eq!(f64_sqrt(f64(f64::INFINITY)), f64(f64::INFINITY));
}

#[test]
fn sqrt_of_negative_zero_is_negative_zero_and_of_negatives_a_canonical_nan() {
    assert_eq!(f32_sqrt(f32(-0.0)), f32(-0.0));
    assert_eq!(f64_sqrt(f64(-0.0)), f64(-0.0));
    assert!(is_f32_canonical_nan(f32_sqrt(f32(-1.0))));
    assert!(is_f32_canonical_nan(f32_sqrt(1 | 0x8000_0000)));
    assert!(is_f64_canonical_nan(f64_sqrt(f64(f64::NEG_INFINITY))));
}

#[test]
fn arithmetic_gives_canonical_nan_from_numbers_and_arithmetic_nan_from_nans() {
    assert!(is_f32_canonical_nan(f32_sub(f32(f32::INFINITY), f32(f32::INFINITY))));
    assert!(is_f32_canonical_nan(f32_mul(f32(0.0), f32(f32::NEG_INFINITY))));
    assert!(is_f32_canonical_nan(f32_div(f32(0.0), f32(-0.0))));
    assert!(is_f64_canonical_nan(f64_add(f64(f64::INFINITY), f64(f64::NEG_INFINITY))));
    assert!(is_f64_canonical_nan(f64_div(f64(f64::INFINITY), f64(f64::INFINITY))));
    assert!(is_f32_arithmetic_nan(f32_add(F32_SIGNALING_NAN, f32(1.0))));
    assert!(is_f32_arithmetic_nan(f32_mul(f32(2.0), F32_SIGNALING_NAN)));
    assert!(is_f64_arithmetic_nan(f64_sub(F64_SIGNALING_NAN, f64(1.0))));
    assert!(is_f64_arithmetic_nan(f64_div(f64(1.0), F64_SIGNALING_NAN)));
}

#[test]
fn arithmetic_rounds_to_nearest_even() {
    // 1 + 2^-24 is a tie between 1 and 1 + 2^-23: even wins.
    assert_eq!(f32_add(f32(1.0), 0x3380_0000), f32(1.0));
    assert_eq!(f32_add(0x3f80_0001, 0x3380_0000), 0x3f80_0002);
    assert_eq!(f64_add(f64(1.0), f64(f64::EPSILON / 2.0)), f64(1.0));
    assert_eq!(f64_mul(f64(f64::MAX), f64(2.0)), f64(f64::INFINITY));
    assert_eq!(f64_div(f64(1.0), f64(-0.0)), f64(f64::NEG_INFINITY));
}

#[test]
fn min_and_max_propagate_nan_and_order_negative_zero_below_positive_zero() {
    assert_eq!(f32_min(f32(0.0), f32(-0.0)), f32(-0.0));
    assert_eq!(f32_min(f32(-0.0), f32(0.0)), f32(-0.0));
    assert_eq!(f32_max(f32(-0.0), f32(0.0)), f32(0.0));
    assert_eq!(f32_max(f32(0.0), f32(-0.0)), f32(0.0));
    assert_eq!(f64_min(f64(-0.0), f64(0.0)), f64(-0.0));
    assert_eq!(f64_max(f64(-0.0), f64(0.0)), f64(0.0));
    assert_eq!(f32_min(f32(1.0), f32(-2.0)), f32(-2.0));
    assert_eq!(f64_max(f64(1.0), f64(f64::INFINITY)), f64(f64::INFINITY));
    assert_eq!(f32_min(f32(1.0), F32_SIGNALING_NAN), F32_SIGNALING_NAN | 0x0040_0000);
    assert_eq!(f32_max(F32_CANONICAL_NAN, f32(f32::INFINITY)), F32_CANONICAL_NAN);
    assert_eq!(f64_min(F64_SIGNALING_NAN, f64(0.0)), F64_SIGNALING_NAN | 0x0008_0000_0000_0000);
    assert!(is_f64_canonical_nan(f64_max(f64(0.0), F64_CANONICAL_NAN | 1 << 63)));
}

#[test]
fn comparisons_are_unordered_with_nan_and_treat_zeros_as_equal() {
    let nan = F32_CANONICAL_NAN;
    assert!(!f32_eq(nan, nan) && f32_ne(nan, nan));
    assert!(!f32_lt(nan, f32(1.0)) && !f32_gt(nan, f32(1.0)) && !f32_le(nan, nan) && !f32_ge(nan, nan));
    assert!(f32_eq(f32(0.0), f32(-0.0)) && !f32_lt(f32(-0.0), f32(0.0)) && f32_ge(f32(-0.0), f32(0.0)));
    let nan = F64_SIGNALING_NAN;
    assert!(!f64_eq(nan, nan) && f64_ne(nan, f64(0.0)));
    assert!(!f64_lt(nan, f64(1.0)) && !f64_gt(f64(1.0), nan) && !f64_le(nan, nan) && !f64_ge(nan, nan));
    assert!(f64_eq(f64(-0.0), f64(0.0)) && f64_le(f64(0.0), f64(-0.0)) && f64_lt(f64(-1.0), f64(0.0)));
}

#[test]
fn checked_truncation_traps_on_nan_as_invalid_conversion() {
    let invalid = ArithmeticTrap::InvalidConversionToInteger;
    assert_eq!(i32_trunc_f32_s(F32_CANONICAL_NAN), Err(invalid));
    assert_eq!(i32_trunc_f32_u(F32_SIGNALING_NAN | 0x8000_0000), Err(invalid));
    assert_eq!(i32_trunc_f64_s(F64_CANONICAL_NAN), Err(invalid));
    assert_eq!(i32_trunc_f64_u(F64_SIGNALING_NAN), Err(invalid));
    assert_eq!(i64_trunc_f32_s(F32_CANONICAL_NAN), Err(invalid));
    assert_eq!(i64_trunc_f32_u(F32_CANONICAL_NAN), Err(invalid));
    assert_eq!(i64_trunc_f64_s(F64_CANONICAL_NAN), Err(invalid));
    assert_eq!(i64_trunc_f64_u(F64_CANONICAL_NAN), Err(invalid));
}

#[test]
fn checked_truncation_accepts_exactly_the_values_whose_truncation_fits() {
    let overflow = ArithmeticTrap::IntegerOverflow;
    assert_eq!(i32_trunc_f32_s(f32(-2_147_483_648.0)), Ok(i32::MIN));
    assert_eq!(i32_trunc_f32_s(f32(2_147_483_648.0)), Err(overflow));
    assert_eq!(i32_trunc_f32_s(f32(-2_147_483_904.0)), Err(overflow));
    assert_eq!(i32_trunc_f32_s(f32(-1.9)), Ok(-1));
    assert_eq!(i32_trunc_f64_s(f64(-2_147_483_648.9)), Ok(i32::MIN));
    assert_eq!(i32_trunc_f64_s(f64(-2_147_483_649.0)), Err(overflow));
    assert_eq!(i32_trunc_f64_s(f64(2_147_483_647.9)), Ok(i32::MAX));
    assert_eq!(i32_trunc_f64_s(f64(f64::INFINITY)), Err(overflow));
    assert_eq!(i32_trunc_f32_u(f32(-0.9)), Ok(0));
    assert_eq!(i32_trunc_f32_u(f32(-1.0)), Err(overflow));
    assert_eq!(i32_trunc_f32_u(f32(4_294_967_040.0)), Ok(-256));
    assert_eq!(i32_trunc_f32_u(f32(4_294_967_296.0)), Err(overflow));
    assert_eq!(i32_trunc_f64_u(f64(4_294_967_295.9)), Ok(-1));
    assert_eq!(i32_trunc_f64_u(f64(4_294_967_296.0)), Err(overflow));
    assert_eq!(i32_trunc_f64_u(f64(-0.99999)), Ok(0));
    assert_eq!(i64_trunc_f32_s(f32(-9_223_372_036_854_775_808.0)), Ok(i64::MIN));
    assert_eq!(i64_trunc_f32_s(f32(9_223_372_036_854_775_808.0)), Err(overflow));
    assert_eq!(i64_trunc_f64_s(f64(-9_223_372_036_854_775_808.0)), Ok(i64::MIN));
    assert_eq!(i64_trunc_f64_s(f64(-9_223_372_036_854_777_856.0)), Err(overflow));
    assert_eq!(i64_trunc_f64_s(f64(9_223_372_036_854_774_784.0)), Ok(9_223_372_036_854_774_784));
    assert_eq!(i64_trunc_f64_s(f64(9_223_372_036_854_775_808.0)), Err(overflow));
    assert_eq!(i64_trunc_f32_u(f32(18_446_742_974_197_923_840.0)), Ok(-1_099_511_627_776));
    assert_eq!(i64_trunc_f32_u(f32(18_446_744_073_709_551_616.0)), Err(overflow));
    assert_eq!(i64_trunc_f64_u(f64(18_446_744_073_709_549_568.0)), Ok(-2048));
    assert_eq!(i64_trunc_f64_u(f64(18_446_744_073_709_551_616.0)), Err(overflow));
    assert_eq!(i64_trunc_f64_u(f64(-0.9)), Ok(0));
    assert_eq!(i64_trunc_f64_u(f64(-1.0)), Err(overflow));
}

#[test]
fn saturating_truncation_clamps_and_maps_nan_to_zero() {
    assert_eq!(i32_trunc_sat_f32_s(F32_CANONICAL_NAN), 0);
    assert_eq!(i32_trunc_sat_f32_s(f32(f32::NEG_INFINITY)), i32::MIN);
    assert_eq!(i32_trunc_sat_f32_u(f32(-5.0)), 0);
    assert_eq!(i32_trunc_sat_f32_u(f32(5e9)), -1);
    assert_eq!(i32_trunc_sat_f64_s(f64(3e9)), i32::MAX);
    assert_eq!(i32_trunc_sat_f64_s(f64(-2.9)), -2);
    assert_eq!(i32_trunc_sat_f64_u(F64_SIGNALING_NAN), 0);
    assert_eq!(i32_trunc_sat_f64_u(f64(4_294_967_295.5)), -1);
    assert_eq!(i64_trunc_sat_f32_s(f32(-1e19)), i64::MIN);
    assert_eq!(i64_trunc_sat_f32_u(f32(f32::INFINITY)), -1);
    assert_eq!(i64_trunc_sat_f64_s(F64_CANONICAL_NAN | 1 << 63), 0);
    assert_eq!(i64_trunc_sat_f64_s(f64(1e19)), i64::MAX);
    assert_eq!(i64_trunc_sat_f64_u(f64(-1e19)), 0);
    assert_eq!(i64_trunc_sat_f64_u(f64(1.5)), 1);
}

#[test]
fn integer_to_float_conversion_rounds_once_to_nearest_even() {
    assert_eq!(f32_convert_i32_s(16_777_217), f32(16_777_216.0));
    assert_eq!(f32_convert_i32_s(-16_777_219), f32(-16_777_220.0));
    assert_eq!(f32_convert_i32_u(-1), f32(4_294_967_296.0));
    assert_eq!(f32_convert_i32_u(i32::MIN), f32(2_147_483_648.0));
    // A double rounding through f64 would give 9007199254740992.
    assert_eq!(f32_convert_i64_s(9_007_199_791_611_905), f32(9_007_200_328_482_816.0));
    assert_eq!(f32_convert_i64_u(-1), f32(18_446_744_073_709_551_616.0));
    assert_eq!(f32_convert_i64_u(0x0020_0000_2000_0001), 0x5a00_0001);
    assert_eq!(f64_convert_i32_s(i32::MIN), f64(-2_147_483_648.0));
    assert_eq!(f64_convert_i32_u(-1), f64(4_294_967_295.0));
    assert_eq!(f64_convert_i64_s(9_007_199_254_740_993), f64(9_007_199_254_740_992.0));
    assert_eq!(f64_convert_i64_s(9_007_199_254_740_995), f64(9_007_199_254_740_996.0));
    assert_eq!(f64_convert_i64_u(-1), f64(18_446_744_073_709_551_616.0));
    assert_eq!(f64_convert_i64_u(-0x401), f64(18_446_744_073_709_549_568.0));
    assert_eq!(f64_convert_i64_u(-0x400), f64(18_446_744_073_709_551_616.0));
    // tie: even wins
}

#[test]
fn demotion_rounds_to_nearest_even_and_overflows_to_infinity() {
    assert_eq!(f32_demote_f64(f64(f64::MAX)), f32(f32::INFINITY));
    assert_eq!(f32_demote_f64(f64(-f64::MAX)), f32(f32::NEG_INFINITY));
    assert_eq!(f32_demote_f64(f64(f32::MAX as f64)), f32(f32::MAX));
    assert_eq!(f32_demote_f64(0x3ff0_0000_1000_0000), f32(1.0)); // 1 + 2^-24: tie to even
    assert_eq!(f32_demote_f64(0x3ff0_0000_3000_0000), 0x3f80_0002); // 1 + 3*2^-24: tie to even
    assert_eq!(f32_demote_f64(f64(-0.0)), f32(-0.0));
    assert_eq!(f32_demote_f64(1), f32(0.0)); // the smallest f64 subnormal underflows
    assert_eq!(f32_demote_f64(f64(f32::from_bits(1) as f64)), 1); // f32 subnormals survive
}

#[test]
fn demotion_and_promotion_keep_nan_sign_and_make_it_arithmetic() {
    assert_eq!(f32_demote_f64(F64_CANONICAL_NAN), F32_CANONICAL_NAN);
    assert_eq!(f32_demote_f64(F64_CANONICAL_NAN | 1 << 63), F32_CANONICAL_NAN | 0x8000_0000);
    assert!(is_f32_arithmetic_nan(f32_demote_f64(F64_SIGNALING_NAN)));
    assert!(is_f32_arithmetic_nan(f32_demote_f64(0x7ff0_0000_0000_0001)));
    assert_eq!(f64_promote_f32(F32_CANONICAL_NAN), F64_CANONICAL_NAN);
    assert_eq!(f64_promote_f32(F32_CANONICAL_NAN | 0x8000_0000), F64_CANONICAL_NAN | 1 << 63);
    assert!(is_f64_arithmetic_nan(f64_promote_f32(F32_SIGNALING_NAN)));
    assert_eq!(f64_promote_f32(1), f64(f32::from_bits(1) as f64));
    assert_eq!(f64_promote_f32(f32(f32::NEG_INFINITY)), f64(f64::NEG_INFINITY));
}

#[test]
fn reinterpretation_keeps_every_bit() {
    assert_eq!(i32_reinterpret_f32(F32_SIGNALING_NAN | 0x8000_0000), (F32_SIGNALING_NAN | 0x8000_0000) as i32);
    assert_eq!(f32_reinterpret_i32(-1), u32::MAX);
    assert_eq!(i64_reinterpret_f64(f64(-0.0)), i64::MIN);
    assert_eq!(f64_reinterpret_i64(0x7ff4_0000_0000_0001), F64_SIGNALING_NAN);
}

#[test]
fn traps_display_the_spec_test_messages() {
    use core::fmt::Write;
    let mut text = StackText { bytes: [0; 64], length: 0 };
    write!(text, "{}", ArithmeticTrap::IntegerDivideByZero).unwrap();
    assert_eq!(text.as_str(), "integer divide by zero");
    assert_eq!(ArithmeticTrap::IntegerOverflow.message(), "integer overflow");
    assert_eq!(ArithmeticTrap::InvalidConversionToInteger.message(), "invalid conversion to integer");
}

/// A fixed-capacity `fmt::Write` sink, so the Display test needs no allocator.
struct StackText {
    bytes: [u8; 64],
    length: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.length]).unwrap()
    }
}

impl core::fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let end = self.length + text.len();
        self.bytes.get_mut(self.length..end).ok_or(core::fmt::Error)?.copy_from_slice(text.as_bytes());
        self.length = end;
        Ok(())
    }
}
