/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace world the fuzz targets run the kernel's parsers in.
 *
 * Everything here is compiled against the kernel's own headers (see the
 * Makefile), so the parsers see the structures, macros and inline helpers
 * they see in the kernel. What a parser calls out of its file is provided
 * by env.c: a fake physical address space, memblock, the page allocator
 * and struct pages for it, kmalloc and printk.
 *
 * Physical memory, as the parsers see it through phys_to_virt():
 *
 *	[0, 1 MiB)		memory, reserved at boot (x86 keeps it), reads
 *				as zero, read-only
 *	FUZZ_RAM_PHYS		FUZZ_RAM_PAGES pages of memory holding the
 *				fuzzer's input, read-write
 *	FUZZ_BIG_PHYS		FUZZ_BIG_SIZE bytes of memory, reads as zero,
 *				read-only: room for scratch areas and huge
 *				blocks
 *	FUZZ_POOL_PHYS		the harness's page allocator (not memblock
 *				memory: the previous kernel's allocations)
 *
 * Any other address of the first FUZZ_PHYS_SPAN bytes is a hole: touching
 * it faults, so a parser that follows an address it did not check is
 * caught even where ASan has no shadow for it.
 */
#ifndef _KHO_FUZZ_ENV_H
#define _KHO_FUZZ_ENV_H

#include <linux/types.h>
#include <linux/sizes.h>
#include <linux/mm_types.h>

#define FUZZ_LOW_SIZE		SZ_1M
#define FUZZ_RAM_PHYS		((phys_addr_t)SZ_16M)
#define FUZZ_RAM_PAGES		16
#define FUZZ_RAM_SIZE		(FUZZ_RAM_PAGES * PAGE_SIZE)
#define FUZZ_BIG_PHYS		((phys_addr_t)SZ_32M)
#define FUZZ_BIG_SIZE		SZ_4M
#define FUZZ_POOL_PHYS		((phys_addr_t)SZ_64M)
#define FUZZ_POOL_PAGES		1024
#define FUZZ_MAX_PFN		((FUZZ_POOL_PHYS >> PAGE_SHIFT) + FUZZ_POOL_PAGES)

/* libc, declared here: the kernel's headers do not */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void free(void *p);
void abort(void) __attribute__((noreturn));
char *getenv(const char *name);
int atoi(const char *s);

/* Set up the address space once; called from LLVMFuzzerInitialize(). */
void fuzz_env_init(void);
/*
 * Start a run: RAM holds @data (the rest zero), memblock and the struct
 * pages are as at boot, the pool is empty, no allocation fails.
 */
void fuzz_env_reset(const u8 *data, size_t size);
/* Make the @n-th kmalloc/page allocation from now fail (0: none). */
void fuzz_fail_alloc(unsigned int n);
/* Does memblock's reserved set match the one at boot? */
bool fuzz_memblock_as_booted(void);
bool fuzz_memblock_reserved(phys_addr_t phys, phys_addr_t size);

/* The fuzz RAM, for targets that lay out their input. */
void *fuzz_ram(void);
/* The run wrote RAM up to @end: clear it before the next. */
void fuzz_ram_written(size_t end);

/*
 * An incoming handover whose preserved-memory map holds the blocks given to
 * fuzz_kho_in_preserve() (in RAM or BIG, overlapping no other), written by
 * the kernel's own map writer; fuzz_kho_in_end() makes it the accepted
 * handover, as if kho_in_mem_reserve() had passed it.
 */
void fuzz_kho_in_begin(void);
int fuzz_kho_in_preserve(phys_addr_t phys, unsigned int order);
void fuzz_kho_in_end(void);

/* The blocks a consumer target's input starts with. */
struct fuzz_block {
	u16 page;	/* RAM page, or FUZZ_RAM_PAGES + BIG page */
	u8 order;
	u8 unused;
};

#define FUZZ_NR_BLOCKS	8
#define FUZZ_BIG_PAGE(phys)	(FUZZ_RAM_PAGES + ((phys) - FUZZ_BIG_PHYS) / PAGE_SIZE)
size_t fuzz_consumer_reset(const u8 *data, size_t size);

/* Seeds: page allocations come from RAM, from its first page, while on. */
void fuzz_alloc_from_ram(bool on);

/* Blocks given back to the page allocator this run, and double frees. */
extern unsigned long fuzz_pages_freed;

/* Report a broken invariant as a crash, with a message. */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn));
/* A call the environment does not provide (see mkstubs.sh). */
void fuzz_stub_called(const char *name) __attribute__((noreturn));

/* Seed writing: KHO_FUZZ_SEEDS=dir makes a target write its seeds. */
const char *fuzz_seed_dir(void);
void fuzz_write_seed(const char *name, const void *data, size_t size);

#endif /* _KHO_FUZZ_ENV_H */
