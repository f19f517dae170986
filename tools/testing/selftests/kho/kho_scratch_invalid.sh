#!/bin/sh
# A malformed kho_scratch= is reported clearly and ignored: the setting
# in force (here the default) stays.
. /tests/kho_lib.sh

msg=$(dmesg | grep "kho_scratch=12Q,oops.*ignored")
[ -n "$msg" ] || fail "no error message for kho_scratch=12Q,oops"
echo "ok: $msg"
# the default, 200%, stays in force
kho_expect_scratch_pct 200
exit 0
