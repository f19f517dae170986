// SPDX-License-Identifier: GPL-2.0
/*
 * The TSC calibration across a Kexec HandOver.
 *
 * Without a TSC rate from the CPU or the hypervisor, a kernel boots on a
 * quick PIT/HPET calibration and refines it against the HPET or the ACPI
 * PM timer from a delayed work about a second later. Until then the TSC
 * clocksource is tsc-early and KVM measures a vCPU's requested TSC rate
 * against the rough value, so a VMM restoring VMs after a live update has
 * to wait for the refined one. The kernel before the kexec ran on the
 * same TSC and had the refined value: it hands it over, and the next
 * kernel takes it, after checking that it is the same CPU and that its own
 * early calibration agrees, instead of measuring again.
 *
 * The record is described in <linux/kho/abi/x86_tsc.h>.
 */
#define pr_fmt(fmt) "tsc: " fmt

#include <linux/init.h>
#include <linux/kexec_handover.h>
#include <linux/kho/abi/x86_tsc.h>
#include <linux/math64.h>
#include <linux/notifier.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <asm/cpufeature.h>
#include <asm/kho_tsc.h>
#include <asm/processor.h>
#include <asm/tsc.h>

/* This kernel's final TSC rate in kHz, 0 until it has one it trusts. */
static unsigned int kho_tsc_khz;

/* The outgoing record; touched only by the KHO notifier, one at a time. */
static struct kho_node kho_tsc_node;
static bool kho_tsc_node_added;

/**
 * kho_tsc_calibrated - note the TSC rate this kernel settled on
 * @khz: the rate, from the refined calibration, the CPU, the platform or a
 *	previous kernel's handover
 *
 * Called by the TSC code when it registers the tsc clocksource with a rate
 * it will not refine further. Only such a rate is handed to the next kernel.
 */
void kho_tsc_calibrated(unsigned int khz)
{
	WRITE_ONCE(kho_tsc_khz, khz);
}

/* ----- the next kernel: take the previous one's calibration ----- */

static void kho_tsc_describe(struct x86_tsc_kho_ser *ser, unsigned int khz)
{
	memset(ser, 0, sizeof(*ser));
	ser->tsc_khz = khz;
	ser->family = boot_cpu_data.x86;
	ser->model = boot_cpu_data.x86_model;
	ser->stepping = boot_cpu_data.x86_stepping;
	strscpy(ser->vendor, boot_cpu_data.x86_vendor_id, sizeof(ser->vendor));
}

/* |a - b| in parts per million of b */
static u64 __init kho_tsc_ppm(unsigned int a, unsigned int b)
{
	u64 diff = a > b ? a - b : b - a;

	return div_u64(diff * 1000000, b);
}

/*
 * Is the handed-over rate one this TSC runs at now? If not, says why in
 * @why. Nothing in @in is trusted: it is what the previous kernel wrote.
 */
static bool __init kho_tsc_acceptable(const struct x86_tsc_kho_ser *in,
				      unsigned int early_khz, char *why,
				      size_t size)
{
	struct x86_tsc_kho_ser now;
	u64 ppm;

	if (check_tsc_unstable()) {
		strscpy(why, "this kernel found the TSC unstable", size);
		return false;
	}
	if (in->tsc_khz < X86_TSC_KHO_MIN_KHZ ||
	    in->tsc_khz > X86_TSC_KHO_MAX_KHZ) {
		snprintf(why, size, "out of the range %u..%u MHz",
			 X86_TSC_KHO_MIN_KHZ / 1000, X86_TSC_KHO_MAX_KHZ / 1000);
		return false;
	}
	if (strnlen(in->vendor, sizeof(in->vendor)) == sizeof(in->vendor)) {
		strscpy(why, "its CPU vendor string is not terminated", size);
		return false;
	}
	kho_tsc_describe(&now, early_khz);
	if (strcmp(in->vendor, now.vendor) || in->family != now.family ||
	    in->model != now.model || in->stepping != now.stepping) {
		snprintf(why, size,
			 "measured on another CPU (%s family %#x model %#x stepping %u; this one is %s family %#x model %#x stepping %u)",
			 in->vendor, in->family, in->model, in->stepping,
			 now.vendor, now.family, now.model, now.stepping);
		return false;
	}
	ppm = kho_tsc_ppm(early_khz, in->tsc_khz);
	if (ppm > X86_TSC_KHO_TOLERANCE_PPM) {
		snprintf(why, size,
			 "this kernel's early calibration, %u.%03u MHz, is %llu ppm away from it (at most %u allowed)",
			 early_khz / 1000, early_khz % 1000, ppm,
			 X86_TSC_KHO_TOLERANCE_PPM);
		return false;
	}
	return true;
}

/**
 * kho_tsc_handed_over_khz - the previous kernel's TSC rate, if usable
 * @early_khz: this kernel's early calibration
 *
 * Called once by tsc_init(), after the early calibration and before the
 * TSC clocksource is registered: by then KHO has checked the incoming
 * state tree (at mm_core_init()). Says in the log why the handed-over
 * rate is or is not used.
 *
 * Return: the rate in kHz to use instead of calibrating again, or 0.
 */
unsigned int __init kho_tsc_handed_over_khz(unsigned int early_khz)
{
	struct x86_tsc_kho_ser in;
	const void *prop;
	char why[160];
	int node, len;

	if (!kho_is_incoming() || !early_khz)
		return 0;
	node = kho_find_node("/" X86_TSC_KHO_NODE);
	if (node < 0) {
		pr_info("no TSC calibration in the handover; calibrating\n");
		return 0;
	}
	if (boot_cpu_has(X86_FEATURE_TSC_KNOWN_FREQ)) {
		pr_info("TSC rate known from the CPU or the platform: the handed-over calibration is not needed\n");
		return 0;
	}
	prop = kho_get_prop(node, "compatible", &len);
	if (!prop || len != sizeof(X86_TSC_KHO_COMPATIBLE) ||
	    memcmp(prop, X86_TSC_KHO_COMPATIBLE, len)) {
		pr_warn("not using the TSC calibration handed over by the previous kernel: its format is not %s; calibrating instead\n",
			X86_TSC_KHO_COMPATIBLE);
		return 0;
	}
	prop = kho_get_prop(node, "calibration", &len);
	if (!prop || len != sizeof(in)) {
		pr_warn("not using the TSC calibration handed over by the previous kernel: its record is %d bytes, expected %zu; calibrating instead\n",
			prop ? len : 0, sizeof(in));
		return 0;
	}
	memcpy(&in, prop, sizeof(in));
	/*
	 * A TSC that is not constant ticks with the core clock, so a rate
	 * measured at one P-state says nothing about another. In a VM the
	 * hypervisor sets the rate the guest sees, whatever the guest does
	 * with its (virtual) P-states, so only bare metal needs the flag;
	 * the early calibration still catches a rate that changed.
	 */
	if (!boot_cpu_has(X86_FEATURE_CONSTANT_TSC) &&
	    !boot_cpu_has(X86_FEATURE_HYPERVISOR)) {
		pr_info("not using the TSC calibration handed over by the previous kernel: this CPU's TSC rate is not constant; calibrating instead\n");
		return 0;
	}
	if (!kho_tsc_acceptable(&in, early_khz, why, sizeof(why))) {
		pr_warn("not using the TSC calibration handed over by the previous kernel (%u.%03u MHz): %s; calibrating instead\n",
			in.tsc_khz / 1000, in.tsc_khz % 1000, why);
		return 0;
	}

	pr_info("using the TSC calibration handed over by the previous kernel: %u.%03u MHz (early calibration %u.%03u MHz, %llu ppm away)\n",
		in.tsc_khz / 1000, in.tsc_khz % 1000, early_khz / 1000,
		early_khz % 1000, kho_tsc_ppm(early_khz, in.tsc_khz));
	return in.tsc_khz;
}

/* ----- the outgoing kernel: hand the calibration over ----- */

static void kho_tsc_remove(void)
{
	if (!kho_tsc_node_added)
		return;
	kho_remove_node(NULL, X86_TSC_KHO_NODE);
	kho_remove_prop(&kho_tsc_node, "compatible");
	kho_remove_prop(&kho_tsc_node, "calibration");
	kho_tsc_node_added = false;
}

/*
 * A missing record only costs the next kernel its own calibration, so
 * nothing here fails the finalize.
 */
static void kho_tsc_add(void)
{
	unsigned int khz = READ_ONCE(kho_tsc_khz);
	struct x86_tsc_kho_ser ser;
	int err;

	if (!khz) {
		pr_info("TSC calibration not final yet: the next kernel calibrates its own\n");
		return;
	}
	if (check_tsc_unstable()) {
		pr_info("TSC unstable: its calibration is not handed over\n");
		return;
	}
	kho_tsc_describe(&ser, khz);
	err = kho_add_string_prop(&kho_tsc_node, "compatible",
				  X86_TSC_KHO_COMPATIBLE);
	if (!err)
		err = kho_add_prop(&kho_tsc_node, "calibration", &ser,
				   sizeof(ser));
	if (!err)
		err = kho_add_node(NULL, X86_TSC_KHO_NODE, &kho_tsc_node);
	if (err) {
		kho_remove_prop(&kho_tsc_node, "compatible");
		kho_remove_prop(&kho_tsc_node, "calibration");
		pr_warn("cannot hand the TSC calibration over (%d): the next kernel calibrates its own\n",
			err);
		return;
	}
	kho_tsc_node_added = true;
}

static int kho_tsc_notifier(struct notifier_block *nb, unsigned long event,
			    void *data)
{
	switch (event) {
	case KEXEC_KHO_FINALIZE:
		kho_tsc_add();
		return NOTIFY_OK;
	case KEXEC_KHO_UNFREEZE:
		kho_tsc_remove();
		return NOTIFY_OK;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block kho_tsc_nb = {
	.notifier_call = kho_tsc_notifier,
};

static int __init kho_tsc_init(void)
{
	int err;

	if (!kho_is_enabled() || !boot_cpu_has(X86_FEATURE_TSC))
		return 0;
	kho_init_node(&kho_tsc_node);
	err = register_kho_notifier(&kho_tsc_nb);
	if (err)
		pr_err("cannot register the KHO notifier (%d): the TSC calibration will not be handed over\n",
		       err);
	return err;
}
late_initcall(kho_tsc_init);
