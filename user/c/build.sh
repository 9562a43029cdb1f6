#!/bin/bash
# Builds every C test program twice, static with musl (musl-gcc) and static with glibc (gcc),
# into the directory given as $1: <prog>-musl and <prog>-glibc.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTPUT_DIR" >&2
	exit 2
fi
out=$1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# i386 programs (ia32*.c): built only with gcc -m32 (glibc; musl has no i386 target here) as
# <prog>-glibc32. xtask's c_sources names them by the ia32 prefix.
progs32=(ia32 ia32_bench ia32_signals ia32_vdso ia32_fast ia32_ptrace ia32_net ia32_ids ia32_espfix)
progs=(hello auxv threads forkexec signals mem files poll fuzz smp procvm preempt nohz_times threadexec seccomp seccomp_notif ptrace debugreg int80 jobctl sigqueue unixsock procstat memfd clone3 vdso tls_slots xstate sleepers sysretl procfiles pidns epoll eventfds ptimer fast32 clock_step unixnamed unixscm inetloop ldt pty procfd unixdgram inettcp)
# Portable programs of the list below also built with gcc -m32 as <prog>-glibc32: the same
# checks, as a static i386 glibc program (docs/compat.md). xtask's c_sources reads this line.
progs_m32=(hello threads forkexec files memfd threadexec poll pty)
# Portable programs also linked dynamically (glibc's ld.so and libc.so.6, x86-64 and i386) as
# <prog>-glibcdyn and <prog>-glibc32dyn: the runner check packs their loader and libraries as
# `cargo xtask run` does (xtask/src/run/dynamic.rs) and compares them with native runs.
progs_dyn=(threads forkexec)

if ! command -v musl-gcc >/dev/null 2>&1; then
	echo "build.sh: musl-gcc not found: install the Debian package musl-tools (apt-get install -y musl-tools)" >&2
	exit 1
fi
if ! command -v gcc >/dev/null 2>&1; then
	echo "build.sh: gcc not found: install the Debian packages gcc and libc6-dev" >&2
	exit 1
fi

mkdir -p "$out"
cflags=(-static -O2 -g0 -Wall -Wextra -Wno-unused-parameter -std=gnu11)
for p in "${progs[@]}"; do
	musl-gcc "${cflags[@]}" -o "$out/$p-musl" "$src/$p.c" -lpthread
	gcc "${cflags[@]}" -o "$out/$p-glibc" "$src/$p.c" -lpthread
done
if [ ! -e /usr/lib32/libc.a ]; then
	echo "build.sh: no i386 glibc for gcc -m32: install the Debian package gcc-multilib" >&2
	exit 1
fi
for p in "${progs32[@]}" "${progs_m32[@]}"; do
	gcc -m32 "${cflags[@]}" -o "$out/$p-glibc32" "$src/$p.c" -lpthread
done
dynflags=()
for f in "${cflags[@]}"; do
	[ "$f" = -static ] || dynflags+=("$f")
done
for p in "${progs_dyn[@]}"; do
	gcc "${dynflags[@]}" -o "$out/$p-glibcdyn" "$src/$p.c" -lpthread
	gcc -m32 "${dynflags[@]}" -o "$out/$p-glibc32dyn" "$src/$p.c" -lpthread
done
