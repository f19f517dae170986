// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-pci Live Update: a passthrough device keeps running through a
 * kexec.
 *
 * A VMM preserves, in one session and in this order, the memfds of guest
 * RAM, the iommufd that maps them and then the cdev file of each vfio-pci
 * device bound to that iommufd and attached to one of its paging HWPTs.
 * Nothing about the device is stopped or saved: until the kexec it keeps
 * working for the guest, and through the kexec as well. Its iommufd hands
 * its translation over (include/linux/kho/iommu.h), the PCI core leaves
 * bus mastering on for it, and config space, BARs and the DMA in flight
 * stay as they are. The record (include/linux/kho/abi/vfio_pci.h) only
 * says which function it is and how the file was bound, attached and
 * wired to interrupts.
 *
 * The next kernel enumerates the function as it finds it and defers its
 * IOMMU attach; vfio-pci, once bound to it, keeps it out of runtime power
 * management, and vfio refuses anyone an open of it (vfio_kho_may_open()).
 * Retrieving the file opens the device bound to the retrieved iommufd
 * under its old device id and attached to its old HWPT, with no reset,
 * which switches its translation from the handed-over tables to the
 * HWPT's domain: same IOVAs, same pages.
 *
 * Interrupts: the enumeration turns MSI and MSI-X off, for the vectors
 * point at interrupt remapping entries of the previous kernel. The VMM
 * arms them again with VFIO_DEVICE_SET_IRQS; the first time it does so
 * for the index armed at freeze, each of the eventfds it passes is
 * signalled once, since an interrupt the device raised during the
 * blackout cannot be told apart from none. A spurious interrupt is
 * harmless to a guest driver; a lost one may hang it.
 *
 * Refused at preserve, with a message: files opened through a VFIO group
 * or not bound to an iommufd (EINVAL), devices attached to no paging HWPT
 * (EINVAL), an iommufd not preserved in the session first (ENOENT),
 * drivers other than vfio-pci itself, virtual functions and physical
 * functions with SR-IOV enabled (EOPNOTSUPP). Refused at freeze (EBUSY):
 * a device its iommufd does not keep translating, and a device sharing
 * its IOMMU group with a device that is not preserved.
 */
#define pr_fmt(fmt) "vfio-pci: Live Update: " fmt

#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/iommufd.h>
#include <linux/kho/abi/vfio_pci.h>
#include <linux/kho/iommu.h>
#include <linux/kho/vfio.h>
#include <linux/liveupdate.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/vfio_pci_core.h>

#include "vfio_pci_priv.h"

MODULE_IMPORT_NS(VFIO_KHO);

/**
 * struct vfio_pci_luo_out - an outgoing device file
 * @node: in vfio_pci_luo_outgoing
 * @pdev: its function
 * @session: the session it is preserved in
 * @folio: its record, preserved
 */
struct vfio_pci_luo_out {
	struct list_head node;
	struct pci_dev *pdev;
	struct luo_session *session;
	struct folio *folio;
};

/* Every device file preserved, for the IOMMU group check at freeze */
static LIST_HEAD(vfio_pci_luo_outgoing);
static DEFINE_MUTEX(vfio_pci_luo_lock);

/**
 * struct vfio_pci_luo_held - a function an incoming record names
 * @node: in vfio_pci_luo_held
 * @segment: its PCI segment
 * @rid: its requester id
 */
struct vfio_pci_luo_held {
	struct list_head node;
	u16 segment;
	u16 rid;
};

/*
 * The functions the records of the previous kernel name, until they are
 * retrieved: vfio refuses to open them any other way. A record that does
 * not check out names no function for sure, so then every function still
 * on handed-over translation is held. Under vfio_pci_luo_held_lock.
 */
static LIST_HEAD(vfio_pci_luo_held);
static bool vfio_pci_luo_hold_all;
static DEFINE_MUTEX(vfio_pci_luo_held_lock);

static bool vfio_pci_luo_is_vfio_pci(struct pci_dev *pdev)
{
	return pdev->driver && !strcmp(pdev->driver->name, "vfio-pci");
}

/*
 * The device of @args->file, checked for what a preserve needs; its
 * binding in @st. The file keeps the device bound to its driver.
 */
static struct vfio_pci_core_device *
vfio_pci_luo_check(struct liveupdate_file_op_args *args,
		   struct vfio_kho_state *st, u64 *token)
{
	struct pci_dev *pdev;
	int err;

	err = vfio_kho_file_state(args->file, st);
	if (err == -ENOENT) {
		dev_warn(st->device->dev, "cannot preserve: not attached to a paging HWPT of its iommufd\n");
		return ERR_PTR(-EINVAL);
	}
	if (err) {
		pr_warn("cannot preserve a device file not bound to an iommufd through its cdev (VFIO_DEVICE_BIND_IOMMUFD)\n");
		return ERR_PTR(-EINVAL);
	}
	if (!dev_is_pci(st->device->dev)) {
		dev_warn(st->device->dev, "cannot preserve: not a PCI function\n");
		return ERR_PTR(-EOPNOTSUPP);
	}
	pdev = to_pci_dev(st->device->dev);
	if (!vfio_pci_luo_is_vfio_pci(pdev)) {
		pci_warn(pdev, "cannot preserve: bound to %s, and only vfio-pci itself is carried\n",
			 pdev->driver ? pdev->driver->name : "no driver");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (pdev->is_virtfn) {
		pci_warn(pdev, "cannot preserve a virtual function\n");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (pci_num_vf(pdev)) {
		pci_warn(pdev, "cannot preserve a physical function with SR-IOV enabled\n");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (pci_domain_nr(pdev->bus) > 0xffff) {
		pci_warn(pdev, "cannot preserve a function of PCI segment above 0xffff\n");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (liveupdate_get_token_outgoing(args, st->iommufd, token)) {
		pci_warn(pdev, "cannot preserve: its iommufd is not preserved in the session; preserve the iommufd first\n");
		return ERR_PTR(-ENOENT);
	}
	err = iommu_kho_check(&pdev->dev);
	if (err)
		return ERR_PTR(err);
	return container_of(st->device, struct vfio_pci_core_device, vdev);
}

/* The interrupt index armed with eventfds, and how many vectors */
static void vfio_pci_luo_irqs(struct vfio_pci_core_device *vdev,
			      u32 *index, u32 *count)
{
	unsigned long i, n = 0;
	void *ctx;

	mutex_lock(&vdev->igate);
	*index = VFIO_PCI_LUO_NO_IRQ;
	if (vdev->irq_type == VFIO_PCI_INTX_IRQ_INDEX ||
	    vdev->irq_type == VFIO_PCI_MSI_IRQ_INDEX ||
	    vdev->irq_type == VFIO_PCI_MSIX_IRQ_INDEX) {
		*index = vdev->irq_type;
		xa_for_each(&vdev->ctx, i, ctx)
			n = i + 1;
	}
	mutex_unlock(&vdev->igate);
	*count = n;
}

static void vfio_pci_luo_fill(struct vfio_pci_luo_ser *ser,
			      struct vfio_pci_core_device *vdev,
			      struct vfio_kho_state *st, u64 token)
{
	struct pci_dev *pdev = vdev->pdev;

	memset(ser, 0, sizeof(*ser));
	ser->magic = VFIO_PCI_LUO_MAGIC;
	ser->version = VFIO_PCI_LUO_VERSION;
	ser->size = sizeof(*ser);
	ser->iommufd_token = token;
	ser->devid = st->devid;
	ser->pt_id = st->pt_id;
	ser->pci_segment = pci_domain_nr(pdev->bus);
	ser->pci_rid = pci_dev_id(pdev);
	ser->vendor = pdev->vendor;
	ser->device = pdev->device;
	vfio_pci_luo_irqs(vdev, &ser->irq_index, &ser->irq_count);
}

/* ----- outgoing ----- */

static bool vfio_pci_luo_can_preserve(struct liveupdate_file_handler *handler,
				      struct file *file)
{
	struct vfio_device *device = vfio_kho_file_device(file);

	return device && dev_is_pci(device->dev);
}

static int vfio_pci_luo_preserve(struct liveupdate_file_op_args *args)
{
	struct vfio_pci_core_device *vdev;
	struct vfio_pci_luo_out *out;
	struct vfio_kho_state st;
	u64 token;
	int err;

	vdev = vfio_pci_luo_check(args, &st, &token);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);
	out = kzalloc(sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	out->folio = folio_alloc(GFP_KERNEL | __GFP_ZERO, 0);
	if (!out->folio) {
		err = -ENOMEM;
		goto err_free;
	}
	vfio_pci_luo_fill(folio_address(out->folio), vdev, &st, token);
	err = kho_preserve_folio(out->folio);
	if (err)
		goto err_put;
	out->pdev = pci_dev_get(vdev->pdev);
	out->session = args->session;
	mutex_lock(&vfio_pci_luo_lock);
	list_add_tail(&out->node, &vfio_pci_luo_outgoing);
	mutex_unlock(&vfio_pci_luo_lock);
	args->private_data = out;
	args->serialized_data = PFN_PHYS(folio_pfn(out->folio));
	return 0;

err_put:
	folio_put(out->folio);
err_free:
	kfree(out);
	return err;
}

static void vfio_pci_luo_unpreserve(struct liveupdate_file_op_args *args)
{
	struct vfio_pci_luo_out *out = args->private_data;

	mutex_lock(&vfio_pci_luo_lock);
	list_del(&out->node);
	mutex_unlock(&vfio_pci_luo_lock);
	WARN_ON_ONCE(kho_unpreserve_folio(out->folio));
	folio_put(out->folio);
	pci_dev_put(out->pdev);
	kfree(out);
}

/* Is every other device of @me's IOMMU group preserved in its session? */
static int vfio_pci_luo_group_peer(struct device *dev, void *data)
{
	struct vfio_pci_luo_out *me = data, *out;

	if (dev == &me->pdev->dev)
		return 0;
	list_for_each_entry(out, &vfio_pci_luo_outgoing, node)
		if (&out->pdev->dev == dev && out->session == me->session)
			return 0;
	pci_warn(me->pdev, "shares its IOMMU group with %s, which is not preserved in the same session\n",
		 dev_name(dev));
	return -EBUSY;
}

static int vfio_pci_luo_freeze(struct liveupdate_file_op_args *args)
{
	struct vfio_pci_luo_out *out = args->private_data;
	struct vfio_pci_core_device *vdev;
	struct iommu_group *group;
	struct vfio_kho_state st;
	u64 token;
	int err;

	vdev = vfio_pci_luo_check(args, &st, &token);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);
	if (!iommu_kho_handed_over(&vdev->pdev->dev)) {
		pci_err(vdev->pdev, "its iommufd does not keep it translating across the kexec: preserve the iommufd before it, with the device attached\n");
		return -EBUSY;
	}
	group = iommu_group_get(&vdev->pdev->dev);
	if (!group)
		return -ENODEV;
	mutex_lock(&vfio_pci_luo_lock);
	err = iommu_group_for_each_dev(group, out, vfio_pci_luo_group_peer);
	mutex_unlock(&vfio_pci_luo_lock);
	iommu_group_put(group);
	if (err)
		return err;

	vfio_pci_luo_fill(folio_address(out->folio), vdev, &st, token);
	pci_info(vdev->pdev, "frozen: device %u on HWPT %u keeps running through the kexec\n",
		 st.devid, st.pt_id);
	return 0;
}

/* ----- incoming ----- */

static const char *vfio_pci_luo_check_ser(const struct vfio_pci_luo_ser *ser)
{
	if (ser->magic != VFIO_PCI_LUO_MAGIC)
		return "not a vfio-pci record";
	if (ser->version != VFIO_PCI_LUO_VERSION)
		return "a vfio-pci record of a version this kernel does not read";
	if (ser->size != sizeof(*ser))
		return "a vfio-pci record of another size";
	if (ser->reserved)
		return "reserved bits set";
	if (!ser->devid || ser->devid > INT_MAX ||
	    !ser->pt_id || ser->pt_id > INT_MAX)
		return "a bad device or HWPT id";
	if (ser->irq_index == VFIO_PCI_LUO_NO_IRQ)
		return ser->irq_count ? "vectors of no interrupt" : NULL;
	if (ser->irq_index > VFIO_PCI_MSIX_IRQ_INDEX || !ser->irq_count ||
	    ser->irq_count > VFIO_PCI_LUO_MAX_VECTORS)
		return "bad interrupts";
	return NULL;
}

/* Check the record at @phys in place, then claim it */
static struct folio *vfio_pci_luo_claim(phys_addr_t phys)
{
	struct folio *folio;
	const char *why;

	if (!PAGE_ALIGNED(phys) || !kho_is_preserved(phys, 0)) {
		pr_err("no preserved vfio-pci record at %pa\n", &phys);
		return ERR_PTR(-EINVAL);
	}
	why = vfio_pci_luo_check_ser(phys_to_virt(phys));
	if (why) {
		pr_err("the vfio-pci record at %pa is corrupt: %s; its device is left as it is\n",
		       &phys, why);
		return ERR_PTR(-EINVAL);
	}
	folio = kho_restore_folio(phys);
	if (WARN_ON_ONCE(!folio))
		return ERR_PTR(-EINVAL);
	return folio;
}

/* What vfio_pci_luo_scan() learns, before it is published */
struct vfio_pci_luo_scan {
	struct list_head held;
	bool hold_all;
};

/* Note the function an incoming record names (liveupdate_walk_incoming) */
static int vfio_pci_luo_note_held(u64 phys, void *arg)
{
	const struct vfio_pci_luo_ser *ser = phys_to_virt(phys);
	struct vfio_pci_luo_scan *scan = arg;
	struct vfio_pci_luo_held *h;

	if (!PAGE_ALIGNED(phys) || !kho_is_preserved(phys, 0) ||
	    vfio_pci_luo_check_ser(ser)) {
		scan->hold_all = true;
		return 0;
	}
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->segment = ser->pci_segment;
	h->rid = ser->pci_rid;
	list_add_tail(&h->node, &scan->held);
	return 0;
}

/* Does an incoming record, not yet retrieved, hold @pdev? */
static bool vfio_pci_luo_holds(struct pci_dev *pdev)
{
	struct vfio_pci_luo_held *h;
	bool held;

	mutex_lock(&vfio_pci_luo_held_lock);
	held = vfio_pci_luo_hold_all && iommu_kho_carried(&pdev->dev);
	list_for_each_entry(h, &vfio_pci_luo_held, node)
		if (h->segment == pci_domain_nr(pdev->bus) &&
		    h->rid == pci_dev_id(pdev))
			held = true;
	mutex_unlock(&vfio_pci_luo_held_lock);
	return held;
}

/* The function of a retrieved record is no longer held */
static void vfio_pci_luo_unhold(const struct vfio_pci_luo_ser *ser)
{
	struct vfio_pci_luo_held *h, *tmp;

	mutex_lock(&vfio_pci_luo_held_lock);
	list_for_each_entry_safe(h, tmp, &vfio_pci_luo_held, node) {
		if (h->segment == ser->pci_segment && h->rid == ser->pci_rid) {
			list_del(&h->node);
			kfree(h);
		}
	}
	mutex_unlock(&vfio_pci_luo_held_lock);
}

/* Mark @pdev's vfio device held, if vfio-pci drives it and a record holds it */
static void vfio_pci_luo_mark_held(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev;

	if (!vfio_pci_luo_holds(pdev))
		return;
	device_lock(&pdev->dev);
	if (vfio_pci_luo_is_vfio_pci(pdev)) {
		vdev = dev_get_drvdata(&pdev->dev);
		WRITE_ONCE(vdev->vdev.kho_held, true);
	}
	device_unlock(&pdev->dev);
}

/*
 * Learn which functions the previous kernel's records hold, once Live
 * Update has read the handover, and mark those vfio-pci already drives;
 * vfio_pci_kho_register() marks those it is bound to later.
 */
static int vfio_pci_luo_scan(void)
{
	struct vfio_pci_luo_scan scan = {
		.held = LIST_HEAD_INIT(scan.held),
	};
	struct pci_dev *pdev = NULL;
	int err;

	/* the Live Update mutex is taken before ours on retrieve: not here */
	err = liveupdate_walk_incoming(VFIO_PCI_LUO_COMPATIBLE,
				       vfio_pci_luo_note_held, &scan);
	if (err) {
		pr_err("cannot note the devices the previous kernel handed over: %d\n",
		       err);
		scan.hold_all = true;
	}
	mutex_lock(&vfio_pci_luo_held_lock);
	list_splice_tail(&scan.held, &vfio_pci_luo_held);
	vfio_pci_luo_hold_all |= scan.hold_all;
	mutex_unlock(&vfio_pci_luo_held_lock);
	if (scan.hold_all)
		pr_err("a device record of the previous kernel is corrupt: every device still on handed-over translation is held until its session is finished\n");
	for_each_pci_dev(pdev)
		vfio_pci_luo_mark_held(pdev);
	return 0;
}

/* The vfio-pci device of the record's function, with a registration */
static struct vfio_pci_core_device *
vfio_pci_luo_find(const struct vfio_pci_luo_ser *ser)
{
	struct vfio_pci_core_device *vdev = ERR_PTR(-ENODEV);
	struct pci_dev *pdev;

	pdev = pci_get_domain_bus_and_slot(ser->pci_segment, ser->pci_rid >> 8,
					   ser->pci_rid & 0xff);
	if (!pdev) {
		pr_err("PCI %04x:%02x:%02x.%d is gone\n", ser->pci_segment,
		       ser->pci_rid >> 8, PCI_SLOT(ser->pci_rid & 0xff),
		       PCI_FUNC(ser->pci_rid & 0xff));
		return vdev;
	}
	if (pdev->vendor != ser->vendor || pdev->device != ser->device) {
		pci_err(pdev, "is %04x:%04x now, not the %04x:%04x preserved\n",
			pdev->vendor, pdev->device, ser->vendor, ser->device);
		goto out_put;
	}
	/* an unbind may wait for a file Live Update holds: do not wait on it */
	if (!device_trylock(&pdev->dev)) {
		vdev = ERR_PTR(-EAGAIN);
		goto out_put;
	}
	if (!vfio_pci_luo_is_vfio_pci(pdev)) {
		pci_err(pdev, "is not bound to vfio-pci: bind it, then retrieve it again\n");
	} else {
		vdev = dev_get_drvdata(&pdev->dev);
		if (!vfio_kho_device_get(&vdev->vdev))
			vdev = ERR_PTR(-ENODEV);
	}
	device_unlock(&pdev->dev);
out_put:
	pci_dev_put(pdev);
	return vdev;
}

/*
 * The MSI or MSI-X vectors wired before the kexec, to signal once each
 * when they are armed again. INTx is not: nothing can say it fired.
 */
static void vfio_pci_luo_set_kick(struct vfio_pci_core_device *vdev,
				  const struct vfio_pci_luo_ser *ser)
{
	unsigned long *kick;

	if (ser->irq_index != VFIO_PCI_MSI_IRQ_INDEX &&
	    ser->irq_index != VFIO_PCI_MSIX_IRQ_INDEX)
		return;
	kick = bitmap_zalloc(ser->irq_count, GFP_KERNEL);
	if (!kick) {
		pci_warn(vdev->pdev, "no memory to signal its vectors on re-arm: an interrupt of the blackout may be lost\n");
		return;
	}
	bitmap_fill(kick, ser->irq_count);
	mutex_lock(&vdev->igate);
	bitmap_free(vdev->kho_kick);
	vdev->kho_kick = kick;
	vdev->kho_kick_nr = ser->irq_count;
	vdev->kho_kick_index = ser->irq_index;
	mutex_unlock(&vdev->igate);
}

static int vfio_pci_luo_retrieve(struct liveupdate_file_op_args *args)
{
	struct folio *folio = args->private_data;
	struct vfio_pci_core_device *vdev;
	struct vfio_pci_luo_ser *ser;
	struct file *iommufd, *file;
	int err;

	/* A failed retrieve keeps the claimed record for the next try */
	if (!folio) {
		folio = vfio_pci_luo_claim(args->serialized_data);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		args->private_data = folio;
	}
	ser = folio_address(folio);
	vdev = vfio_pci_luo_find(ser);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);
	err = liveupdate_get_file_incoming(args, ser->iommufd_token,
					   IOMMUFD_LUO_COMPATIBLE, &iommufd);
	if (err) {
		pci_err(vdev->pdev, "its iommufd (token %llu) cannot be retrieved: %d\n",
			ser->iommufd_token, err);
		vfio_kho_device_put(&vdev->vdev);
		return err;
	}
	file = vfio_kho_open(&vdev->vdev, iommufd, ser->devid, ser->pt_id);
	fput(iommufd);
	if (IS_ERR(file)) {
		pci_err(vdev->pdev, "cannot be opened again: %ld\n",
			PTR_ERR(file));
		return PTR_ERR(file);
	}
	vfio_pci_luo_unhold(ser);
	vfio_pci_luo_set_kick(vdev, ser);
	if (ser->irq_index == VFIO_PCI_LUO_NO_IRQ)
		pci_info(vdev->pdev, "retrieved, not reset: device %u on HWPT %u; no interrupts were wired\n",
			 ser->devid, ser->pt_id);
	else
		pci_info(vdev->pdev, "retrieved, not reset: device %u on HWPT %u; %u vectors of IRQ index %u to arm again\n",
			 ser->devid, ser->pt_id, ser->irq_count,
			 ser->irq_index);
	args->file = file;
	return 0;
}

/* Turn off bus mastering of a device whose record was never retrieved */
static void vfio_pci_luo_stop(const struct vfio_pci_luo_ser *ser)
{
	struct pci_dev *pdev;

	vfio_pci_luo_unhold(ser);
	pdev = pci_get_domain_bus_and_slot(ser->pci_segment, ser->pci_rid >> 8,
					   ser->pci_rid & 0xff);
	if (!pdev)
		return;
	if (pdev->vendor == ser->vendor && pdev->device == ser->device &&
	    iommu_kho_carried(&pdev->dev)) {
		pci_info(pdev, "not retrieved: bus mastering turned off, its DMA blocked\n");
		pci_clear_master(pdev);
	}
	pci_dev_put(pdev);
}

static void vfio_pci_luo_finish(struct liveupdate_file_op_args *args)
{
	struct folio *folio = args->private_data;

	/*
	 * A device never retrieved is stopped: its iommufd, finished after
	 * it, blocks its DMA, and a device left mastering would only fault.
	 * It is not reset: that is for whoever opens it next.
	 */
	if (!folio && !args->retrieved)
		folio = vfio_pci_luo_claim(args->serialized_data);
	if (!IS_ERR_OR_NULL(folio) && !args->retrieved)
		vfio_pci_luo_stop(folio_address(folio));
	if (!IS_ERR_OR_NULL(folio))
		folio_put(folio);
	args->private_data = NULL;
}

/**
 * vfio_pci_kho_enable - take a carried device as it is, on its first open
 * @vdev: the device, opened by vfio_kho_open()
 *
 * Called by vfio_pci_core_enable() instead of resetting the device: it
 * is running for a guest. INTx stays disabled until the VMM arms an
 * interrupt.
 *
 * Return: 0 if the device could have been reset (it can be on close), or
 * -ENOTTY, as a reset attempt would have returned.
 */
int vfio_pci_kho_enable(struct vfio_pci_core_device *vdev)
{
	pci_info(vdev->pdev, "carried across the kexec: opened as it is, without a reset\n");
	/*
	 * MSI went off at enumeration, and enabling the device turned INTx
	 * on: until the VMM arms its vectors again, an interrupt would be a
	 * level INTx nobody handles.
	 */
	pci_intx(vdev->pdev, 0);
	return vdev->pdev->reset_methods[0] ? 0 : -ENOTTY;
}

/**
 * vfio_pci_kho_saved_state - fix up the state saved on a carried device's open
 * @vdev: the device, opened by vfio_kho_open()
 *
 * The state restored after a later reset is the state now, as a reset
 * would have left the command register: no bus mastering, INTx enabled.
 */
void vfio_pci_kho_saved_state(struct vfio_pci_core_device *vdev)
{
	vdev->pdev->saved_config_space[PCI_COMMAND / 4] &=
		~(PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
}

/**
 * vfio_pci_kho_register - vfio-pci is being bound to a device
 * @vdev: the device
 *
 * A device the previous kernel left running for a guest must not go to
 * D3hot while it waits to be retrieved: coming back from it may reset it.
 * One a record of the previous kernel names is held: vfio refuses to
 * open it except for that record's retrieve.
 */
void vfio_pci_kho_register(struct vfio_pci_core_device *vdev)
{
	if (!iommu_kho_carried(&vdev->pdev->dev))
		return;
	pci_info(vdev->pdev, "carried across the kexec: kept in D0 while bound\n");
	vdev->disable_idle_d3 = true;
	if (vfio_pci_luo_holds(vdev->pdev)) {
		pci_info(vdev->pdev, "held by its Live Update session: only retrieving it opens it\n");
		vdev->vdev.kho_held = true;
	}
}

/**
 * vfio_pci_kho_take_kick - signal a re-armed vector once?
 * @vdev: the device, its igate held
 * @index: the IRQ index just armed with eventfds
 * @vector: a vector of it given an eventfd
 *
 * Return: true the first time @vector of @index, wired at freeze in the
 * previous kernel, is given an eventfd after the retrieve.
 */
bool vfio_pci_kho_take_kick(struct vfio_pci_core_device *vdev,
			    unsigned int index, unsigned int vector)
{
	lockdep_assert_held(&vdev->igate);
	if (!vdev->kho_kick || index != vdev->kho_kick_index ||
	    vector >= vdev->kho_kick_nr)
		return false;
	return test_and_clear_bit(vector, vdev->kho_kick);
}

/**
 * vfio_pci_kho_close - the device file is closed
 * @vdev: the device, its igate held
 *
 * Vectors not armed again by then are not signalled for the next user.
 */
void vfio_pci_kho_close(struct vfio_pci_core_device *vdev)
{
	lockdep_assert_held(&vdev->igate);
	bitmap_free(vdev->kho_kick);
	vdev->kho_kick = NULL;
	vdev->kho_kick_nr = 0;
}

/**
 * vfio_pci_kho_dev_set_busy - is a device of @dev_set running for a guest?
 * @dev_set: the devices a bus or slot reset would hit, its lock held
 *
 * A device still on the translation the previous kernel handed over is
 * running for a guest it has not been given back to: no reset of others
 * may hit it.
 *
 * Return: true if such a device is in @dev_set.
 */
bool vfio_pci_kho_dev_set_busy(struct vfio_device_set *dev_set)
{
	struct vfio_pci_core_device *cur;

	lockdep_assert_held(&dev_set->lock);
	list_for_each_entry(cur, &dev_set->device_list, vdev.dev_set_list)
		if (iommu_kho_carried(&cur->pdev->dev))
			return true;
	return false;
}

static const struct liveupdate_file_ops vfio_pci_luo_ops = {
	.can_preserve = vfio_pci_luo_can_preserve,
	.preserve = vfio_pci_luo_preserve,
	.unpreserve = vfio_pci_luo_unpreserve,
	.freeze = vfio_pci_luo_freeze,
	.retrieve = vfio_pci_luo_retrieve,
	.finish = vfio_pci_luo_finish,
};

static struct liveupdate_file_handler vfio_pci_luo_handler = {
	.ops = &vfio_pci_luo_ops,
	.compatible = VFIO_PCI_LUO_COMPATIBLE,
	.owner = THIS_MODULE,
};

static bool vfio_pci_luo_registered;

void vfio_pci_luo_init(void)
{
	int err;

	if (!liveupdate_enabled())
		return;
	err = liveupdate_register_file_handler(&vfio_pci_luo_handler);
	if (err)
		pr_warn("handler not registered, devices cannot be preserved: %d\n",
			err);
	vfio_pci_luo_registered = !err;
#ifdef MODULE
	/* loaded after boot: Live Update has read the handover already */
	vfio_pci_luo_scan();
#endif
}

void vfio_pci_luo_exit(void)
{
	struct vfio_pci_luo_held *h, *tmp;

	if (vfio_pci_luo_registered)
		WARN_ON(liveupdate_unregister_file_handler(&vfio_pci_luo_handler));
	list_for_each_entry_safe(h, tmp, &vfio_pci_luo_held, node)
		kfree(h);
}

#ifndef MODULE
/* Built in: after Live Update reads the handover, at late_initcall */
static int __init vfio_pci_luo_scan_at_boot(void)
{
	if (liveupdate_enabled())
		vfio_pci_luo_scan();
	return 0;
}
late_initcall_sync(vfio_pci_luo_scan_at_boot);
#endif
