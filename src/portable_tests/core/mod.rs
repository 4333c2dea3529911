//! The core portable tests: allocation and typed access, release of what dead objects hold,
//! host data, the activations table and collection, host roots, no-GC scopes, fill and copy,
//! out-of-memory, reset, the shared heap, heaps over borrowed memory, and binary-trees.
//!
//! Every test sizes its work to the region it is given (at least [`super::MIN_TEST_REGION`])
//! and runs [`Heap::verify`](crate::Heap::verify) after every step, passing the words of the references it holds as
//! host roots. Under Miri the long-running loops are capped (see `helpers::work`).
//!
//! This module holds the table, in the order the runners report it; the tests live in one file
//! per area, and what they share in `helpers`.

use super::PortableTest;

mod access;
mod binary_trees;
mod borrowed_memory;
mod bulk_arrays;
mod collection;
mod helpers;
mod host_roots;
mod out_of_memory;
mod release;
mod typed;

use access::*;
use binary_trees::*;
use borrowed_memory::*;
use bulk_arrays::*;
use collection::*;
use host_roots::*;
use out_of_memory::*;
use release::*;
use typed::*;

/// The core table.
pub(super) static CORE: &[PortableTest] = &[
    portable!(struct_fields_of_every_storage_type_read_back_what_was_written),
    portable!(array_elements_of_every_storage_type_read_back_what_was_written),
    portable!(externrefs_hold_their_host_data_and_convert_to_anyref_but_not_eqref),
    portable!(struct_access_errors_are_typed_and_change_nothing),
    portable!(array_access_errors_are_typed_and_change_nothing),
    portable!(unknown_and_wrong_kind_type_indices_are_typed_errors),
    portable!(array_length_whose_size_overflows_is_allocation_too_large),
    portable!(too_small_or_misaligned_regions_are_typed_errors),
    portable!(region_offsets_near_u32_max_are_out_of_bounds_not_overflows),
    portable!(scalar_type_mismatch_in_a_constructor_allocates_nothing),
    portable!(typed_accessors_of_every_scalar_type_agree_with_the_generic_api),
    portable!(array_new_fixed_accepts_non_nullable_reference_elements),
    portable!(struct_subtype_keeps_its_supertypes_field_offsets),
    portable!(ref_test_and_retain_raw_follow_the_type_hierarchy),
    portable!(freeing_a_struct_releases_its_reference_fields),
    portable!(linked_list_filling_the_region_is_freed_without_recursion),
    portable!(nested_array_tree_is_freed_completely),
    portable!(array_of_refs_releases_every_element_across_release_chunks),
    portable!(host_data_is_dropped_exactly_once_and_never_while_reachable),
    portable!(exposed_ref_survives_collection_only_while_on_the_wasm_stack),
    portable!(duplicates_in_the_bump_chunk_each_own_a_count),
    portable!(exposing_past_the_bump_chunk_overflows_into_the_over_approximated_set),
    portable!(need_gc_before_entering_wasm_tracks_the_bump_chunk),
    portable!(jit_writes_to_the_bump_chunk_are_swept),
    portable!(collection_stepped_by_hand_traces_then_sweeps_then_completes),
    portable!(collection_dropped_after_tracing_keeps_counts_and_is_folded_into_the_next),
    portable!(failed_trace_of_an_invalid_root_under_zeal_leaves_the_heap_consistent),
    portable!(host_globals_and_tables_hold_counts_through_write_gc_ref),
    portable!(no_gc_scopes_nest_and_forbid_collection),
    portable!(array_fill_keeps_counts_right),
    portable!(array_copy_overlapping_forwards_and_backwards_keeps_counts_right),
    portable!(array_copy_between_different_element_types_is_a_type_mismatch),
    portable!(out_of_memory_is_retryable_after_dropping_references),
    portable!(failed_externref_allocation_hands_the_host_data_back),
    portable!(releasing_everything_leaves_one_free_block),
    portable!(reset_empties_the_heap_and_drops_host_data),
    portable!(shared_heap_locks_and_unwraps),
    portable!(heap_over_borrowed_memory_gives_it_back_when_dropped),
    portable!(heap_over_a_stack_array_works_and_empties),
    portable!(heap_over_memory_that_is_not_zero_behaves_as_over_zeroed_memory),
    portable!(binary_trees_check_values_match_the_benchmarks_game),
];
