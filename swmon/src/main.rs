//! The `swmon` command line; everything it runs lives in the library.
fn main() {}
