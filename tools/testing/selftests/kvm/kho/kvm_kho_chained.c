// SPDX-License-Identifier: GPL-2.0
/*
 * One running VM through three kexecs in a row.
 *
 * Incoming sessions are not passed on: after each update the VMM has to
 * finish the session it got and preserve its VM again for the next one.
 * The VMM is a child of the test in every stage (a VM belongs to the
 * process that created or retrieved it); the two-vCPU guest runs on
 * 66 MiB of memfd.
 *
 * Stage 1: start the guest, preserve its memfd (token 1) and VM (token 2)
 * in session "chain-1", keep it running, recording its latest reports in
 * rec-1; exit 10.
 *
 * Stages 2 and 3: the session of two stages back is gone (ENOENT).
 * Retrieve "chain-N-1", rebuild the VM (memslot 0 and the vCPUs, nothing
 * else); preserving the VM in a new session before the old one is
 * finished fails with EBUSY. The guest must go on from where it was:
 * counters past the recorded ones, the guest TSC neither going back nor
 * jumping further than the host's, checksum passes counted on, never a
 * fresh start, the region intact. Finish the old session, let the guest
 * run, preserve the retrieved memfd and the VM in "chain-N", record in
 * rec-N, exit 10.
 *
 * Stage 4: the same once more, then the whole chain: every vCPU's
 * counter and the checksum passes went up at every hop, and the region's
 * checksum is the one the guest computed when it filled it in stage 1.
 * A guest TSC off after a hop is noted as it is seen and fails the test
 * at the end, so that the other hops are still checked.
 */
#include "kvm_kho_util.h"

#define REGION		(64U << 20)
#define TAG		0x6e696863	/* "chin" */
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define LAST_STAGE	4

static void name_of(char *buf, size_t len, const char *what, int stage)
{
	snprintf(buf, len, "%s-%d", what, stage);
}

static void new_guest(struct kk_vm *vm)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };

	kk_create_guest(vm, REGION);
	*kk_ctl32(vm, KK_CTL_TAG) = TAG;
	kk_start(vm);
	kk_wait(vm, 120, "the guest to run", kk_reached, want);
	msg("ok: guest running on %" PRIu64 " MiB: counters %u and %u, checksum %#x",
	    vm->mem_size >> 20, vm->vcpu[0].last_count, vm->vcpu[1].last_count,
	    vm->init_csum);
}

/*
 * Stages 2-4: take the VM back from the previous kernel and finish its
 * session; before stage 4 *@next is the new session, created early.
 */
static void restore_guest(struct kk_vm *vm, int dev, int stage, int *next)
{
	char sname[32], rname[32], what[32];
	struct kk_record rec;
	int session, s, ret;

	if (stage > 2) {
		name_of(sname, sizeof(sname), "chain", stage - 2);
		s = luo_retrieve_session(dev, sname);
		if (s != -ENOENT)
			fail("retrieve session \"%s\" of two kernels back: %s, expected ENOENT",
			     sname, s < 0 ? strerror(-s) : "retrieved");
		msg("ok: session \"%s\" of two kernels back is gone", sname);
	}
	name_of(rname, sizeof(rname), "rec", stage - 1);
	kk_record_load(rname, &rec);
	if (rec.hop != (uint32_t)stage - 1 || rec.tag != TAG)
		fail("%s: hop %u tag %#x, expected %d %#x", rname, rec.hop,
		     rec.tag, stage - 1, TAG);
	msg("# %s (seq %" PRIu64 "): counters %u and %u, %u checksum passes",
	    rname, rec.seq, rec.count[0], rec.count[1], rec.passes);

	name_of(sname, sizeof(sname), "chain", stage - 1);
	session = luo_open_session(dev, sname, false);
	snprintf(what, sizeof(what), "hop %d", stage - 1);
	kk_restore_vm(vm, what, session, TOKEN_MEM, TOKEN_VM, &rec);
	if (kk_dmesg_count("kvm-kho: VM rebuilt") != 1)
		fail("%d \"VM rebuilt\" lines in the kernel log, expected 1",
		     kk_dmesg_count("kvm-kho: VM rebuilt"));

	/* carried and not finished: not to be preserved yet */
	if (stage < LAST_STAGE) {
		name_of(sname, sizeof(sname), "chain", stage);
		*next = luo_open_session(dev, sname, true);
		ret = luo_preserve_fd(*next, vm->vm_fd, TOKEN_VM);
		if (ret != -EBUSY)
			fail("preserve the carried VM before its session is finished: %s, expected EBUSY",
			     ret ? strerror(-ret) : "success");
		msg("ok: preserving the carried VM before its session is finished: EBUSY");
	}

	kk_start(vm);
	kk_check_resumed(vm, what, &rec, 300);
	ret = luo_finish(session);
	if (ret)
		fail("finish the incoming session: %s", strerror(-ret));
	close(session);
	kk_wait_more(vm, 120, "the guest after the finish", 2, 1);
	msg("ok: %s: session finished, the guest runs on: counters %u and %u",
	    what, vm->vcpu[0].last_count, vm->vcpu[1].last_count);
}

/* Stage 4: every hop went forward. */
static void check_chain(struct kk_vm *vm)
{
	struct kk_record rec[LAST_STAGE];
	uint32_t count[KK_MAX_VCPUS], passes;
	char rname[32];
	int s, i;

	for (s = 1; s < LAST_STAGE; s++) {
		name_of(rname, sizeof(rname), "rec", s);
		kk_record_load(rname, &rec[s]);
	}
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		count[i] = vm->vcpu[i].last_count;
	passes = vm->vcpu[1].passes;
	pthread_mutex_unlock(&vm->lock);

	for (s = 1; s < LAST_STAGE; s++) {
		uint32_t next_passes = s + 1 < LAST_STAGE ? rec[s + 1].passes : passes;

		for (i = 0; i < KK_MAX_VCPUS; i++) {
			uint32_t next = s + 1 < LAST_STAGE ? rec[s + 1].count[i] : count[i];

			if ((int32_t)(next - rec[s].count[i]) <= 0)
				fail("vCPU %d: counter %u in stage %d, not past the %u of stage %d",
				     i, next, s + 1, rec[s].count[i], s);
		}
		if (next_passes <= rec[s].passes)
			fail("checksum passes %u in stage %d, not past the %u of stage %d",
			     next_passes, s + 1, rec[s].passes, s);
		if (rec[s].csum != rec[1].csum)
			fail("checksum %#x in stage %d, %#x when the guest filled the region",
			     rec[s].csum, s, rec[1].csum);
	}
	msg("ok: across 3 kexecs vCPU 0 counted %u -> %u -> %u -> %u, vCPU 1 %u -> %u -> %u -> %u",
	    rec[1].count[0], rec[2].count[0], rec[3].count[0], count[0],
	    rec[1].count[1], rec[2].count[1], rec[3].count[1], count[1]);
	msg("ok: checksum passes %u -> %u -> %u -> %u, all of checksum %#x from the fill in stage 1",
	    rec[1].passes, rec[2].passes, rec[3].passes, passes, rec[1].csum);
}

static void vmm(void *arg, int status_fd)
{
	int stage = (int)(intptr_t)arg, dev, next = -1, rfd;
	struct kk_record rec = { 0 };
	char sname[32], rname[32];
	struct kk_vm vm;

	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage %d: VMM pid %d", stage, getpid());
	dev = kk_luo_open_wait(30);
	if (dev == -ENOENT)
		skip("no /dev/liveupdate: kernel without CONFIG_LIVEUPDATE or kho=off");
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	if (stage == 1)
		new_guest(&vm);
	else
		restore_guest(&vm, dev, stage, &next);

	if (stage == LAST_STAGE) {
		check_chain(&vm);
		kk_stop(&vm);
		kk_check_healthy(&vm);
		return;
	}

	name_of(sname, sizeof(sname), "chain", stage);
	if (next < 0) {
		next = luo_open_session(dev, sname, true);
	}
	close(dev);
	kk_preserve_vm(&vm, sname, next, TOKEN_MEM, TOKEN_VM);
	msg("ok: memfd and VM preserved in session \"%s\"", sname);
	kk_wait_more(&vm, 60, "reports after the preserve", 2, 0);

	name_of(rname, sizeof(rname), "rec", stage);
	rfd = kk_record_create(rname);
	rec.hop = stage;
	kk_record_fill(&vm, &rec);
	kk_record_write(rfd, &rec);
	kk_record_write(rfd, &rec);
	msg("ok: %s: counters %u and %u, %u checksum passes; VMM %d keeps the guest running through kexec %d",
	    rname, rec.count[0], rec.count[1], rec.passes, getpid(), stage);
	name_of(rname, sizeof(rname), "vmm", stage);
	strcat(rname, ".out");
	kk_child_detach(status_fd, rname);
	kk_record_until_kexec(&vm, rfd, &rec);
}

/* Every stage: the VMM runs in a child, which outlives all but the last. */
static int run_vmm(void)
{
	int stage = luo_test_stage(), rc;
	double t0 = kk_now();
	struct kk_child c;

	kk_child_start(&c, "VMM", vmm, (void *)(intptr_t)stage);
	rc = kk_child_wait(&c);
	msg("# stage %d: %.1f s", stage, kk_now() - t0);
	if (stage == LAST_STAGE && rc == EXIT_PASS)
		kk_tsc_verdict();
	return rc;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_chained",
			LUO_STAGES(run_vmm, run_vmm, run_vmm, run_vmm));
}
