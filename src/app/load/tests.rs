//! Loading through [`super::load_config`]: the rule compiler's problems join the config's,
//! each at its file and line, in one pass.

use std::path::{Path, PathBuf};

use super::*;

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    load_config(path, env).map(|l| l.config)
}

#[test]
fn the_shipped_config_compiles() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let l = load_config(&p, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.rules.len(), l.config.rules.len());
}

#[test]
fn one_bad_rule_does_not_hide_the_others() {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "r.toml",
        "[[rules]]\nname = \"typed\"\nquery = \"x\"\nseverity = 5\n\n\
         [[rules]]\nname = \"b\"\nquery = \"a AND\"\n\n\
         [[rules]]\nname = \"c\"\nquery = \"(open\"\n\n\
         [[rules]]\nname = \"d\"\nqeury = \"x\"\n",
    );
    let p = write(
        d.path(),
        "f.toml",
        "rule_files = [\"r.toml\"]\n\n[[rules]]\nname = 7\nquery = \"x\"\n\n[[rules]]\nname = \"ok\"\nquery = \"NOT\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    for want in [
        "f.toml:4: key `rules.name`",
        "f.toml:7: key `query`: rule `ok`",
        "r.toml:4: key `rules.severity`",
        "r.toml:6",
        "r.toml:10",
        "r.toml:16: key `rules.qeury`",
    ] {
        assert!(s.contains(want), "{want} missing from:\n{s}");
    }
    assert!(
        s.contains("rule `b`") && s.contains("rule `c`") && s.contains("rule `ok`"),
        "{s}"
    );
}

#[test]
fn concept_problems_name_file_and_line() {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "c.toml",
        "[[concepts]]\nname = \"a\"\nterms = [\"@b\"]\n\n\
         [[concepts]]\nname = \"b\"\nterms = [\"@a\"]\n\n\
         [[concepts]]\nname = \"spare\"\nterms = [\"x\"]\n\n\
         [[concepts]]\nname = \"fine\"\nterms = [\"~storm\", \"rocket*\"]\n",
    );
    let p = write(
        d.path(),
        "f.toml",
        "rule_files = [\"c.toml\"]\n\n[[rules]]\nname = \"r\"\nquery = \"@fine OR @nope\"\n\n\
         [[rules]]\nname = \"s\"\nquery = \"@a\"\n",
    );
    let e = load(&p, &Env::default()).expect_err("must fail");
    let s = e.to_string();
    assert!(
        s.contains("c.toml:1: key `concepts`: concept `a`: refers to itself: @a → @b → @a"),
        "{s}"
    );
    assert!(
        s.contains("c.toml:9: key `concepts.name`: concept `spare` is defined but no rule uses it"),
        "{s}"
    );
    assert!(
        s.contains("f.toml:3: key `query`: rule `r`: no concept named `nope`"),
        "{s}"
    );
    assert_eq!(e.problems.len(), 3, "{s}");

    // Fixed, the concepts reach the config and compile with the rules.
    write(
        d.path(),
        "c.toml",
        "[[concepts]]\nname = \"a\"\nterms = [\"@fine\"]\n\n\
         [[concepts]]\nname = \"fine\"\nterms = [\"~storm\", \"rocket*\"]\n",
    );
    write(
        d.path(),
        "f.toml",
        "rule_files = [\"c.toml\"]\n\n[[rules]]\nname = \"r\"\nquery = \"@a embassy\"\n",
    );
    let c = load(&p, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.concepts.len(), 2);
    let set = load_config(&p, &Env::default()).expect("compiles").rules;
    let doc = crate::rules::Document {
        body: "Crowds stormed the embassy",
        ..Default::default()
    };
    assert_eq!(set.matches(&doc).len(), 1);
    // A rule file for `backtest` may use the config's concepts.
    let rf = write(
        d.path(),
        "bt.toml",
        "[[rules]]\nname = \"t\"\nquery = \"@fine\"\n",
    );
    let (file, _) = load_rule_file(&rf, &c.concepts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((file.rules.len(), file.concepts.len()), (1, 2));
    assert!(load_rule_file(&rf, &[]).is_err());
}
