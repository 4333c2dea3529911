//! Wasm GC programs run on drc-heap-wasm inside the kernel: binary-trees (depth 10, its six check
//! values and their total) and the doubly linked rings (garbage cycles through the region several
//! times, so the run passes only if cycle collection frees them), from `wasm/examples/*.wat`
//! translated to `.wasm` at build time (`build.rs`) and embedded with `include_bytes!`.
//!
//! Each is a [`PortableTest`] run after drc-heap's table, over the same region: the engine's
//! store builds its heap in the region (`Store::with_static_region`), and allocates its own
//! structures (module, stacks, tables) from the global allocator. The sizes fit every machine,
//! the 4 MiB Cortex-M ones included: binary-trees 10 uses about 160 KiB of the 1 MiB region, and
//! 1000 rings of 100 nodes (about 3 MiB of nodes in all, 3 times the region) keep 4 rings live.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use drc_heap::portable_tests::{PortableTest, TestResult};
use drc_heap_wasm::{Config, Instance, Module, Store, Trap, Val, ValType};

static BINARY_TREES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/binary_trees.wasm"));
static RINGS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rings.wasm"));

/// The Wasm tests, run after the portable table.
pub static WASM_PROGRAMS: &[PortableTest] = &[
    PortableTest { name: "wasm_binary_trees_depth_10_gives_the_six_check_values", run: binary_trees },
    PortableTest { name: "wasm_rings_cycle_through_the_region_freed_by_cycle_collection", run: rings },
];

/// A store over `region` with `env.print_i64` recording into the returned vector, and `bytes`
/// instantiated in it.
fn instantiate(bytes: &[u8], region: &'static mut [u8]) -> Result<(Store, Instance, Rc<RefCell<Vec<i64>>>), String> {
    let module = Module::new(bytes).map_err(|error| format!("the module does not load: {error}"))?;
    let mut store: Store = Store::with_static_region(region, Config::default())
        .map_err(|error| format!("no store over the region: {error}"))?;
    let printed = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&printed);
    store
        .define_func(
            "env",
            "print_i64",
            &[ValType::I64],
            &[],
            alloc::boxed::Box::new(move |_, args| match args {
                [Val::I64(value)] => {
                    sink.borrow_mut().push(*value);
                    Ok(Vec::new())
                }
                _ => Err(Trap::Host(format!("print_i64 got {args:?}"))),
            }),
        )
        .map_err(|error| format!("env.print_i64: {error}"))?;
    let instance = store.instantiate(&module).map_err(|error| format!("instantiation: {error}"))?;
    Ok((store, instance, printed))
}

fn call_i64(store: &mut Store, instance: Instance, export: &str, args: &[i32]) -> Result<i64, String> {
    let args: Vec<Val> = args.iter().map(|&arg| Val::I32(arg)).collect();
    match store.invoke(instance, export, &args).map_err(|error| format!("{export}: {error}"))?.as_slice() {
        [Val::I64(value)] => Ok(*value),
        other => Err(format!("{export} returned {other:?}, not one i64")),
    }
}

fn binary_trees(region: &'static mut [u8]) -> TestResult {
    let (mut store, instance, printed) = instantiate(BINARY_TREES, region)?;
    let total = call_i64(&mut store, instance, "binary_trees", &[10])?;
    let printed = printed.borrow();
    if *printed != [4095, 31744, 32512, 32704, 32752, 2047] || total != 135_854 {
        return Err(format!("binary_trees(10) printed {printed:?} and returned {total}"));
    }
    Ok(())
}

fn rings(region: &'static mut [u8]) -> TestResult {
    let region_bytes = region.len() as u64;
    let (mut store, instance, _) = instantiate(RINGS, region)?;
    let sum = call_i64(&mut store, instance, "rings", &[1000, 100, 4])?;
    if sum != 1000 * 4950 {
        return Err(format!("rings(1000, 100, 4) returned {sum}, not {}", 1000 * 4950));
    }
    let stats = store.heap().stats().map_err(|error| format!("heap statistics: {error}"))?;
    // Every node is at least 32 bytes: the nodes freed by cycle collection must add up to more
    // than the region, or the test did not cycle through it.
    if stats.cycle_objects_freed * 32 <= region_bytes {
        return Err(format!("cycle collections freed only {} objects", stats.cycle_objects_freed));
    }
    Ok(())
}
