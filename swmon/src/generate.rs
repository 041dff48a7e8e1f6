//! Man pages and shell completions made from the command line's clap
//! definitions, for the package (`cargo xtask dist` runs the hidden
//! `swmon generate DIR`): `DIR/man/swmon.1` and one page per visible
//! subcommand (`swmon-run.1`, `swmon-rules-show.1`, ...), and
//! `DIR/completions/` for bash, zsh and fish. Hidden subcommands get no
//! page. Written from the same definitions the binary parses with, so the
//! pages never drift from the options.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// What was written, for the caller to list.
#[derive(Debug, Default)]
pub struct Generated {
    pub man_pages: Vec<PathBuf>,
    pub completions: Vec<PathBuf>,
}

/// Writes the man pages and completions of `cmd` (the binary's whole
/// command, named `swmon`) under `dir`, creating its folders.
pub fn write_all(cmd: clap::Command, dir: &Path) -> std::io::Result<Generated> {
    let mut cmd = cmd;
    cmd.build();
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    let mut out = Generated::default();
    man_pages(&cmd, &man, &mut out.man_pages)?;
    let name = cmd.get_name().to_owned();
    for (shell, file) in [
        (clap_complete::Shell::Bash, name.clone()),
        (clap_complete::Shell::Zsh, format!("_{name}")),
        (clap_complete::Shell::Fish, format!("{name}.fish")),
    ] {
        let path = completions.join(file);
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut buf);
        fs::write(&path, buf)?;
        out.completions.push(path);
    }
    Ok(out)
}

/// One page for `cmd` (named by its path from the root: `swmon-rules-show`)
/// and one for each visible subcommand below it.
fn man_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let page = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(page.get_filename());
    let mut buf = Vec::new();
    page.render(&mut buf)?;
    fs::write(&path, buf)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        // The page's name and its synopsis carry the full path.
        let full = format!("{}-{}", cmd.get_name(), sub.get_name());
        let bin = format!(
            "{} {}",
            cmd.get_bin_name().unwrap_or(cmd.get_name()),
            sub.get_name()
        );
        let sub = sub.clone().name(full).bin_name(bin);
        man_pages(&sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("swmon")
            .about("test command")
            .subcommand(
                clap::Command::new("run")
                    .about("Watch")
                    .arg(clap::Arg::new("output").long("output")),
            )
            .subcommand(
                clap::Command::new("rules")
                    .subcommand(clap::Command::new("show").about("Show the rules")),
            )
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn pages_for_visible_subcommands_and_three_shells() {
        let dir = std::env::temp_dir().join(format!("swmon-generate-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let out = write_all(cli(), &dir).expect("generate");
        let mut names: Vec<String> = out
            .man_pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "swmon-rules-show.1",
                "swmon-rules.1",
                "swmon-run.1",
                "swmon.1"
            ]
        );
        let run = fs::read_to_string(dir.join("man/swmon-run.1")).unwrap();
        assert!(run.contains("\\-\\-output"), "{run}");
        assert!(run.contains("swmon run"), "{run}");
        assert_eq!(out.completions.len(), 3);
        let bash = fs::read_to_string(dir.join("completions/swmon")).unwrap();
        assert!(bash.contains("--output"), "{bash}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
