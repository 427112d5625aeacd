//! Edits the config file in place: `toml_edit` keeps every comment, blank line and key order
//! that is not touched. An edit is checked with the daemon's own loader before it replaces
//! the file, by a temporary file in the same folder and a rename.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table, Value};

use super::{dedup_key, FeedsError, NewFeed};
use feedwatch::config::url::{self as feed_url, Origin};
use feedwatch::config::Env;

/// The config file as a `toml_edit` document, with the text it was read from.
pub(super) struct ConfigFile {
    /// The real file (symlinks resolved, so the rename replaces the target, not the link).
    pub(super) path: PathBuf,
    original: String,
    doc: DocumentMut,
}

impl ConfigFile {
    pub(super) fn open(path: &Path) -> Result<ConfigFile, FeedsError> {
        let path = std::fs::canonicalize(path).map_err(|source| FeedsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let original = std::fs::read_to_string(&path).map_err(|source| FeedsError::Read {
            path: path.clone(),
            source,
        })?;
        let doc = original
            .parse::<DocumentMut>()
            .map_err(|e| FeedsError::Toml {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(ConfigFile {
            path,
            original,
            doc,
        })
    }

    pub(super) fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }

    /// Appends a `[[feeds]]` table after the last one (or an inline table, when the file
    /// writes `feeds = [ {...} ]`).
    pub(super) fn add(&mut self, f: &NewFeed) -> Result<(), FeedsError> {
        let mut t = Table::new();
        t.insert("url", value(&f.url));
        if let Some(n) = &f.name {
            t.insert("name", value(n));
        }
        t.insert("full_text", value(f.full_text));
        if !f.tags.is_empty() {
            t.insert("tags", value(f.tags.iter().collect::<Array>()));
        }
        if let Some(d) = f.interval {
            t.insert("interval", value(humantime::format_duration(d).to_string()));
        }
        // A blank line before the header, as in the shipped config.
        t.decor_mut().set_prefix("\n");
        let shape_err = || FeedsError::FeedsShape {
            path: self.path.clone(),
        };
        match self.doc.get_mut("feeds") {
            None => {
                let mut aot = toml_edit::ArrayOfTables::new();
                aot.push(t);
                self.doc.insert("feeds", Item::ArrayOfTables(aot));
            }
            Some(Item::ArrayOfTables(aot)) => aot.push(t),
            Some(Item::Value(Value::Array(arr))) => {
                let mut it: InlineTable = t.into_inline_table();
                it.fmt();
                arr.push(it);
            }
            Some(_) => return Err(shape_err()),
        }
        Ok(())
    }

    /// Removes the entry whose URL normalises to `target`; returns its URL as written.
    pub(super) fn remove(&mut self, target: &str) -> Result<String, FeedsError> {
        let folder = self.folder().to_path_buf();
        let key = dedup_key(target);
        let matches = |url: Option<&str>| {
            url.and_then(|u| feed_url::check(u, Origin::ConfigFile { base: &folder }).ok())
                .is_some_and(|u| dedup_key(&u) == key)
        };
        let not_found = || FeedsError::NotFound {
            url: target.to_string(),
        };
        match self.doc.get_mut("feeds") {
            Some(Item::ArrayOfTables(aot)) => {
                let i = aot
                    .iter()
                    .position(|t| matches(t.get("url").and_then(Item::as_str)))
                    .ok_or_else(not_found)?;
                let removed = aot.remove(i);
                // Comments above a blank line before the removed header introduce the
                // section, not this feed: hand them to the next feed so they survive.
                if let Some(next) = aot.get_mut(i) {
                    let prefix = removed
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .unwrap_or("");
                    if let Some(section) = section_comments(prefix) {
                        let next_prefix = next
                            .decor()
                            .prefix()
                            .and_then(|p| p.as_str())
                            .unwrap_or("")
                            .trim_start_matches(['\n', '\r'])
                            .to_string();
                        next.decor_mut()
                            .set_prefix(format!("{section}{next_prefix}"));
                    }
                }
                Ok(removed
                    .get("url")
                    .and_then(Item::as_str)
                    .unwrap_or(target)
                    .to_string())
            }
            Some(Item::Value(Value::Array(arr))) => {
                let i = arr
                    .iter()
                    .position(|v| {
                        matches(
                            v.as_inline_table()
                                .and_then(|t| t.get("url"))
                                .and_then(Value::as_str),
                        )
                    })
                    .ok_or_else(not_found)?;
                let removed = arr.remove(i);
                Ok(removed
                    .as_inline_table()
                    .and_then(|t| t.get("url"))
                    .and_then(Value::as_str)
                    .unwrap_or(target)
                    .to_string())
            }
            None => Err(not_found()),
            Some(_) => Err(FeedsError::FeedsShape {
                path: self.path.clone(),
            }),
        }
    }

    /// Checks the edited text with the daemon's loader, then replaces the file atomically.
    pub(super) fn commit(&self, env: &Env) -> Result<(), FeedsError> {
        let text = self.doc.to_string();
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FeedsError::Write { path, source }
        };
        let tmp = TempFile::create(&self.path, text.as_bytes()).map_err(write_err(&self.path))?;
        if let Err(mut e) = super::load(&tmp.path, env) {
            // The problems name the temporary file; name the real one.
            for p in &mut e.problems {
                if p.file == tmp.path {
                    p.file.clone_from(&self.path);
                }
            }
            return Err(FeedsError::EditInvalid(e));
        }
        // Cheap guard against two editors at once (or a person saving in between).
        let now = std::fs::read_to_string(&self.path).map_err(|source| FeedsError::Read {
            path: self.path.clone(),
            source,
        })?;
        if now != self.original {
            return Err(FeedsError::Changed {
                path: self.path.clone(),
            });
        }
        tmp.persist(&self.path).map_err(write_err(&self.path))
    }
}

/// The part of a table's leading decor that ends with a blank line and holds a comment.
fn section_comments(prefix: &str) -> Option<String> {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let last_blank = lines.iter().rposition(|l| l.trim().is_empty())?;
    let section: String = lines[..=last_blank].concat();
    section
        .lines()
        .any(|l| l.trim_start().starts_with('#'))
        .then_some(section)
}

/// A temporary file beside the config, removed unless [`TempFile::persist`]ed.
struct TempFile {
    path: PathBuf,
    done: bool,
}

impl TempFile {
    /// Writes `bytes` to a new file in `target`'s folder, with `target`'s permissions, and
    /// syncs it so the rename cannot expose an empty file after a crash.
    fn create(target: &Path, bytes: &[u8]) -> std::io::Result<TempFile> {
        let folder = target.parent().unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = folder.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let tmp = TempFile { path, done: false };
        f.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(target) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        Ok(tmp)
    }

    fn persist(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.done = true;
        // Make the rename itself durable; not all filesystems allow syncing a folder.
        if let Some(dir) = target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const CFG: &str = "# top comment\nrule_files = []\n\n[poll]\ninterval = \"10m\" # keep me\n\n# Section about feeds.\n\n[[feeds]]\nurl = \"https://a.example/rss\"\nname = \"A\"\n\n# B is flaky\n[[feeds]]\nurl = \"https://b.example/rss\"\n\n[[rules]]\nname = \"r\"\nquery = \"x\"\n";

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("feedwatch.toml");
        std::fs::write(&p, text).expect("write");
        (dir, p)
    }

    fn feed(url: &str) -> NewFeed {
        NewFeed {
            url: url.into(),
            name: Some("C \"quoted\"".into()),
            full_text: true,
            tags: vec!["x".into(), "y".into()],
            interval: Some(Duration::from_secs(1800)),
        }
    }

    #[test]
    fn add_keeps_comments_and_lands_after_the_last_feed() {
        let (_d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/rss")).expect("add");
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.starts_with("# top comment\n"), "{text}");
        assert!(text.contains("interval = \"10m\" # keep me"));
        assert!(text.contains("# B is flaky"));
        let c = text.find("c.example").expect("c added");
        assert!(text.find("b.example").expect("b") < c);
        assert!(c < text.find("[[rules]]").expect("rules"), "{text}");
        let cfg = super::super::load(&p, &Env::default()).expect("load");
        assert_eq!(cfg.feeds.len(), 3);
        assert_eq!(cfg.feeds[2].name.as_deref(), Some("C \"quoted\""));
        assert_eq!(cfg.feeds[2].interval, Some(Duration::from_secs(1800)));
        assert!(cfg.feeds[2].full_text);
    }

    #[test]
    fn remove_keeps_section_comments_and_drops_the_feeds_own() {
        let (_d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        assert_eq!(
            f.remove("https://A.example:443/rss#x").expect("remove"),
            "https://a.example/rss"
        );
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains("# Section about feeds."), "{text}");
        assert!(!text.contains("a.example"));
        let mut f = ConfigFile::open(&p).expect("open");
        f.remove("https://b.example/rss").expect("remove b");
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(!text.contains("B is flaky"), "{text}");
        assert!(matches!(
            ConfigFile::open(&p).expect("open").remove("https://zzz/"),
            Err(FeedsError::NotFound { .. })
        ));
    }

    #[test]
    fn inline_array_and_missing_feeds_are_handled() {
        let (_d, p) = file("rule_files = []\nfeeds = [{ url = \"https://a.example/\" }]\n");
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/")).expect("add");
        f.commit(&Env::default()).expect("commit");
        assert_eq!(
            super::super::load(&p, &Env::default())
                .expect("load")
                .feeds
                .len(),
            2
        );
        let (_d, p) = file("rule_files = []\n");
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/")).expect("add");
        f.commit(&Env::default()).expect("commit");
        assert_eq!(
            super::super::load(&p, &Env::default())
                .expect("load")
                .feeds
                .len(),
            1
        );
    }

    #[test]
    fn an_edit_that_breaks_the_config_is_not_written() {
        let (d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        // Bypasses the duplicate check in `add`: the loader must still refuse it.
        f.add(&feed("https://a.example/rss")).expect("add");
        let err = f.commit(&Env::default()).expect_err("duplicate refused");
        assert!(err.to_string().contains("listed twice"), "{err}");
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), CFG);
        let leftovers = std::fs::read_dir(d.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "temporary file removed");
    }
}
