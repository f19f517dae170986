/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks from memfd sealing into the memfd Live Update handler
 * (mm/memfd_luo.c), for a memfd that is preserved for the next kernel.
 * Each is called with the inode locked.
 */
#ifndef _LINUX_MEMFD_LUO_H
#define _LINUX_MEMFD_LUO_H

#include <linux/types.h>

struct file;

#ifdef CONFIG_LIVEUPDATE_MEMFD
void memfd_luo_seals_added(struct file *file, unsigned int seals);
#else
static inline void memfd_luo_seals_added(struct file *file,
					 unsigned int seals)
{
}
#endif

#endif /* _LINUX_MEMFD_LUO_H */
