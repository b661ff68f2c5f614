//! Names of the metrics a run records, spelled once. Per-epoch curves are `TRAIN_LOSS` and
//! `VAL_LOSS` (normalised MSE); the final values sit beside them under the same names.

pub const TRAIN_LOSS: &str = "train_loss";
pub const VAL_LOSS: &str = "val_loss";
/// The objective: ranks runs, drives adaptive samplers. In the target's units.
pub const VAL_RMSE: &str = "val_rmse";
pub const VAL_MAE: &str = "val_mae";
pub const NAIVE_VAL_RMSE: &str = "naive_val_rmse";
pub const NAIVE_VAL_MAE: &str = "naive_val_mae";
/// Scores on the held-out test span: recorded, shown, never used to rank, prune or propose.
pub const TEST_RMSE: &str = "test_rmse";
pub const TEST_MAE: &str = "test_mae";
pub const NAIVE_TEST_RMSE: &str = "naive_test_rmse";
pub const NAIVE_TEST_MAE: &str = "naive_test_mae";
pub const BEST_EPOCH: &str = "best_epoch";
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
    TEST_RMSE,
    TEST_MAE,
    NAIVE_TEST_RMSE,
    NAIVE_TEST_MAE,
    BEST_EPOCH,
    BEST_VAL_LOSS,
    EPOCHS_TRAINED,
];

/// The metric runs are ranked by unless the user names another.
pub const OBJECTIVE: &str = VAL_RMSE;

/// The test-span metrics, in the order reports show them.
pub const HELD_OUT: &[&str] = &[TEST_RMSE, NAIVE_TEST_RMSE, TEST_MAE];

/// The naive baseline's name for a metric: `val_rmse` → `naive_val_rmse`.
pub fn naive_of(metric: &str) -> String {
    format!("naive_{metric}")
}
