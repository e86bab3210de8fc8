//! Live traces of one rule, for the console: turned on per rule for a bounded time, off by
//! default. While on, the pipeline sends one event per message the rule evaluated (input,
//! whether it fired, output) and per action run (outcome, latency, the error action's
//! payload) to whoever watches (the admin server's event stream). When no rule is traced the
//! pipeline's cost is one atomic load per message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

/// The longest a trace may run.
pub const MAX_TRACE: Duration = Duration::from_secs(600);
/// Payloads and outputs are cut to this many bytes in events.
const MAX_SHOWN: usize = 4096;
/// Events a slow watcher may fall behind by before it misses some.
const BACKLOG: usize = 256;

struct Trace {
    until: Instant,
    tx: broadcast::Sender<String>,
}

/// Which rules are traced, and their event channels.
#[derive(Default)]
pub struct Tracer {
    active: AtomicUsize,
    rules: Mutex<HashMap<String, Trace>>,
}

/// Text of at most [`MAX_SHOWN`] bytes of `bytes` (lossy UTF-8), and whether it was cut.
pub fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_SHOWN)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < bytes.len() {
        text.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    text
}

impl Tracer {
    /// Traces `rule` until `duration` (at most [`MAX_TRACE`]) from now; extends a running
    /// trace. Returns when it ends.
    pub fn start(&self, rule: &str, duration: Duration) -> Instant {
        let until = Instant::now() + duration.min(MAX_TRACE);
        let mut rules = self.rules.lock().expect("not poisoned");
        match rules.get_mut(rule) {
            Some(t) => t.until = until,
            None => {
                rules.insert(
                    rule.to_owned(),
                    Trace {
                        until,
                        tx: broadcast::channel(BACKLOG).0,
                    },
                );
                self.active.fetch_add(1, Ordering::SeqCst);
            }
        }
        until
    }

    /// Stops tracing `rule`; its watchers' streams end.
    pub fn stop(&self, rule: &str) {
        if self
            .rules
            .lock()
            .expect("not poisoned")
            .remove(rule)
            .is_some()
        {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A watcher of `rule`'s trace and when it ends, if it is on.
    pub fn watch(&self, rule: &str) -> Option<(broadcast::Receiver<String>, Instant)> {
        self.sender(rule).map(|(tx, until)| (tx.subscribe(), until))
    }

    fn sender(&self, rule: &str) -> Option<(broadcast::Sender<String>, Instant)> {
        if self.active.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut rules = self.rules.lock().expect("not poisoned");
        // Every trace past its time ends here (also those of rules nobody evaluates any more,
        // so the cheap check above becomes cheap again).
        let now = Instant::now();
        let before = rules.len();
        rules.retain(|_, t| t.until > now);
        self.active
            .fetch_sub(before - rules.len(), Ordering::SeqCst);
        let t = rules.get(rule)?;
        Some((t.tx.clone(), t.until))
    }

    /// Whether any rule is traced now: one atomic load, for work an event would need before
    /// it can be built (reading the clock for an action's latency).
    pub fn any_traced(&self) -> bool {
        self.active.load(Ordering::Relaxed) != 0
    }

    /// Sends `event` (built only when `rule` is traced) to its watchers.
    pub fn emit(&self, rule: &str, event: impl FnOnce() -> serde_json::Value) {
        if let Some((tx, _)) = self.sender(rule) {
            let _ = tx.send(event().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_off_by_default_bounded_and_stoppable() {
        let tracer = Tracer::default();
        assert!(tracer.watch("r").is_none());
        let until = tracer.start("r", Duration::from_secs(3600));
        assert!(until <= Instant::now() + MAX_TRACE);
        let (mut rx, _) = tracer.watch("r").unwrap();
        tracer.emit("r", || serde_json::json!({"kind": "eval"}));
        tracer.emit("other", || panic!("not traced: no event is built"));
        assert_eq!(rx.try_recv().unwrap(), r#"{"kind":"eval"}"#);
        tracer.start("short", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        // Any rule's event ends every expired trace.
        tracer.emit("r", || serde_json::json!({}));
        assert_eq!(tracer.active.load(Ordering::SeqCst), 1);
        assert!(tracer.watch("short").is_none(), "expired");
        tracer.stop("r");
        assert_eq!(tracer.active.load(Ordering::SeqCst), 0);
        assert_eq!(shown(&[b'a'; 5000]).len(), 4096 + "… (5000 bytes)".len());
    }
}
