// SPDX-License-Identifier: GPL-2.0-only
/*
 * Intel VT-d across a Live Update kexec: the devices of a preserved
 * iommufd keep translating, through the same mappings, from the old
 * kernel's last moment to the moment a VMM attaches them to a domain in
 * the new one. Their DMA is never untranslated, and never walks tables
 * that are being rebuilt.
 *
 * Outgoing. When an iommufd is frozen, iommu_kho_preserve() is called for
 * each device attached to one of its paging HWPTs. For the device's unit
 * it builds a handover root table holding only the context entries of
 * preserved devices; each points to a copy of its domain's second-level
 * page table, made then, the copies shared by the devices of a domain.
 * Every page of these is preserved and the KHO node "intel-iommu" records
 * the units and domains (include/linux/kho/abi/intel_iommu.h). On the
 * kexec path intel_kho_shutdown() points each such unit at its handover
 * root table and leaves translation on: preserved devices translate
 * through the copies, which map what the live tables mapped at freeze,
 * and every other device of the unit is blocked. An abort drops it all.
 *
 * Incoming. init_dmars() finds the unit translating. intel_kho_adopt()
 * checks the tables in place against the record (every table page
 * preserved and used once, every context entry a multi-level one of a
 * recorded domain, in legacy mode) before anything reads further, and
 * claims the table pages; then the driver copies the context entries as a
 * kdump kernel does, marking them copied and their domain ids in use, and
 * switches the unit to its own root table with translation still on. The
 * handover root and context tables are freed then. A device's copied
 * entry goes when it is attached to a paging domain (or released by its
 * iommufd's Live Update handler); when the last entry of a domain goes,
 * its page table copy is freed and its domain id released. If the check
 * fails the unit keeps translating but gets an empty root table: the
 * devices the record names wait to be attached, blocked, nothing is
 * identity mapped, and dmesg says why.
 *
 * Limits: legacy mode only (scalable mode is refused at preserve), PCI
 * functions without DMA aliases, second-level tables.
 */
#define pr_fmt(fmt) "DMAR: Live Update: " fmt

#include <linux/kexec.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/intel_iommu.h>
#include <linux/kho/iommu.h>
#include <linux/pci.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "../intel/iommu.h"
#include "../iommu-priv.h"

#define INTEL_KHO_PTES		(VTD_PAGE_SIZE / sizeof(struct dma_pte))
#define INTEL_KHO_ROOTS		(VTD_PAGE_SIZE / sizeof(struct root_entry))
#define INTEL_KHO_CONTEXTS	(VTD_PAGE_SIZE / sizeof(struct context_entry))

static inline u64 intel_kho_ctx_root(struct context_entry *c)
{
	return c->lo & VTD_PAGE_MASK;
}

static inline u8 intel_kho_ctx_tt(struct context_entry *c)
{
	return (c->lo >> 2) & 3;
}

static inline u8 intel_kho_ctx_aw(struct context_entry *c)
{
	return c->hi & 7;
}

/* ----- outgoing ----- */

/* A device whose context entry is in a handover table */
struct intel_kho_dev {
	struct list_head node;
	struct device *dev;
	struct dmar_domain *domain;
	u8 bus;
	u8 devfn;
};

/* The copy of a domain's page table that handover entries point to */
struct intel_kho_dom {
	struct list_head node;
	u64 owner;
	u64 pgd;
	u16 did;
	u8 aw;
	unsigned long nr_pages;
	s64 copy_us;
};

/* A unit to be left translating */
struct intel_kho_unit {
	struct list_head node;
	struct intel_iommu *iommu;
	struct root_entry *root;
	struct list_head doms;
	struct list_head devs;
	struct list_head pages;	/* every page below, preserved */
};

static LIST_HEAD(intel_kho_units);
static DEFINE_MUTEX(intel_kho_lock);
static struct kho_node intel_kho_node;
static bool intel_kho_node_added;

/* Nonzero for a DMA alias other than the function itself */
static int intel_kho_alias(struct pci_dev *pdev, u16 alias, void *data)
{
	return alias != pci_dev_id(to_pci_dev(data));
}

/**
 * iommu_kho_check - can @dev's IOMMU keep translating across a kexec?
 * @dev: a device attached to a domain that is to be preserved
 *
 * Return: 0, or -EOPNOTSUPP (with a message) for an IOMMU other than an
 * Intel VT-d unit in legacy mode.
 */
int iommu_kho_check(struct device *dev)
{
	struct device_domain_info *info;

	if (!dev->iommu || !dev->iommu->iommu_dev ||
	    dev_iommu_ops(dev) != &intel_iommu_ops) {
		dev_warn(dev, "its IOMMU cannot keep translating across a kexec: only Intel VT-d can\n");
		return -EOPNOTSUPP;
	}
	info = dev_iommu_priv_get(dev);
	if (sm_supported(info->iommu)) {
		dev_warn(dev, "%s is in scalable mode, which cannot be handed over yet\n",
			 info->iommu->name);
		return -EOPNOTSUPP;
	}
	if (!dev_is_pci(dev) || pci_domain_nr(to_pci_dev(dev)->bus) > 0xffff) {
		dev_warn(dev, "only PCI functions keep translating across a kexec\n");
		return -EOPNOTSUPP;
	}
	if (pci_for_each_dma_alias(to_pci_dev(dev), intel_kho_alias, dev)) {
		dev_warn(dev, "has DMA aliases, which cannot be handed over yet\n");
		return -EOPNOTSUPP;
	}
	if (info->ats_supported) {
		dev_warn(dev, "uses ATS: its device TLB cannot be handed over yet\n");
		return -EOPNOTSUPP;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(iommu_kho_check);

static void intel_kho_flush(struct intel_kho_unit *u, void *addr, int size)
{
	if (!ecap_coherent(u->iommu->ecap))
		clflush_cache_range(addr, size);
}

/* A zeroed page, preserved, owned by @u */
static void *intel_kho_page(struct intel_kho_unit *u)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	int err;

	if (!page)
		return ERR_PTR(-ENOMEM);
	err = kho_preserve_folio(page_folio(page));
	if (err) {
		__free_page(page);
		return ERR_PTR(err);
	}
	list_add(&page->lru, &u->pages);
	/* a unit that does not snoop must not see stale bits as entries */
	intel_kho_flush(u, page_address(page), PAGE_SIZE);
	return page_address(page);
}

/*
 * Copy the page table at @src, of @level, and every table below it;
 * *@nr counts the pages
 */
static int intel_kho_copy_table(struct intel_kho_unit *u, u64 src, int level,
				u64 *copy, unsigned long *nr)
{
	struct dma_pte *from = phys_to_virt(src), *to;
	unsigned int i;
	u64 child;
	int err;

	to = intel_kho_page(u);
	if (IS_ERR(to))
		return PTR_ERR(to);
	for (i = 0; i < INTEL_KHO_PTES; i++) {
		struct dma_pte pte = { .val = READ_ONCE(from[i].val) };

		if (level > 1 && dma_pte_present(&pte) &&
		    !dma_pte_superpage(&pte)) {
			err = intel_kho_copy_table(u, dma_pte_addr(&pte),
						   level - 1, &child, nr);
			if (err)
				return err;
			pte.val = pte.val - dma_pte_addr(&pte) + child;
		}
		to[i] = pte;
	}
	intel_kho_flush(u, to, VTD_PAGE_SIZE);
	*copy = virt_to_phys(to);
	(*nr)++;
	return 0;
}

static void intel_kho_free_unit(struct intel_kho_unit *u)
{
	struct intel_kho_dev *d, *dtmp;
	struct intel_kho_dom *m, *mtmp;
	struct page *page, *ptmp;

	list_for_each_entry_safe(d, dtmp, &u->devs, node) {
		put_device(d->dev);
		kfree(d);
	}
	list_for_each_entry_safe(m, mtmp, &u->doms, node)
		kfree(m);
	list_for_each_entry_safe(page, ptmp, &u->pages, lru) {
		list_del(&page->lru);
		WARN_ON_ONCE(kho_unpreserve_folio(page_folio(page)));
		__free_page(page);
	}
	kfree(u);
}

static struct intel_kho_unit *intel_kho_unit_get(struct intel_iommu *iommu)
{
	struct intel_kho_unit *u;

	list_for_each_entry(u, &intel_kho_units, node)
		if (u->iommu == iommu)
			return u;
	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return ERR_PTR(-ENOMEM);
	u->iommu = iommu;
	INIT_LIST_HEAD(&u->doms);
	INIT_LIST_HEAD(&u->devs);
	INIT_LIST_HEAD(&u->pages);
	u->root = intel_kho_page(u);
	if (IS_ERR(u->root)) {
		int err = PTR_ERR(u->root);

		kfree(u);
		return ERR_PTR(err);
	}
	list_add_tail(&u->node, &intel_kho_units);
	return u;
}

/* The copy of the page table a live context entry @ce points to */
static struct intel_kho_dom *intel_kho_dom_get(struct intel_kho_unit *u,
					       struct context_entry *ce, u64 owner)
{
	u16 did = context_domain_id(ce);
	struct intel_kho_dom *m;
	ktime_t start;
	int err;

	list_for_each_entry(m, &u->doms, node)
		if (m->did == did)
			return m;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->did = did;
	m->owner = owner;
	m->aw = intel_kho_ctx_aw(ce);
	start = ktime_get();
	err = intel_kho_copy_table(u, intel_kho_ctx_root(ce),
				   agaw_to_level(m->aw), &m->pgd, &m->nr_pages);
	m->copy_us = ktime_us_delta(ktime_get(), start);
	if (err) {
		kfree(m);
		return ERR_PTR(err);
	}
	list_add_tail(&m->node, &u->doms);
	return m;
}

/* The handover context entry for @bus/@devfn, its table made if need be */
static struct context_entry *intel_kho_ctx(struct intel_kho_unit *u, u8 bus,
					   u8 devfn)
{
	struct context_entry *tbl;

	if (u->root[bus].lo & 1) {
		tbl = phys_to_virt(u->root[bus].lo & VTD_PAGE_MASK);
		return &tbl[devfn];
	}
	tbl = intel_kho_page(u);
	if (IS_ERR(tbl))
		return ERR_CAST(tbl);
	u->root[bus].lo = virt_to_phys(tbl) | 1;
	intel_kho_flush(u, &u->root[bus], sizeof(u->root[bus]));
	return &tbl[devfn];
}

/* Lay out the units and domains in the KHO node */
static int intel_kho_write_record(void)
{
	unsigned int nr_units = 0, nr_doms = 0, nr_devs = 0, i = 0, j = 0, k = 0;
	struct intel_kho_domain_ser *doms;
	struct intel_kho_device_ser *devs;
	struct intel_kho_unit_ser *units;
	struct intel_kho_unit *u;
	struct intel_kho_dom *m;
	struct intel_kho_dev *d;
	int err;

	list_for_each_entry(u, &intel_kho_units, node) {
		nr_units++;
		list_for_each_entry(m, &u->doms, node)
			nr_doms++;
		list_for_each_entry(d, &u->devs, node)
			nr_devs++;
	}
	if (nr_units > INTEL_KHO_MAX_UNITS || nr_doms > INTEL_KHO_MAX_DOMAINS ||
	    nr_devs > INTEL_KHO_MAX_DEVICES) {
		pr_warn("more than %u domains or %u devices to hand over\n",
			INTEL_KHO_MAX_DOMAINS, INTEL_KHO_MAX_DEVICES);
		return -EOPNOTSUPP;
	}
	units = kcalloc(nr_units, sizeof(*units), GFP_KERNEL);
	doms = kcalloc(nr_doms, sizeof(*doms), GFP_KERNEL);
	devs = kcalloc(nr_devs, sizeof(*devs), GFP_KERNEL);
	err = -ENOMEM;
	if (!units || !doms || !devs)
		goto out;
	list_for_each_entry(u, &intel_kho_units, node) {
		units[i].reg_base = u->iommu->reg_phys;
		units[i].root = virt_to_phys(u->root);
		units[i].version = INTEL_KHO_VERSION;
		units[i].segment = u->iommu->segment;
		i++;
		list_for_each_entry(m, &u->doms, node) {
			doms[j].reg_base = u->iommu->reg_phys;
			doms[j].pgd = m->pgd;
			doms[j].owner = m->owner;
			doms[j].did = m->did;
			doms[j].aw = m->aw;
			j++;
		}
		list_for_each_entry(d, &u->devs, node) {
			devs[k].reg_base = u->iommu->reg_phys;
			devs[k].rid = PCI_DEVID(d->bus, d->devfn);
			k++;
		}
	}
	if (!intel_kho_node_added) {
		kho_init_node(&intel_kho_node);
		err = kho_add_node(NULL, INTEL_KHO_NODE, &intel_kho_node);
		if (err)
			goto out;
		intel_kho_node_added = true;
	}
	kho_remove_prop(&intel_kho_node, "units");
	kho_remove_prop(&intel_kho_node, "domains");
	kho_remove_prop(&intel_kho_node, "devices");
	err = kho_add_prop(&intel_kho_node, "units", units,
			   nr_units * sizeof(*units));
	if (!err)
		err = kho_add_prop(&intel_kho_node, "domains", doms,
				   nr_doms * sizeof(*doms));
	if (!err)
		err = kho_add_prop(&intel_kho_node, "devices", devs,
				   nr_devs * sizeof(*devs));
out:
	kfree(units);
	kfree(doms);
	kfree(devs);
	return err;
}

/**
 * iommu_kho_preserve - keep @dev translating through @domain across the kexec
 * @dev: a PCI function attached to @domain
 * @domain: a paging domain of an iommufd being frozen
 * @owner: a value to release the domain by in the next kernel
 *	(iommu_kho_release())
 *
 * Puts @dev's context entry, pointing to a copy of @domain's page table as
 * it is now, in its unit's handover tables, and records them in the KHO
 * state. The caller keeps @domain's mappings from changing meanwhile.
 * Called while the handover is being finalized. iommu_kho_abort() undoes
 * every call; after a failure the caller must call it, as what was
 * already copied stays until then.
 *
 * Return: 0, -EOPNOTSUPP (with a message) for what cannot be handed over,
 * or another negative errno.
 */
int iommu_kho_preserve(struct device *dev, struct iommu_domain *domain,
		       u64 owner)
{
	struct device_domain_info *info;
	struct context_entry ce, *live, *slot;
	struct intel_kho_unit *u;
	struct intel_kho_dom *m;
	struct intel_kho_dev *d;
	struct intel_iommu *iommu;
	int err;

	err = iommu_kho_check(dev);
	if (err)
		return err;
	info = dev_iommu_priv_get(dev);
	iommu = info->iommu;
	if (!(domain->type & __IOMMU_DOMAIN_PAGING) ||
	    info->domain != to_dmar_domain(domain) ||
	    to_dmar_domain(domain)->use_first_level) {
		dev_warn(dev, "not attached to a second-level paging domain: its translation cannot be handed over\n");
		return -EOPNOTSUPP;
	}

	spin_lock(&iommu->lock);
	live = iommu_context_addr(iommu, info->bus, info->devfn, 0);
	if (live)
		ce = *live;
	spin_unlock(&iommu->lock);
	if (!live || !context_present(&ce) ||
	    intel_kho_ctx_tt(&ce) != CONTEXT_TT_MULTI_LEVEL) {
		dev_warn(dev, "has no context entry translating through a page table\n");
		return -EOPNOTSUPP;
	}

	mutex_lock(&intel_kho_lock);
	u = intel_kho_unit_get(iommu);
	if (IS_ERR(u)) {
		err = PTR_ERR(u);
		goto out_unlock;
	}
	list_for_each_entry(d, &u->devs, node)
		if (d->bus == info->bus && d->devfn == info->devfn)
			goto out_unlock;	/* already, by another HWPT walk */

	m = intel_kho_dom_get(u, &ce, owner);
	if (IS_ERR(m)) {
		err = PTR_ERR(m);
		goto out_unlock;
	}
	slot = intel_kho_ctx(u, info->bus, info->devfn);
	if (IS_ERR(slot)) {
		err = PTR_ERR(slot);
		goto out_unlock;
	}
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		err = -ENOMEM;
		goto out_unlock;
	}
	d->dev = get_device(dev);
	d->domain = info->domain;
	d->bus = info->bus;
	d->devfn = info->devfn;
	list_add_tail(&d->node, &u->devs);

	ce.lo = (ce.lo & ~VTD_PAGE_MASK) | m->pgd;
	*slot = ce;
	intel_kho_flush(u, slot, sizeof(*slot));

	err = intel_kho_write_record();
	if (!err)
		dev_info(dev, "will keep translating across the kexec (%s, domain id %u: page table copied, %lu pages in %lld us)\n",
			 iommu->name, m->did, m->nr_pages, m->copy_us);
out_unlock:
	mutex_unlock(&intel_kho_lock);
	return err;
}
EXPORT_SYMBOL_GPL(iommu_kho_preserve);

/**
 * iommu_kho_abort - drop every handover table: the finalize was undone
 *
 * Translation goes off at the next kexec as usual, unless a new finalize
 * preserves again.
 */
void iommu_kho_abort(void)
{
	struct intel_kho_unit *u, *tmp;

	mutex_lock(&intel_kho_lock);
	list_for_each_entry_safe(u, tmp, &intel_kho_units, node) {
		list_del(&u->node);
		pr_info("%s: handover tables dropped: translation goes off at the next kexec\n",
			u->iommu->name);
		intel_kho_free_unit(u);
	}
	if (intel_kho_node_added) {
		kho_remove_prop(&intel_kho_node, "units");
		kho_remove_prop(&intel_kho_node, "domains");
		kho_remove_prop(&intel_kho_node, "devices");
		kho_remove_node(NULL, INTEL_KHO_NODE);
		intel_kho_node_added = false;
	}
	mutex_unlock(&intel_kho_lock);
}
EXPORT_SYMBOL_GPL(iommu_kho_abort);

/* Left translating at shutdown? */
static bool intel_kho_kept(struct intel_iommu *iommu)
{
	struct intel_kho_unit *u;

	list_for_each_entry(u, &intel_kho_units, node)
		if (u->iommu == iommu)
			return true;
	return false;
}

/**
 * intel_kho_shutdown - point units at their handover tables for the kexec
 *
 * Called by intel_iommu_shutdown() with dmar_global_lock held, after the
 * devices are shut down and with nothing else running. Only on the way
 * into a kexec: a plain reboot turns translation off as usual.
 */
void intel_kho_shutdown(void)
{
	struct intel_kho_unit *u;
	struct intel_kho_dev *d;
	struct context_entry *tbl;

	if (!kexec_in_progress)
		return;

	list_for_each_entry(u, &intel_kho_units, node) {
		/* a device detached since freeze is blocked, not carried */
		list_for_each_entry(d, &u->devs, node) {
			struct device_domain_info *info;

			info = dev_iommu_priv_get(d->dev);
			if (info && info->domain == d->domain)
				continue;
			tbl = phys_to_virt(u->root[d->bus].lo & VTD_PAGE_MASK);
			context_clear_entry(&tbl[d->devfn]);
			intel_kho_flush(u, &tbl[d->devfn], sizeof(*tbl));
			pr_info("%s: %02x:%02x.%d detached since freeze: blocked\n",
				u->iommu->name, d->bus, PCI_SLOT(d->devfn),
				PCI_FUNC(d->devfn));
		}
		u->iommu->root_entry = u->root;
		iommu_set_root_entry(u->iommu);
		pr_info("%s: left translating for the kexec\n", u->iommu->name);
	}
}

/**
 * iommu_kho_handed_over - is @dev handed over to keep translating?
 * @dev: a device
 *
 * True once the handover is frozen with @dev among the devices its
 * iommufd carries, for as long as @dev stays attached to the domain it
 * was handed over with. The handlers of device files (vfio) require it
 * of the devices they carry.
 *
 * Return: true for such a device.
 */
bool iommu_kho_handed_over(struct device *dev)
{
	struct device_domain_info *info;
	struct intel_kho_unit *u;
	struct intel_kho_dev *d;
	bool kept = false;

	mutex_lock(&intel_kho_lock);
	list_for_each_entry(u, &intel_kho_units, node)
		list_for_each_entry(d, &u->devs, node)
			if (d->dev == dev) {
				info = dev_iommu_priv_get(dev);
				kept = info && info->domain == d->domain;
			}
	mutex_unlock(&intel_kho_lock);
	return kept;
}
EXPORT_SYMBOL_GPL(iommu_kho_handed_over);

/**
 * iommu_kho_keeps_dma - may @dev go on with DMA through the kexec?
 * @dev: a device being shut down for a kexec
 *
 * A device handed over to keep translating (iommu_kho_handed_over())
 * keeps bus mastering: its DMA stays translated, by the handover tables
 * once the unit is switched to them, until the next kernel attaches it
 * again.
 *
 * Return: true for such a device.
 */
bool iommu_kho_keeps_dma(struct device *dev)
{
	if (!kexec_in_progress || !iommu_kho_handed_over(dev))
		return false;
	dev_info(dev, "keeps bus mastering through the kexec: its DMA stays translated\n");
	return true;
}

/**
 * intel_kho_keep_translating - is @iommu to stay on through the kexec?
 * @iommu: a unit being shut down
 *
 * Return: true after intel_kho_shutdown() switched it to handover tables.
 */
bool intel_kho_keep_translating(struct intel_iommu *iommu)
{
	return kexec_in_progress && intel_kho_kept(iommu);
}

/* ----- incoming ----- */

/* A domain whose page table copy the adopted context entries point to */
struct intel_kho_in_dom {
	struct intel_iommu *iommu;	/* set once its unit is adopted */
	u64 reg_base;
	u64 pgd;
	u64 owner;
	u16 did;
	u8 aw;
	unsigned int users;		/* copied context entries */
	struct work_struct free_work;
};

enum intel_kho_in_state {
	INTEL_KHO_CHECKED,	/* tables sound, to be copied by init_dmars() */
	INTEL_KHO_ADOPTED,	/* copied: the unit translates for them */
	INTEL_KHO_REJECTED,	/* blocked: its handed-over devices wait */
};

/* A unit the previous kernel left translating */
struct intel_kho_in_unit {
	struct list_head node;
	struct intel_iommu *iommu;
	enum intel_kho_in_state state;
	u64 root;		/* handover root table, until it is freed */
};

static struct {
	bool parsed;
	bool present;		/* a record was handed over */
	bool sound;		/* and it parsed */
	const struct intel_kho_unit_ser *units;
	unsigned int nr_units;
	const struct intel_kho_device_ser *devs;
	unsigned int nr_devs;
	struct intel_kho_in_dom *doms;
	unsigned int nr_doms;
	struct xarray seen;	/* table pages checked: no page used twice */
	unsigned long nr_seen;
	unsigned long gen;	/* which unit's check: the value in @seen */
	struct list_head units_in;
} intel_kho_in = {
	.seen = XARRAY_INIT(intel_kho_in.seen, 0),
	.units_in = LIST_HEAD_INIT(intel_kho_in.units_in),
};

static void intel_kho_in_free_work(struct work_struct *work);

/* A property that is an array of at most @max items of @size bytes */
static const void * __init intel_kho_array(int node, const char *name,
					   size_t size, unsigned int max,
					   unsigned int *nr)
{
	const void *val;
	int len = 0;

	val = kho_get_prop(node, name, &len);
	if (!val || len < 0 || len % size || len / size > max)
		return NULL;
	*nr = len / size;
	return val;
}

static void __init intel_kho_parse(void)
{
	const struct intel_kho_domain_ser *doms;
	struct intel_kho_in_dom *in_doms;
	unsigned int i, nr_doms = 0;
	int node;

	intel_kho_in.parsed = true;
	node = kho_find_node("/" INTEL_KHO_NODE);
	if (node < 0)
		return;
	intel_kho_in.present = true;
	intel_kho_in.units = intel_kho_array(node, "units",
					     sizeof(*intel_kho_in.units),
					     INTEL_KHO_MAX_UNITS,
					     &intel_kho_in.nr_units);
	doms = intel_kho_array(node, "domains", sizeof(*doms),
			       INTEL_KHO_MAX_DOMAINS, &nr_doms);
	intel_kho_in.devs = intel_kho_array(node, "devices",
					    sizeof(*intel_kho_in.devs),
					    INTEL_KHO_MAX_DEVICES,
					    &intel_kho_in.nr_devs);
	if (!intel_kho_in.units || !doms || !intel_kho_in.devs) {
		pr_err("handover record malformed\n");
		return;
	}
	for (i = 0; i < intel_kho_in.nr_devs; i++)
		if (memchr_inv(intel_kho_in.devs[i].reserved, 0,
			       sizeof(intel_kho_in.devs[i].reserved))) {
			pr_err("handover record: device %u: reserved bytes set\n",
			       i);
			return;
		}
	in_doms = kcalloc(nr_doms, sizeof(*in_doms), GFP_KERNEL);
	if (!in_doms && nr_doms) {
		pr_err("no memory for the handover record\n");
		return;
	}
	for (i = 0; i < nr_doms; i++) {
		struct intel_kho_in_dom *m = &in_doms[i];

		/* did 0 and 1 are the driver's own; aw 1-3 are 3-5 levels */
		if (doms[i].did < 2 || doms[i].aw < 1 || doms[i].aw > 3 ||
		    memchr_inv(doms[i].reserved, 0, sizeof(doms[i].reserved))) {
			pr_err("handover record: domain %u: bad domain id, width or reserved bytes\n",
			       i);
			kfree(in_doms);
			return;
		}
		m->reg_base = doms[i].reg_base;
		m->pgd = doms[i].pgd;
		m->owner = doms[i].owner;
		m->did = doms[i].did;
		m->aw = doms[i].aw;
		INIT_WORK(&m->free_work, intel_kho_in_free_work);
	}
	/* only a sound record has domains: every user of them walks these */
	intel_kho_in.doms = in_doms;
	intel_kho_in.nr_doms = nr_doms;
	intel_kho_in.sound = true;
}

/* Take a table page for the check: preserved, unclaimed and not seen yet */
static int __init intel_kho_see(u64 phys, const char **why)
{
	int err;

	if (!PAGE_ALIGNED(phys) || !kho_is_preserved(phys, 0)) {
		*why = "a table page that was not preserved";
		return -EINVAL;
	}
	err = xa_insert(&intel_kho_in.seen, PHYS_PFN(phys),
			xa_mk_value(intel_kho_in.gen), GFP_KERNEL);
	if (!err)
		intel_kho_in.nr_seen++;
	else if (err == -EBUSY)
		*why = "a table page used twice";
	else
		*why = "no memory to check the tables";
	return err;
}

/* Check the page table at @phys, of @level, and every table below it */
static int __init intel_kho_check_table(u64 phys, int level, const char **why)
{
	struct dma_pte *tbl;
	unsigned int i;
	int err;

	err = intel_kho_see(phys, why);
	if (err)
		return err;
	tbl = phys_to_virt(phys);
	for (i = 0; i < INTEL_KHO_PTES && level > 1; i++) {
		struct dma_pte pte = { .val = READ_ONCE(tbl[i].val) };

		if (!dma_pte_present(&pte) || dma_pte_superpage(&pte))
			continue;
		err = intel_kho_check_table(dma_pte_addr(&pte), level - 1,
					    why);
		if (err)
			return err;
	}
	return 0;
}

static struct intel_kho_in_dom *intel_kho_in_dom(u64 reg_base, u16 did)
{
	unsigned int i;

	for (i = 0; i < intel_kho_in.nr_doms; i++)
		if (intel_kho_in.doms[i].reg_base == reg_base &&
		    intel_kho_in.doms[i].did == did)
			return &intel_kho_in.doms[i];
	return NULL;
}

/* Check one context table against the record, counting each domain's users */
static int __init intel_kho_check_ctx(struct intel_iommu *iommu, u64 phys,
				      const char **why)
{
	struct context_entry *tbl;
	unsigned int devfn;
	int err;

	err = intel_kho_see(phys, why);
	if (err)
		return err;
	tbl = phys_to_virt(phys);
	for (devfn = 0; devfn < INTEL_KHO_CONTEXTS; devfn++) {
		struct context_entry ce = tbl[devfn];
		struct intel_kho_in_dom *m;

		if (!context_present(&ce))
			continue;
		if (intel_kho_ctx_tt(&ce) != CONTEXT_TT_MULTI_LEVEL) {
			*why = "a context entry that does not translate through a page table";
			return -EINVAL;
		}
		m = intel_kho_in_dom(iommu->reg_phys, context_domain_id(&ce));
		if (!m || m->pgd != intel_kho_ctx_root(&ce) ||
		    m->aw != intel_kho_ctx_aw(&ce)) {
			*why = "a context entry for no recorded domain";
			return -EINVAL;
		}
		m->users++;
	}
	return 0;
}

/* Check the tables @iommu translates through against the record */
static int __init intel_kho_check_unit(struct intel_iommu *iommu,
				       const struct intel_kho_unit_ser *us,
				       const char **why)
{
	struct root_entry *root;
	unsigned int bus, i;
	u64 rtaddr;
	int err;

	rtaddr = dmar_readq(iommu->reg + DMAR_RTADDR_REG);
	if (us->version != INTEL_KHO_VERSION || us->reserved ||
	    us->segment != iommu->segment) {
		*why = "a record of another version or segment";
		return -EINVAL;
	}
	if (sm_supported(iommu) || (rtaddr & ~VTD_PAGE_MASK) ||
	    rtaddr != us->root) {
		*why = "the unit translating through other tables than recorded";
		return -EINVAL;
	}
	for (i = 0; i < intel_kho_in.nr_doms; i++) {
		struct intel_kho_in_dom *m = &intel_kho_in.doms[i];

		if (m->reg_base == iommu->reg_phys &&
		    (m->did >= cap_ndoms(iommu->cap) ||
		     !(cap_sagaw(iommu->cap) & BIT(m->aw)))) {
			*why = "a domain this unit cannot have";
			return -EINVAL;
		}
	}
	err = intel_kho_see(us->root, why);
	if (err)
		return err;
	root = phys_to_virt(us->root);
	for (bus = 0; bus < INTEL_KHO_ROOTS; bus++) {
		struct root_entry re = root[bus];

		if (re.hi || (re.lo & ~VTD_PAGE_MASK & ~1ULL)) {
			*why = "a root entry with reserved bits set";
			return -EINVAL;
		}
		if (!(re.lo & 1))
			continue;
		err = intel_kho_check_ctx(iommu, re.lo & VTD_PAGE_MASK, why);
		if (err)
			return err;
	}
	for (i = 0; i < intel_kho_in.nr_doms; i++) {
		struct intel_kho_in_dom *m = &intel_kho_in.doms[i];

		if (m->reg_base != iommu->reg_phys)
			continue;
		err = intel_kho_check_table(m->pgd, agaw_to_level(m->aw), why);
		if (err)
			return err;
	}
	return 0;
}

static struct intel_kho_in_unit *intel_kho_in_unit(struct intel_iommu *iommu)
{
	struct intel_kho_in_unit *iu;

	list_for_each_entry(iu, &intel_kho_in.units_in, node)
		if (iu->iommu == iommu)
			return iu;
	return NULL;
}

/* Block @iommu's devices: it keeps translating, through an empty table */
static void __init intel_kho_reject(struct intel_kho_in_unit *iu,
				    const char *why)
{
	unsigned int i;

	for (i = 0; i < intel_kho_in.nr_doms; i++)
		if (intel_kho_in.doms[i].reg_base == iu->iommu->reg_phys) {
			intel_kho_in.doms[i].users = 0;
			intel_kho_in.doms[i].iommu = NULL;
		}
	iu->state = INTEL_KHO_REJECTED;
	iu->iommu->flags &= ~VTD_FLAG_TRANS_PRE_ENABLED;
	pr_err("%s: handover rejected: %s; translation stays on and the devices it carried are blocked\n",
	       iu->iommu->name, why);
}

/*
 * Claim every table page the check of this unit saw: from now on they are
 * this kernel's, and nothing else can claim them while the unit reads
 * them. A failure (someone claimed one first) rejects the unit; what was
 * claimed stays allocated, as the hardware may still be reading it.
 */
static const char * __init intel_kho_claim(void)
{
	unsigned long pfn;
	void *entry;

	xa_for_each(&intel_kho_in.seen, pfn, entry)
		if (xa_to_value(entry) == intel_kho_in.gen &&
		    kho_restore_phys(PFN_PHYS(pfn), PAGE_SIZE))
			return "a table page claimed by someone else";
	return NULL;
}

/**
 * intel_kho_adopt - take over a unit left translating by the previous kernel
 * @iommu: a unit found with translation enabled, not in a kdump kernel
 *
 * Called by init_dmars(). If the handover record names @iommu and its
 * tables check out, @iommu stays marked as translating and init_dmars()
 * copies its context entries. If the record is wrong, the mark is cleared
 * but translation stays on: init_dmars() gives the unit an empty root
 * table, and the devices the record names wait to be attached, blocked.
 *
 * Return: false if there is no handover (translation is turned off as
 * usual), true otherwise.
 */
bool __init intel_kho_adopt(struct intel_iommu *iommu)
{
	const struct intel_kho_unit_ser *us = NULL;
	u64 start = local_clock();	/* early: ktime may tick by jiffies */
	struct intel_kho_in_unit *iu;
	const char *why = NULL;
	unsigned int i;

	if (!intel_kho_in.parsed)
		intel_kho_parse();
	if (!intel_kho_in.present)
		return false;
	intel_kho_in.nr_seen = 0;
	intel_kho_in.gen++;

	iu = kzalloc(sizeof(*iu), GFP_KERNEL);
	if (!iu) {
		/* cannot even remember it: block every device of the unit */
		iommu->flags &= ~VTD_FLAG_TRANS_PRE_ENABLED;
		pr_err("%s: no memory for the handover: every device is blocked\n",
		       iommu->name);
		return true;
	}
	iu->iommu = iommu;
	list_add_tail(&iu->node, &intel_kho_in.units_in);

	for (i = 0; intel_kho_in.sound && i < intel_kho_in.nr_units; i++)
		if (intel_kho_in.units[i].reg_base == iommu->reg_phys)
			us = &intel_kho_in.units[i];
	if (!intel_kho_in.sound)
		why = "the record is malformed";
	else if (!us)
		why = "the record does not name it";
	else if (intel_kho_check_unit(iommu, us, &why) && !why)
		why = "its tables";
	if (!why)
		why = intel_kho_claim();
	if (why) {
		intel_kho_reject(iu, why);
		return true;
	}
	for (i = 0; i < intel_kho_in.nr_doms; i++)
		if (intel_kho_in.doms[i].reg_base == iommu->reg_phys)
			intel_kho_in.doms[i].iommu = iommu;
	iu->state = INTEL_KHO_CHECKED;
	iu->root = us->root;
	pr_info("%s: adopting the handed-over tables: translation stays on (%lu table pages checked in %llu us)\n",
		iommu->name, intel_kho_in.nr_seen,
		div_u64(local_clock() - start, NSEC_PER_USEC));
	return true;
}

/**
 * intel_kho_copy_failed - init_dmars() could not copy an adopted unit's entries
 * @iommu: the unit
 *
 * Return: true if @iommu was handed over: it is then blocked rather than
 * turned off, and the caller leaves translation on.
 */
bool __init intel_kho_copy_failed(struct intel_iommu *iommu)
{
	struct intel_kho_in_unit *iu = intel_kho_in_unit(iommu);

	if (!iu)
		return false;
	intel_kho_reject(iu, "its context entries could not be copied");
	return true;
}

/* A table page of an adopted unit, claimed when it was checked */
static void intel_kho_free_page(u64 phys)
{
	free_page((unsigned long)phys_to_virt(phys));
}

static void intel_kho_free_table(u64 phys, int level)
{
	struct dma_pte *tbl = phys_to_virt(phys);
	unsigned int i;

	for (i = 0; i < INTEL_KHO_PTES && level > 1; i++)
		if (dma_pte_present(&tbl[i]) && !dma_pte_superpage(&tbl[i]))
			intel_kho_free_table(dma_pte_addr(&tbl[i]), level - 1);
	intel_kho_free_page(phys);
}

/**
 * intel_kho_tables_switched - the adopted units have their own root tables
 *
 * Called by init_dmars() once every unit's root table pointer is set: the
 * handover root and context tables are no longer read by the hardware, and
 * their pages are freed, as are the page tables of domains no entry uses.
 */
void __init intel_kho_tables_switched(void)
{
	struct intel_kho_in_unit *iu;
	struct intel_kho_in_dom *m;
	struct root_entry *root;
	unsigned int bus, i;

	list_for_each_entry(iu, &intel_kho_in.units_in, node) {
		if (iu->state != INTEL_KHO_CHECKED)
			continue;
		iu->state = INTEL_KHO_ADOPTED;
		/* a domain whose devices were detached before the kexec */
		for (i = 0; i < intel_kho_in.nr_doms; i++) {
			m = &intel_kho_in.doms[i];
			if (m->iommu == iu->iommu && !m->users)
				intel_kho_free_table(m->pgd,
						     agaw_to_level(m->aw));
		}
		root = phys_to_virt(iu->root);
		for (bus = 0; bus < INTEL_KHO_ROOTS; bus++)
			if (root[bus].lo & 1)
				intel_kho_free_page(root[bus].lo & VTD_PAGE_MASK);
		intel_kho_free_page(iu->root);
		iu->root = 0;
	}
	xa_destroy(&intel_kho_in.seen);
}

static void intel_kho_in_free_work(struct work_struct *work)
{
	struct intel_kho_in_dom *m =
		container_of(work, struct intel_kho_in_dom, free_work);

	intel_kho_free_table(m->pgd, agaw_to_level(m->aw));
	pr_info("%s: domain id %u: handed-over page table freed\n",
		m->iommu->name, m->did);
}

/**
 * intel_kho_context_gone - a copied context entry was cleared
 * @iommu: its unit, whose lock is held
 * @did: the domain id it had
 *
 * Once no copied entry uses a handed-over domain, the IOTLB has been
 * flushed for it: its page table copy is freed and its domain id released.
 */
void intel_kho_context_gone(struct intel_iommu *iommu, u16 did)
{
	struct intel_kho_in_dom *m = intel_kho_in_dom(iommu->reg_phys, did);

	assert_spin_locked(&iommu->lock);
	if (!m || m->iommu != iommu || !m->users)
		return;
	if (--m->users)
		return;
	clear_bit(did, iommu->domain_ids);
	schedule_work(&m->free_work);
}

/**
 * intel_kho_defer_attach - must a device of a handed-over unit wait?
 * @iommu: its unit
 * @bus: bus number
 * @devfn: device and function
 *
 * On an adopted unit only the devices whose context entries were copied
 * wait to be attached, translating meanwhile; on a rejected one the
 * devices the record names wait, blocked. Every other device is attached
 * to its default domain at probe, as without a handover.
 *
 * Return: 1 to wait, 0 not to, -1 if @iommu was not handed over.
 */
int intel_kho_defer_attach(struct intel_iommu *iommu, u8 bus, u8 devfn)
{
	struct intel_kho_in_unit *iu = intel_kho_in_unit(iommu);
	unsigned int i;

	if (!iu)
		return -1;
	if (iu->state != INTEL_KHO_REJECTED)
		return context_copied(iommu, bus, devfn);
	if (!intel_kho_in.sound)
		return 1;	/* which devices is unknown: all of them */
	for (i = 0; i < intel_kho_in.nr_devs; i++)
		if (intel_kho_in.devs[i].reg_base == iommu->reg_phys &&
		    intel_kho_in.devs[i].rid == PCI_DEVID(bus, devfn))
			return 1;
	return 0;
}

/*
 * Is @dev on an adopted unit and still translating through a copied
 * context entry? With @owner non-zero: of a domain handed over by that
 * owner.
 */
static bool intel_kho_carries(struct device *dev, u64 owner)
{
	struct device_domain_info *info;
	struct intel_kho_in_unit *iu;
	struct intel_kho_in_dom *m;
	struct context_entry *ce;
	bool carried = false;

	if (!dev->iommu || !dev->iommu->iommu_dev ||
	    dev_iommu_ops(dev) != &intel_iommu_ops)
		return false;
	info = dev_iommu_priv_get(dev);
	iu = intel_kho_in_unit(info->iommu);
	if (!iu || iu->state != INTEL_KHO_ADOPTED)
		return false;
	spin_lock(&info->iommu->lock);
	if (context_copied(info->iommu, info->bus, info->devfn)) {
		carried = true;
		if (owner) {
			/* alloc: the only way to be given a copied entry */
			ce = iommu_context_addr(info->iommu, info->bus,
						info->devfn, 1);
			m = ce ? intel_kho_in_dom(info->iommu->reg_phys,
						  context_domain_id(ce)) : NULL;
			carried = m && m->owner == owner;
		}
	}
	spin_unlock(&info->iommu->lock);
	return carried;
}

/**
 * iommu_kho_carried - is @dev still running on what the previous kernel left?
 * @dev: a device
 *
 * True for a device whose translation the previous kernel handed over and
 * that no domain of this kernel has been attached to since: it may be
 * doing DMA into memory that a Live Update session still holds, so it
 * must be neither reset nor given to a new owner until its session says
 * so.
 *
 * Return: true for such a device.
 */
bool iommu_kho_carried(struct device *dev)
{
	return intel_kho_carries(dev, 0);
}
EXPORT_SYMBOL_GPL(iommu_kho_carried);

/**
 * iommu_kho_carried_by - is @dev carried for the owner of @owner's domains?
 * @dev: a device
 * @owner: the value the domains' owner gave iommu_kho_preserve() in the
 *	previous kernel (an iommufd's record)
 *
 * As iommu_kho_carried(), and the domain it still translates through was
 * handed over by @owner: a device file retrieved with that owner's
 * iommufd may be given the device as it is.
 *
 * Return: true for such a device.
 */
bool iommu_kho_carried_by(struct device *dev, u64 owner)
{
	return owner && intel_kho_carries(dev, owner);
}
EXPORT_SYMBOL_GPL(iommu_kho_carried_by);

/* Block the devices of @iommu still on copied entries of domain @did (< 0: all) */
static void intel_kho_tear_down(struct intel_iommu *iommu, int did)
{
	struct context_entry *ce;
	unsigned long rid;
	u8 bus, devfn;

	spin_lock(&iommu->lock);
	for_each_set_bit(rid, iommu->copied_tables, BIT(16)) {
		bus = PCI_BUS_NUM(rid);
		devfn = rid & 0xff;
		ce = iommu_context_addr(iommu, bus, devfn, 1);
		if (!ce || (did >= 0 && context_domain_id(ce) != did))
			continue;
		copied_context_tear_down(iommu, ce, bus, devfn);
		pr_info("%s: %04x:%02x:%02x.%d released: its DMA is blocked\n",
			iommu->name, iommu->segment, bus, PCI_SLOT(devfn),
			PCI_FUNC(devfn));
	}
	spin_unlock(&iommu->lock);
}

/**
 * iommu_kho_release - stop translating through handed-over domains
 * @owner: the value their owner gave iommu_kho_preserve()
 *
 * For an owner finished with them: every device still translating through
 * copied context entries of those domains, on any unit, is blocked, so
 * none can reach guest memory that may be freed next. A device already
 * attached to a domain of this kernel is not affected.
 */
void iommu_kho_release(u64 owner)
{
	struct intel_kho_in_dom *m;
	unsigned int i;

	for (i = 0; i < intel_kho_in.nr_doms; i++) {
		m = &intel_kho_in.doms[i];
		if (m->owner == owner && m->iommu && m->iommu->copied_tables)
			intel_kho_tear_down(m->iommu, m->did);
	}
}
EXPORT_SYMBOL_GPL(iommu_kho_release);

/**
 * iommu_kho_release_all - stop translating through every handed-over domain
 *
 * For when an owner's record is unreadable, so that which domains were its
 * own is not certain: every device still on a copied context entry is
 * blocked rather than left able to reach memory that may be freed.
 */
void iommu_kho_release_all(void)
{
	struct intel_kho_in_unit *iu;

	list_for_each_entry(iu, &intel_kho_in.units_in, node)
		if (iu->state == INTEL_KHO_ADOPTED &&
		    iu->iommu->copied_tables)
			intel_kho_tear_down(iu->iommu, -1);
}
EXPORT_SYMBOL_GPL(iommu_kho_release_all);
