// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for Kexec HandOver: the state tree and its flattening, the
 * preserved-memory map and the kho_scratch= parser. They work on private
 * trees and maps, so they leave the kernel's own handover untouched.
 */
#include <kunit/test.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "kexec_handover_internal.h"

static void kho_test_need_kho(struct kunit *test)
{
	if (!kho_is_enabled())
		kunit_skip(test, "KHO is off (boot with kho=on)");
}

static void kho_tree_flatten_test(struct kunit *test)
{
	struct kho_node root, a, b;
	const u32 big_size = 3 * PAGE_SIZE + 1;
	const void *val;
	int off, len;
	u8 *big, *buf;
	u32 n = 42;

	kho_test_need_kho(test);
	kho_init_node(&root);
	kho_init_node(&a);
	kho_init_node(&b);
	big = kunit_kmalloc(test, big_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, big);
	memset(big, 0xa5, big_size);

	KUNIT_ASSERT_EQ(test, kho_add_prop(&a, "n", &n, sizeof(n)), 0);
	KUNIT_ASSERT_EQ(test, kho_add_prop(&a, "big", big, big_size), 0);
	KUNIT_ASSERT_EQ(test, kho_add_prop(&a, "empty", NULL, 0), 0);
	KUNIT_ASSERT_EQ(test, kho_add_string_prop(&b, "s", "hello"), 0);
	KUNIT_ASSERT_EQ(test, kho_add_node(&a, "b", &b), 0);
	KUNIT_ASSERT_EQ(test, kho_add_node(&root, "a", &a), 0);

	buf = kunit_kzalloc(test, 8 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	/* too small: reported, not truncated */
	KUNIT_EXPECT_EQ(test, kho_flatten_tree(&root, buf, PAGE_SIZE), -ENOSPC);
	KUNIT_ASSERT_EQ(test, kho_flatten_tree(&root, buf, 8 * PAGE_SIZE), 0);

	KUNIT_EXPECT_EQ(test, fdt_node_check_compatible(buf, 0, "kho-v1"), 0);
	off = fdt_path_offset(buf, "/a");
	KUNIT_ASSERT_GE(test, off, 0);
	val = fdt_getprop(buf, off, "n", &len);
	KUNIT_ASSERT_NOT_NULL(test, val);
	KUNIT_EXPECT_EQ(test, len, (int)sizeof(n));
	KUNIT_EXPECT_EQ(test, *(const u32 *)val, 42u);
	val = fdt_getprop(buf, off, "big", &len);
	KUNIT_ASSERT_NOT_NULL(test, val);
	KUNIT_EXPECT_EQ(test, len, (int)big_size);
	KUNIT_EXPECT_EQ(test, memcmp(val, big, big_size), 0);
	val = fdt_getprop(buf, off, "empty", &len);
	KUNIT_EXPECT_NOT_NULL(test, val);
	KUNIT_EXPECT_EQ(test, len, 0);
	off = fdt_path_offset(buf, "/a/b");
	KUNIT_ASSERT_GE(test, off, 0);
	KUNIT_EXPECT_STREQ(test, (const char *)fdt_getprop(buf, off, "s", NULL),
			   "hello");

	/* removal: a detached subtree no longer flattens */
	KUNIT_EXPECT_PTR_EQ(test, kho_remove_node(&root, "a"), &a);
	KUNIT_ASSERT_EQ(test, kho_flatten_tree(&root, buf, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_LT(test, fdt_path_offset(buf, "/a"), 0);

	KUNIT_EXPECT_EQ(test, kho_remove_prop(&a, "n"), 0);
	KUNIT_EXPECT_EQ(test, kho_remove_prop(&a, "big"), 0);
	KUNIT_EXPECT_EQ(test, kho_remove_prop(&a, "empty"), 0);
	KUNIT_EXPECT_EQ(test, kho_remove_prop(&b, "s"), 0);
	KUNIT_EXPECT_PTR_EQ(test, kho_remove_node(&a, "b"), &b);
	kfree(a.name);
	kfree(b.name);
}

static void kho_tree_errors_test(struct kunit *test)
{
	struct kho_node root, a, a2;
	u8 v = 1;

	kho_test_need_kho(test);
	kho_init_node(&root);
	kho_init_node(&a);
	kho_init_node(&a2);

	KUNIT_EXPECT_EQ(test, kho_add_node(&root, "x/y", &a), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_add_node(&root, "", &a), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_add_node(&root, "a", NULL), -EINVAL);
	KUNIT_ASSERT_EQ(test, kho_add_node(&root, "a", &a), 0);
	KUNIT_EXPECT_EQ(test, kho_add_node(&root, "a", &a2), -EEXIST);
	/* a node can be in one tree only */
	KUNIT_EXPECT_EQ(test, kho_add_node(&root, "again", &a), -EINVAL);

	KUNIT_EXPECT_EQ(test, kho_add_prop(&a, "p", &v, 1), 0);
	KUNIT_EXPECT_EQ(test, kho_add_prop(&a, "p", &v, 1), -EEXIST);
	KUNIT_EXPECT_EQ(test, kho_add_prop(&a, "q", NULL, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_add_string_prop(&a, "s", NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_remove_prop(&a, "p"), 0);
	KUNIT_EXPECT_EQ(test, kho_remove_prop(&a, "p"), -ENOENT);

	KUNIT_EXPECT_TRUE(test, IS_ERR(kho_remove_node(&root, "nope")));
	KUNIT_EXPECT_PTR_EQ(test, kho_remove_node(&root, "a"), &a);
	kfree(a.name);
}

static int kho_count_block(struct kho_map_walk *w, phys_addr_t phys,
			   unsigned int order)
{
	return 0;
}

static void kho_map_test_case(struct kunit *test)
{
	struct kho_mem_map *map;
	struct kho_map_walk w = { .block = kho_count_block };
	unsigned long far = 1UL << 40;	/* 4 PiB worth of pages away */

	map = kunit_kzalloc(test, sizeof(*map), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, map);

	KUNIT_EXPECT_EQ(test, kho_map_set(map, 0x12345, 0), 0);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, 0x12345, 0), -EEXIST);
	KUNIT_EXPECT_TRUE(test, kho_map_test(map, 0x12345, 0));
	KUNIT_EXPECT_FALSE(test, kho_map_test(map, 0x12346, 0));
	/* the same frame at another order is another block */
	KUNIT_EXPECT_FALSE(test, kho_map_test(map, 0x12340, 4));
	KUNIT_EXPECT_EQ(test, kho_map_set(map, 0x12340, 4), 0);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, 0x12341, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, 0, MAX_PAGE_ORDER + 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, far, 0), 0);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, 1UL << KHO_MAP_INDEX_BITS, 0),
			-ERANGE);
	KUNIT_EXPECT_EQ(test, kho_map_set(map, PHYS_PFN(SZ_4G), MAX_PAGE_ORDER), 0);

	KUNIT_ASSERT_EQ(test, kho_map_walk(map->root, KHO_NR_ORDERS, &w), 0);
	KUNIT_EXPECT_EQ(test, w.nr_blocks, 4ul);
	/* four leaves plus their tables, and nothing more */
	KUNIT_EXPECT_EQ(test, w.nr_meta,
			(unsigned long)atomic_long_read(&map->nr_meta_pages));

	KUNIT_EXPECT_EQ(test, kho_map_clear(map, 0x12345, 0), 0);
	KUNIT_EXPECT_EQ(test, kho_map_clear(map, 0x12345, 0), -ENOENT);
	KUNIT_EXPECT_FALSE(test, kho_map_test(map, 0x12345, 0));
	w.nr_blocks = 0;
	w.nr_meta = 0;
	KUNIT_ASSERT_EQ(test, kho_map_walk(map->root, KHO_NR_ORDERS, &w), 0);
	KUNIT_EXPECT_EQ(test, w.nr_blocks, 3ul);

	kho_map_free(map);
	KUNIT_EXPECT_EQ(test, map->root[0], 0ull);
}

struct kho_run_walk {
	struct kho_map_walk w;
	unsigned int nr;
	unsigned long pfn[4], blocks[4];
};

static int kho_note_run(struct kho_map_walk *w, phys_addr_t phys,
			unsigned int order, unsigned long nr)
{
	struct kho_run_walk *rw = container_of(w, struct kho_run_walk, w);

	if (rw->nr < ARRAY_SIZE(rw->pfn)) {
		rw->pfn[rw->nr] = PHYS_PFN(phys);
		rw->blocks[rw->nr] = nr;
	}
	rw->nr++;
	return 0;
}

/* Runs are adjacent set bits of one leaf: a leaf boundary ends one. */
static void kho_map_run_test(struct kunit *test)
{
	struct kho_run_walk rw = { .w.run = kho_note_run };
	unsigned long last = KHO_LEAF_BITS - 1, pfn;
	struct kho_mem_map *map;

	map = kunit_kzalloc(test, sizeof(*map), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, map);
	for (pfn = 5; pfn < 8; pfn++)
		KUNIT_ASSERT_EQ(test, kho_map_set(map, pfn, 0), 0);
	KUNIT_ASSERT_EQ(test, kho_map_set(map, 9, 0), 0);
	KUNIT_ASSERT_EQ(test, kho_map_set(map, last, 0), 0);
	KUNIT_ASSERT_EQ(test, kho_map_set(map, last + 1, 0), 0);
	/* order 2, the same frames: another order, another run */
	KUNIT_ASSERT_EQ(test, kho_map_set(map, 4, 2), 0);

	KUNIT_ASSERT_EQ(test, kho_map_walk(map->root, KHO_NR_ORDERS, &rw.w), 0);
	KUNIT_EXPECT_EQ(test, rw.w.nr_blocks, 7ul);
	KUNIT_EXPECT_EQ(test, rw.w.nr_pages, 10ul);
	KUNIT_ASSERT_EQ(test, rw.nr, 5u);
	KUNIT_EXPECT_EQ(test, rw.pfn[0], 5ul);
	KUNIT_EXPECT_EQ(test, rw.blocks[0], 3ul);
	KUNIT_EXPECT_EQ(test, rw.pfn[1], 9ul);
	KUNIT_EXPECT_EQ(test, rw.blocks[1], 1ul);
	KUNIT_EXPECT_EQ(test, rw.pfn[2], last);
	KUNIT_EXPECT_EQ(test, rw.blocks[2], 1ul);
	KUNIT_EXPECT_EQ(test, rw.pfn[3], last + 1);
	KUNIT_EXPECT_EQ(test, rw.blocks[3], 1ul);
	kho_map_free(map);
}

static void kho_scratch_param_test(struct kunit *test)
{
	struct kho_scratch_cfg c = { };

	KUNIT_EXPECT_EQ(test, kho_parse_scratch("200%", &c), 0);
	KUNIT_EXPECT_TRUE(test, c.percent_mode);
	KUNIT_EXPECT_EQ(test, c.percent, 200u);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("16M,256M,32M", &c), 0);
	KUNIT_EXPECT_FALSE(test, c.percent_mode);
	KUNIT_EXPECT_EQ(test, c.lowmem, (u64)SZ_16M);
	KUNIT_EXPECT_EQ(test, c.global, (u64)SZ_256M);
	KUNIT_EXPECT_EQ(test, c.pernode, (u64)SZ_32M);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("0,1G,0", &c), 0);
	KUNIT_EXPECT_EQ(test, c.global, (u64)SZ_1G);

	/* errors leave the previous value alone */
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("0%", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("10001%", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("50%x", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("%", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("abc", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("16M,256M", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("16M,256M,32M,1", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("16M,0,32M", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch("", &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, kho_parse_scratch(NULL, &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, c.global, (u64)SZ_1G);
}

static struct kunit_case kho_test_cases[] = {
	KUNIT_CASE(kho_tree_flatten_test),
	KUNIT_CASE(kho_tree_errors_test),
	KUNIT_CASE(kho_map_test_case),
	KUNIT_CASE(kho_map_run_test),
	KUNIT_CASE(kho_scratch_param_test),
	{}
};

static struct kunit_suite kho_test_suite = {
	.name = "kexec_handover",
	.test_cases = kho_test_cases,
};

kunit_test_suite(kho_test_suite);

MODULE_DESCRIPTION("KUnit tests for Kexec HandOver");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
