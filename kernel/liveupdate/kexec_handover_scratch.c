// SPDX-License-Identifier: GPL-2.0
/*
 * KHO scratch: memory the next kernel may use before it knows what was
 * preserved.
 *
 * Every KHO kernel sets scratch areas aside at boot and gives them to the
 * page allocator as CMA pageblocks: only movable allocations land there,
 * and those never need to survive a kexec. kexec_file places the next
 * kernel, its initrd and its boot data inside scratch, and the next kernel
 * allocates only from scratch (memblock scratch-only mode) until it has
 * reserved the preserved memory. The same areas are handed on, unchanged,
 * to every later kernel.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/cma.h>
#include <linux/hugetlb.h>
#include <linux/ioport.h>
#include <linux/kexec.h>
#include <linux/kexec_handover.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/page-isolation.h>
#include <linux/string.h>
#include <kunit/visibility.h>

#include "../../mm/internal.h"
#include "kexec_handover_internal.h"

/*
 * The global area is reserved in one piece where memory allows, else in up
 * to KHO_SCRATCH_PIECES pieces of at least KHO_SCRATCH_PIECE_MIN each, so
 * that the next kernel's large boot allocations still fit in one.
 */
#define KHO_SCRATCH_PIECES	8
#define KHO_SCRATCH_PIECE_MIN	SZ_128M

/* Scratch list: lowmem, global (in pieces), then one per node. */
#define KHO_SCRATCH_SLOTS	(1 + KHO_SCRATCH_PIECES + MAX_NUMNODES)
struct kho_scratch_range kho_scratch[KHO_SCRATCH_SLOTS];
unsigned int kho_nr_scratch;

/*
 * What this kernel allocated from memblock at boot, before the page
 * allocator took over: the estimate of what the next kernel will allocate
 * inside scratch.
 */
u64 kho_boot_alloc;

/*
 * Floor for the global area: room for the next kernel image and an initrd
 * of a distribution's size (around 100 MiB), on top of its allocations.
 */
#define KHO_SCRATCH_GLOBAL_MIN	SZ_256M
#define KHO_SCRATCH_LOWMEM_MIN	SZ_16M

static struct kho_scratch_cfg kho_scratch_cfg __initdata = {
	.percent_mode = true,
	.percent = 200,
};

/**
 * kho_parse_scratch - parse the kho_scratch= boot parameter
 * @str: "N%" (scale of memory the kernel allocated at boot), or
 *	"lowmem,global,pernode" sizes with K/M/G suffixes
 * @cfg: result, untouched on error
 *
 * Return: 0 or -EINVAL.
 */
int kho_parse_scratch(const char *str, struct kho_scratch_cfg *cfg)
{
	struct kho_scratch_cfg c = { };
	u64 sizes[3];
	char *end;
	int i;

	if (!str || !*str)
		return -EINVAL;

	if (str[strlen(str) - 1] == '%') {
		char num[8];
		unsigned int pct;
		size_t len = strlen(str) - 1;

		if (!len || len >= sizeof(num))
			return -EINVAL;
		memcpy(num, str, len);
		num[len] = 0;
		if (kstrtouint(num, 10, &pct) || !pct || pct > 10000)
			return -EINVAL;
		c.percent_mode = true;
		c.percent = pct;
		*cfg = c;
		return 0;
	}

	for (i = 0; i < 3; i++) {
		const char *start = str;

		sizes[i] = memparse(str, &end);
		if (end == start)
			return -EINVAL;
		str = end;
		if (i < 2) {
			if (*str != ',')
				return -EINVAL;
			str++;
		}
	}
	if (*str || !sizes[1])
		return -EINVAL;
	c.lowmem = sizes[0];
	c.global = sizes[1];
	c.pernode = sizes[2];
	*cfg = c;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kho_parse_scratch);

static int __init kho_scratch_param(char *str)
{
	/* a bad value is ignored: the setting in force stays */
	if (kho_parse_scratch(str, &kho_scratch_cfg))
		pr_err("kho_scratch=%s: expected N%% or lowmem,global,pernode sizes (e.g. 64M,512M,256M); ignored\n",
		       str ? str : "");
	return 0;
}
early_param("kho_scratch", kho_scratch_param);

/**
 * kho_overlaps_scratch - does a physical range touch any scratch area?
 * @phys: start
 * @size: length
 *
 * Return: true if it does.
 */
bool kho_overlaps_scratch(phys_addr_t phys, phys_addr_t size)
{
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++)
		if (phys < kho_scratch[i].base + kho_scratch[i].size &&
		    kho_scratch[i].base < phys + size)
			return true;
	return false;
}

static u64 __init kho_scale(u64 bytes, u64 floor)
{
	u64 size = div_u64(bytes * kho_scratch_cfg.percent, 100);

	return max(size, floor);
}

static int __init kho_alloc_scratch(u64 size, phys_addr_t limit, int nid)
{
	struct kho_scratch_range *r = &kho_scratch[kho_nr_scratch];
	phys_addr_t base;

	size = round_up(size, CMA_MIN_ALIGNMENT_BYTES);
	if (!size)
		return 0;
	/* the list must fit the handover page */
	if (kho_nr_scratch >= min_t(size_t, KHO_SCRATCH_SLOTS, KHO_MAX_SCRATCH))
		return -ENOSPC;
	if (nid == NUMA_NO_NODE)
		base = memblock_phys_alloc_range(size, CMA_MIN_ALIGNMENT_BYTES,
						 SZ_1M, limit);
	else
		base = memblock_alloc_range_nid(size, CMA_MIN_ALIGNMENT_BYTES,
						SZ_1M, limit, nid, true);
	if (!base)
		return -ENOMEM;
	r->base = base;
	r->size = size;
	kho_nr_scratch++;
	return 0;
}

/*
 * The global area: in one piece if there is a free range that large, else
 * in halves, quarters and so on, down to KHO_SCRATCH_PIECE_MIN. At first
 * boot memory can be fragmented for good by then: a boot pool of gigantic
 * pages, or a large early allocation (KASAN's shadow), in the middle of it.
 */
static int __init kho_alloc_scratch_global(u64 size)
{
	u64 left = round_up(size, CMA_MIN_ALIGNMENT_BYTES), piece = left;
	unsigned int first = kho_nr_scratch;
	int err;

	while (left) {
		if (kho_nr_scratch - first == KHO_SCRATCH_PIECES)
			return -ENOMEM;
		err = kho_alloc_scratch(min(piece, left),
					MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE);
		if (!err) {
			left -= min(piece, left);
			continue;
		}
		if (err != -ENOMEM || piece / 2 < KHO_SCRATCH_PIECE_MIN)
			return err;
		piece = round_up(piece / 2, CMA_MIN_ALIGNMENT_BYTES);
	}
	if (kho_nr_scratch - first > 1)
		pr_info("no free range of %llu MiB: the global scratch area is in %u pieces\n",
			size >> 20, kho_nr_scratch - first);
	return 0;
}

/*
 * Gigantic hugetlb pages reserved at boot (hugepagesz=1G hugepages=N) are
 * memblock allocations made before the page allocator is up, but they are
 * a pool for userspace, not memory the kernel needs to boot: leave them out
 * of the estimate, or scratch would grow with the pool. Pages below @limit
 * on @nid (NUMA_NO_NODE: any node) count.
 */
static u64 __init kho_boot_pool_size(phys_addr_t limit, int nid)
{
	u64 size = 0;
#ifdef CONFIG_HUGETLB_PAGE
	struct huge_bootmem_page *m;
	int n;

	for_each_online_node(n) {
		if (nid != NUMA_NO_NODE && n != nid)
			continue;
		/* set up by the first hugepages= that allocated at boot */
		if (!huge_boot_pages[n].next)
			continue;
		list_for_each_entry(m, &huge_boot_pages[n], list) {
			phys_addr_t base = virt_to_phys(m);
			phys_addr_t end = base + huge_page_size(m->hstate);

			if (limit != MEMBLOCK_ALLOC_ANYWHERE)
				end = min_t(phys_addr_t, end, limit + 1);
			if (end > base)
				size += end - base;
		}
	}
#endif
	return size;
}

/* What the kernel allocated at boot below @limit on @nid, pools aside. */
static u64 __init kho_kern_size(phys_addr_t limit, int nid)
{
	u64 kern = memblock_reserved_kern_size(limit, nid);
	u64 pool = kho_boot_pool_size(limit, nid);

	return kern > pool ? kern - pool : 0;
}

/*
 * First boot of a KHO kernel: size and reserve the scratch areas. All sizes
 * are computed before anything is allocated, since the areas themselves
 * are kernel allocations and would otherwise inflate each other.
 *
 * The lowmem area serves allocations the next kernel limits to low memory,
 * the per-node areas node-local ones. Where all RAM is low memory, or there
 * is one node, the global area serves those too: a separate area would
 * duplicate it. Sizes given explicitly for such an area are added to the
 * global one, so the total asked for stays.
 */
static int __init kho_reserve_scratch(void)
{
	static u64 pernode[MAX_NUMNODES] __initdata;
	bool pct = kho_scratch_cfg.percent_mode;
	bool all_low = memblock_end_of_DRAM() - 1 <= ARCH_LOW_ADDRESS_LIMIT;
	bool one_node = num_online_nodes() == 1;
	u64 lowmem, global, size;
	int nid, err;

	lowmem = pct ? kho_scale(kho_kern_size(ARCH_LOW_ADDRESS_LIMIT, NUMA_NO_NODE),
				 KHO_SCRATCH_LOWMEM_MIN) : kho_scratch_cfg.lowmem;
	global = pct ? kho_scale(kho_kern_size(MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE),
				 KHO_SCRATCH_GLOBAL_MIN) : kho_scratch_cfg.global;
	for_each_online_node(nid)
		pernode[nid] = pct ?
			kho_scale(kho_kern_size(MEMBLOCK_ALLOC_ANYWHERE, nid), 0) :
			kho_scratch_cfg.pernode;

	if (pct)
		pr_info("scratch sized at %u%% of %llu MiB allocated at boot, boot-time huge pages (%llu MiB) left out\n",
			kho_scratch_cfg.percent,
			kho_kern_size(MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) >> 20,
			kho_boot_pool_size(MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) >> 20);
	if (all_low) {
		/* the global area holds all of the low allocations already */
		if (!pct)
			global += lowmem;
		lowmem = 0;
	}
	if (one_node) {
		for_each_online_node(nid) {
			if (!pct)
				global += pernode[nid];
			pernode[nid] = 0;
		}
	}

	size = lowmem;
	err = kho_alloc_scratch(size, ARCH_LOW_ADDRESS_LIMIT, NUMA_NO_NODE);
	if (err)
		goto fail;
	size = global;
	err = kho_alloc_scratch_global(size);
	if (err)
		goto fail;
	for_each_online_node(nid) {
		size = pernode[nid];
		err = kho_alloc_scratch(size, MEMBLOCK_ALLOC_ACCESSIBLE, nid);
		if (err)
			goto fail;
	}
	return 0;

fail:
	pr_err("cannot reserve %llu MiB of scratch memory (area %u); KHO disabled, try a smaller kho_scratch=\n",
	       size >> 20, kho_nr_scratch);
	while (kho_nr_scratch) {
		kho_nr_scratch--;
		memblock_phys_free(kho_scratch[kho_nr_scratch].base,
				   kho_scratch[kho_nr_scratch].size);
	}
	return err;
}

/*
 * Make every pageblock of the scratch areas MIGRATE_CMA before memblock
 * hands free memory to the buddy allocator, so unmovable allocations never
 * land in scratch. Pages memblock allocated there early (on a KHO boot) stay
 * allocated and join the CMA free lists when freed.
 *
 * With deferred struct page init most of scratch has no initialized struct
 * page yet: initialize each pageblock's first one before reading its zone.
 * Deferred init keeps these pageblocks CMA when it frees them.
 */
static void __init kho_scratch_to_cma(bool release)
{
	unsigned long pfn, nr = 0;
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++) {
		unsigned long start = PHYS_PFN(kho_scratch[i].base);
		unsigned long end = PHYS_PFN(kho_scratch[i].base + kho_scratch[i].size);

		for (pfn = start; pfn < end; pfn += pageblock_nr_pages) {
			struct page *page = pfn_to_page(pfn);

			init_reserved_page(pfn, early_pfn_to_nid(pfn));
			set_pageblock_migratetype(page, MIGRATE_CMA);
			page_zone(page)->cma_pages += pageblock_nr_pages;
		}
		nr += end - start;
		if (release)
			memblock_phys_free(kho_scratch[i].base, kho_scratch[i].size);
		pr_info("scratch area %u: %pa + %#llx\n", i, &kho_scratch[i].base,
			kho_scratch[i].size);
	}
	totalcma_pages += nr;
}

/**
 * kho_memory_init - settle KHO memory before memblock frees to the buddy
 *
 * Called from mm_core_init() while memblock is still active. On a KHO boot
 * it validates the incoming memory map and reserves every preserved block;
 * then it leaves scratch-only mode and (re)establishes the scratch areas
 * for the next kexec.
 */
void __init kho_memory_init(void)
{
	unsigned int i;
	bool incoming;

	kho_in_validate();
	incoming = kho_in.active;

	memblock_clear_kho_scratch_only();

	if (!incoming) {
		/* a rejected handover's scratch is ordinary memory again */
		for (i = 0; i < kho_nr_scratch; i++)
			memblock_clear_kho_scratch(kho_scratch[i].base,
						   kho_scratch[i].size);
		memblock_clear_kho_scratch(0, SZ_1M);
		kho_nr_scratch = 0;
	}

	/*
	 * Gigantic pages that hugetlb held back while memblock was confined
	 * to scratch: the pool stays for good, so it stays out of scratch.
	 */
	memblock_set_kho_scratch_avoid(true);
	hugetlb_alloc_deferred_boot_pages();
	memblock_set_kho_scratch_avoid(false);

	if (!kho_is_enabled())
		return;
	kho_boot_alloc = kho_kern_size(MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE);
	if (!incoming && kho_reserve_scratch()) {
		kho_disable();
		return;
	}
	kho_scratch_to_cma(!incoming);
}

/**
 * kho_enter_scratch_only - adopt the scratch areas of an incoming handover
 *
 * Called from setup_arch() right after memblock learns the memory map and
 * before anything is allocated from it. Marks the scratch areas (and the
 * first MiB, which x86 never preserves) and restricts memblock allocations
 * to them.
 */
void __init kho_enter_scratch_only(void)
{
	struct kho_handover *h;
	unsigned int i, j, n;

	if (!kho_in.handover_phys || kho_in.rejected)
		return;
	if (!kho_is_enabled()) {
		pr_info("incoming handover ignored: KHO is off (kho=on enables it)\n");
		return;
	}

	h = early_memremap(kho_in.handover_phys, PAGE_SIZE);
	if (!h) {
		kho_in_reject("cannot map the handover page");
		return;
	}
	n = h->nr_scratch;
	if (n == 0 || n > KHO_SCRATCH_SLOTS) {
		kho_in_reject("bad number of scratch areas");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct kho_scratch_range r = h->scratch[i];

		if (!r.size || !IS_ALIGNED(r.base | r.size, CMA_MIN_ALIGNMENT_BYTES) ||
		    r.base + r.size < r.base ||
		    !memblock_is_region_memory(r.base, r.size)) {
			kho_in_reject("scratch area outside memory or misaligned");
			goto out;
		}
		for (j = 0; j < i; j++)
			if (r.base < kho_scratch[j].base + kho_scratch[j].size &&
			    kho_scratch[j].base < r.base + r.size) {
				kho_in_reject("scratch areas overlap");
				goto out;
			}
		kho_scratch[i] = r;
	}
	kho_nr_scratch = n;
	if (!memblock_is_region_memory(kho_in.handover_phys, PAGE_SIZE) ||
	    !memblock_is_region_memory(kho_in.fdt_phys, kho_in.fdt_size)) {
		kho_in_reject("handover page or FDT outside memory");
		kho_nr_scratch = 0;
		goto out;
	}
	if (kho_overlaps_scratch(kho_in.handover_phys, PAGE_SIZE) ||
	    kho_overlaps_scratch(kho_in.fdt_phys, kho_in.fdt_size)) {
		kho_in_reject("handover data lies in scratch");
		kho_nr_scratch = 0;
		goto out;
	}
	/*
	 * Memory reserved already (the first MiB, this kernel, its boot data)
	 * is not the handover's: reserving it again and freeing it when the
	 * handover is refused later would free it under its owner.
	 */
	if (kho_in.handover_phys < SZ_1M || kho_in.fdt_phys < SZ_1M ||
	    memblock_is_region_reserved(kho_in.handover_phys, PAGE_SIZE) ||
	    memblock_is_region_reserved(kho_in.fdt_phys, kho_in.fdt_size)) {
		kho_in_reject("handover page or FDT in reserved memory");
		kho_nr_scratch = 0;
		goto out;
	}

	for (i = 0; i < kho_nr_scratch; i++)
		memblock_mark_kho_scratch(kho_scratch[i].base, kho_scratch[i].size);
	memblock_mark_kho_scratch(0, SZ_1M);
	memblock_set_kho_scratch_only();
	/* the handover page and FDT are reserved before the map is walked */
	memblock_reserve(kho_in.handover_phys, PAGE_SIZE);
	memblock_reserve(kho_in.fdt_phys, PAGE_ALIGN(kho_in.fdt_size));
	kho_in.active = true;
	pr_info("handover accepted: %u scratch areas, FDT %u bytes\n",
		kho_nr_scratch, kho_in.fdt_size);
out:
	early_memunmap(h, PAGE_SIZE);
}

/**
 * kho_locate_mem_hole - place a kexec_file segment inside scratch
 * @kbuf: the buffer to place
 * @func: kexec_file's hole-finding callback
 *
 * Return: 1 if placed, 0 when KHO does not constrain placement (KHO off,
 * or a crash kernel), -EADDRNOTAVAIL if no scratch area fits.
 */
int kho_locate_mem_hole(struct kexec_buf *kbuf,
			int (*func)(struct resource *, void *))
{
	struct resource res = {
		.name = "System RAM",
		.flags = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
	};
	unsigned int i, n = kho_nr_scratch;

	if (!kho_is_enabled() || !n || kbuf->image->type == KEXEC_TYPE_CRASH)
		return 0;

	for (i = 0; i < n; i++) {
		unsigned int k = kbuf->top_down ? n - 1 - i : i;

		res.start = kho_scratch[k].base;
		res.end = kho_scratch[k].base + kho_scratch[k].size - 1;
		if (func(&res, kbuf))
			return 1;
	}
	return -EADDRNOTAVAIL;
}

/**
 * kho_kexec_file_check - will the image just loaded boot inside scratch?
 * @image: what kexec_file_load() prepared
 *
 * The next kernel boots in scratch: its segments are placed there, and it
 * allocates only from scratch until it has reserved the preserved memory.
 * A kernel that runs out of scratch that early dies before its console is
 * up. Refuse an image whose segments, plus the early allocations of this
 * kernel as an estimate of the next one's, do not fit in the scratch areas.
 *
 * Return: 0, or -ENOSPC with the figures in the kernel log.
 */
int kho_kexec_file_check(struct kimage *image)
{
	u64 segs = 0, total = 0;
	unsigned long i;

	if (!kho_is_enabled() || !kho_nr_scratch ||
	    image->type == KEXEC_TYPE_CRASH)
		return 0;
	for (i = 0; i < image->nr_segments; i++)
		segs += image->segment[i].memsz;
	for (i = 0; i < kho_nr_scratch; i++)
		total += kho_scratch[i].size;
	if (segs + kho_boot_alloc <= total)
		return 0;
	pr_err("kexec_file_load refused: the next kernel needs about %llu MiB of scratch (%llu MiB of kernel, initrd and boot data, %llu MiB of early allocations like this kernel's) but the scratch areas hold %llu MiB; they keep their size until a boot without a handover (kho_scratch=)\n",
	       DIV_ROUND_UP_ULL(segs + kho_boot_alloc, SZ_1M),
	       DIV_ROUND_UP_ULL(segs, SZ_1M),
	       DIV_ROUND_UP_ULL(kho_boot_alloc, SZ_1M), total >> 20);
	return -ENOSPC;
}
