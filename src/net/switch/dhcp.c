/* dnsmasq for a switch; see dhcp.h. Options: dnsmasq(8), version 2.90. */
#include "net/switch/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/switch/run.h"

static const char *dnsmasq_path(void)
{
	return access("/usr/sbin/dnsmasq", X_OK) == 0 ? "/usr/sbin/dnsmasq" : "/sbin/dnsmasq";
}

int vsw_dhcp_start(const struct vsw_dhcp_config *c, char *err, size_t errlen)
{
	char a_if[64], a_range[128], a_router[64], a_lease[1100], a_pid[1100], a_log[1100];
	char first[INET_ADDRSTRLEN], last[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN],
		router[INET_ADDRSTRLEN];
	uint32_t m = c->prefix ? htonl(~0u << (32 - c->prefix)) : 0;
	char *argv[24];
	unsigned n = 0;
	int r;

	inet_ntop(AF_INET, &c->first, first, sizeof(first));
	inet_ntop(AF_INET, &c->last, last, sizeof(last));
	inet_ntop(AF_INET, &m, mask, sizeof(mask));
	snprintf(a_if, sizeof(a_if), "--interface=%s", c->bridge);
	snprintf(a_range, sizeof(a_range), "--dhcp-range=%s,%s,%s,1h", first, last, mask);
	if (c->router) {
		inet_ntop(AF_INET, &c->router, router, sizeof(router));
		snprintf(a_router, sizeof(a_router), "--dhcp-option=option:router,%s", router);
	} else {
		snprintf(a_router, sizeof(a_router), "--dhcp-option=option:router");
	}
	snprintf(a_lease, sizeof(a_lease), "--dhcp-leasefile=%s", c->lease_file);
	snprintf(a_pid, sizeof(a_pid), "--pid-file=%s", c->pid_file);
	snprintf(a_log, sizeof(a_log), "--log-facility=%s", c->log_file);
	argv[n++] = (char *)dnsmasq_path();
	argv[n++] = (char *)"--conf-file=/dev/null"; /* nothing from /etc/dnsmasq.conf */
	argv[n++] = a_if;
	argv[n++] = (char *)"--bind-interfaces";
	argv[n++] = (char *)"--except-interface=lo";
	argv[n++] = (char *)"--port=0"; /* DHCP only: no DNS */
	argv[n++] = a_range;
	argv[n++] = a_router;
	argv[n++] = (char *)"--dhcp-option=option:dns-server";
	argv[n++] = (char *)"--dhcp-authoritative";
	/* No ping of a candidate address before the offer: 3 s per guest, and the lease file knows.
	 */
	argv[n++] = (char *)"--no-ping";
	argv[n++] = (char *)"--log-dhcp";
	argv[n++] = a_lease;
	argv[n++] = a_pid;
	argv[n++] = a_log;
	argv[n] = NULL;
	/* dnsmasq's parent exits once the daemon runs, with a status and message if it cannot. */
	r = vsw_run(argv, err, errlen);
	if (r == 0 && !vsw_dhcp_running(c->pid_file)) {
		snprintf(err, errlen, "dnsmasq started but left no pid file %s", c->pid_file);
		return -EIO;
	}
	return r;
}

/* True if pid is a dnsmasq whose command line names pid_file. */
static bool is_ours(pid_t pid, const char *pid_file)
{
	char path[64], buf[4096], want[1100];
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (!strstr(buf, "dnsmasq"))
		return false;
	snprintf(want, sizeof(want), "--pid-file=%s", pid_file);
	for (i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, want))
			return true;
	return false;
}

pid_t vsw_dhcp_running(const char *pid_file)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(pid_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 1 || pid > 1 << 22 || !is_ours((pid_t)pid, pid_file))
		return 0;
	return (pid_t)pid;
}

void vsw_dhcp_stop(const char *pid_file)
{
	pid_t pid = vsw_dhcp_running(pid_file);
	int i;

	if (pid > 0) {
		kill(pid, SIGTERM);
		for (i = 0; i < 200 && vsw_dhcp_running(pid_file) == pid; i++) {
			struct timespec ts = {0, 10000000};

			nanosleep(&ts, NULL);
		}
		if (vsw_dhcp_running(pid_file) == pid)
			kill(pid, SIGKILL);
	}
	unlink(pid_file);
}
