// SPDX-License-Identifier: GPL-2.0
/*
 * KVM Live Update, x86: what a VM and its vCPUs carry across kexec.
 *
 * The state is what a VMM would save with the KVM_GET_* ioctls, captured
 * and loaded by the kernel itself with the functions behind them:
 * registers, special registers, XSAVE and XCRs, every MSR KVM lists for
 * save/restore, the local APIC, pending events, debug registers, the MP
 * state and CPUID as the VMM set it; for the VM the in-kernel PIC, IOAPIC
 * and PIT and the kvmclock.
 *
 * Guest TSC: the host TSC keeps counting across kexec, so it measures the
 * time that passed, blackout included. Each vCPU gets its TSC frequency
 * back and its TSC advanced by that time at that frequency, as if the
 * guest had run on; kvmclock is advanced by the same time.
 *
 * Refused at preserve time, and again when the handover is finalized:
 * protected VMs (SEV-ES/SNP, TDX), Xen and Hyper-V emulation, a split
 * irqchip, and vCPUs that expose SVM or VMX to their guest (nested state
 * is not carried).
 */
#define pr_fmt(fmt) "kvm-kho: " fmt

#include <linux/error-injection.h>
#include <linux/kvm_host.h>
#include <linux/math64.h>
#include <asm/msr-index.h>
#include <asm/tsc.h>

#include "cpuid.h"
#include "i8254.h"
#include "irq.h"
#include "kvm_cache_regs.h"
#include "lapic.h"
#include "x86.h"

#include "kvm_kho_internal.h"

int kvm_kho_arch_check_vm(struct kvm *kvm)
{
	if (kvm->arch.vm_type != KVM_X86_DEFAULT_VM ||
	    kvm->arch.has_protected_state) {
		pr_warn("VM %s: protected or confidential VMs are not carried\n",
			kvm->stats_id);
		return -EOPNOTSUPP;
	}
	if (irqchip_split(kvm)) {
		pr_warn("VM %s: a split irqchip is not carried\n", kvm->stats_id);
		return -EOPNOTSUPP;
	}
#ifdef CONFIG_KVM_XEN
	if (kvm->arch.xen_hvm_config.msr || kvm->arch.xen_hvm_config.flags) {
		pr_warn("VM %s: Xen emulation is not carried\n", kvm->stats_id);
		return -EOPNOTSUPP;
	}
#endif
	return 0;
}

int kvm_kho_arch_check_vcpu(struct kvm_vcpu *vcpu)
{
	if (vcpu->arch.guest_state_protected)
		return -EOPNOTSUPP;
	if (guest_cpuid_has(vcpu, X86_FEATURE_SVM) ||
	    guest_cpuid_has(vcpu, X86_FEATURE_VMX) || is_guest_mode(vcpu)) {
		pr_warn("vCPU %d offers nested virtualization, which is not carried\n",
			vcpu->vcpu_id);
		return -EOPNOTSUPP;
	}
#ifdef CONFIG_KVM_HYPERV
	if (vcpu->arch.hyperv_enabled) {
		pr_warn("vCPU %d: Hyper-V emulation is not carried\n",
			vcpu->vcpu_id);
		return -EOPNOTSUPP;
	}
#endif
	return 0;
}

/*
 * Has the vCPU left KVM_RUN for userspace to emulate an instruction (PIO,
 * MMIO, a hypercall) that KVM completes at the next KVM_RUN? Its state is
 * only consistent once that is done: the instruction pointer is still on
 * the instruction, and an IN still waits for its data.
 */
bool kvm_kho_arch_exit_pending(struct kvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->arch.complete_userspace_io);
}

static unsigned int kvm_kho_nr_msrs(void)
{
	unsigned int n = 0;
	u32 index;

	while (kvm_kho_msr_index(n, &index))
		n++;
	return min(n, KVM_KHO_MAX_MSRS);
}

size_t kvm_kho_arch_vcpu_size(struct kvm_vcpu *vcpu)
{
	return kvm_kho_vcpu_ser_size(kvm_kho_nr_msrs(),
				     vcpu->arch.cpuid_nent,
				     vcpu->arch.guest_fpu.uabi_size);
}

/*
 * The TSC the guest reads now, and the host TSC it was derived from. Not
 * through MSR_IA32_TSC: without TSC scaling in the CPU the guest runs at
 * the host's rate whatever the vCPU's ratio says, and a vCPU whose
 * frequency KVM could not set has no ratio at all.
 */
static u64 kvm_kho_read_guest_tsc(struct kvm_vcpu *vcpu,
				  struct kvm_kho_vcpu_ser *s)
{
	s->tsc_ratio = kvm_caps.has_tsc_control ?
		       vcpu->arch.l1_tsc_scaling_ratio :
		       kvm_caps.default_tsc_scaling_ratio;
	s->host_tsc = rdtsc();
	return kvm_scale_tsc(s->host_tsc, s->tsc_ratio) +
	       vcpu->arch.l1_tsc_offset;
}

/* MSRs loaded on their own, after all the others. */
static bool kvm_kho_msr_late(u32 index)
{
	return index == MSR_IA32_TSC;
}

int kvm_kho_arch_save_vcpu(struct kvm_vcpu *vcpu, struct kvm_kho_vcpu_ser *s,
			   size_t size)
{
	unsigned int max_msrs = kvm_kho_nr_msrs(), i, idx;
	struct kvm_msr_entry *msrs;
	u32 index;
	int err;

	s->nr_cpuid = vcpu->arch.cpuid_nent;
	s->xsave_size = vcpu->arch.guest_fpu.uabi_size;
	if (kvm_kho_vcpu_ser_size(max_msrs, s->nr_cpuid, s->xsave_size) > size)
		return -E2BIG;

	err = kvm_arch_vcpu_ioctl_get_regs(vcpu, &s->regs);
	if (!err)
		err = kvm_arch_vcpu_ioctl_get_sregs(vcpu, &s->sregs);
	if (!err)
		err = kvm_arch_vcpu_ioctl_get_mpstate(vcpu, &s->mp_state);
	if (err)
		return err;

	vcpu_load(vcpu);
	if (lapic_in_kernel(vcpu))
		err = kvm_vcpu_ioctl_get_lapic(vcpu, &s->lapic);
	if (!err) {
		kvm_vcpu_ioctl_x86_get_vcpu_events(vcpu, &s->events);
		err = kvm_vcpu_ioctl_x86_get_debugregs(vcpu, &s->dregs);
	}
	if (!err && boot_cpu_has(X86_FEATURE_XSAVE))
		err = kvm_vcpu_ioctl_x86_get_xcrs(vcpu, &s->xcrs);
	if (err)
		goto out;

	/* an MSR this vCPU does not have is left out, as a VMM would */
	msrs = kvm_kho_vcpu_msrs(s);
	idx = srcu_read_lock(&vcpu->kvm->srcu);
	for (i = 0; i < max_msrs && kvm_kho_msr_index(i, &index); i++) {
		if (kvm_kho_get_msr(vcpu, index, &msrs[s->nr_msrs].data))
			continue;
		if (kvm_kho_msr_late(index))
			msrs[s->nr_msrs].data = kvm_kho_read_guest_tsc(vcpu, s);
		msrs[s->nr_msrs++].index = index;
	}
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
	/* the records that follow move up behind the MSRs actually kept */

	memcpy(kvm_kho_vcpu_cpuid(s), vcpu->arch.cpuid_entries,
	       s->nr_cpuid * sizeof(struct kvm_cpuid_entry2));
	err = kvm_vcpu_ioctl_x86_get_xsave2(vcpu, kvm_kho_vcpu_xsave(s),
					    s->xsave_size);
	if (err > 0)
		err = 0;
	s->tsc_khz = vcpu->arch.virtual_tsc_khz;
	if (vcpu->arch.tsc_always_catchup)
		s->tsc_flags |= KVM_KHO_TSC_CATCHUP;
out:
	vcpu_put(vcpu);
	return err;
}

/*
 * A carried VM is rebuilt with the type its record names: accept only the
 * type kvm_kho_arch_check_vm() lets a kernel carry. KVM would create some
 * other types (KVM_X86_SW_PROTECTED_VM) and hand the VMM a VM of a kind
 * nobody preserved. Memslot address spaces are bounded by the caller.
 */
int kvm_kho_arch_check_vm_ser(struct kvm_kho_vm_ser *s)
{
	if (s->vm_type != KVM_X86_DEFAULT_VM) {
		pr_err("carried VM of type %u: only default VMs are carried\n",
		       s->vm_type);
		return -EINVAL;
	}
	return 0;
}

int kvm_kho_arch_check_vcpu_ser(struct kvm_kho_vcpu_ser *s, size_t size)
{
	struct kvm_msr_entry *msrs;
	u32 i;

	if (size < sizeof(*s) || s->magic != KVM_KHO_VCPU_MAGIC ||
	    s->reserved || s->pad || s->tsc_flags & ~KVM_KHO_TSC_FLAGS ||
	    s->nr_msrs > KVM_KHO_MAX_MSRS ||
	    s->nr_cpuid > KVM_MAX_CPUID_ENTRIES ||
	    s->xsave_size > KVM_KHO_MAX_XSAVE ||
	    s->xsave_size < sizeof(struct kvm_xsave) ||
	    kvm_kho_vcpu_ser_size(s->nr_msrs, s->nr_cpuid, s->xsave_size) > size)
		return -EINVAL;
	msrs = kvm_kho_vcpu_msrs(s);
	for (i = 0; i < s->nr_msrs; i++)
		if (msrs[i].reserved)
			return -EINVAL;
	return 0;
}

/*
 * Is the host TSC the one the previous kernel read? It is the same
 * counter, but each kernel calibrates its frequency, and under a
 * hypervisor the early calibration can be off by a few hundred ppm: allow
 * them to disagree by 1%. A TSC that went back was reset.
 */
static bool kvm_kho_same_tsc(struct kvm_kho_vm_ser *s, u64 now)
{
	u64 khz = tsc_khz;

	return s->tsc_khz && now >= s->host_tsc &&
	       abs_diff(khz, s->tsc_khz) <= s->tsc_khz / 100;
}

/*
 * The guest TSC now, had the guest kept running: @saved, read when the
 * host TSC was at s->host_tsc, plus the host TSC ticks since as the vCPU
 * counts them: scaled by its ratio, or, for a TSC faster than the host's
 * that KVM emulates by catching up, at its own frequency.
 */
static u64 kvm_kho_guest_tsc(struct kvm_kho_vm_ser *vm,
			     struct kvm_kho_vcpu_ser *s, u64 saved)
{
	u64 now = rdtsc(), ticks;

	if (!kvm_kho_same_tsc(vm, now) || now < s->host_tsc) {
		pr_warn_once("host TSC changed across kexec: guest TSC stopped for the blackout\n");
		return saved;
	}
	ticks = now - s->host_tsc;
	if (s->tsc_flags & KVM_KHO_TSC_CATCHUP)
		return saved + mul_u64_u32_div(ticks, (u32)s->tsc_khz,
					       (u32)vm->tsc_khz);
	return saved + kvm_scale_tsc(ticks, s->tsc_ratio);
}

int kvm_kho_arch_load_vcpu(struct kvm_vcpu *vcpu, struct kvm_kho_vm_ser *vm,
			   struct kvm_kho_vcpu_ser *s)
{
	struct kvm_msr_entry *msrs = kvm_kho_vcpu_msrs(s);
	struct kvm_xsave *xsave;
	u64 tsc = 0, val;
	bool has_tsc = false;
	int err, idx;
	u32 i;

	if (!!lapic_in_kernel(vcpu) != !!(vm->flags & KVM_KHO_VM_IRQCHIP))
		return -EINVAL;
	err = kvm_set_cpuid_entries(vcpu, kvm_kho_vcpu_cpuid(s), s->nr_cpuid);
	if (err) {
		pr_err("vCPU %d: CPUID refused: %d\n", vcpu->vcpu_id, err);
		return err;
	}
	err = kvm_arch_vcpu_ioctl_set_sregs(vcpu, &s->sregs);
	if (!err)
		err = kvm_arch_vcpu_ioctl_set_regs(vcpu, &s->regs);
	if (err)
		return err;
	/*
	 * Its TSC frequency as the VMM (or KVM's default) set it, before the
	 * TSC is written: a new vCPU defaults to this kernel's calibration
	 * of the host TSC, which may differ a little. Where KVM cannot give
	 * the vCPU that frequency (nor could it the first time, likely), the
	 * vCPU runs at the host's.
	 */
	if (kvm_kho_set_tsc_khz(vcpu, s->tsc_khz))
		pr_info_ratelimited("vCPU %d: a TSC of %llu kHz is not available, it runs at the host's %u kHz\n",
				    vcpu->vcpu_id, s->tsc_khz, tsc_khz);

	xsave = kzalloc(max_t(size_t, vcpu->arch.guest_fpu.uabi_size,
			      s->xsave_size), GFP_KERNEL_ACCOUNT);
	if (!xsave)
		return -ENOMEM;
	memcpy(xsave, kvm_kho_vcpu_xsave(s), s->xsave_size);

	vcpu_load(vcpu);
	err = kvm_vcpu_ioctl_x86_set_xsave(vcpu, xsave);
	if (!err && boot_cpu_has(X86_FEATURE_XSAVE))
		err = kvm_vcpu_ioctl_x86_set_xcrs(vcpu, &s->xcrs);
	if (!err && lapic_in_kernel(vcpu))
		err = kvm_vcpu_ioctl_set_lapic(vcpu, &s->lapic);
	if (err)
		goto out;

	idx = srcu_read_lock(&vcpu->kvm->srcu);
	for (i = 0; i < s->nr_msrs && !err; i++) {
		if (kvm_kho_msr_late(msrs[i].index)) {
			tsc = msrs[i].data;
			has_tsc = true;
			continue;
		}
		/* a new vCPU: only what the guest changed needs writing */
		if (!kvm_kho_get_msr(vcpu, msrs[i].index, &val) &&
		    val == msrs[i].data)
			continue;
		err = kvm_kho_set_msr(vcpu, msrs[i].index, msrs[i].data);
		if (err)
			pr_err("vCPU %d: MSR %#x refused\n", vcpu->vcpu_id,
			       msrs[i].index);
	}
	if (!err && has_tsc)
		err = kvm_kho_set_msr(vcpu, MSR_IA32_TSC,
				      kvm_kho_guest_tsc(vm, s, tsc));
	if (!err)
		err = kvm_vcpu_ioctl_x86_set_vcpu_events(vcpu, &s->events);
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
	if (!err)
		err = kvm_vcpu_ioctl_x86_set_debugregs(vcpu, &s->dregs);
out:
	vcpu_put(vcpu);
	kfree(xsave);
	if (!err)
		err = kvm_arch_vcpu_ioctl_set_mpstate(vcpu, &s->mp_state);
	return err;
}

int kvm_kho_arch_save_vm(struct kvm *kvm, struct kvm_kho_vm_ser *s)
{
	struct kvm_pit *pit;
	int err = 0;

	s->vm_type = kvm->arch.vm_type;
	mutex_lock(&kvm->lock);
	if (irqchip_kernel(kvm)) {
		s->flags |= KVM_KHO_VM_IRQCHIP;
		s->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
		s->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
		s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
		err = kvm_vm_ioctl_get_irqchip(kvm, &s->pic[0]);
		if (!err)
			err = kvm_vm_ioctl_get_irqchip(kvm, &s->pic[1]);
		if (!err)
			err = kvm_vm_ioctl_get_irqchip(kvm, &s->ioapic);
	}
	pit = kvm->arch.vpit;
	if (!err && pit) {
		s->flags |= KVM_KHO_VM_PIT;
		/* the speaker port is only registered with the dummy flag */
		if (pit->speaker_dev.ops)
			s->flags |= KVM_KHO_VM_PIT_SPEAKER;
		err = kvm_vm_ioctl_get_pit2(kvm, &s->pit);
	}
	mutex_unlock(&kvm->lock);

	s->tsc_khz = tsc_khz;
	s->kvmclock_ns = get_kvmclock_ns(kvm);
	s->host_tsc = rdtsc();
	return err;
}

/**
 * kvm_kho_arch_blackout_us - time since the VM's state was captured
 * @s: the carried VM
 *
 * Return: microseconds, by the host TSC; 0 if it cannot be trusted.
 */
u64 kvm_kho_arch_blackout_us(struct kvm_kho_vm_ser *s)
{
	u64 now = rdtsc();

	if (!kvm_kho_same_tsc(s, now))
		return 0;
	return mul_u64_u32_div(now - s->host_tsc, USEC_PER_MSEC,
			       (u32)s->tsc_khz);
}

/* Advance the kvmclock by the time the host TSC says has passed. */
static void kvm_kho_resume_clock(struct kvm *kvm, struct kvm_kho_vm_ser *s)
{
	struct kvm_clock_data data = { .clock = s->kvmclock_ns };
	u64 now = rdtsc();

	if (kvm_kho_same_tsc(s, now))
		data.clock += mul_u64_u32_div(now - s->host_tsc, NSEC_PER_MSEC,
					      (u32)s->tsc_khz);
	else
		pr_warn("host TSC changed across kexec: kvmclock stopped for the blackout\n");
	kvm_vm_set_clock(kvm, &data);
}

int kvm_kho_arch_create_vm(struct file *file, struct kvm_kho_vm_ser *s)
{
	struct kvm *kvm = file->private_data;
	u32 pit_flags = 0;
	int err = 0;

	if (s->flags & KVM_KHO_VM_IRQCHIP) {
		/* no argument to copy from userspace */
		err = kvm_arch_vm_ioctl(file, KVM_CREATE_IRQCHIP, 0);
		if (!err)
			err = kvm_vm_ioctl_set_irqchip(kvm, &s->pic[0]);
		if (!err)
			err = kvm_vm_ioctl_set_irqchip(kvm, &s->pic[1]);
		if (!err)
			err = kvm_vm_ioctl_set_irqchip(kvm, &s->ioapic);
		if (err)
			return err;
	}
	if (s->flags & KVM_KHO_VM_PIT) {
		if (!(s->flags & KVM_KHO_VM_IRQCHIP))
			return -EINVAL;
		if (s->flags & KVM_KHO_VM_PIT_SPEAKER)
			pit_flags = KVM_PIT_SPEAKER_DUMMY;
		mutex_lock(&kvm->lock);
		if (!kvm->arch.vpit)
			kvm->arch.vpit = kvm_create_pit(kvm, pit_flags);
		err = kvm->arch.vpit ? 0 : -ENOMEM;
		mutex_unlock(&kvm->lock);
		if (!err)
			err = kvm_vm_ioctl_set_pit2(kvm, &s->pit);
		if (err)
			return err;
	}
	kvm_kho_resume_clock(kvm, s);
	return 0;
}

/* a failure here must leave the VM retrievable: tests inject one */
ALLOW_ERROR_INJECTION(kvm_kho_arch_create_vm, ERRNO);
