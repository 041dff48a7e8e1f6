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
    /// `direct`, `python -m`, `interpreter-script`, `inline-code` or
    /// `loader` (`swmon.via`; `stdin-script` is the kernel's to know).
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
            guessed: Vec::new(),
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
                guessed: inner.guessed.iter().map(|g| g + i).collect(),
                ..inner
            })
        }
        Role::Interpreter(kind) => walk(kind, argv, |r| {
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
                Runs::Code { index, code } => {
                    let run = match kind {
                        Interpreter::Python => super::code::python(code),
                        Interpreter::Node => super::code::node(code),
                        _ => None,
                    }?;
                    let mut start = index + 1;
                    if kind == Interpreter::Node {
                        // `node -e CODE [--] X ARGS`: process.argv is
                        // [node, X, ARGS], and npm's cli reads from its
                        // third.
                        if argv.get(start) == Some(&&b"--"[..]) {
                            start += 1;
                        }
                        start += 1;
                    }
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
                Runs::Stdin { .. } | Runs::Nothing => return None,
            };
            Some(Target {
                installer_id,
                manager,
                via,
                index,
                start,
                inline_args,
                guessed: r.guessed.clone(),
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

/// Where the arguments of an installer exec'd directly start in its argv:
/// after the argument equal to `filename` (the path given to exec; a prefix
/// of the argument when the kernel's copy was cut) when it is argv\[0\],
/// or, for a `script` (the kernel ran its `#!` interpreter, which put the
/// script's path after itself and its one optional argument), argv\[1\]
/// or argv\[2\]; else at 1. argv\[0\] is never read as the program: a
/// forged one (`exec -a 'install evil' dpkg -l`, `exec -a python3 dpkg
/// ...`) moves nothing. Only a script gets the later positions: an
/// installer binary given its own path as an argument (`dpkg -i
/// /usr/bin/dpkg evil.deb`) must not hide the arguments before it.
pub fn exec_args_start(argv: &[&[u8]], filename: &[u8], filename_cut: bool, script: bool) -> usize {
    let same = |a: &[u8]| {
        a == filename || (filename_cut && !filename.is_empty() && a.starts_with(filename))
    };
    let positions = if script { 3 } else { 1 };
    argv.iter()
        .take(positions)
        .position(|a| same(a))
        .map_or(1, |i| i + 1)
        .min(argv.len())
}

/// The index of the program the dynamic loader runs (`ld.so [OPTIONS]
/// PROGRAM ARGS`), or `None` when it runs none (`--list`, `--verify`,
/// `--help`).
pub fn loader_program(argv: &[&[u8]]) -> Option<usize> {
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
            (b"bBdEiIOPqsSuvxR", Flag),
            (b"WX", Value),
            (b"c", Code),
            (b"m", Module),
            (b"h?V", Nothing),
        ],
        // node --help: the short forms.
        Interpreter::Node => &[
            (b"i", Flag),
            (b"rC", Value),
            (b"ep", Code),
            (b"cvh", Nothing),
        ],
        // ruby --help, ruby.c.
        Interpreter::Ruby => &[
            (b"adlnpsSUvwy", Flag),
            (b"CEIr", Value),
            (b"FixK", Glued),
            (b"0TW", Digits),
            (b"e", Code),
            (b"ch", Nothing),
        ],
        // perlrun.
        Interpreter::Perl => &[
            (b"afnpsStTuUwWX", Flag),
            (b"ImM", Value),
            (b"CdDFix", Glued),
            (b"0l", Digits),
            (b"eE", Code),
            (b"chvV", Nothing),
        ],
        // php --help (CLI SAPI).
        Interpreter::Php => &[
            (b"aCeHnq", Flag),
            (b"cdtz", Value),
            (b"rBRFE", Code),
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
            | b"--dump" => Value,
            b"--copyright" => Nothing,
            b"--verbose" | b"--debug" | b"--jit" | b"--yjit" | b"--rjit" | b"--backtrace-limit"
            | b"--crash-report" | b"--parser" => Flag,
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
            b"--run" | b"--process-begin" | b"--process-code" | b"--process-file"
            | b"--process-end" => Code,
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
        | b"--experimental-config-file" => Value,
        b"--eval" | b"--print" => Code,
        b"--check"
        | b"--test"
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
        | b"--force-context-aware" => Flag,
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
    /// else the next one); read by [`super::code`].
    Code { index: usize, code: &'a [u8] },
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
}

/// The unknown options kept in [`Reading::guessed`] (more are read, not
/// listed).
const GUESSED_MAX: usize = 8;

/// Walks an interpreter's options (`argv[0]` is the interpreter and is
/// not looked at) and calls `found` with each reading until it returns
/// `Some`. Known options are read exactly. An option swmon does not know
/// may or may not take the next argument as its value: both readings are
/// followed, the flag one first, so that a real install behind an unknown
/// option (`node --report-dir /tmp npm-cli.js install x`) is still found
/// (fail open); the reading that found it lists the unknown options it
/// guessed. Each argument index is read at most once (what follows an
/// index does not depend on how it was reached), so a walk is linear in
/// argv, whatever the number of unknown options.
pub fn walk<'a, T>(
    kind: Interpreter,
    argv: &[&'a [u8]],
    mut found: impl FnMut(&Reading<'a>) -> Option<T>,
) -> Option<T> {
    let mut seen = vec![false; argv.len() + 2];
    // Argument indices still to read, with the guesses that led there;
    // the flag reading of a guess is pushed last, so it is read first.
    let mut todo: Vec<(usize, Vec<usize>)> = vec![(1, Vec::new())];
    let mut emit = |runs: Runs<'a>, guessed: Vec<usize>| found(&Reading { runs, guessed });
    let guess = |g: &[usize], i: usize| {
        let mut g = g.to_vec();
        if g.len() < GUESSED_MAX {
            g.push(i);
        }
        g
    };
    while let Some((i, guessed)) = todo.pop() {
        if std::mem::replace(&mut seen[i.min(argv.len() + 1)], true) {
            continue;
        }
        let Some(&a) = argv.get(i) else {
            // No program: the interpreter reads one from standard input.
            let runs = Runs::Stdin { index: argv.len() };
            if let Some(t) = emit(runs, guessed) {
                return Some(t);
            }
            continue;
        };
        let runs = if a == b"--" {
            // PHP's `--` passes arguments to code read from stdin.
            match (kind, argv.get(i + 1)) {
                (Interpreter::Php, _) => Runs::Stdin { index: i },
                (_, Some(&path)) => script(i + 1, path),
                (_, None) => Runs::Stdin { index: i },
            }
        } else if let Some(long) = a.strip_prefix(b"--") {
            let (name, value) = match long.iter().position(|&c| c == b'=') {
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
            match long_opt(kind, name) {
                Some(Opt::Flag | Opt::Glued | Opt::Digits) => {
                    todo.push((i + 1, guessed));
                    continue;
                }
                Some(Opt::Value) => {
                    todo.push((next, guessed));
                    continue;
                }
                Some(Opt::Code) => match (value, argv.get(i + 1)) {
                    (Some(code), _) => Runs::Code { index: i, code },
                    (None, Some(&code)) => Runs::Code { index: i + 1, code },
                    (None, None) => Runs::Nothing,
                },
                Some(Opt::Nothing) => Runs::Nothing,
                Some(Opt::Script | Opt::Module) => match (value, argv.get(i + 1)) {
                    (Some(path), _) => script(i, path),
                    (None, Some(&path)) => script(i + 1, path),
                    (None, None) => Runs::Nothing,
                },
                None if value.is_some() => {
                    // Its value is glued on: no doubt where it ends.
                    todo.push((i + 1, guess(&guessed, i)));
                    continue;
                }
                None => {
                    let g = guess(&guessed, i);
                    todo.push((i + 2, g.clone()));
                    todo.push((i + 1, g));
                    continue;
                }
            }
        } else if a.len() < 2 || a[0] != b'-' {
            // `-` is standard input; anything else is the script.
            if a == b"-" {
                Runs::Stdin { index: i }
            } else {
                script(i, a)
            }
        } else if kind == Interpreter::Node && matches!(a, b"-pe" | b"-ep") {
            // node's one cluster of two code options: print the code in
            // the next argument.
            match argv.get(i + 1) {
                Some(&code) => Runs::Code { index: i + 1, code },
                None => Runs::Nothing,
            }
        } else {
            // A cluster of short options: `-Iu`, `-Wignore`, `-mpip`,
            // `-lne`.
            match cluster(kind, argv, i, &guessed, &mut todo) {
                Some(runs) => runs,
                None => continue,
            }
        };
        if let Some(t) = emit(runs, guessed) {
            return Some(t);
        }
    }
    None
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
    todo: &mut Vec<(usize, Vec<usize>)>,
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
                while a.get(j).is_some_and(u8::is_ascii_hexdigit) {
                    j += 1;
                }
            }
            Some(Opt::Glued) => break,
            Some(Opt::Value) => {
                todo.push((after_value, guessed));
                return None;
            }
            Some(Opt::Code) => {
                return Some(if !rest.is_empty() {
                    Runs::Code {
                        index: i,
                        code: rest,
                    }
                } else {
                    match argv.get(i + 1) {
                        Some(&code) => Runs::Code { index: i + 1, code },
                        None => Runs::Nothing,
                    }
                });
            }
            Some(Opt::Nothing) => return Some(Runs::Nothing),
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
                todo.push((after_value, guessed.clone()));
                j += 1;
            }
        }
    }
    // The cluster ended as flags: the next argument is read next (on top
    // of the stack, before any value reading pushed above).
    todo.push((i + 1, guessed));
    None
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
        more_arguments_from: None,
        commands: Vec::new(),
        commands_truncated: false,
    };
    let Some(target) = resolve(argv) else {
        return e;
    };
    let args = target.args(argv);
    let class = super::classify(target.manager, &args);
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
            if !self.unknown_options.is_empty() {
                o.insert("reading".into(), json!("uncertain"));
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
        // Past the third argument it is an argument, not the script.
        assert_eq!(
            start(
                "/usr/bin/env -S python3 -E /usr/bin/pip i",
                "/usr/bin/pip",
                false,
                true
            ),
            1
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
