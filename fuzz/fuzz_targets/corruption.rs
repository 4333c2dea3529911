//! Corruption fuzzing: the same programs as the `model` target, with operations that overwrite
//! random bytes of the region between heap calls (as JIT code or an attacker inside the sandbox
//! may). After a corruption the heap may return any error, but it must never hit undefined
//! behaviour (cargo fuzz runs under AddressSanitizer), loop forever or drop a host data value
//! twice; after a reset it must work again, and the model's comparisons resume. Every loop of
//! the harness is bounded (operations per input, collection steps, exposures per operation).
#![no_main]

#[path = "../../tests/model/mod.rs"]
#[allow(dead_code, unused_imports)]
mod model;

use libfuzzer_sys::fuzz_target;
use model::ops::decode_program;
use model::Harness;

/// Operations per input at most.
const MAX_OPS: usize = 512;

fuzz_target!(|bytes: &[u8]| {
    let (setup, ops) = decode_program(bytes, true, MAX_OPS);
    Harness::run(setup, &ops, true);
});
