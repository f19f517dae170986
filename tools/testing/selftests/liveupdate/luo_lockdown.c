// SPDX-License-Identifier: GPL-2.0
/*
 * A live update on a host in lockdown, as a Secure Boot host runs: booted
 * with lockdown=integrity, KEXEC_SIG and a kernel signed with a key the
 * running kernel trusts (the build's module signing key).
 *
 * Stage 1 checks that lockdown is really on (securityfs says integrity,
 * debugfs refuses the KHO finalize write), preserves a memfd, and has
 * kho-update stage kernels: the unsigned bzImage is refused (EPERM, the
 * message says why), the signed one loads and is unloaded again by
 * `kho-update abort`. It finalizes with kho-update (sysfs) and asks the
 * harness to kexec into the signed image.
 *
 * Stage 2, still in lockdown: the memfd comes back intact at its PFNs.
 */
#include "luo_test_utils.h"

#include <sys/mount.h>

#define SIZE		(4ULL << 20)
#define TOKEN		0x6c6f636bULL		/* "lock" */
#define SESSION		"lockdown"
#define SIGNED		"/boot/bzImage.signed"
#define UNSIGNED	"/boot/bzImage"
#define LOCKDOWN	"/sys/kernel/security/lockdown"
#define KEXEC_LOADED	"/sys/kernel/kexec_loaded"

static char *read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		fail("open %s: %s", path, strerror(errno));
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

/* Lockdown must be on, at integrity level: else this tests nothing. */
static void expect_lockdown(void)
{
	char buf[128];
	int fd;

	if (mount("securityfs", "/sys/kernel/security", "securityfs", 0,
		  NULL) && errno != EBUSY)
		fail("mount securityfs: %s", strerror(errno));
	if (!strstr(read_line(LOCKDOWN, buf, sizeof(buf)), "[integrity]"))
		fail("%s reads \"%s\": not locked down (lockdown=integrity?)",
		     LOCKDOWN, buf);
	fd = open("/sys/kernel/debug/kho/out/finalize", O_WRONLY);
	if (fd >= 0 || errno != EPERM)
		fail("debugfs kho/out/finalize opened for writing: %s, expected EPERM under lockdown",
		     fd >= 0 ? "allowed" : strerror(errno));
	msg("ok: %s: %s; debugfs refuses the finalize write (EPERM)",
	    LOCKDOWN, buf);
}

/* Run @cmd; its exit status, and what it printed (stdout, stderr) in @out. */
static int run(const char *cmd, char *out, size_t len)
{
	char full[512];

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	return luo_run(full, out, len);
}

static void expect_loaded(int want)
{
	char buf[16];

	if (atoi(read_line(KEXEC_LOADED, buf, sizeof(buf))) != want)
		fail("%s reads %s, expected %d", KEXEC_LOADED, buf, want);
}

static int stage1(void)
{
	static char out[8192];
	char cmd[256];
	int dev, session, fd, st;
	FILE *f;

	if (access(SIGNED, R_OK))
		skip("no %s: this kernel is not built with KEXEC_BZIMAGE_VERIFY_SIG",
		     SIGNED);
	expect_lockdown();

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	fd = memfd_create("luo-lockdown", 0);
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "the memfd", false);

	/* any small file will do as the initrd of a load that is refused */
	snprintf(cmd, sizeof(cmd),
		 "kho-update load %s /init 'console=ttyS0 kho=on'", UNSIGNED);
	st = run(cmd, out, sizeof(out));
	if (st != 1 || !strstr(out, "Operation not permitted") ||
	    !strstr(out, "signed"))
		fail("%s: exit status %d, expected 1 with EPERM and a word on signing: %s",
		     cmd, st, out);
	expect_loaded(0);
	msg("ok: the unsigned kernel is refused: %.*s", (int)strcspn(out, "\n"),
	    out);

	snprintf(cmd, sizeof(cmd),
		 "kho-update load %s /init 'console=ttyS0 kho=on'", SIGNED);
	st = run(cmd, out, sizeof(out));
	if (st)
		fail("%s: exit status %d: %s", cmd, st, out);
	expect_loaded(1);
	st = run("kho-update abort", out, sizeof(out));
	if (st)
		fail("kho-update abort: exit status %d: %s", st, out);
	expect_loaded(0);
	msg("ok: the signed kernel loads, and kho-update abort unloads it");

	st = run("kho-update finalize", out, sizeof(out));
	if (st)
		fail("kho-update finalize: exit status %d: %s", st, out);
	msg("ok: kho-update finalize under lockdown");

	/* the harness kexecs into the signed kernel (harness/init) */
	f = fopen("kexec-image", "w");
	if (!f || fputs(SIGNED, f) < 0 || fclose(f))
		fail("write kexec-image: %s", strerror(errno));
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session;

	expect_lockdown();
	dev = luo_open();
	session = luo_retrieve_memfd_back(dev, SESSION, TOKEN, SIZE,
					  "after the signed kexec");
	expect_ok("finish", luo_finish(session));
	msg("ok: through a signed kexec in lockdown, the memfd came back intact at its PFNs");
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_lockdown", LUO_STAGES(stage1, stage2));
}
