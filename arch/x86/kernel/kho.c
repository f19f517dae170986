// SPDX-License-Identifier: GPL-2.0
/*
 * x86 transport for Kexec HandOver: a SETUP_KEXEC_KHO setup_data entry
 * tells the next kernel where the handover page is.
 */
#define pr_fmt(fmt) "KHO: " fmt

#include <linux/io.h>
#include <linux/kexec.h>
#include <linux/kexec_handover.h>
#include <linux/printk.h>
#include <asm/kexec_handover.h>
#include <asm/setup.h>

/**
 * x86_kho_parse_setup_data - read a SETUP_KEXEC_KHO entry at early boot
 * @pa_data: physical address of the setup_data entry
 * @data_len: its length, header included
 */
void __init x86_kho_parse_setup_data(u64 pa_data, u32 data_len)
{
	struct setup_data *sd;
	struct kho_setup_data *kd;

	if (data_len != sizeof(*sd) + sizeof(*kd)) {
		pr_err("incoming handover ignored: setup_data of %u bytes, expected %zu\n",
		       data_len, sizeof(*sd) + sizeof(*kd));
		return;
	}
	sd = early_memremap(pa_data, data_len);
	if (!sd) {
		pr_err("incoming handover ignored: cannot map its setup_data\n");
		return;
	}
	kd = (struct kho_setup_data *)sd->data;
	kho_populate_early(kd->handover_addr, kd->handover_size);
	early_memunmap(sd, data_len);
}

/**
 * x86_kho_add_setup_data - add a SETUP_KEXEC_KHO entry for kexec_file_load
 * @image: the image being loaded
 * @params: the boot_params being built for the next kernel
 * @params_load_addr: where they will be loaded
 * @offset: offset from @params of room for the entry
 *
 * Leaves the room unused when KHO is off and for crash kernels, which
 * must not take over the memory of the kernel that crashed.
 */
void x86_kho_add_setup_data(struct kimage *image, struct boot_params *params,
			    unsigned long params_load_addr, unsigned int offset)
{
	struct setup_data *sd = (void *)params + offset;
	struct kho_setup_data *kd = (struct kho_setup_data *)sd->data;
	phys_addr_t handover = kho_handover_phys();

	if (!handover || image->type == KEXEC_TYPE_CRASH)
		return;
	sd->type = SETUP_KEXEC_KHO;
	sd->len = sizeof(*kd);
	kd->handover_addr = handover;
	kd->handover_size = PAGE_SIZE;
	sd->next = params->hdr.setup_data;
	params->hdr.setup_data = params_load_addr + offset;
}
