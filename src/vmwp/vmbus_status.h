/* The worker's VMBus as JSON, for the control socket's "status" (docs/control.md). */
#pragma once

#include <json-c/json.h>

#include "vmwp/vmbus_host.h"

/* {"version", "channels": [...], "heartbeat", "shutdown", "timesync", "kvp"}; a new object. */
struct json_object *vmbus_host_status_json(struct vmbus_host *h);
/* "external", "guest", "auto", "auto-external", "auto-internal" -> pool; -1 if unknown. */
int vmbus_kvp_pool_parse(const char *name);
