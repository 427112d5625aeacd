//! Shell completions and man pages, generated from the same clap definitions as the parser
//! so that neither can drift from the commands they describe.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Prints the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "feedwatch", out);
    Ok(0)
}

/// Writes `feedwatch.1` and one page per subcommand (`feedwatch-db-backup.1`, …) into `dir`,
/// creating it; prints each page's path.
pub fn man_pages(dir: &Path) -> Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "1")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("feedwatch"))
        })
        .collect();
    pages.sort();
    let mut out = std::io::stdout().lock();
    for p in &pages {
        writeln!(out, "{}", p.display())?;
    }
    Ok(0)
}
