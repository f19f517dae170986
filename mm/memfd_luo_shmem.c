// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update: put a preserved folio back into a shmem file's page cache.
 *
 * Needs three functions of mm/shmem.c that 6.12 keeps static; the kho-v
 * hook patch makes them visible and declares them in mm/internal.h:
 *
 *	int shmem_add_to_page_cache(struct folio *folio,
 *				    struct address_space *mapping,
 *				    pgoff_t index, void *expected, gfp_t gfp);
 *	int shmem_inode_acct_blocks(struct inode *inode, long pages);
 *	void shmem_recalc_inode(struct inode *inode, long alloced,
 *				long swapped);
 */
#include <linux/fs.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>

#include "internal.h"
#include "memfd_luo.h"

/**
 * memfd_luo_shmem_add_folio - insert a restored folio into a shmem file
 * @inode: a shmem inode nobody else can reach yet
 * @folio: a folio from kho_restore_folio(), not in any mapping; its
 *	contents are the file's data at @index
 * @index: page index, aligned to the folio's size and below i_size
 *
 * Does what shmem does for a folio it allocates: charges it to the current
 * memory cgroup, adds it to the page cache, accounts its blocks to the
 * inode and puts it on the LRU, dirty and up to date. The caller keeps its
 * own reference and drops it afterwards. On failure everything is undone:
 * the folio is as it was given, and may be given again.
 *
 * Return: 0, or a negative errno (-ENOMEM, -ENOSPC, -EEXIST) with the
 * folio left out of the file.
 */
int memfd_luo_shmem_add_folio(struct inode *inode, struct folio *folio,
			      pgoff_t index)
{
	struct address_space *mapping = inode->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	long nr = folio_nr_pages(folio);
	int err;

	if (!IS_ALIGNED(index, nr))
		return -EINVAL;

	/* as the page allocator prepares large folios for the page cache */
	if (folio_test_large(folio))
		folio_set_large_rmappable(folio);
	__folio_set_locked(folio);
	__folio_set_swapbacked(folio);
	__folio_mark_uptodate(folio);

	err = mem_cgroup_charge(folio, NULL, gfp);
	if (err)
		goto err_unlock;
	err = shmem_add_to_page_cache(folio, mapping, index, NULL, gfp);
	if (err)
		goto err_uncharge;
	err = shmem_inode_acct_blocks(inode, nr);
	if (err)
		goto err_remove;
	shmem_recalc_inode(inode, nr, 0);
	folio_add_lru(folio);
	/* a clean shmem folio may be dropped as a hole: this one holds data */
	folio_mark_dirty(folio);
	folio_unlock(folio);
	return 0;

err_remove:
	filemap_remove_folio(folio);
err_uncharge:
	/* a retry charges it again */
	mem_cgroup_uncharge(folio);
err_unlock:
	folio_unlock(folio);
	return err;
}
