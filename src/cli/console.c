/* The serial console (console) and the screen (connect, get-vmscreenshot; docs/console.md). */
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>

#include "cli/rfb_capture.h"

#define DETACH_KEY 0x1d /* Ctrl-], as virsh console */

static int relay_console(int sock)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	bool in_open = true;
	char buf[4096];
	int status = EXIT_OK;

	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = sock, .events = POLLIN},
				      {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0) {
				fprintf(stderr, "%s[the console closed: the VM stopped]\n",
					tty ? "\r\n" : "\n");
				break;
			}
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			char *k;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false; /* keep showing output until detached or closed */
				continue;
			}
			k = memchr(buf, DETACH_KEY, (size_t)n);
			if (k)
				n = k - buf;
			if (n > 0 && send(sock, buf, (size_t)n, MSG_NOSIGNAL) < 0)
				break;
			if (k) {
				fprintf(stderr, "%s[detached]\n", tty ? "\r\n" : "\n");
				break;
			}
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return status;
}

int verb_console(struct args *a)
{
	struct json_object *res;
	char first[128];
	int r, fd;
	ssize_t n;

	/*
	 * The service connects to the console and passes us the socket: its directory is
	 * root's, and an operator may use a console it could not open itself.
	 */
	json_object_object_add(a->params, "connect", json_object_new_boolean(1));
	r = cli_request_fd("get-vmconsole", json_object_get(a->params), &res, &fd);
	if (r)
		return r;
	if (fd < 0) {
		fprintf(stderr, "parvis console: the service passed no console socket (an older "
				"service?)\n");
		json_object_put(res);
		return EXIT_FAILED;
	}
	/* A busy console says so at once and closes: give it a moment to. */
	{
		struct pollfd pf = {.fd = fd, .events = POLLIN};

		n = poll(&pf, 1, 300) > 0 ? recv(fd, first, sizeof(first) - 1, 0) : 0;
	}
	if (n > 0) {
		first[n] = '\0';
		if (strstr(first, "in use by another client")) {
			fprintf(stderr,
				"parvis console: VM '%s': the console is in use by another "
				"client\n",
				a->name);
			close(fd);
			json_object_put(res);
			return EXIT_FAILED;
		}
		IGNORE_RESULT(write(STDOUT_FILENO, first, (size_t)n));
	}
	fprintf(stderr, "Connected to the console of '%s' (log: %s). Press Ctrl-] to detach.\n",
		a->name, cli_jstr(res, "log"));
	json_object_put(res);
	r = relay_console(fd);
	close(fd);
	return r;
}

/* --- the screen (docs/console.md) --- */

static int fd_read(void *opaque, void *buf, size_t len)
{
	int fd = *(int *)opaque;
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_write(void *opaque, const void *buf, size_t len)
{
	int fd = *(int *)opaque;
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A connection to the VM's screen, from the service (its run directory is root's). */
static int screen_fd(struct args *a, struct json_object **res, int *fd)
{
	int r;

	json_object_object_add(a->params, "connect", json_object_new_boolean(1));
	r = cli_request_fd("connect-vm", json_object_get(a->params), res, fd);
	if (r)
		return r;
	if (*fd < 0) {
		fprintf(stderr,
			"parvis %s: the service passed no screen socket (an older "
			"service?)\n",
			a->verb->name);
		json_object_put(*res);
		return EXIT_FAILED;
	}
	return 0;
}

int verb_screenshot(struct args *a)
{
	struct json_object *res;
	struct rfb_frame frame;
	const char *why = NULL;
	int r, fd;

	if (!a->extra_positional)
		return cli_usage_error(a->verb->name, "where to? give FILE.png");
	r = screen_fd(a, &res, &fd);
	if (r)
		return r;
	json_object_put(res);
	{
		struct timeval tv = {.tv_sec = 30};

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	r = rfb_capture(fd_read, fd_write, &fd, &frame, &why);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "parvis get-vmscreenshot: VM '%s': %s\n", a->name,
			why ? why : strerror(-r));
		return EXIT_FAILED;
	}
	r = rfb_frame_save_png(&frame, a->extra_positional);
	if (r < 0) {
		fprintf(stderr, "parvis get-vmscreenshot: %s: %s\n", a->extra_positional,
			strerror(-r));
		rfb_frame_fini(&frame);
		return EXIT_FAILED;
	}
	if (cli_json_out)
		printf("{\"file\": \"%s\", \"width\": %u, \"height\": %u}\n", a->extra_positional,
		       frame.width, frame.height);
	else
		printf("%s: %ux%u screen of VM '%s'\n", a->extra_positional, frame.width,
		       frame.height, a->name);
	rfb_frame_fini(&frame);
	return EXIT_OK;
}

/*
 * --viewer: a loopback port that relays one connection to the screen socket, and a VNC
 * viewer started on it (the first of the known ones installed).
 */
static int run_viewer(struct args *a, int vnc)
{
	static const char *const viewers[] = {"vncviewer",  "xtightvncviewer", "xvnc4viewer",
					      "gvncviewer", "remmina",	       NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char target[64], path[PATH_MAX];
	const char *viewer = NULL;
	int l, c;
	pid_t pid;

	for (unsigned i = 0; viewers[i] && !viewer; i++) {
		const char *dirs = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
		char *copy = strdup(dirs), *save = NULL;

		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(path, sizeof(path), "%s/%s", d, viewers[i]);
			if (access(path, X_OK) == 0) {
				viewer = viewers[i];
				break;
			}
		}
		free(copy);
	}
	if (!viewer) {
		fprintf(stderr, "parvis connect --viewer: no VNC viewer installed (vncviewer, "
				"xtightvncviewer, gvncviewer or remmina); without --viewer, parvis "
				"connect prints the address for one\n");
		return EXIT_FAILED;
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
		perror("parvis connect --viewer");
		return EXIT_FAILED;
	}
	snprintf(target, sizeof(target), "127.0.0.1::%u", ntohs(sa.sin_port));
	pid = fork();
	if (pid == 0) {
		execlp(viewer, viewer, target, (char *)NULL);
		_exit(127);
	}
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (c < 0)
		return EXIT_FAILED;
	fprintf(stderr, "VM '%s': %s shows its screen\n", a->name, viewer);
	for (;;) {
		struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = vnc, .events = POLLIN}};
		char buf[65536];
		ssize_t n;
		int i;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++)
			if (p[i].revents) {
				n = read(p[i].fd, buf, sizeof(buf));
				if (n <= 0 || fd_write(i ? &c : &vnc, buf, (size_t)n) < 0)
					goto done;
			}
	}
done:
	close(c);
	waitpid(pid, NULL, 0);
	return EXIT_OK;
}

int verb_connect(struct args *a)
{
	struct json_object *res;
	int r, fd = -1;

	if (a->viewer) {
		r = screen_fd(a, &res, &fd);
		if (r)
			return r;
		json_object_put(res);
		r = run_viewer(a, fd);
		close(fd);
		return r;
	}
	if (a->web)
		json_object_object_add(a->params, "web", json_object_new_boolean(1));
	if (a->tcp)
		json_object_object_add(a->params, "tcp", json_object_new_boolean(1));
	r = cli_request("connect-vm", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (cli_json_out)
		cli_print_json(res);
	else if (a->tcp)
		printf("%s\n", cli_jstr(res, "tcp"));
	else if (a->web)
		printf("http://127.0.0.1:%.0f%s\n", cli_jnum(res, "web_port"),
		       cli_jstr(res, "web_path"));
	else
		printf("%s\n", cli_jstr(res, "socket"));
	json_object_put(res);
	return EXIT_OK;
}
