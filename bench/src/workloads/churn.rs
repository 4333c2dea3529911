//! externref churn: a host table of 1024 slots; each operation allocates an externref holding
//! host data, puts it in a pseudo-random slot (the slot's old externref is released and its host
//! data dropped), and every 8th operation reads the host data of another slot. At the end the
//! table is cleared: every host data value must have been dropped exactly once.

use super::binary_trees::fold;
use super::{drc_heap, drc_outcome, Implementation, Outcome, Workload, REGION_BYTES};
use drc_heap::{GcRef, Heap};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const SLOTS: usize = 1024;

thread_local! {
    static DROPS: Cell<u64> = const { Cell::new(0) };
}

/// Host data that counts its drops.
struct Tracked(u64);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
    }
}

fn slot(i: u64) -> usize {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize % SLOTS
}

fn read_slot(i: u64) -> usize {
    (i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) >> 54) as usize % SLOTS
}

fn expected(ops: u64) -> u64 {
    let mut table: Vec<Option<u64>> = vec![None; SLOTS];
    let mut reads = 0u64;
    for i in 0..ops {
        table[slot(i)] = Some(i);
        if i % 8 == 7 {
            reads = reads.wrapping_add(table[read_slot(i)].unwrap_or(0));
        }
    }
    let left: u64 = table.iter().flatten().sum();
    fold(fold(reads, left), ops)
}

pub fn workload(quick: bool) -> Workload {
    let ops: u64 = if quick { 20_000 } else { 2_000_000 };
    Workload {
        name: "externref churn".to_string(),
        description: format!(
            "{ops} externref allocations into a {SLOTS}-slot host table (each replacing and releasing \
             the slot's old externref, whose host data is dropped), a host-data read every 8th; check: \
             the reads, the table's final contents, and drops == allocations."
        ),
        expected: expected(ops),
        implementations: vec![
            Implementation { name: "drc-heap", reference: true, run: Box::new(move || drc(ops)) },
            Implementation { name: "Rc<RefCell>", reference: false, run: Box::new(move || rc(ops)) },
        ],
        notes: vec!["drc-heap: the table is a host Vec<Option<GcRef>> that owns its references (the new \
             externref is moved in, the old one released with drop_ref); Rc<RefCell>: \
             Vec<Option<Rc<RefCell<Tracked>>>>."
            .to_string()],
    }
}

fn drops() -> u64 {
    DROPS.with(Cell::get)
}

fn drc(ops: u64) -> Outcome {
    let mut heap: Heap<Tracked> = drc_heap(REGION_BYTES, true);
    let drops_before = drops();
    let mut table: Vec<Option<GcRef>> = (0..SLOTS).map(|_| None).collect();
    let result = (|| {
        let mut reads = 0u64;
        for i in 0..ops {
            let externref = heap.alloc_externref(Tracked(i)).map_err(|(error, _)| error)?;
            if let Some(old) = table[slot(i)].replace(externref) {
                heap.drop_ref(old)?;
            }
            if i % 8 == 7 {
                if let Some(r) = &table[read_slot(i)] {
                    reads = reads.wrapping_add(heap.externref_data(r)?.0);
                }
            }
        }
        let mut left = 0u64;
        for r in table.iter_mut().filter_map(Option::take) {
            left += heap.externref_data(&r)?.0;
            heap.drop_ref(r)?;
        }
        let dropped = drops() - drops_before;
        Ok(if dropped == ops && heap.host_data_count() == 0 { fold(fold(reads, left), ops) } else { u64::MAX })
    })();
    drc_outcome(&heap, result)
}

fn rc(ops: u64) -> Outcome {
    let drops_before = drops();
    let mut table: Vec<Option<Rc<RefCell<Tracked>>>> = (0..SLOTS).map(|_| None).collect();
    let mut reads = 0u64;
    for i in 0..ops {
        table[slot(i)] = Some(Rc::new(RefCell::new(Tracked(i))));
        if i % 8 == 7 {
            if let Some(r) = &table[read_slot(i)] {
                reads = reads.wrapping_add(r.borrow().0);
            }
        }
    }
    let mut left = 0u64;
    for r in table.iter_mut().filter_map(Option::take) {
        left += r.borrow().0;
    }
    let dropped = drops() - drops_before;
    let check = if dropped == ops { fold(fold(reads, left), ops) } else { u64::MAX };
    Outcome { check: Ok(check), drc: None, note: None }
}
