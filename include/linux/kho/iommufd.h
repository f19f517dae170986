/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What iommufd's Live Update handler (drivers/iommu/kho/iommufd_luo.c)
 * offers the handlers of device files bound to a preserved iommufd:
 * vfio's, which carries the binding and the attachment of a device.
 */
#ifndef _LINUX_KHO_IOMMUFD_H
#define _LINUX_KHO_IOMMUFD_H

#include <linux/errno.h>
#include <linux/types.h>

struct file;
struct iommufd_ctx;
struct iommufd_device;

#if IS_ENABLED(CONFIG_IOMMUFD) && defined(CONFIG_IOMMUFD_LUO)
struct file *iommufd_luo_ctx_file(struct iommufd_ctx *ictx);
int iommufd_luo_device_pt(struct iommufd_device *idev, u32 *pt_id);
int iommufd_luo_device_set_id(struct iommufd_device *idev, u32 id);
#else
static inline struct file *iommufd_luo_ctx_file(struct iommufd_ctx *ictx)
{
	return NULL;
}

static inline int iommufd_luo_device_pt(struct iommufd_device *idev,
					u32 *pt_id)
{
	return -EOPNOTSUPP;
}

static inline int iommufd_luo_device_set_id(struct iommufd_device *idev,
					    u32 id)
{
	return -EOPNOTSUPP;
}
#endif

#endif /* _LINUX_KHO_IOMMUFD_H */
