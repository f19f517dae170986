// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd_kho_bad_vtd with the first context entry of the handover tables
 * pointed at an unpreserved page, where the record names another top page
 * table: the next kernel must refuse the unit before reading that page.
 */
#define VTD_TEST	"iommufd_kho_bad_vtd_context"
#define VTD_DAMAGE	"vtd-context"
#define VTD_REASON	"a context entry for no recorded domain"

#include "iommufd_kho_bad_vtd.c"
