// SPDX-License-Identifier: GPL-2.0
/*
 * Kexec HandOver (KHO) core: the state tree drivers fill before kexec, its
 * flattening into an FDT at finalize, the notifiers, the incoming side's
 * checks and lookup API.
 *
 * Memory preservation lives in kexec_handover_mem.c, scratch in
 * kexec_handover_scratch.c and the debugfs interface in
 * kexec_handover_debugfs.c; the handover formats are in
 * <linux/kho/abi/kexec_handover.h>.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/crc32.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/kexec.h>
#include <linux/ktime.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timex.h>
#include <kunit/visibility.h>

#include "kexec_handover_internal.h"

static bool kho_enable __ro_after_init;

static int __init kho_param(char *str)
{
	if (kstrtobool(str, &kho_enable))
		pr_err("kho=%s: expected on or off\n", str);
	return 0;
}
early_param("kho", kho_param);

/**
 * kho_is_enabled - is KHO switched on (kho=on) and usable on this boot?
 *
 * Return: true if drivers may preserve state for the next kernel.
 */
bool kho_is_enabled(void)
{
	return kho_enable;
}
EXPORT_SYMBOL_GPL(kho_is_enabled);

/* KHO could not set itself up on this boot: keep everyone off it. */
void __init kho_disable(void)
{
	kho_enable = false;
}

/* ----- incoming handover: early checks ----- */

struct kho_in_state kho_in;

void kho_in_reject(const char *why)
{
	if (!kho_in.rejected)
		pr_err("incoming handover rejected, booting without KHO: %s\n", why);
	kho_in.rejected = why;
	kho_in.active = false;
}

/**
 * kho_populate_early - note the handover the previous kernel left
 * @handover_phys: physical address of its handover page
 * @handover_size: size the boot data claims for it
 *
 * Called while parsing boot data, before early parameters and before
 * memblock knows the memory map. Checks the handover page itself;
 * kho_enter_scratch_only() checks the rest once memory is known.
 */
void __init kho_populate_early(u64 handover_phys, u64 handover_size)
{
	struct kho_handover *h;
	u32 crc, len;

	/* early params are not parsed yet: kho_enter_scratch_only() checks kho= */
	kho_in.handover_phys = handover_phys;
	if (!PAGE_ALIGNED(handover_phys) || handover_size != PAGE_SIZE) {
		kho_in_reject("handover page misaligned or of the wrong size");
		return;
	}
	h = early_memremap(handover_phys, PAGE_SIZE);
	if (!h) {
		kho_in_reject("cannot map the handover page");
		return;
	}
	if (h->magic != KHO_HANDOVER_MAGIC) {
		kho_in_reject("bad magic in the handover page");
		goto out;
	}
	if (h->version != KHO_HANDOVER_VERSION ||
	    h->header_size != sizeof(*h) || h->nr_orders != KHO_NR_ORDERS) {
		kho_in_reject("handover version or layout this kernel does not know");
		goto out;
	}
	if (h->nr_scratch > KHO_MAX_SCRATCH) {
		kho_in_reject("too many scratch areas");
		goto out;
	}
	len = sizeof(*h) + h->nr_scratch * sizeof(h->scratch[0]);
	crc = h->crc;
	h->crc = 0;
	if (crc32_le(~0, (void *)h, len) != crc) {
		h->crc = crc;
		kho_in_reject("handover page checksum mismatch");
		goto out;
	}
	h->crc = crc;
	if (!h->fdt_phys || !PAGE_ALIGNED(h->fdt_phys) || !h->fdt_size ||
	    h->fdt_size > SZ_64M) {
		kho_in_reject("FDT address or size out of range");
		goto out;
	}
	kho_in.fdt_phys = h->fdt_phys;
	kho_in.fdt_size = h->fdt_size;
	kho_in.fdt_crc = h->fdt_crc;
	memcpy(kho_in.mem_root, h->mem_root, sizeof(kho_in.mem_root));
	/* the cycle counter (TSC) runs on across kexec: places this boot in time */
	pr_info("handover found at %pa, TSC %llu\n", &handover_phys,
		(unsigned long long)get_cycles());
out:
	early_memunmap(h, PAGE_SIZE);
}

/* Called from kho_memory_init(): the direct map is up, memblock is not gone. */
static int __init kho_in_check_fdt(void)
{
	const void *fdt = phys_to_virt(kho_in.fdt_phys);

	if (crc32_le(~0, fdt, kho_in.fdt_size) != kho_in.fdt_crc) {
		kho_in_reject("FDT checksum mismatch");
		return -EINVAL;
	}
	if (fdt_check_header(fdt) || fdt_totalsize(fdt) != kho_in.fdt_size) {
		kho_in_reject("FDT header invalid");
		return -EINVAL;
	}
	if (fdt_node_check_compatible(fdt, 0, KHO_FDT_COMPATIBLE)) {
		kho_in_reject("FDT root is not compatible with " KHO_FDT_COMPATIBLE);
		return -EINVAL;
	}
	return 0;
}

/* Drop the handover page and FDT reservations of a handover we refused. */
static void __init kho_in_release(void)
{
	memblock_phys_free(kho_in.handover_phys, PAGE_SIZE);
	memblock_phys_free(kho_in.fdt_phys, PAGE_ALIGN(kho_in.fdt_size));
}

/* Validate an accepted handover before its memory is reserved. */
void __init kho_in_validate(void)
{
	if (!kho_in.active)
		return;
	if (kho_in_check_fdt() || kho_in_mem_reserve()) {
		kho_in.active = false;
		kho_in_release();
	}
}

/**
 * kho_is_incoming - did this kernel accept a handover?
 *
 * Return: true if the previous kernel's state and memory are available.
 */
bool kho_is_incoming(void)
{
	return kho_in.active;
}
EXPORT_SYMBOL_GPL(kho_is_incoming);

/**
 * kho_get_fdt - the state tree the previous kernel handed over
 *
 * Return: the flattened tree (read only), or NULL without a handover.
 */
const void *kho_get_fdt(void)
{
	return kho_in.active ? phys_to_virt(kho_in.fdt_phys) : NULL;
}
EXPORT_SYMBOL_GPL(kho_get_fdt);

/**
 * kho_find_node - look up a node of the incoming tree
 * @path: absolute path, such as "/my-driver/instance0"
 *
 * Return: the node's offset for kho_get_prop(), or a negative errno.
 */
int kho_find_node(const char *path)
{
	const void *fdt = kho_get_fdt();
	int off;

	if (!fdt)
		return -ENOENT;
	off = fdt_path_offset(fdt, path);
	return off < 0 ? -ENOENT : off;
}
EXPORT_SYMBOL_GPL(kho_find_node);

/**
 * kho_get_prop - read a property of an incoming node
 * @node: offset from kho_find_node()
 * @name: property name
 * @len: if not NULL, receives the length in bytes
 *
 * Return: the value (read only), or NULL if absent.
 */
const void *kho_get_prop(int node, const char *name, int *len)
{
	const void *fdt = kho_get_fdt();

	if (!fdt || node < 0)
		return NULL;
	return fdt_getprop(fdt, node, name, len);
}
EXPORT_SYMBOL_GPL(kho_get_prop);

/**
 * kho_get_subtree - find a serializer's own FDT in the incoming handover
 * @name: the name it was added under with kho_add_subtree()
 * @phys: if not NULL, receives its physical address
 *
 * The blob stays reserved; its owner may take the pages back with
 * kho_restore_phys() once done with it.
 *
 * Return: the blob (checked to be a valid FDT in preserved memory), or NULL.
 */
const void *kho_get_subtree(const char *name, phys_addr_t *phys)
{
	const void *fdt = kho_get_fdt(), *sub;
	const u64 *addr, *size;
	int node, len;

	if (!fdt)
		return NULL;
	node = fdt_subnode_offset(fdt, 0, name);
	if (node < 0)
		return NULL;
	addr = fdt_getprop(fdt, node, "fdt", &len);
	if (!addr || len != sizeof(*addr))
		return NULL;
	size = fdt_getprop(fdt, node, "fdt-size", &len);
	if (!size || len != sizeof(*size) || !*size || *size > SZ_1G ||
	    !PAGE_ALIGNED(*addr) ||
	    !kho_in_range_preserved(*addr, PAGE_ALIGN(*size))) {
		pr_warn("subtree %s: not in preserved memory\n", name);
		return NULL;
	}
	sub = phys_to_virt(*addr);
	if (fdt_check_header(sub) || fdt_totalsize(sub) > *size) {
		pr_warn("subtree %s: not a valid FDT\n", name);
		return NULL;
	}
	if (phys)
		*phys = *addr;
	return sub;
}
EXPORT_SYMBOL_GPL(kho_get_subtree);

/* ----- outgoing state tree ----- */

enum kho_out_state { KHO_OPEN, KHO_FINALIZING, KHO_FROZEN };

struct kho_prop {
	struct list_head list;
	const char *key;
	u32 size;
	u8 val[];
};

static struct {
	struct mutex lock;		/* tree, state, fdt */
	struct mutex finalize_lock;	/* one finalize/unfreeze at a time */
	enum kho_out_state state;
	struct kho_node root;
	struct folio *fdt;
	u32 fdt_size;
	u64 fdt_max;			/* optional cap, 0: none */
	struct kho_handover *handover;
	bool kexec_in_progress;		/* finalized for a kexec: no unfreeze */
	struct blocking_notifier_head chain;
} kho_out = {
	.lock = __MUTEX_INITIALIZER(kho_out.lock),
	.finalize_lock = __MUTEX_INITIALIZER(kho_out.finalize_lock),
	.root = {
		.sibling = LIST_HEAD_INIT(kho_out.root.sibling),
		.children = LIST_HEAD_INIT(kho_out.root.children),
		.props = LIST_HEAD_INIT(kho_out.root.props),
		.name = "",
	},
	.chain = BLOCKING_NOTIFIER_INIT(kho_out.chain),
};

#ifdef CONFIG_TEST_KEXEC_HANDOVER
struct kho_handover *kho_handover_page(void)
{
	return kho_out.handover;
}
#endif

static int kho_check_open(void)
{
	lockdep_assert_held(&kho_out.lock);
	if (!kho_enable)
		return -EOPNOTSUPP;
	return kho_out.state == KHO_FROZEN ? -EBUSY : 0;
}

/**
 * kho_init_node - prepare a node before kho_add_node()
 * @node: the node, embedded in its owner
 */
void kho_init_node(struct kho_node *node)
{
	memset(node, 0, sizeof(*node));
	INIT_LIST_HEAD(&node->sibling);
	INIT_LIST_HEAD(&node->children);
	INIT_LIST_HEAD(&node->props);
}
EXPORT_SYMBOL_GPL(kho_init_node);

static bool kho_valid_name(const char *name)
{
	size_t len = name ? strnlen(name, 256) : 0;

	return len && len < 256 && !strchr(name, '/');
}

static struct kho_node *kho_find_child(struct kho_node *parent, const char *name)
{
	struct kho_node *c;

	list_for_each_entry(c, &parent->children, sibling)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/**
 * kho_add_node - attach a node to the state tree
 * @parent: parent node, or NULL for the root
 * @name: name, unique among its siblings, without '/' (copied)
 * @child: initialized node, not yet in a tree; it may already have
 *	properties and children
 *
 * Return: 0; -EBUSY once finalized; -EEXIST for a duplicate name; -EINVAL
 * for a bad name or a node already in a tree; -ENOMEM; -EOPNOTSUPP when
 * KHO is off.
 */
int kho_add_node(struct kho_node *parent, const char *name,
		 struct kho_node *child)
{
	const char *copy;
	int err;

	if (!kho_valid_name(name) || !child)
		return -EINVAL;
	copy = kstrdup(name, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;

	mutex_lock(&kho_out.lock);
	err = kho_check_open();
	if (err)
		goto out;
	parent = parent ?: &kho_out.root;
	if (child->parent || child == parent) {
		err = -EINVAL;
		goto out;
	}
	if (kho_find_child(parent, name)) {
		err = -EEXIST;
		goto out;
	}
	kfree(child->name);
	child->name = copy;
	copy = NULL;
	child->parent = parent;
	list_add_tail(&child->sibling, &parent->children);
out:
	mutex_unlock(&kho_out.lock);
	kfree(copy);
	return err;
}
EXPORT_SYMBOL_GPL(kho_add_node);

/**
 * kho_remove_node - detach a node (and its subtree) from the state tree
 * @parent: parent node, or NULL for the root
 * @name: the node's name
 *
 * Return: the detached node, which keeps its properties and children, or
 * ERR_PTR(-ENOENT), ERR_PTR(-EBUSY) once finalized.
 */
struct kho_node *kho_remove_node(struct kho_node *parent, const char *name)
{
	struct kho_node *child;
	int err;

	mutex_lock(&kho_out.lock);
	err = kho_check_open();
	if (err) {
		child = ERR_PTR(err);
		goto out;
	}
	child = kho_find_child(parent ?: &kho_out.root, name);
	if (!child) {
		child = ERR_PTR(-ENOENT);
		goto out;
	}
	list_del_init(&child->sibling);
	child->parent = NULL;
out:
	mutex_unlock(&kho_out.lock);
	return child;
}
EXPORT_SYMBOL_GPL(kho_remove_node);

static struct kho_prop *kho_find_prop(struct kho_node *node, const char *key)
{
	struct kho_prop *p;

	list_for_each_entry(p, &node->props, list)
		if (!strcmp(p->key, key))
			return p;
	return NULL;
}

/**
 * kho_add_prop - add a property to a node
 * @node: the node (in the tree or not yet)
 * @key: property name (copied)
 * @val: value (copied); may be NULL when @size is 0
 * @size: length of @val in bytes
 *
 * Return: 0; -EEXIST if @node already has @key; -EBUSY once finalized;
 * -EINVAL; -ENOMEM; -EOPNOTSUPP when KHO is off.
 */
int kho_add_prop(struct kho_node *node, const char *key, const void *val,
		 u32 size)
{
	struct kho_prop *p;
	int err;

	if (!node || !kho_valid_name(key) || (size && !val) ||
	    size > SZ_64M)
		return -EINVAL;
	p = kvmalloc(struct_size(p, val, size), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->key = kstrdup(key, GFP_KERNEL);
	if (!p->key) {
		kvfree(p);
		return -ENOMEM;
	}
	p->size = size;
	if (size)
		memcpy(p->val, val, size);

	mutex_lock(&kho_out.lock);
	err = kho_check_open();
	if (!err && kho_find_prop(node, key))
		err = -EEXIST;
	if (!err)
		list_add_tail(&p->list, &node->props);
	mutex_unlock(&kho_out.lock);
	if (err) {
		kfree(p->key);
		kvfree(p);
	}
	return err;
}
EXPORT_SYMBOL_GPL(kho_add_prop);

/**
 * kho_add_string_prop - add a NUL-terminated string property
 * @node: the node
 * @key: property name
 * @val: the string
 *
 * Return: as kho_add_prop().
 */
int kho_add_string_prop(struct kho_node *node, const char *key, const char *val)
{
	if (!val)
		return -EINVAL;
	return kho_add_prop(node, key, val, strlen(val) + 1);
}
EXPORT_SYMBOL_GPL(kho_add_string_prop);

/**
 * kho_remove_prop - remove a property from a node and free its copy
 * @node: the node
 * @key: property name
 *
 * Return: 0, -ENOENT, or -EBUSY once finalized.
 */
int kho_remove_prop(struct kho_node *node, const char *key)
{
	struct kho_prop *p = NULL;
	int err;

	mutex_lock(&kho_out.lock);
	err = kho_check_open();
	if (!err) {
		p = kho_find_prop(node, key);
		if (p)
			list_del(&p->list);
		else
			err = -ENOENT;
	}
	mutex_unlock(&kho_out.lock);
	if (p) {
		kfree(p->key);
		kvfree(p);
	}
	return err;
}
EXPORT_SYMBOL_GPL(kho_remove_prop);

/* Free the property copies of a node that is not in the tree. */
static void kho_free_props(struct kho_node *node)
{
	struct kho_prop *p, *tmp;

	list_for_each_entry_safe(p, tmp, &node->props, list) {
		list_del(&p->list);
		kfree(p->key);
		kvfree(p);
	}
}

/* A subtree is a root node KHO owns, pointing at the serializer's blob. */
struct kho_subtree {
	struct kho_node node;
	phys_addr_t phys;
	size_t size;
};

/**
 * kho_add_subtree - link a serializer's own FDT into the handover
 * @name: node name under the root
 * @fdt: a complete FDT at the start of memory from the page allocator;
 *	it must not change afterwards
 *
 * KHO preserves the pages the blob occupies, so serializers build their
 * state independently and nothing global is sized in advance. The next
 * kernel finds it with kho_get_subtree().
 *
 * Return: 0 or a negative errno as for kho_add_node() and kho_preserve_phys().
 */
int kho_add_subtree(const char *name, void *fdt)
{
	struct kho_subtree *st;
	u64 phys, size;
	int err;

	if (!fdt || !PAGE_ALIGNED(fdt) || fdt_check_header(fdt))
		return -EINVAL;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	kho_init_node(&st->node);
	st->phys = virt_to_phys(fdt);
	st->size = PAGE_ALIGN(fdt_totalsize(fdt));
	phys = st->phys;
	size = fdt_totalsize(fdt);

	err = kho_add_prop(&st->node, "fdt", &phys, sizeof(phys));
	if (!err)
		err = kho_add_prop(&st->node, "fdt-size", &size, sizeof(size));
	if (!err)
		err = kho_add_string_prop(&st->node, "kho-subtree", name);
	if (err)
		goto free;
	err = kho_preserve_phys(st->phys, st->size);
	if (err)
		goto free;
	err = kho_add_node(NULL, name, &st->node);
	if (err) {
		kho_unpreserve_phys(st->phys, st->size);
		goto free;
	}
	return 0;
free:
	kho_free_props(&st->node);
	kfree(st);
	return err;
}
EXPORT_SYMBOL_GPL(kho_add_subtree);

/**
 * kho_remove_subtree - undo kho_add_subtree()
 * @name: its name
 *
 * Return: 0, -ENOENT, -EINVAL for a node that is not a subtree, or -EBUSY.
 */
int kho_remove_subtree(const char *name)
{
	struct kho_node *node;
	struct kho_subtree *st;
	int err;

	mutex_lock(&kho_out.lock);
	err = kho_check_open();
	node = err ? NULL : kho_find_child(&kho_out.root, name);
	if (!err && !node)
		err = -ENOENT;
	if (!err && !kho_find_prop(node, "kho-subtree"))
		err = -EINVAL;
	if (!err) {
		list_del_init(&node->sibling);
		node->parent = NULL;
	}
	mutex_unlock(&kho_out.lock);
	if (err)
		return err;

	st = container_of(node, struct kho_subtree, node);
	kho_unpreserve_phys(st->phys, st->size);
	kho_free_props(node);
	kfree(node->name);
	kfree(st);
	return 0;
}
EXPORT_SYMBOL_GPL(kho_remove_subtree);

/**
 * register_kho_notifier - get KEXEC_KHO_FINALIZE and KEXEC_KHO_UNFREEZE
 * @nb: notifier; called in process context, may sleep
 *
 * A notifier whose FINALIZE fails makes finalize fail; the notifiers that
 * already saw FINALIZE then get UNFREEZE.
 *
 * Return: 0, or -EEXIST if @nb is already registered.
 */
int register_kho_notifier(struct notifier_block *nb)
{
	return blocking_notifier_chain_register(&kho_out.chain, nb);
}
EXPORT_SYMBOL_GPL(register_kho_notifier);

/**
 * unregister_kho_notifier - undo register_kho_notifier()
 * @nb: notifier
 *
 * Return: 0 or -ENOENT.
 */
int unregister_kho_notifier(struct notifier_block *nb)
{
	return blocking_notifier_chain_unregister(&kho_out.chain, nb);
}
EXPORT_SYMBOL_GPL(unregister_kho_notifier);

/* ----- flattening ----- */

static int kho_flatten_node(void *fdt, struct kho_node *node)
{
	struct kho_node *child;
	struct kho_prop *p;
	int err;

	list_for_each_entry(p, &node->props, list) {
		err = fdt_property(fdt, p->key, p->val, p->size);
		if (err)
			return err;
	}
	list_for_each_entry(child, &node->children, sibling) {
		err = fdt_begin_node(fdt, child->name);
		if (!err)
			err = kho_flatten_node(fdt, child);
		if (!err)
			err = fdt_end_node(fdt);
		if (err)
			return err;
	}
	return 0;
}

/**
 * kho_flatten_tree - write a state tree as an FDT
 * @root: the tree's root node
 * @buf: output buffer
 * @size: its size
 *
 * Return: 0, -ENOSPC if @buf is too small, or -EINVAL.
 */
int kho_flatten_tree(struct kho_node *root, void *buf, u32 size)
{
	int err;

	err = fdt_create(buf, size);
	if (!err)
		err = fdt_finish_reservemap(buf);
	if (!err)
		err = fdt_begin_node(buf, "");
	if (!err)
		err = fdt_property_string(buf, "compatible", KHO_FDT_COMPATIBLE);
	if (!err)
		err = kho_flatten_node(buf, root);
	if (!err)
		err = fdt_end_node(buf);
	if (!err)
		err = fdt_finish(buf);
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err ? -EINVAL : 0;
}
EXPORT_SYMBOL_IF_KUNIT(kho_flatten_tree);

/* Flatten the global tree into pages, growing until it fits. */
static int kho_out_flatten(void)
{
	unsigned int order = 0;
	struct folio *folio;
	int err;

	lockdep_assert_held(&kho_out.lock);
	for (;;) {
		u64 size = PAGE_SIZE << order;

		if (kho_out.fdt_max && size > PAGE_ALIGN(kho_out.fdt_max)) {
			pr_err("state tree does not fit fdt_max (%llu bytes)\n",
			       kho_out.fdt_max);
			return -E2BIG;
		}
		if (order > MAX_PAGE_ORDER)
			return -E2BIG;
		folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN, order);
		if (!folio)
			return -ENOMEM;
		err = kho_flatten_tree(&kho_out.root, folio_address(folio), size);
		if (err != -ENOSPC)
			break;
		folio_put(folio);
		order++;
	}
	if (err) {
		folio_put(folio);
		return err;
	}
	fdt_pack(folio_address(folio));
	kho_out.fdt = folio;
	kho_out.fdt_size = fdt_totalsize(folio_address(folio));
	return 0;
}

/**
 * kho_handover_seal - compute the handover page's checksum
 * @h: the page, complete but for @h->crc
 */
void kho_handover_seal(struct kho_handover *h)
{
	h->crc = 0;
	h->crc = crc32_le(~0, (void *)h,
			  sizeof(*h) + h->nr_scratch * sizeof(h->scratch[0]));
}

static void kho_out_write_handover(void)
{
	struct kho_handover *h = kho_out.handover;
	void *fdt = folio_address(kho_out.fdt);
	unsigned int i;

	memset(h, 0, PAGE_SIZE);
	h->magic = KHO_HANDOVER_MAGIC;
	h->version = KHO_HANDOVER_VERSION;
	h->header_size = sizeof(*h);
	h->fdt_phys = virt_to_phys(fdt);
	h->fdt_size = kho_out.fdt_size;
	h->fdt_crc = crc32_le(~0, fdt, kho_out.fdt_size);
	h->nr_orders = KHO_NR_ORDERS;
	for (i = 0; i < KHO_NR_ORDERS; i++)
		h->mem_root[i] = READ_ONCE(kho_out_map.root[i]);
	h->nr_scratch = kho_nr_scratch;
	memcpy(h->scratch, kho_scratch, kho_nr_scratch * sizeof(h->scratch[0]));
	kho_handover_seal(h);
}

static int kho_unfreeze_locked(void)
{
	lockdep_assert_held(&kho_out.finalize_lock);
	if (kho_out.state != KHO_FROZEN)
		return -ENOENT;
	if (kho_out.kexec_in_progress)
		return -EBUSY;
	mutex_lock(&kho_out.lock);
	memset(kho_out.handover, 0, PAGE_SIZE);
	folio_put(kho_out.fdt);
	kho_out.fdt = NULL;
	kho_out.fdt_size = 0;
	kho_out.state = KHO_OPEN;
	mutex_unlock(&kho_out.lock);
	kho_mem_freeze(false);
	blocking_notifier_call_chain(&kho_out.chain, KEXEC_KHO_UNFREEZE, NULL);
	pr_info("unfrozen: state can change again\n");
	return 0;
}

static int kho_finalize_locked(void)
{
	ktime_t start = ktime_get();
	int err;

	lockdep_assert_held(&kho_out.finalize_lock);
	if (!kho_enable || !kho_out.handover)
		return -EOPNOTSUPP;
	if (kho_out.state == KHO_FROZEN)
		return -EEXIST;

	mutex_lock(&kho_out.lock);
	kho_out.state = KHO_FINALIZING;
	mutex_unlock(&kho_out.lock);

	/* a refusing notifier: those already finalized get UNFREEZE back */
	err = blocking_notifier_call_chain_robust(&kho_out.chain,
						  KEXEC_KHO_FINALIZE,
						  KEXEC_KHO_UNFREEZE, NULL);
	err = notifier_to_errno(err);
	if (err) {
		pr_err("finalize refused by a notifier: %d\n", err);
		mutex_lock(&kho_out.lock);
		kho_out.state = KHO_OPEN;
		mutex_unlock(&kho_out.lock);
		return err;
	}

	kho_mem_freeze(true);
	mutex_lock(&kho_out.lock);
	err = kho_out_flatten();
	if (!err) {
		kho_out_write_handover();
		kho_out.state = KHO_FROZEN;
	}
	mutex_unlock(&kho_out.lock);
	if (err) {
		kho_mem_freeze(false);
		goto abort;
	}
	pr_info("finalized in %lld us: FDT %u bytes, %lu pages preserved, %ld metadata pages\n",
		ktime_us_delta(ktime_get(), start), kho_out.fdt_size,
		kho_mem_nr_preserved_pages(),
		atomic_long_read(&kho_out_map.nr_meta_pages));
	return 0;

abort:
	mutex_lock(&kho_out.lock);
	kho_out.state = KHO_OPEN;
	mutex_unlock(&kho_out.lock);
	blocking_notifier_call_chain(&kho_out.chain, KEXEC_KHO_UNFREEZE, NULL);
	return err;
}

int kho_set_finalized(bool on)
{
	int err;

	mutex_lock(&kho_out.finalize_lock);
	err = on ? kho_finalize_locked() : kho_unfreeze_locked();
	mutex_unlock(&kho_out.finalize_lock);
	return err;
}

/*
 * Is there state that only a handover carries: preserved memory, nodes in
 * the tree, a finalized handover, or a notifier (Live Update with its
 * sessions) that would add some at finalize?
 */
static bool kho_out_in_use(void)
{
	bool used;
	int err;

	mutex_lock(&kho_out.lock);
	used = kho_out.state != KHO_OPEN ||
	       !list_empty(&kho_out.root.children) ||
	       !list_empty(&kho_out.root.props);
	mutex_unlock(&kho_out.lock);
	if (used || kho_mem_nr_preserved_pages())
		return true;
	err = blocking_notifier_call_chain(&kho_out.chain, KEXEC_KHO_IN_USE,
					   NULL);
	return notifier_to_errno(err) != 0;
}

/**
 * kho_kexec_load_check - may a kernel be loaded with kexec_load()?
 *
 * Called by kexec_load() for a kernel to reboot into (not a crash kernel).
 * Only kexec_file_load() passes the handover to the next kernel: refuse
 * the other loader while there is preserved state it would drop.
 *
 * Return: 0, or -EBUSY while KHO holds preserved state.
 */
int kho_kexec_load_check(void)
{
	if (!kho_enable || !kho_out.handover || !kho_out_in_use())
		return 0;
	pr_err("kexec_load() refused: preserved state would be lost, the kernel it loads gets no handover; load it with kexec_file_load (kexec -s)\n");
	return -EBUSY;
}

/**
 * kho_kexec_finalize - finalize, if userspace did not, before kexec reboots
 * @image: the image about to be booted
 *
 * Called from kernel_kexec(). Then the notifiers quiesce (KEXEC_KHO_QUIESCE)
 * what they let run on after finalize. An error aborts the kexec, and
 * leaves the handover finalized only if userspace had finalized it. Once
 * it succeeds the handover can no longer be unfrozen. An image loaded with
 * kexec_load() cannot take the handover: the kexec is refused if there is
 * one to take.
 *
 * Return: 0 or a negative errno.
 */
int kho_kexec_finalize(struct kimage *image)
{
	bool finalized_here = false;
	int err = 0;

	if (!kho_enable || !kho_out.handover)
		return 0;
	if (!image->file_mode) {
		if (!kho_out_in_use())
			return 0;
		pr_err("kexec refused: the kernel was loaded with kexec_load(), which cannot pass the handover, and preserved state would be lost; load it with kexec_file_load (kexec -s) and kexec again\n");
		return -EBUSY;
	}
	mutex_lock(&kho_out.finalize_lock);
	if (kho_out.state != KHO_FROZEN) {
		err = kho_finalize_locked();
		finalized_here = !err;
	}
	if (!err) {
		/* a refusing notifier: those already quiesced get UNQUIESCE */
		err = blocking_notifier_call_chain_robust(&kho_out.chain,
							  KEXEC_KHO_QUIESCE,
							  KEXEC_KHO_UNQUIESCE,
							  NULL);
		err = notifier_to_errno(err);
		if (err) {
			pr_err("kexec refused: a notifier could not quiesce: %d\n",
			       err);
			/* leave the handover as userspace left it */
			if (finalized_here)
				kho_unfreeze_locked();
		}
	}
	if (!err)
		kho_out.kexec_in_progress = true;
	mutex_unlock(&kho_out.finalize_lock);
	return err;
}

/**
 * kho_handover_phys - where the handover page is, for the kexec boot data
 *
 * Return: its physical address, or 0 when KHO is off.
 */
phys_addr_t kho_handover_phys(void)
{
	if (!kho_enable || !kho_out.handover)
		return 0;
	return virt_to_phys(kho_out.handover);
}

/* ----- for the debugfs interface (kexec_handover_debugfs.c) ----- */

bool kho_is_finalized(void)
{
	return READ_ONCE(kho_out.state) == KHO_FROZEN;
}

u64 kho_fdt_max(void)
{
	return READ_ONCE(kho_out.fdt_max);
}

int kho_set_fdt_max(u64 val)
{
	int err = 0;

	mutex_lock(&kho_out.lock);
	if (kho_out.state == KHO_FROZEN)
		err = -EBUSY;
	else
		kho_out.fdt_max = val;
	mutex_unlock(&kho_out.lock);
	return err;
}

ssize_t kho_read_out_fdt(char __user *buf, size_t count, loff_t *ppos)
{
	ssize_t ret = 0;

	mutex_lock(&kho_out.lock);
	if (kho_out.fdt)
		ret = simple_read_from_buffer(buf, count, ppos,
					      folio_address(kho_out.fdt),
					      kho_out.fdt_size);
	mutex_unlock(&kho_out.lock);
	return ret;
}

static int __init kho_init(void)
{
	if (kho_in.active)
		pr_info("received state tree of %u bytes\n", kho_in.fdt_size);
	kho_sysfs_init();
	if (!kho_enable)
		return 0;
	kho_out.handover = (void *)get_zeroed_page(GFP_KERNEL);
	if (!kho_out.handover) {
		pr_err("cannot allocate the handover page; KHO disabled\n");
		kho_enable = false;
		return -ENOMEM;
	}
	kho_debugfs_init();
	pr_info("enabled: %u scratch areas\n", kho_nr_scratch);
	return 0;
}
fs_initcall(kho_init);
