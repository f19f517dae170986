// SPDX-License-Identifier: GPL-2.0
/*
 * Damaged session records cost their own sessions and nothing else. Stage 1
 * preserves memfds in four sessions, finalizes KHO and, through the KHO
 * test module, damages three of the session records: a name that is not
 * NUL-terminated, a file count one more than the files handed over, and
 * two files under the same token. Stage 2: each of the three is dropped
 * with a reason in the kernel log (retrieving it fails with ENOENT, and
 * its memory stays reserved rather than be freed under a guess), and the
 * fourth session comes back whole, at the same PFNs.
 */
#include "luo_test_utils.h"

#define LUO_SESSION	KHO_DEBUGFS "/test/luo_session"
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define SIZE		(256 << 10)
#define TOKEN_KEEP	7

static const struct {
	const char *session;
	const char *how;
	const char *reason;
} damage[] = {
	{ "bad-name", "name", "incoming session with a bad name" },
	{ "bad-count", "count", "incoming session bad-count: 2 of its 3 files handed over: dropped" },
	{ "bad-dup", "dup", "incoming session bad-dup: bad file list" },
};

#define NR_DAMAGED	(int)(sizeof(damage) / sizeof(damage[0]))

static void preserve(int session, uint64_t token, bool save)
{
	int fd = memfd_create("luo-bad-session", 0);
	char what[32];
	void *map;

	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	snprintf(what, sizeof(what), "memfd %" PRIu64, token);
	if (save) {
		luo_preserve_memfd(session, fd, SIZE, token, what, true);
	} else {
		map = luo_map(fd, SIZE);
		luo_fill(map, SIZE, luo_seed(), 1, token);
		munmap(map, SIZE);
		expect_ok(what, luo_preserve_fd(session, fd, token));
	}
	close(fd);
}

static int stage1(void)
{
	int dev, keep, s, i;
	char cmd[96];

	if (access(LUO_SESSION, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_SESSION);
	dev = luo_open();
	for (i = 0; i < NR_DAMAGED; i++) {
		s = expect_ok(damage[i].session,
			      luo_create_session(dev, damage[i].session));
		preserve(s, 1, false);
		preserve(s, 2, false);
	}
	keep = expect_ok("create session keep", luo_create_session(dev, "keep"));
	/* last, so the PFNs saved for stage 2 are this file's */
	preserve(keep, TOKEN_KEEP, true);

	luo_write_file(FINALIZE, "1");
	for (i = 0; i < NR_DAMAGED; i++) {
		snprintf(cmd, sizeof(cmd), "%s %s", damage[i].session,
			 damage[i].how);
		luo_write_file(LUO_SESSION, cmd);
		msg("damaged session %s (%s)", damage[i].session,
		    damage[i].how);
	}
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd, i;
	void *map;

	dev = luo_open();
	for (i = 0; i < NR_DAMAGED; i++) {
		expect_err(damage[i].session,
			   luo_retrieve_session(dev, damage[i].session),
			   ENOENT);
		luo_expect_log(damage[i].reason);
	}
	session = expect_ok("retrieve session keep",
			    luo_retrieve_session(dev, "keep"));
	fd = expect_ok("retrieve the kept memfd",
		       luo_retrieve_fd(session, TOKEN_KEEP));
	map = luo_map(fd, SIZE);
	luo_verify("kept memfd", map, SIZE, 1, TOKEN_KEEP);
	luo_check_pfns("kept memfd", map, SIZE);
	munmap(map, SIZE);
	expect_ok("finish keep", luo_finish(session));
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_bad_session",
			LUO_STAGES(stage1, stage2));
}
