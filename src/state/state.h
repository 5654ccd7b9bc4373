/*
 * Saved state: a file of named, versioned sections (state_format.h) and
 * guest RAM stored sparsely. Each layer that has state (vid/'s vCPUs and
 * KVM devices, hv/, emu/, later vmbus/ and vsp/) writes its own sections
 * through a state_writer and reads them back through a state_reader; the
 * payload of a section is encoded with state_out and decoded with state_in,
 * which bounds-check every field.
 *
 * The reader parses file-controlled bytes: every offset, length, count and
 * name is checked against the file before it is used, and each error says
 * what is wrong in errbuf. A reader and writer are used by one thread.
 * Library code: nothing here prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "state/state_format.h"

/* Sections are read whole into memory: no device's state is larger than this. */
#define STATE_SECTION_MAX     (16u << 20)
#define STATE_SECTIONS_MAX    4096u
#define STATE_RAM_EXTENTS_MAX (1u << 24)

/* ---- Section payloads ---- */

/* A growing buffer; the first failure (out of memory) sticks in error. */
struct state_out {
	uint8_t *buf;
	size_t len, cap;
	int error; /* 0 or -ENOMEM / -E2BIG */
};

void state_out_init(struct state_out *out);
void state_out_fini(struct state_out *out);
void state_out_bytes(struct state_out *out, const void *src, size_t len);
void state_out_u8(struct state_out *out, uint8_t v);
void state_out_u32(struct state_out *out, uint32_t v);
void state_out_u64(struct state_out *out, uint64_t v);

/* A cursor over a section's bytes; reading past the end sets error and yields zeros. */
struct state_in {
	const uint8_t *buf;
	size_t len, pos;
	bool error;
};

void state_in_init(struct state_in *in, const void *buf, size_t len);
void state_in_bytes(struct state_in *in, void *dst, size_t len);
uint8_t state_in_u8(struct state_in *in);
uint32_t state_in_u32(struct state_in *in);
uint64_t state_in_u64(struct state_in *in);
/* 0 if every read was in bounds and every byte was consumed, else -EBADMSG. */
int state_in_finish(const struct state_in *in) must_check;

/* ---- Writing a file ---- */

struct state_writer;

/*
 * Starts a state file on fd (opened for writing, empty, seekable). The
 * header is written by state_writer_finish. Errors are negative errno.
 */
int state_writer_new(int fd, const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
		     struct state_writer **ret) must_check;
/* Frees without finishing (the file stays unfinished: its header is zero). NULL is a no-op. */
struct state_writer *state_writer_free(struct state_writer *w);
/* Appends a section. Names are unique, 1..31 printable bytes. */
int state_writer_section(struct state_writer *w, const char *name, uint32_t version,
			 const void *data, size_t len) must_check;
/* A section from a state_out (its error, if any, is returned). */
int state_writer_section_out(struct state_writer *w, const char *name, uint32_t version,
			     const struct state_out *out) must_check;
/*
 * Appends guest RAM (bytes at ram, memory_bytes long) as the "ram" and
 * "ram.index" sections: only non-zero pages are written. ram_fd, if >= 0,
 * is the memfd behind ram: its holes (SEEK_DATA/SEEK_HOLE) are skipped
 * without being read. Once per file.
 */
int state_writer_ram(struct state_writer *w, const void *ram, int ram_fd) must_check;
/*
 * Called while state_writer_ram looks through guest RAM (at the start, every 64 MiB and at the
 * end) with the bytes looked at and the total: a negative return (e.g. -ECANCELED) stops the write
 * with it.
 */
typedef int (*state_writer_progress_fn)(void *opaque, uint64_t done, uint64_t total);
void state_writer_set_progress(struct state_writer *w, state_writer_progress_fn fn, void *opaque);
/* Writes the section table and the header. */
int state_writer_finish(struct state_writer *w) must_check;

/* ---- Reading a file ---- */

struct state_reader;

struct state_file_info {
	uint32_t format_version;
	uint8_t config_digest[STATE_CONFIG_DIGEST_BYTES];
	uint64_t memory_bytes;
	uint32_t section_count;
};

/* Parses and checks the header and the section table of the file on fd (kept open by the caller).
 */
int state_reader_new(int fd, struct state_reader **ret, char *errbuf, size_t errlen) must_check;
struct state_reader *state_reader_free(struct state_reader *r);
const struct state_file_info *state_reader_info(const struct state_reader *r);
/* The i-th section's name, version and length (i < section_count). */
const char *state_reader_section_name(const struct state_reader *r, unsigned i, uint32_t *version,
				      uint64_t *length);
bool state_reader_has(const struct state_reader *r, const char *name);
/*
 * Reads a section whole into a buffer the caller frees. -ENOENT if absent,
 * -EFBIG if longer than STATE_SECTION_MAX; errbuf names the section.
 */
int state_reader_section(struct state_reader *r, const char *name, uint32_t *version, void **data,
			 size_t *len, char *errbuf, size_t errlen) must_check;
/*
 * Checks the "ram.index" extents (inside the "ram" section, inside
 * memory_bytes, sorted, not overlapping, page aligned) and reads the pages
 * into ram (memory_bytes long, zero beforehand). The extent table is kept
 * so that a lazy (userfaultfd) restore can look pages up later.
 */
int state_reader_load_ram(struct state_reader *r, void *ram, char *errbuf,
			  size_t errlen) must_check;
/* Checks the RAM index alone (as state_reader_load_ram does); the number of extents. */
int state_reader_check_ram(struct state_reader *r, uint64_t *ret_pages, char *errbuf,
			   size_t errlen) must_check;
/* The checked extents (host order, sorted) once state_reader_check_ram succeeded; else NULL, 0. */
const struct state_ram_extent *state_reader_ram_extents(const struct state_reader *r,
							size_t *ret_n);
/* The descriptor the reader was made on. */
int state_reader_fd(const struct state_reader *r);

/*
 * Compares a file with the VM that is to restore it: 0, or -ESTALE with
 * errbuf naming what differs (memory size first, then the configuration).
 */
int state_reader_match(const struct state_reader *r,
		       const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
		       char *errbuf, size_t errlen) must_check;

/* ---- The device-state interface ---- */

/*
 * What a device with state provides: one section of its own name and
 * version. save encodes into out; load decodes a section of any version
 * from 1 to the current one (the older ones it still understands) and
 * returns -EBADMSG / -EINVAL for bytes it refuses, naming why in errbuf.
 */
struct state_section_ops {
	const char *name;
	uint32_t version;
	int (*save)(void *opaque, struct state_out *out);
	int (*load)(void *opaque, uint32_t version, struct state_in *in, char *errbuf,
		    size_t errlen);
};

/* Saves one device through its ops as a section of the file. */
int state_save_device(struct state_writer *w, const struct state_section_ops *ops,
		      void *opaque) must_check;
/* Restores one device from its section; -ENOENT if the file has none (errbuf says so). */
int state_load_device(struct state_reader *r, const struct state_section_ops *ops, void *opaque,
		      char *errbuf, size_t errlen) must_check;
