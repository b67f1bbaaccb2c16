//! Line charts as SVG text.
//!
//! Written by hand rather than with a plotting crate: the charts are a few lines with axes,
//! ticks and a legend, which takes less code than adapting a library's API, adds no
//! dependencies (plotters would bring fonts and image crates), and gives byte-stable output.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 220.0; // room for the legend
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

impl Chart {
    /// The SVG document. The x axis is logarithmic when the x values span a factor of 8 or more
    /// (concurrency sweeps such as 1, 8, 32, 128 are geometric); ticks sit at the data's x values.
    pub fn render(&self) -> String {
        let xs = distinct_xs(&self.series);
        let y_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite())
            .fold(0.0, f64::max);
        let y_top = nice_ceiling(y_max);
        let (x_min, x_max) = (
            xs.first().copied().unwrap_or(0.0),
            xs.last().copied().unwrap_or(1.0),
        );
        let log = x_min > 0.0 && x_max / x_min >= 8.0;
        let fx = |x: f64| {
            let (a, b, v) = if log {
                (x_min.ln(), x_max.ln(), x.ln())
            } else {
                (x_min, x_max, x)
            };
            let t = if b > a { (v - a) / (b - a) } else { 0.5 };
            LEFT + t * (W - LEFT - RIGHT)
        };
        let fy = |y: f64| H - BOTTOM - (y / y_top) * (H - TOP - BOTTOM);

        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = write!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            esc(&self.title)
        );
        // Axes, grid and ticks.
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
        let _ = write!(
            s,
            r#"<path d="M{x0} {y1} V{y0} H{x1}" stroke="black" fill="none"/>"#
        );
        for i in 0..=5 {
            let v = y_top * f64::from(i) / 5.0;
            let y = fy(v);
            let _ = write!(
                s,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                fmt_num(v)
            );
        }
        for &x in &xs {
            let px = fx(x);
            let _ = write!(
                s,
                r#"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{}" stroke="black"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
                y0 + 5.0,
                y0 + 20.0,
                fmt_num(x)
            );
        }
        let _ = write!(
            s,
            r#"<text class="x-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 15.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text class="y-label" x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">{}</text>"#,
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            esc(&self.y_label)
        );
        // Series and legend.
        for (i, series) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<String> = series
                .points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", fx(x), fy(y)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                pts.join(" ")
            );
            for p in &pts {
                let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(s, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
            }
            let ly = TOP + 16.0 * i as f64;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                x1 + 12.0,
                ly + 4.0,
                x1 + 30.0,
                ly + 9.0,
                esc(&series.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn distinct_xs(series: &[Series]) -> Vec<f64> {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten at or above `y` (1 for empty charts).
fn nice_ceiling(y: f64) -> f64 {
    if y <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(y.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&v| v >= y)
        .unwrap_or(10.0 * p)
}

fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1800.0), 2000.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
        assert_eq!(nice_ceiling(0.03), 0.05);
    }
}
