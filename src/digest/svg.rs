//! The chart as inline SVG: stacked bars per bucket and rule, a y axis with whole-number
//! ticks, time labels and a legend. No scripts, fonts or external references, so a mail
//! client or a strict Content-Security-Policy shows it as it is; sized by its `viewBox` so it
//! scales to the width it is given (a phone's, a desktop's).
//!
//! Every bar is a `<rect>` with `data-rule`, `data-bucket` and `data-count`, so a test (or a
//! curious reader of the source) can check the picture against the numbers.

use super::chart::{BucketSize, Chart};
use super::html::escape;

/// Width of the drawing in `viewBox` units.
pub const WIDTH: f64 = 400.0;
/// The chart's background: also how a screenshot test finds the chart.
pub const BACKGROUND: &str = "#f4f6fb";
const LEFT: f64 = 30.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 22.0;
/// Height of the bars' area.
pub const PLOT_HEIGHT: f64 = 150.0;
const X_LABELS: f64 = 22.0;
const LEGEND_ROW: f64 = 18.0;
const LEGEND_PER_ROW: usize = 2;
const GRID: &str = "#d5dae3";
const INK: &str = "#3b4452";

/// The top of the y axis and its tick step for a largest bucket of `max` alerts: whole
/// numbers, at most five steps of 1, 2 or 5 times a power of ten.
pub fn axis(max: usize) -> (usize, usize) {
    let mut step = 1usize;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s).max(1) * s, s);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart of `chart`, with `totals` (alerts per series, in series order) in the legend.
pub fn render(chart: &Chart, totals: &[usize]) -> String {
    let legend_rows = chart.series.len().div_ceil(LEGEND_PER_ROW).max(1);
    let height = TOP + PLOT_HEIGHT + X_LABELS + legend_rows as f64 * LEGEND_ROW + 6.0;
    let unit = match chart.bucket {
        BucketSize::Hour => "hour",
        BucketSize::Day => "day",
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"100%\" role=\"img\" aria-label=\"Alerts per {unit} and rule\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\" \
         style=\"display:block;width:100%;height:auto;max-width:{max}px\">\
         <title>Alerts per {unit} and rule</title>\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"{BACKGROUND}\"/>",
        max = WIDTH * 1.25,
    );
    let (top, step) = axis(chart.max_total());
    y_axis(&mut s, top, step);
    bars(&mut s, chart, top);
    x_labels(&mut s, chart);
    legend(&mut s, chart, totals);
    if chart.max_total() == 0 {
        s.push_str(&format!(
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" fill=\"{INK}\">no alerts in this window</text>",
            x = LEFT + plot_width() / 2.0,
            y = TOP + PLOT_HEIGHT / 2.0
        ));
    }
    s.push_str("</svg>");
    s
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

/// Grid lines and labels at each tick, and the axis name.
fn y_axis(s: &mut String, top: usize, step: usize) {
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"12\" fill=\"{INK}\">alerts</text>"
    ));
    for v in (0..=top).step_by(step) {
        let y = TOP + PLOT_HEIGHT - v as f64 / top as f64 * PLOT_HEIGHT;
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.2}\" y2=\"{y:.2}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\
             <text x=\"{tx}\" y=\"{ty:.2}\" text-anchor=\"end\" fill=\"{INK}\">{v}</text>",
            x2 = WIDTH - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0,
        ));
    }
}

/// One stacked bar per bucket, one `<rect>` per series with alerts.
fn bars(s: &mut String, chart: &Chart, top: usize) {
    let n = chart.buckets.len().max(1) as f64;
    let slot = plot_width() / n;
    let width = (slot * 0.72).max(1.0);
    for (i, b) in chart.buckets.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - width) / 2.0;
        let mut base = TOP + PLOT_HEIGHT;
        for c in &b.counts {
            let h = c.alerts as f64 / top as f64 * PLOT_HEIGHT;
            base -= h;
            let colour = chart
                .series
                .iter()
                .find(|s| s.rule == c.rule)
                .map_or(super::chart::OTHER_COLOUR, |s| s.colour);
            s.push_str(&format!(
                "<rect x=\"{x:.2}\" y=\"{base:.2}\" width=\"{width:.2}\" height=\"{h:.2}\" \
                 fill=\"{colour}\" data-rule=\"{rule}\" data-bucket=\"{bucket}\" data-count=\"{n}\">\
                 <title>{rule}: {n} at {bucket}</title></rect>",
                rule = escape(&c.rule),
                bucket = escape(&b.start),
                n = c.alerts,
            ));
        }
    }
}

/// Time labels under the bars, at most about eight so they never overlap.
fn x_labels(s: &mut String, chart: &Chart) {
    let n = chart.buckets.len();
    let every = n.div_ceil(8).max(1);
    let slot = plot_width() / n.max(1) as f64;
    for (i, b) in chart.buckets.iter().enumerate().step_by(every) {
        let label = label(chart.bucket, &b.start);
        s.push_str(&format!(
            "<text x=\"{x:.2}\" y=\"{y}\" text-anchor=\"middle\" fill=\"{INK}\">{label}</text>",
            x = LEFT + (i as f64 + 0.5) * slot,
            y = TOP + PLOT_HEIGHT + 15.0,
            label = escape(&label),
        ));
    }
}

/// A bucket's label from its RFC 3339 start: `14:00` per hour (`12-03` at midnight, so the
/// day shows), `12-03` per day.
fn label(size: BucketSize, start: &str) -> String {
    let day = start.get(5..10).unwrap_or(start);
    let hour = start.get(11..16).unwrap_or("");
    match size {
        BucketSize::Hour if hour != "00:00" => hour.to_string(),
        _ => day.to_string(),
    }
}

/// A swatch and `rule (alerts)` per series, two per row.
fn legend(s: &mut String, chart: &Chart, totals: &[usize]) {
    let y0 = TOP + PLOT_HEIGHT + X_LABELS;
    let col = (WIDTH - LEFT) / LEGEND_PER_ROW as f64;
    for (i, series) in chart.series.iter().enumerate() {
        let x = LEFT + (i % LEGEND_PER_ROW) as f64 * col;
        let y = y0 + (i / LEGEND_PER_ROW) as f64 * LEGEND_ROW;
        let name: String = series.rule.chars().take(24).collect();
        s.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text x=\"{tx:.2}\" y=\"{ty:.2}\" fill=\"{INK}\">{name} ({n})</text>",
            c = series.colour,
            tx = x + 14.0,
            ty = y + 9.0,
            name = escape(&name),
            n = totals.get(i).copied().unwrap_or(0),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::chart::{rule_totals, Chart};

    #[test]
    fn axis_ticks_are_whole_and_few() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(5), (5, 1));
        assert_eq!(axis(6), (6, 2));
        assert_eq!(axis(11), (15, 5));
        assert_eq!(axis(47), (50, 10));
        assert_eq!(axis(1234), (1500, 500));
    }

    fn attr(tag: &str, name: &str) -> f64 {
        let at = tag.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
        let end = tag[at..].find('"').expect("closing quote") + at;
        tag[at..end].parse().expect("a number")
    }

    #[test]
    fn bar_heights_are_proportional_and_stacked() {
        let t0 = 1_764_720_000;
        let alerts = [(t0, "a"), (t0, "a"), (t0, "b"), (t0 + 3600, "a")];
        let rules = rule_totals(alerts.iter().map(|(_, r)| *r));
        let chart = Chart::build(t0, t0 + 7200, &rules, alerts.into_iter());
        let svg = render(&chart, &[3, 1]);
        let rects: Vec<&str> = svg
            .split("<rect")
            .skip(1)
            .filter(|r| r.contains("data-count"))
            .collect();
        assert_eq!(rects.len(), 3);
        let (top, _) = axis(3);
        for r in &rects {
            let n = attr(r, "data-count");
            let h = attr(r, "height");
            assert!(
                (h - n / top as f64 * PLOT_HEIGHT).abs() < 0.01,
                "{n} alerts, {h} high"
            );
        }
        // The second series sits on top of the first.
        let (a, b) = (rects[0], rects[1]);
        assert!((attr(b, "y") + attr(b, "height") - attr(a, "y")).abs() < 0.01);
        assert!(
            svg.contains("a (3)") && svg.contains("b (1)"),
            "legend: {svg}"
        );
        assert!(svg.starts_with("<svg") && svg.contains("viewBox=\"0 0 400 "));
    }

    #[test]
    fn rule_names_are_escaped_and_empty_charts_say_so() {
        let t0 = 1_764_720_000;
        let rules = rule_totals(["<b>&\"x"].into_iter());
        let chart = Chart::build(t0, t0 + 3600, &rules, [(t0, "<b>&\"x")].into_iter());
        let svg = render(&chart, &[1]);
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("data-rule=\"&lt;b&gt;&amp;&quot;x\""), "{svg}");
        let empty = render(&Chart::build(t0, t0 + 3600, &[], std::iter::empty()), &[]);
        assert!(empty.contains("no alerts in this window"));
        assert!(!empty.contains("data-count"));
    }

    #[test]
    fn labels_name_hours_and_days() {
        assert_eq!(label(BucketSize::Hour, "2026-12-03T14:00:00Z"), "14:00");
        assert_eq!(label(BucketSize::Hour, "2026-12-03T00:00:00Z"), "12-03");
        assert_eq!(label(BucketSize::Day, "2026-12-03T00:00:00Z"), "12-03");
    }
}
