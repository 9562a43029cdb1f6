//! The test manifest `/etc/kentry-tests`: `<name> <status>[,guest|,host] <argv0> [args…]`
//! (docs/harness.md; the same rules as xtask/src/manifest.rs, whose unit tests cover them).

use super::Outcome;
use crate::console::UserOutput;
use crate::task::ExitReason;

/// A program's "cannot provoke it here" status (docs/harness.md).
const SKIP_STATUS: i32 = 77;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Where an entry runs: `<status>` both in the guest and on the host, `<status>,guest` in the
/// guest only, `<status>,host` on the host only (this kernel skips it without printing it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Both,
    Guest,
    Host,
}

pub struct Entry {
    pub name: String,
    pub expected: i32,
    pub placement: Placement,
    pub argv: Vec<String>,
}

/// Every well-formed line (xtask rejects the others before it packs the initrd).
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let mut w = l.split_ascii_whitespace();
            let name = w.next()?.into();
            let status = w.next()?;
            let (status, placement) = match status.split_once(',') {
                None => (status, Placement::Both),
                Some((s, "guest")) => (s, Placement::Guest),
                Some((s, "host")) => (s, Placement::Host),
                Some(_) => return None,
            };
            let expected = status.parse().ok()?;
            let argv: Vec<String> = w.map(String::from).collect();
            (!argv.is_empty()).then_some(Entry {
                name,
                expected,
                placement,
                argv,
            })
        })
        .collect()
}

/// The entries this kernel runs: every one but the `,host` ones.
pub fn load() -> Vec<Entry> {
    crate::INITRD
        .get()
        .and_then(|c| c.find("etc/kentry-tests"))
        .and_then(|d| core::str::from_utf8(d).ok())
        .map(parse)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.placement != Placement::Host)
        .collect()
}

impl Entry {
    /// Runs the program with its output nested under the kernel's KTAP. Its own KTAP results
    /// are judged by xtask (it sees every nested line); here the exit status must match.
    pub fn run(&self) -> Outcome {
        let args: Vec<&str> = self.argv[1..].iter().map(String::as_str).collect();
        crate::console::set_user_output(UserOutput::Nested);
        let r = super::run_program(&self.argv[0], &args);
        crate::console::set_user_output(UserOutput::Plain);
        match r {
            Ok(reason) if reason.shell_status() == self.expected => Outcome::Pass,
            Ok(ExitReason::Exited(SKIP_STATUS)) => {
                Outcome::Skip("the program cannot provoke its case on this CPU (status 77)")
            }
            Ok(reason) => Outcome::Fail(format!(
                "ended with status {}, expected {}",
                reason.shell_status(),
                self.expected
            )),
            Err(e) => Outcome::Fail(e),
        }
    }
}
