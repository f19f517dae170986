#!/bin/bash
# Check that `make patches` output applies with git am to a freshly unpacked
# 6.12 tree and that every prefix of the series builds (bisectable), the
# whole series with every kho-v option on.
#
# usage: check-patches.sh KSRC PATCHDIR WORKDIR
set -euo pipefail
ksrc=$1 patches=$2 work=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$work"
mkdir -p "$work"
# tree/ and obj/ side by side, as in the main build, so ccache's relative
# paths match and the check build reuses its objects
echo "==> Copying pristine $(readlink -f "$ksrc") into a new git repository"
cp -a "$ksrc" "$work/tree"
cd "$work/tree"
git init -q
# Debian's tarball has a .gitignore that ignores the whole top level
git add -f -A .
git -c user.name=kho-v -c user.email=kho-v@localhost commit -q -m "Linux 6.12 base"

mapfile -t series < <(ls "$patches"/0*.patch | grep -v 0000-cover-letter)
n=${#series[@]}
i=0
for p in "${series[@]}"; do
	i=$((i + 1))
	subject=$(sed -n 's/^Subject: \[PATCH [0-9]*\/[0-9]*\] //p' "$p" | head -n 1)
	echo "==> [$i/$n] git am: $subject"
	git -c user.name=kho-v -c user.email=kho-v@localhost am -q "$p"
	touched=$(git diff --name-only HEAD~1)
	# A patch that touches nothing kbuild reads (documentation, selftests,
	# MAINTAINERS) builds exactly what the prefix before it built.
	if [ "$i" != "$n" ] && ! echo "$touched" | grep -qvE '^(Documentation|tools)/|^MAINTAINERS$'; then
		echo "    nothing the build reads changed: builds as patch $((i - 1)) did"
		continue
	fi
	# Options the fragment names that this prefix does not have yet are
	# dropped quietly; the whole series must take every one of them. The
	# configuration is made again only where a Kconfig file changed.
	if [ "$i" = "$n" ]; then
		"$repo/harness/config.sh" "$work/tree" "$work/obj" "$repo/configs/qemu-host.config"
	elif [ "$i" = 1 ] || echo "$touched" | grep -q 'Kconfig'; then
		KHO_CONFIG_LENIENT=1 "$repo/harness/config.sh" "$work/tree" "$work/obj" \
			"$repo/configs/qemu-host.config"
	fi
	if ! make -s -C "$work/tree" O="$work/obj" CC="ccache gcc" -j"$(nproc)" bzImage \
		> "$work/build-$i.log" 2>&1; then
		tail -n 30 "$work/build-$i.log"
		echo "error: the series does not build after patch $i: $subject" >&2
		exit 1
	fi
	echo "    builds ($(grep -c '^CONFIG_\(KEXEC_HANDOVER\|TEST_KEXEC_HANDOVER\|LIVEUPDATE\|KVM_KHO\)[A-Z_]*=y' "$work/obj/.config") kho-v options on)"
done
echo "    all $n prefixes of the series apply and build: $work/obj/arch/x86/boot/bzImage"
