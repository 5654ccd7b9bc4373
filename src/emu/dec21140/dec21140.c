/*
 * The DEC 21140A's PCI function, CSRs and interrupt, and the adapter's I/O
 * thread (dec21140.h). Register semantics: the 21140A Hardware Reference
 * Manual, chapter 3, and what Linux's tulip driver (tulip_core.c
 * tulip_up(), interrupt.c tulip_interrupt()) expects of them:
 *
 *  - CSR5's status bits are cleared by writing ones; its summary bits NIS
 *    and AIS are the OR of the enabled (CSR7) normal and abnormal sources,
 *    and INTA# is asserted while an enabled summary is set;
 *  - starting a process (CSR6 ST/SR) or a poll demand (CSR1/CSR2) wakes the
 *    I/O thread; stopping one takes effect at once (CSR5's state field reads
 *    "stopped" right after the write, as tulip_stop_rxtx() polls for) and
 *    sets TPS/RPS, as entering the stopped state does on the chip;
 *  - CSR3/CSR4 can be written while their process is stopped;
 *  - CSR8 counts frames missed for want of a receive descriptor and clears
 *    on read; CSR11 is the general-purpose timer (GTE), which Linux uses to
 *    re-enable interrupts after too much work in one interrupt.
 * Transmit automatic polling (CSR0 TAP) is not modelled: CSR0 keeps the
 * bits and the transmitter waits for a poll demand (Linux never sets them).
 *
 * The BARs are decoded at the addresses the configuration gives them; as in
 * piix4.c, an io_bus range cannot move inside a configuration cycle, so a
 * guest that moves a BAR loses that BAR's decoding (counted, logged).
 * DMA happens only while the command register's bus-master bit is set.
 *
 * Threads: CSR callbacks on vCPU threads, configuration callbacks with the
 * PCI host's lock; the I/O thread waits in epoll on the back end, a kick
 * eventfd (start, poll demand, timer change) and a stop eventfd, with the
 * general-purpose timer's deadline as its timeout. One mutex; the interrupt
 * line is driven with it held and only on a level change.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/byteorder.h"
#include "emu/dec21140/dec21140_internal.h"

#define PCI_COMMAND  0x04
#define PCI_BAR0     0x10
#define PCI_BAR1     0x14
#define CMD_IO	     0x0001u
#define CMD_MEMORY   0x0002u
#define CMD_MASTER   0x0004u
#define CMD_WRITABLE 0x0147u /* I/O, memory, bus master, parity, SERR# */
#define CSR7_VALID   0x0001FFFFu

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void kick(struct dec21140 *d)
{
	uint64_t one = 1;

	/* Non-blocking; a full counter already means "wake up". */
	IGNORE_RESULT(write(d->kick_fd, &one, sizeof(one)));
}

uint64_t dec_now_ns(void)
{
	return now_ns();
}

void dec_kick(struct dec21140 *d)
{
	kick(d);
}

/* --- status, interrupt, process states (lock held) --------------------------------------- */

void dec_update_irq(struct dec21140 *d)
{
	uint32_t enabled = d->csr[5] & d->csr[7];
	bool level;

	d->csr[5] &= ~(CSR5_NIS | CSR5_AIS);
	if (enabled & CSR5_NORMAL)
		d->csr[5] |= CSR5_NIS;
	if (enabled & CSR5_ABNORMAL)
		d->csr[5] |= CSR5_AIS;
	level = (d->csr[5] & d->csr[7] & (CSR5_NIS | CSR5_AIS)) != 0;
	if (level != d->irq_level) {
		d->irq_level = level;
		if (level)
			d->st.interrupts++;
		irq_line_set(&d->cfg.irq, level);
	}
}

void dec_set_status(struct dec21140 *d, uint32_t bits)
{
	d->csr[5] |= bits;
	dec_update_irq(d);
}

unsigned dec_rx_state(const struct dec21140 *d)
{
	return (d->csr[5] >> CSR5_RS_SHIFT) & 7;
}

unsigned dec_tx_state(const struct dec21140 *d)
{
	return (d->csr[5] >> CSR5_TS_SHIFT) & 7;
}

void dec_set_rx_state(struct dec21140 *d, unsigned state)
{
	bool stopping = state == RS_STOPPED && dec_rx_state(d) != RS_STOPPED;

	d->csr[5] = (d->csr[5] & ~(7u << CSR5_RS_SHIFT)) | state << CSR5_RS_SHIFT;
	if (stopping)
		dec_set_status(d, CSR5_RPS);
}

void dec_set_tx_state(struct dec21140 *d, unsigned state)
{
	bool stopping = state == TS_STOPPED && dec_tx_state(d) != TS_STOPPED;

	d->csr[5] = (d->csr[5] & ~(7u << CSR5_TS_SHIFT)) | state << CSR5_TS_SHIFT;
	if (stopping) {
		d->tx_descs = 0;
		d->tx_len = 0;
		dec_set_status(d, CSR5_TPS);
	}
}

void dec_bus_fault(struct dec21140 *d, const char *what, uint32_t addr)
{
	d->st.bus_errors++;
	guest_error_report(&d->errlog, "%s at 0x%x is not guest RAM: fatal bus error, DMA stopped",
			   what, addr);
	d->bus_fault = true;
	d->csr[5] = (d->csr[5] & ~(7u << CSR5_EB_SHIFT)) | CSR5_EB_MASTER_ABORT << CSR5_EB_SHIFT;
	dec_set_tx_state(d, TS_STOPPED);
	dec_set_rx_state(d, RS_STOPPED);
	dec_set_status(d, CSR5_FBE);
}

/* Power-on and CSR0 SWR: every CSR to its reset value; the ROM and the PHY are other chips. */
static void chip_reset(struct dec21140 *d)
{
	memset(d->csr, 0, sizeof(d->csr));
	d->csr[0] = CSR0_RESET_VALUE;
	d->csr[5] = CSR5_RESET;
	d->csr[6] = CSR6_RESET;
	d->csr[9] = CSR9_RESET & ~(CSR9_SR_DO | CSR9_MDI);
	d->rx_cur = d->tx_cur = 0;
	d->bus_fault = false;
	d->tx_kick = d->rx_kick = false;
	d->gpt_running = false;
	d->tx_descs = 0;
	d->tx_len = 0;
	d->gp_dir = 0;
	dec_filter_reset(d);
	d->srom.phase = 0;
	d->srom.dout = true;
	dec_update_irq(d);
}

/* --- CSR accesses (vCPU threads) --------------------------------------------------------- */

static uint32_t gpt_remaining(struct dec21140 *d)
{
	uint64_t now = now_ns(), tick;

	if (!d->gpt_running || now >= d->gpt_deadline)
		return d->csr[11] & CSR11_CON;
	tick = (d->csr[6] & CSR6_PS) ? CSR11_TICK_NS_100 : CSR11_TICK_NS_10;
	return (uint32_t)((d->gpt_deadline - now + tick - 1) / tick) | (d->csr[11] & CSR11_CON);
}

static void gpt_write(struct dec21140 *d, uint32_t v)
{
	uint64_t tick = (d->csr[6] & CSR6_PS) ? CSR11_TICK_NS_100 : CSR11_TICK_NS_10;
	uint64_t span = (uint64_t)(v & CSR11_VALUE_MASK) * tick;

	d->csr[11] = v & (CSR11_VALUE_MASK | CSR11_CON);
	d->gpt_running = span != 0;
	d->gpt_deadline = now_ns() + span;
	d->gpt_period = (v & CSR11_CON) ? span : 0;
	kick(d); /* the I/O thread's timeout changes */
}

static void csr6_write(struct dec21140 *d, uint32_t v)
{
	uint32_t old = d->csr[6];

	d->csr[6] = (v & ~CSR6_FILTER_RO) | (old & CSR6_FILTER_RO);
	if ((v & CSR6_ST) && !(old & CSR6_ST)) {
		dec_set_tx_state(d, TS_RUNNING_FETCH);
		d->tx_kick = true;
		kick(d);
	} else if (!(v & CSR6_ST) && (old & CSR6_ST)) {
		dec_set_tx_state(d, TS_STOPPED);
	}
	if ((v & CSR6_SR) && !(old & CSR6_SR)) {
		dec_set_rx_state(d, RS_RUNNING_WAIT);
		d->rx_kick = true;
		kick(d);
	} else if (!(v & CSR6_SR) && (old & CSR6_SR)) {
		dec_set_rx_state(d, RS_STOPPED);
	}
}

static void list_base_write(struct dec21140 *d, unsigned csr, uint32_t v)
{
	bool stopped = csr == 3 ? dec_rx_state(d) == RS_STOPPED : dec_tx_state(d) == TS_STOPPED;

	if (!stopped) {
		guest_error_report(&d->errlog, "CSR%u written while its process runs: ignored",
				   csr);
		return;
	}
	d->csr[csr] = v & ~3u;
	if (csr == 3)
		d->rx_cur = d->csr[3];
	else
		d->tx_cur = d->csr[4];
}

static void csr_write(struct dec21140 *d, unsigned csr, uint32_t v)
{
	switch (csr) {
	case 0:
		if (v & CSR0_SWR)
			chip_reset(d);
		else
			d->csr[0] = (v & CSR0_WRITABLE) | CSR0_RESET_VALUE;
		break;
	case 1: /* transmit poll demand */
		if (dec_tx_state(d) == TS_SUSPENDED) {
			dec_set_tx_state(d, TS_RUNNING_FETCH);
			d->tx_kick = true;
			kick(d);
		}
		break;
	case 2: /* receive poll demand */
		if (dec_rx_state(d) == RS_SUSPENDED) {
			d->rx_kick = true;
			kick(d);
		}
		break;
	case 3:
	case 4: list_base_write(d, csr, v); break;
	case 5:
		d->csr[5] &= ~(v & CSR5_W1C);
		dec_update_irq(d);
		break;
	case 6: csr6_write(d, v); break;
	case 7:
		d->csr[7] = v & CSR7_VALID;
		dec_update_irq(d);
		break;
	case 9: dec_csr9_write(d, v); break;
	case 11: gpt_write(d, v); break;
	case 12:
		if (v & CSR12_GPC)
			d->gp_dir = (uint8_t)v;
		else
			d->csr[12] = v & 0xFFu;
		break;
	case 13:
	case 14:
	case 15: d->csr[csr] = v; break;
	default: /* CSR8 is read-only, CSR10 (boot ROM address) has no boot ROM behind it */ break;
	}
}

static uint32_t csr_read(struct dec21140 *d, unsigned csr)
{
	uint32_t v;

	switch (csr) {
	case 1:
	case 2:
	case 10: return 0;
	case 8:
		v = d->csr[8];
		d->csr[8] = 0; /* cleared by reading */
		return v;
	case 9: return dec_csr9_read(d);
	case 11: return gpt_remaining(d);
	case 12: return d->csr[12] & d->gp_dir; /* inputs read low: nothing drives them */
	default: return d->csr[csr];
	}
}

static bool command_bit(struct dec21140 *d, uint16_t bit)
{
	/* Read without the PCI host's lock: a torn view only affects the guest's own race. */
	uint16_t cmd = __atomic_load_n((uint16_t *)(d->pci_config + PCI_COMMAND), __ATOMIC_RELAXED);

	return (le16toh(cmd) & bit) != 0;
}

static bool bar_decoded(struct dec21140 *d, unsigned bar, uint32_t base, uint16_t enable)
{
	uint32_t v = __atomic_load_n((uint32_t *)(d->pci_config + bar), __ATOMIC_RELAXED);

	return (le32toh(v) & ~0x7Fu) == base && command_bit(d, enable);
}

static uint64_t regs_read(struct dec21140 *d, uint64_t offset, unsigned size)
{
	unsigned csr = (unsigned)(offset >> 3), byte = (unsigned)(offset & 7);
	uint32_t v;

	if (byte + size > 4) {
		guest_error_report(&d->errlog, "%u-byte read at CSR offset 0x%x", size,
				   (unsigned)offset);
		return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	}
	pthread_mutex_lock(&d->lock);
	v = csr_read(d, csr) >> (8 * byte);
	pthread_mutex_unlock(&d->lock);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void regs_write(struct dec21140 *d, uint64_t offset, uint64_t value, unsigned size)
{
	if (size != 4 || (offset & 7)) {
		/* HRM 3.1: CSRs are longwords, accessed as such. */
		guest_error_report(&d->errlog, "%u-byte write at CSR offset 0x%x dropped", size,
				   (unsigned)offset);
		return;
	}
	pthread_mutex_lock(&d->lock);
	csr_write(d, (unsigned)(offset >> 3), (uint32_t)value);
	pthread_mutex_unlock(&d->lock);
}

static uint64_t io_read(void *opaque, uint64_t offset, unsigned size)
{
	struct dec21140 *d = opaque;

	if (!bar_decoded(d, PCI_BAR0, d->cfg.io_base, CMD_IO))
		return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	return regs_read(d, offset, size);
}

static void io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct dec21140 *d = opaque;

	if (bar_decoded(d, PCI_BAR0, d->cfg.io_base, CMD_IO))
		regs_write(d, offset, value, size);
}

static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	struct dec21140 *d = opaque;

	if (size > 4 || !bar_decoded(d, PCI_BAR1, d->cfg.mmio_base, CMD_MEMORY))
		return size >= 4 ? (size == 8 ? UINT64_MAX : 0xFFFFFFFFu) : (1u << (8 * size)) - 1;
	return regs_read(d, offset, size);
}

static void mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct dec21140 *d = opaque;

	if (bar_decoded(d, PCI_BAR1, d->cfg.mmio_base, CMD_MEMORY))
		regs_write(d, offset, value, size);
}

static const struct io_ops io_ops = {.read = io_read, .write = io_write};
static const struct io_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

/* --- PCI configuration space (PCI host's lock) ----------------------------------------- */

static uint32_t config_read(void *opaque, unsigned offset, unsigned size)
{
	struct dec21140 *d = opaque;
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)d->pci_config[offset + i] << (8 * i);
	return v;
}

static void config_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	static const unsigned bars[2] = {PCI_BAR0, PCI_BAR1};
	struct dec21140 *d = opaque;

	for (unsigned i = 0; i < size; i++) {
		uint8_t m = d->pci_wmask[offset + i];
		uint8_t *b = &d->pci_config[offset + i];

		*b = (uint8_t)((*b & ~m) | ((value >> (8 * i)) & m));
	}
	for (unsigned k = 0; k < 2; k++) {
		uint32_t base = k ? d->cfg.mmio_base : d->cfg.io_base;
		uint32_t bar = config_read(d, bars[k], 4) & ~0x7Fu;

		/* All-ones (read back as the size mask) is sizing; anything else is a move. */
		if (offset <= bars[k] + 3 && offset + size > bars[k] && bar != base &&
		    bar != 0xFFFFFF80u && bar != 0xFF80u)
			guest_error_report(&d->errlog, "BAR%u moved to 0x%x: decoded at 0x%x only",
					   k, bar, base);
	}
}

static const struct pci_device_ops config_ops = {.config_read = config_read,
						 .config_write = config_write};

static void config_init(struct dec21140 *d)
{
	uint8_t *c = d->pci_config, *w = d->pci_wmask;

	put_le16(c + 0x00, DEC21140_VENDOR);
	put_le16(c + 0x02, DEC21140_DEVICE);
	put_le16(c + PCI_COMMAND, CMD_IO | CMD_MEMORY); /* decoding on, as firmware leaves it */
	put_le16(c + 0x06, 0x0280); /* medium DEVSEL, fast back-to-back capable */
	c[0x08] = DEC21140_REVISION;
	c[0x0A] = 0x00; /* class 02/00/00: Ethernet controller */
	c[0x0B] = 0x02;
	put_le32(c + PCI_BAR0, d->cfg.io_base | 1u); /* I/O space */
	put_le32(c + PCI_BAR1, d->cfg.mmio_base);    /* 32-bit, non-prefetchable memory */
	c[0x3C] = (uint8_t)d->cfg.irq.gsi;	     /* as firmware leaves it */
	c[0x3D] = 0x01;				     /* INTA# */
	c[0x3E] = 0x14;				     /* MIN_GNT */
	c[0x3F] = 0x28;				     /* MAX_LAT */
	put_le16(w + PCI_COMMAND, CMD_WRITABLE);
	w[0x0C] = 0xFF; /* cache line size */
	w[0x0D] = 0xFF; /* latency timer */
	put_le32(w + PCI_BAR0, ~(DEC21140_CSR_LEN - 1));
	put_le32(w + PCI_BAR1, ~(DEC21140_CSR_LEN - 1));
	w[0x3C] = 0xFF;
}

/* --- the I/O thread --------------------------------------------------------------------- */

static int io_timeout_ms(struct dec21140 *d)
{
	uint64_t now;

	if (!d->gpt_running)
		return -1;
	now = now_ns();
	if (now >= d->gpt_deadline)
		return 0;
	return (int)((d->gpt_deadline - now + 999999) / 1000000);
}

static void gpt_check(struct dec21140 *d)
{
	uint64_t now = now_ns();

	if (!d->gpt_running || now < d->gpt_deadline)
		return;
	dec_set_status(d, CSR5_GTE);
	if (d->gpt_period) {
		d->gpt_deadline += d->gpt_period;
		if (d->gpt_deadline < now)
			d->gpt_deadline = now + d->gpt_period;
	} else {
		d->gpt_running = false;
	}
}

/*
 * Parks the I/O thread while a save is under way (dec21140_quiesce), lock held: between two
 * passes, so no frame is half received and no DMA happens until the quiesce ends. True if the
 * device is being freed.
 */
static bool io_park(struct dec21140 *d)
{
	if (!d->quiesce)
		return d->stopping;
	d->parked = true;
	pthread_cond_broadcast(&d->cond);
	while (d->quiesce && !d->stopping)
		pthread_cond_wait(&d->cond, &d->lock);
	d->parked = false;
	return d->stopping;
}

/* The start/poll-demand work under the lock. True if transmit work is left for later. */
static bool io_pass(struct dec21140 *d)
{
	bool more = false;

	gpt_check(d);
	if (!command_bit(d, CMD_MASTER))
		return false; /* no DMA without bus mastership; the work waits */
	if (d->rx_kick) {
		d->rx_kick = false;
		dec_rx_poll(d);
	}
	if (d->tx_kick || dec_tx_state(d) == TS_RUNNING_FETCH) {
		d->tx_kick = false;
		more = dec_tx_run(d);
	}
	return more;
}

/*
 * Back-end frames into the receive list. Each read is made with the lock held (the descriptor
 * is non-blocking): a quiesce that comes between two frames leaves the next one in the TAP
 * queue, never read and then dropped or delivered after the state was taken.
 */
static void io_receive(struct dec21140 *d)
{
	for (unsigned i = 0; i < DEC_RX_BUDGET; i++) {
		ssize_t n;

		pthread_mutex_lock(&d->lock);
		n = d->quiesce || d->stopping ? 0
					      : read(d->cfg.backend_fd, d->rxbuf, sizeof(d->rxbuf));
		if (n > 0 && command_bit(d, CMD_MASTER))
			dec_rx_frame(d, d->rxbuf, (size_t)n);
		else if (n > 0)
			d->st.rx_stopped++;
		pthread_mutex_unlock(&d->lock);
		if (n <= 0)
			return; /* EAGAIN: drained; or quiescing: the loop parks */
	}
}

static void *io_thread(void *opaque)
{
	struct dec21140 *d = opaque;

	for (;;) {
		struct epoll_event ev[4];
		bool readable = false, more;
		int n, timeout;

		pthread_mutex_lock(&d->lock);
		timeout = io_timeout_ms(d);
		pthread_mutex_unlock(&d->lock);
		n = epoll_wait(d->epoll_fd, ev, 4, timeout);
		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (ev[i].data.fd == d->stop_fd)
				return NULL;
			if (ev[i].data.fd == d->kick_fd)
				IGNORE_RESULT(read(d->kick_fd, &v, sizeof(v)));
			else
				readable = true;
		}
		pthread_mutex_lock(&d->lock);
		if (io_park(d)) {
			pthread_mutex_unlock(&d->lock);
			return NULL;
		}
		more = io_pass(d);
		pthread_mutex_unlock(&d->lock);
		if (readable)
			io_receive(d);
		if (more)
			kick(d); /* budget spent: come back after the other events */
	}
}

static int watch(int epoll_fd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* --- lifecycle --------------------------------------------------------------------------- */

void dec21140_set_connected(struct dec21140 *d, bool connected)
{
	atomic_store(&d->connected, connected);
}

void dec21140_set_mac_spoofing(struct dec21140 *d, bool allowed)
{
	atomic_store(&d->mac_spoofing, allowed);
}

void dec21140_get_stats(struct dec21140 *d, struct dec21140_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	dec_update_irq(d);
	st->csr5 = d->csr[5];
	st->csr6 = d->csr[6];
	pthread_mutex_unlock(&d->lock);
	st->connected = atomic_load(&d->connected);
	st->mac_spoofing = atomic_load(&d->mac_spoofing);
	st->guest_errors = guest_error_count(&d->errlog);
}

int dec21140_new(struct pci_host *host, struct io_bus *pio, struct io_bus *mmio,
		 const struct dec21140_config *cfg, struct dec21140 **ret)
{
	struct dec21140 *d;
	int r;

	if ((cfg->io_base & (DEC21140_CSR_LEN - 1)) || (cfg->mmio_base & (DEC21140_CSR_LEN - 1)) ||
	    !cfg->mem) {
		if (cfg->backend_fd >= 0)
			close(cfg->backend_fd);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		if (cfg->backend_fd >= 0)
			close(cfg->backend_fd);
		return -ENOMEM;
	}
	d->cfg = *cfg;
	d->cfg.name = NULL;
	d->host = host;
	d->pio = pio;
	d->mmio = mmio;
	d->kick_fd = d->stop_fd = d->epoll_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	guest_error_log_init(&d->errlog, cfg->name ? cfg->name : "dec21140");
	atomic_init(&d->connected, cfg->connected);
	atomic_init(&d->mac_spoofing, cfg->mac_spoofing);
	d->quiesce = cfg->quiesced;
	config_init(d);
	dec_srom_init(&d->srom, cfg->mac);
	dec_mii_reset(&d->mii);
	chip_reset(d);

	d->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	r = d->kick_fd < 0 || d->stop_fd < 0 || d->epoll_fd < 0 ? -errno : 0;
	if (r == 0)
		r = watch(d->epoll_fd, d->kick_fd);
	if (r == 0)
		r = watch(d->epoll_fd, d->stop_fd);
	if (r == 0)
		r = watch(d->epoll_fd, cfg->backend_fd);
	if (r == 0) {
		r = io_bus_register(pio, cfg->io_base, DEC21140_CSR_LEN, &io_ops, d, "dec21140");
		d->pio_registered = r == 0;
	}
	if (r == 0) {
		r = io_bus_register(mmio, cfg->mmio_base, DEC21140_CSR_LEN, &mmio_ops, d,
				    "dec21140");
		d->mmio_registered = r == 0;
	}
	if (r == 0) {
		r = pci_host_add_device(host, cfg->devfn, &config_ops, d);
		d->pci_added = r == 0;
	}
	if (r == 0) {
		r = -pthread_create(&d->thread, NULL, io_thread, d);
		d->thread_started = r == 0;
	}
	if (r < 0) {
		dec21140_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

struct dec21140 *dec21140_free(struct dec21140 *d)
{
	if (!d)
		return NULL;
	if (d->thread_started) {
		uint64_t one = 1;

		pthread_mutex_lock(&d->lock);
		d->stopping = true; /* also ends a quiesce the thread is parked in */
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		IGNORE_RESULT(write(d->stop_fd, &one, sizeof(one)));
		pthread_join(d->thread, NULL);
	}
	if (d->pci_added)
		(void)pci_host_remove_device(d->host, d->cfg.devfn);
	if (d->mmio_registered)
		(void)io_bus_unregister(d->mmio, d->cfg.mmio_base);
	if (d->pio_registered)
		(void)io_bus_unregister(d->pio, d->cfg.io_base);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	if (d->cfg.backend_fd >= 0)
		close(d->cfg.backend_fd);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	return NULL;
}

void dec21140_quiesce(struct dec21140 *d)
{
	pthread_mutex_lock(&d->lock);
	d->quiesce = true;
	kick(d);
	while (!d->parked && !d->stopping)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

void dec21140_unquiesce(struct dec21140 *d)
{
	pthread_mutex_lock(&d->lock);
	d->quiesce = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}
