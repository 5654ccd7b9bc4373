/*
 * A Generation 1 VM's BIOS boot order, as Hyper-V's Set-VMBios
 * -StartupOrder names it: "IDE,CD,LegacyNetworkAdapter,Floppy". See
 * startup_order.c.
 */
#pragma once

#include <stddef.h>

#include "base/compiler.h"

enum startup_device {
	STARTUP_IDE,			/* the first IDE disk (IDE order: 0:0, 0:1, 1:0, 1:1) */
	STARTUP_CD,			/* the first CD-ROM drive */
	STARTUP_LEGACY_NETWORK_ADAPTER, /* PXE from a legacy adapter with a boot ROM */
	STARTUP_FLOPPY,			/* the floppy drive */
	STARTUP_DEVICE_COUNT,
};

struct startup_order {
	unsigned n; /* 0: the default, IDE,CD,LegacyNetworkAdapter,Floppy (Hyper-V's) */
	enum startup_device order[STARTUP_DEVICE_COUNT];
};

/* Parses a comma-separated list of distinct names (case-insensitive): -EINVAL with err. */
int startup_order_parse(struct startup_order *so, const char *s, char *err,
			size_t errlen) must_check;
/* The order to use: so's, or the default if none was given. */
struct startup_order startup_order_effective(const struct startup_order *so);
const char *startup_device_name(enum startup_device d);
