/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update: the sessions and files handed to the next kernel.
 */
#ifndef _LINUX_KHO_ABI_LUO_H
#define _LINUX_KHO_ABI_LUO_H

/**
 * DOC: Live Update session and file records
 *
 * This header is a contract between the kernel that hands sessions over
 * and the kernel that takes them back. A change to the layout below needs
 * a new LUO_FDT_COMPATIBLE; a kernel that does not know the compatible it
 * finds refuses every incoming session and boots without them.
 *
 * Live Update writes one KHO subtree, named LUO_FDT_NAME, at finalize::
 *
 *	/ { compatible = LUO_FDT_COMPATIBLE;
 *	    session-0 { name = "...";
 *			file-0 { token = <u64>; compatible = "memfd-v1";
 *				 data = <u64>; };
 *			...
 *	    };
 *	    ...
 *	};
 *
 * Node names are only indexes; a session's name is its LUO_FDT_NAME_PROP
 * property, a NUL-terminated string shorter than
 * LIVEUPDATE_SESSION_NAME_LENGTH, so it may hold characters an FDT node
 * name may not. u64 values are big-endian, as FDT cells are. A file's
 * "compatible" names the handler format of its "data", which is the
 * handler's own handle to what it preserved (each handler documents its
 * format in a header of its own here). Tokens are unique in a session.
 */

#define LUO_FDT_NAME		"liveupdate"
#define LUO_FDT_COMPATIBLE	"kho-v,liveupdate-v1"

/* Properties of a session node */
#define LUO_FDT_NAME_PROP	"name"
/* Properties of a file node */
#define LUO_FDT_TOKEN_PROP	"token"
#define LUO_FDT_COMPAT_PROP	"compatible"
#define LUO_FDT_DATA_PROP	"data"

/*
 * Bounds on what one kernel hands over, and accepts from the previous one:
 * they keep the subtree well under the 4 MiB KHO allows one blob.
 */
#define LUO_MAX_SESSIONS	1024
#define LUO_MAX_FILES		16384

#endif /* _LINUX_KHO_ABI_LUO_H */
