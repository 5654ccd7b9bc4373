/*
 * console-driver: the console server (src/vmwp/rfb_server.c) with its
 * devices over the test VMBus client, a played guest driving them as
 * hyperv_fb, hyperv_keyboard and hid_hyperv do (console_client.c). No
 * kernel, no /dev/kvm: tests/guest/test_console_server.py and
 * bench/console.py drive it line by line on stdin:
 *
 *   fill R G B        paint the whole screen one colour, send one full-screen DIRT
 *   line Y            draw a 16-pixel "text line" at row Y (a glyph-like pattern), DIRT it
 *   mode W H          a SITUATION_UPDATE to WxH (the guest's new resolution); "ok" or "refused"
 *   garbage           send the video, keyboard and mouse channels malformed messages
 *   keys              the guest's keystrokes so far: "key CODE FLAGS" lines, then "end"
 *   mouse             the guest's input reports so far: "report HEX" lines, then "end"
 *   cursor [bad]      a 3x2 ARGB pointer shape (hot spot 1,1; its last column transparent) and
 *                     the pointer shown at 100,50, as hyperv_fb's synthvid_send_ptr sends
 *                     them; "bad": a hot spot outside the shape. Answers "done"
 *   stats             the console status JSON (as the worker's control "status" has it)
 *   quit
 *
 * Each drawing command answers "sent NS", CLOCK_MONOTONIC of the DIRT's
 * send, so a client can measure the delay to its update. The first line
 * out is "ready" once the played guest has its 1024x768 mode (or the WxH
 * of argv[3]).
 *
 * Usage: console-driver SOCKET [TCP_PORT PASSWORD [WxH]]
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "console_client.h"
#include "vmwp/rfb_server.h"
#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"
#include "vsp/synthvid/synthvid.h"

#define WINDOW_BASE (1ull << 30)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

struct driver {
	struct vmbus_client *c;
	struct rfb_server *rfb;
	struct synthvid *sv;
	struct synthkbd *kbd;
	struct synthhid *hid;
	struct vmbus_client_channel *vch, *kch, *mch;
	uint8_t *vram;
	uint32_t w, h;
};

static int dirt(struct driver *d, int x1, int y1, int x2, int y2)
{
	struct synthvid_rect r = {x1, y1, x2, y2};
	uint64_t t = now_ns();
	int e = synthvid_client_dirt(d->vch, &r, 1);

	printf("sent %llu\n", (unsigned long long)t);
	return e;
}

static void fill(struct driver *d, int r, int g, int b)
{
	uint32_t px = (uint32_t)(r & 255) << 16 | (uint32_t)(g & 255) << 8 | (uint32_t)(b & 255);
	uint32_t *p = (uint32_t *)d->vram;

	for (size_t i = 0; i < (size_t)d->w * d->h; i++)
		p[i] = px;
	dirt(d, 0, 0, (int)d->w, (int)d->h);
}

/* An 8x16-cell line of "glyphs": what an fbcon text line changes. */
static void line(struct driver *d, int y)
{
	uint32_t *p = (uint32_t *)d->vram;

	if (y < 0 || (uint32_t)y + 16 > d->h)
		y = 0;
	for (int row = 0; row < 16; row++)
		for (uint32_t x = 0; x < d->w; x++)
			p[(size_t)(y + row) * d->w + x] =
				((x * 7 + (uint32_t)row * 3) % 11) < 4 ? 0xAAAAAA : 0x000000;
	dirt(d, 0, y, (int)d->w, y + 16);
}

static void garbage(struct driver *d)
{
	uint8_t junk[64];

	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	(void)vmbus_client_send(d->vch, VMBUS_PKT_DATA_INBAND, 0, 1, junk, sizeof(junk));
	(void)synthvid_client_dirt(d->vch, (struct synthvid_rect[]){{2000, 2000, 3000, 3000}}, 1);
	(void)synthvid_client_situation(d->vch, 100000, 100000, 32, 400000, 200);
	(void)vmbus_client_send(d->kch, VMBUS_PKT_DATA_INBAND, 0, 1, junk, sizeof(junk));
	(void)vmbus_client_send(d->mch, VMBUS_PKT_DATA_INBAND, 0, 1, junk, sizeof(junk));
	puts("done");
}

static void cursor(struct driver *d, bool bad)
{
	uint8_t msg[18 + 3 * 2 * 4] = {SYNTHVID_CURSOR_COMPLETE, 1};
	struct synthvid_pointer_position pos = {.is_visible = 1, .image_x = 100, .image_y = 50};

	memcpy(msg + 2, (uint32_t[]){3, 2, bad ? 7 : 1, 1}, 16);
	for (int i = 0; i < 6; i++) {
		uint32_t argb = (i % 3 == 2 ? 0u : 0xFF000000u) | (i < 3 ? 0xFF0000u : 0x0000FFu);

		memcpy(msg + 18 + i * 4, &argb, 4);
	}
	(void)synthvid_client_send(d->vch, SYNTHVID_POINTER_SHAPE, msg, sizeof(msg));
	(void)synthvid_client_send(d->vch, SYNTHVID_POINTER_POSITION, &pos, sizeof(pos));
	puts("done");
}

static void keys(struct driver *d)
{
	struct synthkbd_keystroke ev;

	while (synthkbd_client_next_key(d->kch, &ev, 300) == 0)
		printf("key %#x %#x\n", ev.make_code, ev.flags);
	puts("end");
}

static void mouse(struct driver *d)
{
	uint8_t rep[16];
	size_t len = sizeof(rep);

	while (synthhid_client_next_report(d->mch, rep, &len, 300) == 0) {
		printf("report ");
		for (size_t i = 0; i < len; i++)
			printf("%02x", rep[i]);
		putchar('\n');
		len = sizeof(rep);
	}
	puts("end");
}

static int setup(struct driver *d, const char *sock, const char *port, const char *pw)
{
	struct vmbus_client_config cc = {.ram_size = 16 * MiB};
	struct rfb_server_config rc = {.name = "console-driver",
				       .unix_path = sock,
				       .tcp = port,
				       .tcp_fd = -1,
				       .password = pw};
	struct synthhid_device_info info;
	uint8_t desc[256];
	size_t dlen = sizeof(desc);
	char err[256];
	struct synthvid_config vc = {.window_base = WINDOW_BASE, .window_size = 512 * MiB};
	static const struct synthvid_host_ops ops = {.notify = rfb_server_video_notify};
	uint64_t size;

	if (rfb_server_new(&rc, &d->rfb, err, sizeof(err)) < 0) {
		fprintf(stderr, "console-driver: %s\n", err);
		return -1;
	}
	vc.vram = rfb_server_vram(d->rfb, &size);
	vc.vram_size = size;
	vc.ops = &ops;
	vc.opaque = d->rfb;
	d->vram = vc.vram;
	if (vmbus_client_new(&cc, &d->c) < 0 ||
	    synthvid_new(vmbus_client_server(d->c), &vc, &d->sv) < 0 ||
	    synthkbd_new(vmbus_client_server(d->c), &d->kbd) < 0 ||
	    synthhid_new(vmbus_client_server(d->c), &d->hid) < 0)
		return -1;
	rfb_server_attach(d->rfb, d->sv, d->kbd, d->hid);
	if (rfb_server_start(d->rfb) < 0)
		return -1;
	/* The guest's vmbus driver: connect, offers, then each driver's probe. */
	{
		struct vmbus_msg_offer_channel offers[8];
		struct guid vg, kg, mg;
		int n, i;

		if (vmbus_client_connect(d->c, VMBUS_VERSION_WIN10_V5_2) != 1)
			return -1;
		n = vmbus_client_request_offers(d->c, offers, 8);
		if (guid_parse(SYNTHVID_CLASS_GUID, &vg) < 0 ||
		    guid_parse(SYNTHKBD_CLASS_GUID, &kg) < 0 ||
		    guid_parse(SYNTHHID_CLASS_GUID, &mg) < 0)
			return -1;
		for (i = 0; i < n; i++) {
			const struct guid *t = &offers[i].offer.if_type;
			struct vmbus_client_channel **ch = guid_equal(t, &vg)	? &d->vch
							   : guid_equal(t, &kg) ? &d->kch
							   : guid_equal(t, &mg) ? &d->mch
										: NULL;
			unsigned pages = ch == &d->vch ? 64 : 9;

			if (ch && vmbus_client_open(d->c, &offers[i], pages, pages, 0, ch) != 0)
				return -1;
		}
	}
	if (!d->vch || synthvid_client_version(d->vch, SYNTHVID_VERSION_WIN10) != 1 ||
	    synthvid_client_vram(d->vch, WINDOW_BASE, 2000) < 0 ||
	    synthvid_client_situation(d->vch, d->w, d->h, 32, d->w * 4, 2000) < 0)
		return -1;
	if (!d->kch || !d->mch || synthkbd_client_connect(d->kch, SYNTHKBD_VERSION_1_0) != 1 ||
	    synthhid_client_connect(d->mch, SYNTHHID_VERSION_2_0, &info, desc, &dlen) != 1)
		return -1;
	return 0;
}

static void stats(struct driver *d)
{
	struct synthvid_stats vs;
	struct synthkbd_stats ks;
	struct synthhid_stats ms;
	struct rfb_server_stats rs;

	synthvid_get_stats(d->sv, &vs);
	synthkbd_get_stats(d->kbd, &ks);
	synthhid_get_stats(d->hid, &ms);
	rfb_server_get_stats(d->rfb, &rs);
	printf("{\"clients\": %u, \"connections\": %llu, \"updates_marked\": %llu, "
	       "\"key_events\": %llu, \"keys_unmapped\": %llu, \"pointer_events\": %llu, "
	       "\"width\": %u, \"height\": %u, \"video_bad_messages\": %llu, "
	       "\"dirt_clipped\": %llu, \"refused_modes\": %llu, \"keyboard_bad_messages\": %llu, "
	       "\"keys_sent\": %llu, \"mouse_bad_messages\": %llu, \"reports_sent\": %llu, "
	       "\"cursor_shapes\": %llu, \"cursor_refused\": %llu}\n",
	       rs.clients, (unsigned long long)rs.connections,
	       (unsigned long long)rs.updates_marked, (unsigned long long)rs.key_events,
	       (unsigned long long)rs.keys_unmapped, (unsigned long long)rs.pointer_events,
	       rs.width, rs.height, (unsigned long long)vs.bad_messages,
	       (unsigned long long)vs.dirt_clipped, (unsigned long long)vs.refused_modes,
	       (unsigned long long)ks.bad_messages, (unsigned long long)ks.events_sent,
	       (unsigned long long)ms.bad_messages, (unsigned long long)ms.reports_sent,
	       (unsigned long long)rs.cursor_shapes, (unsigned long long)rs.cursor_refused);
}

int main(int argc, char **argv)
{
	struct driver d = {.w = 1024, .h = 768};
	char cmd[256];
	int r, g, b;

	if (argc < 2) {
		fputs("usage: console-driver SOCKET [TCP_PORT PASSWORD [WxH]]\n", stderr);
		return 2;
	}
	if (argc > 4 && sscanf(argv[4], "%ux%u", &d.w, &d.h) != 2)
		return 2;
	log_set_sink(quiet, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup(&d, argv[1], argc > 3 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL) < 0) {
		fputs("console-driver: set-up failed\n", stderr);
		return 1;
	}
	puts("ready");
	while (fgets(cmd, sizeof(cmd), stdin)) {
		int y;

		if (sscanf(cmd, "fill %d %d %d", &r, &g, &b) == 3)
			fill(&d, r, g, b);
		else if (sscanf(cmd, "line %d", &y) == 1)
			line(&d, y);
		else if (sscanf(cmd, "mode %d %d", &r, &g) == 2) {
			int e = synthvid_client_situation(d.vch, (uint32_t)r, (uint32_t)g, 32,
							  (uint32_t)r * 4, 500);

			if (e == 0) {
				d.w = (uint32_t)r;
				d.h = (uint32_t)g;
			}
			puts(e == 0 ? "ok" : "refused");
		} else if (!strncmp(cmd, "garbage", 7))
			garbage(&d);
		else if (!strncmp(cmd, "cursor", 6))
			cursor(&d, strstr(cmd, "bad") != NULL);
		else if (!strncmp(cmd, "keys", 4))
			keys(&d);
		else if (!strncmp(cmd, "mouse", 5))
			mouse(&d);
		else if (!strncmp(cmd, "stats", 5))
			stats(&d);
		else if (!strncmp(cmd, "quit", 4))
			break;
		else
			puts("error unknown command");
	}
	/* As the worker does: detach, free the devices (their close still notifies), then the
	 * server. */
	rfb_server_attach(d.rfb, NULL, NULL, NULL);
	synthhid_free(d.hid);
	synthkbd_free(d.kbd);
	synthvid_free(d.sv);
	rfb_server_free(d.rfb);
	vmbus_client_channel_forget(d.vch); /* rescinded with their devices */
	vmbus_client_channel_forget(d.kch);
	vmbus_client_channel_forget(d.mch);
	vmbus_client_free(d.c);
	return 0;
}
