/*
 * Unit tests of the VGA's saved state (src/emu/vga.c, section "vga"): a VGA
 * programmed mid-sequence (the attribute flip-flop waiting for data, a DAC
 * entry half written, a VBE mode on) is saved, loaded into a new VGA, and
 * goes on where it was; every truncation, each register value the VGA never
 * holds and VBE registers it would have refused are refused by name, the
 * VGA left as it was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "emu/vga.h"
#include "emu/vga_render.h"
#include "emu_fakes.h"
#include "state/state.h"

#define RAM (1u << 20)
/* The encoding's layout (vga.c, version 1): 871 register bytes, the VBE index and registers. */
#define AT_VIDEO_ENABLE 2
#define AT_ATTR_INDEX	29
#define AT_DAC_READ_RGB 99
#define AT_DAC		102
#define AT_STATUS1	870
#define AT_VBE_INDEX	871
#define AT_VBE(i)	(875 + 4 * (i))
#define STATE_LEN	(875 + 4 * 11)

struct fx {
	struct io_bus *bus;
	struct guest_memory *mem;
	struct vga *vga;
	unsigned log_lines;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(guest_memory_new(RAM, &f->mem), 0);
	assert_int_equal(vga_new(f->bus, f->mem, &f->vga), 0);
	fake_log_silence(&f->log_lines);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	log_set_sink(NULL, NULL);
	vga_free(f->vga);
	guest_memory_free(f->mem);
	io_bus_free(f->bus);
	free(f);
	return 0;
}

static void vbe(struct fx *f, unsigned index, uint16_t v)
{
	pio_out(f->bus, 0x1CE, 2, index);
	pio_out(f->bus, 0x1CF, 2, v);
}

static void save(struct vga *v, struct state_out *out)
{
	state_out_init(out);
	assert_int_equal(vga_save(v, out), 0);
}

static int load(struct vga *v, const uint8_t *buf, size_t len, char *err)
{
	struct state_in in;
	int r;

	state_in_init(&in, buf, len);
	r = vga_load(v, VGA_STATE_VERSION, &in, err, 160);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

/* Text mode registers as a BIOS leaves them, and sequences left half done. */
static void program(struct fx *f)
{
	pio_outb(f->bus, 0x3C2, 0x67);
	pio_out(f->bus, 0x3C4, 2, 0x0101); /* sequencer 1: 8-dot characters */
	pio_outb(f->bus, 0x3D4, 0x0E);	   /* cursor at 0x0123 */
	pio_outb(f->bus, 0x3D5, 0x01);
	pio_outb(f->bus, 0x3D4, 0x0F);
	pio_outb(f->bus, 0x3D5, 0x23);
	(void)pio_inb(f->bus, 0x3DA); /* the flip-flop to index */
	pio_outb(f->bus, 0x3C0, 0x10);
	pio_outb(f->bus, 0x3C0, 0x0C); /* mode control */
	pio_outb(f->bus, 0x3C0, 0x21); /* index 1 with PAS: data comes next */
	pio_outb(f->bus, 0x3C8, 7);    /* DAC entry 7: red and green written, blue next */
	pio_outb(f->bus, 0x3C9, 0x11);
	pio_outb(f->bus, 0x3C9, 0x22);
	/* A VBE mode, then the index left at BPP. */
	vbe(f, 1, 640);
	vbe(f, 2, 480);
	vbe(f, 3, 32);
	vbe(f, 4, 0x41);
	pio_out(f->bus, 0x1CE, 2, 3);
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct state_out a, b;
	struct io_bus *bus;
	struct vga *g;
	char err[160] = "";

	program(f);
	save(f->vga, &a);
	assert_int_equal(a.len, STATE_LEN);
	assert_int_equal(io_bus_new("pio2", &bus), 0);
	assert_int_equal(vga_new(bus, f->mem, &g), 0);
	assert_int_equal(load(g, a.buf, a.len, err), 0);
	save(g, &b);
	assert_int_equal(b.len, a.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	/* It goes on where it was: the flip-flop's data, the DAC's blue, the VBE index. */
	pio_outb(bus, 0x3C0, 0x05);
	assert_int_equal(pio_inb(bus, 0x3C1), 0x05);
	pio_outb(bus, 0x3C9, 0x33);
	pio_outb(bus, 0x3C7, 7);
	assert_int_equal(pio_inb(bus, 0x3C9), 0x11);
	assert_int_equal(pio_inb(bus, 0x3C9), 0x22);
	assert_int_equal(pio_inb(bus, 0x3C9), 0x33);
	assert_int_equal(pio_in(bus, 0x1CF, 2), 32);
	pio_outb(bus, 0x3D4, 0x0F);
	assert_int_equal(pio_inb(bus, 0x3D5), 0x23);
	/* Both show the same picture mode. */
	{
		struct vga_display *d1 = calloc(1, sizeof(*d1)), *d2 = calloc(1, sizeof(*d2));

		assert_int_equal(vga_snapshot(f->vga, d1), 0);
		assert_int_equal(vga_snapshot(g, d2), 0);
		assert_int_equal(d1->kind, VGA_DISPLAY_LFB);
		assert_int_equal(d2->kind, d1->kind);
		assert_int_equal(d2->width, 640);
		assert_int_equal(d2->bpp, 32);
		free(d1);
		free(d2);
	}
	assert_int_equal(vga_guest_errors(g), 0);
	state_out_fini(&a);
	state_out_fini(&b);
	vga_free(g);
	io_bus_free(bus);
}

/* Loads a copy of out with the byte (or u32, wide) at off set to v: must be refused. */
static void refused(struct fx *f, const struct state_out *out, size_t off, uint32_t v, bool wide,
		    const char *what)
{
	uint8_t *copy = malloc(out->len);
	char err[160] = "";

	memcpy(copy, out->buf, out->len);
	if (wide)
		memcpy(copy + off, &v, 4);
	else
		copy[off] = (uint8_t)v;
	assert_int_equal(load(f->vga, copy, out->len, err), -EBADMSG);
	if (!strstr(err, what))
		fail_msg("byte %zu = %#x: \"%s\" does not name %s", off, v, err, what);
	free(copy);
}

static void test_refused(void **state)
{
	struct fx *f = *state;
	struct state_out out, after;
	char err[160] = "";

	program(f);
	save(f->vga, &out);
	for (size_t len = 0; len < out.len; len++)
		assert_int_equal(load(f->vga, out.buf, len, err), -EBADMSG);
	refused(f, &out, AT_VIDEO_ENABLE, 2, false, "video_enable");
	refused(f, &out, AT_ATTR_INDEX, 0x40, false, "attr_index");
	refused(f, &out, AT_DAC_READ_RGB, 3, false, "dac_read_rgb");
	refused(f, &out, AT_DAC + 5, 0x40, false, "dac[5]");
	refused(f, &out, AT_STATUS1, 0x02, false, "status1");
	refused(f, &out, AT_VBE_INDEX, 0x10000, true, "VBE index");
	refused(f, &out, AT_VBE(0), 0x1234, true, "ID");
	refused(f, &out, AT_VBE(5), 256, true, "BANK");
	refused(f, &out, AT_VBE(4), 0x141, true, "ENABLE has unknown bits");
	refused(f, &out, AT_VBE(1), 4000, true, "does not fit");
	refused(f, &out, AT_VBE(3), 12, true, "does not fit");
	refused(f, &out, AT_VBE(10), 1, true, "VIDEO_MEMORY_64K");
	refused(f, &out, AT_VBE(7), 0x10000, true, "VBE register 7");
	/* A newer version. */
	{
		struct state_in in;

		state_in_init(&in, out.buf, out.len);
		assert_int_equal(vga_load(f->vga, VGA_STATE_VERSION + 1, &in, err, 160), -EBADMSG);
	}
	/* Nothing of the refused loads reached the VGA. */
	save(f->vga, &after);
	assert_memory_equal(after.buf, out.buf, out.len);
	state_out_fini(&after);
	state_out_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
