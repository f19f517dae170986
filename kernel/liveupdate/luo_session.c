// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update sessions: named groups of preserved files, each held by an
 * anonymous-inode fd.
 *
 * Outgoing sessions are created on /dev/liveupdate and handed to the next
 * kernel if their fd is still open when KHO finalizes; closing the fd
 * before that drops the session and unpreserves its files. Incoming
 * sessions are read from the handover at boot; userspace retrieves each
 * one once by name, takes its files back by token, and finishes it,
 * explicitly or by closing the fd.
 */
#define pr_fmt(fmt) "liveupdate: " fmt

#include <linux/anon_inodes.h>
#include <linux/debugfs.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "luo_internal.h"

static LIST_HEAD(luo_sessions_out);
static LIST_HEAD(luo_sessions_in);
static unsigned int luo_nr_sessions_out;

/* A name from userspace must be NUL-terminated in its array, and not empty. */
static int luo_session_check_name(const u8 *name)
{
	size_t len = strnlen((const char *)name, LIVEUPDATE_SESSION_NAME_LENGTH);

	if (!len || len == LIVEUPDATE_SESSION_NAME_LENGTH)
		return -EINVAL;
	return 0;
}

static struct luo_session *luo_session_find(struct list_head *head,
					    const char *name)
{
	struct luo_session *session;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, head, list)
		if (!strcmp(session->name, name))
			return session;
	return NULL;
}

static struct luo_session *luo_session_alloc(const char *name, bool incoming)
{
	struct luo_session *session;

	session = kzalloc(sizeof(*session), GFP_KERNEL);
	if (!session)
		return NULL;
	strscpy(session->name, name, sizeof(session->name));
	INIT_LIST_HEAD(&session->list);
	INIT_LIST_HEAD(&session->files);
	session->incoming = incoming;
	return session;
}

/* Drop an outgoing session and unpreserve everything in it. */
static void luo_session_destroy_out(struct luo_session *session)
{
	lockdep_assert_held(&luo_mutex);
	luo_file_unpreserve_all(session);
	list_del(&session->list);
	luo_nr_sessions_out--;
	kfree(session);
}

/* ----- the session fd ----- */

static int luo_session_release(struct inode *inode, struct file *file)
{
	struct luo_session *session = file->private_data;

	/* a file whose fd never reached userspace */
	if (!session)
		return 0;

	mutex_lock(&luo_mutex);
	if (session->incoming) {
		/* closing a retrieved session finishes it, ready or not */
		luo_file_finish_all(session, true);
		list_del(&session->list);
		kfree(session);
	} else if (luo_frozen) {
		/* already in the handover: dropped at unfreeze, if any */
		session->orphaned = true;
	} else {
		luo_session_destroy_out(session);
	}
	mutex_unlock(&luo_mutex);
	return 0;
}

static int luo_session_preserve_fd(struct luo_ucmd *ucmd)
{
	struct liveupdate_session_preserve_fd *cmd = ucmd->cmd;
	struct luo_session *session = ucmd->ctx;
	int err;

	mutex_lock(&luo_mutex);
	if (session->incoming)
		err = -EINVAL;
	else if (luo_frozen)
		err = -EBUSY;
	else
		err = luo_file_preserve(session, cmd->fd, cmd->token);
	mutex_unlock(&luo_mutex);
	return err;
}

static int luo_session_retrieve_fd(struct luo_ucmd *ucmd)
{
	struct liveupdate_session_retrieve_fd *cmd = ucmd->cmd;
	struct luo_session *session = ucmd->ctx;
	struct file *file;
	int fd, err;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;

	mutex_lock(&luo_mutex);
	if (!session->incoming)
		err = -EINVAL;
	else
		err = luo_file_retrieve(session, cmd->token, &file);
	mutex_unlock(&luo_mutex);
	if (err)
		goto err_put_fd;

	cmd->fd = fd;
	err = luo_ucmd_respond(ucmd, sizeof(*cmd));
	if (err)
		goto err_put_file;
	fd_install(fd, file);
	return 0;

err_put_file:
	fput(file);
err_put_fd:
	put_unused_fd(fd);
	return err;
}

static int luo_session_finish(struct luo_ucmd *ucmd)
{
	struct liveupdate_session_finish *cmd = ucmd->cmd;
	struct luo_session *session = ucmd->ctx;
	int err;

	if (cmd->reserved)
		return -EINVAL;

	mutex_lock(&luo_mutex);
	if (!session->incoming)
		err = -EINVAL;
	else
		err = luo_file_finish_all(session, false);
	mutex_unlock(&luo_mutex);
	return err;
}

static_assert(sizeof_field(struct liveupdate_session_get_name, name) ==
	      sizeof_field(struct luo_session, name));

/* The name is set at creation or retrieval and never changes. */
static int luo_session_get_name(struct luo_ucmd *ucmd)
{
	struct liveupdate_session_get_name *cmd = ucmd->cmd;
	struct luo_session *session = ucmd->ctx;

	if (cmd->reserved)
		return -EINVAL;
	memcpy(cmd->name, session->name, sizeof(cmd->name));
	return luo_ucmd_respond(ucmd, sizeof(*cmd));
}

static const struct luo_ioctl_op luo_session_ops[] = {
	LUO_IOCTL_OP(LIVEUPDATE_SESSION_PRESERVE_FD, luo_session_preserve_fd,
		     struct liveupdate_session_preserve_fd, token),
	LUO_IOCTL_OP(LIVEUPDATE_SESSION_RETRIEVE_FD, luo_session_retrieve_fd,
		     struct liveupdate_session_retrieve_fd, token),
	LUO_IOCTL_OP(LIVEUPDATE_SESSION_FINISH, luo_session_finish,
		     struct liveupdate_session_finish, reserved),
	LUO_IOCTL_OP(LIVEUPDATE_SESSION_GET_NAME, luo_session_get_name,
		     struct liveupdate_session_get_name, name),
};

static long luo_session_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	return luo_ioctl_dispatch(luo_session_ops, ARRAY_SIZE(luo_session_ops),
				  cmd, arg, file->private_data);
}

static const struct file_operations luo_session_fops = {
	.owner = THIS_MODULE,
	.release = luo_session_release,
	.unlocked_ioctl = luo_session_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * A session fd is an anonymous inode named like mainline's, after the
 * session: "anon_inode:[luo_session] NAME" in /proc/PID/fd.
 */
static struct file *luo_session_getfile(struct luo_session *session)
{
	char name[sizeof("[luo_session] ") + LIVEUPDATE_SESSION_NAME_LENGTH];

	snprintf(name, sizeof(name), "[luo_session] %s", session->name);
	return anon_inode_getfile(name, &luo_session_fops, session, O_RDWR);
}

/* ----- ioctls on /dev/liveupdate ----- */

/**
 * luo_session_create_ioctl - LIVEUPDATE_IOCTL_CREATE_SESSION
 * @ucmd: the ioctl; its cmd is a struct liveupdate_ioctl_create_session
 *
 * Return: 0; -EINVAL for a bad name; -EEXIST if an outgoing session has
 * the name; -EBUSY once frozen; -ENOMEM, -EMFILE, -ENFILE or -EFAULT.
 */
int luo_session_create_ioctl(struct luo_ucmd *ucmd)
{
	struct liveupdate_ioctl_create_session *cmd = ucmd->cmd;
	struct luo_session *session;
	struct file *file;
	int fd, err = 0;

	err = luo_session_check_name(cmd->name);
	if (err)
		return err;
	session = luo_session_alloc((const char *)cmd->name, false);
	if (!session)
		return -ENOMEM;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto err_free_session;
	}

	mutex_lock(&luo_mutex);
	if (luo_frozen)
		err = -EBUSY;
	else if (luo_session_find(&luo_sessions_out, session->name))
		err = -EEXIST;
	if (err)
		goto err_unlock;
	file = luo_session_getfile(session);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto err_unlock;
	}
	list_add_tail(&session->list, &luo_sessions_out);
	luo_nr_sessions_out++;
	mutex_unlock(&luo_mutex);

	cmd->fd = fd;
	err = luo_ucmd_respond(ucmd, sizeof(*cmd));
	if (err) {
		/* its release drops the new, empty session */
		fput(file);
		put_unused_fd(fd);
		return err;
	}
	fd_install(fd, file);
	return 0;

err_unlock:
	mutex_unlock(&luo_mutex);
	put_unused_fd(fd);
err_free_session:
	kfree(session);
	return err;
}

/**
 * luo_session_retrieve_ioctl - LIVEUPDATE_IOCTL_RETRIEVE_SESSION
 * @ucmd: the ioctl; its cmd is a struct liveupdate_ioctl_retrieve_session
 *
 * Return: 0; -EINVAL for a bad name or a session already retrieved;
 * -ENOENT if no incoming session has the name; -ENOMEM, -EMFILE or
 * -EFAULT.
 */
int luo_session_retrieve_ioctl(struct luo_ucmd *ucmd)
{
	struct liveupdate_ioctl_retrieve_session *cmd = ucmd->cmd;
	struct luo_session *session;
	struct file *file;
	int fd, err = 0;

	err = luo_session_check_name(cmd->name);
	if (err)
		return err;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;

	mutex_lock(&luo_mutex);
	session = luo_session_find(&luo_sessions_in, (const char *)cmd->name);
	if (!session)
		err = -ENOENT;
	else if (session->retrieved)
		err = -EINVAL;
	if (err)
		goto err_unlock;
	file = luo_session_getfile(session);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto err_unlock;
	}
	session->retrieved = true;
	mutex_unlock(&luo_mutex);

	cmd->fd = fd;
	err = luo_ucmd_respond(ucmd, sizeof(*cmd));
	if (err)
		goto err_put_file;
	fd_install(fd, file);
	return 0;

err_put_file:
	/* no fd reached userspace: leave the session to be retrieved again */
	mutex_lock(&luo_mutex);
	session->retrieved = false;
	mutex_unlock(&luo_mutex);
	file->private_data = NULL;
	fput(file);
	goto err_put_fd;
err_unlock:
	mutex_unlock(&luo_mutex);
err_put_fd:
	put_unused_fd(fd);
	return err;
}

/* ----- freeze, serialization, incoming ----- */

/**
 * luo_session_count_out - count what would be handed over
 * @nr_files: receives the number of files in outgoing sessions
 *
 * Return: the number of outgoing sessions.
 */
unsigned int luo_session_count_out(unsigned int *nr_files)
{
	struct luo_session *session;
	unsigned int files = 0;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_out, list)
		files += session->nr_files;
	*nr_files = files;
	return luo_nr_sessions_out;
}

/**
 * luo_session_enter_all - freeze or quiesce every outgoing session's files
 * @stage: LUO_FREEZE (finalize) or LUO_QUIESCE (the kexec)
 *
 * On failure the sessions taken into @stage so far are taken out of it.
 *
 * Return: 0 or the first handler error.
 */
int luo_session_enter_all(enum luo_stage stage)
{
	struct luo_session *session;
	int err;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_out, list) {
		err = luo_file_enter_all(session, stage);
		if (err)
			goto err_leave;
	}
	return 0;

err_leave:
	list_for_each_entry_continue_reverse(session, &luo_sessions_out, list)
		luo_file_leave_all(session, stage);
	return err;
}

/**
 * luo_session_leave_all - undo luo_session_enter_all()
 * @stage: the stage to take the files out of
 */
void luo_session_leave_all(enum luo_stage stage)
{
	struct luo_session *session;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry_reverse(session, &luo_sessions_out, list)
		luo_file_leave_all(session, stage);
}

/**
 * luo_session_reap_orphans - drop sessions whose fd was closed while frozen
 *
 * Called after unfreeze, once preserved memory can be unpreserved again.
 */
void luo_session_reap_orphans(void)
{
	struct luo_session *session, *tmp;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry_safe(session, tmp, &luo_sessions_out, list)
		if (session->orphaned)
			luo_session_destroy_out(session);
}

/**
 * luo_session_serialize_all - write the outgoing sessions and their files
 * @out: the writer (luo_handover.c)
 *
 * Return: 0 or a negative errno from the writer.
 */
int luo_session_serialize_all(struct luo_out *out)
{
	struct luo_session *session;
	int err;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_out, list) {
		err = luo_out_session(out, session);
		if (!err)
			err = luo_file_serialize(session, out);
		if (err)
			return err;
	}
	return 0;
}

static int luo_file_record_cmp(const void *a, const void *b)
{
	const struct luo_file *x = *(const struct luo_file * const *)a;
	const struct luo_file *y = *(const struct luo_file * const *)b;

	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return strcmp(x->compatible, y->compatible);
}

/**
 * luo_session_refuse_shared - refuse incoming files that share a record
 *
 * A handler claims what its record names. Two incoming files that hand over
 * the same record would both claim the same memory, and nothing tells
 * which one is right: both are refused, and what the record names stays
 * reserved. Called once every incoming session is read.
 */
void __init luo_session_refuse_shared(void)
{
	struct luo_session *session;
	struct luo_file *lf, **all;
	unsigned int i, n = 0;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_in, list)
		n += session->nr_files;
	if (n < 2)
		return;
	all = kvmalloc_array(n, sizeof(*all), GFP_KERNEL);
	n = 0;
	list_for_each_entry(session, &luo_sessions_in, list) {
		list_for_each_entry(lf, &session->files, list) {
			/* unchecked: safe only to refuse them all */
			if (!all)
				lf->refused = true;
			else
				all[n++] = lf;
		}
	}
	if (!all) {
		pr_err("no memory to check incoming files for shared records: all refused\n");
		return;
	}
	sort(all, n, sizeof(*all), luo_file_record_cmp, NULL);
	for (i = 1; i < n; i++) {
		if (!luo_file_record_cmp(&all[i - 1], &all[i])) {
			all[i - 1]->refused = true;
			all[i]->refused = true;
		}
	}
	kvfree(all);

	list_for_each_entry(session, &luo_sessions_in, list)
		list_for_each_entry(lf, &session->files, list)
			if (lf->refused)
				pr_err("incoming session %s: file %llu: another file hands over the same %s record %#llx: refused\n",
				       session->name, lf->token, lf->compatible,
				       lf->data);
}

/**
 * luo_session_new_incoming - a new incoming session, on no list yet
 * @name: its name, checked by the caller
 *
 * Return: the session, or NULL without memory.
 */
struct luo_session *__init luo_session_new_incoming(const char *name)
{
	return luo_session_alloc(name, true);
}

/**
 * luo_session_free_incoming - drop an incoming session on no list
 * @session: the session, from luo_session_new_incoming()
 *
 * No handler is called: what its files preserved stays reserved.
 */
void __init luo_session_free_incoming(struct luo_session *session)
{
	luo_file_free_incoming(session);
	kfree(session);
}

/**
 * luo_session_add_incoming - make a complete incoming session retrievable
 * @session: the session, from luo_session_new_incoming(), with its files
 *
 * A session whose name another incoming session has is dropped.
 */
void __init luo_session_add_incoming(struct luo_session *session)
{
	lockdep_assert_held(&luo_mutex);
	if (luo_session_find(&luo_sessions_in, session->name)) {
		pr_err("incoming session %s twice: dropped\n", session->name);
		luo_session_free_incoming(session);
		return;
	}
	list_add_tail(&session->list, &luo_sessions_in);
	pr_info("incoming session %s: %u files\n", session->name,
		session->nr_files);
}

/**
 * luo_session_handler_in_use - does any session still need this handler?
 * @fh: the handler
 *
 * Return: true if a preserved file, or an incoming file bound to it, uses
 * @fh.
 */
bool luo_session_handler_in_use(struct liveupdate_file_handler *fh)
{
	struct luo_session *session;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_out, list)
		if (luo_file_handler_in_session(session, fh))
			return true;
	list_for_each_entry(session, &luo_sessions_in, list)
		if (luo_file_handler_in_session(session, fh))
			return true;
	return false;
}

/**
 * liveupdate_walk_incoming - look at the incoming files of one format
 * @compatible: the handler format
 * @fn: called with the serialized_data of each file of that format that
 *	userspace has not retrieved, in any incoming session; a nonzero
 *	return stops the walk
 * @arg: passed to @fn
 *
 * For a handler that must know what the previous kernel handed over
 * before userspace retrieves anything: vfio-pci keeps the devices its
 * files name from being opened by anyone else meanwhile. What @fn gets
 * is the previous kernel's word, to be checked before any use. @fn runs
 * under the Live Update mutex and must not call back into Live Update.
 *
 * Return: 0, or what @fn returned.
 */
int liveupdate_walk_incoming(const char *compatible,
			     int (*fn)(u64 data, void *arg), void *arg)
{
	struct luo_session *session;
	struct luo_file *lf;
	int ret = 0;

	mutex_lock(&luo_mutex);
	list_for_each_entry(session, &luo_sessions_in, list) {
		list_for_each_entry(lf, &session->files, list) {
			if (lf->file || !lf->compatible ||
			    strcmp(lf->compatible, compatible))
				continue;
			ret = fn(lf->data, arg);
			if (ret)
				goto out;
		}
	}
out:
	mutex_unlock(&luo_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(liveupdate_walk_incoming);

/* ----- debugfs: what is preserved and what came in ----- */

static void luo_session_show_list(struct seq_file *m, struct list_head *head,
				  bool incoming)
{
	const char *dir = incoming ? "in" : "out";
	struct luo_session *session;

	list_for_each_entry(session, head, list) {
		seq_printf(m, "session %s ", dir);
		seq_escape(m, session->name, " \t\n\\");
		seq_printf(m, " %u %s\n", session->nr_files,
			   incoming ? (session->retrieved ? "retrieved" : "pending") :
			   (luo_frozen ? "frozen" : "open"));
		luo_file_show_all(m, session, dir);
	}
}

static int luo_sessions_show(struct seq_file *m, void *unused)
{
	mutex_lock(&luo_mutex);
	luo_session_show_list(m, &luo_sessions_out, false);
	luo_session_show_list(m, &luo_sessions_in, true);
	mutex_unlock(&luo_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(luo_sessions);

/**
 * luo_session_debugfs_init - create liveupdate/sessions in debugfs
 *
 * One line per session and one per file, outgoing then incoming, for
 * operators and their tools (kho-update status); the format is documented
 * in Documentation/kho/kho-update.rst. Nothing depends on it existing.
 */
void __init luo_session_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("liveupdate", NULL);

	debugfs_create_file("sessions", 0400, dir, NULL, &luo_sessions_fops);
}
