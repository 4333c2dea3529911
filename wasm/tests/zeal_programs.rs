//! The four Wasm GC programs of `wasm/examples` (binary-trees, GCBench, rings, growing arrays)
//! run with drc-heap's zeal checks: a collection forced every few allocations (the engine must
//! collect and retry with precise roots), freed memory poisoned, the heap verified after every
//! collection. Each must give the same answer as a run without zeal and leave an empty heap.

use drc_heap::zeal::Zeal;
use drc_heap::HeapConfig;
use drc_heap_wasm::{Config, Module, Store, Val, ValType};

fn load(file: &str) -> Module {
    let path = format!("{}/examples/{file}.wat", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"));
    let buffer = wast::parser::ParseBuffer::new(&text).expect("lexing the program");
    let mut wat = wast::parser::parse::<wast::Wat>(&buffer).expect("parsing the program");
    Module::new(&wat.encode().expect("encoding the program")).expect("the program validates")
}

/// Runs `export(args)` of `module`; returns its results, the number of collections and the
/// objects left after a final collection.
fn run(module: &Module, export: &str, args: &[Val], zeal: Option<Zeal>) -> (Vec<Val>, u64, u64) {
    let heap = zeal.map_or_else(HeapConfig::default, |zeal| HeapConfig::default().with_zeal(zeal));
    let mut store: Store = Store::new(4 << 20, Config { heap, ..Config::default() }).unwrap();
    store.define_func("env", "print_i64", &[ValType::I64], &[], Box::new(|_, _| Ok(vec![]))).unwrap();
    let instance = store.instantiate(module).unwrap();
    let results = store.invoke(instance, export, args).unwrap();
    let collections = store.heap().stats().unwrap().collections;
    store.collect().unwrap();
    store.heap().verify_lower_bound().unwrap();
    (results, collections, store.heap().stats().unwrap().live_objects)
}

#[test]
fn the_example_programs_give_the_same_answers_under_forced_collections_and_leave_an_empty_heap() {
    let cases: &[(&str, &str, &[Val])] = if cfg!(miri) {
        &[("binary_trees", "binary_trees", &[Val::I32(4)])]
    } else {
        &[
            ("binary_trees", "binary_trees", &[Val::I32(6)]),
            ("gcbench", "gcbench", &[Val::I32(8)]),
            ("rings", "rings", &[Val::I32(40), Val::I32(20), Val::I32(3)]),
            ("arrays", "arrays", &[Val::I32(100)]),
        ]
    };
    for &(file, export, args) in cases {
        let module = load(file);
        let (expected, _, _) = run(&module, export, args, None);
        let (results, collections, live) = run(&module, export, args, Some(Zeal::all_checks(3)));
        assert_eq!(results, expected, "{file}: same answer under zeal");
        assert!(collections > 100, "{file}: zeal forced collections ({collections})");
        assert_eq!(live, 0, "{file}: nothing left after the last collection");
    }
}
