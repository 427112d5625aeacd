//! An aligned text table for what commands and the digest's text form print. Cells pass
//! through [`printable`]: they can hold strangers' text (feed names, imported OPML).

use std::io::Write;

use super::safe_text::printable;

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
