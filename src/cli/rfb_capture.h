/*
 * parvis get-vmscreenshot: one frame of a VM's screen over RFB (RFC 6143),
 * from the console socket the service passes (security None), as 32-bit
 * B, G, R, X pixels; and PNG output (libpng). The RFB bytes come from the
 * worker, a less trusted process: every size is checked, and the parser
 * has a fuzz target (tests/fuzz/cli/fuzz_rfb_capture.c).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define RFB_CAPTURE_MAX_DIM 8192

/* Reads exactly len bytes into buf: 0, or -errno (-EPIPE at the end). */
typedef int (*rfb_read_fn)(void *opaque, void *buf, size_t len);
/* Writes len bytes: 0 or -errno. */
typedef int (*rfb_write_fn)(void *opaque, const void *buf, size_t len);

struct rfb_frame {
	uint32_t width, height;
	uint8_t *pixels; /* width * height * 4, B G R X; malloc'd */
	char name[256];	 /* the desktop's name */
};

/*
 * The handshake (3.8, security None), then a full update: returns once every
 * pixel of the screen arrived (the last desktop size counts). 0; -EPROTO with
 * why set for anything the protocol does not allow; -errno from the I/O.
 */
int rfb_capture(rfb_read_fn rd, rfb_write_fn wr, void *opaque, struct rfb_frame *frame,
		const char **why) must_check;
void rfb_frame_fini(struct rfb_frame *frame);

/* Writes the frame as an 8-bit RGB PNG to fd. 0 or -errno. */
int rfb_frame_write_png(const struct rfb_frame *frame, int fd) must_check;
/* The same into a file (created 0644, or replaced). 0 or -errno. */
int rfb_frame_save_png(const struct rfb_frame *frame, const char *path) must_check;
