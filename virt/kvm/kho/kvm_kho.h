/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM Live Update: hooks that kvm_main.c calls.
 *
 * A VM fd preserved in a Live Update session is quiesced when the handover
 * is finalized and rebuilt by the next kernel. Until then, and while a
 * rebuilt VM's vCPUs still wait for their state, KVM asks this code before
 * it runs a VM or vCPU ioctl. The checks sit behind a static key that is
 * only enabled while such a VM exists, so other VMs pay nothing.
 */
#ifndef __KVM_KHO_H
#define __KVM_KHO_H

#include <linux/jump_label.h>
#include <linux/kvm_host.h>

#ifdef CONFIG_KVM_KHO

DECLARE_STATIC_KEY_FALSE(kvm_kho_active);

int __kvm_kho_vcpu_wait(struct kvm_vcpu *vcpu, unsigned int ioctl);
int __kvm_kho_vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned int ioctl);
int __kvm_kho_vm_ioctl(struct kvm *kvm, unsigned int ioctl);
bool __kvm_kho_vcpu_held(struct kvm_vcpu *vcpu);
int kvm_kho_init(void);
void kvm_kho_exit(void);

/*
 * Before vcpu->mutex is taken: a KVM_RUN on a quiesced VM sleeps here
 * until the handover is aborted (or the kernel is replaced), unless it
 * has an exit to userspace to complete first.
 */
static inline int kvm_kho_vcpu_wait(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	if (static_branch_unlikely(&kvm_kho_active))
		return __kvm_kho_vcpu_wait(vcpu, ioctl);
	return 0;
}

/*
 * Under vcpu->mutex: refuses ioctls on a quiesced vCPU, and loads the
 * carried state into a rebuilt vCPU at its first KVM_RUN.
 */
static inline int kvm_kho_vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	if (static_branch_unlikely(&kvm_kho_active))
		return __kvm_kho_vcpu_ioctl(vcpu, ioctl);
	return 0;
}

/*
 * For KVM_RUN on a quiesced vCPU, or one of a VM being preserved: complete
 * the exit to userspace it may have pending, then return EINTR without
 * entering the guest.
 */
static inline bool kvm_kho_vcpu_held(struct kvm_vcpu *vcpu)
{
	if (static_branch_unlikely(&kvm_kho_active))
		return __kvm_kho_vcpu_held(vcpu);
	return false;
}

/* Refuses VM ioctls that would change an armed or quiesced VM. */
static inline int kvm_kho_vm_ioctl(struct kvm *kvm, unsigned int ioctl)
{
	if (static_branch_unlikely(&kvm_kho_active))
		return __kvm_kho_vm_ioctl(kvm, ioctl);
	return 0;
}

/*
 * Under kvm->lock, before KVM_CREATE_VCPU counts a new vCPU: refuses it
 * on an armed VM. The check at the ioctl's start can come before a
 * freeze that the arming, which counts the vCPUs under that lock, misses.
 */
static inline int kvm_kho_vcpu_create(struct kvm *kvm)
{
	lockdep_assert_held(&kvm->lock);
	return kvm_kho_vm_ioctl(kvm, KVM_CREATE_VCPU);
}

#else /* !CONFIG_KVM_KHO */

static inline int kvm_kho_vcpu_wait(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	return 0;
}

static inline int kvm_kho_vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	return 0;
}

static inline int kvm_kho_vm_ioctl(struct kvm *kvm, unsigned int ioctl)
{
	return 0;
}

static inline bool kvm_kho_vcpu_held(struct kvm_vcpu *vcpu)
{
	return false;
}

static inline int kvm_kho_vcpu_create(struct kvm *kvm)
{
	return 0;
}

static inline int kvm_kho_init(void) { return 0; }
static inline void kvm_kho_exit(void) { }

#endif /* CONFIG_KVM_KHO */
#endif /* __KVM_KHO_H */
