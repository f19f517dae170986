// SPDX-License-Identifier: GPL-2.0
/*
 * An operator who loads the next kernel with the wrong loader must not
 * lose what is preserved. kexec_load() (Debian's `kexec -l` without -s)
 * builds an image that cannot take the KHO handover, so:
 *
 *  - a kernel loaded with `kexec -c -l` before anything was preserved
 *    stays loaded, but once a memfd is preserved `kexec -e` fails (EBUSY)
 *    and the kernel log names the remedy (kexec_file_load, kexec -s);
 *  - `kexec -c -l` itself is refused while the memfd is preserved;
 *  - the system runs on with the memfd still preserved, and the harness's
 *    kexec_file_load kexec then carries it: stage 2 finds its contents at
 *    the same PFNs.
 */
#include "luo_test_utils.h"

#include <sys/klog.h>
#include <sys/wait.h>

#define SIZE		(8ULL << 20)
#define TOKEN		0x6b6c6f6164ULL		/* "kload" */
#define KEXEC_LOAD	"/sbin/kexec -c -l /boot/bzImage --command-line='console=ttyS0 panic=-1 kho=on'"

static const char *const refused_exec =
	"kexec refused: the kernel was loaded with kexec_load()";
static const char *const refused_load = "kexec_load() refused:";
static const char *const remedy = "kexec_file_load (kexec -s)";

/* How many lines of the kernel log contain @what. */
static int dmesg_count(const char *what)
{
	int len = klogctl(10, NULL, 0), n = 0;	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf, *p, *line;

	if (len <= 0)
		fail("klogctl size: %s", strerror(errno));
	buf = calloc(1, len + 1);
	if (!buf)
		fail("out of memory");
	len = klogctl(3, buf, len);		/* SYSLOG_ACTION_READ_ALL */
	if (len < 0)
		fail("klogctl read: %s", strerror(errno));
	for (line = buf; line && *line; line = p) {
		p = strchr(line, '\n');
		if (p)
			*p++ = '\0';
		n += !!strstr(line, what);
	}
	free(buf);
	return n;
}

/* Run @cmd through the shell; its exit status, or fail if it died. */
static int run(const char *cmd)
{
	int st = system(cmd);

	if (st < 0 || !WIFEXITED(st))
		fail("%s: did not exit (status %#x)", cmd, st);
	return WEXITSTATUS(st);
}

static int stage1(void)
{
	int dev, session, fd, st, n_exec, n_load;
	void *map;

	if (access("/sbin/kexec", X_OK))
		skip("no /sbin/kexec (kexec-tools) in the initramfs");
	dev = luo_open();
	n_exec = dmesg_count(refused_exec);
	n_load = dmesg_count(refused_load);

	/* nothing preserved yet: the old loader works */
	st = run(KEXEC_LOAD);
	if (st)
		fail("kexec -c -l with nothing preserved: exit status %d", st);
	msg("ok: kexec -c -l (kexec_load) with nothing preserved: loaded");

	session = luo_open_session(dev, "kexec-load", true);
	fd = memfd_create("luo-kexec-load", 0);
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "the memfd", false);

	/* the image loaded with kexec_load() must not boot now */
	st = run("/sbin/kexec -e");
	if (!st)
		fail("kexec -e returned 0 with a kexec_load() image and a memfd preserved");
	if (dmesg_count(refused_exec) != n_exec + 1 || !dmesg_count(remedy))
		fail("kexec -e failed (exit status %d) but the kernel log has no new \"%s ... %s\"",
		     st, refused_exec, remedy);
	msg("ok: kexec -e of the kexec_load() image refused: \"%s\", the log names %s",
	    refused_exec, remedy);

	/* and it cannot be loaded again either */
	st = run(KEXEC_LOAD);
	if (!st)
		fail("kexec -c -l succeeded with a memfd preserved");
	if (dmesg_count(refused_load) != n_load + 1)
		fail("kexec -c -l failed (exit status %d) but the kernel log has no new \"%s\"",
		     st, refused_load);
	msg("ok: kexec -c -l refused while a memfd is preserved: \"%s\"",
	    refused_load);

	/* still running, still preserved, contents as written */
	expect_err("preserve the memfd again (still in its session)",
		   luo_preserve_fd(session, fd, TOKEN + 1), EBUSY);
	map = luo_map(fd, SIZE);
	luo_verify("after the refused kexec", map, SIZE, 1, TOKEN);
	munmap(map, SIZE);
	msg("ok: the system runs on, the memfd is preserved and intact");
	close(fd);
	close(dev);
	/* the harness kexecs with kexec_file_load */
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd;
	void *map;

	dev = luo_open();
	session = expect_ok("retrieve session kexec-load",
			    luo_retrieve_session(dev, "kexec-load"));
	fd = expect_ok("retrieve the memfd", luo_retrieve_fd(session, TOKEN));
	expect_u64("size", SIZE, luo_fd_size(fd));
	map = luo_map(fd, SIZE);
	luo_verify("after kexec_file_load", map, SIZE, 1, TOKEN);
	luo_check_pfns("after kexec_file_load", map, SIZE);
	expect_ok("finish", luo_finish(session));
	msg("ok: the memfd came through the kexec_file_load kexec, at the same PFNs");
	munmap(map, SIZE);
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_kexec_load", LUO_STAGES(stage1, stage2));
}
