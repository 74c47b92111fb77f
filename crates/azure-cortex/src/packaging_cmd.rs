//! `completions` and `manpage`: what a package needs besides the binary, generated from the
//! same clap definition the binary parses, so they can never drift from the real flags.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Command;
use clap_complete::Shell;

/// Examples shown by `azure-cortex completions --help`.
pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  azure-cortex completions bash > /etc/bash_completion.d/azure-cortex
  azure-cortex completions zsh > \"${fpath[1]}/_azure-cortex\"
  azure-cortex completions fish > ~/.config/fish/completions/azure-cortex.fish
  azure-cortex completions powershell >> $PROFILE";

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManpageArgs {
    /// Write `azure-cortex.1` and one page per subcommand (`azure-cortex-onboard-batch.1`, …)
    /// into this directory instead of printing the top page to standard output.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Writes the completion script for `shell` to standard output.
pub fn completions(mut command: Command, args: &CompletionsArgs) -> anyhow::Result<()> {
    let name = command.get_name().to_owned();
    // Rendered into memory first: clap_complete panics on a failed write (`… | head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    write_stdout(&script).context("cannot write the completions")
}

/// Writes to standard output; a reader that went away early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints the top man page, or writes every page into `--out`.
pub fn manpage(command: Command, args: &ManpageArgs) -> anyhow::Result<()> {
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            write_stdout(&page).context("cannot write the man page")
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let written = write_pages(command, dir)?;
            println!("wrote {written} man pages to {}", dir.display());
            Ok(())
        }
    }
}

/// Renders `command` and, recursively, each visible subcommand as `<parent>-<name>.1`.
fn write_pages(command: Command, dir: &Path) -> anyhow::Result<usize> {
    let mut command = command;
    command.build();
    let mut pending = vec![command];
    let mut written = 0;
    while let Some(command) = pending.pop() {
        let name = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_owned();
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            // `help` is clap's own and documents nothing of ours.
            if sub.get_name() == "help" {
                continue;
            }
            let sub_name = format!("{name}-{}", sub.get_name());
            pending.push(sub.clone().display_name(sub_name));
        }
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        clap_mangen::Man::new(command)
            .render(&mut file)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
    }
    Ok(written)
}
