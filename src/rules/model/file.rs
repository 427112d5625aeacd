//! The model file: a small binary format with a magic, a version and a checksum.
//!
//! Why binary: a model holds ~10^5 (bucket, df, weight) entries; as delta-coded varints and
//! `f32`s they take ~7 bytes each, a third of any text form, and the shipped models stay far
//! under a few MB. Why versioned and checksummed: a model is configuration the daemon trusts;
//! a truncated copy, a file from a newer feedwatch, or one built with other n-gram settings
//! must be a clear config error naming the file, never a silently wrong score.
//!
//! Layout (little-endian):
//!
//! | bytes | content |
//! | --- | --- |
//! | 8 | magic `FWMODEL\n` |
//! | 2 | format version ([`VERSION`]) |
//! | 2 + n | rule name (length, UTF-8) |
//! | 4 | threshold (`f32`) |
//! | 4 | bucket bits, min n, max n, title weight (one byte each) |
//! | 4 | characters read per field (`u32`) |
//! | 4 | training documents (`u32`, for the IDF) |
//! | 4 | bias (`f32`) |
//! | 4 | entry count (`u32`) |
//! | … | per entry: bucket minus the previous bucket (LEB128), df (LEB128), weight (`f32`) |
//! | 8 | FNV-1a 64 of every byte before it |
//!
//! The checksum catches corruption and truncation, not tampering: whoever can write the
//! rule files can write the rules too.

use std::path::{Path, PathBuf};

use super::features::{fnv1a, BUCKET_BITS, MAX_CHARS, MAX_N, MIN_N, TITLE_WEIGHT};
use super::Model;

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"FWMODEL\n";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// A model file that cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file cannot be read or written.
    #[error("model file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a model this build can use.
    #[error("model file {}: {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// The model as the bytes of a file.
pub fn to_bytes(m: &Model) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + m.buckets.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let name = m.rule.as_bytes();
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&name[..usize::from(len)]);
    out.extend_from_slice(&m.threshold.to_le_bytes());
    out.extend_from_slice(&[
        BUCKET_BITS as u8,
        MIN_N as u8,
        MAX_N as u8,
        TITLE_WEIGHT as u8,
    ]);
    out.extend_from_slice(&(MAX_CHARS as u32).to_le_bytes());
    out.extend_from_slice(&m.n_docs.to_le_bytes());
    out.extend_from_slice(&m.bias.to_le_bytes());
    out.extend_from_slice(&(m.buckets.len() as u32).to_le_bytes());
    let mut prev = 0u32;
    for ((&b, &df), &w) in m.buckets.iter().zip(&m.df).zip(&m.weight) {
        leb128(&mut out, b - prev);
        leb128(&mut out, df);
        out.extend_from_slice(&w.to_le_bytes());
        prev = b;
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads the bytes of a model file in order; every read says "truncated" when short.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| "truncated".to_string())?;
        self.at += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    fn leb128(&mut self) -> Result<u32, String> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let [b] = self.array()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| "bad number".to_string());
            }
        }
        Err("bad number".into())
    }
}

/// A model from the bytes of a file.
///
/// # Errors
/// A message saying what is wrong: not a model file, a newer format, other n-gram settings,
/// truncated, or a checksum mismatch.
pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
    if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err("not a feedwatch model file (no `FWMODEL` header)".into());
    }
    let mut r = Reader { bytes, at: 8 };
    let version = u16::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(format!(
            "format version {version}, this feedwatch reads version {VERSION}{}",
            if version > VERSION {
                " (written by a newer feedwatch)"
            } else {
                ""
            }
        ));
    }
    let body_len = bytes.len().checked_sub(8).ok_or("truncated")?;
    let stored = u64::from_le_bytes(
        bytes[body_len..]
            .try_into()
            .map_err(|_| "truncated".to_string())?,
    );
    if fnv1a(&bytes[..body_len]) != stored {
        return Err("checksum mismatch: the file is corrupt or truncated".into());
    }
    let body = &bytes[..body_len];
    r.bytes = body;
    let name_len = usize::from(u16::from_le_bytes(r.array()?));
    let rule = String::from_utf8(r.take(name_len)?.to_vec())
        .map_err(|_| "rule name is not UTF-8".to_string())?;
    let threshold = r.f32()?;
    let settings: [u8; 4] = r.array()?;
    let max_chars = r.u32()?;
    let ours = [
        BUCKET_BITS as u8,
        MIN_N as u8,
        MAX_N as u8,
        TITLE_WEIGHT as u8,
    ];
    if settings != ours || max_chars as usize != MAX_CHARS {
        return Err(format!(
            "built with other features (bucket bits, n-grams, title weight {settings:?}, \
             {max_chars} chars; this feedwatch uses {ours:?}, {MAX_CHARS}): train it again"
        ));
    }
    let n_docs = r.u32()?;
    let bias = r.f32()?;
    let count = r.u32()? as usize;
    let mut entries = Vec::with_capacity(count.min(1 << BUCKET_BITS));
    let mut bucket = 0u32;
    for _ in 0..count {
        bucket = bucket
            .checked_add(r.leb128()?)
            .filter(|&b| b < 1 << BUCKET_BITS)
            .ok_or("bucket out of range")?;
        let df = r.leb128()?;
        entries.push((bucket, df, r.f32()?));
    }
    if r.at != body.len() {
        return Err("trailing bytes after the entries".into());
    }
    if !threshold.is_finite() || !bias.is_finite() || entries.iter().any(|e| !e.2.is_finite()) {
        return Err("a number is not finite".into());
    }
    Ok(Model::new(rule, threshold, n_docs, bias, entries))
}

/// Loads a model file.
///
/// # Errors
/// [`ModelError`] naming `path`.
pub fn load(path: &Path) -> Result<Model, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes).map_err(|message| ModelError::Bad {
        path: path.to_path_buf(),
        message,
    })
}

/// Writes a model file.
///
/// # Errors
/// [`ModelError::Io`] naming `path`.
pub fn save(model: &Model, path: &Path) -> Result<(), ModelError> {
    std::fs::write(path, to_bytes(model)).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::new(
            "green-zone".into(),
            0.5,
            10,
            -0.25,
            vec![(3, 2, 1.5), (200, 9, -0.5), (1 << 19, 3, 0.125)],
        )
    }

    #[test]
    fn round_trips() {
        let bytes = to_bytes(&model());
        assert_eq!(from_bytes(&bytes), Ok(model()));
    }

    #[test]
    fn corrupt_truncated_and_newer_files_are_errors() {
        let bytes = to_bytes(&model());
        let err = |b: &[u8]| from_bytes(b).err().unwrap_or_default();
        assert!(err(b"hello").contains("not a feedwatch model"));
        assert!(
            err(&bytes[..bytes.len() - 3]).contains("checksum"),
            "truncated"
        );
        assert!(err(&bytes[..9]).contains("truncated"));
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(err(&flipped).contains("checksum"));
        let mut newer = bytes.clone();
        newer[8] = 2;
        assert!(err(&newer).contains("newer feedwatch"), "{}", err(&newer));
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("fwm-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("bad.fwm");
        std::fs::write(&path, b"FWMODEL\n\x09\x00").unwrap_or_default();
        let e = load(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("bad.fwm") && e.contains("version 9"), "{e}");
        let e = load(&dir.join("missing.fwm")).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("missing.fwm"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
