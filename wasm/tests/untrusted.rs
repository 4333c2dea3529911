//! Untrusted input never panics the host: randomly mutated binaries of GC-heavy modules are
//! decoded, validated, instantiated and every export is invoked (under a fuel budget, so that
//! mutated loops end); every outcome must be an `Ok` or a typed `Error`, and the heap must verify
//! after each run.

use drc_heap_wasm::{Config, Error, Module, Ref, Store, Trap, Val, ValType};

fn wat(text: &str) -> Vec<u8> {
    let buffer = wast::parser::ParseBuffer::new(text).expect("lexing the test's Wat");
    let mut module = wast::parser::parse::<wast::Wat>(&buffer).expect("parsing the test's Wat");
    module.encode().expect("encoding the test's Wat")
}

const SEEDS: &[&str] = &[
    r#"
(module
  (type $node (struct (field (mut (ref null $node))) (field i32)))
  (type $nodes (array (mut (ref null $node))))
  (global $root (mut (ref null $node)) (ref.null $node))
  (table $t 4 anyref)
  (func (export "build") (param $n i32) (result i32)
    (local $list (ref null $node))
    (local $all (ref null $nodes))
    (local.set $all (array.new $nodes (ref.null $node) (i32.const 8)))
    (loop $again
      (local.set $list (struct.new $node (local.get $list) (local.get $n)))
      (array.set $nodes (local.get $all) (i32.and (local.get $n) (i32.const 7)) (local.get $list))
      (table.set $t (i32.and (local.get $n) (i32.const 3)) (local.get $list))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (global.set $root (local.get $list))
    (struct.get $node 1 (ref.as_non_null (local.get $list))))
  (func (export "cast") (param anyref) (result i32)
    (ref.test (ref $node) (local.get 0))))
"#,
    r#"
(module
  (type $bytes (array (mut i8)))
  (type $f (func (param i32) (result i32)))
  (memory 1)
  (data "hello, world")
  (elem declare func $double)
  (func $double (type $f) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "copy") (param $n i32) (result i32)
    (local $a (ref $bytes))
    (local.set $a (array.new_data $bytes 0 (i32.const 0) (i32.const 12)))
    (array.fill $bytes (local.get $a) (i32.const 1) (i32.const 65) (local.get $n))
    (memory.fill (i32.const 100) (i32.const 7) (local.get $n))
    (call_ref $f (array.get_u $bytes (local.get $a) (i32.const 0)) (ref.func $double)))
  (func (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (return_call 2 (i32.sub (local.get $n) (i32.const 1)))))))
"#,
];

/// A small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(bytes: &mut Vec<u8>, random: &mut Random) {
    for _ in 0..=random.below(3) {
        let at = 8 + random.below(bytes.len() - 8);
        match random.below(4) {
            0 => bytes[at] ^= 1 << random.below(8),
            1 => bytes[at] = random.next() as u8,
            2 => bytes.insert(at, random.next() as u8),
            _ => {
                if bytes.len() > 9 {
                    bytes.remove(at);
                }
            }
        }
    }
}

fn default_argument(ty: ValType) -> Val {
    match ty {
        ValType::I32 => Val::I32(5),
        ValType::I64 => Val::I64(5),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::Ref(_) => Val::Ref(Ref::Null),
    }
}

/// Runs one binary to the end; returns whether it got as far as invoking an export.
fn run(bytes: &[u8]) -> bool {
    let Ok(module) = Module::new(bytes) else { return false };
    let config = Config { fuel: Some(20_000), max_call_depth: 1_000, ..Config::default() };
    let mut store: Store = Store::new(1 << 16, config).expect("a 64 KiB store");
    let Ok(instance) = store.instantiate(&module) else { return false };
    let exports: Vec<String> = module.exports().map(|(name, _)| name.to_string()).collect();
    let mut invoked = false;
    for name in exports {
        let Ok((params, _)) = store.func_type(instance, &name) else { continue };
        let args: Vec<Val> = params.into_iter().map(default_argument).collect();
        match store.invoke(instance, &name, &args) {
            Ok(_) | Err(Error::Trap(_) | Error::ArgumentMismatch(_)) => invoked = true,
            Err(other) => panic!("invoking {name} of a validated module gave {other:?}"),
        }
    }
    store.collect().expect("a collection after the run");
    store.heap().verify_lower_bound().expect("the heap verifies after the run");
    invoked
}

#[test]
fn mutated_gc_modules_give_typed_errors_and_never_panic() {
    let seeds: Vec<Vec<u8>> = SEEDS.iter().map(|text| wat(text)).collect();
    for seed in &seeds {
        assert!(run(seed), "the unmutated seed runs");
    }
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let runs = if cfg!(miri) { 20 } else { 3_000 };
    let mut invoked = 0;
    for _ in 0..runs {
        let mut bytes = seeds[random.below(seeds.len())].clone();
        mutate(&mut bytes, &mut random);
        invoked += run(&bytes) as u32;
    }
    assert!(invoked > runs / 50, "enough mutants ran code ({invoked} of {runs})");
}

#[test]
fn fuel_ends_an_infinite_loop_with_a_typed_trap() {
    let module = Module::new(&wat(r#"(module (func (export "spin") (loop $l (br $l))))"#)).unwrap();
    let mut store: Store = Store::new(1 << 16, Config { fuel: Some(1_000), ..Config::default() }).unwrap();
    let instance = store.instantiate(&module).unwrap();
    assert_eq!(store.invoke(instance, "spin", &[]).unwrap_err(), Error::Trap(Trap::OutOfFuel));
    assert_eq!(Trap::OutOfFuel.to_string(), "all fuel consumed");
}
