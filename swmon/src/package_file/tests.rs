//! The parsers on files built here byte by byte (so that every field can
//! be made hostile), then on thousands of random mutations of them: every
//! answer is an identity or a rejection, never a panic.

use std::io::{Cursor, Write};

use super::{read, Format, Identity, Rejected};

fn id(name: &str, version: &str) -> Identity {
    Identity {
        name: name.into(),
        version: Some(version.into()),
    }
}

/// One ustar member.
fn tar_member(out: &mut Vec<u8>, path: &str, body: &[u8]) {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", body.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (p, b) in members {
        tar_member(&mut out, p, b);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, body) in members {
        let h = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            100644,
            body.len()
        );
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

const CONTROL: &[u8] = b"Package: alpha\nVersion: 1:2.0-3\nArchitecture: all\nDescription: x\n y\n";

fn deb(compression: &str) -> Vec<u8> {
    let control = tar(&[("./control", CONTROL)]);
    let member = match compression {
        ".gz" => gzip(&control),
        ".xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&control).unwrap();
            e.finish().unwrap()
        }
        "" => control,
        _ => unreachable!(),
    };
    ar(&[
        ("debian-binary", b"2.0\n"),
        (&format!("control.tar{compression}"), &member),
        ("data.tar.gz", &gzip(&tar(&[]))),
    ])
}

fn rpm_header(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, kind, bytes) in entries {
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&kind.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(bytes);
    }
    let mut out = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(&data);
    out
}

fn rpm(epoch: Option<u32>) -> Vec<u8> {
    let mut out = vec![0xed, 0xab, 0xee, 0xdb];
    out.resize(96, 0);
    let sig = rpm_header(&[(1000, 7, vec![1, 2, 3])]);
    out.extend_from_slice(&sig);
    out.resize(out.len().div_ceil(8) * 8, 0);
    let mut main = vec![
        (1000, 6, b"beta\0".to_vec()),
        (1001, 6, b"4.5\0".to_vec()),
        (1002, 6, b"6.el9\0".to_vec()),
    ];
    if let Some(e) = epoch {
        main.push((1003, 4, e.to_be_bytes().to_vec()));
    }
    out.extend_from_slice(&rpm_header(&main));
    out
}

fn zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dir = Vec::new();
    for (name, body, deflate) in members {
        let data = if *deflate {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        } else {
            body.to_vec()
        };
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);
        dir.extend_from_slice(b"PK\x01\x02");
        dir.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        dir.extend_from_slice(&method.to_le_bytes());
        dir.extend_from_slice(&[0; 8]);
        dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(body.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(name.len() as u16).to_le_bytes());
        dir.extend_from_slice(&[0; 12]);
        dir.extend_from_slice(&offset.to_le_bytes());
        dir.extend_from_slice(name.as_bytes());
    }
    let dir_offset = out.len() as u32;
    out.extend_from_slice(&dir);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: gamma\nVersion: 7.8.9\n\nlong description\n";

fn wheel() -> Vec<u8> {
    zip(&[
        ("gamma/__init__.py", b"", false),
        ("gamma-7.8.9.dist-info/METADATA", METADATA, true),
    ])
}

fn sdist() -> Vec<u8> {
    gzip(&tar(&[
        ("delta-0.1/setup.py", b"x"),
        (
            "delta-0.1/PKG-INFO",
            b"Metadata-Version: 2.1\nName: delta\nVersion: 0.1\n",
        ),
    ]))
}

fn npm() -> Vec<u8> {
    gzip(&tar(&[(
        "package/package.json",
        br#"{"name": "@scope/epsilon", "version": "3.2.1", "main": "x.js"}"#,
    )]))
}

fn parse(format: Format, bytes: &[u8]) -> Result<Identity, Rejected> {
    read(format, &mut Cursor::new(bytes))
}

#[test]
fn real_identities() {
    for c in ["", ".gz", ".xz"] {
        assert_eq!(
            parse(Format::Deb, &deb(c)).unwrap(),
            id("alpha", "1:2.0-3"),
            "{c}"
        );
    }
    assert_eq!(
        parse(Format::Rpm, &rpm(None)).unwrap(),
        id("beta", "4.5-6.el9")
    );
    assert_eq!(
        parse(Format::Rpm, &rpm(Some(2))).unwrap(),
        id("beta", "2:4.5-6.el9")
    );
    assert_eq!(
        parse(Format::Wheel, &wheel()).unwrap(),
        id("gamma", "7.8.9")
    );
    assert_eq!(parse(Format::Sdist, &sdist()).unwrap(), id("delta", "0.1"));
    assert_eq!(
        parse(Format::NpmTarball, &npm()).unwrap(),
        id("@scope/epsilon", "3.2.1")
    );
}

#[test]
fn zstd_control() {
    let control = tar(&[("./control", CONTROL)]);
    let member = ruzstd::encoding::compress_to_vec(
        &control[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let d = ar(&[("debian-binary", b"2.0\n"), ("control.tar.zst", &member)]);
    assert_eq!(parse(Format::Deb, &d).unwrap(), id("alpha", "1:2.0-3"));
}

fn flag(format: Format, bytes: &[u8]) -> &'static str {
    match parse(format, bytes) {
        Ok(i) => panic!("{format:?} accepted: {i:?}"),
        Err(e) => e.flag(),
    }
}

#[test]
fn hostile_files_are_rejected_with_a_flag() {
    // Wrong kinds of file.
    for f in [
        Format::Deb,
        Format::Rpm,
        Format::Wheel,
        Format::Sdist,
        Format::NpmTarball,
    ] {
        assert!(parse(f, b"").is_err());
        assert!(parse(f, b"#!/bin/sh\nrm -rf /\n").is_err());
    }
    // A control member claiming to be huge.
    let mut d = b"!<arch>\n".to_vec();
    d.extend_from_slice(
        format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            "control.tar.gz", 0, 0, 0, 0, 9_999_999_999u64
        )
        .as_bytes(),
    );
    assert_eq!(flag(Format::Deb, &d), "over-limit");
    // A gzip bomb inside the control member: inflation stops at the cap.
    let bomb = gzip(&vec![0u8; (super::MAX_INFLATED + 4096) as usize]);
    let d = ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &bomb)]);
    assert_eq!(flag(Format::Deb, &d), "over-limit");
    let d = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &gzip(&tar(&[("./md5sums", b"")]))),
    ]);
    assert_eq!(flag(Format::Deb, &d), "no-metadata");
    // A control file with a control character in the name.
    let bad = tar(&[("./control", b"Package: a\x1b[31m\nVersion: 1\n")]);
    let d = ar(&[("debian-binary", b"2.0\n"), ("control.tar", &bad)]);
    assert_eq!(flag(Format::Deb, &d), "malformed");
    // rpm: entry counts and data sizes past rpm's own limits, bad offsets.
    let mut r = rpm(None);
    let main = r.len()
        - rpm_header(&[
            (1000, 6, b"beta\0".to_vec()),
            (1001, 6, b"4.5\0".to_vec()),
            (1002, 6, b"6.el9\0".to_vec()),
        ])
        .len();
    let mut huge = r.clone();
    huge[main + 8..main + 12].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
    assert_eq!(flag(Format::Rpm, &huge), "over-limit");
    let mut offset = r.clone();
    offset[main + 16 + 8..main + 16 + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert_eq!(flag(Format::Rpm, &offset), "malformed");
    r.truncate(r.len() - 3);
    assert_eq!(flag(Format::Rpm, &r), "malformed");
    // A wheel whose METADATA claims a size past the cap, a zip64 marker.
    let mut w = wheel();
    let n = w.len();
    w[n - 6..n - 2].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    assert_eq!(flag(Format::Wheel, &w), "malformed");
    let nested = zip(&[("x/gamma-1.dist-info/METADATA", METADATA, false)]);
    assert_eq!(flag(Format::Wheel, &nested), "no-metadata");
    // An npm tarball whose package.json is not JSON, or names no package.
    let t = gzip(&tar(&[("package/package.json", b"{not json")]));
    assert_eq!(flag(Format::NpmTarball, &t), "malformed");
    let t = gzip(&tar(&[("package/package.json", br#"{"version": "1"}"#)]));
    assert_eq!(flag(Format::NpmTarball, &t), "no-metadata");
    // A tar header with a wrong checksum.
    let mut t = tar(&[("package/package.json", b"{}")]);
    t[0] ^= 1;
    assert_eq!(flag(Format::NpmTarball, &gzip(&t)), "malformed");
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
}

#[test]
fn mutated_files_never_panic() {
    let seeds: Vec<(Format, Vec<u8>)> = vec![
        (Format::Deb, deb("")),
        (Format::Deb, deb(".gz")),
        (Format::Deb, deb(".xz")),
        (Format::Rpm, rpm(Some(1))),
        (Format::Wheel, wheel()),
        (Format::Sdist, sdist()),
        (Format::NpmTarball, npm()),
    ];
    let mut rng = Rng(0x5eed_f11e);
    for (format, seed) in &seeds {
        for _ in 0..400 {
            let mut b = seed.clone();
            for _ in 0..=rng.below(8) {
                match rng.below(4) {
                    0 if !b.is_empty() => {
                        let i = rng.below(b.len());
                        b[i] = rng.next() as u8;
                    }
                    1 if !b.is_empty() => {
                        let i = rng.below(b.len());
                        b[i] = [0, 0xff, b'0', b'7', b' '][rng.below(5)];
                    }
                    2 => b.truncate(rng.below(b.len() + 1)),
                    _ => {
                        let i = rng.below(b.len() + 1);
                        b.insert(i, rng.next() as u8);
                    }
                }
            }
            let _ = parse(*format, &b);
        }
    }
}

#[test]
fn classify_reports_the_identity_read_and_what_was_typed() {
    use super::Reader;
    let dir = std::env::temp_dir().join(format!("swmon-pf-cl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("renamed_9_all.deb"), deb(".xz")).unwrap();
    std::fs::write(dir.join("junk.deb"), b"not a deb").unwrap();
    let argv: Vec<&[u8]> = vec![
        b"dpkg",
        b"-i",
        b"renamed_9_all.deb",
        b"./junk.deb",
        b"gone.deb",
    ];
    let reader = Reader {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    };
    let e = crate::classify::command::explain_reading_files(
        &argv,
        Some(dir.as_os_str().as_encoded_bytes()),
        reader,
    );
    let j = e.json();
    assert_eq!(
        j["packages"],
        serde_json::json!([
            {"name": "alpha", "version": "1:2.0-3"},
            {"name": "./junk.deb"},
            {"name": "gone.deb"}
        ]),
        "{j}"
    );
    assert_eq!(j["requested"], serde_json::json!(["renamed_9_all.deb"]));
    assert_eq!(j["package_files"][1]["rejected"], "bad-magic");
    assert_eq!(j["package_files"][2]["rejected"], "open-failed");
    assert!(e.text().contains("alpha 1:2.0-3"), "{}", e.text());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn formats_by_manager_and_extension() {
    use crate::catalogue::Manager as M;
    assert_eq!(Format::of(M::Dpkg, b"/tmp/x/alpha.deb"), Some(Format::Deb));
    assert_eq!(Format::of(M::Apt, b"./A.DEB"), Some(Format::Deb));
    assert_eq!(Format::of(M::Rpm, b"x.rpm"), Some(Format::Rpm));
    assert_eq!(
        Format::of(M::Pip, b"x-1-py3-none-any.whl"),
        Some(Format::Wheel)
    );
    assert_eq!(Format::of(M::Pip, b"x-1.tar.gz"), Some(Format::Sdist));
    assert_eq!(Format::of(M::Npm, b"./x.tgz"), Some(Format::NpmTarball));
    assert_eq!(Format::of(M::Dpkg, b"x.rpm"), None);
    assert_eq!(Format::of(M::Dpkg, b".deb"), None);
    assert_eq!(Format::of(M::Cargo, b"x.tgz"), None);
}

#[test]
fn open_refuses_what_is_not_a_readable_regular_file() {
    use super::{open, Reader};
    let dir = std::env::temp_dir().join(format!("swmon-pf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("a.deb");
    std::fs::write(&file, deb(".gz")).unwrap();
    let root = Reader { uid: 0, gid: 0 };
    let dir_bytes = dir.as_os_str().as_encoded_bytes();
    // Relative to the run's working folder, or absolute.
    let mut f = open(Some(dir_bytes), b"a.deb", root).unwrap();
    assert_eq!(read(Format::Deb, &mut f).unwrap(), id("alpha", "1:2.0-3"));
    assert!(open(None, file.as_os_str().as_encoded_bytes(), root).is_ok());
    assert_eq!(
        open(None, b"a.deb", root).unwrap_err().flag(),
        "open-failed"
    );
    // A symbolic link as the last component.
    std::os::unix::fs::symlink(&file, dir.join("link.deb")).unwrap();
    assert_eq!(
        open(Some(dir_bytes), b"link.deb", root).unwrap_err().flag(),
        "open-failed"
    );
    // A FIFO: refused at once, without blocking on a writer.
    let fifo = dir.join("fifo.deb");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    assert_eq!(
        open(Some(dir_bytes), b"fifo.deb", root).unwrap_err().flag(),
        "not-regular"
    );
    // A device and a folder.
    assert_eq!(
        open(None, b"/dev/zero", root).unwrap_err().flag(),
        "not-regular"
    );
    assert_eq!(
        open(None, dir_bytes, root).unwrap_err().flag(),
        "not-regular"
    );
    // A file its mode keeps from the run's user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other = Reader {
        uid: 4242,
        gid: 4242,
    };
    assert_eq!(
        open(Some(dir_bytes), b"a.deb", other).unwrap_err().flag(),
        "not-readable-by-user"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fuzzer's finds, kept: first byte the format, as in the target.
#[test]
fn fuzz_finds_are_rejected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/package_file");
    // A .deb whose control.tar.xz has an xz index size at u32::MAX: the
    // pure-Rust lzma-rs 0.3 overflowed an add on it (a panic in a debug
    // build), liblzma rejects it.
    let data = std::fs::read(dir.join("xz-index-overflow.bin")).unwrap();
    let (&pick, file) = data.split_first().unwrap();
    assert_eq!(pick % 5, 0, "a .deb");
    assert!(parse(Format::Deb, file).is_err());
}
