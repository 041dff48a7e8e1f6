//! The scenario corpus as data: `tests/scenarios.toml` read into typed
//! scenarios, with its host actions and placeholders checked before
//! anything runs, so a typo fails at once and names the scenario. This is
//! not where scenarios are played (`scenarios.rs`) or judged (`check`).

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// A shell line run at the end whatever happened.
    #[serde(default)]
    pub cleanup: Option<String>,
    /// The catalogue's managers with no scenario, each with why it cannot
    /// be installed offline on the test host (swmon's
    /// `catalogue::tests::every_manager_is_played_or_excused` checks the
    /// two lists cover the catalogue).
    #[serde(default)]
    pub not_installable_offline: BTreeMap<String, String>,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub setup: Option<String>,
    #[serde(default)]
    pub before: Vec<String>,
    pub run: String,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub cleanup: Option<String>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The manager of the runs (or alerts); required but with `no_events`.
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub verdict: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Pure auditd recorded the runs by the seed's key.
    #[serde(default)]
    pub auditd: Option<bool>,
    #[serde(default)]
    pub packages: Option<Vec<Package>>,
    #[serde(default)]
    pub via: Option<String>,
    /// `swmon.scope` of every run, placeholders expanded (`{work}` is the
    /// scenario's folder).
    #[serde(default)]
    pub scope: Option<String>,
    /// The runs carry the container id of the runner's cgroup.
    #[serde(default)]
    pub container: bool,
    /// Runs the line starts (alerts with `state_only`); by default 1, or
    /// 0 with `no_events`. Read it with [`Expect::count`].
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    pub allow_failure: bool,
    /// Each run was decided first `ebpf_only`, then amended by one
    /// `verdict-amended` (`verdict`/`reason` are the amended ones); without
    /// it (the default), a run must have no correction.
    #[serde(default)]
    pub amended: bool,
    /// `swmon.detected_by` of each run or alert, as a set.
    #[serde(default)]
    pub detected_by: Option<Vec<String>>,
    /// `swmon.changes` of each run or alert: exactly these, one each.
    #[serde(default)]
    pub changes: Option<Vec<ChangeWant>>,
    /// The installs are state-only alerts (no installer ran): `event.kind`
    /// alert, `swmon.reason` `no-installer-exec`, `swmon.detected_by`
    /// `["state"]`, by a process of the scenario's shell; no installer run.
    #[serde(default)]
    pub state_only: bool,
    /// `process.name` of each alert: the process that wrote the state.
    #[serde(default)]
    pub writer: Option<String>,
    /// Nothing at all: no run (any verdict, a start event too) and no
    /// state-only alert of the folder or of the shell's processes.
    #[serde(default)]
    pub no_events: bool,
}

impl Expect {
    pub fn count(&self) -> usize {
        self.count.unwrap_or(usize::from(!self.no_events))
    }

    /// It checks the state witness: the scenario's shell's processes may
    /// then raise no state-only alert but those it expects.
    pub fn witness(&self) -> bool {
        self.changes.is_some() || self.detected_by.is_some() || self.state_only || self.no_events
    }
}

/// One expected entry of `swmon.changes`. A field left out is not checked,
/// but for `previous_version`: left out, the change must have none.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeWant {
    pub name: String,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub previous_version: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// Placeholders expanded.
    #[serde(default)]
    pub path: Option<String>,
    /// The change's `sha256` is this file's, hashed by the runner right
    /// after the line (placeholders expanded).
    #[serde(default)]
    pub sha256_of: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// A host action from the fixed set the runner implements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AuditDisable,
    AuditEnable,
    AuditdStop,
    AuditdStart,
    RemoveSeedRule(String),
    RestoreSeedRules,
    EnterCgroup,
    Storm(u64),
    /// An audit rule recording every execve/execveat (key `swmon-scn-all`).
    ExecRuleAll,
    ExecRuleAllRemove,
    /// swmon's audit reader holds exec records (its test-only hold)...
    HoldAuditRecords,
    /// ...and lets them go (then waits for a `verdict-amended`).
    ReleaseAuditRecords,
}

impl Action {
    pub fn parse(s: &str) -> Result<Action> {
        Ok(match s {
            "audit-disable" => Action::AuditDisable,
            "audit-enable" => Action::AuditEnable,
            "auditd-stop" => Action::AuditdStop,
            "auditd-start" => Action::AuditdStart,
            "restore-seed-rules" => Action::RestoreSeedRules,
            "enter-cgroup" => Action::EnterCgroup,
            "exec-rule-all" => Action::ExecRuleAll,
            "exec-rule-all-remove" => Action::ExecRuleAllRemove,
            "hold-audit-records" => Action::HoldAuditRecords,
            "release-audit-records" => Action::ReleaseAuditRecords,
            _ => {
                if let Some(p) = s.strip_prefix("remove-seed-rule:") {
                    if !p.starts_with('/') {
                        bail!("`{s}`: the rule's path must be absolute");
                    }
                    Action::RemoveSeedRule(p.to_owned())
                } else if let Some(n) = s.strip_prefix("storm:") {
                    Action::Storm(n.parse().with_context(|| format!("`{s}`: not a count"))?)
                } else {
                    bail!("unknown host action `{s}`")
                }
            }
        })
    }
}

impl Corpus {
    pub fn load(path: &Path, placeholders: &[&str]) -> Result<Corpus> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let corpus: Corpus =
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        let mut names = BTreeMap::new();
        for (i, s) in corpus.scenarios.iter().enumerate() {
            if let Some(first) = names.insert(s.name.as_str(), i) {
                bail!("scenarios {first} and {i} are both named `{}`", s.name);
            }
            let lines = [Some(&s.run), s.setup.as_ref(), s.cleanup.as_ref()];
            for line in lines.into_iter().flatten() {
                expand(line, &|_| Some(String::new()), placeholders)
                    .with_context(|| format!("scenario `{}`", s.name))?;
            }
            for a in s.before.iter().chain(&s.after) {
                Action::parse(a).with_context(|| format!("scenario `{}`", s.name))?;
            }
            let e = &s.expect;
            if e.reason.is_some() && e.verdict.is_none() {
                bail!("scenario `{}`: a reason needs a verdict", s.name);
            }
            if e.manager.is_none() && !e.no_events {
                bail!(
                    "scenario `{}`: no manager (only `no_events` needs none)",
                    s.name
                );
            }
            if e.no_events && (e.count() != 0 || e.state_only || e.changes.is_some()) {
                bail!(
                    "scenario `{}`: `no_events` wants nothing: no count, state_only or changes",
                    s.name
                );
            }
            if e.writer.is_some() && !e.state_only {
                bail!("scenario `{}`: `writer` is a state-only alert's", s.name);
            }
            let fields = e
                .changes
                .iter()
                .flatten()
                .flat_map(|c| [Some(&c.name), c.path.as_ref(), c.sha256_of.as_ref()]);
            for f in fields.flatten() {
                expand(f, &|_| Some(String::new()), placeholders)
                    .with_context(|| format!("scenario `{}`", s.name))?;
            }
        }
        Ok(corpus)
    }
}

/// Replaces `{name}` placeholders; `{` followed by anything but a known
/// lowercase name is left as it is (JSON, `${x}`), an unknown name is an
/// error.
pub fn expand(
    line: &str,
    value: &dyn Fn(&str) -> Option<String>,
    known: &[&str],
) -> Result<String> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let closed = after[name_len..].starts_with('}');
        let preceded_by_dollar = out.ends_with('$');
        if name.is_empty() || !closed || preceded_by_dollar {
            out.push('{');
            rest = after;
            continue;
        }
        if !known.contains(&name) {
            bail!("unknown placeholder {{{name}}} in `{line}`");
        }
        out.push_str(&value(name).with_context(|| format!("no value for {{{name}}}"))?);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_and_json_is_left_alone() {
        let v = |n: &str| Some(format!("<{n}>"));
        let known = ["deb", "work"];
        assert_eq!(
            expand("dpkg -i {deb} && cd {work}", &v, &known).unwrap(),
            "dpkg -i <deb> && cd <work>"
        );
        assert_eq!(
            expand(r#"printf '{"a":"{deb}"}' ${HOME} {}"#, &v, &known).unwrap(),
            r#"printf '{"a":"<deb>"}' ${HOME} {}"#
        );
        assert!(expand("{dbe}", &v, &known).is_err());
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse("storm:5000").unwrap(), Action::Storm(5000));
        assert_eq!(
            Action::parse("release-audit-records").unwrap(),
            Action::ReleaseAuditRecords
        );
        assert_eq!(
            Action::parse("remove-seed-rule:/usr/bin/dpkg").unwrap(),
            Action::RemoveSeedRule("/usr/bin/dpkg".into())
        );
        assert!(Action::parse("remove-seed-rule:dpkg").is_err());
        assert!(Action::parse("reboot").is_err());
    }

    #[test]
    fn the_corpus_loads() {
        let path = crate::root().join("tests/scenarios.toml");
        let c = Corpus::load(&path, super::super::PLACEHOLDERS).unwrap();
        assert!(c.scenarios.len() >= 30, "{}", c.scenarios.len());
    }

    /// Every scenario that plays a run says which packages and which way
    /// (`via`) swmon must report: an expectation that leaves them out
    /// passes whatever swmon names. A state-only alert has no argv to read
    /// packages from: it says what changed and who wrote it.
    #[test]
    fn every_scenario_checks_packages_and_via() {
        let path = crate::root().join("tests/scenarios.toml");
        let c = Corpus::load(&path, super::super::PLACEHOLDERS).unwrap();
        let unchecked: Vec<&str> = c
            .scenarios
            .iter()
            .filter(|s| s.expect.count() > 0)
            .filter(|s| {
                if s.expect.state_only {
                    s.expect.changes.is_none() || s.expect.writer.is_none()
                } else {
                    s.expect.packages.is_none() || s.expect.via.is_none()
                }
            })
            .map(|s| s.name.as_str())
            .collect();
        assert!(
            unchecked.is_empty(),
            "scenarios that check no packages or no via: {unchecked:?}"
        );
    }

    /// Each case of the state witness (issue 11) has its scenario.
    #[test]
    fn the_state_witness_is_played() {
        let path = crate::root().join("tests/scenarios.toml");
        let c = Corpus::load(&path, super::super::PLACEHOLDERS).unwrap();
        let e = |f: &dyn Fn(&Expect) -> bool| c.scenarios.iter().filter(|s| f(&s.expect)).count();
        assert!(e(&|x| x.state_only) >= 2);
        assert!(e(&|x| x.no_events) >= 4);
        let upgrades = e(&|x| {
            x.changes
                .iter()
                .flatten()
                .any(|c| c.previous_version.is_some())
        });
        assert!(upgrades >= 1);
        let pairs = e(&|x| x.changes.as_ref().is_some_and(|c| c.len() >= 2));
        assert!(pairs >= 2);
    }
}
