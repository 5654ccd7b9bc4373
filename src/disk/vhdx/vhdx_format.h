/*
 * VHDX on-disk structures, from Microsoft's [MS-VHDX] v20220128 (section
 * numbers in the comments). Everything is little-endian; GUIDs are in the
 * Windows mixed-endian layout (struct guid). No bitfields: flags and packed
 * values are plain integers with the masks below.
 */
#pragma once

#include <stdint.h>

#include "base/guid.h"

#define VHDX_MiB (1024u * 1024u)

/* 2.2: the header section is the first 1 MiB. */
#define VHDX_FILE_ID_OFFSET	0
#define VHDX_HEADER1_OFFSET	(64u * 1024)
#define VHDX_HEADER2_OFFSET	(128u * 1024)
#define VHDX_REGION1_OFFSET	(192u * 1024)
#define VHDX_REGION2_OFFSET	(256u * 1024)
#define VHDX_HEADER_SECTION_END VHDX_MiB

/* 2.2.1 File Type Identifier */
#define VHDX_FILE_SIGNATURE UINT64_C(0x656C696678646876) /* "vhdxfile" */
struct vhdx_file_identifier {
	uint64_t signature;
	uint16_t creator[256]; /* UTF-16LE, informational */
};
_Static_assert(sizeof(struct vhdx_file_identifier) == 520, "MS-VHDX 2.2.1");

/* 2.2.2 Headers: 4 KiB each, CRC-32C over all 4 KiB with checksum = 0. */
#define VHDX_HEADER_SIGNATURE 0x64616568u /* "head" */
#define VHDX_HEADER_SIZE      4096u
struct vhdx_header {
	uint32_t signature;
	uint32_t checksum;
	uint64_t sequence_number;
	struct guid file_write_guid;
	struct guid data_write_guid;
	struct guid log_guid; /* zero: nothing to replay */
	uint16_t log_version; /* 0 */
	uint16_t version;     /* 1 */
	uint32_t log_length;  /* bytes, multiple of 1 MiB */
	uint64_t log_offset;  /* bytes, multiple of 1 MiB, >= 1 MiB */
	uint8_t reserved[4016];
};
_Static_assert(sizeof(struct vhdx_header) == VHDX_HEADER_SIZE, "MS-VHDX 2.2.2");

/* 2.2.3 Region table: 64 KiB, CRC-32C over all 64 KiB with checksum = 0. */
#define VHDX_REGION_SIGNATURE	  0x69676572u /* "regi" */
#define VHDX_REGION_TABLE_SIZE	  (64u * 1024)
#define VHDX_REGION_MAX_ENTRIES	  2047u
#define VHDX_REGION_FLAG_REQUIRED 1u
struct vhdx_region_table_header {
	uint32_t signature;
	uint32_t checksum;
	uint32_t entry_count;
	uint32_t reserved;
};
_Static_assert(sizeof(struct vhdx_region_table_header) == 16, "MS-VHDX 2.2.3.1");

struct vhdx_region_table_entry {
	struct guid guid;
	uint64_t file_offset; /* multiple of 1 MiB, >= 1 MiB */
	uint32_t length;      /* multiple of 1 MiB */
	uint32_t flags;	      /* bit 0: Required */
};
_Static_assert(sizeof(struct vhdx_region_table_entry) == 32, "MS-VHDX 2.2.3.2");

/* 2.2.3.2 Known regions. */
#define VHDX_REGION_BAT                                                                            \
	GUID_INIT(0x2DC27766, 0xF623, 0x4200, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08)
#define VHDX_REGION_METADATA                                                                       \
	GUID_INIT(0x8B7CA206, 0x4790, 0x4B9A, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E)

/* 2.3 The log: 4 KiB sectors in a circular buffer. */
#define VHDX_LOG_SECTOR		 4096u
#define VHDX_LOG_ENTRY_SIGNATURE 0x65676F6Cu /* "loge" */
#define VHDX_LOG_DESC_SIGNATURE	 0x63736564u /* "desc" */
#define VHDX_LOG_ZERO_SIGNATURE	 0x6F72657Au /* "zero" */
#define VHDX_LOG_DATA_SIGNATURE	 0x61746164u /* "data" */

/* 2.3.1.1 Entry header; CRC-32C over the whole entry (EntryLength bytes) with checksum = 0. */
struct vhdx_log_entry_header {
	uint32_t signature;
	uint32_t checksum;
	uint32_t entry_length; /* multiple of 4 KiB */
	uint32_t tail;	       /* log offset of the first entry of this sequence */
	uint64_t sequence_number;
	uint32_t descriptor_count;
	uint32_t reserved;
	struct guid log_guid;
	uint64_t flushed_file_offset;
	uint64_t last_file_offset;
};
_Static_assert(sizeof(struct vhdx_log_entry_header) == 64, "MS-VHDX 2.3.1.1");

/* 2.3.1.2 Zero descriptor and 2.3.1.3 data descriptor (same size, same FileOffset place). */
struct vhdx_log_descriptor {
	uint32_t signature;	  /* "desc" or "zero" */
	uint32_t trailing_bytes;  /* desc: bytes 4092..4095 of the sector; zero: reserved */
	uint64_t leading_bytes;	  /* desc: bytes 0..7 of the sector; zero: ZeroLength */
	uint64_t file_offset;	  /* multiple of 4 KiB */
	uint64_t sequence_number; /* = the entry's */
};
_Static_assert(sizeof(struct vhdx_log_descriptor) == 32, "MS-VHDX 2.3.1.2/2.3.1.3");

/* 2.3.1.4 Data sector: bytes 8..4091 of the target sector between the split sequence number. */
struct vhdx_log_data_sector {
	uint32_t signature; /* "data" */
	uint32_t sequence_high;
	uint8_t data[4084];
	uint32_t sequence_low;
};
_Static_assert(sizeof(struct vhdx_log_data_sector) == VHDX_LOG_SECTOR, "MS-VHDX 2.3.1.4");

/* 2.4 BAT entries: state in bits 0-2, FileOffsetMB in bits 20-63. */
#define VHDX_BAT_STATE_MASK	   UINT64_C(7)
#define VHDX_BAT_OFFSET_SHIFT	   20
#define VHDX_BAT_NOT_PRESENT	   0u /* 2.4.1 payload states */
#define VHDX_BAT_UNDEFINED	   1u
#define VHDX_BAT_ZERO		   2u
#define VHDX_BAT_UNMAPPED	   3u
#define VHDX_BAT_UNMAPPED_OLD	   5u /* the 0.95 draft's UNMAPPED; read as zeroes */
#define VHDX_BAT_FULLY_PRESENT	   6u
#define VHDX_BAT_PARTIALLY_PRESENT 7u
#define VHDX_SB_NOT_PRESENT	   0u /* 2.4.2 sector bitmap states */
#define VHDX_SB_PRESENT		   6u
#define VHDX_SECTORS_PER_BITMAP	   (UINT64_C(1) << 23) /* 2.4: a 1 MiB bitmap block */

/* 2.6.1 Metadata table: 64 KiB at the start of the metadata region. */
#define VHDX_METADATA_SIGNATURE	  UINT64_C(0x617461646174656D) /* "metadata" */
#define VHDX_METADATA_TABLE_SIZE  (64u * 1024)
#define VHDX_METADATA_MAX_ENTRIES 2047u
#define VHDX_METADATA_MAX_ITEM	  VHDX_MiB
#define VHDX_META_IS_USER	  1u
#define VHDX_META_IS_VIRTUAL_DISK 2u
#define VHDX_META_IS_REQUIRED	  4u
struct vhdx_metadata_table_header {
	uint64_t signature;
	uint16_t reserved;
	uint16_t entry_count;
	uint32_t reserved2[5];
};
_Static_assert(sizeof(struct vhdx_metadata_table_header) == 32, "MS-VHDX 2.6.1.1");

struct vhdx_metadata_table_entry {
	struct guid item_id;
	uint32_t offset; /* from the region start, >= 64 KiB (0 only with length 0) */
	uint32_t length; /* <= 1 MiB */
	uint32_t flags;	 /* IsUser, IsVirtualDisk, IsRequired */
	uint32_t reserved;
};
_Static_assert(sizeof(struct vhdx_metadata_table_entry) == 32, "MS-VHDX 2.6.1.2");

/* 2.6.2 Known metadata items. */
#define VHDX_META_FILE_PARAMETERS                                                                  \
	GUID_INIT(0xCAA16737, 0xFA36, 0x4D43, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B)
#define VHDX_META_VIRTUAL_DISK_SIZE                                                                \
	GUID_INIT(0x2FA54224, 0xCD1B, 0x4876, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8)
#define VHDX_META_PAGE83_DATA                                                                      \
	GUID_INIT(0xBECA12AB, 0xB2E6, 0x4523, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46)
#define VHDX_META_LOGICAL_SECTOR_SIZE                                                              \
	GUID_INIT(0x8141BF1D, 0xA96F, 0x4709, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F)
#define VHDX_META_PHYSICAL_SECTOR_SIZE                                                             \
	GUID_INIT(0xCDA348C7, 0x445D, 0x4471, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56)
#define VHDX_META_PARENT_LOCATOR                                                                   \
	GUID_INIT(0xA8D35F2D, 0xB30B, 0x454D, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C)

/* 2.6.2.1 File Parameters */
#define VHDX_PARAM_LEAVE_BLOCKS_ALLOCATED 1u
#define VHDX_PARAM_HAS_PARENT		  2u
struct vhdx_file_parameters {
	uint32_t block_size; /* 1 MiB .. 256 MiB, a power of two */
	uint32_t flags;
};
_Static_assert(sizeof(struct vhdx_file_parameters) == 8, "MS-VHDX 2.6.2.1");

/* 2.6.2.6 Parent locator: header, key/value entries, UTF-16LE strings (offsets from the item). */
#define VHDX_PARENT_LOCATOR_TYPE_VHDX                                                              \
	GUID_INIT(0xB04AEFB7, 0xD19E, 0x4A81, 0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13)
struct vhdx_parent_locator_header {
	struct guid locator_type;
	uint16_t reserved;
	uint16_t key_value_count;
};
_Static_assert(sizeof(struct vhdx_parent_locator_header) == 20, "MS-VHDX 2.6.2.6.1");

struct vhdx_parent_locator_entry {
	uint32_t key_offset;
	uint32_t value_offset;
	uint16_t key_length; /* bytes */
	uint16_t value_length;
};
_Static_assert(sizeof(struct vhdx_parent_locator_entry) == 12, "MS-VHDX 2.6.2.6.2");

/* Limits (2.2, 2.6.2): sizes Parvis accepts. */
#define VHDX_MAX_DISK_SIZE  (UINT64_C(64) << 40) /* 64 TiB */
#define VHDX_MIN_BLOCK_SIZE VHDX_MiB
#define VHDX_MAX_BLOCK_SIZE (256u * VHDX_MiB)
#define VHDX_MAX_LOG_LENGTH (1024u * VHDX_MiB)
