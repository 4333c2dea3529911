//! The `spectest` host module that the official scripts import from: print functions that
//! accept their arguments and return nothing, four immutable globals, a funcref table of 10..20
//! elements and a memory of 1..2 pages, as the reference interpreter defines them.

use drc_heap_wasm::{HeapType, RefType, Store, Val, ValType};

/// Defines every `spectest` import in `store`.
pub fn define(store: &mut Store<u32>) -> Result<(), String> {
    use ValType::{F32, F64, I32, I64};
    let functions: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[I32]),
        ("print_i64", &[I64]),
        ("print_f32", &[F32]),
        ("print_f64", &[F64]),
        ("print_i32_f32", &[I32, F32]),
        ("print_f64_f64", &[F64, F64]),
    ];
    for (name, params) in functions {
        store
            .define_func("spectest", name, params, &[], Box::new(|_, _| Ok(Vec::new())))
            .map_err(|error| format!("define spectest.{name}: {error:?}"))?;
    }
    let globals = [
        ("global_i32", I32, Val::I32(666)),
        ("global_i64", I64, Val::I64(666)),
        ("global_f32", F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, value_type, value) in globals {
        store
            .define_global("spectest", name, value_type, false, value)
            .map_err(|error| format!("define spectest.{name}: {error:?}"))?;
    }
    let funcref = RefType { nullable: true, heap_type: HeapType::Func };
    store
        .define_table("spectest", "table", funcref, 10, Some(20))
        .map_err(|error| format!("define spectest.table: {error:?}"))?;
    store
        .define_memory("spectest", "memory", 1, Some(2))
        .map_err(|error| format!("define spectest.memory: {error:?}"))?;
    Ok(())
}
