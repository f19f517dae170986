// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update files: the registry of file handlers, and the files of each
 * session, from preserve to freeze in the outgoing kernel and from
 * retrieve to finish in the next one.
 *
 * Everything here runs under luo_mutex.
 */
#define pr_fmt(fmt) "liveupdate: " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "luo_internal.h"

static LIST_HEAD(luo_file_handlers);

/* Every file in an outgoing session, indexed by its struct file pointer. */
static DEFINE_XARRAY(luo_preserved_files);

/* ----- handler registry ----- */

/**
 * liveupdate_register_file_handler - let Live Update preserve a kind of file
 * @fh: the handler, with @fh->ops and @fh->compatible set; it must stay
 *	registered while any session uses it
 *
 * Return: 0; -EINVAL if a required callback is missing or the compatible
 * string is empty or too long; -EEXIST if @fh or another handler with its
 * compatible string is registered; -EOPNOTSUPP when Live Update is off.
 */
int liveupdate_register_file_handler(struct liveupdate_file_handler *fh)
{
	const struct liveupdate_file_ops *ops = fh->ops;
	struct liveupdate_file_handler *it;
	size_t len;
	int err = 0;

	if (!liveupdate_enabled())
		return -EOPNOTSUPP;
	if (!ops || !ops->can_preserve || !ops->preserve || !ops->unpreserve ||
	    !ops->retrieve || !ops->finish)
		return -EINVAL;
	len = fh->compatible ?
	      strnlen(fh->compatible, LIVEUPDATE_HNDL_COMPAT_LENGTH) : 0;
	if (!len || len == LIVEUPDATE_HNDL_COMPAT_LENGTH)
		return -EINVAL;

	mutex_lock(&luo_mutex);
	list_for_each_entry(it, &luo_file_handlers, list) {
		if (it == fh || !strcmp(it->compatible, fh->compatible)) {
			err = -EEXIST;
			break;
		}
	}
	if (!err)
		list_add_tail(&fh->list, &luo_file_handlers);
	mutex_unlock(&luo_mutex);
	return err;
}
EXPORT_SYMBOL_GPL(liveupdate_register_file_handler);

/**
 * liveupdate_unregister_file_handler - undo liveupdate_register_file_handler()
 * @fh: the handler
 *
 * A handler in a module can always be unregistered from the module's exit
 * function: every file bound to it holds the module (see @fh->owner).
 *
 * Return: 0; -EBUSY while a session holds a file bound to @fh (preserved,
 * or incoming and retrieved or tried); -ENOENT if @fh is not registered.
 */
int liveupdate_unregister_file_handler(struct liveupdate_file_handler *fh)
{
	struct liveupdate_file_handler *it;
	int err = -ENOENT;

	mutex_lock(&luo_mutex);
	list_for_each_entry(it, &luo_file_handlers, list) {
		if (it != fh)
			continue;
		if (luo_session_handler_in_use(fh)) {
			err = -EBUSY;
		} else {
			list_del_init(&fh->list);
			err = 0;
		}
		break;
	}
	mutex_unlock(&luo_mutex);
	return err;
}
EXPORT_SYMBOL_GPL(liveupdate_unregister_file_handler);

static struct liveupdate_file_handler *luo_handler_for_file(struct file *file)
{
	struct liveupdate_file_handler *fh;

	list_for_each_entry(fh, &luo_file_handlers, list)
		if (fh->ops->can_preserve(fh, file))
			return fh;
	return NULL;
}

/*
 * Bind @lf to @fh, holding @fh's module for as long as @lf may call it: a
 * module being unloaded has no new files bound to it.
 */
static bool luo_file_hold(struct luo_file *lf,
			  struct liveupdate_file_handler *fh)
{
	if (!try_module_get(fh->owner))
		return false;
	lf->fh = fh;
	return true;
}

/* Undo luo_file_hold(), once @lf calls its handler no more. */
static void luo_file_release(struct luo_file *lf)
{
	if (lf->fh)
		module_put(lf->fh->owner);
	lf->fh = NULL;
}

/* The handler for an incoming file, found by its compatible string. */
static struct liveupdate_file_handler *luo_file_bind(struct luo_file *lf)
{
	struct liveupdate_file_handler *fh;

	if (lf->fh)
		return lf->fh;
	list_for_each_entry(fh, &luo_file_handlers, list) {
		if (!strcmp(fh->compatible, lf->compatible))
			return luo_file_hold(lf, fh) ? fh : NULL;
	}
	return NULL;
}

/* Callback arguments for @lf, with its handler already known. */
static void luo_file_args(struct luo_file *lf,
			  struct liveupdate_file_op_args *args)
{
	*args = (struct liveupdate_file_op_args) {
		.handler = lf->fh,
		.retrieved = lf->file && lf->compatible,
		.file = lf->file,
		.serialized_data = lf->data,
		.private_data = lf->private_data,
		.session = lf->session,
	};
}

static struct luo_file *luo_file_find(struct luo_session *session, u64 token)
{
	struct luo_file *lf;

	list_for_each_entry(lf, &session->files, list)
		if (lf->token == token)
			return lf;
	return NULL;
}

/**
 * luo_file_handler_in_session - does a session hold a file of this handler?
 * @session: the session
 * @fh: the handler
 *
 * Return: true if so.
 */
bool luo_file_handler_in_session(struct luo_session *session,
				 struct liveupdate_file_handler *fh)
{
	struct luo_file *lf;

	list_for_each_entry(lf, &session->files, list)
		if (lf->fh == fh)
			return true;
	return false;
}

/* ----- outgoing ----- */

/**
 * luo_file_preserve - add a file to an outgoing session
 * @session: the session
 * @fd: the caller's fd for the file
 * @token: its name in the session
 *
 * Return: 0; -EEXIST if @token is taken in @session; -EBADF for a bad @fd;
 * -EBUSY if the file is already in a session; -ENOENT if no handler can
 * preserve it; -ENOMEM; or the handler's error.
 */
int luo_file_preserve(struct luo_session *session, int fd, u64 token)
{
	struct liveupdate_file_op_args args = {};
	struct liveupdate_file_handler *fh;
	struct luo_file *lf;
	struct file *file;
	int err;

	lockdep_assert_held(&luo_mutex);
	if (luo_file_find(session, token))
		return -EEXIST;
	file = fget(fd);
	if (!file)
		return -EBADF;
	lf = kzalloc(sizeof(*lf), GFP_KERNEL);
	if (!lf) {
		err = -ENOMEM;
		goto err_fput;
	}
	/* -EBUSY if it is already there: a file is in one session at most */
	err = xa_insert(&luo_preserved_files, (unsigned long)file, lf,
			GFP_KERNEL);
	if (err)
		goto err_free_lf;
	fh = luo_handler_for_file(file);
	if (!fh || !luo_file_hold(lf, fh)) {
		err = -ENOENT;
		goto err_erase;
	}

	args.handler = fh;
	args.file = file;
	args.session = session;
	err = fh->ops->preserve(&args);
	if (err)
		goto err_release;

	lf->file = file;
	lf->session = session;
	lf->token = token;
	lf->data = args.serialized_data;
	lf->private_data = args.private_data;
	list_add_tail(&lf->list, &session->files);
	session->nr_files++;
	return 0;

err_release:
	luo_file_release(lf);
err_erase:
	xa_erase(&luo_preserved_files, (unsigned long)file);
err_free_lf:
	kfree(lf);
err_fput:
	fput(file);
	return err;
}

/**
 * luo_file_unpreserve_all - unpreserve and drop every file of a session
 * @session: an outgoing session, not frozen
 */
void luo_file_unpreserve_all(struct luo_session *session)
{
	struct liveupdate_file_op_args args;
	struct luo_file *lf, *tmp;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry_safe_reverse(lf, tmp, &session->files, list) {
		luo_file_args(lf, &args);
		lf->fh->ops->unpreserve(&args);
		luo_file_release(lf);
		xa_erase(&luo_preserved_files, (unsigned long)lf->file);
		fput(lf->file);
		list_del(&lf->list);
		session->nr_files--;
		kfree(lf);
	}
}

/* Take @lf into @stage: freeze() at finalize, quiesce() on the kexec. */
static int luo_file_enter(struct luo_file *lf, enum luo_stage stage)
{
	const struct liveupdate_file_ops *ops = lf->fh->ops;
	int (*op)(struct liveupdate_file_op_args *args);
	struct liveupdate_file_op_args args;
	int err;

	op = stage == LUO_QUIESCE ? ops->quiesce : ops->freeze;
	if (!op)
		return 0;
	luo_file_args(lf, &args);
	err = op(&args);
	/* what quiesce() writes goes where freeze() said: no new record */
	if (!err && stage == LUO_FREEZE)
		lf->data = args.serialized_data;
	return err;
}

static void luo_file_leave(struct luo_file *lf, enum luo_stage stage)
{
	const struct liveupdate_file_ops *ops = lf->fh->ops;
	void (*op)(struct liveupdate_file_op_args *args);
	struct liveupdate_file_op_args args;

	op = stage == LUO_QUIESCE ? ops->unquiesce : ops->unfreeze;
	if (!op)
		return;
	luo_file_args(lf, &args);
	op(&args);
}

/**
 * luo_file_enter_all - freeze or quiesce the files of an outgoing session
 * @session: the session
 * @stage: LUO_FREEZE (finalize) or LUO_QUIESCE (the kexec)
 *
 * On failure the files taken into @stage so far are taken out of it.
 *
 * Return: 0 or the first handler error.
 */
int luo_file_enter_all(struct luo_session *session, enum luo_stage stage)
{
	struct luo_file *lf;
	int err;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(lf, &session->files, list) {
		err = luo_file_enter(lf, stage);
		if (err)
			goto err_leave;
	}
	return 0;

err_leave:
	pr_err("session %s: file %llu (%s) cannot be %s: %d\n",
	       session->name, lf->token, lf->fh->compatible,
	       stage == LUO_QUIESCE ? "quiesced" : "frozen", err);
	list_for_each_entry_continue_reverse(lf, &session->files, list)
		luo_file_leave(lf, stage);
	return err;
}

/**
 * luo_file_leave_all - undo luo_file_enter_all()
 * @session: the session
 * @stage: the stage to take its files out of
 */
void luo_file_leave_all(struct luo_session *session, enum luo_stage stage)
{
	struct luo_file *lf;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry_reverse(lf, &session->files, list)
		luo_file_leave(lf, stage);
}

/**
 * luo_file_serialize - write a session's files
 * @session: the session, just written with luo_out_session()
 * @out: the writer
 *
 * Return: 0 or a negative errno from the writer.
 */
int luo_file_serialize(struct luo_session *session, struct luo_out *out)
{
	struct luo_file *lf;
	int err;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(lf, &session->files, list) {
		err = luo_out_file(out, lf->token, lf->fh->compatible, lf->data);
		if (err)
			return err;
	}
	return 0;
}

/* ----- incoming ----- */

/**
 * luo_file_add_incoming - add a file to an incoming session being read
 * @session: the session, on no list yet
 * @token: the file's token
 * @compatible: its handler format, checked by the caller (copied)
 * @data: the handler's serialized_data
 *
 * Return: 0, -EINVAL if @session has a file with @token, or -ENOMEM.
 */
int __init luo_file_add_incoming(struct luo_session *session, u64 token,
				 const char *compatible, u64 data)
{
	struct luo_file *lf;

	if (luo_file_find(session, token))
		return -EINVAL;
	lf = kzalloc(sizeof(*lf), GFP_KERNEL);
	if (!lf)
		return -ENOMEM;
	lf->compatible = kstrdup(compatible, GFP_KERNEL);
	if (!lf->compatible) {
		kfree(lf);
		return -ENOMEM;
	}
	lf->session = session;
	lf->token = token;
	lf->data = data;
	list_add_tail(&lf->list, &session->files);
	session->nr_files++;
	return 0;
}

/**
 * luo_file_free_incoming - forget the files of an incoming session
 * @session: a session that was never retrieved
 *
 * No handler is called: what the files preserved stays reserved.
 */
void luo_file_free_incoming(struct luo_session *session)
{
	struct luo_file *lf, *tmp;

	list_for_each_entry_safe(lf, tmp, &session->files, list) {
		luo_file_release(lf);
		list_del(&lf->list);
		kfree(lf->compatible);
		kfree(lf);
	}
	session->nr_files = 0;
}

/**
 * luo_file_retrieve - restore a file of an incoming session
 * @session: the session
 * @token: the file's token
 * @filep: receives a new reference to the restored file
 *
 * The first successful call has the handler recreate the file; later ones
 * return the same file again. A failed retrieve() is not final: what the
 * handler kept in its private_data is stored, and the next call retries
 * with it.
 *
 * Return: 0; -ENOENT for an unknown token or when no handler knows the
 * file's format; or the error of retrieve().
 */
int luo_file_retrieve(struct luo_session *session, u64 token,
		      struct file **filep)
{
	struct liveupdate_file_op_args args;
	struct luo_file *lf;
	int err;

	lockdep_assert_held(&luo_mutex);
	lf = luo_file_find(session, token);
	if (!lf)
		return -ENOENT;
	if (lf->refused) {
		pr_err("session %s: file %llu: refused, its record is another file's too\n",
		       session->name, token);
		return -EINVAL;
	}

	if (!lf->file) {
		if (lf->retrieving) {
			pr_err("session %s: file %llu: its retrieve needs itself, a loop in the records\n",
			       session->name, token);
			return -ELOOP;
		}
		if (!luo_file_bind(lf)) {
			pr_warn("session %s: file %llu: no handler for %s\n",
				session->name, token, lf->compatible);
			return -ENOENT;
		}
		luo_file_args(lf, &args);
		lf->retrieving = true;
		err = lf->fh->ops->retrieve(&args);
		lf->retrieving = false;
		/* kept even on failure: a retry or finish() continues from it */
		lf->private_data = args.private_data;
		if (err) {
			pr_err("session %s: file %llu: retrieve failed: %d\n",
			       session->name, token, err);
			return err;
		}
		if (WARN_ON_ONCE(!args.file))
			return -EIO;
		lf->file = args.file;
	}
	*filep = get_file(lf->file);
	return 0;
}

/**
 * liveupdate_get_token_outgoing - the token of another file of a session
 * @args: the arguments of a handler callback on an outgoing file
 * @file: a file that should be in the same session
 * @token: set to its token
 *
 * For a handler whose file refers to other files, the memfds an iommufd
 * maps for instance, to record them by the names the next kernel knows.
 * A file counts as in the session if it or another open file of the same
 * inode was preserved there. Call it from preserve() or freeze() only.
 *
 * Return: 0, or -ENOENT if no such file is in the session.
 */
int liveupdate_get_token_outgoing(struct liveupdate_file_op_args *args,
				  struct file *file, u64 *token)
{
	struct luo_file *lf;

	lockdep_assert_held(&luo_mutex);
	if (WARN_ON_ONCE(!args->session || args->session->incoming))
		return -EINVAL;
	list_for_each_entry(lf, &args->session->files, list) {
		if (lf->file && file_inode(lf->file) == file_inode(file)) {
			*token = lf->token;
			return 0;
		}
	}
	return -ENOENT;
}
EXPORT_SYMBOL_GPL(liveupdate_get_token_outgoing);

/**
 * liveupdate_get_file_incoming - retrieve another file of a session
 * @args: the arguments of a handler's retrieve() callback
 * @token: the token of the other file
 * @compatible: the handler format the other file must have been preserved
 *	with, or NULL for any
 * @filep: set to the file, with a reference the caller must drop
 *
 * The counterpart of liveupdate_get_token_outgoing() in the next kernel:
 * the file is retrieved if userspace has not yet done so, and is the same
 * file userspace gets for @token afterwards. @token comes from the
 * caller's record, which the previous kernel wrote: @compatible keeps a
 * corrupt one from retrieving a file of another kind, and a token that
 * leads back to a file being retrieved is refused.
 *
 * Return: 0; -ENOENT for an unknown token; -EINVAL if the file is not of
 * the @compatible format; -ELOOP for a file whose retrieve is under way;
 * or the error of retrieving it.
 */
int liveupdate_get_file_incoming(struct liveupdate_file_op_args *args,
				 u64 token, const char *compatible,
				 struct file **filep)
{
	struct luo_file *lf;

	lockdep_assert_held(&luo_mutex);
	if (WARN_ON_ONCE(!args->session || !args->session->incoming))
		return -EINVAL;
	lf = luo_file_find(args->session, token);
	if (!lf)
		return -ENOENT;
	if (compatible && (!lf->compatible ||
			   strcmp(lf->compatible, compatible))) {
		pr_err("session %s: file %llu is %s, not the %s asked for\n",
		       args->session->name, token,
		       lf->compatible ?: "of no known format", compatible);
		return -EINVAL;
	}
	return luo_file_retrieve(args->session, token, filep);
}
EXPORT_SYMBOL_GPL(liveupdate_get_file_incoming);

/**
 * luo_file_finish_all - finish every file of an incoming session
 * @session: the session
 * @force: skip the can_finish() checks (the session fd is being closed)
 *
 * Handlers release what they kept; files never retrieved have their
 * preserved state released. The session ends up empty. Files finish in the
 * reverse of their preservation order, so a file is done with before those
 * it was preserved after and may use: an iommufd, whose devices may still
 * reach guest RAM, before the memfds holding that RAM.
 *
 * Return: 0, or -EBUSY (and nothing done) if a handler is not ready.
 */
int luo_file_finish_all(struct luo_session *session, bool force)
{
	struct liveupdate_file_op_args args;
	struct liveupdate_file_handler *fh;
	struct luo_file *lf, *tmp;

	lockdep_assert_held(&luo_mutex);
	if (!force) {
		list_for_each_entry(lf, &session->files, list) {
			fh = luo_file_bind(lf);
			if (lf->refused || !fh || !fh->ops->can_finish)
				continue;
			luo_file_args(lf, &args);
			if (!fh->ops->can_finish(&args))
				return -EBUSY;
		}
	}

	list_for_each_entry_safe_reverse(lf, tmp, &session->files, list) {
		fh = luo_file_bind(lf);
		if (lf->refused) {
			pr_warn("session %s: file %llu: refused, its memory stays reserved\n",
				session->name, lf->token);
		} else if (fh) {
			luo_file_args(lf, &args);
			fh->ops->finish(&args);
		} else {
			pr_warn("session %s: file %llu: no handler for %s, its memory stays reserved\n",
				session->name, lf->token, lf->compatible);
		}
		if (lf->file)
			fput(lf->file);
		luo_file_release(lf);
		list_del(&lf->list);
		session->nr_files--;
		kfree(lf->compatible);
		kfree(lf);
	}
	return 0;
}

/**
 * luo_file_show_all - a line per file of @session, for debugfs
 * @m: where to print
 * @session: the session
 * @dir: "out" or "in", as its session line says
 *
 * "file DIR NAME TOKEN HANDLER STATE": the handler's compatible string,
 * and ok or refused (outgoing), pending or retrieved (incoming).
 */
void luo_file_show_all(struct seq_file *m, struct luo_session *session,
		       const char *dir)
{
	struct luo_file *lf;

	lockdep_assert_held(&luo_mutex);
	list_for_each_entry(lf, &session->files, list) {
		const char *handler = session->incoming ? lf->compatible :
				      lf->fh->compatible;
		const char *state;

		if (session->incoming)
			state = lf->file ? "retrieved" : "pending";
		else
			state = lf->refused ? "refused" : "ok";
		seq_printf(m, "file %s ", dir);
		seq_escape(m, session->name, " \t\n\\");
		seq_printf(m, " %#llx %s %s\n", lf->token, handler ?: "-", state);
	}
}
