//! Robustness: arbitrary bytes and mutated real records never panic, every
//! accessor copes with what parses, and the assembler never loses a record
//! whatever the order, timing and caps.
//!
//! A small deterministic generator stands in for proptest: no extra
//! dependency, the same cases on every run, and a failure names its case so
//! it can be replayed. It is not a fuzzer; a cargo-fuzz target can reuse
//! [`exercise_record`] when one is wanted.

use std::{fs, path::Path};

use super::{
    parse_log_line, parse_netlink, reassemble_argv, Assembler, AssemblerConfig, AuditEvent, Record,
    MAX_RECORD_LEN,
};

/// xorshift64*: enough to spread cases, trivially reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Bytes that steer the parser into its corners.
const TOKENS: &[&[u8]] = &[
    b"=",
    b"\"",
    b"'",
    b"{",
    b"}",
    b" ",
    b"  ",
    b"(null)",
    b"?",
    b"audit(",
    b"audit(1795679932.534:43): ",
    b"):",
    b":",
    b".",
    b"\x1d",
    b"\0",
    b"\n",
    b"argc=",
    b"argc=3 ",
    b"a0=",
    b"a1_len=",
    b"a1[0]=",
    b"a1[1]=",
    b"a4294967295=",
    b"4294967295",
    b"99999999999999999999999",
    b"-",
    b"41",
    b"4",
    b"ZZ",
    b"type=",
    b"type=EXECVE ",
    b"msg=",
    b"node=",
    b"UNKNOWN[",
    b"]",
    b"\xff",
    b"\xc3",
    b"proctitle=",
    b"key=",
    b"dev=fe:",
    b"mode=0",
    b"msg='",
];

const TYPES: &[u16] = &[
    1300, 1302, 1305, 1307, 1309, 1320, 1327, 1200, 1138, 1400, 0, 65535,
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(40) {
        if rng.below(3) == 0 {
            for _ in 0..rng.below(8) {
                out.push(rng.next() as u8);
            }
        } else {
            out.extend_from_slice(rng.pick(TOKENS));
        }
    }
    out
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(6) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] = rng.next() as u8;
            }
            1 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at + 1);
                out.drain(at..at + n);
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64) + 1);
                let copy = out[at..at + n].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            3 => {
                let to = rng.below(len + 1);
                let token: &[u8] = rng.pick(TOKENS);
                out.splice(to..to, token.iter().copied());
            }
            4 => out.truncate(rng.below(len + 1)),
            _ => {
                // Swap a digit for another: serials, lengths, indexes.
                if let Some(at) = (0..len)
                    .map(|_| rng.below(len))
                    .find(|&i| out[i].is_ascii_digit())
                {
                    out[at] = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
    out
}

/// Calls every accessor on a record; none may panic.
pub(super) fn exercise_record(r: &Record) {
    let _ = (
        r.type_name(),
        r.node(),
        r.timestamp().to_string(),
        r.heap_size(),
    );
    let _ = format!("{r:?}");
    for f in r.fields().chain(r.enriched()) {
        let v = f.value;
        let _ = (v.text(), v.inner(), v.kind());
        let _ = (
            v.to_u64(),
            v.to_i64(),
            v.to_u32(),
            v.to_hex_u64(),
            v.to_octal_u32(),
        );
        if let Some(nested) = v.nested_fields() {
            for n in nested {
                let _ = n.value.text();
            }
        }
    }
    if let Some(s) = r.syscall() {
        let _ = (
            s.arch(),
            s.syscall(),
            s.success(),
            s.exit(),
            s.arg(0),
            s.items(),
        );
        let _ = (
            s.ppid(),
            s.pid(),
            s.auid(),
            s.uid(),
            s.gid(),
            s.euid(),
            s.ses(),
        );
        let _ = (s.tty(), s.comm(), s.exe(), s.key(), s.keys());
    }
    if let Some(p) = r.path() {
        let _ = (p.item(), p.name(), p.inode(), p.dev(), p.rdev(), p.mode());
        let _ = (p.ouid(), p.ogid(), p.nametype());
    }
    let _ = r.cwd();
    if let Some(p) = r.proctitle() {
        let _ = (p.args(), p.maybe_truncated());
    }
    if let Some(c) = r.config_change() {
        let _ = (c.op(), c.keys(), c.list(), c.res(), c.auid(), c.ses());
    }
    if let Some(e) = r.execve() {
        let _ = e.argc();
    }
    let _ = reassemble_argv([r]);
}

fn exercise_event(e: &AuditEvent) {
    assert!(!e.records.is_empty());
    let _ = (
        e.syscall(),
        e.cwd(),
        e.proctitle(),
        e.keys(),
        e.key(),
        e.has_eoe(),
    );
    if let Some(argv) = e.argv() {
        // Decoded bytes never exceed the text they came from.
        let text: usize = e.records.iter().map(|r| r.as_bytes().len()).sum();
        let args: usize = argv.args.iter().map(Vec::len).sum();
        assert!(
            args <= text,
            "argv of {args} bytes from {text} bytes of records"
        );
    }
    for p in e.paths() {
        let _ = p.name();
    }
}

/// The captures, as (netlink type or `None` for a log line, text).
fn capture_lines() -> Vec<(Option<u16>, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit");
    let mut out = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("tests/data/audit is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let netlink = name.starts_with("netlink-") && name.ends_with(".txt");
        if !netlink && !name.ends_with(".log") {
            continue;
        }
        let text = fs::read(&path).expect("capture is readable");
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if netlink {
                let space = line.iter().position(|&b| b == b' ').expect("type, space");
                let t = std::str::from_utf8(&line[..space])
                    .expect("ASCII type")
                    .parse()
                    .expect("numeric type");
                out.push((Some(t), line[space + 1..].to_vec()));
            } else {
                out.push((None, line.to_vec()));
            }
        }
    }
    assert!(out.len() > 100, "captures missing");
    out
}

fn parse(kind: Option<u16>, text: &[u8]) -> Option<Record> {
    match kind {
        Some(t) => parse_netlink(t, text).ok(),
        None => parse_log_line(text).ok(),
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut parsed = 0;
    for case in 0..20_000u64 {
        let mut rng = Rng::new(case);
        let bytes = random_bytes(&mut rng);
        for r in [
            parse_netlink(rng.pick(TYPES), &bytes).ok(),
            parse_log_line(&bytes).ok(),
        ]
        .into_iter()
        .flatten()
        {
            parsed += 1;
            exercise_record(&r);
        }
    }
    // The tokens make some cases parse, so the accessors get exercised too.
    assert!(parsed > 100, "only {parsed} cases parsed");
}

#[test]
fn mutated_real_records_never_panic_nor_get_lost() {
    let lines = capture_lines();
    for round in 0..20u64 {
        let mut rng = Rng::new(1_000 + round);
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 1 + rng.below(3_000) as u64,
            max_open_events: 1 + rng.below(8),
            max_open_bytes: 1 + rng.below(64 << 10),
        });
        let mut now = 0u64;
        let mut emitted = 0u64;
        for _ in 0..1_000 {
            let (kind, text) = &lines[rng.below(lines.len())];
            let kind = match (kind, rng.below(20)) {
                (Some(_), 0) => Some(rng.pick(TYPES)),
                _ => *kind,
            };
            let text = mutate(&mut rng, text);
            // A clock that mostly advances, sometimes jumps, sometimes steps
            // back.
            now = match rng.below(10) {
                0 => now.saturating_sub(rng.below(500) as u64),
                1 => now + rng.below(10_000) as u64,
                _ => now + rng.below(20) as u64,
            };
            match parse(kind, &text) {
                Some(r) => {
                    exercise_record(&r);
                    a.push(r, now);
                }
                None => a.count_parse_error(),
            }
            for e in a.drain_ready() {
                exercise_event(&e);
                emitted += e.records.len() as u64;
            }
        }
        a.flush_all();
        for e in a.drain_ready() {
            exercise_event(&e);
            emitted += e.records.len() as u64;
        }
        assert_eq!(emitted, a.stats().records, "round {round}: records lost");
        assert_eq!(a.open_events(), 0);
        assert_eq!(a.stats().records + a.stats().parse_errors, 1_000);
    }
}

#[test]
fn shuffled_captures_group_by_serial_and_lose_nothing() {
    let records: Vec<Record> = capture_lines()
        .into_iter()
        .filter_map(|(kind, text)| parse(kind, &text))
        .collect();
    for round in 0..50u64 {
        let mut rng = Rng::new(5_000 + round);
        // Interleave: swap records within a small window, and drop some.
        let mut order: Vec<&Record> = records.iter().filter(|_| rng.below(10) != 0).collect();
        for i in 0..order.len() {
            let j = (i + rng.below(6)).min(order.len() - 1);
            order.swap(i, j);
        }
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 50,
            max_open_events: 2 + rng.below(6),
            ..AssemblerConfig::default()
        });
        let mut events = Vec::new();
        for (i, r) in order.iter().enumerate() {
            a.push((*r).clone(), i as u64);
            events.extend(a.drain_ready());
        }
        a.flush_all();
        events.extend(a.drain_ready());
        let total: usize = events.iter().map(|e| e.records.len()).sum();
        assert_eq!(total, order.len(), "round {round}");
        for e in &events {
            assert!(e.records.iter().all(|r| r.serial() == e.serial));
            exercise_event(e);
        }
        let s = a.stats();
        assert_eq!(
            s.events,
            s.ended_by_eoe + s.flushed_by_timeout + s.evicted + s.flushed_at_end + s.standalone
        );
    }
}

#[test]
fn oversized_and_degenerate_inputs() {
    // The largest accepted record: one enormous hex value.
    let mut line = b"audit(1.000:1): argc=1 a0=".to_vec();
    line.resize(MAX_RECORD_LEN, b'A');
    let r = parse_netlink(1309, &line).expect("within the limit");
    let argv = reassemble_argv([&r]).expect("EXECVE");
    assert_eq!(argv.args.len(), 1);
    assert!(argv.flags.bad_encoding || argv.args[0].len() < MAX_RECORD_LEN);
    // Many tiny fields.
    let mut line = b"audit(1.000:1): ".to_vec();
    while line.len() + 2 <= MAX_RECORD_LEN {
        line.extend_from_slice(b"a ");
    }
    let r = parse_netlink(1300, &line).expect("within the limit");
    assert!(r.fields().count() > 30_000);
    exercise_record(&r);
    // Only separators and NULs.
    for bytes in [&b"\0\0\0"[..], b"\n\n", b" ", b"\x1d", b"type= msg="] {
        assert!(parse_netlink(1300, bytes).is_err());
        assert!(parse_log_line(bytes).is_err());
    }
}
