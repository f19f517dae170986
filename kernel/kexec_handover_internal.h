/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KHO internals shared by kernel/kexec_handover.c (state tree, finalize,
 * debugfs), mm/kho_mem.c (preserved memory) and mm/kho_scratch.c (scratch).
 */
#ifndef _KERNEL_KEXEC_HANDOVER_INTERNAL_H
#define _KERNEL_KEXEC_HANDOVER_INTERNAL_H

#include <linux/kexec_handover.h>
#include <linux/mmzone.h>
#include <linux/types.h>

#define KHO_FDT_COMPATIBLE	"kho-v1"

/*
 * The handover page: one page allocated at boot whose physical address the
 * x86 setup_data entry carries to the next kernel. Written at finalize.
 * Both sides are the same architecture, so fields are native-endian.
 */
#define KHO_HANDOVER_MAGIC	0x31762d4f484bULL	/* "KHO-v1" */
#define KHO_HANDOVER_VERSION	1
#define KHO_NR_ORDERS		NR_PAGE_ORDERS

struct kho_scratch_range {
	u64 base;
	u64 size;
};

struct kho_handover {
	u64 magic;
	u32 version;
	u32 header_size;	/* sizeof(struct kho_handover) */
	u64 fdt_phys;
	u32 fdt_size;
	u32 fdt_crc;		/* crc32 of the FDT */
	u32 nr_orders;		/* KHO_NR_ORDERS of the writer */
	u32 nr_scratch;
	u64 mem_root[KHO_NR_ORDERS];	/* preserved-memory map, per order */
	u32 reserved;
	/* crc32 up to the end of scratch[], computed with crc zero */
	u32 crc;
	struct kho_scratch_range scratch[];
};

#define KHO_MAX_SCRATCH \
	((PAGE_SIZE - sizeof(struct kho_handover)) / sizeof(struct kho_scratch_range))

/*
 * Preserved-memory map: for each order, a radix tree of pages whose leaves
 * are bitmaps with one bit per block of that order (bit n of the map covers
 * physical address n << (PAGE_SHIFT + order)). Interior pages hold the
 * physical addresses of their children, so the next kernel reads the tree
 * as it is: nothing is serialized at finalize.
 */
#define KHO_LEAF_BITS		(PAGE_SIZE * BITS_PER_BYTE)	/* 32768 */
#define KHO_LEAF_SHIFT		15
#define KHO_TABLE_ENTRIES	(PAGE_SIZE / sizeof(u64))	/* 512 */
#define KHO_TABLE_SHIFT		9
#define KHO_MAP_LEVELS		3	/* tables above the leaf */
#define KHO_MAP_INDEX_BITS	(KHO_LEAF_SHIFT + KHO_MAP_LEVELS * KHO_TABLE_SHIFT)

struct kho_mem_map {
	u64 root[KHO_NR_ORDERS];
	atomic_long_t nr_meta_pages;	/* table and leaf pages allocated */
};

int kho_map_set(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
int kho_map_clear(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
bool kho_map_test(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
void kho_map_free(struct kho_mem_map *map);

/* Walk every set block (and, with @meta, every metadata page) of a map. */
struct kho_map_walk {
	int (*block)(struct kho_map_walk *w, phys_addr_t phys, unsigned int order);
	int (*meta)(struct kho_map_walk *w, phys_addr_t phys);
	/* checks each table/leaf pointer before it is followed; may be NULL */
	int (*check_ptr)(struct kho_map_walk *w, phys_addr_t phys);
	unsigned long nr_blocks;
	unsigned long nr_meta;
	unsigned long max_meta;		/* bound on pages followed, 0: none */
};

int kho_map_walk(const u64 *roots, unsigned int nr_orders,
		 struct kho_map_walk *w);

/* Outgoing preserved memory (mm/kho_mem.c) */
extern struct kho_mem_map kho_out_map;
void kho_mem_freeze(bool frozen);
unsigned long kho_mem_nr_preserved_pages(void);

/* Scratch (mm/kho_scratch.c) */
struct kho_scratch_cfg {
	bool percent_mode;
	unsigned int percent;
	u64 lowmem, global, pernode;
};

int kho_parse_scratch(const char *str, struct kho_scratch_cfg *cfg);
extern struct kho_scratch_range kho_scratch[];
extern unsigned int kho_nr_scratch;
bool kho_overlaps_scratch(phys_addr_t phys, phys_addr_t size);

/* Incoming state (parsed early, consumed by mm/kho_mem.c and the core) */
struct kho_in_state {
	bool active;			/* a valid handover was accepted */
	phys_addr_t handover_phys;
	phys_addr_t fdt_phys;
	u32 fdt_size;
	u32 fdt_crc;
	u64 mem_root[KHO_NR_ORDERS];
	const char *rejected;		/* why it was refused, for dmesg */
};

extern struct kho_in_state kho_in;
int kho_in_mem_reserve(void);
bool kho_in_range_preserved(phys_addr_t phys, size_t size);
void kho_in_reject(const char *why);
void kho_in_validate(void);

/* Core (kernel/kexec_handover.c) */
extern bool kho_enable;
struct kho_handover *kho_handover_page(void);
void kho_handover_seal(struct kho_handover *h);
int kho_flatten_tree(struct kho_node *root, void *buf, u32 size);
struct dentry *kho_debugfs_root(void);

#endif /* _KERNEL_KEXEC_HANDOVER_INTERNAL_H */
