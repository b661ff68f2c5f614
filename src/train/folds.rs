//! Rolling-origin folds over the rows before the test span. Windows expand: fold k trains on
//! every row before its origin and validates on the next validation-length rows. The last
//! fold is the single train/validation split; earlier origins step back `step` rows each.

use super::Prepared;
use super::windows::{Spans, cut_at};
use crate::data::{Dataset, Timeline};
use crate::spec::Refit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// First validated row; every row before it trains.
    pub origin: usize,
    /// One past the last validated row.
    pub end: usize,
}

/// `count` folds whose last one validates `split..val_end`, origins `step` rows apart
/// (default: the validation length). An error says why the rows do not fit.
pub fn folds(
    split: usize,
    val_end: usize,
    count: usize,
    step: Option<usize>,
) -> Result<Vec<Fold>, String> {
    let len = val_end - split;
    let step = step.unwrap_or(len);
    let back = (count - 1) * step;
    if back >= split {
        return Err(format!(
            "{count} folds {step} rows apart need more than {back} training rows before the \
             last origin (row {split}); fewer folds or a smaller step fit"
        ));
    }
    Ok((0..count)
        .map(|k| {
            let origin = split - (count - 1 - k) * step;
            Fold {
                origin,
                end: origin + len,
            }
        })
        .collect())
}

/// Fold k of every series together, as spans. Series cut at common times (see
/// [`series_spans`](super::windows::series_spans)) are folded on that shared time axis, so
/// every fold has one cut-off for all; otherwise each series gets its own [`folds`] over its
/// rows.
pub fn series_folds(
    data: &Dataset,
    spans: &[Spans],
    count: usize,
    step: Option<usize>,
) -> Result<Vec<Vec<Spans>>, String> {
    if let Some(timeline) = data.timeline() {
        let (split, val_end) = (
            first_time(&timeline, spans.iter().map(|s| (s.split, s.end))),
            first_time(&timeline, spans.iter().map(|s| (s.val_end, s.end))),
        );
        return Ok(folds(split, val_end, count, step)?
            .iter()
            .map(|f| cut_at(data, &timeline, f.origin, f.end))
            .collect());
    }
    let per_series = spans
        .iter()
        .map(|s| folds(s.split - s.start, s.val_end - s.start, count, step))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..count)
        .map(|k| {
            spans
                .iter()
                .zip(&per_series)
                .map(|(s, f)| Spans {
                    start: s.start,
                    split: s.start + f[k].origin,
                    val_end: s.start + f[k].end,
                    end: s.end,
                })
                .collect()
        })
        .collect())
}

/// The earliest distinct time of the rows `(row, series end)` that are inside their series: a
/// cut there splits every series exactly as the cut that placed those rows (no row of any
/// series has a time between the two).
fn first_time(timeline: &Timeline, rows: impl Iterator<Item = (usize, usize)>) -> usize {
    rows.filter(|(row, end)| row < end)
        .map(|(row, _)| timeline.index_of(row))
        .min()
        .unwrap_or(timeline.len())
}

/// Each fold's rows, normalised as its model sees them: by the fold's own training rows
/// when every fold trains anew, by the first fold's when one model scores them all. Rows
/// whose window of `reach` rows would cross a break are not scored, as on the single split.
pub fn prepare(data: &Dataset, folds: &[Vec<Spans>], refit: Refit, reach: usize) -> Vec<Prepared> {
    let first = Prepared::from_spans(data, &folds[0]);
    let mut out = Vec::with_capacity(folds.len());
    for f in &folds[1..] {
        out.push(match refit {
            Refit::Each => Prepared::from_spans(data, f),
            Refit::Once => {
                let stats = first.segments.iter().map(|s| s.stats.clone()).collect();
                Prepared::with_stats(data, f, stats)
            }
        });
    }
    out.insert(0, first);
    out.into_iter().map(|p| p.score_reach(reach)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_step_back_from_the_validation_split() {
        // 100 rows before the test span, validation 80..100.
        let f = folds(80, 100, 4, None).unwrap();
        let spans: Vec<(usize, usize)> = f.iter().map(|f| (f.origin, f.end)).collect();
        assert_eq!(spans, vec![(20, 40), (40, 60), (60, 80), (80, 100)]);
        let f = folds(80, 100, 3, Some(7)).unwrap();
        let spans: Vec<(usize, usize)> = f.iter().map(|f| (f.origin, f.end)).collect();
        assert_eq!(spans, vec![(66, 86), (73, 93), (80, 100)]);
        assert_eq!(
            folds(80, 100, 1, None).unwrap(),
            vec![Fold {
                origin: 80,
                end: 100
            }]
        );
        let err = folds(80, 100, 5, None).unwrap_err();
        assert!(err.contains("5 folds 20 rows apart"), "{err}");
    }

    #[test]
    fn each_fold_normalises_by_its_own_training_rows_unless_refit_once() {
        let targets: Vec<f32> = vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0];
        let data = Dataset::in_memory(vec!["y".into()], "y", targets.clone(), targets);
        let spans = Prepared::with_spans(&data, 4, 6).spans();
        let f = series_folds(&data, &spans, 2, Some(2)).unwrap();
        let each = prepare(&data, &f, Refit::Each, 1);
        assert_eq!(each[0].stats().target_mean, 2.0);
        assert_eq!(each[1].stats().target_mean, 4.0);
        assert_eq!(
            (each[0].val_targets(), each[1].val_targets()),
            (&[2, 3][..], &[4, 5][..])
        );
        let once = prepare(&data, &f, Refit::Once, 1);
        assert_eq!(once[1].stats().target_mean, 2.0);
        assert_eq!(once[1].val_targets(), [4, 5]);
    }

    #[test]
    fn fold_validation_rows_never_reach_across_a_break() {
        let values: Vec<f32> = (0..40).map(|v| v as f32).collect();
        let mut data = Dataset::in_memory(vec!["y".into()], "y", values.clone(), values);
        data.breaks = vec![25];
        let spans = Prepared::with_spans(&data, 30, 40).spans();
        let f = series_folds(&data, &spans, 2, Some(10)).unwrap();
        let p = prepare(&data, &f, Refit::Each, 3);
        // Fold 1 validates rows 20..30; rows 25 and 26 would reach back across row 25's break.
        let want: Vec<usize> = (20..25).chain(27..30).collect();
        assert_eq!(p[0].val_targets(), &want[..]);
        assert_eq!(p[1].val_targets(), &(30..40).collect::<Vec<_>>()[..]);
    }

    /// Two series over different times (A at 0..10, B at 4..14): every fold cuts both at
    /// one time, so no row trained on is later than a row validated, in either series; the
    /// last fold is the single split.
    #[test]
    fn series_over_different_times_share_each_folds_cut_off() {
        let (data, times) = super::super::windows::two_series_over_different_times();
        let single = super::super::windows::series_spans(&data, 0.6, 0.2);
        let f = series_folds(&data, &single, 3, Some(2)).unwrap();
        assert_eq!(f.last(), Some(&single));
        for fold in &f {
            let trained = fold.iter().flat_map(|s| s.start..s.split);
            let validated = fold.iter().flat_map(|s| s.split..s.val_end);
            let last_trained = trained.map(|r| times[r]).max().unwrap();
            let first_validated = validated.map(|r| times[r]).min().unwrap();
            assert!(last_trained < first_validated, "{fold:?}");
        }
        // Origins two time steps apart: the first validated times are 3, 5 and 7.
        let origins: Vec<i64> = f
            .iter()
            .map(|fold| fold.iter().map(|s| times[s.split]).min().unwrap())
            .collect();
        assert_eq!(origins, [3, 5, 7]);
    }
}
