/* The web console's HTTP request head (web_request.h); RFC 9110/9112 request-line subset. */
#include "vmms/web_request.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

static bool path_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '/' || c == '-';
}

/* Does the header block [h, end) have "Upgrade: websocket" (any case, any spacing)? */
static bool has_upgrade(const char *h, const char *end)
{
	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		size_t n = (size_t)((eol ? eol : end) - h);

		if (n > 8 && !strncasecmp(h, "upgrade:", 8)) {
			const char *v = h + 8;

			while (v < h + n && (*v == ' ' || *v == '\t'))
				v++;
			if ((size_t)(h + n - v) >= 9 && !strncasecmp(v, "websocket", 9))
				return true;
		}
		h += n + 1;
	}
	return false;
}

int web_request_parse(const char *buf, size_t len, struct web_request *req, size_t *head_len)
{
	const char *end = NULL, *p, *q;
	size_t i, n;

	memset(req, 0, sizeof(*req));
	for (i = 0; i + 3 < len && i + 4 <= WEB_REQUEST_MAX; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 4;
			break;
		}
	if (!end)
		return len >= WEB_REQUEST_MAX ? -EINVAL : -EAGAIN;
	*head_len = (size_t)(end - buf);
	if ((size_t)(end - buf) < 4 || memcmp(buf, "GET ", 4))
		return -EINVAL;
	p = buf + 4;
	for (q = p; q < end && *q != ' ' && *q != '?' && *q != '\r'; q++)
		if (!path_char(*q))
			return -EINVAL;
	n = (size_t)(q - p);
	if (n == 0 || n >= sizeof(req->path) || p[0] != '/')
		return -EINVAL;
	memcpy(req->path, p, n);
	if (strstr(req->path, ".."))
		return -EINVAL;
	while (q < end && *q != ' ' && *q != '\r')
		q++; /* the query: noVNC's own parameters, not ours */
	if (end - q < 9 || memcmp(q, " HTTP/1.", 8))
		return -EINVAL;
	req->websocket = has_upgrade(q, end);
	return 0;
}
