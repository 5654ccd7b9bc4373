/*
 * 16550A UART, as described by the National Semiconductor PC16550D data
 * sheet (June 1995): eight byte-wide registers, a 16-byte receive FIFO,
 * loopback, modem status, and the PC wiring of its interrupt (OUT2 gates
 * the IRQ driver). Linux's 8250 driver identifies it as a 16550A.
 *
 * What is simplified, and why it is invisible to drivers:
 * - Transmission is instantaneous: a byte written to THR leaves at once,
 *   so LSR.THRE and LSR.TEMT always read 1 and the THRE interrupt comes
 *   straight back after a THR write. There is no baud-rate timing.
 * - The character timeout (IIR 0xC) needs four idle character times; with
 *   no clock, they have always passed by the time the guest looks: below
 *   the trigger level, data in the FIFO is reported as a timeout at once.
 * - Host input never overruns: uart16550_receive() takes what fits and
 *   the host waits for rx_ready. Overruns (LSR.OE) happen in loopback.
 * - No parity, framing or break errors, no DMA signalling.
 *
 * Threads: the register callbacks run on vCPU threads, several at once;
 * uart16550_receive() runs on the host's input thread. One mutex covers
 * all state; tx and the interrupt line are driven under it, rx_ready is
 * called after it is dropped.
 */
#include "emu/uart16550.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

/* Register offsets (PC16550D Table II); DLL/DLM when LCR.DLAB is set. */
enum { REG_RBR_THR, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR };

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NONE 0x01 /* bit 0 clear means an interrupt is pending */
#define IIR_MSI	 0x00
#define IIR_THRI 0x02
#define IIR_RDI	 0x04
#define IIR_RLSI 0x06
#define IIR_CTI	 0x0C
#define IIR_FIFO 0xC0 /* both bits set when FCR0 = 1 */

#define FCR_ENABLE   0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_KEPT     0xC9 /* enable, DMA mode, trigger: the bits that stay programmed */

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F /* bits 5-7 are always 0 */

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS	 0x10
#define MSR_DSR	 0x20
#define MSR_RI	 0x40
#define MSR_DCD	 0x80

#define RX_FIFO_SIZE 16

struct uart16550 {
	pthread_mutex_t lock;
	struct io_bus *bus;
	uint16_t port;
	struct irq_line irq;
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	void (*rx_ready)(void *opaque);
	void *opaque;
	char name[16];

	uint8_t ier; /* low four bits; the rest read 0 */
	uint8_t fcr; /* FCR_KEPT bits as last programmed; 0 = 16450 mode */
	uint8_t lcr;
	uint8_t mcr;	   /* MCR_MASK bits */
	uint8_t lsr_err;   /* LSR_OE, latched until LSR is read */
	uint8_t msr_delta; /* MSR bits 0-3, cleared by reading MSR */
	uint8_t scr;
	uint16_t divisor; /* DLM:DLL; stored only, there is no baud rate */
	uint8_t rbr_last; /* what RBR reads when empty: the last byte read */

	uint8_t rx[RX_FIFO_SIZE]; /* ring; rx_count <= rx_capacity() */
	unsigned rx_head;
	unsigned rx_count;

	bool thre_pending; /* THRE interrupt source; THR itself is always empty */
	bool irq_level;	   /* level last driven on irq */
	bool rx_waiting;   /* the host was refused: it is owed one rx_ready */

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static bool fifo_enabled(const struct uart16550 *s)
{
	return s->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct uart16550 *s)
{
	return fifo_enabled(s) ? RX_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart16550 *s)
{
	static const unsigned levels[] = {1, 4, 8, 14}; /* FCR bits 7:6 */

	return levels[s->fcr >> 6];
}

/* The modem control inputs: looped back from MCR, or a terminal that is always there. */
static uint8_t msr_lines(const struct uart16550 *s)
{
	uint8_t m = 0;

	if (!(s->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (s->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

/* The highest-priority pending source (PC16550D Table IV), or IIR_NONE. */
static uint8_t iir_source(const struct uart16550 *s)
{
	if ((s->ier & IER_ELSI) && s->lsr_err)
		return IIR_RLSI;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		if (fifo_enabled(s) && s->rx_count < rx_trigger(s))
			return IIR_CTI;
		return IIR_RDI;
	}
	if ((s->ier & IER_ETBEI) && s->thre_pending)
		return IIR_THRI;
	if ((s->ier & IER_EDSSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NONE;
}

/*
 * On a PC the INTR pin reaches the PIC only through a driver enabled by
 * OUT2; in loopback the OUT pins are forced inactive, so no interrupt
 * leaves the card (PC16550D, MCR bit 4).
 */
static void update_irq(struct uart16550 *s)
{
	bool level = iir_source(s) != IIR_NONE && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static void rx_reset(struct uart16550 *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* A character arrives from the line (or loopback). Caller checks loopback. */
static void rx_push(struct uart16550 *s, uint8_t byte)
{
	if (s->rx_count == rx_capacity(s)) {
		/* FIFO mode: the new character is lost; 16450 mode: it overwrites RBR. */
		s->lsr_err |= LSR_OE;
		if (!fifo_enabled(s))
			s->rx[s->rx_head] = byte;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = byte;
	s->rx_count++;
}

/* True if the host is owed an rx_ready now; the caller calls it unlocked. */
static bool rx_room_freed(struct uart16550 *s)
{
	if (!s->rx_waiting || s->rx_count >= rx_capacity(s))
		return false;
	s->rx_waiting = false;
	return true;
}

static uint8_t read_rbr(struct uart16550 *s)
{
	if (s->rx_count) {
		s->rbr_last = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
		s->rx_count--;
	}
	return s->rbr_last;
}

static uint8_t read_iir(struct uart16550 *s)
{
	uint8_t src = iir_source(s);

	/* Reading IIR clears a THRE interrupt it reports, and only that one. */
	if (src == IIR_THRI)
		s->thre_pending = false;
	return src | (fifo_enabled(s) ? IIR_FIFO : 0);
}

static uint8_t read_lsr(struct uart16550 *s)
{
	uint8_t v = LSR_THRE | LSR_TEMT | s->lsr_err | (s->rx_count ? LSR_DR : 0);

	s->lsr_err = 0;
	return v;
}

static uint8_t read_msr(struct uart16550 *s)
{
	uint8_t v = msr_lines(s) | s->msr_delta;

	s->msr_delta = 0;
	return v;
}

static uint64_t uart_read(void *opaque, uint64_t offset, unsigned size)
{
	struct uart16550 *s = opaque;
	bool dlab, notify;
	uint8_t v = 0xFF;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size,
				   (unsigned)(s->port + offset));
		return UINT64_MAX;
	}
	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & LCR_DLAB;
	switch (offset) {
	case REG_RBR_THR: v = dlab ? (uint8_t)s->divisor : read_rbr(s); break;
	case REG_IER: v = dlab ? (uint8_t)(s->divisor >> 8) : s->ier; break;
	case REG_IIR_FCR: v = read_iir(s); break;
	case REG_LCR: v = s->lcr; break;
	case REG_MCR: v = s->mcr; break;
	case REG_LSR: v = read_lsr(s); break;
	case REG_MSR: v = read_msr(s); break;
	case REG_SCR: v = s->scr; break;
	}
	update_irq(s);
	notify = rx_room_freed(s);
	pthread_mutex_unlock(&s->lock);
	if (notify && s->rx_ready)
		s->rx_ready(s->opaque);
	return v;
}

static void write_thr(struct uart16550 *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP)
		rx_push(s, byte);
	else if (s->tx)
		s->tx(s->opaque, &byte, 1);
	/* The byte is gone already: THR is empty again, which is an interrupt. */
	s->thre_pending = true;
}

static void write_ier(struct uart16550 *s, uint8_t val)
{
	uint8_t old = s->ier;

	s->ier = val & 0x0F;
	/* Enabling ETBEI while THR is empty raises THRE (Linux's startup tests this). */
	if (!(old & IER_ETBEI) && (s->ier & IER_ETBEI))
		s->thre_pending = true;
}

static void write_fcr(struct uart16550 *s, uint8_t val)
{
	/* Changing FCR0 clears both FIFOs; with FCR0 = 0 the other bits do not program. */
	if ((val ^ s->fcr) & FCR_ENABLE)
		rx_reset(s);
	if (!(val & FCR_ENABLE)) {
		s->fcr = 0;
		return;
	}
	if (val & FCR_RX_RESET)
		rx_reset(s);
	/* FCR_TX_RESET: the transmit FIFO is always empty. */
	s->fcr = val & FCR_KEPT;
}

static void write_mcr(struct uart16550 *s, uint8_t val)
{
	uint8_t before = msr_lines(s), after, changed;

	s->mcr = val & MCR_MASK;
	after = msr_lines(s);
	changed = before ^ after;
	if (changed & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if ((before & MSR_RI) && !(after & MSR_RI)) /* trailing edge only */
		s->msr_delta |= MSR_TERI;
	if (changed & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
}

static void uart_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct uart16550 *s = opaque;
	uint8_t v = (uint8_t)value;
	bool dlab, notify;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size,
				   (unsigned)(s->port + offset));
		return;
	}
	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & LCR_DLAB;
	switch (offset) {
	case REG_RBR_THR:
		if (dlab)
			s->divisor = (s->divisor & 0xFF00) | v;
		else
			write_thr(s, v);
		break;
	case REG_IER:
		if (dlab)
			s->divisor = (uint16_t)((s->divisor & 0x00FF) | (v << 8));
		else
			write_ier(s, v);
		break;
	case REG_IIR_FCR: write_fcr(s, v); break;
	case REG_LCR: s->lcr = v; break;
	case REG_MCR: write_mcr(s, v); break;
	case REG_LSR:
	case REG_MSR:
		/* Factory-test writes on real parts; ignored. */
		break;
	case REG_SCR: s->scr = v; break;
	}
	update_irq(s);
	notify = rx_room_freed(s);
	pthread_mutex_unlock(&s->lock);
	if (notify && s->rx_ready)
		s->rx_ready(s->opaque);
}

static const struct io_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

size_t uart16550_receive(struct uart16550 *uart, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&uart->lock);
	if (uart->mcr & MCR_LOOP) {
		n = len; /* the serial input is disconnected in loopback */
	} else {
		n = MIN(len, (size_t)(rx_capacity(uart) - uart->rx_count));
		for (size_t i = 0; i < n; i++)
			rx_push(uart, buf[i]);
		if (n < len)
			uart->rx_waiting = true;
	}
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return n;
}

bool uart16550_can_receive(struct uart16550 *uart)
{
	bool ok;

	pthread_mutex_lock(&uart->lock);
	ok = (uart->mcr & MCR_LOOP) || uart->rx_count < rx_capacity(uart);
	if (!ok)
		uart->rx_waiting = true;
	pthread_mutex_unlock(&uart->lock);
	return ok;
}

uint64_t uart16550_guest_errors(const struct uart16550 *uart)
{
	return guest_error_count(&uart->errors);
}

int uart16550_new(struct io_bus *bus, const struct uart16550_config *cfg, struct uart16550 **ret)
{
	struct uart16550 *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->port = cfg->port;
	s->irq = cfg->irq;
	s->tx = cfg->tx;
	s->rx_ready = cfg->rx_ready;
	s->opaque = cfg->opaque;
	snprintf(s->name, sizeof(s->name), "%s", cfg->name ? cfg->name : "uart");
	s->divisor = 12; /* undefined at reset; 9600 baud is what firmware leaves */
	guest_error_log_init(&s->errors, s->name);
	r = io_bus_register(bus, cfg->port, PC_PORT_UART_LEN, &uart_ops, s, s->name);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct uart16550 *uart16550_free(struct uart16550 *uart)
{
	if (!uart)
		return NULL;
	(void)io_bus_unregister(uart->bus, uart->port);
	pthread_mutex_destroy(&uart->lock);
	free(uart);
	return NULL;
}

/*
 * Saved state, version 1: ier fcr lcr mcr lsr_err msr_delta scr rbr_last
 * (u8 each), divisor (u32), thre_pending (u8, 0 or 1), rx_count (u32) and
 * the FIFO's bytes from the oldest. The interrupt line's level is not
 * saved: the new partition's in-kernel irqchip starts with every line low,
 * so load drives the line from low to what the registers say (an edge the
 * guest may see once more, as a spurious interrupt its driver ignores, and
 * never an interrupt lost).
 */
int uart16550_save(struct uart16550 *s, struct state_out *out)
{
	const uint8_t regs[] = {s->ier,	    s->fcr,	  s->lcr, s->mcr,
				s->lsr_err, s->msr_delta, s->scr, s->rbr_last};
	unsigned i;

	pthread_mutex_lock(&s->lock);
	state_out_bytes(out, regs, sizeof(regs));
	state_out_u32(out, s->divisor);
	state_out_u8(out, s->thre_pending);
	state_out_u32(out, s->rx_count);
	for (i = 0; i < s->rx_count; i++)
		state_out_u8(out, s->rx[(s->rx_head + i) % RX_FIFO_SIZE]);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

int uart16550_load(struct uart16550 *s, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen)
{
	struct uart16550 n;
	uint8_t regs[8], thre, fifo[RX_FIFO_SIZE];
	uint32_t divisor, count;
	const char *bad = NULL;

	state_in_bytes(in, regs, sizeof(regs));
	divisor = state_in_u32(in);
	thre = state_in_u8(in);
	count = state_in_u32(in);
	n.ier = regs[0];
	n.fcr = regs[1];
	n.lcr = regs[2];
	n.mcr = regs[3];
	n.lsr_err = regs[4];
	n.msr_delta = regs[5];
	n.scr = regs[6];
	n.rbr_last = regs[7];
	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (n.ier & ~0x0f || n.fcr & ~FCR_KEPT || n.mcr & ~MCR_MASK || n.lsr_err & ~LSR_OE ||
		 n.msr_delta & ~0x0f)
		bad = "register bits a 16550A does not have";
	else if (divisor > UINT16_MAX || thre > 1)
		bad = "divisor or flags out of range";
	else if (count > rx_capacity(&n))
		bad = "more received bytes than the FIFO holds";
	if (!bad) {
		state_in_bytes(in, fifo, count);
		if (in->error)
			bad = "too short";
	}
	if (bad) {
		snprintf(errbuf, errlen, "%s state: %s", s->name, bad);
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	s->ier = n.ier;
	s->fcr = n.fcr;
	s->lcr = n.lcr;
	s->mcr = n.mcr;
	s->lsr_err = n.lsr_err;
	s->msr_delta = n.msr_delta;
	s->scr = n.scr;
	s->rbr_last = n.rbr_last;
	s->divisor = (uint16_t)divisor;
	s->thre_pending = thre;
	s->rx_head = 0;
	s->rx_count = count;
	memcpy(s->rx, fifo, count);
	s->rx_waiting = false;
	s->irq_level = false; /* as the new irqchip's line: see above */
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}
