// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update at scale: 5,000 sessions of one memfd each, and one session
 * of 2,000 memfds, across one kexec. Every session comes back, and no
 * other; every memfd comes back under its token with its own contents;
 * every session finishes.
 *
 * The memfds are one page each, so the test measures the sessions and
 * files Live Update carries, not the memory. The sessions hold the files,
 * so the test closes each memfd once preserved; it keeps the session fds
 * (closing one would drop the session), hence the raised fd limit.
 */
#include "luo_test_utils.h"

#include <sys/resource.h>
#include <time.h>

#define NR_SESSIONS	5000
#define NR_BIG_FILES	2000
#define BIG_SESSION	"many-big"
#define FILE_SIZE	4096
#define TOKEN_SMALL(i)	(0x5e55000000000000ULL | (uint64_t)(i))
#define TOKEN_BIG(j)	(0xb1600000000000ULL + 3 * (uint64_t)(j))
/* session index of the big session's files, in their contents */
#define BIG		NR_SESSIONS

struct expect {
	uint64_t seed;
};

static void session_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "many-%04d", i);
}

/* Word @k of file @j of session @i: distinct for every file and word. */
static uint64_t word(uint64_t seed, int i, int j, int k)
{
	uint64_t x = seed ^ ((uint64_t)i << 40) ^ ((uint64_t)j << 16) ^ k;

	/* splitmix64 */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill(uint64_t *page, uint64_t seed, int i, int j)
{
	int k;

	for (k = 0; k < FILE_SIZE / 8; k++)
		page[k] = word(seed, i, j, k);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Room for every session fd, the holder keeps them all through the kexec. */
static void raise_fd_limit(void)
{
	struct rlimit rl = { .rlim_cur = 4 * NR_SESSIONS,
			     .rlim_max = 4 * NR_SESSIONS };

	if (setrlimit(RLIMIT_NOFILE, &rl))
		fail("setrlimit(RLIMIT_NOFILE, %d): %s", 4 * NR_SESSIONS,
		     strerror(errno));
}

/* A memfd of one page for file @j of session @i, preserved under @token. */
static void preserve_one(int session, uint64_t seed, int i, int j,
			 uint64_t token)
{
	static uint64_t page[FILE_SIZE / 8];
	int fd, ret;

	fd = memfd_create("luo-many", 0);
	if (fd < 0)
		fail("memfd_create: %s", strerror(errno));
	fill(page, seed, i, j);
	if (pwrite(fd, page, FILE_SIZE, 0) != FILE_SIZE)
		fail("pwrite: %s", strerror(errno));
	ret = luo_preserve_fd(session, fd, token);
	if (ret)
		fail("session %d: preserve file %d (token %#" PRIx64 "): %s",
		     i, j, token, strerror(-ret));
	close(fd);
}

static int stage1(void)
{
	struct expect ex = { .seed = luo_seed() };
	int dev, session, i, j;
	char name[32];
	double t0;

	raise_fd_limit();
	dev = luo_open();

	t0 = now();
	for (i = 0; i < NR_SESSIONS; i++) {
		session_name(name, sizeof(name), i);
		session = luo_create_session(dev, name);
		if (session < 0)
			fail("create session %d of %d (%s): %s", i + 1,
			     NR_SESSIONS, name, strerror(-session));
		preserve_one(session, ex.seed, i, 0, TOKEN_SMALL(i));
	}
	msg("ok: %d sessions created, one memfd preserved in each (%.1f s)",
	    NR_SESSIONS, now() - t0);

	t0 = now();
	session = luo_open_session(dev, BIG_SESSION, true);
	for (j = 0; j < NR_BIG_FILES; j++)
		preserve_one(session, ex.seed, BIG, j, TOKEN_BIG(j));
	msg("ok: session %s: %d memfds preserved (%.1f s)", BIG_SESSION,
	    NR_BIG_FILES, now() - t0);

	close(dev);
	luo_save("expect", &ex, sizeof(ex));
	return luo_keep_and_kexec();
}

/* Take file @j of session @i back, check it, and close it. */
static void retrieve_one(int session, uint64_t seed, int i, int j,
			 uint64_t token)
{
	static uint64_t page[FILE_SIZE / 8];
	int fd, k;

	fd = luo_retrieve_fd(session, token);
	if (fd < 0)
		fail("session %d: retrieve file %d (token %#" PRIx64 "): %s",
		     i, j, token, strerror(-fd));
	if (luo_fd_size(fd) != FILE_SIZE)
		fail("session %d, file %d: size: expected %d, got %" PRIu64,
		     i, j, FILE_SIZE, luo_fd_size(fd));
	if (pread(fd, page, FILE_SIZE, 0) != FILE_SIZE)
		fail("session %d, file %d: pread: %s", i, j, strerror(errno));
	for (k = 0; k < FILE_SIZE / 8; k++)
		if (page[k] != word(seed, i, j, k))
			fail("session %d, file %d: word %d: expected %#" PRIx64
			     ", got %#" PRIx64, i, j, k, word(seed, i, j, k),
			     page[k]);
	close(fd);
}

static void finish_session(int session, const char *name)
{
	int ret = luo_finish(session);

	if (ret)
		fail("finish session %s: %s", name, strerror(-ret));
	close(session);
}

/* The incoming sessions debugfs lists, all of them pending. */
static int count_incoming(void)
{
	FILE *f = fopen("/sys/kernel/debug/liveupdate/sessions", "r");
	char line[256];
	int n = 0;

	if (!f)
		fail("open liveupdate/sessions in debugfs: %s",
		     strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "session in ", 11))
			continue;
		if (!strstr(line, " pending"))
			fail("incoming session not pending: %s", line);
		n++;
	}
	fclose(f);
	return n;
}

static int stage2(void)
{
	struct expect *ex = luo_load("expect", sizeof(*ex));
	int dev, session, i, j;
	char name[32];
	double t0;

	raise_fd_limit();
	expect_u64("incoming sessions", NR_SESSIONS + 1, count_incoming());
	dev = luo_open();

	t0 = now();
	for (i = 0; i < NR_SESSIONS; i++) {
		session_name(name, sizeof(name), i);
		session = luo_open_session(dev, name, false);
		retrieve_one(session, ex->seed, i, 0, TOKEN_SMALL(i));
		finish_session(session, name);
	}
	msg("ok: %d sessions retrieved, their memfds intact, finished (%.1f s)",
	    NR_SESSIONS, now() - t0);

	t0 = now();
	session = luo_open_session(dev, BIG_SESSION, false);
	for (j = 0; j < NR_BIG_FILES; j++)
		retrieve_one(session, ex->seed, BIG, j, TOKEN_BIG(j));
	finish_session(session, BIG_SESSION);
	msg("ok: session %s: %d memfds retrieved and intact, finished (%.1f s)",
	    BIG_SESSION, NR_BIG_FILES, now() - t0);

	session_name(name, sizeof(name), NR_SESSIONS);
	expect_err("retrieve a session past the last",
		   luo_retrieve_session(dev, name), ENOENT);
	expect_u64("incoming sessions left", 0, count_incoming());
	close(dev);
	free(ex);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_many", LUO_STAGES(stage1, stage2));
}
