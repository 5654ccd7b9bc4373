/* The VM's screen on a loopback TCP port: listener and password (console_tcp.h). */
#include "vmms/console_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

void console_tcp_password_path(const char *dir, char *path, size_t len)
{
	snprintf(path, len, "%s/vnc.password", dir);
}

/* Letters and digits: a password a person can type into a viewer's prompt. */
static int make_password(char *pw)
{
	static const char set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t rnd[CONSOLE_TCP_PASSWORD_LEN];
	unsigned i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (i = 0; i < sizeof(rnd); i++)
		pw[i] = set[rnd[i] % (sizeof(set) - 1)];
	pw[i] = 0;
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

int console_tcp_password_ensure(const char *dir, char *err, size_t errlen)
{
	char path[700], pw[CONSOLE_TCP_PASSWORD_LEN + 2];
	int fd, r;

	console_tcp_password_path(dir, path, sizeof(path));
	if (access(path, R_OK) == 0)
		return 0;
	r = make_password(pw);
	if (r < 0) {
		snprintf(err, errlen, "cannot make a VNC password: getrandom failed");
		return r;
	}
	/* O_EXCL: never through a link someone left there; 0600 from the start. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return r;
	}
	strcat(pw, "\n");
	r = write(fd, pw, strlen(pw)) == (ssize_t)strlen(pw) ? 0 : -EIO;
	explicit_bzero(pw, sizeof(pw));
	if (close(fd) < 0 || r < 0) {
		unlink(path);
		snprintf(err, errlen, "cannot write %s", path);
		return -EIO;
	}
	return 0;
}

int console_tcp_password_read(const char *dir, char *pw, size_t len)
{
	char path[700];
	ssize_t n;
	int fd;

	console_tcp_password_path(dir, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, pw, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	pw[n] = 0;
	pw[strcspn(pw, "\r\n")] = 0;
	return pw[0] ? 0 : -EIO;
}

int console_tcp_listen(int *fd, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 8) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on 127.0.0.1 for the screen: %s",
			 strerror(errno));
		if (s >= 0)
			close(s);
		return r;
	}
	*fd = s;
	*port = ntohs(a.sin_port);
	return 0;
}
