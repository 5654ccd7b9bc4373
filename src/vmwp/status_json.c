/* The status answer's counter tables (status_json.h). */
#include "vmwp/status_json.h"

#include <string.h>

void status_add_int(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

void status_add_counters(struct json_object *o, const void *stats, const struct status_counter *t,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)stats + t[i].offset;
		uint64_t v = 0;

		if (t[i].size == sizeof(uint64_t)) {
			memcpy(&v, p, sizeof(v));
		} else {
			uint32_t v32;

			memcpy(&v32, p, sizeof(v32));
			v = v32;
		}
		status_add_int(o, t[i].name, v);
	}
}
