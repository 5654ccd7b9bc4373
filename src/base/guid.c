/* GUID text <-> wire order (guid.h). */
#include "base/guid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads n hex digits at *p (advancing it) into a value. */
static int read_hex(const char **p, unsigned n, uint32_t *ret)
{
	uint32_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		int d = hex_value((*p)[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*p += n;
	*ret = v;
	return 0;
}

int guid_parse(const char *text, struct guid *ret)
{
	static const unsigned groups[] = {8, 4, 4, 4, 12};
	struct guid g;
	const char *p = text;
	uint32_t v;
	unsigned i, k = 0;

	if (!text || strlen(text) != GUID_STRING_LEN - 1)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(groups); i++) {
		if (i > 0 && *p++ != '-')
			return -EINVAL;
		if (i < 3) {
			/* Data1..Data3: little-endian on the wire. */
			unsigned j;

			if (read_hex(&p, groups[i], &v) < 0)
				return -EINVAL;
			for (j = 0; j < groups[i] / 2; j++)
				g.bytes[k++] = (uint8_t)(v >> (8 * j));
		} else {
			unsigned j;

			for (j = 0; j < groups[i] / 2; j++) {
				if (read_hex(&p, 2, &v) < 0)
					return -EINVAL;
				g.bytes[k++] = (uint8_t)v;
			}
		}
	}
	*ret = g;
	return 0;
}

char *guid_format(const struct guid *g, char *buf)
{
	const uint8_t *b = g->bytes;

	snprintf(buf, GUID_STRING_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[3], b[2],
		 b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return buf;
}

bool guid_equal(const struct guid *a, const struct guid *b)
{
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

bool guid_is_null(const struct guid *g)
{
	static const struct guid null;

	return guid_equal(g, &null);
}
