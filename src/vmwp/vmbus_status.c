/* JSON views of the worker's VMBus (vmbus_status.h). */
#include "vmwp/vmbus_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "vmwp/status_json.h"
#include "hvdef/ic_proto.h"

static const char *const pool_names[IC_KVP_POOL_COUNT] = {"external", "guest", "auto",
							  "auto-external", "auto-internal"};

int vmbus_kvp_pool_parse(const char *name)
{
	unsigned i;

	for (i = 0; name && i < IC_KVP_POOL_COUNT; i++)
		if (!strcmp(name, pool_names[i]))
			return (int)i;
	return -1;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* A channel's counters, in the order the status lists them (docs/control.md). */
static const struct status_counter channel_counters[] = {
	STATUS_COUNTER(struct vmbus_channel_stats, packets_in),
	STATUS_COUNTER(struct vmbus_channel_stats, packets_out),
	STATUS_COUNTER(struct vmbus_channel_stats, signals_in),
	STATUS_COUNTER_AS("interrupts_out", struct vmbus_channel_stats, signals_out),
	STATUS_COUNTER(struct vmbus_channel_stats, ring_full),
	STATUS_COUNTER(struct vmbus_channel_stats, busy),
	STATUS_COUNTER(struct vmbus_channel_stats, polls),
	STATUS_COUNTER(struct vmbus_channel_stats, bad_packets),
};

/* The bus's own counters. */
static const struct status_counter server_counters[] = {
	STATUS_COUNTER(struct vmbus_server_stats, messages),
	STATUS_COUNTER(struct vmbus_server_stats, bad_messages),
	STATUS_COUNTER(struct vmbus_server_stats, queue_full),
	STATUS_COUNTER(struct vmbus_server_stats, gpadl_errors),
	STATUS_COUNTER(struct vmbus_server_stats, open_errors),
	STATUS_COUNTER(struct vmbus_server_stats, connects),
	STATUS_COUNTER(struct vmbus_server_stats, unloads),
};

static void add_version(struct json_object *o, const char *k, uint32_t v)
{
	char buf[16];

	if (!v) {
		json_object_object_add(o, k, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%u.%u", v >> 16, v & 0xFFFF);
	add_str(o, k, buf);
}

static void add_channel(void *opaque, struct vmbus_channel *ch)
{
	struct json_object *o = json_object_new_object();
	struct vmbus_channel_stats st;

	vmbus_channel_get_stats(ch, &st);
	add_str(o, "name", vmbus_channel_name(ch));
	status_add_int(o, "relid", vmbus_channel_relid(ch));
	add_str(o, "state", vmbus_channel_state_name(vmbus_channel_state(ch)));
	status_add_counters(o, &st, channel_counters, ARRAY_SIZE(channel_counters));
	json_object_array_add(opaque, o);
}

/* Seconds ago, as a number with millisecond precision, or null. */
static void add_age(struct json_object *o, const char *k, uint64_t then_ns)
{
	if (!then_ns) {
		json_object_object_add(o, k, NULL);
		return;
	}
	json_object_object_add(
		o, k, json_object_new_double((double)(time_monotonic_ns() - then_ns) / 1e9));
}

struct json_object *vmbus_host_status_json(struct vmbus_host *h)
{
	struct json_object *root = json_object_new_object(), *chans = json_object_new_array(), *o;
	struct vmbus_server_stats ss;
	struct ic_heartbeat_status hb;
	struct ic_shutdown_status sd;
	struct ic_timesync_status ts;
	struct ic_kvp_status ks;
	struct ic_kvp_item *items;
	unsigned n, i;

	add_version(root, "version", vmbus_server_version(vmbus_host_server(h)));
	vmbus_server_for_each_channel(vmbus_host_server(h), add_channel, chans);
	json_object_object_add(root, "channels", chans);
	vmbus_server_get_stats(vmbus_host_server(h), &ss);
	o = json_object_new_object();
	status_add_counters(o, &ss, server_counters, ARRAY_SIZE(server_counters));
	json_object_object_add(root, "counters", o);

	ic_heartbeat_get_status(vmbus_host_heartbeat(h), &hb);
	o = json_object_new_object();
	add_str(o, "state", hb.state);
	add_version(o, "version", hb.version);
	json_object_object_add(o, "alive", json_object_new_boolean(hb.alive));
	add_age(o, "alive_since_s_ago", hb.first_ns);
	add_age(o, "last_seen_s_ago", hb.last_ns);
	status_add_int(o, "answers", hb.answers);
	json_object_object_add(root, "heartbeat", o);

	ic_shutdown_get_status(vmbus_host_shutdown(h), &sd);
	o = json_object_new_object();
	add_str(o, "state", sd.state);
	add_version(o, "version", sd.version);
	json_object_object_add(o, "pending", json_object_new_boolean(sd.pending));
	status_add_int(o, "accepted", sd.accepted);
	status_add_int(o, "refused", sd.refused);
	json_object_object_add(root, "shutdown", o);

	ic_timesync_get_status(vmbus_host_timesync(h), &ts);
	o = json_object_new_object();
	add_str(o, "state", ts.state);
	add_version(o, "version", ts.version);
	status_add_int(o, "syncs", ts.syncs);
	status_add_int(o, "samples", ts.samples);
	json_object_object_add(root, "timesync", o);

	ic_kvp_get_status(vmbus_host_kvp(h), &ks);
	o = json_object_new_object();
	add_str(o, "state", ks.state);
	add_version(o, "version", ks.version);
	status_add_int(o, "refreshes", ks.refreshes);
	status_add_int(o, "sets", ks.sets);
	items = calloc(2 * IC_KVP_MAX_ITEMS, sizeof(*items));
	n = items ? ic_kvp_get_items(vmbus_host_kvp(h), items, 2 * IC_KVP_MAX_ITEMS) : 0;
	{
		struct json_object *arr = json_object_new_array();

		for (i = 0; i < n; i++) {
			struct json_object *it = json_object_new_object();

			add_str(it, "pool",
				items[i].pool < IC_KVP_POOL_COUNT ? pool_names[items[i].pool]
								  : "?");
			add_str(it, "key", items[i].key);
			add_str(it, "value", items[i].value);
			json_object_array_add(arr, it);
		}
		json_object_object_add(o, "items", arr);
	}
	free(items);
	json_object_object_add(root, "kvp", o);
	return root;
}
