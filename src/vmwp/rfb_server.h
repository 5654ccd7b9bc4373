/*
 * The console server (VMConnect): the VM's screen, keyboard and mouse over
 * RFB (RFC 6143) through libvncserver, one per worker, living across the
 * guest's reboots. The screen is the synthetic video's VRAM, which this
 * server owns (so it outlives each boot's devices) and serves in place;
 * the guest's DIRT rectangles become RFB updates; RFB key events become
 * set-1 scan codes for the synthetic keyboard and pointer events absolute
 * reports for the synthetic mouse.
 *
 * Listeners (made before the jail; the jail allows accepting only):
 *   - a Unix socket, no password: its file permissions are the access
 *     control (the service keeps it in the VM's run directory, root's);
 *   - optionally TCP (loopback), with VNC authentication (the password:
 *     at most 8 characters count, RFC 6143 section 7.2.2).
 * Several clients at once, on either. Websocket clients (noVNC) are
 * recognised on the same sockets by libvncserver.
 *
 * Threads: one server thread runs libvncserver and every client. attach()
 * and the getters may be called from any thread; the VSP callbacks
 * (rfb_server_video_ops) run on the video channel's loop and only write
 * an eventfd.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "emu/i8042.h"
#include "emu/vga.h"
#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"
#include "vsp/synthvid/synthvid.h"

struct rfb_server;

struct rfb_server_config {
	const char *name;      /* the desktop name clients show */
	const char *unix_path; /* or NULL */
	const char *tcp;       /* "[HOST:]PORT", or NULL */
	int tcp_fd;	       /* an inherited listening socket, or -1 */
	const char *password;  /* required with tcp / tcp_fd */
	uint64_t vram_size;    /* 0: SYNTHVID_DEFAULT_VRAM */
};

/* Binds the listeners and maps the VRAM; err names what failed. */
int rfb_server_new(const struct rfb_server_config *cfg, struct rfb_server **ret, char *err,
		   size_t errlen) must_check;
int rfb_server_start(struct rfb_server *s) must_check;
/* Stops the thread, disconnects every client, removes the Unix socket. NULL is a no-op. */
struct rfb_server *rfb_server_free(struct rfb_server *s);

/* The VRAM the synthetic video uses (the server keeps it for its whole life). */
void *rfb_server_vram(struct rfb_server *s, uint64_t *size);
/* The notify callback to give the synthetic video (place_vram is the machine's). */
void rfb_server_video_notify(void *opaque);

/* The devices of the running machine (all NULL between boots). Any thread. */
void rfb_server_attach(struct rfb_server *s, struct synthvid *video, struct synthkbd *kbd,
		       struct synthhid *mouse);

/*
 * The machine's VGA and keyboard controller (NULL between boots and for machines without a
 * VGA): the VGA is shown while the synthetic video has no mode, and the keys then go to
 * kbc (may be NULL). Any thread; after it returns the server no longer uses what it
 * replaced, so the caller may free it.
 */
void rfb_server_attach_vga(struct rfb_server *s, struct vga *vga, struct i8042 *kbc);

struct rfb_server_stats {
	unsigned clients; /* connected now, both listeners */
	uint64_t connections, updates_marked, key_events, keys_unmapped, pointer_events;
	/* Guest pointer shapes sent as the clients' cursor; refused (no usable shape). */
	uint64_t cursor_shapes, cursor_refused;
	uint32_t width, height; /* the desktop now */
	bool tcp;
	/* The VGA is shown (not the synthetic video); pictures drawn; bands sent as changed. */
	bool vga;
	uint64_t vga_frames, vga_bands;
	uint64_t i8042_keys; /* key events given to the i8042 (while the VGA is shown) */
};
void rfb_server_get_stats(struct rfb_server *s, struct rfb_server_stats *st);
