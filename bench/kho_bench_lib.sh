# Shared body of the bench/kho_* benchmarks: preserve $MIB MiB of folios of
# order $ORDER (-1: mixed), finalize, kexec, restore; print "bench:" lines.
case "$1" in
1)
	kho_write $KHO/test/bench "$ORDER $MIB" || fail "bench preserve"
	dmesg | grep "bench: order" | sed 's/^.*KHO test: //'
	kho_write $KHO/out/finalize 1 || fail "finalize"
	dmesg | grep "KHO: finalized in" | sed 's/^\[[^]]*\] KHO: /bench: /'
	exit $NEXT_STAGE ;;
2)
	dmesg | grep "KHO: incoming map" | sed 's/^\[[^]]*\] KHO: /bench: next kernel: /'
	out=$(cat $KHO/test/bench)
	echo "bench: next kernel: $out"
	case "$out" in *FAIL*|*" 0 missing"*) ;; esac
	case "$out" in *", 0 missing"*) exit 0 ;; esac
	fail "$out" ;;
esac
fail "unexpected stage $1"
