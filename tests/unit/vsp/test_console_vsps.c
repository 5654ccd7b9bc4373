/*
 * The console devices against guests played by the test (tests/lib/
 * console_client.c): synthetic video as hyperv_fb drives it, with the
 * protocol's corners and a guest's mistakes; the keyboard as
 * hyperv_keyboard; the mouse as hid_hyperv.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "console_client.h"
#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"
#include "vsp/synthvid/synthvid.h"
#include "vsp/synthvid/synthvid_cursor.h"
#include "test_util.h"

#define WINDOW_BASE (1ull << 30)
#define WINDOW_SIZE (512ull << 20)

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

struct host {
	_Atomic unsigned places, notifies;
	_Atomic uint64_t gpa;
};

static int place(void *opaque, uint64_t gpa, void *hva, uint64_t size)
{
	struct host *h = opaque;

	assert_non_null(hva);
	assert_int_equal(size, SYNTHVID_DEFAULT_VRAM);
	atomic_store(&h->gpa, gpa);
	atomic_fetch_add(&h->places, 1);
	return 0;
}

static void notify(void *opaque)
{
	struct host *h = opaque;

	atomic_fetch_add(&h->notifies, 1);
}

static const struct synthvid_host_ops host_ops = {.place_vram = place, .notify = notify};

struct video {
	struct vmbus_client *c;
	struct synthvid *sv;
	struct vmbus_client_channel *ch;
	struct host host;
};

static void video_open(struct video *v)
{
	struct vmbus_client_config cc = {.ram_size = 16 * MiB};
	struct synthvid_config cfg = {.window_base = WINDOW_BASE,
				      .window_size = WINDOW_SIZE,
				      .ops = &host_ops,
				      .opaque = &v->host};

	memset(v, 0, sizeof(*v));
	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cc, &v->c), 0);
	assert_int_equal(synthvid_new(vmbus_client_server(v->c), &cfg, &v->sv), 0);
	assert_int_equal(console_client_open(v->c, SYNTHVID_CLASS_GUID, 64, &v->ch), 0);
}

static void video_close(struct video *v)
{
	assert_null(synthvid_free(v->sv));
	vmbus_client_channel_forget(v->ch); /* rescinded */
	vmbus_client_free(v->c);
}

/* hyperv_fb's probe on VMBus 5.x: 3.5, the resolutions, VRAM, the mode. */
static void test_synthvid_probe(void **state)
{
	struct synthvid_resolution_req req = {.maximum_resolution_count = 64};
	struct synthvid_resolution_resp resp;
	struct synthvid_stats st;
	struct synthvid_mode mode;
	size_t len = sizeof(resp);
	bool has_small = false, has_large = false;
	struct video v;
	unsigned i;

	(void)state;
	video_open(&v);
	/* An unknown major first: refused, and the guest may ask again. */
	assert_int_equal(synthvid_client_version(v.ch, SYNTHVID_VERSION(4, 0)), 0);
	assert_int_equal(synthvid_client_version(v.ch, SYNTHVID_VERSION_WIN10), 1);
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_RESOLUTION_REQUEST, &req, 1), 0);
	assert_int_equal(
		synthvid_client_expect(v.ch, SYNTHVID_RESOLUTION_RESPONSE, &resp, &len, 2000), 0);
	assert_int_equal(len, sizeof(resp));
	assert_true(resp.resolution_count >= 10);
	assert_true(resp.default_resolution_index < resp.resolution_count);
	assert_int_equal(resp.supported_resolution[resp.default_resolution_index].width, 1024);
	assert_int_equal(resp.supported_resolution[resp.default_resolution_index].height, 768);
	for (i = 0; i < resp.resolution_count; i++) {
		struct synthvid_resolution r = resp.supported_resolution[i];

		has_small |= r.width == 640 && r.height == 480;
		has_large |= r.width == 2560 && r.height == 1600;
		assert_true((uint64_t)r.width * r.height * 4 <= SYNTHVID_DEFAULT_VRAM);
	}
	assert_true(has_small && has_large);
	/* VRAM outside the window: no ack (the guest's wait times out), a counter. */
	assert_int_equal(synthvid_client_vram(v.ch, WINDOW_BASE - MiB, 300), -ETIMEDOUT);
	assert_int_equal(synthvid_client_vram(v.ch, WINDOW_BASE + WINDOW_SIZE - MiB, 300),
			 -ETIMEDOUT);
	assert_int_equal(atomic_load(&v.host.places), 0);
	assert_int_equal(synthvid_client_vram(v.ch, WINDOW_BASE, 2000), 0);
	assert_int_equal(atomic_load(&v.host.gpa), WINDOW_BASE);
	/* The guest's own resolution (video=hyperv_fb:1280x1024) is honoured. */
	assert_int_equal(synthvid_client_situation(v.ch, 1280, 1024, 32, 1280 * 4, 2000), 0);
	synthvid_get_mode(v.sv, &mode);
	assert_true(mode.active);
	assert_int_equal(mode.width, 1280);
	assert_int_equal(mode.height, 1024);
	assert_int_equal(mode.pitch, 5120);
	/* Absurd modes are refused and the old one kept. */
	assert_int_equal(synthvid_client_situation(v.ch, 100000, 1, 32, 400000, 300), -ETIMEDOUT);
	assert_int_equal(synthvid_client_situation(v.ch, 4096, 4096, 32, 4096 * 4, 300),
			 -ETIMEDOUT);
	assert_int_equal(synthvid_client_situation(v.ch, 800, 600, 24, 2400, 300), -ETIMEDOUT);
	assert_int_equal(synthvid_client_situation(v.ch, 800, 600, 32, 100, 300), -ETIMEDOUT);
	synthvid_get_mode(v.sv, &mode);
	assert_int_equal(mode.width, 1280);
	synthvid_get_stats(v.sv, &st);
	assert_int_equal(st.version, SYNTHVID_VERSION_WIN10);
	assert_int_equal(st.refused_versions, 1);
	assert_int_equal(st.refused_vram, 2);
	assert_int_equal(st.refused_modes, 4);
	assert_int_equal(st.vram_gpa, WINDOW_BASE);
	video_close(&v);
}

static void connect_video(struct video *v, uint32_t w, uint32_t h)
{
	video_open(v);
	assert_int_equal(synthvid_client_version(v->ch, SYNTHVID_VERSION_WIN8), 1);
	assert_int_equal(synthvid_client_vram(v->ch, WINDOW_BASE + 16 * MiB, 2000), 0);
	assert_int_equal(synthvid_client_situation(v->ch, w, h, 32, w * 4, 2000), 0);
}

/* DIRT only after FEATURE_CHANGE asks for it; rectangles clipped to the screen. */
static void test_synthvid_dirt(void **state)
{
	struct synthvid_feature_change fc;
	struct synthvid_rect got[SYNTHVID_DIRT_QUEUE];
	struct synthvid_stats st;
	struct video v;
	size_t len = sizeof(fc);
	uint64_t gen;
	unsigned i, n;

	(void)state;
	connect_video(&v, 1024, 768);
	synthvid_set_dirt_needed(v.sv, true);
	assert_int_equal(synthvid_client_expect(v.ch, SYNTHVID_FEATURE_CHANGE, &fc, &len, 2000), 0);
	assert_int_equal(fc.is_dirt_needed, 1);
	assert_int_equal(synthvid_client_dirt(v.ch,
					      (struct synthvid_rect[]){{0, 16, 1024, 32},
								       {-50, -50, 10, 10},
								       {2000, 0, 3000, 10},
								       {5, 5, 5, 9}},
					      4),
			 0);
	assert_true(WAIT_FOR(({
		synthvid_get_stats(v.sv, &st);
		st.dirt_messages == 1;
	})));
	assert_int_equal(st.dirt_rects, 2);
	assert_int_equal(st.dirt_clipped, 2);
	n = synthvid_take_dirt(v.sv, got, SYNTHVID_DIRT_QUEUE, &gen);
	assert_int_equal(n, 2);
	assert_memory_equal(&got[0], &((struct synthvid_rect){0, 16, 1024, 32}), 16);
	assert_memory_equal(&got[1], &((struct synthvid_rect){0, 0, 10, 10}), 16);
	assert_int_equal(synthvid_take_dirt(v.sv, got, SYNTHVID_DIRT_QUEUE, NULL), 0);
	/* More rectangles than the queue holds: one bounding them all. */
	for (i = 0; i < 40; i++)
		assert_int_equal(
			synthvid_client_dirt(
				v.ch,
				&(struct synthvid_rect){(int)i, (int)i, (int)i + 2, (int)i + 3}, 1),
			0);
	assert_true(WAIT_FOR(({
		synthvid_get_stats(v.sv, &st);
		st.dirt_messages == 41;
	})));
	n = synthvid_take_dirt(v.sv, got, SYNTHVID_DIRT_QUEUE, NULL);
	assert_int_equal(n, 1);
	assert_memory_equal(&got[0], &((struct synthvid_rect){0, 0, 41, 42}), 16);
	/* The console leaves: FEATURE_CHANGE with dirt off. */
	synthvid_set_dirt_needed(v.sv, false);
	len = sizeof(fc);
	assert_int_equal(synthvid_client_expect(v.ch, SYNTHVID_FEATURE_CHANGE, &fc, &len, 2000), 0);
	assert_int_equal(fc.is_dirt_needed, 0);
	assert_true(atomic_load(&v.host.notifies) > 0);
	video_close(&v);
}

/* Malformed messages: errors and counters; the channel keeps working. */
static void test_synthvid_bad_messages(void **state)
{
	uint8_t raw[64] = {0};
	struct synthvid_stats st;
	struct synthvid_pointer p;
	struct video v;
	uint8_t shape[18 + 4] = {0xFF, 1, 1, 0, 0, 0, 1, 0, 0, 0};

	(void)state;
	connect_video(&v, 800, 600);
	/* Pipe type not data. */
	memcpy(raw, &(struct vmbus_pipe_header){.packet_type = 2, .len = 12}, 8);
	assert_int_equal(vmbus_client_send(v.ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 24), 0);
	/* Header size larger than the packet. */
	memcpy(raw, &(struct vmbus_pipe_header){.packet_type = 1, .len = 16}, 8);
	memcpy(raw + 8, &(struct synthvid_msg_header){.type = SYNTHVID_DIRT, .size = 4000}, 8);
	assert_int_equal(vmbus_client_send(v.ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 24), 0);
	/* A DIRT claiming more rectangles than it carries. */
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_DIRT, (uint8_t[]){0, 200, 0, 0}, 4),
			 0);
	/* A host-only type, and a too-short VRAM_LOCATION. */
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_VRAM_LOCATION_ACK, raw, 8), 0);
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_VRAM_LOCATION, raw, 9), 0);
	/* A pointer shape wider than 96, then a good 1x1 one and a position. */
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_POINTER_SHAPE,
					      (uint8_t[22]){0xFF, 1, 200, 0, 0, 0, 1}, 22),
			 0);
	shape[18 + 3] = 1;
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_POINTER_SHAPE, shape, sizeof(shape)),
			 0);
	assert_int_equal(synthvid_client_send(v.ch, SYNTHVID_POINTER_POSITION,
					      &(struct synthvid_pointer_position){
						      .is_visible = 1, .image_x = 7, .image_y = 9},
					      10),
			 0);
	assert_true(WAIT_FOR(({
		synthvid_get_stats(v.sv, &st);
		st.pointer_updates == 2;
	})));
	assert_int_equal(st.bad_messages, 6);
	synthvid_get_pointer(v.sv, &p);
	assert_true(p.visible);
	assert_int_equal(p.x, 7);
	assert_int_equal(p.y, 9);
	assert_int_equal(p.shape_width, 1);
	/* Still answering. */
	assert_int_equal(synthvid_client_situation(v.ch, 640, 480, 32, 2560, 2000), 0);
	video_close(&v);
}

/* One POINTER_SHAPE from the played guest: header, then pixel data of len bytes. */
static void send_shape(struct video *v, bool argb, uint32_t w, uint32_t h, uint32_t hx, uint32_t hy,
		       const uint8_t *data, size_t len)
{
	uint8_t msg[18 + 4 * 4 * 4] = {0xFF, argb};

	assert_true(len <= sizeof(msg) - 18);
	memcpy(msg + 2, (uint32_t[]){w, h, hx, hy}, 16);
	memcpy(msg + 18, data, len);
	/* hyperv_fb.c sends its data[4] even for less: at least 22 bytes of body. */
	assert_int_equal(
		synthvid_client_send(v->ch, SYNTHVID_POINTER_SHAPE, msg, 18 + (len < 4 ? 4 : len)),
		0);
}

/* The latest shape, converted; waits for the shape_generation-th shape. */
static int latest_cursor(struct video *v, uint64_t generation, struct synthvid_cursor *c)
{
	static uint8_t buf[SYNTHVID_CURSOR_MAX_X * SYNTHVID_CURSOR_MAX_Y * 4];
	struct synthvid_pointer p;
	size_t len;

	assert_true(WAIT_FOR(({
		synthvid_get_pointer(v->sv, &p);
		p.shape_generation == generation;
	})));
	len = synthvid_get_pointer_shape(v->sv, buf, sizeof(buf));
	return synthvid_cursor_from_shape(&p, buf, len, c);
}

/*
 * The guest's pointer shape as the console's cursor (rfb_server.c sends it as the clients'
 * RichCursor): ARGB with alpha to a 1-bit mask, Windows' monochrome AND/XOR masks, and
 * shapes the parser lets through but no cursor can be made of (hot spot outside the shape).
 */
static void test_synthvid_cursor(void **state)
{
	/* 3x2 ARGB: opaque red, half-transparent green (opaque: alpha 0x80), transparent blue;
	 * then white with alpha 0x7F (transparent), black opaque, grey opaque. */
	static const uint8_t argb[] = {0,    0, 0xFF, 0xFF, 0,	  0xFF, 0,    0x80,
				       0xFF, 0, 0,    0,    0xFF, 0xFF, 0xFF, 0x7F,
				       0,    0, 0,    0xFF, 0x80, 0x80, 0x80, 0xFF};
	/* 2x2 monochrome: AND rows 0b01.., 0b10..; XOR rows 0b10.., 0b10.. */
	static const uint8_t mono[] = {0x40, 0x80, 0x80, 0x80};
	struct synthvid_cursor c;
	struct synthvid_stats st;
	struct video v;

	(void)state;
	connect_video(&v, 800, 600);
	send_shape(&v, true, 3, 2, 1, 1, argb, sizeof(argb));
	assert_int_equal(latest_cursor(&v, 1, &c), 0);
	assert_int_equal(c.width, 3);
	assert_int_equal(c.height, 2);
	assert_int_equal(c.hot_x, 1);
	assert_int_equal(c.hot_y, 1);
	assert_int_equal(c.pixels[0], 0xFF0000);
	assert_int_equal(c.pixels[1], 0x00FF00);
	assert_int_equal(c.pixels[5], 0x808080);
	assert_int_equal(c.mask[0], 0xC0); /* row 0: red, green */
	assert_int_equal(c.mask[1], 0x60); /* row 1: black, grey */

	send_shape(&v, false, 2, 2, 0, 0, mono, sizeof(mono));
	assert_int_equal(latest_cursor(&v, 2, &c), 0);
	/* (0,0): AND 0 XOR 1 white; (1,0): AND 1 transparent; (0,1): AND 1 XOR 1 "invert",
	 * transparent here; (1,1): AND 0 XOR 0 black. */
	assert_int_equal(c.pixels[0], 0xFFFFFF);
	assert_int_equal(c.pixels[3], 0);
	assert_int_equal(c.mask[0], 0x80);
	assert_int_equal(c.mask[1], 0x40);

	/* The parser takes a hot spot below 96; outside a 2x2 shape no cursor is made. */
	send_shape(&v, true, 2, 2, 5, 0, argb, 16);
	assert_int_equal(latest_cursor(&v, 3, &c), -EINVAL);
	/* An empty shape (0x0) is no cursor either. */
	send_shape(&v, true, 0, 0, 0, 0, argb, 0);
	assert_int_equal(latest_cursor(&v, 4, &c), -EINVAL);
	/* Hidden: one transparent pixel (what libvncserver sends as "no cursor"). */
	synthvid_cursor_hidden(&c);
	assert_int_equal(c.width * c.height, 1);
	assert_int_equal(c.mask[0], 0);
	synthvid_get_stats(v.sv, &st);
	assert_int_equal(st.bad_messages, 0);
	video_close(&v);
}

static void test_synthkbd(void **state)
{
	struct vmbus_client_config cc = {.ram_size = 8 * MiB};
	struct vmbus_client_channel *ch;
	struct synthkbd_keystroke ev;
	struct synthkbd_stats st;
	struct vmbus_client *c;
	struct synthkbd *k;

	(void)state;
	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cc, &c), 0);
	assert_int_equal(synthkbd_new(vmbus_client_server(c), &k), 0);
	assert_int_equal(synthkbd_send_scancode(k, 0x1E, 0), -ENOTCONN);
	assert_int_equal(console_client_open(c, SYNTHKBD_CLASS_GUID, 9, &ch), 0);
	assert_int_equal(synthkbd_client_connect(ch, SYNTHKBD_VERSION(2, 0)), 0);
	assert_int_equal(synthkbd_client_connect(ch, SYNTHKBD_VERSION_1_0), 1);
	assert_int_equal(synthkbd_send_scancode(k, 0x38, SYNTHKBD_FLAG_E0), 0); /* right Alt */
	assert_int_equal(synthkbd_send_scancode(k, 0x38, SYNTHKBD_FLAG_E0 | SYNTHKBD_FLAG_BREAK),
			 0);
	assert_int_equal(synthkbd_send_scancode(k, 0x80, 0), -EINVAL);
	assert_int_equal(synthkbd_client_next_key(ch, &ev, 2000), 0);
	assert_int_equal(ev.make_code, 0x38);
	assert_int_equal(ev.flags, SYNTHKBD_FLAG_E0);
	assert_int_equal(synthkbd_client_next_key(ch, &ev, 2000), 0);
	assert_int_equal(ev.flags, SYNTHKBD_FLAG_E0 | SYNTHKBD_FLAG_BREAK);
	/* LEDs from the guest; then garbage: short, unknown type. */
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1,
					   &(struct synthkbd_led_indicators){
						   .type = SYNTHKBD_LED_INDICATORS,
						   .led_flags = SYNTHKBD_LED_CAPS_LOCK},
					   8),
			 0);
	/* (Packets are padded to 8 bytes: a short message reads as its type and zeros.) */
	assert_int_equal(
		vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, (uint32_t[2]){77, 0}, 8), 0);
	assert_int_equal(
		vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, (uint32_t[3]){3, 0x1E, 0}, 12),
		0);
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_COMP, 0, 1, (uint32_t[2]){1, 0}, 8), 0);
	assert_true(WAIT_FOR(({
		synthkbd_get_stats(k, &st);
		st.bad_messages == 3;
	})));
	assert_int_equal(st.leds, SYNTHKBD_LED_CAPS_LOCK);
	assert_int_equal(st.events_sent, 2);
	assert_int_equal(st.events_dropped, 2);
	assert_int_equal(st.refused_versions, 1);
	assert_true(st.ready);
	assert_null(synthkbd_free(k));
	vmbus_client_channel_forget(ch);
	vmbus_client_free(c);
}

static void test_synthhid(void **state)
{
	struct vmbus_client_config cc = {.ram_size = 8 * MiB};
	struct vmbus_client_channel *ch;
	struct synthhid_device_info info;
	struct synthhid_stats st;
	struct vmbus_client *c;
	struct synthhid *m;
	uint8_t desc[256], rep[16];
	size_t dlen = sizeof(desc), rlen = sizeof(rep);
	uint8_t raw[32] = {0};

	(void)state;
	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cc, &c), 0);
	assert_int_equal(synthhid_new(vmbus_client_server(c), &m), 0);
	assert_int_equal(console_client_open(c, SYNTHHID_CLASS_GUID, 9, &ch), 0);
	assert_int_equal(synthhid_send_pointer(m, 0, 0, 0, 0), -ENOTCONN);
	assert_int_equal(synthhid_client_connect(ch, SYNTHHID_VERSION(1, 0), &info, desc, &dlen),
			 0);
	dlen = sizeof(desc);
	assert_int_equal(synthhid_client_connect(ch, SYNTHHID_VERSION_2_0, &info, desc, &dlen), 1);
	assert_int_equal(info.vendor, 0x045E);
	assert_int_equal(info.product, 0x0621);
	assert_int_equal(dlen, synthhid_report_descriptor_size);
	assert_int_equal(desc[14], 0x29); /* hid-hyperv.c's quirk leaves a Usage Maximum alone */
	assert_true(WAIT_FOR(({
		synthhid_get_stats(m, &st);
		st.ready;
	})));
	assert_int_equal(synthhid_send_pointer(m, SYNTHHID_BUTTON_LEFT, 16384, 40000, -1), 0);
	assert_int_equal(synthhid_client_next_report(ch, rep, &rlen, 2000), 0);
	assert_int_equal(rlen, 7);
	assert_memory_equal(rep, ((uint8_t[]){1, 0x00, 0x40, 0xFF, 0x7F, 0xFF, 0xFF}), 7);
	/* Garbage: short, wrong pipe type, a size beyond the packet, an unknown type. */
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 8), 0);
	memcpy(raw, &(struct vmbus_pipe_header){.packet_type = 0, .len = 12}, 8);
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 24), 0);
	memcpy(raw, &(struct vmbus_pipe_header){.packet_type = 1, .len = 12}, 8);
	memcpy(raw + 8, &(struct synthhid_msg_header){.type = 0, .size = 1000}, 8);
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 24), 0);
	memcpy(raw + 8, &(struct synthhid_msg_header){.type = 9, .size = 4}, 8);
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, raw, 24), 0);
	assert_true(WAIT_FOR(({
		synthhid_get_stats(m, &st);
		st.bad_messages == 4;
	})));
	assert_int_equal(st.reports_sent, 1);
	assert_int_equal(st.refused_versions, 1);
	assert_null(synthhid_free(m));
	vmbus_client_channel_forget(ch);
	vmbus_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthvid_probe),
		cmocka_unit_test(test_synthvid_dirt),
		cmocka_unit_test(test_synthvid_bad_messages),
		cmocka_unit_test(test_synthvid_cursor),
		cmocka_unit_test(test_synthkbd),
		cmocka_unit_test(test_synthhid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
