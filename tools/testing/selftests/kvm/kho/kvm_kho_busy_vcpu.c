// SPDX-License-Identifier: GPL-2.0
/*
 * A vCPU held by a thread that is not the one running it cannot hang Live
 * Update. No kexec.
 *
 * Preserve and freeze kick the thread that last ran each vCPU out of
 * KVM_RUN and then wait for the vCPU's mutex. Any other thread holding
 * that mutex is never kicked: here one sits in KVM_SET_REGS, its argument
 * in a page a userfaultfd never serves, before the vCPU ever ran. Then:
 *
 *  - PRESERVE_FD of the VM fails with EBUSY and says why within BOUND_S
 *    seconds (an alarm fails the test instead of letting it hang);
 *  - once the page is served and the ioctl returns, the VM is preserved;
 *  - held again the same way, the finalize is refused with the same
 *    reason, and once the thread lets go it succeeds; the abort undoes it;
 *  - quiescing on the kexec instead (liveupdate.quiesce=kexec, the
 *    default; this test boots with "finalize"), the finalize succeeds with
 *    the vCPU held, and the kexec (a kernel loaded with kexec_file_load,
 *    then reboot()) is refused with EBUSY and the same reason; the
 *    handover stays finalized, and the abort undoes it.
 */
#define _GNU_SOURCE
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>

#include "kvm_kho_util.h"

#define TOKEN_MEM	1
#define TOKEN_VM	2
#define BOUND_S		30
#define PAGE		4096

static const char *const reason = "does not leave its vCPU ioctl";
static const char *const refused = "KHO: kexec refused: a notifier could not quiesce";
static const char *volatile doing = "nothing";

/* A thread inside KVM_SET_REGS on vCPU @fd, blocked on a userfaultfd. */
struct holder {
	int uffd;
	int vcpu_fd;
	void *page;		/* registered, never populated until released */
	pthread_t thread;
	long ret;
};

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf),
		     "FAIL: %s did not return within %d s: it waits for the held vCPU\n",
		     doing, BOUND_S);
	if (write(STDOUT_FILENO, buf, n) < 0)
		_exit(EXIT_FAIL);
	_exit(EXIT_FAIL);
}

/* Takes SIGALRM, which every other thread blocks: they may sleep for good. */
static void *watchdog_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void *holder_thread(void *arg)
{
	struct holder *h = arg;

	h->ret = ioctl(h->vcpu_fd, KVM_SET_REGS, h->page) ? -errno : 0;
	return NULL;
}

/* Start a thread that holds vCPU @vcpu_fd until hold_release(). */
static void hold(struct holder *h, int vcpu_fd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct pollfd pfd;
	struct uffd_msg m;

	h->vcpu_fd = vcpu_fd;
	h->uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (h->uffd < 0) {
		if (errno == ENOSYS)
			skip("no userfaultfd (CONFIG_USERFAULTFD off)");
		fail("userfaultfd: %s", strerror(errno));
	}
	if (ioctl(h->uffd, UFFDIO_API, &api))
		fail("UFFDIO_API: %s", strerror(errno));
	h->page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->page == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	reg.range.start = (unsigned long)h->page;
	reg.range.len = PAGE;
	if (ioctl(h->uffd, UFFDIO_REGISTER, &reg))
		fail("UFFDIO_REGISTER: %s", strerror(errno));
	if (pthread_create(&h->thread, NULL, holder_thread, h))
		fail("pthread_create");

	/* the fault is reported once the thread is inside the ioctl */
	pfd = (struct pollfd){ .fd = h->uffd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		fail("the KVM_SET_REGS thread did not fault on its argument");
	if (read(h->uffd, &m, sizeof(m)) != sizeof(m) ||
	    m.event != UFFD_EVENT_PAGEFAULT)
		fail("unexpected userfaultfd message");
	msg("ok: a second thread holds the vCPU inside KVM_SET_REGS");
}

/* Serve the page with @regs: the ioctl completes, setting what it had. */
static void hold_release(struct holder *h, const struct kvm_regs *regs)
{
	static char src[PAGE] __attribute__((aligned(PAGE)));
	struct uffdio_copy copy = {
		.dst = (unsigned long)h->page,
		.src = (unsigned long)src,
		.len = PAGE,
	};

	memcpy(src, regs, sizeof(*regs));
	if (ioctl(h->uffd, UFFDIO_COPY, &copy))
		fail("UFFDIO_COPY: %s", strerror(errno));
	pthread_join(h->thread, NULL);
	if (h->ret)
		fail("KVM_SET_REGS, once released: %s", strerror(-h->ret));
	close(h->uffd);
	munmap(h->page, PAGE);
}

/* The kernel to kexec into, loaded only to be refused: no initramfs. */
static void load_next_kernel(void)
{
	static const char cmdline[] = "console=ttyS0";
	int fd = open("/boot/bzImage", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail("open /boot/bzImage: %s", strerror(errno));
	if (syscall(SYS_kexec_file_load, fd, -1, sizeof(cmdline), cmdline,
		    KEXEC_FILE_NO_INITRAMFS))
		fail("kexec_file_load /boot/bzImage: %s", strerror(errno));
	close(fd);
}

static void unload_next_kernel(void)
{
	if (syscall(SYS_kexec_file_load, -1, -1, 0, NULL, KEXEC_FILE_UNLOAD))
		fail("unload the next kernel: %s", strerror(errno));
}

static void expect_refused(const char *what, int ret, int before)
{
	if (!ret)
		fail("%s with the vCPU held succeeded", what);
	if (ret != -EBUSY)
		fail("%s with the vCPU held: %s, expected EBUSY", what,
		     strerror(-ret));
	if (kk_dmesg_count(reason) != before + 1) {
		kk_dmesg_show("kvm-kho");
		fail("%s refused without \"%s\" in the log", what, reason);
	}
	msg("ok: %s refused with EBUSY: \"%s\"", what, reason);
}

/* A single stage: no kexec. */
static int stage1(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_regs regs;
	pthread_t watchdog;
	struct holder h;
	sigset_t alrm;
	int dev, session, ret, n;
	struct kk_vcpu *v;
	struct kk_vm vm;

	dev = luo_open();
	kk_vm_init(&vm, "guest.log");
	vm.kvm_fd = kk_open_kvm();
	vm.tsc_hz = kk_tsc_hz();
	kk_create_mem(&vm, 2 << 20, false);
	kk_new_vm(&vm);
	v = kk_add_vcpu(&vm, 0, true);
	if (ioctl(v->fd, KVM_GET_REGS, &regs))
		fail("KVM_GET_REGS: %s", strerror(errno));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	if (pthread_create(&watchdog, NULL, watchdog_thread, NULL))
		fail("pthread_create");
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);

	session = luo_open_session(dev, "kvm-busy", true);
	expect_ok("preserve the guest RAM memfd",
		  luo_preserve_fd(session, vm.mem_fd, TOKEN_MEM));

	hold(&h, v->fd);
	n = kk_dmesg_count(reason);
	alarm(BOUND_S);
	doing = "PRESERVE_FD of the VM";
	ret = luo_preserve_fd(session, vm.vm_fd, TOKEN_VM);
	alarm(0);
	expect_refused("preserve", ret, n);
	hold_release(&h, &regs);
	expect_ok("preserve the VM once the thread let go",
		  luo_preserve_fd(session, vm.vm_fd, TOKEN_VM));

	hold(&h, v->fd);
	n = kk_dmesg_count(reason);
	alarm(BOUND_S);
	doing = "the finalize";
	ret = kk_kho_finalize(true);
	alarm(0);
	expect_refused("finalize", ret, n);
	if (kk_kho_finalized())
		fail("KHO finalized although the finalize was refused");
	hold_release(&h, &regs);
	ret = kk_kho_finalize(true);
	if (ret)
		fail("finalize once the thread let go: %s", strerror(-ret));
	ret = kk_kho_finalize(false);
	if (ret)
		fail("abort: %s", strerror(-ret));
	msg("ok: finalized once the thread let go, and undone");

	/* quiescing on the kexec: the finalize goes through, the kexec does not */
	kk_quiesce_at("kexec");
	load_next_kernel();
	ret = kk_kho_finalize(true);
	if (ret)
		fail("finalize, quiescing on the kexec: %s", strerror(-ret));
	hold(&h, v->fd);
	n = kk_dmesg_count(reason);
	alarm(BOUND_S);
	doing = "the kexec";
	ret = reboot(LINUX_REBOOT_CMD_KEXEC) ? -errno : 0;
	alarm(0);
	expect_refused("the kexec", ret, n);
	if (kk_dmesg_count(refused) < 1) {
		kk_dmesg_show("KHO");
		fail("no \"%s\" in the log", refused);
	}
	if (!kk_kho_finalized())
		fail("the refused kexec undid a finalize userspace made");
	hold_release(&h, &regs);
	ret = kk_kho_finalize(false);
	if (ret)
		fail("abort after the refused kexec: %s", strerror(-ret));
	unload_next_kernel();
	msg("ok: the handover stays finalized after the refused kexec, and is undone");

	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_busy_vcpu", LUO_STAGES(stage1));
}
