//! The Wasm GC programs of `examples/` (binary-trees, GCBench, doubly linked rings, growing
//! arrays) run on the engine, each result checked against the answer of the program's public
//! definition (computed here by a plain Rust model, or quoted from the Benchmarks Game), and the
//! rings checked to need cycle collection: the same run that passes with it runs out of GC
//! memory without it.

use std::cell::RefCell;
use std::rc::Rc;

use drc_heap_wasm::{Config, Error, Instance, Module, Store, Trap, Val, ValType};

const BINARY_TREES: &str = include_str!("../examples/binary_trees.wat");
const GCBENCH: &str = include_str!("../examples/gcbench.wat");
const RINGS: &str = include_str!("../examples/rings.wat");
const ARRAYS: &str = include_str!("../examples/arrays.wat");

const MIB: usize = 1 << 20;

/// A store over `region_bytes` with `env.print_i64` recording into the returned vector, and the
/// module `text` instantiated in it.
fn instantiate(text: &str, region_bytes: usize, config: Config) -> (Store, Instance, Rc<RefCell<Vec<i64>>>) {
    let bytes = wat::parse_str(text).expect("the program translates");
    let module = Module::new(&bytes).expect("the program validates");
    let mut store: Store = Store::new(region_bytes, config).expect("a store");
    let printed = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&printed);
    store
        .define_func(
            "env",
            "print_i64",
            &[ValType::I64],
            &[],
            Box::new(move |_, args| match args {
                [Val::I64(value)] => {
                    sink.borrow_mut().push(*value);
                    Ok(Vec::new())
                }
                _ => Err(Trap::Host(format!("print_i64 got {args:?}"))),
            }),
        )
        .expect("env.print_i64");
    let instance = store.instantiate(&module).expect("the program instantiates");
    (store, instance, printed)
}

fn call(store: &mut Store, instance: Instance, export: &str, args: &[i32]) -> Result<i64, Error> {
    let args: Vec<Val> = args.iter().map(|&arg| Val::I32(arg)).collect();
    match store.invoke(instance, export, &args)?.as_slice() {
        [Val::I64(value)] => Ok(*value),
        other => panic!("{export} returned {other:?}, not one i64"),
    }
}

fn tree_size(depth: i64) -> i64 {
    (1 << (depth + 1)) - 1
}

/// GCBench's nodes allocated: the stretch tree, the long-lived tree, and for each depth d
/// NumIters(d) trees built top-down and as many bottom-up.
fn gcbench_nodes(stretch: i64) -> i64 {
    let long_lived = stretch - 2;
    let mut nodes = tree_size(stretch) + tree_size(long_lived);
    for depth in (4..=long_lived).step_by(2) {
        nodes += 2 * (2 * tree_size(stretch) / tree_size(depth)) * tree_size(depth);
    }
    nodes
}

/// arrays' checksum, as its header defines it.
fn arrays_checksum(rounds: i64) -> i64 {
    let mut checksum = 0;
    for round in 0..rounds {
        let length = (round & 1023) + 1;
        let capacity = (length as u64).next_power_of_two() as i64;
        checksum += (0..length).map(|k| 7 * k + round).sum::<i64>();
        checksum += (0..(length >> 2) + 1).map(|k| if k % 2 == 1 { capacity + round } else { 2 + k }).sum::<i64>();
    }
    checksum
}

#[test]
fn binary_trees_depth_10_prints_the_benchmarks_game_check_values_and_returns_their_sum() {
    let (mut store, instance, printed) = instantiate(BINARY_TREES, 4 * MIB, Config::default());
    assert_eq!(call(&mut store, instance, "binary_trees", &[10]).unwrap(), 135_854);
    assert_eq!(*printed.borrow(), [4095, 31744, 32512, 32704, 32752, 2047]);
    let stats = store.heap().stats().unwrap();
    assert_eq!(stats.objects_allocated, 135_854, "one struct per node");
}

#[test]
fn binary_trees_main_is_depth_10() {
    let (mut store, instance, printed) = instantiate(BINARY_TREES, 4 * MIB, Config::default());
    assert_eq!(call(&mut store, instance, "main", &[]).unwrap(), 135_854);
    assert_eq!(printed.borrow().len(), 6);
}

#[test]
fn gcbench_12_allocates_the_nodes_of_boehms_definition_and_keeps_its_long_lived_data() {
    // The program traps (unreachable) if its long-lived tree or array did not survive.
    let (mut store, instance, _) = instantiate(GCBENCH, 8 * MIB, Config::default());
    assert_eq!(gcbench_nodes(12), 140_942);
    assert_eq!(call(&mut store, instance, "gcbench", &[12]).unwrap(), gcbench_nodes(12));
    let stats = store.heap().stats().unwrap();
    assert_eq!(stats.objects_allocated, 140_942 + 1, "every node and the array of doubles");
}

#[test]
fn gcbench_runs_in_a_region_smaller_than_everything_it_allocates() {
    // 27,046 nodes of at least 32 bytes are 845 KiB; the live data at any time is far less.
    let (mut store, instance, _) = instantiate(GCBENCH, 256 * 1024, Config::default());
    assert_eq!(call(&mut store, instance, "gcbench", &[10]).unwrap(), gcbench_nodes(10));
    assert_eq!(gcbench_nodes(10), 27_046);
}

#[test]
fn rings_garbage_cycles_are_freed_by_cycle_collection_in_a_small_region() {
    let (mut store, instance, _) = instantiate(RINGS, 256 * 1024, Config::default());
    // 300 rings of 100 nodes, at least 32 bytes each: 960 KB, almost 4 times the region.
    assert_eq!(call(&mut store, instance, "rings", &[300, 100, 0]).unwrap(), 300 * 4950);
    let stats = store.heap().stats().unwrap();
    assert!(stats.cycle_objects_freed >= 20_000, "cycle collections freed the rings: {stats:?}");
}

#[test]
fn rings_run_out_of_gc_memory_without_cycle_collection() {
    let config = Config { cycle_collection: false, ..Config::default() };
    let (mut store, instance, _) = instantiate(RINGS, 256 * 1024, config);
    match call(&mut store, instance, "rings", &[300, 100, 0]) {
        Err(Error::Trap(Trap::OutOfGcMemory)) => {}
        other => panic!("expected the out-of-GC-memory trap, got {other:?}"),
    }
}

#[test]
fn rings_with_a_window_of_live_rings_return_the_sum_of_their_values() {
    let (mut store, instance, _) = instantiate(RINGS, 512 * 1024, Config::default());
    assert_eq!(call(&mut store, instance, "rings", &[300, 100, 17]).unwrap(), 300 * 4950);
    assert_eq!(call(&mut store, instance, "rings", &[5, 1, 2]).unwrap(), 0, "rings of one node link to themselves");
}

#[test]
fn arrays_checksum_matches_the_model_of_its_definition() {
    let (mut store, instance, _) = instantiate(ARRAYS, 4 * MIB, Config::default());
    assert_eq!(arrays_checksum(1024), 1_718_733_620);
    assert_eq!(call(&mut store, instance, "arrays", &[300]).unwrap(), arrays_checksum(300));
    assert_eq!(call(&mut store, instance, "arrays", &[1]).unwrap(), 2, "round 0: one element 0, one [0, 0] array");
}
