//! libpq's password file (`$PGPASSFILE`, else `~/.pgpass`), so an operator's existing setup
//! works unchanged: lines `host:port:database:user:password`, `*` matching anything, `\:` and
//! `\\` escaping. As libpq does, a file that others may read is ignored (with a warning): a
//! password readable by every local user is not a secret worth trusting.

use std::path::{Path, PathBuf};

/// Largest password file read; real ones are a few lines.
const MAX_BYTES: u64 = 64 * 1024;

/// What the connection is to, for matching lines.
pub(super) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password file's path: `$PGPASSFILE`, else `$HOME/.pgpass`.
pub(super) fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".pgpass"))
}

/// The password for `target` from the file at `path`, if the file exists, is private to its
/// owner and has a matching line.
pub(super) fn lookup(path: &Path, target: &Target<'_>) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(),
            "password file ignored: others may read it (chmod 0600, as libpq requires)");
        return None;
    }
    let mut text = String::new();
    file.take(MAX_BYTES).read_to_string(&mut text).ok()?;
    find(&text, target)
}

/// The first line of `text` matching `target` (libpq's rule: the first match wins).
fn find(text: &str, target: &Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host, port.as_str(), target.dbname, target.user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(fields)
        .find(|f| {
            f.len() == 5
                && f.iter()
                    .zip(wanted)
                    .all(|(have, want)| have == "*" || have == want)
        })
        .and_then(|mut f| f.pop())
}

/// A line's fields, split at unescaped `:`, with `\:` and `\\` unescaped.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Target<'static> = Target {
        host: "db.example",
        port: 5432,
        dbname: "news",
        user: "fw",
    };

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:news:fw:nope\ndb.example:5432:*:fw:pa\\:ss\\\\1\n*:*:*:*:fallback\n";
        assert_eq!(find(text, &T).as_deref(), Some("pa:ss\\1"));
        let t = Target {
            user: "someone",
            ..T
        };
        assert_eq!(find(text, &t).as_deref(), Some("fallback"));
        assert_eq!(
            find("db.example:5433:news:fw:x\n", &T),
            None,
            "port differs"
        );
        assert_eq!(find("db.example:5432:news:fw\n", &T), None, "four fields");
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("pgpass");
        std::fs::write(&p, "*:*:*:*:secret\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(lookup(&p, &T).as_deref(), Some("secret"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(lookup(&p, &T), None);
        assert_eq!(lookup(&d.path().join("missing"), &T), None);
    }
}
