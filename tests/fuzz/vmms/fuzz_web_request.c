/*
 * Fuzz target: the web console's HTTP request-head parser
 * (src/vmms/web_request.c), fed what a browser (any local peer) may send.
 * Seeds: corpus/web_request (tests/fuzz/vsp/make_console_corpus.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmms/web_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_request req;
	size_t head = 0;

	if (web_request_parse((const char *)data, size, &req, &head) == 0) {
		/* What the parser promises the file server and the bridge. */
		if (req.path[0] != '/' || strstr(req.path, "..") || head > size ||
		    strlen(req.path) >= sizeof(req.path))
			__builtin_trap();
	}
	return 0;
}
