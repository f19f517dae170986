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
u64 iommufd_luo_ctx_owner(struct iommufd_ctx *ictx);
int iommufd_luo_check_pt(struct iommufd_ctx *ictx, u32 id);
int iommufd_luo_reserve_id(struct iommufd_ctx *ictx, u32 id);
void iommufd_luo_unreserve_id(struct iommufd_ctx *ictx, u32 id);
void iommufd_luo_device_set_id(struct iommufd_device *idev, u32 id);
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

static inline u64 iommufd_luo_ctx_owner(struct iommufd_ctx *ictx)
{
	return 0;
}

static inline int iommufd_luo_check_pt(struct iommufd_ctx *ictx, u32 id)
{
	return -EOPNOTSUPP;
}

static inline int iommufd_luo_reserve_id(struct iommufd_ctx *ictx, u32 id)
{
	return -EOPNOTSUPP;
}

static inline void iommufd_luo_unreserve_id(struct iommufd_ctx *ictx, u32 id)
{
}

static inline void iommufd_luo_device_set_id(struct iommufd_device *idev,
					     u32 id)
{
}
#endif

#endif /* _LINUX_KHO_IOMMUFD_H */
