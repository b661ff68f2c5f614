//! `index.html`: one page, its charts as SVG files beside it, no network. maud escapes every
//! interpolated value, so user text (experiment names, failure reasons) shows as text.

use super::charts::{Chart, Charts, Slot};
use super::format::{header_facts, mean_pm_std, raw, setting_label};
use super::model::{ROBUST_REL_STD, Report};
use super::table::{Cell, Kind, columns, param_kind, row_class, rows, setting_head, setting_row};
use super::{Exporter, history};
use crate::store::RunStatus;
use anyhow::Result;
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "index.html"
    }

    fn wants_charts(&self) -> bool {
        true
    }

    fn render(&self, r: &Report, charts: &Charts) -> Result<Vec<u8>> {
        Ok(page(r, charts).into_string().into_bytes())
    }
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 0 auto; padding: 1.5rem 1.5rem 4rem; max-width: 1320px; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .8rem; word-break: break-word; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .25rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.2rem; margin: 0; font-size: .92rem; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; word-break: break-all; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: .6rem .9rem; margin: 1rem 0; }
.muted { color: #666; font-size: .9rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f4f4f6; position: sticky; top: 0; white-space: normal; vertical-align: bottom; min-width: 3.2rem; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \2195"; color: #aaa; }
table.sortable th.asc::after { content: " \2191"; color: #333; }
table.sortable th.desc::after { content: " \2193"; color: #333; }
td.text, th.text { text-align: left; }
td.reason { max-width: 14rem; overflow: hidden; text-overflow: ellipsis; color: #a1260d; text-align: left; }
details.reasons { font-size: .88rem; margin: .5rem 0 0; } details.reasons li { margin: .15rem 0; }
tr.best td { background: #e3f3e0; font-weight: 600; }
tr.flagged td { background: #fdecea; }
tr.failed td { color: #888; }
tr.failed td.reason { color: #a1260d; }
tr.pruned td { color: #8a6d00; font-style: italic; }
tr.pruned td.reason { color: #8a6d00; }
.yes { color: #1a7f37; font-weight: 600; } .no { color: #b42318; }
code { font-size: .85rem; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
"#;

/// Sorts a table by the clicked column: numbers numerically (from `data-sort`), blanks last.
const SORT_JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('th');
  heads.forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      heads.forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.dataset.type === 'num';
      var key = function (row) {
        var cell = row.cells[col];
        var v = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
        return numeric ? parseFloat(v) : v;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (numeric) {
          if (isNaN(x) && isNaN(y)) return 0;
          if (isNaN(x)) return 1;
          if (isNaN(y)) return -1;
          return asc ? x - y : y - x;
        }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"#;

fn page(r: &Report, charts: &Charts) -> Markup {
    let finished = r.count(RunStatus::Finished);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "aerocast report: " (r.experiment) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "aerocast report: " (r.experiment) }
                dl.facts {
                    @for (k, v) in header_facts(r) {
                        dt { (k) } dd { (v) }
                    }
                }
                @if r.runs.is_empty() {
                    p.note { "No runs recorded for this experiment yet." }
                } @else if finished == 0 {
                    p.note {
                        "No finished runs: all " (r.runs.len()) " run(s) failed or did not finish. "
                        "Their failure reasons are in the leaderboard below."
                    }
                }
                (leaderboard(r))
                (by_series(r))
                h2 id="loss" { "Loss curves" }
                (figure(&charts.loss_all))
                (figure(&charts.loss_best))
                h2 id="sensitivity" { "Hyperparameter sensitivity" }
                (importance(r))
                (robustness(r))
                @match &charts.sensitivity {
                    Ok(list) => { @for c in list { (figure_of(c)) } }
                    Err(why) => { p.muted { "Not drawn: " (why) "." } }
                }
                (seed_table(r))
                (nights(r, charts))
                h2 id="forecast" { "Forecast of the best run" }
                (figure(&charts.forecast))
                @if let Some(slot) = &charts.by_lead {
                    h2 id="by-lead" { "Error by lead time" }
                    (figure(slot))
                }
                h2 id="parallel" { "Parallel coordinates" }
                (figure(&charts.parallel))
                p.muted { "Generated by aerocast " (crate::VERSION) ". Opens from disk; no network needed." }
                script { (PreEscaped(SORT_JS)) }
            }
        }
    }
}

fn figure(slot: &Slot) -> Markup {
    match slot {
        Ok(c) => figure_of(c),
        Err(why) => html! { p.muted { "Not drawn: " (why) "." } },
    }
}

fn figure_of(c: &Chart) -> Markup {
    html! {
        figure {
            img src=(c.file) alt=(c.title) width="900" height="460";
            figcaption { (c.caption) }
        }
    }
}

/// Rows of the HTML leaderboard; the full one is in leaderboard.csv and .json beside the page.
pub const TABLE_ROWS: usize = 200;

fn leaderboard(r: &Report) -> Markup {
    let cols = columns(r);
    html! {
        h2 id="leaderboard" { "Leaderboard" }
        p.muted {
            "Every run: finished runs best first by " (r.metric) ", then pruned runs (by their "
            (r.metric) " when stopped), then the rest. Click a column to sort. "
            "“beats naive” compares " (r.metric) " with the last-value forecast's. "
            "The best run is highlighted."
        }
        @if r.runs.len() > TABLE_ROWS {
            p.note {
                "Showing the top " (TABLE_ROWS) " of " (r.runs.len()) " runs. The full leaderboard, "
                "in the same order, is in " a href="leaderboard.csv" { "leaderboard.csv" } " and "
                a href="leaderboard.json" { "leaderboard.json" } " beside this page."
            }
        }
        div.scroll {
            table.sortable id="leaderboard-table" {
                thead { tr {
                    @for c in &cols {
                        th class=[(c.kind == Kind::Text).then_some("text")] data-type=(kind_name(c.kind)) { (c.title) }
                    }
                }}
                tbody {
                    @for (i, row) in rows(r, TABLE_ROWS).enumerate() {
                        tr class=(row_class(r, i)) {
                            @for cell in row { (td(&cell, super::loss_plots::link(&r.runs[i]))) }
                        }
                    }
                }
            }
        }
        (reasons(r))
    }
}

/// Every failure and pruning reason in full, folded under the table: the status column
/// shows the first words, so rows stay one line high.
/// The best run series by series (data of several series only), worst first.
fn by_series(r: &Report) -> Markup {
    let rows = r
        .best
        .map(|i| super::series::rows(&r.runs[i]))
        .unwrap_or_default();
    html! {
        @if !rows.is_empty() {
            h2 id="series" { "By series" }
            p.muted {
                "The best run on each series, worst first. A flagged row is a series where a "
                "baseline scores lower than the model."
            }
            table {
                thead { tr { @for h in super::series::head(&rows) { th { (h) } } } }
                tbody {
                    @for row in &rows {
                        tr class=[(!row.beaten_by.is_empty()).then_some("flagged")] {
                            @for (i, c) in super::series::cells(row, &rows).into_iter().enumerate() {
                                td class=(if i == 0 { "text" } else { "num" }) { (c) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn reasons(r: &Report) -> Markup {
    let with_reason: Vec<_> = r
        .runs
        .iter()
        .filter(|run| run.failure_reason.is_some())
        .collect();
    html! {
        @if !with_reason.is_empty() {
            details.reasons {
                summary { "Reasons of the " (with_reason.len()) " failed, pruned or stopped runs" }
                ul {
                    @for run in &with_reason {
                        li {
                            code { (&run.run_id[..8.min(run.run_id.len())]) } " " (run.status) ": "
                            (run.failure_reason.as_deref().unwrap_or(""))
                        }
                    }
                }
            }
        }
    }
}

/// A cell; a run's id links its loss plot (`loss`) when it has one.
fn td(cell: &Cell, loss: Option<String>) -> Markup {
    html! {
        @match cell {
            Cell::Rank { rank, best } => {
                td data-sort=(rank) title=[best.then_some("best run")] {
                    @if *best { "★ " } (rank)
                }
            }
            Cell::Run(id) => {
                td.text title=(id) data-sort=(id) {
                    @if let Some(href) = loss {
                        a href=(href) title="loss curve" { code { (cell.text()) } }
                    } @else {
                        code { (cell.text()) }
                    }
                }
            }
            Cell::Check(b) => {
                td class=(match b { Some(true) => "yes", Some(false) => "no", None => "" }) {
                    (match b { Some(true) => "✓ yes", Some(false) => "✗ no", None => "-" })
                }
            }
            // The status word only, so rows stay one line on a laptop screen; the reason is in
            // the cell's tooltip and in full under the table.
            Cell::Status(run, _) if run.failure_reason.is_some() => {
                td.reason title=(cell.text()) { (run.status) }
            }
            Cell::Status(run, best) => {
                td.text { (run.status) @if *best { " ★" } }
            }
            Cell::Param(_) => { td data-sort=(cell.raw()) title=(cell.raw()) { (cell.text()) } }
            _ => { td data-sort=(cell.raw()) { (cell.text()) } }
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Num => "num",
        Kind::Text => "text",
    }
}

fn importance(r: &Report) -> Markup {
    let shares = super::importance::shares(r);
    html! {
        @if !shares.is_empty() {
            p {
                (super::importance::EXPLAINED) ": "
                @for (i, s) in shares.iter().enumerate() {
                    @if i > 0 { " · " }
                    strong { (s.knob) } " " (format!("{:.2}", s.share))
                }
                "."
            }
        }
    }
}

fn robustness(r: &Report) -> Markup {
    let robust: Vec<_> = r.settings.iter().filter(|s| s.robust).collect();
    html! {
        @if r.has_seeds() && !r.settings.is_empty() && r.best.is_some() {
            p {
                @if robust.is_empty() {
                    "No setting is robust across seeds (every seed finished, beat the naive forecast, "
                    "and the std across seeds is within " (ROBUST_REL_STD * 100.0) "% of the mean)."
                } @else {
                    "Robust across seeds (every seed finished and beat the naive forecast, std within "
                    (ROBUST_REL_STD * 100.0) "% of the mean): "
                    @for (i, s) in robust.iter().enumerate() {
                        @if i > 0 { "; " }
                        strong { (setting_label(&s.params)) } " (" (mean_pm_std(s)) ")"
                    }
                    "."
                }
            }
        }
    }
}

/// One row per sweep with the skill chart; hidden while the experiment has one sweep.
fn nights(r: &Report, charts: &Charts) -> Markup {
    html! {
        @if r.nights.len() > 1 {
            h2 id="nights" { "Nights" }
            p.muted { "One row per sweep, oldest first: each scored on its own data snapshot." }
            div.scroll {
                table id="nights-table" {
                    thead { tr { @for h in history::head() { th { (h) } } } }
                    tbody {
                        @for n in &r.nights { tr { @for c in history::cells(n) { td { (c) } } } }
                    }
                }
            }
            (figure(&charts.skill))
        }
    }
}

fn seed_table(r: &Report) -> Markup {
    let knobs = r.knobs();
    html! {
        // When no setting ran with more than one seed the table would repeat the leaderboard.
        @if r.has_seeds() && r.settings.iter().any(|s| s.runs > 1) {
            h2 id="settings" { "Settings with seeds collapsed" }
            p.muted { "One row per setting of the swept knobs; " (r.metric) " as mean ± sample std over its finished runs." }
            div.scroll {
                table.sortable id="settings-table" {
                    thead { tr {
                        @for (i, h) in setting_head(r).iter().enumerate() {
                            th data-type=(if i < knobs.len() { kind_name(param_kind(r, knobs[i])) } else if i == knobs.len() + 4 { "text" } else { "num" }) { (h) }
                        }
                    }}
                    tbody {
                        @for s in r.settings.iter().take(TABLE_ROWS) {
                            tr {
                                @for (i, cell) in setting_row(r, s).iter().enumerate() {
                                    @if i == knobs.len() {
                                        td data-sort=(raw(s.mean)) { (cell) }
                                    } @else if i == knobs.len() + 4 {
                                        td class=(if s.robust { "yes" } else { "" }) { (cell) }
                                    } @else {
                                        td { (cell) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
