/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Intel VT-d handover: how a kernel going down leaves DMA remapping on
 * for the devices it preserved, and tells the next kernel what the
 * hardware is translating through. drivers/iommu/kho/intel_kho.c writes
 * and reads it.
 *
 * At freeze the outgoing kernel builds, per remapping unit, a handover root
 * table whose context entries are those of the preserved devices only, each
 * pointing to a copy of its domain's second-level page table made at that
 * moment. All of these pages are preserved. On the kexec path it points
 * the unit at the handover root table (SRTP) and leaves translation
 * enabled, so those devices keep translating through the copies and every
 * other device is blocked. The next kernel finds the unit's root table
 * register pointing there, checks the tables against this record, and
 * adopts them as a kdump kernel adopts the tables of a crashed one.
 *
 * The record is the KHO node "intel-iommu" with three properties, arrays
 * of the structures below: "units", "domains" and "devices". The tables
 * themselves are VT-d formats, in legacy (not scalable) mode. The device
 * list says which functions were left translating even when the tables
 * turn out damaged, so that the next kernel keeps exactly those blocked.
 */
#ifndef _LINUX_KHO_ABI_INTEL_IOMMU_H
#define _LINUX_KHO_ABI_INTEL_IOMMU_H

#include <linux/types.h>

#define INTEL_KHO_NODE		"intel-iommu"
#define INTEL_KHO_VERSION	1

/* Bounds on what the next kernel accepts. */
#define INTEL_KHO_MAX_UNITS	64
#define INTEL_KHO_MAX_DOMAINS	256
#define INTEL_KHO_MAX_DEVICES	1024

/**
 * struct intel_kho_unit_ser - a remapping unit left translating
 * @reg_base: physical address of its register set (the DRHD's), which
 *	names it in the next kernel
 * @root: physical address of the handover root table, a preserved page
 * @version: INTEL_KHO_VERSION
 * @segment: its PCI segment
 * @reserved: zero
 */
struct intel_kho_unit_ser {
	u64 reg_base;
	u64 root;
	u32 version;
	u16 segment;
	u16 reserved;
};

/**
 * struct intel_kho_domain_ser - a domain some handover context entry uses
 * @reg_base: the unit it is on
 * @pgd: physical address of its top page table page, as the context entry
 *	gives it; every page table page below is a preserved page
 * @owner: a value its owner chose to find it by in the next kernel (the
 *	iommufd handler: the physical address of its record)
 * @did: its domain id on that unit, at least 2 (0 and 1 are the driver's)
 * @aw: the context entry's address width field (1: 3 levels, 2: 4, 3: 5)
 * @reserved: zero
 */
struct intel_kho_domain_ser {
	u64 reg_base;
	u64 pgd;
	u64 owner;
	u16 did;
	u8 aw;
	u8 reserved[5];
};

/**
 * struct intel_kho_device_ser - a PCI function left translating
 * @reg_base: the unit it is behind
 * @rid: its requester id, bus << 8 | devfn
 * @reserved: zero
 */
struct intel_kho_device_ser {
	u64 reg_base;
	u16 rid;
	u16 reserved[3];
};

#endif /* _LINUX_KHO_ABI_INTEL_IOMMU_H */
