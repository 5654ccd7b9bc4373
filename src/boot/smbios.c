/* SMBIOS tables (smbios.h; DMTF DSP0134: structures §6.1, types §7.1, §7.2, §7.4, §7.45). */
#include "boot/smbios.h"

#include <errno.h>
#include <string.h>

#define STRING_MAX 64

struct table {
	uint8_t *buf;
	size_t len, max;
	uint16_t handle, count, largest;
	int error;
};

static void put(struct table *t, const void *p, size_t n)
{
	if (t->error)
		return;
	if (n > t->max - t->len) {
		t->error = -ENOSPC;
		return;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/*
 * One structure: its formatted area (hdr, with type and length set; the handle is filled
 * here), then its strings (numbered from 1 in the order given, NULL ones skipped by the
 * caller, §6.1.3), then the double NUL.
 */
static void structure(struct table *t, uint8_t *hdr, size_t len, const char *const *strs,
		      unsigned nstrs)
{
	size_t start = t->len;
	unsigned i;

	hdr[2] = (uint8_t)t->handle;
	hdr[3] = (uint8_t)(t->handle >> 8);
	t->handle++;
	put(t, hdr, len);
	for (i = 0; i < nstrs; i++) {
		if (strlen(strs[i]) > STRING_MAX)
			t->error = t->error ? t->error : -EINVAL;
		put(t, strs[i], strlen(strs[i]) + 1);
	}
	put(t, "\0", nstrs ? 1 : 2);
	t->count++;
	if (t->len - start > t->largest)
		t->largest = (uint16_t)(t->len - start);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return (uint8_t)-s;
}

int smbios_build(const struct smbios_config *cfg, uint64_t table_gpa,
		 uint8_t ep[SMBIOS_ENTRY_POINT_LEN], uint8_t *tables, size_t max)
{
	struct table t = {.buf = tables, .max = max};
	/* Type 0, §7.1 (2.4+ length 0x18): starting segment 0xE800, 64 KiB ROM. */
	uint8_t bios[0x18] = {0, 0x18, 0, 0, 1, 2, 0x00, 0xE8, 3, 0};
	/* Type 1, §7.2 (2.4+ length 0x1B): strings 1-4, the UUID, wake-up by power switch. */
	uint8_t sys[0x1B] = {1, 0x1B, 0, 0, 1, 2, 3, 4};
	/* Type 3, §7.4 (2.1 length 0x0D): a desktop; boot-up, power, thermal: safe; no security. */
	uint8_t chassis[0x0D] = {3, 0x0D, 0, 0, 1, 0x03, 2, 3, 0, 0x03, 0x03, 0x03, 0x03};
	uint8_t end[4] = {127, 4, 0, 0};
	const char *bs[] = {cfg->bios_vendor, cfg->bios_version, cfg->bios_date};
	const char *ss[] = {cfg->manufacturer, cfg->product, cfg->version, cfg->serial};
	const char *cs[] = {cfg->manufacturer, cfg->version, cfg->serial};

	if (table_gpa > UINT32_MAX - max)
		return -EINVAL;
	/* Characteristics (§7.1.1): bit 3, "BIOS characteristics not supported"; extension
	 * byte 2 bit 4: a virtual machine (§7.1.2.2). */
	bios[10] = 0x08;
	bios[0x13] = 0x10;
	bios[0x14] = bios[0x15] = bios[0x16] = bios[0x17] = 0xFF; /* no release numbers */
	memcpy(&sys[8], cfg->uuid.bytes, 16);
	sys[0x18] = 0x06;
	structure(&t, bios, sizeof(bios), bs, 3);
	structure(&t, sys, sizeof(sys), ss, 4);
	structure(&t, chassis, sizeof(chassis), cs, 3);
	structure(&t, end, sizeof(end), NULL, 0);
	if (t.error)
		return t.error;
	if (t.len > UINT16_MAX)
		return -ENOSPC;
	/* The 2.x entry point (§5.2.1), version 2.8. */
	memset(ep, 0, SMBIOS_ENTRY_POINT_LEN);
	memcpy(ep, "_SM_", 4);
	ep[5] = SMBIOS_ENTRY_POINT_LEN;
	ep[6] = 2;
	ep[7] = 8;
	ep[8] = (uint8_t)t.largest;
	ep[9] = (uint8_t)(t.largest >> 8);
	memcpy(ep + 16, "_DMI_", 5);
	ep[22] = (uint8_t)t.len;
	ep[23] = (uint8_t)(t.len >> 8);
	for (int i = 0; i < 4; i++)
		ep[24 + i] = (uint8_t)(table_gpa >> (8 * i));
	ep[28] = (uint8_t)t.count;
	ep[29] = (uint8_t)(t.count >> 8);
	ep[30] = 0x28;
	ep[21] = checksum(ep + 16, 15);
	ep[4] = checksum(ep, SMBIOS_ENTRY_POINT_LEN);
	return (int)t.len;
}
