// SPDX-License-Identifier: GPL-2.0
/* Benchmark: 1 GiB shmem memfd through Live Update (see lib/luo_memfd_bench.c). */
#include "lib/luo_memfd_bench.h"

int main(int argc, char **argv)
{
	return luo_memfd_bench(argc, argv, "luo_shmem", false);
}
