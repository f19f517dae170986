#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# replay.sh OUT TARGET...: run every seed (corpus/<target>) and regression
# input (regressions/<target>) through its target once, as a test each,
# and print KTAP and "N passed, N failed". The seeds captured from a real
# handover (capture-*, see capture.py) must moreover be accepted.
out=$1
shift
n=0
pass=0
fail=0
list=""
for t in "$@"; do
	for f in corpus/$t/* regressions/$t/*; do
		[ -f "$f" ] && list="$list $t:$f"
	done
done
echo "KTAP version 1"
echo "1..$(echo $list | wc -w)"
for item in $list; do
	t=${item%%:*}
	f=${item#*:}
	n=$((n + 1))
	# a seed captured from a real handover must also be accepted
	case "$f" in */capture-*) verbose=1 ;; *) verbose= ;; esac
	if KHO_FUZZ_VERBOSE=$verbose "$out/$t" "$f" > "$out/replay.log" 2>&1 &&
	   { [ -z "$verbose" ] || grep -q "kho-fuzz: accepted" "$out/replay.log" ||
	     { echo "# kho-fuzz: a real handover's record was refused"; false; }; }; then
		echo "ok $n kho-fuzz $f"
		pass=$((pass + 1))
	else
		grep -m3 -E "kho-fuzz:|ERROR:|runtime error" "$out/replay.log" | sed 's/^/# /'
		echo "not ok $n kho-fuzz $f"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
