/*
 * The console server (rfb_server.h), on libvncserver 0.9.14: two screens
 * share the VRAM as their framebuffer: `open` for Unix-socket clients (no
 * security), `auth` for TCP clients (VNC authentication). libvncserver
 * listens on nothing itself: this thread accepts on our listeners and
 * hands each connection to rfbNewClient(), then lets rfbProcessEvents() run
 * the clients without waiting (one poll() here covers every descriptor).
 *
 * The VGA (generation 1 BIOS boots, emu/vga.c): while the synthetic video
 * has no mode (the guest's hyperv_fb has not connected), the screens show
 * the VGA instead, as Hyper-V's VMConnect does. The VGA tells nobody when
 * it changes, so each round (every VGA_REFRESH_MS while a client is
 * connected) takes a snapshot (emu/vga_render.h): in text and mode 13h, a
 * snapshot equal to the last one (registers, the window's bytes, the blink
 * phase) draws nothing; otherwise the picture is drawn into vga_next and
 * compared with what the screens show (vga_fb) in bands of VGA_BAND lines,
 * and only the bands that differ are copied and marked, so an unchanged
 * LFB sends nothing either.
 */
#include "vmwp/rfb_server.h"

#include <errno.h>
#include <gcrypt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "base/log.h"
#include "base/clock.h"
#include "emu/vga_render.h"
#include "hvdef/synthkbd_proto.h"
#include "vmwp/keysym_set1.h"
#include "vsp/synthvid/synthvid_cursor.h"

#define MAX_CLIENTS 16 /* per server: each holds buffers; a flood of connections is refused */
#define NO_MODE_W   640
#define NO_MODE_H   480
/* How often the VGA is looked at while shown (it has no dirty notifications). */
#define VGA_REFRESH_MS 100
#define VGA_BAND       16 /* lines compared and marked together */
#define VGA_FB_BYTES   ((size_t)VGA_RENDER_MAX_W * VGA_RENDER_MAX_H * 4)

struct rfb_server {
	rfbScreenInfoPtr open, auth;
	int unix_fd, tcp_fd, event_fd;
	char *unix_path;
	char *passwords[2]; /* rfbCheckPasswordByList's NULL-terminated list */
	uint8_t *vram;
	uint64_t vram_size;
	pthread_t thread;
	bool started;
	_Atomic bool stop;

	pthread_mutex_t lock; /* the devices; taken by attach and around each use */
	struct synthvid *video;
	struct synthkbd *kbd;
	struct synthhid *mouse;
	struct vga *vga;     /* the machine's VGA (generation 1 BIOS boots), or NULL */
	struct i8042 *i8042; /* its keyboard controller: the keys while the VGA is shown */

	/* Server thread only. */
	struct synthvid_mode mode; /* what the screens show (width 0: no mode) */
	uint64_t generation;
	int buttons; /* the last RFB button mask */
	unsigned clients;
	/* The guest's pointer (synthvid_cursor.h): its shape as of shape_generation. */
	struct synthvid_pointer pointer;
	struct synthvid_cursor cursor, hidden;
	bool have_cursor;
	uint8_t shape[SYNTHVID_CURSOR_MAX_X * SYNTHVID_CURSOR_MAX_Y * 4];
	/* What each screen shows: cursor_serial at install (0: none installed). */
	uint64_t cursor_serial, installed[2];
	/* The VGA when it is what the screens show (showing_vga); the buffers are made on first
	 * use. */
	bool showing_vga, vga_drawn;
	struct vga_display *vga_now, *vga_last;
	uint32_t *vga_fb,
		*vga_next; /* VGA_FB_BYTES each: the screens' framebuffer, the new picture */
	uint32_t vga_w, vga_h;
	unsigned vga_phase;
	_Atomic bool vga_shown;
	_Atomic uint64_t vga_frames, vga_bands, i8042_keys;

	_Atomic uint64_t connections, updates_marked, key_events, keys_unmapped, pointer_events;
	_Atomic uint64_t cursor_shapes, cursor_refused;
	_Atomic uint32_t width, height;
	_Atomic unsigned nclients;
};

static int fail(char *err, size_t errlen, int r, const char *what, const char *arg)
{
	snprintf(err, errlen, "%s %s: %s", what, arg ? arg : "", strerror(-r));
	return r;
}

static int listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(a.sun_path))
		return fail(err, errlen, -ENAMETOOLONG, "--vnc", path);
	memcpy(a.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "--vnc", path);
	unlink(path); /* a socket left by a worker that died */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		r = -errno;
		close(fd);
		return fail(err, errlen, r, "--vnc", path);
	}
	return fd;
}

/* "[HOST:]PORT": loopback unless a host is named (IPv4 numeric). */
static int listen_tcp(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *colon = strrchr(spec, ':');
	char host[64];
	char *end;
	unsigned long port;
	int fd, r, one = 1;

	port = strtoul(colon ? colon + 1 : spec, &end, 10);
	if (*end || port == 0 || port > 65535)
		return fail(err, errlen, -EINVAL, "--vnc-tcp", spec);
	if (colon) {
		if ((size_t)(colon - spec) >= sizeof(host))
			return fail(err, errlen, -EINVAL, "--vnc-tcp", spec);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = 0;
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
			return fail(err, errlen, -EINVAL, "--vnc-tcp (an IPv4 address)", spec);
	}
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "--vnc-tcp", spec);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
		r = -errno;
		close(fd);
		return fail(err, errlen, r, "--vnc-tcp", spec);
	}
	return fd;
}

/* --- input --- */

/*
 * While the VGA is shown the keys go to the i8042 (the BIOS, a boot loader, a kernel
 * without VMBus drivers read it), as the synthetic video's screen sends them to the
 * synthetic keyboard: Hyper-V's VMConnect does the same.
 */
static bool to_i8042(const struct rfb_server *s)
{
	return s->showing_vga && s->i8042;
}

static void send_key(struct rfb_server *s, const struct set1_key *k, bool down)
{
	uint32_t flags = (k->e0 ? SYNTHKBD_FLAG_E0 : 0) | (down ? 0 : SYNTHKBD_FLAG_BREAK);
	uint8_t bytes[2] = {0xE0, (uint8_t)(k->code | (down ? 0 : 0x80))};

	if (to_i8042(s)) {
		if (i8042_send_keys(s->i8042, k->e0 ? bytes : bytes + 1, k->e0 ? 2 : 1) == 0)
			atomic_fetch_add(&s->i8042_keys, 1);
	} else if (s->kbd)
		(void)synthkbd_send_scancode(s->kbd, k->code, flags);
}

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;
	struct set1_key k;

	atomic_fetch_add(&s->key_events, 1);
	pthread_mutex_lock(&s->lock);
	if (keysym == KEYSYM_PAUSE) {
		/* Pause has no break code: E1 1D 45 E1 9D C5 on the press, nothing on release. */
		static const uint8_t pause[] = {0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5};

		if (down && to_i8042(s)) {
			if (i8042_send_keys(s->i8042, pause, sizeof(pause)) == 0)
				atomic_fetch_add(&s->i8042_keys, 1);
		} else if (down && s->kbd) {
			(void)synthkbd_send_scancode(s->kbd, 0x1D, SYNTHKBD_FLAG_E1);
			(void)synthkbd_send_scancode(s->kbd, 0x45, 0);
			(void)synthkbd_send_scancode(s->kbd, 0x1D,
						     SYNTHKBD_FLAG_E1 | SYNTHKBD_FLAG_BREAK);
			(void)synthkbd_send_scancode(s->kbd, 0x45, SYNTHKBD_FLAG_BREAK);
		}
	} else if (keysym_to_set1((uint32_t)keysym, &k)) {
		send_key(s, &k, down);
	} else {
		atomic_fetch_add(&s->keys_unmapped, 1);
	}
	pthread_mutex_unlock(&s->lock);
}

static uint32_t scale(int v, uint32_t size)
{
	if (v <= 0 || size <= 1)
		return 0;
	if ((uint32_t)v >= size - 1)
		return SYNTHHID_ABS_MAX;
	return (uint32_t)((uint64_t)v * SYNTHHID_ABS_MAX / (size - 1));
}

/* RFB buttons (RFC 6143 section 7.5.5): 1 left, 2 middle, 4 right, 8/16 wheel up/down. */
static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;
	uint8_t buttons = (uint8_t)((mask & 1 ? SYNTHHID_BUTTON_LEFT : 0) |
				    (mask & 2 ? SYNTHHID_BUTTON_MIDDLE : 0) |
				    (mask & 4 ? SYNTHHID_BUTTON_RIGHT : 0));
	int pressed = mask & ~s->buttons;
	int16_t wheel = (int16_t)((pressed & 8 ? 1 : 0) - (pressed & 16 ? 1 : 0));

	s->buttons = mask;
	atomic_fetch_add(&s->pointer_events, 1);
	pthread_mutex_lock(&s->lock);
	if (s->mouse)
		(void)synthhid_send_pointer(s->mouse, buttons,
					    scale(x, (uint32_t)cl->screen->width),
					    scale(y, (uint32_t)cl->screen->height), wheel);
	pthread_mutex_unlock(&s->lock);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

/* --- clients --- */

static void want_dirt(struct rfb_server *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->video)
		synthvid_set_dirt_needed(s->video, s->clients > 0);
	pthread_mutex_unlock(&s->lock);
}

static void on_client_gone(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	s->clients--;
	atomic_store(&s->nclients, s->clients);
	want_dirt(s);
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	if (s->clients >= 2 * MAX_CLIENTS)
		return RFB_CLIENT_REFUSE;
	s->clients++;
	atomic_store(&s->nclients, s->clients);
	atomic_fetch_add(&s->connections, 1);
	cl->clientGoneHook = on_client_gone;
	want_dirt(s);
	return RFB_CLIENT_ACCEPT;
}

/* --- the screen --- */

/* The server's pixel format for a mode: hyperv_fb's (hyperv_fb.c hvfb_probe: red at 16). */
static void set_format(rfbScreenInfoPtr scr, uint32_t depth)
{
	rfbPixelFormat *f = &scr->serverFormat;

	f->trueColour = TRUE;
	if (depth == 16) {
		f->bitsPerPixel = 16;
		f->depth = 16;
		f->redMax = 31, f->greenMax = 63, f->blueMax = 31;
		f->redShift = 11, f->greenShift = 5, f->blueShift = 0;
	} else {
		f->bitsPerPixel = 32;
		f->depth = 24;
		f->redMax = f->greenMax = f->blueMax = 255;
		f->redShift = 16, f->greenShift = 8, f->blueShift = 0;
	}
}

static void resize(struct rfb_server *s, rfbScreenInfoPtr scr, const struct synthvid_mode *m)
{
	uint32_t w = m->width ? m->width : NO_MODE_W, h = m->width ? m->height : NO_MODE_H;
	uint32_t depth = m->width ? m->depth : 32;
	rfbClientIteratorPtr it;
	rfbClientPtr cl;

	if (!scr)
		return;
	rfbNewFramebuffer(scr, (char *)s->vram, (int)w, (int)h, depth == 16 ? 5 : 8, 3,
			  (int)depth / 8);
	set_format(scr, depth);
	scr->paddedWidthInBytes = m->width ? (int)m->pitch : (int)(w * 4);
	it = rfbGetClientIterator(scr);
	while ((cl = rfbClientIteratorNext(it)))
		rfbSetTranslateFunction(cl);
	rfbReleaseClientIterator(it);
	rfbMarkRectAsModified(scr, 0, 0, (int)w, (int)h);
}

static void mark(struct rfb_server *s, const struct synthvid_rect *r)
{
	if (s->open)
		rfbMarkRectAsModified(s->open, r->x1, r->y1, r->x2, r->y2);
	if (s->auth)
		rfbMarkRectAsModified(s->auth, r->x1, r->y1, r->x2, r->y2);
	atomic_fetch_add(&s->updates_marked, 1);
}

/* --- the VGA --- */

static void *map_buffer(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The VGA's buffers, made the first time it is shown. */
static bool vga_buffers(struct rfb_server *s)
{
	if (!s->vga_now)
		s->vga_now = map_buffer(sizeof(*s->vga_now));
	if (!s->vga_last)
		s->vga_last = map_buffer(sizeof(*s->vga_last));
	if (!s->vga_fb)
		s->vga_fb = map_buffer(VGA_FB_BYTES);
	if (!s->vga_next)
		s->vga_next = map_buffer(VGA_FB_BYTES);
	return s->vga_now && s->vga_last && s->vga_fb && s->vga_next;
}

/* Same registers and window bytes (vga_snapshot zeroes the header's padding). */
static bool same_display(const struct vga_display *a, const struct vga_display *b)
{
	return !memcmp(a, b, offsetof(struct vga_display, window)) &&
	       !memcmp(a->window, b->window, a->window_size);
}

/* The screens show vga_fb at the VGA's size: the whole picture is marked. */
static void show_vga(struct rfb_server *s, rfbScreenInfoPtr scr)
{
	rfbClientIteratorPtr it;
	rfbClientPtr cl;

	if (!scr)
		return;
	rfbNewFramebuffer(scr, (char *)s->vga_fb, (int)s->vga_w, (int)s->vga_h, 8, 3, 4);
	set_format(scr, 32);
	scr->paddedWidthInBytes = (int)(s->vga_w * 4);
	it = rfbGetClientIterator(scr);
	while ((cl = rfbClientIteratorNext(it)))
		rfbSetTranslateFunction(cl);
	rfbReleaseClientIterator(it);
	rfbMarkRectAsModified(scr, 0, 0, (int)s->vga_w, (int)s->vga_h);
}

/* Copies the lines [y0, y1) of the new picture that differ and marks their columns. */
static void vga_band(struct rfb_server *s, uint32_t y0, uint32_t y1)
{
	uint32_t w = s->vga_w, x0 = w, x1 = 0;

	for (uint32_t y = y0; y < y1; y++) {
		const uint32_t *a = s->vga_next + (size_t)y * w;
		uint32_t *b = s->vga_fb + (size_t)y * w;
		uint32_t l = 0, r = w;

		while (l < w && a[l] == b[l])
			l++;
		if (l == w)
			continue;
		while (r > l && a[r - 1] == b[r - 1])
			r--;
		memcpy(b + l, a + l, (size_t)(r - l) * 4);
		x0 = MIN(x0, l);
		x1 = MAX(x1, r);
	}
	if (x0 >= x1)
		return;
	if (s->open)
		rfbMarkRectAsModified(s->open, (int)x0, (int)y0, (int)x1, (int)y1);
	if (s->auth)
		rfbMarkRectAsModified(s->auth, (int)x0, (int)y0, (int)x1, (int)y1);
	atomic_fetch_add(&s->vga_bands, 1);
	atomic_fetch_add(&s->updates_marked, 1);
}

/*
 * The VGA's picture, if the machine has one: false if not (the synthetic video's VRAM is
 * shown). Draws only with clients connected; the lock keeps the VGA (and its LFB) alive.
 */
static bool apply_vga(struct rfb_server *s)
{
	unsigned phase = vga_render_phase((uint64_t)(time_monotonic_ns() / 1000000));
	struct vga_display *t;
	bool drawn = false;

	pthread_mutex_lock(&s->lock);
	if (!s->vga || !vga_buffers(s)) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	if (s->clients && vga_snapshot(s->vga, s->vga_now) == 0) {
		if (s->vga_now->kind != VGA_DISPLAY_TEXT)
			phase = 0;
		if (!s->vga_drawn || s->vga_now->kind == VGA_DISPLAY_LFB || phase != s->vga_phase ||
		    !same_display(s->vga_now, s->vga_last)) {
			vga_render(s->vga_now, vga_framebuffer(s->vga), VGA_LFB_SIZE, phase,
				   s->vga_next);
			drawn = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!drawn) {
		if (!s->showing_vga) { /* nothing drawn yet: a black screen until a client looks */
			s->vga_w = s->vga_w ? s->vga_w : NO_MODE_W;
			s->vga_h = s->vga_h ? s->vga_h : NO_MODE_H;
			memset(s->vga_fb, 0, (size_t)s->vga_w * s->vga_h * 4);
			goto resize;
		}
		return true;
	}
	atomic_fetch_add(&s->vga_frames, 1);
	s->vga_phase = phase;
	s->vga_drawn = true;
	t = s->vga_last;
	s->vga_last = s->vga_now;
	s->vga_now = t;
	if (s->showing_vga && s->vga_last->width == s->vga_w && s->vga_last->height == s->vga_h) {
		for (uint32_t y = 0; y < s->vga_h; y += VGA_BAND)
			vga_band(s, y, MIN(y + VGA_BAND, s->vga_h));
		return true;
	}
	s->vga_w = s->vga_last->width;
	s->vga_h = s->vga_last->height;
	memcpy(s->vga_fb, s->vga_next, (size_t)s->vga_w * s->vga_h * 4);
resize:
	s->showing_vga = true;
	atomic_store(&s->vga_shown, true);
	s->cursor_serial++;
	show_vga(s, s->open);
	show_vga(s, s->auth);
	atomic_store(&s->width, s->vga_w);
	atomic_store(&s->height, s->vga_h);
	return true;
}

/* What the video reported since the last round: a new mode, or dirty rectangles. */
static void apply_video(struct rfb_server *s)
{
	struct synthvid_rect rects[SYNTHVID_DIRT_QUEUE];
	struct synthvid_mode m = {0};
	uint64_t gen = s->generation;
	unsigned n = 0, i;

	pthread_mutex_lock(&s->lock);
	if (s->video) {
		n = synthvid_take_dirt(s->video, rects, SYNTHVID_DIRT_QUEUE, &gen);
		synthvid_get_mode(s->video, &m);
	}
	pthread_mutex_unlock(&s->lock);
	if (!m.active)
		m = (struct synthvid_mode){0};
	if (!m.active && apply_vga(s))
		return;
	if (s->showing_vga) {
		s->showing_vga = false; /* back to the VRAM: resized below */
		atomic_store(&s->vga_shown, false);
		s->mode.width = UINT32_MAX;
	}
	if (gen != s->generation || !synthvid_mode_equal(&m, &s->mode)) {
		s->generation = gen;
		s->mode = m;
		s->cursor_serial++; /* the cursor again, in the new mode's pixel format */
		resize(s, s->open, &m);
		resize(s, s->auth, &m);
		atomic_store(&s->width, m.width ? m.width : NO_MODE_W);
		atomic_store(&s->height, m.width ? m.height : NO_MODE_H);
		return; /* the whole screen is marked */
	}
	for (i = 0; i < n && s->mode.width; i++)
		mark(s, &rects[i]);
}

/* --- the guest's pointer --- */

/* The cursor in the screen's format (rich source), its mask; NULL if out of memory. */
static rfbCursorPtr make_cursor(rfbScreenInfoPtr scr, const struct synthvid_cursor *sc)
{
	const rfbPixelFormat *f = &scr->serverFormat;
	size_t bpp = f->bitsPerPixel / 8, n = (size_t)sc->width * sc->height;
	size_t mask_len = (sc->width + 7) / 8 * sc->height;
	rfbCursorPtr c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cleanup = c->cleanupSource = c->cleanupMask = c->cleanupRichSource = TRUE;
	c->width = (unsigned short)sc->width;
	c->height = (unsigned short)sc->height;
	c->xhot = (unsigned short)sc->hot_x;
	c->yhot = (unsigned short)sc->hot_y;
	c->richSource = malloc(n * bpp);
	c->mask = malloc(mask_len);
	if (!c->richSource || !c->mask) {
		rfbFreeCursor(c);
		return NULL;
	}
	memcpy(c->mask, sc->mask, mask_len);
	for (size_t i = 0; i < n; i++) {
		uint32_t rgb = sc->pixels[i];
		uint32_t v = ((rgb >> 16 & 255) * f->redMax / 255) << f->redShift |
			     ((rgb >> 8 & 255) * f->greenMax / 255) << f->greenShift |
			     ((rgb & 255) * f->blueMax / 255) << f->blueShift;

		memcpy(c->richSource + i * bpp, &v, bpp); /* little-endian server formats */
	}
	/* XCursor clients get black and white: libvncserver derives them (all-zero colours). */
	return c;
}

/* True if every client of scr takes cursor shapes (RichCursor/XCursor pseudo-encodings). */
static bool all_take_cursors(rfbScreenInfoPtr scr)
{
	rfbClientIteratorPtr it = rfbGetClientIterator(scr);
	rfbClientPtr cl;
	bool all = true;

	while ((cl = rfbClientIteratorNext(it)))
		all = all && cl->enableCursorShapeUpdates;
	rfbReleaseClientIterator(it);
	return all;
}

/*
 * The screen's cursor: the guest's (hidden while the guest says so) once it sent a usable
 * shape (until then, or after a refused one, the viewer's own) and while every client takes
 * cursor shapes;
 * none while one does not, since libvncserver would draw it into the framebuffer, which is
 * the guest's VRAM (the guest's own writes there would race with it). A client still in
 * its handshake has not said yet, so it counts as one that does not: no update reaches it
 * before this runs again (its SetEncodings and its first request are separate messages,
 * each one round of the thread).
 */
static void install_cursor(struct rfb_server *s, rfbScreenInfoPtr scr, unsigned k)
{
	uint64_t want = s->have_cursor && all_take_cursors(scr) ? s->cursor_serial : 0;
	rfbCursorPtr c = NULL;

	if (want == s->installed[k])
		return;
	if (want) {
		c = make_cursor(scr, s->pointer.visible ? &s->cursor : &s->hidden);
		if (!c)
			return; /* tried again next round */
	}
	rfbSetCursor(scr, c);
	s->installed[k] = want;
}

/* Where the guest put the pointer: clients with PointerPos updates are told. */
static void move_cursor(rfbScreenInfoPtr scr, int32_t x, int32_t y)
{
	rfbClientIteratorPtr it;
	rfbClientPtr cl;

	x = x < 0 ? 0 : x >= scr->width ? scr->width - 1 : x;
	y = y < 0 ? 0 : y >= scr->height ? scr->height - 1 : y;
	if (x == scr->cursorX && y == scr->cursorY)
		return;
	scr->cursorX = x;
	scr->cursorY = y;
	it = rfbGetClientIterator(scr);
	while ((cl = rfbClientIteratorNext(it)))
		if (cl->enableCursorPosUpdates)
			cl->cursorWasMoved = TRUE;
	rfbReleaseClientIterator(it);
}

/* The guest's pointer shape, visibility and position since the last round. */
static void apply_pointer(struct rfb_server *s)
{
	struct synthvid_pointer p = {0};
	size_t len = 0;
	bool new_shape;

	pthread_mutex_lock(&s->lock);
	if (s->video) {
		synthvid_get_pointer(s->video, &p);
		if (p.shape_generation != s->pointer.shape_generation)
			len = synthvid_get_pointer_shape(s->video, s->shape, sizeof(s->shape));
	}
	pthread_mutex_unlock(&s->lock);
	new_shape = p.shape_generation != s->pointer.shape_generation;
	if (new_shape && p.shape_generation) {
		if (synthvid_cursor_from_shape(&p, s->shape, len, &s->cursor) == 0) {
			s->have_cursor = true;
			atomic_fetch_add(&s->cursor_shapes, 1);
		} else {
			s->have_cursor = false; /* the viewer's own pointer, rather than garbage */
			atomic_fetch_add(&s->cursor_refused, 1);
		}
	}
	if (new_shape || p.visible != s->pointer.visible)
		s->cursor_serial++;
	s->pointer = p;
	if (s->open) {
		install_cursor(s, s->open, 0);
		move_cursor(s->open, p.x, p.y);
	}
	if (s->auth) {
		install_cursor(s, s->auth, 1);
		move_cursor(s->auth, p.x, p.y);
	}
}

static void accept_client(struct rfb_server *s, int lfd, rfbScreenInfoPtr scr)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->clients >= 2 * MAX_CLIENTS) {
		close(fd);
		return;
	}
	/* libvncserver makes it non-blocking and owns it from here (closes it when gone). */
	if (!rfbNewClient(scr, fd))
		close(fd);
}

static unsigned add_client_fds(rfbScreenInfoPtr scr, struct pollfd *p, unsigned n, unsigned max)
{
	rfbClientIteratorPtr it;
	rfbClientPtr cl;

	if (!scr)
		return n;
	it = rfbGetClientIterator(scr);
	while ((cl = rfbClientIteratorNext(it)) && n < max)
		if (cl->sock >= 0)
			p[n++] = (struct pollfd){.fd = cl->sock, .events = POLLIN};
	rfbReleaseClientIterator(it);
	return n;
}

static void *server_thread(void *opaque)
{
	struct rfb_server *s = opaque;
	struct pollfd p[3 + 4 * MAX_CLIENTS];

	while (!atomic_load(&s->stop)) {
		unsigned n = 0;
		uint64_t v;

		p[n++] = (struct pollfd){.fd = s->event_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = s->unix_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = s->tcp_fd, .events = POLLIN};
		n = add_client_fds(s->open, p, n, sizeof(p) / sizeof(p[0]));
		n = add_client_fds(s->auth, p, n, sizeof(p) / sizeof(p[0]));
		/* The timeout bounds how late a client's deferred work (libvncserver's) can run. */
		if (poll(p, n, s->showing_vga && s->clients ? VGA_REFRESH_MS : 200) < 0 &&
		    errno != EINTR)
			break;
		if (p[0].revents && read(s->event_fd, &v, sizeof(v)) < 0) {
		}
		apply_video(s);
		apply_pointer(s);
		if (p[1].revents & POLLIN)
			accept_client(s, s->unix_fd, s->open);
		if (p[2].revents & POLLIN)
			accept_client(s, s->tcp_fd, s->auth);
		rfbProcessEvents(s->open, 0);
		if (s->auth)
			rfbProcessEvents(s->auth, 0);
	}
	return NULL;
}

void rfb_server_video_notify(void *opaque)
{
	struct rfb_server *s = opaque;
	uint64_t one = 1;

	if (write(s->event_fd, &one, sizeof(one)) < 0) {
		/* Full counter: the thread is already due to look. */
	}
}

static rfbScreenInfoPtr make_screen(struct rfb_server *s, const char *name, bool auth)
{
	int argc = 0;
	rfbScreenInfoPtr scr = rfbGetScreen(&argc, NULL, NO_MODE_W, NO_MODE_H, 8, 3, 4);

	if (!scr)
		return NULL;
	scr->screenData = s;
	scr->desktopName = name;
	scr->frameBuffer = (char *)s->vram;
	set_format(scr, 32);
	/* We listen; libvncserver must not (no port, no HTTP server, no UDP). */
	scr->port = 0;
	scr->ipv6port = 0;
	scr->autoPort = FALSE;
	scr->httpDir = NULL;
	scr->alwaysShared = TRUE;
	/* The guest's pointer only for clients that take cursor shapes (install_cursor). */
	scr->cursor = NULL;
	scr->deferUpdateTime = 0; /* the guest already batches (hyperv_fb: 50 ms) */
	/*
	 * Writes to a client block this thread (libvncserver writes in full): a client that
	 * stops reading is dropped after this long instead of the default 20 s, so the others
	 * stall at most that long.
	 */
	scr->maxClientWait = 5000;
	scr->kbdAddEvent = on_key;
	scr->ptrAddEvent = on_pointer;
	scr->newClientHook = on_new_client;
	if (auth) {
		scr->authPasswdData = (void *)s->passwords;
		scr->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(scr);
	return scr;
}

static void quiet_log(const char *fmt, ...)
{
	(void)fmt;
}

int rfb_server_new(const struct rfb_server_config *cfg, struct rfb_server **ret, char *err,
		   size_t errlen)
{
	struct rfb_server *s = calloc(1, sizeof(*s));
	int r = -ENOMEM;

	if (!s)
		return fail(err, errlen, -ENOMEM, "console server", NULL);
	s->unix_fd = s->tcp_fd = s->event_fd = -1;
	synthvid_cursor_hidden(&s->hidden);
	pthread_mutex_init(&s->lock, NULL);
	/* The worker logs what matters; libvncserver is chatty (PARVIS_RFB_LOG=1 keeps it). */
	if (!getenv("PARVIS_RFB_LOG"))
		rfbLog = rfbErr = quiet_log;
	/*
	 * libvncserver hashes websocket keys with libgcrypt, which, used uninitialised, warns
	 * through syslog(): a socket() the jail kills. Initialised here, before the jail.
	 */
	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		(void)gcry_check_version(NULL);
		(void)gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
		(void)gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	s->vram_size = cfg->vram_size ? cfg->vram_size : SYNTHVID_DEFAULT_VRAM;
	s->vram = mmap(NULL, s->vram_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->vram == MAP_FAILED) {
		s->vram = NULL;
		r = fail(err, errlen, -errno, "console server: VRAM", NULL);
		goto out;
	}
	s->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->event_fd < 0) {
		r = fail(err, errlen, -errno, "console server: eventfd", NULL);
		goto out;
	}
	if (cfg->unix_path) {
		s->unix_fd = listen_unix(cfg->unix_path, err, errlen);
		if (s->unix_fd < 0) {
			r = s->unix_fd;
			goto out;
		}
		s->unix_path = strdup(cfg->unix_path);
	}
	if (cfg->tcp || cfg->tcp_fd >= 0) {
		if (!cfg->password || !*cfg->password) {
			r = fail(err, errlen, -EINVAL, "--vnc-tcp: no password", NULL);
			goto out;
		}
		s->passwords[0] = strdup(cfg->password);
		s->tcp_fd = cfg->tcp_fd >= 0 ? cfg->tcp_fd : listen_tcp(cfg->tcp, err, errlen);
		if (s->tcp_fd < 0) {
			r = s->tcp_fd;
			goto out;
		}
	}
	s->open = make_screen(s, cfg->name ? cfg->name : "parvis", false);
	if (s->open && s->tcp_fd >= 0)
		s->auth = make_screen(s, cfg->name ? cfg->name : "parvis", true);
	if (!s->open || (s->tcp_fd >= 0 && !s->auth)) {
		r = fail(err, errlen, -ENOMEM, "console server: libvncserver", NULL);
		goto out;
	}
	atomic_store(&s->width, NO_MODE_W);
	atomic_store(&s->height, NO_MODE_H);
	*ret = s;
	return 0;
out:
	rfb_server_free(s);
	return r;
}

int rfb_server_start(struct rfb_server *s)
{
	int r = pthread_create(&s->thread, NULL, server_thread, s);

	if (r)
		return -r;
	s->started = true;
	return 0;
}

static void close_screen(rfbScreenInfoPtr scr)
{
	if (!scr)
		return;
	rfbShutdownServer(scr, TRUE);
	rfbScreenCleanup(scr);
}

struct rfb_server *rfb_server_free(struct rfb_server *s)
{
	if (!s)
		return NULL;
	if (s->started) {
		atomic_store(&s->stop, true);
		rfb_server_video_notify(s);
		pthread_join(s->thread, NULL);
	}
	close_screen(s->auth);
	close_screen(s->open);
	if (s->unix_fd >= 0) {
		close(s->unix_fd);
		if (s->unix_path)
			unlink(s->unix_path); /* EROFS in the jail: the service removes it */
	}
	if (s->tcp_fd >= 0)
		close(s->tcp_fd);
	if (s->event_fd >= 0)
		close(s->event_fd);
	if (s->vram)
		munmap(s->vram, s->vram_size);
	if (s->vga_now)
		munmap(s->vga_now, sizeof(*s->vga_now));
	if (s->vga_last)
		munmap(s->vga_last, sizeof(*s->vga_last));
	if (s->vga_fb)
		munmap(s->vga_fb, VGA_FB_BYTES);
	if (s->vga_next)
		munmap(s->vga_next, VGA_FB_BYTES);
	free(s->unix_path);
	free(s->passwords[0]);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

void *rfb_server_vram(struct rfb_server *s, uint64_t *size)
{
	if (size)
		*size = s->vram_size;
	return s->vram;
}

void rfb_server_attach(struct rfb_server *s, struct synthvid *video, struct synthkbd *kbd,
		       struct synthhid *mouse)
{
	pthread_mutex_lock(&s->lock);
	s->video = video;
	s->kbd = kbd;
	s->mouse = mouse;
	if (video)
		synthvid_set_dirt_needed(video, atomic_load(&s->nclients) > 0);
	pthread_mutex_unlock(&s->lock);
	rfb_server_video_notify(s);
}

void rfb_server_attach_vga(struct rfb_server *s, struct vga *vga, struct i8042 *kbc)
{
	pthread_mutex_lock(&s->lock);
	s->vga = vga;
	s->i8042 = vga ? kbc : NULL;
	pthread_mutex_unlock(&s->lock);
	rfb_server_video_notify(s);
}

void rfb_server_get_stats(struct rfb_server *s, struct rfb_server_stats *st)
{
	*st = (struct rfb_server_stats){
		.clients = atomic_load(&s->nclients),
		.connections = atomic_load(&s->connections),
		.updates_marked = atomic_load(&s->updates_marked),
		.key_events = atomic_load(&s->key_events),
		.keys_unmapped = atomic_load(&s->keys_unmapped),
		.pointer_events = atomic_load(&s->pointer_events),
		.cursor_shapes = atomic_load(&s->cursor_shapes),
		.cursor_refused = atomic_load(&s->cursor_refused),
		.width = atomic_load(&s->width),
		.height = atomic_load(&s->height),
		.tcp = s->tcp_fd >= 0,
		.vga = atomic_load(&s->vga_shown),
		.vga_frames = atomic_load(&s->vga_frames),
		.vga_bands = atomic_load(&s->vga_bands),
		.i8042_keys = atomic_load(&s->i8042_keys),
	};
}
