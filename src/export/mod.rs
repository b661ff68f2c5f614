//! The comparison report: one folder per experiment with a leaderboard, charts and
//! seed-aggregated tables. The data is gathered once into a [`Report`] (`model.rs`); each file
//! format is an [`Exporter`] in its own file that renders it, and the terminal is one more
//! renderer (`terminal.rs`).

pub mod charts;
pub mod csv;
pub mod format;
pub mod history;
mod html;
pub mod importance;
pub mod json;
mod loss_plots;
mod markdown;
pub mod model;
mod ranges;
pub mod series;
pub mod table;
pub mod terminal;

pub use model::{Report, Scope, default_metric, rank, resolve_experiment};

use crate::store::Store;
use anyhow::{Context, Result};
use charts::Charts;
use std::path::{Path, PathBuf};

/// The folder under the store where reports go by default.
pub const REPORTS_DIR: &str = "reports";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    Md,
    Json,
    Csv,
}

/// One output format.
pub trait Exporter {
    /// The file written in the report folder.
    fn file_name(&self) -> &'static str;
    /// Whether the format shows the charts (they are drawn only if so).
    fn wants_charts(&self) -> bool;
    fn render(&self, report: &Report, charts: &Charts) -> Result<Vec<u8>>;
}

fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(html::Html),
        Format::Md => Box::new(markdown::Markdown),
        Format::Json => Box::new(json::Json),
        Format::Csv => Box::new(csv::Csv),
    }
}

/// The folder a report is written to by default: `<store>/reports/<experiment slug>/`
/// (`./aerocast-reports/<experiment slug>/` for a database store).
pub fn default_dir(store: &Store, experiment: &str) -> PathBuf {
    store.reports_dir().join(slug(experiment))
}

/// Renders `report` in `format` into `dir`; returns the path of its main file.
pub fn write(store: &Store, report: &Report, format: Format, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let exporter = exporter(format);
    let charts = if exporter.wants_charts() {
        charts::draw(store, report, dir)
    } else {
        Charts::default()
    };
    let path = dir.join(exporter.file_name());
    let bytes = exporter.render(report, &charts)?;
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    if format == Format::Html {
        if let Err(e) = loss_plots::write(store, report, dir) {
            crate::errln!("warning: the runs' loss plots could not all be written: {e:#}");
        }
        // The page shows the top of the leaderboard; the whole of it sits beside the page.
        for companion in [Format::Json, Format::Csv] {
            let e = self::exporter(companion);
            let file = dir.join(e.file_name());
            std::fs::write(&file, e.render(report, &charts)?)
                .with_context(|| format!("writing {}", file.display()))?;
        }
    }
    Ok(path)
}

/// A folder name from user text: only `[A-Za-z0-9_-]`, so no name can reach outside the
/// reports folder. A name that had to change gets a short hash, so two names never share one.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let mut s: String = s.trim_matches('-').chars().take(60).collect();
    if s.is_empty() {
        s = "experiment".to_string();
    }
    if s != name {
        let h = crate::hash::sha256_hex(name);
        s = format!("{s}-{}", &h[..8]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_stay_inside_the_folder() {
        assert_eq!(slug("AeroCast-GRU_1"), "AeroCast-GRU_1");
        let s = slug("../../etc/passwd");
        assert!(s.starts_with("etc-passwd-"), "{s}");
        let s = slug("<script>alert(1)</script>");
        assert!(s.starts_with("script-alert-1-script-"), "{s}");
        assert!(slug("...").starts_with("experiment-"));
        assert_ne!(slug("a b"), slug("a_b"));
        for name in ["..", "/", "a/../../b", "\u{0}", "ü"] {
            let s = slug(name);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }
}
