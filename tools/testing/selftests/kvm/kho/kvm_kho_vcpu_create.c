// SPDX-License-Identifier: GPL-2.0
/*
 * vCPUs created while a preserved VM is being quiesced. No kexec.
 *
 * The two-vCPU guest of kvm_kho_util.h runs; its memfd and VM are
 * preserved. A thread keeps creating vCPUs (ids 2, 3, ...) while the
 * handover is finalized and undone ROUNDS times. Each finalize either
 * fails with EBUSY (a vCPU was half created) or quiesces the VM; then,
 * while it is frozen:
 *
 *  - every KVM_CREATE_VCPU fails with EBUSY, none succeeds;
 *  - the kernel captured exactly the vCPUs that exist: the two running
 *    ones and every one the thread created before (none missed, none
 *    counted that was created after);
 *
 * and after each abort the guest runs on, memory intact.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define REGION		(8U << 20)
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define ROUNDS		6
#define MAX_ID		48	/* last id the thread creates */
#define FROZEN_MS	300

struct creator {
	struct kk_vm *vm;
	pthread_mutex_t lock;
	volatile int stop;
	/* under lock */
	int created;		/* vCPUs created by the thread */
	uint64_t busy;		/* KVM_CREATE_VCPU that failed with EBUSY */
	int err;		/* another error, which stops the thread */
	int fds[MAX_ID + 1];
};

static void *create_vcpus(void *arg)
{
	struct creator *c = arg;
	unsigned long id = KK_MAX_VCPUS;
	int fd;

	while (!c->stop && id <= MAX_ID) {
		fd = ioctl(c->vm->vm_fd, KVM_CREATE_VCPU, id);
		pthread_mutex_lock(&c->lock);
		if (fd >= 0) {
			c->fds[id++] = fd;
			c->created++;
		} else if (errno == EBUSY) {
			c->busy++;
		} else {
			c->err = errno;
			pthread_mutex_unlock(&c->lock);
			break;
		}
		pthread_mutex_unlock(&c->lock);
		usleep(fd >= 0 ? 20000 : 1000);
	}
	return NULL;
}

static void snapshot(struct creator *c, int *created, uint64_t *busy)
{
	pthread_mutex_lock(&c->lock);
	if (c->err) {
		pthread_mutex_unlock(&c->lock);
		fail("KVM_CREATE_VCPU: %s, expected success or EBUSY",
		     strerror(c->err));
	}
	*created = c->created;
	*busy = c->busy;
	pthread_mutex_unlock(&c->lock);
}

/* N of the last "VM quiesced: N vCPUs captured" in the kernel log */
static int last_captured(void)
{
	static const char *const what = "kvm-kho: VM quiesced: ";
	char *log = kk_dmesg(), *p = log, *last = NULL;
	int n = -1;

	while ((p = strstr(p, what))) {
		last = p + strlen(what);
		p = last;
	}
	if (last)
		n = atoi(last);
	free(log);
	return n;
}

/* A single stage: no kexec. */
static int stage1(void)
{
	struct creator c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int dev, session, ret, r, done = 0, refused = 0, n0, n1, cap;
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	uint64_t b0, b1;
	pthread_t thread;
	struct kk_vm vm;
	uint32_t sum;

	dev = luo_open();
	kk_vm_init(&vm, "guest.log");
	kk_create_guest(&vm, REGION);
	kk_start(&vm);
	kk_wait(&vm, 120, "the guest to run", kk_reached, want);
	session = luo_open_session(dev, "kvm-vcpu-create", true);
	kk_preserve_vm(&vm, "kvm-vcpu-create", session, TOKEN_MEM, TOKEN_VM);
	msg("ok: guest running, memfd and VM preserved");

	c.vm = &vm;
	if (pthread_create(&thread, NULL, create_vcpus, &c))
		fail("pthread_create");
	for (r = 0; r < ROUNDS; r++) {
		kk_sleep_ms(50 + 37 * r);
		ret = kk_kho_finalize(true);
		if (ret == -EBUSY) {
			refused++;
			continue;
		}
		if (ret) {
			kk_dmesg_show("kvm-kho");
			fail("round %d: finalize: %s", r, strerror(-ret));
		}
		snapshot(&c, &n0, &b0);
		kk_sleep_ms(FROZEN_MS);
		snapshot(&c, &n1, &b1);
		cap = last_captured();
		if (n1 != n0)
			fail("round %d: %d vCPU(s) created while the VM was quiesced",
			     r, n1 - n0);
		if (!c.stop && n1 < MAX_ID - 1 && b1 == b0)
			fail("round %d: the creating thread made no attempt in %d ms while frozen",
			     r, FROZEN_MS);
		if (cap != KK_MAX_VCPUS + n1)
			fail("round %d: %d vCPUs captured, but the VM has %d",
			     r, cap, KK_MAX_VCPUS + n1);
		ret = kk_kho_finalize(false);
		if (ret)
			fail("round %d: unfreeze: %s", r, strerror(-ret));
		done++;
		msg("ok: round %d: %d vCPUs captured, as many as exist; %" PRIu64
		    " KVM_CREATE_VCPU EBUSY while frozen, none succeeded",
		    r, cap, b1 - b0);
		kk_wait_more(&vm, 60, "the guest after the abort", 1, 0);
	}
	c.stop = 1;
	pthread_join(thread, NULL);
	snapshot(&c, &n1, &b1);
	if (!done)
		fail("no finalize of %d went through (%d EBUSY)", ROUNDS, refused);
	msg("ok: %d finalizes quiesced the VM, %d refused with EBUSY (a vCPU half created); %d vCPUs created",
	    done, refused, n1);

	kk_wait_more(&vm, 60, "the guest at the end", 2, 1);
	close(session);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	sum = kk_host_verify_region(&vm, "at the end");
	if (sum != vm.init_csum)
		fail("host-side checksum %#x, the guest's %#x", sum, vm.init_csum);
	kk_check_counters(&vm);
	msg("ok: guest memory intact (checksum %#x)", sum);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_vcpu_create", LUO_STAGES(stage1));
}
