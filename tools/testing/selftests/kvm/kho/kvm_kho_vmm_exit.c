// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM that goes away before the kexec takes its VM out of the handover,
 * and nothing it preserved stays behind.
 *
 * Stage 1: the handover preserves P0 pages and MemFree is F0 before any
 * VM. Two VMM processes each run a guest and preserve its memfd and VM fd
 * in a session of their own: "kvm" (two vCPUs, 50 MiB) and "kvm-killed"
 * (one vCPU, 34 MiB). A finalize and its abort show that the handover now
 * holds both guests' RAM and state (P1 >= P0 + their pages), and Shmem
 * grew by their RAM. Then the first VMM exits on its own, its guest
 * running and every fd open, and the second is killed with SIGKILL. After
 * that, without anything else done:
 *
 *  - a finalize preserves exactly P0 pages again, and arms no VM;
 *  - Shmem is back where it was (within 1 MiB) and MemFree back to F0
 *    (within 8 MiB): the guest RAM was freed;
 *  - the session names are free again.
 *
 * Stage 2, after the kexec: neither session exists (retrieving them fails
 * with ENOENT), no incoming session was handed over, no VM rebuilt and,
 * as stage 1 preserved nothing before its VMMs, no preserved memory came
 * over ("KHO: incoming map: 0 blocks").
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "kvm_kho_util.h"

/* what a finalize logs for each preserved VM, which runs on until the kexec */
static const char *const armed = " ready for the kexec: ";

#define TOKEN_MEM	1
#define TOKEN_VM	2
#define SLACK_KB	(8 << 10)	/* MemFree back within this */
#define SHMEM_SLACK_KB	(1 << 10)	/* Shmem back within this */

struct vmm {
	const char *name;	/* and its session's */
	uint32_t region;
	int nr_vcpus;
	pid_t pid;
	int status;		/* read end: 'P' once preserved */
	int cmd;		/* write end: 'X' to exit */
	uint64_t mem_size;
};

static struct vmm vmms[2] = {
	{ .name = "kvm", .region = 48U << 20, .nr_vcpus = 2 },
	{ .name = "kvm-killed", .region = 32U << 20, .nr_vcpus = 1 },
};

static void __attribute__((noreturn)) vmm_main(struct vmm *m, int status,
					      int cmd)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	struct kk_vm vm;
	int dev, session, i;
	char c;

	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "%s: VMM pid %d", m->name, getpid());
	vm.kvm_fd = kk_open_kvm();
	vm.tsc_hz = kk_tsc_hz();
	kk_create_mem(&vm, kk_mem_size_for(m->region), false);
	kk_create_vm_sized(&vm, m->region);
	for (i = 0; i < m->nr_vcpus; i++)
		kk_add_vcpu(&vm, i, true);
	kk_start(&vm);
	kk_wait(&vm, 120, m->name, kk_reached, want);

	dev = kk_luo_open_wait(30);
	if (dev < 0)
		fail("%s: open /dev/liveupdate: %s", m->name, strerror(-dev));
	session = luo_create_session(dev, m->name);
	if (session < 0)
		fail("%s: create session: %s", m->name, strerror(-session));
	close(dev);
	kk_preserve_vm(&vm, m->name, session, TOKEN_MEM, TOKEN_VM);
	kk_wait_more(&vm, 60, m->name, 2, 0);
	msg("ok: %s: VMM %d runs a %d-vCPU guest on %" PRIu64
	    " MiB, preserved in session \"%s\"", m->name, getpid(),
	    vm.nr_vcpus, vm.mem_size >> 20, m->name);
	if (write(status, "P", 1) != 1)
		fail("%s: status pipe: %s", m->name, strerror(errno));

	while (read(cmd, &c, 1) < 0 && errno == EINTR)
		;
	/* the guest went on after the test's finalize and abort */
	kk_wait_more(&vm, 60, m->name, 2, 0);
	kk_check_healthy(&vm);
	msg("ok: %s: the guest runs on after the finalize and abort: counter %u; the VMM exits with it running and every fd open",
	    m->name, vm.vcpu[0].last_count);
	_exit(EXIT_PASS);	/* no atexit, no kk_stop: as a VMM that just goes */
}

static void vmm_start(struct vmm *m)
{
	int st[2], cmd[2];

	m->mem_size = kk_mem_size_for(m->region);
	if (pipe(st) || pipe(cmd))
		fail("pipe: %s", strerror(errno));
	fflush(stdout);
	m->pid = fork();
	if (m->pid < 0)
		fail("fork: %s", strerror(errno));
	if (m->pid == 0) {
		close(st[0]);
		close(cmd[1]);
		vmm_main(m, st[1], cmd[0]);
	}
	close(st[1]);
	close(cmd[0]);
	m->status = st[0];
	m->cmd = cmd[1];
}

static void vmm_wait_preserved(struct vmm *m)
{
	ssize_t n;
	char c;

	do
		n = read(m->status, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || c != 'P') {
		int status;

		waitpid(m->pid, &status, 0);
		fail("VMM %s gave up before preserving its VM (status %#x)",
		     m->name, status);
	}
}

/*
 * MemFree without the page cache, which comes and goes with what the
 * system reads (the test binaries, logs) and is not the VMMs' to give back.
 */
static uint64_t memfree_settled(void)
{
	sync();
	luo_write_file("/proc/sys/vm/drop_caches", "3");
	return luo_meminfo("MemFree");
}

static int stage1(void)
{
	uint64_t free0, free1, free2, shmem0, shmem1, shmem2, vm_kb = 0;
	long pages0, pages1, pages2, min;
	int dev, nq, status, i, s;
	FILE *f;
	double t;

	dev = luo_open();
	close(dev);
	pages0 = kk_kho_count_preserved();
	free0 = memfree_settled();
	shmem0 = luo_meminfo("Shmem");
	msg("# before the VMMs: the handover preserves %ld pages, MemFree %" PRIu64
	    " MiB, Shmem %" PRIu64 " MiB", pages0, free0 >> 10, shmem0 >> 10);

	for (i = 0; i < 2; i++)
		vmm_start(&vmms[i]);
	for (i = 0; i < 2; i++) {
		vmm_wait_preserved(&vmms[i]);
		vm_kb += vmms[i].mem_size >> 10;
	}

	free1 = luo_meminfo("MemFree");
	shmem1 = luo_meminfo("Shmem");
	if (shmem1 < shmem0 + vm_kb * 9 / 10)
		fail("with both guests running Shmem is %" PRIu64 " MiB, %" PRIu64
		     " MiB before: their %" PRIu64 " MiB of memfd do not show",
		     shmem1 >> 10, shmem0 >> 10, vm_kb >> 10);
	nq = kk_dmesg_count(armed);
	pages1 = kk_kho_count_preserved();
	min = pages0 + (long)(vm_kb >> 2) + 5;
	if (pages1 < min)
		fail("with both VMs preserved the handover preserves %ld pages, expected at least %ld",
		     pages1, min);
	if (kk_dmesg_count(armed) != nq + 2)
		fail("a finalize with two VMs preserved armed %d",
		     kk_dmesg_count(armed) - nq);
	msg("ok: both VMs preserved: the handover preserves %ld pages (%ld before), Shmem %" PRIu64
	    " MiB (%" PRIu64 " before); finalize armed both, abort released them",
	    pages1, pages0, shmem1 >> 10, shmem0 >> 10);

	/* the first VMM exits on its own, the second is killed */
	if (write(vmms[0].cmd, "X", 1) != 1)
		fail("telling %s to exit: %s", vmms[0].name, strerror(errno));
	if (waitpid(vmms[0].pid, &status, 0) < 0)
		fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_PASS)
		fail("VMM %s: exit status %#x", vmms[0].name, status);
	msg("ok: VMM %s exited", vmms[0].name);
	kill(vmms[1].pid, SIGKILL);
	if (waitpid(vmms[1].pid, &status, 0) < 0)
		fail("waitpid: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail("VMM %s: status %#x, expected killed by SIGKILL",
		     vmms[1].name, status);
	msg("ok: VMM %s killed with SIGKILL", vmms[1].name);

	/* guest RAM goes back to the page allocator */
	t = kk_now();
	while (((shmem2 = luo_meminfo("Shmem")) > shmem0 + SHMEM_SLACK_KB ||
		(free2 = memfree_settled()) + SLACK_KB < free0) &&
	       kk_now() - t < 10)
		kk_sleep_ms(100);
	free2 = memfree_settled();
	if (shmem2 > shmem0 + SHMEM_SLACK_KB)
		fail("10 s after the VMMs went Shmem is %" PRIu64 " MiB, %" PRIu64
		     " MiB before them: guest RAM not freed", shmem2 >> 10,
		     shmem0 >> 10);
	if (free2 + SLACK_KB < free0)
		fail("10 s after the VMMs went MemFree is %" PRIu64 " MiB, %" PRIu64
		     " MiB before them: %" PRIu64 " MiB not given back",
		     free2 >> 10, free0 >> 10, (free0 - free2) >> 10);
	msg("ok: Shmem back to %" PRIu64 " MiB (%" PRIu64 " before the VMMs, %" PRIu64
	    " with them), MemFree to %" PRIu64 " MiB (%" PRIu64 " before, %" PRIu64
	    " with them) in %.1f s", shmem2 >> 10, shmem0 >> 10, shmem1 >> 10,
	    free2 >> 10, free0 >> 10, free1 >> 10, kk_now() - t);

	nq = kk_dmesg_count(armed);
	pages2 = kk_kho_count_preserved();
	if (pages2 != pages0)
		fail("after the VMMs went the handover preserves %ld pages, %ld before them: %ld left behind",
		     pages2, pages0, pages2 - pages0);
	if (kk_dmesg_count(armed) != nq)
		fail("a finalize after the VMMs went armed a VM");
	msg("ok: after the VMMs went the handover preserves %ld pages, as before them, and arms no VM",
	    pages2);

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	for (i = 0; i < 2; i++) {
		s = luo_create_session(dev, vmms[i].name);
		if (s < 0)
			fail("create session \"%s\" after its VMM went: %s",
			     vmms[i].name, strerror(-s));
		close(s);
	}
	close(dev);
	msg("ok: the session names are free again: the sessions are gone");

	f = fopen("pages0", "w");
	if (!f || fprintf(f, "%ld\n", pages0) < 0 || fclose(f))
		fail("writing pages0: %s", strerror(errno));
	return EXIT_KEXEC;
}

static int stage2(void)
{
	unsigned long blocks, meta;
	int dev, s, i;
	char *log, *p;
	long pages0;
	FILE *f;

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	for (i = 0; i < 2; i++) {
		s = luo_retrieve_session(dev, vmms[i].name);
		if (s != -ENOENT)
			fail("retrieve session \"%s\" whose VMM went before the kexec: %s, expected ENOENT",
			     vmms[i].name, s < 0 ? strerror(-s) : "retrieved");
		msg("ok: retrieve session \"%s\": ENOENT", vmms[i].name);
	}
	close(dev);
	if (kk_dmesg_count("liveupdate: incoming session ")) {
		kk_dmesg_show("liveupdate");
		fail("the new kernel got incoming sessions");
	}
	if (kk_dmesg_count("kvm-kho: VM rebuilt"))
		fail("the new kernel rebuilt a VM");
	msg("ok: no incoming session and no VM in the new kernel");

	/* and none of their memory came over */
	f = fopen("pages0", "r");
	if (!f || fscanf(f, "%ld", &pages0) != 1)
		fail("reading pages0 of stage 1");
	fclose(f);
	log = kk_dmesg();
	p = strstr(log, "KHO: incoming map: ");
	if (!p || sscanf(p, "KHO: incoming map: %lu blocks (%*u pages) in %lu", &blocks,
			 &meta) != 2)
		fail("no \"KHO: incoming map: N blocks in N metadata pages\" in the kernel log");
	free(log);
	if (pages0 == 0 && blocks)
		fail("the new kernel got %lu preserved blocks; stage 1 preserved nothing before or after its VMMs",
		     blocks);
	msg("ok: the handover brought %lu preserved blocks (stage 1 preserved %ld pages before its VMMs)",
	    blocks, pages0);
	msg("# and %lu pages of the preserve map's tables", meta);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_vmm_exit", LUO_STAGES(stage1, stage2));
}
