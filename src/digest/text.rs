//! The digest as plain text, for a terminal or a chat message: the same sections as the HTML
//! page. `feedwatch digest --format text` and a sink's `digest_format = "text"` both print
//! this, so a scheduled digest reads as the command does.

use std::io::Write;

use super::{BucketSize, Digest, Story};
use crate::text::safe_text::printable;
use crate::text::table::write_table;

/// The digest for a terminal: the same sections as the HTML page.
pub(super) fn write_text(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let stories = d.stories.len() + d.stories_omitted;
    writeln!(out, "feedwatch digest: {} to {} (UTC)", d.from, d.until)?;
    writeln!(
        out,
        "{} alert(s) in {stories} stor{}; {} of {} feeds healthy\n",
        d.alerts,
        if stories == 1 { "y" } else { "ies" },
        d.feeds.healthy,
        d.feeds.feeds
    )?;
    write_chart(out, d)?;
    writeln!(out, "\nSTORIES ({stories})")?;
    for s in &d.stories {
        write_story(out, s)?;
    }
    if d.stories_omitted > 0 {
        writeln!(
            out,
            "{} older stories not shown; `feedwatch alerts --since` lists every alert.",
            d.stories_omitted
        )?;
    }
    write_health(out, d)
}

/// Buckets with alerts as a table with a bar of `#`, and the totals per rule.
fn write_chart(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let unit = match d.chart.bucket {
        BucketSize::Hour => "HOUR",
        BucketSize::Day => "DAY",
    };
    writeln!(out, "ALERTS PER {unit}, BY RULE")?;
    let max = d.chart.max_total().max(1);
    let rows: Vec<[String; 4]> = d
        .chart
        .buckets
        .iter()
        .flat_map(|b| {
            b.counts.iter().map(move |c| {
                let bar = "#".repeat((c.alerts * 40).div_ceil(max));
                [b.start.clone(), c.rule.clone(), c.alerts.to_string(), bar]
            })
        })
        .collect();
    let empty = d.chart.buckets.iter().filter(|b| b.total() == 0).count();
    if rows.is_empty() {
        writeln!(out, "no alerts in this window")?;
    } else {
        let header = ["START", "RULE", "ALERTS", ""].map(String::from);
        write_table(out, &header, &rows)?;
        writeln!(
            out,
            "({empty} of {} buckets had no alerts)",
            d.chart.buckets.len()
        )?;
    }
    let totals: Vec<[String; 2]> = d
        .rules
        .iter()
        .map(|r| [r.rule.clone(), r.alerts.to_string()])
        .collect();
    if !totals.is_empty() {
        writeln!(out)?;
        write_table(out, &["RULE", "ALERTS"].map(String::from), &totals)?;
    }
    Ok(())
}

fn write_story(out: &mut impl Write, s: &Story) -> std::io::Result<()> {
    let p = |t: &str| printable(t, false).into_owned();
    writeln!(
        out,
        "\n[{}] {}\n    {}{} · latest alert {}\n    {}",
        s.severity.to_string().to_uppercase(),
        p(&s.title),
        p(&s.feed),
        s.published
            .as_deref()
            .map_or(String::new(), |t| format!(" · published {t}")),
        s.latest,
        p(s.url.as_deref().unwrap_or("(no link)"))
    )?;
    for a in &s.alerts {
        writeln!(
            out,
            "    - {} ({}, {}): {}\n      terms: {}",
            p(&a.rule),
            a.severity,
            a.time,
            p(&a.snippet),
            p(&a.terms.join(", "))
        )?;
    }
    if !s.sources.is_empty() {
        let list: Vec<String> = s
            .sources
            .iter()
            .map(|o| match &o.url {
                Some(u) => format!("{} <{}>", p(&o.feed), p(u)),
                None => p(&o.feed),
            })
            .collect();
        let more = if s.sources_omitted > 0 {
            format!(" and {} more", s.sources_omitted)
        } else {
            String::new()
        };
        writeln!(out, "    also reported by: {}{more}", list.join(", "))?;
    }
    Ok(())
}

fn write_health(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let h = &d.feeds;
    writeln!(
        out,
        "\nFEED HEALTH\n{} of {} configured feeds have nothing to report.",
        h.healthy, h.feeds
    )?;
    for f in &h.problems {
        writeln!(
            out,
            "{}  {}  {}",
            if f.failing() { "FAILING" } else { "CHECK  " },
            printable(&f.name, false),
            printable(&f.url, false)
        )?;
        for n in f.notes() {
            writeln!(out, "         {}", printable(&n, false))?;
        }
    }
    Ok(())
}
