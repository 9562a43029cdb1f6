//! The guest's files: the program, argv/envp, stdin, `--file`s, and how they are laid out in
//! the initrd (docs/harness.md, "Run mode").

use super::*;

/// A file of the guest's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    /// The path without its leading `/` (as the archive names it), e.g. `etc/data`.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Everything one run puts into the guest.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The program, at `bin/<name>`.
    pub exe: GuestFile,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The `--file` files.
    pub files: Vec<GuestFile>,
    pub stdin: Vec<u8>,
}

impl RunSpec {
    /// A run of `exe` (the program's bytes) with `argv` as given and the default environment;
    /// the program lands at `/bin/<file name of host_name>`.
    pub fn new(host_name: &Path, exe: Vec<u8>, argv: Vec<Vec<u8>>) -> Self {
        RunSpec {
            exe: GuestFile {
                path: guest_program_path(host_name),
                mode: 0o755,
                data: exe,
            },
            argv,
            envp: DEFAULT_ENVP.iter().map(|e| e.as_bytes().to_vec()).collect(),
            files: Vec::new(),
            stdin: Vec::new(),
        }
    }

    /// The `-append` words: run mode, framed output, and the program's path. Its arguments
    /// are in the initrd: the command line cannot carry every byte.
    pub fn cmdline(&self) -> Vec<String> {
        vec![
            "kentry.mode=run".into(),
            "kentry.console=frames".into(),
            format!("kentry.init=/{}", self.exe.path),
        ]
    }

    /// The initrd of this run: the program, the `--file`s, argv, envp, stdin and the kernel's
    /// symbols (`kernel_sym`, for readable fault reports).
    pub fn initrd(&self, kernel_sym: &[u8]) -> Result<Vec<u8>> {
        let generated = [
            (ARGV_FILE, nul_terminated(&self.argv)?),
            (ENVP_FILE, nul_terminated(&self.envp)?),
            (STDIN_FILE, self.stdin.clone()),
            (SYM_FILE, kernel_sym.to_vec()),
        ];
        let mut files: Vec<(&str, u32, &[u8])> = vec![(
            self.exe.path.as_str(),
            self.exe.mode,
            self.exe.data.as_slice(),
        )];
        files.extend(generated.iter().map(|(p, d)| (*p, 0o644, d.as_slice())));
        files.extend(
            self.files
                .iter()
                .map(|f| (f.path.as_str(), f.mode, f.data.as_slice())),
        );
        let names: Vec<&str> = files.iter().map(|f| f.0).collect();
        let dirs = check_layout(&names).map_err(|m| refuse(STATUS_USAGE, m))?;
        let mut w = cpio::Writer::new();
        for d in &dirs {
            w.dir(d)?;
        }
        for (path, mode, data) in files {
            w.file(path, mode, data)?;
        }
        w.finish()
    }
}

/// `/bin/<name>` for a program file named `host_name`, or `/bin/program` when the name is
/// not a plain word for the kernel command line (it is said there as `kentry.init=`).
fn guest_program_path(host_name: &Path) -> String {
    let plain = host_name
        .file_name()
        .and_then(OsStr::to_str)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()));
    format!("bin/{}", plain.unwrap_or("program"))
}

/// Every string followed by a NUL: the form of `etc/kentry-argv` and `etc/kentry-envp`.
pub fn nul_terminated(strings: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        if s.contains(&0) {
            return Err(refuse(
                STATUS_USAGE,
                format!(
                    "string {i} ({:?}) contains a NUL byte, which a C string cannot hold",
                    String::from_utf8_lossy(s)
                ),
            ));
        }
        out.extend_from_slice(s);
        out.push(0);
    }
    Ok(out)
}

/// Checks that no two files share a path and no file sits where a directory must be; returns
/// the directories to create, parents first.
fn check_layout(files: &[&str]) -> std::result::Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for f in files {
        if !seen.insert(*f) {
            return Err(format!("two files for the guest path /{f}"));
        }
        let mut end = 0;
        while let Some(i) = f[end..].find('/') {
            end += i;
            dirs.insert(f[..end].to_string());
            end += 1;
        }
    }
    if let Some(clash) = dirs.iter().find(|d| seen.contains(d.as_str())) {
        return Err(format!(
            "/{clash} would be both a file and a directory in the guest"
        ));
    }
    // A parent sorts before its children ("a" < "a/b"): the archive lists it first.
    Ok(dirs.into_iter().collect())
}

/// `HOST[:/GUEST]` split at the last `:` that an absolute guest path follows.
fn split_host_guest(arg: &OsStr) -> (&[u8], Option<&[u8]>) {
    let bytes = arg.as_bytes();
    match bytes
        .iter()
        .rposition(|&b| b == b':')
        .filter(|&i| bytes.get(i + 1) == Some(&b'/'))
    {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    }
}

/// Splits `--file HOST_PATH[:GUEST_PATH]`. A guest path is recognized only when what follows
/// the last `:` is absolute, so host paths with colons still work alone. Returns the host path
/// and the guest path without its leading `/`.
pub fn parse_file_arg(arg: &OsStr) -> Result<(PathBuf, String)> {
    let (host, guest) = split_host_guest(arg);
    let shown = arg.to_string_lossy();
    if host.is_empty() {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: no host path"),
        ));
    }
    let host = PathBuf::from(OsStr::from_bytes(host));
    let guest = match guest {
        Some(g) => std::str::from_utf8(g)
            .map_err(|_| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the guest path is not UTF-8"),
                )
            })?
            .to_string(),
        None => {
            let name = host.file_name().ok_or_else(|| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the host path names no file; add :/GUEST_PATH"),
                )
            })?;
            let name = name.to_str().ok_or_else(|| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the file name is not UTF-8; add :/GUEST_PATH"),
                )
            })?;
            format!("/{name}")
        }
    };
    let rel = guest.trim_start_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: bad guest path {guest:?} (want e.g. /etc/data.txt)"),
        ));
    }
    Ok((host, rel.to_string()))
}

/// Reads the host file of a `--file`.
pub(super) fn read_guest_file(arg: &OsStr) -> Result<GuestFile> {
    let (host, path) = parse_file_arg(arg)?;
    let shown = host.display();
    let meta = std::fs::metadata(&host)
        .map_err(|e| refuse(STATUS_USAGE, format!("--file {shown}: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: is a directory (give each file with its own --file)"),
        ));
    }
    let data = std::fs::read(&host)
        .map_err(|e| refuse(STATUS_USAGE, format!("--file {shown}: {}", io_reason(&e))))?;
    Ok(GuestFile {
        path,
        mode: meta.permissions().mode() & 0o7777,
        data,
    })
}

/// `--dir HOST_DIR[:GUEST_DIR]`: every file under HOST_DIR (symlinks followed, each directory
/// once), at GUEST_DIR or at HOST_DIR's absolute path.
pub(super) fn read_guest_dir(arg: &OsStr) -> Result<Vec<GuestFile>> {
    let (host, guest) = split_host_guest(arg);
    let shown = arg.to_string_lossy();
    let usage = |m: String| refuse(STATUS_USAGE, format!("--dir {shown}: {m}"));
    let host = PathBuf::from(OsStr::from_bytes(host));
    let meta = std::fs::metadata(&host).map_err(|e| usage(io_reason(&e)))?;
    if !meta.is_dir() {
        return Err(usage("not a directory (use --file for a file)".into()));
    }
    let guest = match guest {
        Some(g) => std::str::from_utf8(g)
            .map_err(|_| usage("the guest path is not UTF-8".into()))?
            .to_string(),
        None => std::path::absolute(&host)
            .map_err(|e| usage(io_reason(&e)))?
            .to_str()
            .ok_or_else(|| usage("the path is not UTF-8; add :/GUEST_DIR".into()))?
            .to_string(),
    };
    let mut out = Vec::new();
    let mut visited = BTreeSet::new();
    let mut stack = vec![(host, guest.trim_end_matches('/').to_string())];
    while let Some((dir, at)) = stack.pop() {
        if !visited.insert(dir.canonicalize().map_err(|e| usage(io_reason(&e)))?) {
            continue;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| usage(format!("{}: {}", dir.display(), io_reason(&e))))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| usage(io_reason(&e)))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Some(name) = e.file_name().to_str().map(String::from) else {
                return Err(usage(format!(
                    "{}: a name that is not UTF-8",
                    e.path().display()
                )));
            };
            let path = e.path();
            // Followed: the guest gets what the link points at (a dangling one is skipped).
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let guest_path = format!("{at}/{name}");
            if meta.is_dir() {
                stack.push((path, guest_path));
            } else if meta.is_file() {
                let data = std::fs::read(&path)
                    .map_err(|e| usage(format!("{}: {}", path.display(), io_reason(&e))))?;
                out.push(GuestFile {
                    path: guest_path.trim_start_matches('/').to_string(),
                    mode: meta.permissions().mode() & 0o7777,
                    data,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_comes_whole_at_its_guest_path() {
        let root = std::env::temp_dir().join(format!("xtask-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"A").unwrap();
        std::fs::write(root.join("sub/b.py"), b"B").unwrap();
        // A link to a file is followed; a link back to the top is walked once.
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("sub/link")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("sub/up")).unwrap();
        let arg = format!("{}:/opt/x", root.display());
        let mut got: Vec<(String, Vec<u8>)> = read_guest_dir(OsStr::new(&arg))
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.data))
            .collect();
        got.sort();
        let want: Vec<(String, Vec<u8>)> = [
            ("opt/x/a.txt", b"A"),
            ("opt/x/sub/b.py", b"B"),
            ("opt/x/sub/link", b"A"),
        ]
        .iter()
        .map(|(p, d)| (p.to_string(), d.to_vec()))
        .collect();
        assert_eq!(got, want);
        // Without a guest path: the host's own path. A file is refused.
        let same = read_guest_dir(root.as_os_str()).unwrap();
        assert!(
            same.iter()
                .any(|f| f.path == format!("{}/a.txt", root.display()).trim_start_matches('/'))
        );
        assert!(read_guest_dir(root.join("a.txt").as_os_str()).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn argv_file() {
        let argv: Vec<Vec<u8>> = vec![
            b"prog".to_vec(),
            b"a b".to_vec(),
            b"".to_vec(),
            b"new\nline\xff".to_vec(),
        ];
        let bytes = nul_terminated(&argv).unwrap();
        assert_eq!(bytes, b"prog\0a b\0\0new\nline\xff\0");
        // The kernel's reading: strip the last NUL, split at the others.
        let back: Vec<&[u8]> = bytes
            .strip_suffix(&[0])
            .unwrap()
            .split(|&b| b == 0)
            .collect();
        assert_eq!(back, argv.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(nul_terminated(&[]).unwrap().is_empty());
        let err = nul_terminated(&[b"a\0b".to_vec()]).unwrap_err();
        assert_eq!(err.downcast_ref::<Refused>().unwrap().status, STATUS_USAGE);
    }

    #[test]
    fn initrd_layout() {
        let mut spec = RunSpec::new(
            Path::new("some/dir/my prog"),
            b"\x7fELF".to_vec(),
            vec![b"./x".to_vec(), b"arg one".to_vec()],
        );
        spec.stdin = b"input\n".to_vec();
        spec.files.push(GuestFile {
            path: "data/in/file.txt".into(),
            mode: 0o600,
            data: b"data".to_vec(),
        });
        assert_eq!(spec.exe.path, "bin/program");
        assert_eq!(
            spec.cmdline(),
            vec![
                "kentry.mode=run",
                "kentry.console=frames",
                "kentry.init=/bin/program"
            ]
        );
        let entries = cpio::tests::read_archive(&spec.initrd(b"syms").unwrap());
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "bin",
                "boot",
                "data",
                "data/in",
                "dev",
                "etc",
                "bin/program",
                "etc/kentry-argv",
                "etc/kentry-envp",
                "dev/.stdin",
                "boot/kernel.sym",
                "data/in/file.txt",
            ]
        );
        let data = |n: &str| &entries.iter().find(|e| e.name == n).unwrap().data;
        assert_eq!(data("etc/kentry-argv"), b"./x\0arg one\0");
        assert_eq!(
            data("etc/kentry-envp"),
            b"PATH=/bin:/usr/bin\0HOME=/\0TERM=linux\0"
        );
        assert_eq!(data("dev/.stdin"), b"input\n");
        let file = entries
            .iter()
            .find(|e| e.name == "data/in/file.txt")
            .unwrap();
        assert_eq!(file.mode, 0o100600);
        assert_eq!(
            RunSpec::new(Path::new("/x/hello"), vec![], vec![]).exe.path,
            "bin/hello"
        );

        // A --file over a generated file, or where a directory must be, is refused.
        for bad in ["etc/kentry-argv", "bin", "bin/program"] {
            let mut s = spec.clone();
            s.files.push(GuestFile {
                path: bad.into(),
                mode: 0o644,
                data: vec![],
            });
            let err = s.initrd(b"").unwrap_err();
            assert_eq!(err.downcast_ref::<Refused>().unwrap().status, STATUS_USAGE);
        }
    }

    #[test]
    fn file_args() {
        let p = |s: &str| parse_file_arg(OsStr::new(s));
        assert_eq!(
            p("a/b.txt").unwrap(),
            (PathBuf::from("a/b.txt"), "b.txt".into())
        );
        assert_eq!(
            p("a/b.txt:/etc/x").unwrap(),
            (PathBuf::from("a/b.txt"), "etc/x".into())
        );
        // A colon not followed by an absolute path belongs to the host path.
        assert_eq!(p("c:d").unwrap(), (PathBuf::from("c:d"), "c:d".into()));
        assert_eq!(p("c:d:/x/y").unwrap(), (PathBuf::from("c:d"), "x/y".into()));
        for bad in [":/x", "a:/", "a:/x/../y", "a:/x//y", "/"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn guest_names() {
        assert_eq!(
            guest_program_path(Path::new("a/b/prog-1.2")),
            "bin/prog-1.2"
        );
        assert_eq!(guest_program_path(Path::new("with space")), "bin/program");
        assert_eq!(guest_program_path(Path::new("é")), "bin/program");
        assert_eq!(guest_program_path(Path::new("/")), "bin/program");
    }
}
