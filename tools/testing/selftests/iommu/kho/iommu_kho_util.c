// SPDX-License-Identifier: GPL-2.0
/*
 * The IOMMU tests' library: iommufd ioctls and a userspace edu driver.
 * See iommu_kho_util.h.
 */
#include "luo_test_utils.h"

#include <dirent.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>

#include "iommu_kho_util.h"

#define SYS_PCI	"/sys/bus/pci/devices"

/* ----- iommufd ----- */

int iommufd_open(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		skip("no /dev/iommu: kernel without CONFIG_IOMMUFD");
	if (fd < 0)
		fail("open /dev/iommu: %s", strerror(errno));
	return fd;
}

int iommufd_ioas_alloc(int iommufd, uint32_t *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int ret = luo_ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd);

	if (!ret)
		*ioas_id = cmd.out_ioas_id;
	return ret;
}

int iommufd_map_file_flags(int iommufd, uint32_t ioas_id, int memfd,
			   uint64_t start, uint64_t length, uint64_t *iova,
			   uint32_t flags)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.fd = memfd,
		.start = start,
		.length = length,
		.iova = *iova,
	};
	int ret = luo_ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd);

	if (!ret)
		*iova = cmd.iova;
	return ret;
}

int iommufd_map_file(int iommufd, uint32_t ioas_id, int memfd,
		     uint64_t start, uint64_t length, uint64_t iova)
{
	return iommufd_map_file_flags(iommufd, ioas_id, memfd, start, length,
				      &iova, IOMMU_IOAS_MAP_FIXED_IOVA |
				      IOMMU_IOAS_MAP_READABLE |
				      IOMMU_IOAS_MAP_WRITEABLE);
}

int iommufd_map_user(int iommufd, uint32_t ioas_id, void *va,
		     uint64_t length, uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = iova,
	};

	return luo_ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

int iommufd_unmap(int iommufd, uint32_t ioas_id, uint64_t iova,
		  uint64_t length)
{
	long ret = iommufd_unmap_len(iommufd, ioas_id, iova, length);

	return ret < 0 ? ret : 0;
}

int iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t ioas_id,
		       uint32_t *hwpt_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.pt_id = ioas_id,
	};
	int ret = luo_ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd);

	if (!ret)
		*hwpt_id = cmd.out_hwpt_id;
	return ret;
}

long iommufd_unmap_len(int iommufd, uint32_t ioas_id, uint64_t iova,
		       uint64_t length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
	int ret = luo_ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd);

	return ret ? ret : (long)cmd.length;
}

int iommufd_ioas_check(int iommufd, uint32_t ioas_id)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
	};
	int ret = luo_ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &cmd);

	/* no room given for the ranges: EMSGSIZE says it is an IOAS */
	return ret == -EMSGSIZE ? 0 : ret;
}

int iommufd_device_check(int iommufd, uint32_t dev_id)
{
	struct iommu_hw_info cmd = { .size = sizeof(cmd), .dev_id = dev_id };

	return luo_ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd);
}

int iommufd_destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return luo_ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

/* ----- edu: finding it, and who drives it ----- */

static unsigned long read_hex(const char *bdf, const char *attr)
{
	char path[256], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), SYS_PCI "/%s/%s", bdf, attr);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return strtoul(buf, NULL, 16);
}

int iommu_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

void edu_find(char *bdf, size_t len)
{
	struct dirent *d;
	DIR *dir = opendir(SYS_PCI);

	if (!dir)
		fail("opendir " SYS_PCI ": %s", strerror(errno));
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		if (read_hex(d->d_name, "vendor") == EDU_VENDOR &&
		    read_hex(d->d_name, "device") == EDU_DEVICE) {
			snprintf(bdf, len, "%s", d->d_name);
			closedir(dir);
			return;
		}
	}
	closedir(dir);
	skip("no edu device (QEMU -device edu)");
}

int edu_set_driver(const char *bdf, const char *driver)
{
	char path[256], link[256];
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), SYS_PCI "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (*driver && !strcmp(strrchr(link, '/') + 1, driver))
			return 0;
		snprintf(path, sizeof(path), SYS_PCI "/%s/driver/unbind", bdf);
		ret = iommu_write_file(path, bdf);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), SYS_PCI "/%s/driver_override", bdf);
	ret = iommu_write_file(path, *driver ? driver : "\n");
	if (ret || !*driver)
		return ret;
	return iommu_write_file("/sys/bus/pci/drivers_probe", bdf);
}

static void edu_init(struct edu *e, const char *bdf)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->bdf, sizeof(e->bdf), "%s", bdf);
	e->devfd = -1;
	e->cfgfd = -1;
}

int vfio_cdev_open(const char *bdf)
{
	char path[512];
	struct dirent *d;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), SYS_PCI "/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		fail("%s: %s (no CONFIG_VFIO_DEVICE_CDEV?)", path,
		     strerror(errno));
	while ((d = readdir(dir)) && strncmp(d->d_name, "vfio", 4))
		;
	if (!d)
		fail("%s holds no vfioN", path);
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
	closedir(dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	return fd;
}

void edu_map_vfio(struct edu *e)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	void *bar;

	expect_ok("VFIO_DEVICE_GET_REGION_INFO(BAR0)",
		  luo_ioctl(e->devfd, VFIO_DEVICE_GET_REGION_INFO, &reg));
	bar = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   e->devfd, reg.offset);
	if (bar == MAP_FAILED)
		fail("mmap edu BAR0: %s", strerror(errno));
	e->bar = bar;
	e->bar_size = reg.size;

	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	expect_ok("VFIO_DEVICE_GET_REGION_INFO(config)",
		  luo_ioctl(e->devfd, VFIO_DEVICE_GET_REGION_INFO, &reg));
	e->cfg_offset = reg.offset;
}

int edu_arm_msi(struct edu *e)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSI_IRQ_INDEX,
			.start = 0,
			.count = 1,
		},
	};
	int ret;

	irq.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq.fd < 0)
		return -errno;
	ret = luo_ioctl(e->devfd, VFIO_DEVICE_SET_IRQS, &irq);
	if (ret) {
		close(irq.fd);
		return ret;
	}
	return irq.fd;
}

uint64_t edu_wait_irq(int efd, int timeout_ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t n;

	if (poll(&pfd, 1, timeout_ms) != 1 ||
	    read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

void edu_open_vfio(struct edu *e, const char *bdf, int iommufd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};

	edu_init(e, bdf);
	expect_ok("bind edu to vfio-pci", edu_set_driver(bdf, "vfio-pci"));
	e->devfd = vfio_cdev_open(bdf);
	expect_ok("VFIO_DEVICE_BIND_IOMMUFD",
		  luo_ioctl(e->devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	e->devid = bind.out_devid;

	edu_map_vfio(e);
	edu_bus_master(e, true);
}

int edu_try_bind(const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int fd, ret;

	fd = vfio_cdev_open(bdf);
	bind.iommufd = iommufd_open();
	ret = luo_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	close(fd);
	close(bind.iommufd);
	return ret;
}

int edu_attach(struct edu *e, uint32_t *pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = *pt_id,
	};
	int ret = luo_ioctl(e->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);

	if (!ret)
		*pt_id = attach.pt_id;
	return ret;
}

void edu_open_sysfs(struct edu *e, const char *bdf)
{
	char path[256];
	void *bar;
	int fd;

	edu_init(e, bdf);
	expect_ok("leave edu without a driver", edu_set_driver(bdf, ""));
	snprintf(path, sizeof(path), SYS_PCI "/%s/enable", bdf);
	expect_ok("enable edu", iommu_write_file(path, "1"));
	snprintf(path, sizeof(path), SYS_PCI "/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	e->bar_size = 1 << 20;
	bar = mmap(NULL, e->bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	close(fd);
	if (bar == MAP_FAILED)
		fail("mmap %s: %s", path, strerror(errno));
	e->bar = bar;
	snprintf(path, sizeof(path), SYS_PCI "/%s/config", bdf);
	e->cfgfd = open(path, O_RDWR);
	if (e->cfgfd < 0)
		fail("open %s: %s", path, strerror(errno));
	edu_bus_master(e, true);
}

void edu_close(struct edu *e)
{
	if (e->bar)
		munmap((void *)e->bar, e->bar_size);
	if (e->devfd >= 0)
		close(e->devfd);
	if (e->cfgfd >= 0)
		close(e->cfgfd);
	e->bar = NULL;
	e->devfd = -1;
	e->cfgfd = -1;
}

/* ----- edu: registers and DMA ----- */

/* Registers: one access of the register's size each, never merged */
uint32_t edu_read32(struct edu *e, unsigned int reg)
{
	return __atomic_load_n((uint32_t *)(e->bar + reg), __ATOMIC_SEQ_CST);
}

void edu_write32(struct edu *e, unsigned int reg, uint32_t val)
{
	__atomic_store_n((uint32_t *)(e->bar + reg), val, __ATOMIC_SEQ_CST);
}

void edu_write64(struct edu *e, unsigned int reg, uint64_t val)
{
	__atomic_store_n((uint64_t *)(e->bar + reg), val, __ATOMIC_SEQ_CST);
}

void edu_bus_master(struct edu *e, bool on)
{
	int fd = e->cfgfd >= 0 ? e->cfgfd : e->devfd;
	off_t off = (e->cfgfd >= 0 ? 0 : e->cfg_offset) + PCI_COMMAND;
	uint16_t cmd;

	if (pread(fd, &cmd, sizeof(cmd), off) != sizeof(cmd))
		fail("read PCI_COMMAND of %s: %s", e->bdf, strerror(errno));
	cmd = on ? cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY :
		   cmd & ~PCI_COMMAND_MASTER;
	if (pwrite(fd, &cmd, sizeof(cmd), off) != sizeof(cmd))
		fail("write PCI_COMMAND of %s: %s", e->bdf, strerror(errno));
}

static void edu_dma_cmd(struct edu *e, uint64_t addr, uint32_t buf_off,
			uint32_t count, uint64_t cmd)
{
	bool to_ram = cmd & EDU_DMA_TO_RAM;

	if (addr + count > EDU_DMA_LIMIT || buf_off + count >= EDU_BUF_SIZE)
		fail("edu DMA of %u bytes at %#llx (buffer +%#x): out of range",
		     count, (unsigned long long)addr, buf_off);
	edu_write64(e, to_ram ? EDU_REG_DMA_SRC : EDU_REG_DMA_DST,
		    EDU_BUF + buf_off);
	edu_write64(e, to_ram ? EDU_REG_DMA_DST : EDU_REG_DMA_SRC, addr);
	edu_write64(e, EDU_REG_DMA_COUNT, count);
	edu_write64(e, EDU_REG_DMA_CMD, cmd);
}

void edu_dma_start(struct edu *e, uint64_t addr, uint32_t buf_off,
		   uint32_t count, bool to_ram)
{
	edu_dma_cmd(e, addr, buf_off, count,
		    EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0));
}

void edu_dma_start_irq(struct edu *e, uint64_t addr, uint32_t buf_off,
		       uint32_t count, bool to_ram)
{
	edu_dma_cmd(e, addr, buf_off, count,
		    EDU_DMA_START | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0));
}

int edu_dma_wait(struct edu *e, int timeout_ms)
{
	struct timespec ts = { .tv_nsec = 1000000 };
	int waited;

	for (waited = 0; waited < timeout_ms; waited++) {
		if (!(edu_read32(e, EDU_REG_DMA_CMD) & EDU_DMA_START))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

void edu_dma(struct edu *e, uint64_t addr, uint32_t buf_off, uint32_t count,
	     bool to_ram)
{
	edu_dma_start(e, addr, buf_off, count, to_ram);
	if (edu_dma_wait(e, 10000))
		fail("edu DMA %s %#llx did not end in 10 s",
		     to_ram ? "to" : "from", (unsigned long long)addr);
}

void edu_pattern_fill(void *buf, uint64_t seed)
{
	uint64_t *p = buf;
	unsigned int i;

	for (i = 0; i < EDU_DMA_MAX / 8; i++)
		p[i] = seed * 0x9e3779b97f4a7c15ULL + i;
}

bool edu_pattern_holds(const void *buf, uint64_t seed)
{
	const uint64_t *p = buf;
	unsigned int i;

	for (i = 0; i < EDU_DMA_MAX / 8; i++)
		if (p[i] != seed * 0x9e3779b97f4a7c15ULL + i)
			return false;
	return true;
}

/* ----- a VMM's view ----- */

void iommu_vmm_setup(struct iommu_vmm *v, const char *bdf, int memfd,
		     uint8_t *ram, uint64_t size, uint64_t iova)
{
	v->iommufd = iommufd_open();
	v->iova = iova;
	v->ram = ram;
	expect_ok("IOMMU_IOAS_ALLOC", iommufd_ioas_alloc(v->iommufd, &v->ioas));
	edu_open_vfio(&v->edu, bdf, v->iommufd);
	expect_ok("IOMMU_HWPT_ALLOC",
		  iommufd_hwpt_alloc(v->iommufd, v->edu.devid, v->ioas,
				     &v->hwpt));
	expect_ok("attach edu to its HWPT", edu_attach(&v->edu, &v->hwpt));
	expect_ok("MAP_FILE guest RAM",
		  iommufd_map_file(v->iommufd, v->ioas, memfd, 0, size, iova));
}

void iommu_vmm_attach(struct iommu_vmm *v, const char *bdf)
{
	uint32_t pt = v->hwpt;

	expect_ok("the IOAS under its old id",
		  iommufd_ioas_check(v->iommufd, v->ioas));
	edu_open_vfio(&v->edu, bdf, v->iommufd);
	expect_ok("attach edu to the HWPT under its old id",
		  edu_attach(&v->edu, &pt));
	expect_u64("HWPT id", v->hwpt, pt);
}

void iommu_vmm_copy(struct iommu_vmm *v, uint64_t from, uint64_t to,
		    uint64_t seed)
{
	edu_pattern_fill(v->ram + from, seed);
	edu_dma(&v->edu, v->iova + from, 0, EDU_DMA_MAX, false);
	edu_dma(&v->edu, v->iova + to, 0, EDU_DMA_MAX, true);
	if (!edu_pattern_holds(v->ram + to, seed))
		fail("DMA through IOVA %#llx did not reach guest RAM at %#llx",
		     (unsigned long long)(v->iova + to),
		     (unsigned long long)to);
	msg("ok: edu copied guest RAM at %#llx to %#llx through the IOMMU",
	    (unsigned long long)from, (unsigned long long)to);
}

int iommu_vmm_hand_over(struct iommu_vmm *v, int dev, const char *name,
			uint64_t size, uint64_t iova)
{
	int session, memfd;

	memfd = iommu_vmm_prepare(v, dev, name, size, iova, &session);
	luo_write_file("/sys/kernel/kho/finalize", "1");
	return memfd;
}

int iommu_vmm_prepare(struct iommu_vmm *v, int dev, const char *name,
		      uint64_t size, uint64_t iova, int *session_out)
{
	struct iommu_vmm_note *note;
	int session, memfd;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	session = luo_open_session(dev, name, true);
	*session_out = session;
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, size))
		fail("memfd: %s", strerror(errno));
	iommu_vmm_setup(v, bdf, memfd, luo_map(memfd, size), size, iova);
	note = iommu_vmm_note(v);
	iommu_vmm_copy(v, 4096, 2 * 4096, note->seed);
	iommu_vmm_preserve(v, session, memfd);
	return memfd;
}

void iommu_vmm_preserve(struct iommu_vmm *v, int session, int memfd)
{
	expect_ok("preserve the memfd",
		  luo_preserve_fd(session, memfd, IOMMU_VMM_TOKEN_MEM));
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, v->iommufd, IOMMU_VMM_TOKEN_IOMMUFD));
}

void iommu_vmm_preserve_device(struct iommu_vmm *v, int session)
{
	expect_ok("preserve edu's device file",
		  luo_preserve_fd(session, v->edu.devfd, IOMMU_VMM_TOKEN_DEVICE));
}

void iommu_vmm_retrieve_device(struct iommu_vmm *v, int session)
{
	struct iommu_vmm_note *note = (struct iommu_vmm_note *)v->ram;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	edu_init(&v->edu, bdf);
	expect_ok("bind edu to vfio-pci", edu_set_driver(bdf, "vfio-pci"));
	v->edu.devfd = expect_ok("retrieve edu's device file",
				 luo_retrieve_fd(session,
						 IOMMU_VMM_TOKEN_DEVICE));
	v->edu.devid = note->devid;
	expect_ok("the device keeps its iommufd device id",
		  iommufd_device_check(v->iommufd, note->devid));
	edu_map_vfio(&v->edu);
}

void iommu_vmm_release(struct iommu_vmm *v, int memfd, uint64_t size)
{
	edu_close(&v->edu);
	munmap(v->ram, size);
	close(v->iommufd);
	close(memfd);
}

#define IOMMU_VMM_MAGIC	0x65746f6e6d6d7669ULL

struct iommu_vmm_note *iommu_vmm_note(struct iommu_vmm *v)
{
	struct iommu_vmm_note *note = (struct iommu_vmm_note *)v->ram;

	note->magic = IOMMU_VMM_MAGIC;
	note->ioas = v->ioas;
	note->hwpt = v->hwpt;
	note->devid = v->edu.devid;
	note->seed = luo_seed();
	return note;
}

int iommu_vmm_retrieve(struct iommu_vmm *v, int session, uint64_t size,
		       uint64_t iova)
{
	struct iommu_vmm_note *note;
	int memfd;

	v->iommufd = expect_ok("retrieve the iommufd",
			       luo_retrieve_fd(session,
					       IOMMU_VMM_TOKEN_IOMMUFD));
	memfd = expect_ok("retrieve the memfd",
			  luo_retrieve_fd(session, IOMMU_VMM_TOKEN_MEM));
	v->ram = luo_map(memfd, size);
	v->iova = iova;
	note = (struct iommu_vmm_note *)v->ram;
	expect_u64("note magic", IOMMU_VMM_MAGIC, note->magic);
	v->ioas = note->ioas;
	v->hwpt = note->hwpt;
	return memfd;
}

uint64_t iommu_pfn_of(void *page)
{
	uint64_t pfn;

	luo_read_pfns(page, 4096, &pfn);
	return pfn;
}
