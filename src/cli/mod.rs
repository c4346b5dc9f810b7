//! cli: placeholder until the foundation lands.

/// Runs the program; returns the process exit code.
pub fn main() -> i32 {
    0
}
