//! [`HeapConfig`]: the settings of a heap, with all their builders.
//!
//! A heap takes its configuration once, at construction ([`crate::Heap::with_config`] and the
//! other constructors); the settings' own types live with what they configure
//! ([`CycleConfig`] in [`crate::cycle_collector`], [`Zeal`] in [`crate::zeal`]), the builders
//! of the whole configuration here. `HeapConfig::default()` is what [`crate::Heap::new`] uses:
//! cycle collection on with its default threshold, no zeal.

use crate::cycle_collector::CycleConfig;
use crate::zeal::Zeal;

/// Settings of a heap.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HeapConfig {
    /// Debugging checks that find heap bugs close to their cause: poisoning of freed memory,
    /// verification after every collection, and forced collections (a forced retryable
    /// [`crate::Error::OutOfMemory`] every N allocations, which makes a correct embedder collect and
    /// retry). Off (`None`) by default; see [`crate::zeal`].
    pub zeal: Option<Zeal>,
    /// The cycle collector: on or off, and the candidate-buffer size that triggers a cycle
    /// collection. On, with a threshold of
    /// [`crate::cycle_collector::DEFAULT_CYCLE_CANDIDATE_THRESHOLD`], by default; see
    /// [the heap policy](crate#heap-policy).
    pub cycles: CycleConfig,
}

impl HeapConfig {
    /// This configuration with cycle collection on or off (see [`CycleConfig::enabled`]).
    pub fn with_cycle_collection(mut self, enabled: bool) -> HeapConfig {
        self.cycles.enabled = enabled;
        self
    }

    /// This configuration with another candidate threshold (see
    /// [`CycleConfig::candidate_threshold`]).
    pub fn with_cycle_candidate_threshold(mut self, threshold: usize) -> HeapConfig {
        self.cycles.candidate_threshold = threshold;
        self
    }

    /// This configuration with the heap-growth trigger on or off (see
    /// [`CycleConfig::collect_on_heap_growth`]).
    pub fn with_cycle_collection_on_heap_growth(mut self, on: bool) -> HeapConfig {
        self.cycles.collect_on_heap_growth = on;
        self
    }

    /// These settings with the zeal checks `zeal` (see [`crate::zeal`]).
    pub fn with_zeal(mut self, zeal: Zeal) -> HeapConfig {
        self.zeal = Some(zeal);
        self
    }
}
