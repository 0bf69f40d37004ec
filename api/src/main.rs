//! The `cubby` binary: everything lives in the `api` library (see `api::cli`).

fn main() -> std::process::ExitCode {
    api::cli::main()
}
