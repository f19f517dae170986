// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio's part in carrying a device across a Live Update kexec.
 *
 * A VMM preserves the cdev file of a device it bound to an iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD) and attached to a HWPT. The bus driver's
 * Live Update handler (drivers/vfio/pci/vfio_pci_luo.c) asks here what
 * the file is bound and attached to. In the next kernel it asks for the
 * same device to be opened again, bound to the retrieved iommufd under
 * its old device id and attached to the same HWPT, with the driver told
 * to take the device as it finds it: running, not reset.
 *
 * Until then nobody else may open a device whose translation the
 * previous kernel handed over: an open would take its DMA away from the
 * guest and reset it.
 */
#define pr_fmt(fmt) "vfio: Live Update: " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/iommufd.h>
#include <linux/kho/iommu.h>
#include <linux/kho/iommufd.h>
#include <linux/kho/vfio.h>
#include <linux/vfio.h>

#include "vfio.h"

/**
 * vfio_kho_file_device - the device of a vfio device file
 * @file: any file
 *
 * Return: the device, which @file keeps registered, or NULL if @file is
 * not a vfio device file.
 */
struct vfio_device *vfio_kho_file_device(struct file *file)
{
	struct vfio_device_file *df = file->private_data;

	return file->f_op == &vfio_device_fops ? df->device : NULL;
}
EXPORT_SYMBOL_NS_GPL(vfio_kho_file_device, VFIO_KHO);

/**
 * vfio_kho_file_state - what a vfio device file is bound and attached to
 * @file: a vfio device file (vfio_kho_file_device())
 * @state: filled in on success
 *
 * Return: 0; -EINVAL for a file that was opened through a VFIO group or
 * that is not bound to an iommufd; -ENOENT if the device is attached to
 * no paging HWPT.
 */
int vfio_kho_file_state(struct file *file, struct vfio_kho_state *state)
{
	struct vfio_device_file *df = file->private_data;
	struct vfio_device *device = df->device;
	int err;

	if (df->group)
		return -EINVAL;
	mutex_lock(&device->dev_set->lock);
	/* paired with the smp_store_release() of a bind */
	if (!smp_load_acquire(&df->access_granted) || !df->iommufd ||
	    !device->iommufd_device) {
		err = -EINVAL;
		goto out_unlock;
	}
	state->device = device;
	state->iommufd = iommufd_luo_ctx_file(df->iommufd);
	state->devid = df->devid;
	err = iommufd_luo_device_pt(device->iommufd_device, &state->pt_id);
out_unlock:
	mutex_unlock(&device->dev_set->lock);
	return err;
}
EXPORT_SYMBOL_NS_GPL(vfio_kho_file_state, VFIO_KHO);

/**
 * vfio_kho_device_get - keep a device registered
 * @device: a device its driver is bound to, which the caller keeps so
 *	(holding the device lock, say)
 *
 * Return: true if the reference was taken; false if the device is being
 * unregistered.
 */
bool vfio_kho_device_get(struct vfio_device *device)
{
	return vfio_device_try_get_registration(device);
}
EXPORT_SYMBOL_NS_GPL(vfio_kho_device_get, VFIO_KHO);

/**
 * vfio_kho_device_put - drop what vfio_kho_device_get() took
 * @device: the device
 */
void vfio_kho_device_put(struct vfio_device *device)
{
	vfio_device_put_registration(device);
}
EXPORT_SYMBOL_NS_GPL(vfio_kho_device_put, VFIO_KHO);

/* Is the device carried for @ictx, and can it be bound and attached there? */
static int vfio_kho_can_open(struct vfio_device *device,
			     struct iommufd_ctx *ictx, u32 devid, u32 pt_id)
{
	u64 owner = iommufd_luo_ctx_owner(ictx);
	int ret;

	if (!iommu_kho_carried_by(device->dev, owner)) {
		dev_err(device->dev, "is not on the translation the retrieved iommufd handed over (%s): not given out as it is\n",
			iommu_kho_carried(device->dev) ?
			"another iommufd handed it over" :
			"none is handed over now");
		return -ENODEV;
	}
	if (iommufd_luo_check_pt(ictx, pt_id)) {
		dev_err(device->dev, "HWPT %u is not a paging HWPT of the retrieved iommufd\n",
			pt_id);
		return -ENOENT;
	}
	ret = iommufd_luo_reserve_id(ictx, devid);
	if (ret)
		dev_err(device->dev, "cannot have device id %u in the retrieved iommufd (%d): retrieve devices before making objects in it\n",
			devid, ret);
	return ret;
}

/**
 * vfio_kho_open - open a carried device again, bound and attached
 * @device: the device, with a vfio_kho_device_get() reference that this
 *	call takes over: the file returned holds it, or it is dropped
 * @iommufd: the retrieved iommufd to bind it to
 * @devid: the device id it had in that iommufd
 * @pt_id: the HWPT to attach it to
 *
 * The device must still translate through the domain @iommufd handed
 * over (iommu_kho_carried_by()), @pt_id must be a paging HWPT of
 * @iommufd and @devid free in it; nothing is done to the device
 * otherwise. It is then opened as VFIO_DEVICE_BIND_IOMMUFD opens it,
 * except that its driver is told to keep it running
 * (@device->kho_keep_running): no reset, no bus mastering turned off. It
 * gets @devid and is attached to @pt_id as VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * would. Should that attach fail, the device is closed as usual, which
 * resets it.
 *
 * Return: a device file, as a cdev open and a bind would give, or an
 * ERR_PTR(): -ENODEV for a device not carried for @iommufd, -ENOENT for a
 * bad @pt_id, -EBUSY if @devid is taken, -EINVAL if someone has the
 * device open already.
 */
struct file *vfio_kho_open(struct vfio_device *device, struct file *iommufd,
			   u32 devid, u32 pt_id)
{
	struct vfio_device_file *df;
	struct file *filep;
	bool reserved;
	int ret;

	df = vfio_allocate_device_file(device);
	if (IS_ERR(df)) {
		ret = PTR_ERR(df);
		goto err_put_registration;
	}
	ret = vfio_device_block_group(device);
	if (ret)
		goto err_free;

	mutex_lock(&device->dev_set->lock);
	df->iommufd = iommufd_ctx_from_file(iommufd);
	if (IS_ERR(df->iommufd)) {
		ret = PTR_ERR(df->iommufd);
		df->iommufd = NULL;
		goto err_unlock;
	}
	ret = vfio_kho_can_open(device, df->iommufd, devid, pt_id);
	if (ret)
		goto err_put_ctx;
	reserved = true;
	device->kho_keep_running = true;
	ret = vfio_df_open(df);
	device->kho_keep_running = false;
	if (ret)
		goto err_unreserve;
	if (!device->iommufd_device) {	/* bound without an IOMMU */
		ret = -ENODEV;
		goto err_close;
	}
	iommufd_luo_device_set_id(device->iommufd_device, devid);
	reserved = false;
	df->devid = devid;
	ret = device->ops->attach_ioas(device, &pt_id);
	if (ret) {
		dev_err(device->dev, "cannot attach to HWPT %u: %d\n", pt_id,
			ret);
		goto err_close;
	}
	filep = anon_inode_getfile("[vfio-device]", &vfio_device_fops, df,
				   O_RDWR);
	if (IS_ERR(filep)) {
		ret = PTR_ERR(filep);
		goto err_close;
	}
	/* as a cdev open leaves it: pread/pwrite, and one mapping for mmaps */
	filep->f_mode |= FMODE_PREAD | FMODE_PWRITE;
	filep->f_mapping = device->inode->i_mapping;
	device->cdev_opened = true;
	WRITE_ONCE(device->kho_held, false);
	/* paired with the smp_load_acquire() of the file's ioctls */
	smp_store_release(&df->access_granted, true);
	mutex_unlock(&device->dev_set->lock);
	return filep;

err_close:
	vfio_df_close(df);
err_unreserve:
	if (reserved)
		iommufd_luo_unreserve_id(df->iommufd, devid);
err_put_ctx:
	iommufd_ctx_put(df->iommufd);
err_unlock:
	mutex_unlock(&device->dev_set->lock);
	vfio_device_unblock_group(device);
err_free:
	kfree(df);
err_put_registration:
	vfio_device_put_registration(device);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_NS_GPL(vfio_kho_open, VFIO_KHO);

/**
 * vfio_kho_may_open - may @device be opened the usual way?
 * @device: a device about to be opened for the first time
 *
 * Not while a Live Update session of the previous kernel holds it (its
 * driver says so, @device->kho_held) and the IOMMU still translates for
 * it what the previous kernel handed over: the session may still
 * retrieve it, with its DMA going on. Finishing the session without
 * retrieving it releases it. A device whose iommufd alone was carried is
 * not held: its VMM opens it again as usual.
 *
 * Return: 0, or -EBUSY.
 */
int vfio_kho_may_open(struct vfio_device *device)
{
	if (!READ_ONCE(device->kho_held) || device->kho_keep_running ||
	    !iommu_kho_carried(device->dev))
		return 0;
	dev_warn_ratelimited(device->dev, "carried across the kexec by a Live Update session: retrieve it from the session, or finish the session, before opening it\n");
	return -EBUSY;
}

#if IS_ENABLED(CONFIG_VFIO_GROUP)
/**
 * vfio_kho_group_may_attach - may @group's devices get a new IOMMU domain?
 * @group: a group being given a container or an iommufd (the legacy path)
 *
 * Not while a device of it is held for a Live Update session
 * (vfio_kho_may_open()): the attach would take its DMA away from its
 * guest.
 *
 * Return: 0, or -EBUSY.
 */
int vfio_kho_group_may_attach(struct vfio_group *group)
{
	struct vfio_device *device;
	int ret = 0;

	mutex_lock(&group->device_lock);
	list_for_each_entry(device, &group->device_list, group_next)
		if (vfio_kho_may_open(device))
			ret = -EBUSY;
	mutex_unlock(&group->device_lock);
	return ret;
}
#endif
