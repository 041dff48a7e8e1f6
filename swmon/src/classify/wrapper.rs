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
//! read as a command of its own, backquotes are not), and a string with
//! code that is not expanded (`$(...)`, backquotes, `eval`, `source`, a
//! function) flags its commands `not_expanded`; here-document bodies are
//! data, skipped. `su -c`, `runuser`, `gosu`, `flock`, `eatmydata`,
//! `pkexec` and `fakeroot` are unwrapped too. Each wrapper's words are
//! kept cut ([`WRAPPER_WORD_MAX`] bytes, [`WRAPPER_WORDS_MAX`] words:
//! `wrappers_cut`), so that the output stays linear in the command
//! line. Pure: no file is opened.

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
    /// A wrapper's words were cut when recorded (more than
    /// [`WRAPPER_WORDS_MAX`] words, or one longer than
    /// [`WRAPPER_WORD_MAX`] bytes, ended with `...`): every command of a
    /// shell string lists its wrappers, so a long string copied whole
    /// into each would make the output grow as its square.
    pub wrappers_cut: bool,
    /// The shell string it came from runs code this reader does not
    /// expand (a `$(...)` or backquoted command, `eval`, `source`/`.`, a
    /// function definition): what that code runs is not among the
    /// commands listed, so they may not be all.
    pub not_expanded: bool,
}

/// The words of one wrapper kept in [`Simple::wrappers`].
const WRAPPER_WORDS_MAX: usize = 16;
/// The bytes of one wrapper word kept in [`Simple::wrappers`].
const WRAPPER_WORD_MAX: usize = 1024;

impl Simple {
    /// Records a wrapper's words, cut to [`WRAPPER_WORDS_MAX`] words of
    /// [`WRAPPER_WORD_MAX`] bytes (then [`Simple::wrappers_cut`]).
    fn push_wrapper(&mut self, words: Vec<Vec<u8>>) {
        let (words, cut) = cap_words(words);
        self.wrappers_cut |= cut;
        self.wrappers.push(words);
    }
}

/// `words` cut to [`WRAPPER_WORDS_MAX`] words of [`WRAPPER_WORD_MAX`]
/// bytes (a cut word ends with `...`), and whether anything was cut.
fn cap_words(mut words: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, bool) {
    let mut cut = words.len() > WRAPPER_WORDS_MAX;
    words.truncate(WRAPPER_WORDS_MAX);
    for w in &mut words {
        if w.len() > WRAPPER_WORD_MAX {
            w.truncate(WRAPPER_WORD_MAX);
            w.extend_from_slice(b"...");
            cut = true;
        }
    }
    (words, cut)
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
            let named = std::mem::take(&mut cmd.argv);
            cmd.push_wrapper(named);
            cmd.argv = inner;
            return walk(cmd, depth + 1, out);
        }
        b"xargs" => xargs(&args),
        b"su" | b"runuser" => return su(cmd, depth, out),
        b"flock" => return flock(cmd, depth, out),
        // `gosu USER COMMAND [ARGS]`.
        b"gosu" => match args.first() {
            Some(&(b"--help" | b"--version" | b"-h" | b"-v")) | None => None,
            Some(_) => (args.len() > 1).then(|| Found::at(1)),
        },
        b"eatmydata" => Some(options(&args, b"", b"", &[], b"")),
        b"pkexec" => Some(options(&args, b"", b"", &[b"--user"], b"")),
        b"fakeroot" => Some(options(&args, b"lsib", b"", &[b"--lib", b"--faked"], b"hv")),
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
    let taken_words = std::mem::take(&mut cmd.argv);
    cmd.push_wrapper(taken_words);
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

/// Continues with `sh -c STRING` run under the wrapper words `taken`
/// (`su -c`, `runuser -c`, `flock FILE -c`: each runs its command string
/// through a shell).
fn through_shell(
    mut cmd: Simple,
    taken: Vec<Vec<u8>>,
    string: Vec<u8>,
    depth: usize,
    out: &mut Vec<Simple>,
) -> bool {
    cmd.push_wrapper(taken);
    cmd.argv = vec![b"sh".to_vec(), b"-c".to_vec(), string];
    walk(cmd, depth + 1, out)
}

/// `su [OPTIONS] [-] [USER [ARGS]]` and `runuser`: `-c STRING` /
/// `--command=STRING` (anywhere: util-linux permutes) runs STRING through
/// the user's shell; `runuser -u USER [--] COMMAND [ARGS]` runs COMMAND
/// itself. Without either, an interactive shell: nothing to classify.
fn su(cmd: Simple, depth: usize, out: &mut Vec<Simple>) -> bool {
    let args = &cmd.argv[1..];
    let mut i = 0;
    let mut user_option = false;
    let mut user_seen = false;
    let mut string = None;
    while let Some(a) = args.get(i) {
        let a = a.as_slice();
        if a == b"--" {
            break;
        }
        if a.starts_with(b"--") {
            let (name, value) = split_eq(a);
            let takes = matches!(
                name,
                b"--command"
                    | b"--session-command"
                    | b"--group"
                    | b"--supp-group"
                    | b"--shell"
                    | b"--whitelist-environment"
                    | b"--user"
            );
            let v = value.or_else(|| args.get(i + 1).map(Vec::as_slice).filter(|_| takes));
            match name {
                b"--command" | b"--session-command" => string = v.map(<[u8]>::to_vec),
                b"--user" => user_option = true,
                b"--help" | b"--version" => return false,
                _ => {}
            }
            i += if takes && value.is_none() { 2 } else { 1 };
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            if user_option {
                // `runuser -u USER COMMAND`: the first operand is it.
                break;
            }
            user_seen |= a != b"-";
            i += 1;
            continue;
        }
        let mut next = i + 1;
        for (j, &c) in a.iter().enumerate().skip(1) {
            if matches!(c, b'c' | b'C' | b'g' | b'G' | b's' | b'w' | b'u') {
                let v = if j + 1 == a.len() {
                    next = i + 2;
                    args.get(i + 1).map(Vec::as_slice)
                } else {
                    Some(&a[j + 1..])
                };
                match c {
                    b'c' | b'C' => string = v.map(<[u8]>::to_vec),
                    b'u' => user_option = true,
                    _ => {}
                }
                break;
            }
            if matches!(c, b'h' | b'V') {
                return false;
            }
        }
        i = next;
    }
    if let Some(string) = string {
        let taken = cmd.argv.clone();
        return through_shell(cmd, taken, string, depth, out);
    }
    if !user_option {
        // `su [-] USER -- ARGS`: ARGS go to the user's shell (`su root --
        // -c 'pip install z'` is `sh -c 'pip install z'`).
        if args.get(i).is_some_and(|a| a == b"--") {
            let mut at = 1 + i + 1;
            if !user_seen {
                // `su -- [-] USER ARGS`.
                if cmd.argv.get(at).is_some_and(|a| a == b"-") {
                    at += 1;
                }
                at += 1;
            }
            if at >= cmd.argv.len() {
                return false;
            }
            let mut cmd = cmd;
            let rest = cmd.argv.split_off(at);
            let taken = std::mem::take(&mut cmd.argv);
            cmd.push_wrapper(taken);
            cmd.argv = std::iter::once(b"sh".to_vec()).chain(rest).collect();
            return walk(cmd, depth + 1, out);
        }
        return false;
    }
    // `runuser -u USER [--] COMMAND [ARGS]`.
    let at = 1 + i + usize::from(args.get(i).is_some_and(|a| a == b"--"));
    let mut cmd = cmd;
    let inner = cmd.argv.split_off(at.min(cmd.argv.len()));
    if inner.is_empty() {
        return false;
    }
    let taken = std::mem::take(&mut cmd.argv);
    cmd.push_wrapper(taken);
    cmd.argv = inner;
    walk(cmd, depth + 1, out)
}

/// `flock [OPTIONS] FILE COMMAND [ARGS]`, `flock [OPTIONS] FILE -c
/// STRING` (through a shell); `flock [OPTIONS] FD` runs nothing.
fn flock(mut cmd: Simple, depth: usize, out: &mut Vec<Simple>) -> bool {
    let args: Vec<&[u8]> = cmd.argv[1..].iter().map(Vec::as_slice).collect();
    let f = options(
        &args,
        b"wE",
        b"",
        &[b"--timeout", b"--wait", b"--conflict-exit-code"],
        b"hV",
    );
    // The lock file, then the command.
    let at = f.command + 1;
    match args.get(at).copied() {
        None => false,
        Some(b"-c" | b"--command") => {
            let Some(string) = args.get(at + 1).map(|s| s.to_vec()) else {
                return false;
            };
            let taken = cmd.argv.clone();
            through_shell(cmd, taken, string, depth, out)
        }
        Some(_) => {
            let inner = cmd.argv.split_off(1 + at);
            let taken = std::mem::take(&mut cmd.argv);
            cmd.push_wrapper(taken);
            cmd.argv = inner;
            walk(cmd, depth + 1, out)
        }
    }
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
    cmd.push_wrapper(taken);
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
    cmd.push_wrapper(taken);
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
                let applet = std::mem::take(&mut cmd.argv);
                cmd.push_wrapper(applet);
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
    // Cut once: every command of the string lists it.
    let (taken, taken_cut) = cap_words(taken);
    let lists = split_commands(&string);
    let not_expanded = cmd.not_expanded
        || string.windows(2).any(|w| w == b"$(")
        || string.contains(&b'`')
        || string.windows(3).any(|w| w == b"() ")
        || string.windows(2).any(|w| w == b"()")
        // `function f { ... }` (bash, no `()`).
        || string.windows(9).any(|w| w == b"function ")
        || lists.iter().any(|l| {
            matches!(
                l.words.first().map(Vec::as_slice),
                Some(b"eval" | b"source" | b".")
            )
        });
    for list in lists {
        let mut words = list.words;
        let mut simple = Simple {
            wrappers: cmd.wrappers.clone(),
            argv: Vec::new(),
            more_arguments_from: cmd.more_arguments_from.clone(),
            root: cmd.root.clone(),
            wrappers_cut: cmd.wrappers_cut || taken_cut,
            not_expanded,
        };
        simple.wrappers.push(taken.clone());
        // Leading `VAR=value` words are the command's environment.
        let assignments = words.iter().take_while(|w| assignment(w)).count();
        if assignments > 0 {
            simple.push_wrapper(words.drain(..assignments).collect());
        }
        if words.is_empty() {
            continue;
        }
        simple.argv = words;
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
    // Here-documents opened on the current line: (delimiter, `<<-`).
    let mut heredocs: Vec<(Vec<u8>, bool)> = Vec::new();
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
            b'(' if s.get(i + 1) == Some(&b'(') => {
                // `(( x = 1<<2 ))`, `$((...))`: arithmetic, whose `<<` is
                // a shift, never a here-document; kept in the word it is
                // part of, else dropped (no command).
                let mut depth = 0usize;
                let start = i;
                while i < s.len() {
                    match s[i] {
                        b'(' => depth += 1,
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if in_word {
                    word.extend_from_slice(&s[start..i]);
                }
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
                if c == b'\n' {
                    // The bodies of this line's here-documents are data,
                    // not commands: skipped to their delimiter lines.
                    for (delimiter, tabs) in heredocs.drain(..) {
                        i = skip_heredoc(s, i, &delimiter, tabs);
                    }
                }
            }
            b'<' if s[i..].starts_with(b"<<") && !s[i..].starts_with(b"<<<") => {
                // `<<WORD`, `<<-WORD`, `<<'WORD'`: a here-document whose
                // body starts on the next line.
                end_word(&mut word, &mut in_word, &mut cur, &mut redirect);
                i += 2;
                let tabs = s.get(i) == Some(&b'-');
                if tabs {
                    i += 1;
                }
                while i < s.len() && matches!(s[i], b' ' | b'\t') {
                    i += 1;
                }
                // The delimiter is a word: quotes are removed and what
                // they hold kept whole (`<<'END X'` ends at `END X`).
                let mut delimiter = Vec::new();
                while i < s.len() && !b" \t\n;&|()<>".contains(&s[i]) {
                    match s[i] {
                        q @ (b'\'' | b'"') => {
                            i += 1;
                            while i < s.len() && s[i] != q {
                                delimiter.push(s[i]);
                                i += 1;
                            }
                        }
                        b'\\' => {
                            i += 1;
                            if let Some(&n) = s.get(i) {
                                delimiter.push(n);
                            }
                        }
                        c => delimiter.push(c),
                    }
                    i += 1;
                }
                heredocs.push((delimiter, tabs));
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

/// Where the line after a here-document's body starts: past the first
/// line from `from` equal to `delimiter` (leading tabs dropped for
/// `<<-`), or the end of `s` when none is.
fn skip_heredoc(s: &[u8], from: usize, delimiter: &[u8], tabs: bool) -> usize {
    let mut i = from;
    while i < s.len() {
        let end = s[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(s.len(), |p| i + p);
        let mut line = &s[i..end];
        if tabs {
            while let [b'\t', rest @ ..] = line {
                line = rest;
            }
        }
        i = end + 1;
        if line == delimiter {
            return i.min(s.len());
        }
    }
    s.len()
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
            // `function f { BODY; }`, `function f() { ...`: the body is a
            // command (the name and its `()` are not).
            b"function" => 2 + usize::from(words.get(2).is_some_and(|w| w == b"()")),
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
    fn more_wrappers_are_unwrapped() {
        for (line, want) in [
            (
                &["su", "-", "postgres", "-c", "pip install x"][..],
                vec!["pip", "install", "x"],
            ),
            (
                &["su", "-c", "apt-get install -y curl", "root"],
                vec!["apt-get", "install", "-y", "curl"],
            ),
            (&["su", "--command=npm i y"], vec!["npm", "i", "y"]),
            (
                &["runuser", "-u", "app", "--", "npm", "i", "x"],
                vec!["npm", "i", "x"],
            ),
            (
                &["runuser", "-l", "app", "-c", "gem install rake"],
                vec!["gem", "install", "rake"],
            ),
            (
                &["gosu", "app", "pip", "install", "x"],
                vec!["pip", "install", "x"],
            ),
            (
                &["flock", "/var/lock/apt", "apt-get", "install", "y"],
                vec!["apt-get", "install", "y"],
            ),
            (
                &["flock", "-w", "10", "/tmp/l", "-c", "dnf install -y z"],
                vec!["dnf", "install", "-y", "z"],
            ),
            (
                &["eatmydata", "apt-get", "install", "w"],
                vec!["apt-get", "install", "w"],
            ),
            (
                &["pkexec", "--user", "root", "dpkg", "-i", "a.deb"],
                vec!["dpkg", "-i", "a.deb"],
            ),
            (
                &["fakeroot", "-l", "/lib/x.so", "--", "dpkg", "-i", "b.deb"],
                vec!["dpkg", "-i", "b.deb"],
            ),
        ] {
            assert_eq!(commands(line), vec![want], "{line:?}");
        }
        // Review: `su USER -- ARGS` gives ARGS to the user's shell.
        assert_eq!(
            commands(&["su", "root", "--", "-c", "pip install z"]),
            vec![vec!["pip", "install", "z"]]
        );
        assert_eq!(
            commands(&["su", "-", "root", "--", "-c", "pip install z"]),
            vec![vec!["pip", "install", "z"]]
        );
        assert_eq!(
            commands(&["su", "--", "root", "-c", "pip install z"]),
            vec![vec!["pip", "install", "z"]]
        );
        // Nothing runs: an interactive shell, a lock on a descriptor.
        for line in [
            &["su", "root"][..],
            &["su", "-"],
            &["flock", "9"],
            &["gosu", "app"],
            &["runuser", "app"],
        ] {
            assert!(commands(line).is_empty(), "{line:?}");
        }
    }

    #[test]
    fn here_document_bodies_are_not_commands() {
        let s = "cat > /etc/x <<EOF\napt-get install evil\nEOF\npip install real";
        assert_eq!(
            commands(&["sh", "-c", s]),
            vec![vec!["cat"], vec!["pip", "install", "real"]]
        );
        let s = "cat <<-'END' >f; npm i a\n\tyarn add b\n\tEND\ngem install c";
        assert_eq!(
            commands(&["sh", "-c", s]),
            vec![
                vec!["cat"],
                vec!["npm", "i", "a"],
                vec!["gem", "install", "c"]
            ]
        );
        // `<<<` is a here-string, not a document.
        assert_eq!(
            commands(&["bash", "-c", "cat <<< x\npip install y"]).len(),
            2
        );
        // No delimiter line: the rest is the body.
        assert_eq!(
            commands(&["sh", "-c", "cat <<E\npip install y"]),
            vec![vec!["cat"]]
        );
        // Review: arithmetic's `<<` is a shift, not a document.
        assert_eq!(
            commands(&["bash", "-c", "(( x = 1<<2 ))\npip install evil"]),
            vec![vec!["pip", "install", "evil"]]
        );
        assert!(
            commands(&["bash", "-c", "y=$((1<<2))\npip install evil"]).contains(&vec![
                "pip".to_string(),
                "install".into(),
                "evil".into()
            ])
        );
        // A quoted delimiter holding a blank ends at the whole line.
        assert_eq!(
            commands(&["sh", "-c", "cat <<'END X'\nfoo\nEND X\npip install evil"]),
            vec![vec!["cat"], vec!["pip", "install", "evil"]]
        );
        // `function f { BODY; }`: the body's commands are read, flagged.
        let argv: Vec<&[u8]> = vec![b"bash", b"-c", b"function f { pip install evil; }"];
        let (v, _) = unwrap(&argv);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(strs(&v[0].argv), ["pip", "install", "evil"]);
        assert!(v[0].not_expanded);
    }

    #[test]
    fn code_that_is_not_expanded_is_flagged() {
        let argv = |s: &'static str| -> Vec<&'static [u8]> { vec![b"sh", b"-c", s.as_bytes()] };
        for s in [
            "pip install $(cat reqs)",
            "pip install `cat reqs`",
            "eval \"$CMD\"; pip install x",
            ". ./env.sh; pip install x",
            "f() { npm i x; }; f; pip install x",
        ] {
            let (v, _) = unwrap(&argv(s));
            assert!(
                !v.is_empty() && v.iter().all(|c| c.not_expanded),
                "{s}: {v:?}"
            );
        }
        let (v, _) = unwrap(&argv("apt-get update && pip install x"));
        assert!(v.iter().all(|c| !c.not_expanded));
    }

    #[test]
    fn a_huge_shell_string_gives_output_linear_in_its_size() {
        // 2 MB of commands: each used to list the whole string among its
        // wrappers (482 MB of JSON from a 2 MB argv).
        let s = "apt-get install -y x; ".repeat(2 * 1024 * 1024 / 22);
        let argv: Vec<&[u8]> = vec![b"sh", b"-c", s.as_bytes()];
        let e = super::super::command::explain(&argv);
        let json = e.json().to_string();
        assert!(e.commands_truncated);
        assert_eq!(e.commands.len(), COMMANDS_MAX);
        assert_eq!(e.json()["wrappers_cut"], true);
        assert!(json.len() < 512 * 1024, "{} bytes of JSON", json.len());
        let text = e.text();
        assert!(text.len() < 512 * 1024, "{} bytes of text", text.len());
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
