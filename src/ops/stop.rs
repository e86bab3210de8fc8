//! A cloneable stop flag: tasks poll `is_set` or await `wait`.
//!
//! `is_set` is an atomic load: the embedded broker's publish hook asks it for every message,
//! from every connection, and a tokio watch channel's `borrow` takes a read lock whose count
//! those threads would bounce between their cores. `wait` uses the watch channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// The side that raises the flag.
pub struct StopTrigger {
    set: Arc<AtomicBool>,
    tx: watch::Sender<bool>,
}

/// The side tasks watch; cheap to clone.
#[derive(Clone)]
pub struct CancelFlag {
    set: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

/// A new, unset flag.
pub fn stop_flag() -> (StopTrigger, CancelFlag) {
    let (tx, rx) = watch::channel(false);
    let set = Arc::new(AtomicBool::new(false));
    let flag = CancelFlag {
        set: set.clone(),
        rx,
    };
    (StopTrigger { set, tx }, flag)
}

impl StopTrigger {
    pub fn set(&self) {
        // The atomic first: a task woken by the channel then sees `is_set`.
        self.set.store(true, Ordering::Release);
        let _ = self.tx.send(true);
    }
    pub fn flag(&self) -> CancelFlag {
        CancelFlag {
            set: self.set.clone(),
            rx: self.tx.subscribe(),
        }
    }
}

impl CancelFlag {
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }
    /// Resolves once the flag is set (or its trigger is gone).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_flag_sees_the_trigger() {
        let (trigger, flag) = stop_flag();
        let later = trigger.flag();
        assert!(!flag.is_set() && !later.is_set());
        let waiting = tokio::spawn({
            let flag = flag.clone();
            async move { flag.wait().await }
        });
        trigger.set();
        assert!(flag.is_set() && later.is_set());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("wait() resolves once the flag is set")
            .unwrap();
    }
}
