//! The test manifests (`user/tests.manifest`, then `user/c/tests.manifest`):
//! `<name> <status>[,guest|,host] <argv0> [args…]` per line; `#` starts a comment. The kernel
//! reads them as one file, `etc/kentry-tests`, and parses it the same way
//! (kernel/src/test/manifest.rs).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where an entry runs: the optional `,guest` / `,host` after the expected status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// `<status>`: in the guest and natively on the host.
    #[default]
    Both,
    /// `<status>,guest`: in the guest only (e.g. the syscall fuzzer, which must never run
    /// natively on this host).
    Guest,
    /// `<status>,host`: natively on the host only; the kernel does not run it yet (it skips the
    /// entry without printing it) and xtask reports it as skipped.
    Host,
}

impl Placement {
    pub fn in_guest(self) -> bool {
        self != Placement::Host
    }

    pub fn on_host(self) -> bool {
        self != Placement::Guest
    }
}

/// The skip reason of a `,host` entry in the guest part of the report.
pub const HOST_ONLY: &str = "host only (pending kernel support)";
/// The skip reason of a `,guest` entry in the host cross-check.
pub const GUEST_ONLY: &str = "guest only (never run natively on this host)";

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The manifest file, as shown in messages (`user/tests.manifest`).
    pub file: String,
    /// 1-based line number in `file`, for messages.
    pub line: usize,
    pub name: String,
    /// The exit status, or 128 + signal number.
    pub expected: i32,
    pub placement: Placement,
    /// `argv[0]` (the path in the initrd, e.g. `/bin/sigsegv`) and the arguments.
    pub argv: Vec<String>,
}

/// The manifests read together: the text of `etc/kentry-tests` and its entries.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The files one after the other, each ending in a newline: what the kernel reads.
    pub text: String,
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// The entry named `name`.
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Reads the manifests `paths` in order (names shown relative to `root`) into one list; test
/// names must be unique across all of them.
pub fn read_all(paths: &[PathBuf], root: &Path) -> Result<Manifest> {
    let mut m = Manifest::default();
    for path in paths {
        let shown = crate::workspace::shown(path, root);
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the test manifest {shown}"))?;
        let entries = parse(&text).with_context(|| format!("in {shown}"))?;
        for mut e in entries {
            if let Some(prev) = m.find(&e.name) {
                bail!(
                    "{shown} line {}: test name {:?} already used in {} line {}",
                    e.line,
                    e.name,
                    prev.file,
                    prev.line
                );
            }
            e.file = shown.clone();
            m.entries.push(e);
        }
        m.text.push_str(&text);
        if !m.text.is_empty() && !m.text.ends_with('\n') {
            m.text.push('\n');
        }
    }
    Ok(m)
}

impl Entry {
    /// The program's file name: the last component of `argv[0]`.
    pub fn program(&self) -> &str {
        let argv0 = self.argv.first().map(String::as_str).unwrap_or_default();
        argv0.rsplit('/').next().unwrap_or(argv0)
    }
}

pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let words: Vec<&str> = strip_comment(raw).split_whitespace().collect();
        let (name, status, argv) = match words.as_slice() {
            [] => continue,
            [name, status, argv @ ..] if !argv.is_empty() => (*name, *status, argv),
            _ => bail!(
                "line {line}: want `<name> <expected status>[,guest|,host] <argv0> [args…]`, \
                 got {raw:?}"
            ),
        };
        let (status, placement) = match status.split_once(',') {
            None => (status, Placement::Both),
            Some((s, "guest")) => (s, Placement::Guest),
            Some((s, "host")) => (s, Placement::Host),
            Some((_, p)) => bail!("line {line}: placement {p:?} is not `guest` or `host`"),
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
            file: String::new(),
            line,
            name: name.to_string(),
            expected,
            placement,
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

    #[test]
    fn placements() {
        let text = "\
both   0        /bin/a
guest  0,guest  /bin/fuzz 100   # never natively
host   139,host /bin/b          # pending kernel support
";
        let e = parse(text).unwrap();
        let got: Vec<(i32, Placement)> = e.iter().map(|e| (e.expected, e.placement)).collect();
        assert_eq!(
            got,
            vec![
                (0, Placement::Both),
                (0, Placement::Guest),
                (139, Placement::Host)
            ]
        );
        assert_eq!(e[1].argv, vec!["/bin/fuzz", "100"]);
        assert!(Placement::Both.in_guest() && Placement::Both.on_host());
        assert!(Placement::Guest.in_guest() && !Placement::Guest.on_host());
        assert!(!Placement::Host.in_guest() && Placement::Host.on_host());

        for bad in [
            "x 0,both /bin/x\n",
            "x 0, /bin/x\n",
            "x 0,Guest /bin/x\n",
            "x 0,guest,host /bin/x\n",
            "x ,guest /bin/x\n",
            "x 0,host\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let err = parse("x 0,hots /bin/x\n").unwrap_err();
        assert!(format!("{err:#}").contains("placement \"hots\""));
    }

    #[test]
    fn reads_manifests_as_one() {
        let dir = std::env::temp_dir().join(format!("xtask-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (
            dir.join("a.manifest"),
            dir.join("b.manifest"),
            dir.join("c"),
        );
        std::fs::write(&a, "one 0 /bin/one\n# end without a newline").unwrap();
        std::fs::write(&b, "two 0,host /bin/two\nthree 1,guest /bin/three\n").unwrap();
        std::fs::write(&c, "\n\none 0 /bin/again\n").unwrap();
        let m = read_all(&[a.clone(), b.clone()], &dir).unwrap();
        assert_eq!(
            m.text,
            "one 0 /bin/one\n# end without a newline\ntwo 0,host /bin/two\nthree 1,guest /bin/three\n"
        );
        let names: Vec<&str> = m.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["one", "two", "three"]);
        // The combined text gives the same list as the files one by one.
        assert_eq!(parse(&m.text).unwrap().len(), 3);
        assert_eq!(
            (m.entries[1].file.as_str(), m.entries[1].line),
            ("b.manifest", 1)
        );
        assert_eq!(m.find("three").unwrap().placement, Placement::Guest);
        let err = read_all(&[a.clone(), b, c], &dir).unwrap_err();
        assert!(
            format!("{err:#}")
                .contains("c line 3: test name \"one\" already used in a.manifest line 1"),
            "{err:#}"
        );
        assert!(read_all(&[a, dir.join("none")], &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
