/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the Live Update tests. Each test runs as `prog STAGE` in a
 * kho-v QEMU guest, in a working directory that survives the kexec; it
 * exits 0 (pass), 4 (skip), 10 (kexec, then run stage STAGE + 1) or 1
 * (fail, after a "FAIL: ..." line).
 *
 * Sessions must still be open when the kexec happens, but the test exits
 * before the harness kexecs: luo_keep_and_kexec() leaves a child behind
 * that holds every fd the test had.
 */
#ifndef LUO_TEST_H
#define LUO_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/liveupdate.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_SKIP	4
#define EXIT_KEXEC	10

#define LUO_DEV		"/dev/liveupdate"
#define KHO_DEBUGFS	"/sys/kernel/debug/kho"

/* Magic at the start of every memfd the tests preserve. */
#define LUO_TEST_MAGIC	0x747365746f756c21ULL

/* Where the expectations about contents live: inside the memfd itself. */
struct luo_test_header {
	uint64_t magic;
	uint64_t seed;		/* pattern of the bytes after the header page */
	uint64_t size;		/* the memfd size when written */
	uint64_t gen;		/* bumped each time a test rewrites it */
	uint64_t token;		/* the token it was preserved under */
	uint64_t checksum;	/* of the pattern, as written */
};

#define LUO_TEST_DATA_OFF	4096

static inline void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(EXIT_FAIL);
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(EXIT_SKIP);
}

/* ret is 0/-errno style (or an fd): check it is the expected -errno. */
static inline void expect_err(const char *what, long ret, int err)
{
	if (ret != -err)
		fail("%s: expected %s (%d), got %ld (%s)", what, strerror(err),
		     -err, ret, ret < 0 ? strerror((int)-ret) : "success");
	printf("ok: %s -> %s\n", what, strerror(err));
}

static inline long expect_ok(const char *what, long ret)
{
	if (ret < 0)
		fail("%s: expected success, got %s", what,
		     strerror((int)-ret));
	printf("ok: %s\n", what);
	return ret;
}

static inline void expect_u64(const char *what, uint64_t want, uint64_t got)
{
	if (want != got)
		fail("%s: expected %#" PRIx64 ", got %#" PRIx64, what, want,
		     got);
	printf("ok: %s = %#" PRIx64 "\n", what, got);
}

/* ----- raw ioctls, 0 or an fd on success, -errno on failure ----- */

static inline int luo_open(void)
{
	int fd = open(LUO_DEV, O_RDWR);

	if (fd < 0 && errno == ENOENT)
		skip("no %s: kernel without CONFIG_LIVEUPDATE or kho=off",
		     LUO_DEV);
	if (fd < 0)
		fail("open %s: %s", LUO_DEV, strerror(errno));
	return fd;
}

static inline int luo_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int luo_create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session arg = {
		.size = sizeof(arg),
		.fd = -1,
	};
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

static inline int luo_retrieve_session(int dev, const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = {
		.size = sizeof(arg),
		.fd = -1,
	};
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = luo_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

static inline int luo_preserve_fd(int session, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd arg = {
		.size = sizeof(arg),
		.fd = fd,
		.token = token,
	};

	return luo_ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &arg);
}

static inline int luo_retrieve_fd(int session, uint64_t token)
{
	struct liveupdate_session_retrieve_fd arg = {
		.size = sizeof(arg),
		.fd = -1,
		.token = token,
	};
	int ret;

	ret = luo_ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg);
	return ret ? ret : arg.fd;
}

static inline int luo_finish(int session)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return luo_ioctl(session, LIVEUPDATE_SESSION_FINISH, &arg);
}

/* ----- memfd contents ----- */

static inline uint64_t luo_rand(uint64_t *state)
{
	/* xorshift64*: fast enough to fill a GiB under TCG */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}

static inline uint64_t luo_checksum_step(uint64_t sum, uint64_t word)
{
	return (sum ^ word) * 0x100000001b3ULL;
}

/*
 * Fill @map (the whole memfd of @size bytes, mapped) with a header and a
 * pattern from @seed; the header carries what stage 2 checks against.
 */
static inline void luo_fill(void *map, uint64_t size, uint64_t seed,
			    uint64_t gen, uint64_t token)
{
	struct luo_test_header *h = map;
	uint64_t *w = (uint64_t *)((char *)map + LUO_TEST_DATA_OFF);
	uint64_t n = (size - LUO_TEST_DATA_OFF) / 8, i, state = seed | 1;
	uint64_t sum = 0xcbf29ce484222325ULL;

	for (i = 0; i < n; i++) {
		w[i] = luo_rand(&state);
		sum = luo_checksum_step(sum, w[i]);
	}
	h->seed = seed;
	h->size = size;
	h->gen = gen;
	h->token = token;
	h->checksum = sum;
	h->magic = LUO_TEST_MAGIC;
}

/* Check what luo_fill() wrote; fails the test on any difference. */
static inline void luo_verify(const char *what, const void *map,
			      uint64_t size, uint64_t gen, uint64_t token)
{
	const struct luo_test_header *h = map;
	const uint64_t *w;
	uint64_t n, i, state, sum = 0xcbf29ce484222325ULL, want;

	if (h->magic != LUO_TEST_MAGIC)
		fail("%s: header magic: expected %#llx, got %#" PRIx64, what,
		     LUO_TEST_MAGIC, h->magic);
	if (h->size != size)
		fail("%s: size in header: expected %" PRIu64 ", got %" PRIu64,
		     what, size, h->size);
	if (h->gen != gen || h->token != token)
		fail("%s: generation/token: expected %" PRIu64 "/%#" PRIx64
		     ", got %" PRIu64 "/%#" PRIx64, what, gen, token, h->gen,
		     h->token);
	w = (const uint64_t *)((const char *)map + LUO_TEST_DATA_OFF);
	n = (size - LUO_TEST_DATA_OFF) / 8;
	state = h->seed | 1;
	for (i = 0; i < n; i++) {
		want = luo_rand(&state);
		if (w[i] != want)
			fail("%s: word at offset %#" PRIx64 ": expected %#"
			     PRIx64 ", got %#" PRIx64, what,
			     LUO_TEST_DATA_OFF + i * 8, want, w[i]);
		sum = luo_checksum_step(sum, w[i]);
	}
	if (sum != h->checksum)
		fail("%s: checksum: expected %#" PRIx64 ", got %#" PRIx64,
		     what, h->checksum, sum);
	printf("ok: %s: %" PRIu64 " bytes of pattern intact (gen %" PRIu64
	       ")\n", what, size, gen);
}

static inline void *luo_map(int fd, uint64_t size)
{
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);

	if (map == MAP_FAILED)
		fail("mmap of %" PRIu64 " bytes: %s", size, strerror(errno));
	return map;
}

static inline uint64_t luo_fd_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		fail("fstat: %s", strerror(errno));
	return st.st_size;
}

static inline uint64_t luo_seed(void)
{
	uint64_t seed = 0;
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
	if (fd >= 0)
		close(fd);
	return seed;
}

/* ----- page frames ----- */

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

/* The PFN of each page of [map, map + size); touches every page first. */
static inline uint64_t *luo_pfns(const void *map, uint64_t size)
{
	uint64_t n = size / 4096, i, *pfns;
	volatile const char *p = map;
	int fd;

	for (i = 0; i < n; i++)
		(void)p[i * 4096];
	pfns = calloc(n, sizeof(*pfns));
	if (!pfns)
		fail("out of memory for %" PRIu64 " PFNs", n);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		fail("open /proc/self/pagemap: %s", strerror(errno));
	if (pread(fd, pfns, n * 8, (uintptr_t)map / 4096 * 8) !=
	    (ssize_t)(n * 8))
		fail("read /proc/self/pagemap: %s", strerror(errno));
	close(fd);
	for (i = 0; i < n; i++) {
		if (!(pfns[i] & PM_PRESENT))
			fail("page %" PRIu64 " not present after touching it",
			     i);
		pfns[i] &= PM_PFN_MASK;
		if (!pfns[i])
			fail("pagemap hides PFNs (not root?)");
	}
	return pfns;
}

static inline void luo_save(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		fail("writing %s: %s", path, strerror(errno));
}

static inline void *luo_load(const char *path, size_t len)
{
	void *buf = malloc(len);
	FILE *f = fopen(path, "r");

	if (!buf || !f || fread(buf, 1, len, f) != len)
		fail("reading %s (left by the previous stage): %s", path,
		     strerror(errno));
	fclose(f);
	return buf;
}

static inline void luo_compare_pfns(const char *what, const uint64_t *want,
				    const uint64_t *got, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (want[i] != got[i])
			fail("%s: PFN of page %" PRIu64 ": expected %#" PRIx64
			     ", got %#" PRIx64 " (contents were copied)", what,
			     i, want[i], got[i]);
	printf("ok: %s: all %" PRIu64 " pages at the same PFNs\n", what, n);
}

/* Fail if any PFN lies in a KHO scratch area (they cannot be preserved). */
static inline void luo_check_not_scratch(const uint64_t *pfns, uint64_t n)
{
	unsigned long long base[16], len[16];
	FILE *fb, *fl;
	int nr = 0;
	uint64_t i;
	int j;

	fb = fopen(KHO_DEBUGFS "/out/scratch_phys", "r");
	fl = fopen(KHO_DEBUGFS "/out/scratch_len", "r");
	if (!fb || !fl) {
		printf("# no KHO scratch list in debugfs: not checked\n");
		goto out;
	}
	while (nr < 16 && fscanf(fb, "%llx", &base[nr]) == 1 &&
	       fscanf(fl, "%llx", &len[nr]) == 1)
		nr++;
	for (i = 0; i < n; i++)
		for (j = 0; j < nr; j++)
			if (pfns[i] * 4096 >= base[j] &&
			    pfns[i] * 4096 < base[j] + len[j])
				fail("page %" PRIu64 " (PFN %#" PRIx64
				     ") is in scratch area %d", i, pfns[i], j);
	printf("ok: no preserved page in the %d scratch areas\n", nr);
out:
	if (fb)
		fclose(fb);
	if (fl)
		fclose(fl);
}

/*
 * Leave a child holding every open fd (the sessions above all) through the
 * kexec, and tell the harness to kexec. The child lets go of stdout and
 * stderr so the harness does not wait for it.
 */
static inline int luo_keep_and_kexec(void)
{
	pid_t pid;
	int null;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		signal(SIGHUP, SIG_IGN);
		for (;;)
			pause();
	}
	printf("# holder %d keeps the sessions open for the kexec\n", pid);
	return EXIT_KEXEC;
}

static inline int luo_stage(int argc, char **argv)
{
	if (argc != 2)
		fail("usage: %s STAGE", argv[0]);
	return atoi(argv[1]);
}

#endif /* LUO_TEST_H */
