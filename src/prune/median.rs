//! The median rule: stop a run whose best value so far is worse than the median of the other
//! runs' values at the same epoch.

use super::{Pruner, median};

pub struct Median {
    /// Epochs during which no run is stopped.
    pub warmup_epochs: usize,
    /// Other runs that must have reached the epoch before it is judged.
    pub min_runs: usize,
}

impl Pruner for Median {
    fn check(&self, curve: &[f64], others: &[&[f64]]) -> Option<String> {
        let epoch = curve.len();
        if epoch <= self.warmup_epochs {
            return None;
        }
        let at_epoch: Vec<f64> = others
            .iter()
            .filter_map(|c| c.get(epoch - 1).copied())
            .collect();
        if at_epoch.len() < self.min_runs {
            return None;
        }
        let best = curve.iter().copied().fold(f64::INFINITY, f64::min);
        let median = median(at_epoch)?;
        (best > median).then(|| {
            format!("pruned at epoch {epoch}: best {best:.5} is worse than the median {median:.5} of other runs")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::refs;

    fn pruner() -> Median {
        Median {
            warmup_epochs: 2,
            min_runs: 3,
        }
    }

    #[test]
    fn stops_a_run_worse_than_the_median_after_warmup() {
        let others = vec![
            vec![1.0, 0.8, 0.6, 0.5],
            vec![1.0, 0.7, 0.5, 0.4],
            vec![1.2, 0.9, 0.7, 0.6],
        ];
        let losing = [1.5, 1.4, 1.3];
        assert!(
            pruner().check(&losing[..2], &refs(&others)).is_none(),
            "still warming up"
        );
        let reason = pruner().check(&losing, &refs(&others)).unwrap();
        assert!(reason.contains("epoch 3"), "{reason}");
        let winning = [1.0, 0.7, 0.55];
        assert!(pruner().check(&winning, &refs(&others)).is_none());
    }

    #[test]
    fn uses_the_best_value_so_far_and_needs_enough_runs() {
        let others = vec![
            vec![1.0, 0.8, 0.6],
            vec![1.0, 0.7, 0.6],
            vec![1.2, 0.9, 0.6],
        ];
        // Worse at epoch 3 than the median (0.6), but its best so far (0.5) is not.
        assert!(pruner().check(&[0.5, 0.9, 0.9], &refs(&others)).is_none());
        assert!(
            pruner()
                .check(&[1.5, 1.4, 1.3], &refs(&others[..2]))
                .is_none(),
            "two runs are too few"
        );
        // Runs that stopped before this epoch do not count.
        let short = vec![vec![1.0, 0.8], vec![1.0, 0.7], vec![1.0, 0.7], vec![1.0]];
        assert!(pruner().check(&[1.5, 1.4, 1.3], &refs(&short)).is_none());
    }
}
