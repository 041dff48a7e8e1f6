//! The audit side's two error types: [`ParseError`], what was wrong with a
//! record and at which byte, and [`AuditError`], what went wrong talking to
//! the kernel's audit socket.
//!
//! Only whole-record failures are errors. A field whose value cannot be
//! decoded (bad hex, an argument piece missing) is not: the record is kept and
//! the decoded value says what is wrong with it (see [`super::Text`] and
//! [`super::ArgvFlags`]), because dropping a record loses evidence.

/// Why a record could not be parsed. Offsets count bytes from the start of the
/// input as it was given (the netlink payload, or the log line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing, or only line endings, to parse.
    #[error("empty record")]
    Empty,
    /// Longer than any record the kernel or auditd writes; refused before
    /// anything is copied, so hostile input cannot make us allocate.
    #[error("record of {len} bytes is over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    /// A fixed part of the format is missing or different.
    #[error("expected {expected} at byte {offset}")]
    Expected {
        expected: &'static str,
        offset: usize,
    },
    /// A number in the `audit(SECS.MSEC:SERIAL)` header is missing, has a
    /// stray character, or overflows.
    #[error("invalid {what} at byte {offset}")]
    InvalidNumber { what: &'static str, offset: usize },
    /// A quoted (`"`, `'`) or braced (`{`) value runs to the end of the
    /// record: the record was cut.
    #[error("unterminated {delimiter} value starting at byte {offset}")]
    Unterminated { delimiter: char, offset: usize },
}

/// Why talking to the kernel's audit interface failed. The messages say what
/// to do where the cause is usual (not root, a kernel without audit).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("can't open the kernel's audit socket: {source}{}", open_hint(source))]
    Open { source: std::io::Error },
    #[error("can't join the audit multicast group (needs root, or CAP_AUDIT_READ): {source}")]
    Join { source: std::io::Error },
    #[error(
        "can't force the audit socket's receive buffer to {bytes} bytes (needs CAP_NET_ADMIN): {source}"
    )]
    RcvBuf {
        bytes: usize,
        source: std::io::Error,
    },
    #[error("can't {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(
        "the kernel refused {request}: {source}{}",
        refused_hint(request, source)
    )]
    Refused {
        request: String,
        source: std::io::Error,
    },
    #[error("the kernel did not answer {request} within {ms} ms")]
    Timeout { request: String, ms: u64 },
    #[error("malformed answer to {request}: {why}")]
    Malformed { request: String, why: String },
    /// swmon's record of the rules it added (see [`super::ownership`]).
    #[error("can't keep the record of swmon's audit rules: {0}")]
    State(#[from] super::ownership::StateError),
}

impl AuditError {
    pub(crate) fn open(source: std::io::Error) -> AuditError {
        AuditError::Open { source }
    }

    pub(crate) fn join(source: std::io::Error) -> AuditError {
        AuditError::Join { source }
    }

    /// The errno the kernel answered with, for a refused request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            AuditError::Refused { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

fn open_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPROTONOSUPPORT) => " (this kernel was built without CONFIG_AUDIT)",
        Some(libc::EPERM | libc::EACCES) => " (run as root)",
        _ => "",
    }
}

fn refused_hint(request: &str, e: &std::io::Error) -> &'static str {
    let adding = request.starts_with("adding");
    match e.raw_os_error() {
        Some(libc::ENOENT) if adding => " (the folder of a path in the rule does not exist)",
        Some(libc::EPERM) => {
            " (needs root with CAP_AUDIT_CONTROL in the initial namespaces, and audit not locked with -e 2)"
        }
        Some(libc::ECONNREFUSED) => " (audit requests only work from the initial user and pid namespace)",
        Some(libc::EEXIST) => " (an identical rule is already loaded)",
        Some(libc::ENOENT) => " (no such rule is loaded)",
        Some(libc::EINVAL) => " (the kernel does not accept this rule: a field, operator or value is invalid here)",
        Some(libc::ENOSPC) => " (too many fields or rules)",
        _ => "",
    }
}
