//! The `objectstore` binary: see [`objectstore_server::cli`].

fn main() -> std::process::ExitCode {
    objectstore_server::cli::main()
}
