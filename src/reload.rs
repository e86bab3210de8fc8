//! Hot reload of the rules directory: a file watcher (notify) and SIGHUP both trigger
//! `Registry::reload`. Bursts of file events (editors write several) are debounced.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::registry::Registry;
use crate::stop::CancelFlag;

const DEBOUNCE: Duration = Duration::from_millis(250);

/// Spawns the reload task. `watch` adds the file watcher; SIGHUP always reloads.
pub fn spawn(registry: Arc<Registry>, watch: bool, stop: CancelFlag) -> anyhow::Result<()> {
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
        w.watch(registry.dir(), RecursiveMode::NonRecursive)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot watch rules directory {}: {e}",
                    registry.dir().display()
                )
            })?;
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
            tracing::info!(%reason, "reloading rules");
            let report = registry.reload().await;
            if !report.errors.is_empty() {
                tracing::warn!(
                    errors = report.errors.len(),
                    "reload finished with errors; failing rules keep their previous version"
                );
            }
        }
    });
    Ok(())
}
