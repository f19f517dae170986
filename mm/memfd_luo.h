/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page cache insertion for the memfd Live Update handler (mm/memfd_luo.c):
 * putting a folio the previous kernel preserved back into a new shmem or
 * hugetlbfs file, with the accounting those filesystems expect.
 */
#ifndef _MM_MEMFD_LUO_H
#define _MM_MEMFD_LUO_H

#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/types.h>

struct folio;
struct inode;

int memfd_luo_shmem_add_folio(struct inode *inode, struct folio *folio,
			      pgoff_t index);

#ifdef CONFIG_HUGETLBFS
int memfd_luo_hugetlb_add_folio(struct inode *inode, struct folio *folio,
				pgoff_t index);
void memfd_luo_hugetlb_free_folio(struct folio *folio);
int memfd_luo_hugetlb_count(unsigned int order, int nid, long delta);
#else
static inline int memfd_luo_hugetlb_add_folio(struct inode *inode,
					      struct folio *folio,
					      pgoff_t index)
{
	return -EOPNOTSUPP;
}

static inline void memfd_luo_hugetlb_free_folio(struct folio *folio)
{
	folio_put(folio);
}

static inline int memfd_luo_hugetlb_count(unsigned int order, int nid,
					  long delta)
{
	return -EOPNOTSUPP;
}
#endif

#endif /* _MM_MEMFD_LUO_H */
