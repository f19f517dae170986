// SPDX-License-Identifier: GPL-2.0
/*
 * Kexec HandOver sysfs interface: /sys/kernel/kho/.
 *
 * The operator's interface to the outgoing handover, for hosts where
 * debugfs is locked down or not mounted at all (Secure Boot hosts run the
 * lockdown LSM, which refuses every debugfs write). It is always there
 * when KHO is built in:
 *
 *   enabled       1 when KHO is on for this boot (kho=on), else 0
 *   finalize      reads 1 once the handover is frozen; writing 1 freezes
 *                 it, writing 0 undoes that (CAP_SYS_ADMIN)
 *   incoming      1 when this kernel accepted a handover from the last one
 *   scratch_phys  the scratch areas the next kernel boots in, one
 *   scratch_len   address or length per line, in the same order
 *   boot_alloc    bytes this kernel allocated early: what kexec_file_load
 *                 expects the next kernel to need in scratch
 *
 * The debugfs directory kho/ shows the same and more (the flattened trees)
 * for debugging. Documentation/ABI/testing/sysfs-kernel-kho has the ABI.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/capability.h>
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "kexec_handover_internal.h"

static ssize_t enabled_show(struct kobject *kobj, struct kobj_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", kho_is_enabled());
}

static struct kobj_attribute enabled_attr = __ATTR_RO(enabled);

static ssize_t finalize_show(struct kobject *kobj, struct kobj_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%d\n", kho_is_enabled() && kho_is_finalized());
}

static ssize_t finalize_store(struct kobject *kobj, struct kobj_attribute *attr,
			      const char *buf, size_t count)
{
	bool on;
	int err;

	/* the file mode is not enough: freezing stops every preserved VM */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	err = kstrtobool(buf, &on);
	if (err)
		return err;
	err = kho_set_finalized(on);
	return err ? err : count;
}

static struct kobj_attribute finalize_attr = __ATTR_RW_MODE(finalize, 0644);

static ssize_t incoming_show(struct kobject *kobj, struct kobj_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%d\n", kho_is_incoming());
}

static struct kobj_attribute incoming_attr = __ATTR_RO(incoming);

static ssize_t kho_scratch_emit(char *buf, bool len)
{
	unsigned int i;
	int n = 0;

	if (!kho_is_enabled())
		return 0;
	for (i = 0; i < kho_nr_scratch; i++)
		n += sysfs_emit_at(buf, n, "0x%llx\n",
				   len ? kho_scratch[i].size : kho_scratch[i].base);
	return n;
}

static ssize_t scratch_phys_show(struct kobject *kobj,
				 struct kobj_attribute *attr, char *buf)
{
	return kho_scratch_emit(buf, false);
}

static struct kobj_attribute scratch_phys_attr = __ATTR_RO(scratch_phys);

static ssize_t scratch_len_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return kho_scratch_emit(buf, true);
}

static struct kobj_attribute scratch_len_attr = __ATTR_RO(scratch_len);

static ssize_t boot_alloc_show(struct kobject *kobj,
			       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", kho_boot_alloc);
}

static struct kobj_attribute boot_alloc_attr = __ATTR_RO(boot_alloc);

static struct attribute *kho_sysfs_attrs[] = {
	&enabled_attr.attr,
	&finalize_attr.attr,
	&incoming_attr.attr,
	&scratch_phys_attr.attr,
	&scratch_len_attr.attr,
	&boot_alloc_attr.attr,
	NULL,
};

static const struct attribute_group kho_sysfs_group = {
	.attrs = kho_sysfs_attrs,
};

/**
 * kho_sysfs_init - create /sys/kernel/kho/
 *
 * Called once from KHO's initcall, whether KHO is enabled or not, so that
 * tools can tell a kernel booted with kho=off from one without KHO.
 */
void __init kho_sysfs_init(void)
{
	struct kobject *kobj;

	kobj = kobject_create_and_add("kho", kernel_kobj);
	if (!kobj) {
		pr_warn("cannot create /sys/kernel/kho\n");
		return;
	}
	if (sysfs_create_group(kobj, &kho_sysfs_group)) {
		pr_warn("cannot populate /sys/kernel/kho\n");
		kobject_put(kobj);
	}
}
