/*
 * What the hv/ fuzz targets share: a small guest memory made once and
 * zeroed for each input, a fake platform (the TSC and the MSI sink are
 * plain counters), and handlers on the connection ids a guest would use
 * that answer back through the SynIC, as VMBus does. Each input builds a
 * new hv, so a run depends on its input only.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "hv/hv.h"
#include "hvdef/tlfs_hypercall.h"
#include "hvdef/tlfs_msr.h"

#define FUZZ_RAM       (64 * 1024) /* 16 pages of guest RAM at GPA 0 */
#define FUZZ_RAM_PAGES 16u
#define FUZZ_MSG_CONN  1u
#define FUZZ_EVT_CONN  0x2001u

struct fuzz_env {
	struct guest_memory *mem;
	uint64_t tsc;
	unsigned msis;
	struct hv *hv;
};

static void fuzz_quiet(void *opaque, enum log_level level, const char *line)
{
}

static int fuzz_msi(void *opaque, uint64_t address, uint32_t data)
{
	struct fuzz_env *e = opaque;

	if ((address & 0xFFF00FFFu) != 0xFEE00000u || data < 16 || data > 255)
		__builtin_trap(); /* only well-formed fixed MSIs with a valid vector leave hv */
	e->msis++;
	return 0;
}

static int fuzz_tsc(void *opaque, unsigned vp, uint64_t *tsc)
{
	struct fuzz_env *e = opaque;

	*tsc = e->tsc;
	return 0;
}

static uint64_t fuzz_runtime(void *opaque, unsigned vp)
{
	return ((struct fuzz_env *)opaque)->tsc / 3;
}

static const struct hv_platform_ops fuzz_ops = {
	.signal_msi = fuzz_msi,
	.read_tsc = fuzz_tsc,
	.vp_runtime_ns = fuzz_runtime,
};

/* The host API fails only in the ways hv.h documents. */
static void fuzz_post(struct hv *hv, unsigned vp, unsigned sint, uint32_t type, const void *payload,
		      size_t len)
{
	int r = hv_synic_post_message(hv, vp, sint, type, payload, len);

	if (r != 0 && r != -EINVAL && r != -ENXIO && r != -ENOBUFS)
		__builtin_trap();
}

static void fuzz_signal(struct hv *hv, unsigned vp, unsigned sint, unsigned flag)
{
	int r = hv_synic_signal_event(hv, vp, sint, flag);

	if (r != 0 && r != -EINVAL && r != -ENXIO)
		__builtin_trap();
}

static uint16_t fuzz_on_message(void *opaque, unsigned vp, uint32_t type, const void *payload,
				uint32_t size)
{
	struct fuzz_env *e = opaque;

	if (size > 240 || type == 0 || (type & 0x80000000u))
		__builtin_trap(); /* hv validated these before calling */
	fuzz_post(e->hv, vp, 2, type, payload, size);
	return size % 3 == 2 ? HV_STATUS_INSUFFICIENT_BUFFERS : HV_STATUS_SUCCESS;
}

static uint16_t fuzz_on_event(void *opaque, unsigned vp, uint32_t connection_id, uint16_t flag)
{
	struct fuzz_env *e = opaque;

	fuzz_signal(e->hv, vp, 2, flag);
	return HV_STATUS_SUCCESS;
}

/* A fresh hv over zeroed memory; 0 or -1. */
static int fuzz_env_init(struct fuzz_env *e, unsigned vps, unsigned queue_depth)
{
	static struct guest_memory *mem;
	struct hv_platform p;
	struct hv_config cfg = {.queue_depth = queue_depth};

	if (!mem) {
		log_set_sink(fuzz_quiet, NULL);
		if (guest_memory_new(FUZZ_RAM, &mem) < 0)
			return -1;
	}
	if (guest_memory_fill(mem, 0, 0, FUZZ_RAM) < 0)
		return -1;
	memset(e, 0, sizeof(*e));
	e->mem = mem;
	p = (struct hv_platform){
		.ops = &fuzz_ops, .opaque = e, .mem = mem, .vp_count = vps, .tsc_hz = 2000000000u};
	if (hv_create(&p, &cfg, &e->hv) < 0)
		return -1;
	if (hv_register_message_handler(e->hv, FUZZ_MSG_CONN, fuzz_on_message, e) < 0 ||
	    hv_register_event_handler(e->hv, FUZZ_EVT_CONN, fuzz_on_event, e) < 0) {
		hv_free(e->hv);
		return -1;
	}
	return 0;
}

static uint64_t fuzz_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}
