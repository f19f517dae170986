/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update: the kernel side of /dev/liveupdate. Subsystems that can
 * carry an open file of theirs across kexec register a file handler here.
 */
#ifndef _LINUX_LIVEUPDATE_H
#define _LINUX_LIVEUPDATE_H

#include <linux/errno.h>
#include <linux/list.h>
#include <linux/types.h>
#include <uapi/linux/liveupdate.h>

struct file;
struct liveupdate_file_handler;
struct luo_session;
struct module;

/* Longest handler compatible string, terminating NUL included. */
#define LIVEUPDATE_HNDL_COMPAT_LENGTH	48

/**
 * struct liveupdate_file_op_args - arguments of the file handler callbacks
 * @handler: the handler called
 * @retrieved: for can_finish() and finish(): whether userspace retrieved
 *	the file in this kernel
 * @file: the file; an input everywhere but in retrieve(), which sets it
 * @serialized_data: the handler's own 64-bit handle to what it preserved
 *	(typically the physical address of a preserved page). preserve()
 *	sets it, freeze() may change it, and in the next kernel retrieve(),
 *	can_finish() and finish() get the value it had at the last freeze().
 * @private_data: the handler's runtime state. Outgoing: set by preserve()
 *	and passed to the other outgoing callbacks. Incoming: NULL at the
 *	first retrieve(); whatever retrieve() leaves in it, on success or
 *	failure, is passed to the next retrieve() and to finish()
 * @session: the session of the file, for liveupdate_get_token_outgoing()
 *	and liveupdate_get_file_incoming()
 */
struct liveupdate_file_op_args {
	struct liveupdate_file_handler *handler;
	bool retrieved;
	struct file *file;
	u64 serialized_data;
	void *private_data;
	struct luo_session *session;
};

/**
 * struct liveupdate_file_ops - what a file handler does
 *
 * Every callback runs in process context, may sleep, and is serialized
 * with all other Live Update operations.
 *
 * @can_preserve: (required) whether this handler can preserve @file.
 * @preserve: (required) preserve @args->file; set @args->serialized_data
 *	and, if needed, @args->private_data. The file may still change until
 *	freeze(). Returns 0 or a negative errno, having undone everything.
 * @unpreserve: (required) undo preserve(): the file is dropped from its
 *	session before any kexec happened.
 * @freeze: (optional) the handover is being finalized: bring the preserved
 *	state up to date. Returns 0 or a negative errno, which aborts the
 *	finalization (unfreeze() is then called on the files already frozen).
 * @unfreeze: (optional) the finalization was undone; the file is live again.
 * @quiesce: (optional) called once more on the way into the kexec, after
 *	freeze() and after the last userspace step, to stop what freeze()
 *	let run on and write its last state into the memory freeze()
 *	preserved. @args->serialized_data is what freeze() set and must not
 *	change. Returns 0 or a negative errno, which refuses the kexec
 *	(unquiesce() is then called on the files already quiesced). With
 *	"liveupdate.quiesce=finalize" it is called right after freeze().
 * @unquiesce: (optional) undo quiesce(): the kexec was refused, or the
 *	finalization is being undone; the file runs on, still frozen.
 * @retrieve: (required) in the new kernel, recreate the file from
 *	@args->serialized_data and return it, with a reference Live Update
 *	owns, in @args->file. A failure is not final: the next
 *	RETRIEVE_FD calls retrieve() again, with the @args->private_data
 *	this call left. A handler keeps there whatever it needs to go on
 *	(what it already claimed, the file built so far), and must not
 *	release preserved state just because one attempt failed.
 * @can_finish: (optional) whether the session may be finished now.
 * @finish: (required) the session is finished. If @args->retrieved is
 *	false no file was made: the handler releases the preserved state,
 *	and whatever failed retrieve() calls left in @args->private_data.
 *	Otherwise it drops whatever it kept for the restored file. Live
 *	Update drops its reference to @args->file afterwards.
 */
struct liveupdate_file_ops {
	bool (*can_preserve)(struct liveupdate_file_handler *handler,
			     struct file *file);
	int (*preserve)(struct liveupdate_file_op_args *args);
	void (*unpreserve)(struct liveupdate_file_op_args *args);
	int (*freeze)(struct liveupdate_file_op_args *args);
	void (*unfreeze)(struct liveupdate_file_op_args *args);
	int (*quiesce)(struct liveupdate_file_op_args *args);
	void (*unquiesce)(struct liveupdate_file_op_args *args);
	int (*retrieve)(struct liveupdate_file_op_args *args);
	bool (*can_finish)(struct liveupdate_file_op_args *args);
	void (*finish)(struct liveupdate_file_op_args *args);
};

/**
 * struct liveupdate_file_handler - a kind of file Live Update can preserve
 * @ops: its callbacks
 * @compatible: names the format of the serialized state, e.g. "memfd-v1";
 *	the next kernel picks the handler to restore a file with by it.
 *	Shorter than LIVEUPDATE_HNDL_COMPAT_LENGTH.
 * @owner: the module the callbacks live in (THIS_MODULE), or NULL if
 *	built in. Live Update holds a reference to it for every file it has
 *	bound to the handler, so the module cannot be unloaded while a
 *	session may still call into it.
 * @list: private to Live Update
 */
struct liveupdate_file_handler {
	const struct liveupdate_file_ops *ops;
	const char *compatible;
	struct module *owner;
	struct list_head list;
};

#ifdef CONFIG_LIVEUPDATE

bool liveupdate_enabled(void);
int liveupdate_register_file_handler(struct liveupdate_file_handler *fh);
int liveupdate_unregister_file_handler(struct liveupdate_file_handler *fh);
int liveupdate_get_token_outgoing(struct liveupdate_file_op_args *args,
				  struct file *file, u64 *token);
int liveupdate_get_file_incoming(struct liveupdate_file_op_args *args,
				 u64 token, const char *compatible,
				 struct file **filep);
int liveupdate_walk_incoming(const char *compatible,
			     int (*fn)(u64 data, void *arg), void *arg);

#else /* !CONFIG_LIVEUPDATE */

static inline bool liveupdate_enabled(void)
{
	return false;
}

static inline int
liveupdate_register_file_handler(struct liveupdate_file_handler *fh)
{
	return -EOPNOTSUPP;
}

static inline int
liveupdate_unregister_file_handler(struct liveupdate_file_handler *fh)
{
	return -EOPNOTSUPP;
}

static inline int
liveupdate_get_token_outgoing(struct liveupdate_file_op_args *args,
			      struct file *file, u64 *token)
{
	return -EOPNOTSUPP;
}

static inline int
liveupdate_get_file_incoming(struct liveupdate_file_op_args *args, u64 token,
			     const char *compatible, struct file **filep)
{
	return -EOPNOTSUPP;
}

static inline int
liveupdate_walk_incoming(const char *compatible,
			 int (*fn)(u64 data, void *arg), void *arg)
{
	return 0;
}

#endif /* CONFIG_LIVEUPDATE */
#endif /* _LINUX_LIVEUPDATE_H */
