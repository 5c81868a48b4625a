//! The chart image of an alert e-mail: the metric over time (blue) against
//! its threshold (red), drawn with plotters' bitmap backend and encoded as
//! PNG. The image carries no text (no font dependency): the figures and
//! times are in the e-mail's table, in the reader's language.

use plotters::prelude::*;

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 240;

/// Renders `points` (time, value) and the threshold as a PNG.
pub fn render(points: &[(i64, f64)], threshold: f64) -> Result<Vec<u8>, String> {
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let finite: Vec<(i64, f64)> = points
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let (x0, x1) = match (finite.first(), finite.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
            (Some(a), _) => (a.0 - 1, a.0 + 1),
            _ => (0, 1),
        };
        let top = finite
            .iter()
            .map(|(_, v)| *v)
            .fold(threshold, f64::max)
            .max(f64::MIN_POSITIVE)
            * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(|e| e.to_string())?;
        let grey = RGBColor(225, 225, 225);
        for i in 1..4 {
            let y = top * f64::from(i) / 4.0;
            chart
                .draw_series(LineSeries::new([(x0, y), (x1, y)], grey))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(x0, threshold), (x1, threshold)],
                RED.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                finite.iter().copied(),
                BLUE.stroke_width(3),
            ))
            .map_err(|e| e.to_string())?;
        for p in &finite {
            chart
                .draw_series(std::iter::once(Circle::new(*p, 3, BLUE.filled())))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_png_with_the_series_and_threshold() {
        let pts: Vec<(i64, f64)> = (0..24)
            .map(|h| (h * 3600, if h > 20 { 0.004 } else { 0.0002 }))
            .collect();
        let png = super::render(&pts, 0.0005).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 500);
        // Degenerate inputs still render.
        super::render(&[], 1.0).unwrap();
        super::render(&[(5, f64::NAN)], 0.0).unwrap();
    }
}
