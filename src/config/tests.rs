//! Reading, checking and reporting, through [`super::read`] on files in a temporary folder.
//! Problems found by compiling the rules are tested where they are compiled (`app::load`).

use super::*;

/// The config as data, or every problem found without compiling the rules.
fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    read(path, env)?.finish()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

/// The problems' (key, line) pairs.
fn keys(e: &ConfigError) -> Vec<(String, Option<usize>)> {
    e.problems
        .iter()
        .map(|p| (p.key.clone().unwrap_or_default(), p.line))
        .collect()
}

#[test]
fn shipped_config_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let c = load(&p, &Env::default()).expect("shipped config must load");
    assert!(!c.feeds.is_empty());
    assert!(c.rules.iter().any(|r| r.name == "green-zone"));
    assert!(c.rules.iter().any(|r| r.name == "embassy-security"));
    assert!(c.database.starts_with(p.parent().expect("dir")));
    require_work(&c).expect("the shipped config has work to do");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[fetch]\nuser_agent = \"x\"\ntimeot = \"5s\"\n\n[polll]\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(s.contains("f.toml:3"), "{s}");
    assert!(s.contains("fetch.timeot"), "{s}");
    assert!(s.contains("f.toml:5: key `polll`: unknown key"), "{s}");
}

#[test]
fn bad_duration_and_bad_url_are_all_reported() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[[feeds]]\nurl = \"ftp://x/\"\n\n[[feeds]]\nurl = \"http://ok/\"\n\n[[feeds]]\nurl = \"gopher://y\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    assert_eq!(e.problems.len(), 2, "{e}");
    assert_eq!(e.problems[0].line, Some(1));
    assert_eq!(e.problems[1].line, Some(7));
    let p = write(d.path(), "g.toml", "[poll]\ninterval = \"soon\"\n");
    let e = load(&p, &Env::default()).expect_err("must fail");
    assert!(
        e.to_string().contains("g.toml:2: key `poll.interval`"),
        "{e}"
    );
}

#[test]
fn checks_after_parsing_still_name_the_line() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[poll]\nconcurrency = 0\n\n[[sinks]]\nname = \"ok\"\ntype = \"webhook\"\nurl = \"https://h/\"\n\n\
         [[sinks]]\nname = \"bad\"\ntype = \"webhook\"\nurl = \"ftp://h/\"\n\n\
         [[sinks]]\nname = \"nourl\"\ntype = \"webhook\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let at = |key: &str| {
        e.problems
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .and_then(|p| p.line)
    };
    assert_eq!(at("poll.concurrency"), Some(2), "{e}");
    assert_eq!(at("sinks[1].url"), Some(12), "{e}");
    // A missing key: the line of its `[[sinks]]` table.
    assert_eq!(at("sinks[2].url"), Some(14), "{e}");
}

#[test]
fn every_interval_timeout_and_cap_is_bounded() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[storage]\nrecent_text_retention = \"5years\"\nseen_retention = \"1d\"\n\n\
         [fetch]\ntimeout = \"0s\"\nmax_feed_bytes = 0\nmax_page_bytes = 1000000000\nper_host_concurrency = 0\n\n\
         [poll]\ninterval = \"0s\"\nmin_interval = \"1s\"\nmax_interval = \"30days\"\nconcurrency = 100000\nmax_items = 0\n\n\
         [[feeds]]\nurl = \"http://a.example/\"\ninterval = \"0s\"\n\n\
         [[sinks]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"cat\"]\ntimeout = \"0s\"\nretry_initial = \"0s\"\nretry_max = \"1year\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let want = [
        ("storage.recent_text_retention", 2),
        ("storage.seen_retention", 3),
        ("fetch.timeout", 6),
        ("fetch.max_feed_bytes", 7),
        ("fetch.max_page_bytes", 8),
        ("fetch.per_host_concurrency", 9),
        ("poll.interval", 12),
        ("poll.min_interval", 13),
        ("poll.max_interval", 14),
        ("poll.concurrency", 15),
        ("poll.max_items", 16),
        ("feeds[0].interval", 18),
        ("sinks[0].timeout", 26),
        ("sinks[0].retry_initial", 27),
        ("sinks[0].retry_max", 28),
    ];
    let got = keys(&e);
    for (key, line) in want {
        assert!(
            got.contains(&(key.to_string(), Some(line))),
            "{key} at line {line} missing from:\n{e}"
        );
    }
    assert!(
        e.to_string().contains("must be between 1m and 7days"),
        "{e}"
    );
}

#[test]
fn huge_echoes_are_clipped() {
    let d = tempfile::tempdir().expect("tmp");
    let long = "word ".repeat(40_000);
    let p = write(
        d.path(),
        "f.toml",
        &format!(
            "[[rules]]\nname = \"big\"\nquery = \"{long}AND\"\n\n[poll]\ninterval = \"{}\"\n",
            "x".repeat(100_000)
        ),
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(s.len() < 3_000, "{} bytes echoed", s.len());
    assert!(s.contains("more characters]"), "{s}");
    assert!(s.contains("poll.interval"), "{s}");
    assert_eq!(clip("abcdef", 3), "abc…[3 more characters]");
    assert_eq!(clip("abc", 3), "abc");
}

#[test]
fn an_empty_config_loads_but_has_no_work() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "f.toml", "");
    let c = load(&p, &Env::default()).expect("an empty file is valid TOML");
    let e = require_work(&c).expect_err("nothing to do");
    assert_eq!(
        keys(&e),
        [
            ("feeds".to_string(), Some(1)),
            ("rules".to_string(), Some(1))
        ]
    );
    assert!(e.to_string().contains("no feeds"), "{e}");
    assert!(e.to_string().contains("no rules"), "{e}");
}

#[test]
fn feed_urls_follow_the_config_file_policy() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[[feeds]]\nurl = \"javascript:alert(1)\"\n\n[[feeds]]\nurl = \"data:text/xml,x\"\n\n\
         [[feeds]]\nurl = \"http://a.example/x#one\"\n\n[[feeds]]\nurl = \"http://a.example/x#two\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(
        s.contains("f.toml:1: key `feeds[0].url`: unsupported scheme `javascript`"),
        "{s}"
    );
    assert!(
        s.contains("f.toml:4: key `feeds[1].url`: unsupported scheme `data`"),
        "{s}"
    );
    assert!(
        s.contains("f.toml:10: key `feeds[3].url`: feed http://a.example/x is listed twice"),
        "{s}"
    );
}

#[test]
fn paths_resolve_relative_to_config_and_env() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "f.toml", "[[feeds]]\nurl = \"local/feed.xml\"\n");
    let c = load(&p, &Env::default()).expect("load");
    assert_eq!(c.database, d.path().join("data/feedwatch.db"));
    assert!(c.feeds[0].url.starts_with("file://"));
    assert!(c.feeds[0].url.ends_with("/local/feed.xml"));
    let env = Env {
        state_directory: Some("/var/lib/feedwatch".into()),
        logs_directory: Some("/var/log/feedwatch".into()),
    };
    let c = load(&p, &env).expect("load");
    assert_eq!(c.database, Path::new("/var/lib/feedwatch/feedwatch.db"));
    assert_eq!(c.alert_log, Path::new("/var/log/feedwatch/alerts.jsonl"));
}

#[test]
fn rule_files_and_duplicate_rules() {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "r.toml",
        "[[rules]]\nname = \"a\"\nquery = \"x\"\n\n[[rules]]\nname = \"a\"\nquery = \"y\"\n",
    );
    let p = write(
        d.path(),
        "f.toml",
        "rule_files = [\"r.toml\", \"missing.toml\"]\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(s.contains("r.toml:5: key `rules.name`"), "{s}");
    assert!(s.contains("missing.toml"), "{s}");
    assert!(s.contains("named in"), "{s}");
}

#[test]
fn maintenance_interval_is_read_bounded_and_located() {
    let d = tempfile::tempdir().expect("tmp");
    let ok = write(
        d.path(),
        "ok.toml",
        "[storage]\nmaintenance_interval = \"30m\"\n",
    );
    let cfg = load(&ok, &Env::default()).expect("loads");
    assert_eq!(cfg.maintenance_interval, Duration::from_secs(1800));
    let default = write(d.path(), "default.toml", "");
    let cfg = load(&default, &Env::default()).expect("loads");
    assert_eq!(cfg.maintenance_interval, DEFAULT_MAINTENANCE_INTERVAL);
    let bad = write(
        d.path(),
        "bad.toml",
        "# maintenance\n[storage]\nmaintenance_interval = \"10s\"\n",
    );
    let e = load(&bad, &Env::default()).expect_err("10s is below the floor");
    assert!(
        keys(&e).contains(&("storage.maintenance_interval".to_string(), Some(3))),
        "{e}"
    );
    assert!(e.to_string().contains("bad.toml:3"), "{e}");
}

#[test]
fn retentions_keep_forever_by_default_and_are_read_bounded_and_located() {
    let d = tempfile::tempdir().expect("tmp");
    let default = write(d.path(), "default.toml", "");
    let cfg = load(&default, &Env::default()).expect("loads");
    assert_eq!((cfg.article_retention, cfg.alert_retention), (None, None));
    assert_eq!(cfg.delivery_retention, DEFAULT_DELIVERY_RETENTION);
    let ok = write(
        d.path(),
        "ok.toml",
        "[storage]\narticle_retention = \"365d\"\nalert_retention = \"Forever\"\ndelivery_retention = \"7d\"\n",
    );
    let cfg = load(&ok, &Env::default()).expect("loads");
    assert_eq!(
        cfg.article_retention,
        Some(Duration::from_secs(365 * 86_400))
    );
    assert_eq!(cfg.alert_retention, None);
    assert_eq!(cfg.delivery_retention, Duration::from_secs(7 * 86_400));
    let bad = write(
        d.path(),
        "bad.toml",
        "[storage]\narticle_retention = \"1d\"\nalert_retention = \"20000d\"\ndelivery_retention = \"1h\"\n",
    );
    let e = load(&bad, &Env::default()).expect_err("out of bounds");
    for (key, line) in [
        ("storage.article_retention", 2),
        ("storage.alert_retention", 3),
        ("storage.delivery_retention", 4),
    ] {
        assert!(
            keys(&e).contains(&(key.to_string(), Some(line))),
            "{key}: {e}"
        );
    }
    let typo = write(
        d.path(),
        "typo.toml",
        "[storage]\nalert_retention = \"never\"\n",
    );
    let e = load(&typo, &Env::default()).expect_err("not a retention");
    assert!(e.to_string().contains("forever"), "{e}");
    assert!(e.to_string().contains("typo.toml:2"), "{e}");
}

#[test]
fn a_postgres_url_is_refused_by_db_with_file_line_and_key() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(d.path().join("pg.pass"), "hunter2\n").expect("write");
    let p = write(
        d.path(),
        "f.toml",
        "[storage]\nseen_retention = \"90d\"\ndatabase = \"postgresql://fw@db.example:5433/news?sslmode=verify-full\"\npassword_file = \"pg.pass\"\npool_size = 4\n",
    );
    let checked = read(&p, &Env::default()).expect("read");
    let Backend::Postgres(pg) = checked.value().backend() else {
        panic!("a postgresql:// URL selects PostgreSQL");
    };
    assert_eq!(pg.sslmode, SslMode::VerifyFull);
    assert_eq!(pg.pool_size, 4);
    assert_eq!(pg.password_file, Some(d.path().join("pg.pass")));
    assert_eq!(pg.params.get_ports(), &[5433]);
    let e = checked
        .finish()
        .expect_err("refused where only SQLite can serve (`db`)");
    assert_eq!(keys(&e), vec![("storage.database".to_string(), Some(3))]);
    let s = e.to_string();
    assert!(s.contains("f.toml:3: key `storage.database`"), "{s}");
    assert!(s.contains("maintains a SQLite database file"), "{s}");
    assert!(s.contains("pg_dump"), "{s}");
    let read_only = read_with(&p, &Env::default(), Backends::Both)
        .expect("read")
        .finish()
        .expect("the read commands accept PostgreSQL");
    assert!(matches!(read_only.backend(), Backend::Postgres(_)));
}

#[test]
fn postgres_problems_name_their_keys_and_never_echo_the_password() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[storage]\ndatabase = \"postgres://fw:hunter2@db/news?sslmode=allow\"\nstatement_timeout = \"0s\"\npool_size = 0\n",
    );
    let e = load(&p, &Env::default()).expect_err("bad");
    let found = keys(&e);
    for (key, line) in [
        ("storage.database", 2),
        ("storage.statement_timeout", 3),
        ("storage.pool_size", 4),
    ] {
        assert!(
            found.contains(&(key.to_string(), Some(line))),
            "{key}: {found:?}"
        );
    }
    let s = e.to_string();
    assert!(s.contains("sslmode=\"allow\" is not supported"), "{s}");
    assert!(!s.contains("hunter2"), "{s}");
    let p = write(
        d.path(),
        "g.toml",
        "[storage]\ndatabase = \"x.db\"\npassword_file = \"pw\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("password_file with SQLite");
    assert_eq!(
        keys(&e),
        vec![("storage.password_file".to_string(), Some(3))]
    );
}

#[test]
fn debug_of_a_config_never_shows_the_password() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[storage]\ndatabase = \"postgresql://fw:hunter2@db/news\"\n",
    );
    let checked = read(&p, &Env::default()).expect("read");
    let shown = format!("{:?}", checked.value());
    assert!(
        shown.contains("postgresql://fw:***@db:5432/news"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn a_bad_digest_schedule_names_file_line_and_key() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(
        d.path(),
        "f.toml",
        "[[sinks]]\nname = \"ok\"\ntype = \"webhook\"\nurl = \"https://h/\"\ndigest = \"weekly mon 07:00\"\ndigest_format = \"html\"\n\n\
         [[sinks]]\nname = \"bad\"\ntype = \"webhook\"\nurl = \"https://h/\"\ndigest = \"daily 25:00\"\nmin_severity = \"high\"\n\n\
         [[sinks]]\nname = \"fmt\"\ntype = \"exec\"\ncommand = [\"cat\"]\ndigest_format = \"text\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let k = keys(&e);
    assert!(k.contains(&("sinks[1].digest".into(), Some(12))), "{e}");
    assert!(
        k.contains(&("sinks[1].min_severity".into(), Some(13))),
        "{e}"
    );
    assert!(
        k.contains(&("sinks[2].digest_format".into(), Some(19))),
        "{e}"
    );
    assert!(!k.iter().any(|(k, _)| k.starts_with("sinks[0]")), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("f.toml:12: key `sinks[1].digest`: `25:00` is not a time of day"),
        "{text}"
    );
    let p = write(
        d.path(),
        "g.toml",
        "[[sinks]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"cat\"]\ndigest = \"daily 07:00\"\ndigest_format = \"pdf\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("unknown format");
    assert!(e.to_string().contains("g.toml:6"), "{e}");
}

#[test]
fn a_missing_corrupt_or_foreign_model_names_file_line_and_key() {
    let d = tempfile::tempdir().expect("tmp");
    let m = crate::rules::model::Model::new("a".into(), 0.5, 3, 0.0, vec![(1, 2, 0.5)]);
    crate::rules::model::file::save(&m, &d.path().join("a.fwm")).expect("save");
    let mut bytes = crate::rules::model::file::to_bytes(&m);
    bytes.truncate(bytes.len() - 4);
    std::fs::write(d.path().join("cut.fwm"), bytes).expect("write");
    write(
        d.path(),
        "r.toml",
        "[[rules]]\nname = \"a\"\nquery = \"x\"\nmodel = \"a.fwm\"\n\n\
         [[rules]]\nname = \"b\"\nquery = \"x\"\nmodel = \"gone.fwm\"\n\n\
         [[rules]]\nname = \"c\"\nquery = \"x\"\nmodel = \"cut.fwm\"\n\n\
         [[rules]]\nname = \"d\"\nquery = \"x\"\nmodel = \"a.fwm\"\n\n\
         [[rules]]\nname = \"e\"\nquery = \"x\"\nmodel_threshold = 0.3\n",
    );
    let p = write(d.path(), "f.toml", "rule_files = [\"r.toml\"]\n");
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(
        s.contains("r.toml:6: key `rules.model`") && s.contains("gone.fwm"),
        "{s}"
    );
    assert!(
        s.contains("r.toml:11: key `rules.model`") && s.contains("checksum"),
        "{s}"
    );
    assert!(
        s.contains("r.toml:16: key `rules.model`") && s.contains("not `d`"),
        "{s}"
    );
    assert!(s.contains("r.toml:21: key `rules.model_threshold`"), "{s}");
    assert!(!s.contains("r.toml:1:"), "rule a's model is fine: {s}");
}
