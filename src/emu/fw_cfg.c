/*
 * QEMU's firmware configuration device, fw_cfg (QEMU docs/specs/fw_cfg.rst),
 * as SeaBIOS reads it (src/fw/paravirt.c): the Generation 1 BIOS learns the
 * RAM map, the processor count, the boot order and the ACPI tables here.
 *
 *   0x510  selector, 16-bit write: picks an item and rewinds its offset
 *   0x511  data, 8-bit read: the next byte of the item (0 past its end)
 *   0x514  DMA address, bits 63-32 (big-endian, 32-bit write)
 *   0x518  DMA address, bits 31-0 (big-endian, 32-bit write): runs the
 *          transfer the descriptor at that address describes
 *
 * DMA (fw_cfg.rst "DMA interface"): the descriptor (control, length,
 * address; big-endian) is copied out of guest RAM once and only the copy
 * is used. SELECT picks an item first; READ copies from the item's offset
 * and fills with zeros past its end, SKIP moves the offset, WRITE fails
 * (no item here is writable). Completion writes the control word back: 0,
 * or the ERROR bit when a buffer is not guest RAM. A descriptor that is
 * not in RAM cannot be answered and is only counted. Transfers are done
 * before the port write returns, so firmware's poll loop sees 0 at once.
 * Every guest address goes through guest_memory (bounded to RAM).
 *
 * Items are given by the host before the vCPUs start (fw_cfg_add_*);
 * their number and total size are bounded (fw_cfg.h).
 *
 * Saved state (section "fw_cfg", docs/saved-state.md): only the cursor,
 * i.e. the selected item, the offset in it and the DMA address's high
 * half. The items themselves are the host's, rebuilt from the VM's
 * configuration by the restoring worker; the selected item's length and
 * a hash of its bytes are saved with the cursor so that a restore into
 * items that differ (another configuration) is refused instead of
 * handing the firmware the rest of another item.
 *
 * Threads: vCPU threads, several at once; one mutex guards the selection,
 * the offset, the DMA address and the item table.
 */
#include "emu/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/byteorder.h"
#include "base/log.h"
#include "emu/fw_cfg_format.h"
#include "state/state.h"

struct fw_cfg_item {
	uint16_t selector;
	char name[FW_CFG_FILE_NAME_LEN]; /* "" for fixed items */
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	pthread_mutex_t lock;
	struct io_bus *bus;
	struct guest_memory *mem;

	/* Locked. */
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned nitems;
	size_t total_bytes; /* sum of the items' lengths */
	unsigned nfiles;    /* files have selectors FW_CFG_FILE_FIRST + 0 .. nfiles - 1 */
	int current;	    /* index in items of the selected item, -1: none */
	uint32_t offset;    /* next byte of the selected item */
	uint32_t dma_high;  /* bits 63-32 of the next descriptor address */

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static struct fw_cfg_item *find(struct fw_cfg *s, uint16_t selector)
{
	for (unsigned i = 0; i < s->nitems; i++)
		if (s->items[i].selector == selector)
			return &s->items[i];
	return NULL;
}

/* Caller holds the lock. An unknown selector selects nothing: reads give zeros (as QEMU). */
static void select_item(struct fw_cfg *s, uint16_t selector)
{
	struct fw_cfg_item *it = find(s, selector & FW_CFG_SELECTOR_MASK);

	s->current = it ? (int)(it - s->items) : -1;
	s->offset = 0;
}

static const struct fw_cfg_item *current(const struct fw_cfg *s)
{
	return s->current >= 0 ? &s->items[s->current] : NULL;
}

/* Bytes of the selected item left from the offset. Caller holds the lock. */
static uint32_t remaining(const struct fw_cfg *s)
{
	const struct fw_cfg_item *it = current(s);

	return it && s->offset < it->len ? it->len - s->offset : 0;
}

static uint8_t data_read_byte(struct fw_cfg *s)
{
	uint8_t b = 0;

	if (remaining(s)) {
		b = current(s)->data[s->offset];
		s->offset++;
	}
	return b;
}

/* READ or SKIP of len bytes at gpa (gpa unused for SKIP). False: a buffer outside RAM. */
static bool dma_transfer(struct fw_cfg *s, uint64_t gpa, uint32_t len, bool read)
{
	uint32_t n = MIN(remaining(s), len);

	if (read && n && guest_memory_write(s->mem, gpa, current(s)->data + s->offset, n) < 0)
		return false;
	s->offset += n;
	/* Past the item's end a read gives zeros (fw_cfg.rst); the range is checked as RAM. */
	if (read && len > n && guest_memory_fill(s->mem, gpa + n, 0, len - n) < 0)
		return false;
	return true;
}

/* One descriptor at desc (fw_cfg.rst "DMA interface"). Caller holds the lock. */
static void dma_run(struct fw_cfg *s, uint64_t desc)
{
	uint8_t raw[sizeof(struct fw_cfg_dma_access)], done[4];
	uint32_t control, len;
	uint64_t gpa;
	bool ok = true;

	/* Copied once; only the copy is read. */
	if (guest_memory_read(s->mem, desc, raw, sizeof(raw)) < 0) {
		guest_error_report(&s->errors, "DMA descriptor at %#llx is not RAM",
				   (unsigned long long)desc);
		return;
	}
	control = get_be32(raw + offsetof(struct fw_cfg_dma_access, control));
	len = get_be32(raw + offsetof(struct fw_cfg_dma_access, length));
	gpa = get_be64(raw + offsetof(struct fw_cfg_dma_access, address));
	if (control & FW_CFG_DMA_CTL_SELECT)
		select_item(s, (uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_CTL_READ) {
		ok = dma_transfer(s, gpa, len, true);
		if (!ok)
			guest_error_report(&s->errors, "DMA read of %u bytes to %#llx: not RAM",
					   len, (unsigned long long)gpa);
	} else if (control & FW_CFG_DMA_CTL_WRITE) {
		ok = false; /* nothing here is writable (QEMU answers the same for read-only items)
			     */
		guest_error_report(&s->errors, "DMA write to read-only item");
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		ok = dma_transfer(s, 0, len, false);
	}
	put_be32(done, ok ? 0 : FW_CFG_DMA_CTL_ERROR);
	if (guest_memory_write(s->mem, desc + offsetof(struct fw_cfg_dma_access, control), done,
			       sizeof(done)) < 0)
		guest_error_report(&s->errors, "DMA descriptor at %#llx vanished",
				   (unsigned long long)desc);
}

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct fw_cfg *s = opaque;
	uint64_t v = UINT64_MAX;

	pthread_mutex_lock(&s->lock);
	if (offset <= FW_CFG_PORT_DATA - FW_CFG_PORT_BASE && size == 1) {
		/* QEMU's combined region: a byte read of either port reads data. */
		v = data_read_byte(s);
	} else if (offset >= FW_CFG_PORT_DMA_HIGH - FW_CFG_PORT_BASE &&
		   offset + size <= FW_CFG_PORT_LEN) {
		unsigned at = (unsigned)(offset - (FW_CFG_PORT_DMA_HIGH - FW_CFG_PORT_BASE));

		/* The signature "QEMU CFG", its bytes in address order. */
		v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= (uint64_t)(uint8_t)(FW_CFG_DMA_SIGNATURE >> (8 * (7 - at - i)))
			     << (8 * i);
	} else {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size,
				   (unsigned)(FW_CFG_PORT_BASE + offset));
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* The guest's 32-bit big-endian half, as the bytes it wrote (x86 is little-endian). */
static uint32_t be_half(uint64_t value)
{
	uint8_t b[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
			(uint8_t)(value >> 24)};

	return get_be32(b);
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct fw_cfg *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (offset == 0 && size == 2) {
		select_item(s, (uint16_t)value);
	} else if (offset == FW_CFG_PORT_DATA - FW_CFG_PORT_BASE && size == 1) {
		/* Writes through the data port are ignored since QEMU 2.4 (fw_cfg.rst). */
	} else if (offset == FW_CFG_PORT_DMA_HIGH - FW_CFG_PORT_BASE && size == 4) {
		s->dma_high = be_half(value);
	} else if (offset == FW_CFG_PORT_DMA_LOW - FW_CFG_PORT_BASE && size == 4) {
		dma_run(s, (uint64_t)s->dma_high << 32 | be_half(value));
		s->dma_high = 0;
	} else {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size,
				   (unsigned)(FW_CFG_PORT_BASE + offset));
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops fw_cfg_ops = {
	.read = port_read,
	.write = port_write,
};

/* Caller holds the lock. */
static int add(struct fw_cfg *s, uint16_t selector, const char *name, const void *data, size_t len)
{
	struct fw_cfg_item *it;

	if (find(s, selector))
		return -EEXIST;
	if (s->nitems == FW_CFG_MAX_ITEMS || len > FW_CFG_MAX_BYTES - s->total_bytes)
		return -ENOSPC;
	it = &s->items[s->nitems];
	*it = (struct fw_cfg_item){.selector = selector, .len = (uint32_t)len};
	if (len) {
		it->data = malloc(len);
		if (!it->data)
			return -ENOMEM;
		memcpy(it->data, data, len);
	}
	if (name)
		memcpy(it->name, name, strlen(name) + 1);
	s->nitems++;
	s->total_bytes += len;
	return 0;
}

/* The directory (FW_CFG_FILE_DIR) again from the files. Caller holds the lock. */
static int rebuild_directory(struct fw_cfg *s)
{
	struct fw_cfg_item *dir = find(s, FW_CFG_FILE_DIR);
	size_t len = 4 + (size_t)s->nfiles * sizeof(struct fw_cfg_file);
	uint8_t *buf = calloc(1, len), *p;

	if (!buf)
		return -ENOMEM;
	put_be32(buf, s->nfiles);
	p = buf + 4;
	for (unsigned i = 0; i < s->nitems; i++) {
		const struct fw_cfg_item *it = &s->items[i];

		if (!it->name[0])
			continue;
		put_be32(p + offsetof(struct fw_cfg_file, size), it->len);
		put_be16(p + offsetof(struct fw_cfg_file, select), it->selector);
		memcpy(p + offsetof(struct fw_cfg_file, name), it->name, sizeof(it->name));
		p += sizeof(struct fw_cfg_file);
	}
	s->total_bytes += len - dir->len;
	free(dir->data);
	dir->data = buf;
	dir->len = (uint32_t)len;
	return 0;
}

int fw_cfg_add_item(struct fw_cfg *s, uint16_t selector, const void *data, size_t len)
{
	int r;

	if (selector & FW_CFG_WRITE_CHANNEL ||
	    (selector >= FW_CFG_FILE_FIRST && selector < FW_CFG_ARCH_LOCAL))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = add(s, selector, NULL, data, len);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int fw_cfg_add_file(struct fw_cfg *s, const char *name, const void *data, size_t len)
{
	size_t dir_growth = sizeof(struct fw_cfg_file);
	int r = 0;

	if (!name[0] || strlen(name) >= FW_CFG_FILE_NAME_LEN || len > UINT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nitems; i++)
		if (!strcmp(s->items[i].name, name))
			r = -EEXIST;
	if (r == 0 && (len > FW_CFG_MAX_BYTES || dir_growth > FW_CFG_MAX_BYTES - len ||
		       len + dir_growth > FW_CFG_MAX_BYTES - s->total_bytes))
		r = -ENOSPC;
	if (r == 0)
		r = add(s, (uint16_t)(FW_CFG_FILE_FIRST + s->nfiles), name, data, len);
	if (r == 0) {
		s->nfiles++;
		r = rebuild_directory(s);
		if (r < 0) { /* keep the directory and the files in step */
			s->nfiles--;
			s->nitems--;
			s->total_bytes -= s->items[s->nitems].len;
			free(s->items[s->nitems].data);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* FNV-1a (64-bit) of an item's bytes: equal items, equal hashes; only compared, never trusted. */
static uint64_t item_hash(const struct fw_cfg_item *it)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (uint32_t i = 0; i < it->len; i++)
		h = (h ^ it->data[i]) * UINT64_C(0x100000001b3);
	return h;
}

/*
 * Version 1: flags (u32: bit 0 an item is selected), the selected item's selector (u32, its
 * 16 bits), the offset in it (u32), its length (u32) and hash (u64), the DMA address's bits
 * 63-32 (u32). Without a selection the four item fields are zero.
 */
int fw_cfg_save(struct fw_cfg *s, struct state_out *out)
{
	const struct fw_cfg_item *it;

	pthread_mutex_lock(&s->lock);
	it = current(s);
	state_out_u32(out, it ? 1 : 0);
	state_out_u32(out, it ? it->selector : 0);
	state_out_u32(out, it ? s->offset : 0);
	state_out_u32(out, it ? it->len : 0);
	state_out_u64(out, it ? item_hash(it) : 0);
	state_out_u32(out, s->dma_high);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

/* Checks the saved cursor against this device's items (lock held): 0 or -EBADMSG with errbuf. */
static int check_cursor(struct fw_cfg *s, uint32_t flags, uint32_t selector, uint32_t offset,
			uint32_t len, uint64_t hash, int *ret_index, char *errbuf, size_t errlen)
{
	const struct fw_cfg_item *it;

	*ret_index = -1;
	if (flags & ~1u) {
		snprintf(errbuf, errlen, "fw_cfg state: flags 0x%x has unknown bits", flags);
		return -EBADMSG;
	}
	if (!(flags & 1)) {
		if (selector || offset || len || hash) {
			snprintf(errbuf, errlen,
				 "fw_cfg state: no item selected but selector, offset, length or "
				 "hash set");
			return -EBADMSG;
		}
		return 0;
	}
	it = selector <= UINT16_MAX ? find(s, (uint16_t)selector) : NULL;
	if (!it) {
		snprintf(errbuf, errlen,
			 "fw_cfg state: selector 0x%x is not an item of this VM's firmware "
			 "configuration",
			 selector);
		return -EBADMSG;
	}
	if (it->len != len || item_hash(it) != hash) {
		snprintf(
			errbuf, errlen,
			"fw_cfg state: item 0x%x '%s' is %u bytes%s here, the saved state's was %u "
			"bytes (another configuration)",
			selector, it->name, it->len, it->len == len ? " of other contents" : "",
			len);
		return -EBADMSG;
	}
	if (offset > len) {
		snprintf(errbuf, errlen, "fw_cfg state: offset %u is past item 0x%x's %u bytes",
			 offset, selector, len);
		return -EBADMSG;
	}
	*ret_index = (int)(it - s->items);
	return 0;
}

int fw_cfg_load(struct fw_cfg *s, uint32_t version, struct state_in *in, char *errbuf,
		size_t errlen)
{
	uint32_t flags = state_in_u32(in), selector = state_in_u32(in), offset = state_in_u32(in);
	uint32_t len = state_in_u32(in);
	uint64_t hash = state_in_u64(in);
	uint32_t dma_high = state_in_u32(in);
	int index, r;

	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "fw_cfg state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	r = check_cursor(s, flags, selector, offset, len, hash, &index, errbuf, errlen);
	if (r == 0) {
		s->current = index;
		s->offset = offset;
		s->dma_high = dma_high;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

uint64_t fw_cfg_guest_errors(const struct fw_cfg *s)
{
	return guest_error_count(&s->errors);
}

static void free_items(struct fw_cfg *s)
{
	for (unsigned i = 0; i < s->nitems; i++)
		free(s->items[i].data);
}

int fw_cfg_new(struct io_bus *bus, struct guest_memory *mem, struct fw_cfg **ret)
{
	struct fw_cfg *s = calloc(1, sizeof(*s));
	uint8_t id[4];
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->mem = mem;
	s->current = -1;
	guest_error_log_init(&s->errors, "fw_cfg");
	put_le32(id, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	r = add(s, FW_CFG_SIGNATURE, NULL, "QEMU", 4);
	if (r == 0)
		r = add(s, FW_CFG_ID, NULL, id, sizeof(id));
	if (r == 0)
		r = add(s, FW_CFG_FILE_DIR, NULL, NULL, 0);
	if (r == 0)
		r = rebuild_directory(s);
	if (r == 0)
		r = io_bus_register(bus, FW_CFG_PORT_BASE, FW_CFG_PORT_LEN, &fw_cfg_ops, s,
				    "fw_cfg");
	if (r < 0) {
		free_items(s);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct fw_cfg *fw_cfg_free(struct fw_cfg *s)
{
	if (!s)
		return NULL;
	(void)io_bus_unregister(s->bus, FW_CFG_PORT_BASE);
	free_items(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}
