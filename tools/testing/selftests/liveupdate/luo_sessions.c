// SPDX-License-Identifier: GPL-2.0
/*
 * Two sessions with three memfds across one kexec: sizes, file positions,
 * seals and contents come back; retrieving a token twice gives the same
 * open file; unknown tokens and sessions, a second retrieve of a session,
 * and a non-zero reserved field are refused; finish and closing a session
 * end it. LIVEUPDATE_SESSION_GET_NAME gives a session's name, created or
 * retrieved, and validates its argument; /proc/PID/fd shows the name too.
 */
#include "luo_test_utils.h"

#define SIZE_A		((1 << 20) + 100)	/* not a page multiple */
#define POS_A		4242
#define SIZE_B		(8 << 20)		/* sparse: one page written */
#define OFF_B		(4 << 20)
#define SIZE_C		(256 << 10)
#define TOKEN_A		1
#define TOKEN_B		2
#define TOKEN_C		0xdeadbeefcafef00dULL
#define SEALS_C		(F_SEAL_WRITE | F_SEAL_SHRINK)

struct expect {
	uint64_t seed_b;
};

static int make_memfd(const char *name, unsigned int flags, uint64_t size)
{
	int fd = memfd_create(name, flags);

	if (fd < 0)
		fail("memfd_create %s: %s", name, strerror(errno));
	if (ftruncate(fd, size))
		fail("ftruncate %s: %s", name, strerror(errno));
	return fd;
}

/* Fail unless /proc/self/fd names session fd @fd after session @name. */
static void expect_fd_link(int fd, const char *name)
{
	char path[64], link[256], want[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		fail("readlink %s: %s", path, strerror(errno));
	link[n] = 0;
	snprintf(want, sizeof(want), "anon_inode:[luo_session] %s", name);
	if (strcmp(link, want))
		fail("%s is \"%s\", expected \"%s\"", path, link, want);
	msg("ok: %s is \"%s\"", path, link);
}

/* Fail unless session fd @fd says it is @name. */
static void expect_name(int fd, const char *name)
{
	struct liveupdate_session_get_name arg = { .size = sizeof(arg) };
	size_t i;

	memset(arg.name, 0xff, sizeof(arg.name));
	expect_ok("get the session's name",
		  luo_ioctl(fd, LIVEUPDATE_SESSION_GET_NAME, &arg));
	if (strnlen((char *)arg.name, sizeof(arg.name)) == sizeof(arg.name) ||
	    strcmp((char *)arg.name, name))
		fail("LIVEUPDATE_SESSION_GET_NAME: \"%.*s\", expected \"%s\"",
		     (int)sizeof(arg.name), arg.name, name);
	for (i = strlen(name); i < sizeof(arg.name); i++)
		if (arg.name[i])
			fail("LIVEUPDATE_SESSION_GET_NAME: byte %zu after the name is %#x",
			     i, arg.name[i]);
	msg("ok: the session says it is \"%s\"", name);
	expect_fd_link(fd, name);
}

/* GET_NAME refuses a reserved field set, a short size, and the device. */
static void get_name_errors(int dev, int session)
{
	struct liveupdate_session_get_name arg = { .size = sizeof(arg) };

	arg.reserved = 1;
	expect_err("get name with reserved set",
		   luo_ioctl(session, LIVEUPDATE_SESSION_GET_NAME, &arg), EINVAL);
	arg.reserved = 0;
	arg.size = offsetof(struct liveupdate_session_get_name, name);
	expect_err("get name with a short size",
		   luo_ioctl(session, LIVEUPDATE_SESSION_GET_NAME, &arg), EINVAL);
	arg.size = sizeof(arg);
	expect_err("get name on /dev/liveupdate",
		   luo_ioctl(dev, LIVEUPDATE_SESSION_GET_NAME, &arg), ENOTTY);
}

static int stage1(void)
{
	struct expect ex = { .seed_b = luo_seed() };
	int dev, alpha, beta, a, b, c, seals;
	char page[4096];
	void *map;

	dev = luo_open();
	alpha = expect_ok("create session alpha", luo_create_session(dev, "alpha"));
	beta = expect_ok("create session beta", luo_create_session(dev, "beta"));
	expect_name(alpha, "alpha");
	expect_name(beta, "beta");
	get_name_errors(dev, alpha);

	a = make_memfd("luo-a", 0, SIZE_A);
	map = luo_map(a, SIZE_A);
	luo_fill(map, SIZE_A - 100, luo_seed(), 1, TOKEN_A);
	munmap(map, SIZE_A);
	if (lseek(a, POS_A, SEEK_SET) != POS_A)
		fail("lseek: %s", strerror(errno));
	expect_ok("preserve a", luo_preserve_fd(alpha, a, TOKEN_A));
	seals = fcntl(a, F_GET_SEALS);
	expect_u64("seals of a while preserved",
		   F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW, seals);
	expect_err("ftruncate a while preserved",
		   ftruncate(a, SIZE_A * 2) ? -errno : 0, EPERM);

	b = make_memfd("luo-b", MFD_ALLOW_SEALING, SIZE_B);
	memset(page, 0x5a, sizeof(page));
	memcpy(page, &ex.seed_b, sizeof(ex.seed_b));
	if (pwrite(b, page, sizeof(page), OFF_B) != sizeof(page))
		fail("pwrite b: %s", strerror(errno));
	expect_ok("preserve b", luo_preserve_fd(alpha, b, TOKEN_B));

	c = make_memfd("luo-c", MFD_ALLOW_SEALING, SIZE_C);
	map = luo_map(c, SIZE_C);
	luo_fill(map, SIZE_C, luo_seed(), 1, TOKEN_C);
	munmap(map, SIZE_C);
	if (fcntl(c, F_ADD_SEALS, SEALS_C))
		fail("F_ADD_SEALS c: %s", strerror(errno));
	expect_ok("preserve c", luo_preserve_fd(beta, c, TOKEN_C));

	/* the sessions hold the files: the test's own fds can go */
	close(a);
	close(b);
	close(c);
	close(dev);
	luo_save("expect", &ex, sizeof(ex));
	return luo_keep_and_kexec();
}

static void check_b(int b, const struct expect *ex)
{
	static char page[4096], zero[4096];
	uint64_t seed;

	expect_u64("size of b", SIZE_B, luo_fd_size(b));
	expect_u64("seals of b", 0, fcntl(b, F_GET_SEALS));
	if (pread(b, page, sizeof(page), OFF_B) != sizeof(page))
		fail("pread b: %s", strerror(errno));
	memcpy(&seed, page, sizeof(seed));
	expect_u64("first word of b's written page", ex->seed_b, seed);
	if (page[sizeof(page) - 1] != 0x5a)
		fail("b: last byte of the written page: expected 0x5a, got %#x",
		     page[sizeof(page) - 1] & 0xff);
	if (pread(b, page, sizeof(page), 0) != sizeof(page) ||
	    memcmp(page, zero, sizeof(page)))
		fail("b: first page: expected zeros");
	printf("ok: b: written page and holes intact\n");
}

static int stage2(void)
{
	struct liveupdate_session_finish fin = { .size = sizeof(fin) };
	struct expect *ex = luo_load("expect", sizeof(*ex));
	int dev, alpha, beta, a, a2, b, c, flags;
	struct stat st1, st2;
	void *map;

	dev = luo_open();
	expect_err("retrieve unknown session",
		   luo_retrieve_session(dev, "gamma"), ENOENT);
	alpha = expect_ok("retrieve session alpha",
			  luo_retrieve_session(dev, "alpha"));
	expect_err("retrieve session alpha again",
		   luo_retrieve_session(dev, "alpha"), EINVAL);
	beta = expect_ok("retrieve session beta",
			 luo_retrieve_session(dev, "beta"));
	expect_name(alpha, "alpha");
	expect_name(beta, "beta");
	get_name_errors(dev, beta);
	flags = fcntl(alpha, F_GETFD);
	if (!(flags & FD_CLOEXEC))
		fail("session fd: expected FD_CLOEXEC, got flags %#x", flags);

	a = expect_ok("retrieve a", luo_retrieve_fd(alpha, TOKEN_A));
	flags = fcntl(a, F_GETFD);
	if (!(flags & FD_CLOEXEC))
		fail("retrieved fd: expected FD_CLOEXEC, got flags %#x", flags);
	expect_u64("size of a", SIZE_A, luo_fd_size(a));
	expect_u64("position of a", POS_A, lseek(a, 0, SEEK_CUR));
	expect_u64("seals of a", F_SEAL_SEAL, fcntl(a, F_GET_SEALS));
	map = luo_map(a, SIZE_A);
	luo_verify("a", map, SIZE_A - 100, 1, TOKEN_A);
	munmap(map, SIZE_A);

	a2 = expect_ok("retrieve a again", luo_retrieve_fd(alpha, TOKEN_A));
	if (a2 == a)
		fail("retrieve a again: expected a new fd, got the same %d", a);
	if (fstat(a, &st1) || fstat(a2, &st2) || st1.st_ino != st2.st_ino ||
	    st1.st_dev != st2.st_dev)
		fail("retrieve a again: expected the same file");
	lseek(a, 77, SEEK_SET);
	expect_u64("position seen through the second fd", 77,
		   lseek(a2, 0, SEEK_CUR));

	expect_err("retrieve unknown token", luo_retrieve_fd(alpha, 99),
		   ENOENT);
	expect_err("preserve into a retrieved session",
		   luo_preserve_fd(alpha, a, 100), EINVAL);

	b = expect_ok("retrieve b", luo_retrieve_fd(alpha, TOKEN_B));
	check_b(b, ex);

	fin.reserved = 1;
	expect_err("finish with reserved set",
		   luo_ioctl(alpha, LIVEUPDATE_SESSION_FINISH, &fin), EINVAL);
	fin.reserved = 0;
	fin.size = 4;
	expect_err("finish with a short size",
		   luo_ioctl(alpha, LIVEUPDATE_SESSION_FINISH, &fin), EINVAL);
	expect_ok("finish alpha", luo_finish(alpha));
	expect_err("retrieve a after finish", luo_retrieve_fd(alpha, TOKEN_A),
		   ENOENT);

	/* the file outlives the session, writable and resizable again */
	expect_ok("ftruncate a after finish",
		  ftruncate(a, 2 * SIZE_A) ? -errno : 0);
	if (pwrite(a, "x", 1, SIZE_A) != 1)
		fail("pwrite a after finish: %s", strerror(errno));

	c = expect_ok("retrieve c", luo_retrieve_fd(beta, TOKEN_C));
	expect_u64("seals of c", SEALS_C, fcntl(c, F_GET_SEALS));
	expect_err("write to c (F_SEAL_WRITE)",
		   pwrite(c, "x", 1, 0) < 0 ? -errno : 0, EPERM);
	map = mmap(NULL, SIZE_C, PROT_READ, MAP_SHARED, c, 0);
	if (map == MAP_FAILED)
		fail("mmap c: %s", strerror(errno));
	luo_verify("c", map, SIZE_C, 1, TOKEN_C);
	munmap(map, SIZE_C);

	/* closing a retrieved session finishes it; it is gone afterwards */
	close(beta);
	expect_err("retrieve session beta after close",
		   luo_retrieve_session(dev, "beta"), ENOENT);
	close(alpha);
	close(a);
	close(a2);
	close(b);
	close(c);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_sessions", LUO_STAGES(stage1, stage2));
}
