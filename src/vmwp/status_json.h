/*
 * The counters of the worker's status answer (docs/control.md) described by tables: a
 * counter is one line {name, where in its stats struct}, and the JSON follows. Used by the
 * VMBus and storage views (vmbus_status.c, storage.c).
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

struct status_counter {
	const char *name; /* the JSON key */
	size_t offset;	  /* in the stats struct */
	uint8_t size;	  /* 4 or 8: an unsigned integer of that size */
};

/* A counter named as its field. */
#define STATUS_COUNTER(type, field)                                                                \
	{                                                                                          \
#field, offsetof(type, field), sizeof(((type *)0)->field)                          \
	}
/* A counter whose JSON key is not its field's name. */
#define STATUS_COUNTER_AS(name, type, field)                                                       \
	{                                                                                          \
		name, offsetof(type, field), sizeof(((type *)0)->field)                            \
	}

/* Every counter of table t (n of them) read from stats, added to o. */
void status_add_counters(struct json_object *o, const void *stats, const struct status_counter *t,
			 size_t n);
void status_add_int(struct json_object *o, const char *key, uint64_t v);
