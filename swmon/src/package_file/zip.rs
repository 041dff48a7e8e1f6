//! Wheels: a zip archive whose `NAME-VERSION.dist-info/METADATA` holds the
//! core metadata (`Name`, `Version`). The end-of-central-directory record
//! is looked for in the last 64 KiB, the central directory (capped) is
//! scanned for that one member, and only it is read: stored or deflated,
//! inflated to at most [`MAX_MEMBER`] bytes. Zip64 archives are refused.

use std::io::{Read, Seek, SeekFrom};

use super::{fields::field, read_capped, text, Identity, Rejected, MAX_MEMBER};

/// The biggest central directory read.
const MAX_DIRECTORY: u64 = 16 << 20;

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

pub(super) fn read_wheel<R: Read + Seek>(file: &mut R) -> Result<Identity, Rejected> {
    let len = file.seek(SeekFrom::End(0))?;
    if len < 22 {
        return Err(Rejected::BadMagic("zip"));
    }
    let tail_len = len.min(22 + 0xffff);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let tail = read_capped(file.by_ref().take(tail_len), tail_len, "zip tail")?;
    let eocd = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .ok_or(Rejected::BadMagic("zip"))?;
    let e = tail
        .get(eocd..eocd + 22)
        .ok_or(Rejected::Malformed("zip end record"))?;
    let dir_size = u64::from(le32(&e[12..16]));
    let dir_offset = u64::from(le32(&e[16..20]));
    if dir_size == 0xffff_ffff || dir_offset == 0xffff_ffff {
        return Err(Rejected::Malformed("zip64 archive"));
    }
    if dir_size > MAX_DIRECTORY {
        return Err(Rejected::Limit("zip central directory"));
    }
    file.seek(SeekFrom::Start(dir_offset))?;
    let dir = read_capped(
        file.by_ref().take(dir_size),
        dir_size,
        "zip central directory",
    )?;
    let mut at = 0usize;
    while let Some(entry) = dir.get(at..at + 46) {
        if le32(entry) != 0x0201_4b50 {
            return Err(Rejected::Malformed("zip central directory entry"));
        }
        let method = le16(&entry[10..]);
        let compressed = u64::from(le32(&entry[20..]));
        let size = u64::from(le32(&entry[24..]));
        let name_len = usize::from(le16(&entry[28..]));
        let extra_len = usize::from(le16(&entry[30..]));
        let comment_len = usize::from(le16(&entry[32..]));
        let local = u64::from(le32(&entry[42..]));
        let name = dir
            .get(at + 46..at + 46 + name_len)
            .ok_or(Rejected::Malformed("zip entry name"))?;
        if is_metadata(name) {
            return member(file, method, compressed, size, local).and_then(|m| identity(&m));
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Err(Rejected::Missing("*.dist-info/METADATA"))
}

/// `NAME-VERSION.dist-info/METADATA` at the top of the archive.
fn is_metadata(name: &[u8]) -> bool {
    match name.strip_suffix(b".dist-info/METADATA") {
        Some(dir) => !dir.is_empty() && !dir.contains(&b'/'),
        None => false,
    }
}

fn member<R: Read + Seek>(
    file: &mut R,
    method: u16,
    compressed: u64,
    size: u64,
    local: u64,
) -> Result<Vec<u8>, Rejected> {
    if size > MAX_MEMBER || compressed > MAX_MEMBER * 64 {
        return Err(Rejected::Limit("METADATA member"));
    }
    file.seek(SeekFrom::Start(local))?;
    let mut header = [0u8; 30];
    file.read_exact(&mut header)?;
    if le32(&header) != 0x0403_4b50 {
        return Err(Rejected::Malformed("zip local header"));
    }
    let skip = i64::from(le16(&header[26..])) + i64::from(le16(&header[28..]));
    file.seek(SeekFrom::Current(skip))?;
    let raw = file.by_ref().take(compressed);
    match method {
        0 => read_capped(raw, MAX_MEMBER, "METADATA member"),
        8 => read_capped(
            flate2::read::DeflateDecoder::new(raw),
            MAX_MEMBER,
            "METADATA member",
        ),
        _ => Err(Rejected::Malformed("zip compression method")),
    }
}

fn identity(metadata: &[u8]) -> Result<Identity, Rejected> {
    let name = field(metadata, "Name").ok_or(Rejected::Missing("Name field"))?;
    let version = field(metadata, "Version")
        .map(|v| text(v, "Version field"))
        .transpose()?;
    Ok(Identity {
        name: text(name, "Name field")?,
        version,
    })
}
