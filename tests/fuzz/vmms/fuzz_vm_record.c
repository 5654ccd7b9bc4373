/* Fuzz target: the parser of the service's VM files (DIR/vms/ID.json). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmms/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_record r;
	char err[256];

	if (vm_record_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		struct json_object *o = vm_record_to_json(&r);
		const char *text = json_object_to_json_string(o);
		struct vm_record again;

		/* what we write, we read back */
		if (vm_record_parse(text, strlen(text), &again, err, sizeof(err)) != 0 ||
		    strcmp(again.id, r.id) || strcmp(again.name, r.name))
			__builtin_trap();
		vm_record_fini(&again);
		json_object_put(o);
		vm_record_fini(&r);
	}
	return 0;
}
