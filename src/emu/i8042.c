/*
 * The keyboard controller of PC/AT and PS/2 machines: an Intel 8042
 * running IBM's firmware (IBM PS/2 Hardware Interface Technical Reference,
 * "Keyboard/Auxiliary Device Controller"), with a keyboard on its first
 * port and nothing on the aux port. It is here for what Linux's i8042 and
 * atkbd drivers probe, and for the reset line: command 0xFE (or writing
 * the output port with bit 0 clear) asks for a platform reset.
 *
 * Ports: 0x60 data (output buffer / input to the keyboard or to the
 * command's parameter), 0x64 status (read) and command (write). The
 * controller processes input instantly, so the input buffer is never full.
 * Bytes for the guest wait in a small queue behind the one-byte output
 * buffer; each new byte in the buffer is a new edge on IRQ 1 (keyboard)
 * or IRQ 12 (aux) when the command byte enables it.
 *
 * The aux port: the controller-internal loop command 0xD3 works, but a
 * byte sent to the device (0xD4) meets no device and comes back as 0xFE
 * with the timeout bit set, which is how PS/2 controllers report an empty
 * port; Linux's psmouse gives up at once.
 *
 * Threads: vCPU threads, several at once; one mutex. Interrupt lines are
 * driven under it; reset requests are made after it is dropped.
 */
#include "emu/i8042.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

/* Status register (port 0x64 read). */
#define STR_OBF	    0x01
#define STR_SYS	    0x04 /* copy of CTR_SYS */
#define STR_CMDDAT  0x08 /* last write was to 0x64 */
#define STR_KEYLOCK 0x10 /* 1: keyboard not inhibited */
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40

/* Command byte (controller RAM byte 0). */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS	   0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40
/* As firmware leaves it: translation on, aux off, keyboard interrupt on. */
#define CTR_DEFAULT (CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT)

/* Output port (0xD0/0xD1). Bit 0 low holds the CPU in reset. */
#define OUT_RESET   0x01
#define OUT_A20	    0x02
#define OUT_KBD_OBF 0x10
#define OUT_AUX_OBF 0x20
#define OUT_DEFAULT 0xCF /* reset and A20 high, keyboard clock/data lines idle */

#define KBD_ACK	   0xFA
#define KBD_BAT_OK 0xAA

/* Output queue entry flags. */
#define Q_AUX	   0x01
#define Q_TIMEOUT  0x02
#define QUEUE_SIZE 16

/* The two registered ranges: 0x60 and 0x64 each get one of these as opaque. */
enum { PORT_DATA, PORT_CMD };
struct i8042_port {
	struct i8042 *kbc;
	unsigned which;
};

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_port ports[2];
	struct io_bus *bus;
	struct irq_line kbd_irq, aux_irq;
	struct power_control power;

	uint8_t ram[32]; /* controller RAM; ram[0] is the command byte */
	uint8_t outport;
	uint8_t pending_cmd; /* controller command awaiting its byte on 0x60, or 0 */
	bool last_was_cmd;   /* STR_CMDDAT */
	struct {
		uint8_t byte, flags;
	} queue[QUEUE_SIZE]; /* queue[out_head] is the output buffer when out_count > 0 */
	unsigned out_head, out_count;
	uint8_t last_read; /* what 0x60 reads when the buffer is empty */
	bool kbd_level, aux_level;

	/* The keyboard. */
	uint8_t kbd_cmd;      /* 0xED/0xF0/0xF3 awaiting its parameter, or 0 */
	uint8_t scancode_set; /* 1..3 */
	bool scanning;	      /* keys are sent (i8042_send_keys) */

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
	uint64_t keys_sent, keys_dropped;
};

static void update_irqs(struct i8042 *s)
{
	bool aux = s->out_count && (s->queue[s->out_head].flags & Q_AUX);
	bool kbd = s->out_count && !aux && (s->ram[0] & CTR_KBDINT);

	aux = aux && (s->ram[0] & CTR_AUXINT);
	if (kbd != s->kbd_level) {
		s->kbd_level = kbd;
		irq_line_set(&s->kbd_irq, kbd);
	}
	if (aux != s->aux_level) {
		s->aux_level = aux;
		irq_line_set(&s->aux_irq, aux);
	}
}

/* Full queue: the byte is lost, as a keyboard's own buffer overflows. */
static void out_push(struct i8042 *s, uint8_t byte, uint8_t flags)
{
	unsigned tail = (s->out_head + s->out_count) % QUEUE_SIZE;

	if (s->out_count == QUEUE_SIZE)
		return;
	s->queue[tail].byte = byte;
	s->queue[tail].flags = flags;
	s->out_count++;
}

static uint8_t read_status(const struct i8042 *s)
{
	uint8_t v = STR_KEYLOCK | (s->ram[0] & CTR_SYS ? STR_SYS : 0);

	if (s->last_was_cmd)
		v |= STR_CMDDAT;
	if (s->out_count) {
		uint8_t f = s->queue[s->out_head].flags;

		v |= STR_OBF;
		if (f & Q_AUX)
			v |= STR_AUXDATA;
		if (f & Q_TIMEOUT)
			v |= STR_TIMEOUT;
	}
	return v;
}

static uint8_t read_data(struct i8042 *s)
{
	if (!s->out_count)
		return s->last_read;
	s->last_read = s->queue[s->out_head].byte;
	s->out_head = (s->out_head + 1) % QUEUE_SIZE;
	s->out_count--;
	/* Emptying the buffer drops the line; a byte behind it is a new edge. */
	if (s->kbd_level)
		irq_line_set(&s->kbd_irq, false);
	if (s->aux_level)
		irq_line_set(&s->aux_irq, false);
	s->kbd_level = s->aux_level = false;
	return s->last_read;
}

static uint8_t read_outport(const struct i8042 *s)
{
	uint8_t v = s->outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);

	if (s->out_count)
		v |= s->queue[s->out_head].flags & Q_AUX ? OUT_AUX_OBF : OUT_KBD_OBF;
	return v;
}

/* Scancode translation (CTR_XLATE) of the replies that are not ACKs: set 2 codes to set 1. */
static uint8_t xlate(const struct i8042 *s, uint8_t set2, uint8_t set1)
{
	return s->ram[0] & CTR_XLATE ? set1 : set2;
}

static void kbd_defaults(struct i8042 *s)
{
	s->scancode_set = 2;
	s->kbd_cmd = 0;
}

/* A byte for the keyboard (PS/2 keyboard command set, IBM 84F9735). */
static void kbd_write(struct i8042 *s, uint8_t val)
{
	static const uint8_t set_xlate[4] = {0, 0x43, 0x41, 0x3F};
	uint8_t cmd = s->kbd_cmd;

	/* Sending to the keyboard enables its interface, as the firmware does. */
	s->ram[0] &= ~CTR_KBDDIS;
	s->kbd_cmd = 0;
	if (cmd) {
		out_push(s, KBD_ACK, 0);
		if (cmd == 0xF0 && val == 0)
			out_push(s, xlate(s, s->scancode_set, set_xlate[s->scancode_set]), 0);
		else if (cmd == 0xF0 && val <= 3)
			s->scancode_set = val;
		return;
	}
	switch (val) {
	case 0xFF: /* reset: ACK, then the basic assurance test passed */
		kbd_defaults(s);
		s->scanning = true;
		out_push(s, KBD_ACK, 0);
		out_push(s, KBD_BAT_OK, 0);
		break;
	case 0xF2: /* identify: an MF2 keyboard */
		out_push(s, KBD_ACK, 0);
		out_push(s, 0xAB, 0);
		out_push(s, xlate(s, 0x83, 0x41), 0);
		break;
	case 0xEE: /* echo */ out_push(s, 0xEE, 0); break;
	case 0xED: /* set LEDs */
	case 0xF0: /* select/read scancode set */
	case 0xF3: /* typematic rate */
		s->kbd_cmd = val;
		out_push(s, KBD_ACK, 0);
		break;
	case 0xF4:
		s->scanning = true;
		out_push(s, KBD_ACK, 0);
		break;
	case 0xF5:
		kbd_defaults(s);
		s->scanning = false;
		out_push(s, KBD_ACK, 0);
		break;
	default: /* defaults (0xF6) and everything else: acknowledged */
		out_push(s, KBD_ACK, 0);
		break;
	}
}

/* Returns true if the write asks for a reset. */
static bool write_outport(struct i8042 *s, uint8_t val)
{
	s->outport = val;
	return !(val & OUT_RESET);
}

/* The byte that completes pending_cmd. Returns true to request a reset. */
static bool cmd_data(struct i8042 *s, uint8_t cmd, uint8_t val)
{
	switch (cmd) {
	case 0x60 ... 0x7F: s->ram[cmd & 0x1F] = val; return false;
	case 0xD1: return write_outport(s, val);
	case 0xD2: /* as if from the keyboard */ out_push(s, val, 0); return false;
	case 0xD3: /* as if from the aux device */ out_push(s, val, Q_AUX); return false;
	case 0xD4: /* to the aux device: there is none */
		out_push(s, 0xFE, Q_AUX | Q_TIMEOUT);
		return false;
	}
	return false;
}

/* A controller command. Returns true to request a reset. */
static bool cmd_write(struct i8042 *s, uint8_t cmd)
{
	s->pending_cmd = 0;
	switch (cmd) {
	case 0x20 ... 0x3F: out_push(s, s->ram[cmd & 0x1F], 0); break;
	case 0x60 ... 0x7F:
	case 0xD1 ... 0xD4: s->pending_cmd = cmd; break;
	case 0xA7: s->ram[0] |= CTR_AUXDIS; break;
	case 0xA8: s->ram[0] &= ~CTR_AUXDIS; break;
	case 0xA9: /* aux interface test: lines fine (nothing pulls them) */
	case 0xAB: /* keyboard interface test */ out_push(s, 0x00, 0); break;
	case 0xAA: /* self test */
		s->ram[0] |= CTR_SYS;
		out_push(s, 0x55, 0);
		break;
	case 0xAD: s->ram[0] |= CTR_KBDDIS; break;
	case 0xAE: s->ram[0] &= ~CTR_KBDDIS; break;
	case 0xD0: out_push(s, read_outport(s), 0); break;
	case 0xDD: s->outport &= ~OUT_A20; break;
	case 0xDF: s->outport |= OUT_A20; break;
	case 0xF0 ... 0xFF: /* pulse output lines 0-3 low where the bit is 0 */
		return !(cmd & 0x01);
	default: guest_error_report(&s->errors, "unknown controller command %#04x", cmd); break;
	}
	return false;
}

static unsigned port_number(unsigned which)
{
	return which == PORT_CMD ? PC_PORT_I8042_CMD : PC_PORT_I8042_DATA;
}

static uint64_t kbc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042_port *port = opaque;
	struct i8042 *s = port->kbc;
	uint8_t v;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size,
				   port_number(port->which));
		return UINT64_MAX;
	}
	pthread_mutex_lock(&s->lock);
	v = port->which == PORT_CMD ? read_status(s) : read_data(s);
	update_irqs(s);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void kbc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct i8042_port *port = opaque;
	struct i8042 *s = port->kbc;
	uint8_t v = (uint8_t)value;
	bool reset = false;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size,
				   port_number(port->which));
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (port->which == PORT_CMD) {
		s->last_was_cmd = true;
		reset = cmd_write(s, v);
	} else {
		uint8_t cmd = s->pending_cmd;

		s->last_was_cmd = false;
		s->pending_cmd = 0;
		if (cmd)
			reset = cmd_data(s, cmd, v);
		else
			kbd_write(s, v);
	}
	update_irqs(s);
	pthread_mutex_unlock(&s->lock);
	if (reset)
		power_control_request(&s->power, POWER_REQUEST_RESET);
}

static const struct io_ops kbc_ops = {
	.read = kbc_read,
	.write = kbc_write,
};

uint64_t i8042_guest_errors(const struct i8042 *kbc)
{
	return guest_error_count(&kbc->errors);
}

int i8042_new(struct io_bus *bus, struct irq_line kbd_irq, struct irq_line aux_irq,
	      struct power_control power, struct i8042 **ret)
{
	struct i8042 *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->kbd_irq = kbd_irq;
	s->aux_irq = aux_irq;
	s->power = power;
	s->ram[0] = CTR_DEFAULT;
	s->outport = OUT_DEFAULT;
	s->scanning = true;
	kbd_defaults(s);
	guest_error_log_init(&s->errors, "i8042");
	s->ports[PORT_DATA] = (struct i8042_port){.kbc = s, .which = PORT_DATA};
	s->ports[PORT_CMD] = (struct i8042_port){.kbc = s, .which = PORT_CMD};
	r = io_bus_register(bus, PC_PORT_I8042_DATA, 1, &kbc_ops, &s->ports[PORT_DATA],
			    "i8042-data");
	if (r < 0)
		goto fail;
	r = io_bus_register(bus, PC_PORT_I8042_CMD, 1, &kbc_ops, &s->ports[PORT_CMD], "i8042-cmd");
	if (r < 0) {
		(void)io_bus_unregister(bus, PC_PORT_I8042_DATA);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return r;
}

struct i8042 *i8042_free(struct i8042 *kbc)
{
	if (!kbc)
		return NULL;
	(void)io_bus_unregister(kbc->bus, PC_PORT_I8042_CMD);
	(void)io_bus_unregister(kbc->bus, PC_PORT_I8042_DATA);
	pthread_mutex_destroy(&kbc->lock);
	free(kbc);
	return NULL;
}

/*
 * Saved state, version 1: ram (32 bytes), outport, pending_cmd,
 * last_was_cmd, last_read, kbd_cmd, scancode_set, scanning (u8 each),
 * out_count (u32), then out_count {byte, flags} from the output buffer on.
 */
int i8042_save(struct i8042 *s, struct state_out *out)
{
	const uint8_t regs[] = {s->outport, s->pending_cmd,  s->last_was_cmd, s->last_read,
				s->kbd_cmd, s->scancode_set, s->scanning};
	unsigned i, q;

	pthread_mutex_lock(&s->lock);
	state_out_bytes(out, s->ram, sizeof(s->ram));
	state_out_bytes(out, regs, sizeof(regs));
	state_out_u32(out, s->out_count);
	for (i = 0; i < s->out_count; i++) {
		q = (s->out_head + i) % QUEUE_SIZE;
		state_out_u8(out, s->queue[q].byte);
		state_out_u8(out, s->queue[q].flags);
	}
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

static bool takes_byte(uint8_t cmd)
{
	return cmd == 0 || (cmd >= 0x60 && cmd <= 0x7F) || (cmd >= 0xD1 && cmd <= 0xD4);
}

int i8042_load(struct i8042 *s, uint32_t version, struct state_in *in, char *errbuf, size_t errlen)
{
	uint8_t ram[sizeof(s->ram)], regs[7], queue[QUEUE_SIZE][2];
	const char *bad = NULL;
	uint32_t count;
	unsigned i;

	state_in_bytes(in, ram, sizeof(ram));
	state_in_bytes(in, regs, sizeof(regs));
	count = state_in_u32(in);
	if (!in->error && count <= QUEUE_SIZE)
		state_in_bytes(in, queue, count * 2u);
	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (count > QUEUE_SIZE)
		bad = "more bytes queued than the controller holds";
	else if (!takes_byte(regs[1]))
		bad = "the pending controller command takes no data byte";
	else if (regs[2] > 1 || regs[6] > 1 || regs[5] < 1 || regs[5] > 3)
		bad = "flags or scancode set out of range";
	else if (regs[4] && regs[4] != 0xED && regs[4] != 0xF0 && regs[4] != 0xF3)
		bad = "the pending keyboard command takes no parameter";
	for (i = 0; !bad && i < count; i++)
		if (queue[i][1] & ~(Q_AUX | Q_TIMEOUT))
			bad = "unknown output queue flags";
	if (bad) {
		snprintf(errbuf, errlen, "i8042 state: %s", bad);
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->ram, ram, sizeof(ram));
	s->outport = regs[0];
	s->pending_cmd = regs[1];
	s->last_was_cmd = regs[2];
	s->last_read = regs[3];
	s->kbd_cmd = regs[4];
	s->scancode_set = regs[5];
	s->scanning = regs[6];
	s->out_head = 0;
	s->out_count = count;
	for (i = 0; i < count; i++) {
		s->queue[i].byte = queue[i][0];
		s->queue[i].flags = queue[i][1];
	}
	s->kbd_level = s->aux_level = false; /* the new irqchip's lines are low */
	update_irqs(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Set 1 make codes to set 2 (the inverse of the 8042's translation, IBM PS/2 Hardware
 * Interface Technical Reference, keyboard scan code tables); the E0 keys use the same code
 * after the prefix. 0: no key.
 */
static const uint8_t set1_to_set2[0x80] = {
	[0x01] = 0x76, [0x02] = 0x16, [0x03] = 0x1E, [0x04] = 0x26, [0x05] = 0x25, [0x06] = 0x2E,
	[0x07] = 0x36, [0x08] = 0x3D, [0x09] = 0x3E, [0x0A] = 0x46, [0x0B] = 0x45, [0x0C] = 0x4E,
	[0x0D] = 0x55, [0x0E] = 0x66, [0x0F] = 0x0D, [0x10] = 0x15, [0x11] = 0x1D, [0x12] = 0x24,
	[0x13] = 0x2D, [0x14] = 0x2C, [0x15] = 0x35, [0x16] = 0x3C, [0x17] = 0x43, [0x18] = 0x44,
	[0x19] = 0x4D, [0x1A] = 0x54, [0x1B] = 0x5B, [0x1C] = 0x5A, [0x1D] = 0x14, [0x1E] = 0x1C,
	[0x1F] = 0x1B, [0x20] = 0x23, [0x21] = 0x2B, [0x22] = 0x34, [0x23] = 0x33, [0x24] = 0x3B,
	[0x25] = 0x42, [0x26] = 0x4B, [0x27] = 0x4C, [0x28] = 0x52, [0x29] = 0x0E, [0x2A] = 0x12,
	[0x2B] = 0x5D, [0x2C] = 0x1A, [0x2D] = 0x22, [0x2E] = 0x21, [0x2F] = 0x2A, [0x30] = 0x32,
	[0x31] = 0x31, [0x32] = 0x3A, [0x33] = 0x41, [0x34] = 0x49, [0x35] = 0x4A, [0x36] = 0x59,
	[0x37] = 0x7C, [0x38] = 0x11, [0x39] = 0x29, [0x3A] = 0x58, [0x3B] = 0x05, [0x3C] = 0x06,
	[0x3D] = 0x04, [0x3E] = 0x0C, [0x3F] = 0x03, [0x40] = 0x0B, [0x41] = 0x83, [0x42] = 0x0A,
	[0x43] = 0x01, [0x44] = 0x09, [0x45] = 0x77, [0x46] = 0x7E, [0x47] = 0x6C, [0x48] = 0x75,
	[0x49] = 0x7D, [0x4A] = 0x7B, [0x4B] = 0x6B, [0x4C] = 0x73, [0x4D] = 0x74, [0x4E] = 0x79,
	[0x4F] = 0x69, [0x50] = 0x72, [0x51] = 0x7A, [0x52] = 0x70, [0x53] = 0x71, [0x56] = 0x61,
	[0x57] = 0x78, [0x58] = 0x07, [0x5B] = 0x1F, [0x5C] = 0x27, [0x5D] = 0x2F,
};

/* The bytes the guest reads for a set 1 sequence in the current set; 0 if none can be sent. */
static size_t key_bytes(const struct i8042 *s, const uint8_t *set1, size_t n, uint8_t *out)
{
	size_t k = 0;

	if (s->scancode_set == 1 || (s->scancode_set == 2 && s->ram[0] & CTR_XLATE)) {
		memcpy(out, set1, n); /* set 2 translated by the controller reads as set 1 */
		return n;
	}
	if (s->scancode_set != 2)
		return 0; /* set 3: not sent */
	for (size_t i = 0; i < n; i++) {
		if (set1[i] == 0xE0 || set1[i] == 0xE1) {
			out[k++] = set1[i];
			continue;
		}
		if (!set1_to_set2[set1[i] & 0x7F])
			return 0;
		if (set1[i] & 0x80)
			out[k++] = 0xF0;
		out[k++] = set1_to_set2[set1[i] & 0x7F];
	}
	return k;
}

int i8042_send_keys(struct i8042 *s, const uint8_t *set1, size_t n)
{
	uint8_t bytes[2 * I8042_KEY_MAX];
	size_t k = 0;
	int r = -EAGAIN;

	if (n == 0 || n > I8042_KEY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->scanning && !(s->ram[0] & CTR_KBDDIS))
		k = key_bytes(s, set1, n, bytes);
	/* All of it or nothing: half a sequence would be another key. */
	if (k && s->out_count + k <= QUEUE_SIZE) {
		for (size_t i = 0; i < k; i++)
			out_push(s, bytes[i], 0);
		update_irqs(s);
		s->keys_sent++;
		r = 0;
	} else {
		s->keys_dropped++;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void i8042_key_stats(struct i8042 *s, uint64_t *sent, uint64_t *dropped)
{
	pthread_mutex_lock(&s->lock);
	*sent = s->keys_sent;
	*dropped = s->keys_dropped;
	pthread_mutex_unlock(&s->lock);
}
