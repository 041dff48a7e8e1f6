//! One audit record, parsed from either of the two forms it reaches us in.
//!
//! - Netlink: the kernel sends the type in the message header and the text
//!   `audit(SECS.MSEC:SERIAL): k=v k=v ...` as the payload
//!   ([`parse_netlink`]). An EOE record has nothing after `): `; a
//!   continuation EXECVE record starts with a space.
//! - Log: auditd writes `[node=HOST ]type=NAME msg=audit(...): k=v ...`, and
//!   with `log_format=ENRICHED` appends a 0x1d byte and its own upper-case
//!   fields (`UID="root" AUID="unset"`) ([`parse_log_line`]). Enriched fields
//!   are kept apart from the kernel's: they are auditd's interpretation.
//!
//! Parsing is one pass that records where each key and value lies; the text
//! is kept once, in a [`Bytes`] (shared with the caller's receive buffer when
//! it hands one in), and values are decoded only when read. This module does
//! not group records into events ([`super::assemble`]) nor know what the
//! fields of a type mean ([`super::views`]).

use std::{borrow::Cow, fmt};

use bytes::Bytes;

use super::{error::ParseError, types::RecordType, value::Value};

/// The longest record accepted. The kernel caps a record at
/// `MAX_AUDIT_MESSAGE_LENGTH` (8970 bytes); auditd's enrichment adds a few
/// hundred. Anything far longer is not audit text, and refusing it before
/// copying keeps hostile input from making us allocate.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// The byte auditd puts before its enriched fields (ASCII group separator).
pub const ENRICHED_SEPARATOR: u8 = 0x1d;

/// When the event happened, as the kernel stamped it: seconds since the epoch
/// and milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: u64,
    pub millis: u16,
}

impl Timestamp {
    /// Milliseconds since the epoch (saturating; only absurd input saturates).
    pub fn as_millis(&self) -> u64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(u64::from(self.millis))
    }

    /// Nanoseconds since the epoch, saturating like [`Timestamp::as_millis`]:
    /// a stamp past year 2554 (forged; the kernel's clock cannot say it)
    /// reads as `u64::MAX` instead of overflowing.
    pub fn as_nanos(&self) -> u64 {
        self.secs
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(self.millis).saturating_mul(1_000_000))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.secs, self.millis)
    }
}

/// Where one field lies in its record. A field with no `=` has an empty value
/// that starts where the key ends; with `=`, the value starts one byte later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
}

impl FieldSpan {
    pub(crate) fn resolve<'a>(&self, buf: &'a [u8]) -> Field<'a> {
        let key = buf
            .get(self.key_start as usize..self.key_end as usize)
            .unwrap_or_default();
        let raw = buf
            .get(self.value_start as usize..self.value_end as usize)
            .unwrap_or_default();
        Field {
            key,
            value: Value::new(raw, self.value_start > self.key_end),
        }
    }
}

/// One `key=value` pair, borrowed from its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub key: &'a [u8],
    pub value: Value<'a>,
}

/// One audit record: type, timestamp, serial, and its fields in order.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    buf: Bytes,
    record_type: RecordType,
    /// The name as auditd wrote it, when the line had one.
    type_name: Option<(u32, u32)>,
    node: Option<(u32, u32)>,
    timestamp: Timestamp,
    serial: u64,
    /// The kernel's fields, then auditd's enriched ones from `enriched_from`.
    fields: Vec<FieldSpan>,
    enriched_from: u32,
}

/// Parses a record as a netlink listener receives it: the message type from
/// the header, the payload as sent. The payload is copied once; use
/// [`parse_netlink_bytes`] to share a buffer instead.
pub fn parse_netlink(msg_type: u16, payload: &[u8]) -> Result<Record, ParseError> {
    let input = trim_end(check_len(payload)?);
    let parsed = parse_netlink_spans(input)?;
    Ok(parsed.into_record(Bytes::copy_from_slice(input), RecordType(msg_type)))
}

/// [`parse_netlink`] without the copy: the record keeps a slice of `payload`.
pub fn parse_netlink_bytes(msg_type: u16, payload: Bytes) -> Result<Record, ParseError> {
    let len = trim_end(check_len(&payload)?).len();
    let parsed = parse_netlink_spans(&payload[..len])?;
    Ok(parsed.into_record(payload.slice(..len), RecordType(msg_type)))
}

/// Parses one line of auditd's log (or `ausearch --raw` output), with or
/// without `node=` and enrichment. A trailing newline is ignored.
pub fn parse_log_line(line: &[u8]) -> Result<Record, ParseError> {
    let input = trim_end(check_len(line)?);
    let parsed = parse_log_spans(input)?;
    let record_type = parsed.log_type(input);
    Ok(parsed.into_record(Bytes::copy_from_slice(input), record_type))
}

/// [`parse_log_line`] without the copy.
pub fn parse_log_line_bytes(line: Bytes) -> Result<Record, ParseError> {
    let len = trim_end(check_len(&line)?).len();
    let parsed = parse_log_spans(&line[..len])?;
    let record_type = parsed.log_type(&line[..len]);
    Ok(parsed.into_record(line.slice(..len), record_type))
}

impl Record {
    pub fn record_type(&self) -> RecordType {
        self.record_type
    }

    /// The type's name: as auditd wrote it for a log line (so a name this
    /// crate does not know survives), otherwise from the table or
    /// `UNKNOWN[NNNN]`.
    pub fn type_name(&self) -> Cow<'_, str> {
        match self.type_name {
            Some(span) => String::from_utf8_lossy(self.span(span)),
            None => match self.record_type.name() {
                Some(name) => Cow::Borrowed(name),
                None => Cow::Owned(self.record_type.to_string()),
            },
        }
    }

    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The `node=` prefix of a log line from a host that names itself.
    pub fn node(&self) -> Option<&[u8]> {
        self.node.map(|span| self.span(span))
    }

    /// The record's text as it was given (payload, or log line without its
    /// newline).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The kernel's fields, in order.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            buf: &self.buf,
            spans: self.fields[..self.enriched_from as usize].iter(),
        }
    }

    /// auditd's enriched fields (after the 0x1d byte), in order.
    pub fn enriched(&self) -> Fields<'_> {
        Fields {
            buf: &self.buf,
            spans: self.fields[self.enriched_from as usize..].iter(),
        }
    }

    /// The first kernel field named `key`.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        self.fields()
            .find(|f| f.key == key.as_bytes())
            .map(|f| f.value)
    }

    /// The first enriched field named `key` (`UID`, `AUID`, `SYSCALL`, ...).
    pub fn get_enriched(&self, key: &str) -> Option<Value<'_>> {
        self.enriched()
            .find(|f| f.key == key.as_bytes())
            .map(|f| f.value)
    }

    /// Memory this record holds, for the assembler's budget.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
            + self.fields.capacity() * std::mem::size_of::<FieldSpan>()
            + std::mem::size_of::<Record>()
    }

    fn span(&self, (start, end): (u32, u32)) -> &[u8] {
        self.buf
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("type", &self.type_name())
            .field("timestamp", &format_args!("{}", self.timestamp))
            .field("serial", &self.serial)
            .field("text", &String::from_utf8_lossy(&self.buf))
            .finish()
    }
}

/// Iterator over a record's fields.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    buf: &'a [u8],
    spans: std::slice::Iter<'a, FieldSpan>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        self.spans.next().map(|s| s.resolve(self.buf))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Fields<'_> {}

/// Everything a parse finds, as offsets into the input, before the input is
/// stored.
struct Spans {
    type_name: Option<(u32, u32)>,
    node: Option<(u32, u32)>,
    timestamp: Timestamp,
    serial: u64,
    fields: Vec<FieldSpan>,
    enriched_from: u32,
}

impl Spans {
    fn into_record(self, buf: Bytes, record_type: RecordType) -> Record {
        Record {
            buf,
            record_type,
            type_name: self.type_name,
            node: self.node,
            timestamp: self.timestamp,
            serial: self.serial,
            fields: self.fields,
            enriched_from: self.enriched_from,
        }
    }

    /// The type a log line names. A name this crate does not know keeps the
    /// record, with type 0 and the written name in [`Record::type_name`].
    fn log_type(&self, input: &[u8]) -> RecordType {
        self.type_name
            .and_then(|(s, e)| input.get(s as usize..e as usize))
            .and_then(RecordType::from_name)
            .unwrap_or(RecordType(0))
    }
}

fn check_len(input: &[u8]) -> Result<&[u8], ParseError> {
    if input.len() > MAX_RECORD_LEN {
        return Err(ParseError::TooLong {
            len: input.len(),
            max: MAX_RECORD_LEN,
        });
    }
    Ok(input)
}

/// Drops a line ending, and NUL padding a netlink payload may carry.
fn trim_end(input: &[u8]) -> &[u8] {
    let mut end = input.len();
    while end > 0 && matches!(input[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &input[..end]
}

fn parse_netlink_spans(input: &[u8]) -> Result<Spans, ParseError> {
    if input.is_empty() {
        return Err(ParseError::Empty);
    }
    let (timestamp, serial, body) = parse_header(input, 0)?;
    let mut fields = Vec::with_capacity(estimate_fields(input.len() - body));
    scan_fields(input, body, input.len(), &mut fields)?;
    let enriched_from = fields.len() as u32;
    Ok(Spans {
        type_name: None,
        node: None,
        timestamp,
        serial,
        fields,
        enriched_from,
    })
}

fn parse_log_spans(input: &[u8]) -> Result<Spans, ParseError> {
    if input.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut i = 0;
    let mut node = None;
    if input.starts_with(b"node=") {
        let end = find(input, 5, b' ').unwrap_or(input.len());
        node = Some((5, end as u32));
        i = skip_spaces(input, end);
    }
    i = expect(input, i, b"type=", "`type=`")?;
    let name_end = find(input, i, b' ').unwrap_or(input.len());
    if name_end == i {
        return Err(ParseError::Expected {
            expected: "a record type name",
            offset: i,
        });
    }
    let type_name = Some((i as u32, name_end as u32));
    i = skip_spaces(input, name_end);
    i = expect(input, i, b"msg=", "`msg=`")?;
    let (timestamp, serial, body) = parse_header(input, i)?;

    // The kernel hex-encodes every control byte it could write, so the first
    // 0x1d is auditd's separator.
    let body_end = find(input, body, ENRICHED_SEPARATOR).unwrap_or(input.len());
    let mut fields = Vec::with_capacity(estimate_fields(input.len() - body));
    scan_fields(input, body, body_end, &mut fields)?;
    let enriched_from = fields.len() as u32;
    if body_end < input.len() {
        scan_fields(input, body_end + 1, input.len(), &mut fields)?;
    }
    Ok(Spans {
        type_name,
        node,
        timestamp,
        serial,
        fields,
        enriched_from,
    })
}

/// A guess at the field count that avoids regrowing for typical records
/// (a SYSCALL record is ~330 bytes and 28 fields).
fn estimate_fields(body_len: usize) -> usize {
    (body_len / 10).clamp(1, 64)
}

/// Parses `audit(SECS.MSEC:SERIAL):` and an optional space at `i`; returns
/// the stamp and where the body starts.
fn parse_header(input: &[u8], i: usize) -> Result<(Timestamp, u64, usize), ParseError> {
    let i = expect(input, i, b"audit(", "`audit(`")?;
    let (secs, i) = parse_decimal(input, i, "seconds")?;
    let i = expect(input, i, b".", "`.` after the seconds")?;
    // The kernel prints `%03lu`: exactly three digits.
    let millis = match input.get(i..i + 3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => {
            d.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0'))
        }
        _ => {
            return Err(ParseError::InvalidNumber {
                what: "milliseconds",
                offset: i,
            })
        }
    };
    let i = expect(input, i + 3, b":", "`:` before the serial")?;
    let (serial, i) = parse_decimal(input, i, "serial")?;
    let i = expect(input, i, b"):", "`):` after the serial")?;
    let body = if input.get(i) == Some(&b' ') {
        i + 1
    } else {
        i
    };
    Ok((Timestamp { secs, millis }, serial, body))
}

fn parse_decimal(
    input: &[u8],
    start: usize,
    what: &'static str,
) -> Result<(u64, usize), ParseError> {
    let mut n: u64 = 0;
    let mut i = start;
    while let Some(&c) = input.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .ok_or(ParseError::InvalidNumber {
                what,
                offset: start,
            })?;
        i += 1;
    }
    if i == start {
        return Err(ParseError::InvalidNumber {
            what,
            offset: start,
        });
    }
    Ok((n, i))
}

fn expect(input: &[u8], i: usize, lit: &[u8], expected: &'static str) -> Result<usize, ParseError> {
    match input.get(i..i + lit.len()) {
        Some(s) if s == lit => Ok(i + lit.len()),
        _ => Err(ParseError::Expected {
            expected,
            offset: i,
        }),
    }
}

fn find(input: &[u8], from: usize, byte: u8) -> Option<usize> {
    input
        .get(from..)?
        .iter()
        .position(|&b| b == byte)
        .map(|p| from + p)
}

fn skip_spaces(input: &[u8], mut i: usize) -> usize {
    while input.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Splits `input[start..end]` into fields and appends their spans.
///
/// A field is `key=value` or a bare word. A value runs to the next space,
/// unless it opens with `"`, `'` or `{`, in which case it runs to the closing
/// `"`, `'` or `}` (the kernel never escapes inside quotes, so the next one
/// closes). Words without `=` are kept, since some kernel records (AVC) are
/// not all `k=v`.
pub(crate) fn scan_fields(
    input: &[u8],
    start: usize,
    end: usize,
    out: &mut Vec<FieldSpan>,
) -> Result<(), ParseError> {
    let input = &input[..end];
    let mut i = start;
    loop {
        while i < end && input[i] == b' ' {
            i += 1;
        }
        if i >= end {
            return Ok(());
        }
        let key_start = i;
        if input[i] == b'{' {
            // A braced word such as AVC's `{ read write }`.
            let close = closing(input, i, b'}')?;
            out.push(FieldSpan {
                key_start: key_start as u32,
                key_end: close as u32,
                value_start: close as u32,
                value_end: close as u32,
            });
            i = close;
            continue;
        }
        while i < end && input[i] != b'=' && input[i] != b' ' {
            i += 1;
        }
        let key_end = i;
        if i >= end || input[i] == b' ' {
            out.push(FieldSpan {
                key_start: key_start as u32,
                key_end: key_end as u32,
                value_start: key_end as u32,
                value_end: key_end as u32,
            });
            continue;
        }
        let value_start = i + 1;
        let value_end = match input.get(value_start) {
            Some(&q @ (b'"' | b'\'')) => closing(input, value_start, q)?,
            Some(b'{') => closing(input, value_start, b'}')?,
            _ => find(input, value_start, b' ').unwrap_or(end),
        };
        out.push(FieldSpan {
            key_start: key_start as u32,
            key_end: key_end as u32,
            value_start: value_start as u32,
            value_end: value_end as u32,
        });
        i = value_end;
    }
}

/// The position just past the `close` byte that ends the value opening at
/// `open`.
fn closing(input: &[u8], open: usize, close: u8) -> Result<usize, ParseError> {
    match find(input, open + 1, close) {
        Some(p) => Ok(p + 1),
        None => Err(ParseError::Unterminated {
            delimiter: char::from(input[open]),
            offset: open,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::value::{Text, ValueKind};

    fn keys(r: &Record) -> Vec<String> {
        r.fields()
            .map(|f| String::from_utf8_lossy(f.key).into_owned())
            .collect()
    }

    #[test]
    fn netlink_syscall_record() {
        let payload = br#"audit(1795679932.534:43): arch=c000003e syscall=59 success=yes exit=0 a0=55c9caeb0dd0 items=2 ppid=26572 pid=26575 auid=4294967295 tty=(none) comm="dpkg" exe="/usr/bin/dpkg" key="software-installer""#;
        let r = parse_netlink(1300, payload).unwrap();
        assert_eq!(r.record_type(), RecordType::SYSCALL);
        assert_eq!(r.type_name(), "SYSCALL");
        assert_eq!(
            r.timestamp(),
            Timestamp {
                secs: 1_795_679_932,
                millis: 534
            }
        );
        assert_eq!(r.timestamp().to_string(), "1795679932.534");
        assert_eq!(r.serial(), 43);
        assert_eq!(
            keys(&r),
            [
                "arch", "syscall", "success", "exit", "a0", "items", "ppid", "pid", "auid", "tty",
                "comm", "exe", "key"
            ]
        );
        assert_eq!(r.get("tty").unwrap().raw(), b"(none)");
        assert_eq!(
            r.get("exe").unwrap().text().as_bytes(),
            Some(&b"/usr/bin/dpkg"[..])
        );
        assert_eq!(r.enriched().count(), 0);
        assert!(r.node().is_none());
    }

    #[test]
    fn netlink_eoe_has_an_empty_body() {
        for payload in [
            &b"audit(1795679931.526:42): "[..],
            b"audit(1795679931.526:42):",
        ] {
            let r = parse_netlink(1320, payload).unwrap();
            assert_eq!(r.record_type(), RecordType::EOE);
            assert_eq!(r.serial(), 42);
            assert_eq!(r.fields().count(), 0);
        }
    }

    #[test]
    fn netlink_continuation_execve_starts_with_a_space() {
        let r = parse_netlink(1309, b"audit(1.000:7):  a692=\"692\" a693=\"693\"").unwrap();
        assert_eq!(keys(&r), ["a692", "a693"]);
    }

    #[test]
    fn netlink_trailing_newline_and_nul_are_ignored() {
        let r = parse_netlink(1307, b"audit(1.000:7): cwd=\"/\"\n\0").unwrap();
        assert_eq!(r.get("cwd").unwrap().inner(), b"/");
        assert_eq!(r.as_bytes(), b"audit(1.000:7): cwd=\"/\"");
    }

    #[test]
    fn netlink_bytes_shares_the_buffer() {
        let payload = Bytes::from_static(b"audit(1.000:7): cwd=\"/\"\n");
        let r = parse_netlink_bytes(1307, payload.clone()).unwrap();
        assert_eq!(r.as_bytes().as_ptr(), payload.as_ptr());
        assert_eq!(r.get("cwd").unwrap().inner(), b"/");
    }

    #[test]
    fn unknown_netlink_type_is_kept() {
        let r = parse_netlink(1499, b"audit(1.000:7): foo=bar").unwrap();
        assert_eq!(r.type_name(), "UNKNOWN[1499]");
        assert_eq!(r.get("foo").unwrap().raw(), b"bar");
    }

    #[test]
    fn log_line_with_enrichment() {
        let line = b"type=SYSCALL msg=audit(1795680697.214:176438): arch=c000003e syscall=44 comm=\"auditd\" key=(null)\x1dARCH=x86_64 SYSCALL=sendto AUID=\"unset\" UID=\"root\"\n";
        let r = parse_log_line(line).unwrap();
        assert_eq!(r.record_type(), RecordType::SYSCALL);
        assert_eq!(r.serial(), 176_438);
        assert_eq!(keys(&r), ["arch", "syscall", "comm", "key"]);
        assert_eq!(r.get("key").unwrap().kind(), ValueKind::Null);
        let enriched: Vec<_> = r.enriched().map(|f| f.key).collect();
        assert_eq!(enriched, [&b"ARCH"[..], b"SYSCALL", b"AUID", b"UID"]);
        assert_eq!(
            r.get_enriched("UID").unwrap().text().as_bytes(),
            Some(&b"root"[..])
        );
        // Raw and enriched stay apart even where the names collide.
        assert_eq!(r.get("syscall").unwrap().to_u64(), Some(44));
        assert_eq!(r.get_enriched("SYSCALL").unwrap().raw(), b"sendto");
        assert!(r.get("UID").is_none());
    }

    #[test]
    fn log_line_enriched_braces() {
        let line = b"type=SOCKADDR msg=audit(1.214:8): saddr=100000000000000000000000\x1dSADDR={ saddr_fam=netlink nlnk-fam=16 nlnk-pid=0 }";
        let r = parse_log_line(line).unwrap();
        let saddr = r.get_enriched("SADDR").unwrap();
        assert_eq!(saddr.kind(), ValueKind::Braced);
        assert_eq!(saddr.inner(), b" saddr_fam=netlink nlnk-fam=16 nlnk-pid=0 ");
    }

    #[test]
    fn log_line_with_node_prefix() {
        let r = parse_log_line(b"node=web1 type=CWD msg=audit(1.000:9): cwd=\"/root\"").unwrap();
        assert_eq!(r.node(), Some(&b"web1"[..]));
        assert_eq!(r.record_type(), RecordType::CWD);
    }

    #[test]
    fn log_line_unknown_forms() {
        let r = parse_log_line(b"type=UNKNOWN[1423] msg=audit(1.000:9): domain=1266faee0").unwrap();
        assert_eq!(r.record_type(), RecordType(1423));
        assert_eq!(r.type_name(), "UNKNOWN[1423]");
        // A name we do not know is kept as written.
        let r = parse_log_line(b"type=NEW_THING msg=audit(1.000:9): x=1").unwrap();
        assert_eq!(r.record_type(), RecordType(0));
        assert_eq!(r.type_name(), "NEW_THING");
        assert_eq!(r.get("x").unwrap().to_u64(), Some(1));
    }

    #[test]
    fn user_message_keeps_nested_msg_whole() {
        let line = b"type=SOFTWARE_UPDATE msg=audit(1.000:9): pid=1 uid=0 msg='sw=\"curl\" sw_type=rpm root_dir=\"/\" res=success'";
        let r = parse_log_line(line).unwrap();
        assert_eq!(r.record_type(), RecordType::SOFTWARE_UPDATE);
        let msg = r.get("msg").unwrap();
        let nested = msg.nested_fields().unwrap();
        assert_eq!(nested[0].key, b"sw");
        assert_eq!(nested[0].value.text().as_bytes(), Some(&b"curl"[..]));
    }

    #[test]
    fn avc_words_are_kept() {
        let r = parse_netlink(
            1400,
            b"audit(1.000:9): avc:  denied  { read write } for  pid=1 comm=\"x\"",
        )
        .unwrap();
        assert_eq!(
            keys(&r),
            ["avc:", "denied", "{ read write }", "for", "pid", "comm"]
        );
        assert_eq!(r.fields().next().unwrap().value.kind(), ValueKind::Absent);
        assert_eq!(r.get("pid").unwrap().to_u64(), Some(1));
    }

    #[test]
    fn value_edge_cases() {
        let r = parse_netlink(1300, b"audit(1.000:9): a= b=\"x y\" c=\"\" d=\"x\"e f").unwrap();
        assert_eq!(keys(&r), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(r.get("a").unwrap().kind(), ValueKind::Empty);
        assert_eq!(r.get("b").unwrap().text().as_bytes(), Some(&b"x y"[..]));
        assert_eq!(r.get("c").unwrap().text().as_bytes(), Some(&b""[..]));
        assert_eq!(r.get("e").unwrap().text(), Text::Malformed(b""));
    }

    #[test]
    fn errors_name_what_and_where() {
        assert_eq!(parse_netlink(1300, b""), Err(ParseError::Empty));
        assert_eq!(parse_netlink(1300, b"\n"), Err(ParseError::Empty));
        assert_eq!(
            parse_netlink(1300, b"garbage"),
            Err(ParseError::Expected {
                expected: "`audit(`",
                offset: 0
            })
        );
        assert_eq!(
            parse_netlink(1300, b"audit(x.000:1): "),
            Err(ParseError::InvalidNumber {
                what: "seconds",
                offset: 6
            })
        );
        assert_eq!(
            parse_netlink(1300, b"audit(1.00:1): "),
            Err(ParseError::InvalidNumber {
                what: "milliseconds",
                offset: 8
            })
        );
        assert_eq!(
            parse_netlink(1300, b"audit(1.000:99999999999999999999999): "),
            Err(ParseError::InvalidNumber {
                what: "serial",
                offset: 12
            })
        );
        assert_eq!(
            parse_netlink(1300, b"audit(1.000:1"),
            Err(ParseError::Expected {
                expected: "`):` after the serial",
                offset: 13
            })
        );
        assert_eq!(
            parse_netlink(1300, b"audit(1.000:1): comm=\"cut"),
            Err(ParseError::Unterminated {
                delimiter: '"',
                offset: 21
            })
        );
        assert_eq!(
            parse_log_line(b"msg=audit(1.000:1): x=1"),
            Err(ParseError::Expected {
                expected: "`type=`",
                offset: 0
            })
        );
        assert_eq!(
            parse_log_line(b"type=SYSCALL audit(1.000:1): x=1"),
            Err(ParseError::Expected {
                expected: "`msg=`",
                offset: 13
            })
        );
        let huge = vec![b'a'; MAX_RECORD_LEN + 1];
        assert_eq!(
            parse_netlink(1300, &huge),
            Err(ParseError::TooLong {
                len: MAX_RECORD_LEN + 1,
                max: MAX_RECORD_LEN
            })
        );
        assert_eq!(
            ParseError::Unterminated {
                delimiter: '"',
                offset: 21
            }
            .to_string(),
            "unterminated \" value starting at byte 21"
        );
    }

    #[test]
    fn invalid_utf8_is_kept_as_bytes() {
        let r = parse_netlink(1307, b"audit(1.000:1): cwd=\"/tmp/\xff\xfe\" x\xff=1").unwrap();
        assert_eq!(
            r.get("cwd").unwrap().text().as_bytes(),
            Some(&b"/tmp/\xff\xfe"[..])
        );
        assert_eq!(r.fields().nth(1).unwrap().key, b"x\xff");
    }
}
