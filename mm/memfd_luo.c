// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update handler for memfds ("memfd-v1"): shmem memfds, and hugetlbfs
 * memfds of any huge page size (2 MiB and 1 GiB on x86).
 *
 * Preserve: with the inode locked, record the inode as preserved (once,
 * whichever open file it comes through) and add F_SEAL_SHRINK and
 * F_SEAL_GROW for as long as it stays preserved, so its size is fixed (the
 * seals the user set are remembered apart and are what the next kernel
 * restores; a size seal the user adds meanwhile becomes the user's). While
 * preserved, shmem and hugetlbfs refuse to punch holes in it.
 * Then pin every folio of the file with memfd_pin_folios(), which fills
 * shmem holes and migrates folios out of CMA memory, where KHO scratch
 * lives; hugetlbfs holes are left as holes. Each folio is preserved with
 * KHO and recorded in a chain of preserved metadata pages. The contents
 * stay live and writable: the same pages, as they are at kexec, are what
 * the next kernel gets.
 *
 * Freeze: record the seals, mode and file position as they are then, and
 * check that the file still holds exactly the preserved folios at their
 * indexes (a hole punched, or a hole filled, after preserve fails the
 * freeze rather than lose data). A hugetlbfs memfd's pages are counted for
 * the next kernel's boot pool. From then until unfreeze, no page may be
 * added to a hugetlbfs hole: the fault gets SIGBUS and fallocate() EPERM,
 * for such a page would not be handed over.
 *
 * Unpreserve (the session was closed before kexec): unpreserve and unpin
 * everything and take the added seals off again.
 *
 * Retrieve, in the next kernel: check the header and the whole folio chain
 * before claiming any of it, create a memfd of the same kind, name and
 * size, put each preserved folio back at its index (no copy), then restore
 * the seals, mode and position. A retrieve that fails part way (out of
 * memory, a limit hit while accounting the pages) keeps the file built so
 * far and leaves the rest preserved, and the next retrieve goes on from
 * there. Finish gives what was not retrieved to the page allocator, or,
 * huge pages, to the hstate's pool while its boot allocation left out
 * pages for them (see mm/memfd_luo_hugetlb.c).
 *
 * The records handed over are described in <linux/kho/abi/memfd.h>.
 */
#define pr_fmt(fmt) "memfd-luo: " fmt

#include <linux/bitmap.h>
#include <linux/bits.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/memfd.h>
#include <linux/liveupdate.h>
#include <linux/memfd_luo.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "internal.h"
#include "memfd_luo.h"

/* Held while preserved: the size must not change under the pinned folios. */
#define MEMFD_LUO_SIZE_SEALS	(F_SEAL_SHRINK | F_SEAL_GROW)
#define MEMFD_LUO_ALL_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
				 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | \
				 F_SEAL_EXEC)

/* Folios pinned per memfd_pin_folios() call. */
#define MEMFD_LUO_PIN_BATCH	512

/**
 * struct memfd_luo_out - an outgoing file's private_data
 * @ser_folio: the page holding its struct memfd_luo_ser
 * @tail: the last page of the folio chain, where records are added
 * @added_seals: the seals of MEMFD_LUO_SIZE_SEALS that preserve added and
 *	unpreserve takes off again; a seal the user adds while the file is
 *	preserved leaves this set (memfd_luo_seals_added())
 * @pool_counted: hugetlbfs: freeze counted its pages into the pool handover
 */
struct memfd_luo_out {
	struct folio *ser_folio;
	struct memfd_luo_folio_page *tail;
	unsigned int added_seals;
	bool pool_counted;
};

/*
 * Preserved inodes, each to its struct memfd_luo_out. An inode, not an open
 * file, is what is preserved: however many files it is open through, it
 * is preserved once. Entries are added and removed with the inode locked,
 * and the hooks that look them up hold that lock too.
 */
static DEFINE_XARRAY(memfd_luo_inodes);
/* Marks the inodes of memfd_luo_inodes that are frozen: nothing added. */
#define MEMFD_LUO_FROZEN	XA_MARK_1

static phys_addr_t memfd_luo_entry_phys(const struct memfd_luo_folio_ser *e)
{
	return e->pfo & ~(u64)(PAGE_SIZE - 1);
}

static unsigned int *memfd_luo_seals(struct file *file)
{
	struct inode *inode = file_inode(file);

	if (shmem_file(file))
		return &SHMEM_I(inode)->seals;
#ifdef CONFIG_HUGETLBFS
	if (is_file_hugepages(file))
		return &HUGETLBFS_I(inode)->seals;
#endif
	return NULL;
}

#ifdef CONFIG_HUGETLBFS
static bool memfd_luo_hugetlb_file(struct file *file)
{
	return is_file_hugepages(file);
}

/* Does this kernel have huge pages of @order, for a memfd to be made of? */
static bool memfd_luo_hstate_ok(unsigned int order)
{
	return order < BITS_PER_LONG - PAGE_SHIFT &&
	       size_to_hstate(PAGE_SIZE << order);
}

static unsigned int memfd_luo_hpage_order(struct file *file)
{
	return huge_page_order(hstate_file(file));
}
#else
static bool memfd_luo_hugetlb_file(struct file *file)
{
	return false;
}

static unsigned int memfd_luo_hpage_order(struct file *file)
{
	return 0;
}

static bool memfd_luo_hstate_ok(unsigned int order)
{
	return false;
}
#endif

/* ----- outgoing ----- */

/* A zeroed, preserved metadata page; unmovable, so never in scratch. */
static struct folio *memfd_luo_alloc_meta(void)
{
	struct folio *folio;
	int err;

	folio = folio_alloc(GFP_KERNEL | __GFP_ZERO, 0);
	if (!folio)
		return ERR_PTR(-ENOMEM);
	err = kho_preserve_folio(folio);
	if (err) {
		folio_put(folio);
		return ERR_PTR(err);
	}
	return folio;
}

static void memfd_luo_free_meta(struct folio *folio)
{
	WARN_ON_ONCE(kho_unpreserve_folio(folio));
	folio_put(folio);
}

/* Append a record for @folio, starting a new chain page when needed. */
static int memfd_luo_record(struct memfd_luo_out *out,
			    struct memfd_luo_ser *ser, struct folio *folio)
{
	struct memfd_luo_folio_page *page = out->tail;
	struct memfd_luo_folio_ser *e;
	struct folio *meta;

	if (!page || page->count == MEMFD_LUO_FOLIOS_PER_PAGE) {
		meta = memfd_luo_alloc_meta();
		if (IS_ERR(meta))
			return PTR_ERR(meta);
		if (page)
			page->next = PFN_PHYS(folio_pfn(meta));
		else
			ser->folios = PFN_PHYS(folio_pfn(meta));
		page = folio_address(meta);
		out->tail = page;
	}
	e = &page->folios[page->count++];
	e->pfo = PFN_PHYS(folio_pfn(folio)) | folio_order(folio) |
		 MEMFD_LUO_FOLIO_UPTODATE;
	e->index = folio->index;
	ser->nr_folios++;
	return 0;
}

/*
 * Preserve one pinned folio and record it. On success the pin belongs to
 * the record; on failure it is still the caller's.
 */
static int memfd_luo_preserve_folio(struct memfd_luo_out *out,
				    struct memfd_luo_ser *ser,
				    struct folio *folio)
{
	int err;

	/*
	 * shmem leaves fallocated folios !uptodate until first used, and
	 * clears them then. Do that now, as a first use would, so what is
	 * handed over is plain data.
	 */
	if (!folio_test_uptodate(folio)) {
		folio_lock(folio);
		if (!folio_test_uptodate(folio)) {
			folio_zero_range(folio, 0, folio_size(folio));
			flush_dcache_folio(folio);
			folio_mark_uptodate(folio);
		}
		folio_unlock(folio);
	}

	err = kho_preserve_folio(folio);
	/* already preserved: the file is in a session through another open */
	if (err == -EEXIST)
		return -EBUSY;
	if (err)
		return err;
	err = memfd_luo_record(out, ser, folio);
	if (err)
		WARN_ON_ONCE(kho_unpreserve_folio(folio));
	return err;
}

/* Unpreserve and unpin every recorded folio, and free the chain. */
static void memfd_luo_release_folios(struct memfd_luo_out *out,
				     struct memfd_luo_ser *ser)
{
	struct memfd_luo_folio_page *page;
	phys_addr_t phys = ser->folios;
	struct folio *meta, *folio;
	u32 i;

	while (phys) {
		meta = pfn_folio(PHYS_PFN(phys));
		page = folio_address(meta);
		for (i = 0; i < page->count; i++) {
			phys = memfd_luo_entry_phys(&page->folios[i]);
			folio = pfn_folio(PHYS_PFN(phys));
			WARN_ON_ONCE(kho_unpreserve_folio(folio));
			unpin_folio(folio);
		}
		phys = page->next;
		memfd_luo_free_meta(meta);
	}
	ser->folios = 0;
	ser->nr_folios = 0;
	out->tail = NULL;
}

/* shmem: pin and preserve every page of the file, filling holes. */
static int memfd_luo_pin_shmem(struct file *file, struct memfd_luo_out *out,
			       struct memfd_luo_ser *ser)
{
	loff_t pos = 0, size = ser->size;
	struct folio **folios;
	struct folio *last;
	pgoff_t offset;
	long nr, i;
	int err = 0;

	if (!size)
		return 0;
	folios = kvmalloc_array(MEMFD_LUO_PIN_BATCH, sizeof(*folios),
				GFP_KERNEL);
	if (!folios)
		return -ENOMEM;

	while (pos < size) {
		nr = memfd_pin_folios(file, pos, size - 1, folios,
				      MEMFD_LUO_PIN_BATCH, &offset);
		if (nr <= 0) {
			err = nr ? nr : -EINVAL;
			break;
		}
		for (i = 0; i < nr; i++) {
			err = memfd_luo_preserve_folio(out, ser, folios[i]);
			if (err)
				break;
		}
		if (err) {
			unpin_folios(folios + i, nr - i);
			break;
		}
		/* still pinned (now by its record): safe to look at */
		last = folios[nr - 1];
		pos = folio_pos(last) + folio_size(last);
		cond_resched();
	}

	kvfree(folios);
	return err;
}

/* Pin and preserve the huge page at @start of a hugetlbfs memfd. */
static int memfd_luo_pin_huge_page(struct file *file,
				   struct memfd_luo_out *out,
				   struct memfd_luo_ser *ser, loff_t start)
{
	loff_t end = start + (PAGE_SIZE << ser->hpage_order) - 1;
	struct folio *folio;
	pgoff_t offset;
	long nr;
	int err;

	nr = memfd_pin_folios(file, start, end, &folio, 1, &offset);
	if (nr < 0)
		return nr;
	if (nr != 1)
		return -EINVAL;
	err = memfd_luo_preserve_folio(out, ser, folio);
	if (err)
		unpin_folio(folio);
	return err;
}

/*
 * hugetlbfs: pin and preserve the huge pages present, leaving holes alone
 * (filling one would take a page the file has no reservation for). With
 * the inode locked no page of the file can go away; each is pinned by
 * offset after the lookup's references are dropped, so that migrating it
 * out of CMA is not blocked by them.
 */
static int memfd_luo_pin_hugetlb(struct file *file, struct memfd_luo_out *out,
				 struct memfd_luo_ser *ser)
{
	struct address_space *mapping = file->f_mapping;
	loff_t starts[PAGEVEC_SIZE];
	struct folio_batch fbatch;
	pgoff_t index = 0, last;
	unsigned int i, nr;
	int err = 0;

	if (!ser->size)
		return 0;
	last = (ser->size - 1) >> PAGE_SHIFT;
	folio_batch_init(&fbatch);
	while (!err && filemap_get_folios(mapping, &index, last, &fbatch)) {
		nr = folio_batch_count(&fbatch);
		for (i = 0; i < nr; i++)
			starts[i] = folio_pos(fbatch.folios[i]);
		folio_batch_release(&fbatch);
		for (i = 0; i < nr && !err; i++)
			err = memfd_luo_pin_huge_page(file, out, ser, starts[i]);
		cond_resched();
	}
	return err;
}

static bool memfd_luo_can_preserve(struct liveupdate_file_handler *handler,
				   struct file *file)
{
	struct inode *inode = file_inode(file);
	const fmode_t rw = FMODE_READ | FMODE_WRITE;

	/*
	 * A memfd is an unlinked regular file of shmem or of an internal
	 * hugetlbfs mount. It comes back read-write: so must it be now.
	 */
	if (!S_ISREG(inode->i_mode) || inode->i_nlink || IS_PRIVATE(inode))
		return false;
	if ((file->f_mode & rw) != rw)
		return false;
	return shmem_file(file) || memfd_luo_hugetlb_file(file);
}

static int memfd_luo_preserve(struct liveupdate_file_op_args *args)
{
	struct file *file = args->file;
	struct inode *inode = file_inode(file);
	struct memfd_luo_out *out;
	struct memfd_luo_ser *ser;
	unsigned int *seals;
	int err;

	out = kzalloc(sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	out->ser_folio = memfd_luo_alloc_meta();
	if (IS_ERR(out->ser_folio)) {
		err = PTR_ERR(out->ser_folio);
		goto err_free_out;
	}
	ser = folio_address(out->ser_folio);
	ser->magic = MEMFD_LUO_MAGIC;
	ser->version = MEMFD_LUO_VERSION;
	if (shmem_file(file)) {
		ser->kind = MEMFD_LUO_SHMEM;
	} else {
		ser->kind = MEMFD_LUO_HUGETLB;
		ser->hpage_order = memfd_luo_hpage_order(file);
	}
	/* memfd dentries are never renamed */
	strscpy(ser->name, (const char *)file->f_path.dentry->d_name.name,
		sizeof(ser->name));

	inode_lock(inode);
	/* -EBUSY: preserved already, through this or another open file */
	err = xa_insert(&memfd_luo_inodes, (unsigned long)inode, out,
			GFP_KERNEL);
	if (err)
		goto err_unlock;
	seals = memfd_luo_seals(file);
	out->added_seals = MEMFD_LUO_SIZE_SEALS & ~*seals;
	*seals |= out->added_seals;
	ser->size = i_size_read(inode);
	ser->seals = *seals & ~out->added_seals;
	ser->mode = inode->i_mode & S_IALLUGO;
	ser->pos = file->f_pos;
	if (ser->kind == MEMFD_LUO_HUGETLB)
		err = memfd_luo_pin_hugetlb(file, out, ser);
	else
		err = memfd_luo_pin_shmem(file, out, ser);
	if (err) {
		memfd_luo_release_folios(out, ser);
		*seals &= ~out->added_seals;
		xa_erase(&memfd_luo_inodes, (unsigned long)inode);
	}
err_unlock:
	inode_unlock(inode);
	if (err)
		goto err_free_ser;

	args->serialized_data = PFN_PHYS(folio_pfn(out->ser_folio));
	args->private_data = out;
	return 0;

err_free_ser:
	memfd_luo_free_meta(out->ser_folio);
err_free_out:
	kfree(out);
	return err;
}

static void memfd_luo_unpreserve(struct liveupdate_file_op_args *args)
{
	struct memfd_luo_out *out = args->private_data;
	struct memfd_luo_ser *ser = folio_address(out->ser_folio);
	struct inode *inode = file_inode(args->file);

	inode_lock(inode);
	xa_erase(&memfd_luo_inodes, (unsigned long)inode);
	memfd_luo_release_folios(out, ser);
	*memfd_luo_seals(args->file) &= ~out->added_seals;
	inode_unlock(inode);
	memfd_luo_free_meta(out->ser_folio);
	kfree(out);
}

/**
 * memfd_luo_seals_added - seals were added to a memfd
 * @file: the memfd
 * @seals: the F_SEAL_* bits the user asked for
 *
 * Called by memfd_add_seals() with the inode locked, once the seals are
 * set. If the memfd is preserved, a size seal that preserve added for the
 * time being becomes the user's own: unpreserve leaves it on, and it is
 * handed over with the user's other seals.
 */
void memfd_luo_seals_added(struct file *file, unsigned int seals)
{
	struct inode *inode = file_inode(file);
	struct memfd_luo_out *out;

	lockdep_assert_held(&inode->i_rwsem);
	out = xa_load(&memfd_luo_inodes, (unsigned long)inode);
	if (out)
		out->added_seals &= ~seals;
}

/**
 * memfd_luo_is_preserved - is this memfd preserved for the next kernel?
 * @inode: the memfd's inode, locked by the caller
 *
 * shmem and hugetlbfs refuse to punch a hole in a preserved memfd: its
 * pages are pinned and recorded for the handover, and a page dropped from
 * the file would either come back in the next kernel or fail the freeze.
 *
 * Return: true if a Live Update session holds it.
 */
bool memfd_luo_is_preserved(struct inode *inode)
{
	lockdep_assert_held(&inode->i_rwsem);
	return xa_load(&memfd_luo_inodes, (unsigned long)inode);
}

/**
 * memfd_luo_check_new_folio - may a page be added to this file?
 * @inode: a hugetlbfs inode; the caller holds the hugetlb fault mutex of
 *	the index it adds a page at
 *
 * A preserved memfd that is frozen for the kexec has its folio list
 * handed over as it is: a page added to one of its holes would come back
 * as zeroes. memfd_luo_freeze() marks the file frozen and then waits out
 * every fault mutex holder, so a page added under one either is seen by
 * its check or sees the mark here.
 *
 * Return: 0, or -EPERM while the memfd is frozen.
 */
int memfd_luo_check_new_folio(struct inode *inode)
{
	if (!xa_get_mark(&memfd_luo_inodes, (unsigned long)inode,
			 MEMFD_LUO_FROZEN))
		return 0;
	pr_warn_ratelimited("memfd (inode %lu) is frozen for the kexec: %s[%d] cannot add a page to it\n",
			    inode->i_ino, current->comm, task_pid_nr(current));
	return -EPERM;
}

/* Is every recorded folio still the file's folio at its index? */
static int memfd_luo_check_folios(struct address_space *mapping,
				  const struct memfd_luo_ser *ser)
{
	const struct memfd_luo_folio_page *page;
	const struct memfd_luo_folio_ser *e;
	phys_addr_t phys = ser->folios;
	unsigned long pages = 0;
	struct folio *folio;
	u32 i;

	while (phys) {
		page = phys_to_virt(phys);
		for (i = 0; i < page->count; i++) {
			e = &page->folios[i];
			folio = pfn_folio(PHYS_PFN(memfd_luo_entry_phys(e)));
			if (READ_ONCE(folio->mapping) != mapping ||
			    READ_ONCE(folio->index) != e->index)
				return -EBUSY;
			pages += 1UL << (e->pfo & MEMFD_LUO_FOLIO_ORDER);
		}
		phys = page->next;
	}
	/*
	 * A page faulted into a hole after preserve is not recorded and would
	 * come back as zeroes: refuse the update rather than lose it.
	 */
	if (READ_ONCE(mapping->nrpages) != pages)
		return -EBUSY;
	return 0;
}

/*
 * Count the huge pages of a frozen hugetlbfs memfd in (@sign 1) or out
 * (-1) of the pool handover, which tells the next kernel how much of its
 * boot pool comes back preserved. Pages are counted a run of one node at
 * a time, so that a guest's memfd takes the count's lock a few times and
 * not once a page.
 */
static int memfd_luo_count_pool(const struct memfd_luo_ser *ser, int sign)
{
	const struct memfd_luo_folio_page *page;
	int nid, run_nid = NUMA_NO_NODE;
	phys_addr_t phys = ser->folios;
	unsigned long pfn;
	long run = 0;
	int err;
	u32 i;

	while (phys) {
		page = phys_to_virt(phys);
		for (i = 0; i < page->count; i++) {
			pfn = PHYS_PFN(memfd_luo_entry_phys(&page->folios[i]));
			nid = folio_nid(pfn_folio(pfn));
			if (run && nid != run_nid) {
				err = memfd_luo_hugetlb_count(ser->hpage_order,
							      run_nid, sign * run);
				/* fails on the first run only, with nothing counted */
				if (err)
					return err;
				run = 0;
			}
			run_nid = nid;
			run++;
		}
		phys = page->next;
	}
	if (!run)
		return 0;
	return memfd_luo_hugetlb_count(ser->hpage_order, run_nid, sign * run);
}

static int memfd_luo_freeze(struct liveupdate_file_op_args *args)
{
	struct memfd_luo_out *out = args->private_data;
	struct memfd_luo_ser *ser = folio_address(out->ser_folio);
	struct file *file = args->file;
	struct inode *inode = file_inode(file);
	int err;

	inode_lock(inode);
	ser->seals = *memfd_luo_seals(file) & ~out->added_seals;
	ser->mode = inode->i_mode & S_IALLUGO;
	ser->pos = READ_ONCE(file->f_pos);
	inode_unlock(inode);

	/* from here on no page goes into a hole, then check none went in */
	xa_set_mark(&memfd_luo_inodes, (unsigned long)inode, MEMFD_LUO_FROZEN);
	if (memfd_luo_hugetlb_file(file))
		hugetlb_fault_mutex_sync();
	err = memfd_luo_check_folios(file->f_mapping, ser);
	if (err) {
		xa_clear_mark(&memfd_luo_inodes, (unsigned long)inode,
			      MEMFD_LUO_FROZEN);
		pr_err("%s: pages changed since preserve (hole punched, or a hole filled); refusing to freeze\n",
		       ser->name);
		return err;
	}
	if (!memfd_luo_hugetlb_file(file))
		return 0;
	if (ser->nr_folios << (PAGE_SHIFT + ser->hpage_order) < ser->size)
		/* what runs on until the kexec (a guest) must not fault one in */
		pr_warn("%s: has holes: a page faulted into one before the kexec fails; allocate it in full before finalize\n",
			ser->name);
	/* only sizes the next kernel's pool: not worth a failed update */
	if (memfd_luo_count_pool(ser, 1))
		pr_warn("%s: no memory to count its huge pages: the next kernel allocates them in its boot pool too\n",
			ser->name);
	else
		out->pool_counted = true;
	return 0;
}

static void memfd_luo_unfreeze(struct liveupdate_file_op_args *args)
{
	struct memfd_luo_out *out = args->private_data;

	if (out->pool_counted) {
		memfd_luo_count_pool(folio_address(out->ser_folio), -1);
		out->pool_counted = false;
	}
	xa_clear_mark(&memfd_luo_inodes,
		      (unsigned long)file_inode(args->file), MEMFD_LUO_FROZEN);
}

/* ----- incoming ----- */

static int memfd_luo_check_ser(const struct memfd_luo_ser *ser)
{
	if (ser->magic != MEMFD_LUO_MAGIC || ser->version != MEMFD_LUO_VERSION)
		return -EINVAL;
	if (ser->kind != MEMFD_LUO_SHMEM && ser->kind != MEMFD_LUO_HUGETLB)
		return -EINVAL;
	if (ser->seals & ~MEMFD_LUO_ALL_SEALS || ser->reserved ||
	    ser->pos > (u64)MAX_LFS_FILESIZE)
		return -EINVAL;
	if (!ser->name[0] || !memchr(ser->name, 0, sizeof(ser->name)))
		return -EINVAL;
	if (ser->size > (u64)MAX_LFS_FILESIZE ||
	    ser->nr_folios > DIV_ROUND_UP(ser->size, PAGE_SIZE))
		return -EINVAL;
	if (ser->kind == MEMFD_LUO_HUGETLB &&
	    (!ser->hpage_order || !memfd_luo_hstate_ok(ser->hpage_order) ||
	     !IS_ALIGNED(ser->size, PAGE_SIZE << ser->hpage_order)))
		return -EINVAL;
	return 0;
}

/* Orders this kernel's page cache takes for a memfd of this kind. */
static bool memfd_luo_order_ok(const struct memfd_luo_ser *ser,
			       unsigned int order)
{
	/* the header's order, checked against this kernel's hstates */
	if (ser->kind == MEMFD_LUO_HUGETLB)
		return order == ser->hpage_order;
	return !order || (IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) &&
			  order >= 2 && order <= MAX_PAGECACHE_ORDER);
}

/*
 * Can the folio of @e go into the file, after the folios before it, which
 * end at @min_index? Its block must still be preserved at its order.
 */
static bool memfd_luo_record_ok(const struct memfd_luo_ser *ser,
				const struct memfd_luo_folio_ser *e,
				u64 min_index)
{
	unsigned int order = e->pfo & MEMFD_LUO_FOLIO_ORDER;

	if (!memfd_luo_order_ok(ser, order) ||
	    (e->pfo & MEMFD_LUO_FOLIO_RSVD) ||
	    !(e->pfo & MEMFD_LUO_FOLIO_UPTODATE))
		return false;
	if (!IS_ALIGNED(e->index, 1UL << order) || e->index < min_index ||
	    e->index >= DIV_ROUND_UP(ser->size, PAGE_SIZE))
		return false;
	return kho_is_preserved(memfd_luo_entry_phys(e), order);
}

/*
 * Mark @nr pages from @pfn in @seen, which covers the pages from @base on:
 * false if one was marked already.
 */
static bool memfd_luo_mark(unsigned long *seen, unsigned long base,
			   unsigned long pfn, unsigned long nr)
{
	unsigned long start = pfn - base;

	if (find_next_bit(seen, start + nr, start) < start + nr)
		return false;
	bitmap_set(seen, start, nr);
	return true;
}

/*
 * Is every page the record names, its header at @ser_phys, its chain pages
 * and its folios, named once? Each is a preserved block, but a damaged
 * chain could name one block twice (at two indexes, or as the header or a
 * chain page and a folio), and the second claim would fail after the
 * first had put the page in the file. @lo and @hi bound the pfns named,
 * as the first pass found them.
 */
static int memfd_luo_check_unique(const struct memfd_luo_ser *ser,
				  phys_addr_t ser_phys, unsigned long lo,
				  unsigned long hi)
{
	const struct memfd_luo_folio_page *page;
	const struct memfd_luo_folio_ser *e;
	phys_addr_t phys = ser->folios;
	unsigned long *seen;
	int err = 0;
	u32 i;

	seen = kvcalloc(BITS_TO_LONGS(hi - lo), sizeof(long),
			GFP_KERNEL | __GFP_NOWARN);
	if (!seen)
		return -ENOMEM;
	memfd_luo_mark(seen, lo, PHYS_PFN(ser_phys), 1);
	while (phys && !err) {
		page = phys_to_virt(phys);
		if (!memfd_luo_mark(seen, lo, PHYS_PFN(phys), 1))
			err = -EINVAL;
		for (i = 0; i < page->count && !err; i++) {
			e = &page->folios[i];
			if (!memfd_luo_mark(seen, lo,
					    PHYS_PFN(memfd_luo_entry_phys(e)),
					    1UL << (e->pfo & MEMFD_LUO_FOLIO_ORDER)))
				err = -EINVAL;
		}
		phys = page->next;
	}
	kvfree(seen);
	if (err)
		pr_err("%s: folio list names one page twice\n", ser->name);
	return err;
}

/*
 * Check the whole folio chain of a checked header, claiming nothing: each
 * chain page preserved as a page of its own, the counts adding up to
 * @ser->nr_folios, the records in index order without overlap (as preserve
 * writes them), each folio preserved as recorded, and no page named twice.
 * Claiming cannot be undone, so it starts only once all of this holds: a
 * bad chain leaves every page of the file reserved, and no wrong page
 * reaches a file.
 */
static int memfd_luo_check_chain(const struct memfd_luo_ser *ser,
				 phys_addr_t ser_phys)
{
	const struct memfd_luo_folio_page *page;
	const struct memfd_luo_folio_ser *e;
	unsigned long lo = PHYS_PFN(ser_phys), hi = lo + 1, pfn;
	phys_addr_t phys = ser->folios;
	u64 seen = 0, min_index = 0;
	u32 i;

	if (!phys != !ser->nr_folios)
		return -EINVAL;
	while (phys) {
		if (!kho_is_preserved(phys, 0)) {
			pr_err("%s: folio list page %pa not preserved\n",
			       ser->name, &phys);
			return -EINVAL;
		}
		page = phys_to_virt(phys);
		/* never empty: preserve starts a page for a record */
		if (!page->count || page->count > MEMFD_LUO_FOLIOS_PER_PAGE ||
		    page->reserved || page->count > ser->nr_folios - seen) {
			pr_err("%s: folio list corrupt\n", ser->name);
			return -EINVAL;
		}
		lo = min(lo, PHYS_PFN(phys));
		hi = max(hi, PHYS_PFN(phys) + 1);
		for (i = 0; i < page->count; i++) {
			e = &page->folios[i];
			if (!memfd_luo_record_ok(ser, e, min_index)) {
				pr_err("%s: bad folio record for index %llu\n",
				       ser->name, e->index);
				return -EINVAL;
			}
			min_index = e->index +
				    (1ULL << (e->pfo & MEMFD_LUO_FOLIO_ORDER));
			pfn = PHYS_PFN(memfd_luo_entry_phys(e));
			lo = min(lo, pfn);
			hi = max(hi, pfn + (1UL << (e->pfo & MEMFD_LUO_FOLIO_ORDER)));
		}
		seen += page->count;
		phys = page->next;
		cond_resched();
	}
	if (seen != ser->nr_folios) {
		pr_err("%s: folio list corrupt\n", ser->name);
		return -EINVAL;
	}
	return seen ? memfd_luo_check_unique(ser, ser_phys, lo, hi) : 0;
}

/**
 * struct memfd_luo_in - an incoming file's private_data
 * @ser_folio: the claimed page holding its struct memfd_luo_ser, checked
 *	together with the whole chain
 * @file: the file being filled, or NULL: not created yet (retrieve), or
 *	the folios left are to be freed (finish)
 * @chain: the claimed chain page being worked through, or NULL
 * @next_phys: with no @chain: the chain page to claim next, or 0 at the end
 * @next: the record of @chain to do next
 * @pending: the folio of that record, claimed but not in @file: its add
 *	failed, and the next retrieve tries it again
 * @nr_added: folios in @file so far
 *
 * Lives from the first retrieve() until one succeeds, or until finish().
 * The records from the current one on stay preserved and unclaimed, so a
 * retrieve that failed (out of memory, a memory cgroup or overcommit limit
 * hit) loses nothing: the next one goes on where it stopped.
 */
struct memfd_luo_in {
	struct folio *ser_folio;
	struct file *file;
	struct folio *chain;
	phys_addr_t next_phys;
	u32 next;
	struct folio *pending;
	u64 nr_added;
};

/* A new, empty memfd like the one preserved, without seals so far. */
static struct file *memfd_luo_create_file(const struct memfd_luo_ser *ser)
{
	struct inode *inode;
	struct file *file;

	if (ser->kind == MEMFD_LUO_HUGETLB)
		file = hugetlb_file_setup(ser->name, ser->size, VM_NORESERVE,
					  HUGETLB_ANONHUGE_INODE,
					  PAGE_SHIFT + ser->hpage_order);
	else
		file = shmem_file_setup(ser->name, ser->size, VM_NORESERVE);
	if (IS_ERR(file))
		return file;

	/* as memfd_create() sets them up */
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_flags |= O_LARGEFILE;
	inode = file_inode(file);
	inode->i_mode = (inode->i_mode & ~S_IALLUGO) | (ser->mode & S_IALLUGO);
	return file;
}

/*
 * Claim the folio of the record @e (or take the pending one back) and put
 * it into @in->file; with no file, free it. A folio whose add fails is kept
 * as @in->pending.
 */
static int memfd_luo_add_record(struct memfd_luo_in *in,
				const struct memfd_luo_ser *ser,
				const struct memfd_luo_folio_ser *e)
{
	struct folio *folio = in->pending;
	struct inode *inode;
	int err;

	if (!folio) {
		folio = kho_restore_folio_order(memfd_luo_entry_phys(e),
						e->pfo & MEMFD_LUO_FOLIO_ORDER);
		/* checked preserved: gone only if claimed since */
		if (!folio) {
			pr_err("%s: folio for index %llu already claimed\n",
			       ser->name, e->index);
			return -EINVAL;
		}
	}
	in->pending = NULL;

	if (!in->file) {
		/* a huge page may make up the boot pool */
		if (ser->kind == MEMFD_LUO_HUGETLB)
			memfd_luo_hugetlb_free_folio(folio);
		else
			folio_put(folio);
		return 0;
	}
	inode = file_inode(in->file);
	if (ser->kind == MEMFD_LUO_HUGETLB)
		err = memfd_luo_hugetlb_add_folio(inode, folio, e->index);
	else
		err = memfd_luo_shmem_add_folio(inode, folio, e->index);
	if (err) {
		in->pending = folio;
		return err;
	}
	in->nr_added++;
	/* the page cache holds its own references */
	folio_put(folio);
	return 0;
}

/*
 * Go through the records from where @in stands, putting each folio into
 * @in->file, or freeing it when there is no file. Chain pages are freed
 * once done with. Stops at the first error when filling a file, with
 * everything from the failed record on left for the next call.
 */
static int memfd_luo_walk(struct memfd_luo_in *in)
{
	const struct memfd_luo_ser *ser = folio_address(in->ser_folio);
	const struct memfd_luo_folio_page *page;
	int err;

	while (in->chain || in->next_phys) {
		if (!in->chain) {
			in->chain = kho_restore_folio(in->next_phys);
			if (!in->chain) {
				pr_err("%s: folio list page %pa already claimed\n",
				       ser->name, &in->next_phys);
				return -EINVAL;
			}
			in->next = 0;
		}
		page = folio_address(in->chain);
		for (; in->next < page->count; in->next++) {
			err = memfd_luo_add_record(in, ser,
						   &page->folios[in->next]);
			if (err && in->file)
				return err;
		}
		in->next_phys = page->next;
		folio_put(in->chain);
		in->chain = NULL;
		cond_resched();
	}
	return 0;
}

/* Free the file built so far, every folio not in it yet, and the header. */
static void memfd_luo_in_release(struct memfd_luo_in *in)
{
	const struct memfd_luo_ser *ser = folio_address(in->ser_folio);

	if (in->file) {
		fput(in->file);
		in->file = NULL;
	}
	if (in->pending) {
		/* a huge page whose add failed may make up the pool */
		if (ser->kind == MEMFD_LUO_HUGETLB)
			memfd_luo_hugetlb_free_folio(in->pending);
		else
			folio_put(in->pending);
		in->pending = NULL;
		in->next++;
	}
	memfd_luo_walk(in);
	folio_put(in->ser_folio);
}

/*
 * Check the header page at @phys and the chain it starts in place, then
 * claim the header, setting up an empty @in to go through the chain. The
 * record is the previous kernel's word only: until it all checks out,
 * nothing is claimed, so a record that names a page of another file (or of
 * anything else preserved) takes nothing from its owner. If anything is
 * wrong, every page stays reserved.
 */
static int memfd_luo_in_start(struct memfd_luo_in *in, phys_addr_t phys)
{
	const struct memfd_luo_ser *ser;
	struct folio *folio;
	int err;

	/* a header is a preserved page of its own, not part of a larger block */
	if (!kho_is_preserved(phys, 0)) {
		pr_err("no preserved memfd at %pa: not a preserved page of its own, or claimed already\n",
		       &phys);
		return -EINVAL;
	}
	ser = phys_to_virt(phys);
	if (ser->magic == MEMFD_LUO_MAGIC && ser->version != MEMFD_LUO_VERSION) {
		pr_err("preserved memfd at %pa is of version %u; this kernel reads version %u only, nothing claimed\n",
		       &phys, ser->version, MEMFD_LUO_VERSION);
		return -EINVAL;
	}
	err = memfd_luo_check_ser(ser) ?: memfd_luo_check_chain(ser, phys);
	if (err == -ENOMEM)
		return err;	/* nothing claimed: the next retrieve checks again */
	if (err) {
		pr_err("preserved memfd at %pa: bad header or folio list, nothing claimed\n",
		       &phys);
		return -EINVAL;
	}
	/* order 0 first: the page checked above, unless claimed since */
	folio = kho_restore_folio(phys);
	if (!folio) {
		pr_err("preserved memfd at %pa: claimed while being checked\n",
		       &phys);
		return -EINVAL;
	}
	in->ser_folio = folio;
	in->next_phys = ser->folios;
	return 0;
}

static int memfd_luo_set_seals(struct file *file, unsigned int seals)
{
	int err;

	/* as memfd_add_seals() does for F_SEAL_WRITE: no shared writable maps */
	if (seals & F_SEAL_WRITE) {
		err = mapping_deny_writable(file->f_mapping);
		if (err)
			return err;
	}
	*memfd_luo_seals(file) = seals;
	return 0;
}

static int memfd_luo_retrieve(struct liveupdate_file_op_args *args)
{
	struct memfd_luo_in *in = args->private_data;
	const struct memfd_luo_ser *ser;
	struct file *file;
	int err;

	if (!in) {
		/* before claiming: a failure here must leave it all as it is */
		in = kzalloc(sizeof(*in), GFP_KERNEL);
		if (!in)
			return -ENOMEM;
		err = memfd_luo_in_start(in, args->serialized_data);
		if (err) {
			kfree(in);
			return err;
		}
		args->private_data = in;
	}
	ser = folio_address(in->ser_folio);

	if (!in->file) {
		file = memfd_luo_create_file(ser);
		if (IS_ERR(file))
			return PTR_ERR(file);
		in->file = file;
	}
	err = memfd_luo_walk(in);
	if (err) {
		pr_warn("%s: %llu of %llu folios restored so far: %d\n",
			ser->name, in->nr_added, ser->nr_folios, err);
		return err;
	}
	/* a new file has no writable mapping: this cannot fail */
	err = memfd_luo_set_seals(in->file, ser->seals);
	if (err)
		return err;
	in->file->f_pos = ser->pos;

	args->file = in->file;
	in->file = NULL;
	args->private_data = NULL;
	memfd_luo_in_release(in);
	kfree(in);
	return 0;
}

static void memfd_luo_finish(struct liveupdate_file_op_args *args)
{
	struct memfd_luo_in *in = args->private_data;
	struct memfd_luo_in unretrieved = {};

	/* a retrieved file owns its pages: nothing else was kept */
	if (args->retrieved)
		return;
	/* retrieve failed: free the file it built and what is left */
	if (in) {
		memfd_luo_in_release(in);
		kfree(in);
		return;
	}
	/* never retrieved: free it all, if it all checks out */
	if (!memfd_luo_in_start(&unretrieved, args->serialized_data))
		memfd_luo_in_release(&unretrieved);
}

static const struct liveupdate_file_ops memfd_luo_ops = {
	.can_preserve = memfd_luo_can_preserve,
	.preserve = memfd_luo_preserve,
	.unpreserve = memfd_luo_unpreserve,
	.freeze = memfd_luo_freeze,
	.unfreeze = memfd_luo_unfreeze,
	.retrieve = memfd_luo_retrieve,
	.finish = memfd_luo_finish,
};

static struct liveupdate_file_handler memfd_luo_handler = {
	.ops = &memfd_luo_ops,
	.compatible = MEMFD_LUO_COMPATIBLE,
};

static int __init memfd_luo_init(void)
{
	int err;

	err = liveupdate_register_file_handler(&memfd_luo_handler);
	if (err && err != -EOPNOTSUPP)
		pr_err("cannot register the memfd handler: %d\n", err);
	return 0;
}
late_initcall(memfd_luo_init);
