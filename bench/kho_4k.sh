#!/bin/sh
# Benchmark: preserve and restore 512 MiB (the largest list one subtree holds) of order-0 folios (-1: mixed).
. /tests/kho_lib.sh
ORDER=0
MIB=512
. /tests/kho_bench_lib.sh
