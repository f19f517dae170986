// SPDX-License-Identifier: GPL-2.0
/* kho-test: cmdline=kho=on */
/* kho-test: mem=3G timeout=1500 */
/* Benchmark: 1 GiB hugetlb memfd through Live Update (see luo-memfd.h). */
#define BENCH_HUGETLB 1
#include "luo-memfd.h"
