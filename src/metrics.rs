//! Names of the metrics a run records, spelled once. Per-epoch curves are `TRAIN_LOSS` and
//! `VAL_LOSS` (normalised MSE); the final values sit beside them under the same names.

pub const TRAIN_LOSS: &str = "train_loss";
pub const VAL_LOSS: &str = "val_loss";
/// The objective: ranks runs, drives adaptive samplers. In the target's units.
pub const VAL_RMSE: &str = "val_rmse";
pub const VAL_MAE: &str = "val_mae";
pub const NAIVE_VAL_RMSE: &str = "naive_val_rmse";
pub const NAIVE_VAL_MAE: &str = "naive_val_mae";
/// Ridge autoregression on the same windows (see `baselines.rs`).
pub const LINEAR_VAL_RMSE: &str = "linear_val_rmse";
pub const LINEAR_VAL_MAE: &str = "linear_val_mae";
/// The value one season back, with `[data] season` set.
pub const SEASONAL_NAIVE_VAL_RMSE: &str = "seasonal_naive_val_rmse";
pub const SEASONAL_NAIVE_VAL_MAE: &str = "seasonal_naive_val_mae";
pub const BEST_EPOCH: &str = "best_epoch";
/// The epoch whose weights the run kept (`[train] keep`).
pub const KEPT_EPOCH: &str = "kept_epoch";
pub const BEST_VAL_LOSS: &str = "best_val_loss";
pub const EPOCHS_TRAINED: &str = "epochs_trained";

/// Every final metric a run records: a `--metric` outside this list that no run has is a typo.
pub const RECORDED: &[&str] = &[
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_RMSE,
    VAL_MAE,
    NAIVE_VAL_RMSE,
    NAIVE_VAL_MAE,
    LINEAR_VAL_RMSE,
    LINEAR_VAL_MAE,
    SEASONAL_NAIVE_VAL_RMSE,
    SEASONAL_NAIVE_VAL_MAE,
    BEST_EPOCH,
    KEPT_EPOCH,
    BEST_VAL_LOSS,
    EPOCHS_TRAINED,
];

/// The metric runs are ranked by unless the user names another.
pub const OBJECTIVE: &str = VAL_RMSE;

/// The baselines every run is compared with, by the prefix of their metric names.
pub const BASELINES: &[&str] = &["naive", "linear", "seasonal_naive"];

/// The naive baseline's name for a metric: `val_rmse` → `naive_val_rmse`.
pub fn naive_of(metric: &str) -> String {
    baseline_of("naive", metric)
}

/// A baseline's name for a metric: (`linear`, `val_rmse`) → `linear_val_rmse`.
pub fn baseline_of(baseline: &str, metric: &str) -> String {
    format!("{baseline}_{metric}")
}
