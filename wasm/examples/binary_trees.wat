;; binary-trees, the Benchmarks Game program, as a Wasm GC module.
;;
;; Definition (public, the Benchmarks Game): minimum depth 4, maximum depth N (at least 6).
;; A "stretch" tree of depth N+1 is built, checked and dropped; a long-lived tree of depth N is
;; built and kept; then for d = 4, 6, ..., N, 2^(N-d+4) trees of depth d are built bottom-up,
;; each checked (its node count) and dropped; the long-lived tree is checked last. A tree of
;; depth d has 2^(d+1)-1 nodes, every node a struct {left, right} whose leaves hold two nulls.
;;
;; Exports:
;;   binary_trees(max_depth: i32) -> i64   runs the program, prints the check values through
;;                                          `env.print_i64` (stretch, one per depth, long-lived:
;;                                          six lines for max_depth 10) and returns their sum,
;;                                          the total number of nodes checked.
;;   main() -> i64                          binary_trees(10).
;; Imports: `env.print_i64 (param i64)` only (a host that does not print may define it as a no-op).
;;
;; Known answers, max_depth 10: stretch tree of depth 11: 4095; 1024 trees of depth 4: 31744;
;; 256 of depth 6: 32512; 64 of depth 8: 32704; 16 of depth 10: 32752; long-lived tree of depth
;; 10: 2047; total 135854. max_depth 16: total 14985902.
(module
  (type $node (struct (field $left (ref null $node)) (field $right (ref null $node))))

  (import "env" "print_i64" (func $print_i64 (param i64)))

  ;; A complete tree of `depth` levels below its root, built bottom-up.
  (func $bottom_up_tree (param $depth i32) (result (ref $node))
    (if (result (ref $node)) (i32.gt_s (local.get $depth) (i32.const 0))
      (then
        (struct.new $node
          (call $bottom_up_tree (i32.sub (local.get $depth) (i32.const 1)))
          (call $bottom_up_tree (i32.sub (local.get $depth) (i32.const 1)))))
      (else
        (struct.new $node (ref.null $node) (ref.null $node)))))

  ;; The number of nodes in `tree`: a node with a null left child is a leaf.
  (func $item_check (param $tree (ref $node)) (result i32)
    (local $left (ref null $node))
    (local.set $left (struct.get $node $left (local.get $tree)))
    (if (result i32) (ref.is_null (local.get $left))
      (then (i32.const 1))
      (else
        (i32.add
          (i32.const 1)
          (i32.add
            (call $item_check (ref.as_non_null (local.get $left)))
            (call $item_check
              (ref.as_non_null (struct.get $node $right (local.get $tree)))))))))

  (func $binary_trees (export "binary_trees") (param $requested_depth i32) (result i64)
    (local $max_depth i32)
    (local $long_lived_tree (ref null $node))
    (local $depth i32)
    (local $iterations i32)
    (local $iteration i32)
    (local $check i32)
    (local $total i64)
    ;; max_depth = max(min_depth + 2, requested_depth), min_depth = 4
    (local.set $max_depth
      (select (local.get $requested_depth) (i32.const 6)
        (i32.gt_s (local.get $requested_depth) (i32.const 6))))

    ;; stretch tree of depth max_depth + 1
    (local.set $check
      (call $item_check
        (call $bottom_up_tree (i32.add (local.get $max_depth) (i32.const 1)))))
    (call $print_i64 (i64.extend_i32_u (local.get $check)))
    (local.set $total (i64.extend_i32_u (local.get $check)))

    (local.set $long_lived_tree (call $bottom_up_tree (local.get $max_depth)))

    (local.set $depth (i32.const 4))
    (block $depths_done
      (loop $depths
        (br_if $depths_done (i32.gt_s (local.get $depth) (local.get $max_depth)))
        ;; iterations = 2^(max_depth - depth + min_depth)
        (local.set $iterations
          (i32.shl (i32.const 1)
            (i32.add (i32.sub (local.get $max_depth) (local.get $depth)) (i32.const 4))))
        (local.set $check (i32.const 0))
        (local.set $iteration (i32.const 0))
        (loop $trees
          (local.set $check
            (i32.add (local.get $check)
              (call $item_check (call $bottom_up_tree (local.get $depth)))))
          (local.set $iteration (i32.add (local.get $iteration) (i32.const 1)))
          (br_if $trees (i32.lt_s (local.get $iteration) (local.get $iterations))))
        (call $print_i64 (i64.extend_i32_u (local.get $check)))
        (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $check))))
        (local.set $depth (i32.add (local.get $depth) (i32.const 2)))
        (br $depths)))

    (local.set $check (call $item_check (ref.as_non_null (local.get $long_lived_tree))))
    (call $print_i64 (i64.extend_i32_u (local.get $check)))
    (i64.add (local.get $total) (i64.extend_i32_u (local.get $check))))

  (func (export "main") (result i64)
    (call $binary_trees (i32.const 10))))
