//! Server-rendered SVG charts (no JS library): horizontal bars for today's packets per
//! sensor and per type, and stacked daily bars for histories. Every label is escaped.

use crate::util::xml_escape;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Series colours, cycled.
pub(crate) const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#86bcb6", "#d37295",
];

/// One bar: label, value, optional link.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    /// Row label.
    pub label: String,
    /// Value.
    pub value: f64,
    /// Where clicking the row goes.
    pub href: Option<String>,
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Horizontal bar chart, largest first, at most `limit` rows.
pub(crate) fn hbar(bars: &[Bar], limit: usize, empty: &str) -> String {
    let mut rows: Vec<&Bar> = bars.iter().collect();
    rows.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.label.cmp(&b.label))
    });
    rows.truncate(limit);
    let (w, label_w, row_h) = (640.0, 290.0, 24.0);
    let h = (rows.len().max(1) as f64) * row_h + 10.0;
    let max = rows.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let mut s = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img">"#
    );
    if rows.is_empty() {
        let _ = write!(
            s,
            r#"<text x="10" y="22" class="muted">{}</text>"#,
            xml_escape(empty)
        );
    }
    for (i, b) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 5.0;
        let bw = if max > 0.0 {
            (w - label_w - 70.0) * b.value / max
        } else {
            0.0
        };
        let color = PALETTE[i % PALETTE.len()];
        let label = xml_escape(&short(&b.label, 40));
        let full = xml_escape(&b.label);
        let row = format!(
            r#"<g><title>{full}: {v}</title><text x="{tx}" y="{ty}" text-anchor="end" class="lbl">{label}</text><rect x="{label_w}" y="{y}" width="{bw:.1}" height="{bh}" fill="{color}" rx="2"/><text x="{vx:.1}" y="{ty}" class="val">{v}</text></g>"#,
            tx = label_w - 6.0,
            ty = y + 16.0,
            bh = row_h - 6.0,
            vx = label_w + bw + 5.0,
            v = num(b.value),
        );
        match &b.href {
            Some(href) => {
                let _ = write!(s, r#"<a href="{}">{row}</a>"#, xml_escape(href));
            }
            None => s.push_str(&row),
        }
    }
    s.push_str("</svg>");
    s
}

/// Stacked vertical bars: one column per day, one colour per series, legend on the right.
pub(crate) fn stacked(days: &[String], series: &BTreeMap<String, Vec<f64>>, empty: &str) -> String {
    let (w, h, left, bottom, top, legend_w) = (640.0, 260.0, 50.0, 30.0, 20.0, 150.0);
    let plot_w = w - left - legend_w;
    let plot_h = h - bottom - top;
    let totals: Vec<f64> = (0..days.len())
        .map(|i| {
            series
                .values()
                .map(|v| v.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0_f64, f64::max);
    let mut s = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img">"#
    );
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{y0}" x2="{x1}" y2="{y0}" class="axis"/>"#,
        y0 = top + plot_h,
        x1 = left + plot_w
    );
    if series.is_empty() || max <= 0.0 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="muted">{}</text>"#,
            left + 10.0,
            top + 20.0,
            xml_escape(empty)
        );
    }
    let col = plot_w / days.len().max(1) as f64;
    for (i, day) in days.iter().enumerate() {
        let x = left + i as f64 * col + col * 0.15;
        let bw = col * 0.7;
        let mut y = top + plot_h;
        for (j, (name, vals)) in series.iter().enumerate() {
            let v = vals.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 || max <= 0.0 {
                continue;
            }
            let bh = plot_h * v / max;
            y -= bh;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{c}"><title>{d} {n}: {v}</title></rect>"#,
                c = PALETTE[j % PALETTE.len()],
                d = xml_escape(day),
                n = xml_escape(name),
                v = num(v)
            );
        }
        if totals[i] > 0.0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="val">{}</text>"#,
                x + bw / 2.0,
                y - 4.0,
                num(totals[i])
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="lbl">{}</text>"#,
            x + bw / 2.0,
            h - 10.0,
            xml_escape(day.get(5..).unwrap_or(day))
        );
    }
    for (j, name) in series.keys().enumerate().take(14) {
        let y = top + j as f64 * 17.0;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{y}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty}" class="lbl">{n}</text>"#,
            lx = w - legend_w + 10.0,
            tx = w - legend_w + 27.0,
            ty = y + 10.0,
            c = PALETTE[j % PALETTE.len()],
            n = xml_escape(&short(name, 16))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_rows_sorted() {
        let bars = vec![
            Bar {
                label: "<b>".into(),
                value: 1.0,
                href: None,
            },
            Bar {
                label: "big".into(),
                value: 5.0,
                href: Some("/u?a=1&b=2".into()),
            },
        ];
        let svg = hbar(&bars, 15, "none");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert!(svg.find("big").unwrap() < svg.find("&lt;b&gt;").unwrap());
        assert!(svg.contains("href=\"/u?a=1&amp;b=2\""));
        assert!(hbar(&[], 15, "No data").contains("No data"));
    }

    #[test]
    fn stacked_bars_total_per_day() {
        let days = vec!["2024-01-01".to_string(), "2024-01-02".to_string()];
        let mut series = BTreeMap::new();
        series.insert("8".to_string(), vec![2.0, 0.0]);
        series.insert("1".to_string(), vec![3.0, 1.0]);
        let svg = stacked(&days, &series, "none");
        assert!(svg.contains(">5<"), "{svg}");
        assert!(svg.contains("01-02"));
        assert_eq!(svg.matches("<rect").count(), 3 + 2);
    }
}
