// SPDX-License-Identifier: GPL-2.0
/*
 * A KVM guest drives a passthrough device through a Live Update kexec.
 *
 * The VMM has guest RAM in a memfd at GPA 0, mapped in an IOAS at the same
 * addresses (IOVA = GPA, IOMMU_IOAS_MAP_FILE), and edu bound to that
 * iommufd through its vfio cdev and attached to a HWPT. edu's BAR0, mapped
 * from the device file, is the guest's memslot 1 at VG_BAR: the guest's
 * loads and stores reach the device with no exit, as they would on a host
 * with a real assigned device. The guest (vg_guest below) copies a page
 * of its RAM through edu's buffer to another page, over and over: it
 * fills the source with a pattern of its transfer counter, has edu copy
 * it into the device buffer and back out to the destination, polls edu's
 * command register for each, checks the destination, counts and reports
 * each transfer on an I/O port. Bad data and a transfer that does not end
 * are reported on another.
 *
 * Stage 1: a VMM process (a VM belongs to the process that created it,
 * and must stay in it until the kexec) sets this up and runs the guest
 * until it has done some transfers, without a failure. It leaves values in
 * edu's liveness and factorial registers, then preserves, in one session,
 * the memfd, the iommufd, edu's device file and the VM fd. The guest and
 * the device go on while the VMM holds the session through the kexec.
 *
 * Stage 2 retrieves the memfd, the iommufd, the device (bound to the
 * iommufd under its old id and attached, with vfio-pci bound to edu first)
 * and the VM; maps edu's BAR0 from the retrieved file and adds it as
 * memslot 1 again, with memslot 0; creates the vCPU and runs it. The guest
 * must go on from the transfer count it was stopped at, without a
 * failure, edu's liveness and factorial registers must read back what
 * stage 1 left (edu was never reset), and the guest's clock shows how long
 * it was stopped: the TSC from its last report before the kexec to its
 * first after.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"
#include "kvm_kho_util.h"
#include "kvm_kho_guest_asm.h"

#include <assert.h>
#include <sys/ioctl.h>

#define SESSION		"vfio-vm"
#define TOKEN_VM	4	/* after IOMMU_VMM_TOKEN_DEVICE */
#define RECORD		"record"
#define MEM_SIZE	(4ULL << 20)
#define IOVA_RAM	0	/* guest RAM in the IOAS: IOVA = GPA */
#define BAR_SLOT	1
#define FACT_IN		9
#define FACT_OUT	362880	/* 9! */
#define WAIT_S		300

/*
 * The guest's layout, on kvm_kho_util.h's (control page, code, stacks);
 * page 0 holds the VMM's iommu_vmm_note. Plain numbers: the asm uses them.
 */
#define VG_BAR		0x80000000	/* edu's BAR0 */
#define VG_BUF		0x40000		/* EDU_BUF */
#define VG_SRC		0x100000	/* the page the guest fills */
#define VG_DST		0x200000	/* where edu writes it back */
#define VG_LEN		2048		/* bytes per transfer */
#define VG_WORDS	512
#define VG_STATE	0x8400		/* struct vg_state */
#define VG_CTL_PAUSE	0x8440		/* TSC ticks: a longer gap is a stop */
#define VG_CTL_TIMEOUT	0x8444		/* TSC ticks a transfer may take, 64-bit */
#define VG_PORT_REPORT	0xe0		/* eax = transfers so far */
#define VG_PORT_FAIL	KK_PORT_FAIL	/* eax = VG_FAIL_*, KK_FAIL_EXCEPTION */
#define VG_FAIL_DATA	8		/* the destination is not the source */
#define VG_FAIL_TIMEOUT	9		/* a transfer did not end */

static_assert(VG_BUF == EDU_BUF, "the guest's edu buffer");
static_assert(VG_LEN == VG_WORDS * 4 && VG_LEN < EDU_BUF_SIZE,
	      "a transfer ends before the buffer's last byte");
static_assert(VG_DST + 4096 <= MEM_SIZE && VG_DST + 4096 <= EDU_DMA_LIMIT,
	      "the pages edu reaches are guest RAM below 256 MiB");

/* What the guest keeps at VG_STATE, in guest RAM */
struct vg_state {
	uint32_t count;		/* +0x00 transfers done and checked */
	uint32_t fails;		/* +0x04 failures the guest found */
	uint32_t tsc_lo;	/* +0x08 guest TSC of the last report */
	uint32_t tsc_hi;
	uint32_t prev_lo;	/* +0x10 guest TSC of the report before */
	uint32_t prev_hi;
	uint32_t bad_off;	/* +0x18 VG_FAIL_DATA: offset of the word */
	uint32_t bad_val;	/* +0x1c its value */
	uint32_t step;		/* +0x20 1: to the device, 2: back to RAM */
	uint32_t waited_lo;	/* +0x24 TSC ticks this transfer took */
	uint32_t waited_hi;
	uint32_t poll_lo;	/* +0x2c guest TSC of the last poll */
	uint32_t poll_hi;
};

/*
 * The guest: 32-bit protected mode, no paging, one vCPU; ebx points at
 * its struct vg_state. Each transfer n fills VG_SRC with the words
 * (n ^ KK_PATTERN_XOR) * KK_PATTERN_MUL + i and VG_DST with their
 * complements, copies VG_SRC to edu's buffer and the buffer to VG_DST,
 * and checks VG_DST. While it waits for a transfer it counts the TSC
 * ticks between its polls of edu, leaving out gaps longer than
 * VG_CTL_PAUSE (the vCPU did not run: the kexec) so that a stop does not
 * read as a device that hangs.
 */
asm(
"	.pushsection .rodata.vg_guest, \"a\"\n"
"	.globl vg_guest_start\n"
"	.globl vg_guest_end\n"
"	.code32\n"
"vg_guest_start:\n"
"	cld\n"
"	mov $" KK_XSTR(VG_STATE) ", %ebx\n"
".Lvg_loop:\n"
"	call .Lvg_base\n"
"	mov $" KK_XSTR(VG_SRC) ", %edi\n"
"	mov $" KK_XSTR(VG_WORDS) ", %ecx\n"
".Lvg_fill:\n"
"	mov %edx, (%edi)\n"
"	mov %edx, %eax\n"
"	not %eax\n"
"	mov %eax, " KK_XSTR(VG_DST) "-" KK_XSTR(VG_SRC) "(%edi)\n"
"	inc %edx\n"
"	add $4, %edi\n"
"	dec %ecx\n"
"	jnz .Lvg_fill\n"
	/* guest RAM to edu's buffer */
"	movl $" KK_XSTR(VG_SRC) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_SRC) "\n"
"	movl $" KK_XSTR(VG_BUF) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_DST) "\n"
"	movl $" KK_XSTR(VG_LEN) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_COUNT) "\n"
"	movl $1, 0x20(%ebx)\n"
"	movl $" KK_XSTR(EDU_DMA_START) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_CMD) "\n"
"	call .Lvg_wait\n"
	/* and back, to the destination page */
"	movl $" KK_XSTR(VG_BUF) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_SRC) "\n"
"	movl $" KK_XSTR(VG_DST) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_DST) "\n"
"	movl $" KK_XSTR(VG_LEN) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_COUNT) "\n"
"	movl $2, 0x20(%ebx)\n"
"	movl $(" KK_XSTR(EDU_DMA_START) "+" KK_XSTR(EDU_DMA_TO_RAM) "), "
	KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_CMD) "\n"
"	call .Lvg_wait\n"
	/* check what came back */
"	call .Lvg_base\n"
"	mov $" KK_XSTR(VG_DST) ", %edi\n"
"	mov $" KK_XSTR(VG_WORDS) ", %ecx\n"
".Lvg_check:\n"
"	cmp %edx, (%edi)\n"
"	jne .Lvg_bad\n"
"	inc %edx\n"
"	add $4, %edi\n"
"	dec %ecx\n"
"	jnz .Lvg_check\n"
"	incl (%ebx)\n"
	/* report: the TSC of the last report becomes the one before */
"	mov 0x08(%ebx), %eax\n"
"	mov %eax, 0x10(%ebx)\n"
"	mov 0x0c(%ebx), %eax\n"
"	mov %eax, 0x14(%ebx)\n"
"	rdtsc\n"
"	mov %eax, 0x08(%ebx)\n"
"	mov %edx, 0x0c(%ebx)\n"
"	mov (%ebx), %eax\n"
"	out %eax, $" KK_XSTR(VG_PORT_REPORT) "\n"
"	jmp .Lvg_loop\n"
".Lvg_bad:\n"
"	mov (%edi), %eax\n"
"	mov %eax, 0x1c(%ebx)\n"
"	sub $" KK_XSTR(VG_DST) ", %edi\n"
"	mov %edi, 0x18(%ebx)\n"
"	incl 0x04(%ebx)\n"
"	mov $" KK_XSTR(VG_FAIL_DATA) ", %eax\n"
"	out %eax, $" KK_XSTR(VG_PORT_FAIL) "\n"
"	jmp .Lvg_loop\n"
	/* edx = the first word of this transfer's pattern */
".Lvg_base:\n"
"	mov (%ebx), %edx\n"
"	xor $" KK_XSTR(KK_PATTERN_XOR) ", %edx\n"
"	imul $" KK_XSTR(KK_PATTERN_MUL) ", %edx, %edx\n"
"	ret\n"
	/* until edu's command register says the transfer ended */
".Lvg_wait:\n"
"	rdtsc\n"
"	mov %eax, 0x2c(%ebx)\n"
"	mov %edx, 0x30(%ebx)\n"
"	movl $0, 0x24(%ebx)\n"
"	movl $0, 0x28(%ebx)\n"
".Lvg_poll:\n"
"	testl $" KK_XSTR(EDU_DMA_START) ", " KK_XSTR(VG_BAR) "+" KK_XSTR(EDU_REG_DMA_CMD) "\n"
"	jz .Lvg_done\n"
"	pause\n"
"	rdtsc\n"
"	mov %eax, %ecx\n"
"	mov %edx, %edi\n"
"	sub 0x2c(%ebx), %eax\n"
"	sbb 0x30(%ebx), %edx\n"
"	mov %ecx, 0x2c(%ebx)\n"
"	mov %edi, 0x30(%ebx)\n"
"	test %edx, %edx\n"
"	jnz .Lvg_poll\n"
"	cmp " KK_XSTR(VG_CTL_PAUSE) ", %eax\n"
"	jae .Lvg_poll\n"
"	add %eax, 0x24(%ebx)\n"
"	adcl $0, 0x28(%ebx)\n"
"	mov 0x28(%ebx), %eax\n"
"	cmp " KK_XSTR(VG_CTL_TIMEOUT) "+4, %eax\n"
"	jb .Lvg_poll\n"
"	ja .Lvg_timeout\n"
"	mov 0x24(%ebx), %eax\n"
"	cmp " KK_XSTR(VG_CTL_TIMEOUT) ", %eax\n"
"	jb .Lvg_poll\n"
".Lvg_timeout:\n"
"	incl 0x04(%ebx)\n"
"	mov $" KK_XSTR(VG_FAIL_TIMEOUT) ", %eax\n"
"	out %eax, $" KK_XSTR(VG_PORT_FAIL) "\n"
"	movl $0, 0x24(%ebx)\n"
"	movl $0, 0x28(%ebx)\n"
"	jmp .Lvg_poll\n"
".Lvg_done:\n"
"	ret\n"
"vg_guest_end:\n"
"	.code64\n"
"	.popsection\n"
);

/* What stage 1 leaves for stage 2 */
struct vg_record {
	uint64_t tsc_hz;	/* the guest's TSC rate, the host's */
	uint64_t bar_size;
	uint32_t liveness;	/* written to edu */
	uint32_t factorial;	/* what edu computed */
	uint32_t count;		/* transfers reported before the VMM let go */
};

/* What the VMM saw of the guest, under vm.lock */
static struct {
	uint32_t fails;
	uint32_t last_fail;
	uint64_t first_gap;	/* TSC from the report before the first seen */
} seen;

static struct iommu_vmm vmm;
static struct kk_vm vm;

static struct vg_state *vg_state(void)
{
	return (struct vg_state *)(vm.mem + VG_STATE);
}

static uint64_t tsc_of(uint32_t lo, uint32_t hi)
{
	return (uint64_t)hi << 32 | lo;
}

static double tsc_ms(uint64_t ticks)
{
	return 1e3 * ticks / vm.tsc_hz;
}

/* The guest's port I/O (kk_vm.io), on its vCPU thread */
static bool vg_io(struct kk_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vg_state *st = vg_state();
	uint64_t host = kk_rdtsc(), tsc;
	struct kk_slot *s;
	uint32_t val;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
	    run->io.count != 1) {
		kk_vcpu_stopped(v, 0, "unexpected I/O: port %#x %s size %u",
				run->io.port, run->io.direction ? "out" : "in",
				run->io.size);
		return false;
	}
	memcpy(&val, (char *)run + run->io.data_offset, 4);
	if (run->io.port == VG_PORT_FAIL && val == KK_FAIL_EXCEPTION) {
		s = kk_slot(&vm, v->id);
		kk_vcpu_stopped(v, 0,
				"guest exception: vector %u, error code %#x, at EIP %#x, CR2 %#x",
				s->exc_vector, s->exc_error, s->exc_eip,
				s->exc_cr2);
		return false;
	}
	if (run->io.port != VG_PORT_REPORT && run->io.port != VG_PORT_FAIL) {
		kk_vcpu_stopped(v, 0, "out to unexpected port %#x value %#x",
				run->io.port, val);
		return false;
	}

	pthread_mutex_lock(&vm.lock);
	if (run->io.port == VG_PORT_FAIL) {
		seen.fails++;
		seen.last_fail = val;
		kk_log(&vm, "GUEST FAIL %u: %s, at step %u (bad word +%#x: %#x)",
		       val, val == VG_FAIL_DATA ? "bad data" :
		       val == VG_FAIL_TIMEOUT ? "timeout" : "?", st->step,
		       st->bad_off, st->bad_val);
		pthread_mutex_unlock(&vm.lock);
		return true;
	}
	tsc = tsc_of(st->tsc_lo, st->tsc_hi);
	if (v->reports && (int32_t)(val - v->last_count) <= 0)
		v->not_forward++;
	if (!v->reports) {
		v->first_count = val;
		v->first_tsc = tsc;
		v->first_host = host;
		seen.first_gap = tsc - tsc_of(st->prev_lo, st->prev_hi);
	}
	v->last_count = val;
	v->last_tsc = tsc;
	v->last_host = host;
	v->reports++;
	kk_log(&vm, "transfer %u tsc %" PRIu64 " host %" PRIu64, val, tsc,
	       host);
	pthread_mutex_unlock(&vm.lock);
	return true;
}

/* The last transfer count the guest reported */
static uint32_t vg_count(void)
{
	uint32_t count;

	pthread_mutex_lock(&vm.lock);
	count = vm.vcpu[0].last_count;
	pthread_mutex_unlock(&vm.lock);
	return count;
}

/* for kk_wait(): the guest counted *@arg transfers, or failed */
static bool vg_reached(struct kk_vm *kvm, void *arg)
{
	return seen.fails || kvm->vcpu[0].last_count >= *(uint32_t *)arg;
}

/* Wait for the guest to count @count transfers; fail on a failure */
static void vg_wait(uint32_t count, const char *what)
{
	struct vg_state *st = vg_state();

	kk_wait(&vm, WAIT_S, what, vg_reached, &count);
	pthread_mutex_lock(&vm.lock);
	if (seen.fails) {
		pthread_mutex_unlock(&vm.lock);
		kk_dmesg_show("DMAR");
		fail("the guest found %u failure(s), the last %s at step %u (word +%#x: %#x)",
		     seen.fails, seen.last_fail == VG_FAIL_DATA ?
		     "bad data" : "a transfer that did not end", st->step,
		     st->bad_off, st->bad_val);
	}
	pthread_mutex_unlock(&vm.lock);
}

/* edu's BAR0, mapped in the VMM, as memslot 1 of the guest */
static void vg_set_bar_slot(void)
{
	struct kvm_userspace_memory_region r = {
		.slot = BAR_SLOT,
		.guest_phys_addr = VG_BAR,
		.memory_size = vmm.edu.bar_size,
		.userspace_addr = (uintptr_t)vmm.edu.bar,
	};

	if (ioctl(vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &r))
		fail("KVM_SET_USER_MEMORY_REGION slot %d: edu's BAR0 (%zu KiB) at GPA %#x: %s",
		     BAR_SLOT, vmm.edu.bar_size >> 10, VG_BAR,
		     strerror(errno));
}

/* The library's VM and layout, with the guest above at KK_CODE */
static void vg_create_vm(void)
{
	extern const char vg_guest_start[], vg_guest_end[];
	size_t code = vg_guest_end - vg_guest_start;
	uint64_t timeout = vm.tsc_hz * 10;

	kk_create_vm(&vm);
	if (code > KK_CODE_MAX)
		fail("guest code of %zu bytes does not fit", code);
	memset(vm.mem + KK_CODE, 0, KK_CODE_MAX);
	memcpy(vm.mem + KK_CODE, vg_guest_start, code);
	*kk_ctl32(&vm, VG_CTL_PAUSE) = (uint32_t)(vm.tsc_hz / 10);
	*kk_ctl32(&vm, VG_CTL_TIMEOUT) = (uint32_t)timeout;
	*kk_ctl32(&vm, VG_CTL_TIMEOUT + 4) = (uint32_t)(timeout >> 32);
	vg_set_bar_slot();
	vm.io = vg_io;
	kk_add_vcpu(&vm, 0, true);
}

/* Leave values in two registers of edu that no transfer touches */
static void edu_leave_values(struct vg_record *rec)
{
	int i;

	rec->liveness = (uint32_t)luo_seed();
	edu_write32(&vmm.edu, EDU_REG_LIVENESS, rec->liveness);
	edu_write32(&vmm.edu, EDU_REG_FACTORIAL, FACT_IN);
	for (i = 0; i < 1000 && edu_read32(&vmm.edu, EDU_REG_STATUS) & 1; i++)
		kk_sleep_ms(1);
	rec->factorial = edu_read32(&vmm.edu, EDU_REG_FACTORIAL);
	expect_u64("edu computed 9!", FACT_OUT, rec->factorial);
	expect_u64("edu's liveness register (inverted)", ~rec->liveness,
		   edu_read32(&vmm.edu, EDU_REG_LIVENESS));
}

/* Fail unless edu's registers hold what stage 1 left in them */
static void edu_check_values(const struct vg_record *rec, const char *when)
{
	char what[96];

	snprintf(what, sizeof(what), "edu's liveness register (inverted), %s",
		 when);
	expect_u64(what, ~rec->liveness, edu_read32(&vmm.edu, EDU_REG_LIVENESS));
	snprintf(what, sizeof(what), "edu's factorial register, %s", when);
	expect_u64(what, rec->factorial,
		   edu_read32(&vmm.edu, EDU_REG_FACTORIAL));
}

/* ----- stage 1 ----- */

static void vmm_stage1(void *arg, int status_fd)
{
	struct vg_record rec = { 0 };
	int dev, session;
	char bdf[32];

	(void)arg;
	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 1: VMM pid %d", getpid());
	edu_find(bdf, sizeof(bdf));
	vm.kvm_fd = kk_open_kvm();
	vm.tsc_hz = kk_tsc_hz();
	kk_create_mem(&vm, MEM_SIZE, false);
	iommu_vmm_setup(&vmm, bdf, vm.mem_fd, vm.mem, MEM_SIZE, IOVA_RAM);
	iommu_vmm_note(&vmm);
	vg_create_vm();
	msg("ok: VM with %llu MiB of guest RAM, mapped at IOVA = GPA",
	    MEM_SIZE >> 20);
	msg("ok: edu (%s) on HWPT %u; its BAR0 is memslot %d at GPA %#x",
	    bdf, vmm.hwpt, BAR_SLOT, VG_BAR);

	kk_start(&vm);
	vg_wait(3, "the guest's first transfers");
	msg("ok: the guest drives edu: %u transfers checked, no failure",
	    vg_count());

	edu_leave_values(&rec);
	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	iommu_vmm_preserve(&vmm, session, vm.mem_fd);
	iommu_vmm_preserve_device(&vmm, session);
	expect_ok("preserve the VM", luo_preserve_fd(session, vm.vm_fd,
						     TOKEN_VM));
	close(dev);
	msg("ok: preserved the memfd, the iommufd, edu's device file and the VM in session \"%s\"",
	    SESSION);

	/* preserved, the guest and the device go on */
	vg_wait(vg_count() + 2, "transfers after the preserve");

	rec.tsc_hz = vm.tsc_hz;
	rec.bar_size = vmm.edu.bar_size;
	rec.count = vg_count();
	luo_save(RECORD, &rec, sizeof(rec));
	msg("ok: %u transfers; edu's liveness %#x, factorial %u left in it",
	    rec.count, rec.liveness, rec.factorial);
	msg("# the VMM keeps the guest running through the kexec");
	kk_child_detach(status_fd, "vmm.log");
	for (;;)
		pause();
}

static int stage1(void)
{
	struct kk_child c;

	kk_child_start(&c, "the VMM", vmm_stage1, NULL);
	return kk_child_wait(&c);
}

/* ----- stage 2 ----- */

static int stage2(void)
{
	struct vg_record *rec = luo_load(RECORD, sizeof(*rec));
	uint32_t carried, first, after;
	int dev, session, memfd;
	struct vg_state *st;
	uint64_t gap;

	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 2: VMM pid %d", getpid());
	vm.tsc_hz = rec->tsc_hz;
	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, MEM_SIZE, IOVA_RAM);
	vm.mem_fd = memfd;
	vm.mem = vmm.ram;
	vm.mem_size = MEM_SIZE;
	st = vg_state();
	carried = st->count;
	if (st->fails || (int32_t)(carried - rec->count) < 0)
		fail("guest RAM carried %u transfers and %u failures; stage 1 saw %u transfers",
		     carried, st->fails, rec->count);

	iommu_vmm_retrieve_device(&vmm, session);
	luo_expect_log("opened as it is, without a reset");
	expect_u64("edu's BAR0 size", rec->bar_size, vmm.edu.bar_size);
	edu_check_values(rec, "at retrieve");

	vm.vm_fd = expect_ok("retrieve the VM",
			     luo_retrieve_fd(session, TOKEN_VM));
	kk_reattach_vm(&vm);
	vg_set_bar_slot();
	vm.io = vg_io;
	kk_add_vcpu(&vm, 0, false);
	msg("ok: retrieved the VM; %u transfers carried in guest RAM", carried);
	msg("ok: memslots 0 and %d (edu's BAR0, from the retrieved file) again",
	    BAR_SLOT);

	kk_start(&vm);
	vg_wait(carried + 3, "the guest to go on");
	pthread_mutex_lock(&vm.lock);
	first = vm.vcpu[0].first_count;
	gap = seen.first_gap;
	pthread_mutex_unlock(&vm.lock);
	if ((int32_t)(first - carried) < 0)
		fail("first transfer after the kexec %u, %u carried: started over",
		     first, carried);
	msg("ok: the guest went on: first transfer after the kexec %u, %u carried",
	    first, carried);

	expect_ok("finish", luo_finish(session));
	vg_wait(vg_count() + 2, "transfers after the finish");
	kk_stop(&vm);
	kk_check_healthy(&vm);
	after = st->count;
	edu_check_values(rec, "after the guest ran on");
	msg("ok: edu was never reset: liveness %#x (inverted) and factorial %u read back",
	    ~rec->liveness, rec->factorial);
	kk_dmesg_show("resumed,");
	msg("vfio_kho_vm: transfers: %u before the kexec, %u after (+%u here), no failure",
	    carried, after, after - carried);
	msg("vfio_kho_vm: edu never reset: liveness and factorial registers kept");
	msg("vfio_kho_vm: guest blackout %.0f ms (guest TSC, last report before to first after)",
	    tsc_ms(gap));

	iommu_vmm_release(&vmm, memfd, MEM_SIZE);
	close(session);
	close(dev);
	free(rec);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_vm", LUO_STAGES(stage1, stage2));
}
