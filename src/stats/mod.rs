//! Usage statistics: the rollup cell (`rollup.rs`), its mergeable latency histograms
//! (`histogram.rs`) and the answer's buckets in the caller's time zone (`buckets.rs`). Pure:
//! the rollup table's queries are in `store/rollups.rs`, the API in `admin/stats.rs`.

pub mod buckets;
pub mod histogram;
pub mod rollup;
