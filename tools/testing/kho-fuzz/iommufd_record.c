// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: a preserved iommufd's record, as the iommufd handler checks
 * and claims it in the next kernel (iommufd_luo_claim(): the preserved
 * block found, the header, the IOAS, HWPT and mapping arrays checked in
 * place, then the block claimed), and frees it as finish() does.
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM; the record is
 * the first page of RAM. A record accepted must claim exactly its block,
 * have every HWPT and mapping name one of its IOAS, and lie within the
 * block; a refused one frees nothing.
 */
#include "drivers/iommu/kho/iommufd_luo.c"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void iommufd_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		iommufd_seeds();
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct iommufd_luo_hwpt_ser *hwpts;
	struct iommufd_luo_map_ser *maps;
	struct iommufd_luo_ser *ser;
	struct folio *folio;
	unsigned long pages;
	u32 i;

	fuzz_consumer_reset(data, size);
	folio = iommufd_luo_claim(FUZZ_RAM_PHYS);
	if (IS_ERR(folio)) {
		pr_info("kho-fuzz: refused\n");
		if (fuzz_pages_freed)
			fuzz_fail("refused record freed %lu pages",
				  fuzz_pages_freed);
		return 0;
	}
	pr_info("kho-fuzz: accepted\n");
	ser = folio_address(folio);
	pages = folio_nr_pages(folio);
	if (ser->size > pages * PAGE_SIZE)
		fuzz_fail("a record of %llu bytes in %lu pages", ser->size,
			  pages);
	hwpts = iommufd_luo_ser_hwpts(ser);
	for (i = 0; i < ser->nr_hwpts; i++)
		if (!iommufd_luo_has_ioas(ser, ser->nr_ioas, hwpts[i].ioas))
			fuzz_fail("HWPT %u of no IOAS accepted", hwpts[i].id);
	maps = iommufd_luo_ser_maps(ser);
	for (i = 0; i < ser->nr_maps; i++)
		if (!iommufd_luo_has_ioas(ser, ser->nr_ioas, maps[i].ioas))
			fuzz_fail("a mapping of no IOAS accepted");
	folio_put(folio);
	if (fuzz_pages_freed != pages)
		fuzz_fail("record of %lu pages freed %lu", pages,
			  fuzz_pages_freed);
	return 0;
}

/* ----- seeds, written with the format's own structures ----- */

static void iommufd_seed(const char *name, u32 nr_maps)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	u8 *buf = calloc(1, size);
	struct iommufd_luo_ioas_ser *ioas;
	struct iommufd_luo_hwpt_ser *hwpt;
	struct iommufd_luo_map_ser *map;
	struct iommufd_luo_ser *ser;
	struct fuzz_block *b;
	u32 i;

	b = (void *)buf;
	ser = (void *)(buf + sizeof(*b) * FUZZ_NR_BLOCKS);
	b[0] = (struct fuzz_block){ .page = 0 };
	ser->magic = IOMMUFD_LUO_MAGIC;
	ser->version = IOMMUFD_LUO_VERSION;
	ser->nr_ioas = 1;
	ser->nr_hwpts = 1;
	ser->nr_maps = nr_maps;
	ser->size = iommufd_luo_ser_size(1, 1, nr_maps);
	ioas = iommufd_luo_ser_ioas(ser);
	ioas->id = 1;
	hwpt = iommufd_luo_ser_hwpts(ser);
	hwpt->id = 3;
	hwpt->ioas = 1;
	hwpt->pci_rid = PCI_DEVID(0, PCI_DEVFN(2, 0));
	map = iommufd_luo_ser_maps(ser);
	for (i = 0; i < nr_maps; i++) {
		map[i].iova = (16ULL << 20) + i * SZ_2M;
		map[i].length = SZ_2M;
		map[i].token = 1;
		map[i].offset = i * SZ_2M;
		map[i].ioas = 1;
		map[i].flags = IOMMUFD_LUO_MAP_READ | IOMMUFD_LUO_MAP_WRITE;
	}
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void iommufd_seeds(void)
{
	iommufd_seed("one-map", 1);
	iommufd_seed("eight-maps", 8);
}
