/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM Live Update: what the generic part (kvm_kho.c) asks of the
 * architecture (kvm_kho_x86.c). The records themselves are in
 * <linux/kho/abi/kvm.h>.
 */
#ifndef __KVM_KHO_INTERNAL_H
#define __KVM_KHO_INTERNAL_H

#include <linux/kho/abi/kvm.h>
#include <linux/kvm_host.h>
#include <linux/types.h>

/* ----- architecture: kvm_kho_x86.c ----- */

int kvm_kho_arch_check_vm(struct kvm *kvm);
int kvm_kho_arch_check_vcpu(struct kvm_vcpu *vcpu);
bool kvm_kho_arch_exit_pending(struct kvm_vcpu *vcpu);
size_t kvm_kho_arch_vcpu_size(struct kvm_vcpu *vcpu);
int kvm_kho_arch_save_vcpu(struct kvm_vcpu *vcpu, struct kvm_kho_vcpu_ser *s,
			   size_t size);
int kvm_kho_arch_check_vm_ser(struct kvm_kho_vm_ser *s);
int kvm_kho_arch_check_vcpu_ser(struct kvm_kho_vcpu_ser *s, size_t size);
int kvm_kho_arch_load_vcpu(struct kvm_vcpu *vcpu, struct kvm_kho_vm_ser *vm,
			   struct kvm_kho_vcpu_ser *s);
int kvm_kho_arch_save_vm(struct kvm *kvm, struct kvm_kho_vm_ser *s);
int kvm_kho_arch_create_vm(struct file *file, struct kvm_kho_vm_ser *s);
u64 kvm_kho_arch_blackout_us(struct kvm_kho_vm_ser *s);

#endif /* __KVM_KHO_INTERNAL_H */
