//! Equal ranges of a knob's values, on the scale its charts read them: runs of a sampled knob,
//! too many or too scattered to show one by one, are grouped by range.

/// Whether a knob's values read on a log scale: learning rates and weight decays, all positive.
pub fn log_scaled(knob: &str, mut values: impl Iterator<Item = f64>) -> bool {
    matches!(knob, "lr" | "weight_decay") && values.all(|x| x > 0.0)
}

/// `count` equal ranges from the smallest value to the largest (equal in log10 when `log`).
pub struct Ranges {
    lo: f64,
    width: f64,
    count: usize,
    log: bool,
}

impl Ranges {
    pub fn new(values: impl Iterator<Item = f64>, count: usize, log: bool) -> Ranges {
        let to = |x: f64| if log { x.log10() } else { x };
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(to(x)), hi.max(to(x)))
        });
        Ranges {
            lo,
            width: (hi - lo) / count as f64,
            count,
            log,
        }
    }

    /// The range `x` falls in; the largest value is in the last, and all values in the first
    /// when they are equal.
    pub fn index(&self, x: f64) -> usize {
        let t = if self.log { x.log10() } else { x };
        match self.width > 0.0 {
            true => (((t - self.lo) / self.width) as usize).min(self.count - 1),
            false => 0,
        }
    }

    /// The middle of range `i`, on the values' own scale.
    pub fn middle(&self, i: usize) -> f64 {
        let t = self.lo + self.width * (i as f64 + 0.5);
        if self.log { 10f64.powf(t) } else { t }
    }
}
