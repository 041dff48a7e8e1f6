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
//! [`super::code`]'s rule (Python's and node's; other interpreters' inline
//! code runs no installer here); standard input is known only to the
//! kernel (fd 0's file at the exec, see `enrich::identify`). An
//! interpreter that runs nothing (`--version`, `--help`, a syntax check:
//! `node -c`, `ruby -c`, `php -l`) runs no installer. Each interpreter's own options are known from its
//! documentation (which take a value, glued or in the next argument, and
//! clusters such as `-Im`, `-lne`); an option swmon does not know is read
//! both ways, as a flag and as taking a value, and the reading that runs
//! an installer is reported, marked uncertain with the options it guessed
//! (fail open: a real install behind a new option is not lost).
//!
//! Where a directly exec'd installer's own arguments start is the exec'd
//! file's business, never argv\[0\]'s (`exec -a` forges it): see
//! [`exec_args_start`].
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
    /// `direct`, `python -m`, `interpreter-script`, `interpreter-preload`,
    /// `inline-code` or `loader` (`swmon.via`; `stdin-script` is the
    /// kernel's to know).
    pub via: &'static str,
    /// The index of the argument naming the installer (the script, the
    /// module, the code).
    pub index: usize,
    /// Where the installer's own arguments start in argv (right after
    /// `index`, but one later for node's inline code).
    pub start: usize,
    /// The installer's arguments when inline code gives them as a list of
    /// string literals (`main(["install", "x"])`); then argv's are not.
    pub inline_args: Option<Vec<Vec<u8>>>,
    /// The indices of interpreter options swmon does not know, read one
    /// way (flag or value) to find the installer: the reading is a guess
    /// (`swmon.reading: uncertain`, `swmon.unknown_options`). Empty when
    /// every option before the program was known.
    pub guessed: Vec<usize>,
    /// The reading is a guess for another reason than an unknown option
    /// (a preload whose arguments are not known: see [`PreloadKind`]);
    /// also `swmon.reading: uncertain`.
    pub uncertain: bool,
    /// Inline code calls the installer with arguments it does not give as
    /// literals (`pip.main(l)`, `process.argv.push(...)`): they are not
    /// known, and argv's are not them (a decoy); [`Target::args`] is then
    /// empty and the reading uncertain.
    pub args_unknown: bool,
}

impl Target {
    pub fn args_start(&self) -> usize {
        self.start
    }

    /// The installer's own arguments.
    pub fn args<'a>(&'a self, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
        if self.args_unknown {
            return Vec::new();
        }
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
            guessed: Vec::new(),
            uncertain: false,
            args_unknown: false,
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
        Role::Loader => loader_readings(argv).into_iter().find_map(|r| {
            let i = r.program;
            // The loader may run an interpreter, which runs the installer.
            let inner = resolve(&argv[i..])?;
            let mut guessed = r.guessed;
            guessed.extend(inner.guessed.iter().map(|g| g + i));
            Some(Target {
                via: "loader",
                index: inner.index + i,
                start: inner.start + i,
                guessed,
                ..inner
            })
        }),
        Role::Interpreter(kind) => walk(kind, argv, |r| {
            // A file an option runs before the program is the first
            // program run.
            if let Some(t) = preload_target(argv, r) {
                return Some(t);
            }
            if r.preload
                .is_some_and(|p| p.kind == PreloadKind::PhpProcessFile)
            {
                // `php -F tool.php composer.phar`: the operands are
                // tool.php's arguments.
                return None;
            }
            let mut args_unknown = false;
            let (installer_id, manager, via, index, start, inline_args) = match r.runs {
                // `-m pip`, `-m pip.__main__`, `-m ensurepip`: the
                // top-level package names the installer.
                Runs::Module { index, name } => {
                    let top = name.split(|&c| c == b'.').next().unwrap_or(name);
                    let (id, m) = super::code::python_module(name)
                        .or_else(|| installer(top).filter(|_| trie_allows(name)))?;
                    (id, m, "python -m", index, index + 1, None)
                }
                Runs::Script { index, path } => match script_installer(path) {
                    Some((id, m)) => (id, m, "interpreter-script", index, index + 1, None),
                    None if kind == Interpreter::Node => {
                        let (id, m, index) = corepack(path, argv, index)?;
                        (id, m, "interpreter-script", index, index + 1, None)
                    }
                    None => return None,
                },
                Runs::Code { index, code, end } => {
                    // perl and ruby run every `-e` joined with newlines.
                    let joined = || r.codes.join(&b"\n"[..]);
                    let run = match kind {
                        Interpreter::Python => super::code::python(code),
                        Interpreter::Node => super::code::node(code),
                        Interpreter::Perl => super::code::perl(&joined(), r.loaded),
                        Interpreter::Ruby => super::code::ruby(&joined(), r.loaded != Load::No),
                        Interpreter::Php => None,
                    }?;
                    // `node -e CODE [--] X ARGS`: process.argv is [node,
                    // X, ARGS], and npm's cli reads from its third.
                    let start = if kind == Interpreter::Node {
                        end + 1
                    } else {
                        end
                    };
                    args_unknown = run.args_unknown;
                    (
                        run.installer_id,
                        run.manager,
                        "inline-code",
                        index,
                        start.min(argv.len()),
                        run.args,
                    )
                }
                // Which program is on standard input only the kernel can
                // say (see [`stdin_program`]).
                Runs::Stdin { .. } | Runs::Nothing | Runs::Check { .. } => return None,
            };
            Some(Target {
                installer_id,
                manager,
                via,
                index,
                start,
                inline_args,
                guessed: r.guessed.clone(),
                uncertain: args_unknown,
                args_unknown,
            })
        }),
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
/// no program at all), or `None` when it runs another program or nothing.
/// Which program is on standard input only the kernel can say (fd 0's file
/// at the exec). Unknown options are read both ways, as [`walk`] does.
pub fn stdin_program(role: Role, argv: &[&[u8]]) -> Option<usize> {
    let Role::Interpreter(kind) = role else {
        return None;
    };
    walk(kind, argv, |r| match r.runs {
        Runs::Stdin { index } => Some((index + 1).min(argv.len())),
        _ => None,
    })
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

/// The package manager node's corepack runs in its own process
/// (`corepack yarn@1.22.19 install`, `node /usr/bin/corepack pnpm add x`):
/// the operand after the corepack script names it, with an optional
/// `@VERSION` of the manager itself. Its id, manager and index.
fn corepack(script: &[u8], argv: &[&[u8]], index: usize) -> Option<(u16, Manager, usize)> {
    if !matches!(
        basename(script),
        b"corepack" | b"corepack.js" | b"corepack.cjs"
    ) {
        return None;
    }
    let name = argv.get(index + 1)?;
    let (id, m) = installer(corepack_manager(name)?)?;
    Some((id, m, index + 1))
}

/// `yarn@1.22.19` → `yarn`: the managers corepack runs (`npm`, `npx`,
/// `yarn`, `yarnpkg`, `pnpm`), or `None` for its own commands (`enable`,
/// `install -g`, `prepare`, `use`).
pub fn corepack_manager(word: &[u8]) -> Option<&[u8]> {
    let name = word.split(|&c| c == b'@').next().unwrap_or(word);
    matches!(name, b"npm" | b"npx" | b"yarn" | b"yarnpkg" | b"pnpm").then_some(name)
}

/// How many `#!` scripts the kernel runs one through another: fs/exec.c's
/// `exec_binprm` fails a sixth rewrite with `ELOOP` (checked on 6.18: a
/// chain of five scripts runs, of six fails).
pub const SCRIPT_NESTING_MAX: usize = 5;

/// Where the arguments of an installer exec'd directly start in its argv:
/// after the argument equal to `filename` (the path given to exec; a prefix
/// of the argument when the kernel's copy was cut) when it is argv\[0\],
/// or, for a `script` (the kernel ran its `#!` interpreter, which put the
/// script's path after itself and its one optional argument, and so on
/// for an interpreter that is itself a script: up to
/// [`SCRIPT_NESTING_MAX`] levels, the file at argv\[2 × levels\] at
/// most), the first argument from argv\[1\] to argv\[10\] equal to it
/// (the kernel's copy comes before the caller's arguments); else at 1. argv\[0\] is never read as the program: a
/// forged one (`exec -a 'install evil' dpkg -l`, `exec -a python3 dpkg
/// ...`) moves nothing. Only a script gets the later positions: an
/// installer binary given its own path as an argument (`dpkg -i
/// /usr/bin/dpkg evil.deb`) must not hide the arguments before it.
pub fn exec_args_start(argv: &[&[u8]], filename: &[u8], filename_cut: bool, script: bool) -> usize {
    let same = |a: &[u8]| {
        a == filename || (filename_cut && !filename.is_empty() && a.starts_with(filename))
    };
    if !script {
        return 1.min(argv.len());
    }
    // argv[1] to argv[10]: argv[0] is never looked at (a forged one equal
    // to the script's path must not stop the search before the kernel's
    // copy).
    argv.iter()
        .enumerate()
        .skip(1)
        .take(2 * SCRIPT_NESTING_MAX)
        .find(|(_, a)| same(a))
        .map_or(1, |(i, _)| i + 1)
        .min(argv.len())
}

/// The dynamic loader's options that take the next argument as their
/// value, exactly as glibc 2.36's `ld.so --help` lists them (checked
/// against the host's loader by a unit test that skips, saying so, when it
/// is not installed). Options are whole arguments (`strcmp`):
/// `--argv0=x` is no option of it.
pub const LOADER_VALUE_OPTIONS: &[&[u8]] = &[
    b"--library-path",
    b"--glibc-hwcaps-prepend",
    b"--glibc-hwcaps-mask",
    b"--inhibit-rpath",
    b"--audit",
    b"--preload",
    b"--argv0",
];

/// The dynamic loader's options that take no value and run the program
/// (`--inhibit-cache`).
pub const LOADER_FLAG_OPTIONS: &[&[u8]] = &[b"--inhibit-cache"];

/// The dynamic loader's options after which it runs no program: it lists,
/// verifies or prints and exits.
pub const LOADER_NOTHING_OPTIONS: &[&[u8]] = &[
    b"--list",
    b"--verify",
    b"--list-tunables",
    b"--list-diagnostics",
    b"--help",
    b"--version",
];

/// One way of reading the dynamic loader's argv (`ld.so [OPTIONS] PROGRAM
/// ARGS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderReading {
    /// The index of the program it runs.
    pub program: usize,
    /// The options swmon does not know that this reading read one way
    /// (all as flags, or all as taking a value): the reading is a guess.
    pub guessed: Vec<usize>,
}

/// The ways the dynamic loader may read `argv`: none when it runs no
/// program (`--list`, `--verify`, `--help`, no program), else one when
/// every option before the program is known (the table above), else up
/// to two, every unknown option read as a flag, then every one read as
/// taking a value, each listing the unknown options it guessed. glibc
/// 2.36 refuses any other `--` argument, `--` itself included
/// ("unrecognized option") and runs nothing; an older glibc took it as
/// the program's name and failed to open it. So an unknown option runs
/// nothing today, but swmon does not rely on that: a loader whose options
/// this table misses (a newer glibc) must not make swmon identify the
/// wrong file silently, so both readings are offered and flagged
/// (`swmon.reading: uncertain`, `swmon.unknown_options`). An argument
/// starting with one `-` is the program (glibc reads only `--` ones as
/// options). Linear in argv: two passes.
pub fn loader_readings(argv: &[&[u8]]) -> Vec<LoaderReading> {
    let mut out: Vec<LoaderReading> = Vec::new();
    for unknown_takes_value in [false, true] {
        let mut guessed = Vec::new();
        let mut i = 1;
        let program = loop {
            let Some(a) = argv.get(i) else { break None };
            if LOADER_VALUE_OPTIONS.contains(a) {
                i += 2;
            } else if LOADER_FLAG_OPTIONS.contains(a) {
                i += 1;
            } else if LOADER_NOTHING_OPTIONS.contains(a) {
                break None;
            } else if a.starts_with(b"--") {
                guessed.push(i);
                i += if unknown_takes_value { 2 } else { 1 };
            } else {
                break Some(i);
            }
        };
        let none_unknown = guessed.is_empty();
        if let Some(program) = program.filter(|p| !out.iter().any(|r| r.program == *p)) {
            out.push(LoaderReading { program, guessed });
        }
        if none_unknown {
            break;
        }
    }
    out
}

/// What one of an interpreter's options does with what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    /// Takes no value.
    Flag,
    /// Takes a value: the rest of a short option's cluster, `--opt=VALUE`,
    /// or else the next argument.
    Value,
    /// Takes an optional value glued on only, the rest of the cluster
    /// (`ruby -x[DIR]`, `perl -i[EXT]`), never the next argument.
    Glued,
    /// Takes optional digits glued on (`perl -l`, `-0777`, `ruby -W0`);
    /// the cluster goes on after them (`perl -lne`).
    Digits,
    /// Its value is inline code (`-c`, `-e`, `-r`): no file is run.
    Code,
    /// Takes a value glued on only, which it must have (perl `-MCPAN`:
    /// `-M CPAN` is "Missing argument to -M").
    Attached,
    /// node's syntax check: the script is not run, its `-r` preloads are.
    Check,
    /// Its value is the module to run (`python -m`).
    Module,
    /// Its value is the script to run (`php -f`).
    Script,
    /// The interpreter runs no program: `--version`, `--help`, a syntax
    /// check (`node -c`, `ruby -c`, `perl -c`, `php -l`), the REPL-less
    /// informational modes.
    Nothing,
}

/// A short option of this interpreter, or `None` when swmon does not know
/// it (then both readings, flag and value, are tried: see [`walk`]).
fn short_opt(kind: Interpreter, c: u8) -> Option<Opt> {
    use Opt::*;
    let table: &[(&[u8], Opt)] = match kind {
        // python3 --help: the whole option set.
        Interpreter::Python => &[
            // `-t` and `-R` are still accepted and ignored (3.11: tested).
            (b"bBdEiIOPqsSuvxRt", Flag),
            (b"WX", Value),
            (b"c", Code),
            (b"m", Module),
            // `-J` (reserved for Jython) is an error: nothing runs.
            (b"h?VJ", Nothing),
        ],
        // node --help: the short forms.
        Interpreter::Node => &[
            (b"i", Flag),
            (b"rC", Value),
            (b"ep", Code),
            (b"c", Check),
            (b"vh", Nothing),
        ],
        // ruby --help, ruby.c.
        Interpreter::Ruby => &[
            (b"adlnpsSUvwy", Flag),
            (b"CEIr", Value),
            (b"FixK", Glued),
            (b"0W", Digits),
            (b"e", Code),
            // `-T` (taint) was removed in ruby 3.0: "invalid option -T".
            (b"chT", Nothing),
        ],
        // perlrun.
        Interpreter::Perl => &[
            (b"afnpsStTuUwWX", Flag),
            (b"I", Value),
            (b"mM", Attached),
            (b"CdDFix", Glued),
            (b"0l", Digits),
            (b"eE", Code),
            (b"chvV", Nothing),
        ],
        // php --help (CLI SAPI).
        Interpreter::Php => &[
            (b"aCeHnq", Flag),
            // `-B`/`-E` code runs around `-R` code or the `-F` file,
            // which is the program.
            (b"cdtzBE", Value),
            (b"rR", Code),
            // `-F FILE`: FILE is the program (see [`PreloadKind`]).
            (b"F", Value),
            (b"f", Script),
            (b"hilmsSvw", Nothing),
        ],
    };
    table
        .iter()
        .find(|(chars, _)| chars.contains(&c))
        .map(|&(_, o)| o)
}

/// A long option of this interpreter (the name before any `=`, with
/// node's `_` read as `-`), or `None` when swmon does not know it.
fn long_opt(kind: Interpreter, name: &[u8]) -> Option<Opt> {
    use Opt::*;
    if matches!(name, b"--help" | b"--version") {
        return Some(Nothing);
    }
    let o = match kind {
        Interpreter::Python => match name {
            b"--check-hash-based-pycs" => Value,
            b"--help-env" | b"--help-xoptions" | b"--help-all" => Nothing,
            _ => return None,
        },
        Interpreter::Node => return node_long(name),
        Interpreter::Ruby => match name {
            b"--encoding"
            | b"--external-encoding"
            | b"--internal-encoding"
            | b"--enable"
            | b"--disable"
            | b"--dump"
            // `--backtrace-limit 3` as well as `=3` (ruby 3.1); 3.3's
            // `--crash-report=TEMPLATE`, `--parser=prism`.
            | b"--backtrace-limit"
            | b"--crash-report"
            | b"--parser" => Value,
            b"--copyright" => Nothing,
            b"--verbose" | b"--debug" | b"--jit" | b"--yjit" | b"--rjit" => Flag,
            // `--enable-gems`, `--disable-did_you_mean`, `--yjit-exec-mem-size=N`.
            n if [
                &b"--enable-"[..],
                b"--disable-",
                b"--yjit-",
                b"--jit-",
                b"--rjit-",
            ]
            .iter()
            .any(|p| n.starts_with(p)) =>
            {
                Flag
            }
            _ => return None,
        },
        Interpreter::Perl => return None,
        Interpreter::Php => match name {
            b"--php-ini" | b"--define" | b"--zend-extension" => Value,
            b"--no-php-ini" | b"--interactive" | b"--profile-info" | b"--hide-args"
            | b"--no-chdir" => Flag,
            b"--file" => Script,
            b"--run" | b"--process-code" => Code,
            b"--process-file" | b"--process-begin" | b"--process-end" => Value,
            b"--info"
            | b"--syntax-check"
            | b"--modules"
            | b"--syntax-highlight"
            | b"--syntax-highlighting"
            | b"--strip"
            | b"--ini"
            | b"--rf"
            | b"--rfunction"
            | b"--rc"
            | b"--rclass"
            | b"--re"
            | b"--rextension"
            | b"--rz"
            | b"--rzendextension"
            | b"--ri"
            | b"--rextinfo" => Nothing,
            _ => return None,
        },
    };
    Some(o)
}

/// node's long options (`node --help`, and the V8 options people pass
/// it). Node takes a value as `--opt=VALUE` or as the next argument.
fn node_long(name: &[u8]) -> Option<Opt> {
    use Opt::*;
    let o = match name {
        b"--require"
        | b"--import"
        | b"--loader"
        | b"--experimental-loader"
        | b"--conditions"
        | b"--input-type"
        | b"--title"
        | b"--env-file"
        | b"--env-file-if-exists"
        | b"--inspect-port"
        | b"--debug-port"
        | b"--report-dir"
        | b"--report-directory"
        | b"--report-filename"
        | b"--report-signal"
        | b"--redirect-warnings"
        | b"--diagnostic-dir"
        | b"--dns-result-order"
        | b"--disable-warning"
        | b"--experimental-default-type"
        | b"--experimental-specifier-resolution"
        | b"--es-module-specifier-resolution"
        | b"--experimental-policy"
        | b"--policy-integrity"
        | b"--heapsnapshot-signal"
        | b"--heapsnapshot-near-heap-limit"
        | b"--heap-prof-dir"
        | b"--heap-prof-name"
        | b"--heap-prof-interval"
        | b"--cpu-prof-dir"
        | b"--cpu-prof-name"
        | b"--cpu-prof-interval"
        | b"--icu-data-dir"
        | b"--openssl-config"
        | b"--secure-heap"
        | b"--secure-heap-min"
        | b"--tls-cipher-list"
        | b"--tls-keylog"
        | b"--unhandled-rejections"
        | b"--use-largepages"
        | b"--max-http-header-size"
        | b"--watch-path"
        | b"--snapshot-blob"
        | b"--test-reporter"
        | b"--test-reporter-destination"
        | b"--test-name-pattern"
        | b"--test-skip-pattern"
        | b"--test-concurrency"
        | b"--test-timeout"
        | b"--test-shard"
        | b"--localstorage-file"
        | b"--trace-event-categories"
        | b"--trace-event-file-pattern"
        | b"--allow-fs-read"
        | b"--allow-fs-write"
        | b"--stack-trace-limit"
        | b"--max-old-space-size"
        | b"--max-semi-space-size"
        | b"--stack-size"
        | b"--build-snapshot-config"
        | b"--disable-proto"
        | b"--inspect-publish-uid"
        | b"--network-family-autoselection-attempt-timeout"
        | b"--trace-require-module"
        | b"--experimental-config-file"
        | b"--v8-pool-size" => Value,
        b"--eval" | b"--print" => Code,
        b"--check" => Check,
        b"--test"
        | b"--run"
        | b"--v8-options"
        | b"--completion-bash"
        | b"--prof-process"
        | b"--experimental-sea-config" => Nothing,
        b"--interactive"
        | b"--no-warnings"
        | b"--trace-warnings"
        | b"--trace-deprecation"
        | b"--throw-deprecation"
        | b"--pending-deprecation"
        | b"--enable-source-maps"
        | b"--preserve-symlinks"
        | b"--preserve-symlinks-main"
        | b"--expose-gc"
        | b"--expose-internals"
        | b"--abort-on-uncaught-exception"
        | b"--trace-uncaught"
        | b"--trace-exit"
        | b"--trace-sigint"
        | b"--trace-sync-io"
        | b"--trace-tls"
        | b"--zero-fill-buffers"
        | b"--use-openssl-ca"
        | b"--use-bundled-ca"
        | b"--openssl-legacy-provider"
        | b"--openssl-shared-config"
        | b"--frozen-intrinsics"
        | b"--jitless"
        | b"--inspect"
        | b"--inspect-brk"
        | b"--inspect-wait"
        | b"--watch"
        | b"--watch-preserve-output"
        | b"--prof"
        | b"--cpu-prof"
        | b"--heap-prof"
        | b"--report-on-fatalerror"
        | b"--report-uncaught-exception"
        | b"--report-on-signal"
        | b"--report-compact"
        | b"--insecure-http-parser"
        | b"--force-fips"
        | b"--enable-fips"
        | b"--harmony"
        | b"--permission"
        | b"--experimental-permission"
        | b"--experimental-vm-modules"
        | b"--experimental-modules"
        | b"--experimental-repl-await"
        | b"--experimental-wasm-modules"
        | b"--experimental-json-modules"
        | b"--experimental-import-meta-resolve"
        | b"--experimental-network-imports"
        | b"--experimental-strip-types"
        | b"--experimental-transform-types"
        | b"--experimental-detect-module"
        | b"--experimental-require-module"
        | b"--experimental-global-webcrypto"
        | b"--experimental-fetch"
        | b"--experimental-websocket"
        | b"--experimental-worker"
        | b"--experimental-report"
        | b"--experimental-top-level-await"
        | b"--experimental-wasi-unstable-preview1"
        | b"--build-snapshot"
        | b"--allow-child-process"
        | b"--allow-worker"
        | b"--allow-wasi"
        | b"--allow-addons"
        | b"--node-memory-debug"
        | b"--perf-basic-prof"
        | b"--perf-prof"
        | b"--interpreted-frames-native-stack"
        | b"--track-heap-objects"
        | b"--extra-info-on-fatal-exception"
        | b"--force-context-aware"
        // node 20's `--help`, found missing by review (and by the test
        // that reads it).
        | b"--disable-wasm-trap-handler"
        | b"--disallow-code-generation-from-strings"
        | b"--enable-etw-stack-walking"
        | b"--experimental-eventsource"
        | b"--experimental-network-inspection"
        | b"--experimental-print-required-tla"
        | b"--experimental-test-coverage"
        | b"--experimental-test-module-mocks"
        | b"--force-node-api-uncaught-exceptions-policy"
        | b"--huge-max-old-generation-size"
        | b"--enable-network-family-autoselection"
        | b"--report-exclude-network"
        | b"--test-force-exit"
        | b"--test-only"
        | b"--tls-max-v1.2"
        | b"--tls-max-v1.3"
        | b"--tls-min-v1.0"
        | b"--tls-min-v1.1"
        | b"--tls-min-v1.2"
        | b"--tls-min-v1.3"
        | b"--trace-atomics-wait"
        | b"--trace-promises" => Flag,
        // `--no-X` negates a boolean: node and V8 accept it for any of theirs.
        n if n.starts_with(b"--no-") => Flag,
        _ => return None,
    };
    Some(o)
}

/// What an interpreter runs, as one reading of its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs<'a> {
    /// A script file: the operand at `index`, or the value of `php -f`.
    Script { index: usize, path: &'a [u8] },
    /// A module (`python -m NAME`, `-mNAME`): `index` holds it.
    Module { index: usize, name: &'a [u8] },
    /// Inline code (`-c`, `-e`, `-r`, `--eval`): `index` holds the code
    /// (the option's own argument when glued on, `-cCODE`, `--eval=CODE`,
    /// else the next one); read by [`super::code`]. node, perl, ruby and
    /// php read options after the code; `end` is where the code's own
    /// arguments start (the first operand, or after `--`). perl and ruby
    /// join every `-e` (see [`Reading::codes`]), node runs the last one
    /// (`index` is then that one's).
    Code {
        index: usize,
        code: &'a [u8],
        end: usize,
    },
    /// node's syntax check (`-c`, `--check` at `index`): the script is
    /// not run, but `-r` preloads are, with the script's arguments.
    Check { index: usize },
    /// Standard input: `-`, PHP's `--`, a `/dev/stdin` path at `index`, or
    /// no program given at all (`index` is then argv's length). The
    /// program's own arguments start after `index`; which program it is
    /// only the kernel can say (fd 0's file).
    Stdin { index: usize },
    /// No program: `--version`, `--help`, a syntax check.
    Nothing,
}

/// One reading of an interpreter's argv: what it runs, and the indices of
/// the options swmon does not know that stood before the program (each
/// read one way, as a flag or as taking a value). Empty `guessed`: the
/// reading is certain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading<'a> {
    pub runs: Runs<'a>,
    pub guessed: Vec<usize>,
    /// The first installer-looking file an option loads and runs before
    /// the program (`node -r FILE`, `php -F FILE`, `php -d
    /// auto_prepend_file=FILE`), if any: see [`Preload`].
    pub preload: Option<Preload<'a>>,
    /// php's last `-d auto_prepend_file=` and `-d auto_append_file=`
    /// (php keeps the last of each; an earlier one is not run), whether
    /// or not an installer's.
    pub prepend: Option<Preload<'a>>,
    pub append: Option<Preload<'a>>,
    /// Whether an option loads the installer's module for inline code
    /// (perl `-MCPAN`, `-mCPAN`; ruby `-rrubygems/gem_runner`), before or
    /// after the code.
    pub loaded: Load,
    /// Every inline code piece of a [`Runs::Code`] reading, in order
    /// (perl and ruby run them joined with newlines).
    pub codes: Vec<&'a [u8]>,
}

/// How an option loads the installer's module for inline code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Load {
    #[default]
    No,
    /// Loaded without importing (perl `-mCPAN`): only qualified calls
    /// (`CPAN::Shell->install`) reach it.
    Required,
    /// Loaded and imported (perl `-MCPAN`, ruby `-r`).
    Imported,
}

/// How an interpreter option runs a file besides the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreloadKind {
    /// node `-r`/`--require`/`--import`: loaded in the main thread before
    /// the program, with the program's `process.argv`.
    NodeRequire,
    /// node `--loader`/`--experimental-loader`: loaded in the hooks'
    /// worker thread, whose `process.argv` holds no arguments (node 20).
    NodeLoader,
    /// php `-F`/`--process-file`: the file is the program, run for every
    /// line of standard input; operands after the options are its
    /// `$argv[1..]`.
    PhpProcessFile,
    /// php `-d auto_prepend_file=FILE`: run before the script, the `-F`
    /// file or the standard input program, with its `$argv`; not for
    /// `-r`/`-R` code (tested on php 8.2). php keeps the last one.
    PhpPrepend,
    /// php `-d auto_append_file=FILE`: the same, run after the program.
    PhpAppend,
}

/// A file an option makes the interpreter run besides the program: the
/// index of the argument holding it, the file as written (a path, a
/// `file://` URL, or node's bare package name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preload<'a> {
    pub index: usize,
    pub path: &'a [u8],
    pub kind: PreloadKind,
}

/// The unknown options kept in [`Reading::guessed`] (more are read, not
/// listed).
const GUESSED_MAX: usize = 8;

/// What a [`walk`] carries from one option to the next besides the
/// guesses: the preloads found, the module loaded, the inline code read
/// so far (the first code's index, the last's, and the last piece's node
/// in the walk's code list).
#[derive(Clone, Copy, Debug, Default)]
struct Ctx<'a> {
    preload: Option<Preload<'a>>,
    prepend: Option<Preload<'a>>,
    append: Option<Preload<'a>>,
    loaded: Load,
    code: Option<(usize, usize, u32)>,
}

impl Ctx<'_> {
    /// Which of the at most 64 kinds of context this is, for [`walk`]'s
    /// read-once rule.
    fn key(&self) -> u32 {
        u32::from(self.preload.is_some())
            | u32::from(self.prepend.is_some()) << 1
            | u32::from(self.append.is_some()) << 2
            | u32::from(self.code.is_some()) << 3
            | (self.loaded as u32) << 4
    }
}

/// One argument index still to read by [`walk`]: the index, the unknown
/// options guessed to reach it, what was read before it.
type State<'a> = (usize, Vec<usize>, Ctx<'a>);

/// The module an option loads (perl `-M`/`-m`, ruby `-r`), when it is
/// the one inline code needs to run an installer.
fn load_of(kind: Interpreter, c: u8, value: &[u8]) -> Load {
    let named = |module: &[u8]| {
        value.strip_prefix(module).is_some_and(|rest| {
            rest.is_empty()
                || rest.starts_with(b"=")
                || rest.first().is_some_and(u8::is_ascii_whitespace)
                || rest == b".rb"
        })
    };
    match (kind, c) {
        // `-MCPAN`, `-MCPAN=install`, `"-MCPAN qw(install)"` import;
        // `-mCPAN` does not (`-mCPAN=x` imports `x`).
        (Interpreter::Perl, b'M') if named(b"CPAN") => Load::Imported,
        (Interpreter::Perl, b'm') if named(b"CPAN") => {
            if value.starts_with(b"CPAN=") {
                Load::Imported
            } else {
                Load::Required
            }
        }
        (Interpreter::Ruby, b'r') if named(b"rubygems/gem_runner") => Load::Imported,
        _ => Load::No,
    }
}

/// The file a value option makes the interpreter run besides its program,
/// when it is an installer's (node's `-r`, `--require`, `--import`,
/// `--loader`, `--experimental-loader`; php's `-d`/`--define`
/// `auto_prepend_file=`/`auto_append_file=`), or always for php's `-F`/
/// `--process-file` (its operands are then arguments, never a script).
/// `name` is the option as written (`-r`, `--require`), `at` the index of
/// the argument holding `value`.
fn preload_of<'a>(
    kind: Interpreter,
    name: &[u8],
    at: usize,
    value: &'a [u8],
) -> Option<Preload<'a>> {
    let (kind, path) = match (kind, name) {
        // `require` takes no URL (node 20: `-r file:///x.js` fails).
        (Interpreter::Node, b"-r" | b"--require") if url_scheme(value).is_some() => return None,
        (Interpreter::Node, b"-r" | b"--require" | b"--import") => {
            (PreloadKind::NodeRequire, value)
        }
        (Interpreter::Node, b"--loader" | b"--experimental-loader") => {
            (PreloadKind::NodeLoader, value)
        }
        (Interpreter::Php, b"-F" | b"--process-file") => {
            return Some(Preload {
                index: at,
                path: value,
                kind: PreloadKind::PhpProcessFile,
            })
        }
        (Interpreter::Php, b"-d" | b"--define") => {
            // php trims the key and the value's end, not its start (`-d
            // "auto_prepend_file = x"` opens ` x`: php 8.2), and drops
            // the value's double quotes.
            let eq = value.iter().position(|&c| c == b'=')?;
            let kind = match value[..eq].trim_ascii() {
                b"auto_prepend_file" => PreloadKind::PhpPrepend,
                b"auto_append_file" => PreloadKind::PhpAppend,
                _ => return None,
            };
            let v = value[eq + 1..].trim_ascii_end();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            // Kept whether or not an installer's: a later one replaces
            // an earlier one.
            return Some(Preload {
                index: at,
                path: v,
                kind,
            });
        }
        _ => return None,
    };
    preload_installer(kind, path)?;
    Some(Preload {
        index: at,
        path,
        kind,
    })
}

/// The installer a preloaded file is, and whether that is a guess: a
/// path (or `file://` URL) by [`script_installer`]'s rule; a bare name
/// node resolves as a package (`-r npm`) by [`super::code::node_specifier`]'s,
/// a guess (npm's package main runs its cli only as the main module).
fn preload_installer(kind: PreloadKind, path: &[u8]) -> Option<(u16, Manager, bool)> {
    let node = matches!(kind, PreloadKind::NodeRequire | PreloadKind::NodeLoader);
    let path = match url_scheme(path) {
        // `file:///x`, `FILE:///x`, `file://localhost/x` (node 20 runs
        // all three).
        Some((b"file", rest)) => {
            let rest = rest.strip_prefix(b"//").unwrap_or(rest);
            let rest = match rest.get(..9) {
                Some(host) if host.eq_ignore_ascii_case(b"localhost") => &rest[9..],
                _ => rest,
            };
            if !rest.starts_with(b"/") {
                return None;
            }
            rest
        }
        // `data:text/javascript,import "file:///.../npm-cli.js"`: code,
        // whose imports run; an installer's file or package named in
        // its string literals is taken as run, a guess (the code is not
        // read further: its arguments are not known).
        Some((b"data", body)) if node => {
            let (id, m) = super::code::node_data_url(body)?;
            return Some((id, m, true));
        }
        Some(_) => return None,
        None => path,
    };
    if node && !path.starts_with(b"/") && !path.starts_with(b".") {
        let (id, m) = super::code::node_specifier(path)?;
        return Some((id, m, true));
    }
    let (id, m) = script_installer(path)?;
    Some((id, m, false))
}

/// A URL's scheme, lower-cased to `file` or `data` (node reads schemes
/// case-insensitively), and what follows its `:`; `None` for a path or a
/// bare name, `Some((b"", ..))` for another scheme.
fn url_scheme(value: &[u8]) -> Option<(&'static [u8], &[u8])> {
    let colon = value.iter().position(|&c| c == b':')?;
    let scheme = &value[..colon];
    if scheme.len() < 2
        || !scheme[0].is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = &value[colon + 1..];
    Some(if scheme.eq_ignore_ascii_case(b"file") {
        (b"file", rest)
    } else if scheme.eq_ignore_ascii_case(b"data") {
        (b"data", rest)
    } else {
        (b"", rest)
    })
}

/// The installer a reading's preload runs, with its arguments: see
/// [`PreloadKind`] for where each kind finds them. `None` when it runs no
/// installer (php's prepend is not run for `-r` code, node's `-r` not for
/// `--version`), so the program is read as usual. php's prepend runs
/// before a `-F` file, so it is looked at first.
fn preload_target(argv: &[&[u8]], r: &Reading<'_>) -> Option<Target> {
    let len = argv.len();
    let after = |index: usize| (index + 1).min(len);
    let target = |p: Preload<'_>, (installer_id, manager, uncertain), start| Target {
        installer_id,
        manager,
        via: "interpreter-preload",
        index: p.index,
        start,
        inline_args: None,
        guessed: r.guessed.clone(),
        uncertain,
        args_unknown: false,
    };
    let process_file = r.preload.filter(|p| p.kind == PreloadKind::PhpProcessFile);
    for p in [r.prepend, r.append].into_iter().flatten() {
        let Some(hit) = preload_installer(p.kind, p.path) else {
            continue;
        };
        let start = match (process_file, r.runs) {
            // `php -F tool.php -d auto_prepend_file=composer.phar ARGS`:
            // $argv is [tool.php, ARGS].
            (Some(_), Runs::Script { index, .. }) => index,
            (_, Runs::Script { index, .. } | Runs::Stdin { index }) => after(index),
            _ => continue,
        };
        return Some(target(p, hit, start));
    }
    let p = r.preload?;
    let (installer_id, manager, mut uncertain) = preload_installer(p.kind, p.path)?;
    let start = match (p.kind, r.runs) {
        (PreloadKind::NodeRequire, Runs::Script { index, .. } | Runs::Stdin { index }) => {
            after(index)
        }
        // `node -r FILE -e CODE [--] X ARGS`: process.argv is [node, X,
        // ARGS], read from its third entry, as for inline code.
        (PreloadKind::NodeRequire, Runs::Code { end, .. }) => (end + 1).min(len),
        // A syntax check still runs preloads with the script's arguments
        // (node 20: `node -r F --check x.js install y` gives F
        // process.argv [node, x.js, install, y]): the script is the
        // first argument after the check that is not an option, a guess.
        (PreloadKind::NodeRequire, Runs::Check { index }) => {
            uncertain = true;
            argv.iter()
                .skip(index + 1)
                .position(|a| !a.starts_with(b"-"))
                .map_or(len, |k| after(index + 1 + k))
        }
        // `--version`, `--help`: node runs no preload.
        (PreloadKind::NodeRequire, _) => return None,
        // The hooks' thread sees `process.argv` as `[node]`.
        (PreloadKind::NodeLoader, _) => {
            uncertain = true;
            len
        }
        // `php -F FILE ARGS`: the first operand is `$argv[1]`; after `--`,
        // the next one.
        (PreloadKind::PhpProcessFile, Runs::Script { index, .. }) => index,
        (PreloadKind::PhpProcessFile, Runs::Stdin { index }) => after(index),
        _ => return None,
    };
    Some(target(p, (installer_id, manager, uncertain), start))
}

/// Walks an interpreter's options (`argv[0]` is the interpreter and is
/// not looked at) and calls `found` with each reading until it returns
/// `Some`. Known options are read exactly. An option swmon does not know
/// may or may not take the next argument as its value: both readings are
/// followed, the flag one first, so that a real install behind an unknown
/// option (`node --report-dir /tmp npm-cli.js install x`) is still found
/// (fail open); the reading that found it lists the unknown options it
/// guessed. Inline code does not end node's, perl's, ruby's or php's
/// options (python's `-c` does): the code is kept and the options after
/// it read, up to the first operand. Each argument index is read at most
/// once per kind of context ([`Ctx::key`]: what follows an index does not
/// depend on how it was reached), and a code reading with no preload is
/// offered once per code list, so a walk is linear in argv, whatever the
/// number of unknown options and code options.
pub fn walk<'a, T>(
    kind: Interpreter,
    argv: &[&'a [u8]],
    mut found: impl FnMut(&Reading<'a>) -> Option<T>,
) -> Option<T> {
    let mut seen = vec![0u64; argv.len() + 2];
    // The code pieces read, each with the node of the piece before it.
    let mut pieces: Vec<(&'a [u8], u32)> = Vec::new();
    let mut tried = std::collections::HashSet::new();
    // Pieces copied into readings: past this budget a reading gets only
    // its last piece (an argv built to make the walk quadratic).
    let mut budget = 4 * argv.len() + 64;
    let mut todo: Vec<State<'a>> = vec![(1, Vec::new(), Ctx::default())];
    while let Some((i, guessed, ctx)) = todo.pop() {
        let slot = &mut seen[i.min(argv.len() + 1)];
        let bit = 1u64 << ctx.key();
        if *slot & bit != 0 {
            continue;
        }
        *slot |= bit;
        let Some(runs) = read_at(kind, argv, i, &guessed, ctx, &mut pieces, &mut todo) else {
            continue;
        };
        let mut codes = Vec::new();
        if let Runs::Code { code, .. } = runs {
            match ctx.code {
                Some((_, _, head)) => {
                    let bare =
                        ctx.preload.is_none() && ctx.prepend.is_none() && ctx.append.is_none();
                    if bare && !tried.insert((head, ctx.loaded)) {
                        continue;
                    }
                    let mut at = head;
                    while let Some(&(piece, prev)) = pieces.get(at as usize) {
                        if budget == 0 {
                            codes = vec![code];
                            break;
                        }
                        budget -= 1;
                        codes.push(piece);
                        at = prev;
                    }
                    codes.reverse();
                }
                None => codes.push(code),
            }
        }
        let reading = Reading {
            runs,
            guessed,
            preload: ctx.preload,
            prepend: ctx.prepend,
            append: ctx.append,
            loaded: ctx.loaded,
            codes,
        };
        if let Some(t) = found(&reading) {
            return Some(t);
        }
    }
    None
}

/// What the first operand at `i` (or argv's end, or the `--` before it)
/// makes of a reading: the inline code read so far with its arguments
/// from `i`, else `other`.
fn operand<'a>(
    kind: Interpreter,
    ctx: &Ctx<'a>,
    pieces: &[(&'a [u8], u32)],
    end: usize,
    other: Runs<'a>,
) -> Runs<'a> {
    match ctx.code {
        Some((first, last, head)) => Runs::Code {
            index: if kind == Interpreter::Node {
                last
            } else {
                first
            },
            code: pieces.get(head as usize).map_or(&b""[..], |p| p.0),
            end,
        },
        None => other,
    }
}

/// Inline code at `at` (`code`), the options going on at `next`: python
/// runs it at once; the others keep it and read on.
#[allow(clippy::too_many_arguments)]
fn code_opt<'a>(
    kind: Interpreter,
    at: usize,
    code: &'a [u8],
    next: usize,
    guessed: &[usize],
    mut ctx: Ctx<'a>,
    pieces: &mut Vec<(&'a [u8], u32)>,
    todo: &mut Vec<State<'a>>,
) -> Option<Runs<'a>> {
    if kind == Interpreter::Python {
        return Some(Runs::Code {
            index: at,
            code,
            end: at + 1,
        });
    }
    let prev = ctx.code.map_or(u32::MAX, |(_, _, head)| head);
    let head = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    pieces.push((code, prev));
    let first = ctx.code.map_or(at, |(first, _, _)| first);
    ctx.code = Some((first, at, head));
    todo.push((next, guessed.to_vec(), ctx));
    None
}

/// Reads the argument at `i`: what the reading runs when the options end
/// there; else the indices to read next are pushed on `todo`.
fn read_at<'a>(
    kind: Interpreter,
    argv: &[&'a [u8]],
    i: usize,
    guessed: &[usize],
    ctx: Ctx<'a>,
    pieces: &mut Vec<(&'a [u8], u32)>,
    todo: &mut Vec<State<'a>>,
) -> Option<Runs<'a>> {
    let guess = |i: usize| {
        let mut g = guessed.to_vec();
        if g.len() < GUESSED_MAX {
            g.push(i);
        }
        g
    };
    let Some(&a) = argv.get(i) else {
        // No program: the interpreter reads one from standard input.
        let len = argv.len();
        return Some(operand(kind, &ctx, pieces, len, Runs::Stdin { index: len }));
    };
    if a == b"--" {
        // PHP's `--` passes arguments to code read from stdin.
        let other = match (kind, argv.get(i + 1)) {
            (Interpreter::Php, _) => Runs::Stdin { index: i },
            (_, Some(&path)) => script(i + 1, path),
            (_, None) => Runs::Stdin { index: i },
        };
        return Some(operand(kind, &ctx, pieces, i + 1, other));
    }
    if let Some(long) = a.strip_prefix(b"--") {
        // Only interpreters that read `--opt=VALUE` split at `=`
        // (python 3.11 refuses `--check-hash-based-pycs=always`).
        let eq = long.iter().position(|&c| c == b'=');
        if eq.is_some() && kind == Interpreter::Python {
            // python 3.11: "unknown option --check-hash-based-pycs=always".
            return Some(Runs::Nothing);
        }
        let eq = eq.filter(|_| kind != Interpreter::Perl);
        let (name, value) = match eq {
            Some(eq) => (&a[..eq + 2], Some(&long[eq + 1..])),
            None => (a, None),
        };
        let normal: Vec<u8>;
        let name = if kind == Interpreter::Node && name.contains(&b'_') {
            normal = name
                .iter()
                .map(|&c| if c == b'_' { b'-' } else { c })
                .collect();
            &normal[..]
        } else {
            name
        };
        let next = if value.is_some() { i + 1 } else { i + 2 };
        return match long_opt(kind, name) {
            Some(Opt::Flag | Opt::Glued | Opt::Digits | Opt::Attached) => {
                todo.push((i + 1, guessed.to_vec(), ctx));
                None
            }
            Some(Opt::Value) => {
                let held = match value {
                    Some(v) => Some((i, v)),
                    None => argv.get(i + 1).map(|&v| (i + 1, v)),
                };
                let ctx = with_value(kind, name, held, ctx);
                todo.push((next, guessed.to_vec(), ctx));
                None
            }
            Some(Opt::Code) => match (value, argv.get(i + 1)) {
                (Some(code), _) => code_opt(kind, i, code, i + 1, guessed, ctx, pieces, todo),
                (None, Some(&code)) => {
                    code_opt(kind, i + 1, code, i + 2, guessed, ctx, pieces, todo)
                }
                (None, None) => Some(Runs::Nothing),
            },
            Some(Opt::Nothing) => Some(Runs::Nothing),
            Some(Opt::Check) => Some(Runs::Check { index: i }),
            Some(Opt::Script | Opt::Module) => Some(match (value, argv.get(i + 1)) {
                (Some(path), _) => script(i, path),
                (None, Some(&path)) => script(i + 1, path),
                (None, None) => Runs::Nothing,
            }),
            None if value.is_some() => {
                // Its value is glued on: no doubt where it ends.
                todo.push((i + 1, guess(i), ctx));
                None
            }
            None => {
                let g = guess(i);
                todo.push((i + 2, g.clone(), ctx));
                todo.push((i + 1, g, ctx));
                None
            }
        };
    }
    if a.len() < 2 || a[0] != b'-' {
        // `-` is standard input; anything else is the script.
        let other = if a == b"-" {
            Runs::Stdin { index: i }
        } else {
            script(i, a)
        };
        return Some(operand(kind, &ctx, pieces, i, other));
    }
    if kind == Interpreter::Node && a.len() > 2 && !matches!(a, b"-pe" | b"-ep") {
        // node reads no cluster and glues no value to a short option
        // (node 20: "bad option: -r./x.js", "-e1").
        return Some(Runs::Nothing);
    }
    if kind == Interpreter::Node && matches!(a, b"-pe" | b"-ep") {
        // node's one cluster of two code options: print the code in the
        // next argument.
        return match argv.get(i + 1) {
            Some(&code) => code_opt(kind, i + 1, code, i + 2, guessed, ctx, pieces, todo),
            None => Some(Runs::Nothing),
        };
    }
    // A cluster of short options: `-Iu`, `-Wignore`, `-mpip`, `-lne`.
    cluster(kind, argv, i, guessed, ctx, pieces, todo)
}

/// `ctx` after a value option `name` whose value is `held` (its index and
/// bytes): the preload it names, the module it loads.
fn with_value<'a>(
    kind: Interpreter,
    name: &[u8],
    held: Option<(usize, &'a [u8])>,
    mut ctx: Ctx<'a>,
) -> Ctx<'a> {
    let Some((at, v)) = held else {
        return ctx;
    };
    if let [b'-', c] = name {
        ctx.loaded = ctx.loaded.max(load_of(kind, *c, v));
    }
    match preload_of(kind, name, at, v) {
        Some(
            p @ Preload {
                kind: PreloadKind::PhpPrepend,
                ..
            },
        ) => ctx.prepend = Some(p),
        Some(
            p @ Preload {
                kind: PreloadKind::PhpAppend,
                ..
            },
        ) => ctx.append = Some(p),
        Some(p) => ctx.preload = ctx.preload.or(Some(p)),
        None => {}
    }
    ctx
}

/// Reads the short-option cluster at `argv[i]`: what it runs, when it
/// ends the options; else the indices to read next are pushed on `todo`
/// (an unknown option pushes its value reading, and the cluster goes on
/// as if it were a flag).
fn cluster<'a>(
    kind: Interpreter,
    argv: &[&'a [u8]],
    i: usize,
    guessed: &[usize],
    ctx: Ctx<'a>,
    pieces: &mut Vec<(&'a [u8], u32)>,
    todo: &mut Vec<State<'a>>,
) -> Option<Runs<'a>> {
    let a = argv[i];
    let mut guessed = guessed.to_vec();
    let mut j = 1;
    while let Some(&c) = a.get(j) {
        let rest = &a[j + 1..];
        // The index after this option's value: glued on, or the next
        // argument.
        let after_value = if rest.is_empty() { i + 2 } else { i + 1 };
        match short_opt(kind, c) {
            Some(Opt::Flag) => j += 1,
            Some(Opt::Digits) => {
                j += 1;
                j += digits(kind, c, &a[j..]);
            }
            Some(Opt::Glued) => break,
            Some(Opt::Attached) => {
                // perl `-MMODULE`: the rest of the argument, never the
                // next one ("Missing argument to -M").
                if rest.is_empty() {
                    return Some(Runs::Nothing);
                }
                let ctx = with_value(kind, &[b'-', c], Some((i, rest)), ctx);
                todo.push((i + 1, guessed, ctx));
                return None;
            }
            Some(Opt::Value) => {
                let held = if rest.is_empty() {
                    argv.get(i + 1).map(|&v| (i + 1, v))
                } else {
                    Some((i, rest))
                };
                let ctx = with_value(kind, &[b'-', c], held, ctx);
                todo.push((after_value, guessed, ctx));
                return None;
            }
            Some(Opt::Code) => {
                return if !rest.is_empty() {
                    code_opt(kind, i, rest, i + 1, &guessed, ctx, pieces, todo)
                } else {
                    match argv.get(i + 1) {
                        Some(&code) => {
                            code_opt(kind, i + 1, code, i + 2, &guessed, ctx, pieces, todo)
                        }
                        None => Some(Runs::Nothing),
                    }
                };
            }
            Some(Opt::Nothing) => return Some(Runs::Nothing),
            Some(Opt::Check) => return Some(Runs::Check { index: i }),
            Some(o @ (Opt::Module | Opt::Script)) => {
                let (index, arg) = if rest.is_empty() {
                    match argv.get(i + 1) {
                        Some(&v) => (i + 1, v),
                        None => return Some(Runs::Nothing),
                    }
                } else {
                    (i, rest)
                };
                return Some(if o == Opt::Module {
                    Runs::Module { index, name: arg }
                } else {
                    script(index, arg)
                });
            }
            None => {
                if guessed.len() < GUESSED_MAX && !guessed.contains(&i) {
                    guessed.push(i);
                }
                todo.push((after_value, guessed.clone(), ctx));
                j += 1;
            }
        }
    }
    // The cluster ended as flags: the next argument is read next (on top
    // of the stack, before any value reading pushed above).
    todo.push((i + 1, guessed, ctx));
    None
}

/// How many bytes of `rest` a digits option `c` takes (perlrun: `-l` and
/// `-0` octal digits, `-0x` hex digits; ruby: `-0` octal, `-T` decimal,
/// `-W` a level digit or `:category`, the rest of the argument), so that
/// the letters after them are options again (`perl -le`, `-0777ne`).
fn digits(kind: Interpreter, c: u8, rest: &[u8]) -> usize {
    let run = |from: usize, ok: fn(&u8) -> bool| {
        from + rest[from.min(rest.len())..]
            .iter()
            .take_while(|d| ok(d))
            .count()
    };
    let octal = |d: &u8| (b'0'..=b'7').contains(d);
    match (kind, c) {
        (Interpreter::Perl, b'0') if matches!(rest.first(), Some(b'x' | b'X')) => {
            run(1, u8::is_ascii_hexdigit)
        }
        (Interpreter::Ruby, b'W') if rest.first() == Some(&b':') => rest.len(),
        (Interpreter::Ruby, b'W') => run(0, u8::is_ascii_digit),
        _ => run(0, octal),
    }
}

/// A script argument, or standard input named as a path.
fn script(index: usize, path: &[u8]) -> Runs<'_> {
    if is_stdin_path(path) {
        Runs::Stdin { index }
    } else {
        Runs::Script { index, path }
    }
}

/// What swmon makes of one whole command line, without running it
/// (`swmon classify`): the installer it runs and what it was asked to do.
/// The golden tests go through this too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// argv\[0\] of the command classified (after any wrapper), escaped.
    pub program: String,
    /// That command's argv, after any wrapper.
    pub argv: Vec<Vec<u8>>,
    pub target: Option<Target>,
    pub class: Option<super::Classification>,
    /// `swmon.scope`: what argv says, else the manager's default for a
    /// run of this program (a run's venv or working folder is not known
    /// here); `root:DIR` for a system install under `chroot DIR`.
    pub scope: Option<String>,
    /// Local package files read ([`explain_reading_files`]); empty for
    /// [`explain`], which reads nothing.
    pub files: Vec<crate::package_file::FileFact>,
    /// Interpreter options swmon does not know, read one way to find the
    /// installer (escaped): the reading is uncertain.
    pub unknown_options: Vec<String>,
    /// The wrappers unwrapped to reach the command (`sudo -u root`, `env
    /// A=1`, `sh -c STRING`), outermost first, each as the words it took
    /// (escaped); see [`super::wrapper`].
    pub wrappers: Vec<Vec<String>>,
    /// Some wrapper words were cut (see [`super::wrapper::Simple`]'s
    /// `wrappers_cut`).
    pub wrappers_cut: bool,
    /// The shell string runs code not expanded here (see
    /// [`super::wrapper::Simple`]'s `not_expanded`).
    pub not_expanded: bool,
    /// `xargs`: more arguments come from `stdin` (or `file:FILE`), so the
    /// packages named may not be all.
    pub more_arguments_from: Option<String>,
    /// The command line held several simple commands (a shell string with
    /// `&&`, `;`, `|`): each of them that runs an installer, in order (this
    /// object is the first of them). Empty for a single command.
    pub commands: Vec<Explained>,
    /// More simple commands than were read (the list was cut).
    pub commands_truncated: bool,
}

/// Reads one simple command: argv\[0\] is the program (a path or a name).
fn explain_simple(argv: &[&[u8]]) -> Explained {
    let program = super::escape(argv.first().copied().unwrap_or_default());
    let mut e = Explained {
        program,
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        target: None,
        class: None,
        scope: None,
        files: Vec::new(),
        unknown_options: Vec::new(),
        wrappers: Vec::new(),
        wrappers_cut: false,
        not_expanded: false,
        more_arguments_from: None,
        commands: Vec::new(),
        commands_truncated: false,
    };
    let Some(target) = resolve(argv) else {
        return e;
    };
    let args = target.args(argv);
    let class = if target.args_unknown {
        super::unknown_args(target.manager)
    } else {
        super::classify(target.manager, &args)
    };
    e.scope = Some(match &class.scope {
        Some(s) => s.as_str().into_owned(),
        None => default_scope(
            target.manager,
            argv.get(target.index).copied().unwrap_or_default(),
            argv.first().copied().unwrap_or_default(),
        )
        .to_owned(),
    });
    e.unknown_options = target
        .guessed
        .iter()
        .filter_map(|&i| argv.get(i))
        .map(|a| super::escape(a))
        .collect();
    e.target = Some(target);
    e.class = Some(class);
    e
}

/// The scope of a command run with `root` as its root directory (`chroot
/// DIR`, `sudo -R DIR`): the system's is DIR's, a `root:` directory lies
/// under DIR; a user's, project's or environment's stays as it is.
fn in_root(scope: &str, root: &str) -> String {
    let root = root.trim_end_matches('/');
    match scope.strip_prefix("root:") {
        Some(dir) if dir.starts_with('/') => format!("root:{root}{dir}"),
        _ if scope == "system" => format!("root:{}", if root.is_empty() { "/" } else { root }),
        _ => scope.to_owned(),
    }
}

/// Reads a whole command line: argv\[0\] is the program (a path or a
/// name). Wrappers (`sudo`, `env`, `nice`, `timeout`, `xargs`, `chroot`,
/// `sh -c STRING`, ...) are unwrapped first (see [`super::wrapper`]): the
/// command they run is classified, and they are listed in
/// [`Explained::wrappers`]. A shell string of several simple commands
/// gives the first that runs an installer, with every one that does in
/// [`Explained::commands`].
pub fn explain(argv: &[&[u8]]) -> Explained {
    let (simples, truncated) = super::wrapper::unwrap(argv);
    let mut all: Vec<Explained> = simples
        .iter()
        .map(|s| {
            let words: Vec<&[u8]> = s.argv.iter().map(Vec::as_slice).collect();
            let mut e = explain_simple(&words);
            e.wrappers = s
                .wrappers
                .iter()
                .map(|w| w.iter().map(|a| super::escape(a)).collect())
                .collect();
            e.wrappers_cut = s.wrappers_cut;
            e.not_expanded = s.not_expanded;
            e.more_arguments_from = s.more_arguments_from.as_deref().map(super::escape);
            if let (Some(root), Some(scope)) = (&s.root, &e.scope) {
                e.scope = Some(in_root(scope, &super::escape(root)));
            }
            e
        })
        .collect();
    let several = all.len() > 1 || truncated;
    let installers: Vec<Explained> = if several {
        all.iter().filter(|e| e.target.is_some()).cloned().collect()
    } else {
        Vec::new()
    };
    let mut primary = match all.iter().position(|e| e.target.is_some()) {
        Some(i) => all.swap_remove(i),
        None if !all.is_empty() => all.swap_remove(0),
        // A wrapper that runs no command (`sudo -l`, `env`): the line as
        // it stands, which runs no installer.
        None => explain_simple(argv),
    };
    primary.commands = installers;
    primary.commands_truncated = truncated;
    primary
}

/// [`explain`], then the local package files the command line names read
/// for their real name and version (an install or upgrade only), as the
/// process `place` describes sees and may read them: what `swmon
/// classify` prints.
pub fn explain_reading_files(
    argv: &[&[u8]],
    place: impl Fn() -> Result<crate::package_file::Place, crate::package_file::Rejected>,
) -> Explained {
    let read = |e: &mut Explained| {
        if let (Some(t), Some(class)) = (&e.target, &e.class) {
            let argv: Vec<&[u8]> = e.argv.iter().map(Vec::as_slice).collect();
            let args: Vec<Vec<u8>> = t.args(&argv).iter().map(|a| a.to_vec()).collect();
            e.files = crate::package_file::read_operands(
                t.manager,
                class.operation,
                &args,
                place(),
                false,
            );
        }
    };
    let mut e = explain(argv);
    read(&mut e);
    for c in &mut e.commands {
        read(c);
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
        let mut v = self.json_one();
        if let Some(o) = v.as_object_mut() {
            if !self.commands.is_empty() || self.commands_truncated {
                let list: Vec<serde_json::Value> =
                    self.commands.iter().map(Explained::json_one).collect();
                o.insert("commands".into(), serde_json::Value::Array(list));
            }
            if self.commands_truncated {
                o.insert("commands_truncated".into(), serde_json::json!(true));
            }
        }
        v
    }

    /// This command's object, without the list of the others.
    fn json_one(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = self.json_target();
        if let Some(o) = v.as_object_mut() {
            if !self.wrappers.is_empty() {
                o.insert("wrappers".into(), json!(self.wrappers));
            }
            if self.wrappers_cut {
                o.insert("wrappers_cut".into(), json!(true));
            }
            if self.not_expanded {
                o.insert("not_expanded".into(), json!(true));
            }
            if let Some(from) = &self.more_arguments_from {
                o.insert("more_arguments_from".into(), json!(from));
            }
        }
        v
    }

    fn json_target(&self) -> serde_json::Value {
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
            if !self.unknown_options.is_empty() || t.uncertain {
                o.insert("reading".into(), json!("uncertain"));
            }
            if !self.unknown_options.is_empty() {
                o.insert("unknown_options".into(), json!(self.unknown_options));
            }
        }
        v
    }

    /// The same as lines of text for a terminal; control characters are
    /// shown as escapes.
    pub fn text(&self) -> String {
        if self.commands.len() < 2 && !self.commands_truncated {
            return self.text_one();
        }
        use std::fmt::Write;
        let safe = crate::sink::terminal_safe;
        let mut out = String::new();
        let n = self.commands.len();
        for (i, c) in self.commands.iter().enumerate() {
            let line: Vec<String> = c.argv.iter().map(|a| super::escape(a)).collect();
            let _ = writeln!(out, "command {} of {n}: {}", i + 1, safe(&line.join(" ")));
            out.push_str(&c.text_one());
        }
        if self.commands_truncated {
            out.push_str("(more commands than were read)\n");
        }
        out
    }

    fn text_one(&self) -> String {
        use std::fmt::Write;
        let safe = crate::sink::terminal_safe;
        let mut out = String::new();
        for w in &self.wrappers {
            let _ = writeln!(out, "unwrapped:  {}", safe(&w.join(" ")));
        }
        if self.wrappers_cut {
            out.push_str("unwrapped:  (long wrapper words cut)\n");
        }
        if self.not_expanded {
            out.push_str(
                "note:       the shell string runs code not expanded here ($(...), eval, \
                 source, a function): its commands may not all be listed\n",
            );
        }
        let (Some(t), Some(c)) = (&self.target, &self.class) else {
            let _ = writeln!(
                out,
                "manager:    none ({} runs no installer swmon knows)",
                safe(&self.program)
            );
            return out;
        };
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
        if let Some(from) = &self.more_arguments_from {
            let _ = writeln!(
                out,
                "packages:   more arguments from {}: not known here",
                safe(from)
            );
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
        if !self.unknown_options.is_empty() {
            let _ = writeln!(
                out,
                "reading:    uncertain (options swmon does not know: {})",
                safe(&self.unknown_options.join(" "))
            );
        } else if t.uncertain {
            out.push_str(
                "reading:    uncertain (the preloaded installer's arguments are a guess)\n",
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Operation;

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

    /// Manager, via, the installer's arguments, uncertain.
    fn preloaded(line: &str) -> Option<(Manager, &'static str, Vec<String>, bool)> {
        let argv = words(line);
        resolve(&argv).map(|t| {
            let args = t
                .args(&argv)
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (t.manager, t.via, args, t.uncertain || !t.guessed.is_empty())
        })
    }

    #[test]
    fn a_preloaded_installer_is_the_program_run() {
        use Manager::*;
        let cli = "/usr/lib/node_modules/npm/bin/npm-cli.js";
        let p = "interpreter-preload";
        let sure =
            |m, args: &[&str]| Some((m, p, args.iter().map(|a| a.to_string()).collect(), false));
        let guess =
            |m, args: &[&str]| Some((m, p, args.iter().map(|a| a.to_string()).collect(), true));
        for (line, want) in [
            // node: the preloaded cli reads the program's process.argv
            // (checked on node 20: [node, x.js, install, y]).
            (
                format!("node -r {cli} x.js install y"),
                sure(Npm, &["install", "y"]),
            ),
            (
                format!("node --require {cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            (
                format!("node --require={cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            (
                format!("node --import {cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            (
                format!("node --import=file://{cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            // Review: node reads URL schemes case-insensitively, and a
            // file URL's host may be localhost (node 20 runs both).
            (
                format!("node --import=FILE://{cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            (
                format!("node --import file://localhost{cli} x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            // A data: URL's code imports npm's cli: a guess.
            (
                format!("node --import=data:text/javascript,import%20%22file://{cli}%22 x.js i y"),
                guess(Npm, &["i", "y"]),
            ),
            (
                format!("node -r ./a.js -r {cli} --no-warnings x.js i y"),
                sure(Npm, &["i", "y"]),
            ),
            // -e: process.argv is [node, X, ARGS].
            (format!("node -r {cli} -e 1 x i y"), sure(Npm, &["i", "y"])),
            (format!("node -r {cli} - i y"), sure(Npm, &["i", "y"])),
            (format!("node -r {cli}"), sure(Npm, &[])),
            // A bare package name: npm's main runs its cli only as the
            // main module.
            ("node -r npm x.js i y".to_owned(), guess(Npm, &["i", "y"])),
            // The loader's hooks thread sees no arguments.
            (format!("node --loader {cli} x.js i y"), guess(Npm, &[])),
            (
                format!("node --experimental-loader={cli} x.js i y"),
                guess(Npm, &[]),
            ),
            // A syntax check still runs preloads, with the script's
            // arguments (node 20: process.argv [node, x.js, install, y]);
            // the script is guessed as the first operand.
            (
                format!("node -r {cli} -c x.js i y"),
                guess(Npm, &["i", "y"]),
            ),
            (
                format!("node -r {cli} --check x.js install y"),
                guess(Npm, &["install", "y"]),
            ),
            // php keeps the last auto_prepend_file; it runs before the -F
            // file, with $argv [tool.php, ARGS] (php 8.2).
            (
                "php -F tool.php -d auto_prepend_file=./composer.phar require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            (
                "php -d auto_prepend_file=./composer.phar -F tool.php require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            // php drops the value's double quotes.
            (
                "php -d auto_prepend_file=\"./composer.phar\" tool.php require a".to_owned(),
                sure(Composer, &["require", "a"]),
            ),
            (
                "php -d auto_prepend_file=x.php -d auto_prepend_file=composer.phar t.php i"
                    .to_owned(),
                sure(Composer, &["i"]),
            ),
            // php -F: the file is the program, operands its arguments.
            (
                "php -F composer.phar require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            (
                "php -n -F /usr/local/bin/composer -n require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            (
                "php --process-file=composer.phar -- require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            // auto_prepend_file / auto_append_file: run with the
            // script's $argv.
            (
                "php -d auto_prepend_file=composer.phar x.php require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            (
                "php -dauto_append_file=/usr/bin/composer x.php require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
            (
                "php --define auto_prepend_file=composer.phar -- require a/b".to_owned(),
                sure(Composer, &["require", "a/b"]),
            ),
        ] {
            assert_eq!(preloaded(&line), want, "{line}");
        }
        for line in [
            // A preload that is no installer's: the program decides.
            "node -r ./tool.js x.js npm install y".to_owned(),
            "node -r npm-run-all x.js".to_owned(),
            // php -F's operands are arguments, never a script.
            "php -F tool.php composer.phar require a/b".to_owned(),
            // php runs no prepend for -r code (php 8.2).
            "php -d auto_prepend_file=composer.phar -r 1 require a/b".to_owned(),
            "php -d memory_limit=composer.phar x.php".to_owned(),
            // node glues no value to a short option: "bad option".
            format!("node -r{cli} x.js i y"),
            // require takes no URL (node 20 fails).
            format!("node -r file://{cli} x.js i y"),
            "node --import=data:text/javascript,console.log(1) x.js i y".to_owned(),
            // --version runs no preload (node 20).
            format!("node -r {cli} -v"),
            format!("node -r {cli} --version"),
            // php keeps the last prepend only.
            "php -d auto_prepend_file=composer.phar -d auto_prepend_file=x.php t.php i".to_owned(),
        ] {
            assert_eq!(preloaded(&line), None, "{line}");
        }
        // The program's own installer still counts when the preload is none.
        assert_eq!(
            preloaded(&format!("node -r ./a.js {cli} i y")),
            Some((
                Npm,
                "interpreter-script",
                vec!["i".into(), "y".into()],
                false
            ))
        );
    }

    #[test]
    fn perl_and_ruby_inline_code_that_runs_their_installer() {
        use Manager::*;
        let run = |argv: &[&str]| {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            resolve(&argv).map(|t| {
                let args: Vec<String> = t
                    .args(&argv)
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (t.manager, t.via, args)
            })
        };
        let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            run(&["perl", "-MCPAN", "-e", "install X"]),
            Some((Cpan, "inline-code", v(&["-i", "X"])))
        );
        // perl: "Missing argument to -M" (5.36): nothing runs.
        assert_eq!(run(&["perl", "-M", "CPAN", "-eshell"]), None);
        assert_eq!(
            run(&["perl", "-MCPAN", "-eshell"]),
            Some((Cpan, "inline-code", v(&[])))
        );
        assert_eq!(
            run(&["perl", "-MCPAN qw(install)", "-e", "install X"]),
            Some((Cpan, "inline-code", v(&["-i", "X"])))
        );
        // -m imports nothing: `install X` is X->install.
        assert_eq!(run(&["perl", "-mCPAN", "-e", "install X"]), None);
        assert_eq!(
            run(&["perl", "-w", "-MCPAN=install", "-le", "install 'Y'"]),
            Some((Cpan, "inline-code", v(&["-i", "Y"])))
        );
        assert_eq!(run(&["perl", "-MCPANPLUS", "-e", "install X"]), None);
        assert_eq!(run(&["perl", "-e", "install X"]), None);
        assert_eq!(
            run(&[
                "ruby",
                "-rrubygems/gem_runner",
                "-e",
                "Gem::GemRunner.new.run ARGV",
                "install",
                "rake"
            ]),
            Some((Gem, "inline-code", v(&["install", "rake"])))
        );
        assert_eq!(
            run(&[
                "ruby",
                "-r",
                "rubygems/gem_runner",
                "-e",
                "Gem::GemRunner.new.run ARGV",
                "--",
                "install",
                "rake"
            ]),
            Some((Gem, "inline-code", v(&["install", "rake"])))
        );
        assert_eq!(
            run(&[
                "ruby",
                "-e",
                "Gem::GemRunner.new.run ARGV",
                "install",
                "rake"
            ]),
            None
        );
    }

    /// Review: node, perl, ruby and php keep reading their options after
    /// inline code (`-e`, `-p`, php's `-B`): a preload or module option
    /// after the code still applies; perl and ruby join every `-e` with
    /// newlines (checked on node 20, perl 5.36, ruby 3.1, php 8.2).
    #[test]
    fn options_after_inline_code_are_read() {
        use Manager::*;
        let cli = "/usr/lib/node_modules/npm/bin/npm-cli.js";
        let p = "interpreter-preload";
        let c = "inline-code";
        let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let line = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let run = |argv: Vec<String>| {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            resolve(&argv).map(|t| {
                let args: Vec<String> = t
                    .args(&argv)
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (t.manager, t.via, args)
            })
        };
        assert_eq!(
            run(line(&["node", "-e", "1", "-r", cli, "x", "install", "y"])),
            Some((Npm, p, v(&["install", "y"])))
        );
        let req = format!("--require={cli}");
        assert_eq!(
            run(line(&["node", "-p", "1", &req, "x", "install", "y"])),
            Some((Npm, p, v(&["install", "y"])))
        );
        // After the first operand, node's options are process.argv.
        assert_eq!(
            run(line(&["node", "-e", "1", "x", "-r", cli, "install"])),
            None
        );
        assert_eq!(
            run(line(&[
                "php",
                "-B",
                "echo 1;",
                "-F",
                "./composer.phar",
                "require",
                "a/b"
            ])),
            Some((Composer, p, v(&["require", "a/b"])))
        );
        assert_eq!(
            run(line(&["perl", "-e", "install X", "-MCPAN"])),
            Some((Cpan, c, v(&["-i", "X"])))
        );
        assert_eq!(
            run(line(&["perl", "-MCPAN", "-e", "1;", "-e", "install X"])),
            Some((Cpan, c, v(&["-i", "X"])))
        );
        assert_eq!(
            run(line(&[
                "ruby",
                "-e",
                "Gem::GemRunner.new.run ARGV",
                "-rrubygems/gem_runner",
                "install",
                "rake"
            ])),
            Some((Gem, c, v(&["install", "rake"])))
        );
        assert_eq!(
            run(line(&[
                "ruby",
                "-rrubygems/gem_runner",
                "-e",
                "1",
                "-e",
                "Gem::GemRunner.new.run ARGV",
                "install",
                "rake"
            ])),
            Some((Gem, c, v(&["install", "rake"])))
        );
        // perl: after the first operand, options are @ARGV.
        assert_eq!(run(line(&["perl", "-e", "install X", "a", "-MCPAN"])), None);
        // python stops at -c: what follows is sys.argv.
        assert_eq!(
            run(line(&["python3", "-c", "1", "-m", "pip", "install", "x"])),
            None
        );
    }

    /// Review: inline code that calls its installer with arguments it
    /// does not give as literals must not have argv's trailing words read
    /// as them (a decoy `list` turned an install into a query): the
    /// reading is uncertain, the operation other, the arguments none.
    #[test]
    fn inline_code_arguments_not_given_as_literals_are_unknown() {
        use Manager::*;
        let cli = "/usr/lib/node_modules/npm/bin/npm-cli.js";
        let read = |argv: &[&str]| {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            let e = explain(&argv);
            e.target.as_ref().map(|t| {
                let args: Vec<String> = t
                    .args(&argv)
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                let op = e.class.as_ref().map(|c| c.operation);
                (t.manager, args, op, t.uncertain, t.args_unknown)
            })
        };
        let unknown = |m| Some((m, Vec::<String>::new(), Some(Operation::Other), true, true));
        for code in [
            "import pip; l=[\"install\",\"evil\"]; pip.main(l)",
            "import pip; pip.main(args=l)",
            "import pip; pip.main([\"install\"] + more)",
            "import pip; import sys; sys.argv[1:] = l; pip.main()",
        ] {
            assert_eq!(
                read(&["python3", "-c", code, "list"]),
                unknown(Pip),
                "{code}"
            );
        }
        let push = format!("process.argv.push('install', 'evil'); require('{cli}')");
        assert_eq!(read(&["node", "-e", &push, "x", "ls"]), unknown(Npm));
        for code in [
            "Gem::GemRunner.new.run(ARGV + ['install', 'evil'])",
            "Gem::GemRunner.new.run args",
        ] {
            assert_eq!(
                read(&["ruby", "-rrubygems/gem_runner", "-e", code, "list"]),
                unknown(Gem),
                "{code}"
            );
        }
        // Literal lists and argv itself are still read exactly.
        let sure = |m, args: &[&str], op| {
            Some((
                m,
                args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                Some(op),
                false,
                false,
            ))
        };
        assert_eq!(
            read(&[
                "python3",
                "-c",
                "import pip; pip.main(['install', 'x'])",
                "list"
            ]),
            sure(Pip, &["install", "x"], Operation::Install)
        );
        assert_eq!(
            read(&[
                "python3",
                "-c",
                "import pip; pip.main(args=['install', 'x'])"
            ]),
            sure(Pip, &["install", "x"], Operation::Install)
        );
        // ruby's other spellings of the same call (review finding 7).
        for code in [
            "Gem::GemRunner.new.run $*",
            "Gem::GemRunner.new().run ARGV",
            "Gem::GemRunner.new.run(ARGV)",
        ] {
            assert_eq!(
                read(&[
                    "ruby",
                    "-rrubygems/gem_runner",
                    "-e",
                    code,
                    "install",
                    "rake"
                ]),
                sure(Gem, &["install", "rake"], Operation::Install),
                "{code}"
            );
        }
    }

    /// Review: 40,000 `-Z -e` (an unknown option and a code option) made
    /// every code reading rescan argv, and 4,000 aliases with 20,000
    /// calls made python's entry lookup quadratic. Both are linear now;
    /// checked by what is read on a big input, never by time.
    #[test]
    fn many_code_options_and_aliases_are_read_whole() {
        let mut line: Vec<String> = vec!["perl".into()];
        for _ in 0..40_000 {
            line.push("-Z".into());
            line.push("-e".into());
        }
        line.extend(["1", "-MCPAN", "-e", "install X"].map(String::from));
        let argv: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
        let t = resolve(&argv).expect("cpan");
        assert_eq!(t.manager, Manager::Cpan);
        assert_eq!(t.args(&argv), vec![&b"-i"[..], b"X"]);
        assert!(!t.guessed.is_empty());
        let code = format!(
            "{}{}",
            "import pip as a;".repeat(4_000),
            "f([".repeat(20_000)
        );
        let argv: Vec<&[u8]> = vec![b"python3", b"-c", code.as_bytes(), b"install", b"x"];
        let t = resolve(&argv).expect("pip");
        assert_eq!(t.manager, Manager::Pip);
        assert_eq!(t.args(&argv), vec![&b"install"[..], b"x"]);
    }

    #[test]
    fn digits_options_take_only_their_digits() {
        use Manager::*;
        for (line, want) in [
            // perlrun: -l and -0 take octal digits, -0x hex ones; the
            // letters after are options again.
            ("perl -le /usr/bin/cpan X", None),
            ("perl -l /usr/bin/cpan X", Some((Cpan, 3))),
            ("perl -l0 /usr/bin/cpan X", Some((Cpan, 3))),
            ("perl -0777 /usr/bin/cpan X", Some((Cpan, 3))),
            ("perl -0x1ff /usr/bin/cpan X", Some((Cpan, 3))),
            ("perl -0xfw /usr/bin/cpan X", Some((Cpan, 3))),
            ("perl -lw /usr/bin/cpan X", Some((Cpan, 3))),
            // ruby: -W:category takes the rest; --backtrace-limit a value.
            (
                "ruby -W:no-deprecated /usr/bin/gem install x",
                Some((Gem, 3)),
            ),
            ("ruby -W2 -W1 /usr/bin/gem install x", Some((Gem, 4))),
            // ruby 3.1: "invalid option -T": nothing runs.
            ("ruby -W2 -T1 /usr/bin/gem install x", None),
            // python reads no `--opt=VALUE` ("unknown option"): nothing
            // runs; `--check-hash-based-pycs always` is its form.
            (
                "python3 --check-hash-based-pycs=always -m pip install x",
                None,
            ),
            (
                "python3 --check-hash-based-pycs always -m pip install x",
                Some((Pip, 5)),
            ),
            (
                "ruby --backtrace-limit 3 /usr/bin/gem install x",
                Some((Gem, 4)),
            ),
            (
                "ruby --backtrace-limit=3 /usr/bin/gem install x",
                Some((Gem, 3)),
            ),
            // python 3.11 still accepts -t (and -R) silently; -J is an
            // error.
            ("python3 -t -m pip install x", Some((Pip, 4))),
            ("python3 -tt -R -m pip install x", Some((Pip, 5))),
            ("python3 -J -m pip install x", None),
        ] {
            let got = resolve(&words(line)).map(|t| {
                assert!(t.guessed.is_empty(), "{line}: guessed {:?}", t.guessed);
                (t.manager, t.args_start())
            });
            assert_eq!(got, want, "{line}");
        }
        // `perl -le CODE`: the e is the code option, not a digit.
        assert_eq!(
            resolve(&words("perl -MCPAN -le install")).map(|t| t.manager),
            Some(Cpan)
        );
    }

    /// The options an interpreter's `--help` documents: (name, whether it
    /// shows a value: `--opt=...`, `-X opt`, `--opt always|never`), read
    /// from lines that start with the option. `None` when the interpreter
    /// is not installed.
    fn documented_options(program: &str) -> Option<Vec<(String, bool)>> {
        let out = std::process::Command::new(program)
            .arg("--help")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // python shows a value as a word after one space (`-X opt :`);
        // node always as `=...`, one space there only ending a long name.
        let spaced_values = program.starts_with("python");
        let mut found = Vec::new();
        for line in text.lines() {
            // Option lines are indented by two spaces at most; deeper ones
            // are descriptions (which may start with an option's name).
            let indent = line.len() - line.trim_start().len();
            if indent > 2 {
                continue;
            }
            let mut rest = line.trim_start();
            let mut names = Vec::new();
            let mut value = false;
            // `-r, --require=...`: every name of the line, the value
            // shown after the last.
            while let Some(opt) = rest.strip_prefix('-') {
                let long = opt.starts_with('-');
                let body = if long { &opt[1..] } else { opt };
                let len = if long {
                    body.find(|c: char| {
                        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    })
                    .unwrap_or(body.len())
                } else {
                    usize::from(body.starts_with(|c: char| c.is_ascii_alphanumeric()))
                };
                if len == 0 {
                    break;
                }
                names.push(format!("{}{}", if long { "--" } else { "-" }, &body[..len]));
                let after = &body[len..];
                value = after.starts_with('=')
                    || (spaced_values
                        && after.starts_with(' ')
                        && after[1..].starts_with(|c: char| c.is_ascii_lowercase()));
                match after.strip_prefix(", ") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            found.extend(names.into_iter().map(|n| (n, value)));
        }
        Some(found)
    }

    /// Checks the option tables against the real `--help` of the
    /// interpreters installed here (CI hosts have python3 and node; an
    /// interpreter not installed is skipped, and the test says so): every
    /// documented option is known, and one documented with a value takes
    /// one. Fails when a new release documents an option swmon would have
    /// to guess.
    #[test]
    fn option_tables_know_every_option_the_interpreters_document() {
        let mut checked = 0;
        for (program, kind) in [
            ("python3", Interpreter::Python),
            ("node", Interpreter::Node),
        ] {
            let Some(opts) = documented_options(program) else {
                eprintln!("skipped: {program} is not installed");
                continue;
            };
            assert!(opts.len() > 15, "{program} --help: {opts:?}");
            let mut wrong = Vec::new();
            for (name, value) in &opts {
                let b = name.as_bytes();
                let known = if b.starts_with(b"--") {
                    long_opt(kind, b)
                } else {
                    short_opt(kind, b[1])
                };
                match known {
                    None => wrong.push(format!("{name}: unknown")),
                    Some(Opt::Flag) if *value => {
                        wrong.push(format!("{name}: a value, read as a flag"))
                    }
                    Some(Opt::Value) if !*value => {
                        wrong.push(format!("{name}: a flag, read as taking a value"))
                    }
                    Some(_) => {}
                }
            }
            assert!(
                wrong.is_empty(),
                "{program} --help documents:\n{}",
                wrong.join("\n")
            );
            checked += opts.len();
        }
        eprintln!("{checked} documented options checked");
    }

    /// The loader's program when its reading is certain (every option
    /// before it known), else `None`.
    fn loader_program(argv: &[&[u8]]) -> Option<usize> {
        match loader_readings(argv).as_slice() {
            [one] if one.guessed.is_empty() => Some(one.program),
            _ => None,
        }
    }

    /// Checks the loader's option table against the host's `ld.so
    /// --help` (skipped, saying so, where it is not installed): every
    /// option it documents is in exactly one of swmon's tables, with its
    /// arity (a value shown as an upper-case word: `--audit LIST`), and
    /// every option of the tables is documented. Review: the table said
    /// `--glibc-hwcaps-prefix` for glibc's `--glibc-hwcaps-prepend`.
    #[test]
    fn the_loader_table_is_the_loaders_help() {
        const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";
        let Ok(out) = std::process::Command::new(LD_SO).arg("--help").output() else {
            eprintln!("skipped: {LD_SO} is not installed");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut documented = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("  --") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let name = format!("--{}", words.next().unwrap_or_default());
            let value = words
                .next()
                .is_some_and(|w| w.chars().all(|c| c.is_ascii_uppercase()));
            documented.push((name, value));
        }
        assert!(documented.len() >= 14, "{LD_SO} --help: {documented:?}");
        let mut wrong = Vec::new();
        for (name, value) in &documented {
            let b = name.as_bytes();
            let in_value = LOADER_VALUE_OPTIONS.contains(&b);
            let in_other = LOADER_FLAG_OPTIONS.contains(&b) || LOADER_NOTHING_OPTIONS.contains(&b);
            if !(in_value || in_other) {
                wrong.push(format!("{name}: unknown"));
            } else if in_value != *value {
                wrong.push(format!("{name}: value {value}, table says {in_value}"));
            }
        }
        for known in LOADER_VALUE_OPTIONS
            .iter()
            .chain(LOADER_FLAG_OPTIONS)
            .chain(LOADER_NOTHING_OPTIONS)
        {
            let name = String::from_utf8_lossy(known);
            if !documented.iter().any(|(n, _)| *n == name) {
                wrong.push(format!("{name}: not documented"));
            }
        }
        assert!(wrong.is_empty(), "{LD_SO} --help:\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_loaders_options_are_read_as_glibc_reads_them() {
        let readings = |line: &str| {
            loader_readings(&words(line))
                .into_iter()
                .map(|r| (r.program, r.guessed))
                .collect::<Vec<_>>()
        };
        // Review: `--glibc-hwcaps-prepend` takes a value; the program is
        // the file after it, not the value.
        assert_eq!(
            loader_program(&words(
                "ld.so --glibc-hwcaps-prepend /bin/true /tmp/dk --version"
            )),
            Some(3)
        );
        assert_eq!(
            loader_program(&words("ld.so --glibc-hwcaps-mask x86-64-v2 /tmp/dk")),
            Some(3)
        );
        assert_eq!(
            loader_program(&words(
                "ld.so --inhibit-cache --argv0 a --audit x /tmp/dk -i"
            )),
            Some(6)
        );
        for line in [
            "ld.so --list /tmp/dk",
            "ld.so --verify /tmp/dk",
            "ld.so --inhibit-cache --list-tunables",
            "ld.so --library-path",
            "ld.so",
        ] {
            assert_eq!(readings(line), vec![], "{line}");
        }
        // An argument with one dash is the program.
        assert_eq!(readings("ld.so -x /tmp/dk"), vec![(1, vec![])]);
        // An option swmon does not know (glibc 2.36 refuses it, and `--`,
        // and runs nothing; a newer one might not): both readings,
        // flagged, never the first one silently.
        assert_eq!(
            readings("ld.so --frob /bin/true /tmp/dk --version"),
            vec![(2, vec![1]), (3, vec![1])]
        );
        assert_eq!(
            readings("ld.so -- /tmp/dk -i"),
            vec![(2, vec![1]), (3, vec![1])]
        );
        assert_eq!(
            loader_program(&words("ld.so --frob /bin/true /tmp/dk")),
            None
        );
        // The value reading runs nothing, the flag one a program.
        assert_eq!(readings("ld.so --frob /tmp/dk"), vec![(2, vec![1])]);
        assert_eq!(loader_program(&words("ld.so --frob /tmp/dk")), None);
        // Resolved by name: the reading that finds an installer, flagged.
        assert_eq!(
            guessed("ld.so --frob /bin/true /usr/bin/dpkg -i x.deb"),
            Some((Manager::Dpkg, 4, vec![1]))
        );
        assert_eq!(
            guessed("ld.so --glibc-hwcaps-prepend /bin/true /usr/bin/dpkg -i x.deb"),
            Some((Manager::Dpkg, 4, vec![]))
        );
        assert_eq!(
            guessed("ld.so --glibc-hwcaps-prepend /usr/bin/dpkg /bin/true -i x.deb"),
            None
        );
        // Linear: many unknown options, two passes.
        let mut line = String::from("ld.so");
        for _ in 0..50_000 {
            line.push_str(" --frob");
        }
        line.push_str(" /usr/bin/dpkg -i x.deb");
        assert_eq!(loader_readings(&words(&line)).len(), 1);
    }

    #[test]
    fn nested_scripts_are_read_to_the_kernels_depth() {
        // The argv of a chain of `#!` scripts, as the kernel builds it
        // (checked with /bin/echo at the bottom: `s1 o2 s2 o3 ./s3 a b`):
        // each level puts its interpreter and one optional argument before
        // the script. The installer script at the top of 1 to 5 levels.
        for levels in 1..=SCRIPT_NESTING_MAX {
            let mut argv = vec!["/usr/bin/python3.11".to_owned(), "-E".to_owned()];
            for k in 1..levels {
                argv.push(format!("/opt/s{k}"));
                argv.push(format!("o{k}"));
            }
            let at = argv.len();
            argv.extend(["/usr/bin/pip3", "install", "x"].map(String::from));
            let words: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            assert_eq!(
                exec_args_start(&words, b"/usr/bin/pip3", false, true),
                at + 1,
                "{levels} levels: {argv:?}"
            );
        }
        // Past the kernel's depth nothing runs; the file is not looked for
        // further: at 1.
        let mut argv: Vec<String> = (0..2 * SCRIPT_NESTING_MAX + 1)
            .map(|k| format!("/opt/s{k}"))
            .collect();
        argv.extend(["/usr/bin/pip3", "install", "x"].map(String::from));
        let words: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        assert_eq!(exec_args_start(&words, b"/usr/bin/pip3", false, true), 1);
    }

    fn guessed(line: &str) -> Option<(Manager, usize, Vec<usize>)> {
        resolve(&words(line)).map(|t| (t.manager, t.args_start(), t.guessed))
    }

    #[test]
    fn known_interpreter_options_are_read_exactly() {
        use Manager::*;
        for (line, want) in [
            (
                "node --report-dir /tmp /usr/lib/node_modules/npm/bin/npm-cli.js install x",
                Some((Npm, 4, vec![])),
            ),
            (
                "node --max_old_space_size 4096 --no-warnings npm-cli.js i x",
                Some((Npm, 5, vec![])),
            ),
            (
                "ruby -E UTF-8 /usr/bin/gem install x",
                Some((Gem, 4, vec![])),
            ),
            ("ruby -W0 -x /usr/bin/gem install x", Some((Gem, 4, vec![]))),
            (
                "ruby --disable-gems --encoding UTF-8 /usr/bin/gem i x",
                Some((Gem, 5, vec![])),
            ),
            (
                "php --define x=1 composer.phar require y",
                Some((Composer, 4, vec![])),
            ),
            (
                "php -n -d memory_limit=-1 -f composer.phar -- install",
                Some((Composer, 6, vec![])),
            ),
            ("perl -l /usr/bin/cpanm Moo", Some((Cpanm, 3, vec![]))),
            ("perl -0777 -w /usr/bin/cpan Moo", Some((Cpan, 4, vec![]))),
            (
                "python3 -X dev -W error -bb /usr/bin/pip install x",
                Some((Pip, 7, vec![])),
            ),
            // Known options that end the search: inline code or no run.
            ("perl -lne print /usr/bin/cpanm", None),
            ("php -l composer.phar", None),
            ("php --rf composer.phar", None),
            ("ruby --copyright /usr/bin/gem install x", None),
        ] {
            assert_eq!(guessed(line), want, "{line}");
        }
    }

    #[test]
    fn an_interpreter_that_will_not_run_the_script_runs_no_installer() {
        for line in [
            "node -c /usr/lib/node_modules/npm/bin/npm-cli.js install x",
            "node --check /usr/lib/node_modules/npm/bin/npm-cli.js install x",
            "node --version /usr/bin/npm i x",
            "node -v /usr/bin/npm i x",
            "node -h /usr/bin/npm",
            "node --test /usr/bin/npm",
            "node --run build /usr/bin/npm",
            "python3 -h /usr/bin/pip install x",
            "python3 -V /usr/bin/pip install x",
            "python3 -VV /usr/bin/pip install x",
            "python3 --version /usr/bin/pip install x",
            "python3 --help-all -m pip install x",
            "ruby -c /usr/bin/gem install x",
            "ruby --version /usr/bin/gem install x",
            "perl -c /usr/bin/cpanm Moo",
            "perl -v /usr/bin/cpanm Moo",
            "php -v composer.phar install",
            "php -s composer.phar install",
        ] {
            assert_eq!(guessed(line), None, "{line}");
        }
        // pip itself runs: its own `--version` is a query of pip.
        let e = explain(&words("python3 -m pip --version"));
        assert_eq!(e.target.map(|t| t.manager), Some(Manager::Pip));
        assert_eq!(
            e.class.map(|c| c.operation),
            Some(super::super::Operation::Query)
        );
    }

    #[test]
    fn unknown_interpreter_options_are_read_both_ways_and_flagged() {
        use Manager::*;
        for (line, want) in [
            // Read as taking a value: the script comes after it.
            (
                "node --frobnicate /tmp /usr/lib/node_modules/npm/bin/npm-cli.js install x",
                Some((Npm, 4, vec![1])),
            ),
            // Read as a flag: the script is right after it (tried first).
            (
                "node --frobnicate /usr/bin/npm install x",
                Some((Npm, 3, vec![1])),
            ),
            (
                "node --frob /usr/bin/npm /usr/bin/yarn",
                Some((Npm, 3, vec![1])),
            ),
            (
                "ruby --frob=x /usr/bin/gem install x",
                Some((Gem, 3, vec![1])),
            ),
            (
                "ruby -Q UTF-8 /usr/bin/gem install x",
                Some((Gem, 4, vec![1])),
            ),
            (
                "ruby -QE UTF-8 /usr/bin/gem install x",
                Some((Gem, 4, vec![1])),
            ),
            (
                "php --frob x=1 composer.phar require y",
                Some((Composer, 4, vec![1])),
            ),
            (
                "node --a 1 --b --c 2 /usr/bin/npm i x",
                Some((Npm, 7, vec![1, 3, 4])),
            ),
            (
                "/lib64/ld-linux-x86-64.so.2 /usr/bin/node --frob x /usr/bin/npm i",
                Some((Npm, 5, vec![2])),
            ),
            // corepack runs the manager it names in its own process.
            (
                "node /usr/lib/node_modules/corepack/dist/corepack.js yarn@1.22.19 add x",
                Some((Yarn, 3, vec![])),
            ),
            (
                "node --frob /usr/bin/corepack pnpm add x",
                Some((Pnpm, 4, vec![1])),
            ),
            ("node /usr/bin/corepack enable", None),
            // No reading runs an installer.
            ("node --frob x tool.js npm install x", None),
            ("node --frob tool.js", None),
        ] {
            assert_eq!(guessed(line), want, "{line}");
        }
        // Known options stay precise: no guess, no false install.
        assert_eq!(guessed("python3 tool.py npm install x"), None);
        assert_eq!(guessed("node --require ./hook.js tool.js npm i x"), None);
    }

    #[test]
    fn many_unknown_options_are_read_in_linear_time() {
        let mut argv: Vec<&[u8]> = vec![b"node"];
        argv.extend(std::iter::repeat_n(&b"--frob"[..], 50_000));
        argv.extend([&b"/usr/bin/npm"[..], b"i", b"x"]);
        let t = resolve(&argv).expect("the all-flags reading runs npm");
        assert_eq!(t.index, 50_001);
        assert_eq!(t.guessed.len(), GUESSED_MAX);
        argv.truncate(50_001);
        argv.extend([&b"tool.js"[..], b"i", b"x"]);
        assert_eq!(resolve(&argv), None);
    }

    #[test]
    fn a_direct_exec_reads_its_arguments_after_the_exec_d_file_never_argv0() {
        let start = |line: &str, filename: &str, cut: bool, script: bool| {
            exec_args_start(&words(line), filename.as_bytes(), cut, script)
        };
        // A binary: argv[0] is whatever the caller wrote.
        assert_eq!(start("install evil -l", "/usr/bin/dpkg", false, false), 1);
        assert_eq!(
            start("python3 -m pip install x", "/usr/bin/dpkg", false, false),
            1
        );
        assert_eq!(
            start("x -i /usr/bin/dpkg evil.deb", "/usr/bin/dpkg", false, false),
            1
        );
        assert_eq!(start("/usr/bin/dpkg -l", "/usr/bin/dpkg", false, false), 1);
        // A script: the kernel put its path after the `#!` interpreter
        // and the interpreter's one optional argument.
        assert_eq!(
            start(
                "/usr/bin/python3 /usr/bin/pip install x",
                "/usr/bin/pip",
                false,
                true
            ),
            2
        );
        assert_eq!(
            start(
                "/usr/bin/python3 -E /usr/bin/pip install x",
                "/usr/bin/pip",
                false,
                true
            ),
            3
        );
        assert_eq!(
            start(
                "/usr/bin/env python3 /usr/local/bin/pip install x",
                "/usr/local/bin/pip",
                false,
                true
            ),
            3
        );
        assert_eq!(start("/bin/sh ./yarn add x", "./yarn", false, true), 2);
        // Review: a script's search starts at argv[1], never argv[0] (a
        // forged one equal to the path would cut the search short).
        assert_eq!(
            start(
                "/usr/bin/pip /usr/bin/python3 /usr/bin/pip install x",
                "/usr/bin/pip",
                false,
                true
            ),
            3
        );
        assert_eq!(
            start("/usr/bin/pip install x", "/usr/bin/pip", false, true),
            1
        );
        // The path given to exec was cut: a prefix of the argument.
        assert_eq!(
            start(
                "/usr/bin/python3 /very/long/pip install",
                "/very/lo",
                true,
                true
            ),
            2
        );
        assert_eq!(
            start(
                "/usr/bin/python3 /very/long/pip install",
                "/very/lo",
                false,
                true
            ),
            1
        );
        // argv[4] is where a script run by a script's interpreter stands
        // (two levels): found (past argv[10], the kernel's depth, it is
        // not: see `nested_scripts_are_read_to_the_kernels_depth`).
        assert_eq!(
            start(
                "/usr/bin/env -S python3 -E /usr/bin/pip i",
                "/usr/bin/pip",
                false,
                true
            ),
            5
        );
        assert_eq!(exec_args_start(&[], b"/usr/bin/dpkg", false, true), 0);
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
            b"sudo",
            b"env",
            b"-S",
            b"sh",
            b"xargs",
            b"chroot",
            b"pip install x && npm i y | 'q",
            b"--frob",
            b"-V",
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

    fn explain_strs(line: &[&str]) -> serde_json::Value {
        let argv: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
        explain(&argv).json()
    }

    #[test]
    fn wrapped_commands_are_classified_and_the_wrappers_listed() {
        use serde_json::json;
        let j = explain_strs(&[
            "sudo",
            "-u",
            "root",
            "apt-get",
            "install",
            "-y",
            "curl=7.88.1-10",
        ]);
        assert_eq!(j["program"], "apt-get");
        assert_eq!(j["manager"], "apt");
        assert_eq!(j["operation"], "install");
        assert_eq!(
            j["packages"],
            json!([{"name": "curl", "version": "7.88.1-10"}])
        );
        assert_eq!(j["wrappers"], json!([["sudo", "-u", "root"]]));
        assert!(j.get("commands").is_none(), "{j}");
        // A shell string: each simple command, the installer ones listed.
        let j = explain_strs(&[
            "/bin/sh",
            "-c",
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y git && rm -rf /var/lib/apt/lists/*",
        ]);
        assert_eq!(j["manager"], "apt");
        assert_eq!(j["operation"], "other", "the first installer command: {j}");
        let commands = j["commands"].as_array().expect("commands");
        assert_eq!(commands.len(), 2, "{j}");
        assert_eq!(commands[1]["operation"], "install");
        assert_eq!(commands[1]["packages"], json!([{"name": "git"}]));
        assert_eq!(
            commands[1]["wrappers"],
            json!([
                ["/bin/sh", "-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y git && rm -rf /var/lib/apt/lists/*"],
                ["DEBIAN_FRONTEND=noninteractive"]
            ])
        );
        // chroot: a system install goes under the new root.
        let j = explain_strs(&["chroot", "/target", "apt-get", "install", "x"]);
        assert_eq!(j["scope"], "root:/target");
        let j = explain_strs(&["chroot", "/target/", "dpkg", "--root=/x", "-i", "a.deb"]);
        assert_eq!(j["scope"], "root:/target/x");
        let j = explain_strs(&["chroot", "/target", "npm", "i", "x"]);
        assert_eq!(j["scope"], "project");
        // xargs: the packages come from standard input.
        let j = explain_strs(&["xargs", "-r", "apt-get", "install", "-y"]);
        assert_eq!(j["manager"], "apt");
        assert_eq!(j["operation"], "install");
        assert_eq!(j["more_arguments_from"], "stdin");
        let e = explain(&[b"xargs", b"pip", b"install"]);
        assert!(
            e.text().contains("more arguments from stdin"),
            "{}",
            e.text()
        );
        // A wrapper that runs nothing, and one whose command is no installer.
        for line in [
            &["sudo", "-l", "apt-get", "install", "x"][..],
            &["sudo", "ls"],
            &["sh", "-c", "echo npm i x"],
        ] {
            let j = explain_strs(line);
            assert_eq!(j["manager"], serde_json::Value::Null, "{line:?}: {j}");
        }
        // Text: every installer command, each with what was unwrapped.
        let e = explain(&[b"bash", b"-c", b"sudo pip install a; npm i -g b"]);
        let t = e.text();
        assert!(t.contains("command 1 of 2: pip install a"), "{t}");
        assert!(t.contains("unwrapped:  sudo"), "{t}");
        assert!(t.contains("command 2 of 2: npm i -g b"), "{t}");
        assert!(e.target.is_some());
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
