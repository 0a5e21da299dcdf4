/*
 * touch.c — the plain C loop that `oomkit alloc` is measured against
 * (BenchmarkTouchVsC in internal/alloc): mmap private anonymous blocks and
 * write one byte per page, nothing else. It prints the seconds the loop
 * took, measured like alloc's elapsed_seconds: from just before the first
 * block to just after the last.
 *
 * Usage: touch BLOCK_BYTES MAX_BYTES
 * With OOMKIT_ALLOC_START_FD set it first reads one byte from that
 * descriptor, so the benchmark can move it into a memory cgroup before it
 * allocates (the same start pipe the lab uses for oomkit alloc).
 *
 * Build: gcc -O2 -o touch touch.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: touch BLOCK_BYTES MAX_BYTES\n");
		return 2;
	}
	long long block = atoll(argv[1]), max = atoll(argv[2]);
	const char *fd = getenv("OOMKIT_ALLOC_START_FD");
	if (fd) {
		char c;
		if (read(atoi(fd), &c, 1) != 1)
			return 1;
	}
	long page = sysconf(_SC_PAGESIZE);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long long done = 0; done < max; done += block) {
		volatile char *p = mmap(NULL, block, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 3;
		}
		for (long long i = 0; i < block; i += page)
			p[i] = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
