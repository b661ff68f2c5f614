//! Asynchronous successive halving (ASHA): rungs at `min_epochs·ηᵏ` epochs; at a rung a run goes
//! on only if its value is among the best 1/η of the values recorded at that rung so far.
//! Following Optuna, while fewer than η runs have reached a rung, only the best goes on.

use super::Pruner;

pub struct Asha {
    pub min_epochs: usize,
    pub reduction_factor: usize,
}

impl Asha {
    fn is_rung(&self, epoch: usize) -> bool {
        let mut rung = self.min_epochs;
        while rung < epoch {
            rung *= self.reduction_factor;
        }
        rung == epoch
    }
}

impl Pruner for Asha {
    fn check(&self, curve: &[f64], others: &[&[f64]]) -> Option<String> {
        let epoch = curve.len();
        if epoch == 0 || !self.is_rung(epoch) {
            return None;
        }
        let value = curve[epoch - 1];
        let mut competing: Vec<f64> = others
            .iter()
            .filter_map(|c| c.get(epoch - 1).copied())
            .filter(|v| v.is_finite())
            .chain([value])
            .collect();
        competing.sort_by(f64::total_cmp);
        let keep = (competing.len() / self.reduction_factor).max(1);
        let threshold = competing[keep - 1];
        (value > threshold).then(|| {
            format!(
                "pruned at epoch {epoch} (ASHA rung): {value:.5} is not in the best {keep} of {} runs at this rung",
                competing.len()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::refs;

    #[test]
    fn rungs_grow_geometrically() {
        let asha = Asha {
            min_epochs: 2,
            reduction_factor: 3,
        };
        let rungs: Vec<usize> = (1..=60).filter(|&e| asha.is_rung(e)).collect();
        assert_eq!(rungs, vec![2, 6, 18, 54]);
    }

    #[test]
    fn keeps_the_top_third_at_a_rung() {
        let asha = Asha {
            min_epochs: 1,
            reduction_factor: 3,
        };
        let others: Vec<Vec<f64>> = [0.1, 0.2, 0.3, 0.4, 0.5].iter().map(|&v| vec![v]).collect();
        // Six values at rung 1: the best two go on.
        assert!(asha.check(&[0.15], &refs(&others)).is_none());
        assert!(asha.check(&[0.25], &refs(&others)).is_some());
        // Between rungs nothing is judged.
        assert!(asha.check(&[9.0, 9.0], &refs(&others)).is_none());
        // The first run at a rung is the best there.
        assert!(asha.check(&[5.0], &[]).is_none());
    }
}
