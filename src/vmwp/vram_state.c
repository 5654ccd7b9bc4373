/*
 * The synthetic video's VRAM contents as saved state (docs/saved-state.md,
 * sections "video.vram.N"): guest-visible memory outside RAM (the worker's
 * console server owns it, synthvid places it where the guest asks), so the
 * screen of a restored guest is what it was, not black until the guest
 * redraws. One section per 4 MiB of VRAM, each well below
 * STATE_SECTION_MAX, sparse: pages that are zero are not written.
 *
 * Encoding of section N, version 1 (little endian): the chunk's VRAM offset
 * (u64, N * 4 MiB), the number of pages that follow (u32), then per page
 * its index in the chunk (u32, strictly increasing) and its 4096 bytes.
 * Load writes the listed pages into a VRAM that is zero (a new worker's:
 * only the first machine of a worker is restored).
 */
#include "vmwp/vram_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

#define PAGE	    4096u
#define CHUNK_PAGES (VRAM_STATE_CHUNK / PAGE)

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (unsigned i = 0; i < PAGE / sizeof(*q); i++)
		if (q[i])
			return false;
	return true;
}

unsigned vram_state_sections(uint64_t size)
{
	return (unsigned)((size + VRAM_STATE_CHUNK - 1) / VRAM_STATE_CHUNK);
}

int vram_state_save(const uint8_t *vram, uint64_t size, unsigned n, struct state_out *out)
{
	uint64_t off = (uint64_t)n * VRAM_STATE_CHUNK;
	uint32_t count = 0, pages, i;

	if (!vram || off >= size)
		return -EINVAL;
	pages = (uint32_t)MIN((uint64_t)CHUNK_PAGES, (size - off) / PAGE);
	for (i = 0; i < pages; i++)
		count += !page_zero(vram + off + (uint64_t)i * PAGE);
	state_out_u64(out, off);
	state_out_u32(out, count);
	for (i = 0; i < pages; i++) {
		const uint8_t *p = vram + off + (uint64_t)i * PAGE;

		if (page_zero(p))
			continue;
		state_out_u32(out, i);
		state_out_bytes(out, p, PAGE);
	}
	return out->error;
}

int vram_state_load(uint8_t *vram, uint64_t size, unsigned n, uint32_t version, struct state_in *in,
		    char *errbuf, size_t errlen)
{
	uint64_t off = (uint64_t)n * VRAM_STATE_CHUNK, saved_off;
	uint32_t count, pages, i, index;
	uint8_t scratch[PAGE];
	struct state_in scan;
	int64_t last = -1;

	saved_off = state_in_u64(in);
	count = state_in_u32(in);
	if (version != 1 || in->error || !vram || off >= size || saved_off != off) {
		snprintf(errbuf, errlen, "VRAM chunk %u: %s", n,
			 version != 1		? "unknown version"
			 : in->error		? "too short"
			 : !vram || off >= size ? "beyond this VM's VRAM"
						: "its offset is not its number's");
		return -EBADMSG;
	}
	pages = (uint32_t)MIN((uint64_t)CHUNK_PAGES, (size - off) / PAGE);
	if (count > pages) {
		snprintf(errbuf, errlen, "VRAM chunk %u: %u pages, the chunk has %u", n, count,
			 pages);
		return -EBADMSG;
	}
	/* Checked whole on a copy of the cursor before a byte is written: a refusal leaves the
	 * VRAM as it was. */
	scan = *in;
	for (i = 0; i < count; i++) {
		index = state_in_u32(&scan);
		state_in_bytes(&scan, scratch, PAGE);
		if (scan.error || index >= pages || (int64_t)index <= last) {
			snprintf(errbuf, errlen, "VRAM chunk %u: page %u is %s", n, i,
				 scan.error ? "cut short" : "out of order or beyond the chunk");
			return -EBADMSG;
		}
		last = index;
	}
	for (i = 0; i < count; i++) {
		index = state_in_u32(in);
		state_in_bytes(in, vram + off + (uint64_t)index * PAGE, PAGE);
	}
	return in->error ? -EBADMSG : 0;
}

int vram_state_write(struct state_writer *w, const char *prefix, const uint8_t *mem, uint64_t size,
		     char *err, size_t errlen)
{
	char name[STATE_SECTION_NAME_LEN];
	unsigned i, n = vram_state_sections(size);
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		struct state_out out;

		state_out_init(&out);
		r = vram_state_save(mem, size, i, &out);
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		if (r == 0)
			r = state_writer_section_out(w, name, VRAM_STATE_VERSION, &out);
		state_out_fini(&out);
		if (r < 0)
			snprintf(err, errlen, "cannot save section '%s': %s", name, strerror(-r));
	}
	return r;
}

/* Section name (present) into chunk n of mem. */
static int read_chunk(struct state_reader *r, const char *name, unsigned n, uint8_t *mem,
		      uint64_t size, char *why, size_t whylen)
{
	uint32_t version;
	struct state_in in;
	void *data;
	size_t len;
	int ret = state_reader_section(r, name, &version, &data, &len, why, whylen);

	if (ret < 0)
		return ret;
	state_in_init(&in, data, len);
	if (version > VRAM_STATE_VERSION) {
		snprintf(why, whylen, "version %u; this build reads up to %u", version,
			 VRAM_STATE_VERSION);
		ret = -EPROTONOSUPPORT;
	} else {
		ret = vram_state_load(mem, size, n, version, &in, why, whylen);
	}
	if (ret == 0 && state_in_finish(&in) < 0) {
		snprintf(why, whylen, "longer than its pages");
		ret = -EBADMSG;
	}
	free(data);
	return ret;
}

int vram_state_read(struct state_reader *r, const char *prefix, uint8_t *mem, uint64_t size,
		    bool whole, char *err, size_t errlen)
{
	char name[STATE_SECTION_NAME_LEN], why[256];
	unsigned i, n = vram_state_sections(size);
	int ret;

	snprintf(name, sizeof(name), "%s%u", prefix, n);
	if (state_reader_has(r, name)) {
		snprintf(err, errlen,
			 "the saved state has section '%s': more memory than this VM's", name);
		return -ESTALE;
	}
	for (i = 0; whole && i < n; i++) {
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		if (!state_reader_has(r, name)) {
			snprintf(err, errlen, "the saved state has no section '%s'", name);
			return -ESTALE;
		}
	}
	if (whole)
		memset(mem, 0, size);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		if (!state_reader_has(r, name))
			continue;
		ret = read_chunk(r, name, i, mem, size, why, sizeof(why));
		if (ret < 0) {
			snprintf(err, errlen, "section '%s': %s", name, why);
			return ret;
		}
	}
	return 0;
}
