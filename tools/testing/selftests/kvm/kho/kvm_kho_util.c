// SPDX-License-Identifier: GPL-2.0
/*
 * The VMM of the KVM Live Update tests (see kvm_kho_util.h): guest RAM,
 * the VM and its vCPUs, the vCPU threads and what they saw; what the host
 * tells about the handover (kernel log, KHO debugfs, meminfo); and the
 * VMM processes a test runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvm_kho_util.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT		26	/* as in <linux/memfd.h> */
#endif

/* ----- time ----- */

uint64_t kk_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

double kk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void kk_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The host TSC rate, measured against CLOCK_MONOTONIC. */
uint64_t kk_tsc_hz(void)
{
	double t0 = kk_now(), t1;
	uint64_t c0 = kk_rdtsc(), c1;

	kk_sleep_ms(200);
	c1 = kk_rdtsc();
	t1 = kk_now();
	return (uint64_t)((c1 - c0) / (t1 - t0));
}

/* ----- the VMM ----- */

struct kk_slot *kk_slot(struct kk_vm *vm, int id)
{
	return (struct kk_slot *)(vm->mem + KK_SLOT0 + id * KK_SLOT_SIZE);
}

uint32_t *kk_ctl32(struct kk_vm *vm, uint64_t gpa)
{
	return (uint32_t *)(vm->mem + gpa);
}

/* How much of guest RAM the guest fills and checks. */
uint32_t kk_region_size(const struct kk_vm *vm)
{
	return vm->region_size ? vm->region_size : KK_REGION_SIZE;
}

/* Open /dev/kvm; skip the test where there is none. */
int kk_open_kvm(void)
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

void kk_vm_init(struct kk_vm *vm, const char *logname)
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

/*
 * Fault every page of fresh (zeroed) guest RAM in, for writing; by hand
 * where the kernel has no madvise() (CONFIG_ADVISE_SYSCALLS=n).
 */
static void kk_populate(uint8_t *p, uint64_t size)
{
	uint64_t off;

	if (!madvise(p, size, MADV_POPULATE_WRITE))
		return;
	if (errno != ENOSYS && errno != EINVAL)
		fail("madvise(MADV_POPULATE_WRITE) on %" PRIu64 " MiB of guest RAM: %s",
		     size >> 20, strerror(errno));
	for (off = 0; off < size; off += 4096)
		p[off] = 0;
}

/*
 * Guest RAM is mapped at a 2 MiB boundary, so that the 2 MiB folios of a
 * hugetlb or THP memfd can be mapped whole (by a PMD, and by KVM as large
 * pages), or at the huge page size of a hugetlb memfd of larger pages (1
 * GiB, which hugetlbfs requires); the mapping is placed inside a larger
 * reservation.
 */
#define KK_MAP_ALIGN	(2ULL << 20)

static uint64_t kk_map_align(struct kk_vm *vm)
{
	struct stat st;

	/* hugetlbfs gives its huge page size as the block size */
	if (!fstat(vm->mem_fd, &st) && (uint64_t)st.st_blksize > KK_MAP_ALIGN)
		return st.st_blksize;
	return KK_MAP_ALIGN;
}

void kk_map_mem(struct kk_vm *vm, bool populate)
{
	int flags = MAP_SHARED | MAP_FIXED | (populate ? MAP_POPULATE : 0);
	uint64_t align = kk_map_align(vm);
	uint64_t span = vm->mem_size + align;
	uint8_t *res, *at;

	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		fail("reserve %" PRIu64 " MiB of address space for guest RAM: %s",
		     span >> 20, strerror(errno));
	at = (uint8_t *)(((uintptr_t)res + align - 1) & ~(align - 1));
	if (at > res)
		munmap(res, at - res);
	if (res + span > at + vm->mem_size)
		munmap(at + vm->mem_size, res + span - (at + vm->mem_size));
	/* THP: the mapping asks for huge pages before it is populated */
	vm->mem = mmap(at, vm->mem_size, PROT_READ | PROT_WRITE,
		       vm->backing == KK_BACKING_THP ? flags & ~MAP_POPULATE : flags,
		       vm->mem_fd, 0);
	if (vm->mem != MAP_FAILED && vm->backing == KK_BACKING_THP) {
		/*
		 * Without madvise(), shmem_enabled must say "always" or
		 * "within_size"; kk_thp_kib() tells what came of it.
		 */
		if (madvise(vm->mem, vm->mem_size, MADV_HUGEPAGE) &&
		    errno != ENOSYS)
			fail("madvise(MADV_HUGEPAGE) on guest RAM: %s",
			     strerror(errno));
		if (populate)
			kk_populate(vm->mem, vm->mem_size);
	}
	if (vm->mem == MAP_FAILED)
		fail("mmap of %" PRIu64 " MiB of guest RAM: %s",
		     vm->mem_size >> 20, strerror(errno));
}

const char *kk_backing_name(enum kk_backing backing)
{
	switch (backing) {
	case KK_BACKING_SHMEM:
		return "shmem";
	case KK_BACKING_HUGETLB:
		return "hugetlb";
	case KK_BACKING_THP:
		return "thp";
	case KK_BACKING_HUGETLB_1G:
		return "hugetlb-1g";
	}
	return "?";
}

int kk_backing_parse(const char *name)
{
	int b;

	for (b = KK_BACKING_SHMEM; b <= KK_BACKING_HUGETLB_1G; b++)
		if (!strcmp(name, kk_backing_name(b)))
			return b;
	return -EINVAL;
}

void kk_create_mem_backed(struct kk_vm *vm, uint64_t size,
			  enum kk_backing backing)
{
	unsigned int flags = MFD_CLOEXEC;
	const char *what = kk_backing_name(backing);

	if (backing == KK_BACKING_HUGETLB)
		flags |= MFD_HUGETLB | (21U << MFD_HUGE_SHIFT);
	if (backing == KK_BACKING_HUGETLB_1G)
		flags |= MFD_HUGETLB | (30U << MFD_HUGE_SHIFT);
	vm->mem_size = size;
	vm->backing = backing;
	vm->hugetlb = backing == KK_BACKING_HUGETLB ||
		      backing == KK_BACKING_HUGETLB_1G;
	vm->mem_fd = memfd_create("kvm-kho-guest-ram", flags);
	if (vm->mem_fd < 0)
		fail("memfd_create (%s): %s", what, strerror(errno));
	if (ftruncate(vm->mem_fd, size))
		fail("ftruncate %s guest RAM memfd to %" PRIu64 " MiB: %s",
		     what, size >> 20, strerror(errno));
	/* every page allocated now: a preserved memfd must not grow pages */
	kk_map_mem(vm, true);
}

/* Guest RAM: a memfd, shmem or 2 MiB hugetlb. */
void kk_create_mem(struct kk_vm *vm, uint64_t size, bool hugetlb)
{
	kk_create_mem_backed(vm, size, hugetlb ? KK_BACKING_HUGETLB :
			     KK_BACKING_SHMEM);
}

uint64_t kk_thp_kib(struct kk_vm *vm)
{
	char line[256], *end;
	uint64_t kib = 0;
	bool in = false;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		fail("open /proc/self/smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo = strtoull(line, &end, 16);

		/* a mapping's first line: "start-end perms ..." */
		if (*end == '-') {
			in = lo == (uintptr_t)vm->mem;
			continue;
		}
		if (in && sscanf(line, "ShmemPmdMapped: %" SCNu64, &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

void kk_set_memslot(struct kk_vm *vm)
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

void kk_vcpu_mmap_size(struct kk_vm *vm)
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
void kk_configure_vm(struct kk_vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		fail("KVM_SET_TSS_ADDR: %s", strerror(errno));
}

void kk_new_vm(struct kk_vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		fail("KVM_CREATE_VM: %s", strerror(errno));
	kk_vcpu_mmap_size(vm);
	kk_configure_vm(vm);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	kk_set_memslot(vm);
}

/*
 * The exception stubs at KK_EXC, an IDT of interrupt gates to them at
 * KK_IDT and, at KK_GDT, the flat segments the entry state loads (an
 * interrupt gate reloads CS from the GDT): an exception in the guest is
 * reported with where it happened, instead of ending in a triple fault.
 */
static void kk_install_idt(struct kk_vm *vm)
{
	static const uint64_t gdt[] = {
		0,
		0x00cf9b000000ffffULL,	/* 0x08: code, 4 GiB, 32-bit */
		0x00cf93000000ffffULL,	/* 0x10: data, 4 GiB */
	};
	size_t size = kk_exc_end - kk_exc_start;
	uint32_t *gate = (uint32_t *)(vm->mem + KK_IDT);
	uint32_t v, handler;

	memcpy(vm->mem + KK_GDT, gdt, sizeof(gdt));

	if (size > KK_STACKS - KK_EXC)
		fail("exception stubs of %zu bytes do not fit", size);
	memcpy(vm->mem + KK_EXC, kk_exc_start, size);
	for (v = 0; v < KK_IDT_VECTORS; v++) {
		handler = KK_EXC + v * KK_EXC_STUB;
		/* selector 0x08, present 32-bit interrupt gate, DPL 0 */
		gate[2 * v] = 0x08 << 16 | (handler & 0xffff);
		gate[2 * v + 1] = (handler & 0xffff0000) | 0x8e00;
	}
	vm->idt = true;
}

void kk_create_vm(struct kk_vm *vm)
{
	size_t code = kk_guest_end - kk_guest_start;

	kk_new_vm(vm);
	if (code > KK_CODE_MAX)
		fail("guest code of %zu bytes does not fit", code);
	memcpy(vm->mem + KK_CODE, kk_guest_start, code);
	kk_install_idt(vm);
	*kk_ctl32(vm, KK_CTL_INTERVAL) =
		(uint32_t)(vm->tsc_hz / KK_REPORTS_PER_SEC);
	*kk_ctl32(vm, KK_CTL_MAGIC) = KK_CTL_MAGIC_VALUE;
}

struct kvm_cpuid2 *kk_supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t n = 64;

	for (;;) {
		c = realloc(c, sizeof(*c) + (n + 1) * sizeof(c->entries[0]));
		if (!c)
			fail("out of memory for CPUID");
		memset(c, 0, sizeof(*c) + (n + 1) * sizeof(c->entries[0]));
		c->nent = n;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		if (errno != E2BIG || n > 4096)
			fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		n *= 2;
	}
}

/* CPUID as KVM supports it, without SVM and VMX for the guest. */
static void kk_set_cpuid(struct kk_vm *vm, struct kk_vcpu *v)
{
	struct kvm_cpuid2 *c = kk_supported_cpuid(vm->kvm_fd);
	uint32_t i;

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
static void kk_set_entry_state(struct kk_vcpu *v)
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
	if (v->vm->idt) {
		sregs.idt.base = KK_IDT;
		sregs.idt.limit = KK_IDT_VECTORS * 8 - 1;
		sregs.gdt.base = KK_GDT;
		sregs.gdt.limit = 3 * 8 - 1;
	}
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
struct kk_vcpu *kk_add_vcpu(struct kk_vm *vm, int id, bool fresh)
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

void kk_log(struct kk_vm *vm, const char *fmt, ...)
{
	va_list ap;

	fprintf(vm->log, "%.3f ", kk_now());
	va_start(ap, fmt);
	vfprintf(vm->log, fmt, ap);
	va_end(ap);
	fputc('\n', vm->log);
}

void kk_vcpu_stopped(struct kk_vcpu *v, int err, const char *fmt, ...)
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
static bool kk_handle_io(struct kk_vcpu *v)
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
		if (!v->reports || (int64_t)(host - tsc) < v->min_lag)
			v->min_lag = (int64_t)(host - tsc);
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
		if (val == KK_FAIL_EXCEPTION) {
			pthread_mutex_unlock(&vm->lock);
			kk_vcpu_stopped(v, 0, "guest exception: vector %u, error code %#x, at EIP %#x, CR2 %#x",
					s->exc_vector, s->exc_error,
					s->exc_eip, s->exc_cr2);
			return false;
		}
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
			if (!(v->vm->io ? v->vm->io(v) : kk_handle_io(v)))
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

void kk_start(struct kk_vm *vm)
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

void kk_stop(struct kk_vm *vm)
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
void kk_check_healthy(struct kk_vm *vm)
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

void kk_check_counters(struct kk_vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_slot *s = kk_slot(vm, i);

		if (s->count != s->copy ||
		    (int32_t)(s->count - vm->vcpu[i].last_count) < 0)
			fail("vCPU %d: counter in guest RAM %u (copy %u), last reported %u",
			     i, s->count, s->copy, vm->vcpu[i].last_count);
		msg("ok: vCPU %d: counter in guest RAM %u >= last reported %u",
		    i, s->count, vm->vcpu[i].last_count);
	}
}

/*
 * Wait up to @timeout s for @done(vm, arg) (called under vm->lock), failing
 * early if the guest or a vCPU thread goes wrong; prints progress.
 */
void kk_wait(struct kk_vm *vm, double timeout, const char *what,
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

/* for kk_wait(): every vCPU reported @want[i] times; vCPU 1 passed @want[2] */
bool kk_reached(struct kk_vm *vm, void *arg)
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
void kk_wait_more(struct kk_vm *vm, double timeout, const char *what,
		  uint64_t reports, uint32_t passes)
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

/* ----- the pattern, checked from the host side ----- */

uint32_t kk_pattern(uint32_t gpa)
{
	return (gpa ^ KK_PATTERN_XOR) * (uint32_t)KK_PATTERN_MUL;
}

uint32_t kk_verify_pattern(struct kk_vm *vm, uint32_t bytes, const char *what)
{
	const uint32_t *w = (const uint32_t *)(vm->mem + KK_REGION);
	uint32_t sum = KK_SUM_INIT, i, n = bytes / 4;

	for (i = 0; i < n; i++) {
		uint32_t gpa = KK_REGION + i * 4;

		if (w[i] != kk_pattern(gpa))
			fail("%s: guest RAM word at GPA %#x: expected %#x, got %#x",
			     what, gpa, kk_pattern(gpa), w[i]);
		sum = (sum << 1 | sum >> 31) + w[i];
	}
	return sum;
}

uint32_t kk_host_verify_region(struct kk_vm *vm, const char *what)
{
	return kk_verify_pattern(vm, kk_region_size(vm), what);
}

/* ----- Live Update (raw ioctls: 0 or an fd, or -errno) ----- */

int kk_luo_open(void)
{
	int fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * /dev/liveupdate opens for one file at a time: VMMs that run side by side
 * take turns, each holding it only to create or retrieve its session.
 * Wait up to @timeout s for it; 0 or -errno as kk_luo_open().
 */
int kk_luo_open_wait(double timeout)
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
uint64_t kk_mem_size_for(uint32_t region)
{
	return ((uint64_t)KK_REGION + region + (2ULL << 20) - 1) &
	       ~((2ULL << 20) - 1);
}

void kk_create_guest_backed(struct kk_vm *vm, uint32_t region,
			    enum kk_backing backing)
{
	uint64_t size = kk_mem_size_for(region);
	int i;

	/* whole pages of the backing */
	if (backing == KK_BACKING_HUGETLB_1G)
		size = (size + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	vm->kvm_fd = kk_open_kvm();
	vm->tsc_hz = kk_tsc_hz();
	msg("# host TSC %.0f MHz", vm->tsc_hz / 1e6);
	kk_create_mem_backed(vm, size, backing);
	kk_create_vm_sized(vm, region);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		kk_add_vcpu(vm, i, true);
	msg("ok: VM with irqchip, %" PRIu64 " MiB %s memfd at GPA 0, %d vCPUs",
	    vm->mem_size >> 20, kk_backing_name(backing), vm->nr_vcpus);
}

void kk_create_guest(struct kk_vm *vm, uint32_t region)
{
	kk_create_guest_backed(vm, region, KK_BACKING_SHMEM);
}

/*
 * The guest has the end of the region as an immediate in two places: the
 * fill loop (cmp $KK_REGION_END, %edi) and the end of a checksum pass (cmp
 * $KK_REGION_END, %ebp). Give the copy in guest RAM another end; fail if
 * the code does not look like that any more.
 */
static void kk_patch_region_end(struct kk_vm *vm, uint32_t end)
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
void kk_create_vm_sized(struct kk_vm *vm, uint32_t region)
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

/* The kernel log as it is now, NUL-terminated; free() it. */
char *kk_dmesg(void)
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
int kk_dmesg_count(const char *what)
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
void kk_dmesg_show(const char *what)
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

/*
 * Finalize (@on) or unfreeze (!@on) the handover through debugfs, as an
 * orchestrator would before a kexec or to abort one. 0 or -errno.
 */
int kk_kho_finalize(bool on)
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
int kk_kho_finalized(void)
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

/* ----- error injection ----- */

#define KK_FAIL_FUNCTION	"/sys/kernel/debug/fail_function"

static void kk_write_file(const char *path, const char *fmt, ...);

void kk_quiesce_at(const char *when)
{
	kk_write_file("/sys/module/liveupdate/parameters/quiesce", "%s\n",
		      when);
}

static void kk_write_file(const char *path, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s%s", path, strerror(errno), errno == ENOENT ?
		     " (a kernel without CONFIG_FAIL_FUNCTION?)" : "");
	if (write(fd, buf, n) != n)
		fail("write \"%s\" to %s: %s", buf, path, strerror(errno));
	close(fd);
}

void kk_inject_error(const char *func, int err, int times)
{
	char path[256];

	kk_write_file(KK_FAIL_FUNCTION "/inject", "%s\n", func);
	snprintf(path, sizeof(path), KK_FAIL_FUNCTION "/%s/retval", func);
	/* an errno, as the unsigned long the function returns */
	kk_write_file(path, "%#llx\n", (unsigned long long)(long long)err);
	kk_write_file(KK_FAIL_FUNCTION "/probability", "100\n");
	kk_write_file(KK_FAIL_FUNCTION "/interval", "1\n");
	kk_write_file(KK_FAIL_FUNCTION "/times", "%d\n", times);
	/* no stack dump per injection: that reads as a kernel splat */
	kk_write_file(KK_FAIL_FUNCTION "/verbose", "0\n");
}

void kk_inject_clear(void)
{
	kk_write_file(KK_FAIL_FUNCTION "/inject", "\n");
}

/*
 * The number of pages preserved in the handover, from the message of the
 * last finalize: "kexec_handover: finalized in N us: FDT N bytes, N pages
 * preserved, N metadata pages".
 */
long kk_kho_last_preserved_pages(void)
{
	char *log = kk_dmesg(), *p = log, *last = NULL;
	long pages = -1;

	while ((p = strstr(p, "finalized in ")))
		last = p++;
	p = last ? strstr(last, "bytes, ") : NULL;
	if (p)
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
long kk_kho_count_preserved(void)
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

void kk_child_start(struct kk_child *c, const char *name,
		    void (*fn)(void *arg, int status_fd), void *arg)
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
int kk_child_wait(struct kk_child *c)
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
int kk_children_wait(struct kk_child *c, int n)
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
void kk_child_detach(int status_fd, const char *logname)
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
