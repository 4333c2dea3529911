//! drc-heap (work in progress; crate docs follow)
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod activations_table;
pub mod error;
pub mod free_list;
pub mod gc_ref;
pub mod header;
#[cfg(feature = "portable-tests")]
pub mod portable_tests;
mod host_data;
mod region;
pub mod types;

pub use error::{Error, Result};
pub use gc_ref::GcRef;
pub use region::{MAX_REGION_LEN, MIN_REGION_LEN, REGION_ALIGN};
