//! fs_basic's tests of pipes: a round trip, ESPIPE, FIONBIO, capacity, EOF, EPIPE, and a
//! writer in another process.

use super::*;

/// pipe2 in one process, then a writer in a forked child.
pub(super) fn pipes(k: &mut Ktap) {
    let mut buf = [0u8; 64];
    let mut big = [0u8; 65536];
    let mut p = [0i32; 2];
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    let w = write(wr, b"ping");
    let n = read(rd, &mut buf);
    let ps = fstat(rd).map(|s| s.mode & S_IFMT);
    k.result(
        r == 0 && w == 4 && n == 4 && &buf[..4] == b"ping" && ps == Ok(S_IFIFO),
        "pipe2_round_trip",
    );
    k.result(
        lseek(rd, 0, SEEK_CUR) == ESPIPE
            && sc4(nr::PREAD64, rd as usize, buf.as_mut_ptr() as usize, 1, 0) == ESPIPE,
        "pipe_espipe",
    );
    let on: i32 = 1;
    let nb = sc3(nr::IOCTL, rd as usize, FIONBIO, &raw const on as usize);
    k.result(
        nb == 0 && read(rd, &mut buf) == EAGAIN,
        "pipe_fionbio_eagain",
    );
    k.eq(
        sc3(
            nr::IOCTL,
            rd as usize,
            TIOCGWINSZ,
            buf.as_mut_ptr() as usize,
        ),
        ENOTTY,
        "ioctl_tiocgwinsz_pipe_enotty",
    );
    close(wr);
    k.eq(read(rd, &mut buf), 0, "pipe_eof_without_writers");
    close(rd);
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_NONBLOCK | O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    let cap = sc2(nr::FCNTL, wr as usize, F_GETPIPE_SZ);
    let mut total = 0isize;
    let mut last = 0;
    for _ in 0..64 {
        last = write(wr, &big[..4096]);
        if last < 0 {
            break;
        }
        total += last;
    }
    k.result(
        r == 0 && cap >= 4096 && total == cap && last == EAGAIN,
        "pipe_capacity_nonblocking",
    );
    let mut drained = 0isize;
    loop {
        let n = read(rd, &mut big);
        if n <= 0 {
            break;
        }
        drained += n;
    }
    k.eq(drained, total, "pipe_drain");
    close(rd);
    let act: [usize; 4] = [SIG_IGN, 0, 0, 0];
    let sa = sc4(nr::RT_SIGACTION, SIGPIPE, act.as_ptr() as usize, 0, 8);
    k.result(sa == 0 && write(wr, b"x") == EPIPE, "pipe_no_reader_epipe");
    close(wr);

    // A writer in another process: blocking reads and writes, EOF when it exits.
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    const STREAM: usize = 256 * 1024;
    let writer = fork_start(|| {
        close(rd);
        let mut chunk = [0u8; 4096];
        let mut sent = 0;
        while sent < STREAM {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            if write(wr, &chunk) != 4096 {
                return 1;
            }
            sent += 4096;
        }
        0
    });
    close(wr);
    let mut got = 0usize;
    let mut same = true;
    loop {
        let n = read(rd, &mut big[..3000]);
        if n <= 0 {
            same &= n == 0;
            break;
        }
        same &= big[..n as usize]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(got + i));
        got += n as usize;
    }
    close(rd);
    let status = wait_for(writer);
    k.result(
        r == 0 && status == 0 && got == STREAM && same,
        "pipe_between_processes",
    );
}
