//! Which installer a piece of inline interpreter code runs (`python3 -c
//! CODE`, `node -e CODE`), read without running it.
//!
//! The rule, the same for every caller (the run's identification and
//! `swmon classify`): code runs an installer only when it *loads* the
//! installer's module, written out literally:
//! - Python: an import statement of an installer module (`import pip`,
//!   `import os, pip._internal.cli.main`, `from pip._internal.cli.main import
//!   main`, `import ensurepip`), or a call of `run_module`,
//!   `_run_module_as_main`, `import_module` or `__import__` whose first
//!   argument is a string literal naming one (`runpy.run_module("pip",
//!   run_name="__main__")`, `mod_name="pip"`), or `run_path` of a string
//!   literal path to an installer script (`runpy.run_path("/usr/bin/pip3")`);
//! - Node: `require(...)`, `import(...)` or `from` with a string literal
//!   naming an installer package (`"npm"`, `"yarn/lib/cli.js"`) or a file
//!   of one (`"/usr/lib/node_modules/npm/lib/cli.js"`: a folder named after
//!   the installer under `node_modules` or `nodejs`, or an installer's file
//!   name);
//! - and the literal holds one of the kernel's code needles
//!   (`swmon_common::scan::CODE_NEEDLES`: `pip`, `npm`, `yarn`), so that
//!   every run this rule accepts is one the kernel passed (a path to
//!   `/usr/bin/apt-get` inside code is not: the kernel would not see it).
//!
//! A string that merely mentions an installer (`print("pip")`), a module
//! whose name only starts like one (`import pipeline`), or a name built at
//! run time (`run_module("p" + "ip")`, `exec(...)`) is not an install: the
//! kernel passes the exec on the word (`swmon_common::scan::CODE_NEEDLES`)
//! and user space rejects it, counted. Names built at run time are
//! unknowable without running the code.
//!
//! The installer's arguments are the list of string literals the
//! code passes to the installer's entry call (Python: a `main`, or a name
//! an installer module or `main` is imported as: `main(["install",
//! "./x.whl"])`; a list passed to any other call, `subprocess.run(["echo"])`,
//! is not) or assigns to `argv` (`sys.argv[1:] = [...]`, as `ensurepip`
//! does; node's `process.argv = [...]`), else the command
//! line's arguments after the code (Python: `sys.argv[1:]`; Node: npm's
//! cli reads `process.argv` from its third entry, and with `-e` the first
//! argument after the code stands where the script would). They are
//! unknown (`CodeRun::args_unknown`) when that call or assignment is given
//! anything but such a list, when argv is changed in place, and when the
//! code holds more than one such call or assignment, or runs the
//! installer more than once (entry calls, `run_module`/`run_path` of it,
//! node's `require`/`import` of it): a literal first list may be a decoy
//! (`sys.argv = ['pip', 'list']`) before a run on arguments built at run
//! time. Perl's CPAN calls of two functions, and ruby code naming
//! `GemRunner` twice, are unknown the same way.

use super::command::Load;
use crate::catalogue::{self, Manager, Role};

/// Python modules whose loading is an installer's run, with the catalogue
/// name of that installer. Each holds a kernel code needle (tested).
pub const PYTHON_MODULES: &[(&str, &str)] =
    &[("pip", "pip"), ("ensurepip", "pip"), ("pipx", "pipx")];

/// Node packages whose loading is an installer's run (the catalogue names
/// of their installers). Each holds a kernel code needle (tested).
pub const NODE_PACKAGES: &[&str] = &["npm", "yarn", "pnpm"];

/// What inline code runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRun {
    pub installer_id: u16,
    pub manager: Manager,
    /// The installer's arguments, when the code gives them as a list of
    /// string literals; `None`: the command line's.
    pub args: Option<Vec<Vec<u8>>>,
    /// The code calls the installer with arguments it does not give as
    /// literals: `args` is `None`, and argv's are not the installer's
    /// either.
    pub args_unknown: bool,
}

/// Whether `bytes` holds a kernel code needle.
pub fn holds_needle(bytes: &[u8]) -> bool {
    swmon_common::scan::CODE_NEEDLES
        .iter()
        .any(|w| bytes.windows(w.len()).any(|x| x == *w))
}

fn installer_named(name: &str) -> Option<(u16, Manager)> {
    let (id, p) = catalogue::lookup(name.as_bytes())?;
    match p.role {
        Role::Installer(m) if p.name == name => Some((id, m)),
        _ => None,
    }
}

/// The installer a Python module path names by its top-level package
/// (`pip._internal.cli.main` is pip's), among [`PYTHON_MODULES`].
pub fn python_module(path: &[u8]) -> Option<(u16, Manager)> {
    let top = path.split(|&c| c == b'.').next().unwrap_or(path);
    let (_, installer) = PYTHON_MODULES.iter().find(|(m, _)| m.as_bytes() == top)?;
    installer_named(installer)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A name, dots included (`runpy.run_module`, `pip._internal`).
    Name(&'a [u8]),
    /// A string literal's value (simple escapes undone).
    Str(Vec<u8>),
    Punct(u8),
}

/// Splits code into names, string literals and punctuation; comments
/// dropped, anything else skipped. Bounded by the code's length.
fn tokens(code: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c == b'#' {
            while i < code.len() && code[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            while i < code.len()
                && (code[i].is_ascii_alphanumeric() || matches!(code[i], b'_' | b'.' | b'$'))
            {
                i += 1;
            }
            out.push(Token::Name(&code[start..i]));
            continue;
        } else if matches!(c, b'"' | b'\'' | b'`') {
            // Python's prefixes (r, b, f) read as a name before the quote,
            // harmless. Triple quotes read as an empty string and a string.
            let mut value = Vec::new();
            i += 1;
            while i < code.len() && code[i] != c {
                if code[i] == b'\\' && i + 1 < code.len() {
                    i += 1;
                    value.push(match code[i] {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                } else {
                    value.push(code[i]);
                }
                i += 1;
            }
            out.push(Token::Str(value));
        } else if !c.is_ascii_whitespace() {
            out.push(Token::Punct(c));
        }
        i += 1;
    }
    out
}

fn last_part(name: &[u8]) -> &[u8] {
    name.rsplit(|&c| c == b'.').next().unwrap_or(name)
}

/// The first string literal that is the first argument of the call whose
/// `(` is at `t[open]` (`f("x")`, `f(mod_name="x")`).
fn first_literal<'t>(t: &'t [Token<'_>], open: usize) -> Option<&'t [u8]> {
    match (t.get(open + 1), t.get(open + 2), t.get(open + 3)) {
        (Some(Token::Str(s)), _, _) => Some(s),
        (Some(Token::Name(_)), Some(Token::Punct(b'=')), Some(Token::Str(s))) => Some(s),
        _ => None,
    }
}

/// The installer's arguments given as a list of string literals: the one
/// passed to an entry call (`entry(name)`: pip's `main([...])`,
/// `main(args=[...])`, not any call's, `subprocess.run(["echo"])` being no
/// installer's) or assigned to `argv` (`sys.argv[1:] = ["install", "x"]`,
/// what `ensurepip` has `run_module` read; `process.argv = [...]`). `Err`
/// (the arguments are then unknown, and argv's are not them either: a
/// decoy) when such a call or assignment is given something else (a name,
/// a concatenation `["pip"] + [...]`), when argv is changed in place
/// (`process.argv.push(...)`, `del sys.argv[1]`, `sys.argv += [...]`), when
/// the code holds more than one such call or assignment (the first a
/// literal decoy, `sys.argv = ['pip', 'list']`, the installer run again
/// on a list built at run time), or when `runs` (the installer runs the
/// caller counted: `run_module`, `require` of its cli) plus the entry
/// calls (`main()` too) are more than one: which run does what is not
/// known. `Ok(None)`: no list and no such call, the command line's
/// arguments are the installer's. One pass over the tokens, whatever
/// their number (a list is read once: a second source ends the pass).
fn literal_list(
    t: &[Token<'_>],
    entry: impl Fn(&[u8]) -> bool,
    argv_skip: usize,
    runs: usize,
) -> Result<Option<Vec<Vec<u8>>>, ArgsUnknown> {
    let is_argv = |n: &[u8]| last_part(n) == b"argv";
    // The last name before the current token and its index, for `argv
    // ... = [`.
    let mut last_name: Option<(usize, &[u8])> = None;
    // The list read from the one call or assignment that gives one.
    let mut listed = None;
    // Entry calls, `main()` included.
    let mut calls = 0usize;
    for (i, w) in t.windows(2).enumerate() {
        if let Token::Name(n) = &w[0] {
            last_name = Some((i, n));
            // `process.argv.push(...)`, `sys.argv.extend(...)`,
            // `sys.argv.pop()`: argv changed in place.
            let changes = n.rsplit(|&c| c == b'.').nth(1) == Some(&b"argv"[..])
                && matches!(
                    last_part(n),
                    b"push"
                        | b"unshift"
                        | b"splice"
                        | b"append"
                        | b"extend"
                        | b"insert"
                        | b"pop"
                        | b"shift"
                        | b"remove"
                        | b"clear"
                        | b"reverse"
                        | b"sort"
                        | b"fill"
                        | b"copyWithin"
                        | b"__setitem__"
                        | b"__delitem__"
                        | b"__iadd__"
                );
            if changes && w[1] == Token::Punct(b'(') {
                return Err(ArgsUnknown);
            }
            // `del sys.argv[1]`.
            if *n == b"del" && matches!(&w[1], Token::Name(m) if is_argv(m)) {
                return Err(ArgsUnknown);
            }
        }
        let callee = |k: usize| match k.checked_sub(1).and_then(|k| t.get(k)) {
            Some(Token::Name(n)) => entry(n),
            _ => false,
        };
        let mut open = i + 1;
        match w {
            [Token::Punct(b'('), next] if callee(i) => {
                // `def main(...)`, `function main(...)`: a definition.
                if matches!(
                    i.checked_sub(2).and_then(|k| t.get(k)),
                    Some(Token::Name(b"def" | b"function"))
                ) {
                    continue;
                }
                calls += 1;
                match (next, t.get(i + 2), t.get(i + 3)) {
                    (Token::Punct(b'['), _, _) => {}
                    // `main(args=[...])`.
                    (Token::Name(_), Some(Token::Punct(b'=')), Some(Token::Punct(b'['))) => {
                        open = i + 3;
                    }
                    // `main()` reads argv.
                    (Token::Punct(b')'), _, _) => continue,
                    _ => return Err(ArgsUnknown),
                }
            }
            [Token::Punct(b'='), next]
                if last_name.is_some_and(|(at, n)| is_argv(n) && at + 6 > i)
                    && i.checked_sub(1).and_then(|k| t.get(k)) != Some(&Token::Punct(b'='))
                    && !matches!(
                        t.get(i.wrapping_sub(1)),
                        Some(Token::Punct(b'!' | b'<' | b'>'))
                    ) =>
            {
                // `sys.argv += [...]`, `argv *= 2`: changed in place.
                if matches!(
                    t.get(i.wrapping_sub(1)),
                    Some(Token::Punct(
                        b'+' | b'-' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'@'
                    ))
                ) {
                    return Err(ArgsUnknown);
                }
                match next {
                    Token::Punct(b'[') => {}
                    Token::Punct(b'=') => continue,
                    _ => return Err(ArgsUnknown),
                }
            }
            _ => continue,
        }
        // A second list: which run gets which is not known.
        if listed.is_some() {
            return Err(ArgsUnknown);
        }
        // `argv = [...]` whole (not `argv[1:] = `): its first entries are
        // the program's, not the installer's arguments.
        let mut skip = match last_name {
            Some((at, _)) if at + 1 == i && w[0] == Token::Punct(b'=') => argv_skip,
            _ => 0,
        };
        let mut list = Vec::new();
        let mut j = open + 1;
        // The list must end the value: `["pip"] + more` is unknown (a
        // name after it starts the next line's statement).
        let ends = |k: usize| {
            !matches!(
                t.get(k),
                Some(Token::Punct(b'+' | b'*' | b'.' | b'[' | b'-' | b'|'))
            )
        };
        loop {
            match t.get(j) {
                Some(Token::Str(_)) if skip > 0 => skip -= 1,
                Some(Token::Str(s)) => list.push(s.clone()),
                Some(Token::Punct(b']')) if ends(j + 1) => break,
                _ => return Err(ArgsUnknown),
            }
            match t.get(j + 1) {
                Some(Token::Punct(b',')) => j += 2,
                Some(Token::Punct(b']')) if ends(j + 2) => break,
                _ => return Err(ArgsUnknown),
            }
        }
        listed = Some(list);
    }
    if calls + runs > 1 {
        return Err(ArgsUnknown);
    }
    Ok(listed)
}

/// Inline code calls its installer with arguments that are not a list of
/// literals (see [`literal_list`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgsUnknown;

/// The names Python code may call an installer's entry point by: any
/// `main` (`main`, `pip.main`, `m.main`, pip's `_main`) and the names an
/// installer module or a `main` is bound to (`import pip._internal.cli.main
/// as m`, `from pip._internal.cli.main import main as run`).
fn python_entries<'t>(t: &[Token<'t>]) -> Vec<&'t [u8]> {
    t.windows(3)
        .filter_map(|w| match w {
            [Token::Name(a), Token::Name(b"as"), Token::Name(b)]
                if python_module(a).is_some() || matches!(last_part(a), b"main" | b"_main") =>
            {
                Some(*b)
            }
            _ => None,
        })
        .collect()
}

/// The installer whose script `run_path` runs (`/usr/bin/pip3`).
fn run_path_installer(path: &[u8]) -> Option<(u16, Manager)> {
    if !holds_needle(path) {
        return None;
    }
    let (id, p) = catalogue::lookup(crate::ebpf::filter::basename(path))?;
    match p.role {
        Role::Installer(m) => Some((id, m)),
        _ => None,
    }
}

/// The installer Python code runs, by the rule in the module doc.
pub fn python(code: &[u8]) -> Option<CodeRun> {
    let t = tokens(code);
    let mut found = None;
    let mut i = 0;
    while i < t.len() && found.is_none() {
        match &t[i] {
            Token::Name(b"import") => {
                // `import a.b as c, d`: every dotted name of the list.
                let mut j = i + 1;
                while let Some(Token::Name(n)) = t.get(j) {
                    if let Some(hit) = python_module(n) {
                        found = Some(hit);
                        break;
                    }
                    j += 1;
                    if let (Some(Token::Name(b"as")), Some(Token::Name(_))) =
                        (t.get(j), t.get(j + 1))
                    {
                        j += 2;
                    }
                    if t.get(j) != Some(&Token::Punct(b',')) {
                        break;
                    }
                    j += 1;
                }
            }
            Token::Name(b"from") => {
                if let (Some(Token::Name(n)), Some(Token::Name(b"import"))) =
                    (t.get(i + 1), t.get(i + 2))
                {
                    found = python_module(n);
                    // The names imported from it are its own, not modules:
                    // `from pipeline import pip` loads no pip.
                    i += 3;
                    while match t.get(i) {
                        Some(Token::Name(n)) => !matches!(*n, b"import" | b"from"),
                        Some(Token::Punct(c)) => matches!(c, b',' | b'(' | b')'),
                        _ => false,
                    } {
                        i += 1;
                    }
                    continue;
                }
            }
            Token::Name(n) if t.get(i + 1) == Some(&Token::Punct(b'(')) => {
                let call = last_part(n);
                let literal = first_literal(&t, i + 1);
                found = match call {
                    b"run_module" | b"_run_module_as_main" | b"import_module" | b"__import__" => {
                        literal.and_then(python_module)
                    }
                    b"run_path" => literal.and_then(run_path_installer),
                    _ => None,
                };
            }
            _ => {}
        }
        i += 1;
    }
    let (installer_id, manager) = found?;
    // A set: looked up at every call (review: a list made 4,000 aliases
    // and 20,000 calls quadratic).
    let aliases: std::collections::HashSet<&[u8]> = python_entries(&t).into_iter().collect();
    let entry = |n: &[u8]| matches!(last_part(n), b"main" | b"_main") || aliases.contains(n);
    // The installer's module run as `__main__` (`run_module("pip")`,
    // `run_path("/usr/bin/pip3")`), each a run of it; importing one runs
    // nothing.
    let runs = t
        .iter()
        .enumerate()
        .filter(|(i, tok)| match tok {
            Token::Name(n) if t.get(i + 1) == Some(&Token::Punct(b'(')) => {
                let literal = first_literal(&t, i + 1);
                match last_part(n) {
                    b"run_module" | b"_run_module_as_main" => {
                        literal.and_then(python_module).is_some()
                    }
                    b"run_path" => literal.and_then(run_path_installer).is_some(),
                    _ => false,
                }
            }
            _ => false,
        })
        .count();
    let listed = literal_list(&t, entry, 1, runs);
    Some(CodeRun {
        installer_id,
        manager,
        args_unknown: listed.is_err(),
        args: listed.unwrap_or_default(),
    })
}

/// The installer a Node module specifier or file path names: a package
/// (`npm`, `yarn/lib/cli`), a file under an installer's package folder, or
/// a file with an installer's name.
pub fn node_specifier(spec: &[u8]) -> Option<(u16, Manager)> {
    if !holds_needle(spec) {
        return None;
    }
    if !spec.starts_with(b"/") && !spec.starts_with(b".") {
        // A package name: `npm`, `npm/lib/cli.js`.
        let top = spec.split(|&c| c == b'/').next().unwrap_or(spec);
        let name = NODE_PACKAGES.iter().find(|p| p.as_bytes() == top)?;
        return installer_named(name);
    }
    super::command::script_installer(spec)
}

/// The installer a node `data:` URL's code names (`--import
/// 'data:text/javascript,import "file:///usr/lib/node_modules/npm/bin/npm-cli.js"'`):
/// the first string literal of its percent-decoded body that is an
/// installer's file or package, by [`node_specifier`] (a `file://` URL's
/// path too). A base64 body is not decoded.
pub fn node_data_url(body: &[u8]) -> Option<(u16, Manager)> {
    let comma = body.iter().position(|&c| c == b',')?;
    let mut code = Vec::with_capacity(body.len());
    let raw = &body[comma + 1..];
    let mut i = 0;
    while i < raw.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match (
            raw[i],
            raw.get(i + 1).and_then(|&c| hex(c)),
            raw.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                code.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                code.push(c);
                i += 1;
            }
        }
    }
    tokens(&code).iter().find_map(|t| match t {
        Token::Str(s) => {
            let s = s.as_slice();
            let path = match s.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"file://") => &s[7..],
                _ => s,
            };
            node_specifier(path)
        }
        _ => None,
    })
}

/// The installer Node code runs, by the rule in the module doc.
pub fn node(code: &[u8]) -> Option<CodeRun> {
    let t = tokens(code);
    let mut loads = t.iter().enumerate().filter_map(|(i, tok)| {
        let spec = match tok {
            Token::Name(b"require" | b"import") if t.get(i + 1) == Some(&Token::Punct(b'(')) => {
                first_literal(&t, i + 1)?
            }
            Token::Name(b"from") => match t.get(i + 1)? {
                Token::Str(s) => s,
                _ => return None,
            },
            _ => return None,
        };
        node_specifier(spec)
    });
    let (installer_id, manager) = loads.next()?;
    // Each load of an installer's package or file may be a run of it
    // (`require(cli)(process)` twice runs npm twice): more than one, and
    // which run gets which arguments is not known.
    let runs = 1 + loads.count();
    // npm's, yarn's and pnpm's clis read `process.argv`: no call takes
    // their arguments as a list.
    let listed = literal_list(&t, |_| false, 2, runs);
    Some(CodeRun {
        installer_id,
        manager,
        args_unknown: listed.is_err(),
        args: listed.unwrap_or_default(),
    })
}

/// CPAN.pm's functions that run a CPAN client operation, with the `cpan`
/// option that does the same (CPAN exports them: `perl -MCPAN -e 'install
/// Foo'`); `shell` is the interactive shell, `cpan` with no arguments.
const CPAN_CALLS: &[(&[u8], Option<&str>)] = &[
    (b"install", Some("-i")),
    (b"upgrade", Some("-u")),
    (b"make", Some("-m")),
    (b"test", Some("-t")),
    (b"get", Some("-g")),
    (b"shell", None),
];

/// The installer Perl code runs: CPAN.pm's `install`, `upgrade`, `make`,
/// `test`, `get` or `shell` (bare or `CPAN::Shell->install(...)`,
/// `CPAN::install(...)`) when CPAN is loaded (`cpan_loaded`: `-MCPAN` on
/// the command line, or `use CPAN`/`require CPAN` in the code), as the
/// `cpan` command line doing the same: `install Foo::Bar` is `cpan -i
/// Foo::Bar`. Its operands are the literal words or strings after it
/// (`'X'`, `"X"`, `qw(X Y)`, `Foo::Bar`), up to the statement's end; a
/// variable or expression among them is read as its text, flagged by the
/// cpan grammar as any odd operand would be. Every call is read: calls of
/// one function add their operands (`install A; install B` is `cpan -i A
/// B`); calls of two (`test X; install $m`, a decoy first) make the
/// arguments unknown ([`CodeRun::args_unknown`]).
pub fn perl(code: &[u8], load: Load) -> Option<CodeRun> {
    let has = |n: &[u8]| code.windows(n.len()).any(|w| w == n);
    let uses = has(b"use CPAN;") || has(b"use CPAN ") || code.ends_with(b"use CPAN");
    let requires =
        has(b"require CPAN;") || has(b"require CPAN ") || code.ends_with(b"require CPAN");
    let load = if uses {
        Load::Imported
    } else if requires {
        load.max(Load::Required)
    } else {
        load
    };
    if load == Load::No {
        return None;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':');
    // The first call and its arguments; `unknown` once another operation
    // follows.
    let mut found: Option<(&[u8], Vec<Vec<u8>>)> = None;
    let mut unknown = false;
    let mut i = 0;
    while i < code.len() {
        // A string literal is data, never a call (`print "make it so"`).
        if matches!(code[i], b'"' | b'\'') && (i == 0 || code[i - 1] != b'\\') {
            let quote = code[i];
            i += 1;
            while i < code.len() && code[i] != quote {
                i += if code[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if !word(code[i]) || (i > 0 && (word(code[i - 1]) || code[i - 1] == b'$')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < code.len() && word(code[i]) {
            i += 1;
        }
        let name = &code[start..i];
        // `CPAN::Shell->install`, `CPAN::install`, `install`.
        // `-mCPAN` and `require CPAN` import nothing: a bare `install X`
        // is `X->install`, not CPAN's.
        let qualified = name.starts_with(b"CPAN::");
        let mut call = name.strip_prefix(b"CPAN::").unwrap_or(name);
        if !qualified && load != Load::Imported {
            continue;
        }
        if name == b"CPAN::Shell" && code[i..].starts_with(b"->") {
            let m = i + 2;
            let mut e = m;
            while e < code.len() && word(code[e]) {
                e += 1;
            }
            call = &code[m..e];
            i = e;
        }
        let Some((_, opt)) = CPAN_CALLS.iter().find(|(n, _)| *n == call) else {
            continue;
        };
        let end = code[i..]
            .iter()
            .position(|&c| matches!(c, b';' | b'}' | b'\n'))
            .map_or(code.len(), |p| i + p);
        let operands = perl_operands(&code[i..end]);
        match &mut found {
            None => {
                let mut args: Vec<Vec<u8>> = opt.iter().map(|o| o.as_bytes().to_vec()).collect();
                args.extend(operands);
                found = Some((call, args));
            }
            // `install A; install B` is `cpan -i A B`.
            Some((first, args)) if *first == call => args.extend(operands),
            // `test X; install $evil`: two operations, which one the
            // run is reported as is not known.
            Some(_) => unknown = true,
        }
        // The operands are not calls (`install make`).
        i = end;
    }
    let (_, args) = found?;
    let (installer_id, manager) = installer_named("cpan")?;
    Some(CodeRun {
        installer_id,
        manager,
        args: (!unknown).then_some(args),
        args_unknown: unknown,
    })
}

/// The operands of a Perl call's argument text: quoted strings, `qw()`
/// lists, bare words; parentheses, commas and `=>` dropped.
fn perl_operands(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\'' || c == b'"' {
            let end = text[i + 1..]
                .iter()
                .position(|&x| x == c)
                .map_or(text.len(), |p| i + 1 + p);
            out.push(text[i + 1..end].to_vec());
            i = end + 1;
        } else if text[i..].starts_with(b"qw")
            && text.get(i + 2).is_some_and(|c| !c.is_ascii_alphanumeric())
        {
            let open = text[i + 2];
            let close = match open {
                b'(' => b')',
                b'[' => b']',
                b'{' => b'}',
                b'<' => b'>',
                other => other,
            };
            let end = text[i + 3..]
                .iter()
                .position(|&x| x == close)
                .map_or(text.len(), |p| i + 3 + p);
            out.extend(
                text[(i + 3).min(end)..end]
                    .split(u8::is_ascii_whitespace)
                    .filter(|w| !w.is_empty())
                    .map(<[u8]>::to_vec),
            );
            i = end + 1;
        } else if c.is_ascii_whitespace() || matches!(c, b'(' | b')' | b',' | b'=' | b'>') {
            i += 1;
        } else {
            let end = text[i..]
                .iter()
                .position(|&x| x.is_ascii_whitespace() || matches!(x, b'(' | b')' | b','))
                .map_or(text.len(), |p| i + p);
            out.push(text[i..end].to_vec());
            i = end;
        }
    }
    out
}

/// What a Ruby inline program that runs gem's own entry point gives it:
/// `Gem::GemRunner.new.run(ARGV)` (what `bin/gem` does) with
/// `rubygems/gem_runner` loaded (`gem_runner_loaded`: `-r` on the command
/// line, or a `require` in the code; without it the constant is not
/// defined and nothing runs). `Some(None)`: the command line's
/// arguments (`ARGV`); `Some(Some(list))`: a literal list
/// (`%w[install x]`, `["install", "x"]`). Code that names `GemRunner`
/// more than once (a second runner, the first a decoy) gives unknown
/// arguments.
pub fn ruby(code: &[u8], gem_runner_loaded: bool) -> Option<CodeRun> {
    let has = |n: &[u8]| code.windows(n.len()).any(|w| w == n);
    if !(gem_runner_loaded || has(b"rubygems/gem_runner")) {
        return None;
    }
    // `Gem::GemRunner.new.run`, `.new().run`, `.new.run(...)`.
    const NEW: &[u8] = b"Gem::GemRunner.new";
    let at = code.windows(NEW.len()).position(|w| w == NEW)?;
    // A second runner (`Gem::GemRunner.new.run %w[list]`, then one given
    // arguments built at run time): which run does what is not known.
    const RUNNER: &[u8] = b"GemRunner";
    let runners = code.windows(RUNNER.len()).filter(|w| w == &RUNNER).count();
    let rest = code[at + NEW.len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b"()").unwrap_or(rest).trim_ascii_start();
    let rest = rest.strip_prefix(b".run")?;
    let rest = rest.trim_ascii_start();
    let paren = rest.starts_with(b"(");
    let rest = rest.strip_prefix(b"(").unwrap_or(rest).trim_ascii_start();
    // The value ends there: `)` for `run(...)`, else the statement's end.
    let ends = |r: &[u8]| {
        let r = r.trim_ascii_start();
        if paren {
            r.starts_with(b")")
        } else {
            r.is_empty() || r.starts_with(b";") || r.starts_with(b"\n") || r.starts_with(b"}")
        }
    };
    let mut args_unknown = false;
    let args = if let Some(after) = rest
        .strip_prefix(b"ARGV")
        .or_else(|| rest.strip_prefix(b"$*"))
    {
        // `ARGV`, `$*`: the command line's; `ARGV + [...]`: unknown.
        args_unknown = !ends(after);
        None
    } else if let Some(list) = rest.strip_prefix(b"%w").filter(|r| !r.is_empty()) {
        let close = match list[0] {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            other => other,
        };
        match list[1..].iter().position(|&c| c == close) {
            Some(end) if ends(&list[end + 2..]) => Some(
                list[1..end + 1]
                    .split(u8::is_ascii_whitespace)
                    .filter(|w| !w.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect(),
            ),
            _ => {
                args_unknown = true;
                None
            }
        }
    } else if rest.starts_with(b"[") {
        let t = tokens(rest);
        let mut list = Vec::new();
        let mut closed = false;
        for (k, tok) in t.iter().enumerate().skip(1) {
            match tok {
                Token::Str(s) => list.push(s.clone()),
                Token::Punct(b',') => {}
                Token::Punct(b']') => {
                    closed = matches!(t.get(k + 1), None | Some(Token::Punct(b')' | b';' | b'}')));
                    break;
                }
                _ => break,
            }
        }
        if closed {
            Some(list)
        } else {
            args_unknown = true;
            None
        }
    } else {
        // A name, a call: the arguments are not known.
        args_unknown = true;
        None
    };
    let (installer_id, manager) = installer_named("gem")?;
    if runners > 1 {
        return Some(CodeRun {
            installer_id,
            manager,
            args: None,
            args_unknown: true,
        });
    }
    Some(CodeRun {
        installer_id,
        manager,
        args,
        args_unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(code: &str) -> Option<(Manager, Option<Vec<String>>)> {
        python(code.as_bytes()).map(|r| {
            (
                r.manager,
                r.args.map(|a| {
                    a.iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect()
                }),
            )
        })
    }

    #[test]
    fn python_code_that_loads_an_installer() {
        use Manager::*;
        for code in [
            "import pip",
            "import runpy; runpy.run_module(\"pip\", run_name=\"__main__\")",
            "import runpy\nrunpy.run_module(mod_name='pip', run_name='__main__')",
            "import runpy; runpy._run_module_as_main('pip')",
            "import importlib; importlib.import_module('pip._internal.cli.main').main()",
            "__import__('pip').main()",
            "import os, pip._internal.cli.main as m; m.main()",
            "from pip._internal.cli.main import main; main()",
            "import ensurepip; ensurepip.bootstrap()",
            "import runpy; runpy.run_path('/usr/bin/pip3', run_name='__main__')",
        ] {
            assert_eq!(py(code).map(|r| r.0), Some(Pip), "{code}");
        }
        assert_eq!(py("import pipx.main").map(|r| r.0), Some(Pipx));
        // What `ensurepip` runs in a child python (3.11's `_run_pip`).
        let ensurepip = "\nimport runpy\nimport sys\nsys.path = ['/tmp/w/setuptools.whl'] + sys.path\n\
            sys.argv[1:] = ['install', '--no-cache-dir', '--no-index', '--find-links', '/tmp/w', 'setuptools', 'pip']\n\
            runpy.run_module(\"pip\", run_name=\"__main__\", alter_sys=True)\n";
        let (m, args) = py(ensurepip).expect("ensurepip's pip run");
        assert_eq!(m, Pip);
        let args = args.expect("its arguments");
        assert_eq!(args[0], "install");
        assert_eq!(&args[args.len() - 2..], ["setuptools", "pip"]);
        assert_eq!(
            py("from os import path\nimport pip").map(|r| r.0),
            Some(Pip)
        );
        assert_eq!(
            py("from pip._internal.cli.main import main; main([\"install\", '--no-index', \"./x.whl\"])"),
            Some((
                Pip,
                Some(vec!["install".into(), "--no-index".into(), "./x.whl".into()])
            ))
        );
    }

    #[test]
    fn only_the_entry_calls_list_is_the_installers_arguments() {
        let args = |code: &str| py(code).and_then(|r| r.1);
        let v = |a: &[&str]| Some(a.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        // A list passed to another call first is not pip's.
        assert_eq!(
            args("import subprocess, pip; subprocess.run(['echo', 'hi']); pip.main(['install', 'x'])"),
            v(&["install", "x"])
        );
        assert_eq!(args("import pip; print(['a']); x = f(['b'])"), None);
        assert_eq!(
            args("from pip._internal.cli.main import main as run; run(['install', 'y'])"),
            v(&["install", "y"])
        );
        assert_eq!(
            args("import pip._internal.cli.main as m; m.main(['install', 'z'])"),
            v(&["install", "z"])
        );
        assert_eq!(
            args("import sys, runpy; sys.argv = ['pip', 'install', 'w']; runpy.run_module('pip')"),
            v(&["install", "w"])
        );
    }

    #[test]
    fn the_argument_list_is_found_past_many_others() {
        // 128 KiB of `x = [` and calls before the real list (each once
        // scanned back to the start: quadratic, now one pass).
        let mut code = String::from("import pip\n");
        while code.len() < 128 * 1024 {
            code.push_str("a = [1]; f([2]); ");
        }
        code.push_str("pip.main(['install', 'x'])");
        assert_eq!(
            py(&code).and_then(|r| r.1),
            Some(vec!["install".to_owned(), "x".to_owned()])
        );
    }

    #[test]
    fn python_code_that_only_mentions_one() {
        for code in [
            "pass",
            "print(\"pip\")",
            "print('import pip')",
            "import pipeline",
            "import os; os.system('pip install x')",
            "import runpy; runpy.run_module('p' + 'ip')",
            "# import pip",
            "x = 'pip'; import json",
            "from pipeline import pip",
            "from pipeline import (a, pip)",
            "import runpy; runpy.run_module('pipeline')",
        ] {
            assert_eq!(py(code), None, "{code}");
        }
    }

    #[test]
    fn node_code() {
        for code in [
            "require('/usr/lib/node_modules/npm/lib/cli.js')(process)",
            "require(\"/usr/share/nodejs/npm/lib/cli.js\")(process)",
            "require('npm')",
            "import('npm/lib/cli.js').then(m => m.default(process))",
            "import cli from 'npm/lib/cli.js'",
        ] {
            assert_eq!(
                node(code.as_bytes()).map(|r| r.manager),
                Some(Manager::Npm),
                "{code}"
            );
        }
        assert_eq!(
            node(b"require('/usr/lib/node_modules/yarn/bin/yarn.js')").map(|r| r.manager),
            Some(Manager::Yarn)
        );
        for code in [
            "console.log('npm')",
            "require('npm-run-all')",
            "require('apt')",
            "require('/usr/bin/apt-get')",
            "require('/home/u/npm/tool.js')",
            "process.exit(0)",
        ] {
            assert_eq!(node(code.as_bytes()), None, "{code}");
        }
    }

    fn strs(a: Option<Vec<Vec<u8>>>) -> Option<Vec<String>> {
        a.map(|a| {
            a.iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect()
        })
    }

    #[test]
    fn perl_code_that_runs_cpan() {
        let cpan = |code: &str, loaded: bool| {
            let load = if loaded { Load::Imported } else { Load::No };
            perl(code.as_bytes(), load).map(|r| (r.manager, strs(r.args).unwrap_or_default()))
        };
        let want = |args: &[&str]| {
            Some((
                Manager::Cpan,
                args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ))
        };
        for (code, loaded, args) in [
            ("install X", true, &["-i", "X"][..]),
            ("install 'Foo::Bar'", true, &["-i", "Foo::Bar"]),
            ("install(\"A\", 'B')", true, &["-i", "A", "B"]),
            ("install qw(A B)", true, &["-i", "A", "B"]),
            ("CPAN::Shell->install(\"X::Y\")", true, &["-i", "X::Y"]),
            ("CPAN::install('X')", true, &["-i", "X"]),
            ("force install X; print 1", true, &["-i", "X"]),
            ("shell", true, &[]),
            ("upgrade", true, &["-u"]),
            ("use CPAN; install X", false, &["-i", "X"]),
            (
                "require CPAN; CPAN::Shell->install('X')",
                false,
                &["-i", "X"],
            ),
        ] {
            assert_eq!(cpan(code, loaded), want(args), "{code}");
        }
        for (code, loaded) in [
            // CPAN not loaded: `install` is nobody's.
            ("install X", false),
            ("use CPANPLUS; install X", false),
            // A word that only contains a CPAN function's name.
            ("reinstall X; $install = 1; my_shell()", true),
            ("print 'hello'", true),
        ] {
            assert_eq!(cpan(code, loaded), None, "{code}");
        }
        // Review: strings are data, never calls.
        assert_eq!(
            cpan("$m=\"test\"; install Evil", true),
            want(&["-i", "Evil"])
        );
        assert_eq!(cpan("print \"make it so\\n\"", true), None);
        assert_eq!(cpan("print 'a \\' make'; 1", true), None);
        // `-mCPAN` loads without importing: a bare `install X` is
        // `X->install`; the qualified calls still reach CPAN.
        assert_eq!(perl(b"install X", Load::Required), None);
        assert_eq!(
            perl(b"CPAN::Shell->install('X')", Load::Required).map(|r| strs(r.args)),
            Some(Some(vec!["-i".to_string(), "X".to_string()]))
        );
    }

    #[test]
    fn ruby_code_that_runs_gem() {
        let gem =
            |code: &str, loaded| ruby(code.as_bytes(), loaded).map(|r| (r.manager, strs(r.args)));
        assert_eq!(
            gem("Gem::GemRunner.new.run ARGV", true),
            Some((Manager::Gem, None))
        );
        assert_eq!(
            gem("Gem::GemRunner.new.run(ARGV.clone)", true),
            Some((Manager::Gem, None))
        );
        assert_eq!(
            gem(
                "require 'rubygems/gem_runner'; Gem::GemRunner.new.run %w[install rails]",
                false
            ),
            Some((Manager::Gem, Some(vec!["install".into(), "rails".into()])))
        );
        assert_eq!(
            gem("Gem::GemRunner.new.run([\"install\", 'x'])", true),
            Some((Manager::Gem, Some(vec!["install".into(), "x".into()])))
        );
        // Without gem_runner loaded the constant is not defined (ruby 3.1:
        // NameError): nothing runs.
        assert_eq!(gem("Gem::GemRunner.new.run ARGV", false), None);
        assert_eq!(gem("puts 'Gem::GemRunner'", true), None);
        // Arguments not given as literals: gem runs, with arguments unknown.
        let unknown = |code: &str| ruby(code.as_bytes(), true).map(|r| (r.args, r.args_unknown));
        assert_eq!(unknown("Gem::GemRunner.new.run(args)"), Some((None, true)));
        assert_eq!(
            unknown("Gem::GemRunner.new.run(ARGV + ['x'])"),
            Some((None, true))
        );
        assert_eq!(unknown("Gem::GemRunner.new.run ARGV"), Some((None, false)));
        assert_eq!(unknown("Gem::GemRunner.new.run $*"), Some((None, false)));
    }

    /// Review: code that runs pip with a literal decoy list, then again
    /// with arguments built at run time, was reported as the decoy's
    /// query. More than one entry call, argv assignment or run of the
    /// installer makes the arguments unknown, never the first list.
    #[test]
    fn a_second_run_or_argv_makes_the_arguments_unknown() {
        let unknown = |code: &str| python(code.as_bytes()).map(|r| (r.args, r.args_unknown));
        for code in [
            "import sys, runpy; sys.argv=['pip','list']; runpy.run_module('pip', run_name='__main__'); \
             sys.argv = ['pip'] + bytes.fromhex('696e7374616c6c2078').decode().split(); \
             runpy.run_module('pip', run_name='__main__')",
            "import sys\nfrom pip._internal.cli.main import main\nsys.argv=['pip','list']\nmain()\n\
             sys.argv=['pip','install','x']\nmain()",
            "import pip; pip.main(['list']); pip.main(a)",
            "import pip; pip.main(['list']); pip.main(['install', 'x'])",
            "import pip; pip.main(['list']); pip.main()",
            "import runpy; runpy.run_module('pip'); runpy.run_module('pip')",
            "import sys, pip; sys.argv = ['pip', 'list', 'install', 'x']; del sys.argv[1]; pip.main()",
            "import sys, pip; sys.argv = ['pip', 'list']; sys.argv += ['x']; pip.main()",
            "import sys, pip; sys.argv = ['pip', 'x', 'install', 'list']; sys.argv.pop(); pip.main()",
        ] {
            assert_eq!(unknown(code), Some((None, true)), "{code}");
        }
        // One run, one list: known, a `def main` being no call.
        let v = |a: &[&str]| Some(a.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
        for code in [
            "import sys, runpy; sys.argv = ['pip', 'install', 'x']; runpy.run_module('pip')",
            "from pip._internal.cli.main import main\nimport sys\nsys.argv[1:] = ['install', 'x']\nmain()",
            "def main():\n    import pip; pip.main(['install', 'x'])",
        ] {
            assert_eq!(unknown(code), Some((v(&["install", "x"]), false)), "{code}");
        }
        let node_unknown = |code: &str| node(code.as_bytes()).map(|r| (r.args, r.args_unknown));
        const CLI: &str = "require('/usr/lib/node_modules/npm/lib/cli.js')(process)";
        for code in [
            format!("process.argv = ['node', 'npm', 'ls']; {CLI}; process.argv = ['node', 'npm', 'i', 'x']; {CLI}"),
            format!("process.argv = ['node', 'npm', 'ls']; {CLI}; process.argv = ['node', 'npm'].concat(a); {CLI}"),
            format!("{CLI}; {CLI}"),
            format!("process.argv = ['node', 'npm', 'ls', 'x']; process.argv.pop(); {CLI}"),
        ] {
            assert_eq!(node_unknown(&code), Some((None, true)), "{code}");
        }
        assert_eq!(
            node_unknown(&format!("process.argv = ['node', 'npm', 'i', 'x']; {CLI}")),
            Some((v(&["i", "x"]), false))
        );
        // perl: two CPAN operations (a `test` decoy first) are unknown;
        // one repeated adds its operands.
        let cpan =
            |code: &str| perl(code.as_bytes(), Load::Imported).map(|r| (r.args, r.args_unknown));
        assert_eq!(cpan("test X; install $m"), Some((None, true)));
        assert_eq!(
            cpan("CPAN::Shell->test('X'); CPAN::Shell->install($m)"),
            Some((None, true))
        );
        assert_eq!(
            cpan("install A; install 'B'"),
            Some((v(&["-i", "A", "B"]), false))
        );
        assert_eq!(cpan("install make"), Some((v(&["-i", "make"]), false)));
        // ruby: a second runner.
        assert_eq!(
            ruby(
                b"Gem::GemRunner.new.run %w[list]; Gem::GemRunner.new.run(a)",
                true
            )
            .map(|r| (r.args, r.args_unknown)),
            Some((None, true))
        );
    }

    #[test]
    fn every_code_name_holds_a_kernel_needle() {
        let holds = |n: &str| holds_needle(n.as_bytes());
        for (m, installer) in PYTHON_MODULES {
            assert!(holds(m), "{m}");
            assert!(installer_named(installer).is_some(), "{installer}");
        }
        for p in NODE_PACKAGES {
            assert!(holds(p), "{p}");
            assert!(installer_named(p).is_some(), "{p}");
        }
    }

    #[test]
    fn hostile_code_never_panics() {
        for code in [
            &b"import"[..],
            b"from",
            b"f(",
            b"f([",
            b"f([\"a\",",
            b"'unterminated",
            b"\\",
            b"require(",
            b"\xff\xfe import pip",
        ] {
            let _ = (python(code), node(code));
        }
    }
}
