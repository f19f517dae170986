/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The iommufd Live Update record: what an iommufd hands over to the next
 * kernel. drivers/iommu/kho/iommufd_luo.c writes and reads it.
 *
 * An iommufd is one record in one preserved block: a header, then the
 * IOAS, the paging HWPTs and the mappings, as arrays. Objects keep their
 * ids. A mapping names its pages by the token of a memfd preserved in the
 * same session and an offset in it, so the next kernel finds the same
 * pages by retrieving that memfd. A HWPT names the PCI function it was
 * made for, so the next kernel can ask that function's IOMMU for a domain
 * of the same kind.
 *
 * Everything here comes from the previous kernel and is checked before
 * use: bounds, sizes, unique ids, and that every reference resolves.
 */
#ifndef _LINUX_KHO_ABI_IOMMUFD_H
#define _LINUX_KHO_ABI_IOMMUFD_H

#include <linux/bits.h>
#include <linux/types.h>

#define IOMMUFD_LUO_COMPATIBLE	"iommufd-v1"
#define IOMMUFD_LUO_MAGIC	0x31646675756d6d69ULL	/* "immuufd1" */
#define IOMMUFD_LUO_VERSION	1

/* Bounds on what is carried (and accepted from the previous kernel). */
#define IOMMUFD_LUO_MAX_IOAS	64
#define IOMMUFD_LUO_MAX_HWPTS	64
#define IOMMUFD_LUO_MAX_MAPS	32768
/* The largest block the record may take. */
#define IOMMUFD_LUO_MAX_ORDER	10

/* struct iommufd_luo_hwpt_ser.flags */
#define IOMMUFD_LUO_HWPT_AUTO	BIT(0)	/* made by an attach to the IOAS */
#define IOMMUFD_LUO_HWPT_FLAGS	IOMMUFD_LUO_HWPT_AUTO

/* struct iommufd_luo_map_ser.flags */
#define IOMMUFD_LUO_MAP_READ	BIT(0)
#define IOMMUFD_LUO_MAP_WRITE	BIT(1)
#define IOMMUFD_LUO_MAP_FLAGS	(IOMMUFD_LUO_MAP_READ | IOMMUFD_LUO_MAP_WRITE)

/**
 * struct iommufd_luo_ioas_ser - an IOAS
 * @id: its object id
 * @reserved: zero
 */
struct iommufd_luo_ioas_ser {
	u32 id;
	u32 reserved;
};

/**
 * struct iommufd_luo_hwpt_ser - a paging HWPT
 * @id: its object id
 * @ioas: the id of the IOAS it is filled from, one of the record's
 * @pci_segment: PCI segment of the function it was allocated for
 * @pci_rid: that function's requester id: bus << 8 | devfn
 * @flags: IOMMUFD_LUO_HWPT_*
 * @reserved: zero
 */
struct iommufd_luo_hwpt_ser {
	u32 id;
	u32 ioas;
	u16 pci_segment;
	u16 pci_rid;
	u32 flags;
	u32 reserved;
};

/**
 * struct iommufd_luo_map_ser - a mapping of a range of a memfd
 * @iova: its first IOVA
 * @length: its length in bytes
 * @token: the memfd's token in the session
 * @offset: the byte offset in the memfd that @iova maps
 * @ioas: the id of its IOAS, one of the record's
 * @flags: IOMMUFD_LUO_MAP_*; at least one of read and write
 */
struct iommufd_luo_map_ser {
	u64 iova;
	u64 length;
	u64 token;
	u64 offset;
	u32 ioas;
	u32 flags;
};

/**
 * struct iommufd_luo_ser - the record of an iommufd
 * @magic: IOMMUFD_LUO_MAGIC
 * @version: IOMMUFD_LUO_VERSION
 * @nr_ioas: number of IOAS
 * @nr_hwpts: number of paging HWPTs
 * @nr_maps: number of mappings, in all the IOAS together
 * @size: bytes of the record, this header included
 *
 * Followed by struct iommufd_luo_ioas_ser[@nr_ioas], then struct
 * iommufd_luo_hwpt_ser[@nr_hwpts], then struct iommufd_luo_map_ser[@nr_maps]
 * (mappings of one IOAS in IOVA order).
 */
struct iommufd_luo_ser {
	u64 magic;
	u32 version;
	u32 nr_ioas;
	u32 nr_hwpts;
	u32 nr_maps;
	u64 size;
};

static inline size_t iommufd_luo_ser_size(u32 nr_ioas, u32 nr_hwpts,
					  u32 nr_maps)
{
	return sizeof(struct iommufd_luo_ser) +
	       (size_t)nr_ioas * sizeof(struct iommufd_luo_ioas_ser) +
	       (size_t)nr_hwpts * sizeof(struct iommufd_luo_hwpt_ser) +
	       (size_t)nr_maps * sizeof(struct iommufd_luo_map_ser);
}

static inline struct iommufd_luo_ioas_ser *
iommufd_luo_ser_ioas(struct iommufd_luo_ser *ser)
{
	return (struct iommufd_luo_ioas_ser *)(ser + 1);
}

static inline struct iommufd_luo_hwpt_ser *
iommufd_luo_ser_hwpts(struct iommufd_luo_ser *ser)
{
	return (struct iommufd_luo_hwpt_ser *)(iommufd_luo_ser_ioas(ser) +
					       ser->nr_ioas);
}

static inline struct iommufd_luo_map_ser *
iommufd_luo_ser_maps(struct iommufd_luo_ser *ser)
{
	return (struct iommufd_luo_map_ser *)(iommufd_luo_ser_hwpts(ser) +
					      ser->nr_hwpts);
}

#endif /* _LINUX_KHO_ABI_IOMMUFD_H */
