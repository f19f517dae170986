/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks from shmem, hugetlbfs and memfd sealing into the memfd Live Update
 * handler (mm/memfd_luo.c), for a memfd that is preserved for the next
 * kernel. Each says what lock its caller holds.
 */
#ifndef _LINUX_MEMFD_LUO_H
#define _LINUX_MEMFD_LUO_H

#include <linux/types.h>

struct file;
struct hstate;
struct inode;

#ifdef CONFIG_LIVEUPDATE_MEMFD
void memfd_luo_seals_added(struct file *file, unsigned int seals);
bool memfd_luo_is_preserved(struct inode *inode);
int memfd_luo_check_new_folio(struct inode *inode);
#else
static inline void memfd_luo_seals_added(struct file *file,
					 unsigned int seals)
{
}

static inline bool memfd_luo_is_preserved(struct inode *inode)
{
	return false;
}

static inline int memfd_luo_check_new_folio(struct inode *inode)
{
	return 0;
}
#endif

/* from hugetlb's boot allocation, see mm/memfd_luo_hugetlb.c */
#if defined(CONFIG_LIVEUPDATE_MEMFD) && defined(CONFIG_HUGETLBFS)
void memfd_luo_hugetlb_boot_pool(struct hstate *h);
void memfd_luo_hugetlb_pool_resized(struct hstate *h);
#else
static inline void memfd_luo_hugetlb_boot_pool(struct hstate *h)
{
}

static inline void memfd_luo_hugetlb_pool_resized(struct hstate *h)
{
}
#endif

#endif /* _LINUX_MEMFD_LUO_H */
