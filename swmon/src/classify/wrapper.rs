//! The programs that run another command line (`sudo`, `env`, `nice`,
//! `nohup`, `timeout`, `stdbuf`, `ionice`, `chroot`, `xargs`, `time`,
//! `doas`, `setsid`, and a shell's `-c STRING`), unwrapped for `swmon
//! classify`: `swmon classify -- sudo apt-get install x` classifies
//! `apt-get install x`, and says what it unwrapped.
//!
//! Only for reading a command line a person typed: `swmon run` never needs
//! this, the kernel sees the wrapped command's own exec. Each wrapper's
//! options are read from its manual (which take a value), so the wrapped
//! command starts where the wrapper would start it. A shell's command
//! string is split with a small shell-word splitter (quotes, backslashes,
//! `&&`, `||`, `;`, `|`, `&`, newlines, redirections, leading `VAR=value`
//! words, `exec`/`command`/`time`/`!` and the compound keywords); no
//! expansion is done (`$VAR` stays as written; what a `$(...)` runs is
//! read as a command of its own, backquotes are not). Pure: no file is
//! opened.

use crate::ebpf::filter::basename;

/// How deep wrappers are unwrapped (`sudo env sh -c 'nice ...'`); past
/// it the command is read as it stands.
const DEPTH_MAX: usize = 16;
/// Simple commands read from one command line (a shell string with more
/// is read up to here; `truncated` says so).
const COMMANDS_MAX: usize = 256;

/// One simple command a command line runs, and the wrappers it was found
/// under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simple {
    /// The wrappers unwrapped on the way, outermost first, each as the
    /// words it took (`["sudo", "-u", "root"]`, `["sh", "-c", "..."]`,
    /// `["DEBIAN_FRONTEND=noninteractive"]` before a shell command).
    pub wrappers: Vec<Vec<Vec<u8>>>,
    /// The command itself: argv\[0\] is its program.
    pub argv: Vec<Vec<u8>>,
    /// `xargs`: more arguments come from its standard input (`stdin`) or
    /// a file (`-a FILE`): the packages named are not all the packages.
    pub more_arguments_from: Option<Vec<u8>>,
    /// `chroot DIR`, `sudo -R DIR`: the command runs with DIR as its root.
    pub root: Option<Vec<u8>>,
}

/// The simple commands `argv` runs, with what was unwrapped to reach each:
/// one for a plain command line, several for a shell string with `&&`,
/// `;` or `|`, none when a wrapper runs no command (`sudo -l`, `env`,
/// `chroot DIR` alone). The second value says the list was cut at
/// [`COMMANDS_MAX`].
pub fn unwrap(argv: &[&[u8]]) -> (Vec<Simple>, bool) {
    let mut out = Vec::new();
    let start = Simple {
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        ..Simple::default()
    };
    let truncated = walk(start, 0, &mut out);
    (out, truncated)
}

/// Unwraps `cmd` into `out`; true when [`COMMANDS_MAX`] was reached.
fn walk(mut cmd: Simple, depth: usize, out: &mut Vec<Simple>) -> bool {
    if out.len() >= COMMANDS_MAX {
        return true;
    }
    let Some(program) = cmd.argv.first() else {
        return false;
    };
    if depth >= DEPTH_MAX {
        out.push(cmd);
        return false;
    }
    let name = basename(program).to_vec();
    let args: Vec<&[u8]> = cmd.argv[1..].iter().map(Vec::as_slice).collect();
    let found = match &name[..] {
        b"sudo" => sudo(&args),
        b"doas" => Some(options(&args, b"uC", b"", &[], b"CL")),
        b"env" => return env(cmd, depth, out),
        b"nice" => nice(&args),
        b"nohup" | b"setsid" => Some(options(&args, b"", b"", &[], b"")),
        b"timeout" => timeout(&args),
        b"stdbuf" => Some(options(
            &args,
            b"ioe",
            b"",
            &[b"--input", b"--output", b"--error"],
            b"",
        )),
        b"ionice" => Some(options(
            &args,
            b"cn",
            b"",
            &[b"--class", b"--classdata"],
            b"pPu",
        )),
        b"time" => Some(options(&args, b"of", b"", &[b"--output", b"--format"], b"")),
        b"chroot" => chroot(&args),
        // `corepack yarn@1.22.19 install`: corepack runs the manager named.
        b"corepack" | b"corepack.js" => {
            let manager = args
                .first()
                .and_then(|a| super::command::corepack_manager(a));
            let Some(manager) = manager.map(<[u8]>::to_vec) else {
                out.push(cmd);
                return false;
            };
            let mut inner = cmd.argv.split_off(1);
            let named = std::mem::replace(&mut inner[0], manager);
            cmd.argv.push(named);
            cmd.wrappers.push(std::mem::take(&mut cmd.argv));
            cmd.argv = inner;
            return walk(cmd, depth + 1, out);
        }
        b"xargs" => xargs(&args),
        b"sh" | b"bash" | b"dash" | b"zsh" | b"ash" | b"ksh" | b"mksh" | b"busybox" => {
            return shell(cmd, &name, depth, out);
        }
        _ => {
            out.push(cmd);
            return false;
        }
    };
    let Some(Found {
        command,
        root,
        more,
    }) = found
    else {
        // The wrapper runs no command: nothing to classify.
        return false;
    };
    // The words the wrapper took, itself included.
    let taken = 1 + command;
    let inner: Vec<Vec<u8>> = cmd.argv.split_off(taken.min(cmd.argv.len()));
    if inner.is_empty() {
        return false;
    }
    cmd.wrappers.push(std::mem::take(&mut cmd.argv));
    cmd.argv = inner;
    if root.is_some() {
        cmd.root = root;
    }
    if more.is_some() {
        cmd.more_arguments_from = more;
    }
    walk(cmd, depth + 1, out)
}

/// Where a wrapper's command starts: the index in its arguments (after
/// the wrapper's name), and what the wrapper says about it.
struct Found {
    command: usize,
    root: Option<Vec<u8>>,
    more: Option<Vec<u8>>,
}

impl Found {
    fn at(command: usize) -> Found {
        Found {
            command,
            root: None,
            more: None,
        }
    }
}

/// Reads getopt-style options: `short_value` letters take a value (glued
/// or the next argument), `short_glued` ones an optional glued value, long
/// options in `long_value` a value (`=VALUE` or the next argument), every
/// other `-x`/`--x` none. `no_run` letters (and `--help`, `--version`) mean
/// no command runs. The command starts at the first operand or after
/// `--`.
fn options(
    args: &[&[u8]],
    short_value: &[u8],
    short_glued: &[u8],
    long_value: &[&[u8]],
    no_run: &[u8],
) -> Found {
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        if a == b"--" {
            return Found::at(i + 1);
        }
        if a.starts_with(b"--") {
            if a == b"--help" || a == b"--version" {
                return Found::at(args.len());
            }
            i += if long_value.contains(&a) { 2 } else { 1 };
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            return Found::at(i);
        }
        let mut next = i + 1;
        for (j, c) in a.iter().enumerate().skip(1) {
            if no_run.contains(c) {
                return Found::at(args.len());
            }
            if short_glued.contains(c) {
                break;
            }
            if short_value.contains(c) {
                if j + 1 == a.len() {
                    next = i + 2;
                }
                break;
            }
        }
        i = next;
    }
    Found::at(args.len())
}

/// `sudo [OPTIONS] [VAR=value]... COMMAND`: `-e` edits, `-l` lists, `-v`
/// validates, `-K` forgets, `-V`/`-h` alone print: no command runs.
fn sudo(args: &[&[u8]]) -> Option<Found> {
    const LONG_VALUE: &[&[u8]] = &[
        b"--close-from",
        b"--chdir",
        b"--group",
        b"--host",
        b"--prompt",
        b"--chroot",
        b"--role",
        b"--type",
        b"--command-timeout",
        b"--other-user",
        b"--user",
    ];
    let mut root = None;
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        if a == b"--" {
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            let (name, value) = split_eq(a);
            match name {
                b"--edit"
                | b"--list"
                | b"--validate"
                | b"--version"
                | b"--help"
                | b"--remove-timestamp" => return None,
                _ => {}
            }
            let value_next = value.is_none() && LONG_VALUE.contains(&name);
            if name == b"--chroot" {
                root = value
                    .map(<[u8]>::to_vec)
                    .or(args.get(i + 1).map(|v| v.to_vec()));
            }
            i += if value_next { 2 } else { 1 };
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        let mut next = i + 1;
        for (j, &c) in a.iter().enumerate().skip(1) {
            match c {
                b'e' | b'l' | b'v' | b'V' | b'K' => return None,
                // `-h` alone is help; `-h HOST` names a host.
                b'h' if j + 1 == a.len() && args.get(i + 1).is_none() => return None,
                b'C' | b'D' | b'g' | b'h' | b'p' | b'R' | b'T' | b'U' | b'u' | b'r' | b't' => {
                    let value = if j + 1 == a.len() {
                        next = i + 2;
                        args.get(i + 1).copied()
                    } else {
                        Some(&a[j + 1..])
                    };
                    if c == b'R' {
                        root = value.map(<[u8]>::to_vec);
                    }
                    break;
                }
                _ => {}
            }
        }
        i = next;
    }
    // `sudo VAR=value command`: the assignments are its environment.
    while args.get(i).is_some_and(|a| assignment(a)) {
        i += 1;
    }
    (i < args.len()).then_some(Found {
        command: i,
        root,
        more: None,
    })
}

/// `nice [-n N | -N | --adjustment=N] COMMAND`.
fn nice(args: &[&[u8]]) -> Option<Found> {
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        match a {
            b"--" => return Some(Found::at(i + 1)),
            b"--help" | b"--version" => return None,
            b"-n" | b"--adjustment" => i += 2,
            _ if a.starts_with(b"-") && a.len() > 1 => i += 1,
            _ => return Some(Found::at(i)),
        }
    }
    None
}

/// `timeout [OPTIONS] DURATION COMMAND`.
fn timeout(args: &[&[u8]]) -> Option<Found> {
    let f = options(args, b"ks", b"", &[b"--kill-after", b"--signal"], b"");
    // The first operand is the duration.
    (f.command < args.len()).then(|| Found::at(f.command + 1))
}

/// `chroot [OPTIONS] NEWROOT [COMMAND]` (no command: an interactive
/// shell, nothing to classify).
fn chroot(args: &[&[u8]]) -> Option<Found> {
    let f = options(args, b"", b"", &[b"--userspec", b"--groups"], b"");
    let root = args.get(f.command)?;
    Some(Found {
        command: f.command + 1,
        root: Some(root.to_vec()),
        more: None,
    })
}

/// `xargs [OPTIONS] [COMMAND [ARGS]]`: the command's further arguments
/// come from standard input, or the file of `-a FILE`.
fn xargs(args: &[&[u8]]) -> Option<Found> {
    let mut from: Vec<u8> = b"stdin".to_vec();
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        if a == b"--" {
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            let (name, value) = split_eq(a);
            match name {
                b"--help" | b"--version" | b"--show-limits" => return None,
                b"--arg-file" => {
                    let file = value.or(args.get(i + 1).copied()).unwrap_or_default();
                    from = [&b"file:"[..], file].concat();
                }
                _ => {}
            }
            let takes = matches!(
                name,
                b"--arg-file"
                    | b"--delimiter"
                    | b"--max-args"
                    | b"--max-procs"
                    | b"--max-chars"
                    | b"--process-slot-var"
            );
            i += if takes && value.is_none() { 2 } else { 1 };
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        let mut next = i + 1;
        for (j, &c) in a.iter().enumerate().skip(1) {
            match c {
                b'a' | b'd' | b'E' | b'I' | b'L' | b'n' | b'P' | b's' => {
                    let value = if j + 1 == a.len() {
                        next = i + 2;
                        args.get(i + 1).copied().unwrap_or_default()
                    } else {
                        &a[j + 1..]
                    };
                    if c == b'a' {
                        from = [&b"file:"[..], value].concat();
                    }
                    break;
                }
                b'e' | b'i' | b'l' => break,
                _ => {}
            }
        }
        i = next;
    }
    // No command: xargs runs `echo`.
    (i < args.len()).then_some(Found {
        command: i,
        root: None,
        more: Some(from),
    })
}

/// `env [OPTIONS] [-S STRING] [NAME=VALUE]... [COMMAND [ARGS]]`: `-S`
/// splits its string into arguments read in its place (a `#!` line's
/// `env -S python3 -u`).
fn env(mut cmd: Simple, depth: usize, out: &mut Vec<Simple>) -> bool {
    if depth >= DEPTH_MAX {
        out.push(cmd);
        return false;
    }
    let args: Vec<Vec<u8>> = cmd.argv[1..].to_vec();
    let mut taken: Vec<Vec<u8>> = vec![cmd.argv[0].clone()];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let a = a.as_slice();
        if a == b"--" {
            taken.push(a.to_vec());
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            let (name, value) = split_eq(a);
            if matches!(name, b"--help" | b"--version" | b"--list-signal-handling") {
                return false;
            }
            if name == b"--split-string" {
                let s = value
                    .or(args.get(i + 1).map(Vec::as_slice))
                    .unwrap_or_default();
                let skip = if value.is_some() { 1 } else { 2 };
                taken.extend(args[i..(i + skip).min(args.len())].iter().cloned());
                return env_split(
                    cmd,
                    taken,
                    s,
                    &args[(i + skip).min(args.len())..],
                    depth,
                    out,
                );
            }
            let takes = matches!(name, b"--unset" | b"--chdir") && value.is_none();
            let n = if takes { 2 } else { 1 };
            taken.extend(args[i..(i + n).min(args.len())].iter().cloned());
            i += n;
            continue;
        }
        if a == b"-" {
            taken.push(a.to_vec());
            i += 1;
            continue;
        }
        if a.len() >= 2 && a[0] == b'-' {
            let mut next = i + 1;
            for (j, &c) in a.iter().enumerate().skip(1) {
                match c {
                    b'u' | b'C' | b'P' => {
                        if j + 1 == a.len() {
                            next = i + 2;
                        }
                        break;
                    }
                    b'S' => {
                        let (s, n) = if j + 1 == a.len() {
                            (args.get(i + 1).map(Vec::as_slice).unwrap_or_default(), 2)
                        } else {
                            (&a[j + 1..], 1)
                        };
                        taken.extend(args[i..(i + n).min(args.len())].iter().cloned());
                        let rest = &args[(i + n).min(args.len())..];
                        return env_split(cmd, taken, s, rest, depth, out);
                    }
                    _ => {}
                }
            }
            taken.extend(args[i..next.min(args.len())].iter().cloned());
            i = next;
            continue;
        }
        if assignment(a) {
            taken.push(a.to_vec());
            i += 1;
            continue;
        }
        break;
    }
    let inner = args.get(i..).unwrap_or_default().to_vec();
    if inner.is_empty() {
        // env alone prints the environment.
        return false;
    }
    cmd.wrappers.push(taken);
    cmd.argv = inner;
    walk(cmd, depth + 1, out)
}

/// `env -S STRING REST...`: STRING's words, then REST, read by env again.
fn env_split(
    mut cmd: Simple,
    taken: Vec<Vec<u8>>,
    s: &[u8],
    rest: &[Vec<u8>],
    depth: usize,
    out: &mut Vec<Simple>,
) -> bool {
    let mut argv = vec![b"env".to_vec()];
    for list in split_commands(s) {
        argv.extend(list.words);
    }
    argv.extend(rest.iter().cloned());
    cmd.wrappers.push(taken);
    cmd.argv = argv;
    env(cmd, depth + 1, out)
}

/// `sh [OPTIONS] -c STRING [NAME [ARGS]]`: each simple command of STRING.
/// Without `-c` the shell runs a script or its standard input: nothing
/// read here.
fn shell(mut cmd: Simple, name: &[u8], depth: usize, out: &mut Vec<Simple>) -> bool {
    let mut i = 1;
    // `busybox sh -c ...`
    if name == b"busybox" {
        match cmd.argv.get(1).map(|a| basename(a)) {
            Some(b"sh" | b"ash" | b"bash") => i = 2,
            Some(_) => {
                // `busybox APPLET ARGS`: the applet is the command.
                let inner = cmd.argv.split_off(1);
                cmd.wrappers.push(std::mem::take(&mut cmd.argv));
                cmd.argv = inner;
                return walk(cmd, depth + 1, out);
            }
            None => return false,
        }
    }
    let mut command = false;
    while let Some(a) = cmd.argv.get(i) {
        let a = a.as_slice();
        if a == b"--" || a == b"-" {
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            i += if matches!(a, b"--rcfile" | b"--init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if a.len() < 2 || !(a[0] == b'-' || a[0] == b'+') {
            break;
        }
        let mut next = i + 1;
        for &c in &a[1..] {
            match c {
                b'c' => command = true,
                // `-o pipefail`, `-O extglob`: the option's name follows.
                b'o' | b'O' => next += 1,
                _ => {}
            }
        }
        i = next;
    }
    if !command {
        out.push(cmd);
        return false;
    }
    let Some(string) = cmd.argv.get(i).cloned() else {
        return false;
    };
    let mut taken = cmd.argv[..=i].to_vec();
    // The words after the string are $0, $1...: not commands.
    taken.extend(cmd.argv[i + 1..].iter().cloned());
    for list in split_commands(&string) {
        let mut words = list.words;
        let mut wrappers = cmd.wrappers.clone();
        wrappers.push(taken.clone());
        // Leading `VAR=value` words are the command's environment.
        let assignments = words.iter().take_while(|w| assignment(w)).count();
        if assignments > 0 {
            wrappers.push(words.drain(..assignments).collect());
        }
        if words.is_empty() {
            continue;
        }
        let simple = Simple {
            wrappers,
            argv: words,
            more_arguments_from: cmd.more_arguments_from.clone(),
            root: cmd.root.clone(),
        };
        if walk(simple, depth + 1, out) {
            return true;
        }
    }
    false
}

/// `NAME=value`, NAME a shell variable name.
fn assignment(a: &[u8]) -> bool {
    match a.iter().position(|&c| c == b'=') {
        Some(eq) if eq > 0 => {
            let name = &a[..eq];
            !name[0].is_ascii_digit()
                && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        }
        _ => false,
    }
}

/// `--name=value` as (`--name`, `value`).
fn split_eq(a: &[u8]) -> (&[u8], Option<&[u8]>) {
    match a.iter().position(|&c| c == b'=') {
        Some(eq) => (&a[..eq], Some(&a[eq + 1..])),
        None => (a, None),
    }
}

/// One simple command of a shell string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellCommand {
    pub words: Vec<Vec<u8>>,
}

/// Splits a shell string into simple commands: words split as a POSIX
/// shell splits them (`'...'`, `"..."` with its `\` escapes, `\` outside
/// quotes, `#` comments), commands separated by `&&`, `||`, `;`, `;;`,
/// `|`, `&`, newlines and parentheses; redirections (`>f`, `2>&1`, `<
/// f`, `<<EOF`) and the words that only introduce a command (`!`, `{`,
/// `}`, `then`, `do`, `else`, `elif`, `if`, `while`, `until`, `time`,
/// `exec` and its options, `command` and `-p`, `builtin`) are dropped.
/// No expansion is done.
pub fn split_commands(s: &[u8]) -> Vec<ShellCommand> {
    let mut out = Vec::new();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    // Each word with whether it was quoted (a quoted `&&` is a word).
    let mut word: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut redirect = false;
    let mut i = 0;
    let end_word =
        |word: &mut Vec<u8>, in_word: &mut bool, cur: &mut Vec<Vec<u8>>, redirect: &mut bool| {
            if *in_word {
                let w = std::mem::take(word);
                if *redirect {
                    *redirect = false;
                } else {
                    cur.push(w);
                }
                *in_word = false;
            }
        };
    let end_command = |cur: &mut Vec<Vec<u8>>, out: &mut Vec<ShellCommand>| {
        let words = command_words(std::mem::take(cur));
        if !words.is_empty() {
            out.push(ShellCommand { words });
        }
    };
    while i < s.len() {
        let c = s[i];
        match c {
            b'\'' => {
                in_word = true;
                i += 1;
                while i < s.len() && s[i] != b'\'' {
                    word.push(s[i]);
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                in_word = true;
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() && b"\"\\$`\n".contains(&s[i + 1]) {
                        if s[i + 1] != b'\n' {
                            word.push(s[i + 1]);
                        }
                        i += 2;
                    } else {
                        word.push(s[i]);
                        i += 1;
                    }
                }
                i += 1;
            }
            b'\\' => {
                // A backslash-newline joins lines.
                if s.get(i + 1) != Some(&b'\n') {
                    in_word = true;
                    if let Some(&n) = s.get(i + 1) {
                        word.push(n);
                    }
                }
                i += 2;
            }
            b'#' if !in_word => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
            }
            b' ' | b'\t' => {
                end_word(&mut word, &mut in_word, &mut cur, &mut redirect);
                i += 1;
            }
            b'\n' | b';' | b'&' | b'|' | b'(' | b')' => {
                // `>&2`, `2>&1`: part of a redirection.
                if c == b'&' && redirect && !in_word {
                    i += 1;
                    continue;
                }
                end_word(&mut word, &mut in_word, &mut cur, &mut redirect);
                end_command(&mut cur, &mut out);
                i += 1;
            }
            b'>' | b'<' => {
                // `2>`: a file descriptor number before it is part of it.
                if in_word && word.iter().all(u8::is_ascii_digit) {
                    word.clear();
                    in_word = false;
                } else {
                    end_word(&mut word, &mut in_word, &mut cur, &mut redirect);
                }
                i += 1;
                while i < s.len() && matches!(s[i], b'>' | b'<' | b'&' | b'|' | b'-') {
                    i += 1;
                }
                // The target follows (glued or after blanks); `>&2` is whole.
                if i < s.len() && s[i].is_ascii_digit() && s[i - 1] == b'&' {
                    while i < s.len() && s[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    redirect = true;
                }
            }
            _ => {
                in_word = true;
                word.push(c);
                i += 1;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut cur, &mut redirect);
    end_command(&mut cur, &mut out);
    out
}

/// A simple command's words without the words that only introduce it.
fn command_words(mut words: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    loop {
        let Some(first) = words.first() else {
            return words;
        };
        let drop = match first.as_slice() {
            b"!" | b"{" | b"}" | b"then" | b"do" | b"else" | b"elif" | b"if" | b"while"
            | b"until" | b"builtin" | b"fi" | b"done" | b"esac" => 1,
            b"time" => 1 + usize::from(words.get(1).is_some_and(|w| w == b"-p")),
            b"command" => match words.get(1).map(Vec::as_slice) {
                // `command -v NAME` prints where NAME is: nothing runs.
                Some(b"-v" | b"-V") => return Vec::new(),
                Some(b"-p") => 2,
                _ => 1,
            },
            b"exec" => {
                let mut n = 1;
                while let Some(w) = words.get(n) {
                    match w.as_slice() {
                        b"-a" => n += 2,
                        b"-c" | b"-l" | b"-cl" | b"-lc" => n += 1,
                        b"--" => {
                            n += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                n
            }
            _ => return words,
        };
        words.drain(..drop.min(words.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[Vec<u8>]) -> Vec<String> {
        v.iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    fn commands(line: &[&str]) -> Vec<Vec<String>> {
        let argv: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
        unwrap(&argv).0.iter().map(|s| strs(&s.argv)).collect()
    }

    fn one(line: &[&str]) -> Simple {
        let argv: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
        let (mut v, cut) = unwrap(&argv);
        assert!(!cut);
        assert_eq!(v.len(), 1, "{line:?}: {v:?}");
        v.remove(0)
    }

    #[test]
    fn wrappers_are_unwrapped_with_their_options() {
        for (line, want) in [
            (
                &["sudo", "apt-get", "install", "x"][..],
                &["apt-get", "install", "x"][..],
            ),
            (
                &["sudo", "-u", "root", "-E", "pip", "install", "x"],
                &["pip", "install", "x"],
            ),
            (
                &["sudo", "-Eu", "root", "pip", "install", "x"],
                &["pip", "install", "x"],
            ),
            (
                &["sudo", "--user=root", "--", "npm", "i", "x"],
                &["npm", "i", "x"],
            ),
            (
                &[
                    "sudo",
                    "-H",
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt",
                    "install",
                    "x",
                ],
                &["apt", "install", "x"],
            ),
            (
                &[
                    "env", "-i", "-u", "HOME", "A=1", "B=2", "pip", "install", "x",
                ],
                &["pip", "install", "x"],
            ),
            (
                &["env", "--chdir=/tmp", "pip", "install", "x"],
                &["pip", "install", "x"],
            ),
            (
                &["/usr/bin/env", "-S", "pip install -U", "x"],
                &["pip", "install", "-U", "x"],
            ),
            (
                &["env", "-S", "A=1 pip install", "x"],
                &["pip", "install", "x"],
            ),
            (
                &["nice", "-n", "10", "apt-get", "upgrade"],
                &["apt-get", "upgrade"],
            ),
            (
                &["nice", "-5", "apt-get", "upgrade"],
                &["apt-get", "upgrade"],
            ),
            (&["nohup", "npm", "ci"], &["npm", "ci"]),
            (
                &["timeout", "-k", "5", "600", "dnf", "install", "-y", "x"],
                &["dnf", "install", "-y", "x"],
            ),
            (
                &["timeout", "--signal=KILL", "10m", "apk", "add", "x"],
                &["apk", "add", "x"],
            ),
            (
                &["stdbuf", "-oL", "-e", "0", "apt-get", "install", "x"],
                &["apt-get", "install", "x"],
            ),
            (
                &["ionice", "-c", "3", "-n7", "apt-get", "install", "x"],
                &["apt-get", "install", "x"],
            ),
            (
                &["time", "-p", "cargo", "install", "x"],
                &["cargo", "install", "x"],
            ),
            (
                &["corepack", "yarn@1.22.19", "add", "x"],
                &["yarn", "add", "x"],
            ),
            (&["corepack", "enable"], &["corepack", "enable"]),
            (
                &[
                    "sudo", "nice", "env", "A=1", "timeout", "1h", "pip", "install", "x",
                ],
                &["pip", "install", "x"],
            ),
        ] {
            assert_eq!(commands(line), vec![want.to_vec()], "{line:?}");
        }
    }

    #[test]
    fn wrappers_that_run_nothing() {
        for line in [
            &["sudo", "-l", "apt-get", "install", "x"][..],
            &["sudo", "-e", "/etc/apt/sources.list"],
            &["sudo", "-v"],
            &["sudo", "-h"],
            &["env"],
            &["env", "-i", "A=1"],
            &["env", "--version"],
            &["chroot", "/target"],
            &["ionice", "-p", "1234"],
            &["xargs", "--version"],
            &["sh", "-c", "command -v apt-get"],
            &["sudo"],
        ] {
            assert_eq!(commands(line), Vec::<Vec<String>>::new(), "{line:?}");
        }
    }

    #[test]
    fn chroot_and_xargs_say_what_they_change() {
        let s = one(&[
            "chroot",
            "--userspec=0:0",
            "/target",
            "apt-get",
            "install",
            "x",
        ]);
        assert_eq!(strs(&s.argv), ["apt-get", "install", "x"]);
        assert_eq!(s.root.as_deref(), Some(&b"/target"[..]));
        let s = one(&["sudo", "-R", "/mnt", "dpkg", "-i", "x.deb"]);
        assert_eq!(s.root.as_deref(), Some(&b"/mnt"[..]));
        let s = one(&["xargs", "-r", "-n", "1", "apt-get", "install", "-y"]);
        assert_eq!(strs(&s.argv), ["apt-get", "install", "-y"]);
        assert_eq!(s.more_arguments_from.as_deref(), Some(&b"stdin"[..]));
        let s = one(&["xargs", "-a", "list.txt", "pip", "install"]);
        assert_eq!(
            s.more_arguments_from.as_deref(),
            Some(&b"file:list.txt"[..])
        );
        assert_eq!(strs(&s.wrappers[0]), ["xargs", "-a", "list.txt"]);
    }

    #[test]
    fn a_shell_string_is_split_into_its_simple_commands() {
        assert_eq!(
            commands(&[
                "sh",
                "-c",
                "apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \\\n  && rm -rf /var/lib/apt/lists/*"
            ]),
            vec![
                vec!["apt-get", "update"],
                vec!["apt-get", "install", "-y", "--no-install-recommends", "curl", "ca-certificates"],
                vec!["rm", "-rf", "/var/lib/apt/lists/*"],
            ]
        );
        assert_eq!(
            commands(&["/bin/bash", "-euxo", "pipefail", "-c", "set -e; DEBIAN_FRONTEND=noninteractive apt-get -q install 'x y' \"z\" >/dev/null 2>&1 | tee log; exec pip install a"]),
            vec![
                vec!["set", "-e"],
                vec!["apt-get", "-q", "install", "x y", "z"],
                vec!["tee", "log"],
                vec!["pip", "install", "a"],
            ]
        );
        assert_eq!(
            commands(&[
                "bash",
                "-lc",
                "if ! command -v node; then sudo npm i -g yarn; fi # npm i evil"
            ]),
            vec![vec!["npm", "i", "-g", "yarn"]]
        );
        // A quoted operator is a word; without -c the shell runs a script.
        assert_eq!(
            commands(&["sh", "-c", "echo '&&' npm i x"]),
            vec![vec!["echo", "&&", "npm", "i", "x"]]
        );
        assert_eq!(
            commands(&["sh", "install.sh", "-c"]),
            vec![vec!["sh", "install.sh", "-c"]]
        );
        assert_eq!(
            commands(&["busybox", "sh", "-c", "apk add x"]),
            vec![vec!["apk", "add", "x"]]
        );
        let s = &unwrap(&[b"sh", b"-c", b"A=1 pip install x", b"name"]).0[0];
        assert_eq!(
            strs(&s.wrappers[0]),
            ["sh", "-c", "A=1 pip install x", "name"]
        );
        assert_eq!(strs(&s.wrappers[1]), ["A=1"]);
    }

    #[test]
    fn hostile_input_is_bounded_and_never_panics() {
        // Deep nesting stops at DEPTH_MAX.
        let mut argv: Vec<&[u8]> = vec![b"sudo"; 10_000];
        argv.push(b"pip");
        let (v, _) = unwrap(&argv);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].wrappers.len(), DEPTH_MAX);
        // Many commands stop at COMMANDS_MAX.
        let s = "npm i x;".repeat(10_000);
        let (v, cut) = unwrap(&[b"sh", b"-c", s.as_bytes()]);
        assert!(cut);
        assert_eq!(v.len(), COMMANDS_MAX);
        // Unbalanced quotes, lone operators, stray bytes.
        for s in [
            &b"'"[..],
            b"\"",
            b"\\",
            b">",
            b"2>&",
            b"&&&",
            b"(((",
            b"\xff\xfe",
            b"a >",
            b"exec -a",
            b"env -S",
            b"time",
        ] {
            let _ = unwrap(&[b"sh", b"-c", s]);
            let _ = unwrap(&[b"env", b"-S", s]);
            let _ = split_commands(s);
        }
    }
}
