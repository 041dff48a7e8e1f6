//! Tests for the classify stage: golden files of real argv, the escaping
//! helper, and deterministic pseudo-random argv that must never panic.
//!
//! The goldens live in `swmon/tests/data/classify/` and go through
//! [`explain`], the code path of `swmon classify`:
//! - `real.txt`: real command lines from public Dockerfiles, CI files and
//!   install guides, each with its source and the answer a person wrote
//!   down by hand. Never rewritten by code.
//! - `argv.txt` and `argv.golden.json`: a snapshot (one case a line: the
//!   program name, then its arguments as a JSON array; an argument
//!   written `{"b": "..."}` is raw bytes in the form [`escape`] produces)
//!   and what classify made of each. `SWMON_WRITE_GOLDEN=1` (exactly `1`)
//!   rewrites the golden file; read the diff.

use std::{fs, path::PathBuf};

use serde_json::{json, Value};

use super::{classify, command::explain, escape};
use crate::catalogue::{lookup, Manager, Role};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/classify")
        .join(name)
}

/// The inverse of [`escape`] for text it escaped: `\\` is a backslash and
/// `\xNN` a byte.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

struct Case {
    line: usize,
    program: String,
    manager: Manager,
    raw_args: Value,
    args: Vec<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(data("argv.txt")).unwrap();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (program, json) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("argv.txt:{}: no arguments", n + 1));
        let manager = match lookup(program.as_bytes()) {
            Some((_, p)) => match p.role {
                Role::Installer(m) => m,
                _ => panic!("argv.txt:{}: {program} is not an installer", n + 1),
            },
            None => panic!("argv.txt:{}: {program} is not catalogued", n + 1),
        };
        let raw_args: Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("argv.txt:{}: bad JSON: {e}", n + 1));
        let args = raw_args
            .as_array()
            .unwrap_or_else(|| panic!("argv.txt:{}: arguments are not an array", n + 1))
            .iter()
            .map(|a| match a {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Object(o) => unescape(o["b"].as_str().unwrap()),
                _ => panic!("argv.txt:{}: bad argument {a}", n + 1),
            })
            .collect();
        out.push(Case {
            line: n + 1,
            program: program.to_owned(),
            manager,
            raw_args,
            args,
        });
    }
    out
}

/// The golden form of one result: the case as given and what `swmon
/// classify --json` prints for it (the same code path).
fn render(case: &Case) -> Value {
    let mut argv: Vec<&[u8]> = vec![case.program.as_bytes()];
    argv.extend(case.args.iter().map(Vec::as_slice));
    let mut v = json!({
        "program": case.program,
        "args": case.raw_args,
    });
    let o = v.as_object_mut().unwrap();
    let explained = explain(&argv).json();
    for (k, val) in explained.as_object().unwrap() {
        if k != "program" {
            o.insert(k.clone(), val.clone());
        }
    }
    v
}

/// Whether the golden files are to be rewritten: only with the variable
/// set to exactly `1` (`0`, empty or anything else checks).
fn rewrite_goldens() -> bool {
    rewrite_asked(std::env::var_os("SWMON_WRITE_GOLDEN").as_deref())
}

fn rewrite_asked(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

#[test]
fn goldens_match() {
    let cases = cases();
    for c in &cases {
        assert_eq!(
            explain(&[c.program.as_bytes()]).target.map(|t| t.manager),
            Some(c.manager),
            "argv.txt:{}",
            c.line
        );
    }
    let actual: Vec<Value> = cases.iter().map(render).collect();
    let path = data("argv.golden.json");
    if rewrite_goldens() {
        // One case a line: a reviewer reads the file, and a diff shows
        // exactly the cases that changed.
        let lines: Vec<String> = actual.iter().map(Value::to_string).collect();
        fs::write(&path, format!("[\n{}\n]\n", lines.join(",\n"))).unwrap();
        return;
    }
    let expected: Vec<Value> = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut wrong = Vec::new();
    for (i, (case, got)) in cases.iter().zip(&actual).enumerate() {
        match expected.get(i) {
            Some(want) if want == got => {}
            want => wrong.push(format!(
                "argv.txt:{}:\n  want {}\n  got  {got}",
                case.line,
                want.map_or("(nothing)".to_owned(), Value::to_string)
            )),
        }
    }
    assert!(
        wrong.is_empty() && expected.len() == actual.len(),
        "{} of {} cases differ ({} expected); SWMON_WRITE_GOLDEN=1 rewrites\n{}",
        wrong.len(),
        actual.len(),
        expected.len(),
        wrong.join("\n")
    );
}

#[test]
fn only_exactly_1_rewrites() {
    assert!(rewrite_asked(Some("1".as_ref())));
    for other in ["0", "", "yes", "true", " 1", "1 ", "01"] {
        assert!(!rewrite_asked(Some(other.as_ref())), "{other:?}");
    }
    assert!(!rewrite_asked(None));
}

#[test]
fn goldens_cover_every_manager() {
    let cases = cases();
    for m in Manager::ALL {
        let n = cases.iter().filter(|c| c.manager == m).count();
        assert!(n >= 3, "{m} has {n} golden cases");
    }
    assert!(cases.len() >= 150, "{} golden cases", cases.len());
}

#[test]
fn escape_keeps_valid_utf8_as_is() {
    assert_eq!(escape(b"plain"), "plain");
    assert_eq!(escape(br"back\slash"), r"back\slash");
    assert_eq!(
        escape("caf\u{e9}\n\x1b[31m".as_bytes()),
        "caf\u{e9}\n\x1b[31m"
    );
    assert_eq!(escape(b""), "");
}

#[test]
fn escape_marks_invalid_bytes_and_then_backslashes() {
    assert_eq!(escape(b"a\xffb"), r"a\xffb");
    assert_eq!(escape(b"\\\x80"), r"\\\x80");
    // A truncated multi-byte sequence is escaped byte by byte.
    assert_eq!(escape(b"\xe2\x82"), r"\xe2\x82");
    assert_eq!(escape(b"\xe2\x82\xacok\xc0"), "\u{20ac}ok\\xc0");
}

#[test]
fn escape_round_trips() {
    let mut rng = Rng(0x5eed);
    for _ in 0..5000 {
        let bytes = rng.bytes(24);
        let text = escape(&bytes);
        if std::str::from_utf8(&bytes).is_ok() {
            assert_eq!(text.as_bytes(), &bytes[..]);
        } else {
            assert_eq!(unescape(&text), bytes, "{text}");
        }
    }
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        // Mostly ASCII punctuation and letters, where the grammars split.
        (0..len)
            .map(|_| match self.below(4) {
                0 => self.next() as u8,
                1 => b"-=@/:.+!~[];,<> #_"[self.below(18)],
                _ => b'a' + self.below(26) as u8,
            })
            .collect()
    }

    /// One argument: a word the grammars know, random bytes, or both.
    fn arg(&mut self) -> Vec<u8> {
        let word = VOCABULARY[self.below(VOCABULARY.len())].to_vec();
        match self.below(4) {
            0 => self.bytes(12),
            1 => [word, self.bytes(6)].concat(),
            _ => word,
        }
    }
}

const VOCABULARY: &[&[u8]] = &[
    b"install",
    b"i",
    b"add",
    b"remove",
    b"rm",
    b"uninstall",
    b"update",
    b"upgrade",
    b"pip",
    b"tool",
    b"global",
    b"group",
    b"module",
    b"profile",
    b"env",
    b"create",
    b"require",
    b"swap",
    b"inject",
    b"python",
    b"self",
    b"--",
    b"-",
    b"-i",
    b"-e",
    b"-U",
    b"-S",
    b"-Syu",
    b"-Rns",
    b"-Q",
    b"-iR",
    b"-ivh",
    b"-iA",
    b"-o",
    b"-t",
    b"-r",
    b"-n",
    b"-p",
    b"-v",
    b"-V",
    b"-h",
    b"--root",
    b"--root=",
    b"--prefix",
    b"--user",
    b"-g",
    b"--version",
    b"--help",
    b"--arg",
    b"--compare-versions",
    b"--location",
    b"--git",
    b"-v1",
    b"foo",
    b"foo=1",
    b"foo-",
    b"g++",
    b"!foo",
    b"@s/x@1",
    b"a@npm:b@2",
    b"x_1_all.deb",
    b"./x.deb",
    b"x-1-1.x86_64.rpm",
    b"x-1-1-any.pkg.tar.zst",
    b"x-1-r0.apk",
    b"n[e]==1; python_version<'3'",
    b"n @ https://x",
    b"git+https://x#egg=",
    b"c::n=1",
    b"app/x.y/a/b",
    b"x.whl",
    b"x-1.tar.gz",
    b"@",
    b"=",
    b"#",
    b"\xff",
    b"\xff\xfe",
    b"\x1b[31m",
    b"a\nb",
];

fn check(m: Manager, args: &[&[u8]]) {
    let c = classify(m, args);
    assert_eq!(c.manager, m);
    assert!(c.packages.len() + c.inverse.len() <= args.len());
    assert!(c.requirements.len() <= args.len());
    assert_eq!(c, classify(m, args), "not deterministic");
}

#[test]
fn random_argv_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for m in Manager::ALL {
        check(m, &[]);
        for _ in 0..1500 {
            let n = rng.below(10);
            let owned: Vec<Vec<u8>> = (0..n).map(|_| rng.arg()).collect();
            let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            check(m, &args);
        }
    }
}

#[test]
fn huge_argv_does_not_panic() {
    let mut rng = Rng(42);
    let mut owned: Vec<Vec<u8>> = (0..100_000).map(|_| rng.arg()).collect();
    owned.push((0..100_000).map(|_| rng.next() as u8).collect());
    let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    for m in Manager::ALL {
        check(m, &args);
        // The same with an install verb in front, so that every operand
        // goes through the spec parsers.
        let mut with_verb = vec![&b"install"[..]];
        with_verb.extend_from_slice(&args);
        check(m, &with_verb);
    }
}

/// Splits a command line as a POSIX shell would, for the quoting found in
/// the sources (`'...'`, `"..."` with `\` escapes, `\` outside quotes); no
/// expansion.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => cur.push(e),
                            Some(e) => {
                                cur.push('\\');
                                cur.push(e);
                            }
                            None => cur.push('\\'),
                        },
                        q => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// One hand-checked case of `real.txt`.
struct RealCase {
    line: usize,
    source: String,
    argv: Vec<String>,
    want: Value,
    /// The answers for the line's further installer commands (`+`).
    more: Vec<Value>,
}

/// The answer as `real.txt` writes it, in the JSON form `explain` gives.
fn parse_want(text: &str) -> Value {
    if text.trim() == "none" {
        return json!({
            "manager": null,
            "operation": null,
            "packages": [],
            "scope": null,
            "via": null,
            "reading": null,
        });
    }
    // `HEAD | SCOPE [| via VIA] [| uncertain]`.
    let mut parts = text.split('|');
    let head = parts.next().unwrap_or_default();
    let scope = parts.next().expect("`| SCOPE` after the packages");
    let mut via = "direct".to_owned();
    let mut reading = Value::Null;
    for p in parts {
        match p.trim() {
            "uncertain" => reading = json!("uncertain"),
            other => {
                via = other
                    .strip_prefix("via ")
                    .unwrap_or_else(|| panic!("`| via VIA` or `| uncertain`, not {other:?}"))
                    .to_owned()
            }
        }
    }
    let words = shell_words(head);
    let (manager, operation) = (&words[0], &words[1]);
    let mut packages = Vec::new();
    let mut requirements = Vec::new();
    for w in &words[2..] {
        if let Some(file) = w.strip_prefix('<') {
            requirements.push(json!(file));
        } else {
            packages.push(match w.split_once('=') {
                Some((name, version)) => json!({"name": name, "version": version}),
                None => json!({"name": w}),
            });
        }
    }
    let mut v = json!({
        "manager": manager,
        "operation": operation,
        "packages": packages,
        "scope": scope.trim(),
        "via": via,
        "reading": reading,
    });
    if !requirements.is_empty() {
        v["requirements"] = json!(requirements);
    }
    v
}

fn real_cases() -> Vec<RealCase> {
    let text = fs::read_to_string(data("real.txt")).unwrap();
    let mut out = Vec::new();
    let mut source = None;
    let mut command: Option<(usize, Vec<String>)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(s) = line.strip_prefix("src: ") {
            source = Some(s.trim().to_owned());
        } else if let Some(c) = line.strip_prefix("$ ") {
            assert!(command.is_none(), "real.txt:{n}: command without answer");
            command = Some((n, shell_words(c)));
        } else if let Some(w) = line.strip_prefix("= ") {
            let (line, argv) = command
                .take()
                .unwrap_or_else(|| panic!("real.txt:{n}: answer without command"));
            out.push(RealCase {
                line,
                source: source
                    .clone()
                    .unwrap_or_else(|| panic!("real.txt:{n}: no src: line before")),
                argv,
                want: parse_want(w),
                more: Vec::new(),
            });
        } else if let Some(w) = line.strip_prefix("+ ") {
            let last = out
                .last_mut()
                .filter(|_| command.is_none())
                .unwrap_or_else(|| panic!("real.txt:{n}: `+` without an answer before"));
            last.more.push(parse_want(w));
        } else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "real.txt:{n}: unreadable line"
            );
        }
    }
    assert!(command.is_none(), "real.txt: last command has no answer");
    out
}

/// The fields a person checked, from `swmon classify --json`'s object.
fn checked_fields(got: &Value) -> Value {
    let mut v = json!({
        "manager": got["manager"],
        "operation": got["operation"],
        "packages": got["packages"],
        "scope": got["scope"],
        "via": got["via"],
        "reading": got["reading"],
    });
    if let Some(r) = got.get("requirements") {
        v["requirements"] = r.clone();
    }
    v
}

#[test]
fn real_command_lines_match_the_hand_checked_answers() {
    let cases = real_cases();
    let mut wrong = Vec::new();
    for c in &cases {
        let argv: Vec<&[u8]> = c.argv.iter().map(String::as_bytes).collect();
        let explained = explain(&argv).json();
        let got = checked_fields(&explained);
        // The line's installer commands after the first.
        let got_more: Vec<Value> = explained["commands"]
            .as_array()
            .map(|a| a.iter().skip(1).map(checked_fields).collect())
            .unwrap_or_default();
        if got != c.want || got_more != c.more {
            wrong.push(format!(
                "real.txt:{} ({}): {:?}\n  want {} + {:?}\n  got  {got} + {got_more:?}",
                c.line, c.source, c.argv, c.want, c.more
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn real_command_lines_cover_every_manager() {
    let cases = real_cases();
    let mut thin = Vec::new();
    for m in Manager::ALL {
        // Answers for the first and the further commands of each line.
        let answers = cases
            .iter()
            .flat_map(|c| std::iter::once(&c.want).chain(&c.more))
            .filter(|w| w["manager"] == m.as_str())
            .count();
        let sources: std::collections::HashSet<&str> = cases
            .iter()
            .filter(|c| {
                std::iter::once(&c.want)
                    .chain(&c.more)
                    .any(|w| w["manager"] == m.as_str())
            })
            .map(|c| c.source.as_str())
            .collect();
        if answers < 2 || sources.len() < 2 {
            thin.push(format!(
                "{m}: {answers} cases from {} sources",
                sources.len()
            ));
        }
    }
    assert!(
        thin.is_empty(),
        "every manager of the catalogue needs real cases from two sources at least: {thin:?}"
    );
    assert!(cases.len() >= 150, "{} real cases", cases.len());
    // Wrapped and interpreted command lines are covered too.
    let starts = |p: &[&str]| cases.iter().any(|c| p.contains(&c.argv[0].as_str()));
    assert!(starts(&["sudo"]), "no real sudo line");
    assert!(starts(&["/bin/sh", "sh"]), "no real sh -c line");
    assert!(
        cases.iter().any(|c| !c.more.is_empty()),
        "no real line of several installer commands"
    );
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"a 'b c' "d \"e\" \$f" g\ h  "" x"#),
        ["a", "b c", r#"d "e" $f"#, "g h", "", "x"]
    );
}
