//! `window_tables`: the asm stubs' window tables (their comments in `entry/src/arch/*.rs`,
//! read with the parser `entry/build.rs` compiles them with) checked against a kernel ELF.
//! Tripwire T3 names a fault's window by the row whose start label is the last one at or below
//! the RIP, so each table must cover its stub: every label a row names is a symbol inside a
//! stub, and every stub starts a row.

#[path = "../../entry/window_tables.rs"]
mod parse;

use std::path::Path;

use anyhow::{Context, Result, bail};
use object::{Object, ObjectSymbol};

/// The result name, with the noinstr check's kernel suffixes (`window_tables [lean]`).
pub const TEST_NAME: &str = "window_tables";

/// Checks the tables against the kernel at `elf`; `all_labels`: every label must be present
/// (the test kernel, which has the test-only stubs too). Returns a one-line summary.
pub fn check(root: &Path, elf: &Path, all_labels: bool) -> Result<String> {
    let rows = parse::parse_dir(&root.join("entry/src/arch")).map_err(anyhow::Error::msg)?;
    let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file = object::File::parse(&*data).context("not an ELF file")?;
    let marker = |name: &str| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| s.address())
            .with_context(|| format!("no symbol {name} in {}", elf.display()))
    };
    let stubs_text = marker("__kentry_text_start")?..marker("__kentry_noinstr_text_start")?;
    let syms = crate::symbols::read(elf)?;
    let stubs: Vec<_> = syms
        .iter()
        .filter(|s| s.size > 0 && stubs_text.contains(&s.addr))
        .collect();
    let mut problems = Vec::new();
    let mut starts = Vec::new();
    let mut labels = 0;
    for row in &rows {
        for label in &row.from {
            let Some(sym) = syms.iter().find(|s| &s.name == label) else {
                if all_labels {
                    problems.push(format!(
                        "{}:{}: label {label} is no symbol of the kernel",
                        row.file, row.line
                    ));
                }
                continue;
            };
            labels += 1;
            if !stubs
                .iter()
                .any(|s| (s.addr..s.addr + s.size).contains(&sym.addr))
            {
                problems.push(format!(
                    "{}:{}: label {label} at {:#x} lies in no sized entry stub",
                    row.file, row.line, sym.addr
                ));
            }
            starts.push(sym.addr);
        }
    }
    for s in &stubs {
        if !starts.contains(&s.addr) {
            problems.push(format!(
                "stub {} at {:#x} starts no row of a window table (entry/src/arch/*.rs)",
                s.name, s.addr
            ));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(format!(
        "{} rows, {labels} labels found, {} stubs covered",
        rows.len(),
        stubs.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::parse::{HEADER, parse};

    #[test]
    fn a_row_names_its_start_labels_and_keeps_its_cells() {
        let text = format!(
            "//! {HEADER}\n//! |---|---|---|---|---|\n//! | `a`, `b` | `swapgs` | user RSP | NMI | why |\n"
        );
        let rows = parse("x.rs", &text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].from, ["a", "b"]);
        assert_eq!(rows[0].cells[0], "`swapgs`");
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn a_window_table_without_the_from_column_is_refused() {
        let text = "// | instructions | RSP / GS | can arrive | why it is safe |\n";
        assert!(parse("x.rs", text).is_err());
    }

    #[test]
    fn a_row_without_a_label_is_refused() {
        let text =
            format!("//! {HEADER}\n//! |---|---|---|---|---|\n//! | none | a | b | c | d |\n");
        assert!(parse("x.rs", &text).is_err());
    }
}
