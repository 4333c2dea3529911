//! Arrays: of references (to small structs) and of scalars (f64).
//!
//! References: each iteration allocates an array of `len` nullable references, fills it with new
//! leaf structs {value: i32 = index}, sums the leaves' values through the array, copies the
//! second half over the first (`array.copy`: the first half's leaves are released), sums again,
//! and drops the array (which releases every leaf it still holds).
//!
//! Scalars: each iteration allocates an f64 array of `len` zeros, sets element k to k/2, sums,
//! fills the first quarter with 1.0 (`array.fill`), copies the first half over the second
//! (`array.copy`), sums again and drops the array.

use super::binary_trees::fold;
use super::{drc_heap, drc_outcome, DrcResult, Implementation, Outcome, Workload, REGION_BYTES};
use drc_heap::types::{ArrayType, HeapType, RefType, StorageType, StructType};
use drc_heap::{Heap, Value, ValueRef};
use std::cell::RefCell;
use std::rc::Rc;

pub fn workloads(quick: bool) -> Vec<Workload> {
    let (ref_iterations, scalar_iterations) = if quick { (20, 20) } else { (1000, 1000) };
    vec![ref_arrays(ref_iterations, 1024), scalar_arrays(scalar_iterations, 4096)]
}

// ---- arrays of references ----------------------------------------------------------------------

fn ref_expected(iterations: u32, len: u32) -> u64 {
    let first: u64 = (0..len as u64).sum();
    let second: u64 = 2 * (len as u64 / 2..len as u64).sum::<u64>();
    (0..iterations).fold(0, |d, _| fold(fold(d, first), second))
}

fn ref_arrays(iterations: u32, len: u32) -> Workload {
    Workload {
        name: "arrays of references".to_string(),
        description: format!(
            "{iterations} arrays of {len} references to new structs {{value: i32}}: fill, sum, copy the \
             second half over the first, sum, drop ({} objects).",
            iterations as u64 * (len as u64 + 1)
        ),
        expected: ref_expected(iterations, len),
        implementations: vec![
            Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc_refs(iterations, len)) },
            Implementation { name: "Rc<RefCell>", reference: false, run: Box::new(move || rc_refs(iterations, len)) },
        ],
        notes: vec!["drc-heap: (array (ref null $leaf)) with a final $leaf, so both are acyclic (never cycle \
             candidates); leaves are moved in with array_set_owned and read through an array_view \
             (get_ref, no count) + struct_get_i32. Rc<RefCell>: Rc<RefCell<Vec<Option<Rc<RefCell<Leaf>>>>>>."
            .to_string()],
    }
}

fn drc_refs(iterations: u32, len: u32) -> Outcome {
    let mut heap: Heap<()> = drc_heap(REGION_BYTES, true);
    let result = (|| -> DrcResult<u64> {
        let leaf = heap.register_struct(StructType::new(&[StorageType::I32]))?;
        let array =
            heap.register_array(ArrayType::new(StorageType::Ref(RefType::nullable(HeapType::Concrete(leaf)))))?;
        let mut digest = 0;
        for _ in 0..iterations {
            let a = heap.array_new(array, len, ValueRef::Ref(None))?;
            for k in 0..len {
                let value = heap.struct_new_owned(leaf, [Value::I32(k as i32)]).map_err(|(e, _)| e)?;
                heap.array_set_owned(&a, k, Value::Ref(Some(value)))?;
            }
            let sum = |heap: &Heap<()>| -> DrcResult<u64> {
                let elements = heap.array_view(&a)?;
                let mut sum = 0;
                for k in 0..len {
                    if let Some(leaf) = elements.get_ref(k)? {
                        sum += heap.struct_get_i32(&leaf, 0)? as u64;
                    }
                }
                Ok(sum)
            };
            digest = fold(digest, sum(&heap)?);
            heap.array_copy(&a, 0, &a, len / 2, len / 2)?;
            digest = fold(digest, sum(&heap)?);
            heap.drop_ref(a)?;
        }
        Ok(digest)
    })();
    drc_outcome(&heap, result)
}

struct Leaf {
    value: i32,
}

/// An `Rc<RefCell>` array of nullable references to leaves.
type RcLeafArray = Rc<RefCell<Vec<Option<Rc<RefCell<Leaf>>>>>>;

fn rc_refs(iterations: u32, len: u32) -> Outcome {
    let mut digest = 0;
    for _ in 0..iterations {
        let a: RcLeafArray = Rc::new(RefCell::new(vec![None; len as usize]));
        for k in 0..len {
            a.borrow_mut()[k as usize] = Some(Rc::new(RefCell::new(Leaf { value: k as i32 })));
        }
        let sum = || a.borrow().iter().flatten().map(|leaf| leaf.borrow().value as u64).sum::<u64>();
        digest = fold(digest, sum());
        {
            let mut v = a.borrow_mut();
            for k in 0..(len / 2) as usize {
                v[k] = v[k + len as usize / 2].clone();
            }
        }
        digest = fold(digest, sum());
        drop(a);
    }
    Outcome { check: Ok(digest), drc: None, note: None }
}

// ---- arrays of scalars -------------------------------------------------------------------------

/// Sums of the two passes, doubled (every value is a multiple of 1/2, so the sums are exact).
fn scalar_expected(iterations: u32, len: u32) -> u64 {
    let mut v: Vec<f64> = (0..len).map(|k| k as f64 / 2.0).collect();
    let first = v.iter().sum::<f64>() * 2.0;
    v[..len as usize / 4].fill(1.0);
    v.copy_within(0..len as usize / 2, len as usize / 2);
    let second = v.iter().sum::<f64>() * 2.0;
    (0..iterations).fold(0, |d, _| fold(fold(d, first as u64), second as u64))
}

fn scalar_arrays(iterations: u32, len: u32) -> Workload {
    Workload {
        name: "arrays of scalars".to_string(),
        description: format!(
            "{iterations} f64 arrays of {len} elements: set each, sum, fill a quarter, copy half over \
             half, sum, drop."
        ),
        expected: scalar_expected(iterations, len),
        implementations: vec![
            Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc_scalars(iterations, len)) },
            Implementation {
                name: "Rc<RefCell>",
                reference: false,
                run: Box::new(move || rc_scalars(iterations, len)),
            },
        ],
        notes: vec!["drc-heap: (array f64) written through scalar_array_mut (set_f64), read through array_view \
             (get_f64), array_fill and array_copy; \
             Rc<RefCell>: Rc<RefCell<Vec<f64>>> with indexing, slice fill and copy_within."
            .to_string()],
    }
}

fn drc_scalars(iterations: u32, len: u32) -> Outcome {
    let mut heap: Heap<()> = drc_heap(REGION_BYTES, true);
    let result = (|| -> DrcResult<u64> {
        let array = heap.register_array(ArrayType::new(StorageType::F64))?;
        let mut digest = 0;
        for _ in 0..iterations {
            let a = heap.array_new(array, len, ValueRef::F64(0.0))?;
            let mut elements = heap.scalar_array_mut(&a)?;
            for k in 0..len {
                elements.set_f64(k, k as f64 / 2.0)?;
            }
            let sum = |heap: &Heap<()>| -> DrcResult<u64> {
                let elements = heap.array_view(&a)?;
                let mut sum = 0.0;
                for k in 0..len {
                    sum += elements.get_f64(k)?;
                }
                Ok((sum * 2.0) as u64)
            };
            digest = fold(digest, sum(&heap)?);
            heap.array_fill(&a, 0, ValueRef::F64(1.0), len / 4)?;
            heap.array_copy(&a, len / 2, &a, 0, len / 2)?;
            digest = fold(digest, sum(&heap)?);
            heap.drop_ref(a)?;
        }
        Ok(digest)
    })();
    drc_outcome(&heap, result)
}

fn rc_scalars(iterations: u32, len: u32) -> Outcome {
    let mut digest = 0;
    for _ in 0..iterations {
        let a = Rc::new(RefCell::new(vec![0.0f64; len as usize]));
        for k in 0..len {
            a.borrow_mut()[k as usize] = k as f64 / 2.0;
        }
        let sum = || (a.borrow().iter().sum::<f64>() * 2.0) as u64;
        digest = fold(digest, sum());
        a.borrow_mut()[..len as usize / 4].fill(1.0);
        a.borrow_mut().copy_within(0..len as usize / 2, len as usize / 2);
        digest = fold(digest, sum());
        drop(a);
    }
    Outcome { check: Ok(digest), drc: None, note: None }
}
