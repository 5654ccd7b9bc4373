/*
 * PCI configuration mechanism #1 and bus 0, with its host bridge at
 * 00:00.0. Later devices plug into a slot table. See pci_host.c.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "vid/io_bus.h"

struct pci_host;

#define PCI_DEVFN(dev, fn) ((unsigned)(((dev)&0x1F) << 3 | ((fn)&0x07)))

/*
 * A device function's configuration space. offset is 0..255 and the
 * access (size 1, 2 or 4) never crosses a dword; values are little-endian
 * as on the bus. Called on vCPU threads with the host's lock held, so
 * calls to one host never overlap: do not call pci_host_* from them.
 */
struct pci_device_ops {
	uint32_t (*config_read)(void *opaque, unsigned offset, unsigned size);
	void (*config_write)(void *opaque, unsigned offset, uint32_t value, unsigned size);
};

/* Registers ports PC_PORT_PCI_CONFIG..+7 on bus; the host bridge takes devfn 0. */
int pci_host_new(struct io_bus *bus, struct pci_host **ret) must_check;
/* The same with the 440FX host bridge (8086:1237) and its PAM registers, for SeaBIOS. */
int pci_host_new_i440fx(struct io_bus *bus, struct pci_host **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct pci_host *pci_host_free(struct pci_host *host);

/* Plugs a function into bus 0. -EINVAL for devfn > 255, -EEXIST if taken. */
int pci_host_add_device(struct pci_host *host, unsigned devfn, const struct pci_device_ops *ops,
			void *opaque) must_check;
/* Unplugs it; -ENOENT if the slot is empty or holds the host bridge. */
int pci_host_remove_device(struct pci_host *host, unsigned devfn);

/* Guest mistakes seen (misaligned CONFIG_DATA access, bad size). */
/*
 * Saved state (src/state/): CONFIG_ADDRESS and the host bridge's
 * configuration space. The devices in the slots save their own. load
 * refuses a CONFIG_ADDRESS with bits the register does not hold and a
 * bridge whose read-only bytes differ from this one's (another chipset),
 * naming which; on a refusal nothing changes.
 */
#define PCI_HOST_STATE_VERSION 1u
struct state_out;
struct state_in;
int pci_host_save(struct pci_host *host, struct state_out *out) must_check;
int pci_host_load(struct pci_host *host, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen) must_check;

uint64_t pci_host_guest_errors(const struct pci_host *host);
