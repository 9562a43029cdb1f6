//! The target description of QEMU's gdbstub (`target.xml` and the documents it includes):
//! which `p`/`P` number a register has. Only what the verify client needs: `<reg>` elements
//! in document order, `regnum`, includes, and comments (QEMU comments some registers out).

/// The documents a target description includes (`<xi:include href="…"/>`), in order.
pub fn includes(doc: &str) -> Vec<String> {
    doc.split("<xi:include")
        .skip(1)
        .filter_map(|tag| attribute(tag.split('>').next()?, "href"))
        .collect()
}

/// The value of `name="…"` in the text of one tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[at..].split('"').next()?.to_string())
}

/// `doc` without its comments (`<!-- … -->`): QEMU's description comments registers out.
fn without_comments(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .find("-->")
            .map_or("", |end| &rest[start + end + 3..]);
    }
    out.push_str(rest);
    out
}

/// The registers of a target description's documents, in order, with their numbers: each
/// `<reg>` takes the next number unless its `regnum` says otherwise (GDB's rule).
pub fn registers_of(docs: &[String]) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut next = 0;
    for doc in docs {
        for tag in without_comments(doc).split("<reg ").skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            let tag = format!(" {tag}");
            let Some(name) = attribute(&tag, "name") else {
                continue;
            };
            if let Some(n) = attribute(&tag, "regnum").and_then(|n| n.parse().ok()) {
                next = n;
            }
            out.push((name, next));
            next += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers by position across the included documents, `regnum` restarting the count: an
    /// excerpt shaped as QEMU 7.2's x86-64 description (rip is 16, cr2 is 28 there).
    #[test]
    fn register_numbers_from_the_description() {
        let top = r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">
<target><architecture>i386:x86-64</architecture><xi:include href="i386-64bit.xml"/></target>"#;
        assert_eq!(includes(top), ["i386-64bit.xml"]);
        let mut core = String::from(r#"<feature name="org.gnu.gdb.i386.core">"#);
        for r in [
            "rax",
            "rbx",
            "rcx",
            "rdx",
            "rsi",
            "rdi",
            "rbp",
            "rsp",
            "r8",
            "r9",
            "r10",
            "r11",
            "r12",
            "r13",
            "r14",
            "r15",
            "rip",
            "eflags",
            "cs",
            "ss",
            "ds",
            "es",
            "fs",
            "gs",
            "fs_base",
            "gs_base",
            "k_gs_base",
            "cr0",
            "cr2",
        ] {
            core.push_str(&format!(r#"<reg name="{r}" bitsize="64" type="int64"/>"#));
        }
        core.push_str(
            r#"<reg name="xmm0" regnum="40" bitsize="128"/><reg name="xmm1" bitsize="128"/>"#,
        );
        let regs = registers_of(&[top.to_string(), core]);
        let num = |n: &str| regs.iter().find(|(r, _)| r == n).map(|(_, i)| *i);
        assert_eq!(num("rdi"), Some(super::super::gdb::reg::RDI));
        assert_eq!(num("rsp"), Some(super::super::gdb::reg::RSP));
        assert_eq!(num("rip"), Some(super::super::gdb::reg::RIP));
        assert_eq!(num("eflags"), Some(super::super::gdb::reg::EFLAGS));
        assert_eq!(num("cr2"), Some(28));
        assert_eq!(num("xmm1"), Some(41));
        assert_eq!(num("cr9"), None);
    }
}
