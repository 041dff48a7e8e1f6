//! What swmon reads from its audit netlink sockets, below the record text:
//! a datagram split into netlink messages (each record payload then parsed),
//! an `AUDIT_GET` status answer, and an `AUDIT_LIST_RULES` rule
//! (`audit_rule_data`, with field counts and a string buffer length of its
//! own), all on hostile bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::audit::{netlink::split_messages, parse_netlink, AuditRule, AuditStatus};

fuzz_target!(|data: &[u8]| {
    let (messages, _malformed) = split_messages(data);
    for m in &messages {
        let payload = data
            .get(m.payload.0..m.payload.1)
            .expect("payload inside the datagram");
        if let Ok(r) = parse_netlink(m.msg_type, payload) {
            swmon_fuzz::exercise_record(&r);
        }
    }
    if let Ok(status) = AuditStatus::decode(data) {
        let _ = format!("{status:?}");
    }
    if let Ok(rule) = AuditRule::decode(data) {
        let _ = rule.to_string();
    }
});
