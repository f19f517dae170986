/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared by the KHO core's files in kernel/liveupdate/:
 * kexec_handover.c (state tree, finalize, incoming tree), _mem.c (the
 * preserved-memory map), _scratch.c (scratch areas), _sysfs.c and
 * _debugfs.c (the interfaces) and the KUnit suite. The formats handed to the next kernel are in
 * <linux/kho/abi/kexec_handover.h>.
 */
#ifndef _KERNEL_LIVEUPDATE_KEXEC_HANDOVER_INTERNAL_H
#define _KERNEL_LIVEUPDATE_KEXEC_HANDOVER_INTERNAL_H

#include <linux/kexec_handover.h>
#include <linux/kho/abi/kexec_handover.h>
#include <linux/types.h>

struct dentry;

/* ----- core (kexec_handover.c) ----- */

void kho_disable(void);
void kho_handover_seal(struct kho_handover *h);
int kho_flatten_tree(struct kho_node *root, void *buf, u32 size);
int kho_set_finalized(bool on);
bool kho_is_finalized(void);
u64 kho_fdt_max(void);
int kho_set_fdt_max(u64 val);
ssize_t kho_read_out_fdt(char __user *buf, size_t count, loff_t *ppos);

/*
 * The incoming handover, as far as it was accepted. Written only during
 * early boot (kho_populate_early(), kho_enter_scratch_only(),
 * kho_in_validate()); read-only afterwards.
 */
struct kho_in_state {
	bool active;			/* a valid handover was accepted */
	phys_addr_t handover_phys;
	phys_addr_t fdt_phys;
	u32 fdt_size;
	u32 fdt_crc;
	u64 mem_root[KHO_NR_ORDERS];
	bool map_checked;		/* every pointer of the map checked */
	const char *rejected;		/* why it was refused, for dmesg */
};

extern struct kho_in_state kho_in;
void kho_in_reject(const char *why);
void kho_in_validate(void);

/* ----- preserved-memory map (kexec_handover_mem.c) ----- */

/* One kernel's map: the roots of struct kho_handover.mem_root. */
struct kho_mem_map {
	u64 root[KHO_NR_ORDERS];
	atomic_long_t nr_meta_pages;	/* table and leaf pages allocated */
};

int kho_map_set(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
int kho_map_clear(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
bool kho_map_test(struct kho_mem_map *map, unsigned long pfn, unsigned int order);
void kho_map_free(struct kho_mem_map *map);

/*
 * Walk every set block (and, with @meta, every metadata page) of a map.
 * @run sees each run of adjacent blocks of one order within one leaf page
 * (@nr blocks from @phys), before @block sees each block of it.
 */
struct kho_map_walk {
	int (*block)(struct kho_map_walk *w, phys_addr_t phys, unsigned int order);
	int (*run)(struct kho_map_walk *w, phys_addr_t phys, unsigned int order,
		   unsigned long nr);
	int (*meta)(struct kho_map_walk *w, phys_addr_t phys);
	/* checks each table/leaf pointer before it is followed; may be NULL */
	int (*check_ptr)(struct kho_map_walk *w, phys_addr_t phys);
	unsigned long nr_blocks;
	unsigned long nr_pages;		/* in those blocks */
	unsigned long nr_meta;
	unsigned long max_meta;		/* bound on pages followed, 0: none */
};

int kho_map_walk(const u64 *roots, unsigned int nr_orders,
		 struct kho_map_walk *w);

extern struct kho_mem_map kho_out_map;
void kho_mem_freeze(bool frozen);
unsigned long kho_mem_nr_preserved_pages(void);
int kho_in_mem_reserve(void);
bool kho_in_range_preserved(phys_addr_t phys, size_t size);

/* ----- scratch (kexec_handover_scratch.c) ----- */

/* kho_scratch=: a share of the boot allocations, or explicit sizes */
struct kho_scratch_cfg {
	bool percent_mode;
	unsigned int percent;
	u64 lowmem, global, pernode;
};

int kho_parse_scratch(const char *str, struct kho_scratch_cfg *cfg);
extern struct kho_scratch_range kho_scratch[];
extern unsigned int kho_nr_scratch;
extern u64 kho_boot_alloc;

/* ----- sysfs and debugfs (kexec_handover_sysfs.c, _debugfs.c) ----- */

void kho_sysfs_init(void);

#ifdef CONFIG_KEXEC_HANDOVER_DEBUGFS
void kho_debugfs_init(void);
#else
static inline void kho_debugfs_init(void) { }
#endif

#endif /* _KERNEL_LIVEUPDATE_KEXEC_HANDOVER_INTERNAL_H */
