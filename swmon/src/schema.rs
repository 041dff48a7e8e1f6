//! The JSON Schema of swmon's events (`docs/events.schema.json`),
//! generated from [`crate::event::Event`] with `schemars`. The fields swmon
//! builds by hand (`serde_json::Value`: `swmon.changes`, `swmon.audit`,
//! `swmon.stages`, ...) and the closed sets of words (`event.action`,
//! `swmon.verdict`, ...) are described here, by hand, next to the derive.
//!
//! The committed file is checked against [`events_schema`] by a unit test
//! (`events_schema_file_is_current`); `SWMON_WRITE_SCHEMA=1 cargo test -p
//! swmon --lib schema` writes it anew. The `tests` crate and `cargo xtask
//! scenarios` validate every event they read against the committed file.

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

/// Every `event.action` swmon writes, with what it is (kept in step with
/// `docs/events.md`).
pub const ACTIONS: &[(&str, &str)] = &[
    // Installer runs.
    ("package-install", "an installer run that installs (by its arguments, or by the package state it wrote)"),
    ("package-remove", "an installer run that removes"),
    ("package-upgrade", "an installer run that upgrades"),
    ("installer-exec", "an installer run that queries or does something else, or whose arguments swmon could not read"),
    ("verdict-amended", "a correction of a run already reported: a late audit record changed its verdict"),
    // The monitor's own life.
    ("monitor-started", "swmon run started: what it watches and what it kept"),
    ("monitor-stopped", "swmon run stopped: its counters"),
    ("heartbeat", "swmon run is alive: its counters and stages"),
    ("stage-stalled", "a pipeline stage made no progress with items waiting"),
    ("events-lost", "events lost inside swmon (a full queue, the writer, a sink, a stuck host read)"),
    ("config-reloaded", "SIGHUP read the config file again: what was applied and what needs a restart"),
    ("config-reload-failed", "SIGHUP found the config file bad: the running settings stay"),
    // The kernel side.
    ("ebpf-events-lost", "the eBPF programs could not hand events over"),
    ("ebpf-tampered", "swmon's eBPF maps or programs were changed by someone else"),
    ("ebpf-detached", "a program of swmon's is no longer attached"),
    ("ebpf-stalled", "a program of swmon's stopped running"),
    ("ebpf-log", "one record of the kernel's account of a candidate exec (--ebpf-log)"),
    ("installers-rediscovered", "the installers found on the host changed"),
    ("installers-rediscovery-failed", "finding the installers again failed"),
    // The audit side.
    ("audit-rules-installed", "the audit rules swmon loaded at start"),
    ("audit-rules-added", "rules swmon added while running"),
    ("audit-rules-removed", "rules of swmon's were removed by someone else"),
    ("audit-rules-suppressed", "a rule of someone else's keeps swmon's from recording"),
    ("audit-rules-unverifiable", "the rule list could not be read"),
    ("audit-rules-verifiable", "the rule list can be read again"),
    ("audit-rules-unrecorded", "swmon could not record its rules for a successor"),
    ("audit-rules-adopted", "rules a dead instance left were adopted"),
    ("audit-rules-adopt-failed", "rules a dead instance left could not be adopted"),
    ("audit-rules-restored", "removed rules were put back"),
    ("audit-rules-restore-failed", "removed rules could not be put back"),
    ("audit-records-lost", "audit records were lost (the kernel's counter, the socket)"),
    ("audit-unavailable", "the audit trail cannot be used: nothing is confirmed from now on"),
    ("audit-disabled", "auditing was turned off"),
    ("audit-enabled", "auditing was turned on"),
    ("auditd-stopped", "the audit daemon stopped"),
    ("auditd-started", "the audit daemon started"),
    ("audit-locked", "the audit configuration is locked (enabled=2)"),
];

/// The schema of one event line, as a JSON value.
pub fn events_schema() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<crate::event::Event>();
    let mut v = schema.to_value();
    no_null(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "$id".into(),
            json!("https://swmon.invalid/events.schema.json"),
        );
        o.insert(
            "description".into(),
            json!(
                "One line of swmon's JSON output (ECS-shaped). Generated from swmon/src/event.rs \
                 and swmon/src/schema.rs; described field by field in docs/events.md."
            ),
        );
    }
    v
}

/// [`events_schema`] as the committed file holds it (pretty, newline).
pub fn events_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&events_schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// Drops the `null` schemars allows for an `Option`: swmon leaves an absent
/// field out (`skip_serializing_if`), it never writes `null`. A value that
/// may be `null` (in the fields built by hand) says so with `const: null`.
fn no_null(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    o.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = o.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    o.remove("anyOf");
                    if let Value::Object(only) = only {
                        o.extend(only);
                    }
                }
            }
            o.values_mut().for_each(no_null);
        }
        Value::Array(a) => a.iter_mut().for_each(no_null),
        _ => {}
    }
}

fn string_or_null() -> Value {
    json!({ "anyOf": [{ "type": "string" }, { "const": null }] })
}

fn strings(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

fn set_of(values: &[&str]) -> Schema {
    json_schema!({ "type": "array", "minItems": 1, "items": strings(values) })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

pub(crate) fn ecs_version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "const": crate::event::ECS_VERSION })
}

pub(crate) fn kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["event", "alert", "state"] })
}

pub(crate) fn categories(_: &mut SchemaGenerator) -> Schema {
    set_of(&["package", "process", "file", "host"])
}

pub(crate) fn types(_: &mut SchemaGenerator) -> Schema {
    set_of(&["installation", "deletion", "change", "info", "start", "end"])
}

pub(crate) fn action(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = ACTIONS.iter().map(|(a, _)| *a).collect();
    json_schema!({ "type": "string", "enum": names })
}

pub(crate) fn outcome(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["success", "failure", "unknown"] })
}

pub(crate) fn verdict(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["confirmed", "ebpf_only", "audit_only"] })
}

pub(crate) fn operation(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["install", "remove", "upgrade", "query", "other"] })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

/// One stage's queue: its age of last progress, and its depth where it
/// has a queue.
fn stage_depth() -> Value {
    object(
        json!({ "idle_ms": count(), "queued": count(), "queued_bytes": count() }),
        &["idle_ms"],
    )
}

pub(crate) fn stages(_: &mut SchemaGenerator) -> Schema {
    let stalled = object(
        json!({ "stage": { "type": "string" }, "queued": count(), "idle_ms": count() }),
        &["stage", "queued", "idle_ms"],
    );
    let every = json!({ "type": "object", "additionalProperties": stage_depth() });
    json_schema!({
        "description": "`heartbeat` and `monitor-stopped`: each stage by name with its `idle_ms` (age of last progress) and `queued` / `queued_bytes`; `stage-stalled`: the stalled `stage`, its `queued` items and `idle_ms`.",
        "anyOf": [stalled, every],
    })
}

pub(crate) fn audit(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A run's audit records: `serial`, `key`, `join` (inode, script or path) and `joined` of the first record that joined one of its execs, `serials` and `records` of all, `logged` (an audit daemon was registered), `reason` of a state-witness alert; on `verdict-amended` also `pid`, `executable`, `run_start`; on audit health, loss and rules events the details of the change (`error`, `rules`, the status read).",
        "type": "object",
        "properties": {
            "serial": count(),
            "serials": { "type": "array", "items": count() },
            "records": count(),
            "logged": { "type": "boolean" },
            "key": string_or_null(),
            "join": { "type": "string", "enum": ["inode", "script", "path"] },
            "joined": count(),
            "error": { "type": "string" },
            "reason": { "type": "string" },
        },
    })
}

pub(crate) fn privileges(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "`monitor-started`: the capabilities `kept` after the drop, `no_new_privs`, `bounding_reduced`, `bpf_kept`, `seccomp`, `held`, and `untrusted_installer_dirs` (installer folders left out as writable by others); `installers-rediscovered`: `untrusted_installer_dirs`.",
        "type": "object",
        "properties": {
            "kept": { "type": "array", "items": { "type": "string" } },
            "no_new_privs": { "type": "boolean" },
            "untrusted_installer_dirs": { "type": "array" },
        },
    })
}

pub(crate) fn package_files(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "description": "A local package file the run named: `file` (as typed), `format`, and the `name` and `version` read inside it, or `rejected` (a flag) and `reason`; `dev` and `ino` when it was found.",
            "type": "object",
            "properties": {
                "file": { "type": "string" },
                "format": { "type": "string" },
                "name": { "type": "string" },
                "version": string_or_null(),
                "rejected": { "type": "string" },
                "reason": { "type": "string" },
                "dev": count(),
                "ino": count(),
            },
            "required": ["file", "format"],
        },
    })
}

pub(crate) fn counters(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "`heartbeat` and `monitor-stopped`: every counter by name (see `docs/events.md`; a group of counters is an object, the audit side's `audit`); `installers-rediscovered`: the filter entries added and removed; `installers-rediscovery-failed`: `rediscovery_error` and `rediscovery_failures_held_back`.",
        "type": "object",
        "additionalProperties": { "type": ["integer", "string", "boolean", "object"] },
    })
}

pub(crate) fn ebpf(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "`monitor-started`: the attached programs' link and program ids and the `state_witness` hook; a tamper alert (`ebpf-tampered`, `ebpf-detached`, `ebpf-stalled`): what changed; `ebpf-log`: one kernel log record.",
        "type": "object",
    })
}

pub(crate) fn lost(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "What a loss event lost: `count` since the last alert for this counter and `total` in all; `events-lost`: the `counter` and `stage`; `ebpf-events-lost`: the kernel's failure counters; `audit-records-lost`: the `counter` (where the audit side counted it).",
        "type": "object",
        "properties": {
            "count": count(),
            "total": count(),
            "counter": {},
            "stage": { "type": "string" },
        },
        "required": ["count"],
    })
}

pub(crate) fn cut(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "What the 64 KiB line cap cut: `line_bytes` (the line's real size), `all` (only who and what was kept), and per cut field its real `count` and `bytes` and the bytes `kept`.",
        "type": "object",
        "properties": {
            "line_bytes": count(),
            "all": { "type": "boolean" },
        },
        "required": ["line_bytes"],
    })
}

pub(crate) fn changes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "description": "One package whose state changed during the run.",
            "type": "object",
            "properties": {
                "manager": { "type": "string" },
                "name": { "type": "string" },
                "version": { "type": "string" },
                "previous_version": { "type": "string" },
                "action": strings(&["install", "remove", "upgrade", "downgrade", "reinstall"]),
                "flags": { "type": "array", "items": { "type": "string" } },
                "path": { "type": "string" },
            },
            "required": ["manager", "name", "action"],
        },
    })
}

pub(crate) fn mismatches(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "description": "A package asked for that did not change (`not-changed`) or changed to another version than the one asked for (`other-version`, with `requested_version` and `changed_version`).",
            "type": "object",
            "properties": {
                "kind": strings(&["not-changed", "other-version"]),
                "name": { "type": "string" },
                "requested_version": { "type": "string" },
                "changed_version": { "type": "string" },
            },
            "required": ["kind", "name"],
        },
    })
}

pub(crate) fn state(_: &mut SchemaGenerator) -> Schema {
    let write = object(
        json!({ "rule": { "type": "string" }, "path": { "type": "string" }, "pid": count() }),
        &["rule", "path"],
    );
    json_schema!({
        "description": "Where package state was written (the state witness): `writes` (each place once, with the rule that saw it and the first writer's pid), `unread` (places whose state was not read, and why), `dropped` and `unplaced` counts of writes not kept.",
        "type": "object",
        "properties": {
            "writes": { "type": "array", "items": write },
            "unread": { "type": "array" },
            "dropped": count(),
            "unplaced": count(),
        },
        "required": ["writes"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events.schema.json")
    }

    #[test]
    fn events_schema_file_is_current() {
        let path = committed_path();
        let now = events_schema_text();
        if std::env::var_os("SWMON_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == now,
            "{} is stale: run `SWMON_WRITE_SCHEMA=1 cargo test -p swmon --lib schema` and commit it",
            path.display()
        );
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&events_schema()).unwrap()
    }

    fn errors(v: &jsonschema::Validator, e: &Value) -> Vec<String> {
        v.iter_errors(e).map(|e| e.to_string()).collect()
    }

    #[test]
    fn real_events_are_valid() {
        let v = validator();
        let mut started = crate::run::state_event("h", "monitor-started");
        started.swmon.stages =
            Some(json!({ "writer": { "idle_ms": 3, "queued": 0, "queued_bytes": 0 } }));
        let lost = crate::run::losses::lost_alert("h", "writer_dropped", "writer", 2, 5);
        for e in [started, lost] {
            let e = serde_json::to_value(&e).unwrap();
            assert_eq!(e["ecs"]["version"], crate::event::ECS_VERSION);
            assert_eq!(errors(&v, &e), Vec::<String>::new(), "{e}");
        }
    }

    #[test]
    fn a_wrong_event_fails() {
        let v = validator();
        let good = serde_json::to_value(crate::run::state_event("h", "heartbeat")).unwrap();
        assert!(v.is_valid(&good), "{good}");
        let wrong = |path: &[&str], value: Value| {
            let mut e = good.clone();
            let mut at = &mut e;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = value;
            e
        };
        let cases = [
            (
                "unknown action",
                wrong(&["event", "action"], json!("package-installed")),
            ),
            ("unknown top-level field", wrong(&["extra"], json!(1))),
            (
                "unknown swmon field",
                wrong(&["swmon", "verdikt"], json!("confirmed")),
            ),
            (
                "wrong ECS version",
                wrong(&["ecs", "version"], json!("1.0.0")),
            ),
            (
                "kind outside ECS's",
                wrong(&["event", "kind"], json!("signal")),
            ),
            (
                "pid as a string",
                wrong(&["process"], json!({ "pid": "1" })),
            ),
            (
                "a change without an action",
                wrong(
                    &["swmon", "changes"],
                    json!([{ "manager": "dpkg", "name": "x" }]),
                ),
            ),
            ("a null field", wrong(&["swmon", "verdict"], Value::Null)),
            (
                "a null derived field",
                wrong(&["swmon", "session_id"], Value::Null),
            ),
            (
                "a null name",
                wrong(&["user"], json!({ "audit": { "id": "0", "name": null } })),
            ),
        ];
        for (what, e) in cases {
            assert!(!v.is_valid(&e), "{what}: {e}");
        }
        let mut no_host = good.clone();
        no_host.as_object_mut().unwrap().remove("host");
        assert!(!v.is_valid(&no_host), "host is required");
    }

    #[test]
    fn actions_are_unique() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|(a, _)| *a).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
