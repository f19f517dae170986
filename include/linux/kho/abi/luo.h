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
 * Live Update writes its records into pages of their own, each an FDT of
 * at most one page, and one KHO subtree, named LUO_FDT_NAME, that lists
 * them (the index)::
 *
 *	/ { compatible = LUO_FDT_COMPATIBLE;
 *	    chunks = <u64 phys>, <u64 phys>, ...;
 *	};
 *
 * Each "chunks" entry is the physical address of a page preserved on its
 * own (an order-0 block) that holds::
 *
 *	/ { compatible = LUO_CHUNK_COMPATIBLE;
 *	    session-0 { name = "..."; nr-files = <u64>; first-file = <u64>;
 *			file-0 { token = <u64>; compatible = "memfd-v1";
 *				 data = <u64>; };
 *			...
 *	    };
 *	    ...
 *	};
 *
 * The chunks, in index order, hold the sessions in order, and each
 * session's files in order. A session whose files do not fit in what is
 * left of a chunk goes on in the next one: the first session node of that
 * chunk has the same name and "nr-files", and a "first-file" equal to the
 * number of its files in the chunks before; every other session node has a
 * "first-file" of zero. "nr-files" is the number of files of the whole
 * session: a session whose files do not add up to it is incomplete.
 *
 * Nothing here bounds the number of sessions or of files. The index is a
 * single KHO blob, so it lists at most what fits in the largest page
 * allocation: with 4 KiB pages, about 500,000 chunks, more than ten million
 * files. The next kernel derives every count from the size of what it
 * reads, and treats "nr-files" only as a claim to check.
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
#define LUO_FDT_COMPATIBLE	"kho-v,liveupdate-v2"
#define LUO_CHUNK_COMPATIBLE	"kho-v,liveupdate-v2-chunk"

/* Properties of the index */
#define LUO_FDT_CHUNKS_PROP	"chunks"
/* Properties of a session node */
#define LUO_FDT_NAME_PROP	"name"
#define LUO_FDT_NR_FILES_PROP	"nr-files"
#define LUO_FDT_FIRST_FILE_PROP	"first-file"
/* Properties of a file node */
#define LUO_FDT_TOKEN_PROP	"token"
#define LUO_FDT_COMPAT_PROP	"compatible"
#define LUO_FDT_DATA_PROP	"data"

#endif /* _LINUX_KHO_ABI_LUO_H */
