// SPDX-License-Identifier: GPL-2.0
/*
 * A memfd whose Live Update record is damaged must not take memory that
 * another file preserved. Stage 1 preserves two memfds, finalizes KHO and,
 * through the KHO test module, makes the first one's record point at a
 * data page of the second. Stage 2: the first file is refused with an
 * errno and the kernel log says why; the second comes back whole, at the
 * same PFNs; finishing the session frees nothing the second file owns.
 *
 * A third memfd's record is made a page that this test wrote as a memfd
 * record of a later format version (in a fourth memfd, "forged"): it is
 * refused with EINVAL, the log naming both versions, and the forged memfd
 * comes back unchanged.
 */
#include "luo_test_utils.h"

#define SESSION		"bad-record"
#define TOKEN_BAD	1
#define TOKEN_GOOD	2
#define SIZE_BAD	(64 << 10)
#define SIZE_GOOD	(1 << 20)
#define LUO_DATA	KHO_DEBUGFS "/test/luo_data"
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define REASON		"bad header or folio list, nothing claimed"
#define TOKEN_LATER	3
#define TOKEN_FORGED	4
/* include/linux/kho/abi/memfd.h: struct memfd_luo_ser starts so */
#define MEMFD_MAGIC	0x31766466756c6d6dULL
#define MEMFD_VERSION	1
#define REASON_LATER	"is of version 2; this kernel reads version 1 only"


static int stage1(void)
{
	int dev, session, bad, good, later;
	uint64_t *pfns, forged;
	char cmd[128];
	void *map;

	if (access(LUO_DATA, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_DATA);
	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, SESSION));
	bad = memfd_create("luo-bad", 0);
	good = memfd_create("luo-good", 0);
	if (bad < 0 || good < 0 || ftruncate(bad, SIZE_BAD) ||
	    ftruncate(good, SIZE_GOOD))
		fail("memfds: %s", strerror(errno));
	luo_preserve_memfd(session, bad, SIZE_BAD, TOKEN_BAD, "memfd to damage",
			   true);
	later = memfd_create("luo-later", 0);
	if (later < 0 || ftruncate(later, SIZE_BAD))
		fail("memfd: %s", strerror(errno));
	expect_ok("preserve the memfd to hand over as version 2",
		  luo_preserve_fd(session, later, TOKEN_LATER));
	forged = luo_forge_record(session, TOKEN_FORGED, MEMFD_MAGIC,
				  MEMFD_VERSION + 1);
	/* last, so the PFNs saved for stage 2 are the good file's */
	luo_preserve_memfd(session, good, SIZE_GOOD, TOKEN_GOOD, "memfd to keep",
			   true);

	/* a data page of the good file, preserved as a page of its own */
	map = luo_map(good, SIZE_GOOD);
	pfns = luo_pfns(map, SIZE_GOOD);
	luo_write_file(FINALIZE, "1");
	snprintf(cmd, sizeof(cmd), "%s %d %#" PRIx64, SESSION, TOKEN_BAD,
		 pfns[SIZE_GOOD / 4096 / 2] * 4096);
	luo_write_file(LUO_DATA, cmd);
	msg("record of memfd %d points at a data page of memfd %d", TOKEN_BAD,
	    TOKEN_GOOD);
	snprintf(cmd, sizeof(cmd), "%s %d %#" PRIx64, SESSION, TOKEN_LATER,
		 forged);
	luo_write_file(LUO_DATA, cmd);
	msg("record of memfd %d is a version 2 record", TOKEN_LATER);
	close(later);
	free(pfns);
	munmap(map, SIZE_GOOD);
	close(bad);
	close(good);
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
	expect_err("retrieve the memfd with the damaged record",
		   luo_retrieve_fd(session, TOKEN_BAD), EINVAL);

	fd = expect_ok("retrieve the other memfd",
		       luo_retrieve_fd(session, TOKEN_GOOD));
	expect_u64("size", SIZE_GOOD, luo_fd_size(fd));
	map = luo_map(fd, SIZE_GOOD);
	luo_verify("memfd next to the damaged one", map, SIZE_GOOD, 1,
		   TOKEN_GOOD);
	luo_check_pfns("memfd next to the damaged one", map, SIZE_GOOD);
	luo_expect_log(REASON);

	expect_err("retrieve the memfd handed over as version 2",
		   luo_retrieve_fd(session, TOKEN_LATER), EINVAL);
	luo_expect_log(REASON_LATER);
	luo_check_forged(session, TOKEN_FORGED);

	/* finish tries the damaged record again: still nothing freed */
	expect_ok("finish", luo_finish(session));
	luo_verify("memfd after finish", map, SIZE_GOOD, 1, TOKEN_GOOD);
	munmap(map, SIZE_GOOD);
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_bad_record",
			LUO_STAGES(stage1, stage2));
}
