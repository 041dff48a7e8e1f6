//! The packages the corpus installs, built offline before the monitor
//! starts, so that building them is not part of any scenario: a .deb with
//! `dpkg-deb --build`, a wheel written by hand with python's zipfile, an
//! sdist for `--no-build-isolation`, an npm tarball from `npm pack`, a tiny
//! crate, an rpm from a spec with `rpmbuild`, and a venv. Nothing here
//! touches the host outside `target/scenarios/artifacts`.
//!
//! yarn and pnpm are the one exception to "offline": their tarballs come
//! from the npm registry through `npm pack --prefer-offline`, so only the
//! first run on a machine needs the network (later ones read npm's cache).
//! Without them the yarn and pnpm scenarios fail and say why.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

/// Placeholder name → path.
pub type Artifacts = BTreeMap<&'static str, PathBuf>;

pub const DEB: &str = "swmon-scn-deb";
pub const WHEEL: &str = "swmon-scn-wheel";
pub const SDIST: &str = "swmon-scn-sdist";
pub const NPM: &str = "swmon-scn-npm";
pub const CRATE: &str = "swmon-scn-crate";
pub const RPM: &str = "swmon-scn-rpm";

fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
    }
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// Builds everything into `dir` (emptied first).
pub fn build(dir: &Path) -> Result<Artifacts> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    let mut a = Artifacts::new();
    a.insert("deb", deb(dir).context("build the .deb")?);
    let wheels = dir.join("wheels");
    wheel(&wheels).context("build the wheel")?;
    a.insert("wheels", wheels);
    a.insert("sdist", sdist(dir).context("build the sdist")?);
    a.insert("tgz", npm(dir).context("npm pack")?);
    for (name, tgz) in ["yarn", "pnpm"].into_iter().zip(registry_tarballs(dir)) {
        match tgz {
            Ok(p) => {
                a.insert(name, p);
            }
            Err(e) => eprintln!("xtask: no {name} tarball, its scenarios will fail: {e:#}"),
        }
    }
    a.insert("crate", krate(dir).context("write the crate")?);
    a.insert("rpm", rpm(dir).context("rpmbuild")?);
    let venv = dir.join("venv");
    run(Command::new("/usr/bin/python3")
        .args(["-m", "venv"])
        .arg(&venv))
    .context("make the venv")?;
    a.insert("venv", venv);
    a.insert("artifacts", dir.to_owned());
    Ok(a)
}

fn deb(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("deb");
    write(
        &root.join("DEBIAN/control"),
        &format!(
            "Package: {DEB}\nVersion: 1.0-1\nArchitecture: all\n\
             Maintainer: swmon scenarios <scn@example.invalid>\n\
             Description: a package swmon's scenario corpus installs\n"
        ),
    )?;
    write(&root.join(format!("usr/share/{DEB}/hello")), "hello\n")?;
    let deb = dir.join(format!("{DEB}_1.0-1_all.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb))?;
    Ok(deb)
}

/// A pure-Python wheel: a zip with metadata, no build backend needed.
fn wheel(wheels: &Path) -> Result<()> {
    fs::create_dir_all(wheels)?;
    let script = format!(
        r#"
import zipfile, sys
name, version = "swmon_scn_wheel", "1.0"
info = f"{{name}}-{{version}}.dist-info"
files = {{
    f"{{name}}/__init__.py": "VALUE = 1\n",
    f"{{info}}/METADATA": "Metadata-Version: 2.1\nName: {WHEEL}\nVersion: 1.0\n",
    f"{{info}}/WHEEL": "Wheel-Version: 1.0\nGenerator: swmon-scenarios\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}}
record = "".join(f"{{p}},,\n" for p in files) + f"{{info}}/RECORD,,\n"
with zipfile.ZipFile(sys.argv[1] + f"/{{name}}-{{version}}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
    z.writestr(f"{{info}}/RECORD", record)
"#
    );
    run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(wheels))?;
    Ok(())
}

/// A setuptools sdist, built with `setup.py sdist` (no network, no
/// isolation); pip builds it again at install time.
fn sdist(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("sdist-src");
    write(
        &src.join("setup.py"),
        &format!(
            "from setuptools import setup\nsetup(name='{SDIST}', version='1.0', py_modules=['swmon_scn_sdist'])\n"
        ),
    )?;
    write(&src.join("swmon_scn_sdist.py"), "VALUE = 1\n")?;
    run(Command::new("/usr/bin/python3")
        .args(["setup.py", "-q", "sdist", "--formats=gztar", "--dist-dir"])
        .arg(dir)
        .current_dir(&src))?;
    let found = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".tar.gz") && n.replace('_', "-").starts_with(SDIST))
        });
    found.context("setup.py sdist wrote no .tar.gz")
}

fn npm(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("npm-src");
    write(
        &src.join("package.json"),
        &format!(r#"{{"name":"{NPM}","version":"1.0.0","main":"index.js"}}"#),
    )?;
    write(&src.join("index.js"), "module.exports = 1;\n")?;
    run(Command::new("npm")
        .args(["pack", "-q", "--pack-destination"])
        .arg(dir)
        .current_dir(&src))?;
    let tgz = dir.join(format!("{NPM}-1.0.0.tgz"));
    if !tgz.exists() {
        bail!("npm pack wrote no {}", tgz.display());
    }
    Ok(tgz)
}

/// The pinned yarn and pnpm releases, from npm's cache or the registry.
const REGISTRY: [(&str, &str); 2] = [("yarn", "1.22.22"), ("pnpm", "9.15.9")];

fn registry_tarballs(dir: &Path) -> Vec<Result<PathBuf>> {
    REGISTRY
        .iter()
        .map(|(name, version)| {
            run(Command::new("timeout")
                .args([
                    "120",
                    "npm",
                    "pack",
                    "-q",
                    "--prefer-offline",
                    "--pack-destination",
                ])
                .arg(dir)
                .arg(format!("{name}@{version}")))?;
            let tgz = dir.join(format!("{name}-{version}.tgz"));
            if !tgz.exists() {
                bail!("npm pack wrote no {}", tgz.display());
            }
            Ok(tgz)
        })
        .collect()
}

fn krate(dir: &Path) -> Result<PathBuf> {
    let k = dir.join(CRATE);
    write(
        &k.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"{CRATE}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"
        ),
    )?;
    write(&k.join("src/main.rs"), "fn main() {}\n")?;
    Ok(k)
}

fn rpm(dir: &Path) -> Result<PathBuf> {
    let top = dir.join("rpmbuild");
    let spec = top.join("SPECS/scn.spec");
    write(
        &spec,
        &format!(
            "Name: {RPM}\nVersion: 1.0\nRelease: 1\nSummary: a package swmon's scenario corpus installs\n\
             License: MIT\nBuildArch: noarch\n\n%description\nswmon scenario package\n\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{RPM}\necho hello > %{{buildroot}}/usr/share/{RPM}/hello\n\n\
             %files\n%dir /usr/share/{RPM}\n/usr/share/{RPM}/hello\n"
        ),
    )?;
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec))?;
    let built = top.join(format!("RPMS/noarch/{RPM}-1.0-1.noarch.rpm"));
    let rpm = dir.join(format!("{RPM}-1.0-1.noarch.rpm"));
    fs::copy(&built, &rpm).with_context(|| format!("copy {}", built.display()))?;
    Ok(rpm)
}
