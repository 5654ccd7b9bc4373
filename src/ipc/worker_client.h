/*
 * The service's side of a worker's control socket (docs/control.md): one
 * connection per call, one request line, one answer line, bounded in time
 * and size so that a stuck or misbehaving worker cannot hold the service.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "base/compiler.h"

#define WORKER_ANSWER_MAX (1024 * 1024)

/*
 * Sends {"command": command, ...extra members} (extra may be NULL; it is
 * taken) to the worker at socket path, waits up to timeout_ms for the
 * answer. 0 with *ret (an object, the caller's to put), or -errno:
 * -ECONNREFUSED/-ENOENT (no worker there), -ETIMEDOUT, -EPROTO (not JSON).
 */
int worker_call(const char *path, const char *command, struct json_object *extra, int timeout_ms,
		struct json_object **ret) must_check;
/*
 * worker_call, with descriptors passed to the worker along with the request (SCM_RIGHTS):
 * files the service opened for a worker that cannot (its jail). nfds <= WORKER_CALL_MAX_FDS.
 */
/*
 * Descriptors one call passes at most (CONTROL_MAX_FDS): a disk, its O_DIRECT twin and 32
 * parents, or an adapter's TAP queues (one per vCPU, up to 64).
 */
#define WORKER_CALL_MAX_FDS 64
int worker_call_fds(const char *path, const char *command, struct json_object *extra,
		    const int *fds, unsigned nfds, int timeout_ms,
		    struct json_object **ret) must_check;

/*
 * As worker_call_fds for a long command that sends progress lines before its answer
 * ({"progress":{...}}, docs/control.md): each goes to on_progress, which is also called with
 * NULL at least every WORKER_PROGRESS_POLL_MS while nothing comes. on_progress returning
 * false cancels: the connection is closed (the worker takes that as its requester gone and
 * undoes the command) and -ECANCELED returned. timeout_ms bounds the whole call.
 */
#define WORKER_PROGRESS_POLL_MS 200
typedef bool (*worker_progress_fn)(void *opaque, struct json_object *progress);
int worker_call_progress(const char *path, const char *command, struct json_object *extra,
			 const int *fds, unsigned nfds, int timeout_ms,
			 worker_progress_fn on_progress, void *opaque,
			 struct json_object **ret) must_check;
