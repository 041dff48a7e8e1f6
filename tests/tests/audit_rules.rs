//! swmon's audit rules on the real kernel: `swmon rules install --set seed`
//! loads exactly the seed (as `auditctl -l` shows it), `swmon rules remove`
//! takes exactly that away, a foreign rule survives both, and a refusal says
//! which rule and why.

mod audit_common;

use std::{path::Path, process::Command};

use audit_common::{auditctl, auditctl_rules, key, HostAudit};
use serde_json::Value;
use swmon::audit::{
    netlink::ControlSocket,
    rules::{self, AuditRule, FieldValue, RuleField},
    AuditError,
};
use tests::swmon_bin;

fn swmon(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(swmon_bin())
        .args(args)
        .output()
        .expect("run swmon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn swmon_ok(args: &[&str]) -> String {
    let (ok, out, err) = swmon(args);
    assert!(ok, "swmon {args:?} failed: {err}");
    out
}

fn seed_texts() -> Vec<(String, bool)> {
    let report: Value =
        serde_json::from_str(&swmon_ok(&["rules", "show", "--set", "seed", "--json"]))
            .expect("json");
    report["set"]
        .as_array()
        .expect("set")
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().expect("rule").to_owned(),
                r["loaded"].as_bool().expect("loaded"),
            )
        })
        .collect()
}

#[test]
fn seed_install_and_remove_round_trip_through_auditctl() {
    let _host = HostAudit::save();
    let seed = seed_texts();
    assert!(
        seed.iter().all(|(_, loaded)| !loaded),
        "seed rules are already loaded on this host; remove them first: {seed:?}"
    );
    let seed: Vec<String> = seed.into_iter().map(|(r, _)| r).collect();
    // dpkg is on every Debian host; its seed rule is what auditd's
    // 44-installers.rules would load, with the arch.
    assert!(
        seed.contains(
            &"-a always,exit -F arch=b64 -S all -F perm=x -F path=/usr/bin/dpkg -F key=software-installer"
                .to_owned()
        ),
        "{seed:#?}"
    );

    let foreign_key = key("foreign");
    let foreign =
        format!("-a always,exit -F arch=b64 -S sethostname,setdomainname -F key={foreign_key}");
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "sethostname,setdomainname",
        "-F",
        &format!("key={foreign_key}"),
    ]);
    let before = auditctl_rules();
    assert!(before.contains(&foreign), "{before:#?}");

    let out = swmon_ok(&["rules", "install", "--set", "seed", "--json"]);
    let done: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(done["added"].as_array().expect("added").len(), seed.len());
    let after = auditctl_rules();
    let mut want = before.clone();
    want.extend(seed.iter().cloned());
    assert_eq!(
        after, want,
        "auditctl -l shows exactly the seed, added after what was there"
    );

    // Installing again adds nothing.
    let again: Value =
        serde_json::from_str(&swmon_ok(&["rules", "install", "--json"])).expect("json");
    assert_eq!(again["added"].as_array().expect("added").len(), 0);
    assert_eq!(
        again["present"].as_array().expect("present").len(),
        seed.len()
    );
    assert!(
        swmon_ok(&["rules", "show", "--set", "seed"]).contains(&format!(
            "rule set: {} rules, {} loaded",
            seed.len(),
            seed.len()
        ))
    );

    let removed: Value =
        serde_json::from_str(&swmon_ok(&["rules", "remove", "--json"])).expect("json");
    assert_eq!(
        removed["removed"].as_array().expect("removed").len(),
        seed.len()
    );
    assert_eq!(
        auditctl_rules(),
        before,
        "only the seed went, the foreign rule stayed"
    );
    let none: Value =
        serde_json::from_str(&swmon_ok(&["rules", "remove", "--json"])).expect("json");
    assert_eq!(none["removed"].as_array().expect("removed").len(), 0);

    auditctl(&[
        "-d",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "sethostname,setdomainname",
        "-F",
        &format!("key={foreign_key}"),
    ]);
    assert!(!auditctl_rules().contains(&foreign));
}

#[test]
fn remove_leaves_a_rule_that_differs_only_in_its_key() {
    let _host = HostAudit::save();
    let mine = key("lookalike");
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-F",
        "perm=x",
        "-F",
        "path=/usr/bin/dpkg",
        "-F",
        &format!("key={mine}"),
    ]);
    let before = auditctl_rules();
    swmon_ok(&["rules", "remove"]);
    assert_eq!(auditctl_rules(), before);
}

#[test]
fn the_library_lists_what_auditctl_added_in_the_same_text() {
    let _host = HostAudit::save();
    let k = key("listing");
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-F",
        "perm=x",
        "-F",
        "exe=/usr/bin/dpkg",
        "-F",
        "auid>=1000",
        "-F",
        "auid!=unset",
        "-F",
        &format!("key={k}"),
    ]);
    let mut ctl = ControlSocket::open().expect("control socket");
    let ours: Vec<String> = rules::list_rules(&mut ctl)
        .expect("list")
        .iter()
        .filter(|r| r.keys().iter().any(|x| x == k.as_bytes()))
        .map(ToString::to_string)
        .collect();
    let theirs: Vec<String> = auditctl_rules()
        .into_iter()
        .filter(|l| l.ends_with(&format!("key={k}")))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 1);
}

#[test]
fn a_refused_rule_names_the_rule_and_the_reason() {
    let _host = HostAudit::save();
    let mut ctl = ControlSocket::open().expect("control socket");
    // arch= compares only with = and != (audit_field_valid).
    let mut bad = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), &key("refused"));
    bad.fields[0] = RuleField {
        field: 11,
        op: rules::op::GREATER_THAN,
        value: FieldValue::Num(0xC000_003E),
    };
    let e = rules::add_rule(&mut ctl, &bad).expect_err("the kernel refuses arch>");
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("adding rule `-a always,exit -F arch>b64 -S all"),
        "{msg}"
    );
    assert!(msg.contains("path=/usr/bin/dpkg"), "{msg}");
    assert!(msg.contains("Invalid argument"), "{msg}");

    let missing =
        AuditRule::exec_watch(Path::new("/nonexistent-swmon-folder/dpkg"), &key("refused"));
    let e = rules::add_rule(&mut ctl, &missing).expect_err("no such folder");
    assert!(
        matches!(e, AuditError::Refused { .. }) && e.to_string().contains("does not exist"),
        "{e}"
    );

    let absent = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), &key("never-added"));
    let e = rules::delete_rule(&mut ctl, &absent).expect_err("not loaded");
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("no such rule is loaded"), "{e}");
}

#[test]
fn rules_says_it_needs_cap_audit_control() {
    // setpriv comes with util-linux, on every Debian host.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(swmon_bin())
        .args(["rules", "show"])
        .output()
        .expect("run setpriv");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Capabilities, not uid 0: the message names the one it lacks.
    assert!(err.contains("needs CAP_AUDIT_CONTROL"), "{err}");
}
