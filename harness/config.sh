#!/bin/bash
# Configure a kernel object directory: tinyconfig + fragments, then check
# that every option the fragments ask for really took effect (olddefconfig
# silently drops options whose dependencies are missing).
#
# usage: config.sh TREE OBJ FRAGMENT...
# KHO_CONFIG_LENIENT=1 skips that check (for a tree that has only part of
# the series).
set -euo pipefail
tree=$1 obj=$2
shift 2
mkdir -p "$obj"
make -s -C "$tree" O="$obj" tinyconfig >/dev/null
"$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$@" >/dev/null
make -s -C "$tree" O="$obj" olddefconfig >/dev/null

[ "${KHO_CONFIG_LENIENT:-0}" = 1 ] && exit 0
# A later fragment may override an earlier one (configs/prod.config turns
# qemu-host.config's built-in KVM into modules), so each option is checked
# against the last fragment that sets it, as merge_config.sh applies them.
declare -A want from
order=()
for frag in "$@"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) sym=${line%%=*} ;;
		"# CONFIG_"*" is not set")
			sym=${line#"# "}; sym=${sym%" is not set"}; line=$sym=n ;;
		*) continue ;;
		esac
		[ -n "${want[$sym]+set}" ] || order+=("$sym")
		want[$sym]=$line from[$sym]=$frag
	done < "$frag"
done
bad=0
for sym in "${order[@]}"; do
	line=${want[$sym]} frag=${from[$sym]}
	case "$line" in
	*=n)
		if grep -q "^$sym=" "$obj/.config"; then
			echo "config: $frag: $sym is set, fragment wants it off" >&2
			bad=1
		fi ;;
	*)
		if ! grep -qxF "$line" "$obj/.config"; then
			echo "config: $frag: '$line' did not take effect (got: $(grep "^$sym=" "$obj/.config" || echo unset))" >&2
			bad=1
		fi ;;
	esac
done
exit $bad
