//! Reading the fuzzer's output and the kernel log of a fuzz boot.

use std::collections::BTreeMap;

use super::Outcome;

/// The fuzzer's counts, summed over its workers (`entry_fuzz: count cpuN NAME VALUE`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub counts: BTreeMap<String, u64>,
    /// The failure lines (`entry_fuzz: FAIL …`), in order.
    pub failures: Vec<String>,
    /// The parent printed `entry_fuzz: done`.
    pub done: bool,
    /// The last `entry_fuzz: progress cpuN iterations=I …` of each worker: what a run that
    /// never got to its counts (a kernel crash) had done.
    pub progress: BTreeMap<String, u64>,
}

impl Summary {
    pub fn get(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Prints the counts in groups: cases, entries by kind, how the children ended.
    pub fn print(&self, nmis: u64) {
        if self.get("iterations") == 0 && !self.progress.is_empty() {
            println!(
                "fuzz: the fuzzer printed no counts; its last progress lines add up to {} cases ({})",
                self.progress.values().sum::<u64>(),
                self.progress
                    .iter()
                    .map(|(cpu, n)| format!("{cpu} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let group = |prefix: &str| -> String {
            self.counts
                .iter()
                .filter_map(|(k, v)| Some(format!("{} {v}", k.strip_prefix(prefix)?)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "fuzz: {} cases, {} failed, {} timed out (a random syscall that blocks), {} NMIs injected",
            self.get("iterations"),
            self.get("failures"),
            self.get("timeouts"),
            nmis
        );
        println!("fuzz: entries by kind: {}", group("kind."));
        println!("fuzz: set-up faults: {}", group("stage."));
        println!("fuzz: modes: {}", group("mode."));
        println!("fuzz: caught by the handler: {}", group("caught."));
        println!("fuzz: killed by: {}", group("killed."));
        println!("fuzz: returned or exited: {}", group("end."));
    }
}

/// Sums the fuzzer's output.
pub fn summarize(output: &str) -> Summary {
    let mut s = Summary::default();
    for line in output.lines() {
        // A random write() from a child can leave bytes without a newline before a line.
        let Some(at) = line.find("entry_fuzz: ") else {
            continue;
        };
        let line = &line[at..];
        if let Some(rest) = line.strip_prefix("entry_fuzz: count ") {
            let mut w = rest.split_whitespace();
            if let (Some(_cpu), Some(name), Some(v), None) =
                (w.next(), w.next(), w.next(), w.next())
                && let Ok(v) = v.parse::<u64>()
            {
                *s.counts.entry(name.to_string()).or_default() += v;
            }
        } else if line.starts_with("entry_fuzz: FAIL") {
            s.failures.push(line.to_string());
        } else if line.starts_with("entry_fuzz: done ") {
            s.done = true;
        } else if let Some(rest) = line.strip_prefix("entry_fuzz: progress ") {
            let mut w = rest.split_whitespace();
            if let (Some(cpu), Some(it)) = (w.next(), w.next())
                && let Some(Ok(n)) = it.strip_prefix("iterations=").map(str::parse::<u64>)
            {
                s.progress.insert(cpu.to_string(), n);
            }
        }
    }
    s
}

/// Words of a kernel log line that mean the kernel went wrong: its fault reports, panics,
/// tripwires, context-tracking and lock assertions, the watchdog.
const TROUBLE: [&str; 9] = [
    "KERNEL FAULT",
    "panic",
    "DOUBLE FAULT",
    "UNEXPECTED",
    "tripwire",
    "violated",
    // The lockup report, not the command line's `kentry.watchdog=`.
    "NMI watchdog:",
    "lockcheck",
    "assertion",
];

/// The first kernel log line that shows trouble.
pub fn kernel_trouble(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .find(|l| TROUBLE.iter().any(|t| l.contains(t)))
        .cloned()
}

/// Prints what a failed run needs for a diagnosis: the failed cases with their replay lines,
/// and the end of the serial log (the whole of it when the kernel itself failed).
/// `cpu`: the `-cpu` model, which the replay needs too (the fuzzer probes what it allows).
pub fn print_failure(out: &Outcome, seed: u64, cpu: &str) {
    for f in out.summary.failures.iter().take(40) {
        println!("{f}");
    }
    let kernel_failed =
        !out.log.kernel_exit().finished() || kernel_trouble(&out.log.lines).is_some();
    if kernel_failed {
        // The lines around the trouble and the end: the whole log can be millions of lines.
        let tail = out.log.lines.len().saturating_sub(300);
        if let Some(i) = out
            .log
            .lines
            .iter()
            .position(|l| TROUBLE.iter().any(|t| l.contains(t)))
            && i < tail
        {
            println!(
                "---- serial log around the first trouble (line {}) ----",
                i + 1
            );
            for l in &out.log.lines[i.saturating_sub(40)..(i + 100).min(tail)] {
                println!("{l}");
            }
        }
        println!(
            "---- serial log, last {} lines ({}) ----",
            out.log.lines.len() - tail,
            out.log.describe()
        );
        for l in &out.log.lines[tail..] {
            println!("{l}");
        }
        if !out.log.stderr.trim().is_empty() {
            println!("---- QEMU stderr ----\n{}", out.log.stderr.trim_end());
        }
        println!("---- end of the serial log ----");
    }
    println!(
        "fuzz: replay a failed case with: cargo xtask run --cpus 1 --cpu {cpu} -- entry_fuzz {seed:#x} 0 replay CPU ITER"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counts_over_workers() {
        let out = "entry_fuzz: seed=0x1 seconds=1 workers=2\n\
                   entry_fuzz: count cpu0 iterations 10\n\
                   garbage\x01entry_fuzz: count cpu1 iterations 5\n\
                   entry_fuzz: count cpu0 kind.syscall 3\n\
                   entry_fuzz: count cpu1 kind.syscall 4\n\
                   entry_fuzz: FAIL seed=0x1 cpu=0 iter=3 kind=ud2: expected Killed(4), got Killed(11)\n\
                   entry_fuzz: done workers=2 failed_workers=1\n";
        let s = summarize(out);
        assert_eq!(s.get("iterations"), 15);
        assert_eq!(s.get("kind.syscall"), 7);
        assert_eq!(s.failures.len(), 1);
        assert!(s.done);
        assert!(!summarize("entry_fuzz: count cpu0 iterations 1\n").done);
        let p = summarize(
            "entry_fuzz: progress cpu0 iterations=5 failures=0\n\
             entry_fuzz: progress cpu0 iterations=9 failures=0\n",
        );
        assert_eq!(p.progress.get("cpu0"), Some(&9));
    }

    #[test]
    fn trouble_words() {
        let ok = vec!["[kentry] pid 3 (entry_fuzz) killed by SIGSEGV at rip=0x2".to_string()];
        assert_eq!(kernel_trouble(&ok), None);
        let bad = vec!["[kentry] KERNEL FAULT: #PF".to_string()];
        assert!(kernel_trouble(&bad).is_some());
    }
}
