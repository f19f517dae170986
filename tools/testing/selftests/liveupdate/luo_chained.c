// SPDX-License-Identifier: GPL-2.0
/*
 * Three live updates in a row with the same memfd: stages 2 and 3 retrieve
 * it, check it and write the next generation in place, and preserve it
 * again in a new session; stage 4 checks the third generation. The pages
 * stay at the same PFNs over every hop, and a finished session is not
 * handed over again.
 */
#include "luo_test_utils.h"

#define SIZE		(16ULL << 20)
#define TOKEN_1		7
#define LAST_STAGE	4

static int stage1(void)
{
	int dev, session, fd;

	dev = luo_open();
	session = expect_ok("create session chain-1",
			    luo_create_session(dev, "chain-1"));
	fd = memfd_create("luo-chain", 0);
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	luo_preserve_memfd(session, fd, SIZE, TOKEN_1, NULL, false);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static void session_name(char *buf, size_t len, int gen)
{
	snprintf(buf, len, "chain-%d", gen);
}

/*
 * Stages 2 to LAST_STAGE: take back generation stage - 1, check it stayed
 * in place, then (before the last stage) write the next generation in place and hand
 * the same file on in a new session.
 */
static int chain_stage(void)
{
	int stage = luo_test_stage(), gen = stage - 1, dev, in, out, fd;
	uint64_t token = TOKEN_1 + gen - 1;
	char name[32], what[32];
	void *map;

	dev = luo_open();
	if (gen > 1) {
		session_name(name, sizeof(name), gen - 1);
		expect_err("retrieve the previous hop's session",
			   luo_retrieve_session(dev, name), ENOENT);
	}
	session_name(name, sizeof(name), gen);
	in = expect_ok("retrieve session", luo_retrieve_session(dev, name));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(in, token));
	expect_u64("size", SIZE, luo_fd_size(fd));
	map = luo_map(fd, SIZE);
	snprintf(what, sizeof(what), "hop %d", gen);
	luo_verify(what, map, SIZE, gen, token);
	luo_check_pfns(what, map, SIZE);
	expect_ok("finish", luo_finish(in));
	close(in);
	if (stage == LAST_STAGE) {
		munmap(map, SIZE);
		close(fd);
		close(dev);
		return EXIT_PASS;
	}

	/* the next generation, in place, then hand the same file on */
	luo_fill(map, SIZE, luo_seed(), gen + 1, token + 1);
	session_name(name, sizeof(name), gen + 1);
	out = expect_ok("create the next session",
			luo_create_session(dev, name));
	expect_ok("preserve the retrieved memfd again",
		  luo_preserve_fd(out, fd, token + 1));
	munmap(map, SIZE);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_chained",
			LUO_STAGES(stage1, chain_stage, chain_stage, chain_stage));
}
