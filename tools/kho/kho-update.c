// SPDX-License-Identifier: GPL-2.0
/*
 * kho-update: drive a live kernel update on a KHO host.
 *
 *   kho-update load KERNEL INITRD CMDLINE  stage the next kernel (kexec_file_load)
 *   kho-update finalize                    freeze the handover: VMs are quiesced,
 *                                          sessions serialized; reports what the
 *                                          kernel handed over
 *   kho-update abort                       undo finalize (VMs run on) and unload
 *   kho-update kexec                       boot the loaded kernel, finalizing first
 *                                          if that was not done
 *   kho-update status                      KHO, loaded kernel, finalized, incoming
 *
 * Exit status: 0 done, 1 the operation failed, 2 usage, 3 KHO is not
 * available in this kernel (not built in, booted with kho=off, or no
 * debugfs).
 *
 * The handover is finalized through debugfs (kho/out/finalize, see
 * Documentation/kho/params.rst); what the kernel says while it does so is
 * read back from /dev/kmsg and shown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#define EXIT_OK		0
#define EXIT_FAILED	1
#define EXIT_USAGE	2
#define EXIT_NO_KHO	3

#define DEBUGFS		"/sys/kernel/debug"
#define KHO_DIR		DEBUGFS "/kho"
#define KHO_FINALIZE	KHO_DIR "/out/finalize"
#define KEXEC_LOADED	"/sys/kernel/kexec_loaded"
#define DEBUGFS_MAGIC	0x64626720

/* kernel log prefixes worth showing for an update */
static const char *const kmsg_prefixes[] = {
	"KHO: ", "liveupdate: ", "kvm-kho: ", "memfd-luo: ", NULL
};

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kho-update: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static bool exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

/* Read a small file; returns the length or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = 0;
	close(fd);
	return n;
}

/* KHO's debugfs directory, mounting debugfs if nobody did. */
static void need_kho(void)
{
	struct statfs sf;

	struct stat st;

	if (!stat(KHO_DIR, &st))
		return;
	if (errno == EACCES)
		die(EXIT_FAILED, "%s: %s (KHO's controls are root's)", KHO_DIR,
		    strerror(errno));
	if (statfs(DEBUGFS, &sf) || sf.f_type != DEBUGFS_MAGIC) {
		if (mount("debugfs", DEBUGFS, "debugfs", 0, NULL) && errno != EBUSY)
			die(EXIT_NO_KHO, "debugfs is not mounted at %s and mounting it failed: %s",
			    DEBUGFS, strerror(errno));
	}
	if (!exists(KHO_DIR))
		die(EXIT_NO_KHO, "KHO is not enabled in this kernel: no %s (boot with kho=on, CONFIG_KEXEC_HANDOVER)",
		    KHO_DIR);
}

static int kho_finalized(void)
{
	char buf[16];
	int n = read_small(KHO_FINALIZE, buf, sizeof(buf));

	if (n < 0)
		die(EXIT_FAILED, "read %s: %s", KHO_FINALIZE, strerror(-n));
	return atoi(buf) == 1;
}

static int kexec_loaded(void)
{
	char buf[16];

	if (read_small(KEXEC_LOADED, buf, sizeof(buf)) < 0)
		return -1;
	return atoi(buf) == 1;
}

/* ----- the kernel log around an operation ----- */

/* /dev/kmsg positioned after the last record: what comes next is ours. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

struct summary {
	unsigned int sessions, files, vms, vcpus;
	unsigned long pages;
	bool have_sessions, have_pages;
};

/* Print the new kernel messages from our prefixes; note the figures. */
static void kmsg_show(int fd, struct summary *s)
{
	char rec[2048];
	ssize_t n;

	if (fd < 0)
		return;
	for (;;) {
		const char *text, *const *p;
		char *nl;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten: skip ahead */
		if (n <= 0)
			break;
		rec[n] = 0;
		text = strchr(rec, ';');	/* "prio,seq,time,flags;text\n" */
		if (!text)
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = 0;
		for (p = kmsg_prefixes; *p; p++)
			if (!strncmp(text, *p, strlen(*p)))
				break;
		if (!*p)
			continue;
		printf("  kernel: %s\n", text);
		if (s) {
			unsigned int a, b;
			unsigned long pages;
			const char *q;

			if (sscanf(text, "liveupdate: handing over %u sessions with %u files",
				   &a, &b) == 2) {
				s->sessions = a;
				s->files = b;
				s->have_sessions = true;
			}
			if (sscanf(text, "kvm-kho: VM quiesced: %u vCPUs", &a) == 1) {
				s->vms++;
				s->vcpus += a;
			}
			q = strstr(text, " pages preserved");
			if (!strncmp(text, "KHO: finalized in ", 18) && q) {
				while (q > text && q[-1] >= '0' && q[-1] <= '9')
					q--;
				if (sscanf(q, "%lu", &pages) == 1) {
					s->pages = pages;
					s->have_pages = true;
				}
			}
		}
	}
}

/* ----- finalize / abort ----- */

static const char *finalize_hint(int err)
{
	switch (err) {
	case EEXIST:	return "already finalized";
	case EBUSY:	return "a vCPU or file is busy; try again, or see the kernel log";
	case E2BIG:	return "the state tree does not fit kho/out/fdt_max";
	case ENOMEM:	return "out of memory";
	case EOPNOTSUPP: return "KHO is disabled in this kernel";
	default:	return "a driver refused; see the kernel messages above";
	}
}

static int write_finalize(const char *val)
{
	int fd = open(KHO_FINALIZE, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, val, strlen(val)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* Finalize; 0 or an errno (already reported). */
static int do_finalize(void)
{
	struct summary s = { 0 };
	int kmsg = kmsg_open(), err;

	printf("kho-update: finalizing the handover\n");
	fflush(stdout);
	err = write_finalize("1");
	kmsg_show(kmsg, &s);
	if (kmsg >= 0)
		close(kmsg);
	if (err) {
		fprintf(stderr, "kho-update: finalize failed: %s (%s)\n",
			strerror(err), finalize_hint(err));
		return err;
	}
	printf("kho-update: finalized:");
	if (s.have_sessions)
		printf(" %u session%s with %u file%s handed over,", s.sessions,
		       s.sessions == 1 ? "" : "s", s.files,
		       s.files == 1 ? "" : "s");
	else
		printf(" no Live Update sessions,");
	if (s.vms)
		printf(" %u VM%s quiesced (%u vCPU%s),", s.vms,
		       s.vms == 1 ? "" : "s", s.vcpus, s.vcpus == 1 ? "" : "s");
	if (s.have_pages)
		printf(" %lu pages (%lu MiB) preserved", s.pages, s.pages >> 8);
	printf("\n");
	fflush(stdout);
	return 0;
}

static int cmd_finalize(void)
{
	need_kho();
	if (kho_finalized()) {
		printf("kho-update: already finalized\n");
		return EXIT_OK;
	}
	if (kexec_loaded() == 0)
		printf("kho-update: note: no kernel is loaded yet (kho-update load)\n");
	return do_finalize() ? EXIT_FAILED : EXIT_OK;
}

static int unfreeze(void)
{
	int kmsg = kmsg_open(), err;

	err = write_finalize("0");
	kmsg_show(kmsg, NULL);
	if (kmsg >= 0)
		close(kmsg);
	if (err)
		fprintf(stderr, "kho-update: unfreeze failed: %s%s\n", strerror(err),
			err == EBUSY ? " (a kexec reboot already began)" : "");
	else
		printf("kho-update: handover unfrozen: VMs run on, sessions can change again\n");
	return err;
}

static int unload(void)
{
	if (syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, KEXEC_FILE_UNLOAD)) {
		fprintf(stderr, "kho-update: unloading the next kernel: %s\n",
			strerror(errno));
		return errno;
	}
	printf("kho-update: next kernel unloaded\n");
	return 0;
}

static int cmd_abort(void)
{
	int ret = EXIT_OK, did = 0;

	need_kho();
	if (kho_finalized()) {
		did++;
		if (unfreeze())
			ret = EXIT_FAILED;
	}
	if (kexec_loaded() == 1) {
		did++;
		if (unload())
			ret = EXIT_FAILED;
	}
	if (!did)
		printf("kho-update: nothing to abort: not finalized, no kernel loaded\n");
	return ret;
}

/* ----- load / kexec ----- */

static int cmd_load(const char *kernel, const char *initrd, const char *cmdline)
{
	int kfd, ifd;
	struct stat ks, is;

	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0)
		die(EXIT_FAILED, "open kernel %s: %s", kernel, strerror(errno));
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (ifd < 0)
		die(EXIT_FAILED, "open initrd %s: %s", initrd, strerror(errno));
	fstat(kfd, &ks);
	fstat(ifd, &is);
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
		    0UL)) {
		int err = errno;

		die(EXIT_FAILED, "kexec_file_load: %s%s", strerror(err),
		    err == EPERM ? " (needs root and no lockdown)" :
		    err == ENOEXEC ? " (not a bootable kernel image)" :
		    err == EBUSY ? " (a kexec is in progress)" :
		    err == EKEYREJECTED ? " (signature rejected)" : "");
	}
	close(kfd);
	close(ifd);
	printf("kho-update: loaded %s (%lld KiB) and %s (%lld KiB)\n", kernel,
	       (long long)ks.st_size >> 10, initrd, (long long)is.st_size >> 10);
	printf("kho-update: command line: %s\n", cmdline);
	if (!exists(KHO_DIR))
		printf("kho-update: note: KHO is not active here: nothing will be handed over\n");
	return EXIT_OK;
}

static int cmd_kexec(void)
{
	bool finalized_here = false;

	need_kho();
	if (kexec_loaded() != 1)
		die(EXIT_FAILED, "no kernel is loaded: run kho-update load KERNEL INITRD CMDLINE first");
	if (!kho_finalized()) {
		if (do_finalize())
			return EXIT_FAILED;
		finalized_here = true;
	}
	printf("kho-update: rebooting into the loaded kernel\n");
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	fprintf(stderr, "kho-update: reboot(LINUX_REBOOT_CMD_KEXEC): %s\n",
		strerror(errno));
	if (finalized_here) {
		/* do not leave the VMs frozen behind a failed kexec */
		unfreeze();
	} else {
		fprintf(stderr, "kho-update: the handover is still finalized: kho-update abort lets the VMs run on\n");
	}
	return EXIT_FAILED;
}

/* ----- status ----- */

static void show_incoming(void)
{
	static char log[1 << 20];
	int n = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *line, *save = NULL;

	if (n <= 0 || n > (int)sizeof(log))
		n = sizeof(log);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, n);
	if (n <= 0)
		return;
	log[n < (int)sizeof(log) ? n : (int)sizeof(log) - 1] = 0;
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *t = strstr(line, "] ");

		t = t ? t + 2 : line;
		if (!strncmp(t, "KHO: handover accepted", 22) ||
		    !strncmp(t, "KHO: incoming map", 17) ||
		    !strncmp(t, "liveupdate: incoming session", 28) ||
		    (!strncmp(t, "KHO: ", 5) && strstr(t, "handover")))
			printf("  kernel: %s\n", t);
	}
}

static int cmd_status(void)
{
	char buf[256];
	int loaded = kexec_loaded(), n;

	need_kho();
	printf("KHO:               enabled");
	n = read_small(KHO_DIR "/out/scratch_len", buf, sizeof(buf));
	if (n > 0) {
		char *p = buf, *end;
		int count = 0;

		printf(", scratch areas:");
		for (;;) {
			unsigned long long len = strtoull(p, &end, 0);

			if (end == p)
				break;
			printf(" %llu MiB", len >> 20);
			count++;
			p = end;
		}
		if (!count)
			printf(" none");
	}
	printf("\n");
	printf("next kernel:       %s\n", loaded == 1 ? "loaded" :
	       loaded == 0 ? "not loaded" : "unknown (no " KEXEC_LOADED ")");
	printf("finalized:         %s\n", kho_finalized() ?
	       "yes: VMs quiesced, sessions frozen (kho-update abort to undo)" : "no");
	printf("Live Update:       %s\n", exists("/dev/liveupdate") ?
	       "/dev/liveupdate" : "no /dev/liveupdate");
	if (exists(KHO_DIR "/in/fdt")) {
		int fd = open(KHO_DIR "/in/fdt", O_RDONLY | O_CLOEXEC);
		long total = 0;
		ssize_t r;

		while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
			total += r;
		if (fd >= 0)
			close(fd);
		printf("incoming handover: yes, state tree of %ld bytes\n", total);
		show_incoming();
	} else {
		printf("incoming handover: no\n");
	}
	return EXIT_OK;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: kho-update load KERNEL INITRD CMDLINE\n"
		"       kho-update finalize | abort | kexec | status\n"
		"exit status: 0 done, 1 failed, 2 usage, 3 KHO not available\n");
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "load") && argc == 5)
		return cmd_load(argv[2], argv[3], argv[4]);
	if (argc != 2)
		usage();
	if (!strcmp(argv[1], "finalize"))
		return cmd_finalize();
	if (!strcmp(argv[1], "abort"))
		return cmd_abort();
	if (!strcmp(argv[1], "kexec"))
		return cmd_kexec();
	if (!strcmp(argv[1], "status"))
		return cmd_status();
	usage();
}
