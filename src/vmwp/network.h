/*
 * The worker's network: one synthetic adapter (netvsp) per configured NIC
 * for one boot, over the TAP queues the worker holds for its whole life
 * (each boot's adapters get duplicates), plus adapters hot-added through
 * the control socket (not kept for the next boot), removed, plugged in
 * and out. Built after the VMBus host, freed before it. Docs:
 * docs/network.md.
 */
#pragma once

#include <json-c/json.h>

#include "base/compiler.h"
#include "boot/aml.h"
#include "emu/pci_host.h"
#include "vid/guest_memory.h"
#include "vid/partition.h"
#include "vmbus/vmbus.h"
#include "vmwp/nic_config.h"

struct network;
struct dec21140;

/*
 * Creates the synthetic adapters of nics (their fds are the worker's: duplicated
 * here); the legacy ones (nic->legacy) wait for network_attach_legacy().
 */
int network_new(struct vmbus_server *server, struct guest_memory *mem, unsigned vcpus,
		const struct nic_config *nics, unsigned n, struct network **ret, char *err,
		size_t errlen) must_check;
struct network *network_free(struct network *net);

/*
 * Generation 1: plugs the legacy adapters of nics (DEC 21140A, emu/dec21140/) into
 * the PCI bus, at 00:0a.0 onwards, each on its own PCI interrupt line (GSI 16 on).
 * Call once, after the PCI host exists; network_detach_legacy() before it goes.
 * quiesced (a restore): they take no frame until dec21140_unquiesce (dec21140.h).
 */
int network_attach_legacy(struct network *net, struct pci_host *pci, struct partition *p,
			  const struct nic_config *nics, unsigned n, bool quiesced, char *err,
			  size_t errlen) must_check;
void network_detach_legacy(struct network *net);
/*
 * The legacy adapter of index k (its PCI slot 00:(0a+k).0; the k-th with legacy set in the
 * configuration), or NULL past the last (or net NULL): the saved state's "dec21140.k". The
 * adapters live until network_detach_legacy(). Any thread.
 */
struct dec21140 *network_legacy(struct network *net, unsigned k);
/* The ACPI _PRT entries of the legacy adapters (a DSDT contributor; NULL opaque: none). */
void network_legacy_dsdt(struct aml *aml, void *opaque);

/*
 * Hot add of nic (its fds: prepared TAP queues, owned by the network from
 * here on, also on failure). The guest sees a new VMBus offer. Any thread.
 * -errno with a message in err (-EEXIST id or MAC taken, -ENOSPC).
 */
int network_add(struct network *net, struct nic_config *nic, char *err, size_t errlen) must_check;
/* Hot remove: the channel is rescinded. -ENOENT; -EPERM for a legacy adapter. Any thread. */
int network_remove(struct network *net, const char *id) must_check;
/* Cable and port settings; a NULL pointer leaves that setting. -ENOENT. Any thread. */
int network_set(struct network *net, const char *id, const bool *connected,
		const bool *mac_spoofing) must_check;
/* The MAC hot-added adapters get when none is given (00:15:5D, the worker's tag, an index). */
void network_default_mac(struct network *net, uint16_t worker_tag, uint8_t mac[6]);

/* [{"id", "mac", "connected", "state", ...}] (docs/control.md). */
struct json_object *network_status_json(struct network *net);
