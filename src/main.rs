//! The `snap` binary: everything happens in `snap::cli`.

fn main() {
    std::process::exit(snap::cli::run());
}
