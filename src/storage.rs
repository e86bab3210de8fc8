//! The files rulewire keeps under `storage.data_dir`: opening one of its redb databases
//! (Device Shadows, the embedded broker's retained messages and persistent sessions) with errors that say which.

use std::path::Path;

use anyhow::Context;
use redb::Database;

/// Opens (or creates, with its directory) the redb database at `path`; `what` names it in
/// errors ("shadow database").
pub fn open_database(path: &Path, what: &str) -> anyhow::Result<Database> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
            "{what} {} is open in another rulewire process: two instances cannot share a data directory (storage.data_dir)",
            path.display()
        ),
        other => anyhow::anyhow!("opening the {what} {}: {other}", path.display()),
    })
}
