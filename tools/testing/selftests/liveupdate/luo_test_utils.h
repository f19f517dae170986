/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the Live Update tests. Each test runs as `prog STAGE` in a
 * kho-v QEMU guest, in a working directory that survives the kexec; it
 * exits 0 (pass), 4 (skip), 10 (kexec, then run stage STAGE + 1) or 1
 * (fail, after a "FAIL: ..." line).
 *
 * Sessions must still be open when the kexec happens, but the test exits
 * before the harness kexecs: luo_keep_and_kexec() leaves a child behind
 * that holds every fd the test had.
 */
#ifndef LUO_TEST_UTILS_H
#define LUO_TEST_UTILS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/liveupdate.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_SKIP	4
#define EXIT_KEXEC	10

#define LUO_DEV		"/dev/liveupdate"
#define KHO_DEBUGFS	"/sys/kernel/debug/kho"

/* Magic at the start of every memfd the tests preserve. */
#define LUO_TEST_MAGIC	0x747365746f756c21ULL

/* Where the expectations about contents live: inside the memfd itself. */
struct luo_test_header {
	uint64_t magic;
	uint64_t seed;		/* pattern of the bytes after the header page */
	uint64_t size;		/* the memfd size when written */
	uint64_t gen;		/* bumped each time a test rewrites it */
	uint64_t token;		/* the token it was preserved under */
	uint64_t checksum;	/* of the pattern, as written */
};

#define LUO_TEST_DATA_OFF	4096

/* ----- output: diagnostics, and the verdict of a stage ----- */

/* Print "FAIL: ..." and exit EXIT_FAIL; the harness quotes the last one. */
void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);
/* Print "SKIP: ..." and exit EXIT_SKIP. */
void __attribute__((noreturn, format(printf, 1, 2))) skip(const char *fmt, ...);
/* One line of output, flushed at once (children share stdout). */
void __attribute__((format(printf, 1, 2))) msg(const char *fmt, ...);

/* ret is 0/-errno style (or an fd): check it is the expected -errno. */
void expect_err(const char *what, long ret, int err);
/* ret is 0/-errno style (or an fd): check it succeeded; returns it. */
long expect_ok(const char *what, long ret);
void expect_u64(const char *what, uint64_t want, uint64_t got);

/* ----- the stage runner ----- */

/* One stage of a test: returns an EXIT_* status. */
typedef int (*luo_stage_fn)(void);

/*
 * Run the stage argv[1] names of test @name, which has @nr_stages stages
 * (@stages[0] is stage 1). Every stage but the last must end in EXIT_KEXEC
 * (or skip/fail), the last one must not. Prints a TAP-style verdict line
 * for the stage and returns the exit status: return it from main().
 */
int luo_test(int argc, char **argv, const char *name,
	     const luo_stage_fn *stages, int nr_stages);

/* The stage luo_test() runs, for a function that serves several. */
int luo_test_stage(void);

/* luo_test(argc, argv, name, LUO_STAGES(stage1, stage2, ...)) */
#define LUO_STAGES(...)							\
	((const luo_stage_fn[]){ __VA_ARGS__ }),			\
	(int)(sizeof((luo_stage_fn[]){ __VA_ARGS__ }) / sizeof(luo_stage_fn))

/* ----- raw ioctls, 0 or an fd on success, -errno on failure ----- */

/* Open /dev/liveupdate; skips the test where there is none. */
int luo_open(void);
/* ioctl() on a Live Update fd: 0 or -errno. */
int luo_ioctl(int fd, unsigned long cmd, void *arg);
int luo_create_session(int dev, const char *name);
/* Session @name, created (@create) or retrieved: an fd, or fail. */
int luo_open_session(int dev, const char *name, bool create);
int luo_retrieve_session(int dev, const char *name);
int luo_preserve_fd(int session, int fd, uint64_t token);
int luo_retrieve_fd(int session, uint64_t token);
int luo_finish(int session);

/* ----- memfd contents ----- */

/*
 * Fill @map (the whole memfd of @size bytes, mapped) with a header and a
 * pattern from @seed; the header carries what stage 2 checks against.
 */
void luo_fill(void *map, uint64_t size, uint64_t seed, uint64_t gen,
	      uint64_t token);
/* Check what luo_fill() wrote; fails the test on any difference. */
void luo_verify(const char *what, const void *map, uint64_t size,
		uint64_t gen, uint64_t token);
/* mmap() all @size bytes of @fd shared, or fail. */
void *luo_map(int fd, uint64_t size);
uint64_t luo_fd_size(int fd);
/* A random seed for luo_fill(). */
uint64_t luo_seed(void);

/* ----- page frames ----- */

/*
 * Fill @pfns with the PFN of each page of [map, map + size), touching
 * every page first; fails if one is absent or the PFNs are hidden.
 */
void luo_read_pfns(const void *map, uint64_t size, uint64_t *pfns);
/* luo_read_pfns() into a new array; free() it. */
uint64_t *luo_pfns(const void *map, uint64_t size);
/* Fail unless @want and @got, @n PFNs each, are the same. */
void luo_compare_pfns(const char *what, const uint64_t *want,
		      const uint64_t *got, uint64_t n);
/* Fail if any PFN lies in a KHO scratch area (they cannot be preserved). */
void luo_check_not_scratch(const uint64_t *pfns, uint64_t n);

/*
 * Fill memfd @fd (@size bytes) as generation 1 of @token, preserve it in
 * @session ("preserve @what") and luo_save_pfns() where its pages are then.
 */
void luo_preserve_memfd(int session, int fd, uint64_t size, uint64_t token,
			const char *what, bool scratch);
/*
 * Save the PFNs of [map, map + size) in "pfns" for the next stage's
 * luo_check_pfns(); @scratch: fail first if one is in KHO scratch.
 */
void luo_save_pfns(const void *map, uint64_t size, bool scratch);
/* Fail unless [map, map + size) is at the PFNs the last stage saved. */
void luo_check_pfns(const char *what, const void *map, uint64_t size);
/*
 * Retrieve session @name and its memfd @token, which stage 1 filled with
 * luo_preserve_memfd(): fail unless it is @size bytes of the pattern at
 * the PFNs saved then. @what names the moment. Returns the session fd,
 * not finished; the memfd is closed.
 */
int luo_retrieve_memfd_back(int dev, const char *name, uint64_t token,
			    uint64_t size, const char *what);

/* ----- the kernel's side ----- */

/* Write @val to the file @path (debugfs, sysfs), or fail. */
void luo_write_file(const char *path, const char *val);
/*
 * Run @cmd with the shell; its exit status, with what it wrote to stdout
 * in @out (NUL-terminated, cut to @len - 1 bytes). Fails if it did not
 * exit.
 */
int luo_run(const char *cmd, char *out, size_t len);
/* Fail unless a kernel log line holds @text; print that line. */
void luo_expect_log(const char *text);
/* Is @text in the kernel log? */
bool luo_log_has(const char *text);
/*
 * luo_expect_log(), after waiting up to two seconds for @text (an
 * interrupt handler or a worker may log it a little later).
 */
void luo_expect_log_soon(const char *text);

/* ----- benchmarks ----- */

/* CLOCK_MONOTONIC in microseconds */
double luo_now_us(void);
/* Print the last kernel log line holding @key as "bench: @prefix<line>" */
void luo_bench_log(const char *prefix, const char *key);

/* A /proc/meminfo value (in kB, or pages for the HugePages_ counts). */
long luo_meminfo(const char *key);
/* Set vm.nr_hugepages (the default huge page size) to @nr; skip if refused. */
void luo_set_nr_hugepages(long nr);
/*
 * A counter of the huge page pool of @kib KiB pages, as its sysfs file
 * @file ("nr_hugepages", "free_hugepages", ...) gives it; skip the test
 * if this kernel has no such pool.
 */
long luo_hstate_read(unsigned long kib, const char *file);
/*
 * A hugetlbfs memfd @name of @size bytes, in huge pages of @hpage bytes
 * (a power of two), or fail.
 */
int luo_hugetlb_memfd(const char *name, uint64_t hpage, uint64_t size);

/* ----- notes a stage leaves for the next, in the state directory ----- */

void luo_save(const char *path, const void *buf, size_t len);
/* Read back what luo_save() wrote; malloc()ed, free() it. */
void *luo_load(const char *path, size_t len);

/* ----- forged records, for tests of what the next kernel must refuse ----- */

/* Does the kernel command line carry kho_variant=@variant? */
bool luo_variant_is(const char *variant);
/*
 * A memfd of one page, preserved in @session as @token, that starts like
 * a record of the handler whose format has @magic, but of @version: its
 * first u64 @magic, the u32 after it @version, the rest zeroes. The page
 * is saved as "forged" for luo_check_forged(). Returns its address.
 */
uint64_t luo_forge_record(int session, uint64_t token, uint64_t magic,
			  uint32_t version);
/* Retrieve memfd @token of @session: fail unless it is the forged page. */
void luo_check_forged(int session, uint64_t token);

/*
 * Leave a child holding every open fd (the sessions above all) through the
 * kexec; returns EXIT_KEXEC, for the stage to return.
 */
int luo_keep_and_kexec(void);

#endif /* LUO_TEST_UTILS_H */
