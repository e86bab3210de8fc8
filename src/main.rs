//! The `rulewire` command: `run` (the service, `rulewire::service`) and the offline commands
//! `eval`, `check`, `test`, `import` and `bench` (`rulewire::cli`).
//! Everything else lives in the library (`src/lib.rs`).

use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: rulewire allocates a message's buffers on one thread
/// and frees them on another (the broker connection, the workers, the disk buffer's threads,
/// the HTTP client), where glibc spends a quarter of the CPU consolidating its arenas
/// (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps memory that was freed before it gives it back to the OS: 10 s, not
/// mimalloc's 1 s. Under load the memory a backlog used is given back and faulted in again
/// (the kernel zeroing each page anew) every time the backlog grows past what mimalloc kept;
/// at max rate that cost rulewire 2–4 % of its CPU (BENCHMARKS.md, stop 40). The price: RSS
/// falls 10 s after a burst instead of 1 s. `MIMALLOC_PURGE_DELAY` (milliseconds) overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// `mi_option_purge_delay`'s number in mimalloc's `mi_option_t` (v2 and v3); the sys crate's
/// bindings do not name it. The test below checks it against the linked mimalloc.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

unsafe extern "C" {
    #[cfg(test)]
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Sets mimalloc's purge delay unless the environment sets it.
fn tune_allocator(env_purge_delay: Option<std::ffi::OsString>) {
    if env_purge_delay.is_none() {
        // SAFETY: mimalloc's options are plain integers it reads atomically; setting one is
        // allowed at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

use clap::{Parser, Subcommand, ValueEnum};
use rulewire::cli;
use rulewire::config::Config;
use rulewire::service::{self, RunOptions};

#[derive(Parser)]
#[command(
    name = "rulewire",
    version,
    about = "A self-hosted AWS IoT Core Rules Engine"
)]
struct Cli {
    /// Log format: human-readable text or one JSON object per line (containers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "RULEWIRE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: MQTT in, rules from .sql files, actions out.
    Run(RunArgs),
    /// Evaluate a rule against a message, offline.
    Eval(cli::eval::EvalArgs),
    /// Check rule files (SQL, header, actions) without running them.
    Check(cli::eval::CheckArgs),
    /// Run rule unit tests (`<rule>.test.toml` beside each rule), offline.
    Test(cli::ruletest::TestArgs),
    /// Convert AWS IoT rule definitions (get-topic-rule JSON, TopicRulePayload, CloudFormation
    /// or SAM templates) into rule files.
    Import(cli::import::ImportArgs),
    /// Load a running rulewire (or the broker alone) and meter rate, loss and latency.
    Bench(cli::loadgen::BenchArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Configuration file; when absent every key has its default (see rulewire.toml).
    #[arg(long, short, default_value = "rulewire.toml", env = "RULEWIRE_CONFIG")]
    config: PathBuf,
    /// Rules directory (overrides rules.dir).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Publish sample telemetry and print what the example rules republish.
    #[arg(long)]
    demo: bool,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,rmqtt=warn,rmqtt_net=warn,rmqtt_codec=warn,rumqttc=warn",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator(std::env::var_os("MIMALLOC_PURGE_DELAY"));
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Eval(args) => cli::eval::eval(args),
        Command::Check(args) => {
            load_config(&args.config).and_then(|config| cli::eval::check(args, &config))
        }
        Command::Test(args) => cli::ruletest::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Bench(args) => cli::loadgen::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads `path`; a missing file is an error only when `--config` or `RULEWIRE_CONFIG` named
/// it (else every key has its default).
fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    let explicit = std::env::args()
        .any(|a| a == "--config" || a == "-c" || a.starts_with("--config="))
        || std::env::var_os("RULEWIRE_CONFIG").is_some();
    Config::load(path, explicit)
}

fn run(args: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = load_config(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(service::run(
        config,
        RunOptions {
            rules_dir: args.rules,
            demo: args.demo,
        },
    ))?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_set_unless_the_environment_sets_it() {
        // SAFETY: reading an option is always allowed.
        let get = || unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        // mimalloc v3's default purge delay: any other number means option 15 is not it.
        assert_eq!(get(), 1_000, "option 15 is not mimalloc's purge_delay");
        tune_allocator(Some("250".into()));
        assert_eq!(get(), 1_000, "an environment value is left to mimalloc");
        tune_allocator(None);
        assert_eq!(get(), PURGE_DELAY_MS);
    }
}
