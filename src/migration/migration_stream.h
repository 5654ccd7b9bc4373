/*
 * Writing and reading the live-migration stream (migration_format.h;
 * docs/migration.md).
 *
 * The writer sends to a connected stream descriptor (a socket, blocking)
 * and counts what it sent. The reader takes a peer's bytes: every length,
 * count, page number and order is checked before it is used; pages land
 * only inside the RAM buffer it was given; the DEVICES record is kept in a
 * memory file and opened with state_reader (its own checks), and must
 * match the header's digest and memory size. Each error says what is
 * wrong in errbuf. A writer or reader is used by one thread.
 * Library code: nothing here prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "migration/migration_format.h"

struct state_reader;

/* ---- The sending side ---- */

struct migration_writer {
	int fd;
	uint64_t memory_bytes;
	uint64_t bytes;	  /* sent so far, header included */
	uint64_t records; /* records sent */
	uint32_t rounds;  /* ROUND_END records sent */
	uint64_t round_pages;
};

/* Writes the header. Errors are negative errno (-EPIPE: the peer is gone). */
int migration_writer_start(struct migration_writer *w, int fd,
			   const uint8_t digest[STATE_CONFIG_DIGEST_BYTES],
			   uint64_t memory_bytes) must_check;
/*
 * Sends pages [first, first + count) of ram (memory_bytes long): zero pages
 * as ZERO_PAGES runs, the others as PAGES runs. -EINVAL outside memory.
 */
int migration_writer_pages(struct migration_writer *w, const void *ram, uint64_t first,
			   uint64_t count) must_check;
/* Sends pages [first, first + count) as zero without reading them (the memfd's holes). */
int migration_writer_zero_pages(struct migration_writer *w, uint64_t first,
				uint64_t count) must_check;
/* Ends a round (the pages sent since the last one). */
int migration_writer_round_end(struct migration_writer *w) must_check;
/* Sends the device state: a saved-state file image of len bytes without RAM. */
int migration_writer_devices(struct migration_writer *w, const void *image, size_t len) must_check;
int migration_writer_end(struct migration_writer *w) must_check;

/* ---- The receiving side ---- */

struct migration_reader;

/* What has arrived, for progress and tests. */
struct migration_reader_stats {
	uint64_t bytes;
	uint64_t records;
	uint64_t pages;	     /* PAGES records' pages */
	uint64_t zero_pages; /* ZERO_PAGES records' pages */
	uint32_t rounds;
};

/*
 * Reads and checks the header from fd: the magic, the format version (a
 * newer one is refused by name), the header size, the flags. The caller
 * compares the digest and memory size with migration_reader_match.
 */
int migration_reader_new(int fd, struct migration_reader **ret, char *errbuf,
			 size_t errlen) must_check;
struct migration_reader *migration_reader_free(struct migration_reader *r);
const struct migration_header *migration_reader_header(const struct migration_reader *r);
/* 0, or -ESTALE naming what differs (memory size, then the configuration digest). */
int migration_reader_match(const struct migration_reader *r,
			   const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
			   char *errbuf, size_t errlen) must_check;
/*
 * Reads records until END into ram (the header's memory_bytes long, zero
 * beforehand: a zero run clears only the pages this stream wrote): page
 * records write their pages (ZERO_PAGES clears them), the DEVICES record is
 * checked and kept; then migration_reader_devices is a state_reader over
 * the device state, owned by r. Any error (truncated, corrupt, out of
 * order, outside memory, device state that does not match the header):
 * negative errno, errbuf says what; ram may hold some pages then, nothing
 * else changed.
 */
int migration_reader_run(struct migration_reader *r, void *ram, char *errbuf,
			 size_t errlen) must_check;
/* After a successful run: the device state (a saved-state reader without RAM). */
struct state_reader *migration_reader_devices(const struct migration_reader *r);
const struct migration_reader_stats *migration_reader_stats(const struct migration_reader *r);
