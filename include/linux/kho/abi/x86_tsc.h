/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The x86 TSC calibration record: the TSC rate one kernel measured, handed
 * to the kernel it kexecs into. arch/x86/kernel/kho_tsc.c writes and
 * reads it.
 */
#ifndef _LINUX_KHO_ABI_X86_TSC_H
#define _LINUX_KHO_ABI_X86_TSC_H

#include <linux/types.h>

/**
 * DOC: x86 TSC calibration handover
 *
 * This header is a contract between the kernel that hands its TSC
 * calibration over and the kernel that boots after it. A change to the
 * layout below needs a new X86_TSC_KHO_COMPATIBLE; a kernel that finds a
 * compatible string it does not know ignores the record and calibrates
 * the TSC itself.
 *
 * The record is the KHO state tree node "x86-tsc" with two properties:
 *
 * - "compatible": the string X86_TSC_KHO_COMPATIBLE ("x86-tsc-v1");
 * - "calibration": one struct x86_tsc_kho_ser, native-endian.
 *
 * The outgoing kernel adds it at finalize when it has a TSC rate it
 * trusts: one its refined calibration measured against the HPET or the
 * ACPI PM timer, one the CPU or the platform reported, or one it took
 * from such a record itself. It adds nothing while its TSC is marked
 * unstable.
 *
 * The record comes from the previous kernel and is not trusted: the next
 * kernel uses the rate only if the record is well formed, the CPU is the
 * same one (vendor, family, model and stepping), the rate is within
 * X86_TSC_KHO_MIN_KHZ..X86_TSC_KHO_MAX_KHZ, and its own early calibration
 * agrees with it to within X86_TSC_KHO_TOLERANCE_PPM.
 */

#define X86_TSC_KHO_NODE		"x86-tsc"
#define X86_TSC_KHO_COMPATIBLE		"x86-tsc-v1"

/* The rates the next kernel believes at all: 100 MHz to 20 GHz. */
#define X86_TSC_KHO_MIN_KHZ		100000U
#define X86_TSC_KHO_MAX_KHZ		20000000U

/*
 * How far the next kernel's early calibration may be from the record:
 * 0.5%. The early calibration is a rough one: the kernel itself accepts a
 * refined value up to 1% away from it, and under emulation (QEMU TCG) the
 * HPET fallback was seen more than 0.1% off. A TSC of the same CPU model
 * at another nominal rate differs by at least one step of its ratio (25
 * MHz on AMD, 0.8% at 3 GHz; 100 MHz on Intel), so 0.5% still tells it
 * apart, while a TSC that runs at the recorded rate is well within it.
 */
#define X86_TSC_KHO_TOLERANCE_PPM	5000U

/**
 * struct x86_tsc_kho_ser - the "calibration" property
 * @tsc_khz: TSC rate in kHz
 * @family: CPU family as the kernel computes it from CPUID leaf 1
 * @model: CPU model, extended model included
 * @stepping: CPU stepping
 * @vendor: CPUID leaf 0 vendor string, NUL-terminated, zero-padded
 */
struct x86_tsc_kho_ser {
	u32 tsc_khz;
	u32 family;
	u32 model;
	u32 stepping;
	char vendor[16];
};

#endif /* _LINUX_KHO_ABI_X86_TSC_H */
