//! Chart primitives for the comparison report, drawn as SVG: line charts (loss curves,
//! forecasts), metric-vs-knob charts with error bars, and parallel coordinates.

use super::{ensure_font, plot_err};
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 460;

// plotters' SVG backend writes font sizes at about 0.8 of these.
const TITLE_FONT: u32 = 24;
const LABEL_FONT: u32 = 17;
const DESC_FONT: u32 = 19;

/// Tableau 10: distinguishable, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Short tick labels: up to four significant digits, scientific for very large or small.
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    let mag = v.abs().log10().floor();
    if !(-3.0..5.0).contains(&mag) {
        return format!("{v:.1e}");
    }
    let decimals = (3.0 - mag).clamp(0.0, 8.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub struct Line {
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub width: u32,
    pub alpha: f64,
    pub dashed: bool,
    /// Shown in the legend when set.
    pub legend: Option<String>,
}

impl Line {
    pub fn new(points: Vec<(f64, f64)>, color: RGBColor) -> Line {
        Line {
            points,
            color,
            width: 2,
            alpha: 1.0,
            dashed: false,
            legend: None,
        }
    }
}

pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub log_y: bool,
    /// Formats x tick values (e.g. a row index as its date).
    pub x_label: Option<&'a dyn Fn(f64) -> String>,
    pub legend_at: SeriesLabelPosition,
}

/// A shaded range behind the lines, such as a forecast's prediction interval: `lower` and
/// `upper` share their x values.
pub struct Band {
    pub lower: Vec<(f64, f64)>,
    pub upper: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub legend: String,
}

/// Lines over a shared x axis; a log y axis plots log10 values with their real values as labels.
pub fn line_chart(path: &Path, c: &LineChart, lines: &[Line]) -> Result<()> {
    line_chart_with_band(path, c, None, lines)
}

/// [`line_chart`] with `band` shaded behind the lines (and inside the y range).
pub fn line_chart_with_band(
    path: &Path,
    c: &LineChart,
    band: Option<&Band>,
    lines: &[Line],
) -> Result<()> {
    ensure_font();
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let ty = |y: f64| if c.log_y { y.log10() } else { y };
    let usable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!c.log_y || y > 0.0);
    let band_points = band
        .into_iter()
        .flat_map(|b| b.lower.iter().chain(&b.upper));
    let pts = || {
        lines
            .iter()
            .flat_map(|l| l.points.iter())
            .chain(band_points.clone())
            .copied()
            .filter(usable)
    };
    let (x0, x1) = bounds(pts().map(|p| p.0), 0.0);
    let (y0, y1) = bounds(pts().map(|p| ty(p.1)), 0.05);

    let mut chart = ChartBuilder::on(&root)
        .caption(c.title, ("sans-serif", TITLE_FONT))
        .margin(15)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let xfmt = |v: &f64| match c.x_label {
        Some(f) => f(*v),
        None => tick(*v),
    };
    let y_desc = if c.log_y {
        format!("{} (log scale)", c.y_desc)
    } else {
        c.y_desc.to_string()
    };
    chart
        .configure_mesh()
        .x_desc(c.x_desc)
        .y_desc(y_desc)
        .x_labels(8)
        .y_labels(0)
        .x_label_formatter(&xfmt)
        .label_style(("sans-serif", LABEL_FONT))
        .axis_desc_style(("sans-serif", DESC_FONT))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(plot_err)?;
    draw_y_ticks(&root, &mut chart, &y_ticks(y0, y1, c.log_y), (x0, x1))?;

    if let Some(b) = band {
        let outline: Vec<(f64, f64)> = b
            .upper
            .iter()
            .chain(b.lower.iter().rev())
            .copied()
            .filter(usable)
            .map(|(x, y)| (x, ty(y)))
            .collect();
        let fill = b.color.mix(0.2).filled();
        chart
            .draw_series(std::iter::once(Polygon::new(outline, fill)))
            .map_err(plot_err)?
            .label(&b.legend)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], fill));
    }
    for line in lines {
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter(usable)
            .map(|(x, y)| (x, ty(y)))
            .collect();
        let style = line.color.mix(line.alpha).stroke_width(line.width);
        let anno = if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(points, 7, 5, style))
                .map_err(plot_err)?
        } else {
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(plot_err)?
        };
        if let Some(name) = &line.legend {
            let (col, w) = (line.color, line.width.max(2));
            anno.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(w))
            });
        }
    }
    if band.is_some() || lines.iter().any(|l| l.legend.is_some()) {
        draw_legend(&mut chart, c.legend_at.clone())?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XScale {
    Linear,
    Log,
    /// x values are category indexes 0, 1, …
    Categorical,
}

/// Mean ± std of the metric at each knob value, for one setting of the other knobs.
pub struct ErrSeries {
    pub name: String,
    pub points: Vec<ErrPoint>,
}

/// One knob value's point and the ends of its bar (equal to `y` when there is no bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrPoint {
    pub x: f64,
    pub y: f64,
    pub low: f64,
    pub high: f64,
}

pub struct ErrChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub scale: XScale,
    /// Knob values with their labels: ticks go exactly there.
    pub ticks: &'a [(f64, String)],
    /// A horizontal reference line (the naive forecast's metric) with its legend.
    pub baseline: Option<(f64, &'a str)>,
    /// Join each series' points with a line; off for sampled knobs, whose points are single
    /// runs at scattered values.
    pub connect: bool,
}

pub fn error_bar_chart(path: &Path, c: &ErrChart, series: &[ErrSeries]) -> Result<()> {
    ensure_font();
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let tx = |x: f64| if c.scale == XScale::Log { x.log10() } else { x };
    let (mut x0, mut x1) = bounds(c.ticks.iter().map(|t| tx(t.0)), 0.0);
    let span = x1 - x0;
    x0 -= span * 0.08;
    x1 += span * 0.08;
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.low, p.high]))
        .chain(c.baseline.map(|b| b.0))
        .filter(|v| v.is_finite());
    let (y0, y1) = bounds(ys, 0.08);
    // Series side by side at each knob value, so their error bars do not hide each other.
    let step = (x1 - x0) * 0.012;
    let offset = |i: usize| (i as f64 - (series.len() as f64 - 1.0) / 2.0) * step;

    let mut chart = ChartBuilder::on(&root)
        .caption(c.title, ("sans-serif", TITLE_FONT))
        .margin(15)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(c.x_desc)
        .y_desc(c.y_desc)
        .x_labels(0)
        .disable_x_mesh()
        .y_labels(0)
        .label_style(("sans-serif", LABEL_FONT))
        .axis_desc_style(("sans-serif", DESC_FONT))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(plot_err)?;
    draw_y_ticks(&root, &mut chart, &y_ticks(y0, y1, false), (x0, x1))?;

    // Ticks and labels exactly at the swept values.
    let label_style = ("sans-serif", LABEL_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (x, label) in c.ticks {
        let (px, py) = chart.backend_coord(&(tx(*x), y0));
        root.draw(&PathElement::new(vec![(px, py), (px, py + 5)], BLACK))
            .map_err(plot_err)?;
        root.draw(&Text::new(label.clone(), (px, py + 8), label_style.clone()))
            .map_err(plot_err)?;
    }

    if let Some((y, name)) = c.baseline {
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, y), (x1, y)],
                7,
                5,
                grey.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], grey.stroke_width(2))
            });
    }
    for (i, s) in series.iter().enumerate() {
        let col = color(i);
        let pts: Vec<ErrPoint> = s
            .points
            .iter()
            .filter(|p| p.y.is_finite())
            .map(|&p| ErrPoint {
                x: tx(p.x) + offset(i),
                ..p
            })
            .collect();
        let joined = if c.connect { pts.as_slice() } else { &[] };
        chart
            .draw_series(LineSeries::new(
                joined.iter().map(|p| (p.x, p.y)),
                col.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|p| Circle::new((p.x, p.y), 4, col.filled())))
            .map_err(plot_err)?;
        for p in &pts {
            if p.high > p.low && p.low.is_finite() && p.high.is_finite() {
                let (px, top) = chart.backend_coord(&(p.x, p.high.min(y1)));
                let (_, bottom) = chart.backend_coord(&(p.x, p.low.max(y0)));
                let style = col.stroke_width(2);
                for seg in [
                    vec![(px, top), (px, bottom)],
                    vec![(px - 5, top), (px + 5, top)],
                    vec![(px - 5, bottom), (px + 5, bottom)],
                ] {
                    root.draw(&PathElement::new(seg, style)).map_err(plot_err)?;
                }
            }
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

/// One vertical axis of a parallel-coordinates chart; positions are in 0..=1.
pub struct PcAxis {
    pub name: String,
    pub ticks: Vec<(f64, String)>,
}

/// One polyline per run: a position in 0..=1 on every axis, and its colour value in 0..=1
/// (0 = best). `highlight` draws one line on top, thick and black.
pub fn parallel_coordinates(
    path: &Path,
    title: &str,
    note: &str,
    axes: &[PcAxis],
    lines: &[(Vec<f64>, f64)],
    highlight: Option<usize>,
) -> Result<()> {
    ensure_font();
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (top, bottom) = root.split_vertically(HEIGHT - 28);
    let n = axes.len().max(2) as f64;
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", TITLE_FONT))
        .margin(15)
        .margin_left(70)
        .margin_right(70)
        .margin_top(20)
        .margin_bottom(40)
        .build_cartesian_2d(-0.05..(n - 1.0) + 0.05, -0.02..1.02f64)
        .map_err(plot_err)?;
    // Worst first, so the best lines end up on top.
    let alpha = if lines.len() > 200 { 0.35 } else { 0.75 };
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| lines[b].1.total_cmp(&lines[a].1));
    for i in order {
        let (pos, c) = &lines[i];
        let col = gradient(*c);
        chart
            .draw_series(LineSeries::new(
                pos.iter().enumerate().map(|(a, &y)| (a as f64, y)),
                col.mix(alpha).stroke_width(2),
            ))
            .map_err(plot_err)?;
    }
    if let Some((pos, _)) = highlight.and_then(|h| lines.get(h)) {
        chart
            .draw_series(LineSeries::new(
                pos.iter().enumerate().map(|(a, &y)| (a as f64, y)),
                BLACK.stroke_width(4),
            ))
            .map_err(plot_err)?;
    }
    let name_style = ("sans-serif", DESC_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let tick_style = ("sans-serif", LABEL_FONT - 1)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (a, axis) in axes.iter().enumerate() {
        let x = a as f64;
        let (px, p_top) = chart.backend_coord(&(x, 1.0));
        let (_, p_bottom) = chart.backend_coord(&(x, 0.0));
        top.draw(&PathElement::new(
            vec![(px, p_top), (px, p_bottom)],
            BLACK.stroke_width(2),
        ))
        .map_err(plot_err)?;
        top.draw(&Text::new(
            axis.name.clone(),
            (px, p_bottom + 14),
            name_style.clone(),
        ))
        .map_err(plot_err)?;
        for (y, label) in &axis.ticks {
            let (_, py) = chart.backend_coord(&(x, *y));
            top.draw(&PathElement::new(vec![(px - 4, py), (px, py)], BLACK))
                .map_err(plot_err)?;
            // A light backing keeps the label readable over the lines.
            let w = (label.chars().count() as i32) * 9 + 4;
            top.draw(&Rectangle::new(
                [(px - 7 - w, py - 9), (px - 5, py + 9)],
                WHITE.mix(0.85).filled(),
            ))
            .map_err(plot_err)?;
            top.draw(&Text::new(label.clone(), (px - 7, py), tick_style.clone()))
                .map_err(plot_err)?;
        }
    }
    bottom
        .draw(&Text::new(
            note.to_string(),
            (20, 5),
            ("sans-serif", LABEL_FONT).into_font().color(&BLACK),
        ))
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

/// Blue (0, best) through grey to red (1, worst).
fn gradient(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let (a, m, b) = (
        (33.0, 102.0, 172.0),
        (170.0, 170.0, 170.0),
        (214.0, 39.0, 40.0),
    );
    let lerp = |p: (f64, f64, f64), q: (f64, f64, f64), s: f64| {
        RGBColor(
            (p.0 + (q.0 - p.0) * s) as u8,
            (p.1 + (q.1 - p.1) * s) as u8,
            (p.2 + (q.2 - p.2) * s) as u8,
        )
    };
    if t < 0.5 {
        lerp(a, m, t * 2.0)
    } else {
        lerp(m, b, (t - 0.5) * 2.0)
    }
}

type Chart2d<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The legend every chart uses: framed, on a translucent background.
fn draw_legend<'a, 'b: 'a>(chart: &mut Chart2d<'a, 'b>, at: SeriesLabelPosition) -> Result<()> {
    chart
        .configure_series_labels()
        .position(at)
        .label_font(("sans-serif", LABEL_FONT))
        .border_style(BLACK.mix(0.4))
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// Round y values for ticks between `lo` and `hi`: multiples of 1, 2 or 5 × 10^k on a linear
/// axis; 1, 2, 5 × 10^k on a log axis (whose coordinates are log10 values). Returns
/// (coordinate, label) pairs. Computed here because plotters' own float ticks can drop the
/// last one to rounding.
pub fn y_ticks(lo: f64, hi: f64, log: bool) -> Vec<(f64, String)> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    if log {
        for mantissas in [&[1.0][..], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 5.0, 7.0]] {
            let mut out = Vec::new();
            for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
                for m in mantissas {
                    let v = m * 10f64.powi(k);
                    let c = v.log10();
                    if c >= lo - 1e-9 && c <= hi + 1e-9 {
                        out.push((c, tick(v)));
                    }
                }
            }
            if out.len() >= 4 || mantissas.len() == 5 {
                if out.len() >= 2 {
                    return out;
                }
                break;
            }
        }
        // Less than a factor of 2: fall back to linear ticks of the real values.
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        return y_ticks(a, b, false)
            .into_iter()
            .filter(|(v, _)| *v > 0.0)
            .map(|(v, l)| (v.log10(), l))
            .collect();
    }
    let raw = (hi - lo) / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v, tick(v))
        })
        .collect()
}

/// Horizontal grid lines and labels at `ticks`, left of the plotting area.
fn draw_y_ticks(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    chart: &mut Chart2d,
    ticks: &[(f64, String)],
    (x0, x1): (f64, f64),
) -> Result<()> {
    let style = ("sans-serif", LABEL_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (y, label) in ticks {
        chart
            .draw_series(LineSeries::new([(x0, *y), (x1, *y)], BLACK.mix(0.08)))
            .map_err(plot_err)?;
        let (px, py) = chart.backend_coord(&(x0, *y));
        root.draw(&PathElement::new(vec![(px - 5, py), (px, py)], BLACK))
            .map_err(plot_err)?;
        root.draw(&Text::new(label.clone(), (px - 8, py), style.clone()))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// min..max of the values, padded by `pad` of the span; a single value gets a unit-wide range.
fn bounds(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let w = lo.abs().max(1.0) * 0.05;
        return (lo - w, hi + w);
    }
    let p = (hi - lo) * pad;
    (lo - p, hi + p)
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.003), "0.003");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(1.23456), "1.235");
        assert_eq!(tick(0.0001), "1.0e-4");
    }

    /// A log-scale loss chart renders to valid SVG. `AEROCAST_KEEP_CHART=path` keeps it to look at.
    #[test]
    fn log_scale_chart_renders() {
        use super::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.svg");
        let lines: Vec<Line> = (0..4)
            .map(|i| {
                let mut l = Line::new(
                    (1..=20)
                        .map(|e| (e as f64, 10f64.powi(i) * 3.0 / e as f64))
                        .collect(),
                    color(i as usize),
                );
                l.legend = Some(format!("run {i}"));
                l
            })
            .collect();
        line_chart(
            &path,
            &LineChart {
                title: "log scale",
                x_desc: "epoch",
                y_desc: "loss",
                log_y: true,
                x_label: None,
                legend_at: SeriesLabelPosition::UpperRight,
            },
            &lines,
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        // Round 1-2-5 ticks on the log axis, not 10^x values like 316.2.
        let labels: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        assert!(
            labels.contains(&"1000") && labels.contains(&"0.1"),
            "{labels:?}"
        );
        if let Some(keep) = std::env::var_os("AEROCAST_KEEP_CHART") {
            std::fs::copy(&path, keep).unwrap();
        }
    }

    #[test]
    fn y_ticks_keep_both_ends() {
        let t: Vec<String> = super::y_ticks(2.46, 3.075, false)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["2.5", "2.6", "2.7", "2.8", "2.9", "3"]);
        let t: Vec<String> = super::y_ticks(-1.2, 0.7, true)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["0.1", "0.2", "0.5", "1", "2", "5"]);
    }
}
