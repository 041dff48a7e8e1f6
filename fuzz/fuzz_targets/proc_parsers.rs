//! The `/proc` parsers on hostile bytes: `/proc/PID/stat` (a command name may
//! hold spaces, parentheses and newlines), `/proc/PID/cgroup` (container and
//! unit placement), and NUL-separated `cmdline` splitting; the parsed
//! `tty_nr` and start ticks are turned into a name and a time as enrichment
//! does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::{ebpf::decode::split_argv, enrich};

fuzz_target!(|data: &[u8]| {
    if let Some(stat) = enrich::Stat::parse(data) {
        let _ = enrich::tty_name(stat.tty_nr);
        let _ = enrich::ticks_to_ns(stat.start_ticks, 100);
        let _ = enrich::ticks_to_ns(stat.start_ticks, 1);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = enrich::placement_of(text);
    }
    let _ = split_argv(data);
});
