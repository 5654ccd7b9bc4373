/* Fuzz target: the management API's request parser and its typed parameters. */
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "ipc/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req;
	struct api_error err = {0};
	struct json_object *ans, *arr;
	const char *s;
	uint64_t n;
	bool b;

	if (api_request_parse((const char *)data, size, &req, &err) == 0) {
		if ((unsigned)req.call >= API_CALL_COUNT || !req.params)
			__builtin_trap();
		IGNORE_RESULT(api_param_string(&req, "name", false, 256, &s, &err));
		IGNORE_RESULT(
			api_param_u64(&req, "memory_bytes", false, UINT64_MAX >> 1, &n, &err));
		IGNORE_RESULT(api_param_bool(&req, "force", &b, &err));
		IGNORE_RESULT(api_param_string_array(&req, "disks", 64, 1024, &arr, &err));
		ans = api_answer_ok(&req, NULL);
	} else {
		if (!err.code)
			__builtin_trap(); /* every refusal says why */
		ans = api_answer_error(&req, &err);
	}
	json_object_put(ans);
	api_request_fini(&req);
	return 0;
}
