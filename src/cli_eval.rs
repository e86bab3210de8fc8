//! `rulewire eval` and `rulewire check`: offline tools over the engine (owned by the lead;
//! this placeholder only defines their arguments and reports that they are not built yet).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `rulewire eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Rule file (.sql) or SQL text.
    pub rule: String,
    /// Topic the message arrived on.
    #[arg(long, default_value = "")]
    pub topic: String,
    /// Payload file ("-" = stdin).
    #[arg(long, default_value = "-")]
    pub payload: PathBuf,
}

/// Arguments of `rulewire check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rule files or directories.
    pub paths: Vec<PathBuf>,
}

pub fn eval(_args: EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rulewire eval` is not implemented yet")
}

pub fn check(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rulewire check` is not implemented yet")
}
