/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IOMMU translation kept on across a Live Update kexec, for the devices of
 * a preserved iommufd. The iommufd Live Update handler drives it; the
 * IOMMU driver does the work (Intel VT-d: drivers/iommu/kho/intel_kho.c).
 */
#ifndef _LINUX_KHO_IOMMU_H
#define _LINUX_KHO_IOMMU_H

#include <linux/errno.h>
#include <linux/types.h>

struct device;
struct iommu_domain;

#ifdef CONFIG_INTEL_IOMMU_KHO
int iommu_kho_check(struct device *dev);
int iommu_kho_preserve(struct device *dev, struct iommu_domain *domain,
		       u64 owner);
void iommu_kho_abort(void);
void iommu_kho_release(u64 owner);
void iommu_kho_release_all(void);
bool iommu_kho_keeps_dma(struct device *dev);
bool iommu_kho_handed_over(struct device *dev);
bool iommu_kho_carried(struct device *dev);
bool iommu_kho_carried_by(struct device *dev, u64 owner);
#else
static inline int iommu_kho_check(struct device *dev)
{
	return -EOPNOTSUPP;
}

static inline int iommu_kho_preserve(struct device *dev,
				     struct iommu_domain *domain, u64 owner)
{
	return -EOPNOTSUPP;
}

static inline void iommu_kho_abort(void) { }
static inline void iommu_kho_release(u64 owner) { }
static inline void iommu_kho_release_all(void) { }

static inline bool iommu_kho_keeps_dma(struct device *dev)
{
	return false;
}

static inline bool iommu_kho_handed_over(struct device *dev)
{
	return false;
}

static inline bool iommu_kho_carried(struct device *dev)
{
	return false;
}

static inline bool iommu_kho_carried_by(struct device *dev, u64 owner)
{
	return false;
}
#endif

#endif /* _LINUX_KHO_IOMMU_H */
