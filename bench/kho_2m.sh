#!/bin/sh
# Benchmark: preserve and restore 1 GiB of order-9 folios (-1: mixed).
. /tests/kho_lib.sh
ORDER=9
MIB=1024
. /tests/kho_bench_lib.sh
