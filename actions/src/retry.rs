//! Retries with exponential backoff and full jitter, shared by every action.
//!
//! `RetryPolicy` is the service-wide default (from `rulewire.toml`); a rule's action may
//! override parts of it with `RetryOverride`. `run` drives one operation: try, and while the
//! error is retryable and attempts remain, sleep `random(0 ..= min(max_delay, base_delay *
//! 2^(n-1)))` (AWS's "full jitter") and try again.

use std::{future::Future, time::Duration};

use rand::Rng;
use serde::{Deserialize, Deserializer};

/// How often and how patiently an action retries. `attempts` counts the first try too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total tries, at least 1. Default 3 (AWS's HTTP action: one try and up to 2 retries).
    pub attempts: u32,
    /// First backoff ceiling (`base_delay_ms` in TOML). Default 100 ms.
    #[serde(rename = "base_delay_ms", deserialize_with = "millis")]
    pub base_delay: Duration,
    /// Largest backoff ceiling (`max_delay_ms` in TOML). Default 2000 ms.
    #[serde(rename = "max_delay_ms", deserialize_with = "millis")]
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(2000),
        }
    }
}

/// A rule action's partial override of the service's `RetryPolicy`
/// (`retry = { attempts = 5, base_delay_ms = 50 }` in the rule header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOverride {
    pub attempts: Option<u32>,
    pub base_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
}

impl RetryPolicy {
    /// This policy with the fields `o` sets replaced.
    pub fn with_override(&self, o: Option<&RetryOverride>) -> RetryPolicy {
        let Some(o) = o else { return *self };
        RetryPolicy {
            attempts: o.attempts.unwrap_or(self.attempts),
            base_delay: o
                .base_delay_ms
                .map_or(self.base_delay, Duration::from_millis),
            max_delay: o.max_delay_ms.map_or(self.max_delay, Duration::from_millis),
        }
    }

    /// The backoff ceiling before attempt `next` (2-based: the first retry is attempt 2).
    fn ceiling(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// A full-jitter delay before attempt `next`: uniform in `0 ..= ceiling`.
    pub fn backoff(&self, next: u32) -> Duration {
        let ceiling = self.ceiling(next).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Runs `op(attempt)` (attempt is 1-based) until it succeeds, fails with an error that
/// `is_retryable` rejects, or `policy.attempts` tries are spent; returns the last result.
/// Callers count retries by looking at `attempt > 1` inside `op`.
pub async fn run<T, E, F, Fut>(
    policy: &RetryPolicy,
    is_retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Err(e) if attempt < attempts && is_retryable(&e) => {
                attempt += 1;
                // Boxed: the timer would make every caller's future larger, most never
                // needing it.
                Box::pin(tokio::time::sleep(policy.backoff(attempt))).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_until_success() {
        let calls = Cell::new(0);
        let r: Result<u32, &str> = run(
            &fast(3),
            |_| true,
            |n| {
                calls.set(calls.get() + 1);
                async move { if n < 3 { Err("busy") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn stops_at_attempts_and_on_permanent_errors() {
        let calls = Cell::new(0);
        let r: Result<(), &str> = run(
            &fast(4),
            |_| true,
            |_| {
                calls.set(calls.get() + 1);
                async { Err("down") }
            },
        )
        .await;
        assert_eq!((r, calls.get()), (Err("down"), 4));

        calls.set(0);
        let r: Result<(), &str> = run(
            &fast(4),
            |e| *e != "fatal",
            |_| {
                calls.set(calls.get() + 1);
                async { Err("fatal") }
            },
        )
        .await;
        assert_eq!((r, calls.get()), (Err("fatal"), 1));

        calls.set(0);
        let _: Result<(), &str> = run(
            &fast(0),
            |_| true,
            |_| {
                calls.set(calls.get() + 1);
                async { Err("x") }
            },
        )
        .await;
        assert_eq!(calls.get(), 1, "attempts = 0 still tries once");
    }

    #[test]
    fn backoff_doubles_up_to_max_with_full_jitter() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        assert_eq!(p.ceiling(2), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(200));
        assert_eq!(p.ceiling(5), Duration::from_millis(800));
        assert_eq!(p.ceiling(6), Duration::from_millis(1000));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(1000));
        for _ in 0..100 {
            assert!(p.backoff(3) <= Duration::from_millis(200));
        }
    }

    #[test]
    fn deserializes_with_defaults_and_overrides() {
        let p: RetryPolicy = toml::from_str("attempts = 5\nmax_delay_ms = 300").unwrap();
        assert_eq!(
            p,
            RetryPolicy {
                attempts: 5,
                max_delay: Duration::from_millis(300),
                ..Default::default()
            }
        );
        let o: RetryOverride = toml::from_str("base_delay_ms = 7").unwrap();
        let merged = p.with_override(Some(&o));
        assert_eq!(
            (merged.attempts, merged.base_delay),
            (5, Duration::from_millis(7))
        );
        assert!(toml::from_str::<RetryPolicy>("attempt = 5").is_err());
    }
}
