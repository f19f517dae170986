// SPDX-License-Identifier: GPL-2.0
/*
 * A page faulted into a hole of a preserved hugetlbfs memfd after the
 * handover is finalized would not be handed over: the next kernel would
 * give back zeroes where the VMM wrote data. It must be refused instead.
 *
 * Stage 1 preserves a hugetlb memfd of four 2 MiB pages, two of them holes,
 * and finalizes. A write into a hole then gets SIGBUS and fallocate() of a
 * hole EPERM, and the kernel log says why. Aborting and finalizing again
 * works, for nothing was added. Stage 2: the two pages come back with
 * their data, and the holes are still holes.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "luo_test_utils.h"

#define HPAGE		(2ULL << 20)
#define NR_HPAGES	4
#define SIZE		(NR_HPAGES * HPAGE)
#define TOKEN		0x40
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define REASON		"is frozen for the kexec"

static bool is_data_page(int i)
{
	return i == 0 || i == 2;
}

/* Write into hole @i from a child: how did the child end? */
static int touch_hole(int fd, int i)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);

		if (map == MAP_FAILED)
			_exit(2);
		map[i * HPAGE] = 0x5a;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	return status;
}

static int stage1(void)
{
	int dev, session, fd, status, i;
	char *map;

	if (luo_meminfo("Hugepagesize") != 2048)
		skip("default huge page size is not 2 MiB");
	luo_set_nr_hugepages(NR_HPAGES + 4);
	if (luo_meminfo("HugePages_Free") < NR_HPAGES)
		skip("only %ld free huge pages", luo_meminfo("HugePages_Free"));

	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, "hole"));
	fd = luo_hugetlb_memfd("luo-hole", HPAGE, SIZE);
	map = luo_map(fd, SIZE);
	for (i = 0; i < NR_HPAGES; i++)
		if (is_data_page(i))
			memset(map + i * HPAGE, 0x10 + i, HPAGE);
	munmap(map, SIZE);
	expect_ok("preserve", luo_preserve_fd(session, fd, TOKEN));

	luo_write_file(FINALIZE, "1");
	status = touch_hole(fd, 1);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
		fail("a write into a hole of the frozen memfd was not refused with SIGBUS (status %#x): it would be lost",
		     status);
	msg("ok: a write into a hole after finalize got SIGBUS");
	expect_err("fallocate a hole after finalize",
		   fallocate(fd, 0, 3 * HPAGE, HPAGE) ? -errno : 0, EPERM);
	luo_expect_log(REASON);

	luo_write_file(FINALIZE, "0");
	luo_write_file(FINALIZE, "1");
	msg("ok: abort, then finalize again");
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd, i;
	long free_before;
	char *map;
	size_t j;

	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, "hole"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	expect_u64("size", SIZE, luo_fd_size(fd));
	luo_set_nr_hugepages(NR_HPAGES);
	free_before = luo_meminfo("HugePages_Free");
	map = luo_map(fd, SIZE);
	for (i = 0; i < NR_HPAGES; i++) {
		if (!is_data_page(i))
			continue;
		for (j = 0; j < HPAGE; j += 4096)
			if (map[i * HPAGE + j] != 0x10 + i)
				fail("huge page %d: byte %zu is %#x, want %#x",
				     i, j, map[i * HPAGE + j], 0x10 + i);
	}
	expect_u64("free huge pages after reading the data pages",
		   free_before, luo_meminfo("HugePages_Free"));
	for (i = 0; i < NR_HPAGES; i++)
		if (!is_data_page(i) && map[i * HPAGE])
			fail("hole %d is not zero", i);
	msg("ok: the data pages are intact, the holes are holes");
	munmap(map, SIZE);
	expect_ok("finish", luo_finish(session));
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_hugetlb_hole",
			LUO_STAGES(stage1, stage2));
}
