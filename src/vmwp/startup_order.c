/*
 * Set-VMBios -StartupOrder for Generation 1 VMs: the four device kinds a
 * Hyper-V BIOS boots from, each named once. The worker turns the order
 * into SeaBIOS's "bootorder" fw_cfg file (firmware.c).
 */
#include "vmwp/startup_order.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const names[STARTUP_DEVICE_COUNT] = {
	[STARTUP_IDE] = "IDE",
	[STARTUP_CD] = "CD",
	[STARTUP_LEGACY_NETWORK_ADAPTER] = "LegacyNetworkAdapter",
	[STARTUP_FLOPPY] = "Floppy",
};

const char *startup_device_name(enum startup_device d)
{
	return d < STARTUP_DEVICE_COUNT ? names[d] : "?";
}

int startup_order_parse(struct startup_order *so, const char *s, char *err, size_t errlen)
{
	struct startup_order out = {0};
	const char *p = s;

	for (;;) {
		size_t len = strcspn(p, ",");
		unsigned d;

		for (d = 0; d < STARTUP_DEVICE_COUNT; d++)
			if (strlen(names[d]) == len && !strncasecmp(p, names[d], len))
				break;
		if (d == STARTUP_DEVICE_COUNT) {
			snprintf(err, errlen,
				 "startup order '%s': '%.*s' is not IDE, CD, LegacyNetworkAdapter "
				 "or Floppy",
				 s, (int)len, p);
			return -EINVAL;
		}
		for (unsigned i = 0; i < out.n; i++)
			if (out.order[i] == d) {
				snprintf(err, errlen, "startup order '%s': %s is named twice", s,
					 names[d]);
				return -EINVAL;
			}
		out.order[out.n++] = (enum startup_device)d;
		p += len;
		if (*p == '\0')
			break;
		p++; /* the comma */
	}
	*so = out;
	return 0;
}

struct startup_order startup_order_effective(const struct startup_order *so)
{
	struct startup_order def = {.n = STARTUP_DEVICE_COUNT};

	if (so->n)
		return *so;
	for (unsigned d = 0; d < STARTUP_DEVICE_COUNT; d++)
		def.order[d] = (enum startup_device)d;
	return def;
}
