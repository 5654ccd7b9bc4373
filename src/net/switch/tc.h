/*
 * A port's traffic control, with tc(8) (iproute2): Hyper-V's maximum bandwidth and port
 * mirroring on an adapter's TAP.
 *
 *   to the guest (the TAP's egress): root HTB, one class at the maximum (or unlimited),
 *     a u32 match-all filter into it whose actions mirror each frame to the destinations;
 *   from the guest (the TAP's ingress, which has no queue to shape): an ingress qdisc whose
 *     match-all filter mirrors to the destinations, then redirects to the port's IFB, where
 *     a root HTB shapes it the same way.
 *
 * This host's kernel has HTB, TBF, ingress, u32, mirred and IFB, not the police action nor
 * clsact; these are the parts every kernel with traffic control has.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define VSW_TC_MAX_MIRRORS 8

struct vsw_tc_port {
	const char *tap;
	const char *ifb;			   /* the port's IFB name (made and removed here) */
	uint64_t max_bps;			   /* bits per second; 0: no limit */
	const char *mirror_to[VSW_TC_MAX_MIRRORS]; /* destination TAPs */
	unsigned nmirrors;
};

/* Replaces whatever the port had by p's settings (none: the TAP's defaults, no IFB). */
int vsw_tc_port_apply(const struct vsw_tc_port *p, char *err, size_t errlen) must_check;
/* Removes the port's IFB (the TAP's qdiscs go with the TAP). */
void vsw_tc_port_release(const char *ifb);
