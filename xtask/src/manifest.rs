//! The test manifest (`user/tests.manifest`): `<name> <expected status> <argv0> [args…]` per
//! line; `#` starts a comment.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number, for messages.
    pub line: usize,
    pub name: String,
    /// The exit status, or 128 + signal number.
    pub expected: i32,
    /// `argv[0]` (the path in the initrd, e.g. `/bin/sigsegv`) and the arguments.
    pub argv: Vec<String>,
}

impl Entry {
    /// The program's file name: the last component of `argv[0]`.
    pub fn program(&self) -> &str {
        let argv0 = self.argv.first().map(String::as_str).unwrap_or_default();
        argv0.rsplit('/').next().unwrap_or(argv0)
    }
}

pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the test manifest {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let words: Vec<&str> = strip_comment(raw).split_whitespace().collect();
        let (name, status, argv) = match words.as_slice() {
            [] => continue,
            [name, status, argv @ ..] if !argv.is_empty() => (*name, *status, argv),
            _ => bail!("line {line}: want `<name> <expected status> <argv0> [args…]`, got {raw:?}"),
        };
        let expected: i32 = status
            .parse()
            .ok()
            .filter(|s| (0..=255).contains(s))
            .with_context(|| {
                format!("line {line}: expected status {status:?} is not a number 0–255")
            })?;
        if let Some(prev) = entries.iter().find(|e| e.name == name) {
            bail!(
                "line {line}: test name {name:?} already used on line {}",
                prev.line
            );
        }
        entries.push(Entry {
            line,
            name: name.to_string(),
            expected,
            argv: argv.iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(entries)
}

/// Cuts a line at a `#` that starts a word.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let text = "\
# name       status argv
hello        0      /bin/hello
sigsegv      139    /bin/fault segv   # dies by SIGSEGV

args 0 /bin/echo a#b c
";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].name, "hello");
        assert_eq!(e[0].program(), "hello");
        assert_eq!(e[1].expected, 139);
        assert_eq!(e[1].argv, vec!["/bin/fault", "segv"]);
        assert_eq!(e[1].line, 3);
        assert_eq!(e[2].argv, vec!["/bin/echo", "a#b", "c"]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("x 0\n").is_err());
        assert!(parse("x zero /bin/x\n").is_err());
        assert!(parse("x 256 /bin/x\n").is_err());
        assert!(parse("x -1 /bin/x\n").is_err());
        let dup = parse("x 0 /bin/x\nx 1 /bin/y\n").unwrap_err();
        assert!(format!("{dup:#}").contains("already used on line 1"));
    }
}
