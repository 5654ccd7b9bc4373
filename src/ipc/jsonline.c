/* JSON lines over a stream socket; see jsonline.h. */
#include "ipc/jsonline.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"

int jsonline_reader_init(struct jsonline_reader *r, int fd, size_t max)
{
	*r = (struct jsonline_reader){.fd = fd, .max = max};
	r->buf = malloc(max + 1);
	return r->buf ? 0 : -ENOMEM;
}

void jsonline_reader_fini(struct jsonline_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

int jsonline_read(struct jsonline_reader *r, int timeout_ms, char **line, size_t *len)
{
	uint64_t deadline =
		timeout_ms < 0 ? 0 : time_monotonic_ns() + (uint64_t)timeout_ms * 1000000;

	/* Drop the line returned last time. */
	if (r->consumed) {
		memmove(r->buf, r->buf + r->consumed, r->used - r->consumed);
		r->used -= r->consumed;
		r->consumed = 0;
	}
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->used);
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		ssize_t n;
		int wait;

		if (nl) {
			*nl = '\0';
			*line = r->buf;
			*len = (size_t)(nl - r->buf);
			r->consumed = *len + 1;
			return 1;
		}
		if (r->used > r->max)
			return -E2BIG;
		wait = -1;
		if (timeout_ms >= 0) {
			uint64_t now = time_monotonic_ns();

			if (now >= deadline)
				return -ETIMEDOUT;
			wait = (int)((deadline - now + 999999) / 1000000);
		}
		n = poll(&p, 1, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			continue;
		n = recv(r->fd, r->buf + r->used, r->max + 1 - r->used, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		r->used += (size_t)n;
	}
}

int jsonline_send(int fd, struct json_object *obj)
{
	return jsonline_send_fd(fd, obj, -1);
}

int jsonline_send_fd(int fd, struct json_object *obj, int pass_fd)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), off = 0;
	char *msg = malloc(len + 1);

	if (!msg)
		return -ENOMEM;
	memcpy(msg, s, len);
	msg[len++] = '\n';
	while (off < len) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = {.iov_base = msg + off, .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		/* The descriptor rides with the line's first byte, so it arrives with the answer.
		 */
		if (off == 0 && pass_fd >= 0) {
			struct cmsghdr *h;

			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			h = CMSG_FIRSTHDR(&mh);
			h->cmsg_level = SOL_SOCKET;
			h->cmsg_type = SCM_RIGHTS;
			h->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? -errno : -EPIPE;

			free(msg);
			return r;
		}
		off += (size_t)n;
	}
	free(msg);
	return 0;
}

struct json_object *jsonline_parse_object(const char *line, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t i;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (obj && (json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	/* One object and blanks: anything after it makes the line not a request. */
	for (i = obj ? json_tokener_get_parse_end(tok) : len; i < len; i++)
		if (!strchr(" \t\r", line[i]) || !line[i]) {
			json_object_put(obj);
			obj = NULL;
			break;
		}
	json_tokener_free(tok);
	return obj;
}
