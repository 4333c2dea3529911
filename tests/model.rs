//! Model-based differential testing: random programs run on the heap and on a reference model
//! (`tests/model/`, shared with the fuzz targets in `fuzz/`), with every oracle of the model
//! checked as they go. proptest generates the programs and shrinks a failing one.
//!
//! `PROPTEST_CASES=N cargo test --test model` runs more cases (the default is 256 programs of up
//! to 200 operations).

#[path = "model/mod.rs"]
mod model;

use model::ops::{Op, Setup, KINDS};
use model::Harness;
use proptest::prelude::*;

/// One operation (never a corruption).
fn op() -> impl Strategy<Value = Op> {
    (0..KINDS - 1, any::<u16>(), any::<u16>(), any::<u32>())
        .prop_map(|(kind, a, b, c)| Op::decode(kind, a, b, c, false))
}

fn config() -> ProptestConfig {
    // The shrunk failure is printed; regressions are kept as named tests below instead of files.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_programs_agree_with_the_model(setup in any::<u8>().prop_map(Setup::decode), ops in prop::collection::vec(op(), 0..=200)) {
        let stats = Harness::run(setup, &ops, false);
        if std::env::var_os("MODEL_STATS").is_some() {
            eprintln!("{stats:?}");
        }
    }
}

/// The setup of the regression tests: every zeal check on, no forced failure.
fn plain() -> Setup {
    Setup { region_len: 64 * 1024, poison: true, verify_after_collection: true, fail_every: 0 }
}

#[test]
fn verify_counts_the_precise_set_of_an_abandoned_collection() {
    let ops = [
        Op::NewArray { ty: 0, len: 0, init: 24 },
        Op::ExposeMany { target: 0, times: 0 },
        Op::CollectSteps { steps: 1, finish: false },
        Op::Verify,
    ];
    Harness::run(plain(), &ops, false);
}

// -------------------------------------------------------------------------------------------
// The oracles can fail: heap state changed behind the heap's back must be caught.

#[test]
#[should_panic(expected = "model oracle failed")]
fn the_oracle_catches_a_count_too_high() {
    let mut harness = Harness::new(plain(), false);
    harness.apply(&Op::NewStruct { ty: 1, init: 0 });
    // One more count than the references: verify must report it (a leak).
    harness.tamper_count(0, 1);
    harness.apply(&Op::Verify);
}

#[test]
#[should_panic(expected = "model oracle failed")]
fn the_oracle_catches_an_early_free() {
    let mut harness = Harness::new(Setup { poison: false, verify_after_collection: false, ..plain() }, false);
    harness.apply(&Op::NewStruct { ty: 1, init: 0 });
    harness.apply(&Op::SetGlobal { global: 0, source: 0 });
    // One count too few: dropping the local frees the object the global still holds.
    harness.tamper_count(0, -1);
    harness.apply(&Op::DropLocal { local: 0 });
    harness.apply(&Op::Collect { cycles: false });
}

// -------------------------------------------------------------------------------------------
// Regressions: programs that found bugs, named after what they broke.

/// The cycle collector's scan phase reused its child list while iterating it (index out of
/// bounds), found by the model while the cycle collector was being written.
#[test]
fn cycle_collection_scans_children_without_losing_its_place() {
    let ops = [
        Op::NewExtern { payload: 0 },
        Op::PushFrame { picks: 0, count: 41983 },
        Op::NewStruct { ty: 6582, init: 1235265949 },
        Op::FillTable { table: 0, source: 189, range: 36655719 },
        Op::NewStruct { ty: 0, init: 235393980 },
        Op::NewArray { ty: 5625, len: 36197, init: 1191592 },
        Op::DropLocal { local: 43768 },
        Op::PushFrame { picks: 0, count: 0 },
        Op::StructSet { target: 0, field: 0, value: 0 },
        Op::NewStruct { ty: 0, init: 6339344 },
        Op::NewStruct { ty: 38311, init: 1019479819 },
        Op::ExposeMany { target: 14484, times: 0 },
        Op::ExposeMany { target: 31022, times: 0 },
        Op::SetGlobal { global: 0, source: 5623 },
        Op::PushFrame { picks: 98403330, count: 18534 },
        Op::ExposeMany { target: 22946, times: 0 },
        Op::ArraySet { target: 0, index: 26702, value: 206502954 },
        Op::NewArray { ty: 30, len: 0, init: 41464 },
        Op::DropLocal { local: 10256 },
        Op::NewStruct { ty: 0, init: 0 },
        Op::Collect { cycles: true },
    ];
    Harness::run(
        Setup { region_len: 65536, poison: false, verify_after_collection: false, fail_every: 0 },
        &ops,
        false,
    );
}

/// Issue 11 hole 3 in the model: a fake header written into a `v128` array element by a typed
/// store, then its word handed to the heap by each path (retain, drop, `ref.test`, a stack
/// root). The oracle expects `InvalidReference` from the first three and a collection that
/// skips the root once and frees exactly what the model says.
#[test]
fn forged_interior_headers_are_refused_by_every_path() {
    // Array type 10 of the schema's arrays is the v128 one; 2 elements of a valid value (bit 3).
    let mut ops = vec![Op::NewArray { ty: 10, len: 2, init: 8 }, Op::NewExtern { payload: 1 }];
    ops.extend((0..4).map(|how| Op::ForgeInteriorHeader { target: 0, how }));
    ops.push(Op::Verify);
    let stats = Harness::run(plain(), &ops, false);
    assert_eq!(stats.expected_errors, 3, "{stats:?}");
}
