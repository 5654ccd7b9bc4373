/*
 * Shutdown IC: the host asks the guest to power off or restart, with a
 * reason. Linux's hv_utils answers at once and then runs
 * orderly_poweroff(true) or orderly_reboot() (drivers/hv/hv_util.c): they
 * start /sbin/poweroff or /sbin/reboot and, if that program cannot be
 * started, power off or restart from the kernel (kernel/reboot.c); the
 * force flag is sent but Linux always behaves as if it were set. Wire
 * format: hvdef/ic_proto.h (struct ic_shutdown_msg).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"

struct ic_shutdown;

enum ic_shutdown_action {
	IC_SHUTDOWN_POWER_OFF,
	IC_SHUTDOWN_RESTART,
};

struct ic_shutdown_status {
	const char *state; /* ic_state_name() */
	uint32_t version;
	bool pending; /* a request waits to be sent or answered */
	uint64_t requests_sent, accepted, refused;
	uint32_t last_status; /* the guest's answer to the latest request */
};

int ic_shutdown_new(struct vmbus_server *s, struct ic_shutdown **ret) must_check;
struct ic_shutdown *ic_shutdown_free(struct ic_shutdown *sd);
/* True once the guest has negotiated: a request can be delivered. */
bool ic_shutdown_ready(struct ic_shutdown *sd);
/*
 * Asks the guest (any thread). The reason (UTF-8, at most 1000 characters
 * kept) travels as UTF-16LE in display_message. 0; -ENOTCONN (not
 * negotiated), -EBUSY (a request is in flight).
 */
int ic_shutdown_request(struct ic_shutdown *sd, enum ic_shutdown_action action, bool force,
			const char *reason) must_check;
void ic_shutdown_get_status(struct ic_shutdown *sd, struct ic_shutdown_status *st);
