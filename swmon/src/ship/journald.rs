//! The journal's native protocol: one datagram per event to journald's
//! socket (`/run/systemd/journal/socket`, or a namespace's
//! `/run/systemd/journal.NAMESPACE/socket`), holding the fields
//!
//! - `MESSAGE`: the event's JSON line;
//! - `PRIORITY` (4 for alerts and runs only the kernel saw, 6 otherwise),
//!   `SYSLOG_IDENTIFIER=swmon`, `SYSLOG_FACILITY=3`;
//! - `SWMON_ACTION`, `SWMON_KIND`, and when the event has them
//!   `SWMON_VERDICT`, `SWMON_MANAGER`, `SWMON_RUN_ID`,
//!
//! so `journalctl SWMON_VERDICT=ebpf_only` finds runs without parsing
//! JSON. A field whose value holds a newline (or is not UTF-8) is written
//! in the protocol's binary form (name, newline, 64-bit little-endian
//! length, value). An entry larger than a datagram may be (`EMSGSIZE`,
//! `ENOBUFS`) is written to a sealed memfd whose descriptor is sent instead,
//! as the protocol allows.

use std::{
    fs::File,
    io::{self, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::net::UnixDatagram,
    },
    path::PathBuf,
};

use super::{Fail, Item, Meta, Transport, SEND_TIMEOUT};

/// journald's native socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// Appends one field in the native protocol's form.
pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The entry for one event.
pub fn entry(meta: &Meta, line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 256);
    field(&mut out, "MESSAGE", line);
    field(
        &mut out,
        "PRIORITY",
        meta.severity.min(7).to_string().as_bytes(),
    );
    field(&mut out, "SYSLOG_IDENTIFIER", b"swmon");
    field(&mut out, "SYSLOG_FACILITY", b"3");
    field(&mut out, "SWMON_ACTION", meta.action.as_bytes());
    field(&mut out, "SWMON_KIND", meta.kind.as_bytes());
    for (name, value) in [
        ("SWMON_VERDICT", meta.verdict),
        ("SWMON_MANAGER", meta.manager),
        ("SWMON_RUN_ID", meta.run_id.as_deref()),
    ] {
        if let Some(v) = value {
            field(&mut out, name, v.as_bytes());
        }
    }
    out
}

/// The native protocol over a datagram socket.
pub struct Journald {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl Journald {
    pub fn new(path: PathBuf) -> Journald {
        Journald { path, sock: None }
    }

    /// Sends one entry: a datagram, or a sealed memfd when it is too large
    /// for one.
    pub fn send_entry(&self, entry: &[u8]) -> io::Result<()> {
        let sock = self
            .sock
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        match sock.send(entry) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                send_memfd(sock, entry)
            }
            Err(e) => Err(e),
        }
    }
}

/// Writes `entry` to a memfd, seals it and sends its descriptor (with no
/// data) on `sock`.
pub fn send_memfd(sock: &UnixDatagram, entry: &[u8]) -> io::Result<()> {
    // SAFETY: a NUL-terminated name and flags; the result is checked.
    let fd = unsafe {
        libc::memfd_create(
            c"swmon-journal".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(entry)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd_len = std::mem::size_of::<libc::c_int>() as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    // u64 words keep the buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr is valid (no name, no data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at a control buffer of `space` bytes, room for
    // one header and one descriptor; the header and data pointers come
    // from the CMSG macros on that buffer.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the descriptor"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len) as _;
        std::ptr::write_unaligned(
            libc::CMSG_DATA(cmsg).cast::<libc::c_int>(),
            file.as_raw_fd(),
        );
    }
    // SAFETY: a valid socket and a msghdr whose buffers outlive the call.
    if unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Transport for Journald {
    fn connect(&mut self) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        sock.connect(&self.path)?;
        self.sock = Some(sock);
        Ok(())
    }

    fn send(&mut self, item: &Item) -> Result<(), Fail> {
        let entry = entry(&item.meta, &item.line);
        self.send_entry(&entry).map_err(|e| match e.raw_os_error() {
            // Even the memfd was refused: journald's own entry cap.
            Some(libc::EMSGSIZE | libc::E2BIG) => {
                Fail::Refused(format!("an entry of {} bytes: {e}", entry.len()))
            }
            _ => Fail::Down(e),
        })
    }

    fn disconnect(&mut self) {
        self.sock = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_plain_or_binary_as_the_protocol_says() {
        let mut out = Vec::new();
        field(&mut out, "MESSAGE", b"{\"a\":1}");
        assert_eq!(out, b"MESSAGE={\"a\":1}\n");
        let mut out = Vec::new();
        field(&mut out, "MESSAGE", b"two\nlines");
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(out, want);
        let mut out = Vec::new();
        field(&mut out, "X", b"\xff");
        assert_eq!(&out[..2], b"X\n", "not UTF-8: binary form");
    }

    #[test]
    fn an_entry_carries_the_line_and_the_swmon_fields() {
        let meta = Meta {
            timestamp: "t".into(),
            action: "installer-exec",
            kind: "event",
            verdict: Some("ebpf_only"),
            manager: Some("pip"),
            run_id: None,
            host: "h".into(),
            severity: 4,
        };
        let e = String::from_utf8(entry(&meta, b"{}")).expect("utf8");
        assert_eq!(
            e,
            "MESSAGE={}\nPRIORITY=4\nSYSLOG_IDENTIFIER=swmon\nSYSLOG_FACILITY=3\n\
             SWMON_ACTION=installer-exec\nSWMON_KIND=event\nSWMON_VERDICT=ebpf_only\n\
             SWMON_MANAGER=pip\n"
        );
    }
}
