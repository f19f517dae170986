#!/bin/bash
# Build the initramfs of a `make fleet` host: what the test initramfs has
# (busybox, kho-update, the loaders, the demo VMM), plus what Ansible needs
# on a managed host: an SSH server (dropbear) and Python 3, both taken from
# this Debian machine, and the fleet host's init (harness/fleet-init).
#
# usage: mkfleetimage.sh OBJ OUT KEYDIR
#
# OBJ is the kernel object directory whose initramfs-root `make initramfs`
# left; KEYDIR gets the SSH keys on first use: the hosts' key and the
# controller's key, which the hosts accept for root.
set -euo pipefail
obj=$1 out=$2 keydir=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
src=$obj/initramfs-root
root=$obj/fleet-root

[ -x "$src/tests/kvm_demo_vmm" ] || { echo "mkfleetimage: no $src: run make initramfs first" >&2; exit 1; }
for b in dropbear dropbearkey ssh-keygen /usr/bin/python3.11; do
	command -v $b >/dev/null || { echo "mkfleetimage: $b is missing (make packages)" >&2; exit 1; }
done

mkdir -p "$keydir"
[ -e "$keydir/host_ed25519" ] || dropbearkey -t ed25519 -f "$keydir/host_ed25519" >/dev/null 2>&1
[ -e "$keydir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C kho-fleet -f "$keydir/id_ed25519"

rm -rf "$root"
cp -a "$src" "$root"
# no tests here but the VMM; the next kernel comes from the playbook
find "$root/tests" -mindepth 1 ! -name kvm_demo_vmm -delete
# nor kernels (the test initramfs's /boot, the production-shaped kernel's
# modules)
rm -rf "$root"/boot/*
find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
install -m 755 "$repo/harness/fleet-init" "$root/init"
mkdir -p "$root"/{etc/dropbear,root/.ssh,var/log,var/lib/kho-fleet,usr/lib}

# copy_bin FILE: FILE and the shared libraries it needs, at their paths
copy_bin() {
	local lib
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# SSH: dropbear, root logs in with the controller's key only
copy_bin "$(command -v dropbear)"
cp "$keydir/host_ed25519" "$root/etc/dropbear/host_ed25519"
install -m 600 "$keydir/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 700 "$root/root" "$root/root/.ssh"
cat > "$root/etc/passwd" <<EOF
root:*:0:0:root:/root:/bin/sh
EOF
echo "root:x:0:" > "$root/etc/group"
echo "/bin/sh" > "$root/etc/shells"

# Python for Ansible's modules: the interpreter, its standard library
# without what a managed host never runs, and its extension modules
py=$(readlink -f /usr/bin/python3.11)
copy_bin "$py"
ln -sf "$(basename "$py")" "$root/usr/bin/python3"
stdlib=/usr/lib/python3.11
(cd "$stdlib" && find . \( -name test -o -name tests -o -name idlelib -o \
	-name tkinter -o -name turtledemo -o -name ensurepip -o -name lib2to3 -o \
	-name pydoc_data -o -name 'config-3.11-*' -o -name site-packages -o \
	-name dist-packages \) -prune -o -print | cpio -pdm --quiet "$root$stdlib")
for so in "$root$stdlib"/lib-dynload/*.so; do
	copy_bin "${so#"$root"}"
done

install -m 755 "$repo/harness/fleet-pack" "$root/bin/kho-fleet-pack"
install -m 755 "$repo/harness/fleet-health" "$root/bin/kho-fleet-health"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "    $out ($(( $(stat -c %s "$out") / 1024 / 1024 )) MiB: busybox, dropbear, Python $("$py" -c 'import sys; print(sys.version.split()[0])'))"
