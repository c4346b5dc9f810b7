//! The `completions SHELL` verb: prints the shell completion script for bash, zsh or fish,
//! generated from the same clap definition that parses the command line, so it never lists a
//! verb or flag the binary does not have. The Debian package installs the three scripts
//! (`packaging/build.sh`); other installs load them with, e.g.,
//! `source <(smime-provisioner completions bash)`.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, CliError, Context};

/// The name the scripts complete: the installed binary's name.
pub const BIN_NAME: &str = "smime-provisioner";

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells a completion script is printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash (bash-completion: `/usr/share/bash-completion/completions/`).
    Bash,
    /// zsh (`/usr/share/zsh/vendor-completions/` on Debian).
    Zsh,
    /// fish (`/usr/share/fish/vendor_completions.d/`).
    Fish,
}

impl CompletionShell {
    fn generator(self) -> Shell {
        match self {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

/// Runs the verb: the script on standard output. Reads no config.
pub async fn run(args: Args, _ctx: &Context) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell.generator(),
        &mut Cli::command(),
        BIN_NAME,
        &mut script,
    );
    if args.shell == CompletionShell::Bash {
        script = fix_bash_state_names(&String::from_utf8_lossy(&script)).into_bytes();
    }
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| CliError::failed(&e))
}

/// clap_complete's bash script names its states differently in the loop that walks the words
/// (`smime__provisioner__subcmd__run`) and in the `case` arms that complete them
/// (`smime__subcmd__provisioner__subcmd__run`) when the binary's name has a hyphen, so nothing
/// after a verb completed (clap-rs/clap#6421, open). The arms are renamed to the loop's
/// spelling; once clap_complete spells both alike this replaces nothing.
fn fix_bash_state_names(script: &str) -> String {
    script.replace("smime__subcmd__provisioner", "smime__provisioner")
}
