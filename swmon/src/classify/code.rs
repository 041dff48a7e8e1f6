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
//! The installer's arguments are the first list of string literals the
//! code passes to a call (`main(["install", "./x.whl"])`) or assigns to
//! `argv` (`sys.argv[1:] = [...]`, as `ensurepip` does), else the command
//! line's arguments after the code (Python: `sys.argv[1:]`; Node: npm's
//! cli reads `process.argv` from its third entry, and with `-e` the first
//! argument after the code stands where the script would).

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

/// The first list of string literals passed to a call (`f(["a", "b"])`)
/// or assigned to `argv` (`sys.argv[1:] = ["install", "x"]`, what
/// `ensurepip` runs).
fn literal_list(t: &[Token<'_>]) -> Option<Vec<Vec<u8>>> {
    for (i, w) in t.windows(2).enumerate() {
        let to_argv = || {
            t[..i].iter().rev().find_map(|x| match x {
                Token::Name(n) => Some(last_part(n) == b"argv"),
                _ => None,
            }) == Some(true)
        };
        match w {
            [Token::Punct(b'('), Token::Punct(b'[')] => {}
            [Token::Punct(b'='), Token::Punct(b'[')] if to_argv() => {}
            _ => continue,
        }
        let mut list = Vec::new();
        let mut j = i + 2;
        loop {
            match t.get(j) {
                Some(Token::Str(s)) => list.push(s.clone()),
                Some(Token::Punct(b']')) => return Some(list),
                _ => break,
            }
            match t.get(j + 1) {
                Some(Token::Punct(b',')) => j += 2,
                Some(Token::Punct(b']')) => return Some(list),
                _ => break,
            }
        }
    }
    None
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
                    b"run_path" => literal.filter(|p| holds_needle(p)).and_then(|p| {
                        let (id, p) = catalogue::lookup(crate::ebpf::filter::basename(p))?;
                        match p.role {
                            Role::Installer(m) => Some((id, m)),
                            _ => None,
                        }
                    }),
                    _ => None,
                };
            }
            _ => {}
        }
        i += 1;
    }
    let (installer_id, manager) = found?;
    Some(CodeRun {
        installer_id,
        manager,
        args: literal_list(&t),
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

/// The installer Node code runs, by the rule in the module doc.
pub fn node(code: &[u8]) -> Option<CodeRun> {
    let t = tokens(code);
    let found = t.iter().enumerate().find_map(|(i, tok)| {
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
    let (installer_id, manager) = found?;
    Some(CodeRun {
        installer_id,
        manager,
        args: literal_list(&t),
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
