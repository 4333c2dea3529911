//! The harness's operations: `apply` and one method per kind of operation (allocation, field and
//! element access, bulk array operations, `ref.test`, Wasm frames, host globals and tables,
//! reset), each applied to the heap and the model alike.

use super::helpers::{handle, mix, Slot};
use super::ops::{Dest, Op, RAW};
use super::schema::{test_types, Decl};
use super::values::{Expect, MKind, MObj, MRef, MVal, Tracked, ValueRefSlot};
use super::{Harness, GLOBALS, MAX_FRAMES, MAX_FRAME_PICKS, TABLES, TABLE_SIZE};
use drc_heap::types::StorageType;
use drc_heap::{TypeIndex, Value, ValueRef};

impl Harness {
    /// Applies one operation to the heap and the model, then the per-operation checks.
    pub fn apply(&mut self, op: &Op) {
        self.stats.ops += 1;
        match *op {
            Op::NewStruct { ty, init } => self.new_struct(ty, init),
            Op::NewArray { ty, len, init } => self.new_array(ty, len, init, false),
            Op::NewArrayFixed { ty, len, init } => self.new_array(ty, len, init, true),
            Op::NewExtern { payload } => self.new_extern(payload),
            Op::StructSet { target, field, value } => self.struct_set(target, field, value),
            Op::StructGet { target, field, dest } => self.struct_get(target, field, dest),
            Op::ArraySet { target, index, value } => self.array_set(target, index, value),
            Op::ArrayGet { target, index, dest } => self.array_get(target, index, dest),
            Op::ArrayFill { target, start, count_value } => self.array_fill(target, start, count_value),
            Op::ArrayCopy { destination, source, starts_count } => self.array_copy(destination, source, starts_count),
            Op::ArrayLen { target } => self.array_len(target),
            Op::ExternData { target } => self.extern_data(target),
            Op::RefTest { target, ty } => self.ref_test(target, ty),
            Op::PushFrame { picks, count } => self.push_frame(picks, count),
            Op::PopFrame => {
                self.frames.pop();
            }
            Op::WasmDropSlot { slot } => {
                if let Some(frame) = self.frames.last_mut() {
                    if !frame.is_empty() {
                        let slot = slot as usize % frame.len();
                        frame.remove(slot);
                    }
                }
            }
            Op::ExposeMany { target, times } => self.expose_many(target, times),
            Op::SetGlobal { global, source } => {
                let global = global as usize % GLOBALS;
                self.set_host_slot(source, |h| &mut h.globals[global]);
            }
            Op::SetTable { table, source, index } => {
                let (table, index) = (table as usize % TABLES, index as usize % TABLE_SIZE);
                self.set_host_slot(source, |h| &mut h.tables[table][index]);
            }
            Op::FillTable { table, source, range } => {
                let table = table as usize % TABLES;
                let start = range as usize % TABLE_SIZE;
                let count = (range as usize >> 8) % (TABLE_SIZE - start + 1);
                for index in start..start + count {
                    self.set_host_slot(source, |h| &mut h.tables[table][index]);
                }
            }
            Op::ClearGlobal { global } => {
                let global = global as usize % GLOBALS;
                self.clear_host_slot(|h| &mut h.globals[global]);
            }
            Op::ClearTable { table } => {
                let table = table as usize % TABLES;
                for index in 0..TABLE_SIZE {
                    self.clear_host_slot(|h| &mut h.tables[table][index]);
                }
            }
            Op::CloneLocal { source } => {
                if let Some((word, m)) = self.pick(source, |_, _| true) {
                    let result = self.heap.clone_ref(&handle(word).expect("non-null"));
                    if self.expect("clone_ref", &result, Expect::Ok) {
                        self.keep_local(result.ok(), m);
                    }
                }
            }
            Op::DropLocal { local } => {
                if !self.locals.is_empty() {
                    let slot = self.locals.remove(local as usize % self.locals.len());
                    self.release(slot.gc);
                }
            }
            Op::EnterNoGc => {
                if self.no_gc_depth < 2 {
                    self.heap.enter_no_gc_scope();
                    self.no_gc_depth += 1;
                }
            }
            Op::ExitNoGc => {
                let result = self.heap.exit_no_gc_scope();
                let expected = if self.no_gc_depth > 0 { Expect::Ok } else { Expect::NotInNoGcScope };
                if self.expect("exit_no_gc_scope", &result, expected) {
                    self.no_gc_depth -= 1;
                }
            }
            Op::Collect { cycles } => {
                if self.no_gc_depth > 0 {
                    let result = self.heap.collect_all(self.roots());
                    self.expect("collect_all in a no-GC scope", &result, Expect::InNoGcScope);
                } else {
                    self.collect_whole(cycles);
                }
            }
            Op::CollectSteps { steps, finish } => self.collect_steps(steps, finish),
            Op::Coalesce => {
                let result = self.heap.coalesce();
                self.expect("coalesce", &result, Expect::Ok);
            }
            Op::Verify => self.check_reachable(),
            Op::Reset => self.reset(),
            Op::Corrupt { offset, value, len } => self.corrupt(offset, value, len),
            Op::ForgeInteriorHeader { target, how } => self.forge_interior_header(target, how),
            Op::CorruptSizeThenFree { target, size } => self.corrupt_size_then_free(target, size),
            Op::CorruptThenReset { offset, value, len } => {
                self.corrupt(offset, value, len);
                if self.corruption_run && self.no_gc_depth == 0 {
                    self.reset();
                }
            }
        }
        self.check_drops();
    }

    pub(super) fn new_struct(&mut self, ty: u16, init: u32) {
        let structs: Vec<u32> =
            (0..self.schema.len() as u32).filter(|&t| matches!(self.schema[t as usize], Decl::Struct(_))).collect();
        let t = structs[ty as usize % structs.len()];
        let Decl::Struct(decl) = self.schema[t as usize].clone() else { unreachable!() };
        let default = init % 2 == 0;
        let values: Vec<MVal> = if default {
            decl.fields.iter().map(|&s| MVal::default_for(s)).collect()
        } else {
            decl.fields
                .iter()
                .enumerate()
                .map(|(i, &s)| self.make_value(s, (mix(init as u64 + i as u64) as u32) | 1 << 3))
                .collect()
        };
        let expected = if default {
            // Wasm's `struct.new_default` has no null for a non-nullable reference field.
            if decl.fields.iter().all(|s| s.is_defaultable()) {
                Expect::Ok
            } else {
                Expect::NotDefaultable
            }
        } else {
            values
                .iter()
                .zip(&decl.fields)
                .map(|(&v, &s)| self.value_fits(v, s))
                .find(|&e| e != Expect::Ok)
                .unwrap_or(Expect::Ok)
        };
        let mut handles = Vec::new();
        let slots: Vec<ValueRefSlot> = values.iter().map(|&v| self.value_ref(v, &mut handles)).collect();
        let Some(result) = self.allocate(|heap| {
            if default {
                heap.struct_new_default(TypeIndex(t))
            } else {
                let fields: Vec<ValueRef<'_>> = slots.iter().map(|s| s.get(&handles)).collect();
                heap.struct_new(TypeIndex(t), &fields)
            }
        }) else {
            return;
        };
        if self.expect("struct_new", &result, expected) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Struct(t), fields: values });
            self.keep_local(Some(gc), m);
        }
    }

    pub(super) fn array_types(&self) -> Vec<u32> {
        (0..self.schema.len() as u32).filter(|&t| matches!(self.schema[t as usize], Decl::Array(_))).collect()
    }

    pub(super) fn element(&self, t: u32) -> StorageType {
        match &self.schema[t as usize] {
            Decl::Array(ty) => ty.element,
            Decl::Struct(_) => unreachable!("not an array type"),
        }
    }

    pub(super) fn new_array(&mut self, ty: u16, len: u16, init: u32, fixed: bool) {
        let arrays = self.array_types();
        let t = arrays[ty as usize % arrays.len()];
        let element = self.element(t);
        // Mostly short; sometimes longer than a release chunk (1024 elements).
        let len = if len & 0x8000 != 0 && !fixed { 1020 + (len as u32 & 31) } else { len as u32 % 24 };
        let values: Vec<MVal> = if fixed {
            (0..len).map(|i| self.make_value(element, mix(init as u64 ^ (i as u64) << 32) as u32 | 1 << 3)).collect()
        } else {
            vec![self.make_value(element, init); len as usize]
        };
        let expected = if fixed {
            values.iter().map(|&v| self.value_fits(v, element)).find(|&e| e != Expect::Ok).unwrap_or(Expect::Ok)
        } else {
            self.value_fits(self.make_value(element, init), element)
        };
        let init_value = self.make_value(element, init);
        let mut handles = Vec::new();
        let slots: Vec<ValueRefSlot> = values.iter().map(|&v| self.value_ref(v, &mut handles)).collect();
        let init_slot = self.value_ref(init_value, &mut handles);
        let Some(result) = self.allocate(|heap| {
            if fixed {
                let elements: Vec<ValueRef<'_>> = slots.iter().map(|s| s.get(&handles)).collect();
                heap.array_new_fixed(TypeIndex(t), &elements)
            } else {
                heap.array_new(TypeIndex(t), len, init_slot.get(&handles))
            }
        }) else {
            return;
        };
        if self.expect("array_new", &result, expected) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Array(t), fields: values });
            self.keep_local(Some(gc), m);
        }
    }

    pub(super) fn new_extern(&mut self, payload: u32) {
        // The id counts as created once the allocation is over: a collection that the
        // allocation causes (to retry) must not look for this value yet.
        let id = self.next_host_id;
        let mut data = Some(Tracked { id, log: self.log.clone() });
        let outcome = self.allocate(|heap| match heap.alloc_externref(data.take().expect("data")) {
            Ok(gc) => Ok(gc),
            Err((error, back)) => {
                data = Some(back);
                Err(error)
            }
        });
        // When allocation failed for good, the data comes back and is dropped here: count it
        // as the one drop of that id.
        drop(data);
        self.next_host_id = id + 1;
        let Some(result) = outcome else { return };
        if self.expect("alloc_externref", &result, Expect::Ok) {
            let gc = result.expect("checked");
            let m = self.add_object(&gc, MObj { kind: MKind::Extern(id), fields: Vec::new() });
            let _ = payload;
            self.keep_local(Some(gc), m);
        }
    }

    /// The struct a selector names: its word, model ref, and the expected error if it is not a
    /// struct (`None` when the program holds no reference at all).
    pub(super) fn target(&self, sel: u16, want: fn(&Harness, MRef) -> bool) -> Option<(u32, MRef, Expect)> {
        let (word, m) = self.pick(sel, want)?;
        Some((word, m, if want(self, m) { Expect::Ok } else { Expect::WrongObjectKind }))
    }

    pub(super) fn struct_fields(&self, m: MRef) -> Vec<StorageType> {
        match self.kind(m) {
            Some(MKind::Struct(t)) => match &self.schema[t as usize] {
                Decl::Struct(ty) => ty.fields.clone(),
                Decl::Array(_) => unreachable!(),
            },
            _ => Vec::new(),
        }
    }

    pub(super) fn struct_set(&mut self, target: u16, field: u16, seed: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_struct) else { return };
        let fields = self.struct_fields(m);
        // Sometimes one past the last field.
        let field = field as usize % (fields.len() + 1);
        if expected == Expect::Ok && field >= fields.len() {
            expected = Expect::FieldOutOfBounds;
        }
        let storage = fields.get(field).copied().unwrap_or(StorageType::I32);
        let value = self.make_value(storage, seed);
        if expected == Expect::Ok {
            expected = self.value_fits(value, storage);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result = self.heap.struct_set(&handle(word).expect("non-null"), field as u32, slot.get(&handles));
        if self.expect("struct_set", &result, expected) {
            self.set_field(m, field, value);
        }
    }

    pub(super) fn set_field(&mut self, m: MRef, index: usize, value: MVal) {
        if let MRef::Obj(id) = m {
            if let Some(object) = self.objects.get_mut(&id) {
                object.fields[index] = value;
            }
        }
    }

    pub(super) fn field(&self, m: MRef, index: usize) -> MVal {
        match m {
            MRef::Obj(id) => self.objects.get(&id).map_or(MVal::I32(0), |o| o.fields[index]),
            _ => MVal::I32(0),
        }
    }

    /// Takes a value the heap returned: compares it, then delivers a reference to `dest`.
    pub(super) fn take_value(&mut self, what: &str, value: Value, expected: MVal, dest: Dest) {
        if !self.same(&value, expected) {
            self.fail(format!(
                "{what}: read {value:?}, the model has {expected:?} (word {:#x})",
                match expected {
                    MVal::Ref(m) => self.word_of(m),
                    _ => 0,
                }
            ));
        }
        if let Value::Ref(gc) = value {
            let m = match expected {
                MVal::Ref(m) => m,
                _ => MRef::Null,
            };
            self.deliver(gc, m, dest);
        }
    }

    pub(super) fn struct_get(&mut self, target: u16, field: u16, dest: Dest) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_struct) else { return };
        let fields = self.struct_fields(m);
        let field = field as usize % (fields.len() + 1);
        if expected == Expect::Ok && field >= fields.len() {
            expected = Expect::FieldOutOfBounds;
        }
        let result = self.heap.struct_get(&handle(word).expect("non-null"), field as u32);
        if self.expect("struct_get", &result, expected) {
            let value = self.field(m, field);
            self.take_value("struct_get", result.expect("checked"), value, dest);
        }
    }

    pub(super) fn array_info(&self, m: MRef) -> (StorageType, usize) {
        match self.kind(m) {
            Some(MKind::Array(t)) => (self.element(t), self.objects[&self.id(m)].fields.len()),
            _ => (StorageType::I32, 0),
        }
    }

    pub(super) fn id(&self, m: MRef) -> u64 {
        match m {
            MRef::Obj(id) => id,
            _ => 0,
        }
    }

    pub(super) fn array_set(&mut self, target: u16, index: u16, seed: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (element, len) = self.array_info(m);
        let index = index as usize % (len + 2);
        if expected == Expect::Ok && index >= len {
            expected = Expect::IndexOutOfBounds;
        }
        let value = self.make_value(element, seed);
        if expected == Expect::Ok {
            expected = self.value_fits(value, element);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result = self.heap.array_set(&handle(word).expect("non-null"), index as u32, slot.get(&handles));
        if self.expect("array_set", &result, expected) {
            self.set_field(m, index, value);
        }
    }

    pub(super) fn array_get(&mut self, target: u16, index: u16, dest: Dest) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (_, len) = self.array_info(m);
        let index = index as usize % (len + 2);
        if expected == Expect::Ok && index >= len {
            expected = Expect::IndexOutOfBounds;
        }
        let result = self.heap.array_get(&handle(word).expect("non-null"), index as u32);
        if self.expect("array_get", &result, expected) {
            let value = self.field(m, index);
            self.take_value("array_get", result.expect("checked"), value, dest);
        }
    }

    pub(super) fn array_fill(&mut self, target: u16, start: u16, count_value: u32) {
        let Some((word, m, mut expected)) = self.target(target, Harness::is_array) else { return };
        let (element, len) = self.array_info(m);
        let start = start as usize % (len + 2);
        let count = (count_value & 0xffff) as usize % (len + 2);
        if expected == Expect::Ok && start + count > len {
            expected = Expect::IndexOutOfBounds;
        }
        let value = self.make_value(element, count_value >> 16 | (count_value & 0x7) << 16);
        if expected == Expect::Ok {
            expected = self.value_fits(value, element);
        }
        let mut handles = Vec::new();
        let slot = self.value_ref(value, &mut handles);
        let result =
            self.heap.array_fill(&handle(word).expect("non-null"), start as u32, slot.get(&handles), count as u32);
        if self.expect("array_fill", &result, expected) {
            for i in start..start + count {
                self.set_field(m, i, value);
            }
        }
    }

    pub(super) fn array_copy(&mut self, destination: u16, source: u16, starts_count: u32) {
        let Some((dst_word, dst, dst_expected)) = self.target(destination, Harness::is_array) else { return };
        // Sometimes the same array.
        let (src_word, src, src_expected) = if source % 4 == 0 {
            (dst_word, dst, dst_expected)
        } else {
            match self.target(source, Harness::is_array) {
                Some(t) => t,
                None => return,
            }
        };
        let (dst_element, dst_len) = self.array_info(dst);
        let (src_element, src_len) = self.array_info(src);
        let dst_start = (starts_count & 0x3ff) as usize % (dst_len + 2);
        let src_start = ((starts_count >> 10) & 0x3ff) as usize % (src_len + 2);
        let count = (starts_count >> 20) as usize % (dst_len.max(src_len) + 2);
        let mut expected = if dst_expected != Expect::Ok { dst_expected } else { src_expected };
        if expected == Expect::Ok && (dst_start + count > dst_len || src_start + count > src_len) {
            expected = Expect::IndexOutOfBounds;
        }
        if expected == Expect::Ok
            && (dst_element.is_ref() != src_element.is_ref() || (!dst_element.is_ref() && dst_element != src_element))
        {
            // Wasm's rule: scalars of the same storage type only.
            expected = Expect::TypeMismatch;
        }
        // References of another type are checked one by one, in order: the copy stops at the
        // first that does not fit (the elements before it are copied).
        let source_values: Vec<MVal> = (0..count)
            .map(|i| if expected == Expect::Ok { self.field(src, src_start + i) } else { MVal::I32(0) })
            .collect();
        let mut copied = count;
        if expected == Expect::Ok && dst_element != src_element {
            if let StorageType::Ref(ref_type) = dst_element {
                if let Some(first_bad) = source_values.iter().position(|&v| match v {
                    MVal::Ref(r) => self.ref_fits(r, ref_type) != Expect::Ok,
                    _ => true,
                }) {
                    copied = first_bad;
                    expected = self.value_fits(source_values[first_bad], dst_element);
                }
            }
        }
        let (dst_handle, src_handle) = (handle(dst_word).expect("non-null"), handle(src_word).expect("non-null"));
        let result = self.heap.array_copy(&dst_handle, dst_start as u32, &src_handle, src_start as u32, count as u32);
        let ok = self.expect("array_copy", &result, expected);
        let partial = !ok && expected != Expect::Ok && copied < count;
        if ok || partial {
            for (i, &v) in source_values.iter().enumerate().take(copied) {
                let v = if v.fits(dst_element) { v } else { MVal::from_bits(v.bits(), dst_element) };
                self.set_field(dst, dst_start + i, v);
            }
        }
    }

    pub(super) fn array_len(&mut self, target: u16) {
        let Some((word, m, expected)) = self.target(target, Harness::is_array) else { return };
        let result = self.heap.array_len(&handle(word).expect("non-null"));
        if self.expect("array_len", &result, expected) {
            let len = self.array_info(m).1;
            if result != Ok(len as u32) {
                self.fail(format!("array_len: {result:?}, the model has {len}"));
            }
        }
    }

    pub(super) fn extern_data(&mut self, target: u16) {
        let Some((word, m, expected)) = self.target(target, Harness::is_extern) else { return };
        let result = self.heap.externref_data(&handle(word).expect("non-null")).map(|data| data.id);
        if self.expect("externref_data", &result, expected) {
            if let Some(MKind::Extern(id)) = self.kind(m) {
                if result != Ok(id) {
                    self.fail(format!("externref_data: host data {result:?}, the model has {id}"));
                }
            }
        }
    }

    pub(super) fn ref_test(&mut self, target: u16, ty: u16) {
        let types = test_types();
        let ref_type = types[ty as usize % types.len()];
        let result = self.heap.matches(None, ref_type);
        if result != Ok(ref_type.nullable) {
            self.fail(format!("ref.test null {ref_type:?}: {result:?}"));
        }
        let Some((word, m)) = self.pick(target | RAW, |_, _| true) else { return };
        let result = self.heap.matches(Some(&handle(word).expect("non-null")), ref_type);
        let expected = self.ref_fits(m, ref_type) == Expect::Ok;
        if result != Ok(expected) {
            self.fail(format!("ref.test {m:?} {ref_type:?}: {result:?}, the model says {expected}"));
        }
    }

    pub(super) fn push_frame(&mut self, picks: u32, count: u16) {
        if self.frames.len() >= MAX_FRAMES {
            return;
        }
        self.frames.push(Vec::new());
        for i in 0..(count % (MAX_FRAME_PICKS + 1)) as u32 {
            let sel = (picks >> (8 * i)) as u16 & 0xff;
            let Some((word, m)) = self.pick(sel, |_, _| true) else { break };
            let result = self.heap.clone_ref(&handle(word).expect("non-null"));
            if self.expect("clone_ref", &result, Expect::Ok) {
                self.give_to_wasm(result.ok(), m);
            }
        }
    }

    pub(super) fn expose_many(&mut self, target: u16, times: u16) {
        let Some((word, m)) = self.pick(target, |_, _| true) else { return };
        let times = if times & 0x8000 != 0 { 1000 + (times as u32 & 0x7f) } else { times as u32 % 8 + 1 };
        for i in 0..times {
            let result = self.heap.clone_ref(&handle(word).expect("non-null"));
            if !self.expect("clone_ref", &result, Expect::Ok) {
                return;
            }
            let gc = result.expect("checked");
            if i + 1 == times {
                self.give_to_wasm(Some(gc), m);
            } else {
                let result = self.heap.expose_gc_ref_to_wasm(gc);
                self.expect("expose_gc_ref_to_wasm", &result, Expect::Ok);
            }
        }
    }

    /// Stores the reference `source` names (or null, for one value of the selector) in a host
    /// slot through the barrier.
    pub(super) fn set_host_slot(&mut self, source: u16, slot: impl Fn(&mut Harness) -> &mut Slot) {
        let picked = if source % 7 == 6 { None } else { self.pick(source, |_, _| true) };
        let (word, m) = picked.unwrap_or((0, MRef::Null));
        let source_handle = handle(word);
        let mut destination = slot(self).gc.take();
        let result = self.heap.write_gc_ref(&mut destination, source_handle.as_ref());
        if self.expect("write_gc_ref", &result, Expect::Ok) {
            let slot = slot(self);
            slot.gc = destination;
            slot.m = m;
        } else {
            slot(self).gc = destination;
        }
    }

    pub(super) fn clear_host_slot(&mut self, slot: impl Fn(&mut Harness) -> &mut Slot) {
        let mut destination = slot(self).gc.take();
        let result = self.heap.write_gc_ref(&mut destination, None);
        self.expect("write_gc_ref(null)", &result, Expect::Ok);
        let slot = slot(self);
        slot.gc = destination;
        slot.m = if slot.gc.is_some() { slot.m } else { MRef::Null };
    }

    pub(super) fn reset(&mut self) {
        self.heap.reset();
        self.objects.clear();
        self.words.clear();
        self.locals.clear();
        for slot in self.globals.iter_mut().chain(self.tables.iter_mut().flatten()) {
            *slot = Slot::null();
        }
        self.frames.clear();
        self.no_gc_depth = 0;
        // Every host data value was dropped exactly once by now, corrupted heap or not: the
        // host data table is the single owner of every value.
        let log = self.log.borrow();
        for id in 1..self.next_host_id {
            let drops = log.drops.get(&id).copied().unwrap_or(0);
            assert_eq!(drops, 1, "after a reset, host data {id} was dropped {drops} times");
        }
        drop(log);
        // A reset heap must work whatever the region held: comparisons are back on.
        self.corrupted = false;
        let stats = self.heap.stats().expect("stats after reset");
        assert_eq!(stats.live_objects, 0, "objects after a reset");
        self.check_empty_heap_is_one_block();
    }
}
