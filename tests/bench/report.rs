//! The table and the plot.

use std::fmt::Write;

/// One measured figure.
pub struct Row {
    /// The figure, e.g. "P1 lock cost".
    pub figure: String,
    /// The guest's median, in `unit`.
    pub guest: f64,
    /// The native baseline's median, in `unit` (none for absolute figures).
    pub native: Option<f64>,
    /// The unit of `guest` and `native`.
    pub unit: &'static str,
    /// The target, as text.
    pub target: String,
    /// The largest acceptable ratio (or absolute value when there is no
    /// baseline).
    pub limit: f64,
    /// Extra facts (thread counts, memory).
    pub note: String,
}

impl Row {
    /// guest ÷ native, or the guest value for absolute figures.
    pub fn score(&self) -> f64 {
        match self.native {
            Some(native) if native > 0.0 => self.guest / native,
            _ => self.guest,
        }
    }

    fn met(&self) -> bool {
        self.score() <= self.limit
    }
}

/// The results as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| figure | guest | native | ratio | target | met | notes |"
    )
    .unwrap();
    writeln!(out, "|---|---:|---:|---:|---|---|---|").unwrap();
    for row in rows {
        let native = row
            .native
            .map_or_else(|| "–".to_owned(), |n| format!("{n:.2} {}", row.unit));
        let ratio = row
            .native
            .map_or_else(|| "–".to_owned(), |_| format!("{:.2}×", row.score()));
        writeln!(
            out,
            "| {} | {:.2} {} | {} | {} | {} | {} | {} |",
            row.figure,
            row.guest,
            row.unit,
            native,
            ratio,
            row.target,
            if row.met() { "yes" } else { "no" },
            row.note
        )
        .unwrap();
    }
    out
}

/// The ratios against their targets as a horizontal bar chart on a log scale.
pub fn svg(rows: &[Row]) -> String {
    let ratios: Vec<&Row> = rows.iter().filter(|r| r.native.is_some()).collect();
    let (left, width, bar, gap) = (260.0, 440.0, 22.0, 12.0);
    let height = 60.0 + ratios.len() as f64 * (bar + gap);
    // log10 scale from 0.1× to 10,000×.
    let x = |ratio: f64| left + (ratio.max(0.1).log10() + 1.0) / 5.0 * width;
    let mut out = String::new();
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + width + 40.0
    )
    .unwrap();
    writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    writeln!(
        out,
        r#"<text x="10" y="18" font-size="14">guest ÷ native (log scale); black tick = target</text>"#
    )
    .unwrap();
    for (tick, label) in [
        (0.1, "0.1×"),
        (1.0, "1×"),
        (10.0, "10×"),
        (100.0, "100×"),
        (1000.0, "1000×"),
        (10000.0, "10⁴×"),
    ] {
        let tx = x(tick);
        writeln!(
            out,
            r##"<line x1="{tx}" y1="30" x2="{tx}" y2="{}" stroke="#ddd"/><text x="{tx}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
            height - 18.0,
            height - 5.0
        )
        .unwrap();
    }
    for (i, row) in ratios.iter().enumerate() {
        let y = 36.0 + i as f64 * (bar + gap);
        let color = if row.met() { "#2e7d32" } else { "#c62828" };
        writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + bar * 0.7,
            row.figure
        )
        .unwrap();
        writeln!(
            out,
            r#"<rect x="{left}" y="{y}" width="{}" height="{bar}" fill="{color}"/>"#,
            (x(row.score()) - left).max(1.0)
        )
        .unwrap();
        writeln!(
            out,
            r#"<text x="{}" y="{}">{:.2}×</text>"#,
            x(row.score()) + 4.0,
            y + bar * 0.7,
            row.score()
        )
        .unwrap();
        let t = x(row.limit);
        writeln!(
            out,
            r#"<line x1="{t}" y1="{}" x2="{t}" y2="{}" stroke="black" stroke-width="2"/>"#,
            y - 3.0,
            y + bar + 3.0
        )
        .unwrap();
    }
    out.push_str("</svg>\n");
    out
}
