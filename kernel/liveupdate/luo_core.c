// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update core: the /dev/liveupdate device, ioctl dispatch, and handing
 * the sessions to the next kernel through KHO.
 *
 * When KHO finalizes (KEXEC_KHO_FINALIZE), every outgoing session's files
 * are frozen and the sessions are handed to KHO (luo_handover.c, in the
 * format <linux/kho/abi/luo.h> describes). What the files stand for may
 * run on (a VM's vCPUs do) until the kexec itself, where KHO sends
 * KEXEC_KHO_QUIESCE and the files are quiesced: stopped, their last state
 * written into the records. If finalization is undone (KEXEC_KHO_UNFREEZE),
 * the handover is removed and the files unfrozen. The next kernel reads
 * the handover at boot into incoming sessions.
 */
#define pr_fmt(fmt) "liveupdate: " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kexec_handover.h>
#include <linux/liveupdate.h>
#include <linux/math64.h>
#include <linux/miscdevice.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>
#include <linux/timex.h>
#include <linux/uaccess.h>

#include "luo_internal.h"

/* liveupdate.quiesce=, not luo_core.quiesce= */
#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "liveupdate."

/* Serializes all of Live Update; see luo_internal.h. */
DEFINE_MUTEX(luo_mutex);
bool luo_frozen;

/* /dev/liveupdate has one opener at a time. */
static atomic_t luo_dev_busy = ATOMIC_INIT(0);

/**
 * liveupdate_enabled - can files be handed to the next kernel?
 *
 * Live Update runs on top of KHO, so this is true when KHO is enabled
 * (kho=on). Handlers may register before the core is initialized.
 *
 * Return: true if Live Update is available on this boot.
 */
bool liveupdate_enabled(void)
{
	return kho_is_enabled();
}
EXPORT_SYMBOL_GPL(liveupdate_enabled);

/* ----- ioctl dispatch ----- */

/**
 * luo_ioctl_dispatch - run an ioctl from a table of struct luo_ioctl_op
 * @ops: the table
 * @nr_ops: its number of rows
 * @cmd: the ioctl command
 * @arg: the user pointer to its argument structure
 * @ctx: passed to the handler in struct luo_ucmd
 *
 * Finds the row whose number is @cmd (the numbers carry no size or
 * direction bits, so only the exact number matches), reads the argument's
 * leading size, rejects a size below the row's minimum, copies the
 * argument in with copy_struct_from_user() (so larger structures are
 * accepted if the extra bytes are zero), and runs the row's handler.
 *
 * Return: the handler's result, -ENOTTY for an unknown command, -EINVAL
 * for a too small size, -E2BIG for non-zero unknown bytes, or -EFAULT.
 */
long luo_ioctl_dispatch(const struct luo_ioctl_op *ops, unsigned int nr_ops,
			unsigned int cmd, unsigned long arg, void *ctx)
{
	const struct luo_ioctl_op *op = NULL;
	union luo_ucmd_buffer buf;
	struct luo_ucmd ucmd = {};
	unsigned int i;
	int err;

	if (_IOC_TYPE(cmd) != LIVEUPDATE_IOCTL_TYPE)
		return -ENOTTY;
	for (i = 0; i < nr_ops; i++) {
		if (ops[i].ioctl_num == cmd) {
			op = &ops[i];
			break;
		}
	}
	if (!op)
		return -ENOTTY;

	ucmd.ubuffer = (void __user *)arg;
	err = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (err)
		return err;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;
	err = copy_struct_from_user(&buf, op->size, ucmd.ubuffer,
				    ucmd.user_size);
	if (err)
		return err;
	ucmd.cmd = &buf;
	ucmd.ctx = ctx;
	return op->execute(&ucmd);
}

/**
 * luo_ucmd_respond - copy an ioctl's output members back to the caller
 * @ucmd: the ioctl
 * @kernel_size: size of the kernel's structure
 *
 * Copies no more than the caller's structure holds.
 *
 * Return: 0 or -EFAULT.
 */
int luo_ucmd_respond(struct luo_ucmd *ucmd, size_t kernel_size)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, kernel_size)))
		return -EFAULT;
	return 0;
}

/* ----- /dev/liveupdate ----- */

static const struct luo_ioctl_op luo_dev_ops[] = {
	LUO_IOCTL_OP(LIVEUPDATE_IOCTL_CREATE_SESSION, luo_session_create_ioctl,
		     struct liveupdate_ioctl_create_session, name),
	LUO_IOCTL_OP(LIVEUPDATE_IOCTL_RETRIEVE_SESSION,
		     luo_session_retrieve_ioctl,
		     struct liveupdate_ioctl_retrieve_session, name),
};

static long luo_dev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	return luo_ioctl_dispatch(luo_dev_ops, ARRAY_SIZE(luo_dev_ops), cmd,
				  arg, NULL);
}

static int luo_dev_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (atomic_cmpxchg(&luo_dev_busy, 0, 1))
		return -EBUSY;
	return nonseekable_open(inode, file);
}

/* Sessions live on their own fds: closing the device only frees it. */
static int luo_dev_release(struct inode *inode, struct file *file)
{
	atomic_set_release(&luo_dev_busy, 0);
	return 0;
}

static const struct file_operations luo_dev_fops = {
	.owner = THIS_MODULE,
	.open = luo_dev_open,
	.release = luo_dev_release,
	.unlocked_ioctl = luo_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice luo_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "liveupdate",
	.fops = &luo_dev_fops,
};

/* ----- freeze and hand over ----- */

/* Hand the outgoing sessions to KHO, if there are any. */
static int luo_serialize(void)
{
	unsigned int nr_sessions, nr_files;
	int err;

	lockdep_assert_held(&luo_mutex);
	nr_sessions = luo_session_count_out(&nr_files);
	if (!nr_sessions)
		return 0;
	err = luo_handover_write();
	if (err)
		return err;
	pr_info("handing over %u sessions with %u files\n", nr_sessions,
		nr_files);
	return 0;
}

/*
 * When the files are quiesced (running VMs stopped and captured): on the
 * kexec, after the operator's last step, by default, for the shortest
 * blackout; or at finalize, so that whatever cannot be quiesced fails the
 * finalize rather than the kexec. Set with liveupdate.quiesce=kexec|finalize
 * on the command line or in /sys/module/liveupdate/parameters/quiesce,
 * which cannot change while the handover is finalized.
 */
static bool luo_quiesce_at_finalize;
/* Quiesced, and by which: finalize (undone by unfreeze) or the kexec. */
static bool luo_quiesced, luo_quiesced_on_kexec;

static int luo_quiesce_param_set(const char *val,
				 const struct kernel_param *kp)
{
	bool at_finalize;
	int err = 0;

	if (sysfs_streq(val, "kexec"))
		at_finalize = false;
	else if (sysfs_streq(val, "finalize"))
		at_finalize = true;
	else
		return -EINVAL;
	mutex_lock(&luo_mutex);
	if (luo_frozen)
		err = -EBUSY;
	else
		luo_quiesce_at_finalize = at_finalize;
	mutex_unlock(&luo_mutex);
	return err;
}

static int luo_quiesce_param_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  READ_ONCE(luo_quiesce_at_finalize) ? "finalize" : "kexec");
}

static const struct kernel_param_ops luo_quiesce_param_ops = {
	.set = luo_quiesce_param_set,
	.get = luo_quiesce_param_get,
};
module_param_cb(quiesce, &luo_quiesce_param_ops, NULL, 0644);
MODULE_PARM_DESC(quiesce, "when running files stop: kexec (default) or finalize");

static int luo_quiesce_locked(const char *when)
{
	unsigned int nr_files;
	u64 start = ktime_get_ns();
	int err;

	lockdep_assert_held(&luo_mutex);
	err = luo_session_enter_all(LUO_QUIESCE);
	if (err) {
		pr_err("%s: cannot quiesce the sessions: %d\n", when, err);
		return err;
	}
	luo_quiesced = true;
	luo_session_count_out(&nr_files);
	/* the cycle counter (TSC) runs on across kexec: places the blackout */
	pr_info("%s: quiesced %u files in %llu us, TSC %llu\n", when, nr_files,
		div_u64(ktime_get_ns() - start, NSEC_PER_USEC),
		(unsigned long long)get_cycles());
	return 0;
}

static void luo_unquiesce_locked(void)
{
	lockdep_assert_held(&luo_mutex);
	if (!luo_quiesced)
		return;
	luo_session_leave_all(LUO_QUIESCE);
	luo_quiesced = false;
	luo_quiesced_on_kexec = false;
}

static int luo_freeze(void)
{
	int err = 0;

	mutex_lock(&luo_mutex);
	if (luo_frozen)
		goto out_unlock;
	err = luo_session_enter_all(LUO_FREEZE);
	if (err)
		goto out_unlock;
	err = luo_serialize();
	if (err) {
		pr_err("cannot serialize the sessions: %d\n", err);
		goto err_leave;
	}
	if (luo_quiesce_at_finalize) {
		err = luo_quiesce_locked("finalize");
		if (err)
			goto err_remove;
	}
	luo_frozen = true;
	goto out_unlock;

err_remove:
	luo_handover_remove();
err_leave:
	luo_session_leave_all(LUO_FREEZE);
out_unlock:
	mutex_unlock(&luo_mutex);
	return err;
}

static void luo_unfreeze(void)
{
	mutex_lock(&luo_mutex);
	if (!luo_frozen)
		goto out_unlock;
	luo_unquiesce_locked();
	luo_handover_remove();
	luo_session_leave_all(LUO_FREEZE);
	luo_frozen = false;
	luo_session_reap_orphans();
out_unlock:
	mutex_unlock(&luo_mutex);
}

/* On the kexec: quiesce, unless finalize did. */
static int luo_kexec_quiesce(void)
{
	int err = 0;

	mutex_lock(&luo_mutex);
	if (luo_frozen && !luo_quiesced) {
		err = luo_quiesce_locked("kexec");
		luo_quiesced_on_kexec = !err;
	}
	mutex_unlock(&luo_mutex);
	return err;
}

/* The kexec was refused: what it quiesced runs on, still frozen. */
static void luo_kexec_unquiesce(void)
{
	mutex_lock(&luo_mutex);
	if (luo_quiesced_on_kexec) {
		luo_unquiesce_locked();
		pr_info("kexec refused: the sessions run on, still frozen\n");
	}
	mutex_unlock(&luo_mutex);
}

/* Would a finalize hand over anything? */
static bool luo_in_use(void)
{
	unsigned int nr_files;
	bool used;

	mutex_lock(&luo_mutex);
	used = luo_frozen || luo_session_count_out(&nr_files);
	mutex_unlock(&luo_mutex);
	return used;
}

static int luo_kho_notifier(struct notifier_block *nb, unsigned long event,
			    void *data)
{
	switch (event) {
	case KEXEC_KHO_FINALIZE:
		return notifier_from_errno(luo_freeze());
	case KEXEC_KHO_UNFREEZE:
		luo_unfreeze();
		return NOTIFY_OK;
	case KEXEC_KHO_IN_USE:
		return notifier_from_errno(luo_in_use() ? -EBUSY : 0);
	case KEXEC_KHO_QUIESCE:
		return notifier_from_errno(luo_kexec_quiesce());
	case KEXEC_KHO_UNQUIESCE:
		luo_kexec_unquiesce();
		return NOTIFY_OK;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block luo_kho_nb = {
	.notifier_call = luo_kho_notifier,
	.priority = KHO_PRIO_LIVEUPDATE,
};

static int __init luo_init(void)
{
	int err;

	if (!kho_is_enabled())
		return 0;

	luo_handover_read();
	err = register_kho_notifier(&luo_kho_nb);
	if (err) {
		pr_err("cannot register the KHO notifier: %d\n", err);
		return err;
	}
	err = misc_register(&luo_miscdev);
	if (err) {
		pr_err("cannot register /dev/liveupdate: %d\n", err);
		goto err_unregister_notifier;
	}
	luo_session_debugfs_init();
	return 0;

err_unregister_notifier:
	unregister_kho_notifier(&luo_kho_nb);
	return err;
}
late_initcall(luo_init);
