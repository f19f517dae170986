/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Live Update: keep open files (memfds first) across a kexec into a new
 * kernel, grouped in named sessions.
 *
 * A privileged agent opens /dev/liveupdate (one opener at a time) and
 * creates sessions on it. Each session is an fd of its own; files are
 * added to it under 64-bit tokens the agent chooses. When the kernel is
 * replaced with kexec, every session still open is handed over. In the new
 * kernel the agent retrieves each session by name, the files in it by
 * token, and finishes the session once it has taken everything it needs.
 *
 * Every ioctl takes a pointer to a structure whose first member, @size,
 * says how large the caller's structure is. The kernel accepts any size
 * that covers the mandatory members: a smaller structure from an older
 * caller is zero-extended, and a larger one from a newer caller is
 * accepted if the bytes the kernel does not know are zero (otherwise
 * E2BIG). Output members are written back up to the smaller of the two
 * sizes. The ioctl numbers carry no size or direction bits.
 */
#ifndef _UAPI_LIVEUPDATE_H
#define _UAPI_LIVEUPDATE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LIVEUPDATE_IOCTL_TYPE		0xBA

/* Session names, terminating NUL included. */
#define LIVEUPDATE_SESSION_NAME_LENGTH	64

/* ioctls on /dev/liveupdate */
enum {
	LIVEUPDATE_CMD_BASE = 0x00,
	LIVEUPDATE_CMD_CREATE_SESSION = LIVEUPDATE_CMD_BASE,
	LIVEUPDATE_CMD_RETRIEVE_SESSION = 0x01,
};

/* ioctls on a session fd */
enum {
	LIVEUPDATE_CMD_SESSION_BASE = 0x40,
	LIVEUPDATE_CMD_SESSION_PRESERVE_FD = LIVEUPDATE_CMD_SESSION_BASE,
	LIVEUPDATE_CMD_SESSION_RETRIEVE_FD = 0x41,
	LIVEUPDATE_CMD_SESSION_FINISH = 0x42,
	LIVEUPDATE_CMD_SESSION_GET_NAME = 0x43,
};

/**
 * struct liveupdate_ioctl_create_session - LIVEUPDATE_IOCTL_CREATE_SESSION
 * @size: sizeof(struct liveupdate_ioctl_create_session)
 * @fd: output: the new session's fd (close-on-exec)
 * @name: input: the session's name, NUL-terminated, not empty, unique
 *	among the sessions of this kernel that will be handed over
 *
 * Creates an empty session that will be handed to the next kernel. Closing
 * its fd before the kexec drops the session and everything preserved in it.
 */
struct liveupdate_ioctl_create_session {
	__u32 size;
	__s32 fd;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_IOCTL_CREATE_SESSION \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_CREATE_SESSION)

/**
 * struct liveupdate_ioctl_retrieve_session - LIVEUPDATE_IOCTL_RETRIEVE_SESSION
 * @size: sizeof(struct liveupdate_ioctl_retrieve_session)
 * @fd: output: an fd for the session (close-on-exec)
 * @name: input: the name the session had in the previous kernel
 *
 * Gets hold of a session the previous kernel handed over. Each session can
 * be retrieved once; closing its fd finishes it.
 */
struct liveupdate_ioctl_retrieve_session {
	__u32 size;
	__s32 fd;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_IOCTL_RETRIEVE_SESSION \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_RETRIEVE_SESSION)

/**
 * struct liveupdate_session_preserve_fd - LIVEUPDATE_SESSION_PRESERVE_FD
 * @size: sizeof(struct liveupdate_session_preserve_fd)
 * @fd: input: the file to preserve
 * @token: input: the name of the file in this session, unique in it
 *
 * Adds a file to an outgoing session. The session keeps a reference to the
 * file, so the caller may close @fd. A file can be in one session only.
 */
struct liveupdate_session_preserve_fd {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

#define LIVEUPDATE_SESSION_PRESERVE_FD \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_PRESERVE_FD)

/**
 * struct liveupdate_session_retrieve_fd - LIVEUPDATE_SESSION_RETRIEVE_FD
 * @size: sizeof(struct liveupdate_session_retrieve_fd)
 * @fd: output: a new fd (close-on-exec) for the restored file
 * @token: input: the token the file was preserved under
 *
 * Restores a file of a retrieved session. Retrieving the same token again
 * returns another fd for the same open file.
 */
struct liveupdate_session_retrieve_fd {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

#define LIVEUPDATE_SESSION_RETRIEVE_FD \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_RETRIEVE_FD)

/**
 * struct liveupdate_session_finish - LIVEUPDATE_SESSION_FINISH
 * @size: sizeof(struct liveupdate_session_finish)
 * @reserved: must be zero
 *
 * Ends the handover of a retrieved session: the kernel releases what it
 * kept for the files that were not retrieved, and the session's tokens
 * can no longer be retrieved. Fails with EBUSY, changing nothing, if a file
 * is not ready to be finished.
 */
struct liveupdate_session_finish {
	__u32 size;
	__u32 reserved;
};

#define LIVEUPDATE_SESSION_FINISH \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_FINISH)

/**
 * struct liveupdate_session_get_name - LIVEUPDATE_SESSION_GET_NAME
 * @size: sizeof(struct liveupdate_session_get_name)
 * @reserved: must be zero
 * @name: output: the name the session was created or retrieved under,
 *	NUL-terminated
 *
 * Tells a process that was handed a session fd (inherited, or passed over
 * a UNIX socket) which session it holds.
 */
struct liveupdate_session_get_name {
	__u32 size;
	__u32 reserved;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_SESSION_GET_NAME \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_GET_NAME)

#endif /* _UAPI_LIVEUPDATE_H */
