// SPDX-License-Identifier: GPL-2.0
/*
 * A Live Update file handler that lives in a loadable module, for the
 * selftests (tools/testing/selftests/liveupdate/luo_module.c). It carries
 * eventfds: only a magic number crosses the kexec, and retrieve gives back
 * an empty file of this module's own. What it tests is Live Update itself:
 * that no file bound to a handler outlives the handler's module, so that
 * unloading a module can never leave its handler registered behind it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/err.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/liveupdate.h>
#include <linux/module.h>
#include <linux/slab.h>

#define TEST_LUO_COMPATIBLE	"test-module-v1"
#define TEST_LUO_MAGIC		0x6c756f2d6d6f6431ULL	/* "luo-mod1" */

static int fail_retrieve;
module_param(fail_retrieve, int, 0644);
MODULE_PARM_DESC(fail_retrieve,
		 "Fail this many retrieves with -EAGAIN, keeping state for the retry");

/* What a failed retrieve leaves for the retry, as a real handler would. */
struct test_luo_partial {
	u64 tries;
};

static const struct file_operations test_luo_fops = {
	.owner = THIS_MODULE,
};

static bool test_luo_can_preserve(struct liveupdate_file_handler *fh,
				  struct file *file)
{
	struct eventfd_ctx *ctx = eventfd_ctx_fileget(file);

	if (IS_ERR(ctx))
		return false;
	eventfd_ctx_put(ctx);
	return true;
}

static int test_luo_preserve(struct liveupdate_file_op_args *args)
{
	args->serialized_data = TEST_LUO_MAGIC;
	return 0;
}

static void test_luo_unpreserve(struct liveupdate_file_op_args *args)
{
}

static int test_luo_retrieve(struct liveupdate_file_op_args *args)
{
	struct test_luo_partial *partial = args->private_data;
	struct file *file;

	if (args->serialized_data != TEST_LUO_MAGIC) {
		pr_err("bad record %#llx\n", args->serialized_data);
		return -EINVAL;
	}
	if (!partial) {
		partial = kzalloc(sizeof(*partial), GFP_KERNEL);
		if (!partial)
			return -ENOMEM;
		args->private_data = partial;
	}
	partial->tries++;
	if (READ_ONCE(fail_retrieve) > 0) {
		WRITE_ONCE(fail_retrieve, fail_retrieve - 1);
		return -EAGAIN;
	}
	file = anon_inode_getfile("[test-luo-module]", &test_luo_fops, NULL,
				  O_RDONLY);
	if (IS_ERR(file))
		return PTR_ERR(file);
	pr_info("retrieved after %llu tries\n", partial->tries);
	args->file = file;
	return 0;
}

static void test_luo_finish(struct liveupdate_file_op_args *args)
{
	kfree(args->private_data);
}

static const struct liveupdate_file_ops test_luo_ops = {
	.can_preserve = test_luo_can_preserve,
	.preserve = test_luo_preserve,
	.unpreserve = test_luo_unpreserve,
	.retrieve = test_luo_retrieve,
	.finish = test_luo_finish,
};

static struct liveupdate_file_handler test_luo_handler = {
	.ops = &test_luo_ops,
	.compatible = TEST_LUO_COMPATIBLE,
	.owner = THIS_MODULE,
};

static int __init test_luo_init(void)
{
	return liveupdate_register_file_handler(&test_luo_handler);
}
module_init(test_luo_init);

static void __exit test_luo_exit(void)
{
	int err = liveupdate_unregister_file_handler(&test_luo_handler);

	/* as KVM does: an exit function cannot fail, only say so */
	if (err)
		pr_err("handler still registered: %d\n", err);
}
module_exit(test_luo_exit);

MODULE_DESCRIPTION("Live Update file handler in a module, for selftests");
MODULE_LICENSE("GPL");
