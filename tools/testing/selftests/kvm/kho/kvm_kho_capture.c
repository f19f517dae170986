// SPDX-License-Identifier: GPL-2.0
/*
 * Capture a real handover for the fuzz seeds. A guest runs on two vCPUs;
 * it is preserved with its guest RAM, beside a small shmem memfd (pages of
 * order 0) and a hugetlb one of two 2 MiB pages, and the handover is
 * finalized. The KHO test module's kho/test/capture then gives the
 * records the next kernel would meet; this test checks it holds the Live
 * Update index, both small memfds and the VM with its two vCPU records,
 * prints it in base64 on "kho-v: capture " lines (the fuzz tree's
 * capture.py turns them into seeds: make fuzz-capture), and aborts.
 */
#define _GNU_SOURCE
#include <linux/memfd.h>
#include <sys/mman.h>
#include <termios.h>

#include "kvm_kho_util.h"

#define CAPTURE		KHO_DEBUGFS "/test/capture"
#define SESSION		"vm1"
#define REGION		(16U << 20)
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define TOKEN_SHMEM	3
#define TOKEN_HUGETLB	4
#define SHMEM_PAGES	4
#define HPAGE		(2UL << 20)
#define NR_HPAGES	2
#define CAP_MAGIC	0x3130504143544b48ULL	/* lib/test_kho.c */

/* lib/test_kho.c: struct kho_test_cap_group and kho_test_cap_block */
struct cap_group {
	char target[16];
	char name[48];
	uint32_t nr_blocks;
	uint32_t reserved;
};

struct cap_block {
	uint64_t phys;
	uint32_t order;
	uint32_t len;
};

static void set_nr_hugepages(long nr)
{
	luo_set_nr_hugepages(nr);
	if (luo_meminfo("HugePages_Total") < nr)
		skip("only %ld 2 MiB pages, %ld needed",
		     luo_meminfo("HugePages_Total"), nr);
}

static int small_memfd(int session, const char *name, unsigned int flags,
		       size_t size, uint64_t token)
{
	int fd = memfd_create(name, flags);
	uint8_t *map;

	if (fd < 0 || ftruncate(fd, size))
		fail("memfd %s: %s", name, strerror(errno));
	map = luo_map(fd, size);
	memset(map, 0x5a, size);
	munmap(map, size);
	expect_ok(name, luo_preserve_fd(session, fd, token));
	return fd;
}

static size_t read_capture(uint8_t **bufp)
{
	size_t len = 0, cap = 1 << 16;
	uint8_t *buf = malloc(cap);
	int fd = open(CAPTURE, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		fail("open %s: %s", CAPTURE, strerror(errno));
	while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf || n < 0)
		fail("read %s: %s", CAPTURE, strerror(errno));
	close(fd);
	*bufp = buf;
	return len;
}

static uint32_t crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = ~0U;
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320U & -(crc & 1));
	}
	return ~crc;
}

/* Set the console's log level to @level; returns the settings it had. */
static char *set_console_loglevel(const char *level)
{
	static char was[64];
	FILE *f = fopen("/proc/sys/kernel/printk", "r+");

	if (!f)
		return NULL;
	if (!fgets(was, sizeof(was), f))
		was[0] = 0;
	rewind(f);
	fputs(level, f);
	fclose(f);
	return was;
}

/*
 * Print @p in base64 on "kho-v: capture " lines, then its length and CRC,
 * straight to the console and drained: nothing the kernel logs meanwhile
 * (the console is quiet until then) can cut into a line.
 */
static void print_base64(const uint8_t *p, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	FILE *con = fopen("/dev/console", "w");
	char line[80], *was;
	size_t i, o = 0;
	uint32_t v;

	if (!con)
		fail("open /dev/console: %s", strerror(errno));
	was = set_console_loglevel("1");
	for (i = 0; i < len; i += 3) {
		v = p[i] << 16;
		if (i + 1 < len)
			v |= p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		line[o++] = abc[v >> 18];
		line[o++] = abc[(v >> 12) & 63];
		line[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		line[o++] = i + 2 < len ? abc[v & 63] : '=';
		if (o == 76 || i + 3 >= len) {
			line[o] = 0;
			fprintf(con, "kho-v: capture %s\n", line);
			o = 0;
		}
	}
	fprintf(con, "kho-v: capture-end %zu %08x\n", len, crc32(p, len));
	fflush(con);
	tcdrain(fileno(con));
	fclose(con);
	if (was && was[0])
		set_console_loglevel(was);
}

/* The groups of the capture: fail unless each expected one is there. */
static void check_capture(const uint8_t *buf, size_t len)
{
	int index = 0, shmem = 0, hugetlb = 0, vm = 0, other = 0;
	const struct cap_group *g;
	const struct cap_block *b;
	size_t off = 8;
	uint32_t i;

	if (len < 8 || *(const uint64_t *)buf != CAP_MAGIC)
		fail("%s: no capture magic", CAPTURE);
	while (off < len) {
		if (len - off < sizeof(*g))
			fail("capture cut inside a group header");
		g = (const void *)(buf + off);
		off += sizeof(*g);
		for (i = 0; i < g->nr_blocks; i++) {
			if (len - off < sizeof(*b))
				fail("capture cut inside group %s", g->name);
			b = (const void *)(buf + off);
			off += sizeof(*b) + b->len;
			if (off > len || (b->len && b->len != 4096UL << b->order))
				fail("group %s: block %u of %u bytes, order %u",
				     g->name, i, b->len, b->order);
		}
		msg("# capture: %s %s, %u blocks", g->target, g->name,
		    g->nr_blocks);
		if (!strcmp(g->target, "luo_index"))
			index++;
		else if (!strcmp(g->target, "kvm_record"))
			vm += g->nr_blocks == 3;	/* VM + 2 vCPUs */
		else if (strcmp(g->target, "memfd_record"))
			other++;
		else if (g->nr_blocks == 2 + SHMEM_PAGES)
			shmem++;
		else if (g->nr_blocks == 2 + NR_HPAGES)
			hugetlb++;
	}
	if (index != 1 || shmem != 1 || hugetlb != 1 || vm != 1 || other)
		fail("capture: %d index, %d shmem memfd, %d hugetlb memfd, %d VM record(s), %d unknown; expected 1, 1, 1, 1, 0",
		     index, shmem, hugetlb, vm, other);
	msg("ok: the capture holds the index, both memfds and the VM with 2 vCPUs");
}

static int stage1(void)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	int dev, session, shmem, hugetlb, ret;
	uint8_t *buf;
	struct kk_vm vm;
	size_t len;

	if (access(CAPTURE, R_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", CAPTURE);
	set_nr_hugepages(NR_HPAGES);
	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);

	kk_vm_init(&vm, "guest.log");
	kk_create_guest(&vm, REGION);
	kk_start(&vm);
	kk_wait(&vm, 120, "the guest to run", kk_reached, want);
	msg("ok: guest running on %" PRIu64 " MiB", vm.mem_size >> 20);
	kk_preserve_vm(&vm, SESSION, session, TOKEN_MEM, TOKEN_VM);
	shmem = small_memfd(session, "capture-shmem", 0, SHMEM_PAGES * 4096,
			    TOKEN_SHMEM);
	hugetlb = small_memfd(session, "capture-hugetlb",
			      MFD_HUGETLB | MFD_HUGE_2MB, NR_HPAGES * HPAGE,
			      TOKEN_HUGETLB);

	ret = kk_kho_finalize(true);
	if (ret)
		fail("finalize: %s", strerror(-ret));
	len = read_capture(&buf);
	check_capture(buf, len);
	print_base64(buf, len);
	msg("ok: %zu bytes of capture printed", len);
	free(buf);

	ret = kk_kho_finalize(false);
	if (ret)
		fail("abort the finalize: %s", strerror(-ret));
	kk_stop(&vm);
	close(shmem);
	close(hugetlb);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_capture", LUO_STAGES(stage1));
}
