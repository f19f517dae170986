// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: a preserved memfd's records, as the memfd handler checks and
 * claims them in the next kernel (memfd_luo_in_start(): the header and the
 * whole folio chain checked in place, then the header claimed; then every
 * chain page and folio claimed and freed, as finish() does for a file never
 * retrieved).
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM; the header is
 * the first page of RAM. A record accepted must claim exactly the blocks it
 * names, each once, and free them all.
 */
#include "mm/memfd_luo.c"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

/*
 * The huge page sizes of an x86-64 host booted with hugepagesz=1G: the
 * handler accepts a hugetlb record only of an order this kernel has an
 * hstate for. Nothing reads the hstates themselves.
 */
struct hstate *size_to_hstate(unsigned long size)
{
	static struct hstate pmd_pages, pud_pages;

	if (size == PMD_SIZE)
		return &pmd_pages;
	if (size == PUD_SIZE)
		return &pud_pages;
	return NULL;
}

/*
 * An unretrieved huge page may join the next kernel's pool; this
 * environment has none, so it is freed as any folio is.
 */
void memfd_luo_hugetlb_free_folio(struct folio *folio)
{
	folio_put(folio);
}

static void memfd_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		memfd_seeds();
	return 0;
}

/* Pages an accepted record hands back: header, chain pages and folios. */
static unsigned long memfd_pages(const struct memfd_luo_ser *ser)
{
	const struct memfd_luo_folio_page *page;
	phys_addr_t phys = ser->folios;
	unsigned long pages = 1;
	u32 i;

	for (; phys; phys = page->next) {
		page = phys_to_virt(phys);
		pages++;
		for (i = 0; i < page->count; i++)
			pages += 1UL << (page->folios[i].pfo & MEMFD_LUO_FOLIO_ORDER);
	}
	return pages;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct memfd_luo_in in = {};
	unsigned long pages;

	fuzz_consumer_reset(data, size);
	if (memfd_luo_in_start(&in, FUZZ_RAM_PHYS)) {
		pr_info("kho-fuzz: refused\n");
		if (fuzz_pages_freed)
			fuzz_fail("refused record freed %lu pages", fuzz_pages_freed);
		return 0;
	}
	pages = memfd_pages(phys_to_virt(FUZZ_RAM_PHYS));
	pr_info("kho-fuzz: accepted, %lu pages\n", pages);
	memfd_luo_in_release(&in);
	if (fuzz_pages_freed != pages)
		fuzz_fail("record of %lu pages freed %lu", pages, fuzz_pages_freed);
	return 0;
}

/* ----- seeds, written with the format's own structures ----- */

struct memfd_seed_folio {
	phys_addr_t phys;
	unsigned int order;
	u64 index;
};

static void memfd_seed(const char *name, u32 kind, u32 hpage_order, u64 fsize,
		       const struct memfd_seed_folio *f, unsigned int nr,
		       unsigned int per_page)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	struct fuzz_block *b;
	struct memfd_luo_ser *ser;
	struct memfd_luo_folio_page *page = NULL;
	unsigned int i, nb = 0, chain = 1;
	u8 *buf = calloc(1, size), *ram;

	b = (void *)buf;
	ram = buf + sizeof(*b) * FUZZ_NR_BLOCKS;
	ser = (void *)ram;
	ser->magic = MEMFD_LUO_MAGIC;
	ser->version = MEMFD_LUO_VERSION;
	ser->kind = kind;
	ser->size = fsize;
	ser->pos = 4096;
	ser->seals = F_SEAL_SEAL;
	ser->mode = 0600;
	ser->hpage_order = hpage_order;
	ser->nr_folios = nr;
	strscpy(ser->name, "memfd:guest-ram", sizeof(ser->name));
	b[nb++] = (struct fuzz_block){ .page = 0 };
	for (i = 0; i < nr; i++) {
		if (i % per_page == 0) {
			struct memfd_luo_folio_page *next = (void *)(ram + chain * PAGE_SIZE);

			if (page)
				page->next = FUZZ_RAM_PHYS + chain * PAGE_SIZE;
			else
				ser->folios = FUZZ_RAM_PHYS + chain * PAGE_SIZE;
			b[nb++] = (struct fuzz_block){ .page = chain };
			page = next;
			chain++;
		}
		page->folios[page->count].pfo = f[i].phys | f[i].order |
						MEMFD_LUO_FOLIO_UPTODATE;
		page->folios[page->count++].index = f[i].index;
		b[nb].order = f[i].order;
		b[nb++].page = f[i].phys >= FUZZ_BIG_PHYS ?
			       FUZZ_BIG_PAGE(f[i].phys) :
			       (f[i].phys - FUZZ_RAM_PHYS) / PAGE_SIZE;
	}
	if (nb > FUZZ_NR_BLOCKS)
		fuzz_fail("seed %s: too many blocks", name);
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void memfd_seeds(void)
{
	static const struct memfd_seed_folio shmem[] = {
		{ FUZZ_RAM_PHYS + 8 * PAGE_SIZE, 0, 0 },
		{ FUZZ_RAM_PHYS + 9 * PAGE_SIZE, 0, 1 },
		{ FUZZ_RAM_PHYS + 12 * PAGE_SIZE, 2, 4 },
		{ FUZZ_BIG_PHYS + SZ_2M, 9, 512 },
	};
	static const struct memfd_seed_folio huge[] = {
		{ FUZZ_BIG_PHYS, 9, 0 },
		{ FUZZ_BIG_PHYS + SZ_2M, 9, 1024 },
	};

	memfd_seed("shmem", MEMFD_LUO_SHMEM, 0, SZ_4M, shmem, 4, 4);
	memfd_seed("shmem-2-chain-pages", MEMFD_LUO_SHMEM, 0, SZ_4M, shmem, 4, 2);
	memfd_seed("shmem-empty", MEMFD_LUO_SHMEM, 0, SZ_4M, NULL, 0, 1);
	memfd_seed("hugetlb", MEMFD_LUO_HUGETLB, 9, SZ_8M, huge, 2, 8);
}
