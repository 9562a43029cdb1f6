//! The serial readers and the exit classification, on canned input.

use super::*;

/// Runs the serial reader over a byte string.
fn split_for_test(data: &[u8]) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    read_serial(data, false, &tx);
    rx.try_iter()
        .filter_map(|e| match e {
            Event::Line(l) => Some(l),
            _ => None,
        })
        .collect()
}

#[test]
fn exit_statuses() {
    assert_eq!(classify(Exit::Code(1), Some(0), ""), KernelExit::Finished);
    assert_eq!(classify(Exit::Code(1), None, ""), KernelExit::Finished);
    assert_eq!(
        classify(Exit::Code(3), Some(1), ""),
        KernelExit::FinishedFailed
    );
    assert_eq!(classify(Exit::Code(5), None, ""), KernelExit::Panic);
    assert_eq!(classify(Exit::Code(7), None, ""), KernelExit::DoubleFault);
    assert_eq!(classify(Exit::Code(9), None, ""), KernelExit::OtherValue(4));
    assert!(matches!(
        classify(
            Exit::Code(1),
            None,
            "qemu-system-x86_64: -kernel x: No such file"
        ),
        KernelExit::QemuError(_)
    ));
    assert!(matches!(
        classify(Exit::Code(0), None, ""),
        KernelExit::Crash(_)
    ));
    assert!(matches!(
        classify(Exit::Code(2), None, ""),
        KernelExit::Crash(_)
    ));
    assert!(matches!(
        classify(Exit::Signal(9), None, ""),
        KernelExit::Crash(_)
    ));
    assert_eq!(classify(Exit::Timeout, None, ""), KernelExit::Timeout);
}

#[test]
fn power_off_line() {
    let log = BootLog {
        exit: Exit::Code(3),
        lines: vec![
            "[kentry] power off: v=0 (not the last)".into(),
            "[kentry] power off: v=1".into(),
        ],
        stderr: String::new(),
        elapsed: Duration::ZERO,
        events: Vec::new(),
        controls: Vec::new(),
    };
    assert_eq!(log.power_off_value(), Some(1));
    assert_eq!(log.kernel_exit(), KernelExit::FinishedFailed);
    assert!(log.describe().starts_with("QEMU status 3 (v=1"));
}

#[test]
fn command_line() {
    let mut b = Boot::new(
        Path::new("/k"),
        Path::new("/i.cpio"),
        &["kentry.mode=test", "kentry.platform=tcg"],
    );
    b.gdb = true;
    let args: Vec<String> = b
        .args(Path::new("/tmp/a,b.qmp"))
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
    let joined = args.join(" ");
    assert!(joined.starts_with("-M microvm -accel tcg -cpu max -m 256M -smp 1 -nodefaults"));
    assert!(joined.contains("-device isa-debug-exit,iobase=0xf4,iosize=4"));
    assert!(joined.contains("-qmp unix:/tmp/a,,b.qmp,server=on,wait=off"));
    let append = args.iter().position(|a| a == "-append").unwrap();
    assert_eq!(args[append + 1], "kentry.mode=test kentry.platform=tcg");
    assert!(joined.ends_with("-s -S"));
}

#[test]
fn serial_lines() {
    assert_eq!(
        split_for_test(b"a\r\nb\n\nlast without newline"),
        vec!["a", "b", "", "last without newline"]
    );
    assert_eq!(split_for_test(b"\xffx\n"), vec!["\u{fffd}x"]);
}
