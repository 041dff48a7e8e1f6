//! `cargo xtask scenarios`: the scenario corpus of `tests/scenarios.toml`
//! played on this host. A private auditd with the seed rules and `swmon run
//! --audit-rules seed` watch every scenario; then both stop, `swmon report`
//! compares swmon's events with auditd's log, and each scenario's runs (found
//! by their working folder; state-only alerts, which have none, by the
//! scenario shell's processes) are checked against what the corpus
//! expects. The table is printed and kept in `target/scenarios/summary.md`
//! beside the report (`report.{md,html,json}`); any miss fails the task.
//!
//! It drives the real `target/release/swmon` and reads its JSON; it does not
//! link the swmon crate, so xtask builds without the eBPF toolchain. The host
//! is left as it was: packages purged, globals uninstalled, the enabled flag
//! and backlog put back, the seed rules and cgroups removed, and the only
//! processes stopped are the runner's own, by pid.

mod artifacts;
mod check;
mod corpus;
pub(crate) mod host;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use self::{
    check::{Line, Played, Row},
    corpus::{Action, Corpus, Scenario},
    host::{Auditd, HostGuard, Monitor, Storm},
};
use crate::root;

/// The placeholders a scenario's lines may use.
pub const PLACEHOLDERS: &[&str] = &[
    "deb",
    "debnew",
    "debtop",
    "debdep",
    "tooltar",
    "rpm",
    "wheels",
    "sdist",
    "tgz",
    "yarn",
    "pnpm",
    "crate",
    "venv",
    "gem",
    "goproxy",
    "cpan",
    "cpanconfig",
    "composer",
    "pacman",
    "nix",
    "flatpak",
    "work",
    "prep",
    "artifacts",
];

/// swmon's audit wait: short, so ebpf_only verdicts come out quickly.
const AUDIT_WAIT_MS: u64 = 1000;
/// How long one shell line may run.
const LINE_DEADLINE: Duration = Duration::from_secs(180);
/// How long a scenario's runs may take to be decided after its line ends.
const DECIDE_DEADLINE: Duration = Duration::from_secs(20);
const SEED_KEY: &str = "software-installer";

#[derive(Default, clap::Args)]
pub struct Options {
    /// Play only the scenarios whose name contains this (repeatable).
    #[arg(long)]
    only: Vec<String>,
}

/// Where everything goes: `target/scenarios`.
struct Paths {
    base: PathBuf,
    swmon: PathBuf,
    events: PathBuf,
    logs: PathBuf,
    /// While it exists, swmon's audit reader holds exec records (the
    /// test-only `--test-hold-audit-while`).
    hold: PathBuf,
}

pub fn run(options: &Options) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the scenario corpus needs root (audit control, BPF, package installs)");
    }
    let started = Instant::now();
    let target = root().join("target");
    let base = target.join("scenarios");
    let paths = Paths {
        swmon: target.join("release/swmon"),
        events: base.join("events.jsonl"),
        logs: base.join("logs"),
        hold: base.join("hold-audit-records"),
        base,
    };
    if !paths.swmon.exists() {
        bail!(
            "{} is missing: `cargo build --release -p swmon` first",
            paths.swmon.display()
        );
    }
    let mut corpus = Corpus::load(&root().join("tests/scenarios.toml"), PLACEHOLDERS)?;
    if !options.only.is_empty() {
        corpus
            .scenarios
            .retain(|s| options.only.iter().any(|o| s.name.contains(o.as_str())));
        if corpus.scenarios.is_empty() {
            bail!("no scenario matches {:?}", options.only);
        }
    }
    for d in ["work", "prep", "logs", "cleanup"] {
        let _ = fs::remove_dir_all(paths.base.join(d));
        fs::create_dir_all(paths.base.join(d))?;
    }
    eprintln!("xtask: building the corpus's packages");
    let built = Instant::now();
    let artifacts = artifacts::build(&paths.base.join("artifacts"))?;
    eprintln!(
        "xtask: built the corpus's packages in {:.1} s",
        built.elapsed().as_secs_f64()
    );

    let mut guard = HostGuard::save(paths.swmon.clone())?;
    guard.prepare()?;
    let played = play(&corpus, &paths, &artifacts, &mut guard);
    // Whatever happened, nothing the corpus installed stays.
    if let Some(line) = &corpus.cleanup {
        let env = env(&artifacts);
        let _ = host::shell(
            line,
            &paths.base.join("cleanup"),
            &env,
            &paths.logs.join("cleanup.log"),
            LINE_DEADLINE,
        );
    }
    drop(guard);
    let (played, audit_logs) = played?;

    eprintln!("xtask: swmon report");
    for (format, file) in [
        ("json", "report.json"),
        ("md", "report.md"),
        ("html", "report.html"),
    ] {
        let mut cmd = Command::new(&paths.swmon);
        cmd.args(["report", "--events"]).arg(&paths.events);
        for l in &audit_logs {
            cmd.arg("--audit-log").arg(l);
        }
        cmd.args(["--format", format, "--output"])
            .arg(paths.base.join(file));
        let out = cmd.output().context("run swmon report")?;
        if !out.status.success() {
            bail!(
                "swmon report --format {format} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let report: Value = serde_json::from_str(
        &fs::read_to_string(paths.base.join("report.json")).context("read report.json")?,
    )
    .context("parse report.json")?;
    let by_line = check::report_by_line(&report, &paths.events);
    let mut lines = numbered(&paths.events);
    check::apply_amendments(&mut lines);

    let mut rows: Vec<Row> = corpus
        .scenarios
        .iter()
        .zip(&played)
        .map(|(sc, p)| {
            let runs = check::runs_in(&lines, &p.dir, p.window, p.shell.as_ref());
            check::judge(sc, p, &runs, &by_line)
        })
        .collect();
    rows.push(unseen_row(&report));
    rows.push(schema_row(&paths.events));
    let table = check::table(&rows);
    let misses = rows.iter().filter(|r| !r.misses.is_empty()).count();
    let counters = lines
        .iter()
        .rev()
        .find(|l| host::action(&l.event) == "monitor-stopped")
        .map(|l| l.event["swmon"]["counters"].to_string())
        .unwrap_or_else(|| "(no monitor-stopped event)".into());
    let excused: String = corpus
        .not_installable_offline
        .iter()
        .map(|(m, why)| format!("- {m}: {why}\n"))
        .collect();
    let summary = format!(
        "# swmon scenario corpus\n\n{} scenarios, {misses} missed, {:.0} s; swmon's audit wait {AUDIT_WAIT_MS} ms.\n\
         Pure auditd: a private auditd with the seed rules (key `{SEED_KEY}`). Reports: \
         `report.html`, `report.md`, `report.json` beside this file.\n\n{table}\n\
         Managers of the catalogue not played (not installable offline here):\n\n{excused}\n\
         swmon's counters at stop: `{counters}`\n",
        corpus.scenarios.len(),
        started.elapsed().as_secs_f64()
    );
    fs::write(paths.base.join("summary.md"), &summary)?;
    println!("{table}");
    println!(
        "scenarios: {} played, {misses} missed, {:.0} s; report in {}",
        corpus.scenarios.len(),
        started.elapsed().as_secs_f64(),
        paths.base.join("report.html").display()
    );
    if misses > 0 {
        bail!("{misses} scenario rows missed their expectation (target/scenarios/summary.md)");
    }
    Ok(())
}

/// swmon's events with their line numbers (bad lines skipped; the report
/// names them).
fn numbered(path: &Path) -> Vec<Line> {
    host::read_lines(path)
        .into_iter()
        .enumerate()
        .map(|(i, event)| Line { no: i + 1, event })
        .filter(|l| !l.event.is_null())
        .collect()
}

/// Every line swmon wrote follows the events schema.
fn schema_row(path: &Path) -> Row {
    let lines = host::read_lines(path);
    let misses = check::schema_misses(&lines);
    Row {
        name: "(every event follows docs/events.schema.json)".into(),
        swmon: format!(
            "{}/{}",
            lines.len() - misses.len().min(lines.len()),
            lines.len()
        ),
        auditd: "-".into(),
        verdict: "-".into(),
        expected: "all valid".into(),
        misses,
        note: None,
    }
}

/// Runs pure auditd recorded that swmon never wrote: the kernel stream
/// lost them. The corpus wants none.
fn unseen_row(report: &Value) -> Row {
    let unseen: Vec<String> = report["runs"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .filter(|r| r["swmon"]["seen"].as_bool() == Some(false))
                .map(|r| {
                    format!(
                        "pid {} {}",
                        r["pid"],
                        r["executable"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let total = report["summary"]["runs"].as_u64().unwrap_or(0);
    Row {
        name: "(every run in auditd's log)".into(),
        swmon: format!("{}/{total}", total.saturating_sub(unseen.len() as u64)),
        auditd: report["summary"]["recorded_by_auditd"].to_string(),
        verdict: "-".into(),
        expected: "swmon saw all".into(),
        misses: unseen.iter().map(|u| format!("swmon missed {u}")).collect(),
        note: None,
    }
}

/// The environment of every shell line: the system's PATH (so `pip3` is
/// Debian's, not a pyenv shim), no prompts, no update checks.
fn env(artifacts: &artifacts::Artifacts) -> Vec<(&'static str, String)> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mut env = vec![
        (
            "PATH",
            format!(
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{home}/.cargo/bin"
            ),
        ),
        ("HOME", home),
        ("LANG", "C.UTF-8".into()),
        ("TERM", "dumb".into()),
        ("DEBIAN_FRONTEND", "noninteractive".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1".into()),
        ("PIP_NO_INPUT", "1".into()),
        ("npm_config_update_notifier", "false".into()),
    ];
    if let Some(a) = artifacts.get("artifacts") {
        env.push((
            "CARGO_TARGET_DIR",
            a.join("cargo-target").display().to_string(),
        ));
    }
    for k in ["RUSTUP_HOME", "CARGO_HOME"] {
        if let Ok(v) = std::env::var(k) {
            env.push((k, v));
        }
    }
    env
}

/// Starts auditd and swmon, plays every scenario, stops both. Returns what
/// playing each left, and auditd's logs.
fn play(
    corpus: &Corpus,
    paths: &Paths,
    artifacts: &artifacts::Artifacts,
    guard: &mut HostGuard,
) -> Result<(Vec<Played>, Vec<PathBuf>)> {
    let mut auditd = Auditd::new(&paths.base.join("auditd"))?;
    auditd.start()?;
    let _ = fs::remove_file(&paths.hold);
    let hold = paths.hold.display().to_string();
    let mut monitor = Monitor::start(
        &paths.swmon,
        &paths.events,
        &[
            "--audit-rules",
            "seed",
            "--audit-wait-ms",
            &AUDIT_WAIT_MS.to_string(),
            // Holds nothing until a scenario makes the file.
            "--test-hold-audit-while",
            &hold,
        ],
        &[("SWMON_TEST_ONLY", "hold-audit")],
        &paths.base.join("swmon.err"),
    )?;
    let env = env(artifacts);
    let mut played = Vec::new();
    for (i, sc) in corpus.scenarios.iter().enumerate() {
        eprintln!("xtask: scenario {:02} {}", i + 1, sc.name);
        let work = paths.base.join(format!("work/{:02}", i + 1));
        let prep = paths.base.join(format!("prep/{:02}", i + 1));
        fs::create_dir_all(&work)?;
        fs::create_dir_all(&prep)?;
        let work = fs::canonicalize(&work)?;
        let mut ctx = Ctx {
            sc,
            work: &work,
            prep: &prep,
            env: &env,
            artifacts,
            log: paths.logs.join(format!("{:02}.log", i + 1)),
            monitor: &monitor,
            auditd: &mut auditd,
            guard,
            swmon: &paths.swmon,
            hold: &paths.hold,
        };
        let mut p = ctx.play();
        eprintln!("xtask: scenario {:02} took {:.1} s", i + 1, p.seconds);
        // A scenario that failed before its release leaves nothing held.
        let _ = fs::remove_file(&paths.hold);
        p.dir = work;
        played.push(p);
    }
    monitor.stop()?;
    auditd.stop();
    let mut logs = vec![auditd.log.clone()];
    let rotated = auditd.log.with_extension("log.1");
    if rotated.exists() {
        logs.insert(0, rotated);
    }
    Ok((played, logs))
}

/// One scenario being played.
struct Ctx<'a> {
    sc: &'a Scenario,
    work: &'a Path,
    prep: &'a Path,
    env: &'a [(&'static str, String)],
    artifacts: &'a artifacts::Artifacts,
    log: PathBuf,
    monitor: &'a Monitor,
    auditd: &'a mut Auditd,
    guard: &'a mut HostGuard,
    swmon: &'a Path,
    hold: &'a Path,
}

/// What a `before` action leaves for the line.
#[derive(Default)]
struct During {
    cgroup: Option<(PathBuf, String)>,
    storm: Option<Storm>,
}

impl Ctx<'_> {
    fn expand(&self, line: &str) -> Result<String> {
        let value = |name: &str| match name {
            "work" => Some(self.work.display().to_string()),
            "prep" => Some(self.prep.display().to_string()),
            other => self.artifacts.get(other).map(|p| p.display().to_string()),
        };
        corpus::expand(line, &value, PLACEHOLDERS)
    }

    fn shell(&self, line: &str, cwd: &Path) -> Result<host::Ran> {
        host::shell(&self.expand(line)?, cwd, self.env, &self.log, LINE_DEADLINE)
    }

    fn play(&mut self) -> Played {
        let started = Instant::now();
        let mut p = Played::default();
        match self
            .sc
            .expect
            .scope
            .as_deref()
            .map(|s| self.expand(s))
            .transpose()
        {
            Ok(scope) => p.scope = scope,
            Err(e) => p.problems.push(format!("scope: {e:#}")),
        }
        // Package names may name a placeholder too (`cargo install --path
        // {crate}` names the folder).
        if let Some(want) = &self.sc.expect.packages {
            match want
                .iter()
                .map(|w| Ok((self.expand(&w.name)?, w.version.clone())))
                .collect::<Result<Vec<_>>>()
            {
                Ok(packages) => p.packages = Some(packages),
                Err(e) => p.problems.push(format!("packages: {e:#}")),
            }
        }
        if let Some(want) = &self.sc.expect.changes {
            let expanded = want
                .iter()
                .map(|w| {
                    let opt = |f: &Option<String>| f.as_deref().map(|f| self.expand(f)).transpose();
                    Ok(corpus::ChangeWant {
                        name: self.expand(&w.name)?,
                        path: opt(&w.path)?,
                        sha256_of: opt(&w.sha256_of)?,
                        ..w.clone()
                    })
                })
                .collect::<Result<Vec<_>>>();
            match expanded {
                Ok(c) => p.changes = Some(c),
                Err(e) => p.problems.push(format!("changes: {e:#}")),
            }
        }
        if let Some(setup) = &self.sc.setup {
            match self.shell(setup, self.prep) {
                Ok(r) if r.ok() => {}
                Ok(r) => p.problems.push(format!("setup failed: {}", r.describe())),
                Err(e) => p.problems.push(format!("setup: {e:#}")),
            }
        }
        let mut during = During::default();
        for a in &self.sc.before {
            if let Err(e) = self.act(a, &mut during) {
                p.problems.push(format!("{a}: {e:#}"));
            }
        }
        p.container_id = during.cgroup.as_ref().map(|(_, id)| id.clone());
        let first = self.monitor.lines().len();
        let line = self.expand(&self.sc.run).and_then(|line| {
            let line = match &during.cgroup {
                // The shell moves itself into the cgroup, then becomes the
                // scenario's shell (same pid, same folder).
                Some((scope, _)) => format!(
                    "echo $$ > {} && exec /bin/sh -c {}",
                    quote(&scope.join("cgroup.procs").display().to_string()),
                    quote(&line)
                ),
                None => line,
            };
            host::shell(&line, self.work, self.env, &self.log, LINE_DEADLINE)
        });
        match line {
            Ok(r) => {
                p.shell = Some(r.shell);
                if !r.ok() {
                    p.failed = Some(format!("{} after {:.1} s", r.describe(), r.seconds));
                }
            }
            Err(e) => p.failed = Some(format!("{e:#}")),
        }
        // What the line installed, hashed before anything else runs (the
        // cleanup removes it).
        for file in p
            .changes
            .iter()
            .flatten()
            .filter_map(|c| c.sha256_of.clone())
        {
            let h = host::sha256(Path::new(&file)).map_err(|e| format!("{e:#}"));
            p.hashes.insert(file, h);
        }
        if let Some(storm) = during.storm.take() {
            let (n, failed) = storm.finish();
            p.note = Some(format!("{n} execs of /bin/true beside it"));
            if failed > 0 {
                p.problems
                    .push(format!("{failed} of the storm's execs failed"));
            }
        }
        if let Some((scope, _)) = &during.cgroup {
            let _ = fs::remove_dir(scope);
        }
        // The runs are decided (an ebpf_only one after swmon's audit wait)
        // before the host changes back.
        // A state-only alert comes once its writer has been quiet a while;
        // its file is read then, so the cleanup waits for it too.
        let want = self.sc.expect.count();
        let decided = host::wait_until("the scenario's runs", DECIDE_DEADLINE, || {
            let lines = numbered(&self.monitor.events);
            let runs = check::runs_in(&lines, self.work, (0, 0), p.shell.as_ref());
            check::counted(&runs, &self.sc.expect) >= want
        });
        if let Err(e) = decided {
            p.problems.push(format!("{e:#}"));
        }
        p.window = (first, self.monitor.lines().len());
        for a in &self.sc.after {
            if let Err(e) = self.act(a, &mut during) {
                p.problems.push(format!("{a}: {e:#}"));
            }
        }
        if let Some(cleanup) = &self.sc.cleanup {
            // Cleanup may find nothing to remove (an install that failed).
            let _ = self.shell(cleanup, self.prep);
        }
        p.seconds = started.elapsed().as_secs_f64();
        p
    }

    /// Does a host action and waits until swmon has seen it.
    fn act(&mut self, action: &str, during: &mut During) -> Result<()> {
        let from = self.monitor.lines().len();
        match Action::parse(action)? {
            Action::AuditDisable => {
                host::auditctl(&["-e", "0"])?;
                self.monitor.wait_action("audit-disabled", from)
            }
            Action::AuditEnable => {
                host::auditctl(&["-e", "1"])?;
                self.monitor.wait_action("audit-enabled", from)
            }
            Action::AuditdStop => {
                self.auditd.stop();
                self.monitor.wait_action("auditd-stopped", from)
            }
            Action::AuditdStart => {
                self.auditd.start()?;
                self.monitor.wait_action("auditd-started", from)
            }
            Action::RemoveSeedRule(path) => {
                host::auditctl(&[
                    "-d",
                    "always,exit",
                    "-F",
                    "arch=b64",
                    "-S",
                    "all",
                    "-F",
                    "perm=x",
                    "-F",
                    &format!("path={path}"),
                    "-F",
                    &format!("key={SEED_KEY}"),
                ])?;
                self.monitor.wait_action("audit-rules-removed", from)
            }
            Action::RestoreSeedRules => {
                let out = Command::new(self.swmon)
                    .args(["rules", "install", "--set", "seed"])
                    .output()
                    .context("run swmon rules install")?;
                if !out.status.success() {
                    bail!(
                        "swmon rules install failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                Ok(())
            }
            Action::EnterCgroup => {
                // Where a runtime puts it: right under `system.slice` (swmon
                // trusts a container id only there, where users cannot make
                // cgroups). The slice is made, and removed, only if this
                // host has none (no systemd).
                let id = "5c4e0a10".repeat(8);
                let slice = host::cgroup2_root()?.join("system.slice");
                let scope = slice.join(format!("docker-{id}.scope"));
                let made_slice = !slice.exists();
                fs::create_dir_all(&scope)
                    .with_context(|| format!("create {}", scope.display()))?;
                let made: Vec<&PathBuf> = if made_slice {
                    vec![&slice, &scope]
                } else {
                    vec![&scope]
                };
                for d in made {
                    if !self.guard.cgroups.contains(d) {
                        self.guard.cgroups.push(d.clone());
                    }
                }
                during.cgroup = Some((scope, id));
                Ok(())
            }
            Action::Storm(n) => {
                during.storm = Some(Storm::start(n, self.prep));
                Ok(())
            }
            Action::HoldAuditRecords => fs::write(self.hold, "").context("make the hold file"),
            Action::ReleaseAuditRecords => {
                fs::remove_file(self.hold).context("remove the hold file")?;
                self.monitor.wait_action("verdict-amended", from)
            }
            Action::ExecRuleAll => self.add_rule(EXEC_ALL_RULE),
            Action::ExecRuleAllRemove => self.delete_rule(EXEC_ALL_RULE),
        }
    }

    fn add_rule(&mut self, rule: &[&str]) -> Result<()> {
        let args: Vec<&str> = std::iter::once("-a").chain(rule.iter().copied()).collect();
        host::auditctl(&args)?;
        self.guard
            .rules
            .push(rule.iter().map(|a| (*a).to_owned()).collect());
        Ok(())
    }

    fn delete_rule(&mut self, rule: &[&str]) -> Result<()> {
        let args: Vec<&str> = std::iter::once("-d").chain(rule.iter().copied()).collect();
        host::auditctl(&args)?;
        self.guard
            .rules
            .retain(|r| !r.iter().map(String::as_str).eq(rule.iter().copied()));
        Ok(())
    }
}

/// `exec-rule-all`: every execve and execveat, as a host might log them.
const EXEC_ALL_RULE: &[&str] = &[
    "always,exit",
    "-F",
    "arch=b64",
    "-S",
    "execve,execveat",
    "-F",
    "key=swmon-scn-all",
];

/// Single-quotes a string for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
