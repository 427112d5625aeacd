//! What commands print: the output format switch, and the aligned text table shared by
//! `feeds list` and `search` (in the library, `text::table`: the digest's text form uses it).

use clap::ValueEnum;

/// Output formats of commands.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

pub use feedwatch::text::table::write_table;
