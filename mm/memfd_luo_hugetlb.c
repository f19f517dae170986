// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update: put a preserved huge page back into a hugetlbfs memfd.
 *
 * The folio comes back from KHO as a plain compound page of the huge page
 * order and is made a hugetlb folio in use. If this kernel's boot pool of
 * that size left pages out for the preserved ones (the pool handover
 * below), it joins the persistent pool, as the page it was in the previous
 * kernel; otherwise it is counted as a surplus page, and once the file
 * lets go of it the page returns to the page allocator like any surplus
 * page. Its index is recorded in the inode's reservation map, as a fault
 * on a shared mapping would, so truncation and eviction balance the
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
#include <linux/init.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/memfd.h>
#include <linux/memfd_luo.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/nodemask.h>
#include <linux/notifier.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string_helpers.h>

#include "internal.h"
#include "memfd_luo.h"

/* As mm/hugetlb.c finds it: always through the inode's own i_data. */
static struct resv_map *memfd_luo_resv_map(struct inode *inode)
{
	return (struct resv_map *)inode->i_data.i_private_data;
}

/*
 * Incoming: pages of each hstate's boot pool left out for preserved pages
 * and not made up yet, by the node the preserved pages are on, and in
 * all. Under hugetlb_lock. Sized like struct hstate's own per-node counts.
 */
static unsigned long memfd_luo_pool_pending[HUGE_MAX_HSTATE][MAX_NUMNODES];
static unsigned long memfd_luo_pool_pending_all[HUGE_MAX_HSTATE];

/* "2.00 MiB", for the log */
static char *memfd_luo_size(struct hstate *h, char *buf, size_t len)
{
	string_get_size(huge_page_size(h), 1, STRING_UNITS_2, buf, len);
	return buf;
}

/* Called with hugetlb_lock held, once pending of @h dropped to zero. */
static void memfd_luo_pool_made_up(struct hstate *h)
{
	char size[32];

	pr_info("HugeTLB: %s pages: the boot pool is whole again\n",
		memfd_luo_size(h, size, sizeof(size)));
}

/*
 * Make a restored compound page a hugetlb folio in use: a page of the
 * persistent pool while the boot pool is short of preserved pages, else a
 * surplus page. With @only_pool, a page the pool does not take is left as
 * it is. Return: whether it is a hugetlb folio now.
 */
static bool memfd_luo_hugetlb_adopt(struct hstate *h, struct folio *folio,
				    bool only_pool)
{
	int nid = folio_nid(folio);
	unsigned long *pending = &memfd_luo_pool_pending[hstate_index(h)][nid];

	spin_lock_irq(&hugetlb_lock);
	if (!*pending && only_pool) {
		spin_unlock_irq(&hugetlb_lock);
		return false;
	}
	__folio_set_hugetlb(folio);
	hugetlb_set_folio_subpool(folio, NULL);
	set_hugetlb_cgroup(folio, NULL);
	set_hugetlb_cgroup_rsvd(folio, NULL);
	h->nr_huge_pages++;
	h->nr_huge_pages_node[nid]++;
	if (*pending) {
		(*pending)--;
		h->max_huge_pages++;
		if (!--memfd_luo_pool_pending_all[hstate_index(h)])
			memfd_luo_pool_made_up(h);
	} else {
		h->surplus_huge_pages++;
		h->surplus_huge_pages_node[nid]++;
	}
	list_add(&folio->lru, &h->hugepage_activelist);
	spin_unlock_irq(&hugetlb_lock);
	return true;
}

/**
 * memfd_luo_hugetlb_free_folio - free a restored huge page nobody retrieved
 * @folio: a folio from kho_restore_folio_order(), of a hugetlbfs memfd's
 *	huge page order, with the caller's only reference
 *
 * While the boot pool is short of the preserved pages it left out, the
 * page becomes a free page of the pool; otherwise it goes back to the page
 * allocator. Drops the caller's reference either way.
 */
void memfd_luo_hugetlb_free_folio(struct folio *folio)
{
	struct hstate *h = size_to_hstate(folio_size(folio));

	if (h && !folio_test_hugetlb(folio))
		memfd_luo_hugetlb_adopt(h, folio, true);
	/* a hugetlb folio's last reference frees it into its pool */
	folio_put(folio);
}

/**
 * memfd_luo_hugetlb_add_folio - insert a restored huge page into a memfd
 * @inode: a hugetlbfs inode of an internal (memfd) mount, nobody else can
 *	reach it yet
 * @folio: a folio from kho_restore_folio(), of the hstate's order
 * @index: page index (in base pages), aligned to the huge page size
 *
 * The caller keeps its own reference and drops it afterwards. A folio that
 * did not make it into the file may already be a hugetlb folio: it can be
 * given again, and dropping the last reference frees it as one.
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
		memfd_luo_hugetlb_adopt(h, folio, false);
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

/**
 * memfd_luo_hugetlb_pool_resized - the pool of an hstate is resized by hand
 * @h: the hstate; the caller holds hugetlb_lock
 *
 * Once an operator sets the pool's size (vm.nr_hugepages, or its sysfs
 * files), that is the pool: preserved pages that come back from then on
 * are surplus pages, and no longer grow the pool past what was asked for.
 */
void memfd_luo_hugetlb_pool_resized(struct hstate *h)
{
	int hidx = hstate_index(h);
	char size[32];

	lockdep_assert_held(&hugetlb_lock);
	if (!memfd_luo_pool_pending_all[hidx])
		return;
	memset(memfd_luo_pool_pending[hidx], 0,
	       sizeof(memfd_luo_pool_pending[hidx]));
	memfd_luo_pool_pending_all[hidx] = 0;
	pr_info("HugeTLB: %s pages: pool resized; preserved pages that come back now are surplus\n",
		memfd_luo_size(h, size, sizeof(size)));
}

/* ----- the huge page pool across the kexec ----- */

/*
 * Outgoing: huge pages of frozen memfds by hstate and node, published as
 * MEMFD_LUO_POOL_NODE at finalize. The KHO notifier that publishes them
 * runs after Live Update's, which freezes the files.
 */
static DEFINE_MUTEX(memfd_luo_pool_lock);
static unsigned long *memfd_luo_pool_out[HUGE_MAX_HSTATE];
static struct kho_node memfd_luo_pool_node;
static bool memfd_luo_pool_added;

/**
 * memfd_luo_hugetlb_count - count a frozen memfd's huge pages in or out
 * @order: the memfd's huge page order
 * @nid: the node of the pages
 * @delta: how many pages; positive when the memfd is frozen, negative
 *	when it is unfrozen
 *
 * Return: 0, or -ENOMEM when the first pages of a size have nowhere to be
 * counted (nothing is counted then).
 */
int memfd_luo_hugetlb_count(unsigned int order, int nid, long delta)
{
	struct hstate *h = size_to_hstate(PAGE_SIZE << order);
	unsigned long **count;

	if (WARN_ON_ONCE(!h || nid < 0 || nid >= nr_node_ids))
		return -EINVAL;
	count = &memfd_luo_pool_out[hstate_index(h)];
	mutex_lock(&memfd_luo_pool_lock);
	if (!*count) {
		*count = kcalloc(nr_node_ids, sizeof(**count), GFP_KERNEL);
		if (!*count) {
			mutex_unlock(&memfd_luo_pool_lock);
			return -ENOMEM;
		}
	}
	if (!WARN_ON_ONCE(delta < 0 && (*count)[nid] < -delta))
		(*count)[nid] += delta;
	mutex_unlock(&memfd_luo_pool_lock);
	return 0;
}

static void memfd_luo_pool_withdraw(void)
{
	mutex_lock(&memfd_luo_pool_lock);
	if (memfd_luo_pool_added) {
		kho_remove_node(NULL, MEMFD_LUO_POOL_NODE);
		kho_remove_prop(&memfd_luo_pool_node, "compatible");
		kho_remove_prop(&memfd_luo_pool_node, "pages");
		memfd_luo_pool_added = false;
	}
	mutex_unlock(&memfd_luo_pool_lock);
}

static int memfd_luo_pool_publish(void)
{
	struct memfd_luo_pool_ser *ser;
	unsigned int n = 0, i = 0;
	struct hstate *h;
	int nid, err;

	mutex_lock(&memfd_luo_pool_lock);
	for_each_hstate(h) {
		unsigned long *count = memfd_luo_pool_out[hstate_index(h)];

		for (nid = 0; count && nid < nr_node_ids; nid++)
			n += !!count[nid];
	}
	if (!n) {
		mutex_unlock(&memfd_luo_pool_lock);
		return 0;
	}
	ser = kcalloc(n, sizeof(*ser), GFP_KERNEL);
	if (!ser) {
		mutex_unlock(&memfd_luo_pool_lock);
		return -ENOMEM;
	}
	for_each_hstate(h) {
		unsigned long *count = memfd_luo_pool_out[hstate_index(h)];

		for (nid = 0; count && nid < nr_node_ids; nid++) {
			if (!count[nid])
				continue;
			ser[i].order = huge_page_order(h);
			ser[i].nid = nid;
			ser[i].nr_pages = count[nid];
			i++;
		}
	}
	err = kho_add_string_prop(&memfd_luo_pool_node, "compatible",
				  MEMFD_LUO_POOL_COMPATIBLE);
	if (!err)
		err = kho_add_prop(&memfd_luo_pool_node, "pages", ser,
				   n * sizeof(*ser));
	if (!err)
		err = kho_add_node(NULL, MEMFD_LUO_POOL_NODE,
				   &memfd_luo_pool_node);
	if (err) {
		kho_remove_prop(&memfd_luo_pool_node, "compatible");
		kho_remove_prop(&memfd_luo_pool_node, "pages");
	} else {
		memfd_luo_pool_added = true;
	}
	mutex_unlock(&memfd_luo_pool_lock);
	kfree(ser);
	return err;
}

static int memfd_luo_pool_notifier(struct notifier_block *nb,
				   unsigned long event, void *data)
{
	int err;

	switch (event) {
	case KEXEC_KHO_FINALIZE:
		/* only sizes the next kernel's pools: not worth a failed update */
		err = memfd_luo_pool_publish();
		if (err)
			pr_warn("memfd-luo: cannot hand the huge page counts over (%d): the next kernel allocates its boot pools in full\n",
				err);
		return NOTIFY_OK;
	case KEXEC_KHO_UNFREEZE:
		memfd_luo_pool_withdraw();
		return NOTIFY_OK;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block memfd_luo_pool_nb = {
	.notifier_call = memfd_luo_pool_notifier,
	/* publishes the counts of what Live Update's notifier froze */
	.priority = KHO_PRIO_AFTER_LIVEUPDATE,
};

static int __init memfd_luo_pool_init(void)
{
	int err;

	if (!kho_is_enabled())
		return 0;
	kho_init_node(&memfd_luo_pool_node);
	err = register_kho_notifier(&memfd_luo_pool_nb);
	if (err)
		pr_err("memfd-luo: cannot register the KHO notifier: %d\n", err);
	return 0;
}
late_initcall(memfd_luo_pool_init);

/*
 * The previous kernel's record of preserved huge pages, as checked: its
 * @nr entries at @p, or no @p; @read once looked for.
 */
static struct {
	const u8 *p;
	int nr;
	bool read;
} memfd_luo_pool_in __initdata;

/* One entry of the record; an FDT property is only 4-byte aligned. */
static void __init memfd_luo_pool_entry(int i, struct memfd_luo_pool_ser *e)
{
	memcpy(e, memfd_luo_pool_in.p + i * sizeof(*e), sizeof(*e));
}

/*
 * Find and check the record in place, once: every entry must name a node
 * this kernel has. A record that is missing, of another version or
 * malformed leaves no memfd_luo_pool_in.p, with a warning.
 */
static void __init memfd_luo_pool_read(void)
{
	struct memfd_luo_pool_ser e;
	const char *compatible;
	const u8 *p;
	int node, len, i;

	if (memfd_luo_pool_in.read)
		return;
	memfd_luo_pool_in.read = true;
	node = kho_find_node("/" MEMFD_LUO_POOL_NODE);
	if (node < 0)
		return;
	compatible = kho_get_prop(node, "compatible", &len);
	if (!compatible || len <= 0 || strnlen(compatible, len) == len ||
	    strcmp(compatible, MEMFD_LUO_POOL_COMPATIBLE)) {
		pr_warn("HugeTLB: the preserved memfd page counts are not a %s record: boot pools are allocated in full\n",
			MEMFD_LUO_POOL_COMPATIBLE);
		return;
	}
	p = kho_get_prop(node, "pages", &len);
	if (!p || len <= 0 || len % sizeof(e)) {
		pr_warn("HugeTLB: the preserved memfd page counts are malformed: boot pools are allocated in full\n");
		return;
	}
	memfd_luo_pool_in.p = p;
	memfd_luo_pool_in.nr = len / sizeof(e);
	for (i = 0; i < memfd_luo_pool_in.nr; i++) {
		memfd_luo_pool_entry(i, &e);
		if (e.nid >= nr_node_ids || !node_online(e.nid)) {
			pr_warn("HugeTLB: the preserved memfd page counts name node %u, which this kernel does not have: boot pools are allocated in full\n",
				e.nid);
			memfd_luo_pool_in.p = NULL;
			return;
		}
	}
}

/**
 * memfd_luo_hugetlb_boot_pool - leave preserved pages out of a boot pool
 * @h: an hstate about to allocate its boot pool: h->max_huge_pages pages,
 *	or h->max_huge_pages_node[nid] on the nodes that ask for their own
 *
 * Called by hugetlb's boot allocation, possibly while memblock is still
 * the allocator. The pages the previous kernel's memfds preserved come
 * back and count towards the pool: lower what is to be allocated by their
 * number, at most down to zero, and remember how many on each node, so
 * that memfd_luo_hugetlb_add_folio() and memfd_luo_hugetlb_free_folio()
 * count them into the pool as they come.
 */
void __init memfd_luo_hugetlb_boot_pool(struct hstate *h)
{
	unsigned long *pending = memfd_luo_pool_pending[hstate_index(h)];
	unsigned long take, total = 0;
	struct memfd_luo_pool_ser e;
	bool per_node = false;
	unsigned long flags;
	char size[32];
	int nid, i;

	if (!kho_is_incoming())
		return;
	memfd_luo_pool_read();
	if (!memfd_luo_pool_in.p)
		return;
	for_each_node(nid)
		per_node |= h->max_huge_pages_node[nid] > 0;
	spin_lock_irqsave(&hugetlb_lock, flags);
	for (i = 0; i < memfd_luo_pool_in.nr; i++) {
		memfd_luo_pool_entry(i, &e);
		if (e.order != huge_page_order(h))
			continue;
		if (per_node) {
			take = min_t(u64, e.nr_pages,
				     h->max_huge_pages_node[e.nid]);
			h->max_huge_pages_node[e.nid] -= take;
		} else {
			take = min_t(u64, e.nr_pages, h->max_huge_pages);
		}
		h->max_huge_pages -= take;
		pending[e.nid] += take;
		total += take;
	}
	memfd_luo_pool_pending_all[hstate_index(h)] = total;
	spin_unlock_irqrestore(&hugetlb_lock, flags);
	if (!total)
		return;
	pr_info("HugeTLB: %s pages: %lu of the boot pool come back in preserved memfds, %lu to allocate\n",
		memfd_luo_size(h, size, sizeof(size)), total,
		h->max_huge_pages);
}
