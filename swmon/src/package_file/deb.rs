//! `.deb`: an `ar` archive of `debian-binary`, `control.tar[.gz|.xz|.zst]`
//! and the data; the name and version are the `Package` and `Version`
//! fields of `control` inside the control tarball (deb(5)). Only the
//! control member is read and inflated, capped.

use std::io::{Read, Seek, SeekFrom};

use super::{fields::field, read_capped, tar, text, Identity, Rejected, MAX_INFLATED, MAX_MEMBER};

/// The control member's biggest compressed size read.
const MAX_CONTROL: u64 = 16 << 20;

pub(super) fn read<R: Read + Seek>(file: &mut R) -> Result<Identity, Rejected> {
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)
        .map_err(|_| Rejected::BadMagic("deb"))?;
    if &magic != b"!<arch>\n" {
        return Err(Rejected::BadMagic("deb"));
    }
    // deb(5): debian-binary first, then control.tar*; a few members at most.
    for _ in 0..8 {
        let mut header = [0u8; 60];
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        if &header[58..60] != b"`\n" {
            return Err(Rejected::Malformed("ar member header"));
        }
        let name = trim_name(&header[..16]);
        let size = decimal(&header[48..58]).ok_or(Rejected::Malformed("ar member size"))?;
        if let Some(compression) = name.strip_prefix(b"control.tar") {
            if size > MAX_CONTROL {
                return Err(Rejected::Limit("control member size"));
            }
            let member = read_capped(file.by_ref().take(size), size, "control member")?;
            if (member.len() as u64) < size {
                return Err(Rejected::Malformed("control member cut short"));
            }
            let control = inflate(compression, &member)?;
            let body = tar::find(&mut &control[..], |p| p == b"./control" || p == b"control")?
                .ok_or(Rejected::Missing("control file"))?;
            return identity(&body);
        }
        // Members are padded to an even size.
        let skip = size
            .checked_add(size & 1)
            .ok_or(Rejected::Malformed("ar"))?;
        let skip = i64::try_from(skip).map_err(|_| Rejected::Malformed("ar member size"))?;
        file.seek(SeekFrom::Current(skip))?;
    }
    Err(Rejected::Missing("control.tar member"))
}

/// The tarball inside the control member, inflated (at most
/// [`MAX_INFLATED`] bytes).
fn inflate(compression: &[u8], member: &[u8]) -> Result<Vec<u8>, Rejected> {
    match compression {
        b"" => Ok(member.to_vec()),
        b".gz" => read_capped(
            flate2::read::GzDecoder::new(member),
            MAX_INFLATED,
            "inflated control",
        ),
        b".zst" => {
            let d = ruzstd::decoding::StreamingDecoder::new(member)
                .map_err(|_| Rejected::Malformed("zstd control"))?;
            read_capped(d, MAX_INFLATED, "inflated control")
        }
        b".xz" => {
            // liblzma refuses a stream whose dictionary needs more memory.
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY, 0)
                .map_err(|_| Rejected::Malformed("xz control"))?;
            let d = liblzma::read::XzDecoder::new_stream(member, stream);
            read_capped(d, MAX_INFLATED, "inflated control").map_err(|e| match e {
                Rejected::Read(_) => Rejected::Malformed("xz control"),
                e => e,
            })
        }
        _ => Err(Rejected::Malformed("control member compression")),
    }
}

/// The most memory the xz decoder may use (dpkg-deb's own control members
/// use 8 MiB dictionaries at most).
const XZ_MEMORY: u64 = 64 << 20;

fn identity(control: &[u8]) -> Result<Identity, Rejected> {
    if control.len() as u64 > MAX_MEMBER {
        return Err(Rejected::Limit("control file"));
    }
    let name = field(control, "Package").ok_or(Rejected::Missing("Package field"))?;
    let version = field(control, "Version")
        .map(|v| text(v, "Version field"))
        .transpose()?;
    Ok(Identity {
        name: text(name, "Package field")?,
        version,
    })
}

/// An ar member name: space padded, GNU ar adds a `/`.
fn trim_name(raw: &[u8]) -> &[u8] {
    let end = raw.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    let name = &raw[..end];
    name.strip_suffix(b"/").unwrap_or(name)
}

/// An ar decimal field (space padded).
fn decimal(raw: &[u8]) -> Option<u64> {
    let digits = raw.split(|&c| c == b' ').next()?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}
