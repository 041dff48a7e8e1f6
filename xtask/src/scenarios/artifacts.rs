//! The packages the corpus installs, built offline before the monitor
//! starts, so that building them is not part of any scenario: a .deb with
//! `dpkg-deb --build`, a wheel written by hand with python's zipfile, an
//! sdist for `--no-build-isolation`, an npm tarball from `npm pack`, a tiny
//! crate, an rpm from a spec with `rpmbuild`, and a venv. Nothing here
//! touches the host outside `target/scenarios/artifacts`.
//!
//! For the state witness's scenarios: the .deb's version 2.0 (an upgrade),
//! a .deb depending on another and that other, a wheel requiring another
//! and that other (in the wheels folder), and a plain tarball of one
//! executable script.
//!
//! For the other managers of the catalogue that install offline here: a
//! second wheel with a console script (pipx installs only apps), a `.gem`
//! from `gem build`, a Go module proxy of files (`GOPROXY=file://`), a
//! mini-CPAN (index, CHECKSUMS, one distribution) and a CPAN.pm config that
//! uses it, a composer path repository, a pacman package (`.PKGINFO` and
//! the files, tar'd with zstd as makepkg would; makepkg refuses root), a
//! Nix expression building one derivation with `/bin/sh`, and a flatpak
//! repository (ostree, `flatpak build-export`) holding a runtime of our own
//! and an app on it, since every real runtime comes from Flathub.
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
/// A .deb that depends on another (apt installs both, one install).
pub const DEB_TOP: &str = "swmon-scn-deb-top";
pub const DEB_DEP: &str = "swmon-scn-deb-dep";
/// A wheel that requires another (pip installs both).
pub const WHEEL_TOP: &str = "swmon-scn-wheel-top";
pub const WHEEL_DEP: &str = "swmon-scn-wheel-dep";
/// The executable in a plain tarball, for a `tar -x` into a PATH folder.
pub const TOOL: &str = "swmon-scn-tool";
pub const WHEEL: &str = "swmon-scn-wheel";
pub const SDIST: &str = "swmon-scn-sdist";
pub const NPM: &str = "swmon-scn-npm";
pub const CRATE: &str = "swmon-scn-crate";
pub const RPM: &str = "swmon-scn-rpm";
/// The wheel with a console script, for pipx.
pub const APP: &str = "swmon-scn-app";
pub const GEM: &str = "swmon-scn-gem";
/// The Go module path and version served by the file proxy.
pub const GO_MODULE: &str = "swmon.invalid/scn";
pub const GO_VERSION: &str = "v1.0.0";
/// The CPAN module and its distribution.
pub const CPAN_MODULE: &str = "Swmon::Scn";
pub const CPAN_DIST: &str = "Swmon-Scn-1.0";
pub const COMPOSER: &str = "swmon/scn";
pub const PACMAN: &str = "swmon-scn-pacman";
pub const NIX: &str = "swmon-scn-nix";
/// The flatpak app and the runtime it needs, both in the corpus's repo.
pub const FLATPAK_APP: &str = "org.swmon.Scn";
pub const FLATPAK_RUNTIME: &str = "org.swmon.Platform";

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
    a.insert(
        "deb",
        deb(dir, DEB, "1.0-1", None).context("build the .deb")?,
    );
    a.insert(
        "debnew",
        deb(dir, DEB, "2.0-1", None).context("build the .deb's 2.0")?,
    );
    a.insert(
        "debtop",
        deb(dir, DEB_TOP, "1.2-1", Some(DEB_DEP)).context("build the depending .deb")?,
    );
    a.insert(
        "debdep",
        deb(dir, DEB_DEP, "0.9-3", None).context("build the depended-on .deb")?,
    );
    a.insert("tooltar", tool_tar(dir).context("tar the tool")?);
    let wheels = dir.join("wheels");
    wheel(&wheels, WHEEL, None, None).context("build the wheel")?;
    wheel(&wheels, APP, Some(APP), None).context("build the app wheel")?;
    wheel(&wheels, WHEEL_TOP, None, Some(WHEEL_DEP)).context("build the depending wheel")?;
    wheel(&wheels, WHEEL_DEP, None, None).context("build the depended-on wheel")?;
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
    a.insert("gem", gem(dir).context("gem build")?);
    a.insert(
        "goproxy",
        goproxy(dir).context("write the Go module proxy")?,
    );
    let (cpan, cpan_config) = mini_cpan(dir).context("write the mini-CPAN")?;
    a.insert("cpan", cpan);
    a.insert("cpanconfig", cpan_config);
    a.insert(
        "composer",
        composer(dir).context("write the composer package")?,
    );
    a.insert("pacman", pacman(dir).context("build the pacman package")?);
    a.insert("nix", nix(dir).context("write the Nix expression")?);
    a.insert("flatpak", flatpak(dir).context("build the flatpak repo")?);
    let venv = dir.join("venv");
    run(Command::new("/usr/bin/python3")
        .args(["-m", "venv"])
        .arg(&venv))
    .context("make the venv")?;
    a.insert("venv", venv);
    a.insert("artifacts", dir.to_owned());
    Ok(a)
}

/// A .deb of `name` at `version` with one file, depending on `depends`.
fn deb(dir: &Path, name: &str, version: &str, depends: Option<&str>) -> Result<PathBuf> {
    let root = dir.join(format!("deb-{name}-{version}"));
    let depends = depends.map_or(String::new(), |d| format!("Depends: {d}\n"));
    write(
        &root.join("DEBIAN/control"),
        &format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\n{depends}\
             Maintainer: swmon scenarios <scn@example.invalid>\n\
             Description: a package swmon's scenario corpus installs\n"
        ),
    )?;
    write(
        &root.join(format!("usr/share/{name}/hello")),
        &format!("hello {version}\n"),
    )?;
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb))?;
    Ok(deb)
}

/// A pure-Python wheel: a zip with metadata, no build backend needed;
/// with `script`, a console script of that name (what pipx installs); with
/// `requires`, a `Requires-Dist` on that distribution.
fn wheel(wheels: &Path, dist: &str, script: Option<&str>, requires: Option<&str>) -> Result<()> {
    fs::create_dir_all(wheels)?;
    let script_py = r#"
import zipfile, sys
out, dist, version, script, req = sys.argv[1], sys.argv[2], "1.0", sys.argv[3], sys.argv[4]
name = dist.replace("-", "_")
info = f"{name}-{version}.dist-info"
meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
if req:
    meta += f"Requires-Dist: {req}\n"
files = {
    f"{name}/__init__.py": "VALUE = 1\ndef main():\n    print('hello')\n",
    f"{info}/METADATA": meta,
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: swmon-scenarios\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
if script:
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{script} = {name}:main\n"
record = "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
    z.writestr(f"{info}/RECORD", record)
"#;
    run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script_py)
        .arg(wheels)
        .arg(dist)
        .arg(script.unwrap_or(""))
        .arg(requires.unwrap_or("")))?;
    Ok(())
}

/// A plain tarball holding one executable, `swmon-scn-tool` (a shell
/// script of its own, so its sha256 is no system file's).
fn tool_tar(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("tool-src");
    let tool = src.join(TOOL);
    write(&tool, &format!("#!/bin/sh\necho {TOOL} 1.0\n"))?;
    fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let tar = dir.join(format!("{TOOL}.tar"));
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg(TOOL))?;
    Ok(tar)
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

/// A gem from a gemspec, with `gem build`.
fn gem(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("gem-src");
    write(
        &src.join(format!("{GEM}.gemspec")),
        &format!(
            "Gem::Specification.new do |s|\n  s.name = \"{GEM}\"\n  s.version = \"1.0.0\"\n  \
             s.summary = \"a gem swmon's scenario corpus installs\"\n  s.authors = [\"swmon scenarios\"]\n  \
             s.files = [\"lib/swmon_scn_gem.rb\"]\n  s.license = \"MIT\"\nend\n"
        ),
    )?;
    write(
        &src.join("lib/swmon_scn_gem.rb"),
        "module SwmonScnGem; end\n",
    )?;
    run(Command::new("gem")
        .args(["build", "-q", &format!("{GEM}.gemspec"), "-o"])
        .arg(dir.join(format!("{GEM}-1.0.0.gem")))
        .current_dir(&src))?;
    Ok(dir.join(format!("{GEM}-1.0.0.gem")))
}

/// A Go module proxy made of files (the `GOPROXY` protocol's layout:
/// `MODULE/@v/list`, `VERSION.info`, `.mod`, `.zip`), so `go install
/// MODULE@VERSION` resolves with `GOPROXY=file://DIR` and no network.
fn goproxy(dir: &Path) -> Result<PathBuf> {
    let proxy = dir.join("goproxy");
    let v = proxy.join(format!("{GO_MODULE}/@v"));
    let gomod = format!("module {GO_MODULE}\n\ngo 1.19\n");
    write(&v.join("list"), &format!("{GO_VERSION}\n"))?;
    write(
        &v.join(format!("{GO_VERSION}.info")),
        &format!(r#"{{"Version":"{GO_VERSION}","Time":"2026-01-01T00:00:00Z"}}"#),
    )?;
    write(&v.join(format!("{GO_VERSION}.mod")), &gomod)?;
    let zip = r#"
import zipfile, sys
out, prefix, gomod = sys.argv[1:4]
with zipfile.ZipFile(out, "w") as z:
    z.writestr(prefix + "/go.mod", gomod)
    z.writestr(prefix + "/main.go", "package main\n\nfunc main() {}\n")
"#;
    run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(zip)
        .arg(v.join(format!("{GO_VERSION}.zip")))
        .arg(format!("{GO_MODULE}@{GO_VERSION}"))
        .arg(&gomod))?;
    Ok(proxy)
}

/// A mini-CPAN (what CPAN.pm reads from its mirror: the author index, the
/// package index, the module list, and the author folder's CHECKSUMS) with
/// one distribution, and a CPAN.pm config (`cpan -j FILE`) whose mirror is
/// it. `pushy_https` off, or CPAN.pm ignores the mirror for cpan.org.
fn mini_cpan(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let src = dir.join("cpan-src").join(CPAN_DIST);
    write(
        &src.join("Makefile.PL"),
        "use ExtUtils::MakeMaker;\nWriteMakefile(NAME => 'Swmon::Scn', VERSION => '1.0');\n",
    )?;
    write(
        &src.join("lib/Swmon/Scn.pm"),
        "package Swmon::Scn;\nour $VERSION = '1.0';\n1;\n",
    )?;
    let mirror = dir.join("cpan");
    let author = mirror.join("authors/id/S/SW/SWMON");
    fs::create_dir_all(&author)?;
    fs::create_dir_all(mirror.join("modules"))?;
    let tarball = author.join(format!("{CPAN_DIST}.tar.gz"));
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "-czf"])
        .arg(&tarball)
        .arg("-C")
        .arg(dir.join("cpan-src"))
        .arg(CPAN_DIST))?;
    let gz = |path: PathBuf, text: String| -> Result<()> {
        write(&path.with_extension(""), &text)?;
        run(Command::new("gzip").arg("-nf").arg(path.with_extension("")))?;
        Ok(())
    };
    gz(
        mirror.join("modules/02packages.details.txt.gz"),
        format!(
            "File:         02packages.details.txt\nDescription:  swmon's scenario mini-CPAN\n\
             Columns:      package name, version, path\nLine-Count:   1\n\
             Last-Updated: Thu, 01 Jan 2026 00:00:00 GMT\n\n\
             {CPAN_MODULE}    1.0  S/SW/SWMON/{CPAN_DIST}.tar.gz\n"
        ),
    )?;
    gz(
        mirror.join("authors/01mailrc.txt.gz"),
        "alias SWMON \"swmon scenarios <scn@example.invalid>\"\n".into(),
    )?;
    gz(
        mirror.join("modules/03modlist.data.gz"),
        "File:        03modlist.data\nModcount:    0\n\n\
         package CPAN::Modulelist;\nsub data { return {}; }\n1;\n"
            .into(),
    )?;
    let bytes = fs::read(&tarball)?;
    let digest = |tool: &str| -> Result<String> {
        let out = run(Command::new(tool).arg(&tarball))?;
        Ok(out.split_whitespace().next().unwrap_or("").to_owned())
    };
    write(
        &author.join("CHECKSUMS"),
        &format!(
            "$cksum = {{\n  '{CPAN_DIST}.tar.gz' => {{\n    'cpan_path' => 'S/SW/SWMON',\n    \
             'md5' => '{}',\n    'sha256' => '{}',\n    'size' => {},\n  }},\n}};\n",
            digest("md5sum")?,
            digest("sha256sum")?,
            bytes.len()
        ),
    )?;
    let home = dir.join("cpan-home");
    let config = dir.join("cpan-config.pm");
    let h = home.display();
    write(
        &config,
        &format!(
            "$CPAN::Config = {{\n\
             'auto_commit' => q[0], 'build_cache' => q[100], 'build_dir' => q[{h}/build],\n\
             'build_dir_reuse' => q[0], 'build_requires_install_policy' => q[yes],\n\
             'cache_metadata' => q[0], 'check_sigs' => q[0], 'colorize_output' => q[0],\n\
             'connect_to_internet_ok' => q[0], 'cpan_home' => q[{h}], 'getcwd' => q[cwd],\n\
             'gzip' => q[/usr/bin/gzip], 'halt_on_failure' => q[1], 'histfile' => q[{h}/histfile],\n\
             'histsize' => q[0], 'inactivity_timeout' => q[0], 'index_expire' => q[1],\n\
             'inhibit_startup_message' => q[1], 'keep_source_where' => q[{h}/sources],\n\
             'load_module_verbosity' => q[none], 'make' => q[/usr/bin/make], 'make_arg' => q[],\n\
             'make_install_arg' => q[], 'make_install_make_command' => q[/usr/bin/make],\n\
             'makepl_arg' => q[INSTALLDIRS=site], 'mbuild_arg' => q[], 'mbuild_install_arg' => q[],\n\
             'mbuild_install_build_command' => q[./Build], 'mbuildpl_arg' => q[--installdirs site],\n\
             'pager' => q[/bin/cat], 'perl5lib_verbosity' => q[none], 'prefer_external_tar' => q[1],\n\
             'prefer_installer' => q[EUMM], 'prefs_dir' => q[{h}/prefs],\n\
             'prerequisites_policy' => q[follow], 'pushy_https' => q[0], 'recommends_policy' => q[0],\n\
             'scan_cache' => q[never], 'shell' => q[/bin/sh], 'show_upload_date' => q[0],\n\
             'suggests_policy' => q[0], 'tar' => q[/usr/bin/tar], 'tar_verbosity' => q[none],\n\
             'term_is_latin' => q[1], 'term_ornaments' => q[0], 'test_report' => q[0],\n\
             'urllist' => [q[file://{}/]], 'use_prompt_default' => q[1], 'use_sqlite' => q[0],\n\
             'version_timeout' => q[15], 'yaml_load_code' => q[0], 'yaml_module' => q[YAML],\n\
             }};\n1;\n",
            mirror.display()
        ),
    )?;
    Ok((mirror, config))
}

/// A composer package for a `path` repository.
fn composer(dir: &Path) -> Result<PathBuf> {
    let pkg = dir.join("composer-pkg");
    write(
        &pkg.join("composer.json"),
        &format!(
            r#"{{"name":"{COMPOSER}","version":"1.0.0","type":"library","autoload":{{"psr-4":{{"Swmon\\Scn\\":"src/"}}}}}}"#
        ),
    )?;
    write(
        &pkg.join("src/Scn.php"),
        "<?php\nnamespace Swmon\\Scn;\n\nclass Scn {}\n",
    )?;
    Ok(pkg)
}

/// A pacman package as makepkg lays it out: `.PKGINFO` first, then the
/// files, in a zstd tar named `NAME-VER-REL-ARCH.pkg.tar.zst`.
fn pacman(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("pacman-pkg");
    write(
        &root.join(".PKGINFO"),
        &format!(
            "pkgname = {PACMAN}\npkgbase = {PACMAN}\npkgver = 1.0-1\n\
             pkgdesc = a package swmon's scenario corpus installs\nurl = https://example.invalid\n\
             builddate = 1767225600\npackager = swmon scenarios\nsize = 6\narch = any\nlicense = MIT\n"
        ),
    )?;
    write(&root.join(format!("usr/share/{PACMAN}/hello")), "hello\n")?;
    let pkg = dir.join(format!("{PACMAN}-1.0-1-any.pkg.tar.zst"));
    run(Command::new("tar")
        .args(["--zstd", "--owner=0", "--group=0", "-cf"])
        .arg(&pkg)
        .arg("-C")
        .arg(&root)
        .args([".PKGINFO", "usr"]))?;
    Ok(pkg)
}

/// A Nix expression of one derivation built by `/bin/sh` (no nixpkgs, no
/// substituter): what `nix-env -f FILE -i` installs.
fn nix(dir: &Path) -> Result<PathBuf> {
    let file = dir.join("scn.nix");
    write(
        &file,
        &format!(
            "derivation {{\n  name = \"{NIX}-1.0\";\n  system = builtins.currentSystem;\n  \
             builder = \"/bin/sh\";\n  args = [ \"-c\" \"/bin/mkdir -p $out/share/{NIX} && echo hello > $out/share/{NIX}/hello\" ];\n}}\n"
        ),
    )?;
    Ok(file)
}

/// A flatpak repository with a runtime made here (a `/bin/true`, its
/// metadata) and an app that needs it (a shell script), exported by `flatpak
/// build-export`, branch `1`: `flatpak install REMOTE APP` pulls both.
fn flatpak(dir: &Path) -> Result<PathBuf> {
    let repo = dir.join("flatpak-repo");
    let rt = dir.join("flatpak-runtime");
    let runtime_ref = format!("{FLATPAK_RUNTIME}/x86_64/1");
    let runtime_meta =
        format!("[Runtime]\nname={FLATPAK_RUNTIME}\nruntime={runtime_ref}\nsdk={runtime_ref}\n");
    // build-export reads a runtime's files from `usr` and checks `files`.
    for sub in ["usr", "files"] {
        fs::create_dir_all(rt.join(sub).join("bin"))?;
        fs::copy("/bin/true", rt.join(sub).join("bin/true")).context("copy /bin/true")?;
    }
    write(&rt.join("metadata"), &runtime_meta)?;
    run(Command::new("flatpak")
        .args(["build-export", "--runtime"])
        .arg(&repo)
        .arg(&rt)
        .arg("1"))?;
    let app = dir.join("flatpak-app");
    write(
        &app.join("metadata"),
        &format!(
            "[Application]\nname={FLATPAK_APP}\nruntime={runtime_ref}\nsdk={runtime_ref}\ncommand=scn\n"
        ),
    )?;
    write(&app.join("files/bin/scn"), "#!/bin/sh\necho hello\n")?;
    fs::set_permissions(
        app.join("files/bin/scn"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    run(Command::new("flatpak")
        .args(["build-finish", "--command=scn"])
        .arg(&app))?;
    run(Command::new("flatpak")
        .arg("build-export")
        .arg(&repo)
        .arg(&app)
        .arg("1"))?;
    Ok(repo)
}
