//! AWS's Device Shadow request limits, answered with `429`: requests per second per thing
//! (AWS: 20), and requests one connection has waiting at once (AWS: 10 in flight).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Things tracked before the idle ones are forgotten.
const SWEEP_AT: usize = 10_000;

pub struct Throttle {
    /// 0: no limit.
    per_thing_per_second: usize,
    /// 0: no limit.
    per_connection: usize,
    recent: HashMap<String, VecDeque<Instant>>,
}

impl Throttle {
    pub fn new(per_thing_per_second: usize, per_connection: usize) -> Throttle {
        Throttle {
            per_thing_per_second,
            per_connection,
            recent: HashMap::new(),
        }
    }

    /// Counts a request for `thing` at `now`; false when the thing already had its share of
    /// the last second (a refused request does not count).
    pub fn admit_thing(&mut self, thing: &str, now: Instant) -> bool {
        if self.per_thing_per_second == 0 {
            return true;
        }
        if self.recent.len() >= SWEEP_AT && !self.recent.contains_key(thing) {
            self.recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(1))
            });
        }
        let times = self.recent.entry(thing.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            times.pop_front();
        }
        if times.len() >= self.per_thing_per_second {
            return false;
        }
        times.push_back(now);
        true
    }

    /// True when a connection with `waiting` requests ahead of this one in the queue (its
    /// in-flight requests) has reached the limit.
    pub fn connection_full(&self, waiting: usize) -> bool {
        self.per_connection != 0 && waiting >= self.per_connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_a_second_per_thing() {
        let mut t = Throttle::new(20, 10);
        let start = Instant::now();
        for _ in 0..20 {
            assert!(t.admit_thing("lamp", start));
        }
        assert!(!t.admit_thing("lamp", start + Duration::from_millis(500)));
        assert!(t.admit_thing("pump", start + Duration::from_millis(500)));
        assert!(t.admit_thing("lamp", start + Duration::from_secs(1)));
        assert!(!t.connection_full(9));
        assert!(t.connection_full(10));
        assert!(!Throttle::new(0, 0).connection_full(1000));
    }
}
