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
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../liveupdate/luo_test_utils.h"

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

/* ----- time ----- */

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
	uint64_t eintr;		/* of the retries: KVM_RUN that returned EINTR */
	uint64_t eintr_odd;	/* ...with an exit reason other than KVM_EXIT_INTR */
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

	uint32_t region_size;	/* 0: KK_REGION_SIZE (kk_create_vm_sized) */
};

static inline struct kk_slot *kk_slot(struct kk_vm *vm, int id)
{
	return (struct kk_slot *)(vm->mem + KK_SLOT0 + id * KK_SLOT_SIZE);
}

static inline uint32_t *kk_ctl32(struct kk_vm *vm, uint64_t gpa)
{
	return (uint32_t *)(vm->mem + gpa);
}

/* How much of guest RAM the guest fills and checks. */
static inline uint32_t kk_region_size(const struct kk_vm *vm)
{
	return vm->region_size ? vm->region_size : KK_REGION_SIZE;
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
		       kk_region_size(vm) >> 20, val);
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
			if (err == EINTR) {
				v->eintr++;
				if (run->exit_reason != KVM_EXIT_INTR)
					v->eintr_odd++;
			}
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

static inline int kk_luo_open(void)
{
	int fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * /dev/liveupdate opens for one file at a time: VMMs that run side by side
 * take turns, each holding it only to create or retrieve its session.
 * Wait up to @timeout s for it; 0 or -errno as kk_luo_open().
 */
static inline int kk_luo_open_wait(double timeout)
{
	double t0 = kk_now();
	int fd;

	while ((fd = kk_luo_open()) == -EBUSY && kk_now() - t0 < timeout)
		kk_sleep_ms(10);
	return fd;
}

/* ----- smaller guests ----- */

/*
 * Guest RAM for a region of @region bytes: the first MiB (control page,
 * code, stacks) and the region, rounded up to 2 MiB.
 */
static inline uint64_t kk_mem_size_for(uint32_t region)
{
	return ((uint64_t)KK_REGION + region + (2ULL << 20) - 1) &
	       ~((2ULL << 20) - 1);
}

/*
 * The guest has the end of the region as an immediate in two places: the
 * fill loop (cmp $KK_REGION_END, %edi) and the end of a checksum pass (cmp
 * $KK_REGION_END, %ebp). Give the copy in guest RAM another end; fail if
 * the code does not look like that any more.
 */
static inline void kk_patch_region_end(struct kk_vm *vm, uint32_t end)
{
	extern const char kk_guest_start[], kk_guest_end[];
	size_t i, n = kk_guest_end - kk_guest_start;
	uint8_t *code = vm->mem + KK_CODE;
	uint32_t old = KK_REGION_END;
	int edi = 0, ebp = 0;

	for (i = 2; i + 4 <= n; i++) {
		if (memcmp(code + i, &old, 4))
			continue;
		if (code[i - 2] != 0x81 ||
		    (code[i - 1] != 0xff && code[i - 1] != 0xfd))
			fail("guest code: %#x at +%#zx is not a cmp $imm32, %%edi/%%ebp",
			     old, i);
		if (code[i - 1] == 0xff)
			edi++;
		else
			ebp++;
		memcpy(code + i, &end, 4);
	}
	if (edi != 1 || ebp != 1)
		fail("guest code: found %d cmp of %%edi and %d of %%ebp with the region end, expected 1 and 1",
		     edi, ebp);
}

/*
 * kk_create_vm() with a region of @region bytes instead of 256 MiB:
 * a multiple of 64 KiB (what vCPU 1 checks per turn), within guest RAM.
 */
static inline void kk_create_vm_sized(struct kk_vm *vm, uint32_t region)
{
	if (!region || region % (KK_CHUNK_WORDS * 4) ||
	    region > KK_REGION_SIZE || KK_REGION + (uint64_t)region > vm->mem_size)
		fail("region of %u bytes does not fit %" PRIu64 " MiB of guest RAM",
		     region, vm->mem_size >> 20);
	kk_create_vm(vm);
	if (region != KK_REGION_SIZE)
		kk_patch_region_end(vm, KK_REGION + region);
	vm->region_size = region;
}

/* kk_host_verify() over the region this VM has. */
static inline uint32_t kk_host_verify_region(struct kk_vm *vm, const char *what)
{
	const uint32_t *w = (const uint32_t *)(vm->mem + KK_REGION);
	uint32_t sum = KK_SUM_INIT, i, n = kk_region_size(vm) / 4;

	for (i = 0; i < n; i++) {
		uint32_t gpa = KK_REGION + i * 4;

		if (w[i] != kk_pattern(gpa))
			fail("%s: guest RAM word at GPA %#x: expected %#x, got %#x",
			     what, gpa, kk_pattern(gpa), w[i]);
		sum = (sum << 1 | sum >> 31) + w[i];
	}
	return sum;
}

/* A word of the control page the guest never touches: the tests' own. */
#define KK_CTL_TAG		0x8080

/* ----- the kernel log, /proc/meminfo, the handover from debugfs ----- */

/* The kernel log as it is now, NUL-terminated; free() it. */
static inline char *kk_dmesg(void)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n;
	char *buf;

	if (size <= 0)
		fail("klogctl(SIZE_BUFFER): %s", strerror(errno));
	buf = malloc(size + 1);
	if (!buf)
		fail("out of memory for the kernel log");
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (n < 0)
		fail("klogctl(READ_ALL): %s", strerror(errno));
	buf[n] = '\0';
	return buf;
}

/* How many lines of the kernel log contain @what. */
static inline int kk_dmesg_count(const char *what)
{
	char *log = kk_dmesg(), *p = log;
	int n = 0;

	while ((p = strstr(p, what))) {
		n++;
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	free(log);
	return n;
}

/* Print the kernel log lines that contain @what, as "# dmesg: ...". */
static inline void kk_dmesg_show(const char *what)
{
	char *log = kk_dmesg(), *line = log, *end;

	for (; *line; line = end + 1) {
		end = strchrnul(line, '\n');
		if (memmem(line, end - line, what, strlen(what)))
			printf("# dmesg: %.*s\n", (int)(end - line), line);
		if (!*end)
			break;
	}
	fflush(stdout);
	free(log);
}

/* A /proc/meminfo value in KiB. */
static inline uint64_t kk_meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t len = strlen(key);
	unsigned long long kb;

	if (!f)
		fail("open /proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, len) && line[len] == ':' &&
		    sscanf(line + len + 1, "%llu", &kb) == 1) {
			fclose(f);
			return kb;
		}
	}
	fclose(f);
	fail("no %s in /proc/meminfo", key);
}

#define KK_KHO_FINALIZE		"/sys/kernel/debug/kho/out/finalize"

/*
 * Finalize (@on) or unfreeze (!@on) the handover through debugfs, as an
 * orchestrator would before a kexec or to abort one. 0 or -errno.
 */
static inline int kk_kho_finalize(bool on)
{
	int fd = open(KK_KHO_FINALIZE, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			skip("no %s: kernel without KHO debugfs or kho=off",
			     KK_KHO_FINALIZE);
		fail("open %s: %s", KK_KHO_FINALIZE, strerror(errno));
	}
	if (write(fd, on ? "1\n" : "0\n", 2) != 2)
		ret = -errno;
	close(fd);
	return ret;
}

/* 1 while the handover is finalized (frozen), else 0. */
static inline int kk_kho_finalized(void)
{
	char buf[16] = "";
	int fd = open(KK_KHO_FINALIZE, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		fail("open %s: %s", KK_KHO_FINALIZE, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		fail("read %s: %s", KK_KHO_FINALIZE,
		     n < 0 ? strerror(errno) : "empty");
	return atoi(buf);
}

/*
 * The number of pages preserved in the handover, from the message of the
 * last finalize: "kexec_handover: finalized in N us: FDT N bytes, N pages
 * preserved, N metadata pages".
 */
static inline long kk_kho_last_preserved_pages(void)
{
	char *log = kk_dmesg(), *p = log, *last = NULL;
	long pages = -1;

	while ((p = strstr(p, "finalized in ")))
		last = p++;
	if (last && (p = strstr(last, "bytes, ")))
		pages = strtol(p + strlen("bytes, "), NULL, 10);
	free(log);
	if (pages < 0)
		fail("no \"finalized in ... pages preserved\" line in the kernel log");
	return pages;
}

/*
 * Finalize, read how many pages the handover preserves, unfreeze. Every
 * preserved VM is quiesced meanwhile and resumed after.
 */
static inline long kk_kho_count_preserved(void)
{
	int before = kk_dmesg_count("finalized in "), ret;
	long pages;

	ret = kk_kho_finalize(true);
	if (ret)
		fail("finalize to count the preserved pages: %s", strerror(-ret));
	if (kk_dmesg_count("finalized in ") != before + 1)
		fail("finalize succeeded but logged no \"finalized in\" line");
	pages = kk_kho_last_preserved_pages();
	ret = kk_kho_finalize(false);
	if (ret)
		fail("unfreeze after counting the preserved pages: %s",
		     strerror(-ret));
	return pages;
}

/* ----- VMM processes that outlive a stage ----- */

/*
 * A VM belongs to the process that created or retrieved it, and a VMM
 * that carries it over must live until the kexec: the VMMs are children
 * of the test. A child says 'K' on its status pipe once its VMs are
 * preserved and it let go of the harness's output; the test exits 10
 * when all of them did.
 */
struct kk_child {
	char name[32];
	pid_t pid;
	int fd;		/* the read end of its status pipe */
};

static inline void kk_child_start(struct kk_child *c, const char *name,
				  void (*fn)(void *arg, int status_fd),
				  void *arg)
{
	int pfd[2];

	snprintf(c->name, sizeof(c->name), "%s", name);
	fflush(stdout);
	if (pipe(pfd))
		fail("pipe: %s", strerror(errno));
	c->pid = fork();
	if (c->pid < 0)
		fail("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(pfd[0]);
		fn(arg, pfd[1]);
		exit(EXIT_PASS);
	}
	close(pfd[1]);
	c->fd = pfd[0];
}

/*
 * Wait until @c says 'K' (EXIT_KEXEC) or exits (its exit status; a signal
 * fails the test).
 */
static inline int kk_child_wait(struct kk_child *c)
{
	int status;
	ssize_t n;
	char ch;

	do
		n = read(c->fd, &ch, 1);
	while (n < 0 && errno == EINTR);
	close(c->fd);
	c->fd = -1;
	if (n == 1 && ch == 'K')
		return EXIT_KEXEC;
	if (waitpid(c->pid, &status, 0) < 0)
		fail("waitpid %s: %s", c->name, strerror(errno));
	if (WIFSIGNALED(status))
		fail("%s (pid %d) died of signal %d", c->name, c->pid,
		     WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
}

/*
 * Wait for all @n children; EXIT_KEXEC if all said 'K', EXIT_PASS if all
 * passed, EXIT_SKIP if one skipped, else EXIT_FAIL.
 */
static inline int kk_children_wait(struct kk_child *c, int n)
{
	int i, rc, kexec = 0, pass = 0, skipped = 0;

	for (i = 0; i < n; i++) {
		rc = kk_child_wait(&c[i]);
		if (rc == EXIT_KEXEC)
			kexec++;
		else if (rc == EXIT_PASS)
			pass++;
		else if (rc == EXIT_SKIP)
			skipped++;
		else
			printf("# %s exited with status %d\n", c[i].name, rc);
	}
	fflush(stdout);
	if (kexec == n)
		return EXIT_KEXEC;
	if (pass == n)
		return EXIT_PASS;
	if (skipped && skipped + pass + kexec == n)
		return EXIT_SKIP;
	return EXIT_FAIL;
}

/*
 * In a VMM child, once its VMs are preserved: write from now on to
 * @logname, not to the harness's pipe (the test is about to exit), and
 * tell the test to kexec.
 */
static inline void kk_child_detach(int status_fd, const char *logname)
{
	int out;

	fflush(stdout);
	out = open(logname, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0)
		out = open("/dev/null", O_WRONLY);
	dup2(out, 1);
	dup2(out, 2);
	close(out);
	close(0);
	signal(SIGHUP, SIG_IGN);
	if (write(status_fd, "K", 1) != 1)
		fail("telling the test to kexec: %s", strerror(errno));
	close(status_fd);
}

/* ----- what a VMM leaves for the next stage, per VM ----- */

#define KK_REC_MAGIC		0x32636572766b6b6bULL	/* "kkkvrec2" */
#define KK_REC_SLOT		512

struct kk_record {
	uint64_t magic;
	uint64_t seq;
	uint64_t tsc_hz;
	uint64_t mem_size;
	uint64_t host_tsc;		/* host TSC when written */
	uint32_t region_size;
	uint32_t nr_vcpus;
	uint32_t csum;			/* the guest's checksum of the region */
	uint32_t passes;		/* checksum passes reported so far */
	uint32_t tag;			/* KK_CTL_TAG of this VM */
	uint32_t hop;			/* kexecs this VM went through so far */
	uint32_t count[KK_MAX_VCPUS];	/* last counter reported */
	uint64_t tsc[KK_MAX_VCPUS];	/* guest TSC of that report */
	uint64_t host[KK_MAX_VCPUS];	/* host TSC when it came */
	uint64_t check;			/* of everything above */
};

static inline uint64_t kk_rec_check(const struct kk_record *r)
{
	const uint8_t *p = (const uint8_t *)r;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < offsetof(struct kk_record, check); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* The latest reports of @vm into @r; @r->hop is the caller's. */
static inline void kk_record_fill(struct kk_vm *vm, struct kk_record *r)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	r->magic = KK_REC_MAGIC;
	r->tsc_hz = vm->tsc_hz;
	r->mem_size = vm->mem_size;
	r->region_size = kk_region_size(vm);
	r->nr_vcpus = vm->nr_vcpus;
	r->csum = *kk_ctl32(vm, KK_CTL_CSUM);
	r->tag = *kk_ctl32(vm, KK_CTL_TAG);
	r->passes = vm->vcpu[1].passes;
	for (i = 0; i < KK_MAX_VCPUS; i++) {
		r->count[i] = vm->vcpu[i].last_count;
		r->tsc[i] = vm->vcpu[i].last_tsc;
		r->host[i] = vm->vcpu[i].last_host;
	}
	r->host_tsc = kk_rdtsc();
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Two slots written in turn, unsynced: whenever the harness packs the
 * state directory, one of them is whole and the newest such is taken.
 */
static inline void kk_record_write(int fd, struct kk_record *r)
{
	r->seq++;
	r->check = kk_rec_check(r);
	if (pwrite(fd, r, sizeof(*r), (r->seq & 1) * KK_REC_SLOT) != sizeof(*r))
		fail("writing a record: %s", strerror(errno));
}

static inline int kk_record_create(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		fail("create %s: %s", path, strerror(errno));
	return fd;
}

static inline void kk_record_load(const char *path, struct kk_record *r)
{
	struct kk_record slot[2];
	int fd = open(path, O_RDONLY), i, best = -1;

	if (fd < 0)
		fail("open %s (left by the previous stage): %s", path,
		     strerror(errno));
	for (i = 0; i < 2; i++) {
		if (pread(fd, &slot[i], sizeof(slot[i]), i * KK_REC_SLOT) !=
		    sizeof(slot[i]) || slot[i].magic != KK_REC_MAGIC ||
		    slot[i].check != kk_rec_check(&slot[i]))
			continue;
		if (best < 0 || slot[i].seq > slot[best].seq)
			best = i;
	}
	close(fd);
	if (best < 0)
		fail("no whole record in %s", path);
	*r = slot[best];
}

/* ----- waiting on a running guest ----- */

/* for kk_wait(): every vCPU reported @want[i] times; vCPU 1 passed @want[2] */
static inline bool kk_reached(struct kk_vm *vm, void *arg)
{
	const uint64_t *want = arg;
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpu[i].reports < want[i])
			return false;
	return vm->nr_vcpus < 2 || vm->vcpu[1].passes >= want[2];
}

/*
 * Wait for @reports more reports from every vCPU and, with two vCPUs,
 * @passes more checksum passes.
 */
static inline void kk_wait_more(struct kk_vm *vm, double timeout,
				const char *what, uint64_t reports,
				uint32_t passes)
{
	uint64_t want[KK_MAX_VCPUS + 1];
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		want[i] = vm->vcpu[i].reports + reports;
	want[KK_MAX_VCPUS] = vm->vcpu[1].passes + passes;
	pthread_mutex_unlock(&vm->lock);
	kk_wait(vm, timeout, what, kk_reached, want);
}

/* ----- the restore side ----- */

/*
 * Rebuild @vm from @session as a VMM does in the new kernel: retrieve the
 * memfd (@tok_mem) and map it, retrieve the VM (@tok_vm), check guest RAM
 * is what @r says, set the configuration and memslot 0 again and create
 * the vCPUs with their ids. @name prefixes the messages.
 */
static inline void kk_restore_vm(struct kk_vm *vm, const char *name,
				 int session, uint64_t tok_mem,
				 uint64_t tok_vm, const struct kk_record *r)
{
	struct stat st;
	int i;

	vm->tsc_hz = r->tsc_hz;
	vm->mem_fd = luo_retrieve_fd(session, tok_mem);
	if (vm->mem_fd < 0)
		fail("%s: retrieve the guest RAM memfd (token %" PRIu64 "): %s",
		     name, tok_mem, strerror(-vm->mem_fd));
	if (fstat(vm->mem_fd, &st))
		fail("%s: fstat guest RAM memfd: %s", name, strerror(errno));
	if ((uint64_t)st.st_size != r->mem_size)
		fail("%s: guest RAM memfd of %" PRIu64 " bytes, expected %" PRIu64,
		     name, (uint64_t)st.st_size, r->mem_size);
	vm->mem_size = r->mem_size;
	vm->region_size = r->region_size;
	kk_map_mem(vm);

	vm->vm_fd = luo_retrieve_fd(session, tok_vm);
	if (vm->vm_fd < 0)
		fail("%s: retrieve the VM fd (token %" PRIu64 "): %s (%d)", name,
		     tok_vm, strerror(-vm->vm_fd), -vm->vm_fd);

	if (*kk_ctl32(vm, KK_CTL_MAGIC) != KK_CTL_MAGIC_VALUE ||
	    *kk_ctl32(vm, KK_CTL_INIT) != 1 ||
	    *kk_ctl32(vm, KK_CTL_CSUM) != r->csum ||
	    *kk_ctl32(vm, KK_CTL_TAG) != r->tag)
		fail("%s: control page: magic %#x init %u checksum %#x tag %#x, expected %#x 1 %#x %#x",
		     name, *kk_ctl32(vm, KK_CTL_MAGIC),
		     *kk_ctl32(vm, KK_CTL_INIT), *kk_ctl32(vm, KK_CTL_CSUM),
		     *kk_ctl32(vm, KK_CTL_TAG), KK_CTL_MAGIC_VALUE, r->csum,
		     r->tag);
	for (i = 0; i < (int)r->nr_vcpus; i++) {
		struct kk_slot *s = kk_slot(vm, i);

		if ((int32_t)(s->count - r->count[i]) < 0 || s->count != s->copy)
			fail("%s: vCPU %d: counter in guest RAM %u (copy %u), below the recorded %u",
			     name, i, s->count, s->copy, r->count[i]);
	}
	msg("ok: %s: retrieved memfd (%" PRIu64 " MiB, tag %#x) and VM; counters in guest RAM %u, %u (recorded %u, %u)",
	    name, vm->mem_size >> 20, r->tag, kk_slot(vm, 0)->count,
	    kk_slot(vm, 1)->count, r->count[0], r->count[1]);

	vm->kvm_fd = kk_open_kvm();
	kk_vcpu_mmap_size(vm);
	kk_configure_vm(vm);
	kk_set_memslot(vm);
	for (i = 0; i < (int)r->nr_vcpus; i++)
		kk_add_vcpu(vm, i, false);
}

/* for kk_wait(): the restored guest reported and, with 2 vCPUs, passed on */
static inline bool kk_resumed(struct kk_vm *vm, void *arg)
{
	const struct kk_record *r = arg;
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpu[i].reports < 3)
			return false;
	return vm->nr_vcpus < 2 ||
	       (vm->vcpu[1].pass_reports >= 1 && vm->vcpu[1].passes > r->passes);
}

/* how much later the guest TSC may read than the host TSC moved */
#define KK_TSC_SLACK_MS		20

/*
 * A guest TSC that is off after a kexec is noted in this file of the
 * state directory, and the test goes on to check everything else; it
 * fails on it at its end, with kk_tsc_verdict().
 */
#define KK_TSC_PROBLEMS		"tsc-problems"

static inline void kk_tsc_problem(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void kk_tsc_problem(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	printf("# TSC problem (the test fails at its end): %s\n", line);
	fflush(stdout);
	strcat(line, "\n");
	fd = open(KK_TSC_PROBLEMS, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		fail("%s: %s", KK_TSC_PROBLEMS, strerror(errno));
	close(fd);
}

/* Fail if a guest TSC was off after a kexec, with what the kernel said. */
static inline void kk_tsc_verdict(void)
{
	FILE *f = fopen(KK_TSC_PROBLEMS, "r");
	char line[256];
	bool any;

	if (!f)
		return;
	any = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!any)
		return;
	line[strcspn(line, "\n")] = '\0';
	kk_dmesg_show("TSC");
	kk_dmesg_show("tsc: ");
	fail("%s", line);
}

/*
 * After kk_restore_vm() and kk_start(): wait for the guest to go on, and
 * check it went on from where @r left it: counters past the recorded ones,
 * checksum passes counted on, the region intact from the host side, and
 * the guest TSC neither going back nor jumping further than the host TSC
 * moved (that one noted with kk_tsc_problem(): see kk_tsc_verdict()).
 */
static inline void kk_check_resumed(struct kk_vm *vm, const char *name,
				    const struct kk_record *r)
{
	uint64_t slack = r->tsc_hz / 1000 * KK_TSC_SLACK_MS;
	char what[64];
	uint32_t sum;
	int i;

	snprintf(what, sizeof(what), "%s to go on", name);
	kk_wait(vm, 300, what, kk_resumed, (void *)r);

	pthread_mutex_lock(&vm->lock);
	if (vm->init_seen) {
		pthread_mutex_unlock(&vm->lock);
		fail("%s: the guest filled its region again: it started over",
		     name);
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];
		uint64_t jump = v->first_tsc - r->tsc[i];
		uint64_t host = v->first_host - r->host[i];

		if ((int32_t)(v->first_count - r->count[i]) <= 0) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: vCPU %d: first counter after the kexec %u, not past the recorded %u",
			     name, i, v->first_count, r->count[i]);
		}
		msg("ok: %s: vCPU %d: counter %u after the kexec, %u before",
		    name, i, v->first_count, r->count[i]);
		if ((int64_t)jump <= 0)
			kk_tsc_problem("%s: vCPU %d: guest TSC went back across the kexec: %" PRIu64
				       " after, %" PRIu64 " before", name, i,
				       v->first_tsc, r->tsc[i]);
		else if (jump > host + slack)
			kk_tsc_problem("%s: vCPU %d: guest TSC jumped %.3f s across the kexec, the host TSC %.3f s (+%d ms)",
				       name, i, (double)jump / r->tsc_hz,
				       (double)host / r->tsc_hz, KK_TSC_SLACK_MS);
		else
			msg("ok: %s: vCPU %d: guest TSC +%.3f s across the kexec, host +%.3f s",
			    name, i, (double)jump / r->tsc_hz,
			    (double)host / r->tsc_hz);
	}
	if (vm->nr_vcpus > 1) {
		if (vm->vcpu[1].first_passes <= r->passes) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: checksum pass %u after the kexec, %u recorded before: reset",
			     name, vm->vcpu[1].first_passes, r->passes);
		}
		msg("ok: %s: checksum passes go on: %u after the kexec, %u before",
		    name, vm->vcpu[1].passes, r->passes);
	}
	pthread_mutex_unlock(&vm->lock);

	sum = kk_host_verify_region(vm, name);
	if (sum != r->csum)
		fail("%s: host-side checksum %#x, the guest's %#x", name, sum,
		     r->csum);
	msg("ok: %s: host side: %u MiB of pattern intact, checksum %#x", name,
	    kk_region_size(vm) >> 20, sum);
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
