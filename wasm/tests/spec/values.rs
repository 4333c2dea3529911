//! Values of the spec scripts: converting `invoke` arguments to engine values, matching engine
//! results against `assert_return` patterns, and printing values for failure reports.
//!
//! Host references (`ref.extern N` and `ref.host N`) are externref objects created with
//! `Store::externref(N)`. They are cached per `N` in [`HostRefs`] so that equal `N` give the same
//! reference within one store (the suite relies on that identity: `ref.host 1` is what
//! `any.convert_extern` makes of `ref.extern 1`). Cached references are never released; the store
//! releases them when it is dropped.

use drc_heap_wasm::{Ref, RefInfo, Store, Val};
use std::collections::HashMap;
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};

/// The host references of one store, one per number used by the script.
#[derive(Default)]
pub struct HostRefs {
    by_number: HashMap<u32, Val>,
}

impl HostRefs {
    /// The externref for host number `number`, created on first use.
    pub fn get(&mut self, store: &mut Store<u32>, number: u32) -> Result<Val, String> {
        if let Some(value) = self.by_number.get(&number) {
            return Ok(*value);
        }
        let value = store.externref(number).map_err(|error| format!("Store::externref({number}) failed: {error:?}"))?;
        self.by_number.insert(number, value);
        Ok(value)
    }

    /// Whether `value` is one of the cached references (which must not be released).
    pub fn contains(&self, value: &Val) -> bool {
        self.by_number.values().any(|cached| cached == value)
    }
}

/// Why an argument or a pattern cannot be run: the runner skips the assertion and prints this.
pub struct Unsupported(pub String);

/// Converts one `invoke` argument.
pub fn argument(
    store: &mut Store<u32>,
    host_refs: &mut HostRefs,
    argument: &WastArg<'_>,
) -> Result<Result<Val, String>, Unsupported> {
    let core = match argument {
        WastArg::Core(core) => core,
        #[allow(unreachable_patterns)]
        _ => return Err(Unsupported("component-model argument".into())),
    };
    Ok(Ok(match core {
        WastArgCore::I32(value) => Val::I32(*value),
        WastArgCore::I64(value) => Val::I64(*value),
        WastArgCore::F32(value) => Val::F32(value.bits),
        WastArgCore::F64(value) => Val::F64(value.bits),
        WastArgCore::V128(_) => return Err(Unsupported("v128 argument (SIMD is not supported)".into())),
        WastArgCore::RefNull(_) => Val::Ref(Ref::Null),
        WastArgCore::RefExtern(number) | WastArgCore::RefHost(number) => return Ok(host_refs.get(store, *number)),
    }))
}

/// Fails with the reason if a result pattern cannot be checked by this engine (v128, shared
/// references, component values); checked before running the assertion so that it is skipped.
pub fn check_supported(pattern: &WastRet<'_>) -> Result<(), Unsupported> {
    match pattern {
        WastRet::Core(core) => check_core_supported(core),
        #[allow(unreachable_patterns)]
        _ => Err(Unsupported("component-model result".into())),
    }
}

fn check_core_supported(pattern: &WastRetCore<'_>) -> Result<(), Unsupported> {
    match pattern {
        WastRetCore::V128(_) => Err(Unsupported("v128 result (SIMD is not supported)".into())),
        WastRetCore::RefI31Shared => {
            Err(Unsupported("shared i31 result (shared-everything threads are not supported)".into()))
        }
        WastRetCore::Either(alternatives) => alternatives.iter().try_for_each(check_core_supported),
        _ => Ok(()),
    }
}

/// Whether `value` matches `pattern` (patterns already passed [`check_supported`]).
pub fn matches(store: &Store<u32>, value: &Val, pattern: &WastRet<'_>) -> bool {
    match pattern {
        WastRet::Core(core) => matches_core(store, value, core),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// What a reference result is, as far as the patterns distinguish.
enum Kind {
    Null,
    Func,
    I31,
    Struct,
    Array,
    Extern(u32),
    NotARef,
    /// `Store::ref_info` failed: matches no pattern.
    Unknown,
}

fn kind(store: &Store<u32>, value: &Val) -> Kind {
    if !matches!(value, Val::Ref(_)) {
        return Kind::NotARef;
    }
    match store.ref_info(value) {
        Ok(RefInfo::Null) => Kind::Null,
        Ok(RefInfo::Func) => Kind::Func,
        Ok(RefInfo::I31(_)) => Kind::I31,
        Ok(RefInfo::Struct) => Kind::Struct,
        Ok(RefInfo::Array) => Kind::Array,
        Ok(RefInfo::Extern(data)) => Kind::Extern(*data),
        #[allow(unreachable_patterns)]
        _ => Kind::Unknown,
    }
}

fn matches_core(store: &Store<u32>, value: &Val, pattern: &WastRetCore<'_>) -> bool {
    match (pattern, value) {
        (WastRetCore::I32(expected), Val::I32(got)) => expected == got,
        (WastRetCore::I64(expected), Val::I64(got)) => expected == got,
        (WastRetCore::F32(expected), Val::F32(got)) => match expected {
            NanPattern::CanonicalNan => got & 0x7fff_ffff == 0x7fc0_0000,
            NanPattern::ArithmeticNan => got & 0x7fc0_0000 == 0x7fc0_0000,
            NanPattern::Value(expected) => expected.bits == *got,
        },
        (WastRetCore::F64(expected), Val::F64(got)) => match expected {
            NanPattern::CanonicalNan => got & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => got & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
            NanPattern::Value(expected) => expected.bits == *got,
        },
        (WastRetCore::Either(alternatives), _) => {
            alternatives.iter().any(|alternative| matches_core(store, value, alternative))
        }
        (WastRetCore::RefNull(_), _) => matches!(kind(store, value), Kind::Null),
        (WastRetCore::RefFunc(_), _) => matches!(kind(store, value), Kind::Func),
        // `ref.extern N`: the host reference N (possibly through any.convert_extern and back);
        // `ref.extern`: any non-null externref, including externalized internal references.
        (WastRetCore::RefExtern(Some(number)), _) => {
            matches!(kind(store, value), Kind::Extern(data) if data == *number)
        }
        (WastRetCore::RefHost(number), _) => {
            matches!(kind(store, value), Kind::Extern(data) if data == *number)
        }
        (WastRetCore::RefExtern(None), _) | (WastRetCore::RefAny, _) => {
            matches!(kind(store, value), Kind::Extern(_) | Kind::I31 | Kind::Struct | Kind::Array)
        }
        (WastRetCore::RefEq, _) => matches!(kind(store, value), Kind::I31 | Kind::Struct | Kind::Array),
        (WastRetCore::RefStruct, _) => matches!(kind(store, value), Kind::Struct),
        (WastRetCore::RefArray, _) => matches!(kind(store, value), Kind::Array),
        (WastRetCore::RefI31, _) => matches!(kind(store, value), Kind::I31),
        _ => false,
    }
}

/// A result value for failure reports, e.g. `f32 1.5 (0x3fc00000)` or `ref.extern 3`.
pub fn describe(store: &Store<u32>, value: &Val) -> String {
    match value {
        Val::I32(value) => format!("i32 {value}"),
        Val::I64(value) => format!("i64 {value}"),
        Val::F32(bits) => format!("f32 {} ({bits:#010x})", f32::from_bits(*bits)),
        Val::F64(bits) => format!("f64 {} ({bits:#018x})", f64::from_bits(*bits)),
        Val::Ref(_) => match store.ref_info(value) {
            Ok(RefInfo::Null) => "ref.null".into(),
            Ok(RefInfo::Func) => "ref.func".into(),
            Ok(RefInfo::I31(number)) => format!("ref.i31 {number}"),
            Ok(RefInfo::Struct) => "ref.struct".into(),
            Ok(RefInfo::Array) => "ref.array".into(),
            Ok(RefInfo::Extern(data)) => format!("ref.extern {data}"),
            Err(error) => format!("{value:?} (ref_info failed: {error:?})"),
            #[allow(unreachable_patterns)]
            _ => format!("{value:?}"),
        },
    }
}

/// A list of result values for failure reports.
pub fn describe_all(store: &Store<u32>, values: &[Val]) -> String {
    let parts: Vec<String> = values.iter().map(|value| describe(store, value)).collect();
    format!("[{}]", parts.join(", "))
}

/// A result pattern for failure reports.
pub fn describe_pattern(pattern: &WastRet<'_>) -> String {
    match pattern {
        WastRet::Core(core) => describe_core_pattern(core),
        #[allow(unreachable_patterns)]
        _ => "component value".into(),
    }
}

fn describe_core_pattern(pattern: &WastRetCore<'_>) -> String {
    fn nan<T>(pattern: &NanPattern<T>, value: impl Fn(&T) -> String) -> String {
        match pattern {
            NanPattern::CanonicalNan => "nan:canonical".into(),
            NanPattern::ArithmeticNan => "nan:arithmetic".into(),
            NanPattern::Value(number) => value(number),
        }
    }
    match pattern {
        WastRetCore::I32(value) => format!("i32 {value}"),
        WastRetCore::I64(value) => format!("i64 {value}"),
        WastRetCore::F32(pattern) => {
            format!("f32 {}", nan(pattern, |number| format!("{} ({:#010x})", f32::from_bits(number.bits), number.bits)))
        }
        WastRetCore::F64(pattern) => {
            format!("f64 {}", nan(pattern, |number| format!("{} ({:#018x})", f64::from_bits(number.bits), number.bits)))
        }
        WastRetCore::V128(_) => "v128".into(),
        WastRetCore::RefNull(_) => "ref.null".into(),
        WastRetCore::RefExtern(Some(number)) => format!("ref.extern {number}"),
        WastRetCore::RefExtern(None) => "ref.extern".into(),
        WastRetCore::RefHost(number) => format!("ref.host {number}"),
        WastRetCore::RefFunc(_) => "ref.func".into(),
        WastRetCore::RefAny => "ref.any".into(),
        WastRetCore::RefEq => "ref.eq".into(),
        WastRetCore::RefArray => "ref.array".into(),
        WastRetCore::RefStruct => "ref.struct".into(),
        WastRetCore::RefI31 => "ref.i31".into(),
        WastRetCore::RefI31Shared => "ref.i31_shared".into(),
        WastRetCore::Either(alternatives) => {
            let parts: Vec<String> = alternatives.iter().map(describe_core_pattern).collect();
            format!("either({})", parts.join(" | "))
        }
    }
}
