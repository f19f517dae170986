// SPDX-License-Identifier: GPL-2.0
/*
 * KHO preserved memory: the per-order bitmap radix tree that records which
 * blocks the next kernel must keep, and turning those blocks back into
 * folios after kexec.
 *
 * The map is built as memory is preserved, in pages that link to each other
 * by physical address, so finalize only records the roots and the next
 * kernel reads the tree in place.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/bitops.h>
#include <linux/gfp.h>
#include <linux/kexec_handover.h>
#include <linux/math64.h>
#include <linux/sched/clock.h>
#include <linux/timex.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/rwsem.h>
#include <kunit/visibility.h>

#include "../../mm/internal.h"
#include "kexec_handover_internal.h"

struct kho_mem_map kho_out_map;
static DECLARE_RWSEM(kho_mem_sem);	/* write side: finalize */
static bool kho_mem_frozen;
static atomic_long_t kho_nr_preserved;	/* pages */

static inline unsigned int kho_level_index(unsigned long idx, int level)
{
	return (idx >> (KHO_LEAF_SHIFT + level * KHO_TABLE_SHIFT)) &
	       (KHO_TABLE_ENTRIES - 1);
}

/* Return the child page of @slot, allocating it when @alloc. */
static void *kho_map_child(struct kho_mem_map *map, u64 *slot, bool alloc)
{
	u64 phys = READ_ONCE(*slot);
	void *page;

	if (phys || !alloc)
		return phys ? phys_to_virt(phys) : NULL;

	page = (void *)get_zeroed_page(GFP_KERNEL);
	if (!page)
		return NULL;
	phys = cmpxchg(slot, 0, (u64)virt_to_phys(page));
	if (phys) {
		/* somebody else installed it first */
		free_page((unsigned long)page);
		return phys_to_virt(phys);
	}
	atomic_long_inc(&map->nr_meta_pages);
	return page;
}

static unsigned long *kho_map_leaf(struct kho_mem_map *map, unsigned long pfn,
				   unsigned int order, bool alloc)
{
	unsigned long idx = pfn >> order;
	u64 *table;
	int level;

	if (order >= KHO_NR_ORDERS || idx >> KHO_MAP_INDEX_BITS)
		return NULL;
	table = kho_map_child(map, &map->root[order], alloc);
	for (level = KHO_MAP_LEVELS - 1; table && level > 0; level--)
		table = kho_map_child(map, &table[kho_level_index(idx, level)],
				      alloc);
	if (!table)
		return NULL;
	return kho_map_child(map, &table[kho_level_index(idx, 0)], alloc);
}

/**
 * kho_map_set - mark a block preserved in a map
 * @map: the map
 * @pfn: first page frame of the block, aligned to @order
 * @order: the block's order
 *
 * Return: 0, -EEXIST if it was already set, -ENOMEM, or -ERANGE.
 */
int kho_map_set(struct kho_mem_map *map, unsigned long pfn, unsigned int order)
{
	unsigned long *leaf;

	if (order >= KHO_NR_ORDERS || !IS_ALIGNED(pfn, 1UL << order))
		return -EINVAL;
	if ((pfn >> order) >> KHO_MAP_INDEX_BITS)
		return -ERANGE;
	leaf = kho_map_leaf(map, pfn, order, true);
	if (!leaf)
		return -ENOMEM;
	if (test_and_set_bit((pfn >> order) % KHO_LEAF_BITS, leaf))
		return -EEXIST;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kho_map_set);

/**
 * kho_map_clear - forget a preserved block
 * @map: the map
 * @pfn: first page frame of the block
 * @order: the block's order
 *
 * Return: 0, or -ENOENT if the block was not in the map.
 */
int kho_map_clear(struct kho_mem_map *map, unsigned long pfn, unsigned int order)
{
	unsigned long *leaf;

	/* only the exact block: a pfn inside a larger block is not that block */
	if (order >= KHO_NR_ORDERS || !IS_ALIGNED(pfn, 1UL << order))
		return -ENOENT;
	leaf = kho_map_leaf(map, pfn, order, false);
	if (!leaf || !test_and_clear_bit((pfn >> order) % KHO_LEAF_BITS, leaf))
		return -ENOENT;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kho_map_clear);

/**
 * kho_map_test - is this exact block in the map?
 * @map: the map
 * @pfn: first page frame of the block
 * @order: the block's order
 *
 * Return: true if set.
 */
bool kho_map_test(struct kho_mem_map *map, unsigned long pfn, unsigned int order)
{
	unsigned long *leaf;

	if (order >= KHO_NR_ORDERS || !IS_ALIGNED(pfn, 1UL << order))
		return false;
	leaf = kho_map_leaf(map, pfn, order, false);
	return leaf && test_bit((pfn >> order) % KHO_LEAF_BITS, leaf);
}
EXPORT_SYMBOL_IF_KUNIT(kho_map_test);

static void kho_map_free_level(u64 phys, int level)
{
	u64 *table = phys_to_virt(phys);
	int i;

	if (level >= 0)
		for (i = 0; i < KHO_TABLE_ENTRIES; i++)
			if (table[i])
				kho_map_free_level(table[i], level - 1);
	free_page((unsigned long)table);
}

/**
 * kho_map_free - free every page of a map (for maps that are not handed over)
 * @map: the map
 */
void kho_map_free(struct kho_mem_map *map)
{
	int order;

	for (order = 0; order < KHO_NR_ORDERS; order++) {
		if (map->root[order])
			kho_map_free_level(map->root[order], KHO_MAP_LEVELS - 1);
		map->root[order] = 0;
	}
	atomic_long_set(&map->nr_meta_pages, 0);
}
EXPORT_SYMBOL_IF_KUNIT(kho_map_free);

/* Hand each run of set bits of a leaf, then each of its blocks, to @w. */
static int kho_walk_leaf(struct kho_map_walk *w, const unsigned long *leaf,
			 unsigned int order, unsigned long base)
{
	unsigned long bit, start, end = 0;
	int err;

	for (;;) {
		start = find_next_bit(leaf, KHO_LEAF_BITS, end);
		if (start >= KHO_LEAF_BITS)
			return 0;
		end = find_next_zero_bit(leaf, KHO_LEAF_BITS, start + 1);

		w->nr_blocks += end - start;
		w->nr_pages += (end - start) << order;
		if (w->run) {
			err = w->run(w, PFN_PHYS((base + start) << order),
				     order, end - start);
			if (err)
				return err;
		}
		for (bit = start; w->block && bit < end; bit++) {
			err = w->block(w, PFN_PHYS((base + bit) << order), order);
			if (err)
				return err;
		}
	}
}

static int kho_walk_level(struct kho_map_walk *w, u64 phys, int level,
			  unsigned int order, unsigned long base)
{
	int i, err;

	if (w->max_meta && w->nr_meta >= w->max_meta)
		return -E2BIG;
	if (w->check_ptr) {
		err = w->check_ptr(w, phys);
		if (err)
			return err;
	}
	w->nr_meta++;
	if (w->meta) {
		err = w->meta(w, phys);
		if (err)
			return err;
	}

	if (level < 0)
		return kho_walk_leaf(w, phys_to_virt(phys), order, base);

	for (i = 0; i < KHO_TABLE_ENTRIES; i++) {
		u64 child = ((u64 *)phys_to_virt(phys))[i];
		unsigned long sub = base +
			((unsigned long)i << (KHO_LEAF_SHIFT + level * KHO_TABLE_SHIFT));

		if (!child)
			continue;
		err = kho_walk_level(w, child, level - 1, order, sub);
		if (err)
			return err;
	}
	return 0;
}

/**
 * kho_map_walk - visit every block and metadata page of a map
 * @roots: per-order root table addresses (physical; 0 for an empty order)
 * @nr_orders: number of entries in @roots
 * @w: callbacks and counters
 *
 * Return: 0, or the first error a callback returned.
 */
int kho_map_walk(const u64 *roots, unsigned int nr_orders,
		 struct kho_map_walk *w)
{
	unsigned int order;
	int err;

	for (order = 0; order < nr_orders; order++) {
		if (!roots[order])
			continue;
		err = kho_walk_level(w, roots[order], KHO_MAP_LEVELS - 1,
				     order, 0);
		if (err)
			return err;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kho_map_walk);

/* ----- outgoing: the preserve API ----- */

void kho_mem_freeze(bool frozen)
{
	down_write(&kho_mem_sem);
	kho_mem_frozen = frozen;
	up_write(&kho_mem_sem);
}

#ifdef CONFIG_TEST_KEXEC_HANDOVER
unsigned long kho_mem_nr_meta_pages(void)
{
	return atomic_long_read(&kho_out_map.nr_meta_pages);
}

/**
 * kho_handover_map_set - mark a block in a finalized handover's map
 * @h: the handover page
 * @phys: the block's address
 * @order: its order
 *
 * For the test module alone, to damage a handover on purpose: none of the
 * preserve API's checks, map pages added as needed, @h sealed again.
 *
 * Return: 0 or a negative errno as for kho_map_set().
 */
int kho_handover_map_set(struct kho_handover *h, phys_addr_t phys,
			 unsigned int order)
{
	struct kho_mem_map map = {};
	int err;

	memcpy(map.root, h->mem_root, sizeof(map.root));
	err = kho_map_set(&map, PHYS_PFN(phys), order);
	memcpy(h->mem_root, map.root, sizeof(map.root));
	kho_handover_seal(h);
	return err;
}
#endif

unsigned long kho_mem_nr_preserved_pages(void)
{
	return atomic_long_read(&kho_nr_preserved);
}

static int kho_check_range(phys_addr_t phys, size_t size)
{
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	if (!size || !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size) ||
	    phys + size < phys)
		return -EINVAL;
	/* the next kernel refuses these, and with them the whole handover */
	if (phys < SZ_1M || !pfn_valid(PHYS_PFN(phys)) ||
	    !pfn_valid(PHYS_PFN(phys + size - 1)))
		return -EINVAL;
	if (kho_overlaps_scratch(phys, size)) {
		pr_warn_ratelimited("cannot preserve %pa+%#zx: it lies in scratch memory\n",
				    &phys, size);
		return -EINVAL;
	}
	return 0;
}

static int kho_mem_update(phys_addr_t phys, unsigned int order, bool set)
{
	int err;

	err = kho_check_range(phys, PAGE_SIZE << order);
	if (err)
		return err;

	down_read(&kho_mem_sem);
	if (kho_mem_frozen) {
		err = -EBUSY;
	} else if (set) {
		err = kho_map_set(&kho_out_map, PHYS_PFN(phys), order);
		if (!err)
			atomic_long_add(1UL << order, &kho_nr_preserved);
	} else {
		err = kho_map_clear(&kho_out_map, PHYS_PFN(phys), order);
		if (!err)
			atomic_long_sub(1UL << order, &kho_nr_preserved);
	}
	up_read(&kho_mem_sem);
	return err;
}

/**
 * kho_preserve_folio - keep a folio and its contents across kexec
 * @folio: the folio; it must stay allocated until kexec or until
 *	kho_unpreserve_folio()
 *
 * The next kernel gets it back, with the same order, from
 * kho_restore_folio(), or from kho_restore_folio_order() for a folio
 * larger than MAX_PAGE_ORDER (a gigantic huge page), which the memory map
 * records as the blocks of its range. Folios in scratch memory (movable
 * memory that could be reused by the next kernel's early boot) cannot be
 * preserved.
 *
 * Return: 0; -EBUSY after finalize; -EEXIST if already preserved; -EINVAL
 * for a folio in scratch; -ENOMEM; -EOPNOTSUPP when KHO is off.
 */
int kho_preserve_folio(struct folio *folio)
{
	/* the map holds blocks up to MAX_PAGE_ORDER: a larger one as a range */
	if (folio_order(folio) > MAX_PAGE_ORDER)
		return kho_preserve_phys(PFN_PHYS(folio_pfn(folio)),
					 folio_size(folio));
	return kho_mem_update(PFN_PHYS(folio_pfn(folio)), folio_order(folio),
			      true);
}
EXPORT_SYMBOL_GPL(kho_preserve_folio);

/**
 * kho_unpreserve_folio - undo kho_preserve_folio()
 * @folio: the folio
 *
 * Return: 0, -EBUSY after finalize, or -ENOENT if it was not preserved.
 */
int kho_unpreserve_folio(struct folio *folio)
{
	if (folio_order(folio) > MAX_PAGE_ORDER)
		return kho_unpreserve_phys(PFN_PHYS(folio_pfn(folio)),
					   folio_size(folio));
	return kho_mem_update(PFN_PHYS(folio_pfn(folio)), folio_order(folio),
			      false);
}
EXPORT_SYMBOL_GPL(kho_unpreserve_folio);

/* Split [phys, phys + size) into the largest naturally aligned blocks. */
static unsigned int kho_block_order(phys_addr_t phys, phys_addr_t end)
{
	unsigned int order = min_t(unsigned int, MAX_PAGE_ORDER,
				   __ffs(PHYS_PFN(phys) | (1UL << MAX_PAGE_ORDER)));

	while ((PAGE_SIZE << order) > end - phys)
		order--;
	return order;
}

/**
 * kho_preserve_phys - keep a physically contiguous range across kexec
 * @phys: start, page aligned
 * @size: length, page aligned
 *
 * The range is recorded as naturally aligned blocks; the next kernel claims
 * exactly the same range with kho_restore_phys(). On error nothing stays
 * preserved.
 *
 * Return: 0 or a negative errno as for kho_preserve_folio().
 */
int kho_preserve_phys(phys_addr_t phys, size_t size)
{
	phys_addr_t pos, end = phys + size;
	unsigned int order;
	int err;

	err = kho_check_range(phys, size);
	if (err)
		return err;
	for (pos = phys; pos < end; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		err = kho_mem_update(pos, order, true);
		if (err) {
			if (pos > phys)
				kho_unpreserve_phys(phys, pos - phys);
			return err;
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(kho_preserve_phys);

/**
 * kho_unpreserve_phys - undo kho_preserve_phys()
 * @phys: start, as given to kho_preserve_phys()
 * @size: length, as given to kho_preserve_phys()
 *
 * Return: 0, or the first error met (the rest is still unpreserved).
 */
int kho_unpreserve_phys(phys_addr_t phys, size_t size)
{
	phys_addr_t pos, end = phys + size;
	unsigned int order;
	int err, ret = 0;

	if (!size || !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size))
		return -EINVAL;
	for (pos = phys; pos < end; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		err = kho_mem_update(pos, order, false);
		if (err && !ret)
			ret = err;
	}
	return ret;
}
EXPORT_SYMBOL_GPL(kho_unpreserve_phys);

/* ----- incoming: validate and reserve the previous kernel's map ----- */

/*
 * Nothing in the incoming map can be trusted, not even its table pages, and
 * a lookup (kho_map_test() and the like) follows pointers without a check.
 * So the first pass follows each pointer only after checking it, and
 * reserves each page it accepts at once: a page met again (a loop, or one
 * page with two parents) is then found reserved and refused. Lookups run
 * only on a map that passed it: everything after boot (kho_in_map()).
 *
 * The blocks are handled in runs: adjacent blocks of one order, across
 * leaf pages too, which is what a memfd's pages mostly are. The cost is in
 * memblock calls, each linear in the number of reserved regions, so there
 * are a few per run and none per block. Overlaps need no lookup: a run is
 * checked against memblock.reserved before it is reserved, so of two
 * overlapping blocks, whichever the walk meets second is found reserved.
 */
enum kho_in_pass {
	KHO_IN_TABLES,		/* check and reserve every map page */
	KHO_IN_RUNS,		/* check every run against memory in use */
	KHO_IN_RESERVE,		/* check runs against each other, reserve them */
	KHO_IN_UNDO,		/* give back what the passes before reserved */
};

struct kho_in_walk {
	struct kho_map_walk w;
	enum kho_in_pass pass;
	unsigned long meta_done;	/* map pages reserved */
	unsigned long runs_done;	/* runs reserved */
	unsigned long nr_runs;		/* runs met in this pass */
	/* the run being gathered, not yet checked or reserved */
	phys_addr_t run_phys;
	phys_addr_t run_size;		/* 0: none */
	unsigned int run_order;
};

/*
 * What the check found and how long it took, logged from an initcall: this
 * early in boot the sched clock can still be jiffies that do not move (on
 * x86 when the early TSC calibration fails, as it often does under QEMU
 * TCG), while the TSC runs and its rate is known by the initcalls.
 */
static struct {
	bool valid;
	unsigned long blocks, pages, meta, runs;
	u64 ns;
	cycles_t cycles;
} kho_in_figures __initdata;

static bool __init kho_in_ram(phys_addr_t phys, phys_addr_t size)
{
	return phys + size > phys && memblock_is_region_memory(phys, size);
}

/*
 * Is every block of a run in RAM? A run usually lies in one memblock
 * region; one that goes on into the next (a node boundary) is split where
 * its blocks cross over, by bisection, and each block must still lie
 * within one region.
 */
static bool __init kho_in_run_in_ram(phys_addr_t phys, phys_addr_t size,
				     phys_addr_t block)
{
	while (size && !kho_in_ram(phys, size)) {
		/* whole blocks: @lo of them are in one region, @hi are not */
		u64 lo = 0, hi = div64_u64(size, block), mid;

		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (kho_in_ram(phys, mid * block))
				lo = mid;
			else
				hi = mid;
		}
		if (!lo)
			return false;
		phys += lo * block;
		size -= lo * block;
	}
	return true;
}

/* Check a table or leaf pointer before the walk follows it, and take it. */
static int __init kho_in_take_meta(struct kho_in_walk *iw, phys_addr_t phys)
{
	if (!PAGE_ALIGNED(phys) || !kho_in_ram(phys, PAGE_SIZE) ||
	    kho_overlaps_scratch(phys, PAGE_SIZE)) {
		kho_in_reject("memory map page outside usable memory or in scratch");
		return -EINVAL;
	}
	/* the kernel, the handover page and FDT, and the map pages so far */
	if (memblock_is_region_reserved(phys, PAGE_SIZE)) {
		kho_in_reject("memory map page reached twice (a loop?) or in memory in use");
		return -EINVAL;
	}
	if (memblock_reserve(phys, PAGE_SIZE)) {
		kho_in_reject("out of memblock space reserving the memory map");
		return -ENOMEM;
	}
	iw->meta_done++;
	return 0;
}

static int __init kho_in_check_ptr(struct kho_map_walk *w, phys_addr_t phys)
{
	struct kho_in_walk *iw = container_of(w, struct kho_in_walk, w);

	switch (iw->pass) {
	case KHO_IN_TABLES:
		return kho_in_take_meta(iw, phys);
	case KHO_IN_UNDO:
		/* no further than the first pass got: the next one is unchecked */
		if (!iw->meta_done)
			return -ECANCELED;
		memblock_phys_free(phys, PAGE_SIZE);
		iw->meta_done--;
		return 0;
	default:
		return 0;
	}
}

/*
 * Before any run is reserved, memblock.reserved holds only what was in use
 * before the map (firmware, the kernel, the initrd, the handover page and
 * FDT) and the map's own pages.
 */
static int __init kho_in_check_run(phys_addr_t phys, phys_addr_t size,
				   unsigned int order)
{
	if (phys < SZ_1M || kho_overlaps_scratch(phys, size) ||
	    !kho_in_run_in_ram(phys, size, PAGE_SIZE << order)) {
		kho_in_reject("preserved block outside usable memory or in scratch");
		return -EINVAL;
	}
	if (memblock_is_region_reserved(phys, size)) {
		kho_in_reject("preserved block overlaps memory in use");
		return -EINVAL;
	}
	return 0;
}

/*
 * Runs of one order never overlap each other; runs of different orders
 * must not either. Each run reserved so far was checked against all else,
 * so anything reserved here now is an earlier run.
 */
static int __init kho_in_reserve_run(struct kho_in_walk *iw, phys_addr_t phys,
				     phys_addr_t size)
{
	if (memblock_is_region_reserved(phys, size)) {
		kho_in_reject("preserved blocks overlap");
		return -EINVAL;
	}
	if (memblock_reserve(phys, size)) {
		kho_in_reject("out of memblock space reserving preserved memory");
		return -ENOMEM;
	}
	iw->runs_done++;
	return 0;
}

/* Done gathering a run: check it, reserve it or give it back. */
static int __init kho_in_end_run(struct kho_in_walk *iw)
{
	phys_addr_t phys = iw->run_phys, size = iw->run_size;

	if (!size)
		return 0;
	iw->run_size = 0;
	iw->nr_runs++;

	switch (iw->pass) {
	case KHO_IN_RUNS:
		return kho_in_check_run(phys, size, iw->run_order);
	case KHO_IN_RESERVE:
		return kho_in_reserve_run(iw, phys, size);
	case KHO_IN_UNDO:
		/* the same map walked again: the same runs, in the same order */
		if (iw->runs_done) {
			memblock_phys_free(phys, size);
			iw->runs_done--;
		}
		return 0;
	default:
		return 0;
	}
}

static int __init kho_in_run(struct kho_map_walk *w, phys_addr_t phys,
			     unsigned int order, unsigned long nr)
{
	struct kho_in_walk *iw = container_of(w, struct kho_in_walk, w);
	phys_addr_t size = (phys_addr_t)nr << (PAGE_SHIFT + order);
	int err;

	if (iw->pass == KHO_IN_TABLES)
		return 0;
	/* the walk goes up in address within an order: extend the run? */
	if (iw->run_size && iw->run_order == order &&
	    iw->run_phys + iw->run_size == phys) {
		iw->run_size += size;
		return 0;
	}
	err = kho_in_end_run(iw);
	if (err)
		return err;
	iw->run_phys = phys;
	iw->run_size = size;
	iw->run_order = order;
	return 0;
}

static int __init kho_in_mem_pass(struct kho_in_walk *iw, enum kho_in_pass pass)
{
	int err;

	iw->pass = pass;
	iw->w.nr_meta = 0;
	iw->w.nr_blocks = 0;
	iw->w.nr_pages = 0;
	iw->nr_runs = 0;
	iw->run_size = 0;
	err = kho_map_walk(kho_in.mem_root, KHO_NR_ORDERS, &iw->w);
	/* the last run; an undo cut short has no runs left to give back */
	if (!err || pass == KHO_IN_UNDO)
		err = kho_in_end_run(iw) ?: err;
	return err;
}

/**
 * kho_in_mem_reserve - validate the incoming map and reserve what it names
 *
 * Called from kho_memory_init() while memblock still allocates only from
 * scratch. The first pass checks every table and leaf pointer before it is
 * followed (page aligned, in memory, not in scratch, not in memory already
 * reserved, which includes the handover page, the FDT and every map page
 * met before it) and reserves the map's pages. The blocks are then taken
 * in runs of adjacent blocks of one order: the second pass checks that
 * each run is in memory, outside scratch, at or above 1 MiB and clear of
 * everything reserved so far; the third that it is clear of the runs
 * reserved before it, and reserves it. If any fails, what the passes
 * before reserved is given back, so a rejected handover leaves memblock as
 * it was.
 *
 * Return: 0 or a negative errno (and kho_in.rejected says why).
 */
int __init kho_in_mem_reserve(void)
{
	struct kho_in_walk iw = {
		.w = {
			.run = kho_in_run,
			.check_ptr = kho_in_check_ptr,
			/* a map can't have more pages than there is memory */
			.max_meta = PHYS_PFN(memblock_phys_mem_size()),
		},
	};
	u64 start = local_clock();
	cycles_t cycles = get_cycles();
	int err;

	err = kho_in_mem_pass(&iw, KHO_IN_TABLES);
	if (err == -E2BIG)
		kho_in_reject("memory map larger than memory (a loop?)");
	if (!err) {
		kho_in.map_checked = true;
		err = kho_in_mem_pass(&iw, KHO_IN_RUNS);
	}
	if (!err)
		err = kho_in_mem_pass(&iw, KHO_IN_RESERVE);
	if (err) {
		kho_in.map_checked = false;
		kho_in_mem_pass(&iw, KHO_IN_UNDO);
		return err;
	}
	kho_in_figures.cycles = get_cycles() - cycles;
	kho_in_figures.ns = local_clock() - start;
	kho_in_figures.blocks = iw.w.nr_blocks;
	kho_in_figures.pages = iw.w.nr_pages;
	kho_in_figures.meta = iw.w.nr_meta;
	kho_in_figures.runs = iw.nr_runs;
	kho_in_figures.valid = true;
	return 0;
}

static u64 __init kho_in_check_us(void)
{
#ifdef CONFIG_X86
	if (tsc_khz)
		return div_u64((u64)kho_in_figures.cycles * 1000, tsc_khz);
#endif
	return div_u64(kho_in_figures.ns, NSEC_PER_USEC);
}

static int __init kho_in_mem_report(void)
{
	if (kho_in_figures.valid)
		pr_info("incoming map: %lu blocks (%lu pages) in %lu metadata pages, %lu runs, checked and reserved in %llu us\n",
			kho_in_figures.blocks, kho_in_figures.pages,
			kho_in_figures.meta, kho_in_figures.runs,
			kho_in_check_us());
	return 0;
}
core_initcall(kho_in_mem_report);

/* ----- incoming: restore ----- */

static DEFINE_SPINLOCK(kho_restore_lock);

/*
 * The incoming map, for a lookup: only a map whose every pointer
 * kho_in_mem_reserve() checked, in a handover that was accepted.
 */
static bool kho_in_map(struct kho_mem_map *map)
{
	if (!kho_in.active || !kho_in.map_checked)
		return false;
	memcpy(map->root, kho_in.mem_root, sizeof(map->root));
	return true;
}

/* Find and claim the incoming block that starts at @phys. */
static int kho_claim_block(phys_addr_t phys, phys_addr_t max_size)
{
	struct kho_mem_map map;
	unsigned int order;
	int claimed = -ENOENT;

	if (!PAGE_ALIGNED(phys) || !kho_in_map(&map))
		return -ENOENT;
	spin_lock(&kho_restore_lock);
	for (order = 0; order < KHO_NR_ORDERS; order++) {
		if ((PAGE_SIZE << order) > max_size)
			break;
		if (!kho_map_clear(&map, PHYS_PFN(phys), order)) {
			claimed = order;
			break;
		}
	}
	spin_unlock(&kho_restore_lock);
	return claimed;
}

/*
 * Claim every block of [@phys, @phys + @size), split as kho_preserve_phys()
 * split it, or nothing: under the lock, all are checked before any is
 * cleared, so a concurrent claim cannot leave the range half claimed. For
 * a naturally aligned range of up to MAX_PAGE_ORDER that is exactly one
 * block of its order.
 */
static bool kho_claim_range(phys_addr_t phys, phys_addr_t size)
{
	phys_addr_t pos, end = phys + size;
	struct kho_mem_map map;
	unsigned int order;
	bool ok = true;

	if (!size || !PAGE_ALIGNED(phys | size) || end < phys ||
	    !kho_in_map(&map))
		return false;
	spin_lock(&kho_restore_lock);
	for (pos = phys; pos < end && ok; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		ok = kho_map_test(&map, PHYS_PFN(pos), order);
	}
	for (pos = phys; pos < end && ok; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		WARN_ON_ONCE(kho_map_clear(&map, PHYS_PFN(pos), order));
	}
	spin_unlock(&kho_restore_lock);
	return ok;
}

/* Can a folio of @order be at @phys, as one block of the map or a range? */
static bool kho_folio_shape_ok(phys_addr_t phys, unsigned int order)
{
	return order < BITS_PER_LONG - PAGE_SHIFT &&
	       IS_ALIGNED(phys, PAGE_SIZE << order);
}

/* Turn reserved pages back into allocated ones, as the page allocator would. */
static void kho_init_pages(struct page *page, unsigned int order, bool compound)
{
	unsigned long i, nr = 1UL << order;

	for (i = 0; i < nr; i++) {
		__ClearPageReserved(page + i);
		set_page_count(page + i, compound && i ? 0 : 1);
	}
	if (compound && order)
		prep_compound_page(page, order);
	adjust_managed_page_count(page, nr);
}

/**
 * kho_restore_folio - take back a folio the previous kernel preserved
 * @phys: its physical address
 *
 * Each preserved folio can be restored once. The folio comes back with its
 * original order and a reference count of one; free it with folio_put().
 *
 * Return: the folio, or NULL if nothing was preserved at @phys.
 */
struct folio *kho_restore_folio(phys_addr_t phys)
{
	int order = kho_claim_block(phys, PAGE_SIZE << MAX_PAGE_ORDER);
	struct page *page;

	if (order < 0)
		return NULL;
	page = pfn_to_page(PHYS_PFN(phys));
	kho_init_pages(page, order, true);
	return page_folio(page);
}
EXPORT_SYMBOL_GPL(kho_restore_folio);

/**
 * kho_restore_folio_order - take back a folio of a known order
 * @phys: its physical address
 * @order: its order, as the caller's own record gives it
 *
 * Like kho_restore_folio(), but the preserved block must be exactly of
 * @order, and @order may exceed MAX_PAGE_ORDER: a gigantic folio, which
 * kho_preserve_folio() recorded as the blocks of its range, comes back as
 * one compound folio again. Nothing is claimed unless all of it is there.
 *
 * Return: the folio, with a reference count of one, or NULL.
 */
struct folio *kho_restore_folio_order(phys_addr_t phys, unsigned int order)
{
	struct page *page;

	if (!kho_folio_shape_ok(phys, order) ||
	    !kho_claim_range(phys, PAGE_SIZE << order))
		return NULL;
	page = pfn_to_page(PHYS_PFN(phys));
	kho_init_pages(page, order, true);
	return page_folio(page);
}
EXPORT_SYMBOL_GPL(kho_restore_folio_order);

/**
 * kho_in_range_preserved - was a range handed over as kho_preserve_phys()
 *	records it?
 * @phys: start
 * @size: length
 *
 * Return: true if every block of the range is in the incoming map; false
 * for an empty range, one that is not whole pages or one that wraps
 * around the address space.
 */
bool kho_in_range_preserved(phys_addr_t phys, size_t size)
{
	phys_addr_t pos, end = phys + size;
	struct kho_mem_map map;
	unsigned int order;

	if (!size || !PAGE_ALIGNED(phys | size) || end < phys ||
	    !kho_in_map(&map))
		return false;
	for (pos = phys; pos < end; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		if (!kho_map_test(&map, PHYS_PFN(pos), order))
			return false;
	}
	return true;
}

/**
 * kho_is_preserved - is a block of the handover there, and not claimed yet?
 * @phys: its physical address
 * @order: its order
 *
 * Only looks: nothing is claimed. A block is found only as the exact block
 * the previous kernel preserved (kho_preserve_folio() of a folio of this
 * order at @phys), and only until someone claims it with
 * kho_restore_folio() or kho_restore_phys(). Lets a caller check all it
 * means to claim before it claims any of it. An @order above MAX_PAGE_ORDER
 * asks for a folio that kho_preserve_folio() recorded as a range.
 *
 * Return: true if so; false for a misaligned @phys, or with no handover.
 */
bool kho_is_preserved(phys_addr_t phys, unsigned int order)
{
	/* an aligned block of up to MAX_PAGE_ORDER is a range of one block */
	return kho_folio_shape_ok(phys, order) &&
	       kho_in_range_preserved(phys, PAGE_SIZE << order);
}
EXPORT_SYMBOL_GPL(kho_is_preserved);

/**
 * kho_restore_phys - take back a range the previous kernel preserved
 * @phys: start, as given to kho_preserve_phys()
 * @size: length, as given to kho_preserve_phys()
 *
 * Afterwards the range is ordinary memory owned by the caller, made of
 * order-0 pages with one reference each (free_pages_exact() releases it).
 * Nothing is claimed unless the whole range was preserved.
 *
 * Return: 0; -ENOENT if any part of the range was not preserved; -EINVAL
 * for a misaligned range or when there is no handover.
 */
int kho_restore_phys(phys_addr_t phys, size_t size)
{
	phys_addr_t pos, end = phys + size;
	unsigned int order;

	if (!kho_in.active || !size || !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size))
		return -EINVAL;

	/* all or nothing, so a bad request claims nothing */
	if (!kho_claim_range(phys, size))
		return -ENOENT;
	for (pos = phys; pos < end; pos += PAGE_SIZE << order) {
		order = kho_block_order(pos, end);
		kho_init_pages(pfn_to_page(PHYS_PFN(pos)), order, false);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(kho_restore_phys);
