//! Integration tests of the engine: deep recursion without host recursion, call-stack exhaustion,
//! traps as typed errors, leak freedom with exactly-once host data drops, garbage cycles in a
//! small region, and precise roots (a reference only on the operand stack survives collections).

use drc_heap::zeal::Zeal;
use drc_heap::HeapConfig;
use drc_heap_wasm::{Config, Error, Module, RefInfo, Store, Trap, Val};
use std::cell::Cell;
use std::rc::Rc;

fn wat(text: &str) -> Vec<u8> {
    let buffer = wast::parser::ParseBuffer::new(text).expect("lexing the test's Wat");
    let mut module = wast::parser::parse::<wast::Wat>(&buffer).expect("parsing the test's Wat");
    module.encode().expect("encoding the test's Wat")
}

fn module(text: &str) -> Module {
    Module::new(&wat(text)).unwrap_or_else(|error| panic!("the test module validates: {error}"))
}

const RECURSION: &str = r#"
(module
  (func $count (export "count") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $count (i32.sub (local.get 0) (i32.const 1)))))))
  (func $forever (export "forever") (param i32) (result i32)
    (call $forever (local.get 0))))
"#;

#[test]
fn a_100000_deep_recursion_runs_without_host_recursion() {
    let depth = if cfg!(miri) { 1_000 } else { 100_000 };
    let bytes = wat(RECURSION);
    // Run on a small host thread: the interpreter must not recurse on the host stack.
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut store: Store = Store::new(1 << 16, Config::default()).unwrap();
            let instance = store.instantiate(&Module::new(&bytes).unwrap()).unwrap();
            store.invoke(instance, "count", &[Val::I32(depth)])
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(result.unwrap(), vec![Val::I32(depth)]);
}

#[test]
fn unbounded_recursion_traps_call_stack_exhausted_and_the_store_stays_usable() {
    let config = Config { max_call_depth: if cfg!(miri) { 50 } else { 1000 }, ..Config::default() };
    let limit = config.max_call_depth as i32;
    let mut store: Store = Store::new(1 << 16, config).unwrap();
    let instance = store.instantiate(&module(RECURSION)).unwrap();
    let error = store.invoke(instance, "forever", &[Val::I32(1)]).unwrap_err();
    assert_eq!(error, Error::Trap(Trap::CallStackExhausted));
    assert_eq!(error.to_string(), "trap: call stack exhausted");
    assert_eq!(store.invoke(instance, "count", &[Val::I32(limit - 1)]).unwrap(), vec![Val::I32(limit - 1)]);
    assert_eq!(
        store.invoke(instance, "count", &[Val::I32(limit)]).unwrap_err(),
        Error::Trap(Trap::CallStackExhausted),
        "the limit counts frames"
    );
}

#[test]
#[cfg_attr(miri, ignore = "its linear memory is zero-filled byte by byte under Miri: too slow")]
fn traps_are_typed_errors_with_the_spec_messages() {
    let mut store: Store = Store::new(1 << 16, Config::default()).unwrap();
    let instance = store
        .instantiate(&module(
            r#"
(module
  (type $s (struct (field i32)))
  (type $t (struct (field i64)))
  (memory 1)
  (func (export "unreachable") unreachable)
  (func (export "div") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "null-struct") (result i32) (struct.get $s 0 (ref.null $s)))
  (func (export "cast") (result i32)
    (ref.test (ref $t) (ref.cast (ref $t) (struct.new $s (i32.const 1)))))
  (type $bytes (array i8))
  (func (export "array") (result i32)
    (array.get_u $bytes (array.new_default $bytes (i32.const 3)) (i32.const 3))))
"#,
        ))
        .unwrap();
    let trap = |store: &mut Store, name: &str, args: &[Val]| match store.invoke(instance, name, args) {
        Err(Error::Trap(trap)) => trap,
        other => panic!("{name}: expected a trap, got {other:?}"),
    };
    assert_eq!(trap(&mut store, "unreachable", &[]), Trap::Unreachable);
    assert_eq!(trap(&mut store, "div", &[Val::I32(0)]), Trap::IntegerDivideByZero);
    assert_eq!(trap(&mut store, "load", &[Val::I32(65535)]), Trap::OutOfBoundsMemoryAccess);
    assert_eq!(trap(&mut store, "null-struct", &[]), Trap::NullStructReference);
    assert_eq!(trap(&mut store, "cast", &[]), Trap::CastFailure);
    assert_eq!(trap(&mut store, "array", &[]), Trap::OutOfBoundsArrayAccess);
    assert_eq!(Trap::NullStructReference.to_string(), "null structure reference");
    assert_eq!(store.invoke(instance, "div", &[Val::I32(1)]).unwrap(), vec![Val::I32(1)]);
    assert!(matches!(Module::new(b"\0asm\x01\0\0\0\x01"), Err(Error::Malformed(_))));
    assert!(matches!(Module::new(&wat("(module (func (result i32) (i64.const 1)))")), Err(Error::Invalid(_))));
    assert!(matches!(store.invoke(instance, "div", &[Val::I64(1)]), Err(Error::ArgumentMismatch(_))));
    assert!(matches!(store.invoke(instance, "nothing", &[]), Err(Error::UnknownExport(_))));
}

/// Host data that counts its drops.
struct Counted {
    drops: Rc<Cell<u32>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

const HOLDER: &str = r#"
(module
  (type $pair (struct (field (mut externref)) (field (mut anyref))))
  (table $refs 4 externref)
  (global $keep (mut anyref) (ref.null any))
  (func (export "keep") (param $a externref) (param $b externref)
    ;; A struct holding one externref and, through the global, a cycle onto itself.
    (local $p (ref $pair))
    (local.set $p (struct.new $pair (local.get $a) (ref.null any)))
    (struct.set $pair 1 (local.get $p) (local.get $p))
    (global.set $keep (local.get $p))
    (table.set $refs (i32.const 0) (local.get $b))
    (table.set $refs (i32.const 1) (local.get $a)))
  (func (export "clear")
    (global.set $keep (ref.null any))
    (table.fill $refs (i32.const 0) (ref.null extern) (i32.const 4))))
"#;

#[test]
fn every_externref_host_value_drops_exactly_once_and_the_heap_ends_empty() {
    let drops = Rc::new(Cell::new(0));
    let mut store: Store<Counted> = Store::new(1 << 16, Config::default()).unwrap();
    let instance = store.instantiate(&module(HOLDER)).unwrap();
    let mut created = 0;
    for _ in 0..10 {
        let a = store.externref(Counted { drops: drops.clone() }).unwrap();
        let b = store.externref(Counted { drops: drops.clone() }).unwrap();
        created += 2;
        assert!(matches!(store.ref_info(&a).unwrap(), RefInfo::Extern(_)));
        store.invoke(instance, "keep", &[a, b]).unwrap();
        store.release(a).unwrap();
        store.release(b).unwrap();
    }
    store.collect().unwrap();
    assert_eq!(drops.get(), created - 2, "the last pair of externrefs stays (struct, table)");
    store.invoke(instance, "clear", &[]).unwrap();
    store.collect().unwrap();
    let stats = store.heap().stats().unwrap();
    assert_eq!(stats.live_objects, 0, "the self-cycle is collected once nothing holds it");
    assert_eq!(drops.get(), created);
    drop(store);
    assert_eq!(drops.get(), created, "dropping the store drops nothing twice");
}

#[test]
fn dropping_a_store_that_still_holds_references_drops_each_host_value_once() {
    let drops = Rc::new(Cell::new(0));
    {
        let mut store: Store<Counted> = Store::new(1 << 16, Config::default()).unwrap();
        let instance = store.instantiate(&module(HOLDER)).unwrap();
        let a = store.externref(Counted { drops: drops.clone() }).unwrap();
        let b = store.externref(Counted { drops: drops.clone() }).unwrap();
        store.invoke(instance, "keep", &[a, b]).unwrap();
        assert_eq!(drops.get(), 0);
    }
    assert_eq!(drops.get(), 2);
}

#[test]
fn a_loop_building_garbage_cycles_runs_in_a_1_mib_region() {
    let region = if cfg!(miri) { 1 << 16 } else { 1 << 20 };
    let mut store: Store = Store::new(region, Config::default()).unwrap();
    let instance = store
        .instantiate(&module(
            r#"
(module
  (type $bytes (array (mut i8)))
  (type $node (struct (field (mut (ref null $node))) (field (ref null $bytes))))
  (func (export "churn") (param $n i32) (result i32)
    (local $a (ref null $node))
    (local $b (ref null $node))
    (loop $again
      (local.set $a (struct.new $node (ref.null $node) (array.new_default $bytes (i32.const 200))))
      (local.set $b (struct.new $node (local.get $a) (array.new_default $bytes (i32.const 200))))
      (struct.set $node 0 (local.get $a) (local.get $b))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (i32.const 1)))
"#,
        ))
        .unwrap();
    // 100,000 iterations allocate about 50 MiB, fifty times the region (Miri: 300 iterations
    // in a region that they fill a few times).
    let iterations = if cfg!(miri) { 300 } else { 100_000 };
    assert_eq!(store.invoke(instance, "churn", &[Val::I32(iterations)]).unwrap(), vec![Val::I32(1)]);
    store.collect().unwrap();
    assert_eq!(store.heap().stats().unwrap().live_objects, 0);
}

#[test]
fn a_reference_only_on_the_operand_stack_survives_forced_collections_and_garbage_is_freed() {
    // Every fourth allocation fails once, so the engine collects and retries; freed memory is
    // poisoned and the heap verified after each collection, so a missed root shows at once.
    let config = Config { heap: HeapConfig::default().with_zeal(Zeal::all_checks(4)), ..Config::default() };
    let mut store: Store = Store::new(1 << 16, config).unwrap();
    let instance = store
        .instantiate(&module(
            r#"
(module
  (type $box (struct (field i32)))
  (func $garbage (param $n i32)
    (loop $again
      (drop (struct.new $box (local.get $n)))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "survive") (result i32)
    ;; The first box is only on the operand stack while the loop allocates.
    (struct.new $box (i32.const 42))
    (call $garbage (i32.const 100))
    (struct.get $box 0))
  (func (export "nested") (result i32)
    ;; Operands of a constructor are roots while it allocates.
    (struct.get $box 0
      (struct.new $box
        (i32.add
          (struct.get $box 0 (struct.new $box (i32.const 40)))
          (struct.get $box 0 (struct.new $box (i32.const 2))))))))
"#,
        ))
        .unwrap();
    assert_eq!(store.invoke(instance, "survive", &[]).unwrap(), vec![Val::I32(42)]);
    assert_eq!(store.invoke(instance, "nested", &[]).unwrap(), vec![Val::I32(42)]);
    let before = store.heap().stats().unwrap();
    assert!(before.collections > 10, "the zeal setting forced collections ({})", before.collections);
    store.collect().unwrap();
    assert_eq!(store.heap().stats().unwrap().live_objects, 0, "the garbage is freed");
}

#[test]
fn globals_built_by_constant_expressions_hold_their_objects() {
    let mut store: Store = Store::new(1 << 16, Config::default()).unwrap();
    let instance = store
        .instantiate(&module(
            r#"
(module
  (type $point (struct (field i32) (field i32)))
  (type $points (array (ref $point)))
  (global $all (ref $points)
    (array.new_fixed $points 2
      (struct.new $point (i32.const 1) (i32.const 2))
      (struct.new $point (i32.const 3) (i32.const 4))))
  (func (export "sum") (result i32)
    (i32.add
      (struct.get $point 1 (array.get $points (global.get $all) (i32.const 0)))
      (struct.get $point 0 (array.get $points (global.get $all) (i32.const 1))))))
"#,
        ))
        .unwrap();
    store.collect().unwrap();
    assert_eq!(store.heap().stats().unwrap().live_objects, 3);
    assert_eq!(store.invoke(instance, "sum", &[]).unwrap(), vec![Val::I32(5)]);
}

#[test]
fn host_function_argument_handles_end_with_the_call_unless_kept() {
    let drops = Rc::new(Cell::new(0));
    let kept: Rc<Cell<Option<Val>>> = Rc::new(Cell::new(None));
    let mut store: Store<Counted> = Store::new(1 << 16, Config::default()).unwrap();
    let seen = Rc::new(Cell::new(0u32));
    let (seen_in_host, kept_in_host) = (seen.clone(), kept.clone());
    store
        .define_func(
            "host",
            "take",
            &[drc_heap_wasm::ValType::Ref(drc_heap_wasm::RefType::EXTERNREF)],
            &[],
            Box::new(move |context, args| {
                assert!(matches!(context.ref_info(&args[0]).unwrap(), RefInfo::Extern(_)));
                seen_in_host.set(seen_in_host.get() + 1);
                if kept_in_host.get().is_none() {
                    kept_in_host.set(Some(context.keep(&args[0]).unwrap()));
                }
                Ok(vec![])
            }),
        )
        .unwrap();
    let instance = store
        .instantiate(&module(
            r#"
(module
  (import "host" "take" (func $take (param externref)))
  (func (export "call") (param $r externref) (param $n i32)
    (loop $again
      (call $take (local.get $r))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
"#,
        ))
        .unwrap();
    let r = store.externref(Counted { drops: drops.clone() }).unwrap();
    let calls = if cfg!(miri) { 100 } else { 10_000 };
    store.invoke(instance, "call", &[r, Val::I32(calls)]).unwrap();
    assert_eq!(seen.get(), calls as u32);
    store.release(r).unwrap();
    assert!(matches!(store.release(r), Err(Error::ArgumentMismatch(_))), "a released handle is refused");
    store.collect().unwrap();
    assert_eq!(drops.get(), 0, "the kept handle holds the externref");
    let kept = kept.take().unwrap();
    assert!(matches!(store.ref_info(&kept).unwrap(), RefInfo::Extern(_)));
    store.release(kept).unwrap();
    store.collect().unwrap();
    assert_eq!(drops.get(), 1, "no argument handle outlived its call");
    assert_eq!(store.heap().stats().unwrap().live_objects, 0);
}

#[test]
#[cfg_attr(miri, ignore = "its linear memory is zero-filled byte by byte under Miri: too slow")]
fn the_memory_page_limit_bounds_instantiation_and_growth() {
    let config = Config { max_memory_pages: 4, ..Config::default() };
    let mut store: Store = Store::new(1 << 16, config).unwrap();
    let grow =
        module(r#"(module (memory 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#);
    let instance = store.instantiate(&grow).unwrap();
    assert_eq!(store.invoke(instance, "grow", &[Val::I32(2)]).unwrap(), vec![Val::I32(2)]);
    assert_eq!(store.invoke(instance, "grow", &[Val::I32(1)]).unwrap(), vec![Val::I32(-1)], "past the limit");
    assert!(matches!(store.instantiate(&module("(module (memory 5))")), Err(Error::ResourceLimit(_))));
}

#[test]
fn store_new_rounds_the_region_down_and_refuses_bad_lengths_with_heap_errors() {
    use drc_heap::{MAX_REGION_LEN, MIN_REGION_LEN};
    let store: Store = Store::new((1 << 16) + 15, Config::default()).unwrap();
    assert_eq!(store.heap().region_len(), 1 << 16);
    let too_small = Store::<u32>::new(MIN_REGION_LEN + 15 - 16, Config::default()).err();
    assert_eq!(too_small, Some(Error::Heap(drc_heap::Error::RegionTooSmall { len: 48, min: MIN_REGION_LEN })));
    let too_large = Store::<u32>::new(usize::MAX, Config::default()).err();
    let len = usize::MAX & !15;
    assert_eq!(too_large, Some(Error::Heap(drc_heap::Error::RegionTooLarge { len, max: MAX_REGION_LEN })));
}
