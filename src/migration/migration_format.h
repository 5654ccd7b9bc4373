/*
 * The live-migration stream between two workers (docs/migration.md): a
 * byte stream (a connected socket), little-endian, no padding.
 *
 *   struct migration_header
 *   records: struct migration_record, then `length` payload bytes
 *     PAGES       struct migration_pages + count x 4 KiB (one run of pages)
 *     ZERO_PAGES  struct migration_pages (a run of pages that are zero)
 *     ROUND_END   struct migration_round_end (the pages of one pre-copy round)
 *     DEVICES     a saved-state file image (src/state/state_format.h) with
 *                 every device section as machine_save writes them, without
 *                 "ram"/"ram.index" (RAM came as page records)
 *     END         struct migration_end; nothing follows
 *
 * The device state is not a second encoding: it is the saved-state file's
 * own sections, read back by state_reader.
 */
#pragma once

#include <stdint.h>

#include "state/state_format.h"

#define MIGRATION_MAGIC		"PRVMIGRT"
#define MIGRATION_VERSION	1u
#define MIGRATION_PAGE		4096u
#define MIGRATION_RUN_PAGES_MAX 256u	    /* a PAGES record is at most 1 MiB of pages */
#define MIGRATION_DEVICES_MAX	(64u << 20) /* the DEVICES record's state file image */
#define MIGRATION_ROUNDS_MAX	4096u

struct migration_header {
	char magic[8];					  /* MIGRATION_MAGIC, no NUL */
	uint32_t format_version;			  /* MIGRATION_VERSION */
	uint32_t header_size;				  /* sizeof(struct migration_header) */
	uint8_t config_digest[STATE_CONFIG_DIGEST_BYTES]; /* as the saved state's */
	uint64_t memory_bytes;				  /* guest RAM, page aligned */
	uint32_t flags;					  /* 0 */
	uint32_t reserved;				  /* 0 */
};
_Static_assert(sizeof(struct migration_header) == 64, "migration_header");

enum migration_record_type {
	MIGRATION_REC_PAGES = 1,
	MIGRATION_REC_ZERO_PAGES = 2,
	MIGRATION_REC_ROUND_END = 3,
	MIGRATION_REC_DEVICES = 4,
	MIGRATION_REC_END = 5,
};

struct migration_record {
	uint32_t type;	 /* enum migration_record_type */
	uint32_t flags;	 /* 0 */
	uint64_t length; /* payload bytes after this */
};
_Static_assert(sizeof(struct migration_record) == 16, "migration_record");

struct migration_pages {
	uint64_t first_page; /* guest RAM offset / 4 KiB */
	uint64_t count;	     /* >= 1; PAGES: <= MIGRATION_RUN_PAGES_MAX */
};
_Static_assert(sizeof(struct migration_pages) == 16, "migration_pages");

struct migration_round_end {
	uint32_t round;	   /* 0, 1, 2, ... in order */
	uint32_t reserved; /* 0 */
	uint64_t pages;	   /* page records' pages (PAGES and ZERO_PAGES) in this round */
};
_Static_assert(sizeof(struct migration_round_end) == 16, "migration_round_end");

struct migration_end {
	uint64_t records; /* records before this one */
	uint64_t rounds;  /* ROUND_END records */
};
_Static_assert(sizeof(struct migration_end) == 16, "migration_end");
