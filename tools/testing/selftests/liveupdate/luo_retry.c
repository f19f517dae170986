// SPDX-License-Identifier: GPL-2.0
/*
 * A retrieve that fails for lack of memory loses nothing. Stage 2 turns on
 * strict overcommit accounting with room for only part of a memfd, so
 * putting its pages back into the new file stops half way with ENOSPC.
 * Retrieving again under the same limit fails the same way; with the limit
 * lifted it succeeds, and the memfd has all its contents at the same PFNs.
 * A second memfd whose retrieve failed half way is left to the session's
 * finish, which frees the pages it had put back.
 *
 * Also: a size seal the user adds while the memfd is preserved is handed
 * over as the user's.
 */
#include "luo_test_utils.h"

#define SIZE		(64ULL << 20)
#define HEADROOM_KB	(16 << 10)	/* well under SIZE, well over slack */
#define TOKEN_A		1		/* retried until it succeeds */
#define TOKEN_C		2		/* fails, then left to finish */
#define TOKEN_SEALED	3
#define SEALED_SIZE	(64 << 10)

#define OVERCOMMIT	"/proc/sys/vm/overcommit_memory"
#define OVERCOMMIT_KB	"/proc/sys/vm/overcommit_kbytes"
#define OVERCOMMIT_PCT	"/proc/sys/vm/overcommit_ratio"

/* No stdio: this must work under the limit, from an exit handler too. */
static int write_sysctl(const char *path, long val)
{
	char buf[32];
	int fd, len, ret = 0;

	len = snprintf(buf, sizeof(buf), "%ld\n", val);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	long val;

	if (!f || fscanf(f, "%ld", &val) != 1)
		fail("reading %s: %s", path, strerror(errno));
	fclose(f);
	return val;
}

static long saved_ratio = -1;

/* Strict overcommit with HEADROOM_KB left above what is committed now. */
static void limit_overcommit(void)
{
	long committed = luo_meminfo("Committed_AS");

	if (write_sysctl(OVERCOMMIT_KB, committed + HEADROOM_KB) ||
	    write_sysctl(OVERCOMMIT, 2))
		fail("cannot set strict overcommit: %s", strerror(errno));
	printf("# strict overcommit: %ld kB committed, limit %ld kB\n",
	       committed, luo_meminfo("CommitLimit"));
}

/* Also at exit: the test init must not be left unable to fork. */
static void lift_overcommit(void)
{
	if (saved_ratio < 0)
		return;
	write_sysctl(OVERCOMMIT, 0);
	/* setting the ratio clears overcommit_kbytes */
	write_sysctl(OVERCOMMIT_PCT, saved_ratio);
}

static int make_memfd(const char *name, unsigned int flags, uint64_t size,
		      uint64_t token)
{
	int fd = memfd_create(name, flags);
	void *map;

	if (fd < 0 || ftruncate(fd, size))
		fail("memfd %s: %s", name, strerror(errno));
	map = luo_map(fd, size);
	luo_fill(map, size, luo_seed(), 1, token);
	munmap(map, size);
	return fd;
}

static int stage1(void)
{
	int dev, session, a, c, sealed;
	void *map;

	dev = luo_open();
	session = expect_ok("create session retry",
			    luo_create_session(dev, "retry"));

	a = make_memfd("luo-retry-a", 0, SIZE, TOKEN_A);
	expect_ok("preserve a", luo_preserve_fd(session, a, TOKEN_A));
	map = luo_map(a, SIZE);
	luo_save_pfns(map, SIZE, false);
	munmap(map, SIZE);

	c = make_memfd("luo-retry-c", 0, SIZE, TOKEN_C);
	expect_ok("preserve c", luo_preserve_fd(session, c, TOKEN_C));

	sealed = make_memfd("luo-retry-sealed", MFD_ALLOW_SEALING,
			    SEALED_SIZE, TOKEN_SEALED);
	expect_ok("preserve sealed",
		  luo_preserve_fd(session, sealed, TOKEN_SEALED));
	expect_ok("F_ADD_SEALS F_SEAL_GROW while preserved",
		  fcntl(sealed, F_ADD_SEALS, F_SEAL_GROW) ? -errno : 0);

	close(a);
	close(c);
	close(sealed);
	close(dev);
	return luo_keep_and_kexec();
}

/* C: fails half way, again, and is then left for the session's finish. */
static long retrieve_c_partly(int session)
{
	long before = luo_meminfo("Shmem"), partial;

	limit_overcommit();
	expect_err("retrieve c over the overcommit limit",
		   luo_retrieve_fd(session, TOKEN_C), ENOSPC);
	partial = luo_meminfo("Shmem") - before;
	if (partial <= 0 || partial >= (long)(SIZE >> 10))
		fail("retrieve c: expected it to stop part way, %ld of %llu kB went in",
		     partial, SIZE >> 10);
	printf("ok: c stopped part way, %ld kB in\n", partial);
	expect_err("retrieve c again, same limit",
		   luo_retrieve_fd(session, TOKEN_C), ENOSPC);
	lift_overcommit();
	return partial;
}

static int retrieve_a(int session)
{
	void *map;
	int a;

	limit_overcommit();
	expect_err("retrieve a over the overcommit limit",
		   luo_retrieve_fd(session, TOKEN_A), ENOSPC);
	lift_overcommit();
	a = expect_ok("retrieve a with the limit lifted",
		      luo_retrieve_fd(session, TOKEN_A));
	expect_u64("size of a", SIZE, luo_fd_size(a));
	map = luo_map(a, SIZE);
	luo_verify("a", map, SIZE, 1, TOKEN_A);
	luo_check_pfns("a", map, SIZE);
	munmap(map, SIZE);
	return a;
}

static int retrieve_sealed(int session)
{
	int fd;
	void *map;

	fd = expect_ok("retrieve sealed",
		       luo_retrieve_fd(session, TOKEN_SEALED));
	expect_u64("seals of sealed", F_SEAL_GROW, fcntl(fd, F_GET_SEALS));
	expect_err("grow sealed", ftruncate(fd, 2 * SEALED_SIZE) ? -errno : 0,
		   EPERM);
	map = luo_map(fd, SEALED_SIZE);
	luo_verify("sealed", map, SEALED_SIZE, 1, TOKEN_SEALED);
	munmap(map, SEALED_SIZE);
	expect_ok("shrink sealed", ftruncate(fd, SEALED_SIZE / 2) ? -errno : 0);
	return fd;
}

static int stage2(void)
{
	long partial, before, freed;
	int dev, session, a, sealed;

	if (access(OVERCOMMIT_KB, W_OK))
		skip("no %s", OVERCOMMIT_KB);
	saved_ratio = read_sysctl(OVERCOMMIT_PCT);
	atexit(lift_overcommit);
	dev = luo_open();
	session = expect_ok("retrieve session retry",
			    luo_retrieve_session(dev, "retry"));

	partial = retrieve_c_partly(session);
	a = retrieve_a(session);
	sealed = retrieve_sealed(session);

	/* a and sealed stay open: all finish frees is c's half-built file */
	before = luo_meminfo("Shmem");
	expect_ok("finish", luo_finish(session));
	freed = before - luo_meminfo("Shmem");
	if (freed < partial - 1024 || freed > partial + 1024)
		fail("finish: expected c's %ld kB to be freed, %ld kB were",
		     partial, freed);
	printf("ok: finish freed c's %ld kB\n", freed);
	expect_err("retrieve c after finish",
		   luo_retrieve_fd(session, TOKEN_C), ENOENT);
	close(a);
	close(sealed);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_retry", LUO_STAGES(stage1, stage2));
}
