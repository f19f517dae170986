#!/bin/bash
# make distro-check: build kho-v as a distribution would ship it, from
# Debian's own cloud-amd64 config (package linux-config-6.12) with
# configs/kho-v.fragment merged in, end to end (bzImage and every module),
# and report the warnings that fall in kho-v's code.
#
# usage: distro-check.sh TREE OBJ REPO JOBS
# DISTRO_CONFIG_ONLY=1 stops after the configuration; DISTRO_FLAVOUR picks
# another of Debian's configs (e.g. amd64_none_amd64).
#
# Too long for CI on 2 cores; run it before a release. Debian's config is
# used as it is, except for what only Debian's own build can provide:
# its trusted keys (debian/certs/) and the debug info that its packages
# strip into -dbg packages (BTF needs pahole and triples the build). The
# kernel it builds is not booted; `make check` boots the
# production-shaped kernel.
set -euo pipefail
tree=$1 obj=$2 repo=$3 jobs=$4
flavour=${DISTRO_FLAVOUR:-amd64_none_cloud-amd64}
src=/usr/src/linux-config-6.12/config.$flavour.xz
log=$obj/build.log

start=$(date +%s)
mkdir -p "$obj"
echo "==> Configuring $obj from Debian's $flavour config + configs/kho-v.fragment"
xz -dc "$src" > "$obj/.config"
"$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" \
	"$repo/configs/kho-v.fragment" >/dev/null
"$tree/scripts/config" --file "$obj/.config" \
	--set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
	--disable DEBUG_INFO_DWARF5 --disable DEBUG_INFO_DWARF4 \
	--disable DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT --disable DEBUG_INFO_BTF \
	--enable DEBUG_INFO_NONE
make -s -C "$tree" O="$obj" olddefconfig
# the options the distro_config test wants, checked in the config built
if ! python3 "$repo/configs/distro_config.py" --check-config "$obj/.config" \
	> "$obj/config-check.log"; then
	grep '^not ok' "$obj/config-check.log" >&2
	echo "distro-check: kho-v's options did not survive olddefconfig" >&2
	exit 1
fi

if [ "${DISTRO_CONFIG_ONLY:-0}" = 1 ]; then
	echo "distro-check: $obj/.config keeps kho-v on (configured only)"
	exit 0
fi

echo "==> Building bzImage and modules ($jobs jobs, ccache; about 95 min cold on 2 cores)"
if ! make -C "$tree" O="$obj" CC="ccache gcc" -j"$jobs" bzImage modules \
	> "$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "distro-check: the build failed; the whole log is $log" >&2
	exit 1
fi

# Warnings in kho-v's own files, and in the existing files its patches
# touch: those are the new ones (Debian's config warns elsewhere too).
ours=$(cd "$repo" && for d in $(cat harness/overlay-dirs); do
	[ -d "$d" ] && find "$d" -name '*.[ch]'
done; sed -n 's|^+++ b/||p' patches/*.patch | sort -u)
pattern=$(echo "$ours" | sed 's|[.]|\\.|g; s|^|^(\\.\\./tree/)?|; s|$|:[0-9]+:[0-9]+: warning:|' |
	paste -sd'|')
warnings=$(grep -E "$pattern" "$log" || true)
mins=$((($(date +%s) - start) / 60))
if [ -n "$warnings" ]; then
	echo "$warnings" >&2
	echo "distro-check: $(echo "$warnings" | wc -l) warning(s) in kho-v's code; built in $mins min" >&2
	exit 1
fi
echo "distro-check: Debian $flavour + kho-v built in $mins min, no warnings in kho-v's code ($(grep -c ': warning:' "$log" || true) elsewhere)"
