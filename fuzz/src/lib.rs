//! Shared helpers of swmon's fuzz targets: touch every accessor of what a
//! reader returns, so that a lazy decoder (hex values, argv reassembly,
//! typed views) is exercised on the fuzzed bytes too, not only the split.

use swmon::audit::{AuditEvent, Record, Value};

/// Reads every value of `v` in every way a caller may.
pub fn exercise_value(v: &Value<'_>) {
    let _ = v.kind();
    let _ = v.inner();
    let t = v.text();
    let _ = t.as_bytes();
    let _ = t.lossless_bytes();
    let _ = t.is_malformed();
    let _ = swmon::audit::split_keys(&t);
    let _ = v.to_u64();
    let _ = v.to_u32();
    let _ = v.to_i64();
    let _ = v.to_hex_u64();
    let _ = v.to_octal_u32();
    if let Some(nested) = v.nested_fields() {
        for f in nested.iter().take(64) {
            let _ = f.value.text();
        }
    }
}

/// Reads every field and every typed view of one record.
pub fn exercise_record(r: &Record) {
    let _ = r.record_type();
    let _ = r.type_name();
    let _ = r.timestamp().as_millis();
    let _ = r.timestamp().to_string();
    let _ = r.serial();
    let _ = r.node();
    let _ = r.heap_size();
    for f in r.fields().chain(r.enriched()) {
        exercise_value(&f.value);
    }
    if let Some(s) = r.syscall() {
        let _ = (s.arch(), s.syscall(), s.success(), s.exit(), s.items());
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
        for n in 0..5 {
            let _ = s.arg(n);
        }
    }
    if let Some(p) = r.path() {
        let _ = (p.item(), p.name(), p.inode(), p.dev(), p.rdev(), p.mode());
        let _ = (p.ouid(), p.ogid(), p.nametype());
    }
    let _ = r.cwd();
    if let Some(p) = r.proctitle() {
        let _ = p.args();
        let _ = p.maybe_truncated();
    }
    if let Some(c) = r.config_change() {
        let _ = (
            c.op(),
            c.key(),
            c.keys(),
            c.list(),
            c.res(),
            c.auid(),
            c.ses(),
        );
    }
    if let Some(e) = r.execve() {
        let _ = e.argc();
    }
    let _ = r.is_eoe();
}

/// Reads everything an event offers.
pub fn exercise_event(e: &AuditEvent) {
    for r in &e.records {
        exercise_record(r);
    }
    let _ = e.syscall();
    if let Some(argv) = e.argv() {
        let _ = argv.flags.names();
        let _ = argv.flags.is_clean();
    }
    let _ = e.cwd();
    for p in e.paths() {
        let _ = p.name();
    }
    if let Some(p) = e.proctitle() {
        let _ = p.args();
    }
    let _ = e.keys();
    let _ = e.key();
    let _ = e.has_eoe();
}
