// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update: put a preserved huge page back into a hugetlbfs memfd.
 *
 * The folio comes back from KHO as a plain compound page of the huge page
 * order. It is made a hugetlb folio in use and counted as a surplus page of
 * its hstate: the persistent pool (nr_hugepages) does not change, and once
 * the file lets go of it the page returns to the page allocator like any
 * surplus page. Its index is recorded in the inode's reservation map, as a
 * fault on a shared mapping would, so truncation and eviction balance the
 * reservation counts.
 *
 * Needs three functions of mm/hugetlb.c that 6.12 keeps static; the kho-v
 * hook patch makes them visible and declares them in mm/internal.h:
 *
 *	long region_chg(struct resv_map *resv, long f, long t,
 *			long *out_regions_needed);
 *	long region_add(struct resv_map *resv, long f, long t,
 *			long in_regions_needed, struct hstate *h,
 *			struct hugetlb_cgroup *h_cg);
 *	void region_abort(struct resv_map *resv, long f, long t,
 *			  long regions_needed);
 */
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/hugetlb_cgroup.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/spinlock.h>

#include "internal.h"
#include "memfd_luo.h"

/* As mm/hugetlb.c finds it: always through the inode's own i_data. */
static struct resv_map *memfd_luo_resv_map(struct inode *inode)
{
	return (struct resv_map *)inode->i_data.i_private_data;
}

/* Make a restored compound page a hugetlb folio in use, counted as surplus. */
static void memfd_luo_hugetlb_adopt(struct hstate *h, struct folio *folio)
{
	int nid = folio_nid(folio);

	__folio_set_hugetlb(folio);
	hugetlb_set_folio_subpool(folio, NULL);
	set_hugetlb_cgroup(folio, NULL);
	set_hugetlb_cgroup_rsvd(folio, NULL);

	spin_lock_irq(&hugetlb_lock);
	h->nr_huge_pages++;
	h->nr_huge_pages_node[nid]++;
	h->surplus_huge_pages++;
	h->surplus_huge_pages_node[nid]++;
	list_add(&folio->lru, &h->hugepage_activelist);
	spin_unlock_irq(&hugetlb_lock);
}

/**
 * memfd_luo_hugetlb_add_folio - insert a restored huge page into a memfd
 * @inode: a hugetlbfs inode of an internal (memfd) mount, nobody else can
 *	reach it yet
 * @folio: a folio from kho_restore_folio(), of the hstate's order
 * @index: page index (in base pages), aligned to the huge page size
 *
 * The caller keeps its own reference and drops it afterwards. A folio that
 * did not make it into the file may already be a surplus huge page: it can
 * be given again, and dropping the last reference frees it as one.
 *
 * Return: 0; -EINVAL for a folio or index that does not fit the hstate, or
 * a file with a subpool; -ENOMEM; -EEXIST.
 */
int memfd_luo_hugetlb_add_folio(struct inode *inode, struct folio *folio,
				pgoff_t index)
{
	struct resv_map *resv = memfd_luo_resv_map(inode);
	struct hstate *h = hstate_inode(inode);
	long chg, regions_needed;
	pgoff_t hindex;
	int err;

	if (folio_order(folio) != huge_page_order(h) ||
	    !IS_ALIGNED(index, pages_per_huge_page(h)))
		return -EINVAL;
	/* memfds live on the subpool-less internal mounts */
	if (!resv || HUGETLBFS_SB(inode->i_sb)->spool)
		return -EINVAL;
	hindex = index >> huge_page_order(h);

	chg = region_chg(resv, hindex, hindex + 1, &regions_needed);
	if (chg < 0)
		return chg;

	/* adopted by an earlier call whose add failed */
	if (!folio_test_hugetlb(folio))
		memfd_luo_hugetlb_adopt(h, folio);
	__folio_mark_uptodate(folio);
	err = hugetlb_add_to_page_cache(folio, inode->i_mapping, hindex);
	if (err) {
		region_abort(resv, hindex, hindex + 1, regions_needed);
		return err;
	}
	/* a region of one page never needs a new descriptor: cannot fail */
	region_add(resv, hindex, hindex + 1, regions_needed, h, NULL);
	folio_set_hugetlb_migratable(folio);
	folio_unlock(folio);
	return 0;
}
