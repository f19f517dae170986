/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IOMMU tests' library: iommufd ioctls, and a small userspace driver
 * for QEMU's edu device, the DMA engine the tests point at the IOMMU.
 *
 * edu (PCI 1234:11e8) has one BAR of registers: identification at 0x00,
 * a liveness register at 0x04 that reads back inverted, a factorial
 * register at 0x08, and a DMA engine (source 0x80, destination 0x88,
 * count 0x90, command 0x98) that copies between a bus address and a
 * 4 KiB buffer on the device at bus address 0x40000. A transfer ends
 * about 100 ms of virtual time after its command. Only bus addresses
 * below 256 MiB may be given, and QEMU 7.2 takes a transfer only if it
 * ends before the buffer's last byte: anything else stops QEMU with a
 * hardware error, so edu_dma_start() refuses it.
 *
 * A test drives edu either through VFIO (a cdev bound to an iommufd, the
 * way a VMM does) or, when no driver may own it, through sysfs: BAR0 via
 * resource0 and bus mastering set by hand in config space.
 */
#ifndef IOMMU_KHO_UTIL_H
#define IOMMU_KHO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_FACTORIAL	0x08
#define EDU_REG_STATUS		0x20
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_DMA_START		0x1
#define EDU_DMA_TO_RAM		0x2
#define EDU_DMA_IRQ		0x4		/* raise 0x100 at the end */
#define EDU_IRQ_DMA		0x100
#define EDU_BUF			0x40000ULL	/* the device's buffer */
#define EDU_BUF_SIZE		4096
#define EDU_DMA_MAX		2048		/* the tests' transfers */
#define EDU_DMA_LIMIT		0x10000000ULL	/* bus addresses below 256 MiB */

struct edu {
	char bdf[32];
	int devfd;		/* VFIO cdev, or -1 */
	int cfgfd;		/* sysfs config, when driven through sysfs */
	uint32_t devid;		/* iommufd device id, once bound */
	uint8_t *bar;		/* BAR0, mapped */
	size_t bar_size;
	uint64_t cfg_offset;	/* config space region of the VFIO device */
};

/* ----- iommufd: 0 or -errno, as the raw ioctls of luo_test_utils ----- */

/* Open /dev/iommu; skips the test where there is none. */
int iommufd_open(void);
int iommufd_ioas_alloc(int iommufd, uint32_t *ioas_id);
/* IOMMU_IOAS_MAP_FILE at a fixed IOVA, readable and writeable. */
int iommufd_map_file(int iommufd, uint32_t ioas_id, int memfd,
		     uint64_t start, uint64_t length, uint64_t iova);
/* IOMMU_IOAS_MAP_FILE with any flags; *iova in and out. */
int iommufd_map_file_flags(int iommufd, uint32_t ioas_id, int memfd,
			   uint64_t start, uint64_t length, uint64_t *iova,
			   uint32_t flags);
/* IOMMU_IOAS_MAP of a user VA at a fixed IOVA. */
int iommufd_map_user(int iommufd, uint32_t ioas_id, void *va,
		     uint64_t length, uint64_t iova);
int iommufd_unmap(int iommufd, uint32_t ioas_id, uint64_t iova,
		  uint64_t length);
int iommufd_destroy(int iommufd, uint32_t id);
/* Write @val to the file @path (sysfs): 0 or -errno, unlike luo_write_file() */
int iommu_write_file(const char *path, const char *val);
/* IOMMU_HWPT_ALLOC of a paging HWPT for device @dev_id from IOAS @ioas_id */
int iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t ioas_id,
		       uint32_t *hwpt_id);
/* IOMMU_IOAS_UNMAP of [iova, iova + length): how many bytes, or -errno */
long iommufd_unmap_len(int iommufd, uint32_t ioas_id, uint64_t iova,
		       uint64_t length);
/* Is @ioas_id an IOAS of @iommufd? (IOMMU_IOAS_IOVA_RANGES): 0 or -errno */
int iommufd_ioas_check(int iommufd, uint32_t ioas_id);
/* Is @dev_id a device of @iommufd? (IOMMU_GET_HW_INFO): 0 or -errno */
int iommufd_device_check(int iommufd, uint32_t dev_id);

/* ----- edu ----- */

/* The BDF of the first edu device, in @bdf; skips the test if none. */
void edu_find(char *bdf, size_t len);
/* Bind @bdf to @driver ("" to leave it without one): 0 or -errno. */
int edu_set_driver(const char *bdf, const char *driver);
/* Open the cdev of @bdf, bound to vfio-pci (/dev/vfio/devices/vfioN) */
int vfio_cdev_open(const char *bdf);
/*
 * Bind edu to vfio-pci, open its cdev, bind it to @iommufd, map BAR0 and
 * set bus mastering. Fails the test on error.
 */
void edu_open_vfio(struct edu *e, const char *bdf, int iommufd);
/*
 * Open @bdf's cdev (bound to vfio-pci) and bind it to a new iommufd, as
 * any VMM would, then close both: 0 or -errno.
 */
int edu_try_bind(const char *bdf);
/* VFIO_DEVICE_ATTACH_IOMMUFD_PT: 0 or -errno; the HWPT id in *pt_id. */
int edu_attach(struct edu *e, uint32_t *pt_id);
/* Drive edu through sysfs: no driver, BAR0 from resource0, bus master. */
void edu_open_sysfs(struct edu *e, const char *bdf);
void edu_close(struct edu *e);
/* Map BAR0 and find config space of @e->devfd, a bound VFIO device */
void edu_map_vfio(struct edu *e);
/*
 * Wire edu's MSI to a new eventfd (VFIO_DEVICE_SET_IRQS): the eventfd,
 * or -errno.
 */
int edu_arm_msi(struct edu *e);
/* Wait up to @timeout_ms for @efd: its count, or 0 if nothing came */
uint64_t edu_wait_irq(int efd, int timeout_ms);

uint32_t edu_read32(struct edu *e, unsigned int reg);
void edu_write32(struct edu *e, unsigned int reg, uint32_t val);
void edu_write64(struct edu *e, unsigned int reg, uint64_t val);
/* PCI_COMMAND bus mastering on or off. */
void edu_bus_master(struct edu *e, bool on);
/*
 * One transfer between the device buffer (offset @buf_off) and bus
 * address @addr, @to_ram deciding the direction; waits for it to end.
 * Fails the test if it has not ended after a few seconds.
 */
void edu_dma(struct edu *e, uint64_t addr, uint32_t buf_off, uint32_t count,
	     bool to_ram);
/* Start a transfer and return: it ends ~100 ms later. */
void edu_dma_start(struct edu *e, uint64_t addr, uint32_t buf_off,
		   uint32_t count, bool to_ram);
/* The same, with an interrupt (EDU_IRQ_DMA) when it ends */
void edu_dma_start_irq(struct edu *e, uint64_t addr, uint32_t buf_off,
		       uint32_t count, bool to_ram);
/* Wait for the transfer started last to end: 0, or -ETIMEDOUT. */
int edu_dma_wait(struct edu *e, int timeout_ms);

/* ----- a VMM's view: guest RAM in a memfd, edu behind a HWPT ----- */

struct iommu_vmm {
	int iommufd;
	uint32_t ioas;
	uint32_t hwpt;
	uint64_t iova;		/* where guest RAM starts */
	uint8_t *ram;		/* the memfd, mapped */
	struct edu edu;
};

/*
 * A new iommufd with an IOAS mapping all @size bytes of @memfd at @iova
 * (IOMMU_IOAS_MAP_FILE), and edu bound to it and attached to a HWPT of
 * its own (IOMMU_HWPT_ALLOC), as a VMM sets up a passthrough device.
 */
void iommu_vmm_setup(struct iommu_vmm *v, const char *bdf, int memfd,
		     uint8_t *ram, uint64_t size, uint64_t iova);
/*
 * Bind edu to @v->iommufd (a retrieved one) and attach it to the HWPT
 * @v->hwpt, which must keep its id.
 */
void iommu_vmm_attach(struct iommu_vmm *v, const char *bdf);
/*
 * edu copies EDU_DMA_MAX bytes of guest RAM from offset @from to offset
 * @to, through their IOVAs; fails the test unless they land.
 */
void iommu_vmm_copy(struct iommu_vmm *v, uint64_t from, uint64_t to,
		    uint64_t seed);
/*
 * A VMM's last steps before the kexec: guest RAM in a new memfd of @size
 * bytes, mapped at @iova with edu attached (iommu_vmm_setup()), a note in
 * page 0 (iommu_vmm_note()), edu's copy of page 1 to page 2 checked
 * (iommu_vmm_copy() with the note's seed), the memfd and the iommufd
 * preserved in a new session @name, the handover finalized. edu stays
 * attached. Returns the memfd.
 */
int iommu_vmm_hand_over(struct iommu_vmm *v, int dev, const char *name,
			uint64_t size, uint64_t iova);
/*
 * iommu_vmm_hand_over() up to the finalize, which is left to the caller;
 * the session in *@session.
 */
int iommu_vmm_prepare(struct iommu_vmm *v, int dev, const char *name,
		      uint64_t size, uint64_t iova, int *session);
/*
 * Retrieve edu's device file (IOMMU_VMM_TOKEN_DEVICE) from @session: it
 * comes bound to @v->iommufd under the device id of the note and
 * attached to its HWPT. Maps BAR0. Fails the test otherwise.
 */
void iommu_vmm_retrieve_device(struct iommu_vmm *v, int session);
/*
 * Preserve @memfd (guest RAM) and then @v's iommufd in @session, under
 * IOMMU_VMM_TOKEN_MEM and IOMMU_VMM_TOKEN_IOMMUFD; fails the test
 * otherwise.
 */
void iommu_vmm_preserve(struct iommu_vmm *v, int session, int memfd);
/* Preserve edu's device file in @session (IOMMU_VMM_TOKEN_DEVICE) */
void iommu_vmm_preserve_device(struct iommu_vmm *v, int session);
/* Close edu, the iommufd and @memfd, and unmap guest RAM */
void iommu_vmm_release(struct iommu_vmm *v, int memfd, uint64_t size);

/*
 * What a stage leaves for the next in page 0 of guest RAM, preserved with
 * it: the ids to find again, a seed, a page frame to compare.
 */
#define IOMMU_VMM_TOKEN_MEM	1
#define IOMMU_VMM_TOKEN_IOMMUFD	2
#define IOMMU_VMM_TOKEN_DEVICE	3

struct iommu_vmm_note {
	uint64_t magic;
	uint32_t ioas;
	uint32_t hwpt;
	uint64_t seed;
	uint64_t pfn;
	uint32_t devid;
	uint32_t pad;
};

/* Write the note of @v into guest RAM, with a new seed; returns it */
struct iommu_vmm_note *iommu_vmm_note(struct iommu_vmm *v);
/*
 * Retrieve the iommufd and the memfd (IOMMU_VMM_TOKEN_*) of @session,
 * map @size bytes of guest RAM, check the note and take the ids from it.
 * Returns the memfd.
 */
int iommu_vmm_retrieve(struct iommu_vmm *v, int session, uint64_t size,
		       uint64_t iova);
/* The page frame behind a mapped page */
uint64_t iommu_pfn_of(void *page);

/* The data the tests move: a pattern of EDU_DMA_MAX bytes from @seed */
void edu_pattern_fill(void *buf, uint64_t seed);
bool edu_pattern_holds(const void *buf, uint64_t seed);

#endif
