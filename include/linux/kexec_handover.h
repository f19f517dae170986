/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kexec HandOver (KHO): carry state and memory from one kernel to the next
 * across kexec. See Documentation/kho/index.rst.
 */
#ifndef _LINUX_KEXEC_HANDOVER_H
#define _LINUX_KEXEC_HANDOVER_H

#include <linux/errno.h>
#include <linux/list.h>
#include <linux/notifier.h>
#include <linux/types.h>

struct folio;
struct kimage;
struct kexec_buf;
struct resource;

/**
 * enum kho_event - events sent to KHO notifiers
 * @KEXEC_KHO_FINALIZE: the state tree is about to be frozen and flattened;
 *	last chance to add nodes, properties, subtrees and preserved memory.
 *	Returning an error aborts finalization.
 * @KEXEC_KHO_UNFREEZE: finalization was undone (aborted update); undo what
 *	FINALIZE did and resume. Preserved memory stays preserved.
 * @KEXEC_KHO_IN_USE: a kexec that cannot carry a handover is about to be
 *	loaded or booted; return notifier_from_errno(-EBUSY) to refuse it if
 *	you hold state that only a finalize would add to the handover.
 * @KEXEC_KHO_QUIESCE: the kexec reboot is under way, the handover is
 *	finalized and can no longer change shape: stop what must not run
 *	on into the next kernel and write its last state into memory that
 *	was preserved at FINALIZE. Userspace still runs. Returning an error
 *	refuses the kexec; those already quiesced get UNQUIESCE back.
 * @KEXEC_KHO_UNQUIESCE: the kexec was refused after QUIESCE; let it run on.
 */
enum kho_event {
	KEXEC_KHO_FINALIZE = 0,
	KEXEC_KHO_UNFREEZE = 1,
	KEXEC_KHO_IN_USE = 2,
	KEXEC_KHO_QUIESCE = 3,
	KEXEC_KHO_UNQUIESCE = 4,
};

/*
 * KHO notifier priorities; the chain runs from the highest down. Live
 * Update freezes its files at KHO_PRIO_LIVEUPDATE, so a notifier that
 * hands over what frozen files hold registers at KHO_PRIO_AFTER_LIVEUPDATE.
 */
#define KHO_PRIO_LIVEUPDATE		0
#define KHO_PRIO_AFTER_LIVEUPDATE	(KHO_PRIO_LIVEUPDATE - 1)

/**
 * struct kho_node - a node of the KHO state tree
 *
 * Embedded by its owner and set up with kho_init_node(). Everything inside
 * belongs to KHO and is protected by its lock; do not touch the members.
 */
struct kho_node {
	/* private: */
	struct list_head sibling;
	struct list_head children;
	struct list_head props;
	struct kho_node *parent;
	const char *name;
};

#ifdef CONFIG_KEXEC_HANDOVER

bool kho_is_enabled(void);

void kho_init_node(struct kho_node *node);
int kho_add_node(struct kho_node *parent, const char *name,
		 struct kho_node *child);
struct kho_node *kho_remove_node(struct kho_node *parent, const char *name);
int kho_add_prop(struct kho_node *node, const char *key, const void *val,
		 u32 size);
int kho_add_string_prop(struct kho_node *node, const char *key,
			const char *val);
int kho_remove_prop(struct kho_node *node, const char *key);

int kho_add_subtree(const char *name, void *fdt);
int kho_remove_subtree(const char *name);

int register_kho_notifier(struct notifier_block *nb);
int unregister_kho_notifier(struct notifier_block *nb);

int kho_preserve_folio(struct folio *folio);
int kho_unpreserve_folio(struct folio *folio);
int kho_preserve_phys(phys_addr_t phys, size_t size);
int kho_unpreserve_phys(phys_addr_t phys, size_t size);

/* Incoming side: what the previous kernel handed over. */
bool kho_is_incoming(void);
const void *kho_get_fdt(void);
int kho_find_node(const char *path);
const void *kho_get_prop(int node, const char *name, int *len);
const void *kho_get_subtree(const char *name, phys_addr_t *phys);
bool kho_is_preserved(phys_addr_t phys, unsigned int order);
struct folio *kho_restore_folio(phys_addr_t phys);
struct folio *kho_restore_folio_order(phys_addr_t phys, unsigned int order);
int kho_restore_phys(phys_addr_t phys, size_t size);

/* Hooks called from the rest of the kernel. */
void kho_memory_init(void);
bool kho_overlaps_scratch(phys_addr_t phys, phys_addr_t size);
void kho_populate_early(u64 handover_phys, u64 handover_size);
void kho_enter_scratch_only(void);
int kho_locate_mem_hole(struct kexec_buf *kbuf,
			int (*func)(struct resource *, void *));
phys_addr_t kho_handover_phys(void);
int kho_kexec_finalize(struct kimage *image);
int kho_kexec_load_check(void);
int kho_kexec_file_check(struct kimage *image);

#else /* !CONFIG_KEXEC_HANDOVER */

static inline bool kho_is_enabled(void) { return false; }
static inline void kho_init_node(struct kho_node *node) { }
static inline int kho_add_node(struct kho_node *parent, const char *name,
			       struct kho_node *child)
{ return -EOPNOTSUPP; }
static inline struct kho_node *kho_remove_node(struct kho_node *parent,
					       const char *name)
{ return ERR_PTR(-EOPNOTSUPP); }
static inline int kho_add_prop(struct kho_node *node, const char *key,
			       const void *val, u32 size)
{ return -EOPNOTSUPP; }
static inline int kho_add_string_prop(struct kho_node *node, const char *key,
				      const char *val)
{ return -EOPNOTSUPP; }
static inline int kho_remove_prop(struct kho_node *node, const char *key)
{ return -EOPNOTSUPP; }
static inline int kho_add_subtree(const char *name, void *fdt)
{ return -EOPNOTSUPP; }
static inline int kho_remove_subtree(const char *name) { return -EOPNOTSUPP; }
static inline int register_kho_notifier(struct notifier_block *nb)
{ return -EOPNOTSUPP; }
static inline int unregister_kho_notifier(struct notifier_block *nb)
{ return -EOPNOTSUPP; }
static inline int kho_preserve_folio(struct folio *folio) { return -EOPNOTSUPP; }
static inline int kho_unpreserve_folio(struct folio *folio) { return -EOPNOTSUPP; }
static inline int kho_preserve_phys(phys_addr_t phys, size_t size)
{ return -EOPNOTSUPP; }
static inline int kho_unpreserve_phys(phys_addr_t phys, size_t size)
{ return -EOPNOTSUPP; }
static inline bool kho_is_incoming(void) { return false; }
static inline const void *kho_get_fdt(void) { return NULL; }
static inline int kho_find_node(const char *path) { return -ENOENT; }
static inline const void *kho_get_prop(int node, const char *name, int *len)
{ return NULL; }
static inline const void *kho_get_subtree(const char *name, phys_addr_t *phys)
{ return NULL; }
static inline bool kho_is_preserved(phys_addr_t phys, unsigned int order)
{ return false; }
static inline struct folio *kho_restore_folio(phys_addr_t phys) { return NULL; }
static inline struct folio *kho_restore_folio_order(phys_addr_t phys,
						    unsigned int order)
{ return NULL; }
static inline int kho_restore_phys(phys_addr_t phys, size_t size)
{ return -EOPNOTSUPP; }
static inline void kho_memory_init(void) { }
static inline bool kho_overlaps_scratch(phys_addr_t phys, phys_addr_t size)
{ return false; }
static inline void kho_populate_early(u64 handover_phys, u64 handover_size) { }
static inline void kho_enter_scratch_only(void) { }
static inline int kho_locate_mem_hole(struct kexec_buf *kbuf,
				      int (*func)(struct resource *, void *))
{ return 0; }
static inline phys_addr_t kho_handover_phys(void) { return 0; }
static inline int kho_kexec_finalize(struct kimage *image) { return 0; }
static inline int kho_kexec_load_check(void) { return 0; }
static inline int kho_kexec_file_check(struct kimage *image) { return 0; }

#endif /* CONFIG_KEXEC_HANDOVER */

#ifdef CONFIG_TEST_KEXEC_HANDOVER
struct dentry;
struct kho_handover;

/*
 * For the KHO test module (lib/test_kho.c) alone: it damages the outgoing
 * handover on purpose and measures the preserved-memory map.
 */
struct kho_handover *kho_handover_page(void);
void kho_handover_seal(struct kho_handover *h);
struct dentry *kho_debugfs_root(void);
unsigned long kho_mem_nr_meta_pages(void);
int kho_handover_map_set(struct kho_handover *h, phys_addr_t phys,
			 unsigned int order);
#endif

#endif /* _LINUX_KEXEC_HANDOVER_H */
