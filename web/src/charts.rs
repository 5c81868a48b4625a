//! Charts drawn on the server by `plotters` as SVG (text stays text; no font
//! files). Colours are fixed marker values that the stylesheet maps onto the
//! active theme; series also differ by marker shape and threshold lines are
//! dashed and named in the legend, so colour is never the only signal. Every
//! chart is shown beside a table of the same numbers (the pages do that).

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// Marker colours (see `assets/app.css`).
pub const FG: RGBColor = RGBColor(0x11, 0x11, 0x12);
pub const GRID: RGBColor = RGBColor(0xC8, 0xC8, 0xC9);
pub const S1: RGBColor = RGBColor(0x1F, 0x5F, 0xBF);
pub const S2: RGBColor = RGBColor(0xA3, 0x4A, 0x00);
pub const S3: RGBColor = RGBColor(0x5B, 0x2A, 0x86);
pub const THRESH: RGBColor = RGBColor(0xB0, 0x00, 0x21);
pub const BAD: RGBColor = RGBColor(0xC0, 0x00, 0x10);
pub const GOOD: RGBColor = RGBColor(0x1B, 0x6E, 0x20);
pub const H_GOOD: RGBColor = RGBColor(0xCD, 0xEE, 0xD2);
pub const H_BAD: RGBColor = RGBColor(0xF7, 0xC6, 0xC9);
pub const H_NONE: RGBColor = RGBColor(0xE4, 0xE4, 0xE5);

const PALETTE: [RGBColor; 3] = [S1, S2, S3];
const FONT: &str = "sans-serif";

type Res = Result<(), Box<dyn std::error::Error>>;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws into an SVG string, marks it up for the stylesheet and screen
/// readers (`role="img"` with a `<title>`; the table beside it carries the
/// numbers).
fn svg(
    w: u32,
    h: u32,
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Res,
) -> String {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        if let Err(e) = draw(&root) {
            tracing::warn!(error = %e, chart = title, "chart not drawn");
        }
        let _ = root.present();
    }
    let head = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" preserveAspectRatio=\"xMinYMin meet\" ",
        t = escape(title)
    );
    let mut out = buf.replacen("<svg ", &head, 1);
    if let Some(i) = out.find('>') {
        out.insert_str(i + 1, &format!("<title>{}</title>", escape(title)));
    }
    out
}

fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&FG)
}

/// One line of a time chart: a value per x index (None = no data).
pub struct Line {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// A threshold line with its legend text.
pub struct Threshold {
    pub value: f64,
    pub label: String,
}

/// Lines over labelled x positions (days), with dashed threshold lines.
pub fn lines(
    title: &str,
    x_labels: &[String],
    lines: &[Line],
    thresholds: &[Threshold],
    y_fmt: &dyn Fn(f64) -> String,
) -> String {
    let n = x_labels.len().max(2);
    let peak = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten().copied())
        .chain(thresholds.iter().map(|t| t.value))
        .fold(0.0f64, f64::max);
    let ymax = if peak > 0.0 { peak * 1.2 } else { 1.0 };
    svg(720, 300, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..ymax)?;
        let xl = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            x_labels.get(i as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(n.min(8))
            .y_labels(6)
            .x_label_formatter(&xl)
            .y_label_formatter(&|y| y_fmt(*y))
            .label_style(font(12))
            .axis_style(FG)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()?;
        for (i, l) in lines.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = l
                .values
                .iter()
                .enumerate()
                .filter_map(|(x, v)| v.map(|v| (x as f64, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                .label(l.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            match i % 3 {
                0 => {
                    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
                }
                1 => {
                    chart
                        .draw_series(pts.iter().map(|p| TriangleMarker::new(*p, 4, c.filled())))?;
                }
                _ => {
                    chart.draw_series(pts.iter().map(|p| Cross::new(*p, 4, c.stroke_width(2))))?;
                }
            }
        }
        for t in thresholds {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, t.value), ((n - 1) as f64, t.value)],
                    8,
                    5,
                    THRESH.stroke_width(2),
                ))?
                .label(t.label.clone())
                .legend(|(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 6, y), (x + 10, y), (x + 18, y)],
                        THRESH.stroke_width(2),
                    )
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(TRANSPARENT)
            .border_style(FG)
            .label_font(font(12))
            .draw()?;
        Ok(())
    })
}

/// A histogram of (lower, upper, count) bins on a linear axis up to `x_max`,
/// with dashed vertical threshold lines.
pub fn histogram(
    title: &str,
    bins: &[(f64, f64, u64)],
    x_max: f64,
    thresholds: &[Threshold],
    x_fmt: &dyn Fn(f64) -> String,
) -> String {
    let ymax = bins
        .iter()
        .filter(|b| b.0 < x_max)
        .map(|b| b.2)
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.15;
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    svg(720, 280, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(5)
            .x_label_formatter(&|x| x_fmt(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(font(12))
            .axis_style(FG)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()?;
        chart
            .draw_series(bins.iter().filter(|b| b.0 < x_max).map(|&(lo, hi, c)| {
                Rectangle::new([(lo, 0.0), (hi.min(x_max), c as f64)], S1.filled())
            }))?
            .label(title.to_string())
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], S1.filled()));
        for t in thresholds {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(t.value, 0.0), (t.value, ymax)],
                    8,
                    5,
                    THRESH.stroke_width(2),
                ))?
                .label(t.label.clone())
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], THRESH.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(TRANSPARENT)
            .border_style(FG)
            .label_font(font(12))
            .draw()?;
        Ok(())
    })
}

/// One horizontal bar, with its own threshold (if any).
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub threshold: Option<f64>,
}

/// Horizontal bars, first on top. A bar over its threshold is drawn in the
/// "bad" colour and its value label starts with ✗.
pub fn bars(
    title: &str,
    bars: &[Bar],
    threshold_label: Option<&str>,
    x_fmt: &dyn Fn(f64) -> String,
) -> String {
    let n = bars.len().max(1) as i32;
    let peak = bars
        .iter()
        .flat_map(|b| [Some(b.value), b.threshold])
        .flatten()
        .fold(0.0f64, f64::max);
    let xmax = if peak > 0.0 { peak * 1.3 } else { 1.0 };
    let h = 60 + 26 * n as u32;
    svg(720, h, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(170)
            .build_cartesian_2d(0f64..xmax, (0..n).into_segmented())?;
        let yl = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => bars
                .get((n - 1 - i) as usize)
                .map(|b| crate::fmt::trunc(&b.label, 26))
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(n as usize)
            .x_label_formatter(&|x| x_fmt(*x))
            .y_label_formatter(&yl)
            .label_style(font(12))
            .axis_style(FG)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_y_mesh()
            .draw()?;
        for (i, b) in bars.iter().enumerate() {
            let y = n - 1 - i as i32;
            let over = b.threshold.is_some_and(|t| b.value > t);
            let c = if over { BAD } else { S1 };
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(y)),
                    (b.value, SegmentValue::Exact(y + 1)),
                ],
                c.filled(),
            );
            r.set_margin(4, 4, 0, 0);
            chart.draw_series(std::iter::once(r))?;
            let text = format!("{}{}", if over { "✗ " } else { "" }, x_fmt(b.value));
            chart.draw_series(std::iter::once(Text::new(
                text,
                (b.value + xmax * 0.01, SegmentValue::CenterOf(y)),
                font(11).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                )),
            )))?;
            if let Some(t) = b.threshold {
                chart.draw_series(DashedLineSeries::new(
                    vec![(t, SegmentValue::Exact(y)), (t, SegmentValue::Exact(y + 1))],
                    5,
                    3,
                    THRESH.stroke_width(2),
                ))?;
            }
        }
        if let Some(label) = threshold_label {
            // Legend entry for the dashed lines (drawn off-range).
            chart
                .draw_series(std::iter::once(PathElement::new(
                    Vec::<(f64, SegmentValue<i32>)>::new(),
                    THRESH,
                )))?
                .label(label.to_string())
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], THRESH.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(TRANSPARENT)
                .border_style(FG)
                .label_font(font(12))
                .draw()?;
        }
        Ok(())
    })
}

/// State of a heat-map cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    Healthy,
    Unhealthy,
    Untested,
}

/// One heat-map cell.
pub struct HeatCell {
    pub label: String,
    pub detail: String,
    pub state: CellState,
}

/// Rows of cells (a row per clause), each cell filled by state and marked
/// ✓ / ✗ / – so the state reads without colour.
pub fn heatmap(title: &str, rows: &[(String, Vec<HeatCell>)]) -> String {
    const PER_LINE: usize = 6;
    const CW: i32 = 150;
    const CH: i32 = 46;
    const LW: i32 = 64;
    let lines: usize = rows
        .iter()
        .map(|(_, c)| c.len().div_ceil(PER_LINE).max(1))
        .sum();
    let w = (LW + CW * PER_LINE as i32 + 8) as u32;
    let h = (lines as i32 * (CH + 6) + 8) as u32;
    svg(w, h, title, |root| {
        let mut y = 4;
        for (name, cells) in rows {
            root.draw(&Text::new(name.clone(), (4, y + CH / 2 - 7), font(14)))?;
            if cells.is_empty() {
                y += CH + 6;
                continue;
            }
            for chunk in cells.chunks(PER_LINE) {
                for (i, c) in chunk.iter().enumerate() {
                    let x = LW + i as i32 * CW;
                    let (fill, sym) = match c.state {
                        CellState::Healthy => (H_GOOD, "✓"),
                        CellState::Unhealthy => (H_BAD, "✗"),
                        CellState::Untested => (H_NONE, "–"),
                    };
                    root.draw(&Rectangle::new(
                        [(x, y), (x + CW - 4, y + CH)],
                        fill.filled(),
                    ))?;
                    root.draw(&Rectangle::new(
                        [(x, y), (x + CW - 4, y + CH)],
                        FG.stroke_width(1),
                    ))?;
                    let label = format!("{sym} {}", crate::fmt::trunc(&c.label, 16));
                    root.draw(&Text::new(label, (x + 6, y + 6), font(13)))?;
                    root.draw(&Text::new(
                        crate::fmt::trunc(&c.detail, 22),
                        (x + 6, y + 26),
                        font(11),
                    ))?;
                }
                y += CH + 6;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_text_and_threshold_lines() {
        let s = lines(
            "crash rate",
            &["06-01".into(), "06-02".into(), "06-03".into()],
            &[Line {
                label: "per session".into(),
                values: vec![Some(0.0004), None, Some(0.0011)],
            }],
            &[Threshold {
                value: 0.0005,
                label: "0.05%".into(),
            }],
            &|y| format!("{:.2}%", y * 100.0),
        );
        assert!(
            s.starts_with("<svg class=\"chart\" role=\"img\""),
            "{}",
            &s[..80]
        );
        assert!(s.contains("<title>crash rate</title>"));
        assert!(s.contains("<text") && s.contains("0.05%"));
        assert!(s.contains("#B00021"), "threshold colour present");
        let b = bars(
            "p90",
            &[
                Bar {
                    label: "a".into(),
                    value: 250.0,
                    threshold: Some(300.0),
                },
                Bar {
                    label: "b".into(),
                    value: 350.0,
                    threshold: Some(300.0),
                },
            ],
            Some("300 ms"),
            &|x| format!("{x:.0}"),
        );
        assert!(b.contains("✗ 350"));
        let h = heatmap(
            "matrix",
            &[(
                "5.2a".into(),
                vec![HeatCell {
                    label: "iPhone".into(),
                    detail: "0.01%".into(),
                    state: CellState::Healthy,
                }],
            )],
        );
        assert!(h.contains("✓ iPhone"));
    }
}
