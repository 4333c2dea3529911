//! The heap as a sandbox: random programs whose operations include overwriting bytes of the
//! region between heap calls (as JIT code or an attacker inside the sandbox may), with fixed
//! seeds. The heap may return errors but must stay memory-safe (run this under Miri:
//! `cargo +nightly miri test --test corruption`), must never drop a host data value twice,
//! and must work again after a reset (the model's comparisons resume then). The cargo-fuzz
//! target `corruption` runs the same harness on libFuzzer's inputs.

#[path = "model/mod.rs"]
mod model;

use model::ops::{Op, Setup, KINDS};
use model::Harness;

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A program of `len` operations from `seed`, about one in `corrupt_every` a corruption.
fn program(seed: u64, len: usize, corrupt_every: u64) -> Vec<Op> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            let r = next(&mut state);
            let (a, b, c) = (r as u16, (r >> 16) as u16, (r >> 32) as u32);
            let kind = if r % corrupt_every == 0 { KINDS - 1 } else { (r >> 8) as u8 % (KINDS - 1) };
            Op::decode(kind, a, b, c, true)
        })
        .collect()
}

/// (programs, operations per program): small under Miri, which is slow.
fn budget() -> (u64, usize) {
    if cfg!(miri) {
        (4, 40)
    } else {
        (300, 200)
    }
}

#[test]
fn corrupted_regions_give_errors_never_undefined_behaviour() {
    let (programs, len) = budget();
    let mut corruptions = 0;
    let mut errors = 0;
    for seed in 0..programs {
        let setup = Setup::decode(seed as u8);
        let ops = program(seed, len, 6);
        let stats = Harness::run(setup, &ops, true);
        corruptions += stats.corruptions;
        errors += stats.heap_errors_after_corruption;
    }
    assert!(corruptions > 0, "the programs corrupted nothing");
    println!("{programs} programs, {corruptions} corruptions, {errors} heap errors after corruption");
}

#[test]
fn a_reset_heap_works_again_after_every_byte_was_overwritten() {
    for (seed, value) in [(1u64, 0x00u8), (2, 0xff), (3, 0xa6), (4, 0x10)] {
        let mut ops = program(seed, if cfg!(miri) { 20 } else { 120 }, u64::MAX);
        // Overwrite the whole region (8 bytes at a time), then reset and run more.
        let region = 64 * 1024u32;
        ops.extend((0..region / 8).map(|i| Op::Corrupt { offset: i * 8, value, len: 7 }));
        ops.push(Op::Reset);
        ops.extend(program(seed + 100, if cfg!(miri) { 20 } else { 120 }, u64::MAX));
        let setup = Setup { region_len: region as usize, poison: true, verify_after_collection: true, fail_every: 0 };
        Harness::run(setup, &ops, true);
    }
}
