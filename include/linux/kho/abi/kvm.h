/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM Live Update: the records of a preserved VM and its vCPUs.
 */
#ifndef _LINUX_KHO_ABI_KVM_H
#define _LINUX_KHO_ABI_KVM_H

#include <linux/bits.h>
#include <linux/kvm.h>
#include <linux/sizes.h>
#include <linux/types.h>

/**
 * DOC: KVM VM handover format
 *
 * This header is a contract between the kernel that preserves a running VM
 * and the kernel that rebuilds it. The file handler's compatible string is
 * KVM_KHO_COMPATIBLE; the VM and vCPU records carry their magic and
 * KVM_KHO_VERSION. A change to the layout needs a new version (and a new
 * compatible when the old kernel could misread the new records); a kernel
 * refuses a VM whose records it does not know, and that VM is not
 * retrieved while the rest of its session is.
 *
 * The Live Update file's data is the physical address of one preserved
 * block holding a struct kvm_kho_vm_ser, followed by its memslot records
 * and the physical addresses of its vCPU blocks. Each vCPU is one
 * preserved block holding a struct kvm_kho_vcpu_ser and its variable
 * parts. Both kernels are the same architecture and the structures of
 * <uapi/linux/kvm.h> are ABI, so they are stored as they are.
 */

#define KVM_KHO_COMPATIBLE	"kvm-vm-v1"
#define KVM_KHO_VM_MAGIC	0x316d76686f6b6d76ULL	/* "vmkohvm1" */
#define KVM_KHO_VCPU_MAGIC	0x3175637668766b6dULL	/* "mkvhvcu1" */
#define KVM_KHO_VERSION		1

/* Bounds on what is carried (and accepted from the previous kernel). */
#define KVM_KHO_MAX_SLOTS	512
#define KVM_KHO_MAX_VCPUS	1024
#define KVM_KHO_MAX_MSRS	512
#define KVM_KHO_MAX_XSAVE	SZ_64K
/* The largest block either kind of record may take. */
#define KVM_KHO_MAX_ORDER	5

/* struct kvm_kho_vm_ser.flags */
#define KVM_KHO_VM_IRQCHIP	BIT(0)	/* in-kernel PIC + IOAPIC */
#define KVM_KHO_VM_PIT		BIT(1)	/* in-kernel PIT */
#define KVM_KHO_VM_PIT_SPEAKER	BIT(2)	/* ... with the dummy speaker port */
#define KVM_KHO_VM_FLAGS	(KVM_KHO_VM_IRQCHIP | KVM_KHO_VM_PIT | \
				 KVM_KHO_VM_PIT_SPEAKER)

/**
 * struct kvm_kho_slot_ser - a memslot as the VM had it
 * @id: address space (bits 31:16) and slot id (bits 15:0), as
 *	KVM_SET_USER_MEMORY_REGION takes them
 * @flags: KVM_MEM_* flags
 * @gpa: guest physical address
 * @size: bytes
 */
struct kvm_kho_slot_ser {
	u32 id;
	u32 flags;
	u64 gpa;
	u64 size;
};

/**
 * struct kvm_kho_vm_ser - a preserved VM
 * @magic: KVM_KHO_VM_MAGIC
 * @version: KVM_KHO_VERSION
 * @flags: KVM_KHO_VM_*
 * @vm_type: the type it was created with
 * @nr_slots: memslot records that follow the structure
 * @nr_vcpus: vCPU block addresses that follow the memslot records
 * @reserved: zero
 * @host_tsc: the host TSC when the state was captured
 * @tsc_khz: the host TSC frequency
 * @kvmclock_ns: the VM's kvmclock when the state was captured
 * @pic: master and slave PIC (KVM_GET_IRQCHIP chips 0 and 1)
 * @ioapic: the IOAPIC (chip 2)
 * @pit: the PIT (KVM_GET_PIT2)
 */
struct kvm_kho_vm_ser {
	u64 magic;
	u32 version;
	u32 flags;
	u32 vm_type;
	u32 nr_slots;
	u32 nr_vcpus;
	u32 reserved;
	u64 host_tsc;
	u64 tsc_khz;
	u64 kvmclock_ns;
	struct kvm_irqchip pic[2];
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	/* struct kvm_kho_slot_ser slots[nr_slots]; u64 vcpus[nr_vcpus]; */
};

static inline size_t kvm_kho_vm_ser_size(u32 nr_slots, u32 nr_vcpus)
{
	return sizeof(struct kvm_kho_vm_ser) +
	       nr_slots * sizeof(struct kvm_kho_slot_ser) +
	       nr_vcpus * sizeof(u64);
}

static inline struct kvm_kho_slot_ser *kvm_kho_vm_slots(struct kvm_kho_vm_ser *s)
{
	return (struct kvm_kho_slot_ser *)(s + 1);
}

static inline u64 *kvm_kho_vm_vcpus(struct kvm_kho_vm_ser *s)
{
	return (u64 *)(kvm_kho_vm_slots(s) + s->nr_slots);
}

/**
 * struct kvm_kho_vcpu_ser - a preserved vCPU
 * @magic: KVM_KHO_VCPU_MAGIC
 * @vcpu_id: its id
 * @nr_msrs: MSR records that follow the structure
 * @nr_cpuid: CPUID entries that follow the MSRs
 * @xsave_size: bytes of XSAVE state that follow the CPUID entries
 * @tsc_flags: KVM_KHO_TSC_*
 * @reserved: zero
 * @host_tsc: the host TSC when the guest TSC (MSR_IA32_TSC) was read
 * @tsc_khz: the vCPU's TSC frequency (KVM_GET_TSC_KHZ)
 * @tsc_ratio: the vCPU's TSC scaling ratio to the host TSC
 * @regs: KVM_GET_REGS
 * @sregs: KVM_GET_SREGS
 * @xcrs: KVM_GET_XCRS
 * @events: KVM_GET_VCPU_EVENTS
 * @dregs: KVM_GET_DEBUGREGS
 * @mp_state: KVM_GET_MP_STATE
 * @pad: zero
 * @lapic: KVM_GET_LAPIC, if the VM has an in-kernel LAPIC
 */
struct kvm_kho_vcpu_ser {
	u64 magic;
	u32 vcpu_id;
	u32 nr_msrs;
	u32 nr_cpuid;
	u32 xsave_size;
	u32 tsc_flags;
	u32 reserved;
	u64 host_tsc;
	u64 tsc_khz;
	u64 tsc_ratio;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_mp_state mp_state;
	u32 pad;
	struct kvm_lapic_state lapic;
	/*
	 * struct kvm_msr_entry msrs[nr_msrs];
	 * struct kvm_cpuid_entry2 cpuid[nr_cpuid];
	 * u8 xsave[xsave_size];
	 */
};

/* struct kvm_kho_vcpu_ser.tsc_flags */
#define KVM_KHO_TSC_CATCHUP	BIT(0)	/* faster than the host: emulated */
#define KVM_KHO_TSC_FLAGS	KVM_KHO_TSC_CATCHUP

static inline size_t kvm_kho_vcpu_ser_size(u32 nr_msrs, u32 nr_cpuid,
					   u32 xsave_size)
{
	return sizeof(struct kvm_kho_vcpu_ser) +
	       nr_msrs * sizeof(struct kvm_msr_entry) +
	       nr_cpuid * sizeof(struct kvm_cpuid_entry2) + xsave_size;
}

static inline struct kvm_msr_entry *kvm_kho_vcpu_msrs(struct kvm_kho_vcpu_ser *s)
{
	return (struct kvm_msr_entry *)(s + 1);
}

static inline struct kvm_cpuid_entry2 *
kvm_kho_vcpu_cpuid(struct kvm_kho_vcpu_ser *s)
{
	return (struct kvm_cpuid_entry2 *)(kvm_kho_vcpu_msrs(s) + s->nr_msrs);
}

static inline u8 *kvm_kho_vcpu_xsave(struct kvm_kho_vcpu_ser *s)
{
	return (u8 *)(kvm_kho_vcpu_cpuid(s) + s->nr_cpuid);
}

#endif /* _LINUX_KHO_ABI_KVM_H */
