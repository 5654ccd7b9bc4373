/*
 * Fuzz target: parvis get-vmscreenshot's RFB client (src/cli/rfb_capture.c),
 * fed what the worker's side of the screen socket may send: the input is the
 * server's whole byte stream; what the client writes is dropped. Seeds:
 * corpus/rfb_capture (tests/fuzz/vsp/make_console_corpus.py).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/rfb_capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct stream {
	const uint8_t *p;
	size_t left;
};

static int rd(void *opaque, void *buf, size_t len)
{
	struct stream *s = opaque;

	if (len > s->left)
		return -EPIPE;
	memcpy(buf, s->p, len);
	s->p += len;
	s->left -= len;
	return 0;
}

static int wr(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = {.p = data, .left = size};
	struct rfb_frame f;
	const char *why;

	if (rfb_capture(rd, wr, &s, &f, &why) == 0) {
		if (!f.pixels || !f.width || !f.height || f.width > RFB_CAPTURE_MAX_DIM)
			__builtin_trap();
		rfb_frame_fini(&f);
	}
	return 0;
}
