//! Portable tests of the cycle collector ([`crate::cycle_collector`]).
//!
//! Every test sizes its work to the region it is given (at least [`super::MIN_TEST_REGION`])
//! and runs [`Heap::verify`](crate::Heap::verify) after every step, passing the words of the
//! references it holds as host roots; `verify` also checks the cycle collector's colours,
//! buffered flags and buffer.
//! Host data is a drop-counting token, so "dropped exactly once" is checked by counting.
//!
//! This module holds the table, in the order the runners report it; the tests live in one file
//! per area: `shapes` (the shapes of garbage), `liveness` (what keeps a cycle alive), `triggers`
//! (what starts a cycle collection) and `buffer` (the candidate buffer); what they share is in
//! `helpers`.

use super::PortableTest;

// First, so that its macros (`try_heap!`, and a `verify!` that takes owned references) are in
// scope in the files below.
#[macro_use]
mod helpers;

mod buffer;
mod liveness;
mod shapes;
mod triggers;

use buffer::*;
use liveness::*;
use shapes::*;
use triggers::*;

/// The cycle collector's table.
pub(super) static CYCLES: &[PortableTest] = &[
    PortableTest { name: "self_loop_is_collected", run: self_loop_is_collected },
    PortableTest { name: "two_node_cycle_is_collected", run: two_node_cycle_is_collected },
    PortableTest { name: "doubly_linked_ring_is_collected", run: doubly_linked_ring_is_collected },
    PortableTest {
        name: "binary_tree_with_parent_pointers_is_collected",
        run: binary_tree_with_parent_pointers_is_collected,
    },
    PortableTest {
        name: "cycle_through_a_ref_array_is_collected_across_chunks",
        run: cycle_through_a_ref_array_is_collected_across_chunks,
    },
    PortableTest {
        name: "cycle_holding_externrefs_drops_each_host_data_once",
        run: cycle_holding_externrefs_drops_each_host_data_once,
    },
    PortableTest {
        name: "mixed_garbage_with_and_without_acyclic_references_is_collected",
        run: mixed_garbage_with_and_without_acyclic_references_is_collected,
    },
    PortableTest {
        name: "adjacent_garbage_freed_as_one_block_is_poisoned_and_reusable",
        run: adjacent_garbage_freed_as_one_block_is_poisoned_and_reusable,
    },
    PortableTest {
        name: "garbage_listed_out_of_address_order_is_freed_as_one_block_per_run",
        run: garbage_listed_out_of_address_order_is_freed_as_one_block_per_run,
    },
    PortableTest {
        name: "cycle_reachable_from_a_global_lives_until_the_global_lets_go",
        run: cycle_reachable_from_a_global_lives_until_the_global_lets_go,
    },
    PortableTest {
        name: "cycle_reachable_from_a_table_lives_until_the_slot_is_cleared",
        run: cycle_reachable_from_a_table_lives_until_the_slot_is_cleared,
    },
    PortableTest {
        name: "cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone",
        run: cycle_on_the_wasm_stack_lives_until_a_collection_finds_it_gone,
    },
    PortableTest {
        name: "cycle_held_by_a_live_object_lives_until_that_object_dies",
        run: cycle_held_by_a_live_object_lives_until_that_object_dies,
    },
    PortableTest {
        name: "garbage_cycle_referencing_live_objects_leaves_their_counts_right",
        run: garbage_cycle_referencing_live_objects_leaves_their_counts_right,
    },
    PortableTest {
        name: "scan_goes_on_after_a_survivor_among_a_white_objects_references",
        run: scan_goes_on_after_a_survivor_among_a_white_objects_references,
    },
    PortableTest {
        name: "rings_are_collected_by_the_allocation_failure_trigger_alone",
        run: rings_are_collected_by_the_allocation_failure_trigger_alone,
    },
    PortableTest {
        name: "candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation",
        run: candidate_threshold_triggers_a_cycle_collection_at_the_next_allocation,
    },
    PortableTest {
        name: "candidate_trigger_leaves_the_young_candidates_for_the_next_collection",
        run: candidate_trigger_leaves_the_young_candidates_for_the_next_collection,
    },
    PortableTest {
        name: "heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage",
        run: heap_growth_triggers_a_cycle_collection_when_one_candidate_stands_for_much_garbage,
    },
    PortableTest {
        name: "collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold",
        run: collection_runs_its_cycle_phase_when_the_buffer_is_over_the_threshold,
    },
    PortableTest {
        name: "no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it",
        run: no_gc_scope_refuses_cycle_collection_and_allocation_failure_skips_it,
    },
    PortableTest {
        name: "buffered_objects_freed_by_counting_leave_the_buffer",
        run: buffered_objects_freed_by_counting_leave_the_buffer,
    },
    PortableTest { name: "acyclic_objects_are_never_buffered", run: acyclic_objects_are_never_buffered },
    PortableTest {
        name: "cycle_collection_turned_off_buffers_nothing_and_leaks_cycles",
        run: cycle_collection_turned_off_buffers_nothing_and_leaks_cycles,
    },
    PortableTest {
        name: "collection_with_no_roots_then_collect_cycles_empties_the_heap",
        run: collection_with_no_roots_then_collect_cycles_empties_the_heap,
    },
];
