//! The grammar engine: walks one argv, once and left to right, against a
//! manager's table of verbs and options.
//!
//! It knows the shapes that installer command lines share: options before
//! or after the verb, `--name=value` and `--name value`, bundled short
//! options (`-ivh`, `-Syu`, `-Ur FILE`), `--` ending the options, nested
//! verbs (`group install`, `global add`, `pip install`) and operations
//! chosen by an option (`dpkg -i`, `rpm -U`, `pacman -S`). It knows nothing
//! about any one manager: the family modules describe each as a
//! [`Grammar`]. An option a table does not list is taken as a flag without
//! a value, so tables list every option that takes a value (or else its
//! value would be read as a package) and every option that changes the
//! answer.

use super::{
    escape,
    spec::{literal, Mark, Spec},
    Classification, Operation, Package, Scope,
};
use crate::catalogue::Manager;

/// Parses one operand into a package.
pub(super) type SpecFn = fn(&[u8]) -> Spec;

/// Reads a verb's whole operand list, for managers whose operands depend
/// on each other (a flatpak remote before its refs, composer's `name
/// version` pairs, `dnf swap OLD NEW`).
pub(super) type ListFn = fn(&[&[u8]], SpecFn, &mut Found);

/// What a [`ListFn`] found.
#[derive(Default)]
pub(super) struct Found {
    pub(super) specs: Vec<Spec>,
    pub(super) requirements: Vec<String>,
}

/// How many arguments an option takes.
#[derive(Clone, Copy)]
pub(super) enum Arity {
    Flag,
    /// One value: attached (`--root=/x`, `-t/x`) or the next argument.
    Value,
    /// This many values (`nix --arg NAME EXPR`); the first is the one used.
    Values(u8),
}

/// What an option means for the classification.
#[derive(Clone, Copy)]
pub(super) enum Effect {
    /// Nothing; listed so that its value is not read as an operand, or to
    /// shadow a meaning in [`COMMON`] (`rpm -h` is `--hash`, not help).
    Plain,
    /// Selects the operation (`dpkg -i`); the first such option wins, as
    /// `rpm -qi` is a query even though `-i` alone would install.
    Op(Operation),
    Scope(Hint),
    /// A scope chosen by the option's value (`npm --location global`).
    ScopeIf(&'static [(&'static str, Hint)]),
    /// Turns an install into an upgrade (`pip install -U`).
    Upgrading,
    /// The run changes nothing on the host: a simulation or a download
    /// only. Changing operations become [`Operation::Other`]; the packages
    /// they name are still listed.
    Dry,
    /// The run only reports (`--help` after the verb, `snap refresh --list`).
    Querying,
    /// Help or version when nothing else is named (`npm -v` alone); the
    /// same letter means verbose elsewhere (`pip -v install`).
    QueryingIfBare,
    /// The value is a requirements file.
    Requirements,
    /// The value is one more package spec (`pip -e PATH`, `uv --with SPEC`).
    Package,
    /// The value names what to install when no operand does (`cargo
    /// install --git URL`).
    Source,
    /// The value is the version of every package that names none (`gem
    /// install -v 1.2`, `cargo install --version`).
    Version,
    /// Operands are taken as written, not split into name and version
    /// (`nix-env -A`, `dpkg -R` directories).
    Literal,
    /// apt's `-o KEY=VALUE`: `Dir` and `RootDir` move the whole tree.
    AptOption,
}

/// A scope an option or verb points to; [`Hint::Root`], [`Hint::WeakRoot`]
/// and [`Hint::Env`] take the option's value.
#[derive(Clone, Copy)]
pub(super) enum Hint {
    System,
    User,
    Global,
    Root,
    /// A database directory (dpkg `--admindir`, rpm and pacman
    /// `--dbpath`): the files still go under the root (`/` unless
    /// `--root`/`--instdir` says otherwise), so it sets no scope.
    WeakRoot,
    Env,
}

#[derive(Clone, Copy)]
pub(super) struct Opt {
    names: &'static [&'static str],
    arity: Arity,
    effect: Effect,
}

pub(super) const fn flag(names: &'static [&'static str], effect: Effect) -> Opt {
    Opt {
        names,
        arity: Arity::Flag,
        effect,
    }
}

pub(super) const fn value(names: &'static [&'static str], effect: Effect) -> Opt {
    Opt {
        names,
        arity: Arity::Value,
        effect,
    }
}

pub(super) const fn values(n: u8, names: &'static [&'static str], effect: Effect) -> Opt {
    Opt {
        names,
        arity: Arity::Values(n),
        effect,
    }
}

/// What a verb's operands are.
#[derive(Clone, Copy)]
pub(super) enum Args {
    /// Not packages: search terms, script names, nothing at all.
    Ignored,
    /// Packages, parsed with the grammar's spec.
    Packages,
    /// Packages, parsed with this spec instead.
    Spec(SpecFn),
    List(ListFn),
    /// A verb group: the next word picks one of these (`dnf group install`).
    Sub(&'static [Verb]),
}

#[derive(Clone, Copy)]
pub(super) struct Verb {
    words: &'static [&'static str],
    op: Operation,
    args: Args,
    opts: &'static [Opt],
    scope: Option<Hint>,
}

pub(super) const fn verb(words: &'static [&'static str], op: Operation, args: Args) -> Verb {
    Verb {
        words,
        op,
        args,
        opts: &[],
        scope: None,
    }
}

impl Verb {
    /// Options only this verb knows, looked up before the grammar's own.
    pub(super) const fn opts(self, opts: &'static [Opt]) -> Verb {
        Verb { opts, ..self }
    }

    pub(super) const fn scope(self, scope: Hint) -> Verb {
        Verb {
            scope: Some(scope),
            ..self
        }
    }
}

/// One manager's command line.
pub(super) struct Grammar {
    /// Verbs the first word may be; empty for managers whose operation is
    /// an option (dpkg, rpm, pacman, nix-env) or implied (cpan).
    pub(super) verbs: &'static [Verb],
    /// Options anywhere on the line.
    pub(super) opts: &'static [Opt],
    pub(super) spec: SpecFn,
    /// The operation when argv names none: `yarn` and `bundle` alone
    /// install; `cpan Foo::Bar` installs; most managers print usage.
    pub(super) bare: Operation,
    pub(super) default_scope: Option<Hint>,
    /// Whether `-abc` is `-a -b -c`. Go's flags are single-dash words.
    pub(super) bundling: bool,
    /// Whether a unique prefix of a verb names it (composer, through
    /// Symfony's console).
    pub(super) abbrev: bool,
    /// Words skipped before the verb (`cargo +nightly install`).
    pub(super) skip_word: Option<fn(&[u8]) -> bool>,
}

impl Grammar {
    pub(super) const fn new(spec: SpecFn) -> Grammar {
        Grammar {
            verbs: &[],
            opts: &[],
            spec,
            bare: Operation::Other,
            default_scope: None,
            bundling: true,
            abbrev: false,
            skip_word: None,
        }
    }
}

/// Options nearly every manager reads the same way, looked up last so that
/// a manager's own table can give the same name another meaning.
const COMMON: &[Opt] = &[
    flag(&["-h", "--help"], Effect::Querying),
    flag(&["--version"], Effect::Querying),
    flag(&["-v", "-V", "-?"], Effect::QueryingIfBare),
];

/// A classification before the manager is attached.
pub(super) struct Parsed {
    pub(super) operation: Operation,
    pub(super) packages: Vec<Package>,
    pub(super) inverse: Vec<Package>,
    pub(super) requirements: Vec<String>,
    pub(super) scope: Option<Scope>,
    pub(super) subcommand: Option<String>,
    /// Whether the first word was a verb of the grammar (nix tells `nix
    /// profile` from `nix-env` by this).
    pub(super) known_verb: bool,
}

impl Parsed {
    pub(super) fn finish(self, manager: Manager) -> Classification {
        Classification {
            manager,
            operation: self.operation,
            packages: self.packages,
            inverse: self.inverse,
            requirements: self.requirements,
            scope: self.scope,
            subcommand: self.subcommand,
        }
    }
}

/// What the options said, gathered during the walk.
#[derive(Default)]
struct State<'a> {
    op: Option<(Operation, &'a [u8])>,
    explicit: Option<Scope>,
    weak: Option<Scope>,
    upgrade: bool,
    /// Two different operation options (`dpkg -r foo -i x.deb`, `rpm -e
    /// foo -i x.rpm`): the manager refuses the command line.
    conflict: bool,
    dry: bool,
    query: bool,
    query_if_bare: bool,
    literal: bool,
    version: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    packages: Vec<&'a [u8]>,
    requirements: Vec<String>,
}

fn changes(op: Operation) -> bool {
    matches!(
        op,
        Operation::Install | Operation::Remove | Operation::Upgrade
    )
}

fn plain_scope(hint: Hint) -> Option<Scope> {
    match hint {
        Hint::System => Some(Scope::System),
        Hint::User => Some(Scope::User),
        Hint::Global => Some(Scope::Global),
        Hint::Root | Hint::WeakRoot | Hint::Env => None,
    }
}

impl State<'_> {
    fn set_scope(&mut self, hint: Hint, value: Option<&[u8]>) {
        let scope = match (hint, value) {
            // A database directory moves where the run records what it
            // installed, not where the files go: no scope of its own.
            (Hint::WeakRoot, _) => return,
            (Hint::Root, Some(v)) if !v.is_empty() => Scope::Root(escape(v)),
            (Hint::Env, Some(v)) if !v.is_empty() => Scope::Env(escape(v)),
            _ => match plain_scope(hint) {
                Some(s) => s,
                None => return,
            },
        };
        if matches!(hint, Hint::WeakRoot) {
            self.weak = Some(scope);
        } else {
            self.explicit = Some(scope);
        }
    }
}

/// Classifies `args` by `g`.
pub(super) fn run(g: &Grammar, args: &[&[u8]]) -> Parsed {
    run_with(g, &[], args)
}

/// Classifies `args` by `g`, looking options up in `first` before the
/// grammar's own table (after a verb's): for managers whose letters change
/// meaning with the operation (pacman), once the operation is known.
pub(super) fn run_with(g: &Grammar, first: &'static [Opt], args: &[&[u8]]) -> Parsed {
    resolve(g, walk(g, first, args))
}

/// What one pass over argv found, before anything is decided.
struct Walk<'a> {
    st: State<'a>,
    /// The deepest verb matched (`install` in `dnf group install`).
    verb: Option<&'static Verb>,
    verb_scope: Option<Hint>,
    /// The verb words as written, unknown ones included.
    words: Vec<&'a [u8]>,
    /// Whether a word in verb position was not a verb of the grammar.
    unknown: bool,
    operands: Vec<&'a [u8]>,
}

fn walk<'a>(g: &Grammar, first: &'static [Opt], args: &[&'a [u8]]) -> Walk<'a> {
    let mut w = Walk {
        st: State::default(),
        verb: None,
        verb_scope: None,
        words: Vec::new(),
        unknown: false,
        operands: Vec::new(),
    };
    let mut level = g.verbs;
    let mut options_end = false;
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        i += 1;
        if !options_end && a.len() > 1 && a.first() == Some(&b'-') {
            if a == b"--" {
                options_end = true;
                continue;
            }
            let here = w.verb.map_or(&[][..], |v| v.opts);
            i = option(g, [here, first, g.opts, COMMON], a, args, i, &mut w.st);
            // A package given as an option's value (`pip -e PATH`) is an
            // operand in its place, so packages stay in argv order.
            w.operands.append(&mut w.st.packages);
            continue;
        }
        if !options_end && !level.is_empty() {
            if w.words.is_empty() && g.skip_word.is_some_and(|skip| skip(a)) {
                continue;
            }
            w.words.push(a);
            match find_verb(level, a, g.abbrev) {
                Some(v) => {
                    w.verb = Some(v);
                    w.verb_scope = v.scope.or(w.verb_scope);
                    level = match v.args {
                        Args::Sub(sub) => sub,
                        _ => &[],
                    };
                }
                None => {
                    w.unknown = true;
                    level = &[];
                }
            }
            continue;
        }
        w.operands.push(a);
    }
    w
}

fn resolve(g: &Grammar, w: Walk<'_>) -> Parsed {
    let Walk {
        mut st,
        verb,
        verb_scope,
        words,
        unknown,
        operands,
    } = w;
    let takes_if_changing = |op| {
        if changes(op) {
            Args::Packages
        } else {
            Args::Ignored
        }
    };
    // The verb decides, else an operation option, else the grammar's bare
    // operation (for option-driven grammars only when operands are given).
    let (base, takes) = if unknown {
        (Operation::Other, Args::Ignored)
    } else if let Some(v) = verb {
        (v.op, v.args)
    } else if let Some((op, _)) = st.op {
        (op, takes_if_changing(op))
    } else if !g.verbs.is_empty() || !operands.is_empty() {
        (g.bare, takes_if_changing(g.bare))
    } else {
        (Operation::Other, Args::Ignored)
    };

    let nothing_named = words.is_empty() && st.op.is_none() && operands.is_empty();
    let operation = if st.query || (nothing_named && st.query_if_bare) {
        Operation::Query
    } else if changes(base) && (st.dry || (st.conflict && verb.is_none())) {
        Operation::Other
    } else if base == Operation::Install && st.upgrade {
        Operation::Upgrade
    } else {
        base
    };

    let spec = if st.literal { literal } else { g.spec };
    let mut found = Found::default();
    let takes_packages = match takes {
        Args::Packages => {
            found.specs.extend(operands.iter().map(|a| spec(a)));
            true
        }
        Args::Spec(own) => {
            let own = if st.literal { literal } else { own };
            found.specs.extend(operands.iter().map(|a| own(a)));
            true
        }
        Args::List(list) => {
            list(&operands, spec, &mut found);
            true
        }
        Args::Ignored | Args::Sub(_) => false,
    };
    if takes_packages {
        if found.specs.is_empty() {
            if let Some(source) = st.source {
                found.specs.push(literal(source));
            }
        }
        if let Some(v) = st.version {
            for s in &mut found.specs {
                if s.package.version.is_none() {
                    s.package.version = Some(escape(v));
                }
            }
        }
    }
    // What a query names are search terms or files to look up, not
    // packages the run acts on.
    if operation == Operation::Query {
        found = Found::default();
        st.requirements.clear();
    }

    let mut packages = Vec::new();
    let mut inverse = Vec::new();
    for s in found.specs {
        let opposite = match s.mark {
            Mark::Nothing => continue,
            Mark::Same => false,
            Mark::Install => base == Operation::Remove,
            Mark::Remove => matches!(base, Operation::Install | Operation::Upgrade),
        };
        if opposite {
            inverse.push(s.package);
        } else {
            packages.push(s.package);
        }
    }
    let mut requirements = st.requirements;
    requirements.append(&mut found.requirements);

    // An explicit option beats a verb's scope (`yarn global`), which beats
    // a database directory, which beats the manager's default.
    let scope = st
        .explicit
        .or_else(|| verb_scope.and_then(plain_scope))
        .or(st.weak)
        .or_else(|| g.default_scope.and_then(plain_scope));
    let subcommand = if words.is_empty() {
        st.op.map(|(_, token)| escape(token))
    } else {
        Some(
            words
                .iter()
                .map(|w| escape(w))
                .collect::<Vec<_>>()
                .join(" "),
        )
    };

    Parsed {
        operation,
        packages,
        inverse,
        requirements,
        scope,
        subcommand,
        known_verb: verb.is_some() && !unknown,
    }
}

fn find_verb(level: &'static [Verb], word: &[u8], abbrev: bool) -> Option<&'static Verb> {
    let named = |v: &&Verb| v.words.iter().any(|w| w.as_bytes() == word);
    if let Some(v) = level.iter().find(named) {
        return Some(v);
    }
    if !abbrev || word.is_empty() {
        return None;
    }
    // Symfony's console accepts a prefix only when it names one command.
    let mut hits = level
        .iter()
        .filter(|v| v.words.iter().any(|w| w.as_bytes().starts_with(word)));
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

fn lookup(tables: &[&'static [Opt]; 4], name: &[u8]) -> Option<&'static Opt> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|o| o.names.iter().any(|n| n.as_bytes() == name))
}

fn split_eq(a: &[u8]) -> (&[u8], Option<&[u8]>) {
    match a.iter().position(|&c| c == b'=') {
        Some(i) => (&a[..i], a.get(i + 1..)),
        None => (a, None),
    }
}

/// Reads the option `a` (and any values after it); returns the index of
/// the next argument to read.
fn option<'a>(
    g: &Grammar,
    tables: [&'static [Opt]; 4],
    a: &'a [u8],
    args: &[&'a [u8]],
    i: usize,
    st: &mut State<'a>,
) -> usize {
    let long = a.starts_with(b"--");
    if long || !g.bundling {
        let (name, attached) = split_eq(a);
        // Go reads `--flag` as `-flag`.
        let found = lookup(&tables, name).or_else(|| match name.get(1..) {
            Some(single) if long && !g.bundling => lookup(&tables, single),
            _ => None,
        });
        return match found {
            Some(o) => take(o, a, attached, args, i, st),
            None => i,
        };
    }
    if let Some(o) = lookup(&tables, a) {
        return take(o, a, None, args, i, st);
    }
    // A bundle: each letter is looked up as `-x`; the first that takes a
    // value takes the rest of the token, or else the next argument, and
    // ends the bundle (`-Ur req.txt`, `-ofoo=bar`, `-j4`).
    for (j, &c) in a.iter().enumerate().skip(1) {
        let Some(o) = lookup(&tables, &[b'-', c]) else {
            continue;
        };
        if matches!(o.arity, Arity::Flag) {
            apply(o, a, None, st);
            continue;
        }
        let rest = a.get(j + 1..).unwrap_or_default();
        let rest = rest.strip_prefix(b"=").unwrap_or(rest);
        return take(o, a, (!rest.is_empty()).then_some(rest), args, i, st);
    }
    i
}

fn take<'a>(
    o: &Opt,
    token: &'a [u8],
    attached: Option<&'a [u8]>,
    args: &[&'a [u8]],
    i: usize,
    st: &mut State<'a>,
) -> usize {
    let wanted = match o.arity {
        Arity::Flag => 0,
        Arity::Value => 1,
        Arity::Values(n) => usize::from(n),
    };
    let (value, consumed) = match (wanted, attached) {
        (0, _) => (None, 0),
        (n, Some(v)) => (Some(v), n - 1),
        (n, None) => (args.get(i).copied(), n),
    };
    apply(o, token, value, st);
    (i + consumed).min(args.len())
}

fn apply<'a>(o: &Opt, token: &'a [u8], value: Option<&'a [u8]>, st: &mut State<'a>) {
    match o.effect {
        Effect::Plain => {}
        Effect::Op(op) => match st.op {
            None => st.op = Some((op, token)),
            // `--help`, `--version` answer whatever else was asked.
            Some((prev, _)) if prev != op && op == Operation::Query => {
                st.op = Some((op, token));
            }
            Some((prev, _)) if prev != op && prev != Operation::Query => st.conflict = true,
            Some(_) => {}
        },
        Effect::Scope(hint) => st.set_scope(hint, value),
        Effect::ScopeIf(table) => {
            if let Some(&(_, hint)) = table.iter().find(|(w, _)| Some(w.as_bytes()) == value) {
                st.set_scope(hint, None);
            }
        }
        Effect::Upgrading => st.upgrade = true,
        Effect::Dry => st.dry = true,
        Effect::Querying => st.query = true,
        Effect::QueryingIfBare => st.query_if_bare = true,
        Effect::Requirements => st.requirements.extend(value.map(escape)),
        Effect::Package => st.packages.extend(value),
        Effect::Source => st.source = value.or(st.source),
        Effect::Version => st.version = value.or(st.version),
        Effect::Literal => st.literal = true,
        Effect::AptOption => {
            let Some((key, dir)) = value.map(split_eq) else {
                return;
            };
            if key.eq_ignore_ascii_case(b"dir") || key.eq_ignore_ascii_case(b"rootdir") {
                st.set_scope(Hint::Root, dir);
            }
        }
    }
}
