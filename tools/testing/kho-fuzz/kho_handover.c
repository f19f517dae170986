// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: the whole incoming handover as the next kernel meets it at
 * boot. The handover page (kho_populate_early()), its scratch list
 * (kho_enter_scratch_only()), the FDT and memory-map checks
 * (kho_in_validate()), then the lookups drivers make in what was accepted
 * (kho_find_node(), kho_get_prop(), kho_get_subtree()).
 *
 * Input: one flags byte, then the contents of fuzz RAM, whose first page is
 * the handover page. With FIX_CRC the checksums are recomputed first, so
 * that the checks behind them are reached.
 *
 * A refused handover must leave memblock as it was at boot; an accepted
 * one must have the handover page and FDT reserved, and every subtree
 * handed to a driver must be a whole FDT inside preserved memory.
 */
#include "kernel/liveupdate/kexec_handover.c"
#include "env.h"

#define FIX_CRC		0x01

static void handover_fix_crc(struct kho_handover *h)
{
	if (h->nr_scratch > KHO_MAX_SCRATCH)
		return;
	if (h->fdt_size <= SZ_64M &&
	    memblock_is_region_memory(h->fdt_phys, h->fdt_size))
		h->fdt_crc = crc32_le(~0, phys_to_virt(h->fdt_phys), h->fdt_size);
	kho_handover_seal(h);
}

/* Read every node and property of a subtree a driver was given. */
static void handover_read_subtree(const void *fdt)
{
	int node, prop, len, depth = 0;
	const char *name;

	for (node = 0; node >= 0; node = fdt_next_node(fdt, node, &depth)) {
		fdt_for_each_property_offset(prop, fdt, node)
			fdt_getprop_by_offset(fdt, prop, &name, &len);
	}
}

static void handover_lookups(void)
{
	const void *fdt = kho_get_fdt(), *sub;
	phys_addr_t phys;
	const char *name;
	int node, len;

	if (!fdt)
		fuzz_fail("accepted handover without an FDT");
	fdt_for_each_subnode(node, fdt, 0) {
		name = fdt_get_name(fdt, node, &len);
		if (!name)
			continue;
		kho_get_prop(node, "compatible", &len);
		sub = kho_get_subtree(name, &phys);
		if (!sub)
			continue;
		if (!kho_in_range_preserved(phys, PAGE_ALIGN(fdt_totalsize(sub))))
			fuzz_fail("subtree %s not in preserved memory", name);
		handover_read_subtree(sub);
	}
	kho_find_node("/liveupdate");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void handover_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		handover_seeds();
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u8 flags = size ? data[0] : 0;

	fuzz_env_reset(size ? data + 1 : data, size ? size - 1 : 0);
	fuzz_ram_written(PAGE_SIZE);
	if (flags & FIX_CRC)
		handover_fix_crc(fuzz_ram());

	kho_enable = true;
	kho_populate_early(FUZZ_RAM_PHYS, PAGE_SIZE);
	kho_enter_scratch_only();
	kho_in_validate();
	if (!kho_in.active) {
		if (!fuzz_memblock_as_booted())
			fuzz_fail("refused handover (%s) left memblock changed",
				  kho_in.rejected ?: "no reason");
		return 0;
	}
	if (!fuzz_memblock_reserved(kho_in.handover_phys, PAGE_SIZE) ||
	    !fuzz_memblock_reserved(kho_in.fdt_phys, kho_in.fdt_size))
		fuzz_fail("accepted handover data not reserved");
	handover_lookups();
	return 0;
}

/* ----- seeds: handovers written by the kernel's own writer ----- */

/* A driver's subtree, with a node and a property, in a page of RAM. */
static void *handover_seed_subtree(const char *compatible)
{
	struct folio *folio = folio_alloc(GFP_KERNEL, 0);
	void *fdt = folio_address(folio);

	if (fdt_create(fdt, PAGE_SIZE) || fdt_finish_reservemap(fdt) ||
	    fdt_begin_node(fdt, "") ||
	    fdt_property_string(fdt, "compatible", compatible) ||
	    fdt_begin_node(fdt, "state") || fdt_property_u64(fdt, "value", 42) ||
	    fdt_end_node(fdt) || fdt_end_node(fdt) || fdt_finish(fdt))
		fuzz_fail("cannot write a seed subtree");
	return fdt;
}

static void handover_seed(const char *name, u8 flags, unsigned int nr_sub,
			  bool blocks)
{
	size_t size = 1 + FUZZ_RAM_SIZE;
	u8 *buf = calloc(1, size);
	char sub[16];
	unsigned int i;

	fuzz_env_reset(NULL, 0);
	fuzz_alloc_from_ram(true);
	kho_enable = true;
	kho_out.handover = folio_address(folio_alloc(GFP_KERNEL, 0));
	for (i = 0; i < nr_sub; i++) {
		snprintf(sub, sizeof(sub), "driver-%u", i);
		if (kho_add_subtree(sub, handover_seed_subtree(sub)))
			fuzz_fail("seed %s: cannot add subtree", name);
	}
	if (blocks && (kho_preserve_phys(FUZZ_BIG_PHYS + SZ_2M + SZ_1M, SZ_64K) ||
		       kho_preserve_phys(FUZZ_BIG_PHYS + SZ_2M, SZ_512K)))
		fuzz_fail("seed %s: cannot preserve blocks", name);
	kho_out.fdt = folio_alloc(GFP_KERNEL, 0);
	if (kho_flatten_tree(&kho_out.root, folio_address(kho_out.fdt), PAGE_SIZE))
		fuzz_fail("seed %s: cannot flatten the tree", name);
	kho_out.fdt_size = fdt_totalsize(folio_address(kho_out.fdt));
	kho_scratch[0].base = FUZZ_BIG_PHYS;
	kho_scratch[0].size = SZ_2M;
	kho_nr_scratch = 1;
	kho_out_write_handover();
	fuzz_alloc_from_ram(false);

	buf[0] = flags;
	memcpy(buf + 1, fuzz_ram(), FUZZ_RAM_SIZE);
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
	for (i = 0; i < nr_sub; i++) {
		snprintf(sub, sizeof(sub), "driver-%u", i);
		kho_remove_subtree(sub);
	}
	kho_map_free(&kho_out_map);
}

static void handover_seeds(void)
{
	handover_seed("empty", 0, 0, false);
	handover_seed("subtree", 0, 1, false);
	handover_seed("subtrees-blocks", 0, 2, true);
	handover_seed("subtrees-blocks-fixcrc", FIX_CRC, 2, true);
}
