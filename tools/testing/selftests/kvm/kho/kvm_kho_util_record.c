// SPDX-License-Identifier: GPL-2.0
/*
 * What a VMM of the KVM Live Update tests carries across a kexec besides
 * its VMs (a record of the last reports, see kvm_kho_util.h), taking the
 * VMs back in the next kernel, and checking that their guests went on
 * from where they were.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_kho_util.h"

#define KK_REC_MAGIC		0x32636572766b6b6bULL	/* "kkkvrec2" */
#define KK_REC_SLOT		512

static uint64_t kk_rec_check(const struct kk_record *r)
{
	const uint8_t *p = (const uint8_t *)r;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < offsetof(struct kk_record, check); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

void kk_record_fill(struct kk_vm *vm, struct kk_record *r)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	r->magic = KK_REC_MAGIC;
	r->tsc_hz = vm->tsc_hz;
	r->mem_size = vm->mem_size;
	r->region_size = kk_region_size(vm);
	r->nr_vcpus = vm->nr_vcpus;
	r->csum = *kk_ctl32(vm, KK_CTL_CSUM);
	r->tag = *kk_ctl32(vm, KK_CTL_TAG);
	r->passes = vm->vcpu[1].passes;
	for (i = 0; i < KK_MAX_VCPUS; i++) {
		r->count[i] = vm->vcpu[i].last_count;
		r->tsc[i] = vm->vcpu[i].last_tsc;
		r->host[i] = vm->vcpu[i].last_host;
		r->min_lag[i] = vm->vcpu[i].min_lag;
	}
	r->host_tsc = kk_rdtsc();
	pthread_mutex_unlock(&vm->lock);
}

void kk_record_write(int fd, struct kk_record *r)
{
	r->seq++;
	r->check = kk_rec_check(r);
	if (pwrite(fd, r, sizeof(*r), (r->seq & 1) * KK_REC_SLOT) != sizeof(*r))
		fail("writing a record: %s", strerror(errno));
}

void kk_record_until_kexec(struct kk_vm *vm, int fd, struct kk_record *r)
{
	for (;;) {
		kk_sleep_ms(100);
		kk_record_fill(vm, r);
		kk_record_write(fd, r);
	}
}

int kk_record_create(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		fail("create %s: %s", path, strerror(errno));
	return fd;
}

void kk_record_load(const char *path, struct kk_record *r)
{
	struct kk_record slot[2];
	int fd = open(path, O_RDONLY), i, best = -1;

	if (fd < 0)
		fail("open %s (left by the previous stage): %s", path,
		     strerror(errno));
	for (i = 0; i < 2; i++) {
		if (pread(fd, &slot[i], sizeof(slot[i]), i * KK_REC_SLOT) !=
		    sizeof(slot[i]) || slot[i].magic != KK_REC_MAGIC ||
		    slot[i].check != kk_rec_check(&slot[i]))
			continue;
		if (best < 0 || slot[i].seq > slot[best].seq)
			best = i;
	}
	close(fd);
	if (best < 0)
		fail("no whole record in %s", path);
	*r = slot[best];
}



void kk_preserve_vm(struct kk_vm *vm, const char *name, int session,
		    uint64_t tok_mem, uint64_t tok_vm)
{
	int ret;

	ret = luo_preserve_fd(session, vm->mem_fd, tok_mem);
	if (ret)
		fail("%s: preserve the guest RAM memfd (token %" PRIu64 "): %s",
		     name, tok_mem, strerror(-ret));
	ret = luo_preserve_fd(session, vm->vm_fd, tok_vm);
	if (ret)
		fail("%s: preserve the VM fd (token %" PRIu64 "): %s%s", name,
		     tok_vm, strerror(-ret), ret == -ENOENT ?
		     " (no Live Update file handler takes KVM VM fds here)" :
		     " (the kernel log says why)");
}

void kk_retrieve_vm(struct kk_vm *vm, const char *name, int session,
		    uint64_t tok_mem, uint64_t tok_vm, uint64_t mem_size,
		    bool populate)
{
	struct stat st;

	vm->mem_fd = luo_retrieve_fd(session, tok_mem);
	if (vm->mem_fd < 0)
		fail("%s: retrieve the guest RAM memfd (token %" PRIu64 "): %s",
		     name, tok_mem, strerror(-vm->mem_fd));
	if (fstat(vm->mem_fd, &st))
		fail("%s: fstat guest RAM memfd: %s", name, strerror(errno));
	if ((uint64_t)st.st_size != mem_size)
		fail("%s: guest RAM memfd of %" PRIu64 " bytes, expected %" PRIu64,
		     name, (uint64_t)st.st_size, mem_size);
	vm->mem_size = mem_size;
	kk_map_mem(vm, populate);

	vm->vm_fd = luo_retrieve_fd(session, tok_vm);
	if (vm->vm_fd < 0)
		fail("%s: retrieve the VM fd (token %" PRIu64 "): %s (%d)", name,
		     tok_vm, strerror(-vm->vm_fd), -vm->vm_fd);
}

void kk_reattach_vm(struct kk_vm *vm)
{
	vm->kvm_fd = kk_open_kvm();
	kk_vcpu_mmap_size(vm);
	kk_configure_vm(vm);
	kk_set_memslot(vm);
}

void kk_restore_vm(struct kk_vm *vm, const char *name, int session,
		   uint64_t tok_mem, uint64_t tok_vm, const struct kk_record *r)
{
	int i;

	vm->tsc_hz = r->tsc_hz;
	vm->region_size = r->region_size;
	kk_retrieve_vm(vm, name, session, tok_mem, tok_vm, r->mem_size, true);

	if (*kk_ctl32(vm, KK_CTL_MAGIC) != KK_CTL_MAGIC_VALUE ||
	    *kk_ctl32(vm, KK_CTL_INIT) != 1 ||
	    *kk_ctl32(vm, KK_CTL_CSUM) != r->csum ||
	    *kk_ctl32(vm, KK_CTL_TAG) != r->tag)
		fail("%s: control page: magic %#x init %u checksum %#x tag %#x, expected %#x 1 %#x %#x",
		     name, *kk_ctl32(vm, KK_CTL_MAGIC),
		     *kk_ctl32(vm, KK_CTL_INIT), *kk_ctl32(vm, KK_CTL_CSUM),
		     *kk_ctl32(vm, KK_CTL_TAG), KK_CTL_MAGIC_VALUE, r->csum,
		     r->tag);
	for (i = 0; i < (int)r->nr_vcpus; i++) {
		struct kk_slot *s = kk_slot(vm, i);

		if ((int32_t)(s->count - r->count[i]) < 0 || s->count != s->copy)
			fail("%s: vCPU %d: counter in guest RAM %u (copy %u), below the recorded %u",
			     name, i, s->count, s->copy, r->count[i]);
	}
	msg("ok: %s: retrieved memfd (%" PRIu64 " MiB, tag %#x) and VM; counters in guest RAM %u, %u (recorded %u, %u)",
	    name, vm->mem_size >> 20, r->tag, kk_slot(vm, 0)->count,
	    kk_slot(vm, 1)->count, r->count[0], r->count[1]);

	kk_reattach_vm(vm);
	for (i = 0; i < (int)r->nr_vcpus; i++)
		kk_add_vcpu(vm, i, false);
}

/* for kk_wait(): the restored guest reported and, with 2 vCPUs, passed on */
static bool kk_resumed(struct kk_vm *vm, void *arg)
{
	const struct kk_record *r = arg;
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpu[i].reports < 3)
			return false;
	return vm->nr_vcpus < 2 ||
	       (vm->vcpu[1].pass_reports >= 1 && vm->vcpu[1].passes > r->passes);
}

void kk_tsc_problem(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	printf("# TSC problem (the test fails at its end): %s\n", line);
	fflush(stdout);
	strcat(line, "\n");
	fd = open(KK_TSC_PROBLEMS, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		fail("%s: %s", KK_TSC_PROBLEMS, strerror(errno));
	close(fd);
}

void kk_tsc_verdict(void)
{
	FILE *f = fopen(KK_TSC_PROBLEMS, "r");
	char line[256];
	bool any;

	if (!f)
		return;
	any = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!any)
		return;
	line[strcspn(line, "\n")] = '\0';
	kk_dmesg_show("TSC");
	kk_dmesg_show("tsc: ");
	fail("%s", line);
}

void kk_check_resumed(struct kk_vm *vm, const char *name,
		      const struct kk_record *r, double timeout)
{
	uint64_t slack = r->tsc_hz / 1000 * KK_TSC_SLACK_MS;
	char what[64];
	uint32_t sum;
	int i;

	snprintf(what, sizeof(what), "%s to go on", name);
	kk_wait(vm, timeout, what, kk_resumed, (void *)r);

	pthread_mutex_lock(&vm->lock);
	if (vm->init_seen) {
		pthread_mutex_unlock(&vm->lock);
		fail("%s: the guest filled its region again: it started over",
		     name);
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];
		uint64_t jump = v->first_tsc - r->tsc[i];
		uint64_t host = v->first_host - r->host[i];
		/* > 0: the guest TSC moved further than the host's */
		int64_t ahead = r->min_lag[i] - v->min_lag;

		if ((int32_t)(v->first_count - r->count[i]) <= 0) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: vCPU %d: first counter after the kexec %u, not past the recorded %u",
			     name, i, v->first_count, r->count[i]);
		}
		msg("ok: %s: vCPU %d: counter %u after the kexec, %u before",
		    name, i, v->first_count, r->count[i]);
		if ((int64_t)jump <= 0)
			kk_tsc_problem("%s: vCPU %d: guest TSC went back across the kexec: %" PRIu64
				       " after, %" PRIu64 " before", name, i,
				       v->first_tsc, r->tsc[i]);
		else if (ahead > (int64_t)slack)
			kk_tsc_problem("%s: vCPU %d: guest TSC ran %.3f ms further than the host's across the kexec (host minus guest TSC, least of the reports: %.3f ms before, %.3f ms after; +%d ms allowed)",
				       name, i, 1e3 * ahead / r->tsc_hz,
				       1e3 * r->min_lag[i] / r->tsc_hz,
				       1e3 * v->min_lag / r->tsc_hz,
				       KK_TSC_SLACK_MS);
		else
			msg("ok: %s: vCPU %d: guest TSC +%.3f s across the kexec, host +%.3f s between those reports; the guest's ran %+.3f ms further by the least lags",
			    name, i, (double)jump / r->tsc_hz,
			    (double)host / r->tsc_hz, 1e3 * ahead / r->tsc_hz);
	}
	if (vm->nr_vcpus > 1) {
		if (vm->vcpu[1].first_passes <= r->passes) {
			pthread_mutex_unlock(&vm->lock);
			fail("%s: checksum pass %u after the kexec, %u recorded before: reset",
			     name, vm->vcpu[1].first_passes, r->passes);
		}
		msg("ok: %s: checksum passes go on: %u after the kexec, %u before",
		    name, vm->vcpu[1].passes, r->passes);
	}
	pthread_mutex_unlock(&vm->lock);

	sum = kk_host_verify_region(vm, name);
	if (sum != r->csum)
		fail("%s: host-side checksum %#x, the guest's %#x", name, sum,
		     r->csum);
	msg("ok: %s: host side: %u MiB of pattern intact, checksum %#x", name,
	    kk_region_size(vm) >> 20, sum);
}
