// SPDX-License-Identifier: GPL-2.0
/*
 * Kexec HandOver debugfs interface.
 *
 * kho/out/ drives and shows the outgoing handover: "finalize" (write 1 to
 * freeze and flatten, 0 to undo), "fdt_max" (an optional cap on the state
 * tree's size), "scratch_phys" and "scratch_len" (the areas the next kernel
 * boots in), "boot_alloc" (what this kernel allocated early, kexec_file's
 * estimate of what the next one will need in scratch) and "fdt" (the
 * flattened tree once finalized). kho/in/fdt, in a
 * kernel that accepted a handover, is the tree it received.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/seq_file.h>

#include "kexec_handover_internal.h"

static struct dentry *kho_debugfs;

static int kho_finalize_get(void *data, u64 *val)
{
	*val = kho_is_finalized();
	return 0;
}

static int kho_finalize_set(void *data, u64 val)
{
	if (val > 1)
		return -EINVAL;
	return kho_set_finalized(val);
}
DEFINE_DEBUGFS_ATTRIBUTE(kho_finalize_fops, kho_finalize_get, kho_finalize_set,
			 "%llu\n");

static int kho_fdt_max_get(void *data, u64 *val)
{
	*val = kho_fdt_max();
	return 0;
}

static int kho_fdt_max_set(void *data, u64 val)
{
	return kho_set_fdt_max(val);
}
DEFINE_DEBUGFS_ATTRIBUTE(kho_fdt_max_fops, kho_fdt_max_get, kho_fdt_max_set,
			 "%llu\n");

static int kho_scratch_show(struct seq_file *m, void *v)
{
	bool len = m->private;
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++)
		seq_printf(m, "0x%llx\n", len ? kho_scratch[i].size :
						kho_scratch[i].base);
	return 0;
}

static int kho_scratch_open(struct inode *inode, struct file *file)
{
	return single_open(file, kho_scratch_show, inode->i_private);
}

static const struct file_operations kho_scratch_fops = {
	.open = kho_scratch_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static ssize_t kho_out_fdt_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	return kho_read_out_fdt(buf, count, ppos);
}

static const struct file_operations kho_out_fdt_fops = {
	.read = kho_out_fdt_read,
	.llseek = default_llseek,
};

static struct debugfs_blob_wrapper kho_in_fdt_blob;

/**
 * kho_debugfs_init - create kho/out/ and, after a handover, kho/in/
 *
 * Called once from KHO's initcall, when KHO is enabled.
 */
void __init kho_debugfs_init(void)
{
	struct dentry *out, *in;

	kho_debugfs = debugfs_create_dir("kho", NULL);
	out = debugfs_create_dir("out", kho_debugfs);
	debugfs_create_file("finalize", 0600, out, NULL, &kho_finalize_fops);
	debugfs_create_file("fdt_max", 0600, out, NULL, &kho_fdt_max_fops);
	debugfs_create_file("scratch_phys", 0400, out, (void *)false,
			    &kho_scratch_fops);
	debugfs_create_file("scratch_len", 0400, out, (void *)true,
			    &kho_scratch_fops);
	debugfs_create_file("fdt", 0400, out, NULL, &kho_out_fdt_fops);
	debugfs_create_u64("boot_alloc", 0400, out, &kho_boot_alloc);

	if (kho_in.active) {
		in = debugfs_create_dir("in", kho_debugfs);
		kho_in_fdt_blob.data = phys_to_virt(kho_in.fdt_phys);
		kho_in_fdt_blob.size = kho_in.fdt_size;
		debugfs_create_blob("fdt", 0400, in, &kho_in_fdt_blob);
	}
}

#ifdef CONFIG_TEST_KEXEC_HANDOVER
/**
 * kho_debugfs_root - the "kho" debugfs directory, for KHO's test module
 *
 * Return: the dentry, or NULL before kho_debugfs_init() or with KHO off.
 */
struct dentry *kho_debugfs_root(void)
{
	return kho_debugfs;
}
#endif
