;; Doubly linked rings, the cyclic workload (the rings that reference-counting crates with cycle
;; collection benchmark on), as a Wasm GC module.
;;
;; `rings(ring_count, ring_length, live_rings)` builds `ring_count` rings one after the other;
;; a ring is `ring_length` nodes {prev, next, value}, node k holding value k, each node's `next`
;; the following node and its `prev` the one before, the last node linked back to the first.
;; After building a ring the program walks it once forward, adding the values and checking at
;; every step that `next.prev` is the node it came from (a broken link traps with `unreachable`),
;; and that the walk ends at the head. The ring then becomes garbage: at once when `live_rings`
;; is 0, else when its slot in a window of the `live_rings` most recent rings (an array of ring
;; heads, slot i mod live_rings) is overwritten. Every ring is a cycle, so a reference-counting
;; heap frees it only by cycle collection.
;;
;; Exports:
;;   rings(ring_count: i32, ring_length: i32, live_rings: i32) -> i64
;;       the sum of the values walked: ring_count * ring_length * (ring_length - 1) / 2
;;       (ring_length below 1 counts as 1). rings(1000, 1000, 0) = 499,500,000.
;;   main() -> i64   rings(1000, 100, 0) = 4,950,000.
;; No imports.
(module
  (type $node (struct
    (field $prev (mut (ref null $node)))
    (field $next (mut (ref null $node)))
    (field $value i32)))
  (type $ring_heads (array (mut (ref null $node))))

  ;; A ring of `length` nodes; returns its head (value 0).
  (func $build_ring (param $length i32) (result (ref $node))
    (local $head (ref null $node))
    (local $last (ref null $node))
    (local $node (ref null $node))
    (local $value i32)
    (local.set $head (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0)))
    (local.set $last (local.get $head))
    (local.set $value (i32.const 1))
    (block $built
      (loop $append
        (br_if $built (i32.ge_s (local.get $value) (local.get $length)))
        (local.set $node (struct.new $node (local.get $last) (ref.null $node) (local.get $value)))
        (struct.set $node $next (local.get $last) (local.get $node))
        (local.set $last (local.get $node))
        (local.set $value (i32.add (local.get $value) (i32.const 1)))
        (br $append)))
    (struct.set $node $next (local.get $last) (local.get $head))
    (struct.set $node $prev (local.get $head) (local.get $last))
    (ref.as_non_null (local.get $head)))

  ;; Walks `length` steps forward from `head`, checking the back links; returns the sum of values.
  (func $walk_ring (param $head (ref $node)) (param $length i32) (result i64)
    (local $node (ref null $node))
    (local $next (ref null $node))
    (local $step i32)
    (local $sum i64)
    (local.set $node (local.get $head))
    (block $walked
      (loop $step_forward
        (br_if $walked (i32.ge_s (local.get $step) (local.get $length)))
        (local.set $sum
          (i64.add (local.get $sum)
            (i64.extend_i32_s (struct.get $node $value (local.get $node)))))
        (local.set $next (struct.get $node $next (local.get $node)))
        (if (i32.eqz (ref.eq (struct.get $node $prev (local.get $next)) (local.get $node)))
          (then (unreachable)))
        (local.set $node (local.get $next))
        (local.set $step (i32.add (local.get $step) (i32.const 1)))
        (br $step_forward)))
    (if (i32.eqz (ref.eq (local.get $node) (local.get $head)))
      (then (unreachable)))
    (local.get $sum))

  (func $rings (export "rings")
    (param $ring_count i32) (param $ring_length i32) (param $live_rings i32) (result i64)
    (local $window (ref null $ring_heads))
    (local $head (ref null $node))
    (local $ring i32)
    (local $sum i64)
    (if (i32.lt_s (local.get $ring_length) (i32.const 1))
      (then (local.set $ring_length (i32.const 1))))
    (if (i32.gt_s (local.get $live_rings) (i32.const 0))
      (then (local.set $window (array.new_default $ring_heads (local.get $live_rings)))))
    (block $done
      (loop $next_ring
        (br_if $done (i32.ge_s (local.get $ring) (local.get $ring_count)))
        (local.set $head (call $build_ring (local.get $ring_length)))
        (local.set $sum
          (i64.add (local.get $sum)
            (call $walk_ring (ref.as_non_null (local.get $head)) (local.get $ring_length))))
        (if (i32.gt_s (local.get $live_rings) (i32.const 0))
          (then
            (array.set $ring_heads (local.get $window)
              (i32.rem_u (local.get $ring) (local.get $live_rings))
              (local.get $head))))
        (local.set $head (ref.null $node))
        (local.set $ring (i32.add (local.get $ring) (i32.const 1)))
        (br $next_ring)))
    (local.get $sum))

  (func (export "main") (result i64)
    (call $rings (i32.const 1000) (i32.const 100) (i32.const 0))))
