//! A command-line runner for Wasm GC programs on drc-heap-wasm.
//!
//! ```text
//! cargo run --release -p drc-heap-wasm --example run -- FILE [--invoke NAME] [ARG...]
//!     [--region-mib N] [--no-cycle-collection]
//! ```
//!
//! FILE is a `.wat` text module (translated by the `wat` crate) or a `.wasm` binary (told apart
//! by the binary's `\0asm` magic, not by the name). The module is instantiated with a host module
//! `env` offering `print_i32`, `print_i64` and `print_f64` (each prints its argument on its own
//! line; a module that imports none of them needs nothing). Then the export NAME (default `main`;
//! without `--invoke` and without a `main` export, instantiation alone runs the start function)
//! is called with the ARGs, parsed by the export's parameter types (integers in decimal, floats
//! as Rust parses them, `null` for a nullable reference), and each result is printed on its own
//! line. Last, on stderr: the time of the call and drc-heap's statistics (region size, peak of
//! the region used, objects allocated and freed, collections, cycle collections and the objects
//! they freed).
//!
//! Exit status: 0 after a call that returned; 1 after a trap (its message on stderr) or a module
//! that does not load, link or instantiate; 2 for a usage error, a missing export or an argument
//! that does not parse as its parameter's type.

use std::process::ExitCode;
use std::time::Instant;

use drc_heap_wasm::{Config, Error, ExternKind, Module, Ref, RefInfo, Store, Trap, Val, ValType};

const USAGE: &str = "usage: run FILE [--invoke NAME] [ARG...] [--region-mib N] [--no-cycle-collection]";

/// What the command line asked for.
struct Options {
    file: String,
    invoke: Option<String>,
    args: Vec<String>,
    region_mib: usize,
    cycle_collection: bool,
}

/// A failure and the exit status it gets.
struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), status: 2 }
    }

    fn run(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), status: 1 }
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, Failure> {
    let mut file = None;
    let mut invoke = None;
    let mut positional = Vec::new();
    let mut region_mib = 64;
    let mut cycle_collection = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--invoke" => invoke = Some(args.next().ok_or_else(|| Failure::usage("--invoke needs a NAME"))?),
            "--region-mib" => {
                region_mib = args
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Failure::usage("--region-mib needs a positive number of MiB"))?
            }
            "--no-cycle-collection" => cycle_collection = false,
            "--help" | "-h" => return Err(Failure::usage(USAGE)),
            option if option.starts_with("--") => {
                return Err(Failure::usage(format!("unknown option {option}\n{USAGE}")))
            }
            _ if file.is_none() => file = Some(arg),
            _ => positional.push(arg),
        }
    }
    let file = file.ok_or_else(|| Failure::usage(USAGE))?;
    Ok(Options { file, invoke, args: positional, region_mib, cycle_collection })
}

/// The module's binary: FILE itself, or its text translated.
fn module_bytes(path: &str) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path).map_err(|error| Failure::run(format!("cannot read {path}: {error}")))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|binary| binary.into_owned())
        .map_err(|error| Failure::run(format!("{path} is neither a Wasm binary nor valid text: {error}")))
}

/// `text` as a value of type `ty`.
fn parse_arg(text: &str, ty: ValType) -> Result<Val, String> {
    let invalid = || format!("argument {text:?} is not a valid {ty:?}");
    Ok(match ty {
        // Integers may be given signed or unsigned: 4294967295 and -1 are the same i32.
        ValType::I32 => match text.parse::<i32>() {
            Ok(value) => Val::I32(value),
            Err(_) => Val::I32(text.parse::<u32>().map_err(|_| invalid())? as i32),
        },
        ValType::I64 => match text.parse::<i64>() {
            Ok(value) => Val::I64(value),
            Err(_) => Val::I64(text.parse::<u64>().map_err(|_| invalid())? as i64),
        },
        ValType::F32 => Val::F32(text.parse::<f32>().map_err(|_| invalid())?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().map_err(|_| invalid())?.to_bits()),
        ValType::Ref(ref_type) if ref_type.nullable && text == "null" => Val::Ref(Ref::Null),
        ValType::Ref(_) => return Err(format!("argument {text:?}: only `null` can be passed for {ty:?}")),
    })
}

/// A result as one line of text.
fn show(store: &Store, value: &Val) -> String {
    match value {
        Val::I32(value) => value.to_string(),
        Val::I64(value) => value.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::Ref(_) => match store.ref_info(value) {
            Ok(RefInfo::Null) => "null".to_string(),
            Ok(RefInfo::Func) => "funcref".to_string(),
            Ok(RefInfo::I31(value)) => format!("i31 {value}"),
            Ok(RefInfo::Struct) => "struct".to_string(),
            Ok(RefInfo::Array) => "array".to_string(),
            Ok(RefInfo::Extern(data)) => format!("externref {data}"),
            Err(error) => format!("a reference ({error})"),
        },
    }
}

/// The `env` host module: three printing functions.
fn define_env(store: &mut Store) -> Result<(), Error> {
    store.define_func(
        "env",
        "print_i32",
        &[ValType::I32],
        &[],
        Box::new(|_, args| match args {
            [Val::I32(value)] => {
                println!("{value}");
                Ok(Vec::new())
            }
            _ => Err(Trap::Host(format!("print_i32 got {args:?}"))),
        }),
    )?;
    store.define_func(
        "env",
        "print_i64",
        &[ValType::I64],
        &[],
        Box::new(|_, args| match args {
            [Val::I64(value)] => {
                println!("{value}");
                Ok(Vec::new())
            }
            _ => Err(Trap::Host(format!("print_i64 got {args:?}"))),
        }),
    )?;
    store.define_func(
        "env",
        "print_f64",
        &[ValType::F64],
        &[],
        Box::new(|_, args| match args {
            [Val::F64(bits)] => {
                println!("{}", f64::from_bits(*bits));
                Ok(Vec::new())
            }
            _ => Err(Trap::Host(format!("print_f64 got {args:?}"))),
        }),
    )
}

/// A load, link or run error: a trap prints its message alone.
fn run_failure(error: Error) -> Failure {
    match error {
        Error::Trap(trap) => Failure::run(format!("trap: {trap}")),
        Error::UnknownExport(_) | Error::ArgumentMismatch(_) => Failure::usage(error.to_string()),
        other => Failure::run(other.to_string()),
    }
}

fn run(options: &Options) -> Result<(), Failure> {
    let bytes = module_bytes(&options.file)?;
    let module = Module::new(&bytes).map_err(run_failure)?;
    let has_main = module.exports().any(|(name, kind)| name == "main" && matches!(kind, ExternKind::Func));
    let export = match (&options.invoke, has_main) {
        (Some(name), _) => Some(name.clone()),
        (None, true) => Some("main".to_string()),
        (None, false) if options.args.is_empty() => None,
        (None, false) => return Err(Failure::usage("arguments given, but no --invoke NAME and no `main` export")),
    };
    let config = Config { cycle_collection: options.cycle_collection, ..Config::default() };
    let region_bytes = options
        .region_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| Failure::usage(format!("--region-mib {} is too large", options.region_mib)))?;
    let mut store: Store = Store::new(region_bytes, config).map_err(run_failure)?;
    define_env(&mut store).map_err(run_failure)?;

    let start = Instant::now();
    let instance = store.instantiate(&module).map_err(run_failure)?;
    if let Some(export) = &export {
        let (params, _) = store.func_type(instance, export).map_err(run_failure)?;
        if params.len() != options.args.len() {
            return Err(Failure::usage(format!(
                "{export} takes {} arguments ({params:?}), {} given",
                params.len(),
                options.args.len()
            )));
        }
        let args = options
            .args
            .iter()
            .zip(&params)
            .map(|(text, &ty)| parse_arg(text, ty))
            .collect::<Result<Vec<Val>, String>>()
            .map_err(Failure::usage)?;
        let results = store.invoke(instance, export, &args).map_err(run_failure)?;
        for result in &results {
            println!("{}", show(&store, result));
        }
    }
    let elapsed = start.elapsed();

    eprintln!("time: {:.3} ms (instantiation and call)", elapsed.as_secs_f64() * 1e3);
    match store.heap().stats() {
        Ok(stats) => eprintln!(
            "drc-heap: region {} bytes, peak used {} bytes; objects allocated {}, freed {}; \
             collections {}; cycle collections {}, objects freed by them {}",
            stats.region_bytes,
            stats.peak_used_bytes,
            stats.objects_allocated,
            stats.objects_freed,
            stats.collections,
            stats.cycle_collections,
            stats.cycle_objects_freed
        ),
        Err(error) => eprintln!("drc-heap: no statistics: {error}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_options(std::env::args().skip(1)).and_then(|options| run(&options));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}
