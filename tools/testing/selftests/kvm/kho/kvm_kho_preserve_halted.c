// SPDX-License-Identifier: GPL-2.0
/*
 * Preserving a VM whose vCPU sleeps in KVM_RUN returns. No kexec.
 *
 * The guest says it started (an OUT to port 0x80), then halts with
 * interrupts off, for good: with the in-kernel LAPIC its vCPU thread
 * sleeps inside KVM_RUN, holding the vCPU, and nothing in the guest will
 * ever wake it. Then:
 *
 *  - PRESERVE_FD of the guest RAM memfd and of the VM must return within
 *    PRESERVE_S seconds (an alarm fails the test instead of letting it
 *    hang); the vCPU thread at most gets EINTR out of KVM_RUN, as for a
 *    signal, and goes back in;
 *  - a finalize quiesces the halted vCPU, the abort lets it sleep on, and
 *    the VMM can still stop its thread.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define TOKEN_MEM	1
#define TOKEN_VM	2
#define PRESERVE_S	30
#define PORT_STARTED	0x80

static const char *const quiesced = "kvm-kho: VM quiesced: 1 vCPUs captured";

/* out %al, $0x80; cli; 1: hlt; jmp 1b */
static const uint8_t guest_code[] = { 0xe6, PORT_STARTED, 0xfa, 0xf4, 0xeb, 0xfd };

static volatile int started;
static const char *volatile doing = "nothing";

static bool halt_io(struct kk_vcpu *v)
{
	if (v->run->io.port != PORT_STARTED) {
		kk_vcpu_stopped(v, 0, "OUT to unexpected port %#x",
				v->run->io.port);
		return false;
	}
	started = 1;
	return true;
}

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf),
		     "FAIL: %s did not return within %d s: it waits for the halted vCPU\n",
		     doing, PRESERVE_S);
	if (write(STDOUT_FILENO, buf, n) < 0)
		_exit(EXIT_FAIL);
	_exit(EXIT_FAIL);
}

/* A single stage: no kexec. */
static int stage1(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int dev, session, ret, nq;
	uint64_t eintr;
	sigset_t alrm;
	double t0, t;
	struct kk_vm vm;

	dev = luo_open();
	kk_vm_init(&vm, "guest.log");
	vm.kvm_fd = kk_open_kvm();
	vm.tsc_hz = kk_tsc_hz();
	kk_create_mem(&vm, 2 << 20, false);
	kk_new_vm(&vm);
	memcpy(vm.mem + KK_CODE, guest_code, sizeof(guest_code));
	vm.io = halt_io;
	kk_add_vcpu(&vm, 0, true);

	/* vCPU threads take the alarm: this one may sleep uninterruptibly */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	kk_start(&vm);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);

	for (t0 = kk_now(); !started; kk_sleep_ms(10)) {
		kk_check_healthy(&vm);
		if (kk_now() - t0 > 60)
			fail("the guest did not start within 60 s");
	}
	kk_sleep_ms(1000);	/* back in KVM_RUN, halted */
	kk_check_healthy(&vm);
	msg("ok: the guest started and halted with interrupts off; its vCPU thread sleeps in KVM_RUN");

	session = luo_open_session(dev, "kvm-halted", true);
	alarm(PRESERVE_S);
	t0 = kk_now();
	doing = "PRESERVE_FD of the guest RAM memfd";
	ret = luo_preserve_fd(session, vm.mem_fd, TOKEN_MEM);
	if (ret)
		fail("preserve the guest RAM memfd: %s", strerror(-ret));
	doing = "PRESERVE_FD of the VM";
	ret = luo_preserve_fd(session, vm.vm_fd, TOKEN_VM);
	if (ret)
		fail("preserve the VM with its vCPU halted in KVM_RUN: %s",
		     strerror(-ret));
	t = kk_now() - t0;
	msg("ok: preserved the memfd and the VM in %.2f s", t);

	nq = kk_dmesg_count(quiesced);
	doing = "the finalize";
	ret = kk_kho_finalize(true);
	if (ret) {
		kk_dmesg_show("kvm-kho");
		fail("finalize with the halted VM preserved: %s", strerror(-ret));
	}
	if (kk_dmesg_count(quiesced) != nq + 1)
		fail("finalized without \"%s\"", quiesced);
	doing = "the abort";
	ret = kk_kho_finalize(false);
	if (ret)
		fail("unfreeze: %s", strerror(-ret));
	alarm(0);
	msg("ok: finalized (\"%s\") and undone", quiesced);

	kk_sleep_ms(200);
	kk_check_healthy(&vm);
	pthread_mutex_lock(&vm.lock);
	eintr = vm.vcpu[0].eintr;
	pthread_mutex_unlock(&vm.lock);
	close(session);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	msg("ok: the vCPU thread went back into KVM_RUN after %" PRIu64
	    " EINTR and stops on request", eintr);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_preserve_halted", LUO_STAGES(stage1));
}
