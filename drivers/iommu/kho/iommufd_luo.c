// SPDX-License-Identifier: GPL-2.0-only
/*
 * iommufd Live Update: carry an iommufd's IOAS and paging HWPTs across a
 * kexec.
 *
 * A VMM preserves, in one session, the memfds that back guest RAM and then
 * its iommufd. The record (include/linux/kho/abi/iommufd.h) names each IOAS
 * and paging HWPT by its id and each mapping by (memfd token, offset), so
 * it means the same thing in the next kernel. There, retrieving the
 * iommufd retrieves those memfds (the same pages, not copies), creates the
 * objects again under the same ids, maps the same ranges at the same IOVAs
 * and fills each HWPT's domain, which pins the pages again. The VMM then
 * binds its devices and attaches them to the HWPT ids it knew, with no map
 * call of its own.
 *
 * Only what the next kernel can rebuild exactly is carried. Preserve and
 * freeze refuse, with EOPNOTSUPP and a message saying why: a mapping of a
 * user VA, a memfd that is not in the session, nested, nesting-parent or
 * dirty-tracking HWPTs, HWPTs that deliver I/O page faults, fault queues,
 * in-kernel accesses (mdev), and a HWPT that has never had a PCI device
 * attached, for without one the next kernel cannot tell which IOMMU it
 * belongs to.
 *
 * The record is built at preserve, to refuse early, and again at freeze,
 * which makes it final: mappings changed after the handover is finalized
 * are not carried. At freeze, too, every device attached to one of the
 * HWPTs is handed to the IOMMU driver (include/linux/kho/iommu.h), which
 * keeps it translating through a copy of its domain, as it is then, until
 * the VMM attaches it again in the next kernel; an IOMMU that cannot is
 * refused at preserve. Finishing the iommufd in the next kernel blocks
 * such a device if it is still translating through the copy.
 */
#define pr_fmt(fmt) "iommufd: Live Update: " fmt

#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/iommufd.h>
#include <linux/kho/abi/memfd.h>
#include <linux/kho/iommu.h>
#include <linux/kho/iommufd.h>
#include <linux/liveupdate.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>
#include <uapi/linux/iommufd.h>

#include "../iommufd/io_pagetable.h"
#include "../iommufd/iommufd_private.h"

/* Objects looked at in one walk: at most this many, or the preserve fails */
#define IOMMUFD_LUO_MAX_OBJECTS	512

/**
 * struct iommufd_luo_out - an outgoing iommufd
 * @folio: its record, preserved
 * @hwpt_dev: HWPT id -> struct iommufd_luo_dev, the PCI function the HWPT
 *	was last seen attached to. Learned at each walk, so a HWPT whose
 *	devices were detached later (the VMM exited) still knows its IOMMU
 *	at freeze.
 */
struct iommufd_luo_out {
	struct folio *folio;
	struct xarray hwpt_dev;
};

/**
 * struct iommufd_luo_dev - the PCI function a HWPT was seen attached to
 * @hwpt: the HWPT then, and @domain its domain: an entry for an id that
 *	now names another HWPT (the old one destroyed, the id reused) does
 *	not count
 * @domain: see @hwpt
 * @segment: PCI segment
 * @rid: requester id
 */
struct iommufd_luo_dev {
	struct iommufd_hwpt_paging *hwpt;
	struct iommu_domain *domain;
	u16 segment;
	u16 rid;
};

/* What one walk of an iommufd found, before it is laid out in a record */
struct iommufd_luo_walk {
	struct iommufd_luo_ser hdr;
	struct iommufd_luo_ioas_ser ioas[IOMMUFD_LUO_MAX_IOAS];
	struct iommufd_luo_hwpt_ser hwpts[IOMMUFD_LUO_MAX_HWPTS];
	struct iommufd_luo_map_ser *maps;
};

/**
 * struct iommufd_luo_owner - a retrieved iommufd and the record it came from
 * @node: in iommufd_luo_owners
 * @ictx: the iommufd, alive until its file is finished
 * @owner: the address of its record: the owner of the domains it handed
 *	over (iommu_kho_preserve()), which device files ask about
 */
struct iommufd_luo_owner {
	struct list_head node;
	struct iommufd_ctx *ictx;
	u64 owner;
};

static LIST_HEAD(iommufd_luo_owners);
static DEFINE_MUTEX(iommufd_luo_owners_lock);

static int iommufd_luo_refuse(const char *why, u32 id)
{
	pr_warn("cannot preserve iommufd: object %u: %s\n", id, why);
	return -EOPNOTSUPP;
}

/* Put back what iommufd_luo_grab() took, and free the array */
static void iommufd_luo_ungrab(struct iommufd_ctx *ictx,
			       struct iommufd_object **objs, int n)
{
	while (n-- > 0)
		iommufd_put_object(ictx, objs[n]);
	kfree(objs);
}

/*
 * Take a reference on every object of @ictx, in an array to give to
 * iommufd_luo_ungrab(); *@n: how many. ERR_PTR(-E2BIG) for more than
 * IOMMUFD_LUO_MAX_OBJECTS, or ERR_PTR(-ENOMEM).
 */
static struct iommufd_object **iommufd_luo_grab(struct iommufd_ctx *ictx,
						int *n)
{
	struct iommufd_object **objs, *obj;
	unsigned long index;
	bool full = false;

	objs = kcalloc(IOMMUFD_LUO_MAX_OBJECTS, sizeof(*objs), GFP_KERNEL);
	if (!objs)
		return ERR_PTR(-ENOMEM);
	*n = 0;
	xa_lock(&ictx->objects);
	xa_for_each(&ictx->objects, index, obj) {
		if (*n == IOMMUFD_LUO_MAX_OBJECTS) {
			full = true;
			break;
		}
		if (iommufd_lock_obj(obj))
			objs[(*n)++] = obj;
	}
	xa_unlock(&ictx->objects);
	if (full) {
		iommufd_luo_ungrab(ictx, objs, *n);
		return ERR_PTR(-E2BIG);
	}
	return objs;
}

static void iommufd_luo_free_devs(struct iommufd_luo_out *out)
{
	struct iommufd_luo_dev *dev;
	unsigned long id;

	xa_for_each(&out->hwpt_dev, id, dev)
		kfree(dev);
	xa_destroy(&out->hwpt_dev);
}

/* Note the PCI function of a device attached to @hwpt now */
static int iommufd_luo_note_dev(struct iommufd_luo_out *out,
				struct iommufd_hw_pagetable *hwpt,
				struct pci_dev *pdev)
{
	struct iommufd_luo_dev *dev = xa_load(&out->hwpt_dev, hwpt->obj.id);
	int err;

	if (pci_domain_nr(pdev->bus) > 0xffff ||
	    hwpt->obj.type != IOMMUFD_OBJ_HWPT_PAGING)
		return 0;	/* refused in iommufd_luo_walk_hwpt() */
	if (!dev) {
		dev = kzalloc(sizeof(*dev), GFP_KERNEL);
		if (!dev)
			return -ENOMEM;
		err = xa_err(xa_store(&out->hwpt_dev, hwpt->obj.id, dev,
				      GFP_KERNEL));
		if (err) {
			kfree(dev);
			return err;
		}
	}
	dev->hwpt = container_of(hwpt, struct iommufd_hwpt_paging, common);
	dev->domain = hwpt->domain;
	dev->segment = pci_domain_nr(pdev->bus);
	dev->rid = pci_dev_id(pdev);
	return 0;
}

/* Note the PCI function behind each HWPT that has a device attached now */
static int iommufd_luo_note_devices(struct iommufd_luo_out *out,
				    struct iommufd_object **objs, int n)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_device *idev;
	int i, err = 0;

	for (i = 0; i < n && !err; i++) {
		if (objs[i]->type != IOMMUFD_OBJ_DEVICE)
			continue;
		idev = container_of(objs[i], struct iommufd_device, obj);
		mutex_lock(&idev->igroup->lock);
		hwpt = idev->igroup->hwpt;
		if (hwpt)
			err = iommu_kho_check(idev->dev);
		if (!err && hwpt && dev_is_pci(idev->dev))
			err = iommufd_luo_note_dev(out, hwpt,
						   to_pci_dev(idev->dev));
		mutex_unlock(&idev->igroup->lock);
	}
	return err;
}

static int iommufd_luo_walk_hwpt(struct iommufd_luo_out *out,
				 struct iommufd_luo_walk *w,
				 struct iommufd_hwpt_paging *hwpt_paging)
{
	struct iommufd_hw_pagetable *hwpt = &hwpt_paging->common;
	struct iommufd_luo_hwpt_ser *h;
	struct iommufd_luo_dev *dev;
	u32 id = hwpt->obj.id;

	if (hwpt_paging->nest_parent)
		return iommufd_luo_refuse("a nesting parent HWPT", id);
	if (hwpt->domain->dirty_ops)
		return iommufd_luo_refuse("a dirty-tracking HWPT", id);
	if (hwpt->fault)
		return iommufd_luo_refuse("a HWPT with I/O page faults", id);
	dev = xa_load(&out->hwpt_dev, id);
	if (!dev || dev->hwpt != hwpt_paging || dev->domain != hwpt->domain)
		return iommufd_luo_refuse("a HWPT with no PCI device seen (segment < 0x10000)",
					  id);
	if (w->hdr.nr_hwpts == IOMMUFD_LUO_MAX_HWPTS)
		return iommufd_luo_refuse("more HWPTs than carried", id);
	h = &w->hwpts[w->hdr.nr_hwpts++];
	h->id = id;
	h->ioas = hwpt_paging->ioas->obj.id;
	h->pci_segment = dev->segment;
	h->pci_rid = dev->rid;
	h->flags = hwpt_paging->auto_domain ? IOMMUFD_LUO_HWPT_AUTO : 0;
	h->reserved = 0;
	return 0;
}

static int iommufd_luo_walk_ioas(struct liveupdate_file_op_args *args,
				 struct iommufd_luo_walk *w,
				 struct iommufd_ioas *ioas)
{
	struct io_pagetable *iopt = &ioas->iopt;
	struct iommufd_luo_map_ser *m;
	struct iopt_area *area;
	u32 id = ioas->obj.id;
	u64 token;
	int err = 0;

	if (w->hdr.nr_ioas == IOMMUFD_LUO_MAX_IOAS)
		return iommufd_luo_refuse("more IOAS than carried", id);
	w->ioas[w->hdr.nr_ioas++].id = id;

	down_read(&iopt->iova_rwsem);
	for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
	     area = iopt_area_iter_next(area, 0, ULONG_MAX)) {
		struct iopt_pages *pages = area->pages;

		if (!pages) {
			err = -EBUSY;	/* a map or unmap is under way */
			break;
		}
		if (!pages->file) {
			pr_warn("IOAS %u: IOVA %#lx maps a user VA, not a memfd (IOMMU_IOAS_MAP_FILE)\n",
				id, iopt_area_iova(area));
			err = -EOPNOTSUPP;
			break;
		}
		if (w->hdr.nr_maps == IOMMUFD_LUO_MAX_MAPS) {
			err = iommufd_luo_refuse("more mappings than carried",
						 id);
			break;
		}
		m = &w->maps[w->hdr.nr_maps];
		m->offset = pages->start +
			    iopt_area_start_byte(area, iopt_area_iova(area));
		m->length = iopt_area_length(area);
		if (iopt_file_check(pages->file, m->offset, m->length,
				    area->iommu_prot & IOMMU_WRITE)) {
			pr_warn("IOAS %u: IOVA %#lx maps a memfd range that can no longer be mapped (truncated or sealed since)\n",
				id, iopt_area_iova(area));
			err = -EOPNOTSUPP;
			break;
		}
		if (liveupdate_get_token_outgoing(args, pages->file, &token)) {
			pr_warn("IOAS %u: IOVA %#lx maps a memfd that is not in the session\n",
				id, iopt_area_iova(area));
			err = -EOPNOTSUPP;
			break;
		}
		w->hdr.nr_maps++;
		m->iova = iopt_area_iova(area);
		m->token = token;
		m->ioas = id;
		m->flags = 0;
		if (area->iommu_prot & IOMMU_READ)
			m->flags |= IOMMUFD_LUO_MAP_READ;
		if (area->iommu_prot & IOMMU_WRITE)
			m->flags |= IOMMUFD_LUO_MAP_WRITE;
	}
	up_read(&iopt->iova_rwsem);
	return err;
}

/* Check every object of the iommufd and gather what is carried into @w */
static int iommufd_luo_walk(struct liveupdate_file_op_args *args,
			    struct iommufd_luo_out *out,
			    struct iommufd_luo_walk *w)
{
	struct iommufd_ctx *ictx = iommufd_file_ctx(args->file);
	struct iommufd_object **objs;
	int i, n, err = 0;

	objs = iommufd_luo_grab(ictx, &n);
	if (PTR_ERR_OR_ZERO(objs) == -E2BIG) {
		pr_warn("cannot preserve iommufd: more than %d objects\n",
			IOMMUFD_LUO_MAX_OBJECTS);
		return -EOPNOTSUPP;
	}
	if (IS_ERR(objs))
		return PTR_ERR(objs);
	err = iommufd_luo_note_devices(out, objs, n);

	for (i = 0; i < n && !err; i++) {
		struct iommufd_object *obj = objs[i];
		struct iommufd_hwpt_paging *hwpt;
		struct iommufd_ioas *ioas;

		switch (obj->type) {
		case IOMMUFD_OBJ_DEVICE:
			break;	/* the device's own file carries it */
		case IOMMUFD_OBJ_IOAS:
			ioas = container_of(obj, struct iommufd_ioas, obj);
			err = iommufd_luo_walk_ioas(args, w, ioas);
			break;
		case IOMMUFD_OBJ_HWPT_PAGING:
			hwpt = container_of(obj, struct iommufd_hwpt_paging,
					    common.obj);
			err = iommufd_luo_walk_hwpt(out, w, hwpt);
			break;
		case IOMMUFD_OBJ_HWPT_NESTED:
			err = iommufd_luo_refuse("a nested HWPT", obj->id);
			break;
		case IOMMUFD_OBJ_ACCESS:
			err = iommufd_luo_refuse("an in-kernel access (mdev)",
						 obj->id);
			break;
		case IOMMUFD_OBJ_FAULT:
			err = iommufd_luo_refuse("a fault queue", obj->id);
			break;
		default:
			err = iommufd_luo_refuse("an object of a kind not carried",
						 obj->id);
			break;
		}
	}
	iommufd_luo_ungrab(ictx, objs, n);
	return err;
}

static void iommufd_luo_free_record(struct folio *folio)
{
	WARN_ON_ONCE(kho_unpreserve_folio(folio));
	folio_put(folio);
}

/* Walk the iommufd and write its record into a new preserved folio */
static struct folio *iommufd_luo_record(struct liveupdate_file_op_args *args,
					struct iommufd_luo_out *out)
{
	struct iommufd_luo_walk *w;
	struct iommufd_luo_ser *ser;
	struct folio *folio;
	size_t size;
	int err;

	w = kvzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return ERR_PTR(-ENOMEM);
	w->maps = kvcalloc(IOMMUFD_LUO_MAX_MAPS, sizeof(*w->maps), GFP_KERNEL);
	if (!w->maps) {
		folio = ERR_PTR(-ENOMEM);
		goto out_free;
	}
	err = iommufd_luo_walk(args, out, w);
	if (err) {
		folio = ERR_PTR(err);
		goto out_free;
	}

	size = iommufd_luo_ser_size(w->hdr.nr_ioas, w->hdr.nr_hwpts,
				    w->hdr.nr_maps);
	folio = folio_alloc(GFP_KERNEL | __GFP_ZERO, get_order(size));
	if (!folio) {
		folio = ERR_PTR(-ENOMEM);
		goto out_free;
	}
	ser = folio_address(folio);
	*ser = w->hdr;
	ser->magic = IOMMUFD_LUO_MAGIC;
	ser->version = IOMMUFD_LUO_VERSION;
	ser->size = size;
	memcpy(iommufd_luo_ser_ioas(ser), w->ioas,
	       w->hdr.nr_ioas * sizeof(*w->ioas));
	memcpy(iommufd_luo_ser_hwpts(ser), w->hwpts,
	       w->hdr.nr_hwpts * sizeof(*w->hwpts));
	memcpy(iommufd_luo_ser_maps(ser), w->maps,
	       w->hdr.nr_maps * sizeof(*w->maps));

	err = kho_preserve_folio(folio);
	if (err) {
		folio_put(folio);
		folio = ERR_PTR(err);
	}
out_free:
	kvfree(w->maps);
	kvfree(w);
	return folio;
}

/* ----- outgoing ----- */

static bool iommufd_luo_can_preserve(struct liveupdate_file_handler *handler,
				     struct file *file)
{
	return iommufd_file_ctx(file);
}

static int iommufd_luo_preserve(struct liveupdate_file_op_args *args)
{
	struct iommufd_luo_out *out;
	struct folio *folio;

	out = kzalloc(sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	xa_init(&out->hwpt_dev);
	folio = iommufd_luo_record(args, out);
	if (IS_ERR(folio)) {
		iommufd_luo_free_devs(out);
		kfree(out);
		return PTR_ERR(folio);
	}
	out->folio = folio;
	args->private_data = out;
	args->serialized_data = PFN_PHYS(folio_pfn(folio));
	return 0;
}

static void iommufd_luo_unpreserve(struct liveupdate_file_op_args *args)
{
	struct iommufd_luo_out *out = args->private_data;

	iommufd_luo_free_record(out->folio);
	iommufd_luo_free_devs(out);
	kfree(out);
}

/*
 * Hand each device attached to a paging HWPT to the IOMMU driver, so it
 * keeps translating through the kexec. The IOAS is held still meanwhile.
 * The record's address names the domains for iommu_kho_release().
 */
static int iommufd_luo_keep_translating(struct iommufd_ctx *ictx, u64 owner)
{
	struct iommufd_hwpt_paging *hwpt_paging;
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_object **objs;
	struct iommufd_device *idev;
	int i, n, err = 0;

	objs = iommufd_luo_grab(ictx, &n);
	if (IS_ERR(objs))
		return PTR_ERR(objs);
	for (i = 0; i < n && !err; i++) {
		if (objs[i]->type != IOMMUFD_OBJ_DEVICE)
			continue;
		idev = container_of(objs[i], struct iommufd_device, obj);
		mutex_lock(&idev->igroup->lock);
		hwpt = idev->igroup->hwpt;
		if (hwpt && hwpt->obj.type == IOMMUFD_OBJ_HWPT_PAGING) {
			hwpt_paging = to_hwpt_paging(hwpt);
			down_write(&hwpt_paging->ioas->iopt.domains_rwsem);
			err = iommu_kho_preserve(idev->dev, hwpt->domain,
						 owner);
			up_write(&hwpt_paging->ioas->iopt.domains_rwsem);
		}
		mutex_unlock(&idev->igroup->lock);
	}
	iommufd_luo_ungrab(ictx, objs, n);
	return err;
}

/* The record made final: what the iommufd holds now, checked again */
static int iommufd_luo_freeze(struct liveupdate_file_op_args *args)
{
	struct iommufd_luo_out *out = args->private_data;
	struct iommufd_luo_ser *ser;
	struct folio *folio;
	int err;

	folio = iommufd_luo_record(args, out);
	if (IS_ERR(folio)) {
		pr_err("cannot record the iommufd at freeze: %ld\n",
		       PTR_ERR(folio));
		return PTR_ERR(folio);
	}
	err = iommufd_luo_keep_translating(iommufd_file_ctx(args->file),
					   PFN_PHYS(folio_pfn(folio)));
	if (err) {
		pr_err("cannot keep its devices translating across the kexec: %d\n",
		       err);
		iommu_kho_abort();
		iommufd_luo_free_record(folio);
		return err;
	}
	iommufd_luo_free_record(out->folio);
	out->folio = folio;
	args->serialized_data = PFN_PHYS(folio_pfn(folio));
	ser = folio_address(folio);
	pr_info("iommufd frozen: %u IOAS, %u HWPTs, %u mappings, a record of %llu bytes\n",
		ser->nr_ioas, ser->nr_hwpts, ser->nr_maps, ser->size);
	return 0;
}

/* The finalize was undone: devices go back to turning translation off */
static void iommufd_luo_unfreeze(struct liveupdate_file_op_args *args)
{
	iommu_kho_abort();
}

/* ----- incoming ----- */

/* The order of the unclaimed preserved block at @phys, or -1 */
static int iommufd_luo_block_order(phys_addr_t phys)
{
	unsigned int order;

	for (order = 0; order <= IOMMUFD_LUO_MAX_ORDER; order++)
		if (kho_is_preserved(phys, order))
			return order;
	return -1;
}

static bool iommufd_luo_id_ok(u32 id)
{
	return id && id <= INT_MAX;
}

/* Is @id one of the first @n IOAS of @ser? */
static bool iommufd_luo_has_ioas(struct iommufd_luo_ser *ser, u32 n, u32 id)
{
	struct iommufd_luo_ioas_ser *ioas = iommufd_luo_ser_ioas(ser);
	u32 i;

	for (i = 0; i < n; i++)
		if (ioas[i].id == id)
			return true;
	return false;
}

/* Is @id the id of one of the first @n HWPTs of @ser? */
static bool iommufd_luo_has_hwpt(struct iommufd_luo_ser *ser, u32 n, u32 id)
{
	struct iommufd_luo_hwpt_ser *hwpts = iommufd_luo_ser_hwpts(ser);
	u32 i;

	for (i = 0; i < n; i++)
		if (hwpts[i].id == id)
			return true;
	return false;
}

static const char *iommufd_luo_check_ser(struct iommufd_luo_ser *ser,
					 size_t block)
{
	struct iommufd_luo_ioas_ser *ioas;
	struct iommufd_luo_hwpt_ser *hwpt;
	struct iommufd_luo_map_ser *map;
	u64 end;
	u32 i;

	if (block < sizeof(*ser) || ser->magic != IOMMUFD_LUO_MAGIC)
		return "not an iommufd record";
	if (ser->version != IOMMUFD_LUO_VERSION)
		return "an iommufd record of a version this kernel does not read";
	if (ser->nr_ioas > IOMMUFD_LUO_MAX_IOAS ||
	    ser->nr_hwpts > IOMMUFD_LUO_MAX_HWPTS ||
	    ser->nr_maps > IOMMUFD_LUO_MAX_MAPS ||
	    ser->size != iommufd_luo_ser_size(ser->nr_ioas, ser->nr_hwpts,
					      ser->nr_maps) ||
	    ser->size > block)
		return "counts or size out of bounds";

	ioas = iommufd_luo_ser_ioas(ser);
	for (i = 0; i < ser->nr_ioas; i++)
		if (!iommufd_luo_id_ok(ioas[i].id) || ioas[i].reserved ||
		    iommufd_luo_has_ioas(ser, i, ioas[i].id))
			return "a bad or repeated IOAS id";
	hwpt = iommufd_luo_ser_hwpts(ser);
	for (i = 0; i < ser->nr_hwpts; i++)
		if (!iommufd_luo_id_ok(hwpt[i].id) ||
		    iommufd_luo_has_ioas(ser, ser->nr_ioas, hwpt[i].id) ||
		    iommufd_luo_has_hwpt(ser, i, hwpt[i].id) ||
		    !iommufd_luo_has_ioas(ser, ser->nr_ioas, hwpt[i].ioas) ||
		    hwpt[i].flags & ~IOMMUFD_LUO_HWPT_FLAGS ||
		    hwpt[i].reserved)
			return "a bad or repeated HWPT";
	map = iommufd_luo_ser_maps(ser);
	for (i = 0; i < ser->nr_maps; i++)
		if (!iommufd_luo_has_ioas(ser, ser->nr_ioas, map[i].ioas) ||
		    !map[i].length || !map[i].flags ||
		    map[i].flags & ~IOMMUFD_LUO_MAP_FLAGS ||
		    check_add_overflow(map[i].iova, map[i].length - 1, &end) ||
		    end > ULONG_MAX ||
		    check_add_overflow(map[i].offset, map[i].length, &end) ||
		    end > ULONG_MAX)
			return "a bad mapping";
	return NULL;
}

/*
 * Check the record at @phys in place and claim it. A corrupt record is
 * left alone, whatever it names: the memory may be someone else's.
 */
static struct folio *iommufd_luo_claim(phys_addr_t phys)
{
	const char *why;
	struct folio *folio;
	int order;

	order = iommufd_luo_block_order(phys);
	if (order < 0) {
		pr_err("no preserved iommufd record at %pa\n", &phys);
		return ERR_PTR(-EINVAL);
	}
	why = iommufd_luo_check_ser(phys_to_virt(phys), PAGE_SIZE << order);
	if (why) {
		pr_err("the iommufd record at %pa is corrupt: %s\n", &phys, why);
		return ERR_PTR(-EINVAL);
	}
	folio = kho_restore_folio(phys);
	if (WARN_ON_ONCE(!folio))
		return ERR_PTR(-EINVAL);
	return folio;
}

/* Move the id reserved for @obj, not yet finalized, to @id */
static int iommufd_luo_set_id(struct iommufd_ctx *ictx,
			      struct iommufd_object *obj, u32 id)
{
	int err;

	if (obj->id == id)
		return 0;
	/* a NULL entry reserves the index, as _iommufd_object_alloc() does */
	err = xa_insert(&ictx->objects, id, NULL, GFP_KERNEL_ACCOUNT);
	if (err)
		return err;
	xa_erase(&ictx->objects, obj->id);
	obj->id = id;
	return 0;
}

static int iommufd_luo_restore_ioas(struct iommufd_ctx *ictx, u32 id)
{
	struct iommufd_ioas *ioas;
	int err;

	ioas = iommufd_ioas_alloc(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	err = iommufd_luo_set_id(ictx, &ioas->obj, id);
	if (err) {
		iommufd_object_abort_and_destroy(ictx, &ioas->obj);
		return err;
	}
	iommufd_object_finalize(ictx, &ioas->obj);
	return 0;
}

static int iommufd_luo_restore_map(struct liveupdate_file_op_args *args,
				   struct iommufd_ctx *ictx,
				   struct iommufd_luo_map_ser *m)
{
	unsigned long iova = m->iova;
	struct iommufd_ioas *ioas;
	struct file *memfd;
	u32 flags = 0;
	int err;

	err = liveupdate_get_file_incoming(args, m->token, MEMFD_LUO_COMPATIBLE,
					   &memfd);
	if (err) {
		pr_err("IOAS %u: IOVA %#llx: memfd %llu cannot be retrieved: %d\n",
		       m->ioas, m->iova, m->token, err);
		return err;
	}
	ioas = iommufd_get_ioas(ictx, m->ioas);
	if (IS_ERR(ioas)) {
		fput(memfd);
		return PTR_ERR(ioas);
	}
	if (m->flags & IOMMUFD_LUO_MAP_READ)
		flags |= IOMMU_IOAS_MAP_READABLE;
	if (m->flags & IOMMUFD_LUO_MAP_WRITE)
		flags |= IOMMU_IOAS_MAP_WRITEABLE;
	err = iopt_map_file_pages(ictx, &ioas->iopt, &iova, memfd, m->offset,
				  m->length, conv_iommu_prot(flags), 0);
	if (err)
		pr_err("IOAS %u: IOVA %#llx: memfd %llu at %#llx, %#llx bytes cannot be mapped: %d\n",
		       m->ioas, m->iova, m->token, m->offset, m->length, err);
	iommufd_put_object(ictx, &ioas->obj);
	fput(memfd);
	return err;
}

static int iommufd_luo_restore_hwpt(struct iommufd_ctx *ictx,
				    struct iommufd_luo_hwpt_ser *h)
{
	struct iommufd_hwpt_paging *hwpt_paging;
	struct iommufd_device idev = { .ictx = ictx };
	struct iommufd_ioas *ioas;
	struct pci_dev *pdev;
	int err;

	pdev = pci_get_domain_bus_and_slot(h->pci_segment, h->pci_rid >> 8,
					   h->pci_rid & 0xff);
	if (!pdev || !device_iommu_mapped(&pdev->dev)) {
		pr_err("HWPT %u: PCI %04x:%02x:%02x.%d is gone or has no IOMMU\n",
		       h->id, h->pci_segment, h->pci_rid >> 8,
		       PCI_SLOT(h->pci_rid & 0xff), PCI_FUNC(h->pci_rid & 0xff));
		pci_dev_put(pdev);
		return -ENODEV;
	}
	/*
	 * The domain is made for the function, as it was in the previous
	 * kernel, without binding it: the VMM binds its devices later and
	 * attaches them by the HWPT's id. With immediate_attach false,
	 * iommufd_hwpt_paging_alloc() looks only at the device and its cache
	 * coherency, which are set as a bind would set them.
	 */
	idev.dev = &pdev->dev;
	idev.enforce_cache_coherency =
		device_iommu_capable(idev.dev,
				     IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
	ioas = iommufd_get_ioas(ictx, h->ioas);
	if (IS_ERR(ioas)) {
		pci_dev_put(pdev);
		return PTR_ERR(ioas);
	}
	mutex_lock(&ioas->mutex);
	hwpt_paging = iommufd_hwpt_paging_alloc(ictx, ioas, &idev,
						IOMMU_NO_PASID, 0, false, NULL);
	if (IS_ERR(hwpt_paging)) {
		err = PTR_ERR(hwpt_paging);
		goto out_unlock;
	}
	hwpt_paging->auto_domain = h->flags & IOMMUFD_LUO_HWPT_AUTO;
	err = iommufd_luo_set_id(ictx, &hwpt_paging->common.obj, h->id);
	if (err) {
		iommufd_object_abort_and_destroy(ictx,
						 &hwpt_paging->common.obj);
		goto out_unlock;
	}
	iommufd_object_finalize(ictx, &hwpt_paging->common.obj);
out_unlock:
	mutex_unlock(&ioas->mutex);
	iommufd_put_object(ictx, &ioas->obj);
	if (err)
		pr_err("HWPT %u: no domain for %s: %d\n", h->id,
		       pci_name(pdev), err);
	pci_dev_put(pdev);
	return err;
}

/* A new iommufd with the objects and mappings of the record in @folio */
static struct file *iommufd_luo_rebuild(struct liveupdate_file_op_args *args,
					struct iommufd_luo_ser *ser)
{
	struct iommufd_luo_ioas_ser *ioas = iommufd_luo_ser_ioas(ser);
	struct iommufd_luo_hwpt_ser *hwpts = iommufd_luo_ser_hwpts(ser);
	struct iommufd_luo_map_ser *maps = iommufd_luo_ser_maps(ser);
	struct iommufd_ctx *ictx;
	struct file *file;
	int err = 0;
	u32 i;

	file = iommufd_new_file();
	if (IS_ERR(file))
		return file;
	ictx = iommufd_file_ctx(file);

	for (i = 0; i < ser->nr_ioas && !err; i++)
		err = iommufd_luo_restore_ioas(ictx, ioas[i].id);
	for (i = 0; i < ser->nr_maps && !err; i++)
		err = iommufd_luo_restore_map(args, ictx, &maps[i]);
	for (i = 0; i < ser->nr_hwpts && !err; i++)
		err = iommufd_luo_restore_hwpt(ictx, &hwpts[i]);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	return file;
}

static int iommufd_luo_retrieve(struct liveupdate_file_op_args *args)
{
	struct folio *folio = args->private_data;
	struct iommufd_luo_owner *owner;
	struct iommufd_luo_ser *ser;
	struct file *file;

	/* A failed retrieve keeps the claimed record for the next try */
	if (!folio) {
		folio = iommufd_luo_claim(args->serialized_data);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		args->private_data = folio;
	}
	ser = folio_address(folio);
	file = iommufd_luo_rebuild(args, ser);
	if (IS_ERR(file))
		return PTR_ERR(file);
	owner = kzalloc(sizeof(*owner), GFP_KERNEL);
	if (!owner) {
		fput(file);
		return -ENOMEM;
	}
	owner->ictx = iommufd_file_ctx(file);
	owner->owner = args->serialized_data;
	mutex_lock(&iommufd_luo_owners_lock);
	list_add(&owner->node, &iommufd_luo_owners);
	mutex_unlock(&iommufd_luo_owners_lock);
	pr_info("iommufd retrieved: %u IOAS, %u HWPTs, %u mappings\n",
		ser->nr_ioas, ser->nr_hwpts, ser->nr_maps);
	args->file = file;
	return 0;
}

static void iommufd_luo_finish(struct liveupdate_file_op_args *args)
{
	struct folio *folio = args->private_data;
	struct iommufd_luo_owner *owner, *tmp;

	mutex_lock(&iommufd_luo_owners_lock);
	list_for_each_entry_safe(owner, tmp, &iommufd_luo_owners, node) {
		if (args->retrieved &&
		    owner->ictx == iommufd_file_ctx(args->file)) {
			list_del(&owner->node);
			kfree(owner);
		}
	}
	mutex_unlock(&iommufd_luo_owners_lock);

	/*
	 * Devices still translating through what the previous kernel handed
	 * over may reach the memfds finished next: block them. They are
	 * found by the record's address, which needs no trust in the record.
	 */
	iommu_kho_release(args->serialized_data);

	/* never retrieved: take the record back, if it is sound */
	if (!folio && !args->retrieved)
		folio = iommufd_luo_claim(args->serialized_data);
	if (!IS_ERR_OR_NULL(folio))
		folio_put(folio);
	else if (!args->retrieved)
		/* a damaged record: leave nothing translating at all */
		iommu_kho_release_all();
	args->private_data = NULL;
}

/* ----- for the device files bound to a preserved iommufd (vfio) ----- */

/**
 * iommufd_luo_ctx_file - the file of an iommufd context
 * @ictx: the context, which a reference of the caller keeps alive
 *
 * Return: the iommufd file, for liveupdate_get_token_outgoing(); the
 * caller's reference on @ictx is one on the file.
 */
struct file *iommufd_luo_ctx_file(struct iommufd_ctx *ictx)
{
	return ictx->file;
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_ctx_file, IOMMUFD);

/**
 * iommufd_luo_device_pt - the paging HWPT a bound device is attached to
 * @idev: the device, bound
 * @pt_id: its id, on success
 *
 * Return: 0, or -ENOENT if it is attached to none, or to one of another
 * kind (a nested HWPT), which a Live Update does not carry.
 */
int iommufd_luo_device_pt(struct iommufd_device *idev, u32 *pt_id)
{
	struct iommufd_hw_pagetable *hwpt;
	int err = -ENOENT;

	mutex_lock(&idev->igroup->lock);
	hwpt = idev->igroup->hwpt;
	if (hwpt && hwpt->obj.type == IOMMUFD_OBJ_HWPT_PAGING) {
		*pt_id = hwpt->obj.id;
		err = 0;
	}
	mutex_unlock(&idev->igroup->lock);
	return err;
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_device_pt, IOMMUFD);

/**
 * iommufd_luo_ctx_owner - where a retrieved iommufd came from
 * @ictx: an iommufd, which a reference of the caller keeps alive
 *
 * Return: the value its record gave iommu_kho_preserve() in the previous
 * kernel as the owner of the domains it handed over, for
 * iommu_kho_carried_by(); 0 for an iommufd Live Update did not retrieve.
 */
u64 iommufd_luo_ctx_owner(struct iommufd_ctx *ictx)
{
	struct iommufd_luo_owner *owner;
	u64 val = 0;

	mutex_lock(&iommufd_luo_owners_lock);
	list_for_each_entry(owner, &iommufd_luo_owners, node)
		if (owner->ictx == ictx)
			val = owner->owner;
	mutex_unlock(&iommufd_luo_owners_lock);
	return val;
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_ctx_owner, IOMMUFD);

/**
 * iommufd_luo_check_pt - is @id a paging HWPT of @ictx?
 * @ictx: an iommufd
 * @id: an object id
 *
 * Return: 0, or -ENOENT.
 */
int iommufd_luo_check_pt(struct iommufd_ctx *ictx, u32 id)
{
	struct iommufd_object *obj;

	obj = iommufd_get_object(ictx, id, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(obj))
		return -ENOENT;
	iommufd_put_object(ictx, obj);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_check_pt, IOMMUFD);

/**
 * iommufd_luo_reserve_id - keep an object id free for a device to come
 * @ictx: an iommufd retrieved by Live Update
 * @id: the id a device had in it in the previous kernel
 *
 * A VMM knows its devices by the ids it was given before the kexec, as it
 * knows the IOAS and HWPTs, which the retrieve recreates under their old
 * ids. The id is held before the device is bound, so that a failure to
 * get it is known before anything is done to the device. Give it to the
 * device with iommufd_luo_device_set_id(), or back with
 * iommufd_luo_unreserve_id().
 *
 * Return: 0, -EINVAL for an id iommufd does not hand out, or -EBUSY if an
 * object of the iommufd has it.
 */
int iommufd_luo_reserve_id(struct iommufd_ctx *ictx, u32 id)
{
	if (!iommufd_luo_id_ok(id))
		return -EINVAL;
	/* a NULL entry reserves the index, as _iommufd_object_alloc() does */
	return xa_insert(&ictx->objects, id, NULL, GFP_KERNEL_ACCOUNT);
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_reserve_id, IOMMUFD);

/**
 * iommufd_luo_unreserve_id - give back an id iommufd_luo_reserve_id() held
 * @ictx: the iommufd
 * @id: the id
 */
void iommufd_luo_unreserve_id(struct iommufd_ctx *ictx, u32 id)
{
	xa_release(&ictx->objects, id);
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_unreserve_id, IOMMUFD);

/**
 * iommufd_luo_device_set_id - give a newly bound device its old id
 * @idev: the device, just bound to an iommufd retrieved by Live Update
 * @id: the id it had, held with iommufd_luo_reserve_id()
 *
 * The device moves from the id its bind gave it to @id under the objects'
 * lock, so a lookup finds it under one or the other. The caller
 * serializes this with the device's unbind.
 */
void iommufd_luo_device_set_id(struct iommufd_device *idev, u32 id)
{
	struct iommufd_ctx *ictx = idev->ictx;

	if (idev->obj.id == id)
		return;
	xa_lock(&ictx->objects);
	/* the reserved entry is there: nothing to allocate, nothing to fail */
	WARN_ON(xa_is_err(__xa_store(&ictx->objects, id, &idev->obj,
				     GFP_ATOMIC)));
	__xa_erase(&ictx->objects, idev->obj.id);
	idev->obj.id = id;
	xa_unlock(&ictx->objects);
}
EXPORT_SYMBOL_NS_GPL(iommufd_luo_device_set_id, IOMMUFD);

static const struct liveupdate_file_ops iommufd_luo_ops = {
	.can_preserve = iommufd_luo_can_preserve,
	.preserve = iommufd_luo_preserve,
	.unpreserve = iommufd_luo_unpreserve,
	.freeze = iommufd_luo_freeze,
	.unfreeze = iommufd_luo_unfreeze,
	.retrieve = iommufd_luo_retrieve,
	.finish = iommufd_luo_finish,
};

static struct liveupdate_file_handler iommufd_luo_handler = {
	.ops = &iommufd_luo_ops,
	.compatible = IOMMUFD_LUO_COMPATIBLE,
	.owner = THIS_MODULE,
};

void iommufd_luo_init(void)
{
	int err;

	if (!liveupdate_enabled())
		return;
	err = liveupdate_register_file_handler(&iommufd_luo_handler);
	if (err)
		pr_warn("handler not registered, iommufds cannot be preserved: %d\n",
			err);
}

void iommufd_luo_exit(void)
{
	if (liveupdate_enabled())
		WARN_ON(liveupdate_unregister_file_handler(&iommufd_luo_handler));
}
