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

static void handle_line(struct control *c, int fd, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	struct json_object *resp;

	if (!req || !json_object_is_type(req, json_type_object)) {
		resp = json_object_new_object();
		json_object_object_add(resp, "ok", json_object_new_boolean(0));
		json_object_object_add(resp, "error", json_object_new_string("not a JSON object"));
	} else {
		resp = c->handler(c->opaque, req);
	}
	reply(fd, resp);
	json_object_put(resp);
	json_object_put(req);
	if (tok)
		json_tokener_free(tok);
}

static void serve_client(struct control *c, int fd)
{
	char *buf = malloc(LINE_MAX_BYTES);
	size_t used = 0;

	if (!buf)
		return;
	while (wait_readable(c, fd)) {
		ssize_t n = recv(fd, buf + used, LINE_MAX_BYTES - used, 0);
		char *nl;

		if (n <= 0)
			break;
		used += (size_t)n;
		while ((nl = memchr(buf, '\n', used))) {
			size_t len = (size_t)(nl - buf);

			if (len)
				handle_line(c, fd, buf, len);
			memmove(buf, nl + 1, used - len - 1);
			used -= len + 1;
		}
		if (used == LINE_MAX_BYTES)
			break; /* a line longer than any request: drop the client */
	}
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
	r = -pthread_create(&c->thread, NULL, control_thread, c);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the control thread");
		goto fail;
	}
	c->thread_running = true;
	*ret = c;
	return 0;
fail:
	control_free(c);
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
