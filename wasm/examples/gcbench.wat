;; GCBench (John Ellis, Pete Kovac and Hans Boehm), as a Wasm GC module.
;;
;; Definition (public, Boehm's GCBench): a node is {left, right, i, j}. TreeSize(d) = 2^(d+1)-1
;; nodes; NumIters(d) = 2 * TreeSize(stretch) / TreeSize(d). The program builds and drops a
;; stretch tree of depth `stretch` (bottom-up), builds a long-lived tree of depth `long_lived`
;; top-down (Populate) and an array of `array_length` doubles whose first half holds 1/i; then for
;; d = 4, 6, ..., max_depth it builds NumIters(d) trees of depth d top-down and drops each, then
;; NumIters(d) trees bottom-up (MakeTree) and drops each; finally it checks that the long-lived
;; tree and the array are intact. Standard parameters: stretch 18, long-lived 16, array 500000,
;; depths 4 to 16.
;;
;; Scaling: `gcbench(stretch)` uses long_lived = max_depth = stretch - 2 and
;; array_length = 500000 * 2^(stretch - 18) (shifted; stretch below 6 counts as 6), so
;; gcbench(18) is the standard program and each step down halves the work.
;;
;; Exports:
;;   gcbench(stretch: i32) -> i64   the number of nodes allocated (every struct.new counted);
;;                                  traps (`unreachable`) if the long-lived tree does not have
;;                                  TreeSize(long_lived) nodes at the end or array[k] != 1/k.
;;   main() -> i64                  gcbench(14).
;; No imports.
;;
;; Known answer: nodes allocated = TreeSize(stretch) + TreeSize(long_lived)
;;   + sum over d = 4, 6, ..., max_depth of 2 * NumIters(d) * TreeSize(d);
;;   gcbench(18) = 15,333,862 (NumIters by integer division), gcbench(14) = 695,970,
;;   gcbench(12) = 140,942.
(module
  (type $node (struct
    (field $left (mut (ref null $node)))
    (field $right (mut (ref null $node)))
    (field $i (mut i32))
    (field $j (mut i32))))
  (type $doubles (array (mut f64)))

  (global $nodes_allocated (mut i64) (i64.const 0))

  (func $tree_size (param $depth i32) (result i32)
    (i32.sub (i32.shl (i32.const 1) (i32.add (local.get $depth) (i32.const 1))) (i32.const 1)))

  ;; Top-down: gives `node` two fresh children and recurses into them, `depth` levels down.
  (func $populate (param $depth i32) (param $node (ref $node))
    (local $left (ref null $node))
    (local $right (ref null $node))
    (if (i32.le_s (local.get $depth) (i32.const 0)) (then (return)))
    (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
    (local.set $left
      (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0) (i32.const 0)))
    (global.set $nodes_allocated (i64.add (global.get $nodes_allocated) (i64.const 1)))
    (local.set $right
      (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0) (i32.const 0)))
    (global.set $nodes_allocated (i64.add (global.get $nodes_allocated) (i64.const 1)))
    (struct.set $node $left (local.get $node) (local.get $left))
    (struct.set $node $right (local.get $node) (local.get $right))
    (call $populate (local.get $depth) (ref.as_non_null (local.get $left)))
    (call $populate (local.get $depth) (ref.as_non_null (local.get $right))))

  ;; Bottom-up: a tree of `depth` levels below its root.
  (func $make_tree (param $depth i32) (result (ref $node))
    (global.set $nodes_allocated (i64.add (global.get $nodes_allocated) (i64.const 1)))
    (if (result (ref $node)) (i32.le_s (local.get $depth) (i32.const 0))
      (then
        (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0) (i32.const 0)))
      (else
        (struct.new $node
          (call $make_tree (i32.sub (local.get $depth) (i32.const 1)))
          (call $make_tree (i32.sub (local.get $depth) (i32.const 1)))
          (i32.const 0) (i32.const 0)))))

  ;; The number of nodes reachable from `node`.
  (func $count_nodes (param $node (ref null $node)) (result i32)
    (if (result i32) (ref.is_null (local.get $node))
      (then (i32.const 0))
      (else
        (i32.add (i32.const 1)
          (i32.add
            (call $count_nodes (struct.get $node $left (local.get $node)))
            (call $count_nodes (struct.get $node $right (local.get $node))))))))

  (func $time_construction (param $depth i32) (param $stretch_depth i32)
    (local $iterations i32)
    (local $iteration i32)
    (local $temp_tree (ref null $node))
    (local.set $iterations
      (i32.div_s
        (i32.shl (call $tree_size (local.get $stretch_depth)) (i32.const 1))
        (call $tree_size (local.get $depth))))
    ;; top-down construction
    (local.set $iteration (i32.const 0))
    (block $top_down_done
      (loop $top_down
        (br_if $top_down_done (i32.ge_s (local.get $iteration) (local.get $iterations)))
        (local.set $temp_tree
          (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0) (i32.const 0)))
        (global.set $nodes_allocated (i64.add (global.get $nodes_allocated) (i64.const 1)))
        (call $populate (local.get $depth) (ref.as_non_null (local.get $temp_tree)))
        (local.set $temp_tree (ref.null $node))
        (local.set $iteration (i32.add (local.get $iteration) (i32.const 1)))
        (br $top_down)))
    ;; bottom-up construction
    (local.set $iteration (i32.const 0))
    (block $bottom_up_done
      (loop $bottom_up
        (br_if $bottom_up_done (i32.ge_s (local.get $iteration) (local.get $iterations)))
        (local.set $temp_tree (call $make_tree (local.get $depth)))
        (local.set $temp_tree (ref.null $node))
        (local.set $iteration (i32.add (local.get $iteration) (i32.const 1)))
        (br $bottom_up))))

  (func $gcbench (export "gcbench") (param $stretch_depth i32) (result i64)
    (local $long_lived_depth i32)
    (local $array_length i32)
    (local $temp_tree (ref null $node))
    (local $long_lived_tree (ref null $node))
    (local $array (ref null $doubles))
    (local $index i32)
    (local $depth i32)
    (global.set $nodes_allocated (i64.const 0))
    (if (i32.lt_s (local.get $stretch_depth) (i32.const 6))
      (then (local.set $stretch_depth (i32.const 6))))
    (local.set $long_lived_depth (i32.sub (local.get $stretch_depth) (i32.const 2)))
    (local.set $array_length
      (if (result i32) (i32.ge_s (local.get $stretch_depth) (i32.const 18))
        (then
          (i32.shl (i32.const 500000) (i32.sub (local.get $stretch_depth) (i32.const 18))))
        (else
          (i32.shr_u (i32.const 500000) (i32.sub (i32.const 18) (local.get $stretch_depth))))))

    ;; stretch the memory space quickly
    (local.set $temp_tree (call $make_tree (local.get $stretch_depth)))
    (local.set $temp_tree (ref.null $node))

    ;; a long-lived tree, built top-down
    (local.set $long_lived_tree
      (struct.new $node (ref.null $node) (ref.null $node) (i32.const 0) (i32.const 0)))
    (global.set $nodes_allocated (i64.add (global.get $nodes_allocated) (i64.const 1)))
    (call $populate (local.get $long_lived_depth) (ref.as_non_null (local.get $long_lived_tree)))

    ;; a long-lived array of doubles, its first half filled with 1/i
    (local.set $array (array.new_default $doubles (local.get $array_length)))
    (local.set $index (i32.const 0))
    (block $filled
      (loop $fill
        (br_if $filled
          (i32.ge_s (local.get $index) (i32.shr_u (local.get $array_length) (i32.const 1))))
        (array.set $doubles (local.get $array) (local.get $index)
          (f64.div (f64.const 1) (f64.convert_i32_s (local.get $index))))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br $fill)))

    (local.set $depth (i32.const 4))
    (block $depths_done
      (loop $depths
        (br_if $depths_done (i32.gt_s (local.get $depth) (local.get $long_lived_depth)))
        (call $time_construction (local.get $depth) (local.get $stretch_depth))
        (local.set $depth (i32.add (local.get $depth) (i32.const 2)))
        (br $depths)))

    ;; the long-lived structures must have survived
    (if (i32.ne
          (call $count_nodes (local.get $long_lived_tree))
          (call $tree_size (local.get $long_lived_depth)))
      (then (unreachable)))
    ;; array[k] = 1/k for k = min(1000, array_length / 2 - 1)
    (local.set $index
      (select (i32.const 1000)
        (i32.sub (i32.shr_u (local.get $array_length) (i32.const 1)) (i32.const 1))
        (i32.lt_s (i32.const 1000)
          (i32.sub (i32.shr_u (local.get $array_length) (i32.const 1)) (i32.const 1)))))
    (if (f64.ne
          (array.get $doubles (local.get $array) (local.get $index))
          (f64.div (f64.const 1) (f64.convert_i32_s (local.get $index))))
      (then (unreachable)))
    (global.get $nodes_allocated))

  (func (export "main") (result i64)
    (call $gcbench (i32.const 14))))
