#!/bin/bash
# Check that `make patches` output applies with git am to a freshly unpacked
# 6.12 tree and that the result builds with KHO on.
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
echo "==> git am $patches/0*.patch"
git -c user.name=kho-v -c user.email=kho-v@localhost am -q \
	$(ls "$patches"/0*.patch | grep -v 0000-cover-letter)
git log --oneline | head -n 20
echo "==> Building the patched tree"
"$repo/harness/config.sh" "$work/tree" "$work/obj" "$repo/configs/qemu-host.config"
make -s -C "$work/tree" O="$work/obj" CC="ccache gcc" -j"$(nproc)" bzImage
echo "    patches apply and build: $work/obj/arch/x86/boot/bzImage"
