/*
 * SMBIOS tables (DMTF DSP0134 3.x, written in the 2.8 layout with a 32-bit entry point, §5.2.1)
 * for a generation 1 VM: BIOS information (type 0), system information (type 1), chassis
 * (type 3), end of table (type 127). A generation 1 guest reads them as a Hyper-V guest does:
 * Linux's ata_piix leaves IDE disks to hv_storvsc when the system says "Microsoft Corporation",
 * "Virtual Machine" (drivers/ata/ata_piix.c, piix_ignore_devices_quirk), as on Hyper-V, where
 * the same disks are also offered over VMBus (docs/generation1.md).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"

#define SMBIOS_ENTRY_POINT_LEN 31 /* "_SM_" ... "_DMI_" ..., SMBIOS 2.x (§5.2.1) */
#define SMBIOS_TABLES_MAX      1024

struct smbios_config {
	const char *bios_vendor, *bios_version, *bios_date;
	const char *manufacturer, *product, *version, *serial; /* type 1 and 3 */
	struct guid uuid;				       /* type 1's UUID, wire order */
};

/*
 * Builds the structure table into tables (at most max bytes) and the entry point that points
 * at it at table_gpa (below 4 GiB). The table's length, or -ENOSPC / -EINVAL (a string
 * longer than 64 bytes, or table_gpa too high).
 */
int smbios_build(const struct smbios_config *cfg, uint64_t table_gpa,
		 uint8_t ep[SMBIOS_ENTRY_POINT_LEN], uint8_t *tables, size_t max) must_check;
