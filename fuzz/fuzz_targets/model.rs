//! Differential fuzzing: libFuzzer's inputs decoded as programs (a setup byte, then 9 bytes per
//! operation) and run on the heap and on the reference model of `tests/model/`, every oracle
//! checked. Any disagreement panics, and libFuzzer keeps the input.
#![no_main]

#[path = "../../tests/model/mod.rs"]
#[allow(dead_code, unused_imports)]
mod model;

use libfuzzer_sys::fuzz_target;
use model::ops::decode_program;
use model::Harness;

/// Operations per input at most (inputs are at most 4 KiB by default: ~450 operations).
const MAX_OPS: usize = 512;

fuzz_target!(|bytes: &[u8]| {
    let (setup, ops) = decode_program(bytes, false, MAX_OPS);
    Harness::run(setup, &ops, false);
});
