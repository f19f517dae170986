// SPDX-License-Identifier: GPL-2.0
/*
 * KHO test driver: debugfs files under kho/test/ that exercise KHO across a
 * real kexec, for kho-v's two-stage tests.
 *
 *   preserve   write "COUNT SEED": allocate COUNT folios of random orders,
 *              fill them from SEED, preserve them, and record the list in
 *              a "kho-test" subtree; add a "kho-test-tree" node with
 *              properties of many sizes (one larger than a page)
 *   verify     read (next kernel): restore every folio and property and
 *              compare every byte; prints "ok ..." or "FAIL ..." lines
 *   add_node   write NAME: add an empty node under the root (errors are
 *              returned to the writer, e.g. EBUSY after finalize)
 *   corrupt    write fdt|handover|memmap|memmap-interior|memmap-loop|
 *              memmap-other|memmap-overlap|scratch after finalize: damage
 *              the handover so the next kernel must refuse it; or
 *              subtree-wrap|subtree-size|subtree-other: damage only where the state
 *              tree says the kho-test subtree is (the FDT checksum still
 *              holds), so the next kernel must refuse that subtree alone;
 *              or vtd-context|vtd-table: point the first context entry
 *              of the VT-d handover tables, or the first table below a
 *              handed-over domain's top page table, at a page that was
 *              not preserved, so the next kernel must refuse that unit;
 *              or "prop NODE PROP OFFSET MASK": XOR byte OFFSET of
 *              property PROP of the root's child NODE with MASK (both
 *              numbers in C notation), checksums made good again, so
 *              that only the owner of that record can catch it
 *   luo_data   (with Live Update) write "SESSION TOKEN DATA" after
 *              finalize: make file TOKEN of session SESSION hand over
 *              DATA (a number, or @TOKEN2: the record of file TOKEN2 of
 *              the same session) as its record, for tests of records
 *              the next kernel must not trust
 *   luo_session (with Live Update) write "SESSION name|count|dup" after
 *              finalize: damage session SESSION's record: its name no
 *              longer NUL-terminated, one file more in its count than it
 *              has, or its first file under the token of its second
 *   luo_chunk  (with Live Update) write N after finalize: damage page N
 *              of the Live Update records (no longer an FDT); or "dup":
 *              make the index list its first page again, in place of
 *              its last
 *   capture    (with Live Update) read after finalize: the Live Update
 *              records as they will be handed over (the index, its pages,
 *              each memfd and VM record), the seeds of the fuzz targets in
 *              tools/testing/kho-fuzz (make fuzz-capture)
 *   bench      write "ORDER MIB" (ORDER -1: mixed orders): preserve MIB
 *              of folios and log the time and metadata it took; read in
 *              the next kernel: restore them all and report the time
 *
 * The expectations (seed, folio list) travel inside the preserved state, so
 * stage 2 needs nothing from stage 1 but the handover itself.
 */
#define pr_fmt(fmt) "KHO test: " fmt

#include <linux/crc32.h>
#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/intel_iommu.h>
#include <linux/kho/abi/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/prandom.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#ifdef CONFIG_LIVEUPDATE
#include <linux/kho/abi/kvm.h>
#include <linux/kho/abi/luo.h>
#include <linux/kho/abi/memfd.h>
#include <linux/liveupdate.h>
#include <linux/vmalloc.h>
#endif

#define KHO_TEST_SUBTREE	"kho-test"
#define KHO_TEST_TREE		"kho-test-tree"
#define KHO_TEST_MAX_FOLIOS	4096
#define KHO_TEST_MAX_PROP	(3 * 4096 + 5)

struct kho_test_folio {
	u64 phys;
	u32 order;
	u32 crc;
} __packed;

/* Property sizes of the test tree: empty, tiny, odd, page edges, > page. */
static const u32 kho_test_prop_sizes[] = {
	0, 1, 3, 8, 100, 4095, 4096, 4097, KHO_TEST_MAX_PROP,
};

static struct kho_node kho_test_tree, kho_test_child[2], kho_test_grandchild;
static DEFINE_MUTEX(kho_test_lock);
static bool kho_test_preserved;

static u64 kho_test_word(u64 seed, u64 phys)
{
	u64 x = (phys ^ seed) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29);
}

static void kho_test_fill(void *buf, size_t len, u64 seed, u64 phys)
{
	u64 *w = buf;
	size_t i;

	for (i = 0; i < len / sizeof(u64); i++)
		w[i] = kho_test_word(seed, phys + i * sizeof(u64));
}

/* Returns the offset of the first mismatch, or -1. */
static long kho_test_check(const void *buf, size_t len, u64 seed, u64 phys)
{
	const u64 *w = buf;
	size_t i;

	for (i = 0; i < len / sizeof(u64); i++)
		if (w[i] != kho_test_word(seed, phys + i * sizeof(u64)))
			return i * sizeof(u64);
	return -1;
}

static void kho_test_prop_val(u8 *buf, u32 size, u64 seed, unsigned int idx)
{
	u32 i;

	for (i = 0; i < size; i++)
		buf[i] = (u8)(kho_test_word(seed, ((u64)idx << 32) | i) >> 17);
}

static int kho_test_build_tree(u64 seed)
{
	char key[16];
	unsigned int i;
	u8 *buf;
	int err;

	buf = kvmalloc(KHO_TEST_MAX_PROP, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	kho_init_node(&kho_test_tree);
	for (i = 0; i < ARRAY_SIZE(kho_test_child); i++)
		kho_init_node(&kho_test_child[i]);
	kho_init_node(&kho_test_grandchild);

	for (i = 0; i < ARRAY_SIZE(kho_test_prop_sizes); i++) {
		snprintf(key, sizeof(key), "prop-%u", i);
		kho_test_prop_val(buf, kho_test_prop_sizes[i], seed, i);
		err = kho_add_prop(&kho_test_tree, key, buf,
				   kho_test_prop_sizes[i]);
		if (err)
			goto out;
	}
	err = kho_add_string_prop(&kho_test_tree, "greeting",
				  "preserved across kexec");
	if (!err)
		err = kho_add_prop(&kho_test_child[1], "seed", &seed, sizeof(seed));
	if (!err)
		err = kho_add_string_prop(&kho_test_grandchild, "depth", "2");
	if (!err)
		err = kho_add_node(&kho_test_child[1], "grandchild",
				   &kho_test_grandchild);
	for (i = 0; !err && i < ARRAY_SIZE(kho_test_child); i++) {
		snprintf(key, sizeof(key), "child-%u", i);
		err = kho_add_node(&kho_test_tree, key, &kho_test_child[i]);
	}
	if (!err)
		err = kho_add_node(NULL, KHO_TEST_TREE, &kho_test_tree);
out:
	kvfree(buf);
	return err;
}

/* Hand a folio list and its seed over as subtree @name. */
static int kho_test_publish(const char *name, u64 seed,
			    const struct kho_test_folio *list, unsigned long n)
{
	size_t size = PAGE_ALIGN(n * sizeof(*list) + SZ_4K);
	void *fdt;
	int err;

	/* a subtree is one physically contiguous block */
	if (size > (PAGE_SIZE << MAX_PAGE_ORDER))
		return -E2BIG;
	fdt = alloc_pages_exact(size, GFP_KERNEL);
	if (!fdt)
		return -ENOMEM;
	err = fdt_create(fdt, size) ?:
	      fdt_finish_reservemap(fdt) ?:
	      fdt_begin_node(fdt, "") ?:
	      fdt_property_string(fdt, "compatible", "kho-v,test-v1") ?:
	      fdt_property(fdt, "seed", &seed, sizeof(seed)) ?:
	      fdt_property(fdt, "folios", list, n * sizeof(*list)) ?:
	      fdt_end_node(fdt) ?:
	      fdt_finish(fdt);
	err = err ? -EINVAL : kho_add_subtree(name, fdt);
	if (err)
		free_pages_exact(fdt, size);
	return err;
}

static int kho_test_preserve(unsigned int count, u64 seed)
{
	struct kho_test_folio *list;
	struct rnd_state rnd;
	unsigned int i;
	int err;

	if (!count || count > KHO_TEST_MAX_FOLIOS)
		return -EINVAL;
	list = kvcalloc(count, sizeof(*list), GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	prandom_seed_state(&rnd, seed);

	for (i = 0; i < count; i++) {
		int order = prandom_u32_state(&rnd) % (MAX_PAGE_ORDER + 1);
		struct folio *folio = NULL;

		for (; order >= 0 && !folio; order--)
			folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN |
					    __GFP_NORETRY, order);
		if (!folio) {
			err = -ENOMEM;
			goto out;
		}
		list[i].phys = PFN_PHYS(folio_pfn(folio));
		list[i].order = folio_order(folio);
		kho_test_fill(folio_address(folio), folio_size(folio), seed,
			      list[i].phys);
		list[i].crc = crc32_le(~0, folio_address(folio), folio_size(folio));
		err = kho_preserve_folio(folio);
		if (err) {
			pr_err("preserving folio %u (order %u): %d\n", i,
			       list[i].order, err);
			folio_put(folio);
			goto out;
		}
	}

	err = kho_test_publish(KHO_TEST_SUBTREE, seed, list, count);
	if (!err)
		err = kho_test_build_tree(seed);
	if (!err)
		pr_info("preserved %u folios and the test tree (seed %llu)\n",
			count, seed);
out:
	/* on error the folios stay allocated: this is a test driver */
	kvfree(list);
	return err;
}

static ssize_t kho_test_preserve_write(struct file *file,
				       const char __user *ubuf, size_t len,
				       loff_t *ppos)
{
	unsigned int count;
	char buf[64];
	u64 seed;
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%u %llu", &count, &seed) != 2)
		return -EINVAL;

	mutex_lock(&kho_test_lock);
	err = kho_test_preserved ? -EEXIST : kho_test_preserve(count, seed);
	if (!err)
		kho_test_preserved = true;
	mutex_unlock(&kho_test_lock);
	return err ?: len;
}

static const struct file_operations kho_test_preserve_fops = {
	.write = kho_test_preserve_write,
};

static void kho_test_verify_tree(struct seq_file *m, u64 seed)
{
	unsigned int i, ok = 0;
	/* comparison buffer for the largest property; verify holds the lock */
	static u8 buf[KHO_TEST_MAX_PROP];
	const void *val;
	char key[16];
	int node, len;

	node = kho_find_node("/" KHO_TEST_TREE);
	if (node < 0) {
		seq_puts(m, "FAIL tree: node /" KHO_TEST_TREE " missing\n");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(kho_test_prop_sizes); i++) {
		snprintf(key, sizeof(key), "prop-%u", i);
		val = kho_get_prop(node, key, &len);
		kho_test_prop_val(buf, kho_test_prop_sizes[i], seed, i);
		if (!val || len != kho_test_prop_sizes[i] ||
		    memcmp(val, buf, len))
			seq_printf(m, "FAIL tree: %s: expected %u bytes, got %d\n",
				   key, kho_test_prop_sizes[i], val ? len : -1);
		else
			ok++;
	}
	val = kho_get_prop(node, "greeting", &len);
	if (!val || strcmp(val, "preserved across kexec"))
		seq_puts(m, "FAIL tree: greeting\n");
	else
		ok++;
	node = kho_find_node("/" KHO_TEST_TREE "/child-1");
	val = kho_get_prop(node, "seed", &len);
	if (!val || len != sizeof(seed) || memcmp(val, &seed, sizeof(seed)))
		seq_puts(m, "FAIL tree: child-1/seed\n");
	else
		ok++;
	node = kho_find_node("/" KHO_TEST_TREE "/child-1/grandchild");
	val = kho_get_prop(node, "depth", &len);
	if (!val || strcmp(val, "2"))
		seq_puts(m, "FAIL tree: child-1/grandchild/depth\n");
	else
		ok++;
	if (kho_find_node("/" KHO_TEST_TREE "/child-0") < 0)
		seq_puts(m, "FAIL tree: child-0 missing\n");
	else
		ok++;
	seq_printf(m, "ok tree: %u checks passed\n", ok);
}

static int kho_test_verify_show(struct seq_file *m, void *v)
{
	const struct kho_test_folio *list;
	unsigned long pages = 0, bad = 0;
	const void *sub;
	const u64 *seedp;
	unsigned int i, n;
	int len;

	if (!kho_is_incoming()) {
		seq_puts(m, "FAIL no incoming handover\n");
		return 0;
	}
	sub = kho_get_subtree(KHO_TEST_SUBTREE, NULL);
	if (!sub) {
		seq_puts(m, "FAIL subtree " KHO_TEST_SUBTREE " missing\n");
		return 0;
	}
	seedp = fdt_getprop(sub, 0, "seed", &len);
	list = fdt_getprop(sub, 0, "folios", &len);
	if (!seedp || !list || len % sizeof(*list)) {
		seq_puts(m, "FAIL subtree " KHO_TEST_SUBTREE " malformed\n");
		return 0;
	}
	n = len / sizeof(*list);

	for (i = 0; i < n; i++) {
		struct folio *folio = kho_restore_folio(list[i].phys);
		long off;

		if (!folio) {
			seq_printf(m, "FAIL folio %u at %#llx: not restored\n",
				   i, list[i].phys);
			bad++;
			continue;
		}
		if (folio_order(folio) != list[i].order ||
		    folio_ref_count(folio) != 1) {
			seq_printf(m, "FAIL folio %u: order %u refcount %d, expected order %u refcount 1\n",
				   i, folio_order(folio), folio_ref_count(folio),
				   list[i].order);
			bad++;
		}
		off = kho_test_check(folio_address(folio), folio_size(folio),
				     *seedp, list[i].phys);
		if (off >= 0 ||
		    crc32_le(~0, folio_address(folio), folio_size(folio)) != list[i].crc) {
			seq_printf(m, "FAIL folio %u at %#llx: contents differ at offset %ld\n",
				   i, list[i].phys, off);
			bad++;
		}
		pages += folio_nr_pages(folio);
		folio_put(folio);
		/* a second restore of the same folio must be refused */
		if (i == 0 && kho_restore_folio(list[i].phys)) {
			seq_puts(m, "FAIL folio 0 restored twice\n");
			bad++;
		}
	}
	if (!bad)
		seq_printf(m, "ok folios: %u folios, %lu pages, every byte as written\n",
			   n, pages);
	/* memory that was never preserved must not be handed out */
	if (kho_restore_folio(PFN_PHYS(folio_pfn(virt_to_folio(m)))))
		seq_puts(m, "FAIL restored memory that was not preserved\n");
	else
		seq_puts(m, "ok refused memory that was not preserved\n");
	mutex_lock(&kho_test_lock);
	kho_test_verify_tree(m, *seedp);
	mutex_unlock(&kho_test_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kho_test_verify);

static ssize_t kho_test_add_node_write(struct file *file,
				       const char __user *ubuf, size_t len,
				       loff_t *ppos)
{
	struct kho_node *node;
	char name[64];
	int err;

	if (!len || len >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, ubuf, len))
		return -EFAULT;
	name[len] = 0;
	strim(name);
	node = kzalloc(sizeof(*node), GFP_KERNEL);
	if (!node)
		return -ENOMEM;
	kho_init_node(node);
	err = kho_add_node(NULL, name, node);
	if (err)
		kfree(node);
	return err ?: len;
}

static const struct file_operations kho_test_add_node_fops = {
	.write = kho_test_add_node_write,
};

/* The first used slot of a map table, or NULL. */
static u64 *kho_test_first_slot(u64 *table)
{
	unsigned int i;

	for (i = 0; i < KHO_TABLE_ENTRIES; i++)
		if (table[i])
			return &table[i];
	return NULL;
}

/*
 * Damage the memory map's tables, not the handover page: the checksum
 * still holds, so only the map walk can catch it. Works on the highest
 * order in use, whose tables the checks of every lower order's blocks
 * look up, so it needs two orders in use.
 */
static int kho_test_corrupt_map(struct kho_handover *h, const char *how)
{
	int lo = -1, hi = -1, order;
	u64 *slot;

	for (order = 0; order < KHO_NR_ORDERS; order++) {
		if (!h->mem_root[order])
			continue;
		if (lo < 0)
			lo = order;
		hi = order;
	}
	if (lo == hi)
		return -ENOENT;
	/* the root's first child, then that table's first child slot */
	slot = kho_test_first_slot(phys_to_virt(h->mem_root[hi]));
	if (slot)
		slot = kho_test_first_slot(phys_to_virt(*slot));
	if (!slot)
		return -ENOENT;

	if (!strcmp(how, "interior")) {
		/* far beyond the RAM of any test VM, and not mapped */
		*slot = 1ULL << 46;
	} else if (!strcmp(how, "loop")) {
		/* back up to the root it hangs from */
		*slot = h->mem_root[hi];
	} else if (!strcmp(how, "other")) {
		/* one order's root inside another order's map */
		h->mem_root[lo] = h->mem_root[hi];
		kho_handover_seal(h);
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * Add to the finalized map an order-1 block and a run of order-0 blocks
 * over it with a block to spare on each side: the run overlaps the larger
 * block only in its middle, not at either end. The pages are an order-3
 * folio of our own, left allocated, so nothing else is in them.
 */
static int kho_test_corrupt_overlap(struct kho_handover *h)
{
	struct folio *folio = folio_alloc(GFP_KERNEL, 3);
	phys_addr_t phys;
	int i, err;

	if (!folio)
		return -ENOMEM;
	phys = PFN_PHYS(folio_pfn(folio));
	err = kho_handover_map_set(h, phys + 4 * PAGE_SIZE, 1);
	for (i = 2; !err && i < 7; i++)
		err = kho_handover_map_set(h, phys + i * PAGE_SIZE, 0);
	return err;
}

/*
 * Point the kho-test subtree somewhere else in the state tree, and seal
 * the tree and the handover page again: only the subtree checks of
 * kho_get_subtree() stand between the next kernel and the bad address.
 */
static int kho_test_corrupt_subtree(struct kho_handover *h, const char *how)
{
	void *fdt = phys_to_virt(h->fdt_phys);
	const u64 *addr;
	int node, len;
	u64 val;

	node = fdt_subnode_offset(fdt, 0, KHO_TEST_SUBTREE);
	addr = node < 0 ? NULL : fdt_getprop(fdt, node, "fdt", &len);
	if (!addr || len != sizeof(*addr))
		return -ENOENT;	/* preserve first */

	if (!strcmp(how, "wrap")) {
		/* the last page of the address space: address + size wraps */
		val = -PAGE_SIZE;
		if (fdt_setprop_inplace(fdt, node, "fdt", &val, sizeof(val)))
			return -EINVAL;
	} else if (!strcmp(how, "size")) {
		/* the blob runs past the end of what was preserved for it */
		val = SZ_512M;
		if (fdt_setprop_inplace(fdt, node, "fdt-size", &val,
					sizeof(val)))
			return -EINVAL;
	} else if (!strcmp(how, "other")) {
		/* the handover's own state tree: reserved, not preserved */
		val = h->fdt_phys;
		if (fdt_setprop_inplace(fdt, node, "fdt", &val, sizeof(val)))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	h->fdt_crc = crc32_le(~0, fdt, h->fdt_size);
	kho_handover_seal(h);
	return 0;
}

/*
 * Damage the VT-d handover tables (drivers/iommu/kho/intel_kho.c) of the
 * first unit in the record, in place: the record and the state tree still
 * hold, only the next kernel's check of the tables can catch it. The page
 * pointed at is the zero page, which is never preserved and, read as a
 * table, maps nothing while the kexec runs.
 */
static int kho_test_corrupt_vtd(struct kho_handover *h, const char *how)
{
	const struct intel_kho_unit_ser *unit;
	u64 zero = page_to_phys(ZERO_PAGE(0));
	void *fdt = phys_to_virt(h->fdt_phys);
	u64 *root, *ctx = NULL, *pte = NULL;
	int node, len, i;

	node = fdt_subnode_offset(fdt, 0, INTEL_KHO_NODE);
	unit = node < 0 ? NULL : fdt_getprop(fdt, node, "units", &len);
	if (!unit || len < (int)sizeof(*unit))
		return -ENOENT;	/* no device left translating */
	/* legacy mode: 16-byte root and context entries, lo first */
	root = phys_to_virt(unit->root);
	for (i = 0; i < 256 && !ctx; i++)
		if (root[2 * i] & 1)
			ctx = phys_to_virt(root[2 * i] & PAGE_MASK);
	for (i = 0; ctx && i < 256; i++)
		if (ctx[2 * i] & 1)
			break;
	if (!ctx || i == 256)
		return -ENOENT;
	ctx += 2 * i;

	if (!strcmp(how, "context")) {
		*ctx = (*ctx & ~PAGE_MASK) | zero;
		return 0;
	}
	if (strcmp(how, "table"))
		return -EINVAL;
	root = phys_to_virt(*ctx & PAGE_MASK);	/* the top page table */
	for (i = 0; i < 512 && !pte; i++)
		if ((root[i] & 3) && !(root[i] & BIT(7)))
			pte = &root[i];
	if (!pte)
		return -ENOENT;
	*pte = (*pte & ~PAGE_MASK) | zero;
	return 0;
}

/*
 * Damage one byte of a record in the state tree ("NODE PROP OFFSET MASK"),
 * and seal the tree and the handover page again: a record the next kernel's
 * KHO takes as sound, for its owner's own checks to refuse.
 */
static int kho_test_corrupt_prop(struct kho_handover *h, const char *how)
{
	void *fdt = phys_to_virt(h->fdt_phys);
	char name[32], key[32];
	int off, mask, node, len;
	u8 *val;

	if (sscanf(how, "%31s %31s %i %i", name, key, &off, &mask) != 4 ||
	    off < 0 || mask <= 0 || mask > 0xff)
		return -EINVAL;
	node = fdt_subnode_offset(fdt, 0, name);
	val = node < 0 ? NULL : fdt_getprop_w(fdt, node, key, &len);
	if (!val)
		return -ENOENT;
	if (off >= len)
		return -ERANGE;
	val[off] ^= mask;
	h->fdt_crc = crc32_le(~0, fdt, h->fdt_size);
	kho_handover_seal(h);
	return 0;
}

static ssize_t kho_test_corrupt_write(struct file *file,
				      const char __user *ubuf, size_t len,
				      loff_t *ppos)
{
	struct kho_handover *h = kho_handover_page();
	char what[96];

	if (!len || len >= sizeof(what))
		return -EINVAL;
	if (copy_from_user(what, ubuf, len))
		return -EFAULT;
	what[len] = 0;
	strim(what);
	if (!h || h->magic != KHO_HANDOVER_MAGIC)
		return -ENOENT;	/* finalize first */

	if (!strcmp(what, "fdt")) {
		u8 *fdt = phys_to_virt(h->fdt_phys);

		fdt[h->fdt_size / 2] ^= 0x5a;
	} else if (!strcmp(what, "handover")) {
		h->magic ^= 1;
	} else if (!strcmp(what, "memmap")) {
		/* a map root inside scratch, with a valid checksum */
		h->mem_root[0] = h->scratch[0].base;
		kho_handover_seal(h);
	} else if (!strcmp(what, "memmap-overlap")) {
		int err = kho_test_corrupt_overlap(h);

		if (err)
			return err;
	} else if (!strncmp(what, "memmap-", 7)) {
		int err = kho_test_corrupt_map(h, what + 7);

		if (err)
			return err;
	} else if (!strcmp(what, "scratch")) {
		h->scratch[0].base = 1ULL << 46;
		kho_handover_seal(h);
	} else if (!strncmp(what, "subtree-", 8)) {
		int err = kho_test_corrupt_subtree(h, what + 8);

		if (err)
			return err;
	} else if (!strncmp(what, "vtd-", 4)) {
		int err = kho_test_corrupt_vtd(h, what + 4);

		if (err)
			return err;
	} else if (!strncmp(what, "prop ", 5)) {
		int err = kho_test_corrupt_prop(h, what + 5);

		if (err)
			return err;
	} else {
		return -EINVAL;
	}
	pr_warn("damaged the handover (%s) on request\n", what);
	return len;
}

static const struct file_operations kho_test_corrupt_fops = {
	.write = kho_test_corrupt_write,
};

/* ----- a damaged Live Update record ----- */

#ifdef CONFIG_LIVEUPDATE

/*
 * In the outgoing Live Update records whose index is @index: the first
 * node of session @name (@file: false), or the node of its file @token
 * (@file: true), in whichever of the session's nodes it is. *@chunkp: the
 * page of records the node is in.
 */
static int kho_test_luo_find(const void *index, const char *name, bool file,
			     u64 token, void **chunkp)
{
	const fdt64_t *chunks, *val;
	int i, nr, snode, fnode, len;
	const char *sname;
	void *chunk;

	chunks = fdt_getprop(index, 0, LUO_FDT_CHUNKS_PROP, &len);
	if (!chunks)
		return -ENOENT;
	nr = len / sizeof(*chunks);
	for (i = 0; i < nr; i++) {
		chunk = phys_to_virt(fdt64_to_cpu(chunks[i]));
		fdt_for_each_subnode(snode, chunk, 0) {
			sname = fdt_getprop(chunk, snode, LUO_FDT_NAME_PROP,
					    NULL);
			if (!sname || strcmp(sname, name))
				continue;
			*chunkp = chunk;
			if (!file)
				return snode;
			fdt_for_each_subnode(fnode, chunk, snode) {
				val = fdt_getprop(chunk, fnode,
						  LUO_FDT_TOKEN_PROP, &len);
				if (val && len == sizeof(*val) &&
				    fdt64_to_cpu(*val) == token)
					return fnode;
			}
		}
	}
	return -ENOENT;
}

/* The outgoing Live Update index, linked from the state tree by address. */
static void *kho_test_luo_index(void)
{
	struct kho_handover *h = kho_handover_page();
	const u64 *addr;
	void *fdt;
	int node, len;

	if (!h || h->magic != KHO_HANDOVER_MAGIC)
		return NULL;	/* finalize first */
	fdt = phys_to_virt(h->fdt_phys);
	node = fdt_subnode_offset(fdt, 0, LUO_FDT_NAME);
	addr = node < 0 ? NULL : fdt_getprop(fdt, node, "fdt", &len);
	if (!addr || len != sizeof(*addr))
		return NULL;
	return phys_to_virt(*addr);
}

static_assert(LIVEUPDATE_SESSION_NAME_LENGTH == 64);	/* the %63s below */

static ssize_t kho_test_luo_session_write(struct file *file,
					  const char __user *ubuf, size_t len,
					  loff_t *ppos)
{
	char buf[LIVEUPDATE_SESSION_NAME_LENGTH + 16];
	char name[LIVEUPDATE_SESSION_NAME_LENGTH], how[8];
	int node, fnode, second, plen;
	const fdt64_t *nr, *token;
	void *luo, *chunk;
	char *sname;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%63s %7s", name, how) != 2)
		return -EINVAL;
	luo = kho_test_luo_index();
	node = luo ? kho_test_luo_find(luo, name, false, 0, &chunk) : -ENOENT;
	if (node < 0)
		return node;

	if (!strcmp(how, "name")) {
		sname = fdt_getprop_w(chunk, node, LUO_FDT_NAME_PROP, &plen);
		if (!sname || plen < 1)
			return -EINVAL;
		sname[plen - 1] = 'x';
	} else if (!strcmp(how, "count")) {
		nr = fdt_getprop(chunk, node, LUO_FDT_NR_FILES_PROP, &plen);
		if (!nr || plen != sizeof(*nr) ||
		    fdt_setprop_inplace_u64(chunk, node, LUO_FDT_NR_FILES_PROP,
					    fdt64_to_cpu(*nr) + 1))
			return -EINVAL;
	} else if (!strcmp(how, "dup")) {
		fnode = fdt_first_subnode(chunk, node);
		second = fnode < 0 ? fnode : fdt_next_subnode(chunk, fnode);
		if (second < 0)
			return -ENOENT;	/* two files needed */
		token = fdt_getprop(chunk, second, LUO_FDT_TOKEN_PROP, &plen);
		if (!token || plen != sizeof(*token) ||
		    fdt_setprop_inplace_u64(chunk, fnode, LUO_FDT_TOKEN_PROP,
					    fdt64_to_cpu(*token)))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	pr_warn("session %s: damaged its record (%s), on request\n", name,
		how);
	return len;
}

static const struct file_operations kho_test_luo_session_fops = {
	.write = kho_test_luo_session_write,
};

static ssize_t kho_test_luo_data_write(struct file *file,
				       const char __user *ubuf, size_t len,
				       loff_t *ppos)
{
	char buf[LIVEUPDATE_SESSION_NAME_LENGTH + 64];
	char name[LIVEUPDATE_SESSION_NAME_LENGTH], val[32];
	const fdt64_t *other;
	void *luo, *chunk;
	u64 token, data;
	int node, plen;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%63s %llu %31s", name, &token, val) != 3)
		return -EINVAL;
	luo = kho_test_luo_index();
	if (!luo)
		return -ENOENT;
	if (val[0] == '@') {
		if (kstrtoull(val + 1, 0, &data))
			return -EINVAL;
		node = kho_test_luo_find(luo, name, true, data, &chunk);
		if (node < 0)
			return node;
		other = fdt_getprop(chunk, node, LUO_FDT_DATA_PROP, &plen);
		if (!other || plen != sizeof(*other))
			return -ENOENT;
		data = fdt64_to_cpu(*other);
	} else if (kstrtoull(val, 0, &data)) {
		return -EINVAL;
	}
	node = kho_test_luo_find(luo, name, true, token, &chunk);
	if (node < 0)
		return node;
	if (fdt_setprop_inplace_u64(chunk, node, LUO_FDT_DATA_PROP, data))
		return -EINVAL;
	pr_warn("session %s: file %llu now hands over record %#llx, on request\n",
		name, token, data);
	return len;
}

static const struct file_operations kho_test_luo_data_fops = {
	.write = kho_test_luo_data_write,
};

static ssize_t kho_test_luo_chunk_write(struct file *file,
					const char __user *ubuf, size_t len,
					loff_t *ppos)
{
	fdt64_t *chunks;
	unsigned int n;
	void *index;
	char buf[16];
	int plen, nr;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	strim(buf);
	index = kho_test_luo_index();
	chunks = index ? fdt_getprop_w(index, 0, LUO_FDT_CHUNKS_PROP, &plen) :
			 NULL;
	if (!chunks)
		return -ENOENT;
	nr = plen / sizeof(*chunks);

	if (!strcmp(buf, "dup")) {
		if (nr < 2)
			return -ERANGE;
		chunks[nr - 1] = chunks[0];
		pr_warn("the Live Update index lists its first page twice, on request\n");
		return len;
	}
	if (kstrtouint(buf, 0, &n))
		return -EINVAL;
	if (n >= nr)
		return -ERANGE;
	fdt_set_magic(phys_to_virt(fdt64_to_cpu(chunks[n])), ~FDT_MAGIC);
	pr_warn("damaged page %u of the Live Update records, on request\n", n);
	return len;
}

static const struct file_operations kho_test_luo_chunk_fops = {
	.write = kho_test_luo_chunk_write,
};

/* ----- the records as handed over, for the fuzz seeds ----- */

#define KHO_TEST_CAP_MAGIC	0x3130504143544b48ULL	/* "HKTCAP01" */
#define KHO_TEST_CAP_SIZE	SZ_1M
#define KHO_TEST_CAP_BLOCKS	64

/*
 * The capture is the magic, then groups: a struct kho_test_cap_group, then
 * its blocks, each a struct kho_test_cap_block and the block's bytes (none
 * for guest data, whose contents no parser reads). The first block of a
 * group is the record the fuzz target named by the group starts from.
 */
struct kho_test_cap_group {
	char target[16];
	char name[48];
	u32 nr_blocks;
	u32 reserved;
};

struct kho_test_cap_block {
	u64 phys;
	u32 order;
	u32 len;
};

struct kho_test_cap {
	u8 *buf;
	size_t len;
	struct kho_test_cap_group *group;
	int err;
};

static void kho_test_cap_put(struct kho_test_cap *cap, const void *p,
			     size_t len)
{
	if (cap->err)
		return;
	if (len > KHO_TEST_CAP_SIZE - cap->len) {
		cap->err = -E2BIG;
		return;
	}
	memcpy(cap->buf + cap->len, p, len);
	cap->len += len;
}

static void kho_test_cap_group(struct kho_test_cap *cap, const char *target,
			       const char *name)
{
	struct kho_test_cap_group g = {};

	strscpy(g.target, target);
	strscpy(g.name, name);
	cap->group = (void *)(cap->buf + cap->len);
	kho_test_cap_put(cap, &g, sizeof(g));
}

/* A block of the group; @data: copy its bytes too. */
static void kho_test_cap_block(struct kho_test_cap *cap, phys_addr_t phys,
			       unsigned int order, bool data)
{
	struct kho_test_cap_block b = {
		.phys = phys,
		.order = order,
		.len = data ? PAGE_SIZE << order : 0,
	};

	kho_test_cap_put(cap, &b, sizeof(b));
	if (data)
		kho_test_cap_put(cap, phys_to_virt(phys), b.len);
	if (!cap->err && ++cap->group->nr_blocks > KHO_TEST_CAP_BLOCKS)
		cap->err = -EFBIG;
}

static void kho_test_cap_memfd(struct kho_test_cap *cap, phys_addr_t phys)
{
	const struct memfd_luo_ser *ser = phys_to_virt(phys);
	const struct memfd_luo_folio_page *page;
	u32 i;

	kho_test_cap_block(cap, phys, 0, true);
	for (phys = ser->folios; phys && !cap->err; phys = page->next) {
		page = phys_to_virt(phys);
		kho_test_cap_block(cap, phys, 0, true);
		for (i = 0; i < page->count && i < MEMFD_LUO_FOLIOS_PER_PAGE; i++)
			kho_test_cap_block(cap, page->folios[i].pfo & PAGE_MASK,
					   page->folios[i].pfo &
					   MEMFD_LUO_FOLIO_ORDER, false);
	}
}

static void kho_test_cap_kvm(struct kho_test_cap *cap, phys_addr_t phys)
{
	struct kvm_kho_vm_ser *ser = phys_to_virt(phys);
	struct kvm_kho_vcpu_ser *v;
	u64 *vcpus;
	u32 i;

	kho_test_cap_block(cap, phys,
			   get_order(kvm_kho_vm_ser_size(ser->nr_slots,
							 ser->nr_vcpus)), true);
	vcpus = kvm_kho_vm_vcpus(ser);
	for (i = 0; i < ser->nr_vcpus && !cap->err; i++) {
		v = phys_to_virt(vcpus[i]);
		kho_test_cap_block(cap, vcpus[i],
				   get_order(kvm_kho_vcpu_ser_size(v->nr_msrs,
								   v->nr_cpuid,
								   v->xsave_size)),
				   true);
	}
}

/*
 * One group for the index and its pages of records, and one per memfd or
 * VM record. A record of more than KHO_TEST_CAP_BLOCKS blocks (a guest's
 * RAM) is left out: no fuzz input holds it.
 */
static int kho_test_cap_build(struct kho_test_cap *cap)
{
	const char *compat, *sname;
	const fdt64_t *chunks, *val;
	int i, nr, snode, fnode, len;
	char name[48];
	void *index, *chunk;
	size_t start;
	u64 magic = KHO_TEST_CAP_MAGIC;

	index = kho_test_luo_index();
	chunks = index ? fdt_getprop(index, 0, LUO_FDT_CHUNKS_PROP, &len) : NULL;
	if (!chunks)
		return -ENOENT;	/* finalize first */
	nr = len / sizeof(*chunks);
	kho_test_cap_put(cap, &magic, sizeof(magic));
	kho_test_cap_group(cap, "luo_index", "index");
	kho_test_cap_block(cap, virt_to_phys(index),
			   get_order(fdt_totalsize(index)), true);
	for (i = 0; i < nr; i++)
		kho_test_cap_block(cap, fdt64_to_cpu(chunks[i]), 0, true);

	for (i = 0; i < nr && !cap->err; i++) {
		chunk = phys_to_virt(fdt64_to_cpu(chunks[i]));
		fdt_for_each_subnode(snode, chunk, 0) {
			sname = fdt_getprop(chunk, snode, LUO_FDT_NAME_PROP,
					    NULL);
			fdt_for_each_subnode(fnode, chunk, snode) {
				compat = fdt_getprop(chunk, fnode,
						     LUO_FDT_COMPAT_PROP, NULL);
				val = fdt_getprop(chunk, fnode,
						  LUO_FDT_DATA_PROP, &len);
				if (!compat || !val || len != sizeof(*val))
					continue;
				start = cap->len;
				snprintf(name, sizeof(name), "%s-%s", sname,
					 fdt_get_name(chunk, fnode, NULL));
				if (!strcmp(compat, MEMFD_LUO_COMPATIBLE)) {
					kho_test_cap_group(cap, "memfd_record",
							   name);
					kho_test_cap_memfd(cap,
							   fdt64_to_cpu(*val));
				} else if (!strcmp(compat, KVM_KHO_COMPATIBLE)) {
					kho_test_cap_group(cap, "kvm_record",
							   name);
					kho_test_cap_kvm(cap,
							 fdt64_to_cpu(*val));
				}
				if (cap->err == -EFBIG) {
					cap->len = start;
					cap->err = 0;
				}
				if (cap->err)
					return cap->err;
			}
		}
	}
	return cap->err;
}

static int kho_test_capture_open(struct inode *inode, struct file *file)
{
	struct kho_test_cap *cap;
	int err;

	cap = kzalloc(sizeof(*cap), GFP_KERNEL);
	if (!cap)
		return -ENOMEM;
	cap->buf = vmalloc(KHO_TEST_CAP_SIZE);
	if (!cap->buf) {
		kfree(cap);
		return -ENOMEM;
	}
	err = kho_test_cap_build(cap);
	if (err) {
		vfree(cap->buf);
		kfree(cap);
		return err;
	}
	file->private_data = cap;
	return 0;
}

static ssize_t kho_test_capture_read(struct file *file, char __user *ubuf,
				     size_t len, loff_t *ppos)
{
	struct kho_test_cap *cap = file->private_data;

	return simple_read_from_buffer(ubuf, len, ppos, cap->buf, cap->len);
}

static int kho_test_capture_release(struct inode *inode, struct file *file)
{
	struct kho_test_cap *cap = file->private_data;

	vfree(cap->buf);
	kfree(cap);
	return 0;
}

static const struct file_operations kho_test_capture_fops = {
	.open = kho_test_capture_open,
	.read = kho_test_capture_read,
	.release = kho_test_capture_release,
	.llseek = default_llseek,
};

static void kho_test_luo_init(struct dentry *dir)
{
	debugfs_create_file("luo_data", 0200, dir, NULL, &kho_test_luo_data_fops);
	debugfs_create_file("luo_chunk", 0200, dir, NULL,
			    &kho_test_luo_chunk_fops);
	debugfs_create_file("luo_session", 0200, dir, NULL,
			    &kho_test_luo_session_fops);
	debugfs_create_file("capture", 0400, dir, NULL, &kho_test_capture_fops);
}
#else
static void kho_test_luo_init(struct dentry *dir) { }
#endif

/* ----- benchmark: preserve and restore cost ----- */

#define KHO_BENCH_SUBTREE	"kho-bench"

static int kho_bench_preserve(int order, unsigned long mib)
{
	unsigned long want = mib << (20 - PAGE_SHIFT), pages = 0, n = 0, max;
	long meta0 = kho_mem_nr_meta_pages();
	struct kho_test_folio *list;
	struct folio **folios;
	struct rnd_state rnd;
	ktime_t t0, t1;
	unsigned long i;
	int err = 0;

	if (order > MAX_PAGE_ORDER || order < -1 || !mib)
		return -EINVAL;
	max = want;	/* at most one folio per page */
	list = kvcalloc(max, sizeof(*list), GFP_KERNEL);
	folios = kvcalloc(max, sizeof(*folios), GFP_KERNEL);
	if (!list || !folios) {
		err = -ENOMEM;
		goto out;
	}
	prandom_seed_state(&rnd, 1);
	while (pages < want) {
		int o = order >= 0 ? order :
			prandom_u32_state(&rnd) % (MAX_PAGE_ORDER + 1);
		struct folio *folio = NULL;

		/* large orders may fail when fragmented: fall back, and let
		 * order 0 reclaim like any allocation would
		 */
		for (; o >= 0 && !folio; o--)
			folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN |
					    (o ? __GFP_NORETRY : 0), o);
		if (!folio) {
			err = -ENOMEM;
			goto out;
		}
		folios[n] = folio;
		list[n].phys = PFN_PHYS(folio_pfn(folio));
		list[n].order = folio_order(folio);
		pages += folio_nr_pages(folio);
		n++;
	}

	t0 = ktime_get();
	for (i = 0; i < n; i++) {
		err = kho_preserve_folio(folios[i]);
		if (err)
			goto out;
	}
	t1 = ktime_get();

	err = kho_test_publish(KHO_BENCH_SUBTREE, 0, list, n);
	if (err)
		goto out;
	pr_info("bench: order %d: preserved %lu folios, %lu MiB in %lld us (%lld us/GiB), metadata %ld pages (%lld bytes/GiB)\n",
		order, n, pages >> (20 - PAGE_SHIFT), ktime_us_delta(t1, t0),
		div64_u64(ktime_us_delta(t1, t0) * 1024, max(1UL, pages >> (20 - PAGE_SHIFT))),
		kho_mem_nr_meta_pages() - meta0,
		div64_u64((u64)(kho_mem_nr_meta_pages() - meta0) *
			  PAGE_SIZE * 1024, max(1UL, pages >> (20 - PAGE_SHIFT))));
out:
	kvfree(list);
	kvfree(folios);
	return err;
}

static ssize_t kho_bench_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	unsigned long mib;
	char buf[32];
	int order, err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%d %lu", &order, &mib) != 2)
		return -EINVAL;
	mutex_lock(&kho_test_lock);
	err = kho_bench_preserve(order, mib);
	mutex_unlock(&kho_test_lock);
	return err ?: len;
}

static int kho_bench_show(struct seq_file *m, void *v)
{
	const struct kho_test_folio *list;
	unsigned long i, n, pages = 0, bad = 0;
	const void *sub;
	ktime_t t0, t1;
	int len;

	sub = kho_get_subtree(KHO_BENCH_SUBTREE, NULL);
	list = sub ? fdt_getprop(sub, 0, "folios", &len) : NULL;
	if (!list) {
		seq_puts(m, "FAIL no benchmark data handed over\n");
		return 0;
	}
	n = len / sizeof(*list);
	t0 = ktime_get();
	for (i = 0; i < n; i++) {
		struct folio *folio = kho_restore_folio(list[i].phys);

		if (!folio) {
			bad++;
			continue;
		}
		pages += folio_nr_pages(folio);
		folio_put(folio);
	}
	t1 = ktime_get();
	seq_printf(m, "restored %lu folios (%lu MiB) in %lld us (%lld us/GiB), %lu missing\n",
		   n, pages >> (20 - PAGE_SHIFT), ktime_us_delta(t1, t0),
		   div64_u64(ktime_us_delta(t1, t0) * 1024,
			     max(1UL, pages >> (20 - PAGE_SHIFT))), bad);
	return 0;
}

static int kho_bench_open(struct inode *inode, struct file *file)
{
	return single_open(file, kho_bench_show, NULL);
}

static const struct file_operations kho_bench_fops = {
	.open = kho_bench_open,
	.read = seq_read,
	.write = kho_bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static int __init kho_test_init(void)
{
	struct dentry *dir;

	if (!kho_is_enabled() || !kho_debugfs_root())
		return 0;
	dir = debugfs_create_dir("test", kho_debugfs_root());
	debugfs_create_file("preserve", 0200, dir, NULL, &kho_test_preserve_fops);
	debugfs_create_file("verify", 0400, dir, NULL, &kho_test_verify_fops);
	debugfs_create_file("add_node", 0200, dir, NULL, &kho_test_add_node_fops);
	debugfs_create_file("corrupt", 0200, dir, NULL, &kho_test_corrupt_fops);
	debugfs_create_file("bench", 0600, dir, NULL, &kho_bench_fops);
	kho_test_luo_init(dir);
	return 0;
}
late_initcall(kho_test_init);
