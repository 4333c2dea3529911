//! The four Wasm GC programs of `wasm/examples/` as the bench runs them: which export, with which
//! arguments (a full size and a `--quick` size), and the answer each call must return, computed
//! here by a plain Rust model of the program's definition (independent of both engines).
//!
//! The `.wat` text is embedded at compile time and translated to binary once, before anything is
//! timed; every engine gets the same bytes.

/// One program and one size of it.
pub struct Program {
    /// Short name for the table (`binary-trees 16`).
    pub label: String,
    /// The module's name in `wasm/examples/` without `.wat`.
    pub name: &'static str,
    /// The module, as Wasm binary.
    pub bytes: Vec<u8>,
    /// The export to call.
    pub export: &'static str,
    /// Its i32 arguments.
    pub args: Vec<i32>,
    /// The i64 it must return.
    pub expected: i64,
    /// What it must print through `env.print_i64`, in order.
    pub expected_printed: Vec<i64>,
    /// The drc-heap-wasm region for it, in bytes.
    pub region_bytes: usize,
    /// Whether it leaves garbage cycles (the rings): only an engine that collects cycles can
    /// run it in its region, so an engine without cycle collection is not run on it.
    pub cyclic: bool,
}

const BINARY_TREES: &str = include_str!("../../../wasm/examples/binary_trees.wat");
const GCBENCH: &str = include_str!("../../../wasm/examples/gcbench.wat");
const RINGS: &str = include_str!("../../../wasm/examples/rings.wat");
const ARRAYS: &str = include_str!("../../../wasm/examples/arrays.wat");

const MIB: usize = 1 << 20;

/// The programs at the bench's sizes: full (binary-trees 16, GCBench 18, 2000 rings of 1000 in
/// a 16 MiB region, 10000 array rounds) or quick (binary-trees 10, GCBench 12, 200 rings of 100
/// with 5 live, 1024 array rounds).
pub fn all(quick: bool) -> Result<Vec<Program>, String> {
    let translate = |name: &str, text: &str| {
        wat::parse_str(text).map_err(|error| format!("wasm/examples/{name}.wat does not translate: {error}"))
    };
    let binary_trees_bytes = translate("binary_trees", BINARY_TREES)?;
    let gcbench_bytes = translate("gcbench", GCBENCH)?;
    let rings_bytes = translate("rings", RINGS)?;
    let arrays_bytes = translate("arrays", ARRAYS)?;

    let depth = if quick { 10 } else { 16 };
    let (tree_total, tree_checks) = binary_trees_model(depth);
    let stretch = if quick { 12 } else { 18 };
    let (ring_count, ring_length, live_rings) = if quick { (200, 100, 5) } else { (2000, 1000, 0) };
    let rounds = if quick { 1024 } else { 10_000 };
    Ok(vec![
        Program {
            label: format!("binary-trees {depth}"),
            name: "binary_trees",
            bytes: binary_trees_bytes,
            export: "binary_trees",
            args: vec![depth],
            expected: tree_total,
            expected_printed: tree_checks,
            region_bytes: 64 * MIB,
            cyclic: false,
        },
        Program {
            label: format!("GCBench {stretch}"),
            name: "gcbench",
            bytes: gcbench_bytes,
            export: "gcbench",
            args: vec![stretch],
            expected: gcbench_model(stretch),
            expected_printed: Vec::new(),
            region_bytes: 64 * MIB,
            cyclic: false,
        },
        Program {
            label: format!("rings {ring_count}x{ring_length}, {live_rings} live"),
            name: "rings",
            bytes: rings_bytes,
            export: "rings",
            args: vec![ring_count, ring_length, live_rings],
            expected: rings_model(ring_count, ring_length),
            expected_printed: Vec::new(),
            region_bytes: if quick { MIB } else { 16 * MIB },
            cyclic: true,
        },
        Program {
            label: format!("arrays {rounds}"),
            name: "arrays",
            bytes: arrays_bytes,
            export: "arrays",
            args: vec![rounds],
            expected: arrays_model(rounds),
            expected_printed: Vec::new(),
            region_bytes: 64 * MIB,
            cyclic: false,
        },
    ])
}

/// The nodes in a complete binary tree of `depth` levels below its root.
fn tree_size(depth: i32) -> i64 {
    (1i64 << (depth + 1)) - 1
}

/// binary-trees: (the sum of the check values, the check values: stretch, one per depth,
/// long-lived).
fn binary_trees_model(requested_depth: i32) -> (i64, Vec<i64>) {
    let max_depth = requested_depth.max(6);
    let mut checks = vec![tree_size(max_depth + 1)];
    for depth in (4..=max_depth).step_by(2) {
        let iterations = 1i64 << (max_depth - depth + 4);
        checks.push(iterations * tree_size(depth));
    }
    checks.push(tree_size(max_depth));
    (checks.iter().sum(), checks)
}

/// GCBench: the nodes allocated.
fn gcbench_model(stretch: i32) -> i64 {
    let stretch = stretch.max(6);
    let long_lived = stretch - 2;
    let mut nodes = tree_size(stretch) + tree_size(long_lived);
    for depth in (4..=long_lived).step_by(2) {
        let iterations = 2 * tree_size(stretch) / tree_size(depth);
        nodes += 2 * iterations * tree_size(depth);
    }
    nodes
}

/// rings: the sum of the values walked.
fn rings_model(ring_count: i32, ring_length: i32) -> i64 {
    let ring_length = i64::from(ring_length.max(1));
    i64::from(ring_count.max(0)) * ring_length * (ring_length - 1) / 2
}

/// arrays: the checksum (see the header of `arrays.wat`).
fn arrays_model(rounds: i32) -> i64 {
    let mut checksum = 0i64;
    for round in 0..i64::from(rounds.max(0)) {
        let length = (round & 1023) + 1;
        let capacity = (length as u64).next_power_of_two() as i64;
        checksum += (0..length).map(|k| 7 * k + round).sum::<i64>();
        let reference_length = (length >> 2) + 1;
        checksum += (0..reference_length).map(|k| if k & 1 == 1 { capacity + round } else { 2 + k }).sum::<i64>();
    }
    checksum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_trees_model_gives_the_benchmarks_game_check_values_at_depth_10() {
        assert_eq!(binary_trees_model(10), (135_854, vec![4095, 31744, 32512, 32704, 32752, 2047]));
    }

    #[test]
    fn models_give_the_answers_quoted_in_the_wat_headers() {
        assert_eq!(binary_trees_model(16).0, 14_985_902);
        assert_eq!(gcbench_model(18), 15_333_862);
        assert_eq!(gcbench_model(14), 695_970);
        assert_eq!(gcbench_model(12), 140_942);
        assert_eq!(rings_model(1000, 1000), 499_500_000);
        assert_eq!(arrays_model(1024), 1_718_733_620);
        assert_eq!(arrays_model(10_000), 41_201_697_200);
        assert_eq!(arrays_model(100_000), 3_007_659_829_104);
    }
}
