/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kexec HandOver: the handover page and the preserved-memory map.
 */
#ifndef _LINUX_KHO_ABI_KEXEC_HANDOVER_H
#define _LINUX_KHO_ABI_KEXEC_HANDOVER_H

#include <linux/mmzone.h>
#include <linux/types.h>

/**
 * DOC: KHO handover page and memory map
 *
 * This header is a contract between the kernel that preserves and the
 * kernel that boots after it. Both read the same bytes, so a layout change
 * here is an ABI change: it needs a new KHO_HANDOVER_VERSION (and, for the
 * state tree, a new KHO_FDT_COMPATIBLE), and a kernel that meets a version
 * it does not know refuses the whole handover and boots without it.
 *
 * The handover page is one page whose physical address the architecture
 * passes to the next kernel (on x86, a setup_data entry). It names the
 * flattened state tree (an FDT whose root is compatible with "kho-v1"),
 * the roots of the preserved-memory map and the scratch areas the next
 * kernel may boot in. Both kernels are the same architecture, so fields
 * are native-endian. A CRC32 over the header and the scratch list, taken
 * with @crc zero, guards against damage; the FDT has its own CRC.
 *
 * The preserved-memory map holds, for each page order, a radix tree of
 * pages: interior pages hold the physical addresses of their children
 * (KHO_TABLE_ENTRIES per page, KHO_MAP_LEVELS levels) and leaves are
 * bitmaps with one bit per block of that order (KHO_LEAF_BITS per page).
 * Bit n of an order's map stands for the block at physical address
 * n << (PAGE_SHIFT + order). The next kernel reads the tree in place,
 * so nothing is serialized at finalize.
 */

#define KHO_FDT_COMPATIBLE	"kho-v1"

#define KHO_HANDOVER_MAGIC	0x31762d4f484bULL	/* "KHO-v1" */
#define KHO_HANDOVER_VERSION	1
#define KHO_NR_ORDERS		NR_PAGE_ORDERS

/**
 * struct kho_scratch_range - a scratch area
 * @base: physical address
 * @size: bytes
 */
struct kho_scratch_range {
	u64 base;
	u64 size;
};

/**
 * struct kho_handover - the handover page
 * @magic: KHO_HANDOVER_MAGIC
 * @version: KHO_HANDOVER_VERSION
 * @header_size: sizeof(struct kho_handover)
 * @fdt_phys: physical address of the flattened state tree
 * @fdt_size: its size in bytes
 * @fdt_crc: crc32 of the FDT
 * @nr_orders: KHO_NR_ORDERS of the writer
 * @nr_scratch: entries in @scratch
 * @mem_root: physical address of each order's map root, or 0
 * @reserved: zero
 * @crc: crc32 up to the end of @scratch, computed with @crc zero
 * @scratch: the scratch areas
 */
struct kho_handover {
	u64 magic;
	u32 version;
	u32 header_size;
	u64 fdt_phys;
	u32 fdt_size;
	u32 fdt_crc;
	u32 nr_orders;
	u32 nr_scratch;
	u64 mem_root[KHO_NR_ORDERS];
	u32 reserved;
	u32 crc;
	struct kho_scratch_range scratch[];
};

#define KHO_MAX_SCRATCH \
	((PAGE_SIZE - sizeof(struct kho_handover)) / sizeof(struct kho_scratch_range))

/* The preserved-memory map's pages. */
#define KHO_LEAF_BITS		(PAGE_SIZE * BITS_PER_BYTE)	/* 32768 */
#define KHO_LEAF_SHIFT		15
#define KHO_TABLE_ENTRIES	(PAGE_SIZE / sizeof(u64))	/* 512 */
#define KHO_TABLE_SHIFT		9
#define KHO_MAP_LEVELS		3	/* tables above the leaf */
#define KHO_MAP_INDEX_BITS	(KHO_LEAF_SHIFT + KHO_MAP_LEVELS * KHO_TABLE_SHIFT)

#endif /* _LINUX_KHO_ABI_KEXEC_HANDOVER_H */
