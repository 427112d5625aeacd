//! Commands that read one input and store nothing: `check`, `parse`, `extract`.

use super::*;

/// Reads a FILE argument (`-` is stdin).
pub(super) fn read_input(file: &str) -> Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        return Ok(buf);
    }
    std::fs::read(file).with_context(|| format!("cannot read {file}"))
}

pub(super) fn looks_like_html(file: &str, bytes: &[u8]) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.ends_with(".html")
        || lower.ends_with(".htm")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<')
}

/// `check`: title and body from each file, matched against the rules.
pub(super) fn check(cli: &Cli, format: Format, explain: bool, files: &[String]) -> Result<u8> {
    let Loaded { config: cfg, rules } = load_config(cli)?;
    let extractor = Extractor::new(&cfg.sites)?;
    let mut any = false;
    let mut out = std::io::stdout().lock();
    for file in files {
        let bytes = read_input(file)?;
        let (title, body) = if looks_like_html(file, &bytes) {
            let (html, _) = feedwatch::text::charset::decode_html(&bytes, None);
            let ex = extractor.extract(&html, None);
            (ex.title.unwrap_or_default(), ex.text)
        } else {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_start();
            let (t, b) = text.split_once('\n').unwrap_or((text, ""));
            (t.trim().to_string(), b.trim().to_string())
        };
        let doc = Document {
            title: &title,
            summary: "",
            body: &body,
            url: "",
            feed: "",
            feed_tags: &[],
        };
        let matches = rules.matches(&doc);
        any |= !matches.is_empty();
        match format {
            Format::Json => {
                let line = json::CheckLine {
                    file,
                    title: &title,
                    matches: matches
                        .iter()
                        .map(|m| json::CheckMatch {
                            hits: &m.terms,
                            rule: &m.rule,
                            severity: m.severity,
                            snippet: &m.snippet,
                            terms: feedwatch::rules::distinct_terms(
                                m.terms.iter().map(|t| t.term.as_str()),
                            ),
                        })
                        .collect(),
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            }
            Format::Text => {
                writeln!(
                    out,
                    "{}: {}",
                    printable(file, false),
                    printable(&title, false)
                )?;
                if matches.is_empty() {
                    writeln!(out, "  no rule matched")?;
                }
                for m in &matches {
                    writeln!(
                        out,
                        "  [{}] {}  terms: {}\n      {}",
                        m.severity,
                        m.rule,
                        printable(&terms_with_via(m).join(", "), false),
                        printable(&m.snippet, false)
                    )?;
                }
            }
        }
        if explain {
            for e in rules.explain(&doc) {
                writeln!(out, "{}", printable(&e.to_string(), true))?;
            }
        }
    }
    Ok(if any { 0 } else { 1 })
}

/// The distinct words, each followed by the stem or concept it was found through, if any:
/// `stormed (~storm in @attack)`.
pub(super) fn terms_with_via(m: &feedwatch::rules::Match) -> Vec<String> {
    let words = feedwatch::rules::distinct_terms(m.terms.iter().map(|t| t.term.as_str()));
    words
        .into_iter()
        .filter_map(|w| m.terms.iter().find(|t| t.term == w))
        .map(|t| match &t.via {
            Some(via) => format!("{} ({via})", t.term),
            None => t.term.clone(),
        })
        .collect()
}

/// `parse`: one feed's normalised items.
pub(super) async fn parse(cli: &Cli, format: Format, source: &str) -> Result<u8> {
    // Without a config, the defaults: `parse` also serves to look at a feed before setup.
    let cfg = load_config(cli).ok().map(|l| l.config);
    let (bytes, ct, base) = if source.starts_with("http://") || source.starts_with("https://") {
        let fetch_cfg = cfg.as_ref().map(|c| c.fetch.clone()).unwrap_or_default();
        let fetcher = Fetcher::new(&fetch_cfg)?;
        match fetcher.feed(source, &Default::default()).await? {
            feedwatch::fetch::FeedResponse::Fetched(f) => (f.body, f.content_type, Some(f.url)),
            feedwatch::fetch::FeedResponse::NotModified { .. } => {
                bail!("{source}: 304 Not Modified")
            }
        }
    } else {
        let b = read_input(source)?;
        let base = std::path::absolute(Path::new(source))
            .ok()
            .and_then(|p| url::Url::from_file_path(p).ok());
        (b, None, base)
    };
    // The daemon's item bound (the config's, else the default), so a hostile file costs
    // here what it costs a poll.
    let max_items = cfg.map_or_else(
        || feedwatch::config::PollConfig::default().max_items,
        |c| c.poll.max_items,
    );
    let feed = match feedwatch::feed::parse(&bytes, ct.as_deref(), base.as_ref(), max_items) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("feedwatch: {source}: {e}");
            return Ok(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let line = json::ParseLine {
                format: feed.format.to_string(),
                items: feed
                    .items
                    .iter()
                    .map(|it| json::ParseItem {
                        id: it.guid.as_deref(),
                        link: it.link.as_deref(),
                        published: it
                            .published
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        summary_chars: it.summary.chars().count(),
                        title: &it.title,
                    })
                    .collect(),
                title: feed.title.as_deref(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
        Format::Text => {
            writeln!(
                out,
                "{} ({}, {} items)",
                printable(feed.title.as_deref().unwrap_or("(untitled)"), false),
                feed.format,
                feed.items.len()
            )?;
            if let Some(total) = feed.truncated_from {
                writeln!(
                    out,
                    "(the document holds {total} items; the first {max_items} are shown, as a \
                     poll would keep them: [poll] max_items)"
                )?;
            }
            for it in &feed.items {
                writeln!(
                    out,
                    "- {}\n  {}\n  published: {}  id: {}  summary: {} chars",
                    printable(&it.title, false),
                    printable(it.link.as_deref().unwrap_or("(no link)"), false),
                    it.published.map_or("-".into(), |t| t
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    printable(it.guid.as_deref().unwrap_or("-"), false),
                    it.summary.chars().count()
                )?;
            }
        }
    }
    Ok(0)
}

/// `extract`: the article body of one page.
pub(super) fn extract(cli: &Cli, format: Format, url: Option<&str>, file: &str) -> Result<u8> {
    let bytes = read_input(file)?;
    let url = url
        .map(url::Url::parse)
        .transpose()
        .context("--url is not a valid URL")?;
    let (html, _) = feedwatch::text::charset::decode_html(&bytes, None);
    // Per-site rules apply when a config is at hand; without one, the heuristic alone.
    let sites = load_config(cli).map(|l| l.config.sites).unwrap_or_default();
    let ex = Extractor::new(&sites)?.extract(&html, url.as_ref());
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => writeln!(out, "{}", printable(&ex.text, true))?,
        Format::Json => {
            let line = json::ExtractLine {
                author: ex.author.as_deref(),
                canonical_url: ex.canonical_url.as_deref(),
                lang: ex.lang.as_deref(),
                published: ex
                    .published
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                text: &ex.text,
                title: ex.title.as_deref(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
    }
    Ok(0)
}
