/*
 * A switch's DHCP server: dnsmasq (Debian's dnsmasq-base), one per switch that has DHCP,
 * bound to the switch's bridge only, DNS off (--port=0), its leases in a file the service
 * reads for get-vmnetworkadapter (leases.h). It runs as a daemon of its own, apart from the
 * service's process, so that guests keep their leases while the service restarts; the
 * service finds it again from its pid file (pid, /proc comm and command line checked).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"

struct vsw_dhcp_config {
	const char *bridge;
	uint32_t first, last; /* the pool, network byte order */
	unsigned prefix;
	uint32_t router; /* 0: none (an internal switch has no way out) */
	const char *lease_file, *pid_file, *log_file;
};

/* Starts dnsmasq; returns once it serves (or fails, with its message in err). */
int vsw_dhcp_start(const struct vsw_dhcp_config *c, char *err, size_t errlen) must_check;
/* The running dnsmasq of pid_file (pid > 0), or 0. */
pid_t vsw_dhcp_running(const char *pid_file);
/* Stops it (SIGTERM, then SIGKILL after 2 s) and removes the pid file. */
void vsw_dhcp_stop(const char *pid_file);
