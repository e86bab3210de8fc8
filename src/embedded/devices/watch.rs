//! The live device registry: the current [`Registry`], replaced whole when its directory
//! changes (or on SIGHUP), and a signal to the broker that it changed, so devices whose
//! certificate or login lost its access are disconnected without a restart.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::Registry;
use crate::ops::reload::{RecursiveMode, spawn_reloader};
use crate::ops::stop::CancelFlag;

#[derive(Debug)]
pub struct Devices {
    current: RwLock<Arc<Registry>>,
    changed: watch::Sender<u64>,
}

impl Devices {
    pub fn new(registry: Registry) -> Arc<Devices> {
        Arc::new(Devices {
            current: RwLock::new(Arc::new(registry)),
            changed: watch::Sender::new(0),
        })
    }

    pub fn current(&self) -> Arc<Registry> {
        self.current.read().expect("registry lock").clone()
    }

    /// Ticks after every successful reload.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Loads the directory again; on an error the previous registry stays.
    pub fn reload(&self) {
        let Some(dir) = self.current().dir().map(|d| d.to_owned()) else {
            return;
        };
        match Registry::load(&dir) {
            Ok(registry) => {
                *self.current.write().expect("registry lock") = Arc::new(registry);
                self.changed.send_modify(|n| *n += 1);
                tracing::info!(dir = %dir.display(), "device registry reloaded");
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "device registry not reloaded; the previous one stays in force"
            ),
        }
    }
}

/// Reloads the registry when its directory changes, and on SIGHUP.
pub fn spawn(devices: Arc<Devices>, stop: CancelFlag) -> anyhow::Result<()> {
    let Some(dir) = devices.current().dir().map(|d| d.to_owned()) else {
        return Ok(());
    };
    spawn_reloader(
        "devices",
        &dir,
        true,
        RecursiveMode::Recursive,
        stop,
        move || {
            let devices = devices.clone();
            async move { devices.reload() }
        },
    )
}
