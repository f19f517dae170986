#!/bin/sh
# A malformed kho_scratch= is reported clearly and ignored: the setting
# in force (here the default) stays.
. /tests/kho_lib.sh

msg=$(dmesg | grep "kho_scratch=12Q,oops.*ignored")
[ -n "$msg" ] || fail "no error message for kho_scratch=12Q,oops"
echo "ok: $msg"
n=$(cat $KHO/out/scratch_len | wc -l)
expect_eq "scratch areas with the default" 3 "$n"
exit 0
