// SPDX-License-Identifier: GPL-2.0
/*
 * A hugetlbfs memfd of one 1 GiB page across kexec without a copy. The
 * page is larger than the blocks of KHO's memory map: it is handed over as
 * a range and comes back as one gigantic folio, at the same PFN. Stage 1
 * writes a seeded word into every 4 KiB page of it (a full pattern would
 * take minutes under TCG) and saves the PFN; stage 2 checks both. The
 * command line reserves one 1 GiB page at boot, as hosts do, and the
 * memfd takes it. The page is part of that pool: the next kernel, asked
 * for the same pool, allocates nothing at boot, and the page joins the
 * pool, in use, when the memfd is retrieved.
 */
#include "luo_test_utils.h"

#define SIZE		(1ULL << 30)
#define STEP		4096ULL
#define TOKEN		0x1ce

struct note {
	uint64_t seed;
	uint64_t pfn;
};

/* a counter of the 1 GiB pool */
static long pool(const char *file)
{
	return luo_hstate_read(1UL << 20, file);
}

static uint64_t word(uint64_t seed, uint64_t off)
{
	return seed ^ (off * 0x9e3779b97f4a7c15ULL);
}

static int stage1(void)
{
	int dev, session, fd;
	struct note note;
	uint64_t off, pfn;
	char *map;

	expect_u64("1 GiB pages in the boot pool", 1, pool("nr_hugepages"));
	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, "giga"));
	fd = luo_hugetlb_memfd("luo-giga", SIZE, SIZE);
	map = luo_map(fd, SIZE);
	note.seed = luo_seed();
	for (off = 0; off < SIZE; off += STEP)
		*(uint64_t *)(map + off) = word(note.seed, off);
	expect_u64("free 1 GiB pages once the memfd has one", 0,
		   pool("free_hugepages"));
	expect_ok("preserve 1 GiB hugetlb memfd",
		  luo_preserve_fd(session, fd, TOKEN));
	luo_read_pfns(map, STEP, &note.pfn);
	luo_read_pfns(map + SIZE - STEP, STEP, &pfn);
	expect_u64("PFN of the last 4 KiB page", note.pfn + SIZE / STEP - 1, pfn);
	msg("1 GiB page at PFN %#llx", (unsigned long long)note.pfn);
	luo_save("note", &note, sizeof(note));
	munmap(map, SIZE);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	struct note *note = luo_load("note", sizeof(*note));
	uint64_t off, pfn, bad = 0;
	int dev, session, fd;
	char *map;

	/* the preserved page is the pool: nothing else was allocated */
	expect_u64("1 GiB pages before retrieve", 0, pool("nr_hugepages"));
	luo_expect_log("HugeTLB: 1.00 GiB pages: 1 of the boot pool come back in preserved memfds, 0 to allocate");
	expect_u64("surplus 1 GiB pages before retrieve", 0,
		   pool("surplus_hugepages"));

	dev = luo_open();
	session = expect_ok("retrieve session", luo_retrieve_session(dev, "giga"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	expect_u64("size", SIZE, luo_fd_size(fd));
	expect_u64("1 GiB pool pages while held", 1, pool("nr_hugepages"));
	expect_u64("surplus 1 GiB pages while held", 0,
		   pool("surplus_hugepages"));
	expect_u64("free 1 GiB pages while held", 0, pool("free_hugepages"));

	map = luo_map(fd, SIZE);
	luo_read_pfns(map, STEP, &pfn);
	expect_u64("PFN of the 1 GiB page (no copy)", note->pfn, pfn);
	for (off = 0; off < SIZE; off += STEP)
		if (*(uint64_t *)(map + off) != word(note->seed, off) && !bad++)
			msg("first difference at offset %#llx",
			    (unsigned long long)off);
	expect_u64("4 KiB pages whose word differs", 0, bad);
	expect_u64("reserved 1 GiB pages while mapped", 0,
		   pool("resv_hugepages"));
	munmap(map, SIZE);

	close(fd);
	close(session);
	close(dev);
	expect_u64("1 GiB pool pages after the file is gone", 1,
		   pool("nr_hugepages"));
	expect_u64("free 1 GiB pages after the file is gone", 1,
		   pool("free_hugepages"));
	expect_u64("surplus 1 GiB pages after the file is gone", 0,
		   pool("surplus_hugepages"));
	free(note);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_hugetlb_1g",
			LUO_STAGES(stage1, stage2));
}
