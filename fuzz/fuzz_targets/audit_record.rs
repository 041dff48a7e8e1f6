//! The audit record parser on hostile bytes, in both forms: the netlink form
//! (the first two bytes are the message type, the rest the payload, as a
//! multicast listener receives it) and auditd's log line (the whole input).
//! Every field and typed view of a parsed record is read too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::audit::{parse_log_line, parse_netlink};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_log_line(data) {
        swmon_fuzz::exercise_record(&r);
    }
    if let [a, b, payload @ ..] = data {
        if let Ok(r) = parse_netlink(u16::from_le_bytes([*a, *b]), payload) {
            swmon_fuzz::exercise_record(&r);
        }
    }
});
