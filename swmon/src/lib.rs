//! swmon: catches every software install on a Linux host and proves it.
//!
//! The modules follow the pipeline (see `ARCHITECTURE.md`): the installer
//! [`catalogue`] is the data the filter is made of; [`ebpf`] loads the
//! kernel program and decodes its ring buffer; [`audit`] reads the kernel's
//! audit records; [`correlate`] joins execs and exits into installer runs;
//! [`classify`] reads an installer's argv (manager, operation, packages);
//! [`enrich`] adds what the kernel record lacks; [`event`] is what a user
//! reads and [`sink`] writes it, [`ship`] sends it to the host's log
//! engine (journald, syslog); [`run`] is `swmon run`: those
//! stages joined by bounded queues, and its life cycle, configured by
//! [`config`]; [`doctor`] checks a host can run it.

pub mod catalogue;
pub mod ebpf;
pub mod audit;
pub mod correlate;
pub mod classify;
pub mod package_file;
pub mod state;
pub mod enrich;
pub mod event;
pub mod schema;
pub mod sink;
pub mod ship;
pub mod safe_file;
pub mod privilege;
pub mod report;
pub mod run;
pub mod config;
pub mod version;
pub mod mounts;
pub mod doctor;
pub mod generate;
