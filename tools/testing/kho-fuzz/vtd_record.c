// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: the Intel VT-d handover, as the next kernel's DMAR driver
 * meets it: the "intel-iommu" node of the KHO tree (intel_kho_parse()),
 * and for each remapping unit found translating, the root, context and
 * page tables the unit's root table register points to, checked against
 * the record in place and claimed (intel_kho_adopt(): intel_kho_check_unit(),
 * intel_kho_check_ctx(), intel_kho_check_table(), or intel_kho_reject()).
 * Then, as init_dmars() goes on, the handover root and context tables and
 * the page tables of unused domains are freed (intel_kho_tables_switched()),
 * and the harness frees the page tables in use, as the release of the last
 * copied context entry of each domain does.
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM. The first page
 * of RAM starts with struct vtd_fuzz_hdr: the units of the fake machine
 * (register base, root table address register, capabilities, segment),
 * which of the node and its properties the KHO tree holds, and the bytes of
 * the "units", "domains" and "devices" properties, which follow the header
 * one after another. The tables are wherever the record says, in the
 * other pages.
 *
 * A unit adopted must translate through tables that lie in claimed pages,
 * every present context entry naming a recorded domain of its unit; a unit
 * refused is blocked and frees nothing. Once everything adopted is freed,
 * exactly the pages claimed for it have been freed, each once.
 */
#include "drivers/iommu/kho/intel_kho.c"
#include <linux/libfdt.h>
#include <linux/memblock.h>
#include "kernel/liveupdate/kexec_handover_internal.h"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

/* iommu.c's: scalable mode as the command line left it */
int intel_iommu_sm;

#define VTD_FUZZ_UNITS		2
#define VTD_FUZZ_NODE		BIT(0)
#define VTD_FUZZ_PROP(i)	BIT(1 + (i))
/* more table pages than any accepted handover here can have */
#define VTD_FUZZ_MAX_WALK	(FUZZ_NR_BLOCKS * 2)

/* A remapping unit of the fake machine */
struct vtd_fuzz_unit {
	u64 reg_phys;	/* its DRHD's register base */
	u64 rtaddr;	/* DMAR_RTADDR_REG: the root table it translates through */
	u64 cap;
	u64 ecap;
	u16 segment;
	u8 present;	/* found translating at boot */
	u8 unused[5];
};

struct vtd_fuzz_hdr {
	u8 props;	/* VTD_FUZZ_NODE, VTD_FUZZ_PROP(): what the tree holds */
	u8 sm;		/* intel_iommu_sm */
	u8 fail_alloc;	/* the n-th allocation of the parse fails (0: none) */
	u8 unused;
	u16 len[3];	/* bytes of "units", "domains", "devices" */
	u8 unused2[6];
	struct vtd_fuzz_unit unit[VTD_FUZZ_UNITS];
};

static const char * const vtd_props[3] = { "units", "domains", "devices" };

static struct intel_iommu vtd_iommu[VTD_FUZZ_UNITS];
static u64 vtd_regs[VTD_FUZZ_UNITS][DMAR_RTADDR_REG / sizeof(u64) + 1];

static void vtd_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		vtd_seeds();
	return 0;
}

/* Forget the last run's handover: a boot sees one */
static void vtd_reset(void)
{
	struct intel_kho_in_unit *iu, *tmp;

	list_for_each_entry_safe(iu, tmp, &intel_kho_in.units_in, node) {
		list_del(&iu->node);
		kfree(iu);
	}
	xa_destroy(&intel_kho_in.seen);
	kfree(intel_kho_in.doms);
	intel_kho_in.parsed = false;
	intel_kho_in.present = false;
	intel_kho_in.sound = false;
	intel_kho_in.units = NULL;
	intel_kho_in.devs = NULL;
	intel_kho_in.doms = NULL;
	intel_kho_in.nr_units = 0;
	intel_kho_in.nr_devs = 0;
	intel_kho_in.nr_doms = 0;
	intel_kho_in.nr_seen = 0;
	intel_kho_in.gen = 0;
}

/* The KHO tree: the node and the properties the header asks for */
static void vtd_kho_tree(const struct vtd_fuzz_hdr *h)
{
	const u8 *val = (const u8 *)(h + 1), *end = (u8 *)fuzz_ram() + FUZZ_RAM_SIZE;
	size_t len[3], total = 0, fdt_size;
	struct folio *folio;
	unsigned int i;
	void *fdt;

	for (i = 0; i < 3; i++) {
		len[i] = min_t(size_t, h->len[i], end - val - total);
		total += len[i];
	}
	fdt_size = PAGE_ALIGN(total + 1024);
	folio = __folio_alloc(GFP_KERNEL, get_order(fdt_size), 0, NULL);
	if (!folio)
		fuzz_fail("no pool memory for the KHO tree");
	fdt = folio_address(folio);
	if (fdt_create(fdt, fdt_size) || fdt_finish_reservemap(fdt) ||
	    fdt_begin_node(fdt, "") ||
	    fdt_property_string(fdt, "compatible", KHO_FDT_COMPATIBLE))
		fuzz_fail("cannot write the KHO tree");
	if (h->props & VTD_FUZZ_NODE) {
		if (fdt_begin_node(fdt, INTEL_KHO_NODE))
			fuzz_fail("cannot write the KHO tree");
		for (i = 0; i < 3; i++) {
			if ((h->props & VTD_FUZZ_PROP(i)) &&
			    fdt_property(fdt, vtd_props[i], val, len[i]))
				fuzz_fail("cannot write the KHO tree");
			val += len[i];
		}
		if (fdt_end_node(fdt))
			fuzz_fail("cannot write the KHO tree");
	}
	if (fdt_end_node(fdt) || fdt_finish(fdt))
		fuzz_fail("cannot write the KHO tree");
	kho_in.fdt_phys = virt_to_phys(fdt);
	kho_in.fdt_size = fdt_totalsize(fdt);
}

static void vtd_machine(const struct vtd_fuzz_hdr *h)
{
	unsigned int i;

	intel_iommu_sm = h->sm & 1;
	for (i = 0; i < VTD_FUZZ_UNITS; i++) {
		struct intel_iommu *iommu = &vtd_iommu[i];
		const struct vtd_fuzz_unit *fu = &h->unit[i];

		memset(iommu, 0, sizeof(*iommu));
		memset(vtd_regs[i], 0, sizeof(vtd_regs[i]));
		iommu->reg = (void __iomem *)vtd_regs[i];
		iommu->reg_phys = fu->reg_phys;
		iommu->cap = fu->cap;
		iommu->ecap = fu->ecap;
		iommu->segment = fu->segment;
		iommu->seq_id = i;
		iommu->flags = VTD_FLAG_TRANS_PRE_ENABLED;
		snprintf(iommu->name, sizeof(iommu->name), "dmar%u", i);
		vtd_regs[i][DMAR_RTADDR_REG / sizeof(u64)] = fu->rtaddr;
	}
}

/* Is @phys a page this run claimed: preserved at boot, not any more? */
static bool vtd_claimed(u64 phys)
{
	return PAGE_ALIGNED(phys) && memblock_is_region_memory(phys, PAGE_SIZE) &&
	       phys >= FUZZ_RAM_PHYS && !kho_is_preserved(phys, 0) &&
	       xa_load(&intel_kho_in.seen, PHYS_PFN(phys));
}

/* Walk an adopted page table as the hardware would: claimed pages only */
static void vtd_walk_table(const char *unit, u64 phys, int level,
			   unsigned int *pages)
{
	struct dma_pte *tbl;
	unsigned int i;

	if (++*pages > VTD_FUZZ_MAX_WALK)
		fuzz_fail("%s: adopted tables of more pages than were preserved",
			  unit);
	if (!vtd_claimed(phys))
		fuzz_fail("%s: adopted a page table at %#llx, not a claimed page",
			  unit, phys);
	tbl = phys_to_virt(phys);
	for (i = 0; i < INTEL_KHO_PTES && level > 1; i++)
		if (dma_pte_present(&tbl[i]) && !dma_pte_superpage(&tbl[i]))
			vtd_walk_table(unit, dma_pte_addr(&tbl[i]), level - 1,
				       pages);
}

/* What the hardware of an adopted unit translates through */
static void vtd_check_adopted(struct intel_kho_in_unit *iu, u64 rtaddr)
{
	struct intel_iommu *iommu = iu->iommu;
	unsigned int bus, devfn, i, pages = 0;
	struct intel_kho_in_dom *m;
	struct root_entry *root;

	if (!(iommu->flags & VTD_FLAG_TRANS_PRE_ENABLED))
		fuzz_fail("%s: adopted, yet no longer marked translating",
			  iommu->name);
	if (iu->root != rtaddr || !vtd_claimed(rtaddr))
		fuzz_fail("%s: adopted a root table at %#llx, translating through %#llx",
			  iommu->name, iu->root, rtaddr);
	root = phys_to_virt(rtaddr);
	for (bus = 0; bus < INTEL_KHO_ROOTS; bus++) {
		struct context_entry *tbl;

		if (!(root[bus].lo & 1))
			continue;
		if (!vtd_claimed(root[bus].lo & VTD_PAGE_MASK))
			fuzz_fail("%s: bus %u: adopted a context table in a page not claimed",
				  iommu->name, bus);
		tbl = phys_to_virt(root[bus].lo & VTD_PAGE_MASK);
		for (devfn = 0; devfn < INTEL_KHO_CONTEXTS; devfn++) {
			struct context_entry *ce = &tbl[devfn];

			if (!context_present(ce))
				continue;
			m = intel_kho_in_dom(iommu->reg_phys,
					     context_domain_id(ce));
			if (!m || m->iommu != iommu || !m->users ||
			    m->pgd != intel_kho_ctx_root(ce) ||
			    m->aw != intel_kho_ctx_aw(ce) ||
			    intel_kho_ctx_tt(ce) != CONTEXT_TT_MULTI_LEVEL)
				fuzz_fail("%s: %02x:%02x.%u: adopted with no domain of its unit",
					  iommu->name, bus, PCI_SLOT(devfn),
					  PCI_FUNC(devfn));
		}
	}
	for (i = 0; i < intel_kho_in.nr_doms; i++) {
		m = &intel_kho_in.doms[i];
		if (m->reg_base != iommu->reg_phys)
			continue;
		if (m->iommu != iommu)
			fuzz_fail("%s: domain %u not given to the unit adopted",
				  iommu->name, m->did);
		if (m->did >= cap_ndoms(iommu->cap) ||
		    !(cap_sagaw(iommu->cap) & BIT(m->aw)))
			fuzz_fail("%s: adopted domain %u the unit cannot have",
				  iommu->name, m->did);
		vtd_walk_table(iommu->name, m->pgd, agaw_to_level(m->aw),
			       &pages);
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	const struct vtd_fuzz_hdr *h;
	struct intel_kho_in_unit *iu;
	unsigned long claimed = 0;
	unsigned int i, j;
	bool handover;

	vtd_reset();
	fuzz_consumer_reset(data, size);
	h = fuzz_ram();
	vtd_kho_tree(h);
	vtd_machine(h);
	fuzz_fail_alloc(h->fail_alloc);

	for (i = 0; i < VTD_FUZZ_UNITS; i++) {
		struct intel_iommu *iommu = &vtd_iommu[i];

		/* register sets do not overlap: two units, two bases */
		if (!h->unit[i].present ||
		    (i && iommu->reg_phys == vtd_iommu[0].reg_phys &&
		     h->unit[0].present))
			continue;
		handover = intel_kho_adopt(iommu);
		if (handover != !!(h->props & VTD_FUZZ_NODE))
			fuzz_fail("%s: a handover %s, none %s", iommu->name,
				  handover ? "seen" : "missed",
				  handover ? "given" : "seen");
		iu = intel_kho_in_unit(iommu);
		if (!handover) {
			if (iu || !(iommu->flags & VTD_FLAG_TRANS_PRE_ENABLED))
				fuzz_fail("%s: touched without a handover",
					  iommu->name);
			continue;
		}
		if (!iu || iu->state == INTEL_KHO_REJECTED) {
			pr_info("kho-fuzz: refused %s\n", iommu->name);
			if (iommu->flags & VTD_FLAG_TRANS_PRE_ENABLED)
				fuzz_fail("%s: refused, yet still marked translating",
					  iommu->name);
			/* a sound record names the devices to keep blocked */
			for (j = 0; iu && intel_kho_in.sound &&
			     j < intel_kho_in.nr_devs; j++) {
				const struct intel_kho_device_ser *d =
					&intel_kho_in.devs[j];

				if (d->reg_base == iommu->reg_phys &&
				    intel_kho_defer_attach(iommu, PCI_BUS_NUM(d->rid),
							   d->rid & 0xff) != 1)
					fuzz_fail("%s: refused, a recorded device not kept waiting",
						  iommu->name);
			}
			continue;
		}
		pr_info("kho-fuzz: accepted %s\n", iommu->name);
		if (iu->state != INTEL_KHO_CHECKED)
			fuzz_fail("%s: adopted in state %d", iommu->name,
				  iu->state);
		vtd_check_adopted(iu, h->unit[i].rtaddr);
		claimed += intel_kho_in.nr_seen;
	}
	fuzz_fail_alloc(0);
	if (fuzz_pages_freed)
		fuzz_fail("the check freed %lu pages", fuzz_pages_freed);

	/* init_dmars() switched the units to their own root tables ... */
	intel_kho_tables_switched();
	/* ... and every copied entry of every domain goes in time */
	for (i = 0; i < intel_kho_in.nr_doms; i++) {
		struct intel_kho_in_dom *m = &intel_kho_in.doms[i];

		if (m->iommu && m->users)
			intel_kho_in_free_work(&m->free_work);
	}
	if (fuzz_pages_freed != claimed)
		fuzz_fail("%lu table pages claimed, %lu freed", claimed,
			  fuzz_pages_freed);
	return 0;
}

/* ----- seeds, written with the format's own structures ----- */

#define VTD_SEED_REG(i)		(0xfed90000ULL + (i) * 0x1000)
/* 256 domain ids, 3- and 4-level tables, coherent, legacy mode */
#define VTD_SEED_CAP		(2 | (0x6ULL << 8))
#define VTD_SEED_ECAP		1ULL
#define VTD_SEED_GUEST		SZ_1G

struct vtd_seed {
	u8 *buf;
	u8 *ram;
	struct vtd_fuzz_hdr *h;
	struct intel_kho_unit_ser units[VTD_FUZZ_UNITS];
	struct intel_kho_domain_ser doms[4];
	struct intel_kho_device_ser devs[4];
	unsigned int nr_units, nr_doms, nr_devs, nr_pages;
};

/* The next table page: a preserved RAM page */
static u64 vtd_seed_page(struct vtd_seed *s)
{
	struct fuzz_block *b = (void *)s->buf;
	unsigned int page = 1 + s->nr_pages;

	if (s->nr_pages == FUZZ_NR_BLOCKS || page >= FUZZ_RAM_PAGES)
		fuzz_fail("a seed of more table pages than blocks");
	b[s->nr_pages++] = (struct fuzz_block){ .page = page };
	return FUZZ_RAM_PHYS + page * PAGE_SIZE;
}

static void *vtd_seed_va(struct vtd_seed *s, u64 phys)
{
	return s->ram + (phys - FUZZ_RAM_PHYS);
}

static unsigned int vtd_seed_unit(struct vtd_seed *s, u16 segment)
{
	unsigned int i = s->nr_units++;
	u64 root = vtd_seed_page(s);

	s->units[i] = (struct intel_kho_unit_ser){
		.reg_base = VTD_SEED_REG(i),
		.root = root,
		.version = INTEL_KHO_VERSION,
		.segment = segment,
	};
	s->h->unit[i] = (struct vtd_fuzz_unit){
		.reg_phys = VTD_SEED_REG(i),
		.rtaddr = root,
		.cap = VTD_SEED_CAP,
		.ecap = VTD_SEED_ECAP,
		.segment = segment,
		.present = 1,
	};
	return i;
}

/*
 * A page table of @level mapping guest memory: 4 KiB pages at the bottom,
 * with @huge a superpage first in the tables of levels 2 and 3
 */
static u64 vtd_seed_table(struct vtd_seed *s, int level, bool huge, u64 *iova)
{
	u64 phys = vtd_seed_page(s);
	struct dma_pte *pte = vtd_seed_va(s, phys);
	unsigned int i;

	if (level == 1) {
		for (i = 0; i < 16; i++, *iova += VTD_PAGE_SIZE)
			pte[i].val = (VTD_SEED_GUEST + *iova) | DMA_PTE_READ |
				     DMA_PTE_WRITE;
		return phys;
	}
	/* superpages: 2 MiB and 1 GiB */
	if (huge && level <= 3) {
		pte[0].val = VTD_SEED_GUEST | DMA_PTE_READ | DMA_PTE_WRITE |
			     DMA_PTE_LARGE_PAGE;
		pte++;
	}
	pte->val = vtd_seed_table(s, level - 1, huge, iova) | DMA_PTE_READ |
		   DMA_PTE_WRITE;
	return phys;
}

/* Domain @did of unit @u, its page table of @aw, with @levels of tables */
static unsigned int vtd_seed_domain(struct vtd_seed *s, unsigned int u, u16 did,
				    u8 aw, int levels, bool huge)
{
	unsigned int i = s->nr_doms++;
	u64 iova = 0, pgd;

	if (levels < agaw_to_level(aw)) {
		/* the top table maps only superpages */
		pgd = vtd_seed_page(s);
		((struct dma_pte *)vtd_seed_va(s, pgd))->val =
			VTD_SEED_GUEST | DMA_PTE_READ | DMA_PTE_WRITE |
			DMA_PTE_LARGE_PAGE;
	} else {
		pgd = vtd_seed_table(s, agaw_to_level(aw), huge, &iova);
	}
	s->doms[i] = (struct intel_kho_domain_ser){
		.reg_base = s->units[u].reg_base,
		.pgd = pgd,
		.owner = FUZZ_RAM_PHYS + 0x100000 * (i + 1),
		.did = did,
		.aw = aw,
	};
	return i;
}

/* Function @bus/@devfn of unit @u translating through domain @d */
static void vtd_seed_device(struct vtd_seed *s, unsigned int u, unsigned int d,
			    u8 bus, u8 devfn)
{
	struct root_entry *root = vtd_seed_va(s, s->units[u].root);
	struct context_entry *ce;

	if (!(root[bus].lo & 1))
		root[bus].lo = vtd_seed_page(s) | 1;
	ce = (struct context_entry *)vtd_seed_va(s, root[bus].lo & VTD_PAGE_MASK) +
	     devfn;
	context_set_domain_id(ce, s->doms[d].did);
	context_set_address_width(ce, s->doms[d].aw);
	context_set_address_root(ce, s->doms[d].pgd);
	context_set_translation_type(ce, CONTEXT_TT_MULTI_LEVEL);
	context_set_fault_enable(ce);
	context_set_present(ce);
	s->devs[s->nr_devs++] = (struct intel_kho_device_ser){
		.reg_base = s->units[u].reg_base,
		.rid = PCI_DEVID(bus, devfn),
	};
}

static void vtd_seed_begin(struct vtd_seed *s)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;

	memset(s, 0, sizeof(*s));
	s->buf = calloc(1, size);
	s->ram = s->buf + sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS;
	s->h = (void *)s->ram;
	s->h->props = VTD_FUZZ_NODE | VTD_FUZZ_PROP(0) | VTD_FUZZ_PROP(1) |
		      VTD_FUZZ_PROP(2);
}

static void vtd_seed_end(struct vtd_seed *s, const char *name)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	struct fuzz_block *b = (void *)s->buf;
	u8 *val = (u8 *)(s->h + 1);
	unsigned int i;

	/* the unused blocks name the first again: nothing more preserved */
	for (i = s->nr_pages; i < FUZZ_NR_BLOCKS; i++)
		b[i] = b[0];
	s->h->len[0] = s->nr_units * sizeof(s->units[0]);
	s->h->len[1] = s->nr_doms * sizeof(s->doms[0]);
	s->h->len[2] = s->nr_devs * sizeof(s->devs[0]);
	memcpy(val, s->units, s->h->len[0]);
	val += s->h->len[0];
	memcpy(val, s->doms, s->h->len[1]);
	val += s->h->len[1];
	memcpy(val, s->devs, s->h->len[2]);
	while (size > 1 && !s->buf[size - 1])
		size--;
	fuzz_write_seed(name, s->buf, size);
	free(s->buf);
}

static void vtd_seeds(void)
{
	struct vtd_seed s;
	unsigned int u, d;

	/* one function, a 3-level table down to 4 KiB pages */
	vtd_seed_begin(&s);
	u = vtd_seed_unit(&s, 0);
	d = vtd_seed_domain(&s, u, 2, 1, 3, false);
	vtd_seed_device(&s, u, d, 0, PCI_DEVFN(2, 0));
	vtd_seed_end(&s, "one-device");

	/* two functions sharing a 4-level table; a domain left unused */
	vtd_seed_begin(&s);
	u = vtd_seed_unit(&s, 0);
	d = vtd_seed_domain(&s, u, 5, 2, 4, true);
	vtd_seed_device(&s, u, d, 0, PCI_DEVFN(2, 0));
	vtd_seed_device(&s, u, d, 0, PCI_DEVFN(3, 1));
	vtd_seed_domain(&s, u, 7, 1, 1, false);
	vtd_seed_end(&s, "shared-domain-and-unused");

	/* two units, each with a function on a bus of its own */
	vtd_seed_begin(&s);
	u = vtd_seed_unit(&s, 0);
	d = vtd_seed_domain(&s, u, 2, 1, 1, false);
	vtd_seed_device(&s, u, d, 0, PCI_DEVFN(2, 0));
	u = vtd_seed_unit(&s, 1);
	d = vtd_seed_domain(&s, u, 2, 1, 3, true);
	vtd_seed_device(&s, u, d, 1, PCI_DEVFN(0, 0));
	vtd_seed_end(&s, "two-units");

	/* every device detached before the kexec: an empty root table */
	vtd_seed_begin(&s);
	vtd_seed_unit(&s, 0);
	vtd_seed_end(&s, "no-device");
}
