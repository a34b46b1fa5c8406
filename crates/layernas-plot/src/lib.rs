//! Line charts written as SVG and PNG, with an embedded font (DejaVu Sans, `assets/`, with its
//! licence) so that no system font library is needed: `layernas bench`'s report charts, `layernas
//! train`'s training curves and other reports' (the paper experiment's fronts).
//!
//! ```
//! use layernas_plot::{Chart, Series};
//!
//! let chart = Chart {
//!     title: "accuracy".into(),
//!     x_label: "epoch".into(),
//!     y_label: "%".into(),
//!     series: vec![Series::line("validation", vec![(1.0, 60.0), (2.0, 70.0)])],
//!     markers: Vec::new(),
//!     background: &[],
//!     y_range: None,
//! };
//! let dir = tempfile::tempdir().unwrap();
//! chart.write(&dir.path().join("curve")).unwrap();
//! assert!(dir.path().join("curve.png").exists() && dir.path().join("curve.svg").exists());
//! ```
#![warn(missing_docs)]

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// A chart file could not be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot write {path}: {reason}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// One line of a chart.
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// A reference line (the table's optimum or true front), drawn in black; the others take
    /// the palette's colours in order.
    pub reference: bool,
}

impl Series {
    /// A line in the palette's next colour.
    pub fn line(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.to_string(),
            points,
            reference: false,
        }
    }
}

/// A single labelled point drawn over the lines (a backbone beside a searched front).
pub struct Marker {
    /// The text written beside it.
    pub label: String,
    /// Where it is.
    pub point: (f64, f64),
}

/// A chart: title, axes, lines, labelled markers and an optional cloud of grey background
/// points.
pub struct Chart<'a> {
    /// Title.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Labelled points, drawn in black over the lines.
    pub markers: Vec<Marker>,
    /// Grey points behind everything.
    pub background: &'a [(f64, f64)],
    /// The vertical range, when not the data's.
    pub y_range: Option<(f64, f64)>,
}

const COLORS: [RGBColor; 7] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

impl Chart<'_> {
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let all = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .chain(self.background.iter())
            .chain(self.markers.iter().map(|m| &m.point));
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return ((0.0, 1.0), (0.0, 1.0));
        }
        let (y0, y1) = self.y_range.unwrap_or((y0, y1));
        let pad = |a: f64, b: f64| {
            let p = ((b - a) * 0.03).max(1e-6);
            (a - p, b + p)
        };
        (pad(x0, x1), pad(y0, y1))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        if !self.background.is_empty() {
            chart
                .draw_series(
                    self.background
                        .iter()
                        .filter(|p| p.1 >= y0)
                        .map(|&p| Circle::new(p, 1, RGBColor(200, 200, 200).filled())),
                )
                .map_err(err)?;
        }
        for (i, s) in self.series.iter().enumerate() {
            if s.points.is_empty() {
                continue;
            }
            let color = if s.reference {
                BLACK
            } else {
                COLORS[i % COLORS.len()]
            };
            let points: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| p.1 >= y0).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        for m in &self.markers {
            if m.point.1 < y0 {
                continue;
            }
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    m.point,
                    7,
                    BLACK.filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    m.label.clone(),
                    m.point,
                    ("sans-serif", 14).into_font().color(&BLACK),
                )))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
        Ok(())
    }

    /// Writes `<stem>.svg` and `<stem>.png` (960 x 600).
    pub fn write(&self, stem: &Path) -> Result<(), PlotError> {
        write_stacked(std::slice::from_ref(self), stem)
    }
}

/// Writes `charts` one above the other (960 x 600 pixels in all for one chart, 960 x 360 more
/// for each further one) as `<stem>.svg` and `<stem>.png`.
pub fn write_stacked(charts: &[Chart], stem: &Path) -> Result<(), PlotError> {
    REGISTER.call_once(|| {
        // The font is embedded and valid; a failure would only make text disappear.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let height = 600 + 360 * charts.len().saturating_sub(1) as u32;
    let size = (960, height);
    fn draw_all<DB: DrawingBackend>(
        charts: &[Chart],
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let panels = root.split_evenly((charts.len().max(1), 1));
        for (chart, panel) in charts.iter().zip(panels) {
            chart.draw(panel)?;
        }
        root.present().map_err(|e| e.to_string())
    }
    for ext in ["svg", "png"] {
        let path = stem.with_extension(ext);
        let result = if ext == "svg" {
            draw_all(charts, SVGBackend::new(&path, size).into_drawing_area())
        } else {
            draw_all(charts, BitMapBackend::new(&path, size).into_drawing_area())
        };
        result.map_err(|reason| PlotError {
            path: path.display().to_string(),
            reason,
        })?;
    }
    Ok(())
}
