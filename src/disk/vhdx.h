/*
 * VHDX-specific operations beyond struct disk: creating images (fixed,
 * dynamic, differencing). Library code: no printing; errors are -errno plus
 * one line in err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* vhdx_open_file() flag for inspection: read-only, and a log that needs replay is reported
 * (struct disk_image_info.log_needs_replay) instead of refusing the open. */
#define VHDX_OPEN_INSPECT (1u << 30)

struct vhdx_create_params {
	uint64_t size;		       /* bytes; ignored for differencing disks (the parent's) */
	uint32_t block_size;	       /* 0: 32 MiB (2 MiB for differencing disks) */
	uint32_t logical_sector_size;  /* 0: 512 (differencing: the parent's) */
	uint32_t physical_sector_size; /* 0: 4096 */
	bool fixed;		       /* all blocks allocated up front */
	const char *parent;	       /* non-NULL: a differencing disk of this VHDX */
};

/* Creates a new file (refuses to overwrite). */
int vhdx_create(const char *path, const struct vhdx_create_params *p, char *err,
		size_t err_size) must_check;
