//! The `gatehouse` binary.

fn main() -> std::process::ExitCode {
    gatehouse_server::cli::run()
}
