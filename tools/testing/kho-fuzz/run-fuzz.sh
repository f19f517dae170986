#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run-fuzz.sh OUT SECONDS TARGET...: fuzz each target in turn for SECONDS,
# from the seeds in corpus/ and the inputs in regressions/, and print what
# each did. With FUZZ_RUNS=N in the environment each target runs N inputs
# instead, however long that takes (SECONDS is then only a bound). New
# inputs are kept in OUT/corpus/<target>, the crashes of this run in
# OUT/crashes/<target>. Exits non-zero if any target crashed.
out=$1
secs=$2
shift 2
status=0
summary=""
for t in "$@"; do
	# a crash of an earlier run is kept in regressions/ once understood
	rm -rf "$out/crashes/$t"
	mkdir -p "$out/corpus/$t" "$out/crashes/$t" corpus/$t regressions/$t
	echo "==> fuzzing $t for $secs s"
	nice -n 10 "$out/$t" -max_total_time="$secs" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -max_len=70000 \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t/" \
		"$out/corpus/$t" corpus/$t regressions/$t > "$out/$t.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log")
	crashes=$(ls "$out/crashes/$t" | wc -l)
	if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
		status=1
		grep -m3 -E "kho-fuzz:|ERROR:|runtime error" "$out/$t.log"
	fi
	line=$(printf "%-14s %12s execs %8s exec/s %3s crashes" "$t" \
	       "${execs:-0}" "${rate:-0}" "$crashes")
	echo "    $line"
	summary="$summary$line\n"
done
echo "==> kho-fuzz: $secs s per target"
printf "$summary"
exit $status
