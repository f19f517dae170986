// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: four running VMs and their memfds through ten chained kexec hops
 * with Live Update, and not one byte lost.
 *
 * Each VM has its own VMM process (a child of the test in every stage: a
 * VM belongs to the process that created or retrieved it), its own
 * session, two vCPUs, guest RAM on a memfd of its own size (18, 26, 34
 * and 42 MiB, the guest filling and checking 16-40 MiB of it) and, in the
 * same session, an 8 MiB data memfd the VMM filled with a seeded pattern
 * in stage 1 and never writes again. VM n preserves its guest RAM memfd,
 * VM fd and data memfd under tokens 0x100 * n + 1, 2 and 3, in session
 * "soak-vmN-S" in stage S.
 *
 * Stage 1: start the guests, fill the data memfds, preserve everything,
 * keep the guests running through the kexec (hop 1).
 *
 * Stages 2-11 (hop S - 1 behind them): each VMM finds the session of two
 * hops back gone, retrieves its session, rebuilds its VM and, before
 * starting it, compares every byte of the guest's region and of the data
 * memfd with what was written (counting the bytes that differ: the bytes
 * lost) and checks that the pages of both memfds are at the PFNs they had
 * when preserved. Then the guest must go on from where it was (counters
 * past the recorded ones, checksum passes counted on, no fresh start),
 * the VMM finishes the session and, up to stage 10, preserves all three
 * again in a new session for the next hop.
 *
 * One "bench:" line per hop gives each VM's blackout as the kernel logs
 * it (capture to running again, the longest of its vCPUs), the bytes
 * checked and lost; the last stage checks the whole chain (every counter
 * and checksum pass went up at every hop, the region checksum is still
 * the one of the fill) and prints a table. A byte lost, a page moved or a
 * VM that does not go on fails the bench; a guest TSC off after a hop
 * (kvm_kho_chained fails on those) is counted and shown, not failed on:
 * this bench is about data and progress over many hops.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "kvm_kho_util.h"

#define NR_VMS		4
#define HOPS		10
#define LAST_STAGE	(HOPS + 1)
#define DATA_SIZE	((uint64_t)8 << 20)
#define PAGE		((uint64_t)4096)

static const uint32_t regions[NR_VMS] = {
	16U << 20, 24U << 20, 32U << 20, 40U << 20,
};

static uint64_t tok_mem(int n) { return 0x100 * n + 1; }
static uint64_t tok_vm(int n) { return 0x100 * n + 2; }
static uint64_t tok_data(int n) { return 0x100 * n + 3; }
static uint32_t tag(int n) { return 0x6b730000 + n; }	/* "sk" n */

/* What a VMM measured in its stage, for the test's per-hop line. */
struct soak_figs {
	uint32_t hop;		/* the hop behind the stage, 0 in stage 1 */
	uint32_t resumed;	/* the guest went on after the hop */
	uint64_t blackout_us[KK_MAX_VCPUS];	/* kernel log; 0: no line */
	uint64_t gap_us;	/* longest pause across the hop, guest TSC */
	uint64_t restore_us;	/* VMM start to its vCPUs created */
	uint64_t checked;	/* bytes compared with what was written */
	uint64_t lost;		/* of those, the bytes that differed */
	uint64_t moved;		/* pages not at the PFN they were preserved at */
	uint32_t count[KK_MAX_VCPUS];
	uint32_t passes;
};

/* One hop, as the test saw it: appended to soak.results. */
struct soak_row {
	uint32_t hop;
	uint32_t tsc_problems;	/* guest TSCs off after this hop */
	uint64_t preserved;	/* pages the new kernel took over */
	uint64_t memfree_kb;	/* at the start of the stage */
	double boot_s;		/* the new kernel's uptime when the stage began */
	double stage_s;
	struct soak_figs vm[NR_VMS];
};

/* What stage 1 wrote in a data memfd: word i is soak_word(seed, i). */
struct soak_seed {
	uint64_t seed;
	uint64_t size;
	uint64_t token;
};

/* A VMM's VM, and its data memfd. */
struct soak_vm {
	int n;
	char name[8];
	struct kk_vm vm;
	int data_fd;
	uint64_t *data;
	struct soak_seed seed;
	struct soak_figs figs;
	double t0;
};

static void file_name(char *buf, size_t len, int n, const char *what, int s)
{
	if (s)
		snprintf(buf, len, "vm%d.%s-%d", n, what, s);
	else
		snprintf(buf, len, "vm%d.%s", n, what);
}

static void session_name(char *buf, size_t len, int n, int stage)
{
	snprintf(buf, len, "soak-vm%d-%d", n, stage);
}

/* ----- the bytes: a seeded pattern, and counting what differs ----- */

/* A 64-bit mix of (seed, index): every word of the data memfd differs. */
static uint64_t soak_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The bytes in which @a and @b differ. */
static uint64_t bytes_differ(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ b, n = 0;

	for (; x; x >>= 8)
		n += !!(x & 0xff);
	return n;
}

static void fill_data(struct soak_vm *s)
{
	uint64_t i, n = DATA_SIZE / 8;

	for (i = 0; i < n; i++)
		s->data[i] = soak_word(s->seed.seed, i);
}

/* Compare the data memfd with its pattern; the bytes that differ. */
static uint64_t lost_in_data(struct soak_vm *s)
{
	uint64_t i, n = DATA_SIZE / 8, lost = 0, first = ~0ULL, want;

	for (i = 0; i < n; i++) {
		want = soak_word(s->seed.seed, i);
		if (s->data[i] == want)
			continue;
		if (first == ~0ULL)
			first = i;
		lost += bytes_differ(s->data[i], want);
	}
	if (lost)
		msg("# %s: data memfd: %" PRIu64 " bytes differ, the first word at offset %#" PRIx64
		    ": %#" PRIx64 ", expected %#" PRIx64, s->name, lost,
		    first * 8, s->data[first], soak_word(s->seed.seed, first));
	return lost;
}

/* Compare the guest's region with the pattern it filled it with. */
static uint64_t lost_in_region(struct soak_vm *s)
{
	const uint32_t *w = (const uint32_t *)(s->vm.mem + KK_REGION);
	uint32_t i, n = kk_region_size(&s->vm) / 4, gpa, first = 0;
	uint64_t lost = 0;

	for (i = 0; i < n; i++) {
		gpa = KK_REGION + i * 4;
		if (w[i] == kk_pattern(gpa))
			continue;
		if (!lost)
			first = gpa;
		lost += bytes_differ(w[i], kk_pattern(gpa));
	}
	if (lost)
		msg("# %s: guest RAM: %" PRIu64 " bytes of the region differ, the first word at GPA %#x",
		    s->name, lost, first);
	return lost;
}

/* ----- page frames ----- */

/* Save where the pages of [map, map + size) are, as file @what of VM n. */
static void save_pfns(struct soak_vm *s, const char *what, const void *map,
		      uint64_t size)
{
	uint64_t *pfns = luo_pfns(map, size);
	char path[32];

	file_name(path, sizeof(path), s->n, what, 0);
	luo_save(path, pfns, size / PAGE * sizeof(*pfns));
	free(pfns);
}

/* The pages of [map, map + size) not where save_pfns() found them. */
static uint64_t pages_moved(struct soak_vm *s, const char *what,
			    const void *map, uint64_t size)
{
	uint64_t n = size / PAGE, i, moved = 0, *want, *got;
	char path[32];

	file_name(path, sizeof(path), s->n, what, 0);
	want = luo_load(path, n * sizeof(*want));
	got = luo_pfns(map, size);
	for (i = 0; i < n; i++) {
		if (want[i] == got[i])
			continue;
		if (!moved)
			msg("# %s: %s: page %" PRIu64 " at PFN %#" PRIx64 ", preserved at %#" PRIx64,
			    s->name, what, i, got[i], want[i]);
		moved++;
	}
	free(got);
	free(want);
	return moved;
}

/* ----- figures ----- */

static void save_figs(struct soak_vm *s)
{
	char path[32];

	file_name(path, sizeof(path), s->n, "figs", 0);
	luo_save(path, &s->figs, sizeof(s->figs));
}

/* VM n's figures for @hop, or false if it left none. */
static bool load_figs(int n, uint32_t hop, struct soak_figs *f)
{
	char path[32];
	FILE *fp;
	bool ok;

	file_name(path, sizeof(path), n, "figs", 0);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	ok = fread(f, sizeof(*f), 1, fp) == 1 && f->hop == hop;
	fclose(fp);
	if (!ok) {
		memset(f, 0, sizeof(*f));
		f->hop = ~0U;
	}
	return ok;
}

/*
 * From the kernel log: how long each vCPU of this VMM's VM was stopped,
 * "kvm-kho: kvm-PID: vCPU N resumed, U us after it was stopped".
 */
static void read_blackout(struct soak_vm *s)
{
	char *log = kk_dmesg(), *p = log, key[32];
	unsigned long long us;
	int id, len;

	len = snprintf(key, sizeof(key), "kvm-%d: vCPU ", (int)getpid());
	while ((p = strstr(p, key))) {
		p += len;
		if (sscanf(p, "%d resumed, %llu us", &id, &us) == 2 &&
		    id >= 0 && id < KK_MAX_VCPUS)
			s->figs.blackout_us[id] = us;
	}
	free(log);
}

static uint64_t blackout_ms(const struct soak_figs *f)
{
	uint64_t max = 0;
	int i;

	for (i = 0; i < KK_MAX_VCPUS; i++)
		if (f->blackout_us[i] > max)
			max = f->blackout_us[i];
	return max / 1000;
}

/* ----- the VMM of VM n ----- */

/* This VMM's VM while it may fail, for dump_vcpus() */
static struct soak_vm *current_vm;

/* Stop vCPU @v's thread, waiting up to 2 s; false if it does not stop. */
static bool halt_vcpu(struct kk_vcpu *v)
{
	int i;

	if (!v->started)
		return true;
	v->vm->stop = 1;
	v->run->immediate_exit = 1;
	for (i = 0; i < 20; i++) {
		pthread_kill(v->thread, SIGUSR1);
		if (!pthread_tryjoin_np(v->thread, NULL)) {
			v->started = false;
			return true;
		}
		kk_sleep_ms(100);
	}
	return false;
}

static void dump_vcpu(struct soak_vm *s, struct kk_vcpu *v)
{
	struct kk_slot *slot = kk_slot(&s->vm, v->id);
	struct kvm_mp_state mp = { 0 };
	struct kvm_vcpu_events ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int id = v->id;

	msg("# %s: vCPU %d: %s; %" PRIu64 " reports, count %u; slot count %u copy %u passes %u bad %#x fails %u",
	    s->name, id, v->stopped ? v->why : "running", v->reports,
	    v->last_count, slot->count, slot->copy, slot->passes, slot->bad,
	    slot->fails);
	if (!halt_vcpu(v)) {
		msg("# %s: vCPU %d: its thread does not leave KVM_RUN", s->name,
		    id);
		return;
	}
	if (!ioctl(v->fd, KVM_GET_REGS, &regs))
		msg("# %s: vCPU %d: rip %#llx rsp %#llx rflags %#llx eax %#llx ebx %#llx ecx %#llx edx %#llx esi %#llx edi %#llx ebp %#llx",
		    s->name, id, regs.rip, regs.rsp, regs.rflags, regs.rax,
		    regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp);
	if (!ioctl(v->fd, KVM_GET_SREGS, &sregs))
		msg("# %s: vCPU %d: cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx cs %#x/%#llx ss %#x idt %#llx+%#x",
		    s->name, id, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer,
		    sregs.cs.selector, sregs.cs.base, sregs.ss.selector,
		    sregs.idt.base, sregs.idt.limit);
	if (!ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev))
		msg("# %s: vCPU %d: exception %u/%u nr %u error %#x; interrupt %u nr %u; nmi %u/%u",
		    s->name, id, ev.exception.injected, ev.exception.pending,
		    ev.exception.nr, ev.exception.error_code,
		    ev.interrupt.injected, ev.interrupt.nr, ev.nmi.injected,
		    ev.nmi.pending);
	if (!ioctl(v->fd, KVM_GET_MP_STATE, &mp))
		msg("# %s: vCPU %d: mp_state %u", s->name, id, mp.mp_state);
}

/*
 * At a failing exit of a VMM: what its vCPUs were doing, for a guest that
 * died (a triple fault) or hung to be told from one that lost memory:
 * registers, pending events, and whether the guest code in its RAM is
 * still the code loaded (the region end is patched in: up to 8 bytes
 * differ).
 */
static void dump_vcpus(void)
{
	size_t code = kk_guest_end - kk_guest_start, i, differ = 0;
	struct soak_vm *s = current_vm;
	int id;

	if (!s || !s->vm.mem || !s->vm.nr_vcpus)
		return;
	for (id = 0; id < s->vm.nr_vcpus; id++)
		dump_vcpu(s, &s->vm.vcpu[id]);
	for (i = 0; i < code; i++)
		differ += s->vm.mem[KK_CODE + i] != (uint8_t)kk_guest_start[i];
	msg("# %s: guest code in guest RAM: %zu of %zu bytes differ from the loaded code",
	    s->name, differ, code);
}

static int open_dev(void)
{
	int dev = kk_luo_open_wait(60);

	if (dev == -ENOENT)
		skip("no /dev/liveupdate: kernel without CONFIG_LIVEUPDATE or kho=off");
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	return dev;
}

/* Stage 1: a new guest and a new data memfd. */
static void start_vm(struct soak_vm *s)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	struct kk_vm *vm = &s->vm;
	char path[32];

	kk_create_guest(vm, regions[s->n]);
	*kk_ctl32(vm, KK_CTL_TAG) = tag(s->n);
	kk_start(vm);

	s->data_fd = memfd_create("kvm-soak-data", MFD_CLOEXEC);
	if (s->data_fd < 0 || ftruncate(s->data_fd, DATA_SIZE))
		fail("%s: data memfd of %" PRIu64 " MiB: %s", s->name,
		     DATA_SIZE >> 20, strerror(errno));
	s->data = luo_map(s->data_fd, DATA_SIZE);
	s->seed.seed = luo_seed() ^ (uint64_t)s->n << 56;
	s->seed.size = DATA_SIZE;
	s->seed.token = tok_data(s->n);
	fill_data(s);
	file_name(path, sizeof(path), s->n, "seed", 0);
	luo_save(path, &s->seed, sizeof(s->seed));

	kk_wait(vm, 180, s->name, kk_reached, want);
	msg("ok: %s: 2 vCPUs on %" PRIu64 " MiB running, region %u MiB, checksum %#x",
	    s->name, vm->mem_size >> 20, kk_region_size(vm) >> 20,
	    vm->init_csum);
	msg("ok: %s: data memfd of %" PRIu64 " MiB filled from seed %#" PRIx64,
	    s->name, DATA_SIZE >> 20, s->seed.seed);
}

/*
 * Stages 2-11: take VM n and its data memfd back from session
 * "soak-vmN-(S-1)", check every byte before the guest runs, let it go on
 * and finish the session.
 */
static void restore_vm(struct soak_vm *s, int stage)
{
	struct kk_vm *vm = &s->vm;
	char sname[32], path[32];
	uint64_t lost, last_tsc[KK_MAX_VCPUS];
	struct soak_seed *seed;
	struct kk_record rec;
	int dev, session, old, ret, i;

	file_name(path, sizeof(path), s->n, "rec", stage - 1);
	kk_record_load(path, &rec);
	if (rec.hop != (uint32_t)stage - 1 || rec.tag != tag(s->n) ||
	    rec.nr_vcpus != KK_MAX_VCPUS)
		fail("%s: %s: hop %u, tag %#x, %u vCPUs; expected %d, %#x, %d",
		     s->name, path, rec.hop, rec.tag, rec.nr_vcpus, stage - 1,
		     tag(s->n), KK_MAX_VCPUS);
	file_name(path, sizeof(path), s->n, "seed", 0);
	seed = luo_load(path, sizeof(*seed));
	s->seed = *seed;
	free(seed);
	if (s->seed.size != DATA_SIZE || s->seed.token != tok_data(s->n))
		fail("%s: %s: %" PRIu64 " bytes, token %#" PRIx64, s->name,
		     path, s->seed.size, s->seed.token);

	dev = open_dev();
	if (stage > 2) {
		session_name(sname, sizeof(sname), s->n, stage - 2);
		old = luo_retrieve_session(dev, sname);
		if (old != -ENOENT)
			fail("%s: session \"%s\" of two hops back: %s, expected ENOENT",
			     s->name, sname,
			     old < 0 ? strerror(-old) : "retrieved");
	}
	session_name(sname, sizeof(sname), s->n, stage - 1);
	session = luo_open_session(dev, sname, false);
	close(dev);

	kk_restore_vm(vm, s->name, session, tok_mem(s->n), tok_vm(s->n), &rec);
	s->data_fd = luo_retrieve_fd(session, tok_data(s->n));
	if (s->data_fd < 0)
		fail("%s: retrieve the data memfd (token %#" PRIx64 "): %s",
		     s->name, tok_data(s->n), strerror(-s->data_fd));
	if (luo_fd_size(s->data_fd) != DATA_SIZE)
		fail("%s: data memfd of %" PRIu64 " bytes, expected %" PRIu64,
		     s->name, luo_fd_size(s->data_fd), DATA_SIZE);
	s->data = luo_map(s->data_fd, DATA_SIZE);
	s->figs.restore_us = (kk_now() - s->t0) * 1e6;
	/* the guest TSC of each vCPU's last report before it was captured */
	for (i = 0; i < KK_MAX_VCPUS; i++)
		last_tsc[i] = (uint64_t)kk_slot(vm, i)->tsc_hi << 32 |
			      kk_slot(vm, i)->tsc_lo;

	/* every byte, and every page's frame, before the guest runs again */
	lost = lost_in_region(s) + lost_in_data(s);
	s->figs.checked = kk_region_size(vm) + DATA_SIZE;
	s->figs.lost = lost;
	s->figs.moved = pages_moved(s, "ram-pfns", vm->mem, vm->mem_size) +
			pages_moved(s, "data-pfns", s->data, DATA_SIZE);
	if (lost || s->figs.moved) {
		save_figs(s);
		fail("%s: hop %d: %" PRIu64 " of %" PRIu64 " bytes lost, %" PRIu64 " pages moved",
		     s->name, stage - 1, lost, s->figs.checked, s->figs.moved);
	}
	msg("ok: %s: hop %d: %" PRIu64 " bytes checked, 0 lost; %" PRIu64 " pages where they were",
	    s->name, stage - 1, s->figs.checked,
	    (vm->mem_size + DATA_SIZE) / PAGE);

	kk_start(vm);
	kk_check_resumed(vm, s->name, &rec, 300);
	read_blackout(s);
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		int64_t ticks = vm->vcpu[i].first_tsc - last_tsc[i];
		uint64_t gap = ticks > 0 ? ticks * 1e6 / rec.tsc_hz : 0;

		if (gap > s->figs.gap_us)
			s->figs.gap_us = gap;
	}
	pthread_mutex_unlock(&vm->lock);

	ret = luo_finish(session);
	if (ret)
		fail("%s: finish session \"%s\": %s", s->name, sname,
		     strerror(-ret));
	close(session);
	kk_wait_more(vm, 120, s->name, 2, 1);
	s->figs.resumed = 1;
	msg("ok: %s: hop %d: runs on after the finish: counters %u and %u, %u passes",
	    s->name, stage - 1, vm->vcpu[0].last_count,
	    vm->vcpu[1].last_count, vm->vcpu[1].passes);
}

/* Up to stage 10: preserve all three in "soak-vmN-S" for the next hop. */
static int preserve_vm(struct soak_vm *s, int stage, struct kk_record *rec)
{
	struct kk_vm *vm = &s->vm;
	char sname[32], path[32];
	int dev, session, ret, rfd;

	session_name(sname, sizeof(sname), s->n, stage);
	dev = open_dev();
	session = luo_open_session(dev, sname, true);
	close(dev);
	kk_preserve_vm(vm, s->name, session, tok_mem(s->n), tok_vm(s->n));
	ret = luo_preserve_fd(session, s->data_fd, tok_data(s->n));
	if (ret)
		fail("%s: preserve the data memfd (token %#" PRIx64 "): %s",
		     s->name, tok_data(s->n), strerror(-ret));
	/* where the pages are once preserved: the next kernel finds them there */
	save_pfns(s, "ram-pfns", vm->mem, vm->mem_size);
	save_pfns(s, "data-pfns", s->data, DATA_SIZE);
	kk_wait_more(vm, 120, s->name, 2, 0);

	file_name(path, sizeof(path), s->n, "rec", stage);
	rfd = kk_record_create(path);
	memset(rec, 0, sizeof(*rec));
	rec->hop = stage;
	kk_record_fill(vm, rec);
	kk_record_write(rfd, rec);
	kk_record_write(rfd, rec);
	msg("ok: %s: memfds and VM preserved in session \"%s\"; counters %u and %u, %u checksum passes",
	    s->name, sname, rec->count[0], rec->count[1], rec->passes);
	return rfd;
}

/* Stage 11: every hop of the chain went forward, the region is the fill. */
static void check_chain(struct soak_vm *s)
{
	struct kk_record rec[LAST_STAGE];
	struct kk_vm *vm = &s->vm;
	uint32_t count, passes;
	char path[32];
	int h, i;

	for (h = 1; h <= HOPS; h++) {
		file_name(path, sizeof(path), s->n, "rec", h);
		kk_record_load(path, &rec[h]);
	}
	pthread_mutex_lock(&vm->lock);
	for (h = 1; h <= HOPS; h++) {
		for (i = 0; i < KK_MAX_VCPUS; i++) {
			count = h < HOPS ? rec[h + 1].count[i] :
					   vm->vcpu[i].last_count;
			if ((int32_t)(count - rec[h].count[i]) <= 0) {
				pthread_mutex_unlock(&vm->lock);
				fail("%s: vCPU %d: counter %u after hop %d, not past the %u before it",
				     s->name, i, count, h, rec[h].count[i]);
			}
		}
		passes = h < HOPS ? rec[h + 1].passes : vm->vcpu[1].passes;
		if (passes <= rec[h].passes) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: %u checksum passes after hop %d, %u before it",
			     s->name, passes, h, rec[h].passes);
		}
		if (rec[h].csum != rec[1].csum) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: region checksum %#x before hop %d, %#x after the fill",
			     s->name, rec[h].csum, h, rec[1].csum);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	msg("ok: %s: across %d hops vCPU 0 counted %u -> %u, vCPU 1 %u -> %u",
	    s->name, HOPS, rec[1].count[0], vm->vcpu[0].last_count,
	    rec[1].count[1], vm->vcpu[1].last_count);
	msg("ok: %s: checksum passes %u -> %u, every hop of checksum %#x",
	    s->name, rec[1].passes, vm->vcpu[1].passes, rec[1].csum);
}

static void vmm(void *arg, int status_fd)
{
	int stage = luo_test_stage(), rfd;
	struct kk_record rec;
	struct soak_vm s = {
		.n = (int)(intptr_t)arg,
		.data_fd = -1,
		.figs.hop = stage - 1,
		.t0 = kk_now(),
	};
	char path[32];

	setsid();
	current_vm = &s;
	atexit(dump_vcpus);
	snprintf(s.name, sizeof(s.name), "vm%d", s.n);
	file_name(path, sizeof(path), s.n, "log", 0);
	kk_vm_init(&s.vm, path);
	kk_log(&s.vm, "stage %d: VMM pid %d", stage, getpid());
	if (stage == 1)
		start_vm(&s);
	else
		restore_vm(&s, stage);

	if (stage == LAST_STAGE) {
		check_chain(&s);
		kk_stop(&s.vm);
		kk_check_counters(&s.vm);
		kk_check_healthy(&s.vm);
		save_figs(&s);
		current_vm = NULL;	/* s goes with this frame */
		return;
	}
	rfd = preserve_vm(&s, stage, &rec);
	kk_check_healthy(&s.vm);
	save_figs(&s);
	current_vm = NULL;

	snprintf(path, sizeof(path), "vm%d-%d.out", s.n, stage);
	kk_child_detach(status_fd, path);
	for (;;) {
		kk_sleep_ms(100);
		kk_record_fill(&s.vm, &rec);
		kk_record_write(rfd, &rec);
	}
}

/* ----- the test: the VMMs, and the figures ----- */

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Seconds since this kernel started. */
static double boot_uptime(void)
{
	FILE *f = fopen("/proc/uptime", "r");
	double up = 0;

	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	return up;
}

/* The pages this kernel took over, from "KHO: incoming map: ... (N pages)". */
static uint64_t preserved_pages(void)
{
	char *log = kk_dmesg(), *p = strstr(log, "KHO: incoming map: ");
	uint64_t pages = 0;

	if (p)
		p = strstr(p, "(");
	if (p)
		pages = strtoull(p + 1, NULL, 10);
	free(log);
	return pages;
}

/* Append to the line in @buf. */
static void __attribute__((format(printf, 3, 4)))
add(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

static void print_hop(const struct soak_row *r)
{
	uint64_t checked = 0, lost = 0, moved = 0, gap = 0, restore = 0;
	char line[512] = "";
	int n;

	add(line, sizeof(line), "hop %u: blackout", r->hop);
	for (n = 0; n < NR_VMS; n++) {
		const struct soak_figs *f = &r->vm[n];

		if (f->hop != r->hop)
			add(line, sizeof(line), " vm%d -,", n);
		else
			add(line, sizeof(line), " vm%d %" PRIu64 " ms,", n,
			    blackout_ms(f));
		checked += f->checked;
		lost += f->lost;
		moved += f->moved;
		if (f->gap_us > gap)
			gap = f->gap_us;
		if (f->restore_us > restore)
			restore = f->restore_us;
	}
	line[strlen(line) - 1] = ';';
	add(line, sizeof(line), " guest saw <= %" PRIu64 " ms;", gap / 1000);
	add(line, sizeof(line), " restore <= %" PRIu64 " ms;", restore / 1000);
	add(line, sizeof(line), " bytes checked %" PRIu64 " (%" PRIu64 " MiB),",
	    checked, checked >> 20);
	add(line, sizeof(line), " lost %" PRIu64 "; pages moved %" PRIu64 ";",
	    lost, moved);
	add(line, sizeof(line), " %" PRIu64 " pages handed over;", r->preserved);
	add(line, sizeof(line), " MemFree %" PRIu64 " MiB;", r->memfree_kb >> 10);
	add(line, sizeof(line), " TSC off %u; boot %.1f s, stage %.1f s",
	    r->tsc_problems, r->boot_s, r->stage_s);
	msg("bench: %s", line);
}

#define NR_COLS		12

static const char *const cols[NR_COLS] = {
	"vm0 ms", "vm1 ms", "vm2 ms", "vm3 ms", "guest ms", "restore ms",
	"checked MiB", "lost", "moved", "handover", "free MiB", "TSC",
};

static int col_width(int i)
{
	int w = strlen(cols[i]);

	return w < 6 ? 6 : w;
}

/* Stage 11: the table of all hops; fail on any byte lost. */
static int print_summary(void)
{
	uint64_t bmin[NR_VMS], bmax[NR_VMS], bsum[NR_VMS] = { 0 };
	uint64_t checked = 0, lost = 0, moved = 0, b;
	struct soak_row *rows;
	int h, n, i, tsc = 0, hops;
	char line[256];
	struct stat st;

	if (stat("soak.results", &st))
		fail("soak.results: %s", strerror(errno));
	hops = st.st_size / sizeof(*rows);
	if (hops != HOPS || st.st_size % sizeof(*rows))
		fail("%d hops recorded in soak.results, expected %d", hops,
		     HOPS);
	rows = luo_load("soak.results", HOPS * sizeof(*rows));
	for (n = 0; n < NR_VMS; n++) {
		bmin[n] = ~0ULL;
		bmax[n] = 0;
	}
	msg("bench: kvm_soak: %d VMs of 2 vCPUs through %d chained kexec hops",
	    NR_VMS, HOPS);
	msg("bench: regions of %u, %u, %u and %u MiB, each VM with a %" PRIu64 " MiB data memfd",
	    regions[0] >> 20, regions[1] >> 20, regions[2] >> 20,
	    regions[3] >> 20, DATA_SIZE >> 20);
	snprintf(line, sizeof(line), "hop");
	for (i = 0; i < NR_COLS; i++)
		add(line, sizeof(line), " %*s", col_width(i), cols[i]);
	msg("bench: %s %6s %7s", line, "boot s", "stage s");
	for (h = 0; h < HOPS; h++) {
		struct soak_row *r = &rows[h];
		uint64_t c = 0, l = 0, m = 0, gap = 0, rs = 0, col[NR_COLS];

		for (n = 0; n < NR_VMS; n++) {
			b = blackout_ms(&r->vm[n]);
			bsum[n] += b;
			if (b < bmin[n])
				bmin[n] = b;
			if (b > bmax[n])
				bmax[n] = b;
			c += r->vm[n].checked;
			l += r->vm[n].lost;
			m += r->vm[n].moved;
			if (r->vm[n].gap_us > gap)
				gap = r->vm[n].gap_us;
			if (r->vm[n].restore_us > rs)
				rs = r->vm[n].restore_us;
		}
		checked += c;
		lost += l;
		moved += m;
		tsc += r->tsc_problems;
		for (n = 0; n < NR_VMS; n++)
			col[n] = blackout_ms(&r->vm[n]);
		col[4] = gap / 1000;
		col[5] = rs / 1000;
		col[6] = c >> 20;
		col[7] = l;
		col[8] = m;
		col[9] = r->preserved;
		col[10] = r->memfree_kb >> 10;
		col[11] = r->tsc_problems;
		snprintf(line, sizeof(line), "%-3u", r->hop);
		for (i = 0; i < NR_COLS; i++)
			add(line, sizeof(line), " %*" PRIu64, col_width(i),
			    col[i]);
		msg("bench: %s %6.1f %7.1f", line, r->boot_s, r->stage_s);
	}
	for (n = 0; n < NR_VMS; n++)
		msg("bench: vm%d blackout: min %" PRIu64 ", mean %" PRIu64 ", max %" PRIu64 " ms",
		    n, bmin[n], bsum[n] / HOPS, bmax[n]);
	msg("bench: total: %" PRIu64 " bytes (%" PRIu64 " MiB) checked, %" PRIu64 " lost",
	    checked, checked >> 20, lost);
	msg("bench: total: %" PRIu64 " pages moved, %d guest TSC(s) off after a hop",
	    moved, tsc);
	msg("bench: vmN ms: the VM's blackout as the kernel logs it, capture to");
	msg("bench:   running again, the longest of its vCPUs");
	msg("bench: guest ms: the longest pause a guest saw, by its TSC, from its");
	msg("bench:   last report before the capture to its first after (4 a second)");
	msg("bench: restore ms: the slowest VMM, start to its vCPUs created");
	msg("bench: lost: bytes of the regions and data memfds not as written");
	msg("bench: moved: pages not at the PFN they were preserved at");
	msg("bench: handover: pages the new kernel took over");
	msg("bench: TSC: vCPUs whose guest TSC moved more than the host's across");
	msg("bench:   the hop (noted, not failed on)");
	msg("bench: boot s: the new kernel's uptime as the stage began; under TCG");
	msg("bench:   most of the blackout, and slower on a busy host");
	msg("bench: stage s: the stage's VMMs, from their start to the kexec");
	free(rows);
	if (lost || moved)
		fail("%" PRIu64 " bytes lost, %" PRIu64 " pages moved over %d hops",
		     lost, moved, HOPS);
	return EXIT_PASS;
}

/* Every stage: one VMM per VM, in a child that outlives all but the last. */
static int run_stage(void)
{
	int stage = luo_test_stage(), rc, n, resumed = 0, tsc;
	struct kk_child c[NR_VMS];
	struct soak_row row = { .hop = stage - 1 };
	double t0 = kk_now();
	FILE *f;

	if (stage == 1) {
		unlink("soak.results");
		unlink(KK_TSC_PROBLEMS);
	}
	row.boot_s = boot_uptime();
	row.memfree_kb = luo_meminfo("MemFree");
	row.preserved = preserved_pages();
	tsc = count_lines(KK_TSC_PROBLEMS);
	for (n = 0; n < NR_VMS; n++) {
		char name[8];

		snprintf(name, sizeof(name), "vm%d", n);
		kk_child_start(&c[n], name, vmm, (void *)(intptr_t)n);
	}
	rc = kk_children_wait(c, NR_VMS);
	row.stage_s = kk_now() - t0;
	row.tsc_problems = count_lines(KK_TSC_PROBLEMS) - tsc;

	if (stage == 1) {
		if (rc == EXIT_KEXEC)
			msg("bench: start: %d VMs running, preserved with their data in %.1f s",
			    NR_VMS, row.stage_s);
		return rc;
	}
	for (n = 0; n < NR_VMS; n++)
		if (load_figs(n, row.hop, &row.vm[n]))
			resumed += row.vm[n].resumed;
	print_hop(&row);
	if (rc != EXIT_KEXEC && rc != EXIT_PASS)
		return rc;
	if (resumed != NR_VMS)
		fail("hop %d: %d of %d VMs went on", row.hop, resumed, NR_VMS);
	if (kk_dmesg_count("kvm-kho: VM rebuilt") != NR_VMS ||
	    kk_dmesg_count(" resumed, ") != NR_VMS * KK_MAX_VCPUS) {
		kk_dmesg_show("kvm-kho");
		fail("hop %d: %d VMs rebuilt and %d vCPUs resumed in the kernel log, expected %d and %d",
		     row.hop, kk_dmesg_count("kvm-kho: VM rebuilt"),
		     kk_dmesg_count(" resumed, "), NR_VMS,
		     NR_VMS * KK_MAX_VCPUS);
	}
	f = fopen("soak.results", "a");
	if (!f || fwrite(&row, sizeof(row), 1, f) != 1 || fclose(f))
		fail("soak.results: %s", strerror(errno));
	if (stage == LAST_STAGE)
		return print_summary();
	return rc;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_soak",
			LUO_STAGES(run_stage, run_stage, run_stage, run_stage,
				   run_stage, run_stage, run_stage, run_stage,
				   run_stage, run_stage, run_stage));
}
