// SPDX-License-Identifier: GPL-2.0
/*
 * A running KVM guest across a kernel live update.
 *
 * Stage 1: a VMM process (a child of the test, since a VM belongs to the
 * process that created it) starts the two-vCPU guest of kvm_kho_util.h on
 * 258 MiB of shmem memfd, waits until both vCPUs reported and a checksum
 * pass came back, then creates Live Update session "kvm" and preserves the
 * memfd (token 1) and the VM fd (token 2). It keeps running the guest,
 * holding the session, and keeps writing the latest reports with the host
 * TSC to "record" in the state directory; the test process exits 10 and
 * the harness kexecs. The kernel quiesces the vCPUs as it hands over:
 * KVM_RUN returns EINTR (or EBUSY) and the VMM retries until the kexec.
 *
 * Stage 2, in the new kernel: retrieve the session. A failed retrieve of
 * the VM must not be final: with the rebuild of its devices made to fail
 * (error injection, twice), the retrieve fails with ENOMEM and the
 * carried records stay where they are, for the next try. Then retrieve
 * the memfd (mapped again) and a new fd for the same VM; set memslot 0
 * over the new mapping
 * and create the vCPUs with the same ids, nothing else: the first KVM_RUN
 * restores what the kernel carried. Then the guest must go on where it
 * was: counters past the last values recorded before the kexec, never
 * reset; checksum passes counted on from the same number and passing; the
 * guest TSC not going back and not jumping further than the host TSC
 * moved (checked last, with the kernel's TSC messages). Finish the
 * session; pass.
 */
#include "kvm_kho_util.h"

#define SESSION		"kvm"
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define RECORD		"record"
/* where the rebuild of a carried VM is made to fail */
#define INJECT_AT	"kvm_kho_arch_create_vm"

/* ----- stage 1 ----- */

static void vmm_stage1(void *arg, int status_fd)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 3, 3, 1 };
	struct kk_record rec = { 0 };
	int dev, session, rfd;
	struct kk_vm vm;

	(void)arg;
	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 1: VMM pid %d", getpid());
	kk_create_guest(&vm, KK_REGION_SIZE);
	kk_start(&vm);
	kk_wait(&vm, 600, "the guest to run", kk_reached, want);
	msg("ok: guest running: counters %u and %u, checksum %#x, %u pass(es)",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count, vm.init_csum,
	    vm.vcpu[1].passes);

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	kk_preserve_vm(&vm, SESSION, session, TOKEN_MEM, TOKEN_VM);
	msg("ok: preserved the guest RAM memfd as token %d and the VM fd as token %d",
	    TOKEN_MEM, TOKEN_VM);
	close(dev);

	/* the guest must go on running once preserved */
	kk_wait_more(&vm, 300, "reports after the preserve", 2, 0);

	rfd = kk_record_create(RECORD);
	kk_record_fill(&vm, &rec);
	kk_record_write(rfd, &rec);
	kk_record_write(rfd, &rec);
	msg("ok: recorded: vCPU 0 counter %u TSC %" PRIu64 ", vCPU 1 counter %u TSC %" PRIu64
	    ", %u passes, host TSC %" PRIu64, rec.count[0], rec.tsc[0],
	    rec.count[1], rec.tsc[1], rec.passes, rec.host_tsc);
	msg("# VMM %d keeps the guest running and the session open through the kexec",
	    getpid());
	kk_child_detach(status_fd, "vmm.log");
	kk_record_until_kexec(&vm, rfd, &rec);
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
	struct kk_record rec;
	struct kk_vm vm;
	int dev, session, ret, i;

	kk_record_load(RECORD, &rec);
	msg("# stage 1 recorded (seq %" PRIu64 "): vCPU 0 counter %u, vCPU 1 counter %u, %u passes, checksum %#x",
	    rec.seq, rec.count[0], rec.count[1], rec.passes, rec.csum);
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 2: VMM pid %d", getpid());

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	session = luo_open_session(dev, SESSION, false);
	msg("ok: retrieved session \"%s\"", SESSION);

	kk_inject_error(INJECT_AT, -ENOMEM, 2);
	for (i = 1; i <= 2; i++) {
		ret = luo_retrieve_fd(session, TOKEN_VM);
		if (ret != -ENOMEM) {
			kk_inject_clear();
			fail("retrieve %d of the VM, with %s() made to fail: %s, expected ENOMEM",
			     i, INJECT_AT, ret < 0 ? strerror(-ret) : "an fd");
		}
	}
	kk_inject_clear();
	msg("ok: two retrieves of the VM failed with ENOMEM as %s() was made to fail; the records stay for a retry",
	    INJECT_AT);

	kk_restore_vm(&vm, "the update", session, TOKEN_MEM, TOKEN_VM, &rec);
	msg("ok: memslot 0 and vCPUs 0-%d on the restored VM", KK_MAX_VCPUS - 1);
	kk_start(&vm);
	kk_check_resumed(&vm, "the update", &rec, 600);

	ret = luo_finish(session);
	if (ret)
		fail("finish session \"%s\": %s", SESSION, strerror(-ret));
	msg("ok: finished session \"%s\"", SESSION);

	/* and the guest still runs after the finish */
	kk_wait_more(&vm, 300, "reports after the finish", 2, 0);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	msg("ok: guest still running after the finish: counters %u and %u",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);
	close(session);
	close(dev);
	kk_tsc_verdict();
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_resume", LUO_STAGES(stage1, stage2));
}
