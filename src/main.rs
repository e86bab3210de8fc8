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
