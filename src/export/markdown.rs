//! `report.md`: the header, tables and image links, for a README or a pull-request comment.

use super::{
    Exporter, Report, check, duration_text, header_facts, mean_pm_std, metric_columns, num,
    param_text, setting_label,
};
use crate::plot::report_charts::{Chart, Charts, Slot};
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
        if r.count("finished") == 0 {
            let _ = writeln!(
                out,
                "\n> **No finished runs**: {} run(s), none finished.",
                r.runs.len()
            );
        }

        let _ = writeln!(out, "\n## Leaderboard\n");
        let mut head = vec!["#".to_string(), "run".to_string()];
        head.extend(r.swept.iter().cloned());
        head.extend(metric_columns(r));
        head.extend(["beats naive", "best epoch", "duration (s)", "status"].map(String::from));
        let rows = r.runs.iter().enumerate().map(|(i, run)| {
            let mut row = vec![
                if Some(i) == r.best {
                    format!("**{}**", i + 1)
                } else {
                    (i + 1).to_string()
                },
                format!("`{}`", run.run_id),
            ];
            row.extend(r.swept.iter().map(|k| param_text(run.params.get(k))));
            row.extend(metric_columns(r).iter().map(|m| {
                num(if *m == r.metric {
                    r.metric_of(run)
                } else {
                    run.metric(m)
                })
            }));
            row.push(check(r.beats_naive(run)).to_string());
            row.push(num(run.metric("best_epoch")));
            row.push(duration_text(run));
            row.push(match &run.failure_reason {
                Some(reason) => format!("{}: {reason}", run.status),
                None if Some(i) == r.best => "finished (best)".to_string(),
                None => run.status.clone(),
            });
            row
        });
        table(&mut out, &head, rows);

        let _ = writeln!(out, "\n## Loss curves\n");
        image(&mut out, &charts.loss_all);
        image(&mut out, &charts.loss_best);

        let _ = writeln!(out, "\n## Hyperparameter sensitivity\n");
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
                super::ROBUST_REL_STD * 100.0
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

        let _ = writeln!(out, "\n## Settings with seeds collapsed\n");
        let knobs = r.knobs();
        let mut head: Vec<String> = knobs.iter().map(|k| k.to_string()).collect();
        head.extend([
            format!("{} mean ± std", r.metric),
            "n finished".into(),
            "runs".into(),
            "beat naive".into(),
            "robust".into(),
        ]);
        let rows = r.settings.iter().map(|s| {
            let mut row: Vec<String> = knobs.iter().map(|k| param_text(s.params.get(*k))).collect();
            row.push(mean_pm_std(s));
            row.push(s.values.len().to_string());
            row.push(s.runs.to_string());
            row.push(format!("{}/{}", s.beat_naive, s.runs));
            row.push(check(Some(s.robust)).to_string());
            row
        });
        table(&mut out, &head, rows);

        let _ = writeln!(out, "\n## Forecast of the best run\n");
        image(&mut out, &charts.forecast);
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
