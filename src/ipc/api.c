/* The management API's messages; see api.h and docs/api.md. */
#include "ipc/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ipc/jsonline.h"

static const char *const call_names[API_CALL_COUNT] = {
	[API_CALL_NEW_VM] = "new-vm",
	[API_CALL_GET_VM] = "get-vm",
	[API_CALL_START_VM] = "start-vm",
	[API_CALL_STOP_VM] = "stop-vm",
	[API_CALL_RESTART_VM] = "restart-vm",
	[API_CALL_SUSPEND_VM] = "suspend-vm",
	[API_CALL_RESUME_VM] = "resume-vm",
	[API_CALL_REMOVE_VM] = "remove-vm",
	[API_CALL_SET_VM] = "set-vm",
	[API_CALL_ADD_VMHARDDISKDRIVE] = "add-vmharddiskdrive",
	[API_CALL_REMOVE_VMHARDDISKDRIVE] = "remove-vmharddiskdrive",
	[API_CALL_GET_VMINTEGRATIONSERVICE] = "get-vmintegrationservice",
	[API_CALL_GET_VMCONSOLE] = "get-vmconsole",
	[API_CALL_GET_VMHISTORY] = "get-vmhistory",
	[API_CALL_SET_VMPROCESSOR] = "set-vmprocessor",
	[API_CALL_GET_VMPROCESSOR] = "get-vmprocessor",
	[API_CALL_GET_VMHOSTPROCESSOR] = "get-vmhostprocessor",
	[API_CALL_SET_VMMEMORY] = "set-vmmemory",
	[API_CALL_MEASURE_VM] = "measure-vm",
	[API_CALL_NEW_VMSWITCH] = "new-vmswitch",
	[API_CALL_GET_VMSWITCH] = "get-vmswitch",
	[API_CALL_SET_VMSWITCH] = "set-vmswitch",
	[API_CALL_REMOVE_VMSWITCH] = "remove-vmswitch",
	[API_CALL_ADD_VMNETWORKADAPTER] = "add-vmnetworkadapter",
	[API_CALL_GET_VMNETWORKADAPTER] = "get-vmnetworkadapter",
	[API_CALL_CONNECT_VMNETWORKADAPTER] = "connect-vmnetworkadapter",
	[API_CALL_DISCONNECT_VMNETWORKADAPTER] = "disconnect-vmnetworkadapter",
	[API_CALL_SET_VMNETWORKADAPTER] = "set-vmnetworkadapter",
	[API_CALL_REMOVE_VMNETWORKADAPTER] = "remove-vmnetworkadapter",
	[API_CALL_ADD_VMNETWORKADAPTERACL] = "add-vmnetworkadapteracl",
	[API_CALL_GET_VMNETWORKADAPTERACL] = "get-vmnetworkadapteracl",
	[API_CALL_REMOVE_VMNETWORKADAPTERACL] = "remove-vmnetworkadapteracl",
	[API_CALL_SUBSCRIBE] = "subscribe",
	[API_CALL_VERSION] = "version",
	[API_CALL_CONNECT_VM] = "connect-vm",
	[API_CALL_CHECKPOINT_VM] = "checkpoint-vm",
	[API_CALL_GET_VMSNAPSHOT] = "get-vmsnapshot",
	[API_CALL_RESTORE_VMSNAPSHOT] = "restore-vmsnapshot",
	[API_CALL_REMOVE_VMSNAPSHOT] = "remove-vmsnapshot",
	[API_CALL_EXPORT_VM] = "export-vm",
	[API_CALL_IMPORT_VM] = "import-vm",
	[API_CALL_SAVE_VM] = "save-vm",
	[API_CALL_ADD_VMDVDDRIVE] = "add-vmdvddrive",
	[API_CALL_GET_VMDVDDRIVE] = "get-vmdvddrive",
	[API_CALL_SET_VMDVDDRIVE] = "set-vmdvddrive",
	[API_CALL_REMOVE_VMDVDDRIVE] = "remove-vmdvddrive",
	[API_CALL_SET_VMBIOS] = "set-vmbios",
	[API_CALL_GET_VMBIOS] = "get-vmbios",
	[API_CALL_ENABLE_VMMIGRATION] = "enable-vmmigration",
	[API_CALL_DISABLE_VMMIGRATION] = "disable-vmmigration",
	[API_CALL_GET_VMHOST] = "get-vmhost",
	[API_CALL_MOVE_VM] = "move-vm",
};

const char *api_call_name(enum api_call call)
{
	return (unsigned)call < API_CALL_COUNT ? call_names[call] : NULL;
}

int api_call_from_name(const char *name)
{
	int i;

	for (i = 0; i < API_CALL_COUNT; i++)
		if (!strcmp(call_names[i], name))
			return i;
	return -1;
}

void api_error_set(struct api_error *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

int api_request_parse(const char *line, size_t len, struct api_request *req, struct api_error *err)
{
	struct json_object *root, *v;
	const char *name;
	int call;

	*req = (struct api_request){0};
	root = jsonline_parse_object(line, len);
	if (!root) {
		api_error_set(err, API_ERR_BAD_REQUEST, "the request is not one JSON object");
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "id", &v)) {
		if (!json_object_is_type(v, json_type_int)) {
			api_error_set(err, API_ERR_BAD_REQUEST, "\"id\" must be an integer");
			goto fail;
		}
		req->has_id = true;
		req->id = json_object_get_int64(v);
	}
	if (!json_object_object_get_ex(root, "api", &v) || !json_object_is_type(v, json_type_int)) {
		api_error_set(err, API_ERR_BAD_REQUEST,
			      "\"api\" (the protocol version, %d) is missing or not an integer",
			      API_VERSION);
		goto fail;
	}
	if (json_object_get_int64(v) != API_VERSION) {
		api_error_set(err, API_ERR_VERSION,
			      "API version %lld is not supported; this service speaks version %d",
			      (long long)json_object_get_int64(v), API_VERSION);
		goto fail;
	}
	if (!json_object_object_get_ex(root, "call", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		api_error_set(err, API_ERR_BAD_REQUEST, "\"call\" is missing or not a string");
		goto fail;
	}
	name = json_object_get_string(v);
	call = api_call_from_name(name);
	if (call < 0) {
		api_error_set(err, API_ERR_UNKNOWN_CALL, "unknown call \"%.64s\" (see docs/api.md)",
			      name);
		goto fail;
	}
	req->call = (enum api_call)call;
	if (json_object_object_get_ex(root, "params", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object)) {
			api_error_set(err, API_ERR_BAD_REQUEST, "\"params\" must be an object");
			goto fail;
		}
		req->params = json_object_get(v);
	} else {
		req->params = json_object_new_object();
		if (!req->params) {
			api_error_set(err, API_ERR_HOST, "out of memory");
			goto fail;
		}
	}
	json_object_put(root);
	return 0;
fail:
	json_object_put(root);
	return -EINVAL;
}

void api_request_fini(struct api_request *req)
{
	json_object_put(req->params);
	req->params = NULL;
}

static struct json_object *param(const struct api_request *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req->params, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static int missing(const char *key, bool required, struct api_error *err)
{
	if (!required)
		return 1;
	api_error_set(err, API_ERR_BAD_REQUEST, "parameter \"%s\" is missing", key);
	return -EINVAL;
}

int api_param_string(const struct api_request *req, const char *key, bool required, size_t max_len,
		     const char **value, struct api_error *err)
{
	struct json_object *v = param(req, key);

	if (!v)
		return missing(key, required, err);
	if (!json_object_is_type(v, json_type_string)) {
		api_error_set(err, API_ERR_BAD_REQUEST, "parameter \"%s\" must be a string", key);
		return -EINVAL;
	}
	if ((size_t)json_object_get_string_len(v) > max_len ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		api_error_set(err, API_ERR_INVALID,
			      "parameter \"%s\" is longer than %zu bytes or contains a NUL", key,
			      max_len);
		return -EINVAL;
	}
	*value = json_object_get_string(v);
	return 0;
}

int api_param_u64(const struct api_request *req, const char *key, bool required, uint64_t max,
		  uint64_t *value, struct api_error *err)
{
	struct json_object *v = param(req, key);
	int64_t n;

	if (!v)
		return missing(key, required, err);
	if (!json_object_is_type(v, json_type_int)) {
		api_error_set(err, API_ERR_BAD_REQUEST, "parameter \"%s\" must be an integer", key);
		return -EINVAL;
	}
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > max) {
		api_error_set(err, API_ERR_INVALID,
			      "parameter \"%s\": %lld is not between 0 and %llu", key, (long long)n,
			      (unsigned long long)max);
		return -EINVAL;
	}
	*value = (uint64_t)n;
	return 0;
}

int api_param_bool(const struct api_request *req, const char *key, bool *value,
		   struct api_error *err)
{
	struct json_object *v = param(req, key);

	if (!v)
		return 1;
	if (!json_object_is_type(v, json_type_boolean)) {
		api_error_set(err, API_ERR_BAD_REQUEST, "parameter \"%s\" must be true or false",
			      key);
		return -EINVAL;
	}
	*value = json_object_get_boolean(v);
	return 0;
}

int api_param_string_array(const struct api_request *req, const char *key, size_t max_items,
			   size_t max_len, struct json_object **value, struct api_error *err)
{
	struct json_object *v = param(req, key);
	size_t i, n;

	if (!v)
		return 1;
	if (!json_object_is_type(v, json_type_array)) {
		api_error_set(err, API_ERR_BAD_REQUEST, "parameter \"%s\" must be an array", key);
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > max_items) {
		api_error_set(err, API_ERR_INVALID, "parameter \"%s\": more than %zu items", key,
			      max_items);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string) ||
		    (size_t)json_object_get_string_len(e) > max_len ||
		    strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e)) {
			api_error_set(err, API_ERR_INVALID,
				      "parameter \"%s\": item %zu is not a string of at most %zu "
				      "bytes",
				      key, i, max_len);
			return -EINVAL;
		}
	}
	*value = v;
	return 0;
}

static struct json_object *answer(const struct api_request *req, bool ok)
{
	struct json_object *a = json_object_new_object();

	if (!a)
		return NULL;
	json_object_object_add(a, "id", req && req->has_id ? json_object_new_int64(req->id) : NULL);
	json_object_object_add(a, "ok", json_object_new_boolean(ok));
	return a;
}

struct json_object *api_answer_ok(const struct api_request *req, struct json_object *result)
{
	struct json_object *a = answer(req, true);

	if (!a) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(a, "result", result ? result : json_object_new_object());
	return a;
}

struct json_object *api_answer_error(const struct api_request *req, const struct api_error *err)
{
	struct json_object *a = answer(req, false), *e = json_object_new_object();

	if (!a || !e) {
		json_object_put(a);
		json_object_put(e);
		return NULL;
	}
	json_object_object_add(e, "code",
			       json_object_new_string(err->code ? err->code : API_ERR_HOST));
	json_object_object_add(e, "message", json_object_new_string(err->message));
	json_object_object_add(a, "error", e);
	return a;
}

struct json_object *api_request_new(int64_t id, const char *call, struct json_object *params)
{
	struct json_object *r = json_object_new_object();

	if (!r) {
		json_object_put(params);
		return NULL;
	}
	json_object_object_add(r, "api", json_object_new_int(API_VERSION));
	json_object_object_add(r, "id", json_object_new_int64(id));
	json_object_object_add(r, "call", json_object_new_string(call));
	json_object_object_add(r, "params", params ? params : json_object_new_object());
	return r;
}
