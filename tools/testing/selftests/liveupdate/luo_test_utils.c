// SPDX-License-Identifier: GPL-2.0
/*
 * The Live Update test library: see luo_test_utils.h. Linked into every
 * test of this directory, and into the KVM Live Update tests, the demo
 * VMM and the benchmarks.
 */
#define _GNU_SOURCE	/* memfd_create() */
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <time.h>
#include <sys/wait.h>

#include "luo_test_utils.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

/* The test and stage luo_test() runs, for the verdict of fail()/skip(). */
static const char *stage_name;
static int stage_nr;
static pid_t stage_pid;

/* "ok"/"not ok" for the stage, once, from the test process only. */
static void stage_verdict(int rc)
{
	if (stage_name && getpid() == stage_pid) {
		if (rc == EXIT_KEXEC)
			printf("ok %d %s: stage %d # kexec for stage %d\n",
			       stage_nr, stage_name, stage_nr, stage_nr + 1);
		else if (rc == EXIT_PASS)
			printf("ok %d %s: stage %d\n", stage_nr, stage_name,
			       stage_nr);
		else if (rc == EXIT_SKIP)
			printf("ok %d %s: stage %d # SKIP\n", stage_nr,
			       stage_name, stage_nr);
		else
			printf("not ok %d %s: stage %d\n", stage_nr,
			       stage_name, stage_nr);
		stage_name = NULL;
	}
	fflush(stdout);
}

void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	stage_verdict(EXIT_FAIL);
	exit(EXIT_FAIL);
}

void skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	stage_verdict(EXIT_SKIP);
	exit(EXIT_SKIP);
}

/* ret is 0/-errno style (or an fd): check it is the expected -errno. */
void expect_err(const char *what, long ret, int err)
{
	if (ret != -err)
		fail("%s: expected %s (%d), got %ld (%s)", what, strerror(err),
		     -err, ret, ret < 0 ? strerror((int)-ret) : "success");
	printf("ok: %s -> %s\n", what, strerror(err));
}

long expect_ok(const char *what, long ret)
{
	if (ret < 0)
		fail("%s: expected success, got %s", what,
		     strerror((int)-ret));
	printf("ok: %s\n", what);
	return ret;
}

void expect_u64(const char *what, uint64_t want, uint64_t got)
{
	if (want != got)
		fail("%s: expected %#" PRIx64 ", got %#" PRIx64, what, want,
		     got);
	printf("ok: %s = %#" PRIx64 "\n", what, got);
}

/* ----- raw ioctls, 0 or an fd on success, -errno on failure ----- */

int luo_open(void)
{
	int fd = open(LUO_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		skip("no %s: kernel without CONFIG_LIVEUPDATE or kho=off",
		     LUO_DEV);
	if (fd < 0)
		fail("open %s: %s", LUO_DEV, strerror(errno));
	return fd;
}

int luo_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int luo_create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session arg = {
		.size = sizeof(arg),
		.fd = -1,
	};
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

int luo_retrieve_session(int dev, const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = {
		.size = sizeof(arg),
		.fd = -1,
	};
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = luo_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

int luo_open_session(int dev, const char *name, bool create)
{
	int fd = create ? luo_create_session(dev, name) :
			  luo_retrieve_session(dev, name);

	if (fd < 0)
		fail("%s session \"%s\": %s", create ? "create" : "retrieve",
		     name, strerror(-fd));
	return fd;
}

int luo_preserve_fd(int session, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd arg = {
		.size = sizeof(arg),
		.fd = fd,
		.token = token,
	};

	return luo_ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &arg);
}

int luo_retrieve_fd(int session, uint64_t token)
{
	struct liveupdate_session_retrieve_fd arg = {
		.size = sizeof(arg),
		.fd = -1,
		.token = token,
	};
	int ret;

	ret = luo_ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg);
	return ret ? ret : arg.fd;
}

int luo_finish(int session)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return luo_ioctl(session, LIVEUPDATE_SESSION_FINISH, &arg);
}

/* ----- memfd contents ----- */

static uint64_t luo_rand(uint64_t *state)
{
	/* xorshift64*: fast enough to fill a GiB under TCG */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}

static uint64_t luo_checksum_step(uint64_t sum, uint64_t word)
{
	return (sum ^ word) * 0x100000001b3ULL;
}

/*
 * Fill @map (the whole memfd of @size bytes, mapped) with a header and a
 * pattern from @seed; the header carries what stage 2 checks against.
 */
void luo_fill(void *map, uint64_t size, uint64_t seed, uint64_t gen,
	      uint64_t token)
{
	struct luo_test_header *h = map;
	uint64_t *w = (uint64_t *)((char *)map + LUO_TEST_DATA_OFF);
	uint64_t n = (size - LUO_TEST_DATA_OFF) / 8, i, state = seed | 1;
	uint64_t sum = 0xcbf29ce484222325ULL;

	for (i = 0; i < n; i++) {
		w[i] = luo_rand(&state);
		sum = luo_checksum_step(sum, w[i]);
	}
	h->seed = seed;
	h->size = size;
	h->gen = gen;
	h->token = token;
	h->checksum = sum;
	h->magic = LUO_TEST_MAGIC;
}

/* Check what luo_fill() wrote; fails the test on any difference. */
void luo_verify(const char *what, const void *map, uint64_t size,
		uint64_t gen, uint64_t token)
{
	const struct luo_test_header *h = map;
	const uint64_t *w;
	uint64_t n, i, state, sum = 0xcbf29ce484222325ULL, want;

	if (h->magic != LUO_TEST_MAGIC)
		fail("%s: header magic: expected %#llx, got %#" PRIx64, what,
		     LUO_TEST_MAGIC, h->magic);
	if (h->size != size)
		fail("%s: size in header: expected %" PRIu64 ", got %" PRIu64,
		     what, size, h->size);
	if (h->gen != gen || h->token != token)
		fail("%s: generation/token: expected %" PRIu64 "/%#" PRIx64
		     ", got %" PRIu64 "/%#" PRIx64, what, gen, token, h->gen,
		     h->token);
	w = (const uint64_t *)((const char *)map + LUO_TEST_DATA_OFF);
	n = (size - LUO_TEST_DATA_OFF) / 8;
	state = h->seed | 1;
	for (i = 0; i < n; i++) {
		want = luo_rand(&state);
		if (w[i] != want)
			fail("%s: word at offset %#" PRIx64 ": expected %#"
			     PRIx64 ", got %#" PRIx64, what,
			     LUO_TEST_DATA_OFF + i * 8, want, w[i]);
		sum = luo_checksum_step(sum, w[i]);
	}
	if (sum != h->checksum)
		fail("%s: checksum: expected %#" PRIx64 ", got %#" PRIx64,
		     what, h->checksum, sum);
	printf("ok: %s: %" PRIu64 " bytes of pattern intact (gen %" PRIu64
	       ")\n", what, size, gen);
}

void *luo_map(int fd, uint64_t size)
{
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);

	if (map == MAP_FAILED)
		fail("mmap of %" PRIu64 " bytes: %s", size, strerror(errno));
	return map;
}

uint64_t luo_fd_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		fail("fstat: %s", strerror(errno));
	return st.st_size;
}

uint64_t luo_seed(void)
{
	uint64_t seed = 0;
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
	if (fd >= 0)
		close(fd);
	return seed;
}

/* ----- page frames ----- */

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

void luo_read_pfns(const void *map, uint64_t size, uint64_t *pfns)
{
	uint64_t n = size / 4096, i, done = 0;
	volatile const char *p = map;
	ssize_t r;
	int fd;

	for (i = 0; i < n; i++)
		(void)p[i * 4096];
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open /proc/self/pagemap: %s", strerror(errno));
	/* a GiB of PFNs may come in more than one read */
	while (done < n) {
		r = pread(fd, pfns + done, (n - done) * 8,
			  ((uintptr_t)map / 4096 + done) * 8);
		if (r <= 0)
			fail("read /proc/self/pagemap: %s",
			     r ? strerror(errno) : "EOF");
		done += r / 8;
	}
	close(fd);
	for (i = 0; i < n; i++) {
		if (!(pfns[i] & PM_PRESENT))
			fail("page %" PRIu64 " not present after touching it",
			     i);
		pfns[i] &= PM_PFN_MASK;
		if (!pfns[i])
			fail("pagemap hides PFNs (not root?)");
	}
}

uint64_t *luo_pfns(const void *map, uint64_t size)
{
	uint64_t n = size / 4096, *pfns = calloc(n, sizeof(*pfns));

	if (!pfns)
		fail("out of memory for %" PRIu64 " PFNs", n);
	luo_read_pfns(map, size, pfns);
	return pfns;
}

void luo_save_pfns(const void *map, uint64_t size, bool scratch)
{
	uint64_t *pfns = luo_pfns(map, size);

	if (scratch)
		luo_check_not_scratch(pfns, size / 4096);
	luo_save("pfns", pfns, size / 4096 * sizeof(*pfns));
	free(pfns);
}

void luo_check_pfns(const char *what, const void *map, uint64_t size)
{
	uint64_t n = size / 4096;
	uint64_t *want = luo_load("pfns", n * sizeof(*want));
	uint64_t *got = luo_pfns(map, size);

	luo_compare_pfns(what, want, got, n);
	free(got);
	free(want);
}

void luo_preserve_memfd(int session, int fd, uint64_t size, uint64_t token,
			const char *what, bool scratch)
{
	void *map = luo_map(fd, size);
	char step[64];

	luo_fill(map, size, luo_seed(), 1, token);
	snprintf(step, sizeof(step), "preserve%s%s", what ? " " : "",
		 what ? what : "");
	expect_ok(step, luo_preserve_fd(session, fd, token));
	/* after preserve: pages may have been migrated out of scratch */
	luo_save_pfns(map, size, scratch);
	munmap(map, size);
}

void luo_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	if (write(fd, val, strlen(val)) < 0)
		fail("write '%s' to %s: %s", val, path, strerror(errno));
	close(fd);
}

int luo_retrieve_memfd_back(int dev, const char *name, uint64_t token,
			    uint64_t size, const char *what)
{
	int session, fd;
	void *map;

	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, name));
	fd = expect_ok("retrieve the memfd", luo_retrieve_fd(session, token));
	expect_u64("size", size, luo_fd_size(fd));
	map = luo_map(fd, size);
	luo_verify(what, map, size, 1, token);
	luo_check_pfns(what, map, size);
	munmap(map, size);
	close(fd);
	return session;
}

int luo_run(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int st;

	if (!f)
		fail("popen %s: %s", cmd, strerror(errno));
	n = fread(out, 1, len - 1, f);
	out[n] = 0;
	/* drain what did not fit */
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	if (st < 0 || !WIFEXITED(st))
		fail("%s: did not exit (status %#x)", cmd, st);
	return WEXITSTATUS(st);
}

/* The whole kernel log, NUL-terminated; free() it */
static char *luo_read_log(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;

	if (len <= 0)
		fail("kernel log size: %s", strerror(errno));
	buf = calloc(1, len + 1);
	if (!buf)
		fail("out of memory for the kernel log");
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0)
		fail("read the kernel log: %s", strerror(errno));
	return buf;
}

void luo_expect_log(const char *text)
{
	char *buf = luo_read_log(), *line, *end;

	line = strstr(buf, text);
	if (!line)
		fail("no '%s' in the kernel log", text);
	end = strchr(line, '\n');
	if (end)
		*end = 0;
	while (line > buf && line[-1] != '\n')
		line--;
	msg("kernel: %s", line);
	free(buf);
}

bool luo_log_has(const char *text)
{
	char *buf = luo_read_log();
	bool found = strstr(buf, text);

	free(buf);
	return found;
}

void luo_expect_log_soon(const char *text)
{
	int i;

	for (i = 0; i < 20 && !luo_log_has(text); i++)
		usleep(100000);
	luo_expect_log(text);
}

double luo_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

void luo_bench_log(const char *prefix, const char *key)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd),
		 "dmesg | grep '%s' | tail -n 1 | sed 's/^\\[[^]]*\\] /bench: %s/'",
		 key, prefix);
	if (system(cmd))
		printf("bench: %s(no '%s' in the kernel log)\n", prefix, key);
}

long luo_meminfo(const char *key)
{
	size_t len = strlen(key);
	char line[256];
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		fail("open /proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			val = strtol(line + len + 1, NULL, 10);
	fclose(f);
	if (val < 0)
		fail("no %s in /proc/meminfo", key);
	return val;
}

void luo_set_nr_hugepages(long nr)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");

	if (!f || fprintf(f, "%ld\n", nr) < 0 || fclose(f))
		skip("cannot set vm.nr_hugepages: %s", strerror(errno));
}

void luo_save(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		fail("writing %s: %s", path, strerror(errno));
}

void *luo_load(const char *path, size_t len)
{
	void *buf = malloc(len);
	FILE *f = fopen(path, "r");

	if (!buf || !f || fread(buf, 1, len, f) != len)
		fail("reading %s (left by the previous stage): %s", path,
		     strerror(errno));
	fclose(f);
	return buf;
}

void luo_compare_pfns(const char *what, const uint64_t *want,
		      const uint64_t *got, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (want[i] != got[i])
			fail("%s: PFN of page %" PRIu64 ": expected %#" PRIx64
			     ", got %#" PRIx64 " (contents were copied)", what,
			     i, want[i], got[i]);
	printf("ok: %s: all %" PRIu64 " pages at the same PFNs\n", what, n);
}

/* Fail if any PFN lies in a KHO scratch area (they cannot be preserved). */
void luo_check_not_scratch(const uint64_t *pfns, uint64_t n)
{
	unsigned long long base[16], len[16];
	FILE *fb, *fl;
	int nr = 0;
	uint64_t i;
	int j;

	fb = fopen(KHO_DEBUGFS "/out/scratch_phys", "r");
	fl = fopen(KHO_DEBUGFS "/out/scratch_len", "r");
	if (!fb || !fl) {
		printf("# no KHO scratch list in debugfs: not checked\n");
		goto out;
	}
	while (nr < 16 && fscanf(fb, "%llx", &base[nr]) == 1 &&
	       fscanf(fl, "%llx", &len[nr]) == 1)
		nr++;
	for (i = 0; i < n; i++)
		for (j = 0; j < nr; j++)
			if (pfns[i] * 4096 >= base[j] &&
			    pfns[i] * 4096 < base[j] + len[j])
				fail("page %" PRIu64 " (PFN %#" PRIx64
				     ") is in scratch area %d", i, pfns[i], j);
	printf("ok: no preserved page in the %d scratch areas\n", nr);
out:
	if (fb)
		fclose(fb);
	if (fl)
		fclose(fl);
}

/*
 * Leave a child holding every open fd (the sessions above all) through the
 * kexec, and tell the harness to kexec. The child lets go of stdout and
 * stderr so the harness does not wait for it.
 */
int luo_keep_and_kexec(void)
{
	pid_t pid;
	int null;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		signal(SIGHUP, SIG_IGN);
		for (;;)
			pause();
	}
	printf("# holder %d keeps the sessions open for the kexec\n", pid);
	return EXIT_KEXEC;
}

void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int luo_test_stage(void)
{
	return stage_nr;
}

int luo_test(int argc, char **argv, const char *name,
	     const luo_stage_fn *stages, int nr_stages)
{
	int stage, rc;

	if (argc != 2)
		fail("usage: %s STAGE (1 to %d)", argv[0], nr_stages);
	stage = atoi(argv[1]);
	if (stage < 1 || stage > nr_stages)
		fail("unexpected stage %s: %s has %d", argv[1], name,
		     nr_stages);
	stage_name = name;
	stage_nr = stage;
	stage_pid = getpid();
	rc = stages[stage - 1]();
	if (rc == EXIT_PASS && stage < nr_stages)
		fail("stage %d passed without asking for the kexec to stage %d",
		     stage, stage + 1);
	if (rc == EXIT_KEXEC && stage == nr_stages)
		fail("stage %d, the last, asked for a kexec", stage);
	stage_verdict(rc);
	return rc;
}

bool luo_variant_is(const char *variant)
{
	char line[4096] = "", want[128];
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	snprintf(want, sizeof(want), "kho_variant=%s", variant);
	return strstr(line, want);
}

uint64_t luo_forge_record(int session, uint64_t token, uint64_t magic,
			  uint32_t version)
{
	int fd = memfd_create("forged", MFD_CLOEXEC);
	uint64_t pfn;
	uint8_t *page;

	if (fd < 0 || ftruncate(fd, 4096))
		fail("forged memfd: %s", strerror(errno));
	page = luo_map(fd, 4096);
	memcpy(page, &magic, sizeof(magic));
	memcpy(page + sizeof(magic), &version, sizeof(version));
	expect_ok("preserve the forged memfd", luo_preserve_fd(session, fd, token));
	luo_read_pfns(page, 4096, &pfn);
	luo_save("forged", page, 4096);
	munmap(page, 4096);
	close(fd);
	return pfn * 4096;
}

void luo_check_forged(int session, uint64_t token)
{
	void *want = luo_load("forged", 4096), *got;
	int fd = expect_ok("retrieve the forged memfd",
			   luo_retrieve_fd(session, token));

	got = luo_map(fd, 4096);
	if (memcmp(got, want, 4096))
		fail("the forged memfd changed across the kexec");
	msg("ok: the forged memfd is unchanged");
	munmap(got, 4096);
	free(want);
	close(fd);
}

int luo_hugetlb_memfd(const char *name, uint64_t hpage, uint64_t size)
{
	/* the page size's log2 in the MFD_HUGE_SHIFT (26) bits */
	unsigned int flags = MFD_HUGETLB | (__builtin_ctzll(hpage) << 26);
	int fd = memfd_create(name, flags);

	if (fd < 0)
		fail("memfd_create(%s, MFD_HUGETLB, %llu KiB pages): %s", name,
		     (unsigned long long)hpage >> 10, strerror(errno));
	if (ftruncate(fd, size))
		fail("ftruncate %s to %llu bytes: %s", name,
		     (unsigned long long)size, strerror(errno));
	return fd;
}

long luo_hstate_read(unsigned long kib, const char *file)
{
	char path[128], buf[32];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/%s",
		 kib, file);
	f = fopen(path, "r");
	if (!f)
		skip("no %lu KiB huge pages (%s): %s", kib, path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		fail("read %s", path);
	fclose(f);
	return strtol(buf, NULL, 10);
}
