/*
 * The management API's messages (docs/api.md), shared by parvis-vmms and
 * the parvis command: one JSON object per line on a Unix socket.
 *
 *   request:  {"api":1, "id":7, "call":"start-vm", "params":{"name":"web"}}
 *   answer:   {"id":7, "ok":true, "result":{...}}
 *          or {"id":7, "ok":false, "error":{"code":"not-found", "message":"..."}}
 *   event:    {"event":"state-changed", ...}   (after a "subscribe" call)
 *
 * api_request_parse() reads bytes from any local client: it is fuzzed
 * (tests/fuzz/ipc, target api_request).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define API_VERSION    1
#define API_LINE_MAX   (64 * 1024) /* a request longer than this drops the client */
#define API_ANSWER_MAX (4 * 1024 * 1024)

enum api_call {
	API_CALL_NEW_VM,
	API_CALL_GET_VM,
	API_CALL_START_VM,
	API_CALL_STOP_VM,
	API_CALL_RESTART_VM,
	API_CALL_SUSPEND_VM,
	API_CALL_RESUME_VM,
	API_CALL_REMOVE_VM,
	API_CALL_SET_VM,
	API_CALL_ADD_VMHARDDISKDRIVE,
	API_CALL_REMOVE_VMHARDDISKDRIVE,
	API_CALL_GET_VMINTEGRATIONSERVICE,
	API_CALL_GET_VMCONSOLE,
	API_CALL_GET_VMHISTORY,
	API_CALL_SET_VMPROCESSOR,
	API_CALL_GET_VMPROCESSOR,
	API_CALL_GET_VMHOSTPROCESSOR,
	API_CALL_SET_VMMEMORY,
	API_CALL_MEASURE_VM,
	API_CALL_NEW_VMSWITCH,
	API_CALL_GET_VMSWITCH,
	API_CALL_SET_VMSWITCH,
	API_CALL_REMOVE_VMSWITCH,
	API_CALL_ADD_VMNETWORKADAPTER,
	API_CALL_GET_VMNETWORKADAPTER,
	API_CALL_CONNECT_VMNETWORKADAPTER,
	API_CALL_DISCONNECT_VMNETWORKADAPTER,
	API_CALL_SET_VMNETWORKADAPTER,
	API_CALL_REMOVE_VMNETWORKADAPTER,
	API_CALL_ADD_VMNETWORKADAPTERACL,
	API_CALL_GET_VMNETWORKADAPTERACL,
	API_CALL_REMOVE_VMNETWORKADAPTERACL,
	API_CALL_SUBSCRIBE,
	API_CALL_VERSION,
	API_CALL_CONNECT_VM, /* the screen (docs/console.md): its socket, a connection, a web URL */
	/* Checkpoints, export and import (docs/checkpoints.md). */
	API_CALL_CHECKPOINT_VM,
	API_CALL_GET_VMSNAPSHOT,
	API_CALL_RESTORE_VMSNAPSHOT,
	API_CALL_REMOVE_VMSNAPSHOT,
	API_CALL_EXPORT_VM,
	API_CALL_IMPORT_VM,
	API_CALL_SAVE_VM,
	/* Generation 1 (docs/generation1.md): DVD drives on IDE, the BIOS's startup order. */
	API_CALL_ADD_VMDVDDRIVE,
	API_CALL_GET_VMDVDDRIVE,
	API_CALL_SET_VMDVDDRIVE,
	API_CALL_REMOVE_VMDVDDRIVE,
	API_CALL_SET_VMBIOS,
	API_CALL_GET_VMBIOS,
	/* Live migration between hosts (docs/migration.md). */
	API_CALL_ENABLE_VMMIGRATION,
	API_CALL_DISABLE_VMMIGRATION,
	API_CALL_GET_VMHOST,
	API_CALL_MOVE_VM,
	API_CALL_COUNT,
};

/* The call's name on the wire ("start-vm"), or NULL. */
const char *api_call_name(enum api_call call);
/* -1 if unknown. */
int api_call_from_name(const char *name);

/* Error codes on the wire (docs/api.md lists them). */
#define API_ERR_BAD_REQUEST  "bad-request"	   /* not JSON, missing or mistyped member */
#define API_ERR_VERSION	     "unsupported-version" /* "api" is not API_VERSION */
#define API_ERR_UNKNOWN_CALL "unknown-call"
#define API_ERR_INVALID	     "invalid-argument" /* a parameter's value is wrong */
#define API_ERR_NOT_FOUND    "not-found"	/* no such VM or disk */
#define API_ERR_EXISTS	     "already-exists"
#define API_ERR_STATE	     "invalid-state" /* not allowed in the VM's state */
#define API_ERR_IN_USE	     "in-use"	     /* a disk attached to another running VM */
#define API_ERR_TIMEOUT	     "timeout"
#define API_ERR_WORKER	     "worker-error"	 /* the worker refused or failed */
#define API_ERR_HOST	     "host-error"	 /* the service could not do it */
#define API_ERR_DENIED	     "permission-denied" /* the caller may not (docs/security.md) */

struct api_error {
	const char *code; /* one of API_ERR_* */
	char message[512];
};

void api_error_set(struct api_error *e, const char *code, const char *fmt, ...) printf_like(3, 4);

struct api_request {
	bool has_id;
	int64_t id;
	enum api_call call;
	struct json_object *params; /* always an object (empty if absent); owned */
};

/*
 * Parses one request line. On success fills req (free with
 * api_request_fini) and returns 0; else -EINVAL with err set. If the line
 * had a usable "id", req->has_id/id are set even on failure, so that the
 * error answer carries it.
 */
int api_request_parse(const char *line, size_t len, struct api_request *req,
		      struct api_error *err) must_check;
void api_request_fini(struct api_request *req);

/*
 * Typed parameters. Each returns 0 (value set), 1 (absent and optional:
 * value untouched) or -EINVAL with err naming the parameter.
 */
int api_param_string(const struct api_request *req, const char *key, bool required, size_t max_len,
		     const char **value, struct api_error *err) must_check;
int api_param_u64(const struct api_request *req, const char *key, bool required, uint64_t max,
		  uint64_t *value, struct api_error *err) must_check;
int api_param_bool(const struct api_request *req, const char *key, bool *value,
		   struct api_error *err) must_check;
/* An array of strings (each at most max_len); *value is the array object (borrowed). */
int api_param_string_array(const struct api_request *req, const char *key, size_t max_items,
			   size_t max_len, struct json_object **value,
			   struct api_error *err) must_check;

/* Answers (new objects, the caller's to put). result may be NULL (empty object). */
struct json_object *api_answer_ok(const struct api_request *req, struct json_object *result);
struct json_object *api_answer_error(const struct api_request *req, const struct api_error *err);

/* A request for the CLI: {"api":1,"id":id,"call":name,"params":params} (params taken). */
struct json_object *api_request_new(int64_t id, const char *call, struct json_object *params);
