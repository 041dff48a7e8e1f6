//! Helpers the spec parsers share: one operand's bytes split at ASCII
//! delimiters into a name and a version, and built into a [`Package`] with
//! escaped text.
//!
//! Splitting works on bytes, never on lossily decoded text, so that an
//! invalid byte in a name survives as `\xNN` and cannot shift a split. No
//! manager's own rules live here: those are in the family modules.

use super::{escape, Package};

/// Whether the spec itself says which way this one package goes, whatever
/// the verb (apt's `pkg-`, zypper's `!pkg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mark {
    Same,
    Install,
    Remove,
    /// Names no package: a file pattern the shell left unexpanded
    /// (`rpm -Fvh *.rpm` in a folder with no `.rpm` file reaches rpm as
    /// the literal `*.rpm`, which opens nothing).
    Nothing,
}

/// One parsed operand.
#[derive(Clone, Debug)]
pub(super) struct Spec {
    pub(super) package: Package,
    pub(super) mark: Mark,
}

impl Spec {
    /// The package `name` (at `version`) read from `arg`. An empty name
    /// means the split went wrong, so the whole operand is kept instead;
    /// an empty version is no version.
    pub(super) fn new(arg: &[u8], name: &[u8], version: Option<&[u8]>) -> Spec {
        let (name, version) = if name.is_empty() {
            (arg, None)
        } else {
            (name, version.filter(|v| !v.is_empty()))
        };
        Spec {
            package: Package {
                name: escape(name),
                version: version.map(escape),
                operand: escape(arg),
            },
            mark: Mark::Same,
        }
    }

    pub(super) fn marked(self, mark: Mark) -> Spec {
        Spec { mark, ..self }
    }
}

/// Whether a package file's name is a shell pattern, not a file name.
pub(super) fn is_file_pattern(file_name: &[u8]) -> bool {
    file_name.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// The operand as written, with no version: paths, URLs, attribute paths,
/// group names.
pub(super) fn literal(arg: &[u8]) -> Spec {
    Spec::new(arg, arg, None)
}

pub(super) fn find(b: &[u8], c: u8) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

pub(super) fn rfind(b: &[u8], c: u8) -> Option<usize> {
    b.iter().rposition(|&x| x == c)
}

pub(super) fn find_any(b: &[u8], set: &[u8]) -> Option<usize> {
    b.iter().position(|x| set.contains(x))
}

pub(super) fn contains(b: &[u8], needle: &[u8]) -> bool {
    after(b, needle).is_some()
}

/// The index just past the first `needle` in `b`.
pub(super) fn after(b: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    b.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + needle.len())
}

/// `b` split at the first `c`, without it.
pub(super) fn split_at_byte(b: &[u8], c: u8) -> Option<(&[u8], &[u8])> {
    let i = find(b, c)?;
    Some((&b[..i], b.get(i + 1..).unwrap_or_default()))
}

pub(super) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The last path component.
pub(super) fn basename(b: &[u8]) -> &[u8] {
    match rfind(b, b'/') {
        Some(i) => b.get(i + 1..).unwrap_or_default(),
        None => b,
    }
}

/// Whether the operand names a file, directory or URL rather than a
/// package: every manager reads these the same way.
pub(super) fn is_location(b: &[u8]) -> bool {
    b.starts_with(b"/")
        || b.starts_with(b"./")
        || b.starts_with(b"../")
        || b.starts_with(b"~/")
        || b == b"."
        || b == b".."
        || b.starts_with(b"file:")
        || contains(b, b"://")
}

pub(super) fn starts_with_digit(b: &[u8]) -> bool {
    b.first().is_some_and(u8::is_ascii_digit)
}

/// A file stem `name-1.2.3` split at the first `-` followed by a digit,
/// the shape of sdists, npm tarballs, gems and CPAN distributions.
pub(super) fn split_name_version(stem: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = stem
        .windows(2)
        .position(|w| w[0] == b'-' && w[1].is_ascii_digit())?;
    let name = &stem[..at];
    (!name.is_empty()).then(|| (name, stem.get(at + 1..).unwrap_or_default()))
}

/// A version constraint as written (`==1.2`, `=1.2`, `>=1,<2`), reduced to
/// the bare version when it pins exactly one: an `=`, `==` or `===`
/// followed by a single version with no wildcard or further clause.
pub(super) fn pin(constraint: &[u8]) -> &[u8] {
    let c = trim(constraint);
    let bare = c
        .strip_prefix(b"===")
        .or_else(|| c.strip_prefix(b"=="))
        .or_else(|| c.strip_prefix(b"="));
    match bare.map(trim) {
        Some(v) if !v.is_empty() && find_any(v, b",*|<>=!~ ").is_none() => v,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_keeps_ranges_and_strips_exact_pins() {
        assert_eq!(pin(b"==1.2"), b"1.2");
        assert_eq!(pin(b"=1.2"), b"1.2");
        assert_eq!(pin(b"=== 1.2 "), b"1.2");
        assert_eq!(pin(b"==1.*"), b"==1.*");
        assert_eq!(pin(b">=1,<2"), b">=1,<2");
        assert_eq!(pin(b"==1.0,!=1.0.1"), b"==1.0,!=1.0.1");
        assert_eq!(pin(b"="), b"=");
    }

    #[test]
    fn name_version_split_needs_a_digit_after_the_dash() {
        assert_eq!(
            split_name_version(b"left-pad-1.3.0"),
            Some((&b"left-pad"[..], &b"1.3.0"[..]))
        );
        assert_eq!(split_name_version(b"es6-shim"), None);
        assert_eq!(split_name_version(b"-1.0"), None);
    }

    #[test]
    fn empty_name_keeps_the_operand() {
        let s = Spec::new(b"=1.0", b"", Some(b"1.0"));
        assert_eq!(s.package.name, "=1.0");
        assert_eq!(s.package.version, None);
    }
}
