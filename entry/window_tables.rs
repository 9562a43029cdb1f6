//! The window tables of the asm entry stubs, read from where they are written: the comments of
//! `entry/src/arch/*.rs`. Each table is a Markdown table in `//!` or `//` comments whose header
//! is exactly [`HEADER`]; each row is one window of a stub — a run of instructions with one
//! answer to "what can arrive here, and why is that safe" — and its first cell names, in
//! backticks, the asm label(s) where that run starts.
//!
//! One parser, shared by `entry/build.rs` (which compiles the rows into the `kentry` crate,
//! `kentry::arch::windows`, so that tripwire T3 can name a fault's row) and xtask (which
//! checks every label against the kernel ELF). Plain std Rust, no dependencies.

/// The header every window table has.
pub const HEADER: &str = "| from | instructions | RSP / GS | can arrive | why it is safe |";

/// One row of a window table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    /// The source file, relative to `entry/src/arch/`.
    pub file: String,
    /// 1-based line of the row in that file.
    pub line: usize,
    /// The labels at which the window starts (most rows have one).
    pub from: Vec<String>,
    /// The other four cells: instructions, RSP / GS, can arrive, why it is safe.
    pub cells: [String; 4],
}

/// The comment text of a line that is part of a table (`//! |…` or `// |…`), else `None`.
fn table_text(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t.strip_prefix("//!").or_else(|| t.strip_prefix("//"))?;
    let t = t.trim();
    t.starts_with('|').then_some(t)
}

/// The names in backticks in `cell`.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every window-table row of one source file. A table with another header is an error only
/// when it looks like a window table (its header names "instructions" and "can arrive").
pub fn parse(file: &str, text: &str) -> Result<Vec<WindowRow>, String> {
    let mut rows = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(header) = table_text(lines[i]) else {
            i += 1;
            continue;
        };
        let window_table = header.contains("instructions") && header.contains("can arrive");
        if window_table && header != HEADER {
            return Err(format!(
                "{file}:{}: a window table's header must be `{HEADER}` (the first column names the label each window starts at), not `{header}`",
                i + 1
            ));
        }
        i += 1;
        while let Some(t) = lines.get(i).and_then(|l| table_text(l)) {
            if window_table && !t.starts_with("|---") {
                let cells: Vec<&str> = t.split('|').map(str::trim).collect();
                // "| a | b | c | d | e |" splits into 7 pieces, empty at both ends.
                if cells.len() != 7 {
                    return Err(format!(
                        "{file}:{}: a window-table row needs 5 cells (no `|` inside one): `{t}`",
                        i + 1
                    ));
                }
                let from = backticked(cells[1]);
                if from.is_empty() {
                    return Err(format!(
                        "{file}:{}: the first cell must name the label the window starts at, in backticks",
                        i + 1
                    ));
                }
                rows.push(WindowRow {
                    file: file.to_string(),
                    line: i + 1,
                    from,
                    cells: [2, 3, 4, 5].map(|c| cells[c].to_string()),
                });
            }
            i += 1;
        }
    }
    Ok(rows)
}

/// Every row of every file in `dir` (`entry/src/arch`), in file-name order.
pub fn parse_dir(dir: &std::path::Path) -> Result<Vec<WindowRow>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for p in files {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        rows.extend(parse(&name, &text)?);
    }
    Ok(rows)
}
