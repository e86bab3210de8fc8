//! A fixed-bucket log-linear latency histogram (the HdrHistogram idea, minimal): values
//! below 256 have a bucket each; above, every power of two is split into 128 buckets, so a
//! reported percentile is within 1/128 (< 0.8 %) of the true value. Recording is an index
//! computation and an increment; the whole u64 range fits in 7,424 buckets (58 KiB).

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS; // 128 buckets per power of two
const LINEAR: u64 = SUB << 1; // values 0..256 are exact
const BUCKETS: usize = ((64 - SUB_BITS as usize - 1) + 1) * SUB as usize + SUB as usize; // 7424

pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < LINEAR {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros(); // >= 8
        let shift = exp - SUB_BITS; // >= 1
        (shift as u64 * SUB + (value >> shift)) as usize
    }

    /// The highest value that lands in bucket `index`.
    fn upper(index: usize) -> u64 {
        let index = index as u64;
        if index < LINEAR {
            return index;
        }
        let shift = index / SUB - 1;
        let mantissa = index - shift * SUB; // 128..256
        ((mantissa + 1) << shift)
            .wrapping_sub(1)
            .max(mantissa << shift)
    }

    pub fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value as u128;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn min(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at percentile `p` (0..=100): the smallest bucket bound with at least p % of
    /// the values at or below it, clamped to the recorded min/max. 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(i < BUCKETS);
            assert!(
                Histogram::upper(i) >= v,
                "v={v} upper={}",
                Histogram::upper(i)
            );
            if v < 100_000 {
                assert!(i == last || i == last + 1 || v == 0, "gap at {v}");
                last = i;
            }
            // relative error bound
            assert!((Histogram::upper(i) - v) as f64 <= v as f64 / 128.0 + 1.0);
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000); // 1 us .. 100 ms in ns
        }
        let within = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 / 100.0;
        assert!(
            within(h.percentile(50.0), 50_000_000),
            "{}",
            h.percentile(50.0)
        );
        assert!(
            within(h.percentile(90.0), 90_000_000),
            "{}",
            h.percentile(90.0)
        );
        assert!(
            within(h.percentile(99.0), 99_000_000),
            "{}",
            h.percentile(99.0)
        );
        assert_eq!(h.percentile(100.0), 100_000_000);
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.count(), 100_000);
        assert!(within(h.mean() as u64, 50_000_500));
    }

    #[test]
    fn small_and_skewed() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        for _ in 0..99 {
            h.record(10);
        }
        h.record(1_000_000);
        assert_eq!(h.percentile(50.0), 10);
        assert_eq!(h.percentile(99.0), 10);
        assert_eq!(h.percentile(99.9), 1_000_000);
        assert_eq!(h.percentile(0.0), 10);
    }
}
