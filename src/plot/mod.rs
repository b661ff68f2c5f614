//! Charts, drawn with plotters. The font is compiled in so charts render the same on machines
//! without system fonts (plotters' `ab_glyph` backend needs one registered by hand).

pub mod charts;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::sync::Once;

use crate::train::EpochReport;

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF shipped with the crate; failure would be a build defect.
        if register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled DejaVu Sans font failed to load");
        }
    });
}

/// Train and validation loss per epoch, as SVG text. Every run keeps one, so it must be cheap:
/// an SVG is text (a few kilobytes), drawn in memory, where rasterising and PNG-encoding the
/// same chart cost a few milliseconds per run.
pub fn loss_curve(title: &str, history: &[EpochReport]) -> Result<String> {
    let mut svg = String::new();
    draw_loss_curve(&mut svg, title, history)?;
    Ok(svg)
}

fn draw_loss_curve(svg: &mut String, title: &str, history: &[EpochReport]) -> Result<()> {
    ensure_font();
    let root = SVGBackend::with_string(svg, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let epochs = history.len().max(2) as i32;
    let values = history
        .iter()
        .flat_map(|r| [r.train_loss, r.val_loss])
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-6);

    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(1..epochs, (lo - pad).max(0.0)..hi + pad)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("MSE (normalised)")
        // Few minor grid lines: they were most of the file's bytes, and every run stores
        // one. (0 makes plotters' integer axis arithmetic overflow.)
        .max_light_lines(1)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(plot_err)?;

    let series = [
        (
            "train loss",
            BLUE,
            history.iter().map(|r| r.train_loss).collect::<Vec<_>>(),
        ),
        (
            "val loss",
            RED,
            history.iter().map(|r| r.val_loss).collect(),
        ),
    ];
    for (name, color, values) in series {
        let points = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i as i32 + 1, v));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 15))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing chart: {e}")
}
