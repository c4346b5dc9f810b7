//! The `manpages --out DIR` verb: writes the manual pages, generated from the clap definition
//! that parses the command line: `smime-provisioner.1` (global options, the verbs, exit status,
//! files, environment) and one `smime-provisioner-VERB.1` per verb. The build script
//! (`packaging/build.sh`) runs it for the Debian package and the release tarball; installs from
//! source run it too (see README, "Install").

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use super::{Cli, CliError, Context, DEFAULT_CONFIG};

/// Arguments of `manpages`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory the pages are written to (created if missing; pages in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the verb: one line per page written. Reads no config.
pub async fn run(args: Args, _ctx: &Context) -> Result<(), CliError> {
    let written = write_pages(&args.out).map_err(|e| {
        CliError::Setup(format!(
            "cannot write manual pages to {}: {e}",
            args.out.display()
        ))
    })?;
    for page in written {
        println!("{}", page.display());
    }
    Ok(())
}

/// Writes the main page and one page per verb into `out`; returns their paths.
pub fn write_pages(out: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = vec![write_main_page(&cmd, out)?];
    for verb in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(clap_mangen::Man::new(verb.clone()).generate_to(out)?);
    }
    Ok(written)
}

/// The main page: clap_mangen's sections, then what `--help` cannot say.
fn write_main_page(cmd: &clap::Command, out: &Path) -> io::Result<PathBuf> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = out.join(man.get_filename());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.write_all(extra_sections().as_bytes())?;
    man.render_version_section(&mut page)?;
    std::fs::write(&path, page)?;
    Ok(path)
}

/// EXIT STATUS, FILES, ENVIRONMENT and SEE ALSO in roff; the paths are the ones the Debian
/// package and `contrib/systemd/smime-provisioner.service` use.
fn extra_sections() -> String {
    format!(
        r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
A mailbox failed, a request was refused, or a wait timed out: a failure that may pass.
.TP
\fB2\fR
Usage, config or setup error: something an admin must fix before a retry can help.
.SH FILES
.TP
\fI{config}\fR
The config file (\fB\-\-config\fR). Every key is documented in
\fI/usr/share/doc/smime\-provisioner/config.example.toml\fR.
.TP
\fI/var/lib/smime\-provisioner\fR
State (SQLite store, encrypted keys, outbox of the file transport), mode 0700, owned by the
service user \fBsmime\-provisioner\fR.
.TP
\fI/var/spool/smime\-provisioner\fR
Requests written by \fBenqueue\fR, mode 2770, group \fBsmime\-hook\fR (the hook's users join it).
.SH ENVIRONMENT
.TP
\fBSMIME_PROVISIONER_CONFIG\fR
The config file, when \fB\-\-config\fR is not given.
.TP
\fBSMIME_PROVISIONER_LOG\fR
The log filter, when \fB\-\-log\fR is not given.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fI/usr/share/doc/smime\-provisioner/README.md\fR
"#,
        config = DEFAULT_CONFIG.replace('-', r"\-"),
    )
}
