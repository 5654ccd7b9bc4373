/*
 * QEMU's firmware configuration device (fw_cfg), the interface through
 * which SeaBIOS learns the machine: RAM map, processors, boot order,
 * ACPI tables. Ports 0x510-0x51B; items and files are given by the host
 * before the vCPUs start. See fw_cfg.c; wire formats in fw_cfg_format.h.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"
#include "vid/io_bus.h"

struct fw_cfg;

/* At most this many items (fixed ones and files) and this many bytes of them in all. */
#define FW_CFG_MAX_ITEMS 64u
#define FW_CFG_MAX_BYTES (16u << 20)

/*
 * Registers the ports on bus; DMA transfers go to mem. The signature and
 * the ID (traditional and DMA interfaces) and an empty file directory
 * exist from the start.
 */
int fw_cfg_new(struct io_bus *bus, struct guest_memory *mem, struct fw_cfg **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct fw_cfg *fw_cfg_free(struct fw_cfg *cfg);

/*
 * An item at a fixed selector (FW_CFG_RAM_SIZE, ...), copied. -EEXIST if the
 * selector is taken, -EINVAL for a selector in the file range or with the
 * write bit, -ENOSPC past the limits above.
 */
int fw_cfg_add_item(struct fw_cfg *cfg, uint16_t selector, const void *data, size_t len) must_check;
/* A named file (at most 55 bytes of name), copied, listed in the directory. -EEXIST on a name. */
int fw_cfg_add_file(struct fw_cfg *cfg, const char *name, const void *data, size_t len) must_check;

/*
 * Saved state, section "fw_cfg" (docs/saved-state.md): the selection, the offset in the selected
 * item and the DMA address register. The items are not in it: the restoring worker adds the same
 * ones from the configuration first; load refuses (-EBADMSG, errbuf names the field) a selection
 * that is not an item of equal length and contents here, or an offset past its end.
 */
#define FW_CFG_STATE_VERSION 1u
struct state_out;
struct state_in;
int fw_cfg_save(struct fw_cfg *cfg, struct state_out *out) must_check;
int fw_cfg_load(struct fw_cfg *cfg, uint32_t version, struct state_in *in, char *errbuf,
		size_t errlen) must_check;

/* Guest mistakes seen (bad access sizes, DMA descriptors or buffers outside RAM, writes). */
uint64_t fw_cfg_guest_errors(const struct fw_cfg *cfg);
