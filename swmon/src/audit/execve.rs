//! Reassembles an exec's argv from its EXECVE records.
//!
//! The kernel (`audit_log_execve_info`) writes `argc=N` and then each
//! argument as `aI="..."` or, when it holds a space, a quote, a control or
//! non-ASCII byte, as bare hex. An argument too long for the room left in a
//! record is split: `aI_len=L aI[0]=... aI[1]=...`, where `L` counts the
//! argument as written (hex digits when encoded, and an argument long enough
//! to span buffers is always encoded). Records fill up at about 7500 bytes
//! and the next EXECVE record carries on; only the first has `argc`.
//!
//! Records get lost, and input can be hostile, so nothing here trusts a
//! number: a missing record, piece or argument, a length or count that does
//! not add up, or a value that does not decode is flagged in [`ArgvFlags`],
//! never a panic, and what could be decoded is still returned. Memory is
//! bounded by the input: placeholders for missing arguments are capped.

use super::{
    record::Record,
    types::RecordType,
    value::{decode_hex_into, Value, ValueKind},
};

/// At most this many empty placeholders are inserted for missing arguments,
/// so that `a4000000000="x"` cannot make us allocate gigabytes.
pub const MAX_MISSING_ARGS: usize = 65_536;

/// An exec's arguments, as complete as the records allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Argv {
    /// The arguments, in order. A missing argument is an empty placeholder
    /// (and flagged), so positions stay right.
    pub args: Vec<Vec<u8>>,
    /// `argc=` from the first EXECVE record, if it arrived.
    pub argc: Option<u32>,
    pub flags: ArgvFlags,
}

/// What did not add up while reassembling. All false means the argv is
/// exactly what the kernel logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgvFlags {
    /// No `argc=`: the first EXECVE record was lost.
    pub argc_missing: bool,
    /// The number of arguments found is not `argc` (records lost at the end,
    /// or an index at or past `argc`, which is ignored).
    pub argc_mismatch: bool,
    /// An argument index was skipped (a record lost in the middle); its place
    /// holds an empty placeholder.
    pub arg_missing: bool,
    /// A split argument lacks a piece (`aI[K]` skipped, or no `aI[0]`).
    pub piece_missing: bool,
    /// A split argument's pieces do not add up to its `aI_len=`, or the
    /// length is missing or where it does not belong.
    pub len_mismatch: bool,
    /// The same argument, piece or `argc` appeared twice; the first is kept.
    pub duplicate: bool,
    /// A value was neither quoted nor valid hex; its raw bytes are used.
    pub bad_encoding: bool,
    /// A field that is not `argc`, `aI`, `aI_len` or `aI[K]`; ignored.
    pub unexpected_field: bool,
    /// Missing arguments past [`MAX_MISSING_ARGS`]: the rest were dropped.
    pub too_sparse: bool,
}

impl ArgvFlags {
    /// True when nothing was flagged.
    pub fn is_clean(&self) -> bool {
        self.names().is_empty()
    }

    /// The names of the flags that are set, for logs and reports.
    pub fn names(&self) -> Vec<&'static str> {
        let all = [
            (self.argc_missing, "argc_missing"),
            (self.argc_mismatch, "argc_mismatch"),
            (self.arg_missing, "arg_missing"),
            (self.piece_missing, "piece_missing"),
            (self.len_mismatch, "len_mismatch"),
            (self.duplicate, "duplicate"),
            (self.bad_encoding, "bad_encoding"),
            (self.unexpected_field, "unexpected_field"),
            (self.too_sparse, "too_sparse"),
        ];
        all.iter()
            .filter(|(set, _)| *set)
            .map(|&(_, n)| n)
            .collect()
    }
}

/// Reassembles argv from the EXECVE records among `records`, in the order
/// given (other types are skipped). `None` when there is no EXECVE record.
pub fn reassemble_argv<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<Argv> {
    let mut flags = ArgvFlags::default();
    let mut argc: Option<u32> = None;
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut lens: Vec<(u32, Value<'a>)> = Vec::new();
    let mut any = false;

    for record in records {
        if record.record_type() != RecordType::EXECVE {
            continue;
        }
        any = true;
        for field in record.fields() {
            match classify(field.key) {
                Key::Argc => match (argc, field.value.to_u32()) {
                    (None, Some(n)) => argc = Some(n),
                    (None, None) => flags.unexpected_field = true,
                    (Some(_), _) => flags.duplicate = true,
                },
                Key::Whole(idx) => entries.push(Entry {
                    idx,
                    part: None,
                    value: field.value,
                }),
                Key::Piece(idx, part) => entries.push(Entry {
                    idx,
                    part: Some(part),
                    value: field.value,
                }),
                Key::Len(idx) => lens.push((idx, field.value)),
                Key::Other => flags.unexpected_field = true,
            }
        }
    }
    if !any {
        return None;
    }
    if argc.is_none() {
        flags.argc_missing = true;
    }

    // The kernel writes in order, so this is a check more than a sort; it is
    // stable, so duplicates keep their arrival order and the first wins.
    entries.sort_by_key(|e| (e.idx, e.part.map_or(0, |p| u64::from(p) + 1)));
    lens.sort_by_key(|&(idx, _)| idx);

    let limit = argc.map_or(u64::MAX, u64::from);
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut placeholders_left = MAX_MISSING_ARGS;
    let mut rest = &entries[..];
    while let Some(first) = rest.first() {
        let idx = first.idx;
        let group_len = rest.iter().take_while(|e| e.idx == idx).count();
        let (group, tail) = rest.split_at(group_len);
        rest = tail;
        if u64::from(idx) >= limit {
            flags.argc_mismatch = true;
            continue;
        }
        let gap = idx as usize - args.len();
        if gap > placeholders_left {
            flags.too_sparse = true;
            break;
        }
        if gap > 0 {
            flags.arg_missing = true;
            placeholders_left -= gap;
            args.resize(idx as usize, Vec::new());
        }
        let len = lens
            .binary_search_by_key(&idx, |&(i, _)| i)
            .ok()
            .map(|at| lens[at].1);
        args.push(assemble(group, len, &mut flags));
    }
    if let Some(n) = argc {
        if args.len() != n as usize {
            flags.argc_mismatch = true;
        }
    }
    // A length for an argument that never showed up.
    if lens
        .iter()
        .any(|&(idx, _)| entries.binary_search_by_key(&idx, |e| e.idx).is_err())
    {
        flags.len_mismatch = true;
    }
    Some(Argv { args, argc, flags })
}

struct Entry<'a> {
    idx: u32,
    /// `None` for `aI=`, `Some(k)` for `aI[k]=`.
    part: Option<u32>,
    value: Value<'a>,
}

enum Key {
    Argc,
    Whole(u32),
    Len(u32),
    Piece(u32, u32),
    Other,
}

fn classify(key: &[u8]) -> Key {
    if key == b"argc" {
        return Key::Argc;
    }
    let Some(rest) = key.strip_prefix(b"a") else {
        return Key::Other;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let Some(idx) = parse_u32(&rest[..digits]) else {
        return Key::Other;
    };
    match &rest[digits..] {
        b"" => Key::Whole(idx),
        b"_len" => Key::Len(idx),
        [b'[', part @ .., b']'] => match parse_u32(part) {
            Some(part) => Key::Piece(idx, part),
            None => Key::Other,
        },
        _ => Key::Other,
    }
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).ok()
}

/// Builds one argument from its entries (all with the same index).
fn assemble(group: &[Entry<'_>], len: Option<Value<'_>>, flags: &mut ArgvFlags) -> Vec<u8> {
    let mut out = Vec::new();
    let wholes = group.iter().filter(|e| e.part.is_none()).count();
    if wholes > 0 {
        if group.len() > 1 {
            flags.duplicate = true;
        }
        if len.is_some() {
            flags.len_mismatch = true;
        }
        // Sorted: the whole values come first.
        append_decoded(&group[0].value, &mut out, flags);
        return out;
    }
    let mut next_part = 0u32;
    let mut encoded = 0usize;
    for e in group {
        let part = e.part.unwrap_or_default();
        if part < next_part {
            flags.duplicate = true;
            continue;
        }
        if part > next_part {
            flags.piece_missing = true;
        }
        append_decoded(&e.value, &mut out, flags);
        encoded += e.value.encoded_len();
        next_part = part.saturating_add(1);
    }
    match len.and_then(|v| v.to_u64()) {
        Some(l) if l == encoded as u64 => {}
        _ => flags.len_mismatch = true,
    }
    out
}

fn append_decoded(value: &Value<'_>, out: &mut Vec<u8>, flags: &mut ArgvFlags) {
    match value.kind() {
        ValueKind::Quoted => out.extend_from_slice(value.inner()),
        ValueKind::Bare | ValueKind::Empty if decode_hex_into(value.raw(), out) => {}
        _ => {
            flags.bad_encoding = true;
            out.extend_from_slice(value.raw());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::parse_netlink;

    fn records(bodies: &[&str]) -> Vec<Record> {
        bodies
            .iter()
            .map(|b| parse_netlink(1309, format!("audit(1.000:5): {b}").as_bytes()).unwrap())
            .collect()
    }

    fn argv(bodies: &[&str]) -> Argv {
        reassemble_argv(&records(bodies)).unwrap()
    }

    fn strs(a: &Argv) -> Vec<String> {
        a.args
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn plain_and_hex_args() {
        let a = argv(&[
            r#"argc=5 a0="/bin/echo" a1=68656C6C6F20776F726C64 a2=69742273 a3=636166C3A9 a4="plain""#,
        ]);
        assert_eq!(
            strs(&a),
            ["/bin/echo", "hello world", "it\"s", "café", "plain"]
        );
        assert_eq!(a.argc, Some(5));
        assert!(a.flags.is_clean(), "{:?}", a.flags);
    }

    #[test]
    fn invalid_utf8_arg_stays_bytes() {
        let a = argv(&["argc=2 a0=\"x\" a1=FF41"]);
        assert_eq!(a.args[1], [0xff, b'A']);
        assert!(a.flags.is_clean());
    }

    #[test]
    fn split_arg_across_records() {
        let a = argv(&[
            "argc=2 a0=\"/bin/echo\" a1_len=12 a1[0]=414243",
            " a1[1]=444546",
            " a1[2]=",
        ]);
        assert_eq!(strs(&a), ["/bin/echo", "ABCDEF"]);
        assert!(a.flags.is_clean(), "{:?}", a.flags);
    }

    #[test]
    fn split_quoted_arg_counts_bytes() {
        // An argument that is plain but did not fit the rest of the record is
        // split without being encoded; its length is then in bytes.
        let a = argv(&["argc=2 a0=\"x\" a1_len=6 a1[0]=\"abc\"", " a1[1]=\"def\""]);
        assert_eq!(strs(&a), ["x", "abcdef"]);
        assert!(a.flags.is_clean(), "{:?}", a.flags);
    }

    #[test]
    fn many_args_over_several_records() {
        let a = argv(&["argc=4 a0=\"a\" a1=\"b\"", " a2=\"c\"", " a3=\"d\""]);
        assert_eq!(strs(&a), ["a", "b", "c", "d"]);
        assert!(a.flags.is_clean());
    }

    #[test]
    fn lost_middle_record() {
        let a = argv(&["argc=4 a0=\"a\"", " a3=\"d\""]);
        assert_eq!(strs(&a), ["a", "", "", "d"]);
        assert!(a.flags.arg_missing);
        assert!(!a.flags.argc_mismatch);
    }

    #[test]
    fn lost_last_record() {
        let a = argv(&["argc=4 a0=\"a\" a1=\"b\""]);
        assert_eq!(strs(&a), ["a", "b"]);
        assert!(a.flags.argc_mismatch);
        assert!(!a.flags.arg_missing);
    }

    #[test]
    fn lost_first_record() {
        let a = argv(&[" a2=\"c\" a3=\"d\""]);
        assert_eq!(strs(&a), ["", "", "c", "d"]);
        assert!(a.flags.argc_missing && a.flags.arg_missing);
        assert_eq!(a.argc, None);
    }

    #[test]
    fn piece_missing_and_length_mismatch() {
        let a = argv(&["argc=2 a0=\"x\" a1_len=18 a1[0]=414243", " a1[2]=444546"]);
        assert_eq!(strs(&a), ["x", "ABCDEF"]);
        assert!(a.flags.piece_missing && a.flags.len_mismatch);
        let a = argv(&["argc=2 a0=\"x\" a1_len=99 a1[0]=414243"]);
        assert!(a.flags.len_mismatch && !a.flags.piece_missing);
        let a = argv(&["argc=2 a0=\"x\" a1[0]=414243"]);
        assert!(a.flags.len_mismatch);
        let a = argv(&["argc=2 a0=\"x\" a1[1]=414243 a1_len=6"]);
        assert!(a.flags.piece_missing);
        let a = argv(&["argc=1 a0=\"x\" a0_len=1"]);
        assert!(a.flags.len_mismatch);
        let a = argv(&["argc=1 a0=\"x\" a5_len=1"]);
        assert!(a.flags.len_mismatch);
    }

    #[test]
    fn duplicates_keep_the_first() {
        let a = argv(&["argc=1 a0=\"x\" a0=\"y\""]);
        assert_eq!(strs(&a), ["x"]);
        assert!(a.flags.duplicate);
        let a = argv(&["argc=1 argc=2 a0=\"x\""]);
        assert!(a.flags.duplicate);
        let a = argv(&["argc=1 a0_len=2 a0[0]=41 a0[0]=42"]);
        assert_eq!(strs(&a), ["A"]);
        assert!(a.flags.duplicate);
    }

    #[test]
    fn indexes_past_argc_are_ignored_and_flagged() {
        let a = argv(&["argc=1 a0=\"x\" a1=\"y\""]);
        assert_eq!(strs(&a), ["x"]);
        assert!(a.flags.argc_mismatch);
    }

    #[test]
    fn bad_values_are_kept_raw_and_flagged() {
        let a = argv(&["argc=3 a0=\"x\" a1=XYZ a2=(null)"]);
        assert_eq!(strs(&a), ["x", "XYZ", "(null)"]);
        assert!(a.flags.bad_encoding);
        let a = argv(&["argc=1 a0=\"x\" b7=1 a=2 a1x=3 a1[x]=4 argc=zz"]);
        assert!(a.flags.unexpected_field);
        let a = argv(&["argc=zz a0=\"x\""]);
        assert!(a.flags.unexpected_field && a.flags.argc_missing);
    }

    #[test]
    fn sparse_indexes_are_bounded() {
        let a = argv(&["argc=4294967295 a0=\"x\" a4294967294=\"y\""]);
        assert_eq!(a.args.len(), 1);
        assert!(a.flags.too_sparse && a.flags.argc_mismatch);
    }

    #[test]
    fn no_execve_record() {
        let r = parse_netlink(1307, b"audit(1.000:5): cwd=\"/\"").unwrap();
        assert!(reassemble_argv([&r]).is_none());
    }

    #[test]
    fn flag_names() {
        let f = ArgvFlags {
            argc_mismatch: true,
            bad_encoding: true,
            ..ArgvFlags::default()
        };
        assert_eq!(f.names(), ["argc_mismatch", "bad_encoding"]);
        assert!(!f.is_clean());
    }
}
