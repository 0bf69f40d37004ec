//! Exactly the `cubby` binary (`api/src/main.rs`), built inside the `tests`
//! package so the integration tests always run the current code.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
