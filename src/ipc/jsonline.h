/*
 * JSON lines over a stream socket: one JSON object per line, both ways.
 * Used by the management API (parvis <-> parvis-vmms) and the worker's
 * control socket client (parvis-vmms -> parvis-vmwp). Lines are bounded:
 * a peer that sends a longer one gets -E2BIG and should be dropped.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "base/compiler.h"

struct jsonline_reader {
	int fd;
	size_t max;	 /* longest line accepted, without its newline */
	char *buf;	 /* max + 1 bytes */
	size_t used;	 /* bytes in buf */
	size_t consumed; /* bytes of buf already returned as lines */
};

int jsonline_reader_init(struct jsonline_reader *r, int fd, size_t max) must_check;
void jsonline_reader_fini(struct jsonline_reader *r);

/*
 * Reads the next line (without its newline, NUL-terminated, valid until the
 * next call). timeout_ms < 0 waits forever. Returns 1 with a line, 0 at end
 * of stream, -ETIMEDOUT, -E2BIG (line longer than max), or -errno.
 */
int jsonline_read(struct jsonline_reader *r, int timeout_ms, char **line, size_t *len) must_check;

/* Writes obj as one line (MSG_NOSIGNAL: a gone peer is -EPIPE, not a signal). */
int jsonline_send(int fd, struct json_object *obj) must_check;
/* The same with pass_fd (if >= 0) attached to the line's first byte (SCM_RIGHTS). */
int jsonline_send_fd(int fd, struct json_object *obj, int pass_fd) must_check;

/* Parses one line as a JSON object; NULL if it is not exactly one object. */
struct json_object *jsonline_parse_object(const char *line, size_t len);
