/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_KEXEC_HANDOVER_H
#define _ASM_X86_KEXEC_HANDOVER_H

#include <linux/types.h>
#include <asm/bootparam.h>

struct kimage;

#ifdef CONFIG_KEXEC_HANDOVER
void x86_kho_parse_setup_data(u64 pa_data, u32 data_len);
void x86_kho_add_setup_data(struct kimage *image, struct boot_params *params,
			    unsigned long params_load_addr,
			    unsigned int offset);
#else
static inline void x86_kho_parse_setup_data(u64 pa_data, u32 data_len) { }
static inline void x86_kho_add_setup_data(struct kimage *image,
					  struct boot_params *params,
					  unsigned long params_load_addr,
					  unsigned int offset) { }
#endif

#endif /* _ASM_X86_KEXEC_HANDOVER_H */
