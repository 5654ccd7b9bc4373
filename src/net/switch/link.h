/*
 * The kernel's links as the virtual switch uses them, over rtnetlink (libmnl): bridges (one per
 * switch), IFBs (the shaping point of a port's guest-to-host direction), ports enslaved to a
 * bridge, links up or down, an IPv4 address on a bridge, per-port VLANs where the kernel has
 * bridge VLAN filtering. Every call opens its own netlink socket: these are management
 * operations, a few per API call, from any thread. Errors are negative errno; the kernel's
 * extended ack message, when it gives one, goes into err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define VSW_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

struct vsw_link_info {
	unsigned index;
	unsigned master;     /* ifindex of its bridge, 0 if none */
	char kind[16];	     /* "bridge", "veth", "tun", ...; "" for a physical device */
	bool up;	     /* IFF_UP */
	bool vlan_filtering; /* a bridge with VLAN filtering on */
};

/* 0 with *info, -ENODEV if there is no such link, or -errno. */
int vsw_link_get(const char *name, struct vsw_link_info *info) must_check;
/*
 * Creates a link of kind ("bridge", "ifb"); -EEXIST if the name is taken. A bridge gets a
 * fixed random address of its own, which its ports joining and leaving do not change.
 */
int vsw_link_create(const char *name, const char *kind, char *err, size_t errlen) must_check;
int vsw_link_delete(const char *name) must_check;
int vsw_link_set_up(const char *name, bool up) must_check;
/* Enslaves name to bridge master (NULL: frees it from its bridge). */
int vsw_link_set_master(const char *name, const char *master, char *err, size_t errlen) must_check;
/* Adds addr/prefix (IPv4, network byte order) to a link; an address already there is fine. */
int vsw_addr_add4(const char *name, uint32_t addr, unsigned prefix, char *err,
		  size_t errlen) must_check;
/*
 * VLAN filtering on a bridge. -EOPNOTSUPP where the kernel was built without
 * CONFIG_BRIDGE_VLAN_FILTERING (err says so).
 */
int vsw_bridge_set_vlan_filtering(const char *bridge, bool on, char *err, size_t errlen) must_check;
/*
 * A bridge port in access mode for VLAN vid (1..4094): its untagged PVID, default VLAN 1
 * removed; vid 0 puts it back on VLAN 1 alone.
 */
int vsw_bridge_port_vlan(const char *port, unsigned vid, char *err, size_t errlen) must_check;
