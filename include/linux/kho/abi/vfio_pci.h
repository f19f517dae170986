/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vfio-pci Live Update record: what a preserved vfio-pci device file
 * hands over to the next kernel. drivers/vfio/pci/vfio_pci_luo.c writes
 * and reads it.
 *
 * The device itself is not serialized: it keeps running through the
 * kexec, with its config space, BARs and DMA as they were, translated by
 * the IOMMU state its iommufd hands over. The record says which PCI
 * function it is, which iommufd of the session it was bound to, under
 * which device id, to which HWPT it was attached, and which interrupts
 * the VMM had wired to eventfds, so that the next kernel can give back a
 * file that is bound and attached the same way.
 *
 * It comes from the previous kernel: every field is checked before use.
 */
#ifndef _LINUX_KHO_ABI_VFIO_PCI_H
#define _LINUX_KHO_ABI_VFIO_PCI_H

#include <linux/types.h>

#define VFIO_PCI_LUO_COMPATIBLE	"vfio-pci-v1"
#define VFIO_PCI_LUO_MAGIC	0x31756c6f69636670ULL	/* "pfciolu1" */
#define VFIO_PCI_LUO_VERSION	1

/* struct vfio_pci_luo_ser.irq_index when no interrupt was wired */
#define VFIO_PCI_LUO_NO_IRQ	0xffffffff
/* The most vectors a record may name (MSI-X allows 2048) */
#define VFIO_PCI_LUO_MAX_VECTORS	2048

/**
 * struct vfio_pci_luo_ser - the record of a vfio-pci device file
 * @magic: VFIO_PCI_LUO_MAGIC
 * @version: VFIO_PCI_LUO_VERSION
 * @size: sizeof(struct vfio_pci_luo_ser)
 * @iommufd_token: the token of the iommufd, in the same session, that
 *	the device was bound to
 * @devid: the device's object id in that iommufd
 * @pt_id: the id of the paging HWPT it was attached to
 * @pci_segment: PCI segment of the function
 * @pci_rid: its requester id: bus << 8 | devfn
 * @vendor: its vendor id, as read from config space at freeze
 * @device: its device id, likewise
 * @irq_index: VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX or
 *	VFIO_PCI_MSIX_IRQ_INDEX, whichever was armed with eventfds at
 *	freeze, or VFIO_PCI_LUO_NO_IRQ
 * @irq_count: how many vectors of @irq_index were armed (0 with
 *	VFIO_PCI_LUO_NO_IRQ)
 * @reserved: zero
 */
struct vfio_pci_luo_ser {
	u64 magic;
	u32 version;
	u32 size;
	u64 iommufd_token;
	u32 devid;
	u32 pt_id;
	u16 pci_segment;
	u16 pci_rid;
	u16 vendor;
	u16 device;
	u32 irq_index;
	u32 irq_count;
	u64 reserved;
};

#endif /* _LINUX_KHO_ABI_VFIO_PCI_H */
