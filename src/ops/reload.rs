//! Hot reload of a directory: a file watcher (notify) and SIGHUP both trigger a reload.
//! Bursts of file events (editors write several) are debounced. Used for the rules directory
//! (`rules`) and the embedded broker's device registry (`devices`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use notify::RecursiveMode;
use notify::Watcher;
use tokio::sync::mpsc;

use crate::ops::stop::CancelFlag;
use crate::registry::Registry;

const DEBOUNCE: Duration = Duration::from_millis(250);

/// Spawns a task that calls `reload` after changes in `dir` (when `watch`; in its
/// subdirectories too with `RecursiveMode::Recursive`) and on every SIGHUP. `what` names the
/// directory in errors and logs.
pub fn spawn_reloader<F, Fut>(
    what: &'static str,
    dir: &Path,
    watch: bool,
    mode: RecursiveMode,
    stop: CancelFlag,
    mut reload: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    let watcher = if watch {
        let tx = tx.clone();
        let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res
                && !event.kind.is_access()
            {
                let _ = tx.send("file change");
            }
        })?;
        w.watch(dir, mode)
            .map_err(|e| anyhow::anyhow!("cannot watch {what} directory {}: {e}", dir.display()))?;
        Some(w)
    } else {
        None
    };
    #[cfg(unix)]
    {
        let tx = tx.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = tx.send("SIGHUP");
            }
        });
    }
    tokio::spawn(async move {
        let _watcher = watcher; // dropping it stops the watch
        loop {
            let reason = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => break },
                _ = stop.wait() => break,
            };
            // Debounce: wait for quiet, then reload once.
            while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            tracing::info!(%reason, what, "reloading");
            reload().await;
        }
    });
    Ok(())
}

/// Reloads the rules directory. `watch` adds the file watcher; SIGHUP always reloads.
pub fn spawn(registry: Arc<Registry>, watch: bool, stop: CancelFlag) -> anyhow::Result<()> {
    let dir = registry.dir().to_owned();
    spawn_reloader(
        "rules",
        &dir,
        watch,
        RecursiveMode::NonRecursive,
        stop,
        move || {
            let registry = registry.clone();
            async move {
                let report = registry.reload().await;
                if !report.errors.is_empty() {
                    tracing::warn!(
                        errors = report.errors.len(),
                        "reload finished with errors; failing rules keep their previous version"
                    );
                }
            }
        },
    )
}
