//! What commands print: the output format switch and the aligned text table shared by
//! `feeds list` and `search`. Cells pass through [`printable`] (they can hold strangers' text).

use std::io::Write;

use clap::ValueEnum;

use feedwatch::text::safe_text::printable;

/// Output formats of commands.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Writes rows as columns padded to the widest cell (in characters); the last column is not
/// padded so lines carry no trailing spaces.
pub fn write_table<const N: usize>(
    out: &mut impl Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(printable(c, false).chars().count());
        }
    }
    for r in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            // Cells can hold strangers' text (an imported OPML file's names and URLs).
            let cell = &printable(cell, false);
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut out = Vec::new();
        let h = ["A", "BB"].map(String::from);
        let rows = [["long cell", "x"].map(String::from)];
        write_table(&mut out, &h, &rows).expect("write");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "A          BB\nlong cell  x\n"
        );
    }
}
