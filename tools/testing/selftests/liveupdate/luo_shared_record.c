// SPDX-License-Identifier: GPL-2.0
/*
 * Two files that hand over the same record would both claim the memory it
 * names. Stage 1 preserves three memfds, finalizes KHO and, through the
 * KHO test module, makes the third one hand over the second one's record.
 * Stage 2: both are refused with an errno (nothing tells which one is
 * right) and the kernel log says why; the first comes back whole, at the
 * same PFNs, and finishing the session leaves it so.
 */
#include "luo_test_utils.h"

#define SESSION		"shared-record"
#define TOKEN_KEEP	1
#define TOKEN_OWNER	2
#define TOKEN_COPY	3
#define SIZE		(256 << 10)
#define LUO_DATA	KHO_DEBUGFS "/test/luo_data"
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define REASON		"another file hands over the same"

static void preserve(int session, uint64_t token)
{
	int fd = memfd_create("luo-shared", 0);
	char what[32];

	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	snprintf(what, sizeof(what), "memfd %" PRIu64, token);
	luo_preserve_memfd(session, fd, SIZE, token, what, true);
	close(fd);
}

static int stage1(void)
{
	int dev, session;
	char cmd[128];

	if (access(LUO_DATA, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_DATA);
	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, SESSION));
	preserve(session, TOKEN_OWNER);
	preserve(session, TOKEN_COPY);
	/* last, so the PFNs saved for stage 2 are this file's */
	preserve(session, TOKEN_KEEP);

	luo_write_file(FINALIZE, "1");
	snprintf(cmd, sizeof(cmd), "%s %d @%d", SESSION, TOKEN_COPY,
		 TOKEN_OWNER);
	luo_write_file(LUO_DATA, cmd);
	msg("memfd %d hands over the record of memfd %d", TOKEN_COPY,
	    TOKEN_OWNER);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd;
	void *map;

	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, SESSION));
	expect_err("retrieve the memfd that took another's record",
		   luo_retrieve_fd(session, TOKEN_COPY), EINVAL);
	expect_err("retrieve the memfd whose record was taken",
		   luo_retrieve_fd(session, TOKEN_OWNER), EINVAL);
	luo_expect_log(REASON);

	fd = expect_ok("retrieve the third memfd",
		       luo_retrieve_fd(session, TOKEN_KEEP));
	expect_u64("size", SIZE, luo_fd_size(fd));
	map = luo_map(fd, SIZE);
	luo_verify("third memfd", map, SIZE, 1, TOKEN_KEEP);
	luo_check_pfns("third memfd", map, SIZE);

	expect_ok("finish", luo_finish(session));
	luo_verify("third memfd after finish", map, SIZE, 1, TOKEN_KEEP);
	munmap(map, SIZE);
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_shared_record",
			LUO_STAGES(stage1, stage2));
}
