//! The plots, drawn by `plotters` into SVG strings: bars, heatmaps and lines.

use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;
use crate::model::{BarChart, Heatmap, LineChart};

const SIZE: (u32, u32) = (720, 400);
const FONT: &str = "sans-serif";
/// Type sizes (the plot is scaled to about half a laptop screen or a phone's width).
const TITLE: u32 = 24;
const LABEL: u32 = 16;
const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa5);
const WARN: RGBColor = RGBColor(0xd6, 0x45, 0x3d);
/// Line colours, in series order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x3b, 0x6e, 0xa5),
    RGBColor(0xe0, 0x8a, 0x1e),
    RGBColor(0x3a, 0x9a, 0x5b),
    RGBColor(0xb0, 0x4a, 0x9c),
    RGBColor(0x8c, 0x6d, 0x31),
    RGBColor(0x55, 0x55, 0x55),
];

/// Draws on a fresh SVG canvas and returns the SVG, sized by its `viewBox` so it scales.
fn svg(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let fail = |reason: String| ReportError {
            plot: title.to_string(),
            reason,
        };
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(scalable(out))
}

/// Replaces the fixed `width`/`height` of the root element by a `viewBox` (CSS sizes it), and
/// drops the namespace attribute, which inline SVG in HTML does not need: the page then holds
/// no URL at all.
fn scalable(svg: String) -> String {
    let (w, h) = SIZE;
    svg.replacen(
        &format!("width=\"{w}\" height=\"{h}\""),
        &format!("viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"xMidYMid meet\""),
        1,
    )
    .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// `n` segments, `0..n` (a discrete range includes its end).
fn segments(n: usize) -> SegmentedCoord<RangedCoordusize> {
    (0..n.max(1) - 1).into_segmented()
}

/// When the bars' labels together are longer than this many characters, they are drawn
/// turned, reading downwards from the axis.
const TURN_LABELS: usize = 48;

/// Whether `labels` do not fit side by side under the bars.
fn turn(labels: &[&str]) -> bool {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    longest * labels.len() > TURN_LABELS
}

/// Draws `labels` turned a quarter, each starting just below its bar's foot at `feet[i]`
/// (pixels). The mesh cannot: it centres every axis label on its tick.
fn turned_labels(
    root: &DrawingArea<SVGBackend, Shift>,
    labels: &[&str],
    feet: impl Iterator<Item = (i32, i32)>,
) -> Result<(), String> {
    let style = TextStyle::from((FONT, LABEL).into_font().transform(FontTransform::Rotate90))
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (label, (x, y)) in labels.iter().zip(feet) {
        let text = Text::new(label.to_string(), (x, y + 8), style.clone());
        root.draw(&text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The upper end of a value axis: a little above the largest value (1 for none).
fn axis_top(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// A bar chart.
pub(crate) fn bars(c: &BarChart) -> Result<String, ReportError> {
    svg(&c.title, |root| {
        let n = c.bars.len().max(1);
        let values = c.bars.iter().map(|b| b.value).chain(c.threshold);
        let top = axis_top(values);
        let labels: Vec<&str> = c.bars.iter().map(|b| b.label.as_str()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&c.title, (FONT, TITLE))
            .margin(12)
            .x_label_area_size(if turn(&labels) { 150 } else { 48 })
            .y_label_area_size(72)
            .build_cartesian_2d(segments(n), 0.0..top)
            .map_err(|e| e.to_string())?;
        let turned = turn(&labels);
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if !turned => {
                labels.get(*i).map_or(String::new(), |l| l.to_string())
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .x_labels(n)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| short(*v))
            .x_desc(&c.x_label)
            .y_desc(&c.y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        let rects = c.bars.iter().enumerate().map(|(i, b)| {
            let colour = if b.highlight { WARN } else { BAR };
            let corners = [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), b.value.max(0.0)),
            ];
            let mut r = Rectangle::new(corners, colour.filled());
            r.set_margin(0, 0, 4, 4);
            r
        });
        chart.draw_series(rects).map_err(|e| e.to_string())?;
        if turned {
            let feet = (0..n).map(|i| chart.backend_coord(&(SegmentValue::CenterOf(i), 0.0)));
            turned_labels(root, &labels, feet)?;
        }
        if let Some(t) = c.threshold {
            let line = [(SegmentValue::Exact(0), t), (SegmentValue::Exact(n), t)];
            chart
                .draw_series(std::iter::once(PathElement::new(
                    line,
                    WARN.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// The grid a heatmap draws on: column segments left to right, row segments bottom to top.
type Grid<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<SegmentedCoord<RangedCoordusize>, SegmentedCoord<RangedCoordusize>>,
>;

/// A heatmap: one cell per row and column, darker for larger values, values written in when
/// they fit.
pub(crate) fn heatmap(h: &Heatmap) -> Result<String, ReportError> {
    svg(&h.title, |root| {
        let (cols, rows) = (h.columns.len().max(1), h.rows.len().max(1));
        let mut chart = ChartBuilder::on(root)
            .caption(&h.title, (FONT, TITLE))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(110)
            .build_cartesian_2d(segments(cols), segments(rows))
            .map_err(|e| e.to_string())?;
        heatmap_mesh(&mut chart, h, cols, rows)?;
        // (row from the bottom, column, value) of each cell with a value.
        let cells: Vec<(usize, usize, f64)> = (h.values.iter().enumerate())
            .flat_map(|(r, row)| {
                let y = rows.checked_sub(1 + r);
                row.iter()
                    .enumerate()
                    .filter_map(move |(c, v)| Some((y?, c, (*v)?)))
            })
            .collect();
        let max = cells.iter().fold(0.0f64, |m, c| m.max(c.2));
        let squares = cells.iter().map(|(y, c, v)| {
            let corners = [
                (SegmentValue::Exact(*c), SegmentValue::Exact(*y)),
                (SegmentValue::Exact(c + 1), SegmentValue::Exact(y + 1)),
            ];
            Rectangle::new(corners, shade(*v, max).filled())
        });
        chart.draw_series(squares).map_err(|e| e.to_string())?;
        if cols <= 16 && rows <= 16 {
            cell_values(&mut chart, &cells, max, h.percent)?;
        }
        Ok(())
    })
}

/// The heatmap's axes: a label per column and row (row 0 at the top), no grid lines.
fn heatmap_mesh<'a, 'b: 'a>(
    chart: &mut Grid<'a, 'b>,
    h: &Heatmap,
    cols: usize,
    rows: usize,
) -> Result<(), String> {
    let col_label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => h.columns.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let row_label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => (rows.checked_sub(1 + *i))
            .and_then(|k| h.rows.get(k))
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
        .x_labels(cols)
        .y_labels(rows)
        .x_label_formatter(&col_label)
        .y_label_formatter(&row_label)
        .x_desc(&h.x_label)
        .y_desc(&h.y_label)
        .draw()
        .map_err(|e| e.to_string())
}

/// Each cell's value in its centre (white on the dark cells).
fn cell_values<'a, 'b: 'a>(
    chart: &mut Grid<'a, 'b>,
    cells: &[(usize, usize, f64)],
    max: f64,
    percent: bool,
) -> Result<(), String> {
    let centred = Pos::new(HPos::Center, VPos::Center);
    let style = TextStyle::from((FONT, LABEL).into_font()).pos(centred);
    let texts = cells.iter().map(|(y, c, v)| {
        let text = if percent {
            format!("{:.0}%", v * 100.0)
        } else {
            short(*v)
        };
        let colour: &RGBColor = if max > 0.0 && v / max > 0.6 {
            &WHITE
        } else {
            &BLACK
        };
        let at = (SegmentValue::CenterOf(*c), SegmentValue::CenterOf(*y));
        Text::new(text, at, style.clone().color(colour))
    });
    chart
        .draw_series(texts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// White to the bar blue as `v` goes from 0 to `max`.
fn shade(v: f64, max: f64) -> RGBColor {
    let t = if max > 0.0 {
        (v / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mix = |to: u8| (255.0 - t * (255.0 - f64::from(to))).round() as u8;
    RGBColor(mix(BAR.0), mix(BAR.1), mix(BAR.2))
}

/// A number in at most four significant characters (12, 3.4, 1.2k, 5.6M).
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    match a {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.0}k", v / 1e3),
        a if a >= 1e3 => format!("{:.1}k", v / 1e3),
        a if a >= 10.0 || v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// A line chart with a legend.
pub(crate) fn lines(l: &LineChart) -> Result<String, ReportError> {
    svg(&l.title, |root| {
        let points = || {
            l.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.0.is_finite() && p.1.is_finite())
        };
        let (x0, x1) = bounds(points().map(|p| p.0));
        let (y0, y1) = bounds(points().map(|p| p.1));
        let (x0, x1, y0, y1) = match l.diagonal {
            true => (x0.min(y0), x1.max(y1), x0.min(y0), x1.max(y1)),
            false => (x0, x1, y0.min(0.0), y1 * 1.05),
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&l.title, (FONT, TITLE))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .y_label_formatter(&|v| short(*v))
            .x_desc(&l.x_label)
            .y_desc(&l.y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        if l.diagonal {
            let diagonal = [(x0, x0), (x1, x1)];
            chart
                .draw_series(std::iter::once(PathElement::new(
                    diagonal,
                    RGBColor(0xaa, 0xaa, 0xaa),
                )))
                .map_err(|e| e.to_string())?;
        }
        draw_series(&mut chart, l)?;
        Ok(())
    })
}

/// The plane a line chart draws on.
type Plane<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Each series as a line with its points marked, and a legend when there are several.
fn draw_series<'a, 'b: 'a>(chart: &mut Plane<'a, 'b>, l: &LineChart) -> Result<(), String> {
    for (s, colour) in l.series.iter().zip(PALETTE.iter().cycle()) {
        let style = colour.stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(|e| e.to_string())?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        chart
            .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
            .map_err(|e| e.to_string())?;
    }
    if l.series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The range of `values`, widened when empty or a single point.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    match (lo.is_finite(), hi > lo) {
        (false, _) => (0.0, 1.0),
        (true, true) => (lo, hi),
        (true, false) => (lo - 0.5, hi + 0.5),
    }
}
