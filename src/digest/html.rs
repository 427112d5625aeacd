//! The digest as one self-contained HTML page, for a browser or a mail client.
//!
//! Self-contained and inert: no scripts, no external images, styles or fonts, and a
//! Content-Security-Policy that forbids loading anything (inline styles only), so opening a
//! digest contacts no one and a hostile headline cannot run code. Every string from outside
//! goes through [`escape`], and only http(s) links become `href`s ([`safe_href`]): a
//! `javascript:` or `data:` link is shown as text. Layout is tables and one `<style>` block,
//! which mail clients render; the chart is the inline SVG of [`super::svg`], with a table of
//! the same totals beside it for clients that drop SVG.

use std::borrow::Cow;

use super::{Digest, FeedProblem, Story};
use crate::rules::Severity;

/// Loads nothing (images, fonts, frames, connections); inline `<style>` and `style=` only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; \
                       base-uri 'none'; form-action 'none'";
/// The page's background outside the content: also how a screenshot test finds the margin.
pub const PAGE_BACKGROUND: &str = "#e9edf2";

const STYLE: &str = "\
body{margin:0;padding:0;background:#e9edf2;color:#1d2430;\
font:15px/1.45 Helvetica,Arial,sans-serif;-webkit-text-size-adjust:100%}\
table{border-collapse:collapse}\
td,p,div,li,a,q{overflow-wrap:anywhere;word-wrap:break-word}\
.card{width:100%;max-width:640px;background:#ffffff;table-layout:fixed}\
.pad{padding:16px 18px}\
h1{font-size:21px;margin:0 0 4px}\
h2{font-size:17px;margin:22px 0 8px;padding-bottom:4px;border-bottom:1px solid #d5dae3}\
.muted{color:#5b6472;font-size:13px}\
.nw{white-space:nowrap}\
a{color:#0b57a4}\
.story{width:100%;table-layout:fixed;margin:0 0 12px;background:#f8f9fb}\
.story td{padding:8px 10px;vertical-align:top}\
.story ul{margin:6px 0 0;padding:0 0 0 18px}\
.story li{margin:0 0 6px}\
.title{font-weight:bold;font-size:16px}\
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#ffffff}\
.totals td{padding:2px 10px 2px 0;font-size:13px}\
.health td{padding:4px 8px 4px 0;vertical-align:top;font-size:14px}";

/// `s` with `& < > " '` as character references: safe as element text and as a
/// double- or single-quoted attribute value. Borrowed when nothing had to change.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `url` as an escaped `href` value when it is an absolute http(s) URL (normalised by the
/// URL parser, so spaces and quotes are percent-encoded); `None` for anything else.
pub fn safe_href(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| escape(u.as_str()).into_owned())
}

/// `text` as a link to `url` when that is http(s), else as plain text.
fn link(text: &str, url: Option<&str>, class: &str) -> String {
    match url.and_then(safe_href) {
        Some(h) => format!(
            "<a class=\"{class}\" href=\"{h}\" rel=\"noopener noreferrer\">{}</a>",
            escape(text)
        ),
        None => format!("<span class=\"{class}\">{}</span>", escape(text)),
    }
}

/// An RFC 3339 time for people, `2026-12-03 14:05 UTC`, kept on one line (a phone would
/// otherwise break it at a hyphen); anything else as escaped text.
fn when(t: &str) -> String {
    let short = match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(hm)) if t.ends_with('Z') => format!("{day} {hm} UTC"),
        _ => t.to_string(),
    };
    format!("<span class=\"nw\">{}</span>", escape(&short))
}

/// The whole page.
pub fn render(d: &Digest) -> String {
    let mut s = String::with_capacity(16 * 1024);
    s.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>feedwatch digest: {} alerts, {} to {}</title><style>{STYLE}</style></head>\n\
         <body><table role=\"presentation\" width=\"100%\" bgcolor=\"{PAGE_BACKGROUND}\">\
         <tr><td align=\"center\" style=\"padding:12px 8px\">\
         <table role=\"presentation\" class=\"card\" width=\"100%\" bgcolor=\"#ffffff\" style=\"max-width:640px\">\
         <tr><td class=\"pad\">\n",
        d.alerts,
        escape(&d.from),
        escape(&d.until)
    ));
    header(&mut s, d);
    chart(&mut s, d);
    stories(&mut s, d);
    health(&mut s, d);
    s.push_str(&format!(
        "<p class=\"muted\">Made by feedwatch at {}.</p>\n\
         </td></tr></table></td></tr></table></body></html>\n",
        when(&d.generated)
    ));
    s
}

fn header(s: &mut String, d: &Digest) {
    let failing = d.feeds.problems.iter().filter(|p| p.failing()).count();
    s.push_str(&format!(
        "<h1>feedwatch digest</h1>\
         <p class=\"muted\">{} to {}</p>\
         <p><b>{}</b> alert(s) in <b>{}</b> stor{} · {} of {} feeds healthy{}</p>\n",
        when(&d.from),
        when(&d.until),
        d.alerts,
        d.stories.len() + d.stories_omitted,
        if d.stories.len() + d.stories_omitted == 1 {
            "y"
        } else {
            "ies"
        },
        d.feeds.healthy,
        d.feeds.feeds,
        if failing > 0 {
            format!(" · <b>{failing} failing</b>")
        } else {
            String::new()
        }
    ));
}

fn chart(s: &mut String, d: &Digest) {
    let unit = match d.chart.bucket {
        super::BucketSize::Hour => "hour",
        super::BucketSize::Day => "day",
    };
    let totals: Vec<usize> = d
        .chart
        .series
        .iter()
        .map(|series| {
            d.chart
                .buckets
                .iter()
                .flat_map(|b| &b.counts)
                .filter(|c| c.rule == series.rule)
                .map(|c| c.alerts)
                .sum()
        })
        .collect();
    s.push_str(&format!(
        "<h2>Alerts per {unit}, by rule</h2><div class=\"chart\">{}</div>\n\
         <table role=\"presentation\" class=\"totals\" style=\"margin-top:8px\">",
        super::svg::render(&d.chart, &totals)
    ));
    for r in &d.rules {
        s.push_str(&format!(
            "<tr><td width=\"10\" bgcolor=\"{c}\" style=\"background:{c};width:10px;padding:0\">\
             </td><td style=\"padding-left:6px\">{}</td><td align=\"right\">{}</td></tr>",
            escape(&r.rule),
            r.alerts,
            c = r.colour
        ));
    }
    s.push_str("</table>\n");
}

/// The badge colour of a severity.
fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8b0000",
        Severity::High => "#c2410c",
        Severity::Medium => "#a16207",
        Severity::Low => "#4d7c0f",
        Severity::Info => "#475569",
    }
}

fn stories(s: &mut String, d: &Digest) {
    s.push_str(&format!(
        "<h2>Stories ({})</h2>\n",
        d.stories.len() + d.stories_omitted
    ));
    if d.stories.is_empty() && d.stories_omitted == 0 {
        s.push_str("<p class=\"muted\">No alerts in this window.</p>\n");
    }
    for st in &d.stories {
        story(s, st);
    }
    if d.stories_omitted > 0 {
        s.push_str(&format!(
            "<p class=\"muted\">{} older stor{} not shown; <code>feedwatch alerts --since</code> \
             lists every alert.</p>\n",
            d.stories_omitted,
            if d.stories_omitted == 1 { "y" } else { "ies" }
        ));
    }
}

fn story(s: &mut String, st: &Story) {
    let colour = severity_colour(st.severity);
    s.push_str(&format!(
        "<table role=\"presentation\" class=\"story\" data-story=\"{id}\" width=\"100%\" \
         style=\"border-left:4px solid {colour}\"><tr><td>\
         <span class=\"badge\" style=\"background:{colour}\">{sev}</span> {title}\
         <div class=\"muted\">{feed}{published} · latest alert {latest}</div><ul>",
        id = st.id,
        sev = st.severity.to_string().to_uppercase(),
        title = link(&st.title, st.url.as_deref(), "title"),
        feed = escape(&st.feed),
        published = st
            .published
            .as_deref()
            .map_or(String::new(), |p| format!(" · published {}", when(p))),
        latest = when(&st.latest),
    ));
    for a in &st.alerts {
        s.push_str(&format!(
            "<li data-rule=\"{rule}\"><b>{rule}</b> <span class=\"muted\">{sev} · {time}</span>\
             <br><q>{snippet}</q><br><span class=\"muted\">terms: {terms}</span></li>",
            rule = escape(&a.rule),
            sev = a.severity,
            time = when(&a.time),
            snippet = escape(&a.snippet),
            terms = escape(&a.terms.join(", ")),
        ));
    }
    s.push_str("</ul>");
    if !st.sources.is_empty() {
        let list: Vec<String> = st
            .sources
            .iter()
            .map(|o| link(&o.feed, o.url.as_deref(), "source"))
            .collect();
        let more = if st.sources_omitted > 0 {
            format!(" and {} more", st.sources_omitted)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "<div class=\"muted\">Also reported by: {}{more}</div>",
            list.join(", ")
        ));
    }
    s.push_str("</td></tr></table>\n");
}

fn health(s: &mut String, d: &Digest) {
    let h = &d.feeds;
    s.push_str(&format!(
        "<h2>Feed health</h2><p>{} of {} configured feeds have nothing to report.</p>\n",
        h.healthy, h.feeds
    ));
    if h.problems.is_empty() {
        return;
    }
    s.push_str("<table role=\"presentation\" class=\"health\" width=\"100%\" style=\"table-layout:fixed\">");
    for p in &h.problems {
        problem(s, p);
    }
    s.push_str("</table>\n");
}

fn problem(s: &mut String, p: &FeedProblem) {
    let mark = if p.failing() {
        "<b style=\"color:#8b0000\">FAILING</b>"
    } else {
        "<b style=\"color:#a16207\">CHECK</b>"
    };
    let notes: Vec<String> = p.notes().iter().map(|n| escape(n).into_owned()).collect();
    s.push_str(&format!(
        "<tr data-feed=\"{url}\"><td width=\"70\">{mark}</td><td><b>{name}</b>\
         <div class=\"muted\">{url}</div>{notes}</td></tr>",
        url = escape(&p.url),
        name = escape(&p.name),
        notes = notes.join("<br>"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_text_and_both_quotes() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert!(matches!(escape("plain «text»"), Cow::Borrowed(_)));
        assert_eq!(escape("&amp;"), "&amp;amp;", "already-escaped text is text");
    }

    #[test]
    fn times_read_as_minutes_on_one_line() {
        assert_eq!(
            when("2026-12-03T14:05:09Z"),
            "<span class=\"nw\">2026-12-03 14:05 UTC</span>"
        );
        assert_eq!(when("<x>"), "<span class=\"nw\">&lt;x&gt;</span>");
    }

    #[test]
    fn only_http_links_become_hrefs() {
        assert_eq!(
            safe_href("https://example.com/a?b=1&c=2").as_deref(),
            Some("https://example.com/a?b=1&amp;c=2")
        );
        assert_eq!(
            safe_href("http://example.com/\"><script>").as_deref(),
            Some("http://example.com/%22%3E%3Cscript%3E")
        );
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<b>x</b>",
            "vbscript:x",
            "file:///etc/passwd",
            "/relative/path",
            "",
        ] {
            assert_eq!(safe_href(bad), None, "{bad}");
        }
        assert_eq!(
            link("<t>", Some("javascript:alert(1)"), "title"),
            "<span class=\"title\">&lt;t&gt;</span>"
        );
    }
}
