/*
 * The worker's network adapters as configured (docs/network.md):
 *   --nic tap=NAME[,mac=MAC][,id=ID][,queues=N][,mac-spoofing=on|off][,connected=on|off]
 *         [,legacy=on]
 *   --nic fd=N[:N2:...],mac=MAC,id=ID[,mac-spoofing=on|off][,connected=on|off][,legacy=on]
 * (repeatable) and the JSON "nics" array
 *   [{"id": ..., "tap": "NAME" | "fds": [N, ...], "mac": "00:15:5d:..",
 *     "mac_spoofing": false, "connected": true, "queues": 1, "legacy": false}].
 * legacy=on makes the adapter the emulated DEC 21140A on PCI (generation 1
 * only, one queue) instead of a synthetic one over VMBus.
 * A TAP name is opened (or created) by the worker before its jail; fds are
 * TAP queues the service opened and the worker inherited.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct json_object;

#define VM_CONFIG_MAX_NICS 8
#define NIC_MAX_QUEUES	   16
#define NIC_ID_MAX	   64

struct nic_config {
	char id[NIC_ID_MAX]; /* "" until given or defaulted ("nic0", "nic1", ...) */
	char *tap;	     /* TAP name, or NULL when fds are given */
	int fds[NIC_MAX_QUEUES];
	unsigned nfds;	 /* inherited queue fds (or, after opening, the TAP's) */
	unsigned queues; /* TAP queues to open by name; default 1 */
	uint8_t mac[6];
	bool has_mac;
	bool mac_spoofing;
	bool connected; /* default true */
	bool legacy;	/* the emulated DEC 21140A (docs/generation1.md), not netvsp */
};

/* "tap=NAME,..." or "fd=N:N2,...". -EINVAL with a message in err. */
int nic_config_parse(const char *spec, struct nic_config *ret, char *err, size_t errlen) must_check;
/* One element of the JSON "nics" array. */
int nic_config_from_json(struct json_object *o, struct nic_config *ret, char *err,
			 size_t errlen) must_check;
void nic_config_fini(struct nic_config *n);
/* "00:15:5d:01:02:03" (either case). 0 or -EINVAL. */
int nic_parse_mac(const char *s, uint8_t mac[6]) must_check;
/*
 * Defaults ids ("nicN") and MACs (00:15:5D:aa:bb:NN, aa:bb per worker, NN
 * the adapter's index: two adapters of a worker never share one), then
 * checks: unique ids and MACs, fd adapters with mac and id. -EINVAL.
 */
int nic_config_check(struct nic_config *nics, unsigned n, uint16_t worker_tag, char *err,
		     size_t errlen) must_check;
