/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memfd Live Update: the record of a preserved memfd.
 */
#ifndef _LINUX_KHO_ABI_MEMFD_H
#define _LINUX_KHO_ABI_MEMFD_H

#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/limits.h>
#include <linux/types.h>
#include <asm/page.h>

/**
 * DOC: memfd handover format
 *
 * This header is a contract between the kernel that preserves a memfd and
 * the kernel that gives it back. The file handler's compatible string is
 * MEMFD_LUO_COMPATIBLE and every record carries MEMFD_LUO_MAGIC and
 * MEMFD_LUO_VERSION; a change to the layout needs a new version (and a new
 * compatible when the old kernel could misread the new records). A kernel
 * refuses a record whose magic or version it does not know: that file is
 * not retrieved, and the rest of the session is.
 *
 * The Live Update file's data is the physical address of one preserved
 * page holding a struct memfd_luo_ser. Its @folios starts a chain of
 * preserved pages of struct memfd_luo_folio_ser records, one per folio of
 * the file; each folio is preserved with KHO at its order. Both kernels are
 * the same architecture: the layout is native.
 */

#define MEMFD_LUO_COMPATIBLE	"memfd-v1"
#define MEMFD_LUO_MAGIC		0x31766466756c6d6dULL	/* "mmlufdv1" */
#define MEMFD_LUO_VERSION	1

/* struct memfd_luo_ser.kind */
enum memfd_luo_kind {
	MEMFD_LUO_SHMEM = 1,
	MEMFD_LUO_HUGETLB = 2,
};

/**
 * struct memfd_luo_ser - a preserved memfd, in one preserved page
 * @magic: MEMFD_LUO_MAGIC
 * @version: MEMFD_LUO_VERSION
 * @kind: enum memfd_luo_kind
 * @size: i_size
 * @pos: file position
 * @seals: the seals the user set
 * @mode: permission bits of the inode
 * @hpage_order: hugetlb: order of the huge pages; 0 for shmem
 * @reserved: zero
 * @nr_folios: folios in the chain
 * @folios: physical address of the first struct memfd_luo_folio_page, or 0
 * @name: the file's name ("memfd:..."), NUL-terminated
 */
struct memfd_luo_ser {
	u64 magic;
	u32 version;
	u32 kind;
	u64 size;
	u64 pos;
	u32 seals;
	u32 mode;
	u32 hpage_order;
	u32 reserved;
	u64 nr_folios;
	u64 folios;
	char name[NAME_MAX + 1];
};

static_assert(sizeof(struct memfd_luo_ser) <= PAGE_SIZE);

/**
 * struct memfd_luo_folio_ser - one preserved folio
 * @pfo: its physical address, ORed with its order (MEMFD_LUO_FOLIO_ORDER)
 *	and flags
 * @index: its page index in the file, in base pages
 */
struct memfd_luo_folio_ser {
	u64 pfo;
	u64 index;
};

#define MEMFD_LUO_FOLIO_ORDER		GENMASK_ULL(5, 0)
#define MEMFD_LUO_FOLIO_UPTODATE	BIT_ULL(6)
#define MEMFD_LUO_FOLIO_RSVD		GENMASK_ULL(11, 7)

/**
 * struct memfd_luo_folio_page - a preserved page of folio records
 * @next: physical address of the next page of the chain, or 0
 * @count: records used in this page
 * @reserved: zero
 * @folios: the records
 */
struct memfd_luo_folio_page {
	u64 next;
	u32 count;
	u32 reserved;
	struct memfd_luo_folio_ser folios[];
};

#define MEMFD_LUO_FOLIOS_PER_PAGE					\
	((PAGE_SIZE - sizeof(struct memfd_luo_folio_page)) /		\
	 sizeof(struct memfd_luo_folio_ser))

/**
 * DOC: memfd huge page pool handover
 *
 * A host reserves its huge pages at boot (hugepages=N) and its VMs' memfds
 * take theirs from that pool. The pages that preserved hugetlbfs memfds
 * hold come back in the next kernel, so it must not allocate them a
 * second time: with most of RAM in guests, that would fail, or leave the
 * host short of memory. At finalize the outgoing kernel therefore adds the
 * KHO state tree node MEMFD_LUO_POOL_NODE, with two properties:
 *
 * - "compatible": the string MEMFD_LUO_POOL_COMPATIBLE;
 * - "pages": an array of struct memfd_luo_pool_ser, one per huge page
 *   order and NUMA node that frozen memfds hold pages of.
 *
 * The next kernel allocates each boot pool that many pages short (never
 * below zero, and per node where the pool is asked for per node). A
 * preserved page joins the pool as a page in use when a memfd takes it
 * back, and as a free page when finish frees it unretrieved, until the
 * pages left out are made up; beyond that, preserved pages are surplus.
 *
 * The node is the previous kernel's word and only sizes the pool: a
 * kernel that does not know its compatible, or finds it malformed,
 * allocates the whole pool and counts every preserved page as surplus,
 * as it does when it has no boot pool of that size.
 */
#define MEMFD_LUO_POOL_NODE		"memfd-hugetlb-pool"
#define MEMFD_LUO_POOL_COMPATIBLE	"memfd-hugetlb-pool-v1"

/**
 * struct memfd_luo_pool_ser - huge pages held by preserved memfds
 * @order: the huge page order
 * @nid: the NUMA node the pages are on
 * @nr_pages: how many
 */
struct memfd_luo_pool_ser {
	u32 order;
	u32 nid;
	u64 nr_pages;
};

#endif /* _LINUX_KHO_ABI_MEMFD_H */
