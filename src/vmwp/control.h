/*
 * The worker's control socket (--control PATH): a Unix stream socket on
 * which a client sends one JSON object per line and gets one JSON object
 * per line back. The commands are the worker's (main.c); the protocol is
 * in docs/control.md. One thread accepts and serves clients one at a time.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "base/compiler.h"

struct control;

/* Answers one request (a JSON object); returns a new object (the caller's to put). */
/*
 * fds: descriptors that came with the request (SCM_RIGHTS), at most CONTROL_MAX_FDS; they
 * are closed when the handler returns (it duplicates what it keeps).
 */
typedef struct json_object *(*control_handler_fn)(void *opaque, struct json_object *request,
						  const int *fds, unsigned nfds);
/* A disk, its O_DIRECT twin and its DISK_MAX_PARENTS parents; an adapter's TAP queues. */
#define CONTROL_MAX_FDS 64

/*
 * For a handler that runs long (save): sends {"progress": progress} (taken) to the client
 * of the request before its answer. -EPIPE if that client has gone away (it hung up: the
 * handler should undo what it was doing); only on the control thread, inside a handler.
 */
int control_progress(struct json_object *progress);
/* Whether the client of the request being handled has hung up. */
bool control_client_gone(void);

/* Creates the socket (replacing a stale socket file at path) and starts the thread. */
int control_new(const char *path, control_handler_fn handler, void *opaque, struct control **ret,
		char *err, size_t errlen) must_check;
/* Stops the thread, removes the socket file; NULL is a no-op. */
/* Starts the thread that serves the socket (after the jail, as console_start). NULL ok. */
int control_start(struct control *c) must_check;
struct control *control_free(struct control *c);
