/*
 * Control socket (control.h). Requests are bounded (64 KiB a line); a
 * client that sends garbage gets {"ok": false, "error": ...} and may go on.
 */
#include "vmwp/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

#define LINE_MAX_BYTES (64 * 1024)

struct control {
	char *path;
	int listen_fd;
	int stop_pipe[2];
	control_handler_fn handler;
	void *opaque;
	pthread_t thread;
	bool thread_running;
};

static bool wait_readable(struct control *c, int fd)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
			      {.fd = c->stop_pipe[0], .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (p[1].revents)
			return false;
		if (p[0].revents)
			return true;
	}
}

static void reply(int fd, struct json_object *resp)
{
	const char *s = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		off += (size_t)n;
	}
	if (send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		/* the client went away */
	}
}

/* The client whose request the control thread is handling (control_progress), or -1. */
static __thread int current_client = -1;

bool control_client_gone(void)
{
	struct pollfd p = {.fd = current_client, .events = POLLRDHUP};

	return current_client >= 0 && poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int control_progress(struct json_object *progress)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "progress", progress);
	if (current_client >= 0 && !control_client_gone())
		reply(current_client, o);
	json_object_put(o);
	return current_client < 0 || control_client_gone() ? -EPIPE : 0;
}

static void handle_line(struct control *c, int fd, const char *line, size_t len, int *fds,
			unsigned *nfds)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	struct json_object *resp;

	if (!req || !json_object_is_type(req, json_type_object)) {
		resp = json_object_new_object();
		json_object_object_add(resp, "ok", json_object_new_boolean(0));
		json_object_object_add(resp, "error", json_object_new_string("not a JSON object"));
	} else {
		current_client = fd;
		resp = c->handler(c->opaque, req, fds, *nfds);
		current_client = -1;
	}
	while (*nfds)
		close(fds[--*nfds]);
	reply(fd, resp);
	json_object_put(resp);
	json_object_put(req);
	if (tok)
		json_tokener_free(tok);
}

/*
 * recv, plus descriptors passed with the bytes (SCM_RIGHTS): kept for the next request, up
 * to CONTROL_MAX_FDS; any beyond are closed.
 */
static ssize_t recv_with_fds(int fd, char *buf, size_t len, int *fds, unsigned *nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * CONTROL_MAX_FDS * 2)];
	} cm;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm)};
	struct cmsghdr *h;
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	for (h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
		size_t i, count;
		int *in = (int *)CMSG_DATA(h);

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			if (*nfds < CONTROL_MAX_FDS)
				fds[(*nfds)++] = in[i];
			else
				close(in[i]);
		}
	}
	return n;
}

static void serve_client(struct control *c, int fd)
{
	char *buf = malloc(LINE_MAX_BYTES);
	int fds[CONTROL_MAX_FDS];
	unsigned nfds = 0;
	size_t used = 0;

	if (!buf)
		return;
	while (wait_readable(c, fd)) {
		ssize_t n = recv_with_fds(fd, buf + used, LINE_MAX_BYTES - used, fds, &nfds);
		char *nl;

		if (n <= 0)
			break;
		used += (size_t)n;
		while ((nl = memchr(buf, '\n', used))) {
			size_t len = (size_t)(nl - buf);

			if (len)
				handle_line(c, fd, buf, len, fds, &nfds);
			memmove(buf, nl + 1, used - len - 1);
			used -= len + 1;
		}
		if (used == LINE_MAX_BYTES)
			break; /* a line longer than any request: drop the client */
	}
	while (nfds)
		close(fds[--nfds]);
	free(buf);
}

static void *control_thread(void *arg)
{
	struct control *c = arg;

	pthread_setname_np(pthread_self(), "control");
	while (wait_readable(c, c->listen_fd)) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		serve_client(c, fd);
		close(fd);
	}
	return NULL;
}

int control_new(const char *path, control_handler_fn handler, void *opaque, struct control **ret,
		char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct control *c;
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "--control %s: path too long", path);
		return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->listen_fd = c->stop_pipe[0] = c->stop_pipe[1] = -1;
	c->handler = handler;
	c->opaque = opaque;
	c->path = strdup(path);
	if (!c->path || pipe2(c->stop_pipe, O_CLOEXEC) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(addr.sun_path, path, strlen(path));
	/* A socket left by a worker that died: replace it; anything else is an error. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(c->listen_fd, 4) < 0) {
		r = -errno;
		snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	control_free(c);
	return r;
}

int control_start(struct control *c)
{
	int r;

	if (!c || c->thread_running)
		return 0;
	r = -pthread_create(&c->thread, NULL, control_thread, c);
	c->thread_running = r == 0;
	return r;
}

struct control *control_free(struct control *c)
{
	if (!c)
		return NULL;
	if (c->thread_running) {
		if (write(c->stop_pipe[1], "x", 1) < 0) {
			/* the thread is blocked in poll on this pipe: it cannot be full */
		}
		pthread_join(c->thread, NULL);
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	if (c->stop_pipe[0] >= 0)
		close(c->stop_pipe[0]);
	if (c->stop_pipe[1] >= 0)
		close(c->stop_pipe[1]);
	free(c->path);
	free(c);
	return NULL;
}
