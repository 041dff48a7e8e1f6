//! `swmon run`'s config file: `/etc/swmon/swmon.toml`, or the file
//! `--config PATH` names. One table, `[run]`, whose keys are the long names
//! of `swmon run`'s options exactly as on the command line (`output`,
//! `installer-dir`, `restore-rules`, ...).
//!
//! Nothing here names an option. Each key is looked up in clap's own
//! definition of the command; its TOML value becomes the argument strings
//! the command line would carry, checked against what the option takes (a
//! flag takes `true` or `false`, a repeatable option an array, an option
//! whose value clap parses as a number an integer, any other a string);
//! clap's own parser then checks the value, alone, so an error names the
//! file, line and key. An option added to `swmon run` later works from the
//! file with no code here. Options given on the command line override the
//! file's (for a repeatable option, the command line's list replaces the
//! file's). Hidden options (test-only ones, `--test-hold-audit-while`) and
//! `config` itself are refused from the file.
//!
//! The default file missing means no config file; a `--config` file
//! missing, a file that is not UTF-8 or not TOML, or one others may write
//! (its owner not root nor swmon's user, or writable by group or others)
//! is an error. SIGHUP reads the file again ([`RunConfig::reload`]) and
//! says what changed, which of it the monitor applied and which needs a
//! restart.

use std::{
    collections::BTreeMap,
    ffi::{OsStr, OsString},
    io::Read,
    path::{Path, PathBuf},
};

use clap::{parser::ValueSource, Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};
use toml::de::{DeTable, DeValue};

/// The config file read when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/swmon/swmon.toml";
/// The subcommand the file configures, and its table.
pub const TABLE: &str = "run";
/// The long name of the option that names the file.
pub const CONFIG_OPTION: &str = "config";
/// A config file larger than this is refused.
const MAX_BYTES: u64 = 1 << 20;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: can't read it: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("{path}:{line}: {what}")]
    Syntax {
        path: String,
        line: usize,
        what: String,
    },
    #[error("{path}:{line}: key `{key}`: {what}")]
    Key {
        path: String,
        line: usize,
        key: String,
        what: String,
    },
    #[error("{path}: the file's options together with the command line's: {what}")]
    Merged { path: String, what: String },
}

/// Why [`parse`] did not give a command line.
#[derive(Debug)]
pub enum ParseFailure {
    /// The command line itself (or `--help`, `--version`): clap says it.
    Clap(clap::Error),
    Config(ConfigError),
}

impl ParseFailure {
    /// Prints the failure and ends the process, as clap does: clap's own
    /// exit status for the command line, 1 for a config file.
    pub fn exit(self) -> ! {
        match self {
            ParseFailure::Clap(e) => e.exit(),
            ParseFailure::Config(e) => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "swmon: {}",
                    crate::sink::terminal_safe(&e.to_string())
                );
                std::process::exit(1)
            }
        }
    }
}

/// One key of the file, as the arguments it stands for.
#[derive(Clone, Debug)]
struct Given {
    long: String,
    id: clap::Id,
    args: Vec<OsString>,
}

/// The config file of a `swmon run`, kept for SIGHUP: where it is, the
/// command line it is merged with, and the option values in force.
#[derive(Clone, Debug)]
pub struct RunConfig {
    run: Command,
    path: PathBuf,
    explicit: bool,
    /// `swmon run`'s arguments as given on the command line.
    command_line: Vec<OsString>,
    /// The options the command line gave (by id): the file's are not used.
    from_command_line: Vec<clap::Id>,
    /// The file's keys in use, and those the command line overrode.
    used: Vec<String>,
    overridden: Vec<String>,
    loaded: bool,
    /// Each option's values as the monitor runs with them (long name).
    running: BTreeMap<String, Vec<OsString>>,
}

/// What a reload found: each option whose value in the file (with the
/// command line) differs from the running one.
#[derive(Clone, Debug, Default)]
pub struct Reload {
    pub applied: Vec<Change>,
    pub needs_restart: Vec<Change>,
    /// The file's keys now in use (an empty list: no file).
    pub keys: Vec<String>,
    pub loaded: bool,
}

/// One option's running value and its value from the file.
#[derive(Clone, Debug)]
pub struct Change {
    pub key: String,
    pub running: Value,
    pub configured: Value,
    /// The configured values as clap holds them (its defaults included).
    pub values: Vec<OsString>,
}

impl Change {
    fn json(&self) -> Value {
        json!({ "key": self.key, "running": self.running, "configured": self.configured })
    }
}

impl Reload {
    /// `swmon.config` of a `config-reloaded` event.
    pub fn json(&self, path: &Path) -> Value {
        json!({
            "path": lossless(path.as_os_str()),
            "loaded": self.loaded,
            "keys": self.keys,
            "applied": self.applied.iter().map(Change::json).collect::<Vec<_>>(),
            "needs_restart": self.needs_restart.iter().map(Change::json).collect::<Vec<_>>(),
        })
    }
}

/// Parses the command line as clap would, with `swmon run`'s options
/// completed from its config file (see the module's doc). The config is
/// `Some` for `swmon run` (also with no file: SIGHUP reads it again).
pub fn parse<P: clap::Parser>(
    argv: impl IntoIterator<Item = OsString>,
) -> Result<(P, Option<RunConfig>), ParseFailure> {
    let argv: Vec<OsString> = argv.into_iter().collect();
    let cmd = P::command();
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ParseFailure::Clap)?;
    let Some(sub) = matches.subcommand_matches(TABLE) else {
        return P::from_arg_matches(&matches)
            .map(|p| (p, None))
            .map_err(ParseFailure::Clap);
    };
    let Some(mut run) = cmd.find_subcommand(TABLE).cloned() else {
        return P::from_arg_matches(&matches)
            .map(|p| (p, None))
            .map_err(ParseFailure::Clap);
    };
    run.build();
    // The subcommand's name is the first argument that is it (the top
    // level takes no option with a value).
    let at = argv
        .iter()
        .skip(1)
        .position(|a| a.as_os_str() == OsStr::new(TABLE))
        .map_or(argv.len(), |i| i + 2);
    let config_id = run
        .get_arguments()
        .find(|a| a.get_long() == Some(CONFIG_OPTION))
        .map(|a| a.get_id().clone());
    let given_path = config_id
        .as_ref()
        .and_then(|id| sub.get_raw(id.as_str()))
        .and_then(|mut v| v.next())
        .map(PathBuf::from);
    let explicit = given_path.is_some();
    let path = given_path.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let from_command_line: Vec<clap::Id> = sub
        .ids()
        .filter(|id| sub.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .cloned()
        .collect();
    let mut config = RunConfig {
        run,
        path,
        explicit,
        command_line: argv[at.min(argv.len())..].to_vec(),
        from_command_line,
        used: Vec::new(),
        overridden: Vec::new(),
        loaded: false,
        running: BTreeMap::new(),
    };
    let file = config.read().map_err(ParseFailure::Config)?;
    let (args, used, overridden) = config.merge(file.as_deref().unwrap_or_default());
    let mut merged = argv[..at.min(argv.len())].to_vec();
    merged.extend(args);
    merged.extend(config.command_line.iter().cloned());
    let full = cmd.try_get_matches_from(&merged).map_err(|e| {
        if used.is_empty() {
            ParseFailure::Clap(e)
        } else {
            ParseFailure::Config(ConfigError::Merged {
                path: config.path.display().to_string(),
                what: clap_message(&e),
            })
        }
    })?;
    let parsed = P::from_arg_matches(&full).map_err(ParseFailure::Clap)?;
    if let Some(sub) = full.subcommand_matches(TABLE) {
        config.running = config.values(sub);
    }
    config.loaded = file.is_some();
    config.used = used;
    config.overridden = overridden;
    Ok((parsed, Some(config)))
}

impl RunConfig {
    /// The file read at start and at each reload.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `swmon.config` of `monitor-started`: the file, whether it was
    /// there, the keys taken from it and those the command line overrode.
    pub fn json(&self) -> Value {
        json!({
            "path": lossless(self.path.as_os_str()),
            "loaded": self.loaded,
            "keys": self.used,
            "overridden": self.overridden,
        })
    }

    /// An option's running value, as clap holds it (`None`: no such
    /// option, or no value).
    pub fn running(&self, long: &str) -> Option<&[OsString]> {
        self.running.get(long).map(Vec::as_slice)
    }

    /// Reads the file again and compares each option's value (the file
    /// with the command line) to the running one. Those named in `live`
    /// are taken as applied (the caller applies them); any other change
    /// needs a restart, and is said at every reload until the file and
    /// the running monitor agree again. A bad file changes nothing.
    pub fn reload(&mut self, live: &[&str]) -> Result<Reload, ConfigError> {
        let file = self.read()?;
        let (args, used, _) = self.merge(file.as_deref().unwrap_or_default());
        let argv = std::iter::once(OsString::from(TABLE))
            .chain(args)
            .chain(self.command_line.iter().cloned());
        let matches =
            self.run
                .clone()
                .try_get_matches_from(argv)
                .map_err(|e| ConfigError::Merged {
                    path: self.path.display().to_string(),
                    what: clap_message(&e),
                })?;
        let new = self.values(&matches);
        let mut reload = Reload {
            keys: used,
            loaded: file.is_some(),
            ..Reload::default()
        };
        for (long, values) in new {
            let running = self.running.get(&long).cloned().unwrap_or_default();
            if running == values {
                continue;
            }
            let change = Change {
                running: self.shown(&long, &running),
                configured: self.shown(&long, &values),
                key: long.clone(),
                values: values.clone(),
            };
            if live.contains(&long.as_str()) {
                self.running.insert(long, values);
                reload.applied.push(change);
            } else {
                reload.needs_restart.push(change);
            }
        }
        Ok(reload)
    }

    /// The file's keys, as `(key, id, args)` (`None`: no file).
    fn read(&self) -> Result<Option<Vec<Given>>, ConfigError> {
        let Some(text) = read_text(&self.path, self.explicit)? else {
            return Ok(None);
        };
        given(&self.run, &self.path, &text).map(Some)
    }

    /// The arguments the file adds to the command line's, the keys used,
    /// and the keys the command line overrode.
    fn merge(&self, file: &[Given]) -> (Vec<OsString>, Vec<String>, Vec<String>) {
        let mut args = Vec::new();
        let (mut used, mut overridden) = (Vec::new(), Vec::new());
        for g in file {
            if self.from_command_line.contains(&g.id) {
                overridden.push(g.long.clone());
            } else {
                args.extend(g.args.iter().cloned());
                used.push(g.long.clone());
            }
        }
        (args, used, overridden)
    }

    /// Every option's values (defaults included), by long name, `config`
    /// left out.
    fn values(&self, matches: &ArgMatches) -> BTreeMap<String, Vec<OsString>> {
        self.run
            .get_arguments()
            .filter_map(|a| {
                let long = a.get_long()?;
                if long == CONFIG_OPTION || !takes_from_file(a) {
                    return None;
                }
                let values = matches
                    .try_get_raw(a.get_id().as_str())
                    .ok()
                    .flatten()
                    .map(|v| v.map(OsStr::to_os_string).collect())
                    .unwrap_or_default();
                Some((long.to_owned(), values))
            })
            .collect()
    }

    /// A value as an event shows it: a flag as a boolean, a repeatable
    /// option as an array, any other as its one string (or null).
    fn shown(&self, long: &str, values: &[OsString]) -> Value {
        let arg = self
            .run
            .get_arguments()
            .find(|a| a.get_long() == Some(long));
        let strings: Vec<String> = values.iter().map(|v| lossless(v)).collect();
        match arg.map(Arg::get_action) {
            Some(ArgAction::SetTrue | ArgAction::SetFalse) => {
                json!(strings.first().is_some_and(|s| s == "true"))
            }
            Some(ArgAction::Append) => json!(strings),
            _ => strings.first().map_or(Value::Null, |s| json!(s)),
        }
    }
}

/// An option the file may set: not hidden (test-only and debugging
/// options are), not help or version.
fn takes_from_file(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && matches!(
            arg.get_action(),
            ArgAction::Set
                | ArgAction::Append
                | ArgAction::SetTrue
                | ArgAction::SetFalse
                | ArgAction::Count
        )
}

fn lossless(s: &OsStr) -> String {
    crate::event::lossless(s.as_encoded_bytes())
}

/// The file's text; `None` for a default file that is not there.
fn read_text(path: &Path, explicit: bool) -> Result<Option<String>, ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display().to_string();
    let read_error = |error| ConfigError::Read {
        path: shown.clone(),
        error,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let meta = file.metadata().map_err(read_error)?;
    let refuse = |what: String| ConfigError::File {
        path: shown.clone(),
        what,
    };
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    // Whoever may write the file steers the monitor.
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(refuse(format!(
            "owned by uid {}, not root (nor swmon's uid {me})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "writable by its group or others (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(refuse(format!("larger than {MAX_BYTES} bytes")));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = line_of(e.as_bytes(), at);
            Err(ConfigError::Syntax {
                path: shown,
                line,
                what: format!("not UTF-8 text (byte {} of the file)", at + 1),
            })
        }
    }
}

/// The line (from 1) of a byte offset.
fn line_of(text: &[u8], at: usize) -> usize {
    text[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The file's `[run]` keys, each checked and turned into its arguments.
fn given(run: &Command, path: &Path, text: &str) -> Result<Vec<Given>, ConfigError> {
    let shown = path.display().to_string();
    let doc = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        path: shown.clone(),
        line: e.span().map_or(1, |s| line_of(text.as_bytes(), s.start)),
        what: e.message().trim().to_owned(),
    })?;
    let key_error = |key: &str, at: usize, what: String| ConfigError::Key {
        path: shown.clone(),
        line: line_of(text.as_bytes(), at),
        key: key.escape_debug().to_string(),
        what,
    };
    let mut out = Vec::new();
    for (name, value) in doc.get_ref() {
        if name.get_ref() != TABLE {
            return Err(key_error(
                name.get_ref(),
                name.span().start,
                format!("unknown table (swmon's file has one table, [{TABLE}])"),
            ));
        }
        let DeValue::Table(table) = value.get_ref() else {
            return Err(key_error(
                name.get_ref(),
                name.span().start,
                format!("must be a table ([{TABLE}])"),
            ));
        };
        for (key, value) in table {
            let key_name: &str = key.get_ref();
            let at = key.span().start;
            let arg = run
                .get_arguments()
                .find(|a| a.get_long() == Some(key_name))
                .ok_or_else(|| {
                    key_error(
                        key_name,
                        at,
                        format!(
                            "unknown option (the file's keys are `swmon {TABLE}`'s long options: {})",
                            keys(run).join(", ")
                        ),
                    )
                })?;
            if key_name == CONFIG_OPTION {
                return Err(key_error(
                    key_name,
                    at,
                    "a config file can't name another one".into(),
                ));
            }
            if !takes_from_file(arg) {
                return Err(key_error(
                    key_name,
                    at,
                    "not accepted from the config file (a test-only or hidden option); give it on the command line".into(),
                ));
            }
            let args = arguments(arg, value.get_ref()).map_err(|w| key_error(key_name, at, w))?;
            // clap's own check of the value, the option alone.
            let argv = std::iter::once(OsString::from(TABLE)).chain(args.iter().cloned());
            if let Err(e) = run.clone().try_get_matches_from(argv) {
                return Err(key_error(key_name, at, clap_message(&e)));
            }
            out.push(Given {
                long: key_name.to_owned(),
                id: arg.get_id().clone(),
                args,
            });
        }
    }
    Ok(out)
}

/// The keys the file takes.
fn keys(run: &Command) -> Vec<&str> {
    run.get_arguments()
        .filter(|a| takes_from_file(a))
        .filter_map(Arg::get_long)
        .filter(|l| *l != CONFIG_OPTION)
        .collect()
}

/// The arguments a key's value stands for.
fn arguments(arg: &Arg, value: &DeValue) -> Result<Vec<OsString>, String> {
    let long = arg.get_long().unwrap_or_default();
    let flag = OsString::from(format!("--{long}"));
    let with = |v: String| OsString::from(format!("--{long}={v}"));
    // An option whose value may be left out (`--ebpf-log` alone).
    let optional_value = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, DeValue::Boolean(b)) => Ok(if *b { vec![flag] } else { vec![] }),
        (ArgAction::SetFalse, DeValue::Boolean(b)) => Ok(if *b { vec![] } else { vec![flag] }),
        (ArgAction::SetTrue | ArgAction::SetFalse, v) => {
            Err(format!("a flag: true or false, not {}", kind(v)))
        }
        (ArgAction::Count, DeValue::Integer(i)) => {
            let n = integer(i)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("a count from 0 to 255, not {i}"))?;
            Ok(vec![flag; usize::from(n)])
        }
        (ArgAction::Count, v) => Err(format!("a count (an integer), not {}", kind(v))),
        (ArgAction::Set, DeValue::Boolean(b)) if optional_value => {
            Ok(if *b { vec![flag] } else { vec![] })
        }
        (ArgAction::Set, DeValue::Array(_)) => Err("takes one value, not an array".into()),
        (ArgAction::Set, v) => Ok(vec![with(scalar(arg, v)?)]),
        (ArgAction::Append, DeValue::Array(items)) => items
            .iter()
            .map(|v| scalar(arg, v.get_ref()).map(with))
            .collect(),
        (ArgAction::Append, v) => Ok(vec![with(scalar(arg, v)?)]),
        _ => Err("not an option the file can set".into()),
    }
}

/// One value as its argument string, of the TOML type the option's value
/// parser takes.
fn scalar(arg: &Arg, value: &DeValue) -> Result<String, String> {
    use std::any::TypeId;
    let t = arg.get_value_parser().type_id();
    let is = |ids: &[TypeId]| ids.iter().any(|id| t == *id);
    let integers = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<u128>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<i128>(),
        TypeId::of::<isize>(),
    ];
    match value {
        DeValue::Integer(i) if is(&integers) || is(&[TypeId::of::<f32>(), TypeId::of::<f64>()]) => {
            integer(i)
                .map(|n| n.to_string())
                .ok_or_else(|| format!("{i} is out of range"))
        }
        DeValue::Float(f) if is(&[TypeId::of::<f32>(), TypeId::of::<f64>()]) => {
            Ok(f.as_str().to_owned())
        }
        DeValue::Boolean(b) if is(&[TypeId::of::<bool>()]) => Ok(b.to_string()),
        v if is(&integers) => Err(format!("expects an integer, not {}", kind(v))),
        DeValue::String(s) => Ok(s.to_string()),
        v => Err(format!("expects a string, not {}", kind(v))),
    }
}

fn integer(i: &toml::de::DeInteger) -> Option<i128> {
    i128::from_str_radix(i.as_str(), i.radix()).ok()
}

fn kind(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// clap's message, without its usage lines and tips, on one line.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.trim_start();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    text.split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::state::test_support::TempDir;

    /// A command with every kind of option `swmon run` has: with a value
    /// and a default, repeatable, a ranged integer, a flag, an enum, an
    /// optional value, and a hidden test-only one.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Cmd {
        Run {
            #[arg(long)]
            config: Option<PathBuf>,
            #[arg(long, short, default_value = "-")]
            output: PathBuf,
            #[arg(long = "installer-dir")]
            installer_dirs: Vec<PathBuf>,
            #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
            heartbeat_secs: u64,
            #[arg(long)]
            restore_rules: bool,
            #[arg(long, value_enum, default_value_t = crate::sink::Format::Json)]
            format: crate::sink::Format,
            #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "info")]
            ebpf_log: Option<String>,
            #[arg(long, hide = true)]
            test_hold: Option<PathBuf>,
        },
        Other {
            #[arg(long)]
            x: bool,
        },
    }

    struct Run {
        output: PathBuf,
        installer_dirs: Vec<PathBuf>,
        heartbeat_secs: u64,
        restore_rules: bool,
        format: crate::sink::Format,
        ebpf_log: Option<String>,
    }

    fn file(dir: &TempDir, name: &str, text: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write the config file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }

    fn parse_run(args: &[&str]) -> Result<(Run, RunConfig), String> {
        let argv = ["swmon", "run"].iter().chain(args).map(OsString::from);
        match parse::<Cli>(argv) {
            Ok((
                Cli {
                    command:
                        Cmd::Run {
                            output,
                            installer_dirs,
                            heartbeat_secs,
                            restore_rules,
                            format,
                            ebpf_log,
                            ..
                        },
                },
                Some(config),
            )) => Ok((
                Run {
                    output,
                    installer_dirs,
                    heartbeat_secs,
                    restore_rules,
                    format,
                    ebpf_log,
                },
                config,
            )),
            Ok(_) => Err("not a run, or no config".into()),
            Err(ParseFailure::Config(e)) => Err(e.to_string()),
            Err(ParseFailure::Clap(e)) => Err(format!("clap: {}", clap_message(&e))),
        }
    }

    fn with_file(dir: &TempDir, text: &str, args: &[&str]) -> Result<(Run, RunConfig), String> {
        let p = file(dir, "swmon.toml", text.as_bytes());
        let p = p.to_str().expect("a UTF-8 temp path").to_owned();
        let mut argv = vec!["--config", p.as_str()];
        argv.extend(args);
        parse_run(&argv)
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let d = TempDir::new("config-precedence");
        let (run, config) = with_file(
            &d,
            "[run]\noutput = \"/var/log/f.json\"\nheartbeat-secs = 5\ninstaller-dir = [\"/a\", \"/b\"]\nrestore-rules = true\nformat = \"text\"\n",
            &["-o", "/cli.json", "--installer-dir", "/c", "--format", "json"],
        )
        .expect("parses");
        assert_eq!(run.output, Path::new("/cli.json"));
        // A repeatable option's list from the command line replaces the file's.
        assert_eq!(run.installer_dirs, [PathBuf::from("/c")]);
        assert_eq!(run.heartbeat_secs, 5);
        assert!(run.restore_rules);
        assert_eq!(run.format, crate::sink::Format::Json);
        let j = config.json();
        assert_eq!(j["loaded"], true);
        assert_eq!(j["keys"], json!(["heartbeat-secs", "restore-rules"]));
        assert_eq!(
            j["overridden"],
            json!(["format", "installer-dir", "output"])
        );
        // No file option given: the defaults stand.
        let (run, _) = with_file(&d, "", &[]).expect("parses");
        assert_eq!(run.output, Path::new("-"));
        assert_eq!(run.heartbeat_secs, 60);
        assert!(!run.restore_rules && run.installer_dirs.is_empty());
    }

    #[test]
    fn an_unknown_key_names_the_file_line_and_key() {
        let d = TempDir::new("config-unknown");
        let p = d.path().join("swmon.toml");
        let e = with_file(&d, "[run]\noutput = \"-\"\n\nbogus-option = 1\n", &[])
            .err()
            .expect("refused");
        assert!(
            e.starts_with(&format!(
                "{}:4: key `bogus-option`: unknown option",
                p.display()
            )),
            "{e}"
        );
        // Its message lists the keys the file takes, not the hidden one.
        assert!(
            e.contains("heartbeat-secs") && !e.contains("test-hold"),
            "{e}"
        );
        let e = with_file(&d, "[run]\n[tuning]\nx = 1\n", &[])
            .err()
            .expect("refused");
        assert!(
            e.starts_with(&format!("{}:2: key `tuning`: unknown table", p.display())),
            "{e}"
        );
        let e = with_file(&d, "run = 3\n", &[]).err().expect("refused");
        assert!(e.contains(":1: key `run`: must be a table"), "{e}");
    }

    #[test]
    fn a_bad_value_names_the_key_and_what_it_takes() {
        let d = TempDir::new("config-bad-value");
        let p = d.path().join("swmon.toml");
        for (text, line, key, what) in [
            (
                "[run]\nheartbeat-secs = \"5\"\n",
                2,
                "heartbeat-secs",
                "expects an integer, not a string",
            ),
            (
                "[run]\n\noutput = 5\n",
                3,
                "output",
                "expects a string, not an integer",
            ),
            (
                "[run]\nheartbeat-secs = 100000\n",
                2,
                "heartbeat-secs",
                "invalid value '100000' for '--heartbeat-secs",
            ),
            (
                "[run]\nheartbeat-secs = -1\n",
                2,
                "heartbeat-secs",
                "invalid value '-1'",
            ),
            (
                "[run]\nformat = \"xml\"\n",
                2,
                "format",
                "invalid value 'xml' for '--format",
            ),
            (
                "[run]\noutput = \"\"\n",
                2,
                "output",
                "a value is required for '--output",
            ),
            (
                "[run]\noutput = [\"a\"]\n",
                2,
                "output",
                "takes one value, not an array",
            ),
            (
                "[run]\ninstaller-dir = [\"/a\", 3]\n",
                2,
                "installer-dir",
                "expects a string, not an integer",
            ),
            (
                "[run]\nheartbeat-secs = 1.5\n",
                2,
                "heartbeat-secs",
                "expects an integer, not a float",
            ),
            (
                "[run]\noutput = 1979-05-27\n",
                2,
                "output",
                "expects a string, not a date",
            ),
            (
                "[run]\noutput = { a = 1 }\n",
                2,
                "output",
                "expects a string, not a table",
            ),
        ] {
            let e = with_file(&d, text, &[]).err().expect(text);
            let want = format!("{}:{line}: key `{key}`: {what}", p.display());
            assert!(e.starts_with(&want), "{text:?}: {e}\nwanted: {want}");
        }
        // An integer in another base or with separators is the number.
        let (run, _) = with_file(&d, "[run]\nheartbeat-secs = 0x1_0\n", &[]).expect("parses");
        assert_eq!(run.heartbeat_secs, 16);
    }

    #[test]
    fn arrays_give_a_repeatable_option_its_values() {
        let d = TempDir::new("config-arrays");
        let (run, _) = with_file(&d, "[run]\ninstaller-dir = [\"/opt/a\", \"/opt/b\"]\n", &[])
            .expect("parses");
        assert_eq!(
            run.installer_dirs,
            [PathBuf::from("/opt/a"), PathBuf::from("/opt/b")]
        );
        let (run, _) = with_file(&d, "[run]\ninstaller-dir = \"/opt/a\"\n", &[]).expect("parses");
        assert_eq!(run.installer_dirs, [PathBuf::from("/opt/a")]);
        let (run, _) = with_file(&d, "[run]\ninstaller-dir = []\n", &[]).expect("parses");
        assert!(run.installer_dirs.is_empty());
        // A value that starts with a dash is a value, not an option.
        let (run, _) = with_file(&d, "[run]\noutput = \"--weird\"\n", &[]).expect("parses");
        assert_eq!(run.output, Path::new("--weird"));
    }

    #[test]
    fn flags_take_booleans() {
        let d = TempDir::new("config-flags");
        let (run, _) = with_file(&d, "[run]\nrestore-rules = true\n", &[]).expect("parses");
        assert!(run.restore_rules);
        let (run, _) = with_file(&d, "[run]\nrestore-rules = false\n", &[]).expect("parses");
        assert!(!run.restore_rules);
        let e = with_file(&d, "[run]\nrestore-rules = 1\n", &[])
            .err()
            .expect("refused");
        assert!(
            e.contains("key `restore-rules`: a flag: true or false, not an integer"),
            "{e}"
        );
        // An option whose value may be left out: true is the option alone.
        let (run, _) = with_file(&d, "[run]\nebpf-log = true\n", &[]).expect("parses");
        assert_eq!(run.ebpf_log.as_deref(), Some("info"));
        let (run, _) = with_file(&d, "[run]\nebpf-log = \"debug\"\n", &[]).expect("parses");
        assert_eq!(run.ebpf_log.as_deref(), Some("debug"));
        let (run, _) = with_file(&d, "[run]\nebpf-log = false\n", &[]).expect("parses");
        assert_eq!(run.ebpf_log, None);
    }

    #[test]
    fn test_only_and_config_keys_are_refused() {
        let d = TempDir::new("config-test-only");
        let e = with_file(&d, "[run]\ntest-hold = \"/tmp/x\"\n", &[])
            .err()
            .expect("refused");
        assert!(
            e.contains(":2: key `test-hold`: not accepted from the config file"),
            "{e}"
        );
        let e = with_file(&d, "[run]\nconfig = \"/etc/other.toml\"\n", &[])
            .err()
            .expect("refused");
        assert!(
            e.contains(":2: key `config`: a config file can't name another one"),
            "{e}"
        );
        let e = with_file(&d, "[run]\nhelp = true\n", &[])
            .err()
            .expect("refused");
        assert!(e.contains("key `help`"), "{e}");
        // Still taken from the command line.
        parse_run(&["--test-hold", "/tmp/x"]).expect("the command line may");
    }

    #[test]
    fn garbage_is_a_clear_error_never_a_panic() {
        let d = TempDir::new("config-garbage");
        let p = file(&d, "bad.toml", b"[run]\noutput = \"-\"\n\xff\xfe = 1\n");
        let e = parse_run(&["--config", p.to_str().expect("utf-8")])
            .err()
            .expect("refused");
        assert_eq!(
            e,
            format!("{}:3: not UTF-8 text (byte 20 of the file)", p.display())
        );
        let e = with_file(&d, "[run\noutput = 1", &[])
            .err()
            .expect("refused");
        assert!(e.contains("swmon.toml:1: "), "{e}");
        let e = with_file(&d, "[run]\nheartbeat-secs = 1\nheartbeat-secs = 2\n", &[])
            .err()
            .expect("refused");
        assert!(e.contains("swmon.toml:3: "), "{e}");
        // Whatever the bytes, an answer and no panic.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let run = Cli::command().find_subcommand(TABLE).cloned().map(|mut c| {
            c.build();
            c
        });
        let run = run.expect("a run subcommand");
        for n in 0..2000 {
            let len = n % 64;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let alphabet: &[u8] = b"[]=\"'\n .-_runoutpheartbs0x{},\\#";
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = given(&run, Path::new("f"), text);
            }
        }
        let (run, config) = with_file(&d, "", &[]).expect("an empty file is no option");
        assert_eq!(run.heartbeat_secs, 60);
        assert_eq!(config.json()["loaded"], true);
    }

    #[test]
    fn missing_files_and_unsafe_ones() {
        let d = TempDir::new("config-missing");
        let gone = d.path().join("gone.toml");
        // The default file missing: no config; a named one: an error.
        assert!(read_text(&gone, false).expect("no file is fine").is_none());
        let e = read_text(&gone, true).expect_err("refused");
        assert!(e
            .to_string()
            .starts_with(&format!("{}: can't read it", gone.display())));
        let e = parse_run(&["--config", gone.to_str().expect("utf-8")])
            .err()
            .expect("refused");
        assert!(e.contains("can't read it"), "{e}");
        // A file others may write steers the monitor: refused.
        let p = file(&d, "open.toml", b"[run]\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o620)).expect("chmod");
        let e = read_text(&p, true).expect_err("refused");
        assert!(
            e.to_string()
                .contains("writable by its group or others (mode 620)"),
            "{e}"
        );
        let e = read_text(d.path(), true).expect_err("a folder is refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // Another subcommand reads no config file at all.
        let (cli, config) =
            parse::<Cli>(["swmon", "other", "--x"].map(OsString::from)).expect("parses");
        assert!(matches!(cli.command, Cmd::Other { x: true }) && config.is_none());
    }

    #[test]
    fn a_reload_says_what_changed_and_a_bad_file_changes_nothing() {
        let d = TempDir::new("config-reload");
        let (_, mut config) = with_file(
            &d,
            "[run]\nheartbeat-secs = 5\nformat = \"text\"\n",
            &["--output", "/cli.json"],
        )
        .expect("parses");
        let live = ["heartbeat-secs", "restore-rules"];
        // Unchanged: nothing to say.
        let r = config.reload(&live).expect("reloads");
        assert!(r.applied.is_empty() && r.needs_restart.is_empty());
        file(
            &d,
            "swmon.toml",
            b"[run]\nheartbeat-secs = 7\nrestore-rules = true\noutput = \"/file.json\"\ninstaller-dir = [\"/opt/x\"]\n",
        );
        let r = config.reload(&live).expect("reloads");
        let j = r.json(config.path());
        assert_eq!(
            j["applied"],
            json!([
                { "key": "heartbeat-secs", "running": "5", "configured": "7" },
                { "key": "restore-rules", "running": false, "configured": true },
            ])
        );
        // `format` went back to its default; `output` stays the command
        // line's, so it did not change.
        assert_eq!(
            j["needs_restart"],
            json!([
                { "key": "format", "running": "text", "configured": "json" },
                { "key": "installer-dir", "running": [], "configured": ["/opt/x"] },
            ])
        );
        assert_eq!(
            config.running("heartbeat-secs"),
            Some(&[OsString::from("7")][..])
        );
        // Said again until a restart; what was applied is not.
        let r = config.reload(&live).expect("reloads");
        assert!(r.applied.is_empty());
        assert_eq!(r.needs_restart.len(), 2);
        // A bad file: an error, and the running values stay.
        file(&d, "swmon.toml", b"[run]\nheartbeat-secs = 9\nnope = 1\n");
        let e = config.reload(&live).expect_err("refused");
        assert!(
            e.to_string().contains(":3: key `nope`: unknown option"),
            "{e}"
        );
        assert_eq!(
            config.running("heartbeat-secs"),
            Some(&[OsString::from("7")][..])
        );
        // The file gone (it was named): an error too.
        std::fs::remove_file(d.path().join("swmon.toml")).expect("rm");
        assert!(config.reload(&live).is_err());
    }
}
