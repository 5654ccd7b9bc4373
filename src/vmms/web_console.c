/* The web console (web_console.h). */
#include "vmms/web_console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "vmms/web_request.h"

#define MAX_TOKENS 64
#define TOKEN_HEX  32

struct token {
	char hex[TOKEN_HEX + 1];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t expires_ns;
};

struct web_console {
	int listen_fd;
	unsigned port;
	char novnc[PATH_MAX]; /* realpath of the files' directory */
	pthread_t thread;
	_Atomic bool stop;
	_Atomic unsigned connections;
	pthread_mutex_t lock; /* tokens */
	struct token tokens[MAX_TOKENS];
};

struct conn {
	struct web_console *wc;
	int fd;
};

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "application/javascript"},
	{".css", "text/css"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".json", "application/json"},
	{".woff", "font/woff"},
	{".ttf", "font/ttf"},
	{".mp3", "audio/mpeg"},
	{".oga", "audio/ogg"},
};

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, const char *status, const char *text)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, strlen(text), text);

	(void)write_all(fd, buf, (size_t)n);
}

static void serve_file(struct web_console *wc, int fd, const char *path)
{
	char file[PATH_MAX], real[PATH_MAX], head[256];
	size_t root = strlen(wc->novnc);
	struct stat st;
	int f, n;

	if ((size_t)snprintf(file, sizeof(file), "%s/%s", wc->novnc,
			     !strcmp(path, "/") ? "vnc.html" : path + 1) >= sizeof(file) ||
	    !realpath(file, real) || strncmp(real, wc->novnc, root) || real[root] != '/') {
		reply(fd, "404 Not Found", "not found\n");
		return;
	}
	f = open(real, O_RDONLY | O_CLOEXEC);
	if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (f >= 0)
			close(f);
		reply(fd, "404 Not Found", "not found\n");
		return;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
		     "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
		     content_type(real), (long long)st.st_size);
	if (write_all(fd, head, (size_t)n) == 0) {
		char buf[16384];
		ssize_t r;

		while ((r = read(f, buf, sizeof(buf))) > 0 && write_all(fd, buf, (size_t)r) == 0) {
		}
	}
	close(f);
}

/* The socket a token names, if it is known and alive. */
static bool lookup(struct web_console *wc, const char *hex, char *path, size_t len)
{
	uint64_t now = time_monotonic_ns();
	bool found = false;
	unsigned i;

	pthread_mutex_lock(&wc->lock);
	for (i = 0; i < MAX_TOKENS && !found; i++)
		if (wc->tokens[i].hex[0] && wc->tokens[i].expires_ns > now &&
		    strlen(hex) == TOKEN_HEX && !strcmp(wc->tokens[i].hex, hex)) {
			snprintf(path, len, "%s", wc->tokens[i].path);
			found = true;
		}
	pthread_mutex_unlock(&wc->lock);
	return found;
}

/* Relays until either side closes. */
static void relay(int a, int b)
{
	char buf[65536];

	for (;;) {
		struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		int i;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write_all(i ? a : b, buf, (size_t)n) < 0)
				return;
		}
	}
}

static void bridge(struct web_console *wc, int fd, const struct web_request *req, const char *head,
		   size_t len)
{
	const char *prefix = "/console/";
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int vnc;

	if (strncmp(req->path, prefix, strlen(prefix)) ||
	    !lookup(wc, req->path + strlen(prefix), a.sun_path, sizeof(a.sun_path))) {
		reply(fd, "403 Forbidden",
		      "no such console token (parvis connect VM --web gives one)\n");
		return;
	}
	vnc = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (vnc < 0 || connect(vnc, (struct sockaddr *)&a, sizeof(a)) < 0) {
		reply(fd, "502 Bad Gateway", "the VM's console is not there (is it running?)\n");
		if (vnc >= 0)
			close(vnc);
		return;
	}
	/* The worker's libvncserver answers the websocket handshake itself. */
	if (write_all(vnc, head, len) == 0)
		relay(fd, vnc);
	close(vnc);
}

static void *conn_thread(void *opaque)
{
	struct conn *c = opaque;
	struct timeval tv = {.tv_sec = 10};
	char head[WEB_REQUEST_MAX];
	struct web_request req;
	size_t len = 0, head_len = 0;
	int r = -EAGAIN;

	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (r == -EAGAIN && len < sizeof(head)) {
		ssize_t n = recv(c->fd, head + len, sizeof(head) - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		r = web_request_parse(head, len, &req, &head_len);
	}
	if (r == 0) {
		tv.tv_sec = 0;
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (req.websocket)
			bridge(c->wc, c->fd, &req, head, len);
		else
			serve_file(c->wc, c->fd, req.path);
	} else if (len) {
		reply(c->fd, "400 Bad Request", "bad request\n");
	}
	close(c->fd);
	atomic_fetch_sub(&c->wc->connections, 1);
	free(c);
	return NULL;
}

static void *accept_thread(void *opaque)
{
	struct web_console *wc = opaque;

	while (!atomic_load(&wc->stop)) {
		struct pollfd p = {.fd = wc->listen_fd, .events = POLLIN};
		pthread_attr_t attr;
		pthread_t t;
		struct conn *c;
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(wc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_fetch_add(&wc->connections, 1) >= WEB_MAX_CONNECTIONS ||
		    !(c = malloc(sizeof(*c)))) {
			atomic_fetch_sub(&wc->connections, 1);
			close(fd);
			continue;
		}
		*c = (struct conn){.wc = wc, .fd = fd};
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_thread, c)) {
			atomic_fetch_sub(&wc->connections, 1);
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int web_console_new(const char *listen_spec, const char *novnc_dir, struct web_console **ret,
		    char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	const char *colon = strrchr(listen_spec, ':');
	struct web_console *wc;
	unsigned long port;
	char host[64], *end;
	int one = 1, r;

	port = strtoul(colon ? colon + 1 : listen_spec, &end, 10);
	if (*end || port > 65535 || (colon && ((size_t)(colon - listen_spec) >= sizeof(host)))) {
		snprintf(err, errlen, "--web %s: not [HOST:]PORT", listen_spec);
		return -EINVAL;
	}
	if (colon) {
		memcpy(host, listen_spec, (size_t)(colon - listen_spec));
		host[colon - listen_spec] = 0;
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
			snprintf(err, errlen, "--web %s: %s is not an IPv4 address", listen_spec,
				 host);
			return -EINVAL;
		}
	}
	a.sin_port = htons((uint16_t)port);
	wc = calloc(1, sizeof(*wc));
	if (!wc)
		return -ENOMEM;
	pthread_mutex_init(&wc->lock, NULL);
	if (!realpath(novnc_dir, wc->novnc)) {
		r = -errno;
		snprintf(err, errlen, "web console: %s (noVNC, Debian's novnc): %s", novnc_dir,
			 strerror(errno));
		goto fail;
	}
	wc->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (wc->listen_fd < 0 ||
	    setsockopt(wc->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(wc->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(wc->listen_fd, 16) < 0 ||
	    getsockname(wc->listen_fd, (struct sockaddr *)&a, &alen) < 0) {
		r = -errno;
		snprintf(err, errlen, "--web %s: %s", listen_spec, strerror(errno));
		goto fail;
	}
	wc->port = ntohs(a.sin_port);
	r = -pthread_create(&wc->thread, NULL, accept_thread, wc);
	if (r < 0) {
		snprintf(err, errlen, "web console thread: %s", strerror(-r));
		goto fail;
	}
	*ret = wc;
	return 0;
fail:
	if (wc->listen_fd > 0)
		close(wc->listen_fd);
	pthread_mutex_destroy(&wc->lock);
	free(wc);
	return r;
}

struct web_console *web_console_free(struct web_console *wc)
{
	if (!wc)
		return NULL;
	atomic_store(&wc->stop, true);
	pthread_join(wc->thread, NULL);
	close(wc->listen_fd);
	/* Connection threads are detached; the service exits after this. */
	return NULL;
}

unsigned web_console_port(const struct web_console *wc)
{
	return wc->port;
}

int web_console_issue(struct web_console *wc, const char *vnc_path, char *url, size_t len)
{
	uint8_t raw[TOKEN_HEX / 2];
	uint64_t now = time_monotonic_ns();
	unsigned i, slot = 0;
	char hex[TOKEN_HEX + 1];

	if (strlen(vnc_path) >= sizeof(wc->tokens[0].path))
		return -ENAMETOOLONG;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	pthread_mutex_lock(&wc->lock);
	/* An empty or expired slot, else the one that expires first. */
	for (i = 0; i < MAX_TOKENS; i++) {
		if (!wc->tokens[i].hex[0] || wc->tokens[i].expires_ns <= now) {
			slot = i;
			break;
		}
		if (wc->tokens[i].expires_ns < wc->tokens[slot].expires_ns)
			slot = i;
	}
	snprintf(wc->tokens[slot].hex, sizeof(wc->tokens[slot].hex), "%s", hex);
	snprintf(wc->tokens[slot].path, sizeof(wc->tokens[slot].path), "%s", vnc_path);
	wc->tokens[slot].expires_ns = now + (uint64_t)WEB_TOKEN_TTL_S * 1000000000ull;
	pthread_mutex_unlock(&wc->lock);
	snprintf(url, len, "/vnc.html?autoconnect=1&resize=scale&reconnect=1&path=console/%s", hex);
	return 0;
}
