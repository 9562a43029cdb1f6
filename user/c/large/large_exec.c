/* A static program as large as a Go or Haskell toolchain binary (issue 13: "a 170 MB static
 * executable must start in seconds"), for the runner case runner_large_static
 * (xtask/src/runner_check/large.rs). It is not in build.sh: xtask builds it when the case
 * runs, linked with a blob of that many MiB (`ld -r -b binary`), so that the everyday
 * initrds stay small. Page p of the blob holds p in its first 8 bytes and the byte
 * (p * 7 + 1) & 0xff in the other 4088.
 *
 * It reads 65 pages spread over the blob, the first and the last among them, and prints
 * what it found; exit 0 when every page read held its pattern, else 1. The output is the
 * same natively and on any kernel that loads the program. A kernel that copies the whole
 * executable into memory at exec (kentry did: the file into a 32 MiB heap buffer, then every
 * segment into the address space) fails before main with "out of memory".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern const unsigned char _binary_large_blob_start[], _binary_large_blob_end[];

int main(void)
{
	const unsigned char *blob = _binary_large_blob_start;
	size_t len = (size_t)(_binary_large_blob_end - _binary_large_blob_start);
	size_t pages = len / 4096;
	unsigned checked = 0, wrong = 0;
	for (unsigned i = 0; pages && i <= 64; i++) {
		size_t p = (pages - 1) * i / 64;
		const unsigned char *page = blob + p * 4096;
		uint64_t index;
		memcpy(&index, page, sizeof index);
		unsigned char fill = (unsigned char)((p * 7 + 1) & 0xff);
		int ok = index == p;
		for (size_t k = 8; ok && k < 4096; k++)
			ok = page[k] == fill;
		checked++;
		wrong += !ok;
	}
	printf("blob: %zu MiB in %zu pages; %u pages read, %u wrong\n", len >> 20, pages, checked,
	       wrong);
	return wrong || !checked;
}
