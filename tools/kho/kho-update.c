// SPDX-License-Identifier: GPL-2.0
/*
 * kho-update: drive a live kernel update on a KHO host.
 *
 *   kho-update load KERNEL INITRD CMDLINE  stage the next kernel (kexec_file_load)
 *                                          and record it in RUNDIR/staged
 *   kho-update finalize                    freeze the handover: sessions serialized,
 *                                          VMs made ready (they run on until the
 *                                          kexec); reports what the kernel handed
 *                                          over
 *   kho-update abort                       undo finalize (VMs run on) and unload
 *   kho-update kexec                       boot the loaded kernel, finalizing first
 *                                          if that was not done
 *   kho-update status                      KHO, staged kernel, finalized, preserved
 *                                          sessions and VMs, incoming, last update
 *   kho-update check [--kernel FILE [--initrd FILE]]
 *                                          can this host be updated now? Changes
 *                                          nothing (mounts, writes, loads nothing)
 *
 * --json, anywhere on the command line, makes every verb print exactly one
 * JSON object on stdout when it exits, failures and usage errors included;
 * the human lines then go to stderr. The members are described in
 * Documentation/kho/kho-update.rst, and those of status in
 * tools/kho/kho-update-status.schema.json.
 *
 * Exit status:
 *   0  done (check: the host can be updated now)
 *   1  the operation failed
 *   2  usage
 *   3  KHO is not available in this kernel (not built in, or booted
 *      with kho=off)
 *   4  check: the host cannot be updated now
 *
 * KHO is driven through /sys/kernel/kho (finalize, scratch areas, incoming;
 * see Documentation/ABI/testing/sysfs-kernel-kho), which works on a locked
 * down host and needs no debugfs. What the kernel says while finalizing is
 * read back from /dev/kmsg and shown. debugfs, where it is mounted and
 * readable, only adds detail to status and check: the sessions and VMs.
 * RUNDIR is $KHO_UPDATE_RUNDIR, or /run/kho-update.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <sys/klog.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>

#define EXIT_OK		0
#define EXIT_FAILED	1
#define EXIT_USAGE	2
#define EXIT_NO_KHO	3
#define EXIT_NOT_READY	4

#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __noreturn	__attribute__((noreturn))

#define DEBUGFS		"/sys/kernel/debug"
#define KHO_DIR		"/sys/kernel/kho"
#define KHO_ENABLED	KHO_DIR "/enabled"
#define KHO_FINALIZE	KHO_DIR "/finalize"
#define KHO_INCOMING	KHO_DIR "/incoming"
#define KHO_IN_FDT	DEBUGFS "/kho/in/fdt"
#define LU_SESSIONS	DEBUGFS "/liveupdate/sessions"
#define KVM_DEBUGFS	DEBUGFS "/kvm"
#define KEXEC_LOADED	"/sys/kernel/kexec_loaded"
#define BOOT_ID		"/proc/sys/kernel/random/boot_id"
#define RUNDIR		"/run/kho-update"
#define DEBUGFS_MAGIC	0x64626720
#define MiB		(1024.0 * 1024.0)

/* scratch-fits: the decompressed kernel, the initrd and room to boot */
#define SCRATCH_KERNEL_FACTOR	4
#define SCRATCH_SLACK		(32ULL << 20)

/* kernel log prefixes worth showing for an update */
static const char *const kmsg_prefixes[] = {
	"KHO: ", "liveupdate: ", "kvm-kho: ", "memfd-luo: ", NULL
};

static const char usage_text[] =
	"usage: kho-update [--json] load KERNEL INITRD CMDLINE\n"
	"       kho-update [--json] finalize | abort | kexec | status\n"
	"       kho-update [--json] check [--kernel FILE [--initrd FILE]]\n"
	"--json: print one JSON object on stdout, the human lines on stderr\n"
	"exit status: 0 done (check: the host can be updated now), 1 failed,\n"
	"             2 usage, 3 KHO not available, 4 check: cannot be updated now\n";

/* ----- output: human lines, and the one JSON object of --json ----- */

static bool json;
static FILE *hout;		/* human lines: stdout, or stderr with --json */
static const char *command;	/* the verb, for "command" */
static char errbuf[2048];	/* "error": what failures printed */
static void (*json_extra)(void);	/* the verb's own members */

struct strv {
	char **v;
	size_t n, cap;
};

static struct strv kmsgs;	/* "kernel_messages" */

static int finish(int code);

static void __printf(1, 2) say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(hout, fmt, ap);
	va_end(ap);
}

/* Print "LABEL:" padded to the status column, then the value. */
static void __printf(2, 3)
field(const char *label, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = fprintf(hout, "%s:", label);
	fprintf(hout, "%*s", n < 19 ? 19 - n : 1, "");
	va_start(ap, fmt);
	vfprintf(hout, fmt, ap);
	va_end(ap);
	fputc('\n', hout);
}

static void set_error_v(const char *fmt, va_list ap)
{
	size_t len = strlen(errbuf);

	if (len && len + 2 < sizeof(errbuf)) {
		memcpy(errbuf + len, "; ", 3);
		len += 2;
	}
	if (len < sizeof(errbuf))
		vsnprintf(errbuf + len, sizeof(errbuf) - len, fmt, ap);
}

static void __printf(1, 2) set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_v(fmt, ap);
	va_end(ap);
}

/* Report a failure on stderr and remember it for "error". */
static void fail_v(const char *fmt, va_list ap)
{
	va_list aq;

	fflush(hout);
	fprintf(stderr, "kho-update: ");
	va_copy(aq, ap);
	vfprintf(stderr, fmt, aq);
	va_end(aq);
	fputc('\n', stderr);
	set_error_v(fmt, ap);
}

static void __printf(1, 2) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(fmt, ap);
	va_end(ap);
}

static void __noreturn __printf(2, 3)
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(fmt, ap);
	va_end(ap);
	exit(finish(code));
}

static void __noreturn __printf(1, 2)
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(fmt, ap);
	va_end(ap);
	fputs(usage_text, stderr);
	exit(finish(EXIT_USAGE));
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "kho-update: out of memory\n");
		exit(EXIT_FAILED);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static void strv_add(struct strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? 2 * sv->cap : 16;
		sv->v = xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = xstrdup(s);
}

/*
 * A tiny JSON emitter, to stdout. Every value or key first calls j_sep(),
 * which writes the comma that separates it from the one before.
 */
#define J_MAX_DEPTH	16

static struct {
	int depth;
	bool first[J_MAX_DEPTH];
	bool keyed;		/* a key was written: its value comes next */
} js;

static void j_sep(void)
{
	if (js.keyed) {
		js.keyed = false;
		return;
	}
	if (js.depth > 0) {
		if (!js.first[js.depth - 1])
			putchar(',');
		js.first[js.depth - 1] = false;
	}
}

static void j_open(char c)
{
	j_sep();
	putchar(c);
	if (js.depth < J_MAX_DEPTH)
		js.first[js.depth] = true;
	js.depth++;
}

static void j_close(char c)
{
	js.depth--;
	putchar(c);
}

/* Length of the valid UTF-8 sequence at @s, or 0. */
static int utf8_len(const unsigned char *s)
{
	unsigned int cp;
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string: quote and backslash escaped, control characters and DEL
 * as \u00XX. UTF-8 passes through; a byte that is not part of valid UTF-8
 * is written as \u00XX too (read as Latin-1), so the output stays valid.
 */
static void j_quote(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		int n = utf8_len(s);

		if (*s == '"' || *s == '\\') {
			putchar('\\');
			putchar(*s++);
		} else if (*s < 0x20 || *s == 0x7f || !n) {
			printf("\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, stdout);
			s += n;
		}
	}
	putchar('"');
}

static void j_obj(void)
{
	j_open('{');
}

static void j_obj_end(void)
{
	j_close('}');
}

static void j_arr(void)
{
	j_open('[');
}

static void j_arr_end(void)
{
	j_close(']');
}

static void j_key(const char *key)
{
	j_sep();
	j_quote(key);
	putchar(':');
	js.keyed = true;
}

static void j_null(void)
{
	j_sep();
	fputs("null", stdout);
}

static void j_str(const char *s)
{
	if (!s) {
		j_null();
		return;
	}
	j_sep();
	j_quote(s);
}

static void j_int(long long v)
{
	j_sep();
	printf("%lld", v);
}

static void j_uint(unsigned long long v)
{
	j_sep();
	printf("%llu", v);
}

static void j_bool(bool v)
{
	j_sep();
	fputs(v ? "true" : "false", stdout);
}

static void jk_obj(const char *key)
{
	j_key(key);
	j_obj();
}

static void jk_arr(const char *key)
{
	j_key(key);
	j_arr();
}

static void jk_str(const char *key, const char *s)
{
	j_key(key);
	j_str(s);
}

static void jk_int(const char *key, long long v)
{
	j_key(key);
	j_int(v);
}

static void jk_uint(const char *key, unsigned long long v)
{
	j_key(key);
	j_uint(v);
}

/* An int, or null when @known is false. */
static void jk_int_or_null(const char *key, bool known, long long v)
{
	j_key(key);
	if (known)
		j_int(v);
	else
		j_null();
}

static void jk_bool(const char *key, bool v)
{
	j_key(key);
	j_bool(v);
}

/* The JSON object, with --json; returns @code for exit(). */
static int finish(int code)
{
	static bool done;
	size_t i;

	if (!json || done)
		return code;
	done = true;
	fflush(hout);
	if (code != EXIT_OK && !errbuf[0])
		set_error("%s", code == EXIT_USAGE ? "usage" : "failed");
	j_obj();
	jk_str("command", command);
	jk_bool("ok", code == EXIT_OK);
	jk_int("exit_code", code);
	jk_str("error", code != EXIT_OK ? errbuf : NULL);
	jk_arr("kernel_messages");
	for (i = 0; i < kmsgs.n; i++)
		j_str(kmsgs.v[i]);
	j_arr_end();
	if (json_extra)
		json_extra();
	j_obj_end();
	putchar('\n');
	fflush(stdout);
	return code;
}

/* ----- files ----- */

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

/* A whole file, NUL-terminated, in a new buffer; NULL and errno set on error. */
static char *read_all(const char *path, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = xrealloc(NULL, cap);
	for (;;) {
		if (cap - len < 2) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	err = errno;
	close(fd);
	if (n < 0) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[len] = 0;
	if (lenp)
		*lenp = len;
	return buf;
}

/* Whitespace-separated numbers (0x-hex or decimal); count or -errno. */
static int read_numbers(const char *path, unsigned long long **out)
{
	char *buf = read_all(path, NULL), *p, *end;
	unsigned long long *v = NULL;
	int n = 0;

	*out = NULL;
	if (!buf)
		return -errno;
	for (p = buf;; p = end) {
		unsigned long long x = strtoull(p, &end, 0);

		if (end == p)
			break;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = x;
	}
	free(buf);
	*out = v;
	return n;
}

/*
 * Is KHO built in and on? EXIT_OK, or EXIT_FAILED / EXIT_NO_KHO with the
 * reason in @why.
 */
static int kho_probe(char *why, size_t len)
{
	char buf[16];
	int n = read_small(KHO_ENABLED, buf, sizeof(buf));

	if (n == -ENOENT) {
		snprintf(why, len,
			 "this kernel has no KHO: no %s (CONFIG_KEXEC_HANDOVER)",
			 KHO_DIR);
		return EXIT_NO_KHO;
	}
	if (n < 0) {
		snprintf(why, len, "read %s: %s", KHO_ENABLED, strerror(-n));
		return EXIT_FAILED;
	}
	if (atoi(buf) != 1) {
		snprintf(why, len,
			 "KHO is off in this kernel (%s reads %.*s): boot it with kho=on",
			 KHO_ENABLED, (int)strcspn(buf, "\n"), buf);
		return EXIT_NO_KHO;
	}
	return EXIT_OK;
}

/* KHO, on, or exit. */
static void need_kho(void)
{
	char why[512];
	int code = kho_probe(why, sizeof(why));

	if (code)
		die(code, "%s", why);
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

/* ----- the staged kernel: RUNDIR/staged ----- */

struct staged {
	char *kernel, *initrd, *cmdline, *image_release;
	long long kernel_bytes, initrd_bytes;	/* -1: unknown */
};

static const char *rundir(void)
{
	const char *dir = getenv("KHO_UPDATE_RUNDIR");

	return dir && *dir ? dir : RUNDIR;
}

static char *staged_path(const char *suffix)
{
	char *path;

	if (asprintf(&path, "%s/staged%s", rundir(), suffix) < 0) {
		fprintf(stderr, "kho-update: out of memory\n");
		exit(EXIT_FAILED);
	}
	return path;
}

/* mkdir -p; the last component with @mode. 0 or an errno. */
static int mkdir_p(const char *dir, mode_t mode)
{
	char *path = xstrdup(dir), *p;
	int err = 0;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			err = errno;
		*p = '/';
		if (err)
			break;
	}
	if (!err && mkdir(path, mode) && errno != EEXIST)
		err = errno;
	free(path);
	return err;
}

/* key=value; a newline or backslash in the value as \n or \\ */
static void record_line(FILE *f, const char *key, const char *val)
{
	fprintf(f, "%s=", key);
	for (; val && *val; val++) {
		if (*val == '\n')
			fputs("\\n", f);
		else if (*val == '\\')
			fputs("\\\\", f);
		else
			fputc(*val, f);
	}
	fputc('\n', f);
}

static void record_unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] == 'n') {
			*d++ = '\n';
			s += 2;
		} else if (s[0] == '\\' && s[1] == '\\') {
			*d++ = '\\';
			s += 2;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

/* Write RUNDIR/staged, replacing it atomically; 0 or an errno. */
static int staged_write(const struct staged *st)
{
	char *path = staged_path(""), *tmp = staged_path(".tmp");
	int err, fd;
	FILE *f;

	err = mkdir_p(rundir(), 0700);
	if (err)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		goto out_unlink;
	}
	record_line(f, "kernel", st->kernel);
	record_line(f, "initrd", st->initrd);
	record_line(f, "cmdline", st->cmdline);
	fprintf(f, "kernel_bytes=%lld\n", st->kernel_bytes);
	fprintf(f, "initrd_bytes=%lld\n", st->initrd_bytes);
	record_line(f, "image_release", st->image_release);
	if (ferror(f))
		err = EIO;
	if (fclose(f) && !err)
		err = errno;
	if (!err && rename(tmp, path))
		err = errno;
out_unlink:
	if (err)
		unlink(tmp);
out:
	free(path);
	free(tmp);
	return err;
}

static void staged_remove(void)
{
	char *path = staged_path("");

	if (unlink(path) && errno != ENOENT)
		say("kho-update: note: cannot remove %s: %s\n", path, strerror(errno));
	free(path);
}

static long long parse_bytes(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	return v;
}

/* Read RUNDIR/staged into @st; false if there is none. */
static bool staged_read(struct staged *st)
{
	char *path = staged_path(""), *buf, *line, *save = NULL;

	buf = read_all(path, NULL);
	free(path);
	if (!buf)
		return false;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, '=');

		if (!val)
			continue;
		*val++ = 0;
		record_unescape(val);
		if (!strcmp(line, "kernel") && *val)
			st->kernel = xstrdup(val);
		else if (!strcmp(line, "initrd") && *val)
			st->initrd = xstrdup(val);
		else if (!strcmp(line, "cmdline"))
			st->cmdline = xstrdup(val);
		else if (!strcmp(line, "image_release") && *val)
			st->image_release = xstrdup(val);
		else if (!strcmp(line, "kernel_bytes"))
			st->kernel_bytes = parse_bytes(val);
		else if (!strcmp(line, "initrd_bytes"))
			st->initrd_bytes = parse_bytes(val);
	}
	free(buf);
	return true;
}

/*
 * The release string of an x86 bzImage: the setup header ("HdrS" at
 * 0x202) has at 0x20e the offset, less 0x200, of a NUL-terminated string
 * such as "6.12.117 (kho-v@qemu) #1 SMP ...". NULL if there is none.
 */
static char *image_release(int fd)
{
	unsigned char hdr[0x210];
	char buf[512];
	unsigned int off;
	ssize_t n;
	size_t len, i;

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return NULL;
	if (memcmp(hdr + 0x202, "HdrS", 4))
		return NULL;
	off = hdr[0x20e] | hdr[0x20f] << 8;
	if (!off)
		return NULL;
	n = pread(fd, buf, sizeof(buf) - 1, off + 0x200);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	len = strlen(buf);
	if (!len || len == (size_t)n)
		return NULL;	/* empty, or no NUL where one should be */
	for (i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return NULL;
	return xstrdup(buf);
}

/* ----- what the host looks like: gathered, never changed ----- */

struct lu_session {
	char *name;
	bool incoming;
	unsigned int files, vms, refused;
	bool done;		/* out: frozen; in: retrieved */
};

struct blackout {
	char *vm;
	unsigned int vcpus;
	unsigned long long max_us;
};

static struct host {
	bool gathered;
	struct utsname uts;
	char boot_id[64];
	bool have_boot_id;

	bool kho;		/* KHO is built in and on */
	int finalized;		/* 1, 0, or -errno */
	int nr_scratch;		/* -errno if unreadable */
	unsigned long long *scratch_phys, *scratch_len, scratch_bytes;

	int kexec_loaded;	/* 1, 0, -1 unknown */
	bool recorded;		/* RUNDIR/staged trusted */
	struct staged st;

	int lu_err;		/* reading LU_SESSIONS: 0 or an errno */
	struct lu_session *sess;
	size_t nr_sess;
	unsigned int out_sessions, out_files, out_vms, out_refused;
	unsigned int in_sessions, in_pending;
	char first_refused[512], first_pending[256];

	int kvm_err;		/* reading KVM_DEBUGFS: 0 or an errno */
	unsigned int running_vms;

	bool incoming;
	long long fdt_bytes;	/* -1: unknown */

	bool have_pages, have_map_us;
	unsigned long long pages_carried, map_check_us;
	struct blackout *bo;
	size_t nr_bo;
	struct strv klines;	/* the incoming handover's log lines */
} host;

static void gather_kernel(void)
{
	char buf[64];
	int n;

	if (uname(&host.uts))
		memset(&host.uts, 0, sizeof(host.uts));
	n = read_small(BOOT_ID, buf, sizeof(buf));
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = 0;
	if (n > 0) {
		memcpy(host.boot_id, buf, n + 1);
		host.have_boot_id = true;
	}
}

static void gather_kho(void)
{
	char buf[16], why[512];
	int n, m, i;

	host.kho = kho_probe(why, sizeof(why)) == EXIT_OK;
	host.finalized = 0;
	host.nr_scratch = 0;
	if (!host.kho)
		return;
	n = read_small(KHO_FINALIZE, buf, sizeof(buf));
	host.finalized = n < 0 ? n : atoi(buf) == 1;
	n = read_numbers(KHO_DIR "/scratch_phys", &host.scratch_phys);
	m = read_numbers(KHO_DIR "/scratch_len", &host.scratch_len);
	if (m < 0) {
		host.nr_scratch = m;
		return;
	}
	if (n < 0)
		n = 0;	/* sizes without addresses: still worth a sum */
	host.nr_scratch = m;
	for (i = 0; i < m; i++)
		host.scratch_bytes += host.scratch_len[i];
	if (n < m) {
		host.scratch_phys = xrealloc(host.scratch_phys,
					     m * sizeof(*host.scratch_phys));
		for (i = n; i < m; i++)
			host.scratch_phys[i] = 0;
	}
}

static void gather_staged(void)
{
	free(host.st.kernel);
	free(host.st.initrd);
	free(host.st.cmdline);
	free(host.st.image_release);
	memset(&host.st, 0, sizeof(host.st));
	host.st.kernel_bytes = -1;
	host.st.initrd_bytes = -1;
	host.kexec_loaded = kexec_loaded();
	host.recorded = host.kexec_loaded == 1 && staged_read(&host.st);
}

/* Undo seq_escape(): \ooo octal escapes. */
static void unescape_octal(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7' &&
		    (s[1] != '0' || s[2] != '0' || s[3] != '0')) {
			*d++ = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

static struct lu_session *lu_session(bool incoming, const char *name)
{
	struct lu_session *s;
	size_t i;

	for (i = 0; i < host.nr_sess; i++) {
		s = &host.sess[i];
		if (s->incoming == incoming && !strcmp(s->name, name))
			return s;
	}
	host.sess = xrealloc(host.sess, (host.nr_sess + 1) * sizeof(*host.sess));
	s = &host.sess[host.nr_sess++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->incoming = incoming;
	return s;
}

/*
 * liveupdate/sessions, one line each:
 *   session out|in NAME NR_FILES open|frozen|pending|retrieved
 *   file out|in NAME TOKEN HANDLER ok|refused|pending|retrieved
 * Lines of any other shape (a later format) are skipped.
 */
static void parse_sessions(char *buf)
{
	char *line, *save = NULL;
	size_t i;

	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[7], *tok, *save2 = NULL;
		struct lu_session *s;
		bool in;
		int n = 0;

		for (tok = strtok_r(line, " \t", &save2); tok && n < 7;
		     tok = strtok_r(NULL, " \t", &save2))
			f[n++] = tok;
		if (n < 5 || (strcmp(f[1], "in") && strcmp(f[1], "out")))
			continue;
		in = !strcmp(f[1], "in");
		unescape_octal(f[2]);
		if (n == 5 && !strcmp(f[0], "session")) {
			s = lu_session(in, f[2]);
			s->files = strtoul(f[3], NULL, 10);
			s->done = !strcmp(f[4], in ? "retrieved" : "frozen");
		} else if (n == 6 && !strcmp(f[0], "file")) {
			s = lu_session(in, f[2]);
			if (!strncmp(f[4], "kvm-vm", 6))
				s->vms++;
			if (!in && !strcmp(f[5], "refused")) {
				if (!host.out_refused)
					snprintf(host.first_refused, sizeof(host.first_refused),
						 "session %s, token %s (%s)", f[2], f[3], f[4]);
				s->refused++;
				host.out_refused++;
			}
		}
	}
	for (i = 0; i < host.nr_sess; i++) {
		struct lu_session *s = &host.sess[i];

		if (s->incoming) {
			host.in_sessions++;
			if (!s->done && !host.in_pending++)
				snprintf(host.first_pending, sizeof(host.first_pending),
					 "%s", s->name);
		} else {
			host.out_sessions++;
			host.out_files += s->files;
			host.out_vms += s->vms;
		}
	}
}

static void gather_sessions(void)
{
	char *buf = read_all(LU_SESSIONS, NULL);

	host.lu_err = buf ? 0 : errno;
	if (buf)
		parse_sessions(buf);
	free(buf);
}

/*
 * KVM makes a debugfs directory "PID-NAME" per VM: NAME is the VM fd's
 * number for KVM_CREATE_VM, "khoN" for a VM that Live Update rebuilt.
 */
static bool vm_dir_name(const char *s)
{
	const char *p = s;

	while (*p >= '0' && *p <= '9')
		p++;
	return p != s && p[0] == '-' && p[1];
}

static void gather_vms(void)
{
	DIR *d = opendir(KVM_DEBUGFS);
	struct dirent *de;

	host.running_vms = 0;
	host.kvm_err = 0;
	if (!d) {
		if (errno != ENOENT)
			host.kvm_err = errno;
		return;
	}
	while ((de = readdir(d)))
		if (vm_dir_name(de->d_name))
			host.running_vms++;
	closedir(d);
}

/* The text of a syslog(2) line: without "<6>" and "[    1.234567] ". */
static char *log_text(char *line)
{
	char *p = line, *q;

	if (*p == '<') {
		q = p + 1;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q > p + 1 && *q == '>')
			p = q + 1;
	}
	if (*p == '[') {
		q = strstr(p, "] ");
		if (q)
			p = q + 2;
	}
	return p;
}

static void note_resume(const char *t)
{
	const char *id = t + strlen("kvm-kho: "), *colon = strchr(id, ':');
	unsigned long long us;
	struct blackout *b;
	char vm[64];
	size_t i, len;
	int vcpu;

	if (!colon || colon == id || (size_t)(colon - id) >= sizeof(vm))
		return;
	len = colon - id;
	if (memchr(id, ' ', len))
		return;
	if (sscanf(colon + 1, " vCPU %d resumed, %llu us after it was stopped",
		   &vcpu, &us) != 2)
		return;
	memcpy(vm, id, len);
	vm[len] = 0;
	for (i = 0; i < host.nr_bo; i++)
		if (!strcmp(host.bo[i].vm, vm))
			break;
	if (i == host.nr_bo) {
		host.bo = xrealloc(host.bo, (host.nr_bo + 1) * sizeof(*host.bo));
		b = &host.bo[host.nr_bo++];
		b->vm = xstrdup(vm);
		b->vcpus = 0;
		b->max_us = 0;
	}
	b = &host.bo[i];
	b->vcpus++;
	if (us > b->max_us)
		b->max_us = us;
}

/*
 * The boot's kernel log (syslog READ_ALL): the handover lines to show,
 * the incoming memory map and each vCPU's blackout.
 */
static void gather_klog(void)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n;
	char *log, *line, *save = NULL;

	if (size <= 0)
		size = 1 << 20;
	log = xrealloc(NULL, size + 1);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, size);
	if (n <= 0) {
		free(log);
		return;
	}
	log[n] = 0;
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *t = log_text(line);
		const char *p;

		if (!strncmp(t, "KHO: handover accepted", 22) ||
		    !strncmp(t, "KHO: incoming map", 17) ||
		    !strncmp(t, "liveupdate: incoming session", 28) ||
		    (!strncmp(t, "KHO: ", 5) && strstr(t, "handover")))
			strv_add(&host.klines, t);
		if (!strncmp(t, "KHO: incoming map: ", 19)) {
			p = strchr(t, '(');
			if (p && sscanf(p, "(%llu pages)", &host.pages_carried) == 1)
				host.have_pages = true;
			p = strstr(t, " reserved in ");
			if (p && sscanf(p, " reserved in %llu us", &host.map_check_us) == 1)
				host.have_map_us = true;
		}
		if (!strncmp(t, "kvm-kho: ", 9))
			note_resume(t);
	}
	free(log);
}

static void gather_incoming(void)
{
	char buf[4096];
	long long total = 0;
	ssize_t r;
	int fd;

	host.incoming = read_small(KHO_INCOMING, buf, sizeof(buf)) > 0 &&
			atoi(buf) == 1;
	host.fdt_bytes = -1;
	if (!host.incoming)
		return;
	/* the tree's size, where debugfs shows it */
	fd = open(KHO_IN_FDT, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			total += r;
		if (!r)
			host.fdt_bytes = total;
		close(fd);
	}
	gather_klog();
}

/* Everything status and check look at; mounts nothing, changes nothing. */
static void gather_all(void)
{
	if (host.gathered)
		return;
	host.gathered = true;
	gather_kernel();
	gather_kho();
	gather_staged();
	gather_sessions();
	gather_vms();
	gather_incoming();
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
	bool quiesced;
	unsigned long pages;
	bool have_sessions, have_pages;
	bool ran, ok;		/* finalize was attempted; it succeeded */
};

static struct summary fin;	/* finalize's, for --json */

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
		say("  kernel: %s\n", text);
		strv_add(&kmsgs, text);
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
				s->quiesced = true;
			}
			q = strstr(text, " ready for the kexec: ");
			if (!strncmp(text, "kvm-kho: VM ", 12) && q &&
			    sscanf(q, " ready for the kexec: %u vCPUs", &a) == 1) {
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
	struct summary *s = &fin;
	int kmsg = kmsg_open(), err;

	memset(s, 0, sizeof(*s));
	say("kho-update: finalizing the handover\n");
	fflush(hout);
	s->ran = true;
	err = write_finalize("1");
	kmsg_show(kmsg, s);
	if (kmsg >= 0)
		close(kmsg);
	if (err) {
		fail("finalize failed: %s (%s)", strerror(err), finalize_hint(err));
		return err;
	}
	s->ok = true;
	say("kho-update: finalized:");
	if (s->have_sessions)
		say(" %u session%s with %u file%s handed over,", s->sessions,
		    s->sessions == 1 ? "" : "s", s->files,
		    s->files == 1 ? "" : "s");
	else
		say(" no Live Update sessions,");
	if (s->vms)
		say(" %u VM%s %s (%u vCPU%s),", s->vms, s->vms == 1 ? "" : "s",
		    s->quiesced ? "quiesced" : "ready, running until the kexec",
		    s->vcpus, s->vcpus == 1 ? "" : "s");
	if (s->have_pages)
		say(" %lu pages (%lu MiB) preserved", s->pages, s->pages >> 8);
	say("\n");
	fflush(hout);
	return 0;
}

static void finalize_json(void)
{
	/* no "handing over" line after a successful finalize: no sessions */
	bool sessions = fin.have_sessions || fin.ok;

	jk_int_or_null("sessions", sessions, fin.sessions);
	jk_int_or_null("files", sessions, fin.files);
	jk_int_or_null("vms", fin.ran, fin.vms);
	jk_int_or_null("vcpus", fin.ran, fin.vcpus);
	jk_int_or_null("pages", fin.have_pages, fin.pages);
}

static int cmd_finalize(void)
{
	need_kho();
	if (kho_finalized()) {
		say("kho-update: already finalized\n");
		return EXIT_OK;
	}
	if (kexec_loaded() == 0)
		say("kho-update: note: no kernel is loaded yet (kho-update load)\n");
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
		fail("unfreeze failed: %s%s", strerror(err),
		     err == EBUSY ? " (a kexec reboot already began)" : "");
	else
		say("kho-update: handover unfrozen: VMs run on, sessions can change again\n");
	return err;
}

static int unload(void)
{
	if (syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, KEXEC_FILE_UNLOAD)) {
		int err = errno;

		fail("unloading the next kernel: %s", strerror(err));
		return err;
	}
	staged_remove();
	say("kho-update: next kernel unloaded\n");
	return 0;
}

static struct {
	bool unfrozen, unloaded;
} aborted;

static void abort_json(void)
{
	jk_bool("unfrozen", aborted.unfrozen);
	jk_bool("unloaded", aborted.unloaded);
}

static int cmd_abort(void)
{
	int ret = EXIT_OK, did = 0;

	need_kho();
	if (kho_finalized()) {
		did++;
		if (unfreeze())
			ret = EXIT_FAILED;
		else
			aborted.unfrozen = true;
	}
	if (kexec_loaded() == 1) {
		did++;
		if (unload())
			ret = EXIT_FAILED;
		else
			aborted.unloaded = true;
	}
	if (!did)
		say("kho-update: nothing to abort: not finalized, no kernel loaded\n");
	return ret;
}

/* ----- load / kexec ----- */

static void emit_staged(void)
{
	const struct staged *st = &host.st;

	jk_obj("staged");
	jk_bool("loaded", host.kexec_loaded == 1);
	jk_str("kernel", st->kernel);
	jk_str("initrd", st->initrd);
	jk_str("cmdline", st->cmdline);
	jk_int_or_null("kernel_bytes", st->kernel_bytes >= 0, st->kernel_bytes);
	jk_int_or_null("initrd_bytes", st->initrd_bytes >= 0, st->initrd_bytes);
	jk_str("image_release", st->image_release);
	j_obj_end();
}

static void load_json(void)
{
	gather_staged();
	emit_staged();
}

static char *abs_path(const char *path)
{
	char *abs = realpath(path, NULL);

	return abs ? abs : xstrdup(path);
}

static int cmd_load(const char *kernel, const char *initrd, const char *cmdline)
{
	struct staged rec;
	struct stat ks, is;
	char why[512];
	int kfd, ifd, err;

	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0)
		die(EXIT_FAILED, "open kernel %s: %s", kernel, strerror(errno));
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (ifd < 0)
		die(EXIT_FAILED, "open initrd %s: %s", initrd, strerror(errno));
	if (fstat(kfd, &ks))
		die(EXIT_FAILED, "stat kernel %s: %s", kernel, strerror(errno));
	if (fstat(ifd, &is))
		die(EXIT_FAILED, "stat initrd %s: %s", initrd, strerror(errno));
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
		    0UL)) {
		err = errno;
		die(EXIT_FAILED, "kexec_file_load: %s%s", strerror(err),
		    err == EPERM ? " (needs root; under lockdown, a kernel signed with a key this kernel trusts)" :
		    err == ENOSPC ? " (it would not boot inside the scratch areas: see the kernel log)" :
		    err == ENOEXEC ? " (not a bootable kernel image)" :
		    err == EBUSY ? " (a kexec is in progress)" :
		    err == EKEYREJECTED ? " (signature rejected)" : "");
	}
	rec.kernel = abs_path(kernel);
	rec.initrd = abs_path(initrd);
	rec.cmdline = (char *)cmdline;
	rec.kernel_bytes = ks.st_size;
	rec.initrd_bytes = is.st_size;
	rec.image_release = image_release(kfd);
	close(kfd);
	close(ifd);
	say("kho-update: loaded %s (%lld KiB) and %s (%lld KiB)\n", kernel,
	    (long long)ks.st_size >> 10, initrd, (long long)is.st_size >> 10);
	say("kho-update: command line: %s\n", cmdline);
	err = staged_write(&rec);
	if (err) {
		char *path = staged_path("");

		say("kho-update: note: cannot record the staged kernel in %s: %s\n",
		    path, strerror(err));
		free(path);
	}
	free(rec.kernel);
	free(rec.initrd);
	free(rec.image_release);
	if (kho_probe(why, sizeof(why)) != EXIT_OK)
		say("kho-update: note: nothing will be handed over: %s\n", why);
	return EXIT_OK;
}

static int cmd_kexec(void)
{
	bool finalized_here = false;
	int kfd;

	need_kho();
	if (kexec_loaded() != 1)
		die(EXIT_FAILED,
		    "no kernel is loaded: run kho-update load KERNEL INITRD CMDLINE first");
	if (!kho_finalized()) {
		if (do_finalize())
			return EXIT_FAILED;
		finalized_here = true;
	}
	say("kho-update: rebooting into the loaded kernel\n");
	fflush(hout);
	fflush(stdout);
	sync();
	/* what the kernel says if it refuses, after quiescing went wrong */
	kfd = kmsg_open();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	fail("reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
	if (errno == EBUSY)
		fprintf(stderr,
			"kho-update: the kernel could not stop a VM or file for the kexec (see the kernel log); the VMs run on\n");
	if (kfd >= 0) {
		kmsg_show(kfd, NULL);
		close(kfd);
	}
	if (finalized_here) {
		/* do not leave the VMs frozen behind a failed kexec */
		unfreeze();
	} else {
		fflush(hout);
		fprintf(stderr,
			"kho-update: the handover is still finalized: kho-update abort lets the VMs run on\n");
	}
	return EXIT_FAILED;
}

/* ----- status ----- */

/* The outgoing or the incoming sessions, as an array under KEY. */
static void emit_sessions(const char *key, bool incoming)
{
	size_t i;

	jk_arr(key);
	for (i = 0; i < host.nr_sess; i++) {
		const struct lu_session *s = &host.sess[i];

		if (s->incoming != incoming)
			continue;
		j_obj();
		jk_str("name", s->name);
		jk_uint("files", s->files);
		jk_uint("vms", s->vms);
		if (incoming) {
			jk_bool("retrieved", s->done);
		} else {
			jk_bool("frozen", s->done);
			jk_uint("refused", s->refused);
		}
		j_obj_end();
	}
	j_arr_end();
}

static void status_json(void)
{
	size_t i;
	int j;

	gather_all();
	jk_int("format", 1);

	jk_obj("kernel");
	jk_str("release", host.uts.release);
	jk_str("version", host.uts.version);
	jk_str("boot_id", host.have_boot_id ? host.boot_id : NULL);
	j_obj_end();

	jk_obj("kho");
	jk_bool("enabled", host.kho);
	jk_bool("finalized", host.finalized == 1);
	jk_arr("scratch");
	for (j = 0; j < host.nr_scratch; j++) {
		j_obj();
		jk_uint("phys", host.scratch_phys[j]);
		jk_uint("bytes", host.scratch_len[j]);
		j_obj_end();
	}
	j_arr_end();
	jk_uint("scratch_bytes", host.scratch_bytes);
	j_obj_end();

	emit_staged();

	jk_obj("preserved");
	jk_uint("sessions", host.out_sessions);
	jk_uint("files", host.out_files);
	jk_uint("vms", host.out_vms);
	emit_sessions("list", false);
	j_obj_end();

	jk_obj("vms");
	jk_uint("running", host.running_vms);
	jk_uint("preserved", host.out_vms);
	j_obj_end();

	jk_obj("incoming");
	jk_bool("present", host.incoming);
	jk_int_or_null("fdt_bytes", host.fdt_bytes >= 0, host.fdt_bytes);
	emit_sessions("sessions", true);
	j_obj_end();

	j_key("last_update");
	if (!host.incoming) {
		j_null();
		return;
	}
	j_obj();
	jk_int_or_null("pages_carried", host.have_pages, host.pages_carried);
	jk_int_or_null("map_check_us", host.have_map_us, host.map_check_us);
	jk_arr("vms");
	for (i = 0; i < host.nr_bo; i++) {
		j_obj();
		jk_str("vm", host.bo[i].vm);
		jk_uint("vcpus", host.bo[i].vcpus);
		j_key("blackout_ms");
		j_sep();
		printf("%.1f", host.bo[i].max_us / 1000.0);
		j_obj_end();
	}
	j_arr_end();
	j_obj_end();
}

static const char *plural(unsigned long long n)
{
	return n == 1 ? "" : "s";
}

/* A string for a human line: control characters as \\ooo. */
static const char *printable(const char *str, char *buf, size_t len)
{
	size_t n = 0;

	for (; *str && n + 5 < len; str++) {
		unsigned char c = *str;

		if (c < 0x20 || c == 0x7f)
			n += snprintf(buf + n, len - n, "\\%03o", c);
		else
			buf[n++] = c;
	}
	buf[n] = 0;
	return buf;
}

static void status_staged(void)
{
	const struct staged *st = &host.st;
	char buf[PATH_MAX + 64];

	if (host.kexec_loaded != 1)
		return;
	if (!host.recorded) {
		field("  image", "unknown: not loaded by kho-update");
		return;
	}
	printable(st->kernel ?: "?", buf, sizeof(buf));
	if (st->kernel_bytes >= 0)
		field("  image", "%s (%lld KiB), %s", buf, st->kernel_bytes >> 10,
		      st->image_release ?: "release unknown");
	else
		field("  image", "%s, %s", buf, st->image_release ?: "release unknown");
	printable(st->initrd ?: "?", buf, sizeof(buf));
	if (st->initrd_bytes >= 0)
		field("  initrd", "%s (%lld KiB)", buf, st->initrd_bytes >> 10);
	else
		field("  initrd", "%s", buf);
	if (st->cmdline)
		field("  command line", "%s", printable(st->cmdline, buf, sizeof(buf)));
}

static void status_preserved(void)
{
	size_t i;

	if (host.lu_err == ENOENT) {
		field("preserved", "unknown: no %s", LU_SESSIONS);
	} else if (host.lu_err) {
		field("preserved", "unknown: %s: %s", LU_SESSIONS, strerror(host.lu_err));
	} else if (!host.out_sessions) {
		field("preserved", "no Live Update sessions");
	} else {
		field("preserved", "%u session%s, %u file%s, %u VM%s", host.out_sessions,
		      plural(host.out_sessions), host.out_files, plural(host.out_files),
		      host.out_vms, plural(host.out_vms));
	}
	for (i = 0; i < host.nr_sess; i++) {
		const struct lu_session *s = &host.sess[i];
		char label[300], name[256], refused[64] = "";

		if (s->incoming)
			continue;
		snprintf(label, sizeof(label), "  session %s",
			 printable(s->name, name, sizeof(name)));
		if (s->refused)
			snprintf(refused, sizeof(refused), ", %u file%s REFUSED",
				 s->refused, plural(s->refused));
		field(label, "%u file%s, %u VM%s, %s%s", s->files, plural(s->files),
		      s->vms, plural(s->vms), s->done ? "frozen" : "open", refused);
	}
	if (host.kvm_err)
		field("running VMs", "unknown: %s: %s", KVM_DEBUGFS, strerror(host.kvm_err));
	else
		field("running VMs", "%u, %u of them preserved", host.running_vms,
		      host.out_vms);
}

static void status_incoming(void)
{
	size_t i;

	if (host.fdt_bytes >= 0)
		say("incoming handover: yes, state tree of %lld bytes\n", host.fdt_bytes);
	else
		say("incoming handover: yes, state tree unreadable\n");
	for (i = 0; i < host.klines.n; i++)
		say("  kernel: %s\n", host.klines.v[i]);
	for (i = 0; i < host.nr_sess; i++) {
		const struct lu_session *s = &host.sess[i];
		char label[300], name[256];

		if (!s->incoming)
			continue;
		snprintf(label, sizeof(label), "  session %s",
			 printable(s->name, name, sizeof(name)));
		field(label, "%u file%s, %u VM%s, %s", s->files, plural(s->files),
		      s->vms, plural(s->vms), s->done ? "retrieved" : "PENDING");
	}
	if (host.have_pages && host.have_map_us)
		field("last update", "%llu pages (%llu MiB) carried, map checked in %llu us",
		      host.pages_carried, host.pages_carried >> 8, host.map_check_us);
	else if (host.have_map_us)
		field("last update", "map checked in %llu us", host.map_check_us);
	else
		field("last update", "no figures in the kernel log");
	for (i = 0; i < host.nr_bo; i++) {
		char label[80];

		snprintf(label, sizeof(label), "  VM %s", host.bo[i].vm);
		field(label, "%u vCPU%s resumed, blackout %.1f ms", host.bo[i].vcpus,
		      plural(host.bo[i].vcpus), host.bo[i].max_us / 1000.0);
	}
}

static int cmd_status(void)
{
	char why[512];
	int code = kho_probe(why, sizeof(why)), j;

	if (code) {
		if (!json)
			die(code, "%s", why);
		fail("%s", why);
	}
	gather_all();
	kmsgs = host.klines;	/* what status shows as kernel lines */
	if (host.kho && host.finalized < 0) {
		fail("read %s: %s", KHO_FINALIZE, strerror(-host.finalized));
		if (!json)
			return EXIT_FAILED;
		code = EXIT_FAILED;
	}
	if (json)
		return code;
	say("KHO:               enabled");
	if (host.nr_scratch >= 0) {
		say(", scratch areas:");
		for (j = 0; j < host.nr_scratch; j++)
			say(" %llu MiB", host.scratch_len[j] >> 20);
		if (!host.nr_scratch)
			say(" none");
	}
	say("\n");
	say("next kernel:       %s\n", host.kexec_loaded == 1 ? "loaded" :
	    host.kexec_loaded == 0 ? "not loaded" : "unknown (no " KEXEC_LOADED ")");
	status_staged();
	say("finalized:         %s\n", host.finalized == 1 ?
	    "yes: sessions frozen, VMs stopped at the kexec (kho-update abort to undo)" : "no");
	say("Live Update:       %s\n", exists("/dev/liveupdate") ?
	    "/dev/liveupdate" : "no /dev/liveupdate");
	status_preserved();
	if (host.incoming)
		status_incoming();
	else
		say("incoming handover: no\n");
	return EXIT_OK;
}

/* ----- check ----- */

#define NR_CHECKS	7

static struct check {
	const char *name;
	bool ok;
	char detail[600];
} checks[NR_CHECKS];
static unsigned int nr_checks;
static bool ready;

static void __printf(3, 4)
check_result(const char *name, bool ok, const char *fmt, ...)
{
	struct check *c = &checks[nr_checks++];
	va_list ap;

	c->name = name;
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	say("%s %s: %s\n", ok ? "ok  " : "FAIL", name, c->detail);
}

static void check_json(void)
{
	unsigned int i;

	jk_bool("ready", ready);
	jk_arr("checks");
	for (i = 0; i < nr_checks; i++) {
		j_obj();
		jk_str("name", checks[i].name);
		jk_bool("ok", checks[i].ok);
		jk_str("detail", checks[i].detail);
		j_obj_end();
	}
	j_arr_end();
}

/* Why debugfs cannot be read, or NULL. Mounts nothing. */
static const char *debugfs_problem(char *buf, size_t len)
{
	struct statfs sf;

	if (statfs(DEBUGFS, &sf) || sf.f_type != DEBUGFS_MAGIC) {
		snprintf(buf, len, "debugfs is not mounted at %s", DEBUGFS);
		return buf;
	}
	if (access(DEBUGFS, R_OK | X_OK)) {
		snprintf(buf, len, "%s: %s", DEBUGFS, strerror(errno));
		return buf;
	}
	return NULL;
}

static bool is_passthrough(const char *target)
{
	return !strncmp(target, "/dev/vfio/", 10) || !strcmp(target, "/dev/iommu") ||
	       !strncmp(target, "/dev/iommu ", 11);
}

/*
 * The first process holding /dev/vfio/... or /dev/iommu open, described in
 * @found; false if none. Processes whose fds we may not read are counted in
 * @denied; processes and fds that vanish meanwhile are skipped.
 */
static bool find_passthrough(char *found, size_t len, unsigned int *denied)
{
	DIR *proc = opendir("/proc"), *fds;
	struct dirent *pe, *fe;
	char path[300], target[PATH_MAX];
	bool hit = false;

	*denied = 0;
	if (!proc)
		return false;
	while (!hit && (pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds) {
			if (errno == EACCES || errno == EPERM)
				(*denied)++;
			continue;
		}
		while ((fe = readdir(fds))) {
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			n = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = 0;
			if (is_passthrough(target)) {
				char comm[64] = "?";
				int c;

				snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
				c = read_small(path, comm, sizeof(comm));
				if (c > 0 && comm[c - 1] == '\n')
					comm[c - 1] = 0;
				snprintf(found, len, "pid %s (%s) holds %s open", pe->d_name,
					 c > 0 ? comm : "?", target);
				hit = true;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return hit;
}

static void check_scratch(bool kho, const char *kernel, long long kernel_bytes,
			  long long initrd_bytes)
{
	char buf[PATH_MAX + 64];
	unsigned long long need;

	if (!kernel) {
		if (host.kexec_loaded == 1)
			check_result("scratch-fits", true,
				     "no kernel staged by kho-update (one loaded by another tool: its size is unknown)");
		else
			check_result("scratch-fits", true, "no kernel staged");
		return;
	}
	if (!kho) {
		check_result("scratch-fits", false, "not checked: the kho check failed");
		return;
	}
	if (host.nr_scratch < 0) {
		check_result("scratch-fits", false, "cannot read %s/scratch_len: %s",
			     KHO_DIR, strerror(-host.nr_scratch));
		return;
	}
	need = SCRATCH_KERNEL_FACTOR * (unsigned long long)kernel_bytes +
	       (initrd_bytes > 0 ? initrd_bytes : 0) + SCRATCH_SLACK;
	check_result("scratch-fits", need <= host.scratch_bytes,
		     "%s needs %.1f MiB of scratch (4 x kernel + initrd + 32 MiB), the scratch areas hold %.1f MiB",
		     printable(kernel, buf, sizeof(buf)), need / MiB, host.scratch_bytes / MiB);
}

static int cmd_check(const char *kernel, const char *initrd)
{
	char why[512], dbgbuf[256], found[PATH_MAX + 512], names[256] = "";
	long long kernel_bytes = -1, initrd_bytes = 0;
	const char *dbg, *staged = NULL;
	unsigned int denied, failed = 0, i;
	int kho;
	struct stat st;

	if (kernel) {
		if (stat(kernel, &st))
			die(EXIT_FAILED, "stat kernel %s: %s", kernel, strerror(errno));
		kernel_bytes = st.st_size;
	}
	if (initrd) {
		if (stat(initrd, &st))
			die(EXIT_FAILED, "stat initrd %s: %s", initrd, strerror(errno));
		initrd_bytes = st.st_size;
	}
	kho = kho_probe(why, sizeof(why));
	dbg = debugfs_problem(dbgbuf, sizeof(dbgbuf));
	gather_all();

	if (kho == EXIT_OK)
		check_result("kho", true, "KHO is enabled, %d scratch area%s of %.1f MiB in all",
			     host.nr_scratch > 0 ? host.nr_scratch : 0,
			     plural(host.nr_scratch > 0 ? host.nr_scratch : 0),
			     host.scratch_bytes / MiB);
	else
		check_result("kho", false, "%s", why);

	if (kho != EXIT_OK)
		check_result("not-finalized", false, "not checked: the kho check failed");
	else if (host.finalized < 0)
		check_result("not-finalized", false, "read %s: %s", KHO_FINALIZE,
			     strerror(-host.finalized));
	else if (host.finalized)
		check_result("not-finalized", false,
			     "the handover is finalized: an update is under way (kho-update abort undoes it)");
	else
		check_result("not-finalized", true, "the handover is not finalized");

	if (dbg)
		check_result("incoming-done", false, "not checked: %s", dbg);
	else if (host.lu_err && host.lu_err != ENOENT)
		check_result("incoming-done", false, "read %s: %s", LU_SESSIONS,
			     strerror(host.lu_err));
	else if (host.in_pending)
		check_result("incoming-done", false,
			     "%u of %u incoming session%s not retrieved yet (first: %s): a VM of the last update is not restored",
			     host.in_pending, host.in_sessions, plural(host.in_sessions),
			     host.first_pending);
	else if (host.in_sessions)
		check_result("incoming-done", true, "all %u incoming session%s retrieved",
			     host.in_sessions, plural(host.in_sessions));
	else if (host.lu_err == ENOENT && host.incoming)
		check_result("incoming-done", true,
			     "no incoming sessions known (this kernel has no %s)", LU_SESSIONS);
	else
		check_result("incoming-done", true, "no incoming sessions");

	if (dbg)
		check_result("vms-preserved", false, "not checked: %s", dbg);
	else if (host.kvm_err)
		check_result("vms-preserved", false, "read %s: %s", KVM_DEBUGFS,
			     strerror(host.kvm_err));
	else if (host.lu_err && host.lu_err != ENOENT)
		check_result("vms-preserved", false, "read %s: %s", LU_SESSIONS,
			     strerror(host.lu_err));
	else
		check_result("vms-preserved", host.running_vms <= host.out_vms,
			     "%u VMs running, %u preserved in Live Update sessions",
			     host.running_vms, host.out_vms);

	if (dbg)
		check_result("nothing-refused", false, "not checked: %s", dbg);
	else if (host.lu_err && host.lu_err != ENOENT)
		check_result("nothing-refused", false, "read %s: %s", LU_SESSIONS,
			     strerror(host.lu_err));
	else if (host.out_refused)
		check_result("nothing-refused", false, "%u file%s refused, first: %s",
			     host.out_refused, plural(host.out_refused), host.first_refused);
	else
		check_result("nothing-refused", true,
			     "no outgoing file refused (%u file%s in %u session%s)",
			     host.out_files, plural(host.out_files), host.out_sessions,
			     plural(host.out_sessions));

	if (find_passthrough(found, sizeof(found), &denied))
		check_result("no-passthrough", false,
			     "%s: IOMMU and VFIO state is not carried across an update", found);
	else if (denied)
		check_result("no-passthrough", true,
			     "no process holds /dev/vfio/* or /dev/iommu open (%u process%s not inspected: permission denied)",
			     denied, denied == 1 ? "" : "es");
	else
		check_result("no-passthrough", true,
			     "no process holds /dev/vfio/* or /dev/iommu open");

	if (!kernel && host.recorded && host.st.kernel_bytes >= 0) {
		staged = host.st.kernel ?: "the staged kernel";
		kernel_bytes = host.st.kernel_bytes;
		initrd_bytes = host.st.initrd_bytes;
	}
	check_scratch(kho == EXIT_OK, kernel ?: staged, kernel_bytes, initrd_bytes);

	for (i = 0; i < nr_checks; i++) {
		if (checks[i].ok)
			continue;
		if (failed++)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, checks[i].name, sizeof(names) - strlen(names) - 1);
	}
	ready = !failed;
	if (ready) {
		say("ready: this host can be updated now\n");
		return EXIT_OK;
	}
	say("not ready: %u of %u checks failed (%s)\n", failed, nr_checks, names);
	set_error("not ready: %u of %u checks failed (%s)", failed, nr_checks, names);
	return EXIT_NOT_READY;
}

/* ----- the command line ----- */

/* "--opt VALUE" or "--opt=VALUE" at args[*i]; the value, or NULL. */
static const char *option(char **args, int n, int *i, const char *opt)
{
	size_t len = strlen(opt);

	if (strncmp(args[*i], opt, len))
		return NULL;
	if (args[*i][len] == '=')
		return args[*i] + len + 1;
	if (args[*i][len])
		return NULL;
	if (*i + 1 >= n)
		usage_error("%s needs a FILE", opt);
	return args[++*i];
}

int main(int argc, char **argv)
{
	char **args = xrealloc(NULL, argc * sizeof(*args));
	const char *kernel = NULL, *initrd = NULL, *v;
	bool dashdash = false;
	int n = 0, i;

	for (i = 1; i < argc; i++) {
		if (!dashdash && !strcmp(argv[i], "--")) {
			dashdash = true;
			continue;
		}
		if (!dashdash && !strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		args[n++] = argv[i];
	}
	/* with --json, stdout carries the JSON object alone */
	hout = json ? stderr : stdout;
	setvbuf(stdout, NULL, json ? _IOFBF : _IOLBF, 0);
	if (!n)
		usage_error("no command given");

	if (!strcmp(args[0], "load")) {
		command = "load";
		json_extra = load_json;
		if (n != 4)
			usage_error("load takes KERNEL INITRD CMDLINE");
		return finish(cmd_load(args[1], args[2], args[3]));
	}
	if (!strcmp(args[0], "check")) {
		command = "check";
		json_extra = check_json;
		for (i = 1; i < n; i++) {
			v = option(args, n, &i, "--kernel");
			if (v) {
				kernel = v;
				continue;
			}
			v = option(args, n, &i, "--initrd");
			if (v) {
				initrd = v;
				continue;
			}
			usage_error("check: unexpected argument '%s'", args[i]);
		}
		if (initrd && !kernel)
			usage_error("check: --initrd needs --kernel");
		return finish(cmd_check(kernel, initrd));
	}
	if (!strcmp(args[0], "finalize")) {
		command = "finalize";
		json_extra = finalize_json;
	} else if (!strcmp(args[0], "abort")) {
		command = "abort";
		json_extra = abort_json;
	} else if (!strcmp(args[0], "kexec")) {
		command = "kexec";
	} else if (!strcmp(args[0], "status")) {
		command = "status";
		json_extra = status_json;
	} else {
		usage_error("unknown command '%s'", args[0]);
	}
	if (n != 1)
		usage_error("%s takes no arguments", command);
	if (!strcmp(command, "finalize"))
		return finish(cmd_finalize());
	if (!strcmp(command, "abort"))
		return finish(cmd_abort());
	if (!strcmp(command, "kexec"))
		return finish(cmd_kexec());
	return finish(cmd_status());
}
