/*
 * The nftables ruleset of the virtual switches, as text for libnftables (nft.h): the port
 * features of every adapter (MAC-spoofing, DHCP and router guards, port ACLs) in table
 * "bridge parvis_ports", and the masquerade of every NAT switch in table "ip parvis_nat".
 * Each render replaces both tables in one transaction, so the kernel never holds half a
 * ruleset. Pure: no system calls (unit-tested on its text).
 *
 * Where a frame meets a port's rules (net/bridge/br_input.c, br_forward.c hooks):
 *   from the guest (iifname TAP): bridge "forward" (to another port) and "input" (to the host);
 *   to the guest (oifname TAP): bridge "forward" (from another port) and "output" (from the host).
 * ACL entries apply most specific first (a MAC, then longer prefixes before shorter ones),
 * deny before allow at the same specificity, the first match decides and no match allows: as
 * Hyper-V's port ACLs, where an allow is an exception to a broader deny.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "net/switch/parse.h"

#define VSW_TABLE_PORTS "parvis_ports"
#define VSW_TABLE_NAT	"parvis_nat"

struct vsw_port_rules {
	const char *tap;
	uint8_t mac[6];
	bool mac_guard;	   /* frames from the guest with another source MAC dropped */
	bool dhcp_guard;   /* DHCP (v4, v6) server messages from the guest dropped */
	bool router_guard; /* router advertisements and redirects from the guest dropped */
	const struct vsw_acl *acls;
	unsigned nacls;
};

struct vsw_nat_rules {
	const char *bridge;
	uint32_t subnet; /* network byte order */
	unsigned prefix;
};

/* The ruleset text (malloc'ed, the caller frees), or NULL if out of memory. */
char *vsw_rules_render(const struct vsw_port_rules *ports, unsigned nports,
		       const struct vsw_nat_rules *nats, unsigned nnats);
