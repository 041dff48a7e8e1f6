//! Which installer a whole command line runs, and where its own arguments
//! start: `dpkg -i x.deb`, `/usr/bin/python3 -m pip install x`,
//! `node /usr/lib/node_modules/npm/bin/npm-cli.js i x`,
//! `ld-linux-x86-64.so.2 /usr/bin/dpkg -i x.deb`.
//!
//! An interpreter runs one program: the module after `-m`, inline code
//! (`-c`, `-e`, `--eval`), standard input (`-`), or the first operand after
//! its own options (the script). Only that program decides the manager; an
//! installer's name further on is an argument of the script, not a run of
//! that installer (`python3 tool.py npm install x` is `tool.py` being given
//! the word `npm`). A script is an installer's when its base name is an
//! installer name, or when it lies in an installer's package folder (a
//! folder named after the installer right under `node_modules` or
//! `nodejs`: `/usr/lib/node_modules/npm/lib/cli.js`; for Python's
//! `site-packages` and `dist-packages`, the package's `__main__.py` only,
//! since pip runs its own helper files by path). Inline code is read by
//! [`super::code`]'s rule; standard input is known only to the kernel
//! (fd 0's file at the exec, see `enrich::identify`). The interpreter's own
//! option grammar is followed closely enough to find that program (options
//! that take a value, options glued together as `-Im`), and nothing more.
//!
//! Pure like the rest of the stage: no file is opened, so the program is
//! known by its name only (a renamed copy is the kernel's and the facts
//! stage's to find).

use crate::{
    catalogue::{self, Interpreter, Manager, Role},
    ebpf::filter::basename,
};

/// The installer a command line runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The catalogue id of the installer's name.
    pub installer_id: u16,
    pub manager: Manager,
    /// `direct`, `python -m`, `interpreter-script`, `inline-code` or
    /// `loader` (`swmon.via`; `stdin-script` is the kernel's to know).
    pub via: &'static str,
    /// The index of the argument naming the installer (the script, the
    /// module, the code).
    pub index: usize,
    /// Where the installer's own arguments start in argv (right after
    /// `index`, but one later for Node's inline code).
    pub start: usize,
    /// The installer's arguments when inline code gives them as a list of
    /// string literals (`main(["install", "x"])`); then argv's are not.
    pub inline_args: Option<Vec<Vec<u8>>>,
}

impl Target {
    pub fn args_start(&self) -> usize {
        self.start
    }

    /// The installer's own arguments.
    pub fn args<'a>(&'a self, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
        match &self.inline_args {
            Some(list) => list.iter().map(Vec::as_slice).collect(),
            None => argv.get(self.start..).unwrap_or_default().to_vec(),
        }
    }
}

fn installer(name: &[u8]) -> Option<(u16, Manager)> {
    let (id, p) = catalogue::lookup(name)?;
    match p.role {
        Role::Installer(m) => Some((id, m)),
        _ => None,
    }
}

/// The installer `argv` runs, reading argv\[0\] as the program (a path or a
/// bare name). `None` when it runs no catalogued installer.
pub fn resolve(argv: &[&[u8]]) -> Option<Target> {
    let program = argv.first()?;
    let (id, p) = catalogue::lookup(basename(program))?;
    match p.role {
        Role::Installer(manager) => Some(Target {
            installer_id: id,
            manager,
            via: "direct",
            index: 0,
            start: 1,
            inline_args: None,
        }),
        role => through(role, argv),
    }
}

/// The installer an interpreter or the loader runs, `argv` being the
/// interpreter's own argv (argv\[0\] is not looked at: the kernel's record
/// knows the interpreter from its executable, which argv\[0\] may forge).
pub fn through(role: Role, argv: &[&[u8]]) -> Option<Target> {
    match role {
        Role::Installer(_) => None,
        Role::Loader => {
            let i = loader_program(argv)?;
            // The loader may run an interpreter, which runs the installer.
            let inner = resolve(&argv[i..])?;
            Some(Target {
                via: "loader",
                index: inner.index + i,
                start: inner.start + i,
                ..inner
            })
        }
        Role::Interpreter(kind) => match interpreter_program(kind, argv)? {
            Program::Module(i, arg) => {
                // `-m pip`, `-m pip.__main__`, `-m ensurepip`: the
                // top-level package names the installer.
                let top = arg.split(|&c| c == b'.').next().unwrap_or(arg);
                let (installer_id, manager) = super::code::python_module(arg)
                    .or_else(|| installer(top).filter(|_| trie_allows(arg)))?;
                Some(Target {
                    installer_id,
                    manager,
                    via: "python -m",
                    index: i,
                    start: i + 1,
                    inline_args: None,
                })
            }
            Program::Script(i, arg) => {
                let (installer_id, manager) = script_installer(arg)?;
                Some(Target {
                    installer_id,
                    manager,
                    via: "interpreter-script",
                    index: i,
                    start: i + 1,
                    inline_args: None,
                })
            }
            Program::Code(i, code) => {
                let run = match kind {
                    Interpreter::Python => super::code::python(code),
                    Interpreter::Node => super::code::node(code),
                    _ => None,
                }?;
                let mut start = i + 1;
                if kind == Interpreter::Node {
                    // `node -e CODE [--] X ARGS`: process.argv is
                    // [node, X, ARGS], and npm's cli reads from its third.
                    if argv.get(start) == Some(&&b"--"[..]) {
                        start += 1;
                    }
                    start += 1;
                }
                Some(Target {
                    installer_id: run.installer_id,
                    manager: run.manager,
                    via: "inline-code",
                    index: i,
                    start: start.min(argv.len()),
                    inline_args: run.args,
                })
            }
            Program::Stdin(_) => None,
        },
    }
}

/// Whether the kernel's trie passes `arg` as a name: its longest match
/// among the catalogue's names (what the LPM trie answers) allows the byte
/// after it (`swmon_common::suffix::arg_next_allows`). A module whose
/// top-level package is an installer's but whose whole name starts with a
/// longer catalogue name (`composer.phar3`) is not one the kernel passes.
fn trie_allows(arg: &[u8]) -> bool {
    catalogue::PROGRAMS
        .iter()
        .filter(|p| arg.starts_with(p.name.as_bytes()))
        .max_by_key(|p| p.name.len())
        .is_some_and(|p| {
            let next = arg.get(p.name.len()).copied().unwrap_or(0);
            swmon_common::suffix::arg_next_allows(p.suffix.code(), next)
        })
}

/// Where the arguments of a program an interpreter reads from standard
/// input start (`python3 - install x`, `python3 /dev/stdin install x`, or
/// no program at all), or `None` when it runs another program. Which
/// program is on standard input only the kernel can say (fd 0's file at
/// the exec).
pub fn stdin_program(role: Role, argv: &[&[u8]]) -> Option<usize> {
    let Role::Interpreter(kind) = role else {
        return None;
    };
    match interpreter_program(kind, argv)? {
        Program::Stdin(start) => Some(start),
        _ => None,
    }
}

/// Script paths that are standard input.
fn is_stdin_path(path: &[u8]) -> bool {
    matches!(path, b"/dev/stdin" | b"/dev/fd/0" | b"/proc/self/fd/0")
}

/// The installer a script file is: its base name is an installer name, or
/// it lies in an installer's package folder (see the module doc).
pub fn script_installer(path: &[u8]) -> Option<(u16, Manager)> {
    if let Some(hit) = installer(basename(path)) {
        return Some(hit);
    }
    let parts: Vec<&[u8]> = path.split(|&c| c == b'/').collect();
    let folders = parts.len().checked_sub(1)?;
    (1..folders).find_map(|i| {
        let main = i + 2 == parts.len() && parts[i + 1] == b"__main__.py";
        match parts[i - 1] {
            b"node_modules" | b"nodejs" => installer(parts[i]),
            b"site-packages" | b"dist-packages" if main => installer(parts[i]),
            _ => None,
        }
    })
}

/// The index of the program the dynamic loader runs (`ld.so [OPTIONS]
/// PROGRAM ARGS`), or `None` when it runs none (`--list`, `--verify`,
/// `--help`).
fn loader_program(argv: &[&[u8]]) -> Option<usize> {
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match *a {
            b"--" => return (i + 1 < argv.len()).then_some(i + 1),
            b"--library-path"
            | b"--inhibit-rpath"
            | b"--audit"
            | b"--preload"
            | b"--argv0"
            | b"--glibc-hwcaps-prefix"
            | b"--glibc-hwcaps-mask" => i += 2,
            b"--list"
            | b"--verify"
            | b"--help"
            | b"--version"
            | b"--list-tunables"
            | b"--list-diagnostics" => return None,
            a if a.starts_with(b"--") => i += 1,
            _ => return Some(i),
        }
    }
    None
}

/// Whether a short option of this interpreter takes a value (glued on, or
/// the next argument), and whether that value is inline code (which ends
/// the search: the program is the code, not a file).
fn short_value(kind: Interpreter, c: u8) -> Option<bool> {
    let (value, code): (&[u8], &[u8]) = match kind {
        Interpreter::Python => (b"WXcm", b"c"),
        Interpreter::Node => (b"repC", b"ep"),
        Interpreter::Perl => (b"eEIMm", b"eE"),
        Interpreter::Ruby => (b"eIrC", b"e"),
        Interpreter::Php => (b"rdcfBRFEz", b"rBRFE"),
    };
    value.contains(&c).then(|| code.contains(&c))
}

/// Long options that take the next argument as their value.
fn long_value(kind: Interpreter, opt: &[u8]) -> bool {
    match kind {
        Interpreter::Python => opt == b"--check-hash-based-pycs",
        Interpreter::Node => matches!(
            opt,
            b"--require"
                | b"--import"
                | b"--loader"
                | b"--experimental-loader"
                | b"--conditions"
                | b"--input-type"
                | b"--title"
                | b"--env-file"
                | b"--inspect-port"
        ),
        Interpreter::Ruby => matches!(opt, b"--encoding" | b"--external-encoding"),
        Interpreter::Perl | Interpreter::Php => false,
    }
}

/// Long options after which the interpreter runs inline code or nothing.
fn long_code(kind: Interpreter, opt: &[u8]) -> bool {
    let name = opt.split(|&c| c == b'=').next().unwrap_or(opt);
    let code = match kind {
        Interpreter::Node => matches!(name, b"--test" | b"--check"),
        _ => false,
    };
    code || matches!(name, b"--help" | b"--version")
}

/// What an interpreter's command line runs, with the index of the
/// argument holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program<'a> {
    /// A script file.
    Script(usize, &'a [u8]),
    /// A module (`-m NAME`, `-mNAME`).
    Module(usize, &'a [u8]),
    /// Inline code (`-c CODE`, `-cCODE`, `-e CODE`, `--eval=CODE`).
    Code(usize, &'a [u8]),
    /// Standard input (`-`, a `/dev/stdin` path, or no program given):
    /// the index where the program's own arguments start.
    Stdin(usize),
}

/// Short options after which the interpreter runs nothing (prints its
/// version or help).
fn short_exit(kind: Interpreter, c: u8) -> bool {
    let exits: &[u8] = match kind {
        Interpreter::Python => b"Vh?",
        Interpreter::Node | Interpreter::Ruby => b"vh",
        Interpreter::Perl => b"vhc",
        Interpreter::Php => b"vhilm",
    };
    exits.contains(&c)
}

/// The program an interpreter runs; `None` when it runs none (`--help`,
/// `--version`, `--check`), or its options cannot be read to the end.
fn interpreter_program<'a>(kind: Interpreter, argv: &[&'a [u8]]) -> Option<Program<'a>> {
    let mut i = 1;
    while let Some(&a) = argv.get(i) {
        if a == b"--" {
            // PHP's `--` passes arguments to code read from stdin.
            if kind == Interpreter::Php {
                return Some(Program::Stdin(i + 1));
            }
            let next = argv.get(i + 1)?;
            return Some(script(i + 1, next));
        }
        if a.starts_with(b"--") {
            let name = a.split(|&c| c == b'=').next().unwrap_or(a);
            if kind == Interpreter::Node && matches!(name, b"--eval" | b"--print") {
                return match a.get(name.len() + 1..) {
                    Some(glued) => Some(Program::Code(i, glued)),
                    None => argv.get(i + 1).map(|&v| Program::Code(i + 1, v)),
                };
            }
            if long_code(kind, a) {
                return None;
            }
            i += if long_value(kind, a) { 2 } else { 1 };
            continue;
        }
        if a == b"-" {
            return Some(Program::Stdin(i + 1));
        }
        if a.len() < 2 || a[0] != b'-' {
            return Some(script(i, a));
        }
        if kind == Interpreter::Node && matches!(a, b"-pe" | b"-ep") {
            return argv.get(i + 1).map(|&v| Program::Code(i + 1, v));
        }
        // A cluster of short options: `-Iu`, `-Wignore`, `-mpip`, `-Im pip`.
        let mut skip_next = false;
        for (j, &c) in a.iter().enumerate().skip(1) {
            if short_exit(kind, c) {
                return None;
            }
            let Some(code) = short_value(kind, c) else {
                continue;
            };
            let glued = &a[j + 1..];
            // The option's value: glued on, or the next argument.
            let value = || {
                if glued.is_empty() {
                    argv.get(i + 1).map(|&v| (i + 1, v))
                } else {
                    Some((i, glued))
                }
            };
            if code {
                return value().map(|(at, v)| Program::Code(at, v));
            }
            match (kind, c) {
                (Interpreter::Python, b'm') => {
                    return value().map(|(at, v)| Program::Module(at, v))
                }
                (Interpreter::Php, b'f') => return value().map(|(at, v)| script(at, v)),
                _ => {}
            }
            skip_next = glued.is_empty();
            break;
        }
        i += if skip_next { 2 } else { 1 };
    }
    // No program: the interpreter reads one from standard input.
    Some(Program::Stdin(argv.len()))
}

/// A script argument, or standard input named as a path.
fn script(i: usize, path: &[u8]) -> Program<'_> {
    if is_stdin_path(path) {
        Program::Stdin(i + 1)
    } else {
        Program::Script(i, path)
    }
}

/// What swmon makes of one whole command line, without running it
/// (`swmon classify`): the installer it runs and what it was asked to do.
/// The golden tests go through this too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// argv\[0\] as given, escaped.
    pub program: String,
    pub target: Option<Target>,
    pub class: Option<super::Classification>,
    /// `swmon.scope`: what argv says, else the manager's default for a
    /// run of this program (a run's venv or working folder is not known
    /// here).
    pub scope: Option<String>,
    /// Local package files read ([`explain_reading_files`]); empty for
    /// [`explain`], which reads nothing.
    pub files: Vec<crate::package_file::FileFact>,
}

/// Reads a whole command line: argv\[0\] is the program (a path or a name).
pub fn explain(argv: &[&[u8]]) -> Explained {
    let program = super::escape(argv.first().copied().unwrap_or_default());
    let Some(target) = resolve(argv) else {
        return Explained {
            program,
            target: None,
            class: None,
            scope: None,
            files: Vec::new(),
        };
    };
    let args = target.args(argv);
    let class = super::classify(target.manager, &args);
    let scope = Some(match &class.scope {
        Some(s) => s.as_str().into_owned(),
        None => default_scope(
            target.manager,
            argv.get(target.index).copied().unwrap_or_default(),
            argv.first().copied().unwrap_or_default(),
        )
        .to_owned(),
    });
    Explained {
        program,
        target: Some(target),
        class: Some(class),
        scope,
        files: Vec::new(),
    }
}

/// [`explain`], then the local package files the command line names read
/// for their real name and version (an install or upgrade only), as the
/// process `place` describes sees and may read them: what `swmon
/// classify` prints.
pub fn explain_reading_files(
    argv: &[&[u8]],
    place: impl FnOnce() -> Result<crate::package_file::Place, crate::package_file::Rejected>,
) -> Explained {
    let mut e = explain(argv);
    if let (Some(t), Some(class)) = (&e.target, &e.class) {
        let args: Vec<Vec<u8>> = t.args(argv).iter().map(|a| a.to_vec()).collect();
        e.files =
            crate::package_file::read_operands(t.manager, class.operation, &args, place(), false);
    }
    e
}

/// The scope of a run whose argv names none: the manager's own default
/// (`swmon.scope`; the run's Python venv and working folder, which the
/// decide stage adds, are not known here). `installer` is the installer's
/// argument as written and `program` the program run (the interpreter for
/// `python3 -m pip`): a pip under `/root` or `/home` is a user's own.
///
/// gem, cpan and cpanm install into the interpreter's own (system-wide)
/// folders unless told otherwise (`--user-install`, `-l`, `-I`); cargo,
/// go, pipx and nix into the user's home or profile; uv into the project's
/// virtual environment.
pub fn default_scope(manager: Manager, installer: &[u8], program: &[u8]) -> &'static str {
    let home = |p: &[u8]| p.starts_with(b"/root/") || p.starts_with(b"/home/");
    match manager {
        Manager::Pip if home(installer) || home(program) => "user",
        Manager::Npm
        | Manager::Yarn
        | Manager::Pnpm
        | Manager::Bun
        | Manager::Composer
        | Manager::Bundler => "project",
        // uv works in the project's (or the active) virtual environment;
        // `uv pip` outside one needs `--system`.
        Manager::Uv => "project",
        // nix-env and `nix profile` change the user's own profile.
        Manager::Cargo | Manager::Go | Manager::Pipx | Manager::Nix => "user",
        _ => "system",
    }
}

fn packages_json(list: &[crate::event::PackageRef]) -> serde_json::Value {
    list.iter()
        .map(|p| match &p.version {
            Some(v) => serde_json::json!({"name": p.name, "version": v}),
            None => serde_json::json!({"name": p.name}),
        })
        .collect()
}

fn refs(list: &[super::Package]) -> Vec<crate::event::PackageRef> {
    list.iter()
        .map(|p| crate::event::PackageRef {
            name: p.name.clone(),
            version: p.version.clone(),
        })
        .collect()
}

impl Explained {
    /// The packages with the identity read from local files in place, and
    /// the operands as typed for those.
    fn resolved(&self, c: &super::Classification) -> (Vec<crate::event::PackageRef>, Vec<String>) {
        crate::package_file::resolve(&c.packages, refs(&c.packages), &self.files)
    }

    /// One JSON object with the event's field names (`swmon.manager`,
    /// `swmon.operation`, `swmon.packages[]`, `swmon.scope`, ...), without
    /// the `swmon.` prefix; `manager` is `null` for a command line that
    /// runs no installer.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let (Some(t), Some(c)) = (&self.target, &self.class) else {
            return json!({
                "program": self.program,
                "manager": null,
                "operation": null,
                "packages": [],
                "scope": null,
            });
        };
        let mut v = json!({
            "program": self.program,
            "manager": t.manager.as_str(),
            "installer": catalogue::program(t.installer_id).map(|p| p.name),
            "via": t.via,
            "operation": c.operation.as_str(),
            "subcommand": c.subcommand,
            "packages": packages_json(&self.resolved(c).0),
            "scope": self.scope,
        });
        if let Some(o) = v.as_object_mut() {
            let requested = self.resolved(c).1;
            if !requested.is_empty() {
                o.insert("requested".into(), json!(requested));
            }
            if !self.files.is_empty() {
                o.insert(
                    "package_files".into(),
                    json!(crate::package_file::report(&self.files)),
                );
            }
            if !c.inverse.is_empty() {
                o.insert("inverse_packages".into(), packages_json(&refs(&c.inverse)));
            }
            if !c.requirements.is_empty() {
                o.insert("requirements".into(), json!(c.requirements));
            }
        }
        v
    }

    /// The same as lines of text for a terminal; control characters are
    /// shown as escapes.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let safe = crate::sink::terminal_safe;
        let (Some(t), Some(c)) = (&self.target, &self.class) else {
            return format!(
                "manager:    none ({} runs no installer swmon knows)\n",
                safe(&self.program)
            );
        };
        let mut out = String::new();
        let installer = catalogue::program(t.installer_id).map_or("?", |p| p.name);
        let _ = writeln!(
            out,
            "manager:    {} (installer {installer}, via {})",
            t.manager, t.via
        );
        let _ = match &c.subcommand {
            Some(s) => writeln!(out, "operation:  {} ({})", c.operation, safe(s)),
            None => writeln!(out, "operation:  {}", c.operation),
        };
        let mut list = |label: &str, ps: &[crate::event::PackageRef]| {
            for (i, p) in ps.iter().enumerate() {
                let head = if i == 0 { label } else { "" };
                let _ = match &p.version {
                    Some(v) => writeln!(out, "{head:<12}{} {}", safe(&p.name), safe(v)),
                    None => writeln!(out, "{head:<12}{}", safe(&p.name)),
                };
            }
        };
        let (packages, requested) = self.resolved(c);
        list("packages:", &packages);
        list("inverse:", &refs(&c.inverse));
        if c.packages.is_empty() {
            out.push_str("packages:   (none named)\n");
        }
        for r in &requested {
            let _ = writeln!(out, "requested:  {} (read from the file)", safe(r));
        }
        for f in &self.files {
            if let Err(r) = &f.identity {
                let _ = writeln!(
                    out,
                    "rejected:   {} ({}: {})",
                    safe(&super::escape(&f.operand)),
                    r.flag,
                    safe(&r.reason)
                );
            }
        }
        for r in &c.requirements {
            let _ = writeln!(out, "requires:   {}", safe(r));
        }
        if let Some(s) = &self.scope {
            let _ = writeln!(out, "scope:      {}", safe(s));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn target(line: &str) -> Option<(Manager, &'static str, usize)> {
        resolve(&words(line)).map(|t| (t.manager, t.via, t.args_start()))
    }

    #[test]
    fn installers_by_name_or_path() {
        assert_eq!(target("dpkg -i x.deb"), Some((Manager::Dpkg, "direct", 1)));
        assert_eq!(
            target("/usr/local/bin/pip3.11 install x"),
            Some((Manager::Pip, "direct", 1))
        );
        assert_eq!(target("npm i x"), Some((Manager::Npm, "direct", 1)));
    }

    #[test]
    fn the_interpreter_runs_its_script_or_module_only() {
        use Manager::*;
        for (line, want) in [
            (
                "/usr/bin/python3 -m pip install x",
                Some((Pip, "python -m", 3)),
            ),
            ("python3 -mpip install x", Some((Pip, "python -m", 2))),
            ("python3 -Im pip install x", Some((Pip, "python -m", 3))),
            ("python3 -Impip install x", Some((Pip, "python -m", 2))),
            (
                "python3 -m pip.__main__ install x",
                Some((Pip, "python -m", 3)),
            ),
            (
                "python3 -W ignore -m pip install x",
                Some((Pip, "python -m", 5)),
            ),
            (
                "python3 -Wignore -X utf8 /usr/bin/pip install x",
                Some((Pip, "interpreter-script", 5)),
            ),
            (
                "python3 /usr/bin/pip install x",
                Some((Pip, "interpreter-script", 2)),
            ),
            (
                "python3 -- /usr/bin/pip install x",
                Some((Pip, "interpreter-script", 3)),
            ),
            (
                "node /usr/lib/node_modules/npm/bin/npm-cli.js i x",
                Some((Npm, "interpreter-script", 2)),
            ),
            (
                "node --require ./hook.js /usr/bin/npm i x",
                Some((Npm, "interpreter-script", 4)),
            ),
            (
                "php -d memory_limit=-1 /usr/local/bin/composer require x",
                Some((Composer, "interpreter-script", 4)),
            ),
            (
                "php -f /usr/local/bin/composer.phar install",
                Some((Composer, "interpreter-script", 3)),
            ),
            (
                "ruby -W0 /usr/bin/gem install rails",
                Some((Gem, "interpreter-script", 3)),
            ),
            (
                "perl -I lib /usr/bin/cpanm Moo",
                Some((Cpanm, "interpreter-script", 4)),
            ),
            (
                "/lib64/ld-linux-x86-64.so.2 /usr/bin/dpkg -i x.deb",
                Some((Dpkg, "loader", 2)),
            ),
            (
                "ld.so --library-path /x --argv0 foo /usr/bin/python3 -m pip install x",
                Some((Pip, "loader", 8)),
            ),
            // The installer's name as an argument of something else.
            ("python3 tool.py npm install x", None),
            ("python3 -m venv pip", None),
            ("python3 -c import pip npm install x", None),
            ("python3 - pip install x", None),
            ("python3 -W pip tool.py", None),
            ("node build.js npm install x", None),
            ("node -e require('x') npm i x", None),
            ("perl -e 1 cpanm Moo", None),
            ("ruby -e 1 gem install x", None),
            ("php -r 1 composer install", None),
            ("ld.so --list /usr/bin/dpkg", None),
            ("python3", None),
            ("python3 -m", None),
            ("tool.py npm install x", None),
            ("sh -c npm install x", None),
        ] {
            assert_eq!(target(line), want, "{line}");
        }
    }

    #[test]
    fn any_argv_resolves_without_panic_and_inside_bounds() {
        const WORDS: &[&[u8]] = &[
            b"python3",
            b"node",
            b"perl",
            b"ruby",
            b"php",
            b"ld.so",
            b"/lib64/ld-linux-x86-64.so.2",
            b"pip",
            b"npm",
            b"-m",
            b"-mpip",
            b"-c",
            b"-e",
            b"-",
            b"--",
            b"-W",
            b"-Im",
            b"-f",
            b"--require",
            b"--library-path",
            b"--list",
            b"tool.py",
            b"/usr/bin/pip",
            b"\xff",
            b"",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut argv = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for i in 0..(x % 9) {
                argv.push(WORDS[((x >> (i * 5)) % WORDS.len() as u64) as usize]);
            }
            if let Some(t) = resolve(&argv) {
                assert!(t.index < argv.len(), "{argv:?}");
            }
            let e = explain(&argv);
            let _ = (e.json(), e.text());
        }
    }

    #[test]
    fn explained_as_json_and_text() {
        let e = explain(&words("/usr/bin/python3 -m pip install requests==2.31.0"));
        assert_eq!(
            e.json(),
            serde_json::json!({
                "program": "/usr/bin/python3",
                "manager": "pip",
                "installer": "pip",
                "via": "python -m",
                "operation": "install",
                "subcommand": "install",
                "packages": [{"name": "requests", "version": "2.31.0"}],
                "scope": "system",
            })
        );
        assert!(e.text().contains("requests 2.31.0"), "{}", e.text());
        let none = explain(&words("python3 tool.py npm install x"));
        assert_eq!(none.json()["manager"], serde_json::Value::Null);
        assert!(none.text().starts_with("manager:    none"));
        // Hostile bytes are escaped in both forms.
        let bad = explain(&[b"npm", b"i", b"a\nb\xff", b"\x1b[31m"]);
        assert!(!bad.text().contains('\n') || bad.text().lines().all(|l| !l.contains('\x1b')));
        assert!(!bad.text().contains("a\nb"), "{}", bad.text());
        assert!(
            bad.json().to_string().contains(r"a\nb\\xff"),
            "{}",
            bad.json()
        );
        assert_eq!(explain(&[]).target, None);
    }
}
