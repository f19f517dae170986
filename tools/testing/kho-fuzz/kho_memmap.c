// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: the walk of the incoming preserved-memory map
 * (kho_in_mem_reserve() in kernel/liveupdate/kexec_handover_mem.c), and
 * the lookups and claims made on a map it accepted.
 *
 * Input: struct memmap_input, then the contents of fuzz RAM, where the
 * roots may point. A rejected map must leave memblock as it was at boot;
 * an accepted one must have every block in memory, outside the first MiB,
 * reserved, and claimable once at its order.
 */
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/mm.h>

#include "kernel/liveupdate/kexec_handover_internal.h"
#include "env.h"

struct memmap_input {
	u64 root[KHO_NR_ORDERS];
};

#define MAX_CLAIMS	8

struct memmap_check {
	struct kho_map_walk w;
	unsigned int nr;
	phys_addr_t phys[MAX_CLAIMS];
	unsigned int order[MAX_CLAIMS];
};

static int memmap_block(struct kho_map_walk *w, phys_addr_t phys,
			unsigned int order)
{
	struct memmap_check *c = container_of(w, struct memmap_check, w);
	phys_addr_t size = PAGE_SIZE << order;

	if (phys < SZ_1M || !memblock_is_region_memory(phys, size) ||
	    !fuzz_memblock_reserved(phys, size))
		fuzz_fail("accepted block %#llx order %u is not reserved memory",
			  (u64)phys, order);
	if (c->nr < MAX_CLAIMS) {
		c->phys[c->nr] = phys;
		c->order[c->nr++] = order;
	}
	return 0;
}

static void memmap_claim(struct memmap_check *c)
{
	struct folio *folio;
	unsigned int i;

	for (i = 0; i < c->nr; i++) {
		if (!kho_is_preserved(c->phys[i], c->order[i]))
			fuzz_fail("block %#llx order %u not found",
				  (u64)c->phys[i], c->order[i]);
		folio = kho_restore_folio(c->phys[i]);
		if (!folio || folio_order(folio) != c->order[i])
			fuzz_fail("block %#llx order %u claimed wrong",
				  (u64)c->phys[i], c->order[i]);
		folio_put(folio);
		if (kho_is_preserved(c->phys[i], c->order[i]) ||
		    kho_restore_folio(c->phys[i]))
			fuzz_fail("block %#llx claimed twice", (u64)c->phys[i]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void memmap_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		memmap_seeds();
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct memmap_input in = {};
	struct memmap_check c = { .w.block = memmap_block };
	int err;

	memcpy(&in, data, min(size, sizeof(in)));
	data += min(size, sizeof(in));
	size -= min(size, sizeof(in));
	fuzz_env_reset(data, size);

	memcpy(kho_in.mem_root, in.root, sizeof(kho_in.mem_root));
	kho_in.active = true;
	err = kho_in_mem_reserve();
	if (err) {
		if (kho_in.map_checked || !fuzz_memblock_as_booted())
			fuzz_fail("rejected map (%d) left memblock changed", err);
		return 0;
	}
	if (kho_map_walk(kho_in.mem_root, KHO_NR_ORDERS, &c.w))
		fuzz_fail("accepted map fails a second walk");
	memmap_claim(&c);
	return 0;
}

/* ----- seeds: maps written by the kernel's own writer, in RAM ----- */

static void memmap_seed(const char *name, const phys_addr_t *blocks,
			const unsigned int *orders, unsigned int nr)
{
	struct memmap_input *in;
	unsigned int i;
	size_t size = sizeof(*in) + FUZZ_RAM_SIZE;
	u8 *buf = calloc(1, size);

	fuzz_env_reset(NULL, 0);
	fuzz_alloc_from_ram(true);
	fuzz_kho_in_begin();
	for (i = 0; i < nr; i++)
		if (fuzz_kho_in_preserve(blocks[i], orders[i]))
			fuzz_fail("seed %s: cannot preserve block %u", name, i);
	fuzz_kho_in_end();
	fuzz_alloc_from_ram(false);
	in = (void *)buf;
	memcpy(in->root, kho_in.mem_root, sizeof(in->root));
	memcpy(buf + sizeof(*in), fuzz_ram(), FUZZ_RAM_SIZE);
	/* leave off the zero pages at the end */
	while (size > sizeof(*in) && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void memmap_seeds(void)
{
	static const phys_addr_t b1[] = { FUZZ_RAM_PHYS + 12 * PAGE_SIZE };
	static const unsigned int o1[] = { 0 };
	/* three orders: twelve map pages, then the blocks */
	static const phys_addr_t b2[] = {
		FUZZ_RAM_PHYS + 12 * PAGE_SIZE, FUZZ_BIG_PHYS,
		FUZZ_BIG_PHYS + SZ_2M, FUZZ_BIG_PHYS + SZ_2M + SZ_1M,
	};
	static const unsigned int o2[] = { 2, 9, 0, 0 };

	memmap_seed("one-page", b1, o1, ARRAY_SIZE(b1));
	memmap_seed("orders", b2, o2, ARRAY_SIZE(b2));
	memmap_seed("empty", NULL, NULL, 0);
}
