//! Tollgate's benchmark: the load generator, the process and `/proc` plumbing, the targets and
//! their set-up, the run plan and the report. The binaries are `floor-proxy` (the bare proxy
//! every gateway is compared with), `tg-load` (the generator on its own) and `tg-bench` (the
//! driver that `bench/run` calls).
//!
//! Codemap: [`conn`] one client connection; [`load`] closed and open loops; [`hold`] many
//! streams at once; [`stats`] histograms; [`procfs`] CPU and memory; [`child`] child servers;
//! [`pg`] a scratch PostgreSQL database; [`targets`] mock modes and targets; [`tollgate`] and
//! [`peers`] start and set up the gateways; [`plan`] what runs in which order; [`results`] and
//! [`report`] the figures and `RESULTS.md`; [`machine`] what it ran on.

pub mod child;
pub mod conn;
pub mod hold;
pub mod load;
pub mod machine;
pub mod peers;
pub mod pg;
pub mod plan;
pub mod procfs;
pub mod report;
pub mod results;
pub mod stats;
pub mod targets;
pub mod tollgate;
