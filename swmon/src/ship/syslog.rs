//! Syslog as RFC 5424 says it, to the local datagram socket (`/dev/log`)
//! or to a collector over TCP with RFC 6587 octet-counting framing
//! (`LEN SP MESSAGE`, so a message may hold any byte).
//!
//! A message is
//! `<PRI>1 TIMESTAMP HOSTNAME swmon PROCID MSGID [swmon@32473 ...] MSG`:
//! facility `daemon`; severity warning for alerts and runs only the kernel
//! saw, info otherwise; TIMESTAMP the event's `@timestamp`; MSGID the
//! event's action (`installer-exec`, `heartbeat`, ...); the structured data
//! element carries `kind`, `verdict`, `manager` and `run_id` when the event
//! has them (32473 is the enterprise number RFC 5612 reserves for
//! documentation: swmon has none of its own); MSG the event's JSON line.
//! Header fields keep only printable US-ASCII (others become `_`) and
//! their length caps; a PARAM-VALUE has `"`, `\` and `]` escaped. A MSG
//! that is valid UTF-8 and not plain ASCII starts with the BOM, as the RFC
//! asks (swmon's JSON lines are always UTF-8; receivers such as rsyslog
//! keep the BOM in the message).
//!
//! Over TCP a send that times out part-way leaves the stream mid-frame:
//! the connection is dropped and the whole line sent again on a new one,
//! so the collector may also have kept the cut start of that line (a
//! frame its connection's close ended).
//!
//! The receiver must take messages as long as swmon's lines (up to 64 KiB:
//! rsyslog's `maxMessageSize` is 8 KiB by default); a datagram the local
//! socket refuses is counted (`sink_refused`), never cut.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    os::{fd::AsRawFd, unix::net::UnixDatagram},
    path::PathBuf,
};

use super::{Fail, Item, Meta, Transport, SEND_TIMEOUT};

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// `daemon`.
pub const FACILITY: u8 = 3;
/// The structured data element's ID.
pub const SD_ID: &str = "swmon@32473";
pub const APP_NAME: &str = "swmon";

/// A header field (HOSTNAME, APP-NAME, PROCID, MSGID): printable US-ASCII
/// only (other bytes become `_`), at most `max` bytes, `-` (the NILVALUE)
/// when empty.
pub fn header_field(s: &str, max: usize) -> String {
    let mut out: String = s
        .bytes()
        .take(max)
        .map(|b| {
            if (33..=126).contains(&b) {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash.
pub fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `t` can be an RFC 5424 TIMESTAMP as swmon writes them
/// (`2026-12-02T04:57:12.123456Z`: at most 6 digits of fraction).
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let frac = match b.get(19) {
        Some(b'.') => b[20..].iter().take_while(|c| c.is_ascii_digit()).count(),
        _ => 0,
    };
    let zone = if frac > 0 { 20 + frac } else { 19 };
    b.len() == zone + 1
        && b[zone] == b'Z'
        && frac <= 6
        && (frac > 0 || b.get(19) == Some(&b'Z'))
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
}

/// One RFC 5424 message (no framing, no newline).
pub fn format(meta: &Meta, procid: u32, msg: &[u8]) -> Vec<u8> {
    let pri = FACILITY * 8 + meta.severity.min(7);
    let timestamp = if is_timestamp(&meta.timestamp) {
        meta.timestamp.as_str()
    } else {
        "-"
    };
    let mut sd = format!("[{SD_ID} kind=\"{}\"", param_value(meta.kind));
    for (name, value) in [
        ("verdict", meta.verdict),
        ("manager", meta.manager),
        ("run_id", meta.run_id.as_deref()),
    ] {
        if let Some(v) = value {
            sd.push_str(&format!(" {name}=\"{}\"", param_value(v)));
        }
    }
    sd.push(']');
    let mut out = format!(
        "<{pri}>1 {timestamp} {} {} {} {} {sd} ",
        header_field(&meta.host, 255),
        header_field(APP_NAME, 48),
        header_field(&procid.to_string(), 128),
        header_field(meta.action, 32),
    )
    .into_bytes();
    if !msg.is_ascii() && std::str::from_utf8(msg).is_ok() {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    out.extend_from_slice(msg);
    out
}

/// RFC 6587 octet counting: the length in decimal, a space, the message.
pub fn octet_frame(message: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message);
    out
}

/// RFC 5424 over a local datagram socket, one message per datagram.
pub struct UnixSyslog {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl UnixSyslog {
    pub fn new(path: PathBuf) -> UnixSyslog {
        UnixSyslog { path, sock: None }
    }
}

impl Transport for UnixSyslog {
    fn connect(&mut self) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        sock.connect(&self.path)?;
        self.sock = Some(sock);
        Ok(())
    }

    fn send(&mut self, item: &Item) -> Result<(), Fail> {
        let sock = self
            .sock
            .as_ref()
            .ok_or_else(|| Fail::Down(io::ErrorKind::NotConnected.into()))?;
        let msg = format(&item.meta, std::process::id(), &item.line);
        match sock.send(&msg) {
            Ok(n) if n == msg.len() => Ok(()),
            Ok(n) => Err(Fail::Refused(format!("{n} of {} bytes sent", msg.len()))),
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => Err(Fail::Refused(format!(
                "{} bytes is more than the socket takes",
                msg.len()
            ))),
            Err(e) => Err(Fail::Down(e)),
        }
    }

    fn disconnect(&mut self) {
        self.sock = None;
    }
}

/// RFC 5424 over TCP, RFC 6587 octet-counting framing.
pub struct TcpSyslog {
    addr: String,
    stream: Option<TcpStream>,
}

impl TcpSyslog {
    pub fn new(addr: String) -> TcpSyslog {
        TcpSyslog { addr, stream: None }
    }
}

/// Whether the peer closed the connection (or it failed): a read that
/// would not block says so. Receivers of syslog send nothing; what they
/// do send is read and ignored.
fn peer_closed(stream: &mut TcpStream) -> bool {
    loop {
        let mut fds = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let n = unsafe { libc::poll(&mut fds, 1, 0) };
        if n <= 0 {
            return false;
        }
        if fds.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            return true;
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

impl Transport for TcpSyslog {
    fn connect(&mut self) -> io::Result<()> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, SEND_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(SEND_TIMEOUT))?;
                    s.set_read_timeout(Some(SEND_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    self.stream = Some(s);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn send(&mut self, item: &Item) -> Result<(), Fail> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| Fail::Down(io::ErrorKind::NotConnected.into()))?;
        if peer_closed(stream) {
            return Err(Fail::Down(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the collector closed the connection",
            )));
        }
        let frame = octet_frame(&format(&item.meta, std::process::id(), &item.line));
        // A write cut short (a timeout) leaves the stream mid-frame: the
        // caller disconnects and sends the whole line on a new connection.
        stream.write_all(&frame).map_err(Fail::Down)
    }

    fn disconnect(&mut self) {
        self.stream = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            timestamp: "2026-12-02T04:57:12.123456Z".into(),
            action: "installer-exec",
            kind: "event",
            verdict: Some("confirmed"),
            manager: Some("dpkg"),
            run_id: Some("17664-1".into()),
            host: "vm".into(),
            severity: 6,
        }
    }

    #[test]
    fn a_message_has_the_rfc5424_header_and_the_line_as_is() {
        let m = format(&meta(), 42, br#"{"a":1}"#);
        assert_eq!(
            String::from_utf8(m).expect("utf8"),
            "<30>1 2026-12-02T04:57:12.123456Z vm swmon 42 installer-exec \
             [swmon@32473 kind=\"event\" verdict=\"confirmed\" manager=\"dpkg\" run_id=\"17664-1\"] \
             {\"a\":1}"
        );
        let mut alert = meta();
        alert.severity = 4;
        alert.kind = "alert";
        alert.verdict = None;
        alert.manager = None;
        alert.run_id = None;
        let m = String::from_utf8(format(&alert, 1, b"x")).expect("utf8");
        assert!(m.starts_with("<28>1 "), "{m}");
        assert!(m.ends_with(" [swmon@32473 kind=\"alert\"] x"), "{m}");
    }

    #[test]
    fn param_values_escape_quote_backslash_and_bracket() {
        assert_eq!(param_value(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
        let mut m = meta();
        m.run_id = Some("x\"] [evil a=\"1".into());
        let s = String::from_utf8(format(&m, 1, b"{}")).expect("utf8");
        assert!(
            s.contains(r#" run_id="x\"\] [evil a=\"1"] {}"#),
            "one SD element, the value escaped: {s}"
        );
    }

    #[test]
    fn header_fields_keep_printable_ascii_within_their_caps() {
        assert_eq!(header_field("", 255), "-");
        assert_eq!(header_field("host name\n", 255), "host_name_");
        assert_eq!(header_field("hôte", 255), "h__te");
        assert_eq!(header_field(&"h".repeat(300), 255).len(), 255);
        assert_eq!(header_field(&"m".repeat(40), 32).len(), 32);
        let mut m = meta();
        m.host = "bad host\u{7f}".into();
        m.timestamp = "yesterday".into();
        let s = String::from_utf8(format(&m, 7, b"{}")).expect("utf8");
        assert!(
            s.starts_with("<30>1 - bad_host_ swmon 7 installer-exec "),
            "{s}"
        );
    }

    #[test]
    fn only_rfc5424_timestamps_are_kept() {
        assert!(is_timestamp("2026-12-02T04:57:12Z"));
        assert!(is_timestamp("2026-12-02T04:57:12.1Z"));
        assert!(is_timestamp("2026-12-02T04:57:12.123456Z"));
        for bad in [
            "",
            "2026-12-02T04:57:12.1234567Z",
            "2026-12-02T04:57:12.Z",
            "2026-12-02 04:57:12Z",
            "2026-12-02T04:57:12",
            "2026-12-02T04:57:12ZZ",
            "२०२६-12-02T04:57:12Z",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn the_message_keeps_newlines_and_bytes_and_utf8_gets_the_bom() {
        let nl = format(&meta(), 1, b"one\ntwo");
        assert!(nl.ends_with(b"] one\ntwo"));
        let bad = format(&meta(), 1, b"\xff\xfe not utf-8");
        assert!(bad.ends_with(b"] \xff\xfe not utf-8"), "raw bytes, no BOM");
        let utf8 = format(&meta(), 1, "{\"name\":\"ça\"}".as_bytes());
        assert!(utf8.ends_with("] \u{feff}{\"name\":\"ça\"}".as_bytes()));
        let ascii = format(&meta(), 1, b"{}");
        assert!(ascii.ends_with(b"] {}"), "ASCII needs no BOM");
    }

    fn item(line: &[u8]) -> Item {
        Item {
            line: line.to_vec(),
            meta: meta(),
        }
    }

    #[test]
    fn the_local_socket_gets_one_message_per_datagram_and_refuses_what_it_cannot_take() {
        let dir = std::env::temp_dir().join(format!("swmon-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let mut t = UnixSyslog::new(path.clone());
        t.connect().expect("connect");
        t.send(&item(b"{\"a\":1}")).expect("send");
        let mut buf = vec![0u8; 4096];
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(
            &buf[..n],
            &format(&meta(), std::process::id(), b"{\"a\":1}")[..]
        );
        // Larger than any datagram the socket takes: refused, not cut.
        let big = vec![b'x'; 8 << 20];
        assert!(matches!(t.send(&item(&big)), Err(Fail::Refused(_))));
        drop(receiver);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tcp_frames_arrive_whole_one_after_another() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut t = TcpSyslog::new(addr);
        t.connect().expect("connect");
        let lines: [&[u8]; 3] = [b"{\"a\":1}", "{\"b\":\"ça\"}".as_bytes(), b"{}"];
        for l in lines {
            t.send(&item(l)).expect("send");
        }
        t.disconnect();
        let (mut stream, _) = listener.accept().expect("accept");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        let mut rest = &got[..];
        for l in lines {
            let space = rest.iter().position(|&b| b == b' ').expect("length");
            let len: usize = std::str::from_utf8(&rest[..space])
                .expect("digits")
                .parse()
                .expect("length");
            let msg = &rest[space + 1..space + 1 + len];
            assert_eq!(msg, &format(&meta(), std::process::id(), l)[..]);
            rest = &rest[space + 1 + len..];
        }
        assert!(rest.is_empty(), "nothing after the last frame");
    }

    #[test]
    fn octet_counting_counts_bytes_not_chars() {
        assert_eq!(octet_frame(b"abc"), b"3 abc");
        assert_eq!(octet_frame("é\n".as_bytes()), "3 é\n".as_bytes());
        assert_eq!(octet_frame(b""), b"0 ");
        let m = format(&meta(), 1, &[b'x'; 70_000]);
        let f = octet_frame(&m);
        let (len, rest) = f.split_at(f.iter().position(|&b| b == b' ').expect("space"));
        assert_eq!(
            std::str::from_utf8(len).expect("digits").parse::<usize>(),
            Ok(rest.len() - 1)
        );
    }
}
