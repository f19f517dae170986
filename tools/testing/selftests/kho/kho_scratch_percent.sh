#!/bin/sh
# kho_scratch=N% scales what the kernel allocated at boot. This VM has one
# node, so there is no per-node area; when all its RAM lies below 4 GiB the
# global area serves low allocations too and there is no lowmem area.
. /tests/kho_lib.sh

kho_expect_scratch_pct 50
dmesg | grep -q "kho_scratch=.*expected" && fail "kho_scratch=50% reported as invalid"
exit 0
