// SPDX-License-Identifier: GPL-2.0
/*
 * A passthrough device carried across the kexec, running: never reset,
 * retrieved bound and attached, DMA at once, its interrupt not lost.
 *
 * Stage 1 sets up a VMM's guest RAM, iommufd and edu, wires edu's MSI to
 * an eventfd and checks that an interrupt arrives. It leaves values in
 * edu's liveness and factorial registers, preserves the memfd, the
 * iommufd and edu's device file, finalizes, and starts a DMA that raises
 * an interrupt when it ends, about 100 ms later: during the kexec.
 *
 * Stage 2 binds vfio-pci to edu (the retrieve before that fails and can
 * be tried again), sees an open other than the retrieve refused while
 * the session holds edu, retrieves the device file and checks:
 * - edu was never reset nor moved: both registers read back what stage 1
 *   left, bus mastering is still on, BAR0 is where it was;
 * - the file is bound under its old device id and attached: edu copies
 *   guest RAM at once, with no map or attach call;
 * - the DMA in flight at the kexec landed, and edu holds its interrupt;
 * - arming MSI again signals the eventfd once, for that interrupt;
 * - a new interrupt arrives through the re-armed vector.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"
#include <linux/pci_regs.h>

#define SIZE		(16ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define SESSION		"vfio-retrieve"
#define FLIGHT_PAGE	5	/* where the DMA in flight goes */
#define AFTER_PAGE	6	/* where stage 2 copies to */
#define STATE_PAGE	3
#define FACT_IN		10
#define FACT_OUT	3628800	/* 10! */

struct retrieve_state {
	uint32_t liveness;	/* written to edu in stage 1 */
	uint32_t factorial;	/* what edu computed in stage 1 */
	uint64_t bar0;		/* where BAR0 was in stage 1 */
};

/* The bus address of @bdf's BAR0, from sysfs */
static uint64_t bar0_address(const char *bdf)
{
	unsigned long long start = 0;
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llx", &start) != 1)
		fail("read %s: %s", path, strerror(errno));
	fclose(f);
	return start;
}

static struct iommu_vmm vmm;

static uint16_t edu_command(struct edu *e)
{
	uint16_t cmd;

	if (pread(e->devfd, &cmd, sizeof(cmd), e->cfg_offset + PCI_COMMAND) !=
	    sizeof(cmd))
		fail("read PCI_COMMAND: %s", strerror(errno));
	return cmd;
}

static void edu_check_irq(struct edu *e, int efd, const char *what)
{
	edu_write32(e, EDU_REG_IRQ_RAISE, 1);
	if (!edu_wait_irq(efd, 5000))
		fail("%s: edu's interrupt did not arrive", what);
	edu_write32(e, EDU_REG_IRQ_ACK, edu_read32(e, EDU_REG_IRQ_STATUS));
	msg("ok: %s: edu's MSI reaches its eventfd", what);
}

static int stage1(void)
{
	struct retrieve_state *st;
	int dev = luo_open(), session, efd, i;

	iommu_vmm_prepare(&vmm, dev, SESSION, SIZE, IOVA_X, &session);
	st = (struct retrieve_state *)(vmm.ram + STATE_PAGE * PAGE);
	efd = edu_arm_msi(&vmm.edu);
	if (efd < 0)
		fail("arm edu's MSI: %s", strerror(-efd));
	edu_check_irq(&vmm.edu, efd, "before the kexec");

	st->bar0 = bar0_address(vmm.edu.bdf);
	st->liveness = (uint32_t)luo_seed();
	edu_write32(&vmm.edu, EDU_REG_LIVENESS, st->liveness);
	edu_write32(&vmm.edu, EDU_REG_FACTORIAL, FACT_IN);
	for (i = 0; i < 1000 && edu_read32(&vmm.edu, EDU_REG_STATUS) & 1; i++)
		usleep(1000);
	st->factorial = edu_read32(&vmm.edu, EDU_REG_FACTORIAL);
	expect_u64("edu computed 10!", FACT_OUT, st->factorial);

	iommu_vmm_preserve_device(&vmm, session);
	luo_write_file("/sys/kernel/kho/finalize", "1");
	luo_expect_log("keeps running through the kexec");
	/* the page edu will write must not hold its pattern already */
	memset(vmm.ram + FLIGHT_PAGE * PAGE, 0, PAGE);
	edu_dma_start_irq(&vmm.edu, IOVA_X + FLIGHT_PAGE * PAGE, 0,
			  EDU_DMA_MAX, true);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	struct iommu_vmm_note *note;
	struct retrieve_state *st;
	int dev, session, memfd, efd;
	char bdf[32];
	uint64_t n;

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	st = (struct retrieve_state *)(vmm.ram + STATE_PAGE * PAGE);

	edu_find(bdf, sizeof(bdf));
	expect_ok("leave edu without a driver", edu_set_driver(bdf, ""));
	expect_err("retrieve edu before vfio-pci is bound to it",
		   luo_retrieve_fd(session, IOMMU_VMM_TOKEN_DEVICE), ENODEV);
	luo_expect_log("is not bound to vfio-pci");
	expect_ok("bind vfio-pci to edu", edu_set_driver(bdf, "vfio-pci"));
	luo_expect_log("held by its Live Update session");
	expect_err("open edu as any VMM would, while its session holds it",
		   edu_try_bind(bdf), EBUSY);
	iommu_vmm_retrieve_device(&vmm, session);
	luo_expect_log("kept in D0 while bound");
	luo_expect_log("opened as it is, without a reset");

	expect_u64("edu's liveness register (inverted)", ~st->liveness,
		   edu_read32(&vmm.edu, EDU_REG_LIVENESS));
	expect_u64("edu's factorial register", st->factorial,
		   edu_read32(&vmm.edu, EDU_REG_FACTORIAL));
	if (!(edu_command(&vmm.edu) & PCI_COMMAND_MASTER))
		fail("bus mastering is off");
	expect_u64("BAR0, where the previous kernel had it", st->bar0,
		   bar0_address(bdf));
	msg("ok: edu was never reset: its registers, BAR and bus mastering kept");

	/* retrieve and go: no map, no attach */
	iommu_vmm_copy(&vmm, PAGE, AFTER_PAGE * PAGE, luo_seed());

	if (!edu_pattern_holds(vmm.ram + FLIGHT_PAGE * PAGE, note->seed))
		fail("the DMA in flight at the kexec did not land");
	msg("ok: the DMA in flight at the kexec landed");
	if (!(edu_read32(&vmm.edu, EDU_REG_IRQ_STATUS) & EDU_IRQ_DMA))
		fail("edu does not hold the interrupt of that DMA");
	msg("ok: edu holds the interrupt raised during the blackout");

	efd = edu_arm_msi(&vmm.edu);
	if (efd < 0)
		fail("arm edu's MSI again: %s", strerror(-efd));
	n = edu_wait_irq(efd, 1000);
	expect_u64("interrupts signalled on re-arm", 1, n);
	msg("ok: re-arming the vector signalled it once, for the blackout");
	edu_write32(&vmm.edu, EDU_REG_IRQ_ACK, EDU_IRQ_DMA);
	edu_check_irq(&vmm.edu, efd, "after the kexec");
	close(efd);

	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_retrieve",
			LUO_STAGES(stage1, stage2));
}
