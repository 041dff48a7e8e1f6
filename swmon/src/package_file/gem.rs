//! RubyGems' `.gem` files: a plain tar holding `metadata.gz`, the gem's
//! specification as gzipped YAML, read for its `name` and `version` (what
//! `gem install ./x.gem` installs, whatever the file is called). Only the
//! top-level `name:` and the `version:` mapping's `version:` are read, by
//! lines, as `gem build` writes them; no YAML is evaluated (the document
//! is Ruby-tagged and must never be loaded as objects).

use std::io::Read;

use super::{read_capped, tar, text, Identity, Rejected, MAX_MEMBER};

/// `metadata.gz`'s `name` and `version`.
pub(super) fn read_gem<R: Read>(file: &mut R) -> Result<Identity, Rejected> {
    let packed =
        tar::find(file, |p| p == b"metadata.gz")?.ok_or(Rejected::Missing("metadata.gz"))?;
    // Read from memory: an error is the gzip stream's, not the file's.
    let yaml = read_capped(
        flate2::read::GzDecoder::new(&packed[..]),
        MAX_MEMBER,
        "inflated metadata.gz",
    )
    .map_err(|e| match e {
        Rejected::Read(_) => Rejected::Malformed("metadata.gz is no gzip stream"),
        e => e,
    })?;
    let (name, version) = spec_fields(&yaml)?;
    Ok(Identity {
        name: text(name, "name in metadata.gz")?,
        version: version
            .map(|v| text(v, "version in metadata.gz"))
            .transpose()?,
    })
}

/// The specification's `name` and `version`: top-level keys (no indent),
/// the version either a plain value or, as `gem build` writes it, a
/// `!ruby/object:Gem::Version` mapping whose `version:` follows indented.
fn spec_fields(yaml: &[u8]) -> Result<(&[u8], Option<&[u8]>), Rejected> {
    let mut name = None;
    let mut version = None;
    let mut lines = yaml.split(|&c| c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = line.strip_prefix(b"name:") {
            name.get_or_insert(scalar(v)?);
        } else if let Some(v) = line.strip_prefix(b"version:") {
            if version.is_some() {
                continue;
            }
            let v = trim(v);
            if v.is_empty() || v.starts_with(b"!") {
                // The mapping: its `version:` on the next indented line.
                let inner = lines
                    .peek()
                    .map(|l| trim(l.strip_suffix(b"\r").unwrap_or(l)))
                    .and_then(|l| l.strip_prefix(b"version:"))
                    .filter(|_| {
                        lines
                            .peek()
                            .is_some_and(|l| l.starts_with(b" ") || l.starts_with(b"\t"))
                    });
                version = Some(match inner {
                    Some(v) => scalar(v)?,
                    None => return Err(Rejected::Malformed("version in metadata.gz")),
                });
            } else {
                version = Some(scalar(v)?);
            }
        }
    }
    let name = name.ok_or(Rejected::Missing("name in metadata.gz"))?;
    Ok((name, version))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

/// A YAML scalar as `gem build` writes names and versions: plain, or in
/// single or double quotes with no escapes (an escape, a quote left open or
/// text after the closing quote is refused rather than guessed at).
fn scalar(raw: &[u8]) -> Result<&[u8], Rejected> {
    let v = trim(raw);
    let bad = Rejected::Malformed("a quoted value in metadata.gz");
    match v.first() {
        Some(&q @ (b'\'' | b'"')) => {
            let inner = v[1..].strip_suffix(&[q]).ok_or(bad)?;
            if inner.contains(&q) || inner.contains(&b'\\') {
                return Err(Rejected::Malformed("a quoted value in metadata.gz"));
            }
            Ok(inner)
        }
        _ => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::spec_fields;

    #[test]
    fn names_and_versions_as_gem_build_writes_them() {
        let y = b"--- !ruby/object:Gem::Specification\nname: swmon-x\nversion: !ruby/object:Gem::Version\n  version: 1.2.3\nplatform: ruby\ndependencies:\n- !ruby/object:Gem::Dependency\n  name: rake\n  requirement: !ruby/object:Gem::Requirement\n    requirements:\n    - - \">=\"\n      - !ruby/object:Gem::Version\n        version: '0'\n";
        assert_eq!(
            spec_fields(y).unwrap(),
            (&b"swmon-x"[..], Some(&b"1.2.3"[..]))
        );
        // Quoted scalars, a plain version, CRLF.
        assert_eq!(
            spec_fields(b"name: '123'\r\nversion: \"0.1\"\r\n").unwrap(),
            (&b"123"[..], Some(&b"0.1"[..]))
        );
        // A dependency's indented name is not the gem's.
        assert_eq!(
            spec_fields(b"dependencies:\n  name: evil\nname: good\n").unwrap(),
            (&b"good"[..], None)
        );
    }

    #[test]
    fn what_it_cannot_read_for_sure_is_refused() {
        for bad in [
            &b"version: 1\n"[..],
            b"name: 'open\n",
            b"name: \"a\\u0041\"\n",
            b"name: 'a'b'\n",
            b"name: x\nversion: !ruby/object:Gem::Version\nplatform: ruby\n",
            b"name: x\nversion:\n",
        ] {
            assert!(
                spec_fields(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
