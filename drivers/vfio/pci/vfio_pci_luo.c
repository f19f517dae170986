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

/**
 * struct vfio_pci_luo_out - an outgoing device file
 * @node: in vfio_pci_luo_outgoing
 * @pdev: its function
 * @folio: its record, preserved
 */
struct vfio_pci_luo_out {
	struct list_head node;
	struct pci_dev *pdev;
	struct folio *folio;
};

/* Every device file preserved, for the IOMMU group check at freeze */
static LIST_HEAD(vfio_pci_luo_outgoing);
static DEFINE_MUTEX(vfio_pci_luo_lock);

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
	return vfio_kho_file_device(file);
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

/* Is every other device of @pdev's IOMMU group preserved too? */
static int vfio_pci_luo_group_peer(struct device *dev, void *data)
{
	struct vfio_pci_luo_out *out;

	if (dev == data)
		return 0;
	list_for_each_entry(out, &vfio_pci_luo_outgoing, node)
		if (&out->pdev->dev == dev)
			return 0;
	dev_warn(data, "shares its IOMMU group with %s, which is not preserved\n",
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
	err = iommu_group_for_each_dev(group, &vdev->pdev->dev,
				       vfio_pci_luo_group_peer);
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
	if (ser->magic != VFIO_PCI_LUO_MAGIC ||
	    ser->version != VFIO_PCI_LUO_VERSION ||
	    ser->size != sizeof(*ser))
		return "not a vfio-pci record of this version";
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
	device_lock(&pdev->dev);
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
	if (!iommu_kho_carried(&vdev->pdev->dev))
		pci_warn(vdev->pdev, "its IOMMU no longer translates what the previous kernel handed over: its DMA stopped at the kexec\n");
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
	if (ser->irq_index != VFIO_PCI_LUO_NO_IRQ) {
		mutex_lock(&vdev->igate);
		vdev->kho_kick = true;
		vdev->kho_kick_index = ser->irq_index;
		mutex_unlock(&vdev->igate);
	}
	pci_info(vdev->pdev, "retrieved, not reset: device %u on HWPT %u; %u interrupt vectors of index %u to arm again\n",
		 ser->devid, ser->pt_id, ser->irq_count,
		 ser->irq_index == VFIO_PCI_LUO_NO_IRQ ? 0 : ser->irq_index);
	args->file = file;
	return 0;
}

static void vfio_pci_luo_finish(struct liveupdate_file_op_args *args)
{
	struct folio *folio = args->private_data;

	/*
	 * A device never retrieved is left as it is: its iommufd, finished
	 * after it, blocks its DMA, and only then may it be opened and reset.
	 */
	if (!folio && !args->retrieved)
		folio = vfio_pci_luo_claim(args->serialized_data);
	if (!IS_ERR_OR_NULL(folio))
		folio_put(folio);
	args->private_data = NULL;
}

/**
 * vfio_pci_kho_enable - take a carried device as it is, on its first open
 * @vdev: the device, opened by vfio_kho_open()
 *
 * Called by vfio_pci_core_enable() instead of resetting the device: it
 * is running for a guest. The state saved for the resets of later opens
 * is the state now, with bus mastering off.
 *
 * Return: 0 if the device could have been reset (it can be on close), or
 * -ENOTTY, as a reset attempt would have returned.
 */
int vfio_pci_kho_enable(struct vfio_pci_core_device *vdev)
{
	pci_info(vdev->pdev, "carried across the kexec: opened as it is, without a reset\n");
	return vdev->pdev->reset_methods[0] ? 0 : -ENOTTY;
}

/**
 * vfio_pci_kho_saved_state - fix up the state saved on a carried device's open
 * @vdev: the device, opened by vfio_kho_open()
 *
 * The state restored after a later reset must not turn bus mastering on.
 */
void vfio_pci_kho_saved_state(struct vfio_pci_core_device *vdev)
{
	vdev->pdev->saved_config_space[PCI_COMMAND / 4] &= ~PCI_COMMAND_MASTER;
}

/**
 * vfio_pci_kho_keep_awake - keep a carried device out of runtime suspend
 * @vdev: a device vfio-pci is being bound to
 *
 * A device the previous kernel left running for a guest must not go to
 * D3hot while it waits to be retrieved: coming back from it may reset it.
 */
void vfio_pci_kho_keep_awake(struct vfio_pci_core_device *vdev)
{
	if (!iommu_kho_carried(&vdev->pdev->dev))
		return;
	pci_info(vdev->pdev, "carried across the kexec: kept in D0 while bound\n");
	vdev->disable_idle_d3 = true;
}

/**
 * vfio_pci_kho_take_kick - signal the re-armed vectors once?
 * @vdev: the device, its igate held
 * @index: the IRQ index just armed with eventfds
 *
 * Return: true the first time @index, armed at freeze in the previous
 * kernel, is armed again after a retrieve.
 */
bool vfio_pci_kho_take_kick(struct vfio_pci_core_device *vdev,
			    unsigned int index)
{
	lockdep_assert_held(&vdev->igate);
	if (!vdev->kho_kick || vdev->kho_kick_index != index)
		return false;
	vdev->kho_kick = false;
	return true;
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

void vfio_pci_luo_init(void)
{
	int err;

	if (!liveupdate_enabled())
		return;
	err = liveupdate_register_file_handler(&vfio_pci_luo_handler);
	if (err)
		pr_warn("handler not registered, devices cannot be preserved: %d\n",
			err);
}

void vfio_pci_luo_exit(void)
{
	if (liveupdate_enabled())
		WARN_ON(liveupdate_unregister_file_handler(&vfio_pci_luo_handler));
}
