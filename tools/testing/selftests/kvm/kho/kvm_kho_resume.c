// SPDX-License-Identifier: GPL-2.0
/* kho-test: cmdline=kho=on */
/* kho-test: mem=2G timeout=1500 */
/*
 * A running KVM guest across a kernel live update.
 *
 * Stage 1: a VMM process (a child of the test, since a VM belongs to the
 * process that created it) starts the two-vCPU guest of kvm_kho_test.h on
 * 258 MiB of shmem memfd, waits until both vCPUs reported and a checksum
 * pass came back, then creates Live Update session "kvm" and preserves the
 * memfd (token 1) and the VM fd (token 2). It keeps running the guest,
 * holding the session, and keeps writing the latest reports with the host
 * TSC to "record" in the state directory; the test process exits 10 and
 * the harness kexecs. The kernel quiesces the vCPUs as it hands over:
 * KVM_RUN returns EINTR (or EBUSY) and the VMM retries until the kexec.
 *
 * Stage 2, in the new kernel: retrieve the session, the memfd (mapped
 * again) and a new fd for the same VM; set memslot 0 over the new mapping
 * and create the vCPUs with the same ids, nothing else: the first KVM_RUN
 * restores what the kernel carried. Then the guest must go on where it
 * was: counters past the last values recorded before the kexec, never
 * reset; checksum passes counted on from the same number and passing; the
 * guest TSC not going back and not jumping further than the host TSC
 * moved. Finish the session; pass.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "kvm_kho_util.h"

#define SESSION		"kvm"
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define RECORD		"record"
#define REC_MAGIC	0x64726f6365726b6bULL	/* "kkrecord" */
#define REC_SLOT	256
/* how much later the guest TSC may read than the host TSC moved: exit latency */
#define TSC_SLACK_MS	20

/* What stage 1 leaves for stage 2; written in two slots, alternately. */
struct record {
	uint64_t magic;
	uint64_t seq;
	uint64_t tsc_hz;
	uint64_t mem_size;
	uint64_t host_tsc;		/* host TSC when written */
	uint32_t csum;			/* the guest's checksum of the region */
	uint32_t passes;		/* checksum passes reported so far */
	uint32_t count[KK_MAX_VCPUS];	/* last counter reported */
	uint64_t tsc[KK_MAX_VCPUS];	/* guest TSC of that report */
	uint64_t host[KK_MAX_VCPUS];	/* host TSC when it came */
	uint64_t reports[KK_MAX_VCPUS];
	uint64_t preserved_host;	/* host TSC after both preserves */
	uint64_t check;			/* of everything above */
};

static uint64_t rec_check(const struct record *r)
{
	const uint8_t *p = (const uint8_t *)r;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < offsetof(struct record, check); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* ----- stage 1 ----- */

static bool running(struct kk_vm *vm, void *arg)
{
	uint64_t want = *(uint64_t *)arg;

	return vm->init_seen && vm->vcpu[0].reports >= want &&
	       vm->vcpu[1].reports >= want && vm->vcpu[1].passes >= 1;
}

static void record_fill(struct kk_vm *vm, struct record *r)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	r->magic = REC_MAGIC;
	r->tsc_hz = vm->tsc_hz;
	r->mem_size = vm->mem_size;
	r->csum = vm->init_csum;
	r->passes = vm->vcpu[1].passes;
	for (i = 0; i < KK_MAX_VCPUS; i++) {
		r->count[i] = vm->vcpu[i].last_count;
		r->tsc[i] = vm->vcpu[i].last_tsc;
		r->host[i] = vm->vcpu[i].last_host;
		r->reports[i] = vm->vcpu[i].reports;
	}
	r->host_tsc = kk_rdtsc();
	pthread_mutex_unlock(&vm->lock);
}

/* Small unsynced writes, alternating slots: stage 2 takes the newest whole one. */
static void record_write(int fd, struct record *r)
{
	r->seq++;
	r->check = rec_check(r);
	if (pwrite(fd, r, sizeof(*r), (r->seq & 1) * REC_SLOT) != sizeof(*r))
		fail("writing %s: %s", RECORD, strerror(errno));
}

static void __attribute__((noreturn)) vmm_stage1(int status_fd)
{
	struct record rec = { 0 };
	uint64_t want;
	struct kk_vm vm;
	int dev, session, ret, rfd, out, i;

	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 1: VMM pid %d", getpid());
	vm.kvm_fd = kk_open_kvm();
	vm.tsc_hz = kk_tsc_hz();
	msg("# host TSC %.0f MHz", vm.tsc_hz / 1e6);
	kk_create_mem(&vm, KK_MEM_SIZE, false);
	kk_create_vm(&vm);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		kk_add_vcpu(&vm, i, true);
	msg("ok: VM with irqchip, %" PRIu64 " MiB shmem memfd at GPA 0, %d vCPUs",
	    vm.mem_size >> 20, vm.nr_vcpus);
	kk_start(&vm);
	want = 3;
	kk_wait(&vm, 600, "the guest to run", running, &want);
	msg("ok: guest running: counters %u and %u, checksum %#x, %u pass(es)",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count, vm.init_csum,
	    vm.vcpu[1].passes);

	dev = kk_luo_open();
	if (dev == -ENOENT)
		skip("no /dev/liveupdate: kernel without CONFIG_LIVEUPDATE or kho=off");
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	session = luo_create_session(dev, SESSION);
	if (session < 0)
		fail("create session \"%s\": %s", SESSION, strerror(-session));
	ret = luo_preserve_fd(session, vm.mem_fd, TOKEN_MEM);
	if (ret)
		fail("preserve the guest RAM memfd (token %d): %s", TOKEN_MEM,
		     strerror(-ret));
	msg("ok: preserved the guest RAM memfd as token %d", TOKEN_MEM);
	ret = luo_preserve_fd(session, vm.vm_fd, TOKEN_VM);
	if (ret)
		fail("preserve the KVM VM fd (token %d): %s (errno %d)%s",
		     TOKEN_VM, strerror(-ret), -ret, ret == -ENOENT ?
		     ": no Live Update file handler takes KVM VM fds in this kernel" :
		     ": the kernel refused this VM (see dmesg)");
	msg("ok: preserved the VM fd as token %d", TOKEN_VM);
	rec.preserved_host = kk_rdtsc();
	close(dev);

	/* the guest must go on running once preserved */
	pthread_mutex_lock(&vm.lock);
	want = (vm.vcpu[0].reports > vm.vcpu[1].reports ?
		vm.vcpu[0].reports : vm.vcpu[1].reports) + 2;
	pthread_mutex_unlock(&vm.lock);
	kk_wait(&vm, 300, "reports after the preserve", running, &want);

	rfd = open(RECORD, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (rfd < 0)
		fail("create %s: %s", RECORD, strerror(errno));
	record_fill(&vm, &rec);
	record_write(rfd, &rec);
	record_write(rfd, &rec);
	msg("ok: recorded: vCPU 0 counter %u TSC %" PRIu64 ", vCPU 1 counter %u TSC %" PRIu64
	    ", %u passes, host TSC %" PRIu64, rec.count[0], rec.tsc[0],
	    rec.count[1], rec.tsc[1], rec.passes, rec.host_tsc);
	msg("# VMM %d keeps the guest running and the session open through the kexec",
	    getpid());

	/* let go of the harness's output pipe, then tell the test to kexec */
	out = open("vmm.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0)
		out = open("/dev/null", O_WRONLY);
	dup2(out, 1);
	dup2(out, 2);
	close(out);
	close(0);
	signal(SIGHUP, SIG_IGN);
	if (write(status_fd, "K", 1) != 1)
		fail("telling the test to kexec: %s", strerror(errno));
	close(status_fd);

	for (;;) {
		kk_sleep_ms(100);
		record_fill(&vm, &rec);
		record_write(rfd, &rec);
	}
}

static int stage1(void)
{
	int pfd[2], status;
	char c;
	pid_t pid;
	ssize_t n;

	fflush(stdout);
	if (pipe(pfd))
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		vmm_stage1(pfd[1]);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'K')
		return EXIT_KEXEC;
	/* the VMM gave up: it said why */
	if (waitpid(pid, &status, 0) < 0)
		fail("waitpid VMM: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP)
		return EXIT_SKIP;
	if (WIFSIGNALED(status))
		fail("the VMM died of signal %d", WTERMSIG(status));
	return EXIT_FAIL;
}

/* ----- stage 2 ----- */

static void record_load(struct record *r)
{
	struct record slot[2];
	int fd = open(RECORD, O_RDONLY), i, best = -1;

	if (fd < 0)
		fail("open %s (left by stage 1): %s", RECORD, strerror(errno));
	for (i = 0; i < 2; i++) {
		if (pread(fd, &slot[i], sizeof(slot[i]), i * REC_SLOT) !=
		    sizeof(slot[i]) || slot[i].magic != REC_MAGIC ||
		    slot[i].check != rec_check(&slot[i]))
			continue;
		if (best < 0 || slot[i].seq > slot[best].seq)
			best = i;
	}
	close(fd);
	if (best < 0)
		fail("no whole record in %s", RECORD);
	*r = slot[best];
}

static bool resumed(struct kk_vm *vm, void *arg)
{
	const struct record *r = arg;

	return vm->vcpu[0].reports >= 3 && vm->vcpu[1].reports >= 3 &&
	       vm->vcpu[1].pass_reports >= 1 && vm->vcpu[1].passes > r->passes;
}

static bool more_reports(struct kk_vm *vm, void *arg)
{
	const uint64_t *want = arg;

	return vm->vcpu[0].reports >= want[0] &&
	       vm->vcpu[1].reports >= want[1];
}

static int stage2(void)
{
	uint64_t slack, want[KK_MAX_VCPUS];
	struct record rec;
	struct kk_vm vm;
	int dev, session, ret, i;
	uint32_t sum;

	record_load(&rec);
	msg("# stage 1 recorded (seq %" PRIu64 "): vCPU 0 counter %u, vCPU 1 counter %u, %u passes, checksum %#x",
	    rec.seq, rec.count[0], rec.count[1], rec.passes, rec.csum);
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 2: VMM pid %d", getpid());
	vm.tsc_hz = rec.tsc_hz;
	slack = rec.tsc_hz / 1000 * TSC_SLACK_MS;

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	session = luo_retrieve_session(dev, SESSION);
	if (session < 0)
		fail("retrieve session \"%s\": %s", SESSION, strerror(-session));
	msg("ok: retrieved session \"%s\"", SESSION);

	vm.mem_fd = luo_retrieve_fd(session, TOKEN_MEM);
	if (vm.mem_fd < 0)
		fail("retrieve the guest RAM memfd (token %d): %s", TOKEN_MEM,
		     strerror(-vm.mem_fd));
	vm.mem_size = rec.mem_size;
	{
		struct stat st;

		if (fstat(vm.mem_fd, &st))
			fail("fstat guest RAM memfd: %s", strerror(errno));
		if ((uint64_t)st.st_size != rec.mem_size)
			fail("guest RAM memfd: %" PRIu64 " bytes, expected %" PRIu64,
			     (uint64_t)st.st_size, rec.mem_size);
	}
	kk_map_mem(&vm, true);
	msg("ok: retrieved and mapped the guest RAM memfd (%" PRIu64 " MiB)",
	    vm.mem_size >> 20);

	vm.vm_fd = luo_retrieve_fd(session, TOKEN_VM);
	if (vm.vm_fd < 0)
		fail("retrieve the VM fd (token %d): %s (%d)", TOKEN_VM,
		     strerror(-vm.vm_fd), -vm.vm_fd);
	msg("ok: retrieved the VM fd");

	/* guest RAM as the guest left it */
	if (*kk_ctl32(&vm, KK_CTL_MAGIC) != KK_CTL_MAGIC_VALUE ||
	    *kk_ctl32(&vm, KK_CTL_INIT) != 1 ||
	    *kk_ctl32(&vm, KK_CTL_CSUM) != rec.csum)
		fail("control page: magic %#x init %u checksum %#x, expected %#x 1 %#x",
		     *kk_ctl32(&vm, KK_CTL_MAGIC), *kk_ctl32(&vm, KK_CTL_INIT),
		     *kk_ctl32(&vm, KK_CTL_CSUM), KK_CTL_MAGIC_VALUE, rec.csum);
	for (i = 0; i < KK_MAX_VCPUS; i++) {
		struct kk_slot *s = kk_slot(&vm, i);

		if ((int32_t)(s->count - rec.count[i]) < 0 || s->count != s->copy)
			fail("vCPU %d: counter in guest RAM %u (copy %u), below the recorded %u",
			     i, s->count, s->copy, rec.count[i]);
		msg("ok: vCPU %d: counter in guest RAM %u (recorded %u)", i,
		    s->count, rec.count[i]);
	}

	vm.kvm_fd = kk_open_kvm();
	kk_vcpu_mmap_size(&vm);
	kk_configure_vm(&vm);
	kk_set_memslot(&vm);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		kk_add_vcpu(&vm, i, false);
	msg("ok: memslot 0 and vCPUs 0-%d on the restored VM", KK_MAX_VCPUS - 1);
	kk_start(&vm);
	kk_wait(&vm, 600, "the guest to go on", resumed, &rec);

	pthread_mutex_lock(&vm.lock);
	for (i = 0; i < KK_MAX_VCPUS; i++) {
		struct kk_vcpu *v = &vm.vcpu[i];
		uint64_t jump = v->first_tsc - rec.tsc[i];
		uint64_t host = v->first_host - rec.host[i];

		if ((int32_t)(v->first_count - rec.count[i]) <= 0) {
			pthread_mutex_unlock(&vm.lock);
			fail("vCPU %d: first counter after the update %u, not past the recorded %u",
			     i, v->first_count, rec.count[i]);
		}
		msg("ok: vCPU %d: counter %u after the update, recorded %u before",
		    i, v->first_count, rec.count[i]);
		if ((int64_t)jump <= 0) {
			pthread_mutex_unlock(&vm.lock);
			fail("vCPU %d: guest TSC went back across the update: %" PRIu64
			     " after, %" PRIu64 " before", i, v->first_tsc,
			     rec.tsc[i]);
		}
		if (jump > host + slack) {
			pthread_mutex_unlock(&vm.lock);
			fail("vCPU %d: guest TSC jumped %" PRIu64 " ticks (%.3f s) across the update, more than the host TSC moved: %" PRIu64 " (%.3f s) + %d ms",
			     i, jump, (double)jump / rec.tsc_hz, host,
			     (double)host / rec.tsc_hz, TSC_SLACK_MS);
		}
		msg("ok: vCPU %d: guest TSC +%.3f s across the update, host TSC +%.3f s",
		    i, (double)jump / rec.tsc_hz, (double)host / rec.tsc_hz);
	}
	if (vm.vcpu[1].first_passes <= rec.passes) {
		pthread_mutex_unlock(&vm.lock);
		fail("checksum pass %u after the update, %u recorded before: reset",
		     vm.vcpu[1].first_passes, rec.passes);
	}
	msg("ok: checksum passes go on: %u after the update, %u recorded before",
	    vm.vcpu[1].passes, rec.passes);
	pthread_mutex_unlock(&vm.lock);

	sum = kk_host_verify_region(&vm, "after the update");
	if (sum != rec.csum)
		fail("host-side checksum %#x, the guest's %#x", sum, rec.csum);
	msg("ok: host side: %u MiB of pattern intact, checksum %#x",
	    KK_REGION_SIZE >> 20, sum);

	ret = luo_finish(session);
	if (ret)
		fail("finish session \"%s\": %s", SESSION, strerror(-ret));
	msg("ok: finished session \"%s\"", SESSION);

	/* and the guest still runs after the finish */
	pthread_mutex_lock(&vm.lock);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		want[i] = vm.vcpu[i].reports + 2;
	pthread_mutex_unlock(&vm.lock);
	kk_wait(&vm, 300, "reports after the finish", more_reports, want);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	msg("ok: guest still running after the finish: counters %u and %u",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_resume", LUO_STAGES(stage1, stage2));
}
