/* Fuzz target: the parser of the service's switch and adapter file (DIR/network.json). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmms/network.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_state st, again;
	char err[512];

	if (!st.adapters) {
		st.adapters = calloc(NET_MAX_ADAPTERS, sizeof(*st.adapters));
		again.adapters = calloc(NET_MAX_ADAPTERS, sizeof(*again.adapters));
		if (!st.adapters || !again.adapters)
			return 0;
	}
	if (net_state_parse((const char *)data, size, &st, err, sizeof(err)) == 0) {
		struct json_object *o = net_state_to_json(&st);
		const char *text = json_object_to_json_string(o);

		/* what we write, we read back */
		if (net_state_parse(text, strlen(text), &again, err, sizeof(err)) != 0 ||
		    again.nswitches != st.nswitches || again.nadapters != st.nadapters)
			__builtin_trap();
		json_object_put(o);
	}
	return 0;
}
