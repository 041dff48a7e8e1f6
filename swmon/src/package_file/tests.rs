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

/// A `.gem` as `gem build` lays it out: a plain tar of gzipped members.
fn gem() -> Vec<u8> {
    gem_with(b"--- !ruby/object:Gem::Specification\nname: zeta\nversion: !ruby/object:Gem::Version\n  version: 0.4.2\nplatform: ruby\n")
}

fn gem_with(spec: &[u8]) -> Vec<u8> {
    tar(&[
        ("metadata.gz", &gzip(spec)),
        ("data.tar.gz", &gzip(&tar(&[("lib/zeta.rb", b"")]))),
        ("checksums.yaml.gz", &gzip(b"---\n")),
    ])
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
    assert_eq!(parse(Format::Gem, &gem()).unwrap(), id("zeta", "0.4.2"));
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
        Format::Gem,
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
    // A .gem with no specification, one that is no gzip, one naming no
    // gem, one whose name holds a control character, a gzip bomb.
    let g = tar(&[("data.tar.gz", &gzip(b""))]);
    assert_eq!(flag(Format::Gem, &g), "no-metadata");
    let g = tar(&[("metadata.gz", b"name: x\n")]);
    assert_eq!(flag(Format::Gem, &g), "malformed");
    assert_eq!(flag(Format::Gem, &gem_with(b"version: 1\n")), "no-metadata");
    assert_eq!(
        flag(Format::Gem, &gem_with(b"name: a\x1b[31m\nversion: 1\n")),
        "malformed"
    );
    // RubyGems reads an uncompressed `metadata` member too (the later one
    // wins) and a repeated key's last value: refused, flagged.
    let spec = b"name: zeta\nversion: '1'\n";
    for g in [
        tar(&[("metadata.gz", &gzip(spec)), ("metadata", spec)]),
        tar(&[("metadata", spec), ("metadata.gz", &gzip(spec))]),
        tar(&[("metadata.gz", &gzip(spec)), ("metadata.gz", &gzip(spec))]),
        gem_with(b"name: benign\nname: zeta\n"),
        // Names RubyGems reads as `metadata.gz` (`unpack("A100")` strips
        // trailing spaces) or that a reader stopping at a NUL would.
        tar(&[("metadata.gz", &gzip(spec)), ("metadata.gz ", &gzip(spec))]),
        tar(&[("metadata.gz\0x", &gzip(spec))]),
    ] {
        assert_eq!(flag(Format::Gem, &g), "malformed");
    }
    // A prefix without the ustar magic is still RubyGems' prefix: that
    // member is `x/metadata.gz`, and the one named `metadata.gz ` is read.
    let mut t = tar(&[
        ("metadata.gz", &gzip(b"name: benign\n")),
        ("metadata.gz ", &gzip(b"name: zeta\nversion: '1'\n")),
    ]);
    t[257..265].fill(0);
    t[345] = b'x';
    t[148..156].copy_from_slice(b"        ");
    let sum: u32 = t[..512].iter().map(|&b| u32::from(b)).sum();
    t[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    assert_eq!(parse(Format::Gem, &t).unwrap(), id("zeta", "1"));
    let bomb = gzip(&vec![b'#'; (super::MAX_MEMBER + 4096) as usize]);
    assert_eq!(
        flag(Format::Gem, &tar(&[("metadata.gz", &bomb)])),
        "over-limit"
    );
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
        (Format::Gem, gem()),
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

/// A scratch folder, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("swmon-pf-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        // Folders a test closed to everyone: opened again to be removed.
        for e in walk(&self.0) {
            let _ = std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o755));
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

fn install() -> crate::classify::Operation {
    crate::classify::Operation::Install
}

fn dpkg_i(operands: &[&str]) -> Vec<Vec<u8>> {
    let mut v = vec![b"-i".to_vec()];
    v.extend(operands.iter().map(|o| o.as_bytes().to_vec()));
    v
}

/// Reads `operands` of a `dpkg -i` as `place` sees them; name or flag each.
fn read_in(place: super::Place, operands: &[&str], cut: bool) -> Vec<String> {
    super::read_operands(
        crate::catalogue::Manager::Dpkg,
        install(),
        &dpkg_i(operands),
        Ok(place),
        cut,
    )
    .iter()
    .map(|f| match &f.identity {
        Ok(i) => i.name.clone(),
        Err(r) => r.flag.to_string(),
    })
    .collect()
}

fn deb_named(name: &str) -> Vec<u8> {
    let control = format!("Package: {name}\nVersion: 1.0\nArchitecture: all\n");
    ar(&[
        ("debian-binary", b"2.0\n"),
        (
            "control.tar.gz",
            &gzip(&tar(&[("./control", control.as_bytes())])),
        ),
        ("data.tar.gz", &gzip(&tar(&[]))),
    ])
}

#[test]
fn classify_reports_the_identity_read_and_what_was_typed() {
    let s = Scratch::new("cl");
    let dir = &s.0;
    std::fs::write(dir.join("renamed_9_all.deb"), deb(".xz")).unwrap();
    std::fs::write(dir.join("junk.deb"), b"not a deb").unwrap();
    let argv: Vec<&[u8]> = vec![
        b"dpkg",
        b"-i",
        b"renamed_9_all.deb",
        b"./junk.deb",
        b"gone.deb",
    ];
    let e = crate::classify::command::explain_reading_files(&argv, || {
        Ok(super::Place::at(dir, dir, None))
    });
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
    let files = &j["package_files"];
    assert_eq!(files[1]["rejected"], "bad-magic");
    assert_eq!(files[2]["rejected"], "open-failed");
    // What was read, so a file swapped later shows.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir.join("renamed_9_all.deb")).unwrap();
    assert_eq!(files[0]["ino"], meta.ino());
    assert_eq!(files[0]["dev"], meta.dev());
    assert_eq!(files[0]["size"], meta.len());
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(deb(".xz"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(files[0]["sha256"], digest);
    // The errno is not in the event (an existence oracle).
    assert_eq!(files[2]["reason"], "can't open it");
    assert!(e.text().contains("alpha 1:2.0-3"), "{}", e.text());
    // Not an install: nothing is read.
    let e = crate::classify::command::explain_reading_files(
        &[b"dpkg", b"-c", b"renamed_9_all.deb"],
        || Ok(super::Place::at(dir, dir, None)),
    );
    assert!(e.files.is_empty());
}

#[test]
fn a_file_colon_tarball_and_a_renamed_gem_are_read() {
    let s = Scratch::new("fc");
    let dir = &s.0;
    std::fs::write(dir.join("bundle.tgz"), npm()).unwrap();
    std::fs::write(dir.join("x.gem"), gem()).unwrap();
    let packages = |argv: &[&[u8]]| {
        let e = crate::classify::command::explain_reading_files(argv, || {
            Ok(super::Place::at(dir, dir, None))
        });
        e.json()["packages"].clone()
    };
    for argv in [
        &[&b"yarn"[..], b"add", b"file:bundle.tgz"][..],
        &[b"npm", b"install", b"file:./bundle.tgz"],
    ] {
        assert_eq!(
            packages(argv),
            serde_json::json!([{"name": "@scope/epsilon", "version": "3.2.1"}])
        );
    }
    assert_eq!(
        packages(&[b"gem", b"install", b"--local", b"./x.gem"]),
        serde_json::json!([{"name": "zeta", "version": "0.4.2"}])
    );
    // Only the node managers' tarballs take the prefix.
    assert_eq!(super::path_of(Format::Gem, b"file:x.gem"), b"file:x.gem");
}

#[test]
fn only_installs_and_upgrades_are_read() {
    use crate::classify::Operation;
    let s = Scratch::new("op");
    std::fs::write(s.0.join("a.deb"), deb(".gz")).unwrap();
    for (op, n) in [
        (Operation::Install, 1),
        (Operation::Upgrade, 1),
        (Operation::Query, 0),
        (Operation::Other, 0),
        (Operation::Remove, 0),
    ] {
        let got = super::read_operands(
            crate::catalogue::Manager::Dpkg,
            op,
            &dpkg_i(&["a.deb"]),
            Ok(super::Place::at(&s.0, &s.0, None)),
            false,
        );
        assert_eq!(got.len(), n, "{op:?}");
    }
}

/// Paths are the process's: beneath its root (a container's or a
/// chroot's `/tmp` is not the host's), through symbolic links resolved in
/// it, and `..` out of the working folder.
#[test]
fn paths_resolve_beneath_the_process_root() {
    let host = Scratch::new("host");
    let root = Scratch::new("root");
    // The same absolute path on the host and in the root: two files.
    let inside = root.0.join(host.0.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.join("sub")).unwrap();
    std::fs::write(host.0.join("p.deb"), deb_named("host-file")).unwrap();
    std::fs::write(inside.join("p.deb"), deb_named("inside")).unwrap();
    // A symbolic folder whose absolute target means the root's.
    std::os::unix::fs::symlink(&host.0, root.0.join("link")).unwrap();
    std::os::unix::fs::symlink("/../../..", root.0.join("up")).unwrap();
    let abs = host.0.join("p.deb");
    let abs = abs.to_str().unwrap();
    let place = || super::Place::at(&root.0, &inside.join("sub"), None);
    assert_eq!(
        read_in(
            place(),
            &[
                abs,
                "../p.deb",
                "/link/p.deb",
                "/up/link/p.deb",
                "../../../../../../p.deb"
            ],
            false
        ),
        ["inside", "inside", "inside", "inside", "open-failed"]
    );
    // A relative path from the working folder.
    let place = super::Place::at(&root.0, &inside, None);
    assert_eq!(
        read_in(place, &["p.deb", "./sub/../p.deb"], false),
        ["inside", "inside"]
    );
}

/// A process's working folder is the folder it is in, not its name: a
/// folder renamed and replaced after the exec does not move it.
#[test]
fn a_swapped_folder_does_not_move_the_run() {
    let s = Scratch::new("swap");
    let a = s.0.join("a");
    std::fs::create_dir(&a).unwrap();
    std::fs::write(a.join("p.deb"), deb_named("original")).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&a)
        .spawn()
        .unwrap();
    let proc_dir = std::fs::File::open(format!("/proc/{}", child.id())).unwrap();
    std::fs::rename(&a, s.0.join("b")).unwrap();
    std::fs::create_dir(&a).unwrap();
    std::fs::write(a.join("p.deb"), deb_named("swapped-in")).unwrap();
    let place = super::Place::of_process(proc_dir).unwrap();
    let got = read_in(place, &["p.deb", "../a/p.deb", "../b/p.deb"], false);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(got, ["original", "swapped-in", "original"]);
}

#[test]
fn a_gone_process_or_a_cut_cwd_reads_nothing() {
    let s = Scratch::new("gone");
    std::fs::write(s.0.join("p.deb"), deb_named("p")).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&s.0)
        .spawn()
        .unwrap();
    let proc_dir = std::fs::File::open(format!("/proc/{}", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let place = super::Place::of_process(proc_dir);
    assert_eq!(place.as_ref().unwrap_err().flag(), "process-gone");
    let got = super::read_operands(
        crate::catalogue::Manager::Dpkg,
        install(),
        &dpkg_i(&["p.deb"]),
        place,
        false,
    );
    assert_eq!(got[0].identity.as_ref().unwrap_err().flag, "process-gone");
    assert_eq!(got[0].stat, None);
    // The kernel's copy of the folder was cut: relative paths unread,
    // absolute ones read.
    let abs = s.0.join("p.deb");
    assert_eq!(
        read_in(
            super::Place::at(std::path::Path::new("/"), &s.0, None),
            &["p.deb", abs.to_str().unwrap()],
            true
        ),
        ["cwd-truncated", "p"]
    );
}

/// The open is made as the run's user: the kernel's verdict (folder
/// search permission included), with the owner class right.
#[test]
fn files_the_user_cannot_reach_give_a_flag_and_no_name() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("perm");
    let closed = s.0.join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::write(closed.join("p.deb"), deb_named("secret")).unwrap();
    std::fs::set_permissions(closed.join("p.deb"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Mode 0044, owned by the user: its owner may not read it.
    std::fs::write(s.0.join("own.deb"), deb_named("own")).unwrap();
    std::fs::set_permissions(s.0.join("own.deb"), std::fs::Permissions::from_mode(0o044)).unwrap();
    nix::unistd::chown(&s.0.join("own.deb"), Some(4242.into()), Some(0.into())).unwrap();
    std::fs::write(s.0.join("open.deb"), deb_named("open")).unwrap();
    let user = super::Creds {
        fsuid: 4242,
        fsgid: 4242,
        groups: vec![4243],
    };
    let got = super::read_operands(
        crate::catalogue::Manager::Dpkg,
        install(),
        &dpkg_i(&["closed/p.deb", "own.deb", "open.deb", "closed/none.deb"]),
        Ok(super::Place::at(&s.0, &s.0, Some(user))),
        false,
    );
    let flags: Vec<_> = got
        .iter()
        .map(|f| match &f.identity {
            Ok(i) => i.name.clone(),
            Err(r) => r.flag.to_string(),
        })
        .collect();
    // A folder it cannot search: the same flag whether the file is there.
    assert_eq!(
        flags,
        [
            "not-readable-by-user",
            "not-readable-by-user",
            "open",
            "not-readable-by-user"
        ]
    );
    let report = super::report(&got);
    assert!(report[0].get("name").is_none() && report[0].get("ino").is_none());
    // Root reads them all; this thread's own credentials were put back.
    let root = super::Creds {
        fsuid: 0,
        fsgid: 0,
        groups: vec![],
    };
    assert_eq!(
        read_in(
            super::Place::at(&s.0, &s.0, Some(root)),
            &["closed/p.deb", "own.deb"],
            false
        ),
        ["secret", "own"]
    );
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let me = super::place::parse_creds(status.as_bytes()).unwrap();
    assert_eq!((me.fsuid, me.fsgid), (0, 0));
}

/// swmon as another uid than 0 holding `CAP_DAC_READ_SEARCH` (a unit's
/// `User=` with `AmbientCapabilities=`): the kernel keeps that capability
/// effective across a switch between two non-zero fsuids, so the switch
/// takes it out itself, and puts it back after.
#[test]
fn a_non_root_swmon_opens_as_the_user_too() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("nonroot");
    let closed = s.0.join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::write(closed.join("p.deb"), deb_named("secret")).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(s.0.join("open.deb"), deb_named("open")).unwrap();
    let dir = s.0.clone();
    // A thread of its own: fsuid and capabilities are per thread.
    let (names, after) = std::thread::spawn(move || {
        let dac = caps::Capability::CAP_DAC_READ_SEARCH;
        // This thread as uid 65534 with the capability effective.
        // SAFETY: integer argument; changes this thread only.
        unsafe { libc::syscall(libc::SYS_setfsuid, 65534) };
        caps::raise(None, caps::CapSet::Effective, dac).unwrap();
        let user = super::Creds {
            fsuid: 4242,
            fsgid: 4242,
            groups: vec![],
        };
        let names = read_in(
            super::Place::at(&dir, &dir, Some(user)),
            &["closed/p.deb", "open.deb"],
            false,
        );
        let after = caps::has_cap(None, caps::CapSet::Effective, dac).unwrap();
        (names, after)
    })
    .join()
    .unwrap();
    assert_eq!(names, ["not-readable-by-user", "open"]);
    assert!(after, "CAP_DAC_READ_SEARCH put back");
}

#[test]
fn proc_status_credentials() {
    let text = b"Name:\tx\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\nGroups:\t27 100 \n";
    assert_eq!(
        super::place::parse_creds(text),
        Some(super::Creds {
            fsuid: 1003,
            fsgid: 8,
            groups: vec![27, 100]
        })
    );
    let none = b"Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nGroups:\n";
    assert_eq!(
        super::place::parse_creds(none).unwrap().groups,
        Vec::<u32>::new()
    );
    assert_eq!(super::place::parse_creds(b"Uid:\t1\n"), None);
}

/// A compressed stream that would make a parser read a whole big file
/// stops at the input cap.
#[test]
fn reads_stop_at_the_input_cap() {
    // An npm tarball whose package.json comes after 2 MiB of padding.
    let pad = vec![0u8; 2 << 20];
    let tgz = gzip(&tar(&[
        ("package/pad", &pad),
        ("package/package.json", br#"{"name":"x","version":"1"}"#),
    ]));
    assert!(parse(Format::NpmTarball, &tgz).is_ok());
    let mut capped = super::Capped {
        inner: Cursor::new(&tgz),
        left: 1000,
    };
    let e = read(Format::NpmTarball, &mut capped).unwrap_err();
    assert_eq!(e.flag(), "over-limit", "{e}");
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
    assert_eq!(Format::of(M::Gem, b"./x.gem"), Some(Format::Gem));
    assert_eq!(Format::of(M::Gem, b".gem"), None);
    assert_eq!(Format::of(M::Bundler, b"x.gem"), None);
}

#[test]
fn what_is_not_a_regular_file_is_refused() {
    let s = Scratch::new("kinds");
    let fifo = s.0.join("fifo.deb");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    std::fs::create_dir(s.0.join("dir.deb")).unwrap();
    std::os::unix::fs::symlink("/proc/self/root/etc/passwd", s.0.join("magic.deb")).unwrap();
    std::fs::write(s.0.join("a.deb"), deb(".gz")).unwrap();
    std::os::unix::fs::symlink("a.deb", s.0.join("link.deb")).unwrap();
    let root = || super::Place::at(std::path::Path::new("/"), &s.0, None);
    // A FIFO at once, without blocking on a writer; a device; a folder;
    // a link through /proc (refused, RESOLVE_NO_MAGICLINKS); a link in
    // the folder is followed as the installer would.
    assert_eq!(
        read_in(
            root(),
            &[
                "fifo.deb",
                "/dev/zero.deb",
                "dir.deb",
                "magic.deb",
                "link.deb"
            ],
            false
        ),
        [
            "not-regular",
            "open-failed",
            "not-regular",
            "open-failed",
            "alpha"
        ]
    );
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

/// What a mount namespace of its own shows: a FUSE mount nobody answers
/// (every lookup in it blocks) and one of another user (its statfs says
/// FUSE without asking the server). Both in a namespace of one thread, so
/// the host sees neither; the thread lives (and so its namespace and
/// mounts) until `end` is dropped.
struct Fuse {
    place_hung: super::Place,
    place_foreign: super::Place,
    /// The servers' ends; closing them aborts the connections, unless
    /// another process holds a copy (a test that forked meanwhile).
    devs: Vec<std::fs::File>,
    /// Dropping it ends the namespace's thread, which first aborts both
    /// connections through fusectl, whoever holds their ends: a worker
    /// stuck in a request (or a kernel audit lookup of the file) is
    /// released, never left in D state to hold the test binary's exit.
    end: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn fuse_mounts(dir: std::path::PathBuf) -> Fuse {
    let (tx, rx) = std::sync::mpsc::channel();
    let (end, ended) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;

        use nix::mount::{mount, MsFlags};
        // SAFETY: integer argument; this thread's namespace only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0);
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
        let mut devs = Vec::new();
        let mut connections = Vec::new();
        for (name, owner) in [("hung", 0), ("foreign", 4242)] {
            let target = dir.join(name);
            std::fs::create_dir(&target).unwrap();
            let dev = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/fuse")
                .unwrap();
            let data = format!(
                "fd={},rootmode=40000,user_id={owner},group_id={owner}",
                dev.as_raw_fd()
            );
            mount(
                Some("swmon-test"),
                &target,
                Some("fuse"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data.as_str()),
            )
            .unwrap();
            devs.push(dev);
            // A FUSE connection is named by its super block's minor, read
            // from this thread's mount table (a stat of the mount would
            // ask the server, which never answers).
            connections.push(fuse_minor(&target));
        }
        let (place_hung, place_foreign) = (
            super::Place::at(&dir, &dir, None),
            super::Place::at(&dir.join("foreign"), &dir.join("foreign"), None),
        );
        tx.send((place_hung, place_foreign, devs, end)).unwrap();
        // The namespace's last task: its mounts go when it ends.
        let _ = ended.recv();
        // fusectl in this namespace only; already there is fine.
        let _ = mount(
            Some("fusectl"),
            "/sys/fs/fuse/connections",
            Some("fusectl"),
            MsFlags::empty(),
            None::<&str>,
        );
        for minor in connections {
            let abort = format!("/sys/fs/fuse/connections/{minor}/abort");
            // Gone already when every end was closed: nothing to abort.
            let _ = std::fs::write(abort, "1");
        }
    });
    let (place_hung, place_foreign, devs, end) = rx.recv().unwrap();
    Fuse {
        place_hung,
        place_foreign,
        devs,
        end,
        thread,
    }
}

/// The minor device number of the mount at `target` in the calling
/// thread's mount namespace (`/proc/thread-self/mountinfo`: the third field
/// is MAJOR:MINOR, the fifth the mount point).
fn fuse_minor(target: &std::path::Path) -> u32 {
    let table = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    let target = target.to_str().unwrap();
    table
        .lines()
        .rev()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.get(4) == Some(&target)).then(|| fields[2])
        })
        .and_then(|dev| dev.split(':').nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("{target} is not in this thread's mount table"))
}

/// A read that would block for ever (a hung FUSE or NFS server) costs the
/// caller the deadline, not the stage; a FUSE file system is not read.
///
/// Played in a child process of its own: while a worker waits on the hung
/// mount, another test of this binary that changes credentials through
/// glibc (`setgroups` signals every thread and waits for each) would wait
/// for ever on that worker, and with it every thread that then starts.
#[test]
fn a_hung_or_fuse_file_system_does_not_hold_the_reader() {
    const CHILD: &str = "SWMON_TEST_FUSE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "package_file::tests::a_hung_or_fuse_file_system_does_not_hold_the_reader",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Generous: the body takes the read deadline and a little more.
        let limit = std::time::Instant::now() + super::DEADLINE * 30;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the FUSE test's child process did not end");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        assert!(status.success(), "{status}: {out}");
        // The name matched: the body really ran in the child.
        assert!(out.contains("1 passed"), "{out}");
        return;
    }
    let s = Scratch::new("fuse");
    let fuse = fuse_mounts(s.0.clone());
    let started = std::time::Instant::now();
    assert_eq!(
        read_in(fuse.place_hung, &["hung/p.deb"], false),
        ["timed-out"]
    );
    let took = started.elapsed();
    assert!(
        took >= super::DEADLINE && took < super::DEADLINE * 3,
        "{took:?}"
    );
    assert_eq!(
        read_in(fuse.place_foreign, &["p.deb"], false),
        ["remote-fs"]
    );
    // The servers' ends closed: the stuck worker gets its error and ends.
    drop(fuse.devs);
    drop(fuse.end);
    fuse.thread.join().unwrap();
}
