/*
 * The saved-state file of a partition (docs/saved-state.md): on-disk
 * structures, little-endian, no padding.
 *
 *   offset 0          struct state_file_header
 *   header_size ...   section payloads, in the order they were written; the
 *                     "ram" section starts on a 4 KiB boundary so that its
 *                     pages can be mapped straight from the file
 *   table_offset      section_count x struct state_section_entry
 *
 * The header is written last (a file whose header is still zero is an
 * unfinished save). Guest RAM is sparse: the "ram.index" section lists the
 * extents of non-zero pages (struct state_ram_extent), each pointing into
 * the "ram" section; pages not listed are zero.
 */
#pragma once

#include <stdint.h>

#define STATE_FILE_MAGIC	  "PRVSTATE"
#define STATE_FILE_VERSION	  1u
#define STATE_SECTION_NAME_LEN	  32u /* NUL-padded; at least one NUL */
#define STATE_RAM_PAGE		  4096u
#define STATE_SECTION_RAM	  "ram"
#define STATE_SECTION_RAM_INDEX	  "ram.index"
#define STATE_CONFIG_DIGEST_BYTES 32u /* SHA-256 of the VM's configuration */

struct state_file_header {
	char magic[8];		 /* STATE_FILE_MAGIC, no NUL */
	uint32_t format_version; /* STATE_FILE_VERSION */
	uint32_t header_size;	 /* sizeof(struct state_file_header) */
	uint8_t config_digest[STATE_CONFIG_DIGEST_BYTES];
	uint64_t memory_bytes;	/* guest RAM size of the saved VM */
	uint64_t table_offset;	/* file offset of the section table */
	uint32_t section_count; /* entries in the table */
	uint32_t flags;		/* 0 */
	uint64_t file_size;	/* the whole file: a shorter file is truncated */
};
_Static_assert(sizeof(struct state_file_header) == 80, "state_file_header");

struct state_section_entry {
	char name[STATE_SECTION_NAME_LEN]; /* e.g. "vcpu.0", "kvm.irqchip" */
	uint32_t version;		   /* the section's own format version, >= 1 */
	uint32_t reserved;		   /* 0 */
	uint64_t offset;		   /* file offset of the payload, >= header_size */
	uint64_t length;		   /* payload bytes; offset + length <= table_offset */
};
_Static_assert(sizeof(struct state_section_entry) == 56, "state_section_entry");

/* One run of saved pages: RAM bytes [ram_offset, +length) are at file_offset. */
struct state_ram_extent {
	uint64_t ram_offset;  /* offset in guest RAM (the memfd), page aligned */
	uint64_t length;      /* bytes, page aligned, > 0 */
	uint64_t file_offset; /* page aligned, inside the "ram" section */
};
_Static_assert(sizeof(struct state_ram_extent) == 24, "state_ram_extent");
