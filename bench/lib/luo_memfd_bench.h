/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LUO_MEMFD_BENCH_H
#define LUO_MEMFD_BENCH_H

#include <stdbool.h>

/*
 * Run a stage of benchmark @name: a 1 GiB memfd, of 2 MiB huge pages if
 * @hugetlb, through Live Update; the luo_test() stage protocol.
 */
int luo_memfd_bench(int argc, char **argv, const char *name, bool hugetlb);

#endif /* LUO_MEMFD_BENCH_H */
