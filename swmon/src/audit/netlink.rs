//! The kernel's audit sockets: the read-only multicast listener that records
//! arrive on, and the unicast control socket that status and rule requests
//! go through.
//!
//! [`MulticastSocket`] joins `AUDIT_NLGRP_READLOG` (group 1) the way the
//! way that works on this kernel (tested by `tests/tests/audit_stream.rs`): bind with an automatic port id
//! first, then join (without the bind nothing arrives), receive buffer forced
//! with `SO_RCVBUFFORCE`. It never registers as the audit daemon, so it
//! coexists with auditd and a stalled reader never blocks the host: the
//! kernel drops what does not fit and the next `recv` fails with ENOBUFS,
//! which [`Datagram::Overrun`] reports. Only datagrams from the kernel (port
//! 0) are taken; a root process can send to a netlink group too, and what it
//! sends is counted as [`Datagram::Foreign`], never parsed as a record.
//!
//! [`ControlSocket`] sends one request at a time and reads the answer. The
//! kernel answers `AUDIT_GET` and `AUDIT_LIST_RULES` from a kernel thread
//! (`audit_send_reply`), so the answer can come after the ack; replies are
//! matched by sequence number and stale ones skipped. It is usable blocking
//! (with a deadline, for the CLI and rule changes) or from tokio.
//!
//! Not here: what the records say ([`super::parse_netlink_bytes`]), the
//! status fields ([`super::status`]) and rule encoding ([`super::rules`]).

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use netlink_packet_core::{
    Emitable, NetlinkBuffer, NetlinkHeader, NLMSG_ALIGNTO, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_REQUEST,
};
use netlink_sys::{protocols::NETLINK_AUDIT, Socket, SocketAddr};

use super::error::AuditError;

/// `AUDIT_NLGRP_READLOG`: the kernel's read-only log multicast group.
pub const AUDIT_NLGRP_READLOG: u32 = netlink_packet_audit::constants::AUDIT_NLGRP_READLOG;

/// The receive buffer: 8 MiB holds a few seconds of an
/// exec storm while the reader is busy.
pub const DEFAULT_RCVBUF: usize = 8 << 20;

/// A netlink header is 16 bytes.
const HEADER_LEN: usize = 16;

/// The kernel caps one audit record at `MAX_AUDIT_MESSAGE_LENGTH` (8970
/// bytes); a datagram holds one record plus its header. Receiving into at
/// least this much means no record is cut.
const MAX_DATAGRAM: usize = 8970 + HEADER_LEN + 64;

/// How much receive space is allocated at once; records are sliced out of
/// it without copying, so one allocation serves a few hundred records.
const RECV_CHUNK: usize = 256 * 1024;

fn new_socket() -> Result<Socket, AuditError> {
    Socket::new(NETLINK_AUDIT).map_err(AuditError::open)
}

/// One message of a netlink datagram: its header fields and the byte range of
/// its payload within the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: (usize, usize),
}

/// Splits a datagram into its netlink messages. A message whose length field
/// is shorter than a header or runs past the datagram ends the walk; the
/// second value says whether that happened (the rest is malformed).
pub fn split_messages(datagram: &[u8]) -> (Vec<Message>, bool) {
    let mut out = Vec::with_capacity(1);
    let mut at = 0;
    while datagram.len() - at >= HEADER_LEN {
        let Ok(buf) = NetlinkBuffer::new_checked(&datagram[at..]) else {
            return (out, true);
        };
        let len = buf.length() as usize;
        out.push(Message {
            msg_type: buf.message_type(),
            flags: buf.flags(),
            seq: buf.sequence_number(),
            payload: (at + HEADER_LEN, at + len),
        });
        let align = usize::from(NLMSG_ALIGNTO);
        let aligned = (len + align - 1) & !(align - 1);
        at = at.saturating_add(aligned).min(datagram.len());
    }
    (out, false)
}

/// What one receive on the multicast socket gave.
#[derive(Debug)]
pub enum Datagram {
    /// Records from the kernel: type and payload of each message.
    Records(Vec<(u16, Bytes)>),
    /// ENOBUFS: the socket overflowed and the kernel dropped records.
    Overrun,
    /// Sent by a process rather than the kernel, or malformed: not taken.
    Foreign,
    /// A message whose header was broken; what parsed before it is kept.
    Malformed(Vec<(u16, Bytes)>),
}

/// The read-only multicast listener, nonblocking.
#[derive(Debug)]
pub struct MulticastSocket {
    socket: Socket,
    buf: BytesMut,
    rcvbuf: usize,
}

impl MulticastSocket {
    /// Opens, binds, forces the receive buffer to `rcvbuf` bytes and joins
    /// the group. Needs CAP_AUDIT_READ (to join) and CAP_NET_ADMIN (to force
    /// the buffer past `rmem_max`).
    pub fn open(rcvbuf: usize) -> Result<MulticastSocket, AuditError> {
        let mut socket = new_socket()?;
        set_rcvbuf_force(socket.as_raw_fd(), rcvbuf)?;
        socket.bind_auto().map_err(|source| AuditError::Io {
            what: "bind the audit multicast socket",
            source,
        })?;
        socket
            .add_membership(AUDIT_NLGRP_READLOG)
            .map_err(AuditError::join)?;
        socket
            .set_non_blocking(true)
            .map_err(|source| AuditError::Io {
                what: "make the audit socket nonblocking",
                source,
            })?;
        let rcvbuf = get_rcvbuf(socket.as_raw_fd())?;
        Ok(MulticastSocket {
            socket,
            buf: BytesMut::with_capacity(RECV_CHUNK),
            rcvbuf,
        })
    }

    /// The receive buffer the kernel granted (it doubles the request for its
    /// bookkeeping, as `socket(7)` says).
    pub fn rcvbuf(&self) -> usize {
        self.rcvbuf
    }

    /// Receives one datagram without blocking: `Ok(None)` when there is none.
    pub fn try_recv(&mut self) -> io::Result<Option<Datagram>> {
        if self.buf.capacity() < MAX_DATAGRAM {
            self.buf = BytesMut::with_capacity(RECV_CHUNK);
        }
        let (n, from) = match self
            .socket
            .recv_from(&mut self.buf, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
        {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                return Ok(Some(Datagram::Overrun))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
        };
        let got = n.min(self.buf.len());
        let datagram = self.buf.split_to(self.buf.len()).freeze();
        if from.port_number() != 0 {
            return Ok(Some(Datagram::Foreign));
        }
        let datagram = datagram.slice(..got);
        let (messages, broken) = split_messages(&datagram);
        let records = messages
            .into_iter()
            .map(|m| (m.msg_type, datagram.slice(m.payload.0..m.payload.1)))
            .collect();
        if broken || n > got {
            Ok(Some(Datagram::Malformed(records)))
        } else {
            Ok(Some(Datagram::Records(records)))
        }
    }
}

impl AsRawFd for MulticastSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

fn set_rcvbuf_force(fd: RawFd, bytes: usize) -> Result<(), AuditError> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid fd and a pointer to a c_int that lives through the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(AuditError::RcvBuf {
            bytes,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn get_rcvbuf(fd: RawFd) -> Result<usize, AuditError> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid fd, and pointers to a c_int and its length.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::addr_of_mut!(value).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(AuditError::Io {
            what: "read the audit socket's receive buffer size",
            source: io::Error::last_os_error(),
        });
    }
    Ok(usize::try_from(value).unwrap_or(0))
}

/// One reply message to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A message of the request's reply type, with its payload.
    Data(u16, Vec<u8>),
    /// `NLMSG_DONE`: the end of a multi-part answer.
    Done,
    /// `NLMSG_ERROR` with error 0: the ack.
    Ack,
    /// `NLMSG_ERROR` with an errno: the kernel refused.
    Error(i32),
}

/// The unicast control socket: one request at a time, answers matched by
/// sequence number.
#[derive(Debug)]
pub struct ControlSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl ControlSocket {
    pub fn open() -> Result<ControlSocket, AuditError> {
        let mut socket = new_socket()?;
        socket.bind_auto().map_err(|source| AuditError::Io {
            what: "bind the audit control socket",
            source,
        })?;
        socket
            .set_non_blocking(true)
            .map_err(|source| AuditError::Io {
                what: "make the audit socket nonblocking",
                source,
            })?;
        Ok(ControlSocket {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Sends a request to the kernel and returns its sequence number.
    pub fn send(&mut self, msg_type: u16, ack: bool, payload: &[u8]) -> Result<u32, AuditError> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.length = u32::try_from(HEADER_LEN + payload.len()).unwrap_or(u32::MAX);
        header.message_type = msg_type;
        header.flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
        header.sequence_number = self.seq;
        let mut msg = vec![0u8; HEADER_LEN + payload.len()];
        header.emit(&mut msg[..HEADER_LEN]);
        msg[HEADER_LEN..].copy_from_slice(payload);
        let kernel = SocketAddr::new(0, 0);
        self.socket
            .send_to(&msg, &kernel, 0)
            .map_err(|source| AuditError::Io {
                what: "send to the kernel's audit socket",
                source,
            })?;
        Ok(self.seq)
    }

    /// Reads whatever answers are queued, without blocking, keeping those for
    /// `seq`. `Ok(None)` when nothing is queued.
    pub fn try_recv(&mut self, seq: u32) -> Result<Option<Vec<Reply>>, AuditError> {
        // SAFETY: a valid fd and a buffer we own for its whole length.
        let n = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                return Ok(None);
            }
            return Err(AuditError::Io {
                what: "read the kernel's audit answer",
                source: e,
            });
        }
        let datagram = &self.buf[..n as usize];
        let (messages, _) = split_messages(datagram);
        let mut out = Vec::new();
        for m in messages {
            if m.seq != seq {
                continue;
            }
            let payload = &datagram[m.payload.0..m.payload.1];
            out.push(match m.msg_type {
                NLMSG_DONE => Reply::Done,
                NLMSG_ERROR => {
                    let errno = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-libc::EPROTO);
                    if errno == 0 {
                        Reply::Ack
                    } else {
                        Reply::Error(-errno)
                    }
                }
                t => Reply::Data(t, payload.to_vec()),
            });
        }
        Ok(Some(out))
    }

    /// Waits up to `timeout` for the socket to become readable.
    fn wait_readable(&self, timeout: Duration) -> Result<bool, AuditError> {
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd that lives through the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(AuditError::Io {
                what: "wait for the kernel's audit answer",
                source: e,
            });
        }
        Ok(rc > 0)
    }

    /// Sends a request and collects its answer, blocking up to `timeout`:
    /// until `done` says the answer is complete, or the kernel refuses.
    pub fn request(
        &mut self,
        what: &str,
        msg_type: u16,
        ack: bool,
        payload: &[u8],
        timeout: Duration,
        mut done: impl FnMut(&[Reply]) -> bool,
    ) -> Result<Vec<Reply>, AuditError> {
        let seq = self.send(msg_type, ack, payload)?;
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::new();
        loop {
            while let Some(batch) = self.try_recv(seq)? {
                for r in batch {
                    if let Reply::Error(errno) = r {
                        return Err(AuditError::Refused {
                            request: what.to_owned(),
                            source: io::Error::from_raw_os_error(errno),
                        });
                    }
                    replies.push(r);
                }
                if done(&replies) {
                    return Ok(replies);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError::Timeout {
                    request: what.to_owned(),
                    ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
            self.wait_readable(left)?;
        }
    }
}

impl AsRawFd for ControlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(t: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN];
        let len = (HEADER_LEN + payload.len()) as u32;
        v[0..4].copy_from_slice(&len.to_ne_bytes());
        v[4..6].copy_from_slice(&t.to_ne_bytes());
        v[8..12].copy_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(payload);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    #[test]
    fn splits_several_messages_with_padding() {
        let mut d = msg(1300, 0, b"audit(1.002:3): a=b");
        d.extend(msg(1320, 0, b"audit(1.002:3): "));
        let (m, broken) = split_messages(&d);
        assert!(!broken);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].msg_type, 1300);
        assert_eq!(&d[m[0].payload.0..m[0].payload.1], b"audit(1.002:3): a=b");
        assert_eq!(m[1].msg_type, 1320);
        assert_eq!(&d[m[1].payload.0..m[1].payload.1], b"audit(1.002:3): ");
    }

    #[test]
    fn a_length_past_the_datagram_stops_the_walk() {
        let mut d = msg(1300, 0, b"audit(1.002:3): a=b");
        let mut bad = msg(1309, 0, b"xx");
        bad[0..4].copy_from_slice(&500u32.to_ne_bytes());
        d.extend(bad);
        let (m, broken) = split_messages(&d);
        assert!(broken);
        assert_eq!(m.len(), 1);
        let (m, broken) = split_messages(&[0u8; 7]);
        assert!(m.is_empty() && !broken);
    }
}
