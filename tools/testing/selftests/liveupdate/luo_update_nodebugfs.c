// SPDX-License-Identifier: GPL-2.0
/*
 * A live update on a host without debugfs, as on a Secure Boot host in
 * lockdown: /sys/kernel/kho and kho-update do it all.
 *
 * Stage 1 unmounts debugfs and keeps it unmounted. It checks what
 * /sys/kernel/kho shows on a cold boot, preserves a memfd in a session,
 * and checks the finalize file: a write without CAP_SYS_ADMIN is refused
 * (EPERM), a value that is not a boolean too (EINVAL), and neither
 * changes anything. Then `kho-update status`, `finalize` (the session
 * freezes: a new preserve is EBUSY), `abort` (it thaws) and `finalize`
 * again, each of which must succeed without mounting debugfs. The
 * harness kexecs.
 *
 * Stage 2, with debugfs unmounted again: /sys/kernel/kho says a handover
 * came in and is not finalized, `kho-update status` agrees, and the memfd
 * comes back with its contents at the same PFNs.
 */
#include "luo_test_utils.h"

#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define SIZE		(4ULL << 20)
#define TOKEN		0x6e6f646267ULL		/* "nodbg" */
#define SESSION		"nodebugfs"
#define DEBUGFS		"/sys/kernel/debug"
#define DEBUGFS_MAGIC	0x64626720
#define KHO		"/sys/kernel/kho/"

static bool debugfs_mounted(void)
{
	struct statfs sf;

	return !statfs(DEBUGFS, &sf) && sf.f_type == DEBUGFS_MAGIC;
}

/* The harness mounts debugfs at boot: take it away, and check it is gone. */
static void unmount_debugfs(void)
{
	if (debugfs_mounted() && umount2(DEBUGFS, MNT_DETACH))
		fail("umount %s: %s", DEBUGFS, strerror(errno));
	if (debugfs_mounted())
		fail("debugfs is still mounted at %s", DEBUGFS);
}

static void expect_no_debugfs(const char *after)
{
	if (debugfs_mounted())
		fail("debugfs was mounted again after %s", after);
}

/* The first line of a /sys/kernel/kho file, without its newline. */
static char *kho_read(const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), KHO "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	if (n < 0)
		fail("read %s: %s", path, strerror(errno));
	buf[n] = 0;
	close(fd);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static void expect_kho(const char *name, const char *want)
{
	char buf[64];

	if (strcmp(kho_read(name, buf, sizeof(buf)), want))
		fail("%s%s reads \"%s\", expected \"%s\"", KHO, name, buf, want);
}

/* Write @val to the finalize file; 0 or the errno of the write. */
static int write_finalize(const char *val)
{
	int fd = open(KHO "finalize", O_WRONLY), err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, val, strlen(val)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* In a child without CAP_SYS_ADMIN (still uid 0): the write's errno. */
static int finalize_without_cap(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];
	int st;
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid) {
		if (syscall(SYS_capget, &hdr, data))
			_exit(100);
		data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &=
			~CAP_TO_MASK(CAP_SYS_ADMIN);
		if (syscall(SYS_capset, &hdr, data))
			_exit(101);
		_exit(write_finalize("1"));
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		fail("the child without CAP_SYS_ADMIN did not exit");
	if (WEXITSTATUS(st) >= 100)
		fail("the child could not drop CAP_SYS_ADMIN (%d)",
		     WEXITSTATUS(st));
	return WEXITSTATUS(st);
}

static void kho_update(const char *verb, const char *want_json)
{
	static char out[65536];
	char cmd[128];
	int st;

	snprintf(cmd, sizeof(cmd), "kho-update --json %s", verb);
	st = luo_run(cmd, out, sizeof(out));
	if (st)
		fail("%s: exit status %d: %.400s", cmd, st, out);
	if (want_json && !strstr(out, want_json))
		fail("%s: no %s in its output: %.600s", cmd, want_json, out);
	expect_no_debugfs(cmd);
	msg("ok: %s%s%s", cmd, want_json ? ": " : "", want_json ? want_json : "");
}

static int stage1(void)
{
	unsigned long long total = 0;
	char buf[512], *p;
	int dev, session, fd, n = 0, err, other;

	unmount_debugfs();
	expect_kho("enabled", "1");
	expect_kho("finalize", "0");
	expect_kho("incoming", "0");
	kho_read("scratch_len", buf, sizeof(buf));
	for (p = buf; *p; n++)
		total += strtoull(p, &p, 0);
	if (!n || !total)
		fail("%sscratch_len lists %d areas of %llu bytes", KHO, n, total);
	kho_read("boot_alloc", buf, sizeof(buf));
	if (!strtoull(buf, NULL, 0))
		fail("%sboot_alloc reads %s", KHO, buf);
	msg("ok: %s: enabled, not finalized, no incoming handover; scratch: %d area(s), %llu MiB",
	    KHO, n, total >> 20);

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	fd = memfd_create("luo-nodebugfs", 0);
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd: %s", strerror(errno));
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "the memfd", false);

	err = finalize_without_cap();
	if (err != EPERM)
		fail("finalize without CAP_SYS_ADMIN: %s, expected EPERM",
		     err ? strerror(err) : "done");
	err = write_finalize("x");
	if (err != EINVAL)
		fail("writing \"x\" to finalize: %s, expected EINVAL",
		     err ? strerror(err) : "done");
	expect_kho("finalize", "0");
	msg("ok: finalize refused without CAP_SYS_ADMIN (EPERM) and for \"x\" (EINVAL)");

	kho_update("status", "\"kho\":{\"enabled\":true,\"finalized\":false");
	kho_update("finalize", NULL);
	expect_kho("finalize", "1");
	other = memfd_create("luo-nodebugfs-late", 0);
	if (other < 0 || ftruncate(other, 4096))
		fail("memfd: %s", strerror(errno));
	expect_err("preserve while finalized", luo_preserve_fd(session, other,
							       TOKEN + 1),
		   EBUSY);
	kho_update("status", "\"kho\":{\"enabled\":true,\"finalized\":true");
	kho_update("abort", NULL);
	expect_kho("finalize", "0");
	expect_ok("preserve after abort", luo_preserve_fd(session, other,
							  TOKEN + 1));
	kho_update("finalize", NULL);
	expect_kho("finalize", "1");
	msg("ok: finalized, aborted and finalized again with debugfs unmounted");
	close(other);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session;

	unmount_debugfs();
	expect_kho("enabled", "1");
	expect_kho("incoming", "1");
	expect_kho("finalize", "0");
	kho_update("status", "\"incoming\":{\"present\":true");

	dev = luo_open();
	session = luo_retrieve_memfd_back(dev, SESSION, TOKEN, SIZE,
					  "after the update");
	close(expect_ok("retrieve the late memfd",
			luo_retrieve_fd(session, TOKEN + 1)));
	expect_ok("finish", luo_finish(session));
	msg("ok: %sincoming reads 1; the memfd came back intact, at its PFNs",
	    KHO);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_update_nodebugfs",
			LUO_STAGES(stage1, stage2));
}
