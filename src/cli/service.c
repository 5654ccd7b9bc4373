/* parvis's calls on the service's socket (docs/api.md): one JSON line each way. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "ipc/api.h"
#include "ipc/jsonline.h"
#include "cli/net.h"
#include "cli/snapshot.h"

const char *cli_socket_path;
bool cli_json_out;

/* --- talking to the service ---------------------------------------------------------------- */

char *cli_default_socket(void)
{
	const char *env = getenv("PARVIS_SOCKET"), *xdg;
	char *p;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/run/parvis/vmms.sock");
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg && asprintf(&p, "%s/parvis/vmms.sock", xdg) >= 0)
		return p;
	if (asprintf(&p, "/tmp/parvis-%d/vmms.sock", (int)geteuid()) >= 0)
		return p;
	return NULL;
}

static int connect_service(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(cli_socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "parvis: socket path %s is too long\n", cli_socket_path);
		return -1;
	}
	memcpy(addr.sun_path, cli_socket_path, strlen(cli_socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr,
			"parvis: cannot connect to parvis-vmms at %s: %s\n"
			"        Is the service running? Start it with: parvis-vmms --state-dir "
			"DIR "
			"--socket %s\n"
			"        (or point parvis at it with --socket PATH or PARVIS_SOCKET)\n",
			cli_socket_path, strerror(errno), cli_socket_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int cli_connect(void)
{
	return connect_service();
}

/* The answer of call `name`: 0 with *result (the caller's), or the error printed. */
static int answer_result(const char *name, struct json_object *ans, struct json_object **result)
{
	struct json_object *v, *e;

	if (!ans) {
		fprintf(stderr, "parvis: the service answered something that is not JSON\n");
		return EXIT_FAILED;
	}
	if (!json_object_object_get_ex(ans, "ok", &v) || !json_object_get_boolean(v)) {
		const char *msg = "unknown error", *code = "";

		if (json_object_object_get_ex(ans, "error", &e)) {
			if (json_object_object_get_ex(e, "message", &v))
				msg = json_object_get_string(v);
			if (json_object_object_get_ex(e, "code", &v))
				code = json_object_get_string(v);
		}
		if (cli_json_out)
			printf("%s\n",
			       json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
		fprintf(stderr, "parvis %s: %s (%s)\n", name, msg, code);
		json_object_put(ans);
		return EXIT_FAILED;
	}
	json_object_object_get_ex(ans, "result", &v);
	*result = json_object_get(v);
	json_object_put(ans);
	return 0;
}

/* The request sent and the reader set up: the connection, or -1 with the reason printed. */
static int send_request(const char *name, struct json_object *params, struct jsonline_reader *rd)
{
	struct json_object *req = api_request_new(1, name, params);
	int fd = connect_service(), r;

	if (fd < 0) {
		json_object_put(req);
		return -1;
	}
	r = jsonline_send(fd, req);
	json_object_put(req);
	/* A caller the service refuses is answered and dropped at once: read that answer. */
	if (r == -EPIPE || r == -ECONNRESET)
		r = 0;
	if (r < 0 || jsonline_reader_init(rd, fd, API_ANSWER_MAX) < 0) {
		fprintf(stderr, "parvis: cannot send the request: %s\n", strerror(-r));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads the service's lines until its answer: progress lines ({"progress": ...}) go to
 * w->progress, the spinner turns on a terminal while nothing comes, an interrupt cancels
 * (the service sees the connection close). *ans: the answer, or NULL; returns 0 or an exit
 * status.
 */
static int read_answer(const char *name, struct jsonline_reader *rd, const struct cli_wait *w,
		       struct json_object **ans)
{
	bool tty = w->spinner && isatty(STDERR_FILENO), spun = false, shown = false;
	int timeout = w->interrupted ? 200 : tty || w->progress ? 1000 : -1, r;
	time_t start = time(NULL);
	struct json_object *v;
	char *line;
	size_t len;

	*ans = NULL;
	for (;;) {
		r = jsonline_read(rd, timeout, &line, &len);
		if (w->interrupted && *w->interrupted) {
			fprintf(stderr, "%sparvis %s: cancelled; the VM is left as it was\n",
				shown ? "\n" : "", name);
			return EXIT_CANCELLED;
		}
		if (r == -ETIMEDOUT || r == -EINTR) {
			if (tty) {
				fprintf(stderr, "\r%s... %lds ", w->spinner,
					(long)(time(NULL) - start));
				spun = true;
			}
			continue;
		}
		if (r <= 0)
			break;
		*ans = jsonline_parse_object(line, len);
		if (!*ans || !json_object_object_get_ex(*ans, "progress", &v))
			break;
		if (w->progress) {
			w->progress(v);
			shown = true;
		}
		json_object_put(*ans);
		*ans = NULL;
	}
	if (spun)
		fprintf(stderr, "\r\033[K");
	if (shown)
		fputc('\n', stderr);
	if (r <= 0) {
		fprintf(stderr, "parvis: the service closed the connection without answering%s%s\n",
			r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		return EXIT_NO_SERVICE;
	}
	return 0;
}

int cli_request_wait(const char *name, struct json_object *params, const struct cli_wait *w,
		     struct json_object **result)
{
	struct jsonline_reader rd;
	struct json_object *ans;
	int fd = send_request(name, params, &rd), r;

	if (fd < 0)
		return EXIT_NO_SERVICE;
	r = read_answer(name, &rd, w, &ans);
	jsonline_reader_fini(&rd);
	close(fd);
	return r ? r : answer_result(name, ans, result);
}

int cli_request(const char *name, struct json_object *params, const char *progress,
		struct json_object **result)
{
	const struct cli_wait w = {.spinner = progress};

	return cli_request_wait(name, params, &w, result);
}

int cli_call(const char *name, struct json_object *params, bool json, struct json_object **result)
{
	cli_json_out = json;
	return cli_request(name, params, NULL, result);
}

/*
 * cli_request() for a call whose answer carries a descriptor (SCM_RIGHTS on its first byte):
 * *ret_fd gets it, or -1 if the answer had none.
 */
int cli_request_fd(const char *name, struct json_object *params, struct json_object **result,
		   int *ret_fd)
{
	struct json_object *req = api_request_new(1, name, params);
	char buf[8192];
	size_t used = 0;
	int fd, r;

	*ret_fd = -1;
	fd = connect_service();
	if (fd < 0) {
		json_object_put(req);
		return EXIT_NO_SERVICE;
	}
	r = jsonline_send(fd, req);
	json_object_put(req);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		fprintf(stderr, "parvis: cannot send the request: %s\n", strerror(-r));
		close(fd);
		return EXIT_NO_SERVICE;
	}
	while (used < sizeof(buf) - 1 && !memchr(buf, '\n', used)) {
		union {
			struct cmsghdr h;
			char c[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = {.iov_base = buf + used, .iov_len = sizeof(buf) - 1 - used};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.c,
				    .msg_controllen = sizeof(cm.c)};
		struct cmsghdr *h;
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
			    h->cmsg_len == CMSG_LEN(sizeof(int)) && *ret_fd < 0)
				memcpy(ret_fd, CMSG_DATA(h), sizeof(int));
		used += (size_t)n;
	}
	close(fd);
	if (!memchr(buf, '\n', used)) {
		fprintf(stderr, "parvis: the service closed the connection without answering\n");
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -1;
		return EXIT_NO_SERVICE;
	}
	r = answer_result(
		name, jsonline_parse_object(buf, (size_t)((char *)memchr(buf, '\n', used) - buf)),
		result);
	if (r && *ret_fd >= 0) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	return r;
}
