//! The cyclic workload of doubly linked rings: its parameters, its program (one per
//! implementation behind a trait), and the drc-heap, `Rc<RefCell>` and `bacon_rajan_cc`
//! implementations.

use super::*;

#[derive(Clone, Copy)]
pub(super) struct RingParams {
    pub(super) size: u32,
    pub(super) rings: u32,
    /// Rings alive at once: each new ring replaces the oldest.
    pub(super) window: usize,
}

trait Rings {
    type Ring;
    type Error: std::fmt::Display;
    /// A ring of `size` nodes with values 0..size; returns its head.
    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error>;
    /// Walks the ring once through `next`, checking every `prev` link on the way; the sum of
    /// the values, or `u64::MAX` if a link is wrong.
    fn walk(&mut self, ring: &Self::Ring, size: u32) -> Result<u64, Self::Error>;
    fn drop_ring(&mut self, ring: Self::Ring) -> Result<(), Self::Error>;
}

fn rings_program<R: Rings>(r: &mut R, p: RingParams, after_each: impl Fn()) -> Result<u64, String> {
    let build = |r: &mut R| {
        let ring = r.build(p.size)?;
        let sum = r.walk(&ring, p.size)?;
        Ok((ring, sum))
    };
    windowed_program(r, p.rings, p.window, "rings", build, R::drop_ring, after_each)
}

pub(super) fn rings(p: RingParams, region: usize) -> Workload {
    let sum = p.size as u64 * (p.size as u64 - 1) / 2;
    let expected = (0..p.rings).fold(0, |d, _| fold(d, sum));
    Workload {
        name: "doubly linked rings".to_string(),
        description: format!(
            "{} rings of {} nodes {{prev, next, value}}, built one at a time by linking each new node \
             after the tail, walked once through `next` (checking every `prev`), {} alive at a time; \
             drc-heap region {} KiB.",
            p.rings,
            p.size,
            p.window,
            region >> 10
        ),
        expected,
        implementations: implementations(
            move |cycles| drc_rings(p, region, cycles),
            move || rings_program(&mut RcRings, p, || {}),
            move |after_each| rings_program(&mut CcRings, p, after_each),
        ),
        notes: vec![
            "Rc<RefCell>: `next` is an Rc, `prev` a Weak; the ring's owner breaks the one strong cycle \
             (the tail's `next`) before dropping the head, as a Rust programmer would."
                .to_string(),
            POLICY.to_string(),
        ],
    }
}

// ---- drc-heap --------------------------------------------------------------------------------------

struct DrcRings {
    heap: Heap<()>,
    node: TypeIndex,
}

const PREV: u32 = 0;
const NEXT: u32 = 1;
const VALUE: u32 = 2;

impl Rings for DrcRings {
    type Ring = GcRef;
    type Error = drc_heap::Error;

    fn build(&mut self, size: u32) -> DrcResult<GcRef> {
        let heap = &mut self.heap;
        let new = |heap: &mut Heap<()>, prev: Option<GcRef>, value: i32| {
            heap.struct_new_owned(self.node, [Value::Ref(prev), Value::Ref(None), Value::I32(value)])
                .map_err(|(e, _)| e)
        };
        let head = new(heap, None, 0)?;
        let mut tail = heap.clone_ref(&head)?;
        for value in 1..size as i32 {
            let prev = heap.clone_ref(&tail)?;
            let node = new(heap, Some(prev), value)?;
            let next = heap.clone_ref(&node)?;
            heap.struct_set_owned(&tail, NEXT, Value::Ref(Some(next)))?;
            heap.drop_ref(std::mem::replace(&mut tail, node))?;
        }
        let next = heap.clone_ref(&head)?;
        heap.struct_set_owned(&tail, NEXT, Value::Ref(Some(next)))?;
        heap.struct_set_owned(&head, PREV, Value::Ref(Some(tail)))?;
        Ok(head)
    }

    fn walk(&mut self, head: &GcRef, size: u32) -> DrcResult<u64> {
        let heap = &self.heap;
        let raw = |r: Option<BorrowedRef<'_>>| r.map_or(0, |r| r.as_raw_u32());
        let first = heap.struct_view(head)?;
        let mut sum = first.get_i32(VALUE)? as u64;
        let mut prev = head.as_raw_u32();
        let Some(mut current) = first.get_ref(NEXT)? else { return Ok(u64::MAX) };
        for _ in 1..size {
            let node = heap.struct_view(&current)?;
            if raw(node.get_ref(PREV)?) != prev {
                return Ok(u64::MAX);
            }
            sum += node.get_i32(VALUE)? as u64;
            prev = current.as_raw_u32();
            let Some(next) = node.get_ref(NEXT)? else { return Ok(u64::MAX) };
            current = next;
        }
        let closed = current.as_raw_u32() == head.as_raw_u32() && raw(first.get_ref(PREV)?) == prev;
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, ring: GcRef) -> DrcResult<()> {
        self.heap.drop_ref(ring)
    }
}

fn drc_rings(p: RingParams, region: usize, cycles: bool) -> Outcome {
    let register = |heap: &mut Heap<()>| heap.register_struct(StructType::new(&[LINK, LINK, StorageType::I32]));
    drc_run(region, cycles, register, |heap, node| {
        let mut rings = DrcRings { heap, node };
        let result = rings_program(&mut rings, p, || {});
        (rings.heap, result)
    })
}

// ---- Rc<RefCell> -------------------------------------------------------------------------------------

struct RcRingNode {
    prev: Weak<RefCell<RcRingNode>>,
    next: Option<Rc<RefCell<RcRingNode>>>,
    value: i32,
}

struct RcRings;

impl Rings for RcRings {
    type Ring = Rc<RefCell<RcRingNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error> {
        let head = Rc::new(RefCell::new(RcRingNode { prev: Weak::new(), next: None, value: 0 }));
        let mut tail = head.clone();
        for value in 1..size as i32 {
            let node = Rc::new(RefCell::new(RcRingNode { prev: Rc::downgrade(&tail), next: None, value }));
            tail.borrow_mut().next = Some(node.clone());
            tail = node;
        }
        tail.borrow_mut().next = Some(head.clone());
        head.borrow_mut().prev = Rc::downgrade(&tail);
        Ok(head)
    }

    fn walk(&mut self, head: &Self::Ring, size: u32) -> Result<u64, Self::Error> {
        let mut sum = head.borrow().value as u64;
        let mut prev = head.clone();
        let Some(mut current) = head.borrow().next.clone() else { return Ok(u64::MAX) };
        for _ in 1..size {
            if !current.borrow().prev.upgrade().is_some_and(|p| Rc::ptr_eq(&p, &prev)) {
                return Ok(u64::MAX);
            }
            sum += current.borrow().value as u64;
            let Some(next) = current.borrow().next.clone() else { return Ok(u64::MAX) };
            prev = std::mem::replace(&mut current, next);
        }
        let closed = Rc::ptr_eq(&current, head) && head.borrow().prev.upgrade().is_some_and(|p| Rc::ptr_eq(&p, &prev));
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, head: Self::Ring) -> Result<(), Self::Error> {
        // Break the strong cycle through `next`, then the chain drops from the head.
        let tail = head.borrow().prev.upgrade();
        if let Some(tail) = tail {
            tail.borrow_mut().next = None;
        }
        drop(head);
        Ok(())
    }
}

// ---- bacon_rajan_cc ----------------------------------------------------------------------------------

struct CcRingNode {
    prev: Option<Cc<RefCell<CcRingNode>>>,
    next: Option<Cc<RefCell<CcRingNode>>>,
    value: i32,
}

impl Trace for CcRingNode {
    fn trace(&self, tracer: &mut Tracer) {
        self.prev.trace(tracer);
        self.next.trace(tracer);
    }
}

struct CcRings;

impl Rings for CcRings {
    type Ring = Cc<RefCell<CcRingNode>>;
    type Error = std::convert::Infallible;

    fn build(&mut self, size: u32) -> Result<Self::Ring, Self::Error> {
        let head = Cc::new(RefCell::new(CcRingNode { prev: None, next: None, value: 0 }));
        let mut tail = head.clone();
        for value in 1..size as i32 {
            let node = Cc::new(RefCell::new(CcRingNode { prev: Some(tail.clone()), next: None, value }));
            tail.borrow_mut().next = Some(node.clone());
            tail = node;
        }
        tail.borrow_mut().next = Some(head.clone());
        head.borrow_mut().prev = Some(tail);
        Ok(head)
    }

    fn walk(&mut self, head: &Self::Ring, size: u32) -> Result<u64, Self::Error> {
        let mut sum = head.borrow().value as u64;
        let mut prev = head.clone();
        let Some(mut current) = head.borrow().next.clone() else { return Ok(u64::MAX) };
        for _ in 1..size {
            if !current.borrow().prev.as_ref().is_some_and(|p| Cc::ptr_eq(p, &prev)) {
                return Ok(u64::MAX);
            }
            sum += current.borrow().value as u64;
            let Some(next) = current.borrow().next.clone() else { return Ok(u64::MAX) };
            prev = std::mem::replace(&mut current, next);
        }
        let closed = Cc::ptr_eq(&current, head) && head.borrow().prev.as_ref().is_some_and(|p| Cc::ptr_eq(p, &prev));
        Ok(if closed { sum } else { u64::MAX })
    }

    fn drop_ring(&mut self, head: Self::Ring) -> Result<(), Self::Error> {
        drop(head);
        Ok(())
    }
}
