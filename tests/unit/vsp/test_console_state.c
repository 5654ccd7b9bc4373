/*
 * Saved state of the console devices (synthetic video, keyboard, mouse)
 * through the VMBus's quiesce/save/load, with the guest played by
 * tests/lib/console_client.c over a memfd: after the restore the new
 * devices know the negotiated versions, the VRAM placement (mapped again
 * through the host's place_vram), the mode, the LEDs, and keys, pointer
 * reports and dirty rectangles go on without a new handshake.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "console_client.h"
#include "state/state.h"
#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"
#include "vsp/synthvid/synthvid.h"
#include "test_util.h"

#define WINDOW_BASE (1ull << 30)
#define WINDOW_SIZE (512ull << 20)
#define RAM	    (16u << 20)

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static _Atomic uint64_t placed_gpa;
static atomic_uint places;

static int place(void *opaque, uint64_t gpa, void *hva, uint64_t size)
{
	atomic_store(&placed_gpa, gpa);
	atomic_fetch_add(&places, 1);
	return 0;
}

static void notify(void *opaque)
{
}

static const struct synthvid_host_ops host_ops = {.place_vram = place, .notify = notify};

struct console {
	struct vmbus_client *c;
	struct synthvid *sv;
	struct synthkbd *kbd;
	struct synthhid *hid;
};

static void devices_new(struct console *k)
{
	struct synthvid_config cfg = {
		.window_base = WINDOW_BASE, .window_size = WINDOW_SIZE, .ops = &host_ops};
	struct vmbus_server *s = vmbus_client_server(k->c);

	assert_int_equal(synthvid_new(s, &cfg, &k->sv), 0);
	assert_int_equal(synthkbd_new(s, &k->kbd), 0);
	assert_int_equal(synthhid_new(s, &k->hid), 0);
}

static void devices_free(struct console *k)
{
	k->hid = synthhid_free(k->hid);
	k->kbd = synthkbd_free(k->kbd);
	k->sv = synthvid_free(k->sv);
}

static void save_restore(struct console *k)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	struct state_reader *rd;
	char err[256] = "";
	int fd = memfd_create("console-state", 0);

	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(k->c), err, sizeof(err)), 0);
	assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
	if (vmbus_server_save(vmbus_client_server(k->c), w) < 0)
		fail_msg("save: %s", vmbus_server_save_error(vmbus_client_server(k->c)));
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	devices_free(k);
	atomic_store(&places, 0); /* the old device's un-placing, at its free, is not counted */
	vmbus_server_free(vmbus_client_detach_server(k->c));
	assert_int_equal(vmbus_client_attach_new_server(k->c), 0);
	devices_new(k);
	assert_int_equal(state_reader_new(fd, &rd, err, sizeof(err)), 0);
	if (vmbus_server_load(vmbus_client_server(k->c), rd, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	state_reader_free(rd);
	close(fd);
}

static struct vmbus_client_channel *open_class(struct vmbus_client *c,
					       const struct vmbus_msg_offer_channel *offers,
					       const char *class_guid, unsigned pages)
{
	struct vmbus_client_channel *ch = NULL;
	struct guid want;
	unsigned i;

	assert_int_equal(guid_parse(class_guid, &want), 0);
	for (i = 0; i < 3; i++)
		if (guid_equal(&offers[i].offer.if_type, &want))
			assert_int_equal(vmbus_client_open(c, &offers[i], pages, pages, 0, &ch), 0);
	assert_non_null(ch);
	return ch;
}

static void test_console_save_restore(void **state)
{
	struct vmbus_client_config cc = {.ram_size = RAM};
	struct vmbus_client_channel *video, *kbd, *hid;
	struct synthhid_device_info info;
	struct synthkbd_keystroke ev;
	struct synthkbd_stats ks;
	struct synthhid_stats hs;
	struct synthvid_stats vs;
	struct synthvid_mode mode;
	struct synthvid_rect r = {.x1 = 0, .y1 = 0, .x2 = 64, .y2 = 64};
	struct console k = {0};
	uint8_t desc[256], rep[16];
	size_t dlen = sizeof(desc), rlen = sizeof(rep);
	struct vmbus_msg_offer_channel offers[8];

	(void)state;
	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cc, &k.c), 0);
	devices_new(&k);
	/* One connection, three channels (console_client_open connects anew each time). */
	assert_int_equal(vmbus_client_connect(k.c, VMBUS_VERSION_WIN10_V5_2), 1);
	assert_int_equal(vmbus_client_request_offers(k.c, offers, 8), 3);
	video = open_class(k.c, offers, SYNTHVID_CLASS_GUID, 64);
	kbd = open_class(k.c, offers, SYNTHKBD_CLASS_GUID, 9);
	hid = open_class(k.c, offers, SYNTHHID_CLASS_GUID, 9);
	assert_int_equal(synthvid_client_version(video, SYNTHVID_VERSION_WIN8), 1);
	assert_int_equal(synthvid_client_vram(video, WINDOW_BASE + 16 * MiB, 2000), 0);
	assert_int_equal(synthvid_client_situation(video, 1280, 1024, 32, 1280 * 4, 2000), 0);
	assert_int_equal(synthkbd_client_connect(kbd, SYNTHKBD_VERSION_1_0), 1);
	assert_int_equal(synthhid_client_connect(hid, SYNTHHID_VERSION_2_0, &info, desc, &dlen), 1);
	assert_true(WAIT_FOR((synthhid_get_stats(k.hid, &hs), hs.ready)));
	assert_int_equal(vmbus_client_send(kbd, VMBUS_PKT_DATA_INBAND, 0, 1,
					   &(struct synthkbd_led_indicators){
						   .type = SYNTHKBD_LED_INDICATORS,
						   .led_flags = SYNTHKBD_LED_CAPS_LOCK},
					   8),
			 0);
	assert_true(WAIT_FOR((synthkbd_get_stats(k.kbd, &ks), ks.leds == SYNTHKBD_LED_CAPS_LOCK)));

	save_restore(&k);

	/* The VRAM is placed again where the guest put it; the mode is the guest's. */
	assert_int_equal(atomic_load(&places), 1);
	assert_int_equal(atomic_load(&placed_gpa), WINDOW_BASE + 16 * MiB);
	synthvid_get_mode(k.sv, &mode);
	assert_true(mode.active);
	assert_int_equal(mode.width, 1280);
	assert_int_equal(mode.height, 1024);
	synthvid_get_stats(k.sv, &vs);
	assert_int_equal(vs.version, SYNTHVID_VERSION_WIN8);
	/* Messages that need the negotiated version are taken without a new handshake. */
	assert_int_equal(synthvid_client_dirt(video, &r, 1), 0);
	assert_true(WAIT_FOR((synthvid_get_stats(k.sv, &vs), vs.dirt_messages == 1)));
	assert_int_equal(vs.bad_messages, 0);
	/* Keys and pointer reports reach the guest; the LEDs are remembered. */
	synthkbd_get_stats(k.kbd, &ks);
	assert_true(ks.ready);
	assert_int_equal(ks.leds, SYNTHKBD_LED_CAPS_LOCK);
	assert_int_equal(synthkbd_send_scancode(k.kbd, 0x1E, 0), 0);
	assert_int_equal(synthkbd_client_next_key(kbd, &ev, 2000), 0);
	assert_int_equal(ev.make_code, 0x1E);
	synthhid_get_stats(k.hid, &hs);
	assert_true(hs.ready);
	assert_int_equal(synthhid_send_pointer(k.hid, SYNTHHID_BUTTON_LEFT, 16384, 40000, -1), 0);
	assert_int_equal(synthhid_client_next_report(hid, rep, &rlen, 2000), 0);
	assert_int_equal(rlen, 7);
	devices_free(&k);
	vmbus_client_channel_forget(video);
	vmbus_client_channel_forget(kbd);
	vmbus_client_channel_forget(hid);
	vmbus_client_free(k.c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_save_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
