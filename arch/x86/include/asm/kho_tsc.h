/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_KHO_TSC_H
#define _ASM_X86_KHO_TSC_H

/* The TSC calibration across a Kexec HandOver: arch/x86/kernel/kho_tsc.c */
#ifdef CONFIG_X86_KHO_TSC
unsigned int kho_tsc_handed_over_khz(unsigned int early_khz);
void kho_tsc_calibrated(unsigned int khz);
#else
static inline unsigned int kho_tsc_handed_over_khz(unsigned int early_khz)
{
	return 0;
}

static inline void kho_tsc_calibrated(unsigned int khz) { }
#endif

#endif /* _ASM_X86_KHO_TSC_H */
