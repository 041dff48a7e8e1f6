//! The assembler fed records in hostile order: serials out of order,
//! repeated and far apart, clocks that jump both ways, records of an event
//! after its EOE, and caps small enough to evict. Each input line is one
//! record: `TYPE payload` (netlink form, as in the recorded fixtures) when it
//! starts with a digit, else an auditd log line. The first input byte picks
//! the caps and the clock (the records' own stamps, as `swmon report` does,
//! or a clock from the line's bytes that steps back and forth).
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::audit::{parse_log_line, parse_netlink, Assembler, AssemblerConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut a = Assembler::new(AssemblerConfig {
        timeout_ms: u64::from(mode & 0x0f) * 300,
        max_open_events: 1 + usize::from(mode >> 4),
        max_open_bytes: if mode & 0x80 != 0 { 2048 } else { 64 << 20 },
    });
    let own_stamps = mode & 0x01 != 0;
    let mut clock: u64 = 0;
    for line in rest.split(|c| *c == b'\n') {
        let parsed = match line.split_first() {
            Some((c, _)) if c.is_ascii_digit() => {
                let sp = line.iter().position(|c| *c == b' ').unwrap_or(line.len());
                let ty = std::str::from_utf8(&line[..sp])
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                    .unwrap_or(0);
                parse_netlink(ty, line.get(sp + 1..).unwrap_or_default())
            }
            _ => parse_log_line(line),
        };
        let step = line.last().copied().unwrap_or(0);
        clock = if step & 0x80 != 0 {
            clock.saturating_sub(u64::from(step & 0x7f) * 97)
        } else {
            clock.saturating_add(u64::from(step) * 13)
        };
        match parsed {
            Ok(r) => {
                let now = if own_stamps {
                    r.timestamp().as_millis()
                } else {
                    clock
                };
                a.push(r, now);
            }
            Err(_) => {
                a.count_parse_error();
                a.tick(clock);
            }
        }
        for e in a.drain_ready() {
            swmon_fuzz::exercise_event(&e);
        }
        assert!(a.open_events() <= a.config().max_open_events);
    }
    a.flush_all();
    for e in a.drain_ready() {
        swmon_fuzz::exercise_event(&e);
    }
    let _ = a.stats();
});
