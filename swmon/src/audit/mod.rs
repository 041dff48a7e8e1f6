//! The audit stream: the kernel's audit records, parsed and assembled by serial.
//!
//! This is the pure half of the audit side: text in, [`AuditEvent`]s out,
//! with no socket, file or clock of its own, so all of it is tested on
//! recorded input. [`parse_netlink`] reads a record as a multicast listener
//! receives it (type in the netlink header, `audit(SECS.MSEC:SERIAL): k=v ...`
//! as payload); [`parse_log_line`] reads auditd's log, enriched or not, for
//! the comparison report. Both give a [`Record`] that keeps the text once and
//! decodes values only when asked ([`Value::text`] undoes the kernel's hex
//! encoding; typed views such as [`SyscallRecord`] know what the fields
//! mean). The [`Assembler`] groups records by serial until EOE or a timeout,
//! with bounded memory, and counts everything that points at loss (serial
//! gaps, late records, evictions, parse errors) in [`AssemblerStats`].
//!
//! Not here: the netlink socket and audit status polling, rule management,
//! and what an event means for an install (correlation and classification
//! come after this stage).

mod assemble;
mod error;
mod execve;
mod record;
mod types;
mod value;
mod views;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod robustness_tests;

pub use self::{
    assemble::{Assembler, AssemblerConfig, AssemblerStats, AuditEvent, EventEnd},
    error::ParseError,
    execve::{reassemble_argv, Argv, ArgvFlags, MAX_MISSING_ARGS},
    record::{
        parse_log_line, parse_log_line_bytes, parse_netlink, parse_netlink_bytes, Field, Fields,
        Record, Timestamp, ENRICHED_SEPARATOR, MAX_RECORD_LEN,
    },
    types::RecordType,
    value::{decode_hex, split_keys, Text, Value, ValueKind, KEY_SEPARATOR},
    views::{
        ConfigChangeRecord, ExecveRecord, PathRecord, Proctitle, SyscallRecord, PROCTITLE_MAX,
        UNSET_ID,
    },
};
