//! RubyGems' `.gem` files: a plain tar holding `metadata.gz`, the gem's
//! specification as gzipped YAML, read for its `name` and `version` (what
//! `gem install ./x.gem` installs, whatever the file is called). Only the
//! top-level `name:` and the `version:` mapping's `version:` are read, by
//! lines, as `gem build` writes them; no YAML is evaluated (the document
//! is Ruby-tagged and must never be loaded as objects), and YAML that Ruby
//! could read as another name or version than those lines show is refused.

use std::io::Read;

use super::{read_capped, tar, text, Identity, Rejected, MAX_MEMBER};

/// `metadata.gz`'s `name` and `version`.
pub(super) fn read_gem<R: Read>(file: &mut R) -> Result<Identity, Rejected> {
    // RubyGems reads an uncompressed `metadata` member too, the later of
    // the two winning: both present is refused.
    let packed = tar::find_sole(file, b"metadata.gz", b"metadata")?
        .ok_or(Rejected::Missing("metadata.gz"))?;
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
/// `!ruby/object:Gem::Version` mapping whose one `version:` follows
/// indented. Ruby's YAML loader keeps a repeated key's last value and
/// reads quoting, anchors, tags, comments and flow collections, so
/// anything that could make it read another name or version than these
/// lines show is refused: a repeated `name:` or `version:`, a top-level
/// line that is not a plain `key:`, `- `, `---` or `...`, a name or
/// version that is not a plain or one-line quoted scalar, and a flow
/// collection other than an empty `[]` or `{}`. Multi-line quoted values
/// and block scalars of other keys (long summaries, descriptions) are
/// followed to their end, so a `name:` line inside them is not read.
fn spec_fields(yaml: &[u8]) -> Result<(&[u8], Option<&[u8]>), Rejected> {
    // YAML breaks lines at a lone CR, NEL, LS and PS too (Ruby's loader
    // would see a key where these lines show text): refused, as is a NUL.
    let other_break = yaml
        .iter()
        .enumerate()
        .any(|(i, &c)| (c == b'\r' && yaml.get(i + 1) != Some(&b'\n')) || c == 0)
        || yaml
            .windows(3)
            .any(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes())
        || yaml.windows(2).any(|w| w == "\u{85}".as_bytes());
    if other_break {
        return Err(Rejected::Malformed(
            "a line break other than LF or CRLF, or a NUL, in metadata.gz",
        ));
    }
    let mut name = None;
    let mut version = None;
    let mut lines = yaml
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .peekable();
    // Inside another key's multi-line value: an open quote, or a block
    // scalar whose lines are indented past the given column.
    let mut open_quote: Option<u8> = None;
    let mut block_past: Option<usize> = None;
    while let Some(line) = lines.next() {
        if let Some(q) = open_quote {
            open_quote = match close_quote(line, q) {
                Some(rest) => match after_scalar(rest)? {
                    Kind::Done => None,
                    Kind::OpenQuote(q) => Some(q),
                    // A multi-line quoted key with a block or plain value
                    // (its column unknown here): not worth following.
                    Kind::Block => {
                        return Err(Rejected::Malformed("a quoted key in metadata.gz"));
                    }
                },
                None => Some(q),
            };
            continue;
        }
        let indent = line.iter().take_while(|&&c| c == b' ').count();
        if line[indent..].first() == Some(&b'\t') {
            return Err(Rejected::Malformed("a tab indent in metadata.gz"));
        }
        let blank = line[indent..].is_empty();
        if let Some(col) = block_past {
            if blank || indent > col {
                continue;
            }
            block_past = None;
        }
        if blank {
            continue;
        }
        if indent > 0 {
            // A nested line: followed only for where its value ends.
            let (col, value) = nested_value(line, indent);
            match value_kind(value, true)? {
                Kind::Block => block_past = Some(col),
                Kind::OpenQuote(q) => open_quote = Some(q),
                Kind::Done => {}
            }
            continue;
        }
        if line == b"---" || line == b"--- !ruby/object:Gem::Specification" || line == b"..." {
            continue;
        }
        let (col, value) = if line == b"-" || line.starts_with(b"- ") {
            nested_value(line, 0)
        } else {
            let key_len = line
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            let rest = &line[key_len..];
            if key_len == 0 || !(rest == b":" || rest.starts_with(b": ")) {
                return Err(Rejected::Malformed("a top-level line in metadata.gz"));
            }
            let (key, value) = (&line[..key_len], &rest[1..]);
            if key == b"name" {
                if name.replace(scalar(value)?).is_some() {
                    return Err(Rejected::Malformed("a repeated name in metadata.gz"));
                }
                no_continuation(&mut lines)?;
                continue;
            }
            if key == b"version" {
                if version.is_some() {
                    return Err(Rejected::Malformed("a repeated version in metadata.gz"));
                }
                version = Some(version_value(value, &mut lines)?);
                continue;
            }
            (0, value)
        };
        match value_kind(value, true)? {
            Kind::Block => block_past = Some(col),
            Kind::OpenQuote(q) => open_quote = Some(q),
            Kind::Done => {}
        }
    }
    if open_quote.is_some() {
        return Err(Rejected::Malformed(
            "a quoted value left open in metadata.gz",
        ));
    }
    let name = name.ok_or(Rejected::Missing("name in metadata.gz"))?;
    Ok((name, version))
}

/// The top-level `version:`'s value: a scalar, or the tagged mapping whose
/// one indented `version:` line is all it holds.
fn version_value<'a>(
    value: &'a [u8],
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a [u8]>>,
) -> Result<&'a [u8], Rejected> {
    let bad = Rejected::Malformed("version in metadata.gz");
    let v = trim(value);
    if !(v.is_empty() || v == b"!ruby/object:Gem::Version") {
        let v = scalar(value)?;
        no_continuation(lines)?;
        return Ok(v);
    }
    let inner = lines.next().ok_or(bad)?;
    let indent = inner.iter().take_while(|&&c| c == b' ').count();
    let inner = inner[indent..]
        .strip_prefix(b"version:")
        .filter(|_| indent > 0)
        .ok_or(Rejected::Malformed("version in metadata.gz"))?;
    let v = scalar(inner)?;
    // Nothing more in the mapping (a second `version:` there would be the
    // one Ruby keeps).
    no_continuation(lines)?;
    Ok(v)
}

/// After a name or version: the next line that is not blank is top-level
/// (an indented one would continue the plain value or the mapping).
fn no_continuation<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a [u8]>>,
) -> Result<(), Rejected> {
    while let Some(l) = lines.peek() {
        if l.iter().all(|&c| c == b' ') {
            lines.next();
            continue;
        }
        if l.starts_with(b" ") || l.starts_with(b"\t") {
            return Err(Rejected::Malformed(
                "a name or version continued in metadata.gz",
            ));
        }
        break;
    }
    Ok(())
}

/// A nested line's value and the column its node starts at (where a
/// block scalar's lines must be indented past): past any `- ` entry
/// markers and a plain `key:`.
fn nested_value(line: &[u8], indent: usize) -> (usize, &[u8]) {
    let mut col = indent;
    let mut rest = &line[indent..];
    let mut parent = indent;
    while rest == b"-" || rest.starts_with(b"- ") {
        let skip = 1 + rest[1..].iter().take_while(|&&c| c == b' ').count();
        parent = col;
        rest = &rest[skip..];
        col += skip;
    }
    if matches!(rest.first(), Some(b'\'' | b'"')) {
        return (parent, rest);
    }
    let colon = rest
        .windows(2)
        .position(|w| w == b": ")
        .or_else(|| rest.ends_with(b":").then(|| rest.len() - 1));
    let comment = rest.windows(2).position(|w| w == b" #");
    match (colon, comment) {
        (_, Some(h)) if colon.is_none_or(|c| h < c) => (parent, b""),
        (Some(c), _) => (col, &rest[c + 1..]),
        (None, _) => (parent, rest),
    }
}

enum Kind {
    Done,
    Block,
    OpenQuote(u8),
}

/// Where a value that is not the name or version ends: on its line, in
/// the lines indented past its node (a block scalar's, a plain scalar's
/// continuation lines), or at a quote closed on a later line. What could
/// hide lines otherwise (a flow collection other than `[]` or `{}`, a
/// reserved indicator) is refused. A quoted scalar may be a key
/// (`'k': v`) only when `key_allowed`: one per line, so hostile input
/// cannot nest the calls (`'': '': '': ...` would overflow the stack).
fn value_kind(value: &[u8], key_allowed: bool) -> Result<Kind, Rejected> {
    let mut v = trim(value);
    // A tag or anchor before the value (`!binary |-`, `&a x`).
    while matches!(v.first(), Some(b'!' | b'&')) {
        let end = v.iter().position(|&c| c == b' ').unwrap_or(v.len());
        v = trim(&v[end..]);
    }
    match v.first() {
        None | Some(b'#') => Ok(Kind::Done),
        Some(b'|' | b'>') => Ok(Kind::Block),
        Some(&q @ (b'\'' | b'"')) => Ok(match close_quote(&v[1..], q) {
            Some(rest) if key_allowed => after_scalar(rest)?,
            Some(rest) => {
                let rest = trim(rest);
                if !(rest.is_empty() || rest.starts_with(b"#")) {
                    return Err(Rejected::Malformed(
                        "text after a quoted value in metadata.gz",
                    ));
                }
                Kind::Done
            }
            None => Kind::OpenQuote(q),
        }),
        Some(b'[' | b'{') if v == b"[]" || v == b"{}" => Ok(Kind::Done),
        Some(b'[' | b'{' | b'%' | b'@' | b'`' | b'?') => Err(Rejected::Malformed(
            "a value Ruby reads otherwise in metadata.gz",
        )),
        // A plain scalar: the lines indented past its node continue it,
        // whatever they look like (`  'y` opens no quote there).
        _ => Ok(Kind::Block),
    }
}

/// After a closed quoted scalar: nothing, a comment, or (as the
/// scalar was a key) `: ` and its value, which ends as [`value_kind`]
/// says.
fn after_scalar(rest: &[u8]) -> Result<Kind, Rejected> {
    let rest = trim(rest);
    if rest.is_empty() || rest.starts_with(b"#") {
        return Ok(Kind::Done);
    }
    if let Some(v) = rest.strip_prefix(b":") {
        if v.is_empty() || v.starts_with(b" ") {
            // The value of a quoted key, itself no key.
            return value_kind(v, false);
        }
    }
    Err(Rejected::Malformed(
        "text after a quoted value in metadata.gz",
    ))
}

/// The text after the quote `q` that closes a quoted scalar begun before
/// `text`, if it closes in `text` (`''` in single quotes and a
/// backslash's next byte in double quotes do not close it).
fn close_quote(text: &[u8], q: u8) -> Option<&[u8]> {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' if q == b'"' => i += 2,
            b'\'' if q == b'\'' && text.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == q => return Some(&text[i + 1..]),
            _ => i += 1,
        }
    }
    None
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

/// A name or version as `gem build` writes them: a plain scalar, or in
/// single or double quotes with no escapes closed on its line. A tag,
/// anchor, alias, block or flow indicator, a comment, an escape, a quote
/// left open or text after the closing quote is refused rather than
/// guessed at.
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
        Some(b'-' | b'?' | b':') if v.len() == 1 || v[1] == b' ' => Err(Rejected::Malformed(
            "a name or version Ruby reads otherwise in metadata.gz",
        )),
        Some(
            b'!' | b'&' | b'*' | b'|' | b'>' | b'[' | b'{' | b'%' | b'@' | b'`' | b'#' | b','
            | b']' | b'}',
        ) => Err(Rejected::Malformed(
            "a name or version Ruby reads otherwise in metadata.gz",
        )),
        _ if v
            .windows(2)
            .any(|w| w == b" #" || w == b"\t#" || w == b": ")
            || v.ends_with(b":") =>
        {
            Err(Rejected::Malformed(
                "a name or version Ruby reads otherwise in metadata.gz",
            ))
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
        // Long and multi-line values of other keys as Psych writes them
        // (wrapped quotes, block scalars, a certificate chain): a
        // `name:` line inside them is no key.
        let y = b"name: good\nsummary: 'a long\nname: evil ''x''\n  end'\ndescription: |\n  one\n  name: evil\ncert_chain:\n- |\n  -----BEGIN\n  name: evil\nd: \"tab\\there \\\"q\\\" w\n  w\"\nmetadata: {}\nlicenses: []\nversion: '3'\n";
        assert_eq!(spec_fields(y).unwrap(), (&b"good"[..], Some(&b"3"[..])));
        // A plain value's continuation lines are text, quotes and all.
        assert_eq!(
            spec_fields(
                b"name: real\nsummary: x\n  'y\nname2: z\ndescription: a\n  b'\nversion: 1\n"
            )
            .unwrap(),
            (&b"real"[..], Some(&b"1"[..]))
        );
        // The reviewer's t1.gem: the quoted value's `name:` line is text.
        assert_eq!(
            spec_fields(b"summary2: \"a\nname: benign\n\"\nname: real\n").unwrap(),
            (&b"real"[..], None)
        );
    }

    #[test]
    fn quoted_keys_chained_on_one_line_are_refused_without_nesting() {
        let mut y = b"name: x\nk: ".to_vec();
        y.extend(b"'': ".repeat(100_000));
        y.extend(b"v\n");
        assert!(spec_fields(&y).is_err());
        // One quoted key, with a plain or a block value, is read past.
        assert_eq!(
            spec_fields(
                b"metadata:\n  'k: v': |-\n    name: evil\n  'h': plain\n    name: evil\nname: good\n"
            )
                .unwrap(),
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
            // Ruby keeps a repeated key's last value.
            b"name: benign\nname: real\n",
            b"name: real\nversion: 1\nversion: 2\n",
            b"name: x\nversion: !ruby/object:Gem::Version\n  version: 1.0.0\n  version: 6.6.6\n",
            // Keys that are not plain, and other top-level YAML.
            b"name: benign\n\"name\": real\n",
            b"'name': real\n",
            b"? name\n: real\n",
            b"{name: real}\n",
            b"<<: {name: real}\n",
            b"%YAML 1.1\n---\nname: x\n",
            b"!!str name: x\n",
            b"# a comment\nname: x\n",
            // A `name:` line inside another key's quoted value or flow
            // collection, the name none or another.
            b"summary2: \"a\nname: benign\n",
            b"authors: [x,\nname: benign]\nname: real\n",
            // Anchors, aliases, tags, comments, block and flow values.
            b"description: &n real\nname: *n\n",
            b"name: &n real\n",
            b"name: real # benign\n",
            b"name: !!str real\n",
            b"name: |\n  real\n",
            b"name: >\n  real\n",
            b"name: [real]\n",
            b"name: {a: b}\n",
            b"name: @x\n",
            b"name: `x\n",
            b"name: %x\n",
            b"name: - x\n",
            b"name: \"real\nbenign\"\n",
            b"name: x\nversion: &v 1\n",
            b"name: x\nversion: '1\n  '\n",
            b"name: x\nversion: !ruby/object:Gem::Version\n  version: 1 # 2\n",
            // A plain value continued on an indented line.
            b"name: benign\n  real\n",
            b"name: x\nversion: !ruby/object:Gem::Version\n  version: 1\n    .5\n",
            // Tab indents.
            b"name: x\n\tversion: 1\n",
            // Line breaks Ruby's loader sees and a split on LF does not.
            b"name: benign\nsummary: x\rname: real\n",
            "name: benign\nsummary: x\u{85}name: real\n".as_bytes(),
            "name: benign\nsummary: x\u{2028}name: real\n".as_bytes(),
            "name: benign\nsummary: x\u{2029}name: real\n".as_bytes(),
            b"name: x\0\n",
            // A plain value's continuation hiding a second name, read as
            // quotes by a reader that took `  'y` for a new value.
            b"name: benign\nsummary: x\n  'y\nname: real\ndescription: a\n  b'\nversion: 1\n",
            // Quoted keys chained on one line (once a stack overflow).
            b"name: x\nk: '': '': v\n",
        ] {
            assert!(
                spec_fields(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
