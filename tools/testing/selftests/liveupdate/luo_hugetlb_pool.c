// SPDX-License-Identifier: GPL-2.0
/*
 * A host's boot pool of 2 MiB pages (hugepages=64 on both kernels) with
 * two hugetlbfs memfds drawn from it across the kexec. The pages the
 * memfds hold come back, so the next kernel allocates only the rest of
 * the pool at boot; each preserved page joins the pool as in use when its
 * memfd is retrieved, or as free when finish frees an unretrieved memfd.
 * Nothing is counted twice and nothing becomes surplus: the pool is the
 * 64 pages asked for throughout. Stage 1 finalizes and aborts once
 * before the kexec: the abort must count the frozen pages back out, or
 * the next kernel would leave 48 pages out of its pool instead of 24.
 * Stage 3: one more memfd of 8 pages comes back, but the pool is resized
 * by hand (vm.nr_hugepages=64) before it is retrieved. That is the pool
 * from then on: the memfd's pages come back surplus, and once it is gone
 * the pool is 64 pages, not 72.
 */
#include "luo_test_utils.h"

#define HPAGE		(2ULL << 20)
#define POOL		64	/* hugepages= in vm.conf */
#define NR_KEPT		16	/* the memfd retrieved */
#define NR_LEFT		8	/* the memfd finish frees */
#define TOKEN_KEPT	0x9001
#define TOKEN_LEFT	0x9002
#define FINALIZE	KHO_DEBUGFS "/out/finalize"

static long pool(const char *file)
{
	return luo_hstate_read(HPAGE >> 10, file);
}

/* vm.nr_hugepages: the persistent pool as the sysctl reports it */
static long sysctl_nr_hugepages(void)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long nr = -1;

	if (!f || fscanf(f, "%ld", &nr) != 1)
		fail("cannot read vm.nr_hugepages");
	fclose(f);
	return nr;
}

static void expect_pool(const char *when, long nr, long nr_free)
{
	char what[128];

	snprintf(what, sizeof(what), "2 MiB pool pages %s", when);
	expect_u64(what, nr, pool("nr_hugepages"));
	snprintf(what, sizeof(what), "free 2 MiB pool pages %s", when);
	expect_u64(what, nr_free, pool("free_hugepages"));
	snprintf(what, sizeof(what), "surplus 2 MiB pages %s", when);
	expect_u64(what, 0, pool("surplus_hugepages"));
}

static int huge_memfd(const char *name, long nr)
{
	return luo_hugetlb_memfd(name, HPAGE, nr * HPAGE);
}

static int stage1(void)
{
	int dev, session, kept, left;
	void *map;

	expect_pool("at boot", POOL, POOL);
	dev = luo_open();
	session = expect_ok("create session",
			    luo_create_session(dev, "pool"));
	kept = huge_memfd("luo-pool-kept", NR_KEPT);
	luo_preserve_memfd(session, kept, NR_KEPT * HPAGE, TOKEN_KEPT,
			   "memfd to retrieve", true);
	left = huge_memfd("luo-pool-left", NR_LEFT);
	map = luo_map(left, NR_LEFT * HPAGE);
	memset(map, 0x5a, NR_LEFT * HPAGE);
	munmap(map, NR_LEFT * HPAGE);
	expect_ok("preserve memfd to leave",
		  luo_preserve_fd(session, left, TOKEN_LEFT));
	expect_pool("with both memfds", POOL, POOL - NR_KEPT - NR_LEFT);
	luo_write_file(FINALIZE, "1");
	luo_write_file(FINALIZE, "0");
	msg("ok: finalized and aborted once before the kexec");
	close(kept);
	close(left);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	long nr = POOL - NR_KEPT - NR_LEFT;
	int dev, session, fd;
	void *map;

	expect_pool("before retrieve", nr, nr);
	luo_expect_log("HugeTLB: 2.00 MiB pages: 24 of the boot pool come back in preserved memfds, 40 to allocate");

	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, "pool"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN_KEPT));
	expect_pool("once one memfd is back", nr + NR_KEPT, nr);
	map = luo_map(fd, NR_KEPT * HPAGE);
	luo_verify("retrieved memfd", map, NR_KEPT * HPAGE, 1, TOKEN_KEPT);
	luo_check_pfns("retrieved memfd", map, NR_KEPT * HPAGE);
	expect_u64("reserved 2 MiB pages while mapped", 0,
		   pool("resv_hugepages"));

	/* the other memfd is not retrieved: finish frees it into the pool */
	expect_ok("finish session", luo_finish(session));
	expect_pool("after finish", POOL, nr + NR_LEFT);
	expect_u64("vm.nr_hugepages after finish", POOL, sysctl_nr_hugepages());

	munmap(map, NR_KEPT * HPAGE);
	close(fd);
	close(session);
	close(dev);
	expect_pool("once the memfd is gone", POOL, POOL);
	luo_expect_log("HugeTLB: 2.00 MiB pages: the boot pool is whole again");

	/* one more memfd of the pool for stage 3 */
	dev = luo_open();
	session = expect_ok("create session",
			    luo_create_session(dev, "pool-resized"));
	fd = huge_memfd("luo-pool-resized", NR_LEFT);
	luo_preserve_memfd(session, fd, NR_LEFT * HPAGE, TOKEN_LEFT,
			   "memfd to retrieve after the resize", true);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage3(void)
{
	int dev, session;
	char val[16];

	expect_pool("at boot", POOL - NR_LEFT, POOL - NR_LEFT);
	snprintf(val, sizeof(val), "%d", POOL);
	luo_write_file("/proc/sys/vm/nr_hugepages", val);
	luo_expect_log("HugeTLB: 2.00 MiB pages: pool resized; preserved pages that come back now are surplus");
	expect_pool("resized by hand", POOL, POOL);

	/* the session holds the retrieved memfd until it is finished */
	dev = luo_open();
	session = luo_retrieve_memfd_back(dev, "pool-resized", TOKEN_LEFT,
					  NR_LEFT * HPAGE,
					  "memfd retrieved after the resize");
	expect_u64("2 MiB pages while held (pool and surplus)",
		   POOL + NR_LEFT, pool("nr_hugepages"));
	expect_u64("surplus 2 MiB pages while held", NR_LEFT,
		   pool("surplus_hugepages"));
	close(session);
	close(dev);
	expect_pool("once the memfd is gone", POOL, POOL);
	expect_u64("vm.nr_hugepages at the end", POOL, sysctl_nr_hugepages());
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_hugetlb_pool",
			LUO_STAGES(stage1, stage2, stage3));
}
