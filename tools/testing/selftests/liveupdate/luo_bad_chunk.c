// SPDX-License-Identifier: GPL-2.0
/*
 * Damaged pages of Live Update records cost the sessions in them, and no
 * others. Stage 1 preserves a session of one memfd, a session of 300
 * memfds that spans several pages of records, and another session of one
 * memfd; after finalize the KHO test module damages the second page of
 * records, which holds only files of the big session. Stage 2: the two
 * small sessions come back whole; the big one is dropped, and the kernel
 * log says why. It then preserves a session over several pages and has
 * the index list a page twice: stage 3 gets no session at all, and the log
 * says why.
 */
#include "luo_test_utils.h"

#define LUO_CHUNK	KHO_DEBUGFS "/test/luo_chunk"
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define SIZE		(8 << 10)
#define NR_BIG		300

static void preserve_memfd(int session, uint64_t token)
{
	int fd = memfd_create("luo-bad-chunk", 0), ret;
	void *map;

	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	map = luo_map(fd, SIZE);
	luo_fill(map, SIZE, luo_seed(), 1, token);
	munmap(map, SIZE);
	ret = luo_preserve_fd(session, fd, token);
	if (ret)
		fail("preserve memfd %" PRIu64 ": %s", token, strerror(-ret));
	close(fd);
}

static void preserve_session(int dev, const char *name, int nr)
{
	int session = luo_open_session(dev, name, true), i;

	for (i = 1; i <= nr; i++)
		preserve_memfd(session, i);
	msg("ok: session %s: %d memfds preserved", name, nr);
}

static void check_session(int dev, const char *name)
{
	int session = luo_open_session(dev, name, false), fd;
	void *map;

	fd = expect_ok("retrieve its memfd", luo_retrieve_fd(session, 1));
	map = luo_map(fd, SIZE);
	luo_verify(name, map, SIZE, 1, 1);
	munmap(map, SIZE);
	close(fd);
	expect_ok("finish", luo_finish(session));
	close(session);
}

static int stage1(void)
{
	int dev;

	if (access(LUO_CHUNK, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_CHUNK);
	dev = luo_open();
	preserve_session(dev, "chunk-a", 1);
	preserve_session(dev, "chunk-big", NR_BIG);
	preserve_session(dev, "chunk-c", 1);
	luo_write_file(FINALIZE, "1");
	/* page 0 holds chunk-a and the first files of chunk-big */
	luo_write_file(LUO_CHUNK, "1");
	msg("page 1 of the records damaged");
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev;

	luo_expect_log("page 1 of records at");
	luo_expect_log("of its 300 files handed over: dropped");
	dev = luo_open();
	check_session(dev, "chunk-a");
	check_session(dev, "chunk-c");
	expect_err("retrieve the session with a damaged page",
		   luo_retrieve_session(dev, "chunk-big"), ENOENT);

	preserve_session(dev, "chunk-dup", NR_BIG);
	luo_write_file(FINALIZE, "1");
	luo_write_file(LUO_CHUNK, "dup");
	msg("the index lists its first page twice");
	close(dev);
	return luo_keep_and_kexec();
}

static int stage3(void)
{
	int dev;

	luo_expect_log("the index lists page");
	luo_expect_log("every incoming session dropped");
	dev = luo_open();
	expect_err("retrieve a session of a bad index",
		   luo_retrieve_session(dev, "chunk-dup"), ENOENT);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_bad_chunk",
			LUO_STAGES(stage1, stage2, stage3));
}
