//! Champion against challenger, after a nightly sweep. The champion (the version an alias of a
//! registered model points to) and tonight's best run (the challenger) are scored on the same
//! rows of tonight's data: the test span when the spec holds one out (neither model was chosen
//! on it), else the validation span. The challenger is registered as the next version and the
//! alias moves to it, in one transaction, when it is better by at least `min_improvement`
//! (relative); otherwise the champion stays.

use crate::forecast::{self, RunModel};
use crate::spec::Spec;
use crate::store::{ModelRef, Store};
use crate::train::{self, Prepared, windows};
use anyhow::{Context, Result};
use serde::Serialize;

pub struct PromoteOptions {
    pub model: String,
    pub alias: String,
    /// Relative: 0.01 asks the challenger to be at least 1% better.
    pub min_improvement: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub model: String,
    pub alias: String,
    /// "promoted" or "kept".
    pub decision: String,
    pub reason: String,
    /// "test" or "validation": the rows both were scored on.
    pub span: String,
    pub challenger: Contender,
    pub champion: Option<Contender>,
    /// The version the alias points to after the decision.
    pub version: Option<i64>,
    /// Baselines on the same rows, from the challenger's record.
    pub naive_rmse: Option<f64>,
    pub linear_rmse: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contender {
    pub run_id: String,
    pub version: Option<i64>,
    /// RMSE on the compared rows; `None` when the model could not be scored on them.
    pub rmse: Option<f64>,
}

impl Promotion {
    pub fn promoted(&self) -> bool {
        self.decision == "promoted"
    }

    /// The champion beat tonight's best on the same rows: what `--fail-on-regression` reports.
    pub fn regressed(&self) -> bool {
        match (&self.champion, self.challenger.rmse) {
            (Some(Contender { rmse: Some(c), .. }), Some(t)) => !self.promoted() && *c < t,
            _ => false,
        }
    }
}

/// Decides and, when the challenger wins, registers it and moves the alias.
pub fn promote(
    store: &Store,
    spec: &Spec,
    challenger_run: &str,
    opts: &PromoteOptions,
) -> Result<Promotion> {
    let challenger = forecast::load_model(store, challenger_run)?;
    let (rows, span) = tonight_rows(spec)?;
    let challenger_rmse = score_on(spec, &challenger, &rows, span == "test")?;
    let record = store
        .run(challenger_run)?
        .context("the challenger run is not in the store")?;
    let baseline =
        |name: &str| record.metric(&format!("{name}_{span_key}", span_key = span_metric(span)));
    let champion_ref = ModelRef::Alias(opts.model.clone(), opts.alias.clone());
    let champion = store.resolve_model(&champion_ref).ok();
    let mut out = Promotion {
        model: opts.model.clone(),
        alias: opts.alias.clone(),
        decision: String::new(),
        reason: String::new(),
        span: span.to_string(),
        challenger: Contender {
            run_id: challenger_run.to_string(),
            version: None,
            rmse: Some(challenger_rmse),
        },
        champion: None,
        version: None,
        naive_rmse: baseline("naive"),
        linear_rmse: baseline("linear"),
    };
    let (promote, reason) = match &champion {
        None => (
            true,
            format!(
                "{}@{} is not set: the first champion",
                opts.model, opts.alias
            ),
        ),
        Some(v) if v.run_id == challenger_run => {
            out.champion = Some(Contender {
                run_id: v.run_id.clone(),
                version: Some(v.version),
                rmse: Some(challenger_rmse),
            });
            (false, "tonight's best is already the champion".to_string())
        }
        Some(v) => {
            let scored = forecast::load_model(store, &v.run_id)
                .and_then(|m| score_on(spec, &m, &rows, span == "test"));
            out.champion = Some(Contender {
                run_id: v.run_id.clone(),
                version: Some(v.version),
                rmse: scored.as_ref().ok().copied(),
            });
            match scored {
                Err(e) => (
                    true,
                    format!("the champion cannot be scored on tonight's data ({e:#})"),
                ),
                Ok(champ) if challenger_rmse < champ * (1.0 - opts.min_improvement) => (
                    true,
                    format!(
                        "challenger {challenger_rmse:.4} beats champion v{} {champ:.4} by {:.1}% (at least {:.1}% asked)",
                        v.version,
                        100.0 * (1.0 - challenger_rmse / champ),
                        100.0 * opts.min_improvement
                    ),
                ),
                Ok(champ) => (
                    false,
                    format!(
                        "champion v{} {champ:.4} holds against challenger {challenger_rmse:.4} (needed {:.1}% better)",
                        v.version,
                        100.0 * opts.min_improvement
                    ),
                ),
            }
        }
    };
    out.reason = reason;
    if promote {
        let version = store.register_version(
            &opts.model,
            challenger_run,
            std::slice::from_ref(&opts.alias),
        )?;
        out.decision = "promoted".into();
        out.challenger.version = Some(version.version);
        out.version = Some(version.version);
    } else {
        out.decision = "kept".into();
        out.version = champion.map(|c| c.version);
    }
    Ok(out)
}

fn span_metric(span: &str) -> &'static str {
    if span == "test" {
        "test_rmse"
    } else {
        "val_rmse"
    }
}

/// The target rows both models are scored on, and which span they are.
fn tonight_rows(spec: &Spec) -> Result<(Vec<usize>, &'static str)> {
    let (_, p) = train::prepare(&spec.data, &spec.lines)?;
    Ok(if p.test_targets().is_empty() {
        (p.val_targets().to_vec(), "validation")
    } else {
        (p.test_targets().to_vec(), "test")
    })
}

/// A model's RMSE on tonight's `rows`, reading tonight's file with the model's own columns and
/// normalising with the model's own statistics (it never saw tonight's training split).
fn score_on(spec: &Spec, m: &RunModel, rows: &[usize], _test: bool) -> Result<f64> {
    anyhow::ensure!(
        m.card.target == spec.data.target,
        "it forecasts `{}`, tonight's runs `{}`",
        m.card.target,
        spec.data.target
    );
    let mut data_spec = spec.data.clone();
    let card = &m.card;
    data_spec.features = card.features[..card.features.len() - card.indicator_columns].to_vec();
    data_spec.series_feature = false;
    let mut data = crate::data::load(&data_spec, &spec.lines)?;
    if card.indicator_columns > 0 {
        let names: Vec<&str> = card.series.iter().map(|s| s.name.as_str()).collect();
        data.set_indicators(&names)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    let spans = windows::series_spans(&data, spec.data.train_fraction, spec.data.test_fraction);
    let stats = m
        .card
        .stats_for_data(&data)
        .map_err(|e| anyhow::anyhow!(e))?;
    let p = Prepared::with_stats(&data, &spans, stats).score_reach(spec.data.reach);
    let rows: Vec<usize> = rows.iter().copied().filter(|&t| t < p.rows()).collect();
    let (rmse, _) = train::score(&m.model, &p, &rows, &m.cfg)?;
    Ok(rmse)
}
