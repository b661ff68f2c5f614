//! `report.md`: the header, tables and image links, for a README or a pull-request comment.

use super::charts::{Chart, Charts, Slot};
use super::format::{header_facts, mean_pm_std, setting_label};
use super::model::{ROBUST_REL_STD, Report};
use super::table::{Cell, columns, rows, setting_head, setting_row};
use super::{Exporter, history};
use crate::store::RunStatus;
use anyhow::Result;
use std::fmt::Write;

pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn wants_charts(&self) -> bool {
        true
    }

    fn render(&self, r: &Report, charts: &Charts) -> Result<Vec<u8>> {
        let mut out = String::new();
        let _ = writeln!(out, "# aerocast report: {}\n", text(&r.experiment));
        for (k, v) in header_facts(r) {
            let _ = writeln!(out, "- **{k}**: {}", text(&v));
        }
        if r.count(RunStatus::Finished) == 0 {
            let _ = writeln!(
                out,
                "\n> **No finished runs**: {} run(s), none finished.",
                r.runs.len()
            );
        }

        let _ = writeln!(out, "\n## Leaderboard\n");
        let head: Vec<String> = columns(r).into_iter().map(|c| c.title).collect();
        let rows = rows(r, r.runs.len()).map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Cell::Rank { rank, best: true } => format!("**{rank}**"),
                    Cell::Run(id) => format!("`{id}`"),
                    other => other.text(),
                })
                .collect::<Vec<_>>()
        });
        table(&mut out, &head, rows);

        if let Some(best) = r.best.map(|i| &r.runs[i]) {
            let series = super::series::rows(best);
            if !series.is_empty() {
                let _ = writeln!(
                    out,
                    "\n## By series\n\nThe best run on each series, worst first; \"beaten by\" names the baselines that score lower there.\n"
                );
                let head = super::series::head(&series);
                let rows = series.iter().map(|row| {
                    super::series::cells(row, &series)
                        .into_iter()
                        .map(|c| text(&c))
                        .collect::<Vec<_>>()
                });
                table(&mut out, &head, rows);
            }
        }

        let _ = writeln!(out, "\n## Loss curves\n");
        image(&mut out, &charts.loss_all);
        image(&mut out, &charts.loss_best);

        let _ = writeln!(out, "\n## Hyperparameter sensitivity\n");
        let shares = super::importance::shares(r);
        if !shares.is_empty() {
            let _ = writeln!(
                out,
                "{}: {}.\n",
                super::importance::EXPLAINED,
                text(&super::importance::summary(&shares))
            );
        }
        if r.has_seeds() && r.best.is_some() {
            let robust: Vec<String> = r
                .settings
                .iter()
                .filter(|s| s.robust)
                .map(|s| {
                    format!(
                        "**{}** ({})",
                        text(&setting_label(&s.params)),
                        mean_pm_std(s)
                    )
                })
                .collect();
            let rule = format!(
                "every seed finished and beat the naive forecast, std within {}% of the mean",
                ROBUST_REL_STD * 100.0
            );
            if robust.is_empty() {
                let _ = writeln!(out, "No setting is robust across seeds ({rule}).\n");
            } else {
                let _ = writeln!(
                    out,
                    "Robust across seeds ({rule}): {}.\n",
                    robust.join("; ")
                );
            }
        }
        match &charts.sensitivity {
            Ok(list) => list.iter().for_each(|c| image_of(&mut out, c)),
            Err(why) => {
                let _ = writeln!(out, "_Not drawn: {}._\n", text(why));
            }
        }

        // When no setting ran with more than one seed the table would repeat the leaderboard.
        if r.has_seeds() && r.settings.iter().any(|s| s.runs > 1) {
            let _ = writeln!(out, "\n## Settings with seeds collapsed\n");
            let rows = r.settings.iter().map(|s| setting_row(r, s));
            table(&mut out, &setting_head(r), rows);
        }

        if r.nights.len() > 1 {
            let _ = writeln!(out, "\n## Nights\n");
            let head: Vec<String> = history::head().into_iter().map(String::from).collect();
            table(&mut out, &head, r.nights.iter().map(history::cells));
            image(&mut out, &charts.skill);
        }

        let _ = writeln!(out, "\n## Forecast of the best run\n");
        image(&mut out, &charts.forecast);
        if let Some(slot) = &charts.by_lead {
            let _ = writeln!(out, "\n## Error by lead time\n");
            image(&mut out, slot);
        }
        let _ = writeln!(out, "\n## Parallel coordinates\n");
        image(&mut out, &charts.parallel);
        Ok(out.into_bytes())
    }
}

/// User text in markdown: no table breaks, no raw HTML.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

fn table(out: &mut String, head: &[String], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(
        out,
        "| {} |",
        head.iter().map(|h| text(h)).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| text(c)).collect::<Vec<_>>().join(" | ")
        );
    }
}

fn image(out: &mut String, slot: &Slot) {
    match slot {
        Ok(c) => image_of(out, c),
        Err(why) => {
            let _ = writeln!(out, "_Not drawn: {}._\n", text(why));
        }
    }
}

fn image_of(out: &mut String, c: &Chart) {
    let _ = writeln!(
        out,
        "![{}]({})\n\n{}\n",
        text(&c.title),
        c.file,
        text(&c.caption)
    );
}
