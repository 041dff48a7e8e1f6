//! Tests for the classify stage: the escaping helper.

use super::escape;

/// The inverse of [`escape`] for text it escaped: `\\` is a backslash and
/// `\xNN` a byte.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("two hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn escape_keeps_valid_utf8_as_is() {
    assert_eq!(escape(b"plain"), "plain");
    assert_eq!(escape(br"back\slash"), r"back\slash");
    assert_eq!(
        escape("caf\u{e9}\n\x1b[31m".as_bytes()),
        "caf\u{e9}\n\x1b[31m"
    );
    assert_eq!(escape(b""), "");
}

#[test]
fn escape_marks_invalid_bytes_and_then_backslashes() {
    assert_eq!(escape(b"a\xffb"), r"a\xffb");
    assert_eq!(escape(b"\\\x80"), r"\\\x80");
    // A truncated multi-byte sequence is escaped byte by byte.
    assert_eq!(escape(b"\xe2\x82"), r"\xe2\x82");
    assert_eq!(escape(b"\xe2\x82\xacok\xc0"), "\u{20ac}ok\\xc0");
}

#[test]
fn escape_round_trips() {
    let mut rng = Rng(0x5eed);
    for _ in 0..5000 {
        let bytes = rng.bytes(24);
        let text = escape(&bytes);
        if std::str::from_utf8(&bytes).is_ok() {
            assert_eq!(text.as_bytes(), &bytes[..]);
        } else {
            assert_eq!(unescape(&text), bytes, "{text}");
        }
    }
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        // Mostly ASCII punctuation and letters, where the grammars split.
        (0..len)
            .map(|_| match self.below(4) {
                0 => self.next() as u8,
                1 => b"-=@/:.+!~[];,<> #_"[self.below(18)],
                _ => b'a' + self.below(26) as u8,
            })
            .collect()
    }
}
