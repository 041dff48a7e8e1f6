//! The one error type of the audit parser: what was wrong with a record, and
//! at which byte.
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
