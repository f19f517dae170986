// SPDX-License-Identifier: GPL-2.0
/*
 * The fake machine the fuzz targets run the kernel's parsers on: physical
 * memory, memblock, the page allocator, struct pages, kmalloc and printk,
 * built on libc. See env.h for the memory layout.
 */
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stdarg.h>

#include "kernel/liveupdate/kexec_handover_internal.h"
#include "mm/internal.h"
#include "env.h"

/* libc and the system, declared here: the kernel's headers do not */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
long write(int fd, const void *buf, size_t n);
int open(const char *path, int flags, ...);
int close(int fd);

#define PROT_NONE_	0
#define PROT_READ_	1
#define PROT_WRITE_	2
#define MAP_PRIVATE_	0x02
#define MAP_FIXED_	0x10
#define MAP_ANON_	0x20
#define MAP_NORESERVE_	0x4000
#define O_WRONLY_	01
#define O_CREAT_	0100
#define O_TRUNC_	01000

/* The span of physical addresses backed by a mapping or a trap. */
#define FUZZ_PHYS_SPAN	(1UL << 42)

unsigned long page_offset_base;
unsigned long phys_base;
unsigned long vmemmap_base;
kmem_buckets kmalloc_caches[NR_KMALLOC_TYPES];

unsigned long fuzz_pages_freed;

/* pfn_valid(): every pfn of the fake memory has a memory map */
struct mem_section **mem_section;

static u8 *ram;
static size_t ram_dirty;		/* bytes of RAM written last run */
static bool verbose;
static unsigned int fail_countdown;

/* ----- reports ----- */

static void fuzz_puts(const char *s)
{
	write(2, s, strlen(s));
}

void fuzz_fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fuzz_puts("kho-fuzz: ");
	fuzz_puts(buf);
	fuzz_puts("\n");
	abort();
}

void fuzz_stub_called(const char *name)
{
	fuzz_fail("the parser called %s(), which the fuzz environment does not provide",
		  name);
}

int _printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!verbose)
		return 0;
	/* skip the KERN_<LEVEL> prefix */
	while (fmt[0] == KERN_SOH_ASCII && fmt[1])
		fmt += 2;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fuzz_puts(buf);
	return 0;
}

void __warn_printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fuzz_puts(buf);
}

/* lib/string.c's, which the harness does not link: libc has the rest */
void *memchr_inv(const void *start, int c, size_t bytes)
{
	const u8 *p = start;
	size_t i;

	for (i = 0; i < bytes; i++)
		if (p[i] != (u8)c)
			return (void *)(p + i);
	return NULL;
}

/* ----- physical memory ----- */

static void *map_at(phys_addr_t phys, size_t size, int prot)
{
	void *want = (void *)(page_offset_base + phys);
	void *p = mmap(want, size, prot, MAP_PRIVATE_ | MAP_ANON_ | MAP_FIXED_, -1, 0);

	if (p != want)
		fuzz_fail("cannot map %#llx bytes at physical %#llx",
			  (u64)size, (u64)phys);
	return p;
}

void *fuzz_ram(void)
{
	return ram;
}

/* ----- memblock: memory is the three regions, reserved a page bitmap ----- */

static const struct { phys_addr_t base, size; } fuzz_memory[] = {
	{ 0, FUZZ_LOW_SIZE },
	{ FUZZ_RAM_PHYS, FUZZ_RAM_SIZE },
	{ FUZZ_BIG_PHYS, FUZZ_BIG_SIZE },
};

#define RESV_PAGES	(FUZZ_BIG_PHYS + FUZZ_BIG_SIZE) / PAGE_SIZE
static DECLARE_BITMAP(resv, RESV_PAGES);
static DECLARE_BITMAP(resv_boot, RESV_PAGES);

bool memblock_is_region_memory(phys_addr_t base, phys_addr_t size)
{
	phys_addr_t end = base + size < base ? PHYS_ADDR_MAX : base + size;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fuzz_memory); i++)
		if (base >= fuzz_memory[i].base &&
		    base < fuzz_memory[i].base + fuzz_memory[i].size)
			return end <= fuzz_memory[i].base + fuzz_memory[i].size;
	return false;
}

phys_addr_t memblock_phys_mem_size(void)
{
	return FUZZ_LOW_SIZE + FUZZ_RAM_SIZE + FUZZ_BIG_SIZE;
}

/* The pages of [base, base + size) that the bitmap covers. */
static bool resv_range(phys_addr_t base, phys_addr_t size,
		       unsigned long *first, unsigned long *last)
{
	phys_addr_t end = base + size < base ? PHYS_ADDR_MAX : base + size;

	if (!size || base >= (phys_addr_t)RESV_PAGES * PAGE_SIZE)
		return false;
	*first = base >> PAGE_SHIFT;
	*last = min_t(phys_addr_t, DIV_ROUND_UP_ULL(end, PAGE_SIZE), RESV_PAGES);
	return true;
}

bool memblock_is_region_reserved(phys_addr_t base, phys_addr_t size)
{
	unsigned long first, last;

	if (!resv_range(base, size, &first, &last))
		return false;
	return find_next_bit(resv, last, first) < last;
}

bool fuzz_memblock_reserved(phys_addr_t base, phys_addr_t size)
{
	unsigned long first, last;

	if (!resv_range(base, size, &first, &last) ||
	    last - first != DIV_ROUND_UP_ULL(size, PAGE_SIZE))
		return false;
	return find_next_zero_bit(resv, last, first) >= last;
}

int memblock_reserve(phys_addr_t base, phys_addr_t size)
{
	unsigned long first, last;

	if (resv_range(base, size, &first, &last))
		bitmap_set(resv, first, last - first);
	return 0;
}

int memblock_phys_free(phys_addr_t base, phys_addr_t size)
{
	unsigned long first, last;

	if (resv_range(base, size, &first, &last))
		bitmap_clear(resv, first, last - first);
	return 0;
}

bool fuzz_memblock_as_booted(void)
{
	return bitmap_equal(resv, resv_boot, RESV_PAGES);
}

int memblock_mark_kho_scratch(phys_addr_t base, phys_addr_t size)
{
	return 0;
}

int memblock_clear_kho_scratch(phys_addr_t base, phys_addr_t size)
{
	return 0;
}

void memblock_set_kho_scratch_only(void)
{
}

void memblock_clear_kho_scratch_only(void)
{
}

void *early_memremap(resource_size_t phys, unsigned long size)
{
	return phys_to_virt(phys);
}

void early_memunmap(void *addr, unsigned long size)
{
}

/* ----- allocation ----- */

void fuzz_fail_alloc(unsigned int n)
{
	fail_countdown = n;
}

static bool alloc_fails(void)
{
	return fail_countdown && !--fail_countdown;
}

static void *fuzz_kmalloc(size_t size, gfp_t flags)
{
	void *p;

	if (alloc_fails())
		return NULL;
	if (!size)
		return ZERO_SIZE_PTR;
	p = malloc(size);
	if (p)
		memset(p, flags & __GFP_ZERO ? 0 : 0xa5, size);
	return p;
}

void *__kmalloc_noprof(size_t size, gfp_t flags)
{
	return fuzz_kmalloc(size, flags);
}

void *__kmalloc_cache_noprof(struct kmem_cache *s, gfp_t flags, size_t size)
{
	return fuzz_kmalloc(size, flags);
}

void *__kvmalloc_node_noprof(DECL_BUCKET_PARAMS(size, b), gfp_t flags, int node)
{
	return fuzz_kmalloc(size, flags);
}

void kfree(const void *p)
{
	if (!ZERO_OR_NULL_PTR(p))
		free((void *)p);
}

void kvfree(const void *p)
{
	kfree(p);
}

/*
 * The only slab cache the parsers reach is the xarray's node cache
 * (lib/radix-tree.c's), whose constructor hands out zeroed nodes.
 */
struct kmem_cache *radix_tree_node_cachep;

void *kmem_cache_alloc_lru_noprof(struct kmem_cache *s, struct list_lru *lru,
				  gfp_t flags)
{
	if (s != radix_tree_node_cachep)
		fuzz_fail("kmem_cache_alloc_lru() of a cache other than the xarray's");
	return fuzz_kmalloc(sizeof(struct xa_node), flags | __GFP_ZERO);
}

void kmem_cache_free(struct kmem_cache *s, void *p)
{
	kfree(p);
}

void radix_tree_node_rcu_free(struct rcu_head *head)
{
	kfree(container_of(head, struct xa_node, rcu_head));
}

/* one thread: no reader can still see what is handed to RCU */
void call_rcu(struct rcu_head *head, rcu_callback_t func)
{
	func(head);
}

char *kstrdup(const char *s, gfp_t gfp)
{
	size_t len = strlen(s) + 1;
	char *p = fuzz_kmalloc(len, gfp);

	if (p)
		memcpy(p, s, len);
	return p;
}

ssize_t sized_strscpy(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size);

	if (!size)
		return -E2BIG;
	if (len == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, len + 1);
	return len;
}

/* ----- pages: struct pages for every pfn below FUZZ_MAX_PFN ----- */

static unsigned long pool_next;		/* pages handed out this run */
static bool from_ram;			/* seeds: allocate in RAM instead */
static unsigned long page_lo = ULONG_MAX, page_hi;	/* struct pages touched */
static u8 *freed;			/* per pfn: given back this run */

static void touch_pages(unsigned long pfn, unsigned long nr)
{
	page_lo = min(page_lo, pfn);
	page_hi = max(page_hi, pfn + nr);
}

void prep_compound_page(struct page *page, unsigned int order)
{
	unsigned long i, nr = 1UL << order;

	__SetPageHead(page);
	for (i = 1; i < nr; i++)
		prep_compound_tail(page, i);
	prep_compound_head(page, order);
}

void adjust_managed_page_count(struct page *page, long count)
{
	touch_pages(page_to_pfn(page), count);
}

static struct page *pool_alloc(unsigned int order)
{
	unsigned long nr = 1UL << order, first = ALIGN(pool_next, nr);
	phys_addr_t base = from_ram ? FUZZ_RAM_PHYS : FUZZ_POOL_PHYS;
	unsigned long pfn = (base >> PAGE_SHIFT) + first;
	struct page *page;

	if (alloc_fails() ||
	    first + nr > (from_ram ? FUZZ_RAM_PAGES : FUZZ_POOL_PAGES))
		return NULL;
	if (from_ram)
		fuzz_ram_written((first + nr) * PAGE_SIZE);
	pool_next = first + nr;
	memset(phys_to_virt(PFN_PHYS(pfn)), 0, nr * PAGE_SIZE);
	touch_pages(pfn, nr);
	page = pfn_to_page(pfn);
	set_page_count(page, 1);
	if (order)
		prep_compound_page(page, order);
	return page;
}

unsigned long get_zeroed_page_noprof(gfp_t gfp)
{
	struct page *page = pool_alloc(0);

	return page ? (unsigned long)page_address(page) : 0;
}

struct folio *__folio_alloc_noprof(gfp_t gfp, unsigned int order,
				   int nid, nodemask_t *nodemask)
{
	struct page *page = pool_alloc(order);

	return page ? page_folio(page) : NULL;
}

static void pages_free(unsigned long pfn, unsigned long nr)
{
	unsigned long i;

	if (pfn + nr > FUZZ_MAX_PFN)
		fuzz_fail("freeing pfn %#lx+%lu, beyond memory", pfn, nr);
	for (i = 0; i < nr; i++) {
		if (freed[pfn + i])
			fuzz_fail("pfn %#lx freed twice", pfn + i);
		freed[pfn + i] = 1;
	}
	fuzz_pages_freed += nr;
}

void __folio_put(struct folio *folio)
{
	pages_free(folio_pfn(folio), folio_nr_pages(folio));
}

void free_pages(unsigned long addr, unsigned int order)
{
	if (addr)
		pages_free(PHYS_PFN(virt_to_phys((void *)addr)), 1UL << order);
}

void __free_pages(struct page *page, unsigned int order)
{
	pages_free(page_to_pfn(page), 1UL << order);
}

void free_pages_exact(void *virt, size_t size)
{
	pages_free(PHYS_PFN(virt_to_phys(virt)), PAGE_ALIGN(size) >> PAGE_SHIFT);
}

void fuzz_alloc_from_ram(bool on)
{
	from_ram = on;
	pool_next = 0;
}

/* ----- an incoming KHO map, written by the kernel's own writer ----- */

static struct kho_mem_map fuzz_in_map;

void fuzz_kho_in_begin(void)
{
	memset(&fuzz_in_map, 0, sizeof(fuzz_in_map));
}

/* Preserve a block of RAM or BIG that overlaps no block preserved so far. */
int fuzz_kho_in_preserve(phys_addr_t phys, unsigned int order)
{
	unsigned long pfn = PHYS_PFN(phys), o;

	if (order > MAX_PAGE_ORDER || !IS_ALIGNED(pfn, 1UL << order) ||
	    !memblock_is_region_memory(phys, PAGE_SIZE << order) ||
	    phys < FUZZ_RAM_PHYS)
		return -EINVAL;
	for (o = 0; o <= MAX_PAGE_ORDER; o++) {
		unsigned long base = ALIGN_DOWN(pfn, 1UL << o), n;

		/* a block around it, or one inside it */
		if (kho_map_test(&fuzz_in_map, base, o))
			return -EEXIST;
		if (o < order)
			for (n = 0; n < 1UL << order; n += 1UL << o)
				if (kho_map_test(&fuzz_in_map, pfn + n, o))
					return -EEXIST;
	}
	return kho_map_set(&fuzz_in_map, pfn, order);
}

void fuzz_kho_in_end(void)
{
	memcpy(kho_in.mem_root, fuzz_in_map.root, sizeof(kho_in.mem_root));
	kho_in.active = true;
	kho_in.map_checked = true;
}

/*
 * Consumer targets: the input starts with FUZZ_NR_BLOCKS struct fuzz_block,
 * the blocks of RAM (page < FUZZ_RAM_PAGES) or BIG (the pages after) that
 * the previous kernel preserved; the rest is RAM.
 */
size_t fuzz_consumer_reset(const u8 *data, size_t size)
{
	struct fuzz_block b[FUZZ_NR_BLOCKS] = {};
	size_t hdr = min(size, sizeof(b));
	phys_addr_t phys;
	unsigned int i;

	memcpy(b, data, hdr);
	fuzz_env_reset(data + hdr, size - hdr);
	fuzz_kho_in_begin();
	for (i = 0; i < FUZZ_NR_BLOCKS; i++) {
		if (b[i].page < FUZZ_RAM_PAGES)
			phys = FUZZ_RAM_PHYS + b[i].page * PAGE_SIZE;
		else
			phys = FUZZ_BIG_PHYS + (b[i].page - FUZZ_RAM_PAGES) * PAGE_SIZE;
		fuzz_kho_in_preserve(phys, b[i].order);
	}
	fuzz_kho_in_end();
	return hdr;
}

/* ----- set-up and reset ----- */

void fuzz_env_init(void)
{
	size_t span = FUZZ_PHYS_SPAN;
	void *base;
	char *v = getenv("KHO_FUZZ_VERBOSE");
	unsigned long i;

	verbose = v && *v && *v != '0';
	/* a hole everywhere: a stray physical address faults */
	base = mmap(NULL, span, PROT_NONE_, MAP_PRIVATE_ | MAP_ANON_ |
		    MAP_NORESERVE_, -1, 0);
	if (base == (void *)-1)
		fuzz_fail("cannot reserve the physical address space");
	page_offset_base = (unsigned long)base;
	map_at(0, FUZZ_LOW_SIZE, PROT_READ_);
	ram = map_at(FUZZ_RAM_PHYS, FUZZ_RAM_SIZE, PROT_READ_ | PROT_WRITE_);
	map_at(FUZZ_BIG_PHYS, FUZZ_BIG_SIZE, PROT_READ_);
	map_at(FUZZ_POOL_PHYS, FUZZ_POOL_PAGES * PAGE_SIZE,
	       PROT_READ_ | PROT_WRITE_);
	vmemmap_base = (unsigned long)mmap(NULL, FUZZ_MAX_PFN * sizeof(struct page),
					   PROT_READ_ | PROT_WRITE_,
					   MAP_PRIVATE_ | MAP_ANON_, -1, 0);
	freed = calloc(FUZZ_MAX_PFN, 1);
	mem_section = calloc(NR_SECTION_ROOTS, sizeof(*mem_section));
	mem_section[0] = calloc(SECTIONS_PER_ROOT, sizeof(**mem_section));
	for (i = 0; i <= pfn_to_section_nr(FUZZ_MAX_PFN); i++)
		mem_section[0][i].section_mem_map = SECTION_HAS_MEM_MAP |
						    SECTION_IS_EARLY;
	if (vmemmap_base == -1UL || !freed)
		fuzz_fail("out of memory setting up");
	/* x86 keeps the first MiB to itself */
	bitmap_set(resv_boot, 0, FUZZ_LOW_SIZE >> PAGE_SHIFT);
}

void fuzz_env_reset(const u8 *data, size_t size)
{
	size = min_t(size_t, size, FUZZ_RAM_SIZE);
	if (size)
		memcpy(ram, data, size);
	if (ram_dirty > size)
		memset(ram + size, 0, ram_dirty - size);
	ram_dirty = size;

	bitmap_copy(resv, resv_boot, RESV_PAGES);
	if (page_lo < page_hi) {
		memset(pfn_to_page(page_lo), 0,
		       (page_hi - page_lo) * sizeof(struct page));
		memset(freed + page_lo, 0, page_hi - page_lo);
	}
	page_lo = ULONG_MAX;
	page_hi = 0;
	pool_next = 0;
	fail_countdown = 0;
	fuzz_pages_freed = 0;
	memset(&kho_in, 0, sizeof(kho_in));
	kho_nr_scratch = 0;
}

/* RAM the last run wrote beyond its input (the kernel writes some). */
void fuzz_ram_written(size_t end)
{
	ram_dirty = max(ram_dirty, min_t(size_t, end, FUZZ_RAM_SIZE));
}

/* ----- seeds ----- */

const char *fuzz_seed_dir(void)
{
	return getenv("KHO_FUZZ_SEEDS");
}

void fuzz_write_seed(const char *name, const void *data, size_t size)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_seed_dir(), name);
	fd = open(path, O_WRONLY_ | O_CREAT_ | O_TRUNC_, 0644);
	if (fd < 0 || write(fd, data, size) != (long)size)
		fuzz_fail("cannot write seed %s", path);
	close(fd);
}

/* ----- one thread, no time: locks and clocks ----- */

void _raw_spin_lock(raw_spinlock_t *lock)
{
}

unsigned long _raw_spin_lock_irqsave(raw_spinlock_t *lock)
{
	return 0;
}

void _raw_spin_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags)
{
}

void _raw_spin_lock_irq(raw_spinlock_t *lock)
{
}

void mutex_lock(struct mutex *lock)
{
}

void mutex_unlock(struct mutex *lock)
{
}

void down_read(struct rw_semaphore *sem)
{
}

void up_read(struct rw_semaphore *sem)
{
}

void down_write(struct rw_semaphore *sem)
{
}

void up_write(struct rw_semaphore *sem)
{
}

u64 local_clock(void)
{
	return 0;
}

int ___ratelimit(struct ratelimit_state *rs, const char *func)
{
	return 1;
}

int __cond_resched(void)
{
	return 0;
}
