//! Field values as the kernel writes them, and their decoding to bytes.
//!
//! A [`Value`] is a borrowed slice of the record: nothing is decoded until a
//! caller asks. The kernel writes a string it cannot trust
//! (`audit_log_n_untrustedstring`: comm, exe, cwd, path names, keys, argv,
//! proctitle) in double quotes when it is plain, and as bare upper-case hex
//! when it holds a space, a `"`, a control byte or a byte of 0x7f or above;
//! [`Value::text`] undoes that. Values are bytes, never `String`: an argument
//! or a file name may be invalid UTF-8, and that is evidence too.
//!
//! This module knows nothing of which field is a string and which a number;
//! the typed views in [`super::views`] do.

use std::borrow::Cow;

/// The separator the kernel puts between several rule keys in one `key=`
/// field (`AUDIT_KEY_SEPARATOR`); being a control byte, it forces hex.
pub const KEY_SEPARATOR: u8 = 0x01;

/// How a value was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// `"..."`; audit never escapes inside the quotes.
    Quoted,
    /// `'...'`, used by user-space messages around a nested `msg='k=v ...'`.
    SingleQuoted,
    /// `{ ... }`, as in an AVC permission list or an enriched `SADDR={ ... }`.
    Braced,
    /// `(null)`: the kernel had no string.
    Null,
    /// `?`: unknown or not applicable.
    Unknown,
    /// Anything else written bare: a number, hex, a word such as `yes`.
    Bare,
    /// `key=` with nothing after it.
    Empty,
    /// A word with no `=` at all (`avc:  denied  { read }` has three).
    Absent,
}

/// One value, borrowed from its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
    kind: ValueKind,
}

/// A string value decoded to the bytes the kernel saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text<'a> {
    /// The bytes: the inside of the quotes (borrowed) or decoded hex (owned).
    Bytes(Cow<'a, [u8]>),
    /// `(null)`.
    Null,
    /// `?`.
    Unknown,
    /// Neither quoted nor valid hex (odd length, a non-hex digit, braces, no
    /// value): not something the kernel writes for a string. The raw bytes
    /// are kept so nothing is lost, and the caller can flag it.
    Malformed(&'a [u8]),
}

impl<'a> Value<'a> {
    /// A value from its raw bytes. `has_equals` is false for a word that had
    /// no `=`.
    pub fn new(raw: &'a [u8], has_equals: bool) -> Value<'a> {
        let kind = match raw {
            _ if !has_equals => ValueKind::Absent,
            [] => ValueKind::Empty,
            [b'"', .., b'"'] => ValueKind::Quoted,
            [b'\'', .., b'\''] => ValueKind::SingleQuoted,
            [b'{', .., b'}'] => ValueKind::Braced,
            b"(null)" => ValueKind::Null,
            b"?" => ValueKind::Unknown,
            _ => ValueKind::Bare,
        };
        Value { raw, kind }
    }

    /// The value exactly as written, quotes included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// The value without its quotes or braces; the raw value otherwise.
    pub fn inner(&self) -> &'a [u8] {
        match self.kind {
            ValueKind::Quoted | ValueKind::SingleQuoted | ValueKind::Braced => {
                &self.raw[1..self.raw.len() - 1]
            }
            _ => self.raw,
        }
    }

    /// Decodes an untrusted string: quoted text as is, bare text as hex.
    pub fn text(&self) -> Text<'a> {
        match self.kind {
            ValueKind::Quoted | ValueKind::SingleQuoted => Text::Bytes(Cow::Borrowed(self.inner())),
            ValueKind::Null => Text::Null,
            ValueKind::Unknown => Text::Unknown,
            ValueKind::Bare | ValueKind::Empty => match decode_hex(self.raw) {
                Some(bytes) => Text::Bytes(Cow::Owned(bytes)),
                None => Text::Malformed(self.raw),
            },
            ValueKind::Braced | ValueKind::Absent => Text::Malformed(self.raw),
        }
    }

    /// The length the kernel counts for an `aN_len=` check: hex digits for a
    /// hex value, bytes inside the quotes for a quoted one.
    pub(crate) fn encoded_len(&self) -> usize {
        self.inner().len()
    }

    /// A decimal number (`pid=42`, `exit=-2` through [`Value::to_i64`]).
    pub fn to_u64(&self) -> Option<u64> {
        parse_unsigned(self.raw, 10)
    }

    pub fn to_u32(&self) -> Option<u32> {
        self.to_u64().and_then(|n| u32::try_from(n).ok())
    }

    /// A signed decimal number.
    pub fn to_i64(&self) -> Option<i64> {
        match self.raw {
            [b'-', digits @ ..] => {
                let n = parse_unsigned(digits, 10)?;
                0i64.checked_sub_unsigned(n)
            }
            digits => parse_unsigned(digits, 10).and_then(|n| i64::try_from(n).ok()),
        }
    }

    /// A hex number written without `0x` (`arch=c000003e`, `a0=55c9caeb0dd0`).
    pub fn to_hex_u64(&self) -> Option<u64> {
        parse_unsigned(self.raw, 16)
    }

    /// An octal number (`mode=0100755`).
    pub fn to_octal_u32(&self) -> Option<u32> {
        parse_unsigned(self.raw, 8).and_then(|n| u32::try_from(n).ok())
    }

    /// The `k=v` fields inside a single-quoted value, as user-space messages
    /// nest them (`msg='op=PAM:session_open acct="root" ... res=success'`).
    /// `None` for any other kind, or when the inside does not parse.
    pub fn nested_fields(&self) -> Option<Vec<super::Field<'a>>> {
        if self.kind != ValueKind::SingleQuoted {
            return None;
        }
        let inner = self.inner();
        let mut spans = Vec::new();
        super::record::scan_fields(inner, 0, inner.len(), &mut spans).ok()?;
        Some(spans.iter().map(|s| s.resolve(inner)).collect())
    }
}

impl<'a> Text<'a> {
    /// The decoded bytes, if there are any (`None` for `(null)`, `?`, and
    /// malformed values).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Text::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn into_bytes(self) -> Option<Cow<'a, [u8]>> {
        match self {
            Text::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes to show for this value whatever it is: decoded bytes, the
    /// raw bytes of a malformed value, or nothing for `(null)` and `?`.
    pub fn lossless_bytes(&self) -> Option<&[u8]> {
        match self {
            Text::Bytes(b) => Some(b),
            Text::Malformed(raw) => Some(raw),
            Text::Null | Text::Unknown => None,
        }
    }

    pub fn is_malformed(&self) -> bool {
        matches!(self, Text::Malformed(_))
    }
}

/// Splits a decoded `key=` value into the rule keys it joins with
/// [`KEY_SEPARATOR`]. `(null)` and `?` give no key; a malformed value is kept
/// as one key of its raw bytes.
pub fn split_keys(text: &Text<'_>) -> Vec<Vec<u8>> {
    match text.lossless_bytes() {
        None => Vec::new(),
        Some(bytes) => bytes
            .split(|&b| b == KEY_SEPARATOR)
            .map(<[u8]>::to_vec)
            .collect(),
    }
}

/// Decodes hex digits (either case) into bytes; `None` unless every byte is a
/// hex digit and there is an even number of them.
pub fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        out.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
    }
    Some(out)
}

/// Appends decoded hex to `out`; on failure `out` is left as it was.
pub(crate) fn decode_hex_into(hex: &[u8], out: &mut Vec<u8>) -> bool {
    if !hex.len().is_multiple_of(2) {
        return false;
    }
    let start = out.len();
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => {
                out.truncate(start);
                return false;
            }
        }
    }
    true
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn parse_unsigned(digits: &[u8], radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = u64::from(char::from(c).to_digit(radix)?);
        n = n.checked_mul(u64::from(radix))?.checked_add(d)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(raw: &str) -> Value<'_> {
        Value::new(raw.as_bytes(), true)
    }

    fn bytes(t: Text<'_>) -> Vec<u8> {
        t.into_bytes().map(Cow::into_owned).unwrap()
    }

    #[test]
    fn quoted_values_are_taken_as_is_and_borrowed() {
        let val = v("\"/usr/bin/dpkg\"");
        assert_eq!(val.kind(), ValueKind::Quoted);
        assert_eq!(val.inner(), b"/usr/bin/dpkg");
        assert!(matches!(
            val.text(),
            Text::Bytes(Cow::Borrowed(b"/usr/bin/dpkg"))
        ));
        // No escapes inside audit quotes: a backslash is a backslash.
        assert_eq!(bytes(v(r#""a\b""#).text()), br"a\b");
        assert_eq!(bytes(v("\"\"").text()), b"");
    }

    #[test]
    fn bare_strings_are_hex() {
        assert_eq!(bytes(v("68656C6C6F20776F726C64").text()), b"hello world");
        assert_eq!(bytes(v("69742273").text()), b"it\"s");
        assert_eq!(bytes(v("636166C3A9").text()), "café".as_bytes());
        // Lower case is not what the kernel writes, but it is still hex.
        assert_eq!(bytes(v("6869").text()), b"hi");
        // Invalid UTF-8 stays bytes.
        assert_eq!(bytes(v("FF00FE").text()), [0xff, 0x00, 0xfe]);
    }

    #[test]
    fn null_unknown_and_malformed() {
        assert_eq!(v("(null)").text(), Text::Null);
        assert_eq!(v("?").text(), Text::Unknown);
        assert_eq!(v("ABC").text(), Text::Malformed(b"ABC"));
        assert_eq!(v("zz").text(), Text::Malformed(b"zz"));
        assert_eq!(v("{ read }").text(), Text::Malformed(b"{ read }"));
        assert_eq!(Value::new(b"", false).text(), Text::Malformed(b""));
        assert_eq!(v("ABC").text().lossless_bytes(), Some(&b"ABC"[..]));
        assert_eq!(v("(null)").text().lossless_bytes(), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(v("'op=x res=1'").kind(), ValueKind::SingleQuoted);
        assert_eq!(v("{ a b }").kind(), ValueKind::Braced);
        assert_eq!(v("").kind(), ValueKind::Empty);
        assert_eq!(v("\"").kind(), ValueKind::Bare);
        assert_eq!(Value::new(b"", false).kind(), ValueKind::Absent);
    }

    #[test]
    fn numbers() {
        assert_eq!(v("4294967295").to_u32(), Some(u32::MAX));
        assert_eq!(v("4294967296").to_u32(), None);
        assert_eq!(v("-2").to_i64(), Some(-2));
        assert_eq!(v("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(v("-9223372036854775809").to_i64(), None);
        assert_eq!(v("99999999999999999999999").to_u64(), None);
        assert_eq!(v("c000003e").to_hex_u64(), Some(0xc000_003e));
        assert_eq!(v("0100755").to_octal_u32(), Some(0o100_755));
        assert_eq!(v("").to_u64(), None);
        assert_eq!(v("12a").to_u64(), None);
        assert_eq!(v("+1").to_u64(), None);
    }

    #[test]
    fn keys_split_on_the_separator() {
        // Two keys, joined by 0x01, hex-encoded by the kernel.
        let val = v("736F667477617265016F74686572");
        assert_eq!(
            split_keys(&val.text()),
            vec![b"software".to_vec(), b"other".to_vec()]
        );
        assert_eq!(split_keys(&v("\"k\"").text()), vec![b"k".to_vec()]);
        assert!(split_keys(&v("(null)").text()).is_empty());
    }

    #[test]
    fn nested_user_message_fields() {
        let val = v("'op=PAM:session_open acct=\"root\" exe=\"/usr/sbin/sshd\" res=success'");
        let fields = val.nested_fields().unwrap();
        let keys: Vec<&[u8]> = fields.iter().map(|f| f.key).collect();
        assert_eq!(keys, [&b"op"[..], b"acct", b"exe", b"res"]);
        assert_eq!(fields[1].value.text().as_bytes(), Some(&b"root"[..]));
        assert!(v("\"x\"").nested_fields().is_none());
    }

    #[test]
    fn decode_hex_into_leaves_output_alone_on_failure() {
        let mut out = b"ab".to_vec();
        assert!(!decode_hex_into(b"41Z1", &mut out));
        assert_eq!(out, b"ab");
        assert!(decode_hex_into(b"4142", &mut out));
        assert_eq!(out, b"abAB");
    }
}
