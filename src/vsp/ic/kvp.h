/*
 * Key-value pair exchange IC. The host reads the guest's pools (AUTO: host
 * name, OS, addresses, which the guest's hv_kvp_daemon makes up; GUEST:
 * what guest programs wrote) by enumerating them index by index until the
 * guest answers "no more items", and pushes its own items (SET into the
 * EXTERNAL or AUTO_EXTERNAL pool). One transaction at a time.
 *
 * Linux's kernel half only relays to the user-space daemon: without
 * hv_kvp_daemon running, the guest never answers the version request
 * (drivers/hv/hv_kvp.c) and the IC stays "negotiating". Wire format:
 * hvdef/ic_proto.h (struct ic_kvp_msg); strings are UTF-8 here and
 * NUL-terminated UTF-16LE on the wire.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"

struct ic_kvp;

/* Keys at most 255 UTF-16 units, values 1023 (the wire sizes minus the NUL); UTF-8 may need 3x. */
#define IC_KVP_KEY_MAX	 768u
#define IC_KVP_VALUE_MAX 3072u
#define IC_KVP_MAX_ITEMS 128u /* kept per pool */

struct ic_kvp_item {
	unsigned pool; /* enum ic_kvp_pool */
	char key[IC_KVP_KEY_MAX];
	char value[IC_KVP_VALUE_MAX];
};

struct ic_kvp_status {
	const char *state;
	uint32_t version;
	uint64_t refreshes; /* complete enumerations */
	uint64_t sets, set_errors;
	unsigned queued;
};

/* refresh_ns: how often the guest's pools are read again; 0: 10 s. */
int ic_kvp_new(struct vmbus_server *s, uint64_t refresh_ns, struct ic_kvp **ret) must_check;
struct ic_kvp *ic_kvp_free(struct ic_kvp *kvp);
/*
 * Queues a write of key=value into pool (any thread); it is sent once the
 * guest has negotiated. -EINVAL (too long, bad pool), -ENOSPC (queue full).
 */
int ic_kvp_set(struct ic_kvp *kvp, unsigned pool, const char *key, const char *value) must_check;
/* Reads the guest's pools again now. */
void ic_kvp_refresh(struct ic_kvp *kvp);
/* Copies up to max items known from the last enumerations; returns how many. */
unsigned ic_kvp_get_items(struct ic_kvp *kvp, struct ic_kvp_item *out, unsigned max);
void ic_kvp_get_status(struct ic_kvp *kvp, struct ic_kvp_status *st);
