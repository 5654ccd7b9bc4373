/*
 * The configuration digest of a saved state (docs/saved-state.md): SHA-256
 * of what shapes the virtual hardware a guest saw, so that a saved state is
 * restored only into a VM with the same hardware. What is host-side only
 * (paths of the kernel, disks, consoles and sockets, the jail, the control
 * socket) is left out: a VM moved to another directory or host restores.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmwp/vm_config.h"

#define CONFIG_DIGEST_BYTES 32u

/*
 * The canonical text of cfg's hardware (one "key=value" per line), for the
 * digest and for a message naming the difference; the caller frees it.
 * NULL if out of memory.
 */
char *config_hardware_text(const struct vm_config *cfg);
/* SHA-256 of config_hardware_text (libgcrypt). 0, or -ENOMEM. */
int config_digest(const struct vm_config *cfg, uint8_t digest[CONFIG_DIGEST_BYTES]) must_check;
/*
 * Names the first hardware line that differs between a saved state's text
 * (file bytes: any bytes, not NUL-terminated) and this VM's, in what
 * ("disk0: this VM has ..., the saved state has none"); false if none does.
 */
bool config_text_difference(const char *saved, size_t saved_len, const char *ours, size_t ours_len,
			    char *what, size_t whatlen);
