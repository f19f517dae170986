// SPDX-License-Identifier: GPL-2.0
/*
 * Four running VMs through one kexec, each on its own memfd.
 *
 * A host usually runs one VMM process per VM, each with its own session;
 * a VMM that runs several VMs may keep them in one session. Both are
 * here, in three VMM processes (children of the test, as a VM belongs to
 * the process that created or retrieves it):
 *
 *   vmm-a, session "kvm-a": vm0 (2 vCPUs, 42 MiB) and vm1 (1 vCPU, 26 MiB)
 *   vmm-b, session "kvm-b": vm2 (2 vCPUs, 50 MiB)
 *   vmm-c, session "kvm-c": vm3 (1 vCPU, 34 MiB)
 *
 * Each VM's memfd and VM fd are preserved under tokens of their own (VM n:
 * 0x100*n + 1 and + 2), and each guest has its own size and a tag in its
 * control page, so a VM rebuilt on another's memory shows.
 *
 * Stage 1: every guest runs, the VMMs preserve them, keep them running and
 * keep writing each VM's latest reports to vmN.rec; the test exits 10.
 * Stage 2: each VMM retrieves its session and rebuilds its VMs; every
 * guest must go on from where it was (counters past the recorded ones,
 * checksum passes counted on, its region intact from the host side), the
 * VMMs finish their sessions and the guests run on. The kernel must have
 * rebuilt 4 VMs and resumed 6 vCPUs. Last, every guest TSC must have
 * moved by what the host TSC did (checked with the rest, failed on last).
 */
#include "kvm_kho_util.h"

#define NR_VMS		4
#define NR_VMMS		3

struct vm_conf {
	uint32_t region;
	int nr_vcpus;
	int vmm;
};

static const struct vm_conf confs[NR_VMS] = {
	{ 40U << 20, 2, 0 },
	{ 24U << 20, 1, 0 },
	{ 48U << 20, 2, 1 },
	{ 32U << 20, 1, 2 },
};

static const char *const vmm_names[NR_VMMS] = { "vmm-a", "vmm-b", "vmm-c" };
static const char *const sessions[NR_VMMS] = { "kvm-a", "kvm-b", "kvm-c" };

static struct kk_vm vms[NR_VMS];
static char names[NR_VMS][8];

static uint64_t tok_mem(int n) { return 0x100 * n + 1; }
static uint64_t tok_vm(int n) { return 0x100 * n + 2; }
static uint32_t tag(int n) { return 0x6d760000 + n; }	/* "vm" n */

static void path(char *buf, size_t len, int n, const char *ext)
{
	snprintf(buf, len, "%s.%s", names[n], ext);
}

/* ----- stage 1 ----- */

static void vmm_stage1(void *arg, int status_fd)
{
	int m = (int)(intptr_t)arg, rfd[NR_VMS], dev, session, n, i;
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	struct kk_record rec[NR_VMS] = { 0 };
	char buf[64];

	setsid();
	for (n = 0; n < NR_VMS; n++) {
		struct kk_vm *vm = &vms[n];

		if (confs[n].vmm != m)
			continue;
		path(buf, sizeof(buf), n, "log");
		kk_vm_init(vm, buf);
		kk_log(vm, "stage 1: %s pid %d", vmm_names[m], getpid());
		vm->kvm_fd = kk_open_kvm();
		vm->tsc_hz = kk_tsc_hz();
		kk_create_mem(vm, kk_mem_size_for(confs[n].region), false);
		kk_create_vm_sized(vm, confs[n].region);
		*kk_ctl32(vm, KK_CTL_TAG) = tag(n);
		for (i = 0; i < confs[n].nr_vcpus; i++)
			kk_add_vcpu(vm, i, true);
		kk_start(vm);
	}
	for (n = 0; n < NR_VMS; n++) {
		if (confs[n].vmm != m)
			continue;
		kk_wait(&vms[n], 180, names[n], kk_reached, want);
		msg("ok: %s: %d vCPU(s) on %" PRIu64 " MiB running: counters %u and %u, checksum %#x",
		    names[n], vms[n].nr_vcpus, vms[n].mem_size >> 20,
		    vms[n].vcpu[0].last_count, vms[n].vcpu[1].last_count,
		    vms[n].init_csum);
	}

	dev = kk_luo_open_wait(30);
	if (dev == -ENOENT)
		skip("no /dev/liveupdate: kernel without CONFIG_LIVEUPDATE or kho=off");
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	session = luo_create_session(dev, sessions[m]);
	if (session < 0)
		fail("%s: create session \"%s\": %s", vmm_names[m], sessions[m],
		     strerror(-session));
	close(dev);
	for (n = 0; n < NR_VMS; n++) {
		if (confs[n].vmm != m)
			continue;
		kk_preserve_vm(&vms[n], names[n], session, tok_mem(n), tok_vm(n));
		msg("ok: %s: memfd and VM preserved in session \"%s\" as %#" PRIx64
		    " and %#" PRIx64, names[n], sessions[m], tok_mem(n), tok_vm(n));
	}
	for (n = 0; n < NR_VMS; n++) {
		if (confs[n].vmm != m)
			continue;
		kk_wait_more(&vms[n], 120, names[n], 2, 0);
		path(buf, sizeof(buf), n, "rec");
		rfd[n] = kk_record_create(buf);
		kk_record_fill(&vms[n], &rec[n]);
		kk_record_write(rfd[n], &rec[n]);
		kk_record_write(rfd[n], &rec[n]);
	}
	msg("# %s (pid %d) keeps its guests running and session \"%s\" open through the kexec",
	    vmm_names[m], getpid(), sessions[m]);
	snprintf(buf, sizeof(buf), "%s.out", vmm_names[m]);
	kk_child_detach(status_fd, buf);

	for (;;) {
		kk_sleep_ms(100);
		for (n = 0; n < NR_VMS; n++) {
			if (confs[n].vmm != m)
				continue;
			kk_record_fill(&vms[n], &rec[n]);
			kk_record_write(rfd[n], &rec[n]);
		}
	}
}

/* ----- stage 2 ----- */

static void vmm_stage2(void *arg, int status_fd)
{
	int m = (int)(intptr_t)arg, dev, session, ret, n;
	struct kk_record rec[NR_VMS];
	char buf[64];

	(void)status_fd;
	dev = kk_luo_open_wait(30);
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	session = luo_retrieve_session(dev, sessions[m]);
	if (session < 0)
		fail("%s: retrieve session \"%s\": %s", vmm_names[m], sessions[m],
		     strerror(-session));
	close(dev);
	for (n = 0; n < NR_VMS; n++) {
		if (confs[n].vmm != m)
			continue;
		path(buf, sizeof(buf), n, "rec");
		kk_record_load(buf, &rec[n]);
		if (rec[n].tag != tag(n) || rec[n].nr_vcpus != (uint32_t)confs[n].nr_vcpus)
			fail("%s: record of tag %#x with %u vCPUs", names[n],
			     rec[n].tag, rec[n].nr_vcpus);
		path(buf, sizeof(buf), n, "log");
		kk_vm_init(&vms[n], buf);
		kk_log(&vms[n], "stage 2: %s pid %d", vmm_names[m], getpid());
		kk_restore_vm(&vms[n], names[n], session, tok_mem(n), tok_vm(n),
			      &rec[n]);
	}
	for (n = 0; n < NR_VMS; n++)
		if (confs[n].vmm == m)
			kk_start(&vms[n]);
	for (n = 0; n < NR_VMS; n++)
		if (confs[n].vmm == m)
			kk_check_resumed(&vms[n], names[n], &rec[n], 300);

	ret = luo_finish(session);
	if (ret)
		fail("%s: finish session \"%s\": %s", vmm_names[m], sessions[m],
		     strerror(-ret));
	close(session);
	for (n = 0; n < NR_VMS; n++) {
		if (confs[n].vmm != m)
			continue;
		kk_wait_more(&vms[n], 120, names[n], 2, 1);
		kk_stop(&vms[n]);
		kk_check_healthy(&vms[n]);
		msg("ok: %s: runs on after session \"%s\" was finished: counters %u and %u",
		    names[n], sessions[m], vms[n].vcpu[0].last_count,
		    vms[n].vcpu[1].last_count);
	}
}

/* Run @fn in each VMM child; what they came to, as kk_children_wait(). */
static int run_vmms(void (*fn)(void *arg, int status_fd))
{
	struct kk_child c[NR_VMMS];
	int m, n;

	for (n = 0; n < NR_VMS; n++)
		snprintf(names[n], sizeof(names[n]), "vm%d", n);
	for (m = 0; m < NR_VMMS; m++)
		kk_child_start(&c[m], vmm_names[m], fn, (void *)(intptr_t)m);
	return kk_children_wait(c, NR_VMMS);
}

static int stage1(void)
{
	double t0 = kk_now();
	int rc = run_vmms(vmm_stage1);

	if (rc == EXIT_KEXEC)
		msg("# all %d VMs preserved and running after %.1f s: kexec",
		    NR_VMS, kk_now() - t0);
	return rc;
}

static int stage2(void)
{
	double t0 = kk_now();
	int rc = run_vmms(vmm_stage2);

	if (rc != EXIT_PASS)
		return rc;
	if (kk_dmesg_count("kvm-kho: VM rebuilt") != NR_VMS ||
	    kk_dmesg_count(" resumed, ") != 6) {
		kk_dmesg_show("kvm-kho");
		fail("expected %d VMs rebuilt and 6 vCPUs resumed in the kernel log",
		     NR_VMS);
	}
	kk_dmesg_show("kvm-kho: VM rebuilt");
	msg("ok: all %d VMs carried, %.1f s in this stage", NR_VMS,
	    kk_now() - t0);
	kk_tsc_verdict();
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_multi", LUO_STAGES(stage1, stage2));
}
