/*
 * The web console's HTTP request head, parsed (web_console.c): a browser's,
 * so a peer's bytes: a pure function with a fuzz target
 * (tests/fuzz/vmms/fuzz_web_request.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define WEB_REQUEST_MAX 8192 /* the whole head */
#define WEB_PATH_MAX	256

struct web_request {
	char path[WEB_PATH_MAX]; /* without the query; only [A-Za-z0-9._/-], no "..", starts '/' */
	bool websocket;		 /* "Upgrade: websocket" */
};

/*
 * Parses "GET PATH[?QUERY] HTTP/1.x\r\n" and the headers up to the blank
 * line in buf[0..len). 0; -EAGAIN if the head is not complete yet; -EINVAL
 * for anything else (another method, a path outside the allowed characters,
 * a head longer than WEB_REQUEST_MAX). *head_len: bytes of the head.
 */
int web_request_parse(const char *buf, size_t len, struct web_request *req, size_t *head_len);
