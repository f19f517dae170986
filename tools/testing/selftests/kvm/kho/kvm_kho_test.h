/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny VMM for the KVM Live Update tests: raw ioctls from <linux/kvm.h>,
 * one memfd of guest RAM at GPA 0, an in-kernel irqchip and one thread per
 * vCPU looping on KVM_RUN.
 *
 * The guest (the 32-bit code at the end of this file) runs in protected
 * mode with flat segments and no paging:
 *
 *   - vCPU 0, when it first starts, fills KK_REGION_SIZE bytes at
 *     KK_REGION with a pattern derived from each word's address, stores
 *     the checksum in the control page and says so on KK_PORT_INIT;
 *   - then every vCPU loops forever: it increments its counter in its slot
 *     of the control page, checks it against the copy it stored last time,
 *     and about KK_REPORTS_PER_SEC times a second writes its TSC to the
 *     slot and reports the counter on KK_PORT_REPORT;
 *   - vCPU 1 also re-reads the region 64 KiB per iteration and, at the end
 *     of each pass, compares the checksum: a pass is reported on
 *     KK_PORT_CSUM_OK with the number of passes so far;
 *   - anything the guest finds wrong is reported on KK_PORT_FAIL.
 *
 * The VMM logs every report to a file in the test's state directory and
 * keeps the latest values per vCPU for the test to check.
 */
#ifndef KVM_KHO_TEST_H
#define KVM_KHO_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/liveupdate.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_SKIP	4
#define EXIT_KEXEC	10

/* ----- guest physical layout (plain numbers: the guest asm uses them) ----- */

#define KK_CTL			0x8000		/* control page */
#define KK_CTL_MAGIC		0x8000		/* written by the VMM */
#define KK_CTL_INIT		0x8004		/* 1 once vCPU 0 filled the region */
#define KK_CTL_CSUM		0x8008		/* checksum of the region */
#define KK_CTL_INTERVAL		0x800c		/* TSC ticks between reports */
#define KK_SLOT0		0x8100		/* per-vCPU slots, 64 bytes each */
#define KK_SLOT_SIZE		64
#define KK_CODE			0x10000		/* the guest code is copied here */
#define KK_CODE_MAX		0x8000
#define KK_STACKS		0x20000		/* vCPU n: stack top at +(n+1)*4K */
#define KK_REGION		0x100000	/* the checked region: 1 MiB... */
#define KK_REGION_SIZE		0x10000000	/* ...256 MiB of it */
#define KK_REGION_END		0x10100000
#define KK_CHUNK_WORDS		16384		/* vCPU 1 checks 64 KiB a turn */
#define KK_SUM_INIT		0x6b686f76	/* "khov" */
#define KK_PATTERN_XOR		0x5a5a5a5a
#define KK_PATTERN_MUL		0x9e3779b1

/* guest RAM: the region plus the first MiB, rounded to 2 MiB */
#define KK_MEM_SIZE		(258ULL << 20)

#define KK_PORT_REPORT		0xe0	/* eax = counter, TSC in the slot */
#define KK_PORT_CSUM_OK		0xe1	/* eax = checksum passes so far */
#define KK_PORT_INIT		0xe2	/* eax = checksum of the filled region */
#define KK_PORT_FAIL		0xe3	/* eax = KK_FAIL_* */

#define KK_FAIL_COUNTER		1	/* counter != the copy stored last time */
#define KK_FAIL_CSUM		2	/* a checksum pass did not match */

#define KK_CTL_MAGIC_VALUE	0x6b4d564b	/* "KVMk" */
#define KK_REPORTS_PER_SEC	4
#define KK_MAX_VCPUS		2

/* a vCPU's slot in the control page, as the guest writes it */
struct kk_slot {
	uint32_t count;		/* +0x00 the counter */
	uint32_t copy;		/* +0x04 the value it stored last time */
	uint32_t tsc_lo;	/* +0x08 guest TSC of the last report */
	uint32_t tsc_hi;	/* +0x0c */
	uint32_t passes;	/* +0x10 checksum passes (vCPU 1) */
	uint32_t sum;		/* +0x14 running checksum (vCPU 1) */
	uint32_t bad;		/* +0x18 the last wrong checksum or counter */
	uint32_t fails;		/* +0x1c failures the guest found */
};

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT		26	/* as in <linux/memfd.h> */
#endif

#define KK_STR(x)	#x
#define KK_XSTR(x)	KK_STR(x)

/* ----- messages ----- */

static inline void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(EXIT_FAIL);
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(EXIT_SKIP);
}

static inline void __attribute__((format(printf, 1, 2)))
msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline uint64_t kk_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline double kk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void kk_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The host TSC rate, measured against CLOCK_MONOTONIC. */
static inline uint64_t kk_tsc_hz(void)
{
	double t0 = kk_now(), t1;
	uint64_t c0 = kk_rdtsc(), c1;

	kk_sleep_ms(200);
	c1 = kk_rdtsc();
	t1 = kk_now();
	return (uint64_t)((c1 - c0) / (t1 - t0));
}

/* ----- the VMM ----- */

struct kk_vm;

struct kk_vcpu {
	struct kk_vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;

	/* under vm->lock */
	uint64_t reports;	/* KK_PORT_REPORT exits */
	uint32_t first_count;	/* counter of the first report */
	uint64_t first_tsc;	/* guest TSC of the first report */
	uint64_t first_host;	/* host TSC when the first report came */
	uint32_t last_count;
	uint64_t last_tsc;
	uint64_t last_host;
	uint32_t not_forward;	/* reports whose counter did not advance */
	uint32_t first_passes;	/* first KK_PORT_CSUM_OK value */
	uint32_t passes;	/* last KK_PORT_CSUM_OK value */
	uint64_t pass_reports;
	uint64_t first_pass_host;
	uint64_t last_pass_host;
	uint32_t fails;		/* KK_PORT_FAIL exits */
	uint32_t last_fail;
	uint64_t retries;	/* KVM_RUN that returned EINTR/EAGAIN/EBUSY */
	int run_errno;		/* KVM_RUN failed for good with this */
	char why[160];		/* why the thread stopped, if it did */
	bool stopped;
};

struct kk_vm {
	int kvm_fd;
	int vm_fd;
	int mem_fd;
	uint64_t mem_size;
	bool hugetlb;
	uint8_t *mem;
	size_t run_size;
	int nr_vcpus;
	struct kk_vcpu vcpu[KK_MAX_VCPUS];
	uint64_t tsc_hz;

	pthread_mutex_t lock;
	FILE *log;
	volatile int stop;

	/* under lock */
	bool init_seen;
	uint32_t init_csum;
	uint64_t init_host;
};

static inline struct kk_slot *kk_slot(struct kk_vm *vm, int id)
{
	return (struct kk_slot *)(vm->mem + KK_SLOT0 + id * KK_SLOT_SIZE);
}

static inline uint32_t *kk_ctl32(struct kk_vm *vm, uint64_t gpa)
{
	return (uint32_t *)(vm->mem + gpa);
}

/* Open /dev/kvm; skip the test where there is none. */
static inline int kk_open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int ver;

	if (fd < 0 && (errno == ENOENT || errno == ENXIO || errno == ENODEV))
		skip("no /dev/kvm (%s): kernel without KVM or no SVM/VMX",
		     strerror(errno));
	if (fd < 0)
		fail("open /dev/kvm: %s", strerror(errno));
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		fail("KVM_GET_API_VERSION: %d, expected %d", ver,
		     KVM_API_VERSION);
	return fd;
}

static inline void kk_vm_init(struct kk_vm *vm, const char *logname)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->mem_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	vm->log = fopen(logname, "a");
	if (!vm->log)
		fail("open %s: %s", logname, strerror(errno));
	setvbuf(vm->log, NULL, _IOLBF, 0);
}

static inline void kk_map_mem(struct kk_vm *vm)
{
	int flags = MAP_SHARED | MAP_POPULATE;

	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE, flags,
		       vm->mem_fd, 0);
	if (vm->mem == MAP_FAILED)
		fail("mmap of %" PRIu64 " MiB of guest RAM: %s",
		     vm->mem_size >> 20, strerror(errno));
}

/* Guest RAM: a memfd, shmem or 2 MiB hugetlb. */
static inline void kk_create_mem(struct kk_vm *vm, uint64_t size,
				 bool hugetlb)
{
	unsigned int flags = MFD_CLOEXEC;

	if (hugetlb)
		flags |= MFD_HUGETLB | (21U << MFD_HUGE_SHIFT);
	vm->mem_size = size;
	vm->hugetlb = hugetlb;
	vm->mem_fd = memfd_create("kvm-kho-guest-ram", flags);
	if (vm->mem_fd < 0)
		fail("memfd_create%s: %s", hugetlb ? " (hugetlb)" : "",
		     strerror(errno));
	if (ftruncate(vm->mem_fd, size))
		fail("ftruncate guest RAM memfd to %" PRIu64 " MiB: %s",
		     size >> 20, strerror(errno));
	kk_map_mem(vm);
}

static inline void kk_set_memslot(struct kk_vm *vm)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		.flags = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem_size,
		.userspace_addr = (uintptr_t)vm->mem,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r))
		fail("KVM_SET_USER_MEMORY_REGION slot 0, %" PRIu64
		     " MiB at GPA 0: %s", vm->mem_size >> 20, strerror(errno));
}

static inline void kk_vcpu_mmap_size(struct kk_vm *vm)
{
	int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (sz < (int)sizeof(struct kvm_run))
		fail("KVM_GET_VCPU_MMAP_SIZE: %d (%s)", sz,
		     sz < 0 ? strerror(errno) : "too small");
	vm->run_size = sz;
}

/*
 * VM configuration that is not VM state: a VM restored by Live Update
 * needs it set again too. Only VMX uses the TSS address (for real mode);
 * SVM ignores it.
 */
static inline void kk_configure_vm(struct kk_vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		fail("KVM_SET_TSS_ADDR: %s", strerror(errno));
}

/* A new VM: irqchip, memslot 0 over the memfd, the guest code loaded. */
static inline void kk_create_vm(struct kk_vm *vm)
{
	extern const char kk_guest_start[], kk_guest_end[];
	size_t code = kk_guest_end - kk_guest_start;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		fail("KVM_CREATE_VM: %s", strerror(errno));
	kk_vcpu_mmap_size(vm);
	kk_configure_vm(vm);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	kk_set_memslot(vm);

	if (code > KK_CODE_MAX)
		fail("guest code of %zu bytes does not fit", code);
	memcpy(vm->mem + KK_CODE, kk_guest_start, code);
	*kk_ctl32(vm, KK_CTL_INTERVAL) =
		(uint32_t)(vm->tsc_hz / KK_REPORTS_PER_SEC);
	*kk_ctl32(vm, KK_CTL_MAGIC) = KK_CTL_MAGIC_VALUE;
}

/* CPUID as KVM supports it, without SVM and VMX for the guest. */
static inline void kk_set_cpuid(struct kk_vm *vm, struct kk_vcpu *v)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t i, n = 64;

	for (;;) {
		c = realloc(c, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			fail("out of memory for CPUID");
		memset(c, 0, sizeof(*c) + n * sizeof(c->entries[0]));
		c->nent = n;
		if (!ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			break;
		if (errno != E2BIG || n > 4096)
			fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		n *= 2;
	}
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ecx &= ~(1U << 5);		/* VMX */
		if (e->function == 0x80000001)
			e->ecx &= ~(1U << 2);		/* SVM */
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c))
		fail("vCPU %d: KVM_SET_CPUID2 (%u entries): %s", v->id,
		     c->nent, strerror(errno));
	free(c);
}

/* 32-bit protected mode, flat segments, no paging, at the guest code. */
static inline void kk_set_entry_state(struct kk_vcpu *v)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x08,
		.type = 0xb, .present = 1, .dpl = 0, .db = 1, .s = 1,
		.l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

	data.selector = 0x10;
	data.type = 0x3;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		fail("vCPU %d: KVM_GET_SREGS: %s", v->id, strerror(errno));
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = data;
	sregs.cr0 = 0x11;	/* PE | ET: no paging, caches on */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		fail("vCPU %d: KVM_SET_SREGS: %s", v->id, strerror(errno));

	memset(&regs, 0, sizeof(regs));
	regs.rip = KK_CODE;
	regs.rflags = 0x2;
	regs.rsi = v->id;
	regs.rsp = KK_STACKS + (v->id + 1) * 0x1000;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		fail("vCPU %d: KVM_SET_REGS: %s", v->id, strerror(errno));

	/* With the in-kernel LAPIC, an AP would wait for INIT/SIPI. */
	if (ioctl(v->fd, KVM_SET_MP_STATE, &mp))
		fail("vCPU %d: KVM_SET_MP_STATE runnable: %s", v->id,
		     strerror(errno));
}

/*
 * Create vCPU @id and map its kvm_run. @fresh: give it CPUID and the entry
 * state; a VM restored by Live Update carries those already.
 */
static inline struct kk_vcpu *kk_add_vcpu(struct kk_vm *vm, int id,
					  bool fresh)
{
	struct kk_vcpu *v = &vm->vcpu[id];

	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		fail("KVM_CREATE_VCPU %d: %s", id, strerror(errno));
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED)
		fail("vCPU %d: mmap of kvm_run: %s", id, strerror(errno));
	if (fresh) {
		kk_set_cpuid(vm, v);
		kk_set_entry_state(v);
	}
	if (id >= vm->nr_vcpus)
		vm->nr_vcpus = id + 1;
	return v;
}

static inline void kk_log(struct kk_vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void kk_log(struct kk_vm *vm, const char *fmt, ...)
{
	va_list ap;

	fprintf(vm->log, "%.3f ", kk_now());
	va_start(ap, fmt);
	vfprintf(vm->log, fmt, ap);
	va_end(ap);
	fputc('\n', vm->log);
}

static inline void kk_vcpu_stopped(struct kk_vcpu *v, int err,
				   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void kk_vcpu_stopped(struct kk_vcpu *v, int err,
				   const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&v->vm->lock);
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	v->run_errno = err;
	v->stopped = true;
	kk_log(v->vm, "vcpu%d stopped: %s", v->id, v->why);
	pthread_mutex_unlock(&v->vm->lock);
}

/* One KVM_EXIT_IO; false if the vCPU cannot go on. */
static inline bool kk_handle_io(struct kk_vcpu *v)
{
	struct kk_vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint64_t host = kk_rdtsc();
	struct kk_slot *s = kk_slot(vm, v->id);
	uint32_t val;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
	    run->io.count != 1) {
		kk_vcpu_stopped(v, 0, "unexpected I/O: port %#x %s size %u count %u",
				run->io.port, run->io.direction ? "out" : "in",
				run->io.size, run->io.count);
		return false;
	}
	memcpy(&val, (char *)run + run->io.data_offset, 4);

	pthread_mutex_lock(&vm->lock);
	switch (run->io.port) {
	case KK_PORT_REPORT: {
		uint64_t tsc = (uint64_t)s->tsc_hi << 32 | s->tsc_lo;

		if (v->reports && (int32_t)(val - v->last_count) <= 0) {
			v->not_forward++;
			kk_log(vm, "vcpu%d counter did not advance: %u after %u",
			       v->id, val, v->last_count);
		}
		if (!v->reports) {
			v->first_count = val;
			v->first_tsc = tsc;
			v->first_host = host;
		}
		v->last_count = val;
		v->last_tsc = tsc;
		v->last_host = host;
		v->reports++;
		kk_log(vm, "vcpu%d count %u tsc %" PRIu64 " host %" PRIu64,
		       v->id, val, tsc, host);
		break;
	}
	case KK_PORT_CSUM_OK:
		if (!v->pass_reports) {
			v->first_pass_host = host;
			v->first_passes = val;
		}
		v->last_pass_host = host;
		v->pass_reports++;
		v->passes = val;
		kk_log(vm, "vcpu%d checksum pass %u ok", v->id, val);
		break;
	case KK_PORT_INIT:
		vm->init_seen = true;
		vm->init_csum = val;
		vm->init_host = host;
		kk_log(vm, "vcpu%d filled %u MiB, checksum %#x", v->id,
		       KK_REGION_SIZE >> 20, val);
		break;
	case KK_PORT_FAIL:
		v->fails++;
		v->last_fail = val;
		kk_log(vm, "vcpu%d GUEST FAIL %u (%s, bad value %#x)", v->id,
		       val, val == KK_FAIL_COUNTER ? "counter" :
		       val == KK_FAIL_CSUM ? "checksum" : "?", s->bad);
		break;
	default:
		pthread_mutex_unlock(&vm->lock);
		kk_vcpu_stopped(v, 0, "out to unexpected port %#x value %#x",
				run->io.port, val);
		return false;
	}
	pthread_mutex_unlock(&vm->lock);
	return true;
}

static void kk_sig_kick(int sig)
{
	(void)sig;
}

static void *kk_vcpu_thread(void *arg)
{
	struct kk_vcpu *v = arg;
	struct kvm_run *run = v->run;
	int last_err = 0;

	while (!v->vm->stop) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			int err = errno;

			if (err != EINTR && err != EAGAIN && err != EBUSY) {
				kk_vcpu_stopped(v, err, "KVM_RUN: %s",
						strerror(err));
				return NULL;
			}
			/* kicked out (stop, or quiesced for the update) */
			pthread_mutex_lock(&v->vm->lock);
			if (!v->retries || err != last_err)
				kk_log(v->vm, "vcpu%d KVM_RUN: %s, retrying",
				       v->id, strerror(err));
			v->retries++;
			pthread_mutex_unlock(&v->vm->lock);
			if (last_err)
				kk_sleep_ms(1);
			last_err = err;
			continue;
		}
		last_err = 0;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (!kk_handle_io(v))
				return NULL;
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			kk_vcpu_stopped(v, 0, "guest shutdown (triple fault)");
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
			kk_vcpu_stopped(v, 0, "entry failed: reason %#llx",
				(unsigned long long)
				run->fail_entry.hardware_entry_failure_reason);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			kk_vcpu_stopped(v, 0, "internal error: suberror %u",
					run->internal.suberror);
			return NULL;
		case KVM_EXIT_MMIO:
			kk_vcpu_stopped(v, 0, "MMIO %s at GPA %#llx",
					run->mmio.is_write ? "write" : "read",
					(unsigned long long)run->mmio.phys_addr);
			return NULL;
		default:
			kk_vcpu_stopped(v, 0, "unexpected exit reason %u",
					run->exit_reason);
			return NULL;
		}
	}
	return NULL;
}

static inline void kk_start(struct kk_vm *vm)
{
	struct sigaction sa = { .sa_handler = kk_sig_kick };
	int i, err;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: KVM_RUN -> EINTR */
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];

		err = pthread_create(&v->thread, NULL, kk_vcpu_thread, v);
		if (err)
			fail("vCPU %d thread: %s", i, strerror(err));
		v->started = true;
	}
}

static inline void kk_stop(struct kk_vm *vm)
{
	int i;

	vm->stop = 1;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];

		if (!v->started)
			continue;
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, SIGUSR1);
		pthread_join(v->thread, NULL);
		v->started = false;
	}
}

/* Fail the test if a vCPU thread gave up or the guest found a problem. */
static inline void kk_check_healthy(struct kk_vm *vm)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];
		struct kk_slot *s = kk_slot(vm, i);

		if (v->stopped) {
			pthread_mutex_unlock(&vm->lock);
			fail("vCPU %d: %s", i, v->why);
		}
		if (v->fails) {
			pthread_mutex_unlock(&vm->lock);
			fail("vCPU %d: the guest reported %u failure(s), the last %s (bad value %#x)",
			     i, v->fails,
			     v->last_fail == KK_FAIL_COUNTER ? "a counter mismatch" :
			     "a checksum mismatch", s->bad);
		}
		if (v->not_forward) {
			pthread_mutex_unlock(&vm->lock);
			fail("vCPU %d: the counter went backwards or stood still in %u report(s)",
			     i, v->not_forward);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Wait up to @timeout s for @done(vm, arg) (called under vm->lock), failing
 * early if the guest or a vCPU thread goes wrong; prints progress.
 */
static inline void kk_wait(struct kk_vm *vm, double timeout, const char *what,
			   bool (*done)(struct kk_vm *vm, void *arg), void *arg)
{
	double t0 = kk_now(), last = t0;
	bool ok;
	int i;

	for (;;) {
		kk_check_healthy(vm);
		pthread_mutex_lock(&vm->lock);
		ok = done(vm, arg);
		pthread_mutex_unlock(&vm->lock);
		if (ok)
			return;
		if (kk_now() - last >= 15 || kk_now() - t0 > timeout) {
			last = kk_now();
			pthread_mutex_lock(&vm->lock);
			printf("# %.0f s waiting for %s:", last - t0, what);
			for (i = 0; i < vm->nr_vcpus; i++)
				printf(" vcpu%d %" PRIu64 " reports, count %u, passes %u;",
				       i, vm->vcpu[i].reports,
				       vm->vcpu[i].last_count,
				       vm->vcpu[i].passes);
			printf(" memory: init %u count0 %u count1 %u\n",
			       *kk_ctl32(vm, KK_CTL_INIT),
			       kk_slot(vm, 0)->count, kk_slot(vm, 1)->count);
			fflush(stdout);
			pthread_mutex_unlock(&vm->lock);
			if (last - t0 > timeout)
				fail("timed out after %.0f s waiting for %s",
				     timeout, what);
		}
		kk_sleep_ms(100);
	}
}

/* ----- the pattern, checked from the host side ----- */

static inline uint32_t kk_pattern(uint32_t gpa)
{
	return (gpa ^ KK_PATTERN_XOR) * (uint32_t)KK_PATTERN_MUL;
}

/*
 * Check every word of the region against the pattern and return its
 * checksum (the guest's algorithm); fails on the first wrong word.
 */
static inline uint32_t kk_host_verify(struct kk_vm *vm, const char *what)
{
	const uint32_t *w = (const uint32_t *)(vm->mem + KK_REGION);
	uint32_t sum = KK_SUM_INIT, i, n = KK_REGION_SIZE / 4;

	for (i = 0; i < n; i++) {
		uint32_t gpa = KK_REGION + i * 4;

		if (w[i] != kk_pattern(gpa))
			fail("%s: guest RAM word at GPA %#x: expected %#x, got %#x",
			     what, gpa, kk_pattern(gpa), w[i]);
		sum = (sum << 1 | sum >> 31) + w[i];
	}
	return sum;
}

/* ----- Live Update (raw ioctls: 0 or an fd, or -errno) ----- */

static inline int kk_luo_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int kk_luo_open(void)
{
	int fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int kk_luo_create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session a = {
		.size = sizeof(a), .fd = -1,
	};
	int ret;

	strncpy((char *)a.name, name, sizeof(a.name) - 1);
	ret = kk_luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &a);
	return ret ? ret : a.fd;
}

static inline int kk_luo_retrieve_session(int dev, const char *name)
{
	struct liveupdate_ioctl_retrieve_session a = {
		.size = sizeof(a), .fd = -1,
	};
	int ret;

	strncpy((char *)a.name, name, sizeof(a.name) - 1);
	ret = kk_luo_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &a);
	return ret ? ret : a.fd;
}

static inline int kk_luo_preserve(int session, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd a = {
		.size = sizeof(a), .fd = fd, .token = token,
	};

	return kk_luo_ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &a);
}

static inline int kk_luo_retrieve(int session, uint64_t token)
{
	struct liveupdate_session_retrieve_fd a = {
		.size = sizeof(a), .fd = -1, .token = token,
	};
	int ret;

	ret = kk_luo_ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &a);
	return ret ? ret : a.fd;
}

static inline int kk_luo_finish(int session)
{
	struct liveupdate_session_finish a = { .size = sizeof(a) };

	return kk_luo_ioctl(session, LIVEUPDATE_SESSION_FINISH, &a);
}

/* ----- the guest ----- */

/*
 * Registers: esi = vCPU id (set by the VMM), ebx = this vCPU's slot,
 * ebp = vCPU 1's position in the region. Only relative jumps and calls,
 * so the code runs wherever it is copied.
 */
asm(
"	.pushsection .rodata.kk_guest, \"a\"\n"
"	.globl kk_guest_start\n"
"	.globl kk_guest_end\n"
"	.code32\n"
"kk_guest_start:\n"
"	cld\n"
"	mov %esi, %ebx\n"
"	shl $6, %ebx\n"
"	add $" KK_XSTR(KK_SLOT0) ", %ebx\n"
"	test %esi, %esi\n"
"	jnz .Lkk_wait_init\n"
	/* vCPU 0: fill the region, checksum it as it goes */
"	mov $" KK_XSTR(KK_REGION) ", %edi\n"
"	mov $" KK_XSTR(KK_SUM_INIT) ", %ecx\n"
".Lkk_fill:\n"
"	mov %edi, %eax\n"
"	xor $" KK_XSTR(KK_PATTERN_XOR) ", %eax\n"
"	imul $" KK_XSTR(KK_PATTERN_MUL) ", %eax, %eax\n"
"	mov %eax, (%edi)\n"
"	rol $1, %ecx\n"
"	add %eax, %ecx\n"
"	add $4, %edi\n"
"	cmp $" KK_XSTR(KK_REGION_END) ", %edi\n"
"	jb .Lkk_fill\n"
"	mov %ecx, " KK_XSTR(KK_CTL_CSUM) "\n"
"	movl $1, " KK_XSTR(KK_CTL_INIT) "\n"
"	mov %ecx, %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_INIT) "\n"
"	jmp .Lkk_loop\n"
	/* the others wait for the fill */
".Lkk_wait_init:\n"
"	pause\n"
"	cmpl $1, " KK_XSTR(KK_CTL_INIT) "\n"
"	jne .Lkk_wait_init\n"
"	mov $" KK_XSTR(KK_REGION) ", %ebp\n"
"	movl $" KK_XSTR(KK_SUM_INIT) ", 0x14(%ebx)\n"
	/* the main loop: count, check, report now and then */
".Lkk_loop:\n"
"	mov (%ebx), %eax\n"
"	cmp 4(%ebx), %eax\n"
"	jne .Lkk_counter_bad\n"
"	inc %eax\n"
"	mov %eax, (%ebx)\n"
"	mov %eax, 4(%ebx)\n"
"	cmp $1, %esi\n"
"	jne .Lkk_no_verify\n"
"	call .Lkk_verify\n"
"	jmp .Lkk_time\n"
".Lkk_no_verify:\n"
"	test $0x3ff, %eax\n"
"	jnz .Lkk_loop\n"
".Lkk_time:\n"
	/* report when TSC - TSC of the last report >= interval (or < 0) */
"	rdtsc\n"
"	mov %eax, %ecx\n"
"	mov %edx, %edi\n"
"	sub 8(%ebx), %eax\n"
"	sbb 12(%ebx), %edx\n"
"	jnz .Lkk_report\n"
"	cmp " KK_XSTR(KK_CTL_INTERVAL) ", %eax\n"
"	jb .Lkk_loop\n"
".Lkk_report:\n"
"	mov %ecx, 8(%ebx)\n"
"	mov %edi, 12(%ebx)\n"
"	mov (%ebx), %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_REPORT) "\n"
"	jmp .Lkk_loop\n"
".Lkk_counter_bad:\n"
"	mov %eax, 0x18(%ebx)\n"
"	incl 0x1c(%ebx)\n"
"	mov $" KK_XSTR(KK_FAIL_COUNTER) ", %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_FAIL) "\n"
"	mov (%ebx), %eax\n"
"	mov %eax, 4(%ebx)\n"
"	jmp .Lkk_loop\n"
	/* vCPU 1: checksum the next 64 KiB; at the end of a pass, compare */
".Lkk_verify:\n"
"	mov 0x14(%ebx), %eax\n"
"	mov $" KK_XSTR(KK_CHUNK_WORDS) ", %ecx\n"
".Lkk_verify_word:\n"
"	rol $1, %eax\n"
"	add (%ebp), %eax\n"
"	add $4, %ebp\n"
"	dec %ecx\n"
"	jnz .Lkk_verify_word\n"
"	mov %eax, 0x14(%ebx)\n"
"	cmp $" KK_XSTR(KK_REGION_END) ", %ebp\n"
"	jb .Lkk_verify_done\n"
"	mov $" KK_XSTR(KK_REGION) ", %ebp\n"
"	movl $" KK_XSTR(KK_SUM_INIT) ", 0x14(%ebx)\n"
"	cmp " KK_XSTR(KK_CTL_CSUM) ", %eax\n"
"	jne .Lkk_verify_bad\n"
"	incl 0x10(%ebx)\n"
"	mov 0x10(%ebx), %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_CSUM_OK) "\n"
".Lkk_verify_done:\n"
"	ret\n"
".Lkk_verify_bad:\n"
"	mov %eax, 0x18(%ebx)\n"
"	incl 0x1c(%ebx)\n"
"	mov $" KK_XSTR(KK_FAIL_CSUM) ", %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_FAIL) "\n"
"	ret\n"
"kk_guest_end:\n"
"	.code64\n"
"	.popsection\n"
);

#endif /* KVM_KHO_TEST_H */
