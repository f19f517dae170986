// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update handover: the sessions and files written into pages of
 * records at freeze, and read back by the next kernel at boot, in the
 * format <linux/kho/abi/luo.h> describes.
 *
 * The writer fills one page (a chunk) at a time and starts the next when a
 * record might not fit, so neither the number of sessions nor the number
 * of files in a session is bounded by the size of one allocation; only the
 * index, which lists the chunks, is a single KHO blob.
 *
 * The reader trusts nothing it reads. It checks the index and each chunk in
 * place, copies what it accepts into sessions of its own, and only then
 * claims the pages and frees them. A chunk that fails its checks costs the
 * sessions it holds, not the others; a session is kept only whole.
 */
#define pr_fmt(fmt) "liveupdate: " fmt

#include <linux/align.h>
#include <linux/bug.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "luo_internal.h"

/* ----- outgoing ----- */

/* Bytes an FDT node's begin tag takes with a name of @len bytes and NUL. */
#define LUO_FDT_BEGIN_SIZE(len)	\
	(sizeof(struct fdt_node_header) + ALIGN((len) + 1, FDT_TAGSIZE))
/* Bytes an FDT property with a value of @len bytes takes. */
#define LUO_FDT_PROP_SIZE(len)	\
	(sizeof(struct fdt_property) + ALIGN(len, FDT_TAGSIZE))

#define LUO_SESSION_NODE	"session-%u"
#define LUO_SESSION_NODE_MAX	sizeof("session-4294967295")
#define LUO_FILE_NODE		"file-%u"
#define LUO_FILE_NODE_MAX	sizeof("file-4294967295")

/* The most a session node takes before its files, and a file node. */
#define LUO_FDT_SESSION_MAX						\
	(LUO_FDT_BEGIN_SIZE(LUO_SESSION_NODE_MAX - 1) +			\
	 LUO_FDT_PROP_SIZE(LIVEUPDATE_SESSION_NAME_LENGTH) +		\
	 2 * LUO_FDT_PROP_SIZE(sizeof(fdt64_t)))
#define LUO_FDT_FILE_MAX						\
	(LUO_FDT_BEGIN_SIZE(LUO_FILE_NODE_MAX - 1) +			\
	 LUO_FDT_PROP_SIZE(LIVEUPDATE_HNDL_COMPAT_LENGTH) +		\
	 2 * LUO_FDT_PROP_SIZE(sizeof(fdt64_t)) + FDT_TAGSIZE)
/* Property names go into a chunk's string block when first used. */
#define LUO_FDT_STRINGS_MAX						\
	(sizeof(LUO_FDT_COMPAT_PROP) + sizeof(LUO_FDT_NAME_PROP) +	\
	 sizeof(LUO_FDT_NR_FILES_PROP) + sizeof(LUO_FDT_FIRST_FILE_PROP) + \
	 sizeof(LUO_FDT_TOKEN_PROP) + sizeof(LUO_FDT_DATA_PROP))
/* Closing a chunk: the session's and the root's end tags, and FDT_END. */
#define LUO_FDT_CLOSE		(3 * FDT_TAGSIZE)
/* A new chunk (header, reserve map, root, compatible) takes under 128 bytes. */
static_assert(128 + LUO_FDT_SESSION_MAX + LUO_FDT_FILE_MAX +
	      LUO_FDT_STRINGS_MAX + LUO_FDT_CLOSE <= PAGE_SIZE);
/* An index but for its chunk list, generously. */
#define LUO_INDEX_OVERHEAD	256

/**
 * struct luo_out - the writer of the outgoing chunks
 * @chunks: the chunk pages, in order (linked by folio->lru)
 * @nr_chunks: how many
 * @fdt: the chunk being written
 * @session: the session being written, or NULL
 * @nr_sessions: the sessions begun so far
 * @next_file: the index in @session of its next file
 */
struct luo_out {
	struct list_head chunks;
	unsigned long nr_chunks;
	void *fdt;
	const struct luo_session *session;
	unsigned int nr_sessions;
	unsigned int next_file;
};

/* What was handed to KHO, from a successful write until it is removed. */
static LIST_HEAD(luo_out_chunks);
static struct folio *luo_out_index;

/* Bytes left in the chunk being written, as libfdt's fdt_grab_space_(). */
static size_t luo_out_room(struct luo_out *out)
{
	const void *fdt = out->fdt;

	return fdt_totalsize(fdt) - fdt_off_dt_struct(fdt) -
	       fdt_size_dt_struct(fdt) - fdt_size_dt_strings(fdt);
}

/* Our own records always fit, so any libfdt error here is a bug. */
static int luo_out_err(int fdt_err)
{
	if (WARN_ON_ONCE(fdt_err))
		return -EINVAL;
	return 0;
}

/* Start an FDT of @size bytes at @fdt: its root node, with @compatible. */
static int luo_out_fdt_begin(void *fdt, size_t size, const char *compatible)
{
	int err = fdt_create(fdt, size);

	if (!err)
		err = fdt_finish_reservemap(fdt);
	if (!err)
		err = fdt_begin_node(fdt, "");
	if (!err)
		err = fdt_property_string(fdt, LUO_FDT_COMPAT_PROP, compatible);
	return err;
}

static int luo_out_chunk_begin(struct luo_out *out)
{
	struct folio *folio;
	void *fdt;

	folio = folio_alloc(GFP_KERNEL, 0);
	if (!folio)
		return -ENOMEM;
	list_add_tail(&folio->lru, &out->chunks);
	out->nr_chunks++;
	fdt = folio_address(folio);
	out->fdt = fdt;

	return luo_out_err(luo_out_fdt_begin(fdt, PAGE_SIZE,
					     LUO_CHUNK_COMPATIBLE));
}

/* Close the chunk being written, and the session node open in it. */
static int luo_out_chunk_end(struct luo_out *out)
{
	int err = 0;

	if (out->session)
		err = fdt_end_node(out->fdt);
	if (!err)
		err = fdt_end_node(out->fdt);
	if (!err)
		err = fdt_finish(out->fdt);
	out->fdt = NULL;
	return luo_out_err(err);
}

/* Open the node of the session being written, from its file @first on. */
static int luo_out_session_node(struct luo_out *out, unsigned int first)
{
	char node[LUO_SESSION_NODE_MAX];
	int err;

	snprintf(node, sizeof(node), LUO_SESSION_NODE, out->nr_sessions - 1);
	err = fdt_begin_node(out->fdt, node);
	if (!err)
		err = fdt_property_string(out->fdt, LUO_FDT_NAME_PROP,
					  out->session->name);
	if (!err)
		err = fdt_property_u64(out->fdt, LUO_FDT_NR_FILES_PROP,
				       out->session->nr_files);
	if (!err)
		err = fdt_property_u64(out->fdt, LUO_FDT_FIRST_FILE_PROP, first);
	return luo_out_err(err);
}

/*
 * Make sure @need more bytes fit in the chunk, and still close it; if not,
 * go on in a new chunk, where the open session, if any, goes on too.
 */
static int luo_out_reserve(struct luo_out *out, size_t need)
{
	int err;

	need += LUO_FDT_STRINGS_MAX + LUO_FDT_CLOSE;
	if (luo_out_room(out) >= need)
		return 0;
	err = luo_out_chunk_end(out);
	if (!err)
		err = luo_out_chunk_begin(out);
	if (!err && out->session)
		err = luo_out_session_node(out, out->next_file);
	if (!err && WARN_ON_ONCE(luo_out_room(out) < need))
		err = -EINVAL;
	return err;
}

/**
 * luo_out_session - write the next outgoing session
 * @out: the writer
 * @session: the session; luo_out_file() follows for each of its files
 *
 * Return: 0, -ENOMEM, or -EINVAL (a bug).
 */
int luo_out_session(struct luo_out *out, const struct luo_session *session)
{
	size_t need = LUO_FDT_SESSION_MAX;
	int err;

	/* a session's node is never left without one of its files */
	if (session->nr_files)
		need += LUO_FDT_FILE_MAX;
	if (out->session) {
		err = luo_out_err(fdt_end_node(out->fdt));
		if (err)
			return err;
		out->session = NULL;
	}
	err = luo_out_reserve(out, need);
	if (err)
		return err;
	out->session = session;
	out->nr_sessions++;
	out->next_file = 0;
	return luo_out_session_node(out, 0);
}

/**
 * luo_out_file - write the next file of the session being written
 * @out: the writer
 * @token: the file's token
 * @compatible: its handler's compatible string
 * @data: the handler's serialized_data
 *
 * Return: 0, -ENOMEM, or -EINVAL (a bug).
 */
int luo_out_file(struct luo_out *out, u64 token, const char *compatible,
		 u64 data)
{
	char node[LUO_FILE_NODE_MAX];
	int err;

	if (WARN_ON_ONCE(!out->session ||
			 out->next_file >= out->session->nr_files))
		return -EINVAL;
	err = luo_out_reserve(out, LUO_FDT_FILE_MAX);
	if (err)
		return err;

	snprintf(node, sizeof(node), LUO_FILE_NODE, out->next_file++);
	err = fdt_begin_node(out->fdt, node);
	if (!err)
		err = fdt_property_u64(out->fdt, LUO_FDT_TOKEN_PROP, token);
	if (!err)
		err = fdt_property_string(out->fdt, LUO_FDT_COMPAT_PROP,
					  compatible);
	if (!err)
		err = fdt_property_u64(out->fdt, LUO_FDT_DATA_PROP, data);
	if (!err)
		err = fdt_end_node(out->fdt);
	return luo_out_err(err);
}

/* Free the chunk pages, unpreserving them first if @preserved. */
static void luo_out_free_chunks(struct list_head *chunks, bool preserved)
{
	struct folio *folio, *tmp;

	list_for_each_entry_safe(folio, tmp, chunks, lru) {
		list_del(&folio->lru);
		/* if KHO still holds the page, leak it rather than free it */
		if (preserved && kho_unpreserve_folio(folio)) {
			pr_warn("cannot unpreserve a page of records\n");
			continue;
		}
		folio_put(folio);
	}
}

/* Preserve every chunk, or none. */
static int luo_out_preserve_chunks(struct luo_out *out)
{
	struct folio *folio;
	int err;

	list_for_each_entry(folio, &out->chunks, lru) {
		err = kho_preserve_folio(folio);
		if (err)
			goto err_unpreserve;
	}
	return 0;

err_unpreserve:
	list_for_each_entry_continue_reverse(folio, &out->chunks, lru)
		WARN_ON_ONCE(kho_unpreserve_folio(folio));
	return err;
}

/* Write the index of @out's chunks into a new folio. */
static int luo_out_write_index(struct luo_out *out, struct folio **foliop)
{
	size_t size = LUO_INDEX_OVERHEAD + out->nr_chunks * sizeof(fdt64_t);
	unsigned int order = get_order(size);
	struct folio *folio, *chunk;
	unsigned long i = 0;
	fdt64_t *entry;
	void *fdt;
	int err;

	if (order > MAX_PAGE_ORDER) {
		pr_err("%lu pages of records: more than one index lists\n",
		       out->nr_chunks);
		return -E2BIG;
	}
	folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN, order);
	if (!folio)
		return -ENOMEM;
	fdt = folio_address(folio);

	err = luo_out_fdt_begin(fdt, PAGE_SIZE << order, LUO_FDT_COMPATIBLE);
	if (!err)
		err = fdt_property_placeholder(fdt, LUO_FDT_CHUNKS_PROP,
					       out->nr_chunks * sizeof(*entry),
					       (void **)&entry);
	if (!err) {
		list_for_each_entry(chunk, &out->chunks, lru)
			entry[i++] = cpu_to_fdt64(PFN_PHYS(folio_pfn(chunk)));
		err = fdt_end_node(fdt);
	}
	if (!err)
		err = fdt_finish(fdt);
	err = luo_out_err(err);
	if (err) {
		folio_put(folio);
		return err;
	}
	*foliop = folio;
	return 0;
}

/**
 * luo_handover_write - hand the outgoing sessions to KHO
 *
 * Writes every outgoing session and file into chunk pages, preserves them,
 * and links their index into the KHO tree as the LUO_FDT_NAME subtree.
 * The files must be frozen. On failure nothing stays preserved.
 *
 * Return: 0; -ENOMEM; -E2BIG if the index would be larger than one page
 * allocation; or an error from KHO.
 */
int luo_handover_write(void)
{
	struct luo_out out = { .chunks = LIST_HEAD_INIT(out.chunks) };
	struct folio *index;
	int err;

	lockdep_assert_held(&luo_mutex);
	err = luo_out_chunk_begin(&out);
	if (!err)
		err = luo_session_serialize_all(&out);
	if (!err)
		err = luo_out_chunk_end(&out);
	if (err)
		goto err_free_chunks;
	err = luo_out_write_index(&out, &index);
	if (err)
		goto err_free_chunks;
	err = luo_out_preserve_chunks(&out);
	if (err)
		goto err_put_index;
	err = kho_add_subtree(LUO_FDT_NAME, folio_address(index));
	if (err)
		goto err_unpreserve_chunks;

	list_splice_tail(&out.chunks, &luo_out_chunks);
	luo_out_index = index;
	pr_debug("%u sessions in %lu pages of records\n", out.nr_sessions,
		 out.nr_chunks);
	return 0;

err_unpreserve_chunks:
	luo_out_free_chunks(&out.chunks, true);
err_put_index:
	folio_put(index);
err_free_chunks:
	luo_out_free_chunks(&out.chunks, false);
	return err;
}

/**
 * luo_handover_remove - undo luo_handover_write()
 *
 * Does nothing if nothing was written.
 */
void luo_handover_remove(void)
{
	int err;

	lockdep_assert_held(&luo_mutex);
	if (!luo_out_index)
		return;
	err = kho_remove_subtree(LUO_FDT_NAME);
	if (err) {
		/* KHO still lists them: leak them rather than free them */
		pr_warn("cannot remove the %s subtree: %d\n", LUO_FDT_NAME,
			err);
		INIT_LIST_HEAD(&luo_out_chunks);
	} else {
		luo_out_free_chunks(&luo_out_chunks, true);
		folio_put(luo_out_index);
	}
	luo_out_index = NULL;
}

/* ----- incoming ----- */

/**
 * struct luo_in - what the reader carries from one node to the next
 * @open: the last session read, not yet complete or not yet known to be;
 *	its files may go on in the next chunk
 * @nr_files: the number of files @open says it has
 * @skip: the name of a session dropped while being read: the rest of it,
 *	in the chunks that follow, is skipped without a word
 */
struct luo_in {
	struct luo_session *open;
	u64 nr_files;
	char skip[LIVEUPDATE_SESSION_NAME_LENGTH];
};

static int __init luo_in_u64(const void *fdt, int node, const char *name,
			     u64 *val)
{
	const fdt64_t *prop;
	int len;

	prop = fdt_getprop(fdt, node, name, &len);
	if (!prop || len != sizeof(*prop))
		return -EINVAL;
	*val = fdt64_to_cpu(*prop);
	return 0;
}

/* A string property of 1 to @size - 1 bytes and a NUL, or NULL. */
static const char *__init luo_in_string(const void *fdt, int node,
					const char *name, int size)
{
	const char *s;
	int len;

	s = fdt_getprop(fdt, node, name, &len);
	if (!s || len < 2 || len > size || s[len - 1] ||
	    strlen(s) != len - 1)
		return NULL;
	return s;
}

/* Drop the open session, and the rest of it in the chunks that follow. */
static void __init luo_in_drop(struct luo_in *in)
{
	strscpy(in->skip, in->open->name, sizeof(in->skip));
	luo_session_free_incoming(in->open);
	in->open = NULL;
}

/* The open session is done: keep it if it is whole. */
static void __init luo_in_close(struct luo_in *in)
{
	struct luo_session *session = in->open;

	if (!session)
		return;
	if (session->nr_files != in->nr_files) {
		pr_err("incoming session %s: %u of its %llu files handed over: dropped\n",
		       session->name, session->nr_files, in->nr_files);
		luo_in_drop(in);
		return;
	}
	in->open = NULL;
	luo_session_add_incoming(session);
}

/* Read the files of session node @node into the open session. */
static int __init luo_in_files(struct luo_in *in, const void *fdt, int node)
{
	struct luo_session *session = in->open;
	const char *compatible;
	u64 token, data;
	int fnode, err;

	fdt_for_each_subnode(fnode, fdt, node) {
		compatible = luo_in_string(fdt, fnode, LUO_FDT_COMPAT_PROP,
					   LIVEUPDATE_HNDL_COMPAT_LENGTH);
		if (!compatible ||
		    luo_in_u64(fdt, fnode, LUO_FDT_TOKEN_PROP, &token) ||
		    luo_in_u64(fdt, fnode, LUO_FDT_DATA_PROP, &data))
			return -EINVAL;
		if (session->nr_files >= in->nr_files)
			return -E2BIG;
		err = luo_file_add_incoming(session, token, compatible, data);
		if (err)
			return err;
	}
	return fnode == -FDT_ERR_NOTFOUND ? 0 : -EINVAL;
}

/* Read session node @node; @first_node: the first of its chunk. */
static void __init luo_in_session(struct luo_in *in, const void *fdt,
				  int node, bool first_node)
{
	u64 nr_files, first_file;
	const char *name;
	int err;

	name = luo_in_string(fdt, node, LUO_FDT_NAME_PROP,
			     LIVEUPDATE_SESSION_NAME_LENGTH);
	if (!name ||
	    luo_in_u64(fdt, node, LUO_FDT_NR_FILES_PROP, &nr_files) ||
	    luo_in_u64(fdt, node, LUO_FDT_FIRST_FILE_PROP, &first_file)) {
		pr_err("incoming session with a bad name or file count: dropped\n");
		luo_in_close(in);
		return;
	}

	if (first_file) {
		/* the rest of the open session, if it follows on from it */
		if (!strcmp(name, in->skip))
			return;
		if (!first_node || !in->open || strcmp(name, in->open->name) ||
		    nr_files != in->nr_files ||
		    first_file != in->open->nr_files) {
			pr_err("incoming session %s: files from %llu on do not follow on from the files before: dropped\n",
			       name, first_file);
			luo_in_close(in);
			return;
		}
	} else {
		luo_in_close(in);
		in->skip[0] = '\0';
		in->open = luo_session_new_incoming(name);
		if (!in->open) {
			pr_err("incoming session %s: no memory: dropped\n",
			       name);
			strscpy(in->skip, name, sizeof(in->skip));
			return;
		}
		in->nr_files = nr_files;
	}

	err = luo_in_files(in, fdt, node);
	if (err) {
		pr_err("incoming session %s: bad file list (%d): dropped\n",
		       name, err);
		luo_in_drop(in);
	}
}

/* Why the chunk at @phys is not one to read, or NULL if it is. */
static const char *__init luo_in_chunk_bad(u64 phys)
{
	const void *fdt;

	if (!PAGE_ALIGNED(phys) || !kho_is_preserved(phys, 0))
		return "not a preserved page";
	fdt = phys_to_virt(phys);
	if (fdt_check_header(fdt) || fdt_totalsize(fdt) > PAGE_SIZE)
		return "not an FDT of one page";
	if (fdt_node_check_compatible(fdt, 0, LUO_CHUNK_COMPATIBLE))
		return "not " LUO_CHUNK_COMPATIBLE;
	return NULL;
}

static void __init luo_in_chunk(struct luo_in *in, const void *fdt)
{
	bool first_node = true;
	int node;

	fdt_for_each_subnode(node, fdt, 0) {
		luo_in_session(in, fdt, node, first_node);
		first_node = false;
	}
	if (node != -FDT_ERR_NOTFOUND)
		pr_err("a page of records ends in a bad node: the rest of it dropped\n");
}

static int __init luo_in_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Check that the index names every page once: 0, -EINVAL or -ENOMEM. */
static int __init luo_in_chunks_unique(const fdt64_t *chunks,
				       unsigned long nr)
{
	unsigned long i;
	int err = 0;
	u64 *phys;

	phys = kvmalloc_array(nr, sizeof(*phys), GFP_KERNEL);
	if (!phys)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		phys[i] = fdt64_to_cpu(chunks[i]);
	sort(phys, nr, sizeof(*phys), luo_in_cmp_u64, NULL);
	for (i = 1; i < nr && !err; i++) {
		if (phys[i] == phys[i - 1]) {
			pr_err("the index lists page %#llx twice\n", phys[i]);
			err = -EINVAL;
		}
	}
	kvfree(phys);
	return err;
}

/* Read the sessions of every chunk in @index, then free the chunks. */
static void __init luo_in_read(const void *index)
{
	struct luo_in in = {};
	const fdt64_t *chunks;
	unsigned long nr, i;
	const char *why;
	int len, err;

	chunks = fdt_getprop(index, 0, LUO_FDT_CHUNKS_PROP, &len);
	if (!chunks || len % sizeof(*chunks)) {
		pr_err("the incoming index has no list of pages: every incoming session dropped\n");
		return;
	}
	nr = len / sizeof(*chunks);
	err = luo_in_chunks_unique(chunks, nr);
	if (err) {
		pr_err("incoming index of %lu pages refused (%d): every incoming session dropped\n",
		       nr, err);
		return;
	}

	/* in place: nothing is claimed before everything was read */
	for (i = 0; i < nr; i++) {
		why = luo_in_chunk_bad(fdt64_to_cpu(chunks[i]));
		if (why) {
			pr_err("page %lu of records at %#llx: %s: its sessions dropped\n",
			       i, fdt64_to_cpu(chunks[i]), why);
			/* a session it went on in is incomplete now */
			luo_in_close(&in);
			continue;
		}
		luo_in_chunk(&in, phys_to_virt(fdt64_to_cpu(chunks[i])));
	}
	luo_in_close(&in);
	luo_session_refuse_shared();

	/* every string and value was copied: give the pages back */
	for (i = 0; i < nr; i++) {
		struct folio *folio;

		if (luo_in_chunk_bad(fdt64_to_cpu(chunks[i])))
			continue;
		folio = kho_restore_folio(fdt64_to_cpu(chunks[i]));
		if (folio)
			folio_put(folio);
		else
			pr_warn("cannot take back page %lu of records\n", i);
	}
}

/**
 * luo_handover_read - take the sessions the previous kernel handed over
 *
 * Called once at boot, before /dev/liveupdate exists. What does not pass
 * the checks is dropped with a message saying why; what its files
 * preserved stays reserved.
 */
void __init luo_handover_read(void)
{
	const void *index;
	phys_addr_t phys;
	size_t size;

	index = kho_get_subtree(LUO_FDT_NAME, &phys);
	if (!index)
		return;
	/* kho_add_subtree() preserved exactly these pages */
	size = PAGE_ALIGN(fdt_totalsize(index));

	if (fdt_node_check_compatible(index, 0, LUO_FDT_COMPATIBLE)) {
		pr_err("incoming sessions are not %s: ignored\n",
		       LUO_FDT_COMPATIBLE);
	} else {
		mutex_lock(&luo_mutex);
		luo_in_read(index);
		mutex_unlock(&luo_mutex);
	}

	if (!kho_restore_phys(phys, size))
		free_pages_exact(phys_to_virt(phys), size);
	else
		pr_warn("cannot take back the incoming %s subtree\n",
			LUO_FDT_NAME);
}
