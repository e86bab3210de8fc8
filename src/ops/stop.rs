//! A cloneable stop flag (tokio watch channel): tasks poll `is_set` or await `wait`.

use tokio::sync::watch;

/// The side that raises the flag.
pub struct StopTrigger(watch::Sender<bool>);

/// The side tasks watch; cheap to clone.
#[derive(Clone)]
pub struct CancelFlag(watch::Receiver<bool>);

/// A new, unset flag.
pub fn stop_flag() -> (StopTrigger, CancelFlag) {
    let (tx, rx) = watch::channel(false);
    (StopTrigger(tx), CancelFlag(rx))
}

impl StopTrigger {
    pub fn set(&self) {
        let _ = self.0.send(true);
    }
    pub fn flag(&self) -> CancelFlag {
        CancelFlag(self.0.subscribe())
    }
}

impl CancelFlag {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
    /// Resolves once the flag is set (or its trigger is gone).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
