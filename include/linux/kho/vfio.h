/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What vfio offers the Live Update handlers of its bus drivers
 * (drivers/vfio/vfio_luo.c): read what a device file is bound and
 * attached to, and in the next kernel open the device again the same way.
 */
#ifndef _LINUX_KHO_VFIO_H
#define _LINUX_KHO_VFIO_H

#include <linux/types.h>

struct file;
struct vfio_device;

/**
 * struct vfio_kho_state - what a vfio device file is bound and attached to
 * @device: the device
 * @iommufd: the iommufd file it is bound to, kept open by the device file
 * @devid: its device id in that iommufd
 * @pt_id: the paging HWPT it is attached to
 */
struct vfio_kho_state {
	struct vfio_device *device;
	struct file *iommufd;
	u32 devid;
	u32 pt_id;
};

struct vfio_device *vfio_kho_file_device(struct file *file);
int vfio_kho_file_state(struct file *file, struct vfio_kho_state *state);
bool vfio_kho_device_get(struct vfio_device *device);
void vfio_kho_device_put(struct vfio_device *device);
struct file *vfio_kho_open(struct vfio_device *device, struct file *iommufd,
			   u32 devid, u32 pt_id);

#endif /* _LINUX_KHO_VFIO_H */
