// SPDX-License-Identifier: GPL-2.0
/*
 * What /dev/liveupdate refuses, in one kernel: a second opener, argument
 * sizes, unknown ioctls, bad names, duplicate names and tokens, bad fds,
 * files no handler takes, a file in two sessions, operations meant for
 * the other side of the kexec, and anything that would change the
 * handover once KHO is finalized. Also that closing a session releases
 * what it preserved, before and after a finalize is undone; that a memfd
 * is preserved once however many times it is opened; that a size seal the
 * user adds while preserved stays the user's; and that holes cannot be
 * punched in a preserved memfd.
 */
#include "luo_test_utils.h"

#include <linux/falloc.h>

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)	/* log2(2 MiB) << MFD_HUGE_SHIFT */
#endif

#define FINALIZE	KHO_DEBUGFS "/out/finalize"

static int make_memfd(const char *name)
{
	int fd = memfd_create(name, MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, 64 << 10))
		fail("memfd %s: %s", name, strerror(errno));
	if (pwrite(fd, name, strlen(name), 0) != (ssize_t)strlen(name))
		fail("pwrite %s: %s", name, strerror(errno));
	return fd;
}

/* A memfd whose preservation ended has its seals and size back. */
static void expect_released(const char *what, int fd)
{
	char name[128];

	snprintf(name, sizeof(name), "%s: seals", what);
	expect_u64(name, 0, fcntl(fd, F_GET_SEALS));
	snprintf(name, sizeof(name), "%s: ftruncate", what);
	expect_ok(name, ftruncate(fd, 128 << 10) ? -errno : 0);
}

static void check_sizes_and_numbers(int dev)
{
	struct {
		struct liveupdate_ioctl_create_session s;
		uint64_t extra;
	} big = { .s = { .size = sizeof(big) } };
	int fd;

	big.s.size = 4;
	memcpy(big.s.name, "sized", sizeof("sized"));
	expect_err("create with size 4",
		   luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big),
		   EINVAL);
	big.s.size = offsetof(struct liveupdate_ioctl_create_session, name) + 8;
	expect_err("create with the name cut short",
		   luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big),
		   EINVAL);
	big.s.size = sizeof(big);
	big.extra = 1;
	expect_err("create with non-zero bytes past the structure",
		   luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big),
		   E2BIG);
	big.extra = 0;
	expect_ok("create with zero bytes past the structure",
		  luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big));
	if (big.s.fd < 0)
		fail("create with a larger structure: no fd returned");
	close(big.s.fd);

	expect_err("create with size and direction bits",
		   luo_ioctl(dev, _IOWR(LIVEUPDATE_IOCTL_TYPE, 0x00,
					struct liveupdate_ioctl_create_session),
			     &big), ENOTTY);
	expect_err("unknown ioctl number",
		   luo_ioctl(dev, _IO(LIVEUPDATE_IOCTL_TYPE, 0x3f), &big),
		   ENOTTY);
	expect_err("session ioctl on /dev/liveupdate",
		   luo_ioctl(dev, LIVEUPDATE_SESSION_FINISH, &big), ENOTTY);

	fd = expect_ok("create session numbers",
		       luo_create_session(dev, "numbers"));
	big.s.size = sizeof(big.s);
	expect_err("device ioctl on a session",
		   luo_ioctl(fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &big), ENOTTY);
	close(fd);
}

static void check_names(int dev)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };
	int fd;

	memset(arg.name, 'n', sizeof(arg.name));
	expect_err("name without a NUL in 64 bytes",
		   luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg),
		   EINVAL);
	arg.name[sizeof(arg.name) - 1] = 0;
	expect_ok("name of 63 characters",
		  luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg));
	close(arg.fd);
	expect_err("empty name", luo_create_session(dev, ""), EINVAL);

	fd = expect_ok("create session dup", luo_create_session(dev, "dup"));
	expect_err("create session dup again", luo_create_session(dev, "dup"),
		   EEXIST);
	close(fd);
	fd = expect_ok("create session dup after closing the first",
		       luo_create_session(dev, "dup"));
	close(fd);
	expect_err("retrieve a session that was never handed over",
		   luo_retrieve_session(dev, "nothing"), ENOENT);
}

static void check_files(int dev)
{
	int s1, s2, m, m2, ro, pipefd[2], shm;
	char path[64];

	s1 = expect_ok("create session files-1",
		       luo_create_session(dev, "files-1"));
	s2 = expect_ok("create session files-2",
		       luo_create_session(dev, "files-2"));
	m = make_memfd("m");
	m2 = make_memfd("m2");

	expect_err("preserve fd -1", luo_preserve_fd(s1, -1, 1), EBADF);
	expect_err("preserve a closed fd", luo_preserve_fd(s1, 999, 1), EBADF);
	if (pipe(pipefd))
		fail("pipe: %s", strerror(errno));
	expect_err("preserve a pipe", luo_preserve_fd(s1, pipefd[0], 1),
		   ENOENT);
	expect_err("preserve /dev/liveupdate", luo_preserve_fd(s1, dev, 1),
		   ENOENT);
	expect_err("preserve a session fd", luo_preserve_fd(s1, s2, 1),
		   ENOENT);
	shm = open("/dev/shm/luo-linked", O_RDWR | O_CREAT, 0600);
	if (shm >= 0) {
		expect_err("preserve a linked tmpfs file",
			   luo_preserve_fd(s1, shm, 1), ENOENT);
		close(shm);
		unlink("/dev/shm/luo-linked");
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	ro = open(path, O_RDONLY);
	if (ro < 0)
		fail("reopen memfd read-only: %s", strerror(errno));
	expect_err("preserve a read-only memfd", luo_preserve_fd(s1, ro, 1),
		   ENOENT);

	expect_ok("preserve m", luo_preserve_fd(s1, m, 1));
	expect_err("preserve m2 under a taken token",
		   luo_preserve_fd(s1, m2, 1), EEXIST);
	expect_err("preserve m again in the same session",
		   luo_preserve_fd(s1, m, 2), EBUSY);
	expect_err("preserve m in another session",
		   luo_preserve_fd(s2, m, 1), EBUSY);
	expect_ok("preserve m2 in another session under the same token",
		  luo_preserve_fd(s2, m2, 1));

	expect_u64("seals of m while preserved", F_SEAL_SHRINK | F_SEAL_GROW,
		   fcntl(m, F_GET_SEALS));
	expect_err("grow m while preserved",
		   ftruncate(m, 1 << 20) ? -errno : 0, EPERM);
	expect_err("write past the end of m while preserved",
		   pwrite(m, "x", 1, 64 << 10) < 0 ? -errno : 0, EPERM);
	expect_ok("write inside m while preserved",
		  pwrite(m, "y", 1, 10) < 0 ? -errno : 0);

	expect_err("finish an outgoing session", luo_finish(s1), EINVAL);
	expect_err("retrieve from an outgoing session",
		   luo_retrieve_fd(s1, 1), EINVAL);

	/* closing the session unpreserves m: seals back, free to go again */
	close(s1);
	expect_released("m after its session closed", m);
	expect_ok("preserve m in the other session now",
		  luo_preserve_fd(s2, m, 2));
	close(s2);
	expect_released("m after the second session closed", m);
	expect_released("m2 after its session closed", m2);

	close(ro);
	close(pipefd[0]);
	close(pipefd[1]);
	close(m);
	close(m2);
}

/* The same memfd through two open files is still one memfd to preserve. */
static void check_reopened(int dev)
{
	int s, m, again;
	char path[64];

	s = expect_ok("create session reopen",
		      luo_create_session(dev, "reopen"));
	/* no pages: only the inode can tell the two opens apart */
	m = memfd_create("empty", 0);
	if (m < 0)
		fail("memfd_create: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	again = open(path, O_RDWR);
	if (again < 0)
		fail("reopen %s: %s", path, strerror(errno));
	expect_ok("preserve an empty memfd", luo_preserve_fd(s, m, 1));
	expect_err("preserve it again through a reopened fd",
		   luo_preserve_fd(s, again, 2), EBUSY);
	close(s);
	s = expect_ok("create session reopen again",
		      luo_create_session(dev, "reopen"));
	expect_ok("preserve the reopened fd once the first session closed",
		  luo_preserve_fd(s, again, 1));
	expect_err("preserve the first fd now", luo_preserve_fd(s, m, 2),
		   EBUSY);
	close(s);
	close(again);
	close(m);
}

/* A size seal the user adds while preserved is not taken off with ours. */
static void check_user_seals(int dev)
{
	int s, m;

	s = expect_ok("create session seals",
		      luo_create_session(dev, "seals"));
	m = make_memfd("sealed");
	expect_ok("preserve sealed", luo_preserve_fd(s, m, 1));
	expect_ok("F_ADD_SEALS F_SEAL_GROW while preserved",
		  fcntl(m, F_ADD_SEALS, F_SEAL_GROW) ? -errno : 0);
	expect_u64("seals while preserved", F_SEAL_SHRINK | F_SEAL_GROW,
		   fcntl(m, F_GET_SEALS));
	close(s);
	expect_u64("seals after the session closed", F_SEAL_GROW,
		   fcntl(m, F_GET_SEALS));
	expect_err("grow it after the session closed",
		   ftruncate(m, 128 << 10) ? -errno : 0, EPERM);
	expect_ok("shrink it after the session closed",
		  ftruncate(m, 32 << 10) ? -errno : 0);
	close(m);
}

static int set_nr_hugepages(long nr)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");

	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", nr) < 0 || fclose(f))
		return -EIO;
	return 0;
}

/* Punching a hole in a preserved memfd would drop a preserved page. */
static void check_punch_hole(int dev)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int s, m, h, ret;
	char *map;

	s = expect_ok("create session punch",
		      luo_create_session(dev, "punch"));
	m = make_memfd("punched");
	expect_ok("preserve punched", luo_preserve_fd(s, m, 1));
	expect_err("punch a hole in a preserved shmem memfd",
		   fallocate(m, punch, 0, 4096) ? -errno : 0, EBUSY);
	map = luo_map(m, 64 << 10);
	ret = madvise(map, 4096, MADV_REMOVE) ? -errno : 0;
	if (ret == -ENOSYS)
		printf("# no madvise(): MADV_REMOVE not checked\n");
	else
		expect_err("MADV_REMOVE on a preserved shmem memfd", ret,
			   EBUSY);
	if (memcmp(map, "punched", 7))
		fail("punched: contents changed by a refused hole punch");
	munmap(map, 64 << 10);
	expect_ok("fill a hole (fallocate without punch) in a preserved memfd",
		  fallocate(m, FALLOC_FL_KEEP_SIZE, 0, 4096) ? -errno : 0);

	h = -1;
	if (!set_nr_hugepages(2))
		h = memfd_create("punched-huge", MFD_HUGETLB | MFD_HUGE_2MB);
	/* one huge page and one hole */
	if (h >= 0 && !ftruncate(h, 4 << 20) && !fallocate(h, 0, 0, 2 << 20)) {
		expect_ok("preserve a hugetlb memfd", luo_preserve_fd(s, h, 2));
		expect_err("punch a hole in a preserved hugetlb memfd",
			   fallocate(h, punch, 0, 2 << 20) ? -errno : 0,
			   EBUSY);
	} else {
		printf("# no 2 MiB huge page: hugetlb hole punch not checked\n");
	}

	close(s);
	expect_ok("punch a hole once the session is closed",
		  fallocate(m, punch, 0, 4096) ? -errno : 0);
	if (h >= 0) {
		expect_ok("punch a hugetlb hole once the session is closed",
			  fallocate(h, punch, 0, 2 << 20) ? -errno : 0);
		close(h);
	}
	set_nr_hugepages(0);
	close(m);
}

static int write_finalize(const char *val)
{
	int fd = open(FINALIZE, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The handover is fixed once KHO is finalized; undoing it frees orphans. */
static void check_frozen(int dev)
{
	int s, kept, m, m2;

	if (access(FINALIZE, W_OK)) {
		printf("# no %s: finalize checks skipped\n", FINALIZE);
		return;
	}
	s = expect_ok("create session frozen",
		      luo_create_session(dev, "frozen"));
	kept = expect_ok("create session kept",
			 luo_create_session(dev, "kept"));
	m = make_memfd("frozen-m");
	m2 = make_memfd("frozen-m2");
	expect_ok("preserve before finalize", luo_preserve_fd(s, m, 1));

	expect_ok("finalize KHO", write_finalize("1"));
	expect_err("create a session while finalized",
		   luo_create_session(dev, "late"), EBUSY);
	expect_err("preserve while finalized", luo_preserve_fd(kept, m2, 1),
		   EBUSY);
	/* closed while frozen: still in the handover until unfreeze */
	close(s);
	expect_u64("seals of m with its session closed while finalized",
		   F_SEAL_SHRINK | F_SEAL_GROW, fcntl(m, F_GET_SEALS));
	expect_ok("undo the finalize", write_finalize("0"));

	expect_released("m after unfreeze", m);
	expect_ok("preserve after unfreeze", luo_preserve_fd(kept, m2, 1));
	expect_ok("preserve the orphan's file after unfreeze",
		  luo_preserve_fd(kept, m, 2));
	close(kept);
	expect_released("m2 after its session closed", m2);
	close(m);
	close(m2);
}

/* A single stage: every error, no kexec. */
static int stage1(void)
{
	int dev, again;

	if (geteuid())
		skip("needs root");
	dev = luo_open();
	again = open(LUO_DEV, O_RDWR);
	expect_err("second open of /dev/liveupdate", again < 0 ? -errno : again,
		   EBUSY);

	check_sizes_and_numbers(dev);
	check_names(dev);
	check_files(dev);
	check_reopened(dev);
	check_user_seals(dev);
	check_punch_hole(dev);
	check_frozen(dev);

	close(dev);
	again = open(LUO_DEV, O_RDWR);
	expect_ok("open /dev/liveupdate again after close",
		  again < 0 ? -errno : again);
	close(again);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_errors", LUO_STAGES(stage1));
}
