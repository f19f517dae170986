// SPDX-License-Identifier: GPL-2.0-only
/*
 * IOMMU_IOAS_MAP_FILE: map a range of a memfd into an IOAS.
 *
 * The pages of such a mapping are named by the file and an offset in it,
 * not by a range of some process's address space. A VMM maps guest RAM
 * this way so that the mapping outlives the process that made it (QEMU's
 * CPR), and so that Live Update can carry it across a kexec: the memfd is
 * preserved, and the mapping is recorded as (file, offset), which means
 * the same thing in the next kernel.
 *
 * Everything after pinning is shared with user VA mappings. A file-backed
 * struct iopt_pages has @file set and @uptr NULL; its pages are pinned here
 * with memfd_pin_folios(), one FOLL_PIN reference for each page handed out,
 * so the common unpin paths release them as they do pages pinned by GUP.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/iommu.h>
#include <linux/iommufd.h>
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/shmem_fs.h>
#include <uapi/linux/fcntl.h>
#include <uapi/linux/iommufd.h>

#include "io_pagetable.h"
#include "iommufd_private.h"

/**
 * iopt_file_check() - May a range of a file be mapped for a device?
 * @file: the file
 * @start: byte offset of the range
 * @length: bytes in the range
 * @writable: whether the device may write it
 *
 * Also used by Live Update, to refuse at preserve what the next kernel
 * would refuse to map again.
 *
 * Return: 0, or the errno of iopt_alloc_file_pages().
 */
int iopt_file_check(struct file *file, unsigned long start,
		    unsigned long length, bool writable)
{
	loff_t size = i_size_read(file_inode(file));
	unsigned long end;
	long seals;

	if (!shmem_file(file) && !is_file_hugepages(file))
		return -EINVAL;
	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (check_add_overflow(start, length, &end) || end > size)
		return -EINVAL;
	if (!writable)
		return 0;
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	seals = memfd_fcntl(file, F_GET_SEALS, 0);
	if (seals > 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EPERM;
	return 0;
}

/**
 * iopt_alloc_file_pages() - Allocate a struct iopt_pages backed by a file
 * @file: shmem or hugetlbfs file; a reference is taken
 * @start: byte offset in @file of the first byte
 * @length: number of bytes
 * @writable: whether the device may write the pages
 *
 * Return: the new pages, or an ERR_PTR: -EINVAL for a file that is not
 * shmem or hugetlbfs or a range outside it, -EBADF for a file not open
 * for the access asked, -EPERM for a writable range of a write-sealed file.
 */
struct iopt_pages *iopt_alloc_file_pages(struct file *file, unsigned long start,
					 unsigned long length, bool writable)
{
	struct iopt_pages *pages;
	int rc;

	rc = iopt_file_check(file, start, length, writable);
	if (rc)
		return ERR_PTR(rc);

	pages = __iopt_alloc_pages(start, length, writable);
	if (IS_ERR(pages))
		return pages;
	pages->file = get_file(file);
	pages->start = ALIGN_DOWN(start, PAGE_SIZE);
	return pages;
}

/**
 * iopt_file_pin() - Pin the pages of a file-backed struct iopt_pages
 * @pages: pages with @file set
 * @start_index: first page, counted from @pages->start
 * @npages: number of pages wanted
 * @out: receives the pages, each with one FOLL_PIN reference
 *
 * memfd_pin_folios() pins each folio once; a folio that provides several
 * pages gets one more pin for each further page (folio_add_pins()), so
 * that the pages can be released one by one, or in runs, with
 * unpin_user_page*().
 *
 * The folios are gathered in @out itself: a folio provides at least one
 * page, so the i-th folio's first page lands at or after slot i, and
 * spreading them out from the last one backwards never overwrites a folio
 * not yet spread.
 *
 * Return: the number of pages pinned, at least one, or a negative errno.
 */
long iopt_file_pin(struct iopt_pages *pages, unsigned long start_index,
		   unsigned long npages, struct page **out)
{
	struct folio **folios = (struct folio **)out;
	loff_t first = pages->start + (loff_t)start_index * PAGE_SIZE;
	unsigned long first_offset, last_count = 0, total = 0, slot, i;
	pgoff_t in_folio;
	long nfolios;

	BUILD_BUG_ON(sizeof(*folios) != sizeof(*out));

	npages = min_t(unsigned long, npages, UINT_MAX);
	nfolios = memfd_pin_folios(pages->file, first,
				   first + (loff_t)npages * PAGE_SIZE - 1,
				   folios, npages, &in_folio);
	if (nfolios <= 0)
		return nfolios ?: -EFAULT;
	first_offset = in_folio >> PAGE_SHIFT;

	/* Count the pages; only the last folio used may be cut short */
	for (i = 0; i < nfolios && total < npages; i++) {
		last_count = folio_nr_pages(folios[i]) - (i ? 0 : first_offset);
		last_count = min(last_count, npages - total);
		total += last_count;
	}
	/* Folios beyond the range asked for, if any, are let go */
	if (i < nfolios)
		unpin_folios(folios + i, nfolios - i);
	nfolios = i;

	/* Spread each folio over its pages, the last folio first */
	slot = total;
	for (i = nfolios; i-- > 0;) {
		struct folio *folio = folios[i];
		unsigned long offset = i ? 0 : first_offset;
		unsigned long count, n;
		int err;

		count = i == nfolios - 1 ? last_count :
					   folio_nr_pages(folio) - offset;
		err = count > 1 ? folio_add_pins(folio, count - 1) : 0;
		if (err) {
			/* spread pages hold one pin each, the rest one per folio */
			unpin_user_pages(out + slot, total - slot);
			unpin_folios(folios, i + 1);
			return err;
		}
		slot -= count;
		for (n = 0; n < count; n++)
			out[slot + n] = folio_page(folio, offset + n);
	}
	WARN_ON_ONCE(slot);
	return total;
}

int iommufd_ioas_map_file(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map_file *cmd = ucmd->cmd;
	unsigned long iova = cmd->iova;
	struct iommufd_ioas *ioas;
	unsigned int flags = 0;
	struct file *file;
	int rc;

	if (cmd->flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA |
			   IOMMU_IOAS_MAP_WRITEABLE |
			   IOMMU_IOAS_MAP_READABLE))
		return -EOPNOTSUPP;
	if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX ||
	    cmd->start >= ULONG_MAX)
		return -EOVERFLOW;
	if (!(cmd->flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
		flags = IOPT_ALLOC_IOVA;

	file = fget(cmd->fd);
	if (!file)
		return -EBADF;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		goto out_fput;
	}

	rc = iopt_map_file_pages(ucmd->ictx, &ioas->iopt, &iova, file,
				 cmd->start, cmd->length,
				 conv_iommu_prot(cmd->flags), flags);
	if (rc)
		goto out_put;

	cmd->iova = iova;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put:
	iommufd_put_object(ucmd->ictx, &ioas->obj);
out_fput:
	fput(file);
	return rc;
}
