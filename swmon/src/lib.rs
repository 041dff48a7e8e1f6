//! swmon: catches every software install on a Linux host and proves it.
//!
//! The modules follow the pipeline (see `ARCHITECTURE.md`):
//! the installer [`catalogue`] is the data both streams filter on;
//! [`ebpf`] loads the kernel program and turns its ring buffer into
//! [`ebpf::ExecRecord`]s; [`audit`] reads the kernel's audit records;
//! [`event`] shapes what a user reads, and [`sink`] writes it.

pub mod audit;
pub mod catalogue;
pub mod classify;
