;; Arrays of growing length, i32 and reference arrays, as a Wasm GC module.
;;
;; `arrays(rounds)` runs `rounds` rounds; round r (from 0) with n = (r mod 1024) + 1:
;; * fills an i32 vector with n values (element k = 7k + r), starting from an array of length 1
;;   and, whenever it is full, allocating one of twice the length and `array.copy`ing into it
;;   (the old one becomes garbage), so its final length is the power of two >= n;
;; * fills a reference vector the same way with m = n / 4 + 1 elements: element k is the i32
;;   vector when k is odd, else a fresh 2-element array [k, r] (`array.new_fixed`);
;; * adds to the checksum every one of the n values, and for every reference element its length
;;   plus its element 0;
;; * keeps both vectors alive until the next round replaces them.
;; Lengths grow from 1 to 1024 and start again, so the heap sees objects from 16 bytes to 4 KiB
;; of payload, reference arrays whose elements must be released when they die, and a steady
;; churn of small and large objects.
;;
;; Exports:
;;   arrays(rounds: i32) -> i64   the checksum: sum over rounds of
;;       sum_{k<n} (7k + r) + sum_{k<m} (k odd ? capacity(n) + r : 2 + k),
;;       capacity(n) the least power of two >= n. arrays(1024) = 1,718,733,620,
;;       arrays(10000) = 41,201,697,200, arrays(100000) = 3,007,659,829,104.
;;   main() -> i64   arrays(1024).
;; No imports.
(module
  (type $ints (array (mut i32)))
  (type $refs (array (mut (ref null $ints))))

  (func $arrays (export "arrays") (param $rounds i32) (result i64)
    (local $round i32)
    (local $length i32)
    (local $reference_length i32)
    (local $ints (ref null $ints))
    (local $refs (ref null $refs))
    (local $bigger_ints (ref null $ints))
    (local $bigger_refs (ref null $refs))
    (local $previous_ints (ref null $ints))
    (local $previous_refs (ref null $refs))
    (local $element (ref null $ints))
    (local $count i32)
    (local $index i32)
    (local $checksum i64)
    (block $done
      (loop $next_round
        (br_if $done (i32.ge_s (local.get $round) (local.get $rounds)))
        (local.set $length
          (i32.add (i32.and (local.get $round) (i32.const 1023)) (i32.const 1)))
        (local.set $reference_length
          (i32.add (i32.shr_u (local.get $length) (i32.const 2)) (i32.const 1)))

        ;; the i32 vector, grown by doubling
        (local.set $ints (array.new_default $ints (i32.const 1)))
        (local.set $count (i32.const 0))
        (block $ints_full
          (loop $push_int
            (br_if $ints_full (i32.ge_s (local.get $count) (local.get $length)))
            (if (i32.eq (local.get $count) (array.len (local.get $ints)))
              (then
                (local.set $bigger_ints
                  (array.new_default $ints (i32.shl (local.get $count) (i32.const 1))))
                (array.copy $ints $ints
                  (local.get $bigger_ints) (i32.const 0)
                  (local.get $ints) (i32.const 0) (local.get $count))
                (local.set $ints (local.get $bigger_ints))
                (local.set $bigger_ints (ref.null $ints))))
            (array.set $ints (local.get $ints) (local.get $count)
              (i32.add (i32.mul (local.get $count) (i32.const 7)) (local.get $round)))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (br $push_int)))

        ;; the reference vector, grown by doubling
        (local.set $refs (array.new_default $refs (i32.const 1)))
        (local.set $count (i32.const 0))
        (block $refs_full
          (loop $push_ref
            (br_if $refs_full (i32.ge_s (local.get $count) (local.get $reference_length)))
            (if (i32.eq (local.get $count) (array.len (local.get $refs)))
              (then
                (local.set $bigger_refs
                  (array.new_default $refs (i32.shl (local.get $count) (i32.const 1))))
                (array.copy $refs $refs
                  (local.get $bigger_refs) (i32.const 0)
                  (local.get $refs) (i32.const 0) (local.get $count))
                (local.set $refs (local.get $bigger_refs))
                (local.set $bigger_refs (ref.null $refs))))
            (array.set $refs (local.get $refs) (local.get $count)
              (if (result (ref null $ints)) (i32.and (local.get $count) (i32.const 1))
                (then (local.get $ints))
                (else (array.new_fixed $ints 2 (local.get $count) (local.get $round)))))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (br $push_ref)))

        ;; the checksum
        (local.set $index (i32.const 0))
        (block $ints_summed
          (loop $sum_int
            (br_if $ints_summed (i32.ge_s (local.get $index) (local.get $length)))
            (local.set $checksum
              (i64.add (local.get $checksum)
                (i64.extend_i32_s (array.get $ints (local.get $ints) (local.get $index)))))
            (local.set $index (i32.add (local.get $index) (i32.const 1)))
            (br $sum_int)))
        (local.set $index (i32.const 0))
        (block $refs_summed
          (loop $sum_ref
            (br_if $refs_summed (i32.ge_s (local.get $index) (local.get $reference_length)))
            (local.set $element (array.get $refs (local.get $refs) (local.get $index)))
            (local.set $checksum
              (i64.add (local.get $checksum)
                (i64.extend_i32_s
                  (i32.add
                    (array.len (local.get $element))
                    (array.get $ints (local.get $element) (i32.const 0))))))
            (local.set $index (i32.add (local.get $index) (i32.const 1)))
            (br $sum_ref)))
        (local.set $element (ref.null $ints))

        ;; this round's vectors stay alive until the next round's replace them
        (local.set $previous_ints (local.get $ints))
        (local.set $previous_refs (local.get $refs))
        (local.set $ints (ref.null $ints))
        (local.set $refs (ref.null $refs))
        (local.set $round (i32.add (local.get $round) (i32.const 1)))
        (br $next_round)))
    (local.get $checksum))

  (func (export "main") (result i64)
    (call $arrays (i32.const 1024))))
