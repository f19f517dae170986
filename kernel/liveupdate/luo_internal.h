/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update internals shared by luo_core.c (device, ioctl dispatch,
 * freeze), luo_session.c (sessions), luo_file.c (preserved files and their
 * handlers) and luo_handover.c (the format handed to the next kernel).
 */
#ifndef _KERNEL_LIVEUPDATE_LUO_INTERNAL_H
#define _KERNEL_LIVEUPDATE_LUO_INTERNAL_H

#include <linux/build_bug.h>
#include <linux/kho/abi/luo.h>
#include <linux/liveupdate.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/stddef.h>
#include <linux/types.h>

struct luo_out;
struct seq_file;

/*
 * luo_mutex serializes everything Live Update does: the session lists,
 * each session's files, the handler list, the preserved-file index and
 * freezing. Handler callbacks run under it. Lock order: KHO's finalize
 * lock, then luo_mutex, then whatever the handlers take (inode locks).
 */
extern struct mutex luo_mutex;
/* Set between a successful KEXEC_KHO_FINALIZE and KEXEC_KHO_UNFREEZE. */
extern bool luo_frozen;

/**
 * enum luo_stage - how far the outgoing files are on the way to the kexec
 * @LUO_FREEZE: at finalize: their records are written and can no longer
 *	change shape (the handler's freeze()); what they stand for may run on
 * @LUO_QUIESCE: on the kexec (or at finalize, with liveupdate.quiesce=
 *	finalize): stopped, their last state written (the handler's
 *	quiesce())
 */
enum luo_stage {
	LUO_FREEZE,
	LUO_QUIESCE,
};

/**
 * struct luo_session - a named group of preserved files
 * @name: its name, NUL-terminated
 * @list: in the outgoing or the incoming session list
 * @files: its files (struct luo_file), in the order they were added
 * @nr_files: how many
 * @incoming: handed over by the previous kernel (otherwise: to be handed
 *	to the next one)
 * @retrieved: incoming: userspace holds an fd for it
 * @orphaned: outgoing: its fd was closed while frozen; it is still handed
 *	over if the kexec goes ahead, and dropped at unfreeze otherwise
 */
struct luo_session {
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	struct list_head list;
	struct list_head files;
	unsigned int nr_files;
	bool incoming;
	bool retrieved;
	bool orphaned;
};

/**
 * struct luo_file - a file in a session
 * @list: in its session's @files
 * @session: the session it is in
 * @fh: the handler; for an incoming file, set once one is found for
 *	@compatible
 * @file: outgoing: the preserved file (a reference is held); incoming:
 *	the restored file once retrieved (a reference is held), else NULL
 * @token: its name in the session
 * @data: the handler's serialized_data
 * @private_data: the handler's private_data: outgoing, from preserve();
 *	incoming, what the last retrieve() left, successful or not
 * @compatible: incoming: the handler format the previous kernel recorded
 * @refused: incoming: another incoming file hands over the same record,
 *	so neither is given to its handler
 * @retrieving: incoming: its handler's retrieve() is running; a record
 *	that names the file from within its own retrieve (a loop) is refused
 */
struct luo_file {
	struct list_head list;
	struct luo_session *session;
	struct liveupdate_file_handler *fh;
	struct file *file;
	u64 token;
	u64 data;
	void *private_data;
	char *compatible;
	bool refused;
	bool retrieving;
};

/* ----- ioctl dispatch (luo_core.c) ----- */

/**
 * struct luo_ucmd - one ioctl being executed
 * @ubuffer: the caller's structure
 * @user_size: its size, as the caller stated it
 * @cmd: the kernel copy (a member of union luo_ucmd_buffer)
 * @ctx: the object the ioctl was made on (a session), or NULL
 */
struct luo_ucmd {
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
	void *ctx;
};

/* Room for the argument of any Live Update ioctl. */
union luo_ucmd_buffer {
	struct liveupdate_ioctl_create_session create;
	struct liveupdate_ioctl_retrieve_session retrieve;
	struct liveupdate_session_preserve_fd preserve_fd;
	struct liveupdate_session_retrieve_fd retrieve_fd;
	struct liveupdate_session_finish finish;
	struct liveupdate_session_get_name get_name;
};

/**
 * struct luo_ioctl_op - one row of an ioctl table
 * @size: size of the kernel's structure
 * @min_size: smallest size accepted: up to the last mandatory member
 * @ioctl_num: the full ioctl number
 * @execute: the handler
 */
struct luo_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned int ioctl_num;
	int (*execute)(struct luo_ucmd *ucmd);
};

/* A table row; the dispatcher finds the row by its full ioctl number. */
#define LUO_IOCTL_OP(_ioctl, _fn, _struct, _last)			\
	{								\
		.size = sizeof(_struct) +				\
			BUILD_BUG_ON_ZERO(sizeof(union luo_ucmd_buffer) < \
					  sizeof(_struct)),		\
		.min_size = offsetofend(_struct, _last),		\
		.ioctl_num = _ioctl,					\
		.execute = _fn,						\
	}

long luo_ioctl_dispatch(const struct luo_ioctl_op *ops, unsigned int nr_ops,
			unsigned int cmd, unsigned long arg, void *ctx);
int luo_ucmd_respond(struct luo_ucmd *ucmd, size_t kernel_size);

/* ----- sessions (luo_session.c) ----- */

int luo_session_create_ioctl(struct luo_ucmd *ucmd);
int luo_session_retrieve_ioctl(struct luo_ucmd *ucmd);
unsigned int luo_session_count_out(unsigned int *nr_files);
int luo_session_enter_all(enum luo_stage stage);
void luo_session_leave_all(enum luo_stage stage);
void luo_session_reap_orphans(void);
int luo_session_serialize_all(struct luo_out *out);
struct luo_session *luo_session_new_incoming(const char *name);
void luo_session_add_incoming(struct luo_session *session);
void luo_session_free_incoming(struct luo_session *session);
void luo_session_refuse_shared(void);
bool luo_session_handler_in_use(struct liveupdate_file_handler *fh);
void luo_session_debugfs_init(void);

/* ----- files (luo_file.c) ----- */

int luo_file_preserve(struct luo_session *session, int fd, u64 token);
void luo_file_unpreserve_all(struct luo_session *session);
int luo_file_enter_all(struct luo_session *session, enum luo_stage stage);
void luo_file_leave_all(struct luo_session *session, enum luo_stage stage);
int luo_file_serialize(struct luo_session *session, struct luo_out *out);
int luo_file_add_incoming(struct luo_session *session, u64 token,
			  const char *compatible, u64 data);
void luo_file_free_incoming(struct luo_session *session);
int luo_file_retrieve(struct luo_session *session, u64 token,
		      struct file **filep);
int luo_file_finish_all(struct luo_session *session, bool force);
bool luo_file_handler_in_session(struct luo_session *session,
				 struct liveupdate_file_handler *fh);
void luo_file_show_all(struct seq_file *m, struct luo_session *session,
		       const char *dir);

/* ----- the handover format (luo_handover.c) ----- */

int luo_handover_write(void);
void luo_handover_remove(void);
void luo_handover_read(void);
int luo_out_session(struct luo_out *out, const struct luo_session *session);
int luo_out_file(struct luo_out *out, u64 token, const char *compatible,
		 u64 data);

#endif /* _KERNEL_LIVEUPDATE_LUO_INTERNAL_H */
