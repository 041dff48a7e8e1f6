//! A streaming reader of (ustar) tar archives that looks for one member by
//! name and reads only that one, capped: sdists (`NAME-VERSION/PKG-INFO`),
//! npm tarballs (`package/package.json`), a `.deb`'s control tarball.
//! Members named only through pax or GNU long-name records are skipped:
//! the members wanted have short names.

use std::io::{self, Read, Seek};

use super::{fields::field, read_capped, text, Identity, Rejected, MAX_INFLATED, MAX_MEMBER};

/// The most members looked at before giving up.
const MAX_MEMBERS: usize = 100_000;

/// Reads the first regular member whose name `wanted` accepts.
pub(super) fn find<R: Read>(
    r: &mut R,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>, Rejected> {
    let mut header = [0u8; 512];
    for _ in 0..MAX_MEMBERS {
        if !read_block(r, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if !checksum_ok(&header) {
            return Err(Rejected::Malformed("tar header checksum"));
        }
        let size = octal(&header[124..136]).ok_or(Rejected::Malformed("tar member size"))?;
        let kind = header[156];
        let name = name(&header);
        if matches!(kind, b'0' | 0) && wanted(&name) {
            if size > MAX_MEMBER {
                return Err(Rejected::Limit("metadata member"));
            }
            let body = read_capped(r.by_ref().take(size), size, "metadata member")?;
            if (body.len() as u64) < size {
                return Err(Rejected::Malformed("tar member cut short"));
            }
            return Ok(Some(body));
        }
        // Skip the member's data, padded to whole blocks.
        let padded = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .ok_or(Rejected::Malformed("tar member size"))?;
        let skipped = io::copy(&mut r.by_ref().take(padded), &mut io::sink())?;
        if skipped < padded {
            return Err(Rejected::Malformed("tar cut short"));
        }
    }
    Err(Rejected::Limit("tar members"))
}

/// Reads the one regular member named `wanted`, walking the whole archive:
/// a second member by that name or any member named `rival` (one the
/// installer reads too, the last one winning) is refused.
pub(super) fn find_sole<R: Read>(
    r: &mut R,
    wanted: &[u8],
    rival: &[u8],
) -> Result<Option<Vec<u8>>, Rejected> {
    let mut header = [0u8; 512];
    let mut body = None;
    for _ in 0..MAX_MEMBERS {
        if !read_block(r, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(body);
        }
        if !checksum_ok(&header) {
            return Err(Rejected::Malformed("tar header checksum"));
        }
        let size = octal(&header[124..136]).ok_or(Rejected::Malformed("tar member size"))?;
        let name = rubygems_name(&header)?;
        if name == rival || (name == wanted && body.is_some()) {
            return Err(Rejected::Malformed("two metadata members"));
        }
        if name == wanted {
            if !matches!(header[156], b'0' | 0) {
                return Err(Rejected::Malformed("metadata member not a file"));
            }
            if size > MAX_MEMBER {
                return Err(Rejected::Limit("metadata member"));
            }
        }
        let padded = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .ok_or(Rejected::Malformed("tar member size"))?;
        let mut member = r.by_ref().take(padded);
        if name == wanted {
            let got = read_capped(member.by_ref().take(size), size, "metadata member")?;
            if (got.len() as u64) < size {
                return Err(Rejected::Malformed("tar member cut short"));
            }
            body = Some(got);
        }
        let rest = padded - if name == wanted { size } else { 0 };
        let skipped = io::copy(&mut member, &mut io::sink())?;
        if skipped < rest {
            return Err(Rejected::Malformed("tar cut short"));
        }
    }
    Err(Rejected::Limit("tar members"))
}

/// Reads one 512-byte block; `false` at a clean end of the stream.
fn read_block<R: Read>(r: &mut R, block: &mut [u8; 512]) -> Result<bool, Rejected> {
    let mut got = 0;
    while got < block.len() {
        match r.read(&mut block[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(Rejected::Malformed("tar header cut short")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// The member's path: ustar's prefix and name joined.
fn name(header: &[u8; 512]) -> Vec<u8> {
    let cstr = |b: &[u8]| b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())].to_vec();
    let name = cstr(&header[..100]);
    if &header[257..262] == b"ustar" {
        let prefix = cstr(&header[345..500]);
        if !prefix.is_empty() {
            return [prefix, b"/".to_vec(), name].concat();
        }
    }
    name
}

/// The member's path as RubyGems reads it (`unpack("A100")`: trailing
/// NULs and spaces stripped; a non-empty prefix always joined, ustar magic
/// or not). A NUL inside a name, which readers that stop at the first NUL
/// read otherwise, is refused.
fn rubygems_name(header: &[u8; 512]) -> Result<Vec<u8>, Rejected> {
    let field = |b: &[u8]| -> Result<Vec<u8>, Rejected> {
        let end = b
            .iter()
            .rposition(|&c| c != 0 && c != b' ')
            .map_or(0, |i| i + 1);
        let f = &b[..end];
        if f.contains(&0) {
            return Err(Rejected::Malformed("a NUL inside a tar member name"));
        }
        Ok(f.to_vec())
    };
    let name = field(&header[..100])?;
    let prefix = field(&header[345..500])?;
    Ok(if prefix.is_empty() {
        name
    } else {
        [prefix, b"/".to_vec(), name].concat()
    })
}

/// A tar octal number (NUL or space terminated); the base-256 form is
/// refused (no metadata member needs it).
fn octal(raw: &[u8]) -> Option<u64> {
    let digits: &[u8] = raw
        .split(|&c| c == 0 || c == b' ')
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    if !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(8)?.checked_add(u64::from(d - b'0'))
    })
}

fn checksum_ok(header: &[u8; 512]) -> bool {
    let Some(want) = octal(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    sum == want
}

/// A gzip stream of a tar archive, inflated lazily and capped.
fn gz_tar<R: Read + Seek>(file: &mut R) -> Counted<impl Read + '_> {
    Counted {
        inner: flate2::read::GzDecoder::new(io::BufReader::new(
            file.by_ref().take(super::MAX_FILE),
        ))
        .take(MAX_INFLATED),
        total: 0,
    }
}

struct Counted<R> {
    inner: R,
    total: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        Ok(n)
    }
}

/// A member directly inside the archive's one top folder.
fn top_level(path: &[u8], file: &[u8]) -> bool {
    let path = path.strip_prefix(b"./").unwrap_or(path);
    match path.iter().position(|&c| c == b'/') {
        Some(i) => i > 0 && &path[i + 1..] == file,
        None => false,
    }
}

fn found<R: Read>(r: &mut Counted<R>, file: &'static str) -> Result<Vec<u8>, Rejected> {
    let found = find(r, |p| top_level(p, file.as_bytes()));
    match found {
        Ok(Some(body)) => Ok(body),
        _ if r.total >= MAX_INFLATED => Err(Rejected::Limit("inflated archive")),
        Ok(None) => Err(Rejected::Missing(file)),
        Err(e) => Err(e),
    }
}

/// An sdist: `NAME-VERSION/PKG-INFO`'s `Name` and `Version`.
pub(super) fn read_sdist<R: Read + Seek>(file: &mut R) -> Result<Identity, Rejected> {
    let body = found(&mut gz_tar(file), "PKG-INFO")?;
    let name = field(&body, "Name").ok_or(Rejected::Missing("Name field"))?;
    let version = field(&body, "Version")
        .map(|v| text(v, "Version field"))
        .transpose()?;
    Ok(Identity {
        name: text(name, "Name field")?,
        version,
    })
}

/// An npm tarball: `package/package.json`'s `name` and `version`.
pub(super) fn read_npm<R: Read + Seek>(file: &mut R) -> Result<Identity, Rejected> {
    let body = found(&mut gz_tar(file), "package.json")?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| Rejected::Malformed("package.json"))?;
    let name = json
        .get("name")
        .and_then(serde_json::Value::as_str)
        .ok_or(Rejected::Missing("name in package.json"))?;
    let version = json
        .get("version")
        .and_then(serde_json::Value::as_str)
        .map(|v| text(v.as_bytes(), "version in package.json"))
        .transpose()?;
    Ok(Identity {
        name: text(name.as_bytes(), "name in package.json")?,
        version,
    })
}
