/* One RFB frame and its PNG (rfb_capture.h). */
#include "cli/rfb_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/byteorder.h"

#define ENC_RAW		 0
#define ENC_DESKTOP_SIZE (-223)

#define FAIL(msg)                                                                                  \
	do {                                                                                       \
		*why = (msg);                                                                      \
		return -EPROTO;                                                                    \
	} while (0)

static int handshake(rfb_read_fn rd, rfb_write_fn wr, void *o, struct rfb_frame *f,
		     const char **why)
{
	uint8_t b[24], types[255], n;
	uint32_t len;
	int r;
	/* SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, red at 16 (B G R X). */
	static const uint8_t pixfmt[20] = {0,	0, 0,	0, 32,	24, 0, 1, 0,
					   255, 0, 255, 0, 255, 16, 8, 0};
	static const uint8_t encs[12] = {2, 0, 0, 2, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x21};
	bool none = false;

	if ((r = rd(o, b, 12)) < 0)
		return r;
	if (memcmp(b, "RFB 003.", 8))
		FAIL("not an RFB server");
	if ((r = wr(o, "RFB 003.008\n", 12)) < 0 || (r = rd(o, &n, 1)) < 0)
		return r;
	if (n == 0)
		FAIL("the server refused the connection");
	if ((r = rd(o, types, n)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		none |= types[i] == 1;
	if (!none)
		FAIL("the server wants authentication (the service's socket needs none)");
	if ((r = wr(o, "\1", 1)) < 0 || (r = rd(o, b, 4)) < 0)
		return r;
	if (get_be32(b))
		FAIL("the server refused security None");
	if ((r = wr(o, "\1", 1)) < 0 || (r = rd(o, b, 24)) < 0)
		return r;
	f->width = get_be16(b);
	f->height = get_be16(b + 2);
	len = get_be32(b + 20);
	if (len > 1 << 16)
		FAIL("desktop name too long");
	while (len) {
		char c[64];
		uint32_t k = len < sizeof(c) ? len : (uint32_t)sizeof(c);
		size_t have = strlen(f->name);

		if ((r = rd(o, c, k)) < 0)
			return r;
		if (have + k < sizeof(f->name)) {
			memcpy(f->name + have, c, k);
			f->name[have + k] = 0;
		}
		len -= k;
	}
	if ((r = wr(o, pixfmt, sizeof(pixfmt))) < 0 || (r = wr(o, encs, sizeof(encs))) < 0)
		return r;
	return 0;
}

static int resize(struct rfb_frame *f, uint32_t w, uint32_t h, uint8_t **seen, const char **why)
{
	if (!w || !h || w > RFB_CAPTURE_MAX_DIM || h > RFB_CAPTURE_MAX_DIM)
		FAIL("desktop size out of range");
	free(f->pixels);
	free(*seen);
	f->width = w;
	f->height = h;
	f->pixels = calloc((size_t)w * h, 4);
	*seen = calloc((size_t)w * h, 1);
	return f->pixels && *seen ? 0 : -ENOMEM;
}

static int request(rfb_write_fn wr, void *o, const struct rfb_frame *f)
{
	uint8_t m[10] = {3,
			 0,
			 0,
			 0,
			 0,
			 0,
			 (uint8_t)(f->width >> 8),
			 (uint8_t)f->width,
			 (uint8_t)(f->height >> 8),
			 (uint8_t)f->height};

	return wr(o, m, sizeof(m));
}

/* One raw rectangle: its rows into the frame, each pixel marked seen. */
static int raw_rect(rfb_read_fn rd, void *o, struct rfb_frame *f, uint8_t *seen, uint32_t x,
		    uint32_t y, uint32_t w, uint32_t h, uint64_t *left, const char **why)
{
	int r;

	if ((uint64_t)x + w > f->width || (uint64_t)y + h > f->height)
		FAIL("rectangle outside the screen");
	for (uint32_t row = 0; row < h; row++) {
		uint8_t *dst = f->pixels + ((size_t)(y + row) * f->width + x) * 4;

		if ((r = rd(o, dst, (size_t)w * 4)) < 0)
			return r;
		for (uint32_t i = 0; i < w; i++) {
			uint8_t *s = &seen[(size_t)(y + row) * f->width + x + i];

			*left -= !*s;
			*s = 1;
		}
	}
	return 0;
}

int rfb_capture(rfb_read_fn rd, rfb_write_fn wr, void *o, struct rfb_frame *f, const char **why)
{
	uint8_t *seen = NULL, b[16];
	uint64_t left;
	unsigned messages = 0;
	int r;

	memset(f, 0, sizeof(*f));
	*why = NULL;
	r = handshake(rd, wr, o, f, why);
	if (r == 0)
		r = resize(f, f->width, f->height, &seen, why);
	if (r == 0)
		r = request(wr, o, f);
	left = (uint64_t)f->width * f->height;
	/* Bounded: a server that never completes the frame is given up on. */
	while (r == 0 && left && messages++ < 4096) {
		if ((r = rd(o, b, 1)) < 0)
			break;
		if (b[0] == 2) /* Bell */
			continue;
		if (b[0] == 3) { /* ServerCutText: skipped */
			uint32_t n;

			if ((r = rd(o, b, 7)) < 0)
				break;
			n = get_be32(b + 3);
			for (; n && r == 0; n -= n < 16 ? n : 16)
				r = rd(o, b, n < 16 ? n : 16);
			continue;
		}
		if (b[0] != 0) {
			*why = "unexpected server message";
			r = -EPROTO;
			break;
		}
		if ((r = rd(o, b, 3)) < 0)
			break;
		for (unsigned i = 0, n = get_be16(b + 1); r == 0 && i < n; i++) {
			uint32_t x, y, w, h;
			int32_t enc;

			if ((r = rd(o, b, 12)) < 0)
				break;
			x = get_be16(b), y = get_be16(b + 2), w = get_be16(b + 4),
			h = get_be16(b + 6);
			enc = (int32_t)get_be32(b + 8);
			if (enc == ENC_RAW) {
				r = raw_rect(rd, o, f, seen, x, y, w, h, &left, why);
			} else if (enc == ENC_DESKTOP_SIZE) {
				r = resize(f, w, h, &seen, why);
				left = (uint64_t)f->width * f->height;
			} else {
				*why = "an encoding that was not asked for";
				r = -EPROTO;
			}
		}
		if (r == 0 && left)
			r = request(wr, o, f);
	}
	if (r == 0 && left) {
		*why = "the server did not send the whole screen";
		r = -EPROTO;
	}
	free(seen);
	if (r < 0)
		rfb_frame_fini(f);
	return r;
}

void rfb_frame_fini(struct rfb_frame *f)
{
	free(f->pixels);
	f->pixels = NULL;
}

int rfb_frame_write_png(const struct rfb_frame *f, int fd)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	uint8_t *row = malloc((size_t)f->width * 3);
	FILE *out = fdopen(dup(fd), "wb");
	int r = -EIO;

	if (!png || !info || !row || !out)
		goto done;
	if (setjmp(png_jmpbuf(png)))
		goto done;
	png_init_io(png, out);
	png_set_IHDR(png, info, f->width, f->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (uint32_t y = 0; y < f->height; y++) {
		const uint8_t *p = f->pixels + (size_t)y * f->width * 4;

		for (uint32_t x = 0; x < f->width; x++) {
			row[3 * x] = p[4 * x + 2];
			row[3 * x + 1] = p[4 * x + 1];
			row[3 * x + 2] = p[4 * x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	r = 0;
done:
	if (out && fclose(out) != 0 && r == 0)
		r = -EIO;
	png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
	free(row);
	return r;
}

int rfb_frame_save_png(const struct rfb_frame *f, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r;

	if (fd < 0)
		return -errno;
	r = rfb_frame_write_png(f, fd);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}
