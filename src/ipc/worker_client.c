/* The worker control socket client; see worker_client.h. */
#include "ipc/worker_client.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/jsonline.h"

static int connect_unix(const char *path, int timeout_ms)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect and send on a Unix socket block only while the backlog is full */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		close(fd);
		return r == -EAGAIN || r == -EINPROGRESS ? -ETIMEDOUT : r;
	}
	return fd;
}

/* One empty-looking byte would do, but the fds travel with the request's own first byte. */
static int send_fds(int fd, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * WORKER_CALL_MAX_FDS)];
	} cm;
	char space = ' '; /* leading blank before the JSON object: the parser skips it */
	struct iovec iov = {.iov_base = &space, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
	struct cmsghdr *h;

	if (nfds == 0 || nfds > WORKER_CALL_MAX_FDS)
		return -EINVAL;
	memset(&cm, 0, sizeof(cm));
	h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
	return sendmsg(fd, &msg, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

int worker_call(const char *path, const char *command, struct json_object *extra, int timeout_ms,
		struct json_object **ret)
{
	return worker_call_fds(path, command, extra, NULL, 0, timeout_ms, ret);
}

/* Connects and sends the request; the connected fd or -errno. */
static int send_request(const char *path, const char *command, struct json_object *extra,
			const int *fds, unsigned nfds, int timeout_ms)
{
	struct json_object *req = extra ? extra : json_object_new_object();
	int fd, r;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "command", json_object_new_string(command));
	fd = connect_unix(path, timeout_ms);
	if (fd < 0) {
		json_object_put(req);
		return fd;
	}
	r = nfds ? send_fds(fd, fds, nfds) : 0;
	if (r == 0)
		r = jsonline_send(fd, req);
	json_object_put(req);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int worker_call_fds(const char *path, const char *command, struct json_object *extra,
		    const int *fds, unsigned nfds, int timeout_ms, struct json_object **ret)
{
	struct jsonline_reader rd;
	char *line;
	size_t len;
	int fd, r;

	fd = send_request(path, command, extra, fds, nfds, timeout_ms);
	if (fd < 0)
		return fd;
	r = jsonline_reader_init(&rd, fd, WORKER_ANSWER_MAX);
	if (r < 0) {
		close(fd);
		return r;
	}
	r = jsonline_read(&rd, timeout_ms, &line, &len);
	if (r == 1) {
		*ret = jsonline_parse_object(line, len);
		r = *ret ? 0 : -EPROTO;
	} else if (r == 0) {
		r = -ECONNRESET;
	}
	jsonline_reader_fini(&rd);
	close(fd);
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int worker_call_progress(const char *path, const char *command, struct json_object *extra,
			 const int *fds, unsigned nfds, int timeout_ms,
			 worker_progress_fn on_progress, void *opaque, struct json_object **ret)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct jsonline_reader rd;
	struct json_object *o, *p;
	char *line;
	size_t len;
	int fd, r;

	fd = send_request(path, command, extra, fds, nfds, timeout_ms);
	if (fd < 0)
		return fd;
	r = jsonline_reader_init(&rd, fd, WORKER_ANSWER_MAX);
	if (r < 0) {
		close(fd);
		return r;
	}
	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		r = jsonline_read(&rd, (int)MIN(left, (int64_t)WORKER_PROGRESS_POLL_MS), &line,
				  &len);
		if (r == -ETIMEDOUT) {
			if (!on_progress(opaque, NULL)) {
				r = -ECANCELED;
				break;
			}
			continue;
		}
		if (r == 0)
			r = -ECONNRESET;
		if (r < 0)
			break;
		o = jsonline_parse_object(line, len);
		if (!o) {
			r = -EPROTO;
			break;
		}
		if (!json_object_object_get_ex(o, "progress", &p)) {
			*ret = o;
			r = 0;
			break;
		}
		r = on_progress(opaque, p) ? 1 : -ECANCELED;
		json_object_put(o);
		if (r < 0)
			break;
	}
	jsonline_reader_fini(&rd);
	close(fd);
	return r;
}
