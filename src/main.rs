//! The `smime-provisioner` binary: parses the command line, runs the verb, maps the outcome to
//! an exit code (0 success, 1 a mailbox failed, 2 usage or config error).

fn main() {
    std::process::exit(smime_provisioner::cli::main());
}
