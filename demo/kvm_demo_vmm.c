// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_demo_vmm: the VMM of `make demo` and of bench/kvm_blackout, built on
 * the tiny VMM library of the KVM Live Update selftests (kvm_kho_util.h).
 *
 *   kvm_demo_vmm run [options]       start VMs, preserve them in a Live
 *                                    Update session, run them until the kexec
 *   kvm_demo_vmm restore [options]   in the next kernel: take them back, run
 *                                    them on, check and report; with
 *                                    --serve, preserve them again and run
 *                                    on until the next kexec (a host that
 *                                    is updated again and again)
 *   kvm_demo_vmm plan FILE MS        note in FILE a host TSC MS ms from now
 *   kvm_demo_vmm reboot-at FILE      wait for that TSC, then reboot into the
 *                                    loaded kernel (exit 3 if it is past)
 *   kvm_demo_vmm since FILE          ms from that TSC to now
 *
 * plan/reboot-at/since time a plain kexec reboot: the TSC at which the old
 * kernel's userspace calls reboot() is fixed in advance and written into
 * the state directory, which the next kernel gets in its initramfs; the host
 * TSC runs on through kexec, so the next userspace reads how long it took.
 *
 * The guest (32-bit protected mode, at the end of this file) talks on an
 * emulated serial port, 0x3f8. vCPU 0 fills FILL MiB of its RAM with the
 * pattern of kvm_kho_util.h, then prints "tick N" about twice a second;
 * in between it asks the VMM to let it sleep, 10 ms at a time (an OUT to
 * port 0xe4), so that an idle guest leaves the host idle (--hlt: HLT on
 * its local APIC timer at 100 Hz instead; --spin: busy). vCPU 1, if
 * there is one, checksums the filled memory over and over and prints
 * "memory check N: M MiB ok". Each vCPU reads the TSC at every wakeup: a
 * gap of more than 300 ms is a pause it did not see coming, and its next
 * line ends with " after a pause of N ms". The VMM prints every line as
 * "guest: ...".
 *
 * Guest RAM is a memfd per VM: 2 MiB hugetlb pages by default, as a
 * production host has it (--backing hugetlb; the pool must have the free
 * pages), shmem in 2 MiB transparent huge pages (--backing thp; needs
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled at "always", or at
 * "advise" where the kernel has madvise())
 * or plain 4 KiB shmem (--backing shmem). "run" records the physical page of
 * each guest page (/proc/self/pagemap) and preserves, in session SESSION:
 * its own state in a small memfd (token 1: the PFNs, the last tick before
 * the update with its host TSC, the serial lines in flight, the last lines
 * printed), and each VM's RAM memfd (token 0x100 + i) and VM fd (0x200 + i).
 * "restore" retrieves them, maps guest RAM, sets the memslot, creates the
 * vCPUs with the same ids and runs: the kernel restores each vCPU at its
 * first KVM_RUN. Then it checks the PFNs (pages copied: those that moved),
 * the guest memory against the pattern and the guest's own checksum, that
 * the ticks go on from where they were, and reports the blackout: the
 * kernel's ("kvm-PID: vCPU N resumed, U us after it was stopped"), the guest's own
 * (the pause its clock showed), and the gap in its serial output.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <getopt.h>
#include <linux/reboot.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/reboot.h>

#include "kvm_kho_guest_asm.h"

/* ----- the guest's layout, beside kvm_kho_util.h's control page ----- */

#define DG_CTL_FILL_END		0x8040	/* end of the filled region (GPA) */
#define DG_CTL_TICK		0x8044	/* TSC ticks between "tick" lines */
#define DG_CTL_KHZ		0x8048	/* TSC kHz, for ms */
#define DG_CTL_PAUSE_MIN	0x804c	/* TSC ticks that make a pause */
#define DG_CTL_IDLE		0x8050	/* DG_IDLE_*: how to wait */
#define DG_CTL_TIMER		0x8054	/* APIC timer period, bus cycles */
#define DG_GDT			0x9000
#define DG_IDT			0x9800
#define DG_SERIAL		0x3f8
#define DG_PORT_IDLE		0xe4	/* "let me sleep": the VMM waits a bit */

#define DG_IDLE_SPIN		0	/* busy, interrupts off */
#define DG_IDLE_HLT		1	/* HLT, woken by the LAPIC timer at 100 Hz */
#define DG_IDLE_PORT		2	/* OUT to DG_PORT_IDLE: the VMM sleeps */
#define DG_IDLE_MS		10

/* a vCPU's slot (KK_SLOT0 + id * 64), as this guest uses it */
struct dg_slot {
	uint32_t count;		/* ticks (vCPU 0), memory checks (vCPU 1) */
	uint32_t copy;		/* count, as stored the last time */
	uint32_t tick_lo;	/* TSC of the last tick */
	uint32_t tick_hi;
	uint32_t last_lo;	/* TSC at the last wakeup */
	uint32_t last_hi;
	uint32_t max_pause;	/* longest pause seen, ms */
	uint32_t pauses;	/* pauses seen */
	uint32_t pending;	/* pause to report on the next line, ms */
	uint32_t last_pause;	/* the last pause, ms */
	uint32_t sum;		/* vCPU 1: running checksum */
	uint32_t fails;		/* checksum mismatches, counter corruption */
};

#define DG_TICK_MS		500
#define DG_PAUSE_MIN_MS		300
#define DG_TIMER_NS		10000000	/* 100 Hz at KVM's 1 GHz APIC bus */

/* ----- the VMM's own state, carried in a memfd ----- */

#define DV_MAGIC		0x31656d65646f6b6bULL	/* "kkodeme1" */
#define DV_MAX_VMS		4
#define DV_RING			24
#define DV_LINE			96
#define DV_HDR			8192		/* the PFN lists start here */
#define TOKEN_STATE		1
#define TOKEN_MEM(i)		(0x100 + (i))
#define TOKEN_VM(i)		(0x200 + (i))

struct dv_vcpu_state {
	char line[DV_LINE];	/* serial output not yet ended by '\n' */
	uint32_t len;
	uint32_t pad;
};

struct dv_vm_state {
	uint64_t mem_size;
	uint64_t npages;
	uint64_t pfn_off;	/* offset of its PFN list in the memfd */
	uint32_t nr_vcpus;
	uint32_t fill_mib;
	uint32_t csum;		/* the guest's checksum of the filled region */
	uint32_t last_tick;	/* the last "tick" line before the update */
	uint64_t last_tick_host;	/* host TSC when it came */
	uint32_t checks;	/* memory checks reported */
	uint32_t pad;
	struct dv_vcpu_state vcpu[KK_MAX_VCPUS];
};

struct dv_state {
	uint64_t magic;
	uint64_t size;
	uint64_t tsc_hz;
	uint64_t preserved_host;	/* host TSC once everything was preserved */
	uint32_t guest_tsc_khz;		/* the guests' TSC rate, pinned */
	uint32_t nr_vms;
	uint32_t backing;		/* enum kk_backing of guest RAM */
	uint32_t ring_next;
	struct {
		uint64_t host;
		char text[DV_LINE];
	} ring[DV_RING];		/* the last lines the guests printed */
	struct dv_vm_state vm[DV_MAX_VMS];
};

_Static_assert(sizeof(struct dv_state) <= DV_HDR, "state header too large");

/* ----- the VMM ----- */

struct dv_vm {
	struct kk_vm kk;		/* first: kk_vcpu.vm points here */
	int idx;
	struct dv_vm_state *st;
	/* under kk.lock: what this run saw */
	uint32_t ticks;			/* "tick" lines this run */
	uint32_t first_tick;
	uint64_t first_tick_host;
	uint32_t checks;		/* "memory check" lines this run */
	uint32_t mismatches;
	uint32_t resume_pause;		/* ms, from the first line with a pause */
	bool resume_pause_seen;
	uint32_t garbled;		/* lines not as the guest prints them */
	char garbled_line[DV_LINE];
	uint32_t before_tick;		/* restore: the last tick before */
	uint64_t before_tick_host;
	uint64_t thp_mib;		/* run, THP: guest RAM in 2 MiB folios */
};

static struct dv_state *st;
static struct dv_vm vms[DV_MAX_VMS];
static int nr_vms;
static bool quiet;
static const char *prefix = "demo";	/* of report lines */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t t_main;			/* host TSC when the VMM started */

static struct dg_slot *dg_slot(struct dv_vm *vm, int id)
{
	return (struct dg_slot *)(vm->kk.mem + KK_SLOT0 + id * KK_SLOT_SIZE);
}

static void __attribute__((format(printf, 1, 2))) report(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("%s: ", prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static double tsc_ms(uint64_t ticks)
{
	return ticks * 1000.0 / st->tsc_hz;
}

static void dv_garbled(struct dv_vm *vm, const char *line)
{
	if (!vm->garbled++)
		snprintf(vm->garbled_line, sizeof(vm->garbled_line), "%s", line);
}

/* One whole line from the guest; vm->kk.lock held. */
static void dv_line(struct dv_vm *vm, int id, const char *line, uint64_t host)
{
	struct dg_slot *s = dg_slot(vm, id);
	char shown[DV_LINE + 16];
	unsigned int num;
	const char *p;
	size_t n;
	int r;

	if (nr_vms > 1)
		snprintf(shown, sizeof(shown), "guest %d: %s", vm->idx, line);
	else
		snprintf(shown, sizeof(shown), "guest: %s", line);
	pthread_mutex_lock(&out_lock);
	if (!quiet) {
		printf("%s\n", shown);
		fflush(stdout);
	}
	r = st->ring_next++ % DV_RING;
	st->ring[r].host = host;
	n = strlen(shown) < DV_LINE - 1 ? strlen(shown) : DV_LINE - 1;
	memcpy(st->ring[r].text, shown, n);
	st->ring[r].text[n] = 0;
	pthread_mutex_unlock(&out_lock);
	kk_log(&vm->kk, "vcpu%d: %s", id, line);

	p = strstr(line, " after a pause of ");
	if (p && !vm->resume_pause_seen) {
		vm->resume_pause = strtoul(p + 18, NULL, 10);
		vm->resume_pause_seen = true;
	}
	if (id == 0 && strncmp(line, "filled ", 7)) {
		/* a tick: the number from guest RAM; the text must say the same */
		if (sscanf(line, "tick %u", &num) != 1 || num != s->count)
			dv_garbled(vm, line);
		if (!vm->ticks++) {
			vm->first_tick = s->count;
			vm->first_tick_host = host;
		}
		vm->st->last_tick = s->count;
		vm->st->last_tick_host = host;
	} else if (id == 1) {
		if (sscanf(line, "memory check %u", &num) != 1 || num != s->count)
			dv_garbled(vm, line);
		vm->checks++;
		vm->st->checks++;
		if (strstr(line, "MISMATCH"))
			vm->mismatches++;
	}
}

/*
 * The library's vCPU thread hands this guest's port I/O here (kk_vm.io):
 * an OUT to the serial port or to the idle port; false stops the vCPU.
 */
static bool dv_io(struct kk_vcpu *v)
{
	struct dv_vm *vm = (struct dv_vm *)v->vm;
	struct kvm_run *run = v->run;
	struct dv_vcpu_state *vs = &vm->st->vcpu[v->id];
	const char *data = (const char *)run + run->io.data_offset;
	uint64_t host = kk_rdtsc();
	uint32_t i;

	if (run->io.port == DG_PORT_IDLE && run->io.direction == KVM_EXIT_IO_OUT) {
		kk_sleep_ms(DG_IDLE_MS);
		return true;
	}
	if (run->io.port != DG_SERIAL || run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.size != 1) {
		kk_vcpu_stopped(v, 0, "unexpected I/O: port %#x %s size %u",
				run->io.port, run->io.direction ? "out" : "in",
				run->io.size);
		return false;
	}
	pthread_mutex_lock(&vm->kk.lock);
	for (i = 0; i < run->io.count; i++) {
		char c = data[i];

		if (c == '\n') {
			vs->line[vs->len] = 0;
			dv_line(vm, v->id, vs->line, host);
			vs->len = 0;
		} else if (vs->len < DV_LINE - 1) {
			vs->line[vs->len++] = isprint((unsigned char)c) ? c : '?';
		}
	}
	pthread_mutex_unlock(&vm->kk.lock);
	return true;
}

static void dv_check(void)
{
	int i, j;

	for (i = 0; i < nr_vms; i++)
		for (j = 0; j < vms[i].kk.nr_vcpus; j++)
			if (vms[i].kk.vcpu[j].stopped)
				fail("VM %d vCPU %d: %s", i, j, vms[i].kk.vcpu[j].why);
}

/* Wait for @done on every VM (under its lock), up to @timeout s. */
static void dv_wait(double timeout, const char *what,
		    bool (*done)(struct dv_vm *vm, void *arg), void *arg)
{
	double t0 = kk_now();
	int i;

	for (;;) {
		bool all = true;

		dv_check();
		for (i = 0; i < nr_vms; i++) {
			pthread_mutex_lock(&vms[i].kk.lock);
			all &= done(&vms[i], arg);
			pthread_mutex_unlock(&vms[i].kk.lock);
		}
		if (all)
			return;
		if (kk_now() - t0 > timeout) {
			for (i = 0; i < nr_vms; i++)
				msg("# VM %d: %u ticks, %u memory checks this run; guest init %u",
				    i, vms[i].ticks, vms[i].checks,
				    *kk_ctl32(&vms[i].kk, KK_CTL_INIT));
			fail("timed out after %.0f s waiting for %s", timeout, what);
		}
		kk_sleep_ms(50);
	}
}

/* Guest memory against the pattern; returns the guest's checksum of it. */
static uint32_t dv_verify(struct dv_vm *vm, uint32_t fill_mib)
{
	char what[16];

	snprintf(what, sizeof(what), "VM %d", vm->idx);
	return kk_verify_pattern(&vm->kk, fill_mib << 20, what);
}

/*
 * The guest's TSC rate is part of what the guest sees, and must not change
 * under it. Like a VMM that migrates VMs (QEMU's tsc-frequency), pin it: to
 * the host TSC rate as this kernel measured it, and to the same rate on the
 * VMs restored in the next kernel. KVM decides at vCPU creation whether it
 * can give a vCPU its rate, against the kernel's TSC calibration at that
 * moment; until the refined calibration has run (the clocksource turns
 * from tsc-early to tsc), that is the rough one of early boot, which can
 * be off by more than KVM's 250 ppm, and the vCPU then gets a TSC that
 * catches up in jumps. So wait for it first. After a KHO kexec the kernel
 * normally takes the previous kernel's calibration instead of refining
 * its own (CONFIG_X86_KHO_TSC, "tsc: using the TSC calibration handed
 * over" in its log) and the clocksource is tsc before userspace starts:
 * this returns at once. It waits, about a second of boot at most, only
 * when the kernel refused the handed-over rate or got none.
 */
static double dv_wait_tsc_calibrated(void)
{
	double t0 = kk_now();
	char cs[32];
	int i;

	for (i = 0; i < 500; i++) {
		int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			      O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, cs, sizeof(cs) - 1);

		if (fd >= 0)
			close(fd);
		if (n <= 0 || strncmp(cs, "tsc-early", 9))
			break;
		kk_sleep_ms(10);
	}
	return i ? (kk_now() - t0) * 1000 : 0;
}

static void dv_pin_tsc_rate(struct dv_vm *vm)
{
	int khz;

	if (!st->guest_tsc_khz) {
		/* 0: the host's rate */
		if (ioctl(vm->kk.vm_fd, KVM_SET_TSC_KHZ, 0UL))
			fail("KVM_SET_TSC_KHZ on the VM: %s", strerror(errno));
		khz = ioctl(vm->kk.vm_fd, KVM_GET_TSC_KHZ, 0);
		if (khz <= 0)
			fail("KVM_GET_TSC_KHZ on the VM: %s", strerror(errno));
		st->guest_tsc_khz = khz;
	}
	if (ioctl(vm->kk.vm_fd, KVM_SET_TSC_KHZ, (unsigned long)st->guest_tsc_khz))
		fail("KVM_SET_TSC_KHZ %u on VM %d: %s", st->guest_tsc_khz, vm->idx,
		     strerror(errno));
}

/* ----- run: a fresh VM, preserved ----- */

static void dv_setup_guest(struct dv_vm *vm, uint32_t fill_mib, int idle)
{
	extern const char dg_guest_start[], dg_guest_end[], dg_guest_irq[];
	uint64_t hz = st->tsc_hz;
	uint32_t *gdt = (uint32_t *)(vm->kk.mem + DG_GDT);
	uint32_t *idt = (uint32_t *)(vm->kk.mem + DG_IDT);
	uint32_t irq = KK_CODE + (dg_guest_irq - dg_guest_start);
	size_t code = dg_guest_end - dg_guest_start;
	int v;

	if (code > KK_CODE_MAX)
		fail("guest code of %zu bytes does not fit", code);
	memcpy(vm->kk.mem + KK_CODE, dg_guest_start, code);
	/* flat 32-bit code (0x08) and data (0x10), as the entry state has */
	gdt[2] = 0x0000ffff; gdt[3] = 0x00cf9b00;
	gdt[4] = 0x0000ffff; gdt[5] = 0x00cf9300;
	/* vectors 32-255: the timer handler (EOI, iret); exceptions absent */
	for (v = 32; v < 256; v++) {
		idt[v * 2] = 0x08 << 16 | (irq & 0xffff);
		idt[v * 2 + 1] = (irq & 0xffff0000) | 0x8e00;
	}
	*kk_ctl32(&vm->kk, DG_CTL_FILL_END) = KK_REGION + (fill_mib << 20);
	*kk_ctl32(&vm->kk, DG_CTL_TICK) = hz * DG_TICK_MS / 1000;
	*kk_ctl32(&vm->kk, DG_CTL_KHZ) = hz / 1000;
	*kk_ctl32(&vm->kk, DG_CTL_PAUSE_MIN) = hz * DG_PAUSE_MIN_MS / 1000;
	*kk_ctl32(&vm->kk, DG_CTL_IDLE) = idle;
	*kk_ctl32(&vm->kk, DG_CTL_TIMER) = DG_TIMER_NS;
	*kk_ctl32(&vm->kk, KK_CTL_MAGIC) = KK_CTL_MAGIC_VALUE;
}

static void dv_create(struct dv_vm *vm, uint64_t mem_mib, int nr_vcpus,
		      uint32_t fill_mib, int idle)
{
	struct kvm_sregs sregs;
	char name[32];
	int i;

	snprintf(name, sizeof(name), "vmm-vm%d.log", vm->idx);
	kk_vm_init(&vm->kk, name);
	vm->kk.io = dv_io;
	vm->kk.kvm_fd = kk_open_kvm();
	vm->kk.tsc_hz = st->tsc_hz;
	kk_create_mem_backed(&vm->kk, mem_mib << 20, st->backing);
	if (st->backing == KK_BACKING_THP) {
		uint64_t thp = kk_thp_kib(&vm->kk) >> 10;

		/* anything else would time 4 KiB shmem under another name */
		if (thp < mem_mib / 2)
			fail("VM %d: only %" PRIu64 " of %" PRIu64 " MiB of guest RAM in 2 MiB THPs (shmem_enabled: advise or always?)",
			     vm->idx, thp, mem_mib);
		vm->thp_mib = thp;
	}
	kk_new_vm(&vm->kk);
	dv_pin_tsc_rate(vm);
	dv_setup_guest(vm, fill_mib, idle);
	for (i = 0; i < nr_vcpus; i++) {
		struct kk_vcpu *v = kk_add_vcpu(&vm->kk, i, true);

		if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
			fail("KVM_GET_SREGS: %s", strerror(errno));
		sregs.gdt.base = DG_GDT;
		sregs.gdt.limit = 3 * 8 - 1;
		sregs.idt.base = DG_IDT;
		sregs.idt.limit = 256 * 8 - 1;
		if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
			fail("KVM_SET_SREGS: %s", strerror(errno));
	}
	vm->st->mem_size = vm->kk.mem_size;
	vm->st->nr_vcpus = nr_vcpus;
	vm->st->fill_mib = fill_mib;
}

static bool running(struct dv_vm *vm, void *arg)
{
	(void)arg;
	return vm->ticks >= 2 && *kk_ctl32(&vm->kk, KK_CTL_INIT) == 1 &&
	       (vm->kk.nr_vcpus < 2 || vm->checks >= 1);
}

static int state_fd;

/* The VMM's state memfd: header + every VM's PFN list, all allocated. */
static void state_create(uint64_t pfn_bytes)
{
	uint64_t size = DV_HDR + ((pfn_bytes + 4095) & ~4095ULL);

	state_fd = memfd_create("kvm_demo_vmm-state", MFD_CLOEXEC);
	if (state_fd < 0 || ftruncate(state_fd, size))
		fail("VMM state memfd of %" PRIu64 " KiB: %s", size >> 10,
		     strerror(errno));
	st = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  state_fd, 0);
	if (st == MAP_FAILED)
		fail("mmap VMM state: %s", strerror(errno));
	memset(st, 0, size);
	st->magic = DV_MAGIC;
	st->size = size;
}

/*
 * Say the VMs are ready (their pid in READY) and run them until the
 * kexec, or for good if nothing was preserved.
 */
static void __attribute__((noreturn)) dv_serve(const char *ready)
{
	FILE *f = fopen(ready, "w");

	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f))
		fail("write %s: %s", ready, strerror(errno));

	/* run the guests until the kexec; the session stays open with us */
	for (;;) {
		dv_check();
		kk_sleep_ms(100);
	}
}

/*
 * Preserve every VM (its RAM memfd and VM fd) and the VMM's own state in
 * a new Live Update session, recording where guest RAM is page by page.
 */
static void dv_preserve(const char *session_name)
{
	uint64_t off = DV_HDR, total = 0, moved = 0, k, *before;
	uint64_t t0, t1, t_mem = 0, t_vm = 0, thp = 0;
	int dev, session, ret, i;

	/* where guest RAM is, page by page */
	for (i = 0; i < nr_vms; i++) {
		struct dv_vm_state *vs = &st->vm[i];

		vs->npages = vms[i].kk.mem_size / 4096;
		vs->pfn_off = off;
		luo_read_pfns(vms[i].kk.mem, vms[i].kk.mem_size,
			(uint64_t *)((uint8_t *)st + off));
		off += vs->npages * 8;
		total += vs->npages;
		vs->csum = *kk_ctl32(&vms[i].kk, KK_CTL_CSUM);
	}
	before = malloc(off - DV_HDR);
	if (!before)
		fail("out of memory for PFNs");
	memcpy(before, (uint8_t *)st + DV_HDR, off - DV_HDR);

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	session = luo_open_session(dev, session_name, true);
	ret = luo_preserve_fd(session, state_fd, TOKEN_STATE);
	if (ret)
		fail("preserve the VMM state memfd: %s", strerror(-ret));
	for (i = 0; i < nr_vms; i++) {
		t0 = kk_rdtsc();
		ret = luo_preserve_fd(session, vms[i].kk.mem_fd, TOKEN_MEM(i));
		t1 = kk_rdtsc();
		if (ret)
			fail("preserve VM %d's guest RAM memfd: %s", i, strerror(-ret));
		ret = luo_preserve_fd(session, vms[i].kk.vm_fd, TOKEN_VM(i));
		if (ret)
			fail("preserve VM %d's VM fd: %s%s", i, strerror(-ret),
			     ret == -EOPNOTSUPP ? " (the kernel log says why)" : "");
		t_mem += t1 - t0;
		t_vm += kk_rdtsc() - t1;
	}
	st->preserved_host = kk_rdtsc();
	close(dev);	/* the session lives on its own fd */

	/*
	 * Preserving pins the memfd's pages, moving those that sit in KHO
	 * scratch memory (which the next kernel boots in) elsewhere, while the
	 * guest runs. Where they are now is where the next kernel must find
	 * them: record that, and say how many moved.
	 */
	for (i = 0; i < nr_vms; i++)
		luo_read_pfns(vms[i].kk.mem, vms[i].kk.mem_size,
			(uint64_t *)((uint8_t *)st + st->vm[i].pfn_off));
	for (k = 0; k < total; k++)
		moved += before[k] != ((uint64_t *)((uint8_t *)st + DV_HDR))[k];
	free(before);
	report("preserved in Live Update session \"%s\": %d VM fd%s, %" PRIu64
	       " MiB of guest RAM in %d memfd%s (%" PRIu64 " pages, PFNs recorded), and the VMM's own state memfd",
	       session_name, nr_vms, nr_vms > 1 ? "s" : "", total >> 8, nr_vms,
	       nr_vms > 1 ? "s" : "", total);
	if (moved)
		report("preserving moved %" PRIu64 " guest page%s out of KHO scratch memory (where the next kernel boots) first, while the guest ran",
		       moved, moved > 1 ? "s" : "");
	for (i = 0; i < nr_vms; i++)
		thp += vms[i].thp_mib;
	/* preserve_ms: the guest RAM memfds' preserve ioctls; _vm: the VMs' */
	printf("%s-data: backing=%s preserved_mib=%" PRIu64 " pages=%" PRIu64 " vms=%d vcpus=%u moved_at_preserve=%" PRIu64
	       " preserve_ms=%.1f preserve_vm_ms=%.1f thp_mib=%" PRIu64 "\n",
	       prefix, kk_backing_name(st->backing), total >> 8, total, nr_vms,
	       st->vm[0].nr_vcpus, moved, tsc_ms(t_mem), tsc_ms(t_vm), thp);
	fflush(stdout);
}

static const char *dv_backing_text(uint32_t backing)
{
	switch (backing) {
	case KK_BACKING_HUGETLB:
		return "hugetlb memfd, 2 MiB pages";
	case KK_BACKING_THP:
		return "shmem memfd, 2 MiB THPs";
	case KK_BACKING_HUGETLB_1G:
		return "hugetlb memfd, 1 GiB pages";
	default:
		return "shmem memfd, 4 KiB pages";
	}
}

static void __attribute__((noreturn)) cmd_run(uint64_t mem_mib, int nr_vcpus,
					      uint32_t fill_mib, int idle,
					      int backing,
					      const char *session_name,
					      const char *ready)
{
	int i;

	if ((uint64_t)fill_mib + 1 > mem_mib || fill_mib < 1)
		fail("--fill %u MiB does not fit %" PRIu64 " MiB of guest RAM after 1 MiB",
		     fill_mib, mem_mib);
	if (backing != KK_BACKING_SHMEM && mem_mib % 2)
		fail("--mem %" PRIu64 ": %s guest RAM comes in 2 MiB pages",
		     mem_mib, kk_backing_name(backing));
	if (backing == KK_BACKING_HUGETLB_1G && mem_mib % 1024)
		fail("--mem %" PRIu64 ": %s guest RAM comes in 1 GiB pages",
		     mem_mib, kk_backing_name(backing));
	state_create(nr_vms * (mem_mib << 20) / 4096 * 8);
	st->backing = backing;
	dv_wait_tsc_calibrated();
	st->tsc_hz = kk_tsc_hz();
	st->nr_vms = nr_vms;
	for (i = 0; i < nr_vms; i++) {
		vms[i].idx = i;
		vms[i].st = &st->vm[i];
		dv_create(&vms[i], mem_mib, nr_vcpus, fill_mib, idle);
		kk_start(&vms[i].kk);
	}
	report("%d VM%s started: %d vCPU%s and %" PRIu64 " MiB of guest RAM (%s) each, the guest fills %u MiB",
	       nr_vms, nr_vms > 1 ? "s" : "", nr_vcpus, nr_vcpus > 1 ? "s" : "",
	       mem_mib, dv_backing_text(st->backing), fill_mib);
	dv_wait(600, "the guests to run", running, NULL);
	if (!session_name)
		dv_serve(ready);	/* --no-preserve: nothing carried */
	dv_preserve(session_name);
	dv_serve(ready);
}

/* ----- restore: the same VMs, in the next kernel ----- */

static bool resumed(struct dv_vm *vm, void *arg)
{
	uint32_t want = *(uint32_t *)arg;

	return vm->ticks >= want &&
	       (vm->kk.nr_vcpus < 2 || vm->checks >= 1);
}

/* The kernel's "VM: vCPU N resumed, U us after it was stopped", all of them. */
static int kernel_blackouts(uint64_t *us, int max)
{
	char *log = kk_dmesg();
	const char *p = log;
	int nr = 0;

	/* "kvm-kho: kvm-PID: vCPU N resumed, U us after it was stopped" */
	while (nr < max && (p = strstr(p, ": vCPU "))) {
		unsigned int id;
		unsigned long long u;

		if (sscanf(p, ": vCPU %u resumed, %llu us", &id, &u) == 2)
			us[nr++] = u;
		p++;
	}
	free(log);
	return nr;
}

static int __attribute__((noreturn)) cmd_restore(const char *session_name,
						  uint32_t want_ticks,
						  const char *plain_file,
						  const char *serve_ready)
{
	uint64_t kus[DV_MAX_VMS * KK_MAX_VCPUS], kmax = 0, total = 0, copied = 0;
	uint64_t t_restored;
	double plain_ms = 0, gap_max = 0, restore_ms, waited;
	uint32_t pause_max = 0;
	int dev, session, i, j, nk;
	struct stat sb;

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	session = luo_open_session(dev, session_name, false);
	state_fd = luo_retrieve_fd(session, TOKEN_STATE);
	if (state_fd < 0)
		fail("retrieve the VMM state memfd: %s", strerror(-state_fd));
	if (fstat(state_fd, &sb) || sb.st_size < DV_HDR)
		fail("VMM state memfd: %s", strerror(errno));
	st = mmap(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		  state_fd, 0);
	if (st == MAP_FAILED)
		fail("mmap VMM state: %s", strerror(errno));
	if (st->magic != DV_MAGIC || st->size != (uint64_t)sb.st_size ||
	    !st->nr_vms || st->nr_vms > DV_MAX_VMS)
		fail("VMM state memfd: bad header");
	nr_vms = st->nr_vms;
	waited = dv_wait_tsc_calibrated();
	if (!quiet) {
		uint32_t k;

		report("the VMM's own state came back in its memfd; the last guest lines it had before the update:");
		for (k = 4; k >= 1; k--)
			if (st->ring_next >= k)
				report("  %s", st->ring[(st->ring_next - k) % DV_RING].text);
	}

	/* back to running first: the checks can wait, the guests cannot */
	for (i = 0; i < nr_vms; i++) {
		struct dv_vm *vm = &vms[i];
		char name[32];

		vm->idx = i;
		vm->st = &st->vm[i];
		vm->before_tick = vm->st->last_tick;
		vm->before_tick_host = vm->st->last_tick_host;
		snprintf(name, sizeof(name), "vmm-vm%d.log", i);
		kk_vm_init(&vm->kk, name);
		vm->kk.io = dv_io;
		vm->kk.tsc_hz = st->tsc_hz;
		/* the memfd comes back as it was preserved; THP: map it so */
		vm->kk.backing = st->backing;
		/* pages fault in as the guest runs: it runs first */
		snprintf(name, sizeof(name), "VM %d", i);
		kk_retrieve_vm(&vm->kk, name, session, TOKEN_MEM(i), TOKEN_VM(i),
			       vm->st->mem_size, false);
		kk_reattach_vm(&vm->kk);
		dv_pin_tsc_rate(vm);
		for (j = 0; j < (int)vm->st->nr_vcpus; j++)
			kk_add_vcpu(&vm->kk, j, false);
		kk_start(&vm->kk);
	}
	t_restored = kk_rdtsc();
	restore_ms = tsc_ms(t_restored - t_main);
	if (waited > 0)
		report("waited %.0f ms for the kernel's refined TSC calibration before creating vCPUs (it did not take the previous kernel's)",
		       waited);
	else
		report("the kernel's TSC calibration was final (clocksource tsc) when the VMM started: vCPUs created without waiting");
	report("retrieved session \"%s\" in %.0f ms: %d VM%s, guest RAM mapped, memslots set, vCPUs created with the same ids and running",
	       session_name, restore_ms, nr_vms, nr_vms > 1 ? "s" : "");
	dv_wait(300, "the guests to go on", resumed, &want_ticks);

	for (i = 0; i < nr_vms; i++) {
		struct dv_vm *vm = &vms[i];
		struct dv_vm_state *vs = vm->st;
		const uint64_t *before = (const uint64_t *)((uint8_t *)st + vs->pfn_off);
		uint64_t *after = calloc(vs->npages, 8), k, moved = 0;
		uint32_t sum, first;
		double gap;

		if (!after)
			fail("out of memory for PFNs");
		luo_read_pfns(vm->kk.mem, vm->kk.mem_size, after);
		for (k = 0; k < vs->npages; k++)
			moved += before[k] != after[k];
		free(after);
		copied += moved;
		total += vs->npages;

		sum = dv_verify(vm, vs->fill_mib);
		if (sum != vs->csum || *kk_ctl32(&vm->kk, KK_CTL_CSUM) != vs->csum)
			fail("VM %d: checksum of the filled memory %#x, the guest's %#x, before the update %#x",
			     i, sum, *kk_ctl32(&vm->kk, KK_CTL_CSUM), vs->csum);

		pthread_mutex_lock(&vm->kk.lock);
		first = vm->first_tick;
		gap = tsc_ms(vm->first_tick_host - vm->before_tick_host);
		pthread_mutex_unlock(&vm->kk.lock);
		if (first != vm->before_tick + 1)
			fail("VM %d: the first tick after the update is %u, the last before %u",
			     i, first, vm->before_tick);
		/*
		 * A port write the guest made as it was stopped must be done
		 * once: if the VMM had handled it but not yet gone back into
		 * KVM_RUN (which completes it), and the capture took the vCPU
		 * as it stood, the guest does it again and a byte comes twice.
		 */
		if (vm->garbled)
			fail("VM %d: the guest's serial output came out wrong across the update: \"%s\" (a port write done twice?)",
			     i, vm->garbled_line);
		for (j = 0; j < (int)vs->nr_vcpus; j++)
			if (dg_slot(vm, j)->fails || vm->mismatches)
				fail("VM %d: the guest found its memory or counter corrupt (vCPU %d: %u)",
				     i, j, dg_slot(vm, j)->fails);
		if (!vm->resume_pause_seen)
			fail("VM %d: the guest did not notice a pause across the update", i);
		if (vm->resume_pause > pause_max)
			pause_max = vm->resume_pause;
		report("VM %d: %" PRIu64 " MiB of guest RAM at the same physical pages: %" PRIu64
		       " of %" PRIu64 " pages moved (copied); %u MiB of guest data intact (checksum %#x)",
		       i, vs->npages >> 8, moved, vs->npages, vs->fill_mib, sum);
		report("VM %d: ticks went on from %u to %u; the guest saw a pause of %u ms; %.0f ms between its last tick before and its first after",
		       i, vm->before_tick, first, vm->resume_pause, gap);
		if (gap > gap_max)
			gap_max = gap;
	}

	nk = kernel_blackouts(kus, DV_MAX_VMS * KK_MAX_VCPUS);
	for (i = 0; i < nk; i++)
		if (kus[i] > kmax)
			kmax = kus[i];
	if (nk)
		report("kernel: %d vCPU%s resumed, the last %.1f ms after it was stopped",
		       nk, nk > 1 ? "s" : "", kmax / 1000.0);
	/* the guest's clock must have moved by the time that passed */
	if (nk && (pause_max > kmax / 1000.0 * 1.05 + 250 ||
		   pause_max + 250 < kmax / 1000.0 * 0.95))
		fail("the guest's clock jumped %u ms across a blackout of %.0f ms",
		     pause_max, kmax / 1000.0);

	if (plain_file) {
		FILE *f = fopen(plain_file, "r");

		if (!f || fscanf(f, "%lf", &plain_ms) != 1)
			plain_ms = 0;
		if (f)
			fclose(f);
	}

	i = luo_finish(session);
	if (i)
		fail("finish session \"%s\": %s", session_name, strerror(-i));
	report("session \"%s\" finished: the VMs are this kernel's now", session_name);

	/*
	 * The host TSC when this VMM started and when its VMs ran again, and
	 * the rate it measured in the kernel before: the host side places
	 * them among the kernels' own TSC stamps (harness/bench_report.py).
	 */
	printf("%s-data: backing=%s vms=%d preserved_mib=%" PRIu64 " pages=%" PRIu64 " copied=%" PRIu64
	       " blackout_kernel_ms=%.1f blackout_guest_ms=%u tick_gap_ms=%.0f restore_ms=%.0f tsc_wait_ms=%.0f plain_ms=%.0f"
	       " vmm_start_tsc=%" PRIu64 " restore_end_tsc=%" PRIu64 " tsc_hz=%" PRIu64 "\n",
	       prefix, kk_backing_name(st->backing), nr_vms, total >> 8, total,
	       copied, kmax / 1000.0, pause_max, gap_max, restore_ms, waited,
	       plain_ms, t_main, t_restored, st->tsc_hz);
	fflush(stdout);

	if (serve_ready) {
		/* --serve: carry the VMs again at the next update */
		close(session);
		close(dev);
		dv_preserve(session_name);
		dv_serve(serve_ready);
	}

	/* a few more ticks from the finished session, then stop */
	want_ticks += 2;
	dv_wait(120, "ticks after the finish", resumed, &want_ticks);
	for (i = 0; i < nr_vms; i++)
		kk_stop(&vms[i].kk);
	dv_check();
	close(session);
	close(dev);
	exit(copied ? EXIT_FAIL : EXIT_PASS);
}

/* ----- timing a plain kexec reboot ----- */

static void plan_read(const char *file, uint64_t *at, uint64_t *hz)
{
	FILE *f = fopen(file, "r");

	if (!f || fscanf(f, "%" SCNu64 " %" SCNu64, at, hz) != 2 || !*hz)
		fail("read %s: %s", file, f ? "bad contents" : strerror(errno));
	fclose(f);
}

static int cmd_plan(const char *file, unsigned int ms)
{
	uint64_t hz = kk_tsc_hz(), at = kk_rdtsc() + hz * ms / 1000;
	FILE *f = fopen(file, "w");

	if (!f || fprintf(f, "%" PRIu64 " %" PRIu64 "\n", at, hz) < 0 || fclose(f))
		fail("write %s: %s", file, strerror(errno));
	return 0;
}

static int cmd_reboot_at(const char *file)
{
	uint64_t at, hz, now;

	plan_read(file, &at, &hz);
	sync();
	now = kk_rdtsc();
	if (now > at) {
		printf("missed the planned reboot by %.0f ms\n",
		       (now - at) * 1000.0 / hz);
		return 3;
	}
	while (kk_rdtsc() < at)
		;
	reboot(LINUX_REBOOT_CMD_KEXEC);
	fail("reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
}

static int cmd_since(const char *file)
{
	uint64_t now = kk_rdtsc(), at, hz;

	plan_read(file, &at, &hz);
	printf("%.0f\n", (double)(int64_t)(now - at) * 1000.0 / hz);
	return 0;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: kvm_demo_vmm run [--vms N] [--mem MIB] [--vcpus N] [--fill MIB] [--spin|--hlt]\n"
		"                        [--session NAME | --no-preserve] [--ready FILE] [--quiet]\n"
		"                        [--prefix WORD] [--backing hugetlb|thp|shmem|hugetlb-1g]\n"
		"       kvm_demo_vmm restore [--session NAME] [--ticks N] [--plain FILE] [--quiet]\n"
		"                            [--prefix WORD] [--serve [--ready FILE]]\n"
		"       kvm_demo_vmm plan FILE MS | reboot-at FILE | since FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vms", 1, NULL, 'n' }, { "mem", 1, NULL, 'm' },
		{ "vcpus", 1, NULL, 'c' }, { "fill", 1, NULL, 'f' },
		{ "spin", 0, NULL, 's' }, { "hlt", 0, NULL, 'H' },
		{ "session", 1, NULL, 'S' },
		{ "ready", 1, NULL, 'r' }, { "quiet", 0, NULL, 'q' },
		{ "prefix", 1, NULL, 'p' }, { "ticks", 1, NULL, 't' },
		{ "plain", 1, NULL, 'P' }, { "serve", 0, NULL, 'V' },
		{ "no-preserve", 0, NULL, 'N' }, { "backing", 1, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mem_mib = 258;
	uint32_t fill_mib = 256, ticks = 4;
	const char *session = "demo", *ready = "vmm.ready", *plain = NULL;
	int vcpus = 2, idle = DG_IDLE_PORT, backing = KK_BACKING_HUGETLB, o;
	bool serve = false;

	t_main = kk_rdtsc();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "plan") && argc == 4)
		return cmd_plan(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "reboot-at") && argc == 3)
		return cmd_reboot_at(argv[2]);
	if (!strcmp(argv[1], "since") && argc == 3)
		return cmd_since(argv[2]);
	nr_vms = 1;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': nr_vms = atoi(optarg); break;
		case 'm': mem_mib = strtoull(optarg, NULL, 0); break;
		case 'c': vcpus = atoi(optarg); break;
		case 'f': fill_mib = strtoul(optarg, NULL, 0); break;
		case 's': idle = DG_IDLE_SPIN; break;
		case 'H': idle = DG_IDLE_HLT; break;
		case 'S': session = optarg; break;
		case 'r': ready = optarg; break;
		case 'q': quiet = true; break;
		case 'p': prefix = optarg; break;
		case 't': ticks = strtoul(optarg, NULL, 0); break;
		case 'P': plain = optarg; break;
		case 'V': serve = true; break;
		case 'N': session = NULL; break;
		case 'B':
			backing = kk_backing_parse(optarg);
			if (backing < 0)
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || nr_vms < 1 || nr_vms > DV_MAX_VMS || vcpus < 1 ||
	    vcpus > KK_MAX_VCPUS)
		usage();
	if (!strcmp(argv[1], "run"))
		cmd_run(mem_mib, vcpus, fill_mib, idle, backing, session, ready);
	if (!strcmp(argv[1], "restore") && session)
		cmd_restore(session, ticks, plain, serve ? ready : NULL);
	usage();
}

/* ----- the guest ----- */

/* print the NUL-terminated string that follows (clobbers esi) */
#define DG_PRINT(s)	"	call 9f\n	.asciz \"" s "\"\n9:	pop %esi\n	call .Ldg_puts\n"

/*
 * esi = vCPU id at entry (set by kk_set_entry_state); ebx = its slot
 * throughout; ebp = vCPU 1's position in the region. Position independent
 * but for the IDT entries, which the VMM fills in.
 */
asm(
"	.pushsection .rodata.dg_guest, \"a\"\n"
"	.globl dg_guest_start\n"
"	.globl dg_guest_end\n"
"	.globl dg_guest_irq\n"
"	.code32\n"
"dg_guest_start:\n"
"	cld\n"
"	mov %esi, %ebx\n"
"	shl $6, %ebx\n"
"	add $" KK_XSTR(KK_SLOT0) ", %ebx\n"
"	rdtsc\n"
"	mov %eax, 8(%ebx)\n"
"	mov %edx, 12(%ebx)\n"
"	mov %eax, 16(%ebx)\n"
"	mov %edx, 20(%ebx)\n"
"	cmpl $" KK_XSTR(DG_IDLE_HLT) ", " KK_XSTR(DG_CTL_IDLE) "\n"
"	jne 1f\n"
	/* local APIC: enabled, timer periodic on vector 0x40, divide by 1 */
"	movl $0x1ff, 0xfee000f0\n"
"	movl $0xb, 0xfee003e0\n"
"	movl $0x20040, 0xfee00320\n"
"	mov " KK_XSTR(DG_CTL_TIMER) ", %eax\n"
"	mov %eax, 0xfee00380\n"
"1:	test %esi, %esi\n"
"	jnz .Ldg_checker\n"
	/* vCPU 0: fill the region, checksumming as it goes */
	KK_ASM_FILL(".Ldg_fill", KK_XSTR(DG_CTL_FILL_END))
	DG_PRINT("filled ")
"	mov " KK_XSTR(DG_CTL_FILL_END) ", %eax\n"
"	sub $" KK_XSTR(KK_REGION) ", %eax\n"
"	shr $20, %eax\n"
"	call .Ldg_putdec\n"
	DG_PRINT(" MiB of memory")
"	call .Ldg_newline\n"
	/* the fill was work, not a pause */
"	rdtsc\n"
"	mov %eax, 16(%ebx)\n"
"	mov %edx, 20(%ebx)\n"
".Ldg_ticker:\n"
"	call .Ldg_idle\n"
"	call .Ldg_pause_check\n"
"	rdtsc\n"
"	sub 8(%ebx), %eax\n"
"	sbb 12(%ebx), %edx\n"
"	jnz .Ldg_tick\n"
"	cmp " KK_XSTR(DG_CTL_TICK) ", %eax\n"
"	jb .Ldg_ticker\n"
".Ldg_tick:\n"
"	rdtsc\n"
"	mov %eax, 8(%ebx)\n"
"	mov %edx, 12(%ebx)\n"
"	mov (%ebx), %eax\n"
"	cmp 4(%ebx), %eax\n"
"	jne .Ldg_counter_bad\n"
"	inc %eax\n"
"	mov %eax, (%ebx)\n"
"	mov %eax, 4(%ebx)\n"
	DG_PRINT("tick ")
"	call .Ldg_putdec\n"
"	call .Ldg_newline\n"
"	jmp .Ldg_ticker\n"
".Ldg_counter_bad:\n"
"	incl 44(%ebx)\n"
"	mov %eax, 4(%ebx)\n"
	DG_PRINT("tick counter corrupt")
"	call .Ldg_newline\n"
"	jmp .Ldg_ticker\n"
	/* vCPU 1: wait for the fill, then checksum the region, pass after pass */
".Ldg_checker:\n"
"	call .Ldg_idle\n"
"	call .Ldg_pause_check\n"
"	cmpl $1, " KK_XSTR(KK_CTL_INIT) "\n"
"	jne .Ldg_checker\n"
".Ldg_pass:\n"
"	mov $" KK_XSTR(KK_REGION) ", %ebp\n"
"	movl $" KK_XSTR(KK_SUM_INIT) ", 40(%ebx)\n"
".Ldg_chunk:\n"
"	call .Ldg_pause_check\n"
	KK_ASM_SUM_CHUNK(".Ldg_word", "40")
"	cmp " KK_XSTR(DG_CTL_FILL_END) ", %ebp\n"
"	jb .Ldg_chunk\n"
"	mov (%ebx), %edx\n"
"	inc %edx\n"
"	mov %edx, (%ebx)\n"
"	mov %edx, 4(%ebx)\n"
"	cmp " KK_XSTR(KK_CTL_CSUM) ", %eax\n"
"	jne .Ldg_mismatch\n"
	DG_PRINT("memory check ")
"	mov (%ebx), %eax\n"
"	call .Ldg_putdec\n"
	DG_PRINT(": ")
"	mov " KK_XSTR(DG_CTL_FILL_END) ", %eax\n"
"	sub $" KK_XSTR(KK_REGION) ", %eax\n"
"	shr $20, %eax\n"
"	call .Ldg_putdec\n"
	DG_PRINT(" MiB ok")
"	call .Ldg_newline\n"
"	jmp .Ldg_pass\n"
".Ldg_mismatch:\n"
"	incl 44(%ebx)\n"
	DG_PRINT("memory check ")
"	mov (%ebx), %eax\n"
"	call .Ldg_putdec\n"
	DG_PRINT(": MISMATCH")
"	call .Ldg_newline\n"
"	jmp .Ldg_pass\n"
	/* wait a little, as told: not at all, HLT until the timer, or ask the VMM */
".Ldg_idle:\n"
"	mov " KK_XSTR(DG_CTL_IDLE) ", %eax\n"
"	cmp $" KK_XSTR(DG_IDLE_PORT) ", %eax\n"
"	jne 1f\n"
"	out %al, $" KK_XSTR(DG_PORT_IDLE) "\n"
"	ret\n"
"1:	cmp $" KK_XSTR(DG_IDLE_HLT) ", %eax\n"
"	jne 2f\n"
"	sti\n"
"	hlt\n"
"	cli\n"
"2:	ret\n"
	/* TSC since the last call above DG_CTL_PAUSE_MIN: note a pause, in ms */
".Ldg_pause_check:\n"
"	rdtsc\n"
"	mov %eax, %ecx\n"
"	mov %edx, %edi\n"
"	sub 16(%ebx), %eax\n"
"	sbb 20(%ebx), %edx\n"
"	mov %ecx, 16(%ebx)\n"
"	mov %edi, 20(%ebx)\n"
"	test %edx, %edx\n"
"	jnz 2f\n"
"	cmp " KK_XSTR(DG_CTL_PAUSE_MIN) ", %eax\n"
"	jb 1f\n"
"2:	mov " KK_XSTR(DG_CTL_KHZ) ", %ecx\n"
"	cmp %ecx, %edx\n"
"	jae 3f\n"
"	div %ecx\n"
"	jmp 4f\n"
"3:	mov $0xffffffff, %eax\n"
"4:	mov %eax, 32(%ebx)\n"
"	mov %eax, 36(%ebx)\n"
"	incl 28(%ebx)\n"
"	cmp 24(%ebx), %eax\n"
"	jbe 1f\n"
"	mov %eax, 24(%ebx)\n"
"1:	ret\n"
	/* end the line: " after a pause of N ms" first if one is pending */
".Ldg_newline:\n"
"	push %eax\n"
"	mov 32(%ebx), %eax\n"
"	test %eax, %eax\n"
"	jz 1f\n"
"	movl $0, 32(%ebx)\n"
	DG_PRINT(" after a pause of ")
"	call .Ldg_putdec\n"
	DG_PRINT(" ms")
"1:	mov $10, %al\n"
"	call .Ldg_putc\n"
"	pop %eax\n"
"	ret\n"
	/* eax in decimal */
".Ldg_putdec:\n"
"	push %eax\n"
"	push %ecx\n"
"	push %edx\n"
"	push %edi\n"
"	mov $10, %ecx\n"
"	xor %edi, %edi\n"
"1:	xor %edx, %edx\n"
"	div %ecx\n"
"	push %edx\n"
"	inc %edi\n"
"	test %eax, %eax\n"
"	jnz 1b\n"
"2:	pop %eax\n"
"	add $48, %al\n"
"	call .Ldg_putc\n"
"	dec %edi\n"
"	jnz 2b\n"
"	pop %edi\n"
"	pop %edx\n"
"	pop %ecx\n"
"	pop %eax\n"
"	ret\n"
".Ldg_puts:\n"
"	push %eax\n"
"1:	lodsb\n"
"	test %al, %al\n"
"	jz 2f\n"
"	call .Ldg_putc\n"
"	jmp 1b\n"
"2:	pop %eax\n"
"	ret\n"
".Ldg_putc:\n"
"	push %edx\n"
"	mov $" KK_XSTR(DG_SERIAL) ", %dx\n"
"	out %al, %dx\n"
"	pop %edx\n"
"	ret\n"
	/* every interrupt: end it at the local APIC */
"dg_guest_irq:\n"
"	movl $0, 0xfee000b0\n"
"	iret\n"
"dg_guest_end:\n"
"	.code64\n"
"	.popsection\n"
);
