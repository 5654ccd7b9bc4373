/*
 * Live migration in the worker (docs/migration.md): the source's control
 * command "migrate-send" (pre-copy over a connected stream socket) and the
 * destination's --incoming (the stream read into a new machine).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmwp/machine.h"
#include "vmwp/vm_config.h"

#define MIGRATION_ACK "PRVMACK1" /* the destination's answer once its vCPUs run */

/* What a migration did (the source's status "migration"). */
struct migration_progress {
	bool active, done;
	uint32_t rounds;
	uint64_t bytes;
	uint64_t last_dirty_pages; /* pages dirtied during the last round before the stop */
	uint64_t throttle_pauses;  /* short vCPU pauses taken to converge */
	uint64_t downtime_ms;	   /* vCPUs paused to the destination's ack */
	/* From the last round: what the guest dirtied per second, what the link carried, and
	 * how long the stop would take with that many pages left at that rate. */
	uint64_t dirty_pages_per_s, link_bytes_per_s, expected_downtime_ms;
	uint64_t total_ms;
	char error[256];
};

/*
 * {"command":"migrate-send"} with the connected socket as the first descriptor
 * (SCM_RIGHTS), or "path" (a Unix socket to connect to; not for a jailed
 * worker). A second descriptor (a socket) gets one JSON line per round while
 * the worker sends, written without waiting (a line the reader is not ready
 * for is dropped): {"round","bytes","dirty_pages","dirty_pages_per_s",
 * "link_bytes_per_s","expected_downtime_ms"} (parvis-vmms shows them in move-vm). On the control
 * thread under the worker's lock, m running (or already_paused). Answers {"ok":true,...progress};
 * then *migrated is set, the vCPUs stay paused and the caller ends the machine. Any failure before
 * the destination's ack: VMBus unquiesced, the vCPUs resumed (unless they
 * were paused before), {"ok":false,"error":...}.
 */
void migration_control_send(struct machine *m, const struct vm_config *cfg, bool already_paused,
			    struct json_object *req, const int *fds, unsigned nfds,
			    struct migration_progress *prog, bool *migrated,
			    struct json_object *resp);
struct json_object *migration_progress_json(const struct migration_progress *prog);

/*
 * --incoming: a descriptor number (an inherited connected socket) or the
 * path of a Unix socket to listen on and accept one connection from.
 * Called before the jail; the accepted socket in *fd.
 */
int migration_incoming_open(const char *spec, int *fd, char *err, size_t errlen) must_check;
