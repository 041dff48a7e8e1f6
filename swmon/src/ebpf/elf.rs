//! The ELF identity of an executable, for near-copies of binary installers
//! (a copy with bytes appended, or with a string or some code patched):
//! the [`ElfKey`] the kernel filter looks up (the first bytes of the file,
//! masked to what places the program in memory) and the build-id note by
//! which user space confirms a match (the GNU build-id, `NT_GNU_BUILD_ID`,
//! or the Go linker's build ID note). Neither changes when bytes are
//! appended or patched past the headers; both change when the program is
//! linked again.
//!
//! The input is hostile (any user can exec any file and make it look like
//! an installer's start): every offset, size and count is checked against
//! the file's size and the caps below before anything is read or
//! allocated, arithmetic is checked, and a file that breaks a rule is a
//! [`Malformed`] answer, never a panic. At most [`READ_MAX`] bytes of one
//! file are read, in a few positioned reads.

use std::{fmt, fs::File, io, os::unix::fs::FileExt};

use swmon_common::{canonical_elf_key, ElfKey, ELF_KEY_LEN, ELF_KEY_WORDS};

/// Bytes of one file the note reader reads at most, all reads together.
pub const READ_MAX: u64 = 256 * 1024;
/// Bytes of one note segment or section read at most: a real one holds a
/// few notes of tens of bytes each.
pub const NOTES_MAX: u64 = 64 * 1024;
/// Bytes of the program header table at most: the kernel's ELF loader
/// refuses a larger one (`ELF_MIN_ALIGN`, a page), so no program that ran
/// has one.
pub const PHDRS_MAX: u64 = 4096;
/// Bytes of the section header table read at most (1,024 ELF64 headers).
pub const SHDRS_MAX: u64 = 64 * 1024;
/// The longest build ID taken: a GNU one is 8 (xxhash), 16 (md5, uuid)
/// or 20 (sha1) bytes; Go's is a string of about 80.
pub const BUILD_ID_MAX: usize = 256;

const PT_NOTE: u32 = 4;
const SHT_NOTE: u32 = 7;
const NT_GNU_BUILD_ID: u32 = 3;
const NT_GO_BUILD_ID: u32 = 4;

/// The first [`ELF_KEY_LEN`] bytes of a file (fewer at its end, the rest
/// zero, as the kernel's `bprm->buf`), brought to an [`ElfKey`] by
/// [`canonical_elf_key`]: the same words the kernel filter builds.
pub fn elf_key(start: &[u8]) -> ElfKey {
    let mut bytes = [0u8; ELF_KEY_LEN];
    let n = start.len().min(ELF_KEY_LEN);
    bytes[..n].copy_from_slice(&start[..n]);
    let mut words = [0u64; ELF_KEY_WORDS];
    for (i, w) in words.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        *w = u64::from_ne_bytes(b);
    }
    canonical_elf_key(&mut words);
    ElfKey { words }
}

/// Reads the start of `src` (at most [`ELF_KEY_LEN`] bytes) and masks it
/// to its [`ElfKey`]; `None` when the file is no ELF file.
pub fn key_of<S: Source + ?Sized>(src: &S) -> io::Result<Option<ElfKey>> {
    let mut bytes = [0u8; ELF_KEY_LEN];
    let mut n = 0;
    while n < ELF_KEY_LEN {
        match src.read_at(&mut bytes[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((n >= 4 && bytes[..4] == *b"\x7fELF").then(|| elf_key(&bytes[..n])))
}

/// Where the reader's bytes come from: an open file, by position (one
/// descriptor, so what is read is the file that was checked), or bytes.
pub trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| self.get(o..)) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// Which note named the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `NT_GNU_BUILD_ID` (owner `GNU`), written by the GNU and LLVM linkers.
    Gnu,
    /// The Go linker's build ID note (owner `Go`, type 4).
    Go,
}

/// A build ID as the note holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BuildId {
    pub kind: IdKind,
    pub bytes: Vec<u8>,
}

impl fmt::Display for BuildId {
    /// Hex, as `readelf -n` and `file` show a GNU build ID; a Go one is
    /// prefixed `go:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == IdKind::Go {
            f.write_str("go:")?;
        }
        for b in &self.bytes {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a file's notes were not read: the ways a hostile file is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("no ELF magic")]
    NotElf,
    #[error("unknown ELF class or data encoding")]
    BadClass,
    #[error("the file ends inside its ELF header")]
    Truncated,
    #[error("program or section header size is not the standard one")]
    HeaderSize,
    #[error("header table larger than any the kernel loads")]
    TooManyHeaders,
    #[error("a header table or note lies outside the file")]
    OutOfFile,
    #[error("a note segment or section larger than the cap")]
    NotesTooLarge,
    #[error("a note runs past its segment or section")]
    BadNote,
    #[error("a build ID note of no length or longer than the cap")]
    BadBuildId,
    #[error("more to read than the per-file cap")]
    ReadCap,
}

impl Malformed {
    /// The flag written in events and counted.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::NotElf => "not-elf",
            Malformed::BadClass => "bad-class",
            Malformed::Truncated => "truncated",
            Malformed::HeaderSize => "header-size",
            Malformed::TooManyHeaders => "too-many-headers",
            Malformed::OutOfFile => "out-of-file",
            Malformed::NotesTooLarge => "notes-too-large",
            Malformed::BadNote => "bad-note",
            Malformed::BadBuildId => "bad-build-id",
            Malformed::ReadCap => "read-cap",
        }
    }
}

/// A failed read of the notes.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// The file could not be read (or shrank under the reader).
    #[error("can't read the file: {0}")]
    Io(#[from] io::Error),
    #[error("malformed ELF file: {0}")]
    Malformed(#[from] Malformed),
}

/// How to read a field: the ELF data encoding.
#[derive(Clone, Copy)]
struct Layout {
    /// Big-endian (`ELFDATA2MSB`), else little-endian.
    big: bool,
}

impl Layout {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
}

/// Positioned reads of one file, within its size and [`READ_MAX`].
struct Reader<'a, S: ?Sized> {
    src: &'a S,
    size: u64,
    budget: u64,
}

impl<S: Source + ?Sized> Reader<'_, S> {
    /// `len` bytes at `offset`, all inside the file (`OutOfFile` if not,
    /// checked before any allocation).
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, NoteError> {
        let end = offset.checked_add(len).ok_or(Malformed::OutOfFile)?;
        if end > self.size {
            return Err(Malformed::OutOfFile.into());
        }
        if len > self.budget {
            return Err(Malformed::ReadCap.into());
        }
        self.budget -= len;
        let len = usize::try_from(len).map_err(|_| Malformed::ReadCap)?;
        let mut buf = vec![0u8; len];
        let mut n = 0;
        while n < len {
            match self.src.read_at(&mut buf[n..], offset + n as u64) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(buf)
    }
}

/// The build ID of the ELF file `src` of `size` bytes (its `fstat` size):
/// from the `PT_NOTE` segments first (what a loaded program carries), then
/// from the `SHT_NOTE` sections (a file whose note program header was
/// rewritten). A GNU build ID is preferred to a Go one. `Ok(None)` when
/// the file has none.
pub fn build_id<S: Source + ?Sized>(src: &S, size: u64) -> Result<Option<BuildId>, NoteError> {
    let mut r = Reader {
        src,
        size,
        budget: READ_MAX,
    };
    let head_len = size.min(64);
    let head = r.read(0, head_len)?;
    if head.len() < 4 || head[..4] != *b"\x7fELF" {
        return Err(Malformed::NotElf.into());
    }
    if head.len() < 6 {
        return Err(Malformed::Truncated.into());
    }
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return Err(Malformed::BadClass.into()),
    };
    let big = match head[5] {
        1 => false,
        2 => true,
        _ => return Err(Malformed::BadClass.into()),
    };
    let l = Layout { big };
    if head.len() < if wide { 64 } else { 52 } {
        return Err(Malformed::Truncated.into());
    }
    let (phoff, shoff, at) = if wide {
        (l.u64(&head, 32), l.u64(&head, 40), 54)
    } else {
        (u64::from(l.u32(&head, 28)), u64::from(l.u32(&head, 32)), 42)
    };
    let phentsize = u64::from(l.u16(&head, at));
    let phnum = u64::from(l.u16(&head, at + 2));
    let shentsize = u64::from(l.u16(&head, at + 4));
    let shnum = u64::from(l.u16(&head, at + 6));

    let mut go = None;
    if phnum > 0 {
        if phentsize != if wide { 56 } else { 32 } {
            return Err(Malformed::HeaderSize.into());
        }
        // PN_XNUM (0xffff) puts the real count elsewhere: more than the
        // kernel loads either way.
        let table = phnum * phentsize;
        if table > PHDRS_MAX {
            return Err(Malformed::TooManyHeaders.into());
        }
        let phdrs = r.read(phoff, table)?;
        for ph in phdrs.chunks_exact(phentsize as usize) {
            if l.u32(ph, 0) != PT_NOTE {
                continue;
            }
            let (offset, filesz, align) = if wide {
                (l.u64(ph, 8), l.u64(ph, 32), l.u64(ph, 48))
            } else {
                (
                    u64::from(l.u32(ph, 4)),
                    u64::from(l.u32(ph, 16)),
                    u64::from(l.u32(ph, 28)),
                )
            };
            match notes(&mut r, l, offset, filesz, align)? {
                Some(id) if id.kind == IdKind::Gnu => return Ok(Some(id)),
                Some(id) => go = go.or(Some(id)),
                None => {}
            }
        }
    }
    if go.is_some() || shoff == 0 || shnum == 0 {
        return Ok(go);
    }
    if shentsize != if wide { 64 } else { 40 } {
        return Err(Malformed::HeaderSize.into());
    }
    let table = shnum * shentsize;
    if table > SHDRS_MAX {
        return Err(Malformed::TooManyHeaders.into());
    }
    let shdrs = r.read(shoff, table)?;
    for sh in shdrs.chunks_exact(shentsize as usize) {
        if l.u32(sh, 4) != SHT_NOTE {
            continue;
        }
        let (offset, size, align) = if wide {
            (l.u64(sh, 24), l.u64(sh, 32), l.u64(sh, 48))
        } else {
            (
                u64::from(l.u32(sh, 16)),
                u64::from(l.u32(sh, 20)),
                u64::from(l.u32(sh, 32)),
            )
        };
        match notes(&mut r, l, offset, size, align)? {
            Some(id) if id.kind == IdKind::Gnu => return Ok(Some(id)),
            Some(id) => go = go.or(Some(id)),
            None => {}
        }
    }
    Ok(go)
}

/// The build ID among the notes at `offset` (`len` bytes, entries aligned
/// to 8 when the segment or section is, else 4).
fn notes<S: Source + ?Sized>(
    r: &mut Reader<'_, S>,
    l: Layout,
    offset: u64,
    len: u64,
    align: u64,
) -> Result<Option<BuildId>, NoteError> {
    if len == 0 {
        return Ok(None);
    }
    if len > NOTES_MAX {
        return Err(Malformed::NotesTooLarge.into());
    }
    let data = r.read(offset, len)?;
    Ok(find_note(&data, l, if align == 8 { 8 } else { 4 })?)
}

/// Walks the notes in `data`; trailing bytes too short for a note header
/// end the walk (padding).
fn find_note(data: &[u8], l: Layout, align: usize) -> Result<Option<BuildId>, Malformed> {
    let up = |n: usize| n.checked_add(align - 1).map(|n| n & !(align - 1));
    let mut go = None;
    let mut at = 0usize;
    while data.len().saturating_sub(at) >= 12 {
        let namesz = l.u32(data, at) as usize;
        let descsz = l.u32(data, at + 4) as usize;
        let kind = l.u32(data, at + 8);
        let name_at = at + 12;
        let name_end = name_at.checked_add(namesz).ok_or(Malformed::BadNote)?;
        let desc_at = up(name_end).ok_or(Malformed::BadNote)?;
        let desc_end = desc_at.checked_add(descsz).ok_or(Malformed::BadNote)?;
        if name_end > data.len() || desc_end > data.len() {
            return Err(Malformed::BadNote);
        }
        let which = match (&data[name_at..name_end], kind) {
            (b"GNU\0", NT_GNU_BUILD_ID) => Some(IdKind::Gnu),
            (b"Go\0\0", NT_GO_BUILD_ID) => Some(IdKind::Go),
            _ => None,
        };
        if let Some(kind) = which {
            if descsz == 0 || descsz > BUILD_ID_MAX {
                return Err(Malformed::BadBuildId);
            }
            let id = BuildId {
                kind,
                bytes: data[desc_at..desc_end].to_vec(),
            };
            if kind == IdKind::Gnu {
                return Ok(Some(id));
            }
            go = go.or(Some(id));
        }
        match up(desc_end) {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok(go)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE64: Layout = Layout { big: false };

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend((name.len() as u32).to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(kind.to_le_bytes());
        n.extend(name);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n.extend(desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    const ID: [u8; 20] = [
        0xc2, 0x5f, 0x9c, 0x0f, 0xf3, 0xfe, 0xc8, 0xef, 0x45, 0xb7, 0x98, 0x8d, 0x08, 0xc7, 0x47,
        0x7d, 0x44, 0x06, 0xb9, 0x88,
    ];

    /// A small ELF64 little-endian file: header, two program headers
    /// (PT_LOAD, PT_NOTE), the notes, then one SHT_NOTE section header.
    /// Returns the bytes and where the PT_NOTE header and the section
    /// header table are.
    fn elf64(notes: &[u8]) -> (Vec<u8>, usize, usize) {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&3u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&1u16.to_le_bytes());
        let notes_at = 64 + 2 * 56;
        let mut load = vec![0u8; 56];
        load[..4].copy_from_slice(&1u32.to_le_bytes());
        f.extend(&load);
        let note_ph = f.len();
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&PT_NOTE.to_le_bytes());
        ph[8..16].copy_from_slice(&(notes_at as u64).to_le_bytes());
        ph[32..40].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        ph[48..56].copy_from_slice(&4u64.to_le_bytes());
        f.extend(&ph);
        f.extend(notes);
        let shoff = f.len();
        f[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
        let mut sh = vec![0u8; 64];
        sh[4..8].copy_from_slice(&SHT_NOTE.to_le_bytes());
        sh[24..32].copy_from_slice(&(notes_at as u64).to_le_bytes());
        sh[32..40].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        sh[48..56].copy_from_slice(&4u64.to_le_bytes());
        f.extend(&sh);
        (f, note_ph, shoff)
    }

    fn id_of(f: &[u8]) -> Result<Option<BuildId>, NoteError> {
        build_id(f, f.len() as u64)
    }

    fn malformed(f: &[u8]) -> Malformed {
        match id_of(f) {
            Err(NoteError::Malformed(m)) => m,
            other => panic!("not malformed: {other:?}"),
        }
    }

    fn gnu() -> Vec<u8> {
        let mut n = note(b"GNU\0", 5, &[0; 16]); // a property-like note first
        n.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &ID));
        n
    }

    #[test]
    fn reads_the_gnu_build_id_of_a_well_formed_file() {
        let (f, ..) = elf64(&gnu());
        let id = id_of(&f).expect("read").expect("an id");
        assert_eq!(id.kind, IdKind::Gnu);
        assert_eq!(id.bytes, ID);
        assert_eq!(id.to_string(), "c25f9c0ff3fec8ef45b7988d08c7477d4406b988");
        // Bytes appended and a byte patched past the headers: the same.
        let mut g = f.clone();
        g.extend([0u8; 1000]);
        assert_eq!(id_of(&g).expect("read"), Some(id.clone()));
        assert_eq!(elf_key(&f), elf_key(&g));
    }

    #[test]
    fn a_go_build_id_is_taken_and_a_gnu_one_preferred() {
        let go_id = b"wnWST0hslfaQxEmacuR9/xLG9y0HDN3XRY_BztmV-";
        let (f, ..) = elf64(&note(b"Go\0\0", NT_GO_BUILD_ID, go_id));
        let id = id_of(&f).expect("read").expect("an id");
        assert_eq!((id.kind, &id.bytes[..]), (IdKind::Go, &go_id[..]));
        assert!(id.to_string().starts_with("go:776e5753"));
        let mut both = note(b"Go\0\0", NT_GO_BUILD_ID, go_id);
        both.extend(gnu());
        let (f, ..) = elf64(&both);
        assert_eq!(id_of(&f).expect("read").expect("id").kind, IdKind::Gnu);
    }

    #[test]
    fn no_build_id_is_none_and_the_sections_are_a_fallback() {
        let (f, ..) = elf64(&note(b"GNU\0", 1, &[0; 16]));
        assert_eq!(id_of(&f).expect("read"), None);
        // The PT_NOTE header turned into PT_NULL: the section still has it.
        let (mut f, ph, _) = elf64(&gnu());
        f[ph..ph + 4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(id_of(&f).expect("read").expect("id").bytes, ID);
        // And without sections either: none.
        f[40..48].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(id_of(&f).expect("read"), None);
    }

    #[test]
    fn big_endian_elf32_is_read() {
        let mut f = vec![0u8; 52];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 1;
        f[5] = 2;
        f[28..32].copy_from_slice(&52u32.to_be_bytes());
        f[42..44].copy_from_slice(&32u16.to_be_bytes());
        f[44..46].copy_from_slice(&1u16.to_be_bytes());
        let notes_at = 52 + 32;
        let mut ph = vec![0u8; 32];
        ph[..4].copy_from_slice(&PT_NOTE.to_be_bytes());
        ph[4..8].copy_from_slice(&(notes_at as u32).to_be_bytes());
        let mut n = Vec::new();
        n.extend(4u32.to_be_bytes());
        n.extend(8u32.to_be_bytes());
        n.extend(NT_GNU_BUILD_ID.to_be_bytes());
        n.extend(b"GNU\0");
        n.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        ph[16..20].copy_from_slice(&(n.len() as u32).to_be_bytes());
        f.extend(ph);
        f.extend(n);
        let id = id_of(&f).expect("read").expect("id");
        assert_eq!(id.bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn hostile_headers_are_refused_with_a_flag() {
        let (good, ph, shoff) = elf64(&gnu());
        let with = |at: usize, bytes: &[u8]| {
            let mut f = good.clone();
            f[at..at + bytes.len()].copy_from_slice(bytes);
            f
        };
        assert_eq!(malformed(b"#!/bin/sh\n"), Malformed::NotElf);
        assert_eq!(malformed(b""), Malformed::NotElf);
        assert_eq!(malformed(&good[..5]), Malformed::Truncated);
        assert_eq!(malformed(&good[..40]), Malformed::Truncated);
        assert_eq!(malformed(&with(4, &[3])), Malformed::BadClass);
        assert_eq!(malformed(&with(5, &[0])), Malformed::BadClass);
        assert_eq!(
            malformed(&with(54, &0u16.to_le_bytes())),
            Malformed::HeaderSize
        );
        assert_eq!(
            malformed(&with(54, &57u16.to_le_bytes())),
            Malformed::HeaderSize
        );
        // A huge count (PN_XNUM included): refused before any read.
        assert_eq!(
            malformed(&with(56, &0xffffu16.to_le_bytes())),
            Malformed::TooManyHeaders
        );
        assert_eq!(
            malformed(&with(56, &74u16.to_le_bytes())),
            Malformed::TooManyHeaders
        );
        // The table past the end, or at an offset that overflows.
        assert_eq!(
            malformed(&with(32, &(good.len() as u64).to_le_bytes())),
            Malformed::OutOfFile
        );
        assert_eq!(
            malformed(&with(32, &u64::MAX.to_le_bytes())),
            Malformed::OutOfFile
        );
        // The note segment: past the end, overflowing, or enormous.
        assert_eq!(
            malformed(&with(ph + 8, &(u64::MAX - 2).to_le_bytes())),
            Malformed::OutOfFile
        );
        assert_eq!(
            malformed(&with(ph + 32, &u64::MAX.to_le_bytes())),
            Malformed::NotesTooLarge
        );
        assert_eq!(
            malformed(&with(ph + 32, &(NOTES_MAX - 1).to_le_bytes())),
            Malformed::OutOfFile
        );
        // The section fallback, with a bad table.
        let no_ph = with(ph, &0u32.to_le_bytes());
        let mut f = no_ph.clone();
        f[60..62].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(malformed(&f), Malformed::TooManyHeaders);
        let mut f = no_ph.clone();
        f[58..60].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(malformed(&f), Malformed::HeaderSize);
        let mut f = no_ph;
        f[shoff + 32..shoff + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert_eq!(malformed(&f), Malformed::NotesTooLarge);
    }

    #[test]
    fn hostile_notes_are_refused_with_a_flag() {
        let bad = |n: Vec<u8>| malformed(&elf64(&n).0);
        // A name size running past the segment, or near u32::MAX.
        let mut n = note(b"GNU\0", NT_GNU_BUILD_ID, &ID);
        n[..4].copy_from_slice(&200u32.to_le_bytes());
        assert_eq!(bad(n.clone()), Malformed::BadNote);
        n[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(bad(n), Malformed::BadNote);
        let mut n = note(b"GNU\0", NT_GNU_BUILD_ID, &ID);
        n[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(bad(n), Malformed::BadNote);
        // A build ID of no length, or longer than the cap.
        assert_eq!(
            bad(note(b"GNU\0", NT_GNU_BUILD_ID, &[])),
            Malformed::BadBuildId
        );
        assert_eq!(
            bad(note(b"GNU\0", NT_GNU_BUILD_ID, &[7; BUILD_ID_MAX + 1])),
            Malformed::BadBuildId
        );
        // Trailing padding shorter than a note header is no error.
        let mut n = gnu();
        n.extend([0u8; 8]);
        assert_eq!(find_note(&n, LE64, 4).expect("read").expect("id").bytes, ID);
        // An 8-aligned segment (.note.gnu.property's) pads each note to 8:
        // a 4-byte descriptor takes 8, and the build ID starts after them.
        let mut n = Vec::new();
        n.extend(4u32.to_le_bytes());
        n.extend(4u32.to_le_bytes());
        n.extend(5u32.to_le_bytes());
        n.extend(b"GNU\0");
        n.extend([1u8, 2, 3, 4, 0, 0, 0, 0]);
        n.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &ID));
        assert_eq!(find_note(&n, LE64, 8).expect("read").expect("id").bytes, ID);
    }

    #[test]
    fn the_reads_stay_under_the_cap() {
        // Many note segments of nearly the cap each, all in the file.
        let per = NOTES_MAX as usize;
        let count = 8usize;
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(count as u16).to_le_bytes());
        let data_at = 64 + 56 * count;
        for i in 0..count {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&PT_NOTE.to_le_bytes());
            ph[8..16].copy_from_slice(&((data_at + i * per) as u64).to_le_bytes());
            ph[32..40].copy_from_slice(&(per as u64).to_le_bytes());
            f.extend(ph);
        }
        f.resize(data_at + count * per, 0);
        assert_eq!(malformed(&f), Malformed::ReadCap);
    }

    /// Random damage to a good file never panics, and any answer is one of
    /// the three (a deterministic generator: the same cases every run).
    #[test]
    fn random_damage_never_panics() {
        let (good, ..) = elf64(&gnu());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut outcomes = [0usize; 3];
        for _ in 0..20_000 {
            let mut f = good.clone();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() % f.len() as u64) as usize;
                f[at] = next() as u8;
            }
            if next() % 8 == 0 {
                f.truncate((next() % f.len() as u64) as usize);
            }
            match id_of(&f) {
                Ok(Some(_)) => outcomes[0] += 1,
                Ok(None) => outcomes[1] += 1,
                Err(NoteError::Malformed(_)) => outcomes[2] += 1,
                Err(NoteError::Io(e)) => panic!("a slice never fails to read: {e}"),
            }
        }
        assert!(outcomes.iter().all(|n| *n > 0), "{outcomes:?}");
    }

    #[test]
    fn the_key_masks_what_the_loader_ignores() {
        let (f, ..) = elf64(&gnu());
        let k = elf_key(&f);
        // e_shoff, e_flags, the ABI padding and the section counts: ignored.
        let mut g = f.clone();
        g[40..48].copy_from_slice(&0u64.to_le_bytes());
        g[48..52].copy_from_slice(&7u32.to_le_bytes());
        g[7..16].copy_from_slice(&[9; 9]);
        g[60..64].copy_from_slice(&[0xff; 4]);
        // A program header's flags, physical address, memory size and
        // alignment: ignored too.
        g[64 + 4] = 7;
        g[64 + 24..64 + 32].copy_from_slice(&[0xee; 8]);
        g[64 + 40..64 + 48].copy_from_slice(&[0xdd; 8]);
        g[64 + 48..64 + 56].copy_from_slice(&[0xcc; 8]);
        assert_eq!(elf_key(&g), k);
        // The entry point, a PT_LOAD's file size past its page and its
        // type: counted.
        let mut g = f.clone();
        g[24] ^= 1;
        assert_ne!(elf_key(&g), k);
        let mut g = f.clone();
        g[64 + 32] ^= 1;
        assert_ne!(elf_key(&g), k);
        let mut g = f.clone();
        g[64] ^= 1;
        assert_ne!(elf_key(&g), k);
        // A note's header is no part of the key, its type neither.
        let mut g = f.clone();
        g[120] ^= 1;
        g[128] ^= 1;
        assert_eq!(elf_key(&g), k);
        // A file shorter than the key: zero past its end, like bprm->buf.
        assert_eq!(elf_key(&f[..100]), {
            let mut z = f[..100].to_vec();
            z.resize(ELF_KEY_LEN, 0);
            elf_key(&z)
        });
        assert_eq!(key_of(&b"#!/bin/sh\n"[..]).expect("read"), None);
        assert_eq!(key_of(&f[..]).expect("read"), Some(k));
    }

    /// The reader agrees with binutils on a real installer.
    #[test]
    fn dpkgs_build_id_is_what_readelf_says() {
        let f = File::open("/usr/bin/dpkg").expect("dpkg");
        let size = f.metadata().expect("stat").len();
        let id = build_id(&f, size)
            .expect("read")
            .expect("dpkg has a build id");
        let out = std::process::Command::new("readelf")
            .args(["-n", "/usr/bin/dpkg"])
            .output()
            .expect("readelf (binutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .expect("readelf shows a build id");
        assert_eq!(id.to_string(), want);
    }
}
