#!/bin/sh
# kho-test: cmdline=kho=on
# kho-test: mem=3G timeout=600
# Benchmark: preserve and restore 1 GiB of order--1 folios (-1: mixed).
. /tests/kho_lib.sh
ORDER=-1
MIB=1024
. /tests/kho_bench_lib.sh
