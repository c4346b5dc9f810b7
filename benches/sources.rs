//! Benchmark placeholder: replaced by the issue that owns it.
fn main() {
    println!("sources benchmark: not written yet");
}
