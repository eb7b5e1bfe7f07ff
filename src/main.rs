use clap::Parser;

fn main() {
    nirf_margin::cli::ensure_runtime_dir();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = nirf_margin::cli::Cli::parse();
    if let Err(e) = nirf_margin::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(nirf_margin::cli::exit_status(&e));
    }
}
