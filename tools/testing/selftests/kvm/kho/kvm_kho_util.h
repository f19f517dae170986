/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny VMM for the KVM Live Update tests: raw ioctls from <linux/kvm.h>,
 * one memfd of guest RAM at GPA 0, an in-kernel irqchip and one thread per
 * vCPU looping on KVM_RUN. kvm_kho_util.c is the VMM, kvm_kho_util_guest.c
 * the guest, kvm_kho_util_record.c what a VMM carries across a kexec and
 * checks after it.
 *
 * The guest (kvm_kho_util_guest.c says what it does) fills a region of
 * its RAM with a pattern, then counts, checks the region over and over and
 * reports on I/O ports; the VMM logs every report to a file in the test's
 * state directory and keeps the latest values per vCPU for the test.
 */
#ifndef KVM_KHO_UTIL_H
#define KVM_KHO_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../../liveupdate/luo_test_utils.h"

/* ----- guest physical layout (plain numbers: the guest asm uses them) ----- */

#define KK_CTL			0x8000		/* control page */
#define KK_CTL_MAGIC		0x8000		/* written by the VMM */
#define KK_CTL_INIT		0x8004		/* 1 once vCPU 0 filled the region */
#define KK_CTL_CSUM		0x8008		/* checksum of the region */
#define KK_CTL_INTERVAL		0x800c		/* TSC ticks between reports */
#define KK_SLOT0		0x8100		/* per-vCPU slots, 64 bytes each */
#define KK_SLOT_SIZE		64
#define KK_IDT			0x8800		/* 32 interrupt gates (kk_create_vm) */
#define KK_IDT_VECTORS		32
#define KK_GDT			0x8900		/* null, code 0x08, data 0x10 */
#define KK_CODE			0x10000		/* the guest code is copied here */
#define KK_CODE_MAX		0x8000
#define KK_EXC			0x18000		/* the exception stubs, copied here */
#define KK_EXC_STUB		16		/* bytes per vector's stub */
#define KK_EXC_COMMON		(KK_EXC + KK_IDT_VECTORS * KK_EXC_STUB)
#define KK_APIC_ID		0xfee00020	/* xAPIC ID register, bits 31:24 */
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
#define KK_FAIL_EXCEPTION	3	/* the guest took an exception: see the slot */

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
	/* +0x20 the last exception the guest took (KK_FAIL_EXCEPTION) */
	uint32_t exc_vector;	/* +0x20 */
	uint32_t exc_error;	/* +0x24 error code, 0 for vectors without */
	uint32_t exc_eip;	/* +0x28 where */
	uint32_t exc_cr2;	/* +0x2c CR2 then (the address of a #PF) */
};

/* A word of the control page the guest never touches: the tests' own. */
#define KK_CTL_TAG		0x8080

/* The guest code, to copy to KK_CODE (kvm_kho_util_guest.c). */
extern const char kk_guest_start[], kk_guest_end[];
/*
 * The exception stubs, to copy to KK_EXC: one of KK_EXC_STUB bytes per
 * vector, then the common part at KK_EXC_COMMON, which records the
 * exception in the slot of the vCPU (found by its APIC ID), reports
 * KK_FAIL_EXCEPTION and spins.
 */
extern const char kk_exc_start[], kk_exc_end[];

/* ----- time ----- */

uint64_t kk_rdtsc(void);

/* CLOCK_MONOTONIC in seconds. */
double kk_now(void);
/* Sleep @ms ms, through signals. */
void kk_sleep_ms(unsigned int ms);
/* The host TSC rate, measured against CLOCK_MONOTONIC over 200 ms. */
uint64_t kk_tsc_hz(void);

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
	/*
	 * The least host TSC minus guest TSC of all reports: the guest's
	 * TSC offset (negated) plus the shortest delay from a report's
	 * RDTSC in the guest to the VMM's, which a busy host stretches.
	 */
	int64_t min_lag;
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

/* What backs guest RAM: the memfd's kind */
enum kk_backing {
	KK_BACKING_SHMEM,	/* shmem, 4 KiB pages */
	KK_BACKING_HUGETLB,	/* hugetlbfs, 2 MiB pages from the pool */
	KK_BACKING_THP,		/* shmem in 2 MiB folios (MADV_HUGEPAGE) */
	KK_BACKING_HUGETLB_1G,	/* hugetlbfs, 1 GiB pages from the pool */
};

struct kk_vm {
	int kvm_fd;
	int vm_fd;
	int mem_fd;
	uint64_t mem_size;
	bool hugetlb;
	enum kk_backing backing;
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
	bool idt;		/* kk_create_vm() installed the exception stubs */

	/*
	 * Handles KVM_EXIT_IO for a VMM with a guest of its own (NULL: the
	 * guest above); false stops the vCPU, after kk_vcpu_stopped().
	 */
	bool (*io)(struct kk_vcpu *v);
};

/* vCPU @id's slot, and a word of the control page, in guest RAM */
struct kk_slot *kk_slot(struct kk_vm *vm, int id);
uint32_t *kk_ctl32(struct kk_vm *vm, uint64_t gpa);
/* How much of guest RAM the guest fills and checks. */
uint32_t kk_region_size(const struct kk_vm *vm);

/* Open /dev/kvm; skip the test where there is none. */
int kk_open_kvm(void);
/* An empty @vm that logs to @logname (appended to). */
void kk_vm_init(struct kk_vm *vm, const char *logname);
/*
 * Map all of the guest RAM memfd, 2 MiB aligned; @populate: fault every
 * page in now (for THP, after asking for huge pages with MADV_HUGEPAGE).
 */
void kk_map_mem(struct kk_vm *vm, bool populate);
/* Guest RAM: a memfd of @size bytes, shmem or 2 MiB hugetlb, mapped. */
void kk_create_mem(struct kk_vm *vm, uint64_t size, bool hugetlb);
/*
 * Guest RAM: a memfd of @size bytes backed as @backing, mapped and every
 * page allocated. THP needs the shmem_enabled sysfs knob at "advise" (or
 * "always", "within_size"; "always" where the kernel has no madvise()),
 * hugetlb enough free pages in the pool.
 */
void kk_create_mem_backed(struct kk_vm *vm, uint64_t size,
			  enum kk_backing backing);
/* "shmem", "hugetlb", "thp", "hugetlb-1g"; and back: a backing, or -EINVAL. */
const char *kk_backing_name(enum kk_backing backing);
int kk_backing_parse(const char *name);
/* KiB of @vm's guest RAM mapping mapped by 2 MiB shmem folios (smaps). */
uint64_t kk_thp_kib(struct kk_vm *vm);
/* Memslot 0: all of guest RAM at GPA 0. */
void kk_set_memslot(struct kk_vm *vm);
/* Read the size of a vCPU's kvm_run mapping. */
void kk_vcpu_mmap_size(struct kk_vm *vm);
/*
 * VM configuration that is not VM state: a VM restored by Live Update
 * needs it set again too.
 */
void kk_configure_vm(struct kk_vm *vm);
/* A new VM with an irqchip and memslot 0 over the memfd, no guest code. */
void kk_new_vm(struct kk_vm *vm);
/* kk_new_vm() with the guest code loaded and the control page set. */
void kk_create_vm(struct kk_vm *vm);
/*
 * kk_create_vm() with a region of @region bytes instead of 256 MiB:
 * a multiple of 64 KiB (what vCPU 1 checks per turn), within guest RAM.
 */
void kk_create_vm_sized(struct kk_vm *vm, uint32_t region);
/* Guest RAM for a region of @region bytes, rounded up to 2 MiB. */
uint64_t kk_mem_size_for(uint32_t region);
/*
 * The tests' usual VM, after kk_vm_init(): /dev/kvm, guest RAM for a
 * region of @region bytes, the guest loaded and all its vCPUs, not started.
 */
void kk_create_guest(struct kk_vm *vm, uint32_t region);
/* kk_create_guest() with guest RAM backed as @backing, in whole pages of it */
void kk_create_guest_backed(struct kk_vm *vm, uint32_t region,
			    enum kk_backing backing);
/*
 * KVM_GET_SUPPORTED_CPUID, with room for one more entry after the last;
 * free() it.
 */
struct kvm_cpuid2 *kk_supported_cpuid(int kvm_fd);
/*
 * Create vCPU @id and map its kvm_run. @fresh: give it CPUID (no SVM or
 * VMX) and the entry state; a VM restored by Live Update carries those.
 */
struct kk_vcpu *kk_add_vcpu(struct kk_vm *vm, int id, bool fresh);

/* A timestamped line in the VM's log file. */
void __attribute__((format(printf, 2, 3)))
kk_log(struct kk_vm *vm, const char *fmt, ...);
/* Note why vCPU @v's thread gives up (@err: errno of KVM_RUN, or 0). */
void __attribute__((format(printf, 3, 4)))
kk_vcpu_stopped(struct kk_vcpu *v, int err, const char *fmt, ...);

/* One thread per vCPU, looping on KVM_RUN until kk_stop(). */
void kk_start(struct kk_vm *vm);
void kk_stop(struct kk_vm *vm);
/* Fail the test if a vCPU thread gave up or the guest found a problem. */
void kk_check_healthy(struct kk_vm *vm);
/*
 * Once stopped: fail unless every counter in guest RAM is whole and no
 * less than the vCPU last reported.
 */
void kk_check_counters(struct kk_vm *vm);
/*
 * Wait up to @timeout s for @done(vm, arg) (called under vm->lock), failing
 * early if the guest or a vCPU thread goes wrong; prints progress.
 */
void kk_wait(struct kk_vm *vm, double timeout, const char *what,
	     bool (*done)(struct kk_vm *vm, void *arg), void *arg);
/* for kk_wait(): every vCPU reported @want[i] times; vCPU 1 passed @want[2] */
bool kk_reached(struct kk_vm *vm, void *arg);
/*
 * Wait for @reports more reports from every vCPU and, with two vCPUs,
 * @passes more checksum passes.
 */
void kk_wait_more(struct kk_vm *vm, double timeout, const char *what,
		  uint64_t reports, uint32_t passes);

/* ----- the pattern, checked from the host side ----- */

/* The word the guest writes at @gpa of the region. */
uint32_t kk_pattern(uint32_t gpa);

/*
 * Check the first @bytes of the region against the pattern and return
 * their checksum (the guest's algorithm); fails on the first wrong word.
 */
uint32_t kk_verify_pattern(struct kk_vm *vm, uint32_t bytes, const char *what);
/* kk_verify_pattern() over the region this VM has. */
uint32_t kk_host_verify_region(struct kk_vm *vm, const char *what);

/* ----- Live Update, the kernel log, the handover from debugfs ----- */

#define KK_KHO_FINALIZE		KHO_DEBUGFS "/out/finalize"

/* Open /dev/liveupdate: an fd, or -errno. */
int kk_luo_open(void);
/*
 * /dev/liveupdate opens for one file at a time: VMMs that run side by side
 * take turns, each holding it only to create or retrieve its session.
 * Wait up to @timeout s for it; an fd or -errno as kk_luo_open().
 */
int kk_luo_open_wait(double timeout);
/* The kernel log as it is now, NUL-terminated; free() it. */
char *kk_dmesg(void);
/* How many lines of the kernel log contain @what. */
int kk_dmesg_count(const char *what);
/* Print the kernel log lines that contain @what, as "# dmesg: ...". */
void kk_dmesg_show(const char *what);
/*
 * Finalize (@on) or unfreeze (!@on) the handover through debugfs, as an
 * orchestrator would before a kexec or to abort one. 0 or -errno.
 */
int kk_kho_finalize(bool on);
/* 1 while the handover is finalized (frozen), else 0. */
int kk_kho_finalized(void);
/* When Live Update quiesces a VM: "kexec" (the default) or "finalize". */
void kk_quiesce_at(const char *when);
/* The number of pages preserved, from the kernel log of the last finalize. */
long kk_kho_last_preserved_pages(void);
/*
 * Finalize, read how many pages the handover preserves, unfreeze. Every
 * preserved VM is quiesced meanwhile and resumed after.
 */
long kk_kho_count_preserved(void);

/* ----- error injection (debugfs fail_function) ----- */

/*
 * Make the next @times calls of the kernel function @func, which the
 * kernel allows errors to be injected into, return @err. The test fails
 * when the kernel cannot inject (CONFIG_FAIL_FUNCTION).
 */
void kk_inject_error(const char *func, int err, int times);
/* Stop injecting errors. */
void kk_inject_clear(void);

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

/* Fork a VMM child that runs @fn(@arg, status fd), then exits 0. */
void kk_child_start(struct kk_child *c, const char *name,
		    void (*fn)(void *arg, int status_fd), void *arg);
/*
 * Wait until @c says 'K' (EXIT_KEXEC) or exits (its exit status; a signal
 * fails the test).
 */
int kk_child_wait(struct kk_child *c);
/*
 * Wait for all @n children; EXIT_KEXEC if all said 'K', EXIT_PASS if all
 * passed, EXIT_SKIP if one skipped, else EXIT_FAIL.
 */
int kk_children_wait(struct kk_child *c, int n);
/*
 * In a VMM child, once its VMs are preserved: write from now on to
 * @logname, not to the harness's pipe (the test is about to exit), and
 * tell the test to kexec.
 */
void kk_child_detach(int status_fd, const char *logname);

/* ----- what a VMM leaves for the next stage, per VM ----- */

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
	int64_t min_lag[KK_MAX_VCPUS];	/* struct kk_vcpu's */
	uint64_t check;			/* of everything above */
};

/* The latest reports of @vm into @r; @r->hop is the caller's. */
void kk_record_fill(struct kk_vm *vm, struct kk_record *r);
/*
 * Two slots written in turn, unsynced: whenever the harness packs the
 * state directory, one of them is whole and the newest such is taken.
 */
void kk_record_write(int fd, struct kk_record *r);
int kk_record_create(const char *path);
/*
 * Keep writing @vm's latest reports into @fd, every 100 ms, until the
 * kexec ends the process: the next stage takes the last whole one.
 */
void __attribute__((noreturn))
kk_record_until_kexec(struct kk_vm *vm, int fd, struct kk_record *r);
/* The newest whole record of @path; fails if there is none. */
void kk_record_load(const char *path, struct kk_record *r);

/* ----- the preserve side ----- */

/*
 * Preserve @vm's guest RAM memfd as @tok_mem and its VM fd as @tok_vm in
 * @session, memfd first as the VM needs it; fails the test on an error.
 * @name prefixes the messages.
 */
void kk_preserve_vm(struct kk_vm *vm, const char *name, int session,
		    uint64_t tok_mem, uint64_t tok_vm);

/* ----- the restore side ----- */

/*
 * Take @vm's guest RAM memfd (@tok_mem, @mem_size bytes) and VM (@tok_vm)
 * back from @session and map the memfd (@populate: all of it now). @name
 * prefixes the messages.
 */
void kk_retrieve_vm(struct kk_vm *vm, const char *name, int session,
		    uint64_t tok_mem, uint64_t tok_vm, uint64_t mem_size,
		    bool populate);
/* What a retrieved VM needs again: /dev/kvm, its configuration, memslot 0. */
void kk_reattach_vm(struct kk_vm *vm);
/*
 * Rebuild @vm from @session as a VMM does in the new kernel: retrieve it,
 * check guest RAM is what @r says, set it up again and create the vCPUs
 * with their ids.
 */
void kk_restore_vm(struct kk_vm *vm, const char *name, int session,
		   uint64_t tok_mem, uint64_t tok_vm, const struct kk_record *r);

/*
 * How much further the guest TSC may move than the host's across a kexec,
 * for rounding in TSC scaling: compared by the least lag on each side
 * (struct kk_vcpu's min_lag), not by one report each, so a report the VMM
 * was slow to see does not count against the kernel.
 */
#define KK_TSC_SLACK_MS		20

/*
 * A guest TSC that is off after a kexec is noted in this file of the
 * state directory, and the test goes on to check everything else; it
 * fails on it at its end, with kk_tsc_verdict().
 */
#define KK_TSC_PROBLEMS		"tsc-problems"

void __attribute__((format(printf, 1, 2))) kk_tsc_problem(const char *fmt, ...);
/* Fail if a guest TSC was off after a kexec, with what the kernel said. */
void kk_tsc_verdict(void);
/*
 * After kk_restore_vm() and kk_start(): wait up to @timeout s for the
 * guest to go on, and check it went on from where @r left it: counters
 * past the recorded ones, checksum passes counted on, the region intact
 * from the host side, and the guest TSC neither going back nor jumping
 * further than the host TSC moved (a kk_tsc_problem()).
 */
void kk_check_resumed(struct kk_vm *vm, const char *name,
		      const struct kk_record *r, double timeout);

#endif /* KVM_KHO_UTIL_H */
