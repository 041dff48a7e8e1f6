//! `.rpm`: a 96-byte lead, the signature header (padded to 8 bytes), then
//! the main header, each `8e ad e8 01`, 4 reserved bytes, the index entry
//! count and the data size (big-endian), 16-byte index entries (tag, type,
//! offset, count) and the data store. The name and version are the
//! NAME (1000), VERSION (1001), RELEASE (1002) and EPOCH (1003) tags of the
//! main header. Counts and sizes are capped before anything is allocated.

use std::io::Read;

use super::{read_capped, text, Identity, Rejected};

const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits (`hdrchkTags`, `hdrchkData` in lib/header.c).
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 256 << 20;
/// The most header bytes read at all (signature and main together).
const MAX_HEADER_BYTES: u64 = 32 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;

struct Header {
    entries: Vec<[u32; 4]>,
    data: Vec<u8>,
}

pub(super) fn read<R: Read>(file: &mut R) -> Result<Identity, Rejected> {
    let mut lead = [0u8; 96];
    file.read_exact(&mut lead)
        .map_err(|_| Rejected::BadMagic("rpm"))?;
    if lead[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return Err(Rejected::BadMagic("rpm"));
    }
    let mut budget = MAX_HEADER_BYTES;
    let signature = header(file, &mut budget)?;
    // The signature header's data is padded to a multiple of 8.
    let pad = (8 - signature.data.len() % 8) % 8;
    let mut skip = [0u8; 8];
    file.read_exact(&mut skip[..pad])?;
    let main = header(file, &mut budget)?;
    let name = main
        .string(TAG_NAME)?
        .ok_or(Rejected::Missing("NAME tag"))?;
    let version = main.string(TAG_VERSION)?;
    let release = main.string(TAG_RELEASE)?;
    let epoch = main.int32(TAG_EPOCH)?;
    let version = version.map(|v| {
        let mut s = String::new();
        if let Some(e) = epoch {
            s.push_str(&format!("{e}:"));
        }
        s.push_str(&v);
        if let Some(r) = &release {
            s.push('-');
            s.push_str(r);
        }
        s
    });
    Ok(Identity { name, version })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn header<R: Read>(file: &mut R, budget: &mut u64) -> Result<Header, Rejected> {
    let mut intro = [0u8; 16];
    file.read_exact(&mut intro)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(Rejected::Malformed("rpm header magic"));
    }
    let count = be32(&intro[8..12]);
    let size = be32(&intro[12..16]);
    if count == 0 || count > MAX_ENTRIES {
        return Err(Rejected::Limit("rpm header entries"));
    }
    if size > MAX_DATA {
        return Err(Rejected::Limit("rpm header data"));
    }
    let bytes = u64::from(count) * 16 + u64::from(size);
    *budget = budget
        .checked_sub(bytes)
        .ok_or(Rejected::Limit("rpm header bytes"))?;
    // Read as the bytes arrive, never allocated by the lengths read.
    let index_len = u64::from(count) * 16;
    let index = read_capped(file.by_ref().take(index_len), index_len, "rpm index")?;
    if (index.len() as u64) < index_len {
        return Err(Rejected::Malformed("rpm index cut short"));
    }
    let entries = index
        .chunks_exact(16)
        .map(|e| [be32(&e[0..]), be32(&e[4..]), be32(&e[8..]), be32(&e[12..])])
        .collect();
    let data = read_capped(
        file.by_ref().take(u64::from(size)),
        u64::from(size),
        "rpm data",
    )?;
    if data.len() < size as usize {
        return Err(Rejected::Malformed("rpm data cut short"));
    }
    Ok(Header { entries, data })
}

impl Header {
    fn entry(&self, tag: u32) -> Option<&[u32; 4]> {
        self.entries.iter().find(|e| e[0] == tag)
    }

    fn string(&self, tag: u32) -> Result<Option<String>, Rejected> {
        let Some(&[_, kind, offset, _]) = self.entry(tag) else {
            return Ok(None);
        };
        if kind != TYPE_STRING {
            return Err(Rejected::Malformed("rpm string tag type"));
        }
        let rest = self
            .data
            .get(offset as usize..)
            .ok_or(Rejected::Malformed("rpm tag offset"))?;
        let end = rest
            .iter()
            .take(513)
            .position(|&c| c == 0)
            .ok_or(Rejected::Malformed("rpm string unterminated or too long"))?;
        text(&rest[..end], "rpm string tag").map(Some)
    }

    fn int32(&self, tag: u32) -> Result<Option<u32>, Rejected> {
        let Some(&[_, kind, offset, count]) = self.entry(tag) else {
            return Ok(None);
        };
        if kind != TYPE_INT32 || count == 0 {
            return Err(Rejected::Malformed("rpm int32 tag"));
        }
        let o = offset as usize;
        let b = self
            .data
            .get(
                o..o.checked_add(4)
                    .ok_or(Rejected::Malformed("rpm tag offset"))?,
            )
            .ok_or(Rejected::Malformed("rpm tag offset"))?;
        Ok(Some(be32(b)))
    }
}
