// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: the Live Update records handed over (luo_handover_read():
 * the index of chunk pages, each chunk's session and file nodes), read
 * into incoming sessions by the real luo_session.c and luo_file.c.
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM; the index is
 * the first page of RAM, named by the KHO state tree the harness builds as
 * the "liveupdate" subtree. Whatever the records say, reading them must
 * not go out of what was preserved, leak, or free a page twice.
 */
#include "kernel/liveupdate/luo_handover.c"
#include "kernel/liveupdate/luo_session.c"
#include "kernel/liveupdate/kexec_handover_internal.h"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void luo_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		luo_seeds();
	return 0;
}

/* The KHO state tree, naming the index at the start of RAM. */
static void luo_kho_tree(void)
{
	void *fdt = (void *)get_zeroed_page(GFP_KERNEL);
	u64 phys = FUZZ_RAM_PHYS, size = PAGE_SIZE;

	if (!fdt || fdt_create(fdt, PAGE_SIZE) || fdt_finish_reservemap(fdt) ||
	    fdt_begin_node(fdt, "") ||
	    fdt_property_string(fdt, "compatible", KHO_FDT_COMPATIBLE) ||
	    fdt_begin_node(fdt, LUO_FDT_NAME) ||
	    fdt_property(fdt, "fdt", &phys, sizeof(phys)) ||
	    fdt_property(fdt, "fdt-size", &size, sizeof(size)) ||
	    fdt_end_node(fdt) || fdt_end_node(fdt) || fdt_finish(fdt))
		fuzz_fail("cannot write the KHO tree");
	kho_in.fdt_phys = virt_to_phys(fdt);
	kho_in.fdt_size = fdt_totalsize(fdt);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct luo_session *session, *tmp;

	fuzz_consumer_reset(data, size);
	luo_kho_tree();
	luo_handover_read();
	list_for_each_entry_safe(session, tmp, &luo_sessions_in, list) {
		pr_info("kho-fuzz: accepted session %s\n", session->name);
		list_del(&session->list);
		luo_session_free_incoming(session);
	}
	return 0;
}

/* ----- seeds, written with libfdt in the format of luo.h ----- */

static void luo_seed_file(void *fdt, unsigned int i, u64 token, u64 data)
{
	char name[16];

	snprintf(name, sizeof(name), "file-%u", i);
	if (fdt_begin_node(fdt, name) ||
	    fdt_property_u64(fdt, LUO_FDT_TOKEN_PROP, token) ||
	    fdt_property_string(fdt, LUO_FDT_COMPAT_PROP, "memfd-v1") ||
	    fdt_property_u64(fdt, LUO_FDT_DATA_PROP, data) || fdt_end_node(fdt))
		fuzz_fail("cannot write a seed file node");
}

static void luo_seed_session(void *fdt, unsigned int i, const char *sname,
			     u64 nr_files, u64 first, unsigned int nr_here)
{
	char name[20];
	unsigned int f;

	snprintf(name, sizeof(name), "session-%u", i);
	if (fdt_begin_node(fdt, name) ||
	    fdt_property_string(fdt, LUO_FDT_NAME_PROP, sname) ||
	    fdt_property_u64(fdt, LUO_FDT_NR_FILES_PROP, nr_files) ||
	    fdt_property_u64(fdt, LUO_FDT_FIRST_FILE_PROP, first))
		fuzz_fail("cannot write a seed session node");
	for (f = 0; f < nr_here; f++)
		luo_seed_file(fdt, f, first + f + 1, SZ_1G + (first + f) * PAGE_SIZE);
	if (fdt_end_node(fdt))
		fuzz_fail("cannot write a seed session node");
}

static void luo_seed_begin(void *fdt, const char *compatible)
{
	if (fdt_create(fdt, PAGE_SIZE) || fdt_finish_reservemap(fdt) ||
	    fdt_begin_node(fdt, "") ||
	    fdt_property_string(fdt, "compatible", compatible))
		fuzz_fail("cannot begin a seed FDT");
}

static void luo_seed_end(void *fdt)
{
	if (fdt_end_node(fdt) || fdt_finish(fdt))
		fuzz_fail("cannot end a seed FDT");
}

static void luo_seed(const char *name, unsigned int nr_chunks)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	u8 *buf = calloc(1, size), *ram;
	struct fuzz_block *b = (void *)buf;
	fdt64_t chunks[4];
	unsigned int i;

	ram = buf + sizeof(*b) * FUZZ_NR_BLOCKS;
	for (i = 0; i < nr_chunks; i++) {
		chunks[i] = cpu_to_fdt64(FUZZ_RAM_PHYS + (i + 1) * PAGE_SIZE);
		b[i + 1] = (struct fuzz_block){ .page = i + 1 };
	}
	luo_seed_begin(ram, LUO_FDT_COMPATIBLE);
	if (fdt_property(ram, LUO_FDT_CHUNKS_PROP, chunks,
			 nr_chunks * sizeof(chunks[0])))
		fuzz_fail("cannot write the seed index");
	luo_seed_end(ram);

	/* vm1 has 3 files, the last going on in the second chunk; then vm2 */
	luo_seed_begin(ram + PAGE_SIZE, LUO_CHUNK_COMPATIBLE);
	luo_seed_session(ram + PAGE_SIZE, 0, "vm1", nr_chunks > 1 ? 3 : 2, 0, 2);
	luo_seed_end(ram + PAGE_SIZE);
	if (nr_chunks > 1) {
		luo_seed_begin(ram + 2 * PAGE_SIZE, LUO_CHUNK_COMPATIBLE);
		luo_seed_session(ram + 2 * PAGE_SIZE, 0, "vm1", 3, 2, 1);
		luo_seed_session(ram + 2 * PAGE_SIZE, 1, "vm2", 1, 0, 1);
		luo_seed_end(ram + 2 * PAGE_SIZE);
	}
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void luo_seeds(void)
{
	luo_seed("one-chunk", 1);
	luo_seed("two-chunks", 2);
}
