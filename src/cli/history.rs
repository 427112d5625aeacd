//! Commands over what was stored: `alerts` and `backtest`.

use super::*;

/// `alerts`: stored alerts, oldest first; `--follow` keeps printing new ones. Runs on
/// either backend through [`Reader`].
pub(super) async fn alerts(
    cli: &Cli,
    since: Option<Duration>,
    rule: Option<&str>,
    format: Format,
    follow: bool,
) -> Result<u8> {
    let cfg = load_config(cli)?.config;
    let reader = Reader::open(cfg.backend()).await?;
    let since = since.map_or(0, |d| {
        chrono::Utc::now().timestamp() - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
    });
    let print = |alerts: &[feedwatch::store::AlertRecord]| -> Result<()> {
        let mut out = std::io::stdout().lock();
        for a in alerts {
            match format {
                Format::Json => writeln!(out, "{}", alert::AlertLine::from(a))?,
                Format::Text => write!(out, "{}", alert::to_text(a))?,
            }
        }
        out.flush()?;
        Ok(())
    };
    let (listed, mut cursor) = reader.alerts(since, rule).await?;
    print(&listed)?;
    if !follow {
        return Ok(0);
    }
    let stop = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone()));
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(0),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        print(&reader.follow(&mut cursor).await?)?;
    }
}

/// `backtest`: a rule file or query over stored articles and recent item texts.
pub(super) async fn backtest(
    cli: &Cli,
    rules: &str,
    since: Duration,
    format: Format,
) -> Result<u8> {
    // The config's own rules are not compiled: a backtest runs the rules it is given, with
    // the config's concepts, and compiles those once.
    let path = config::locate(cli.config.as_deref())?;
    let cfg = config::read_with(&path, &Env::from_process(), config::Backends::Both)?.finish()?;
    let set = backtest_rules(&cfg, rules)?;
    let reader = Reader::open(cfg.backend()).await?;
    let from =
        chrono::Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let (kept, recent) = reader.backtest_texts(from).await?;
    let tags_of = |feed: &str| -> Vec<String> {
        cfg.feeds
            .iter()
            .find(|f| f.display_name() == feed)
            .map(|f| f.tags.clone())
            .unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    let mut by_rule: std::collections::BTreeMap<String, usize> = Default::default();
    let total = u64::try_from(kept.len() + recent.len()).unwrap_or(u64::MAX);
    let bar = super::progress::Bar::counted("backtest", total, "texts", format);
    for (source, row) in kept
        .iter()
        .map(|r| ("article", r))
        .chain(recent.iter().map(|r| ("recent", r)))
    {
        let tags = tags_of(&row.feed);
        let doc = Document {
            title: &row.title,
            summary: &row.summary,
            body: &row.body,
            url: row.url.as_deref().unwrap_or(""),
            feed: &row.feed,
            feed_tags: &tags,
        };
        for m in set.matches(&doc) {
            *by_rule.entry(m.rule.clone()).or_default() += 1;
            // Hits go to stdout; on a terminal, lift the bar so a hit never lands inside it.
            bar.suspend(|| write_hit(&mut out, format, source, row, &m))?;
        }
        bar.inc(1);
    }
    drop(bar);
    let hits: usize = by_rule.values().sum();
    let summary: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    eprintln!(
        "backtest: {} kept articles and {} recent items since {} scanned; {hits} matches{}",
        kept.len(),
        recent.len(),
        feedwatch::text::time::rfc3339(from),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        }
    );
    Ok(if hits > 0 { 0 } else { 1 })
}

/// The rules a backtest runs: a rule file's, or one query; either may use the config's
/// concepts.
fn backtest_rules(cfg: &config::Config, rules: &str) -> Result<RuleSet> {
    if Path::new(rules).is_file() {
        return Ok(feedwatch::app::load_rule_file(Path::new(rules), &cfg.concepts)?.1);
    }
    let rule = feedwatch::rules::RuleSpec {
        name: "query".into(),
        query: rules.to_string(),
        severity: feedwatch::rules::Severity::Medium,
        feeds: vec![],
        exclude: None,
        model: None,
    };
    RuleSet::compile_with(&[rule], &cfg.concepts).map_err(|errs| {
        anyhow::anyhow!(errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

/// One match of a backtest, as a JSON line or a text block.
fn write_hit(
    out: &mut impl Write,
    format: Format,
    source: &str,
    row: &feedwatch::store::ArticleRow,
    m: &feedwatch::rules::Match,
) -> Result<()> {
    let terms = feedwatch::rules::distinct_terms(m.terms.iter().map(|t| t.term.as_str()));
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string(&json::BacktestLine {
                feed: &row.feed,
                rule: &m.rule,
                severity: m.severity,
                snippet: &m.snippet,
                source,
                terms,
                time: feedwatch::text::time::rfc3339(row.fetched_at),
                title: &row.title,
                url: row.url.as_deref(),
            })?
        )?,
        Format::Text => writeln!(
            out,
            "{}  [{}] {}  [{}]  {}\n    {}\n    terms: {}\n    {}",
            feedwatch::text::time::rfc3339(row.fetched_at),
            m.severity,
            m.rule,
            printable(&row.feed, false),
            printable(&row.title, false),
            printable(row.url.as_deref().unwrap_or("(no link)"), false),
            printable(&terms.join(", "), false),
            printable(&m.snippet, false)
        )?,
    }
    Ok(())
}
