//! Header fields of the `Key: value` kind: Debian's control file
//! (deb822) and Python's core metadata (`METADATA`, `PKG-INFO`, RFC 822).
//! Only the first paragraph is read; continuation lines (starting with a
//! space or tab) belong to the field above and are skipped here, since
//! the fields wanted are single-line.

/// The value of the first field named `key` (ASCII case-insensitive) in
/// the first paragraph.
pub(crate) fn field<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
    for line in text.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(key.as_bytes()) {
            return Some(&line[colon + 1..]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_of_the_first_paragraph() {
        let t = b"Package: alpha\nDescription: x\n more\nVersion: 1.0-1\n\nVersion: 9\n";
        assert_eq!(field(t, "package"), Some(&b" alpha"[..]));
        assert_eq!(field(t, "Version"), Some(&b" 1.0-1"[..]));
        assert_eq!(
            field(b"Metadata-Version: 2.1\r\nName: x\r\n", "Name"),
            Some(&b" x"[..])
        );
        assert_eq!(field(b"\nName: x", "Name"), None);
        assert_eq!(field(b" Name: x", "Name"), None);
    }
}
