/*
 * Encoding and decoding of section payloads: little-endian fixed-width
 * fields. state_in never reads past its buffer; a short section reads as
 * zeros and makes state_in_finish fail, so a device's load can decode all
 * its fields first and check once.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

void state_out_init(struct state_out *out)
{
	*out = (struct state_out){0};
}

void state_out_fini(struct state_out *out)
{
	free(out->buf);
	*out = (struct state_out){0};
}

void state_out_bytes(struct state_out *out, const void *src, size_t len)
{
	size_t cap;
	uint8_t *buf;

	if (out->error)
		return;
	if (len > STATE_SECTION_MAX - out->len) {
		out->error = -E2BIG;
		return;
	}
	if (out->len + len > out->cap) {
		cap = MAX(out->cap * 2, out->len + len);
		cap = MAX(cap, (size_t)256);
		buf = realloc(out->buf, cap);
		if (!buf) {
			out->error = -ENOMEM;
			return;
		}
		out->buf = buf;
		out->cap = cap;
	}
	if (len)
		memcpy(out->buf + out->len, src, len);
	out->len += len;
}

void state_out_u8(struct state_out *out, uint8_t v)
{
	state_out_bytes(out, &v, 1);
}

void state_out_u32(struct state_out *out, uint32_t v)
{
	uint32_t le = htole32(v);

	state_out_bytes(out, &le, sizeof(le));
}

void state_out_u64(struct state_out *out, uint64_t v)
{
	uint64_t le = htole64(v);

	state_out_bytes(out, &le, sizeof(le));
}

void state_in_init(struct state_in *in, const void *buf, size_t len)
{
	*in = (struct state_in){.buf = buf, .len = len};
}

void state_in_bytes(struct state_in *in, void *dst, size_t len)
{
	if (in->error || len > in->len - in->pos) {
		in->error = true;
		memset(dst, 0, len);
		return;
	}
	if (len)
		memcpy(dst, in->buf + in->pos, len);
	in->pos += len;
}

uint8_t state_in_u8(struct state_in *in)
{
	uint8_t v;

	state_in_bytes(in, &v, 1);
	return v;
}

uint32_t state_in_u32(struct state_in *in)
{
	uint32_t v;

	state_in_bytes(in, &v, sizeof(v));
	return le32toh(v);
}

uint64_t state_in_u64(struct state_in *in)
{
	uint64_t v;

	state_in_bytes(in, &v, sizeof(v));
	return le64toh(v);
}

int state_in_finish(const struct state_in *in)
{
	return in->error || in->pos != in->len ? -EBADMSG : 0;
}
