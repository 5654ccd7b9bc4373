/*
 * The adapters' side of the host: their MAC addresses, their ports (TAP on the switch's
 * bridge, VLAN, tc) and what a VM's start and end need (the TAP queues the worker inherits,
 * the ruleset once it runs). The worker's side of each adapter is netvsp (docs/network.md):
 * it receives the queue descriptors, at start ("nics" in its configuration) or hot (nic-add
 * with SCM_RIGHTS, adapter.c), and drops the guest's spoofed frames itself; the other port
 * features are the host's (nftables, tc).
 */
#include "base/compiler.h"
#include "vmms/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "net/switch/leases.h"
#include "net/switch/tap.h"
#include "net/switch/tc.h"

/* --- MAC addresses -----------------------------------------------------------------------------
 */

bool net_mac_in_use(const struct net_state *st, const uint8_t mac[6],
		    const struct net_adapter *self)
{
	unsigned i;

	for (i = 0; i < st->nadapters; i++)
		if (&st->adapters[i] != self && !memcmp(st->adapters[i].mac, mac, 6))
			return true;
	return false;
}

int net_mac_allocate(const struct net_state *st, uint8_t mac[6])
{
	unsigned n;

	for (n = 0; n < 256; n++) {
		uint8_t m[6] = {VSW_MAC_OUI0,	 VSW_MAC_OUI1,	  VSW_MAC_OUI2,
				st->mac_pool[0], st->mac_pool[1], (uint8_t)n};

		if (!net_mac_in_use(st, m, NULL)) {
			memcpy(mac, m, 6);
			return 0;
		}
	}
	return -ENOSPC;
}

/* --- lookups -----------------------------------------------------------------------------------
 */

struct vm *svc_net_vm_by_id(struct service *svc, const char *id)
{
	struct vm *vm;

	for (vm = svc->vms; vm; vm = vm->next)
		if (!strcmp(vm->rec.id, id))
			return vm;
	return NULL;
}

bool svc_net_vm_runs(const struct vm *vm)
{
	return vm && vm->pidfd >= 0 && vm_state_has_worker(vm->rec.state);
}

bool net_tap_exists(const struct net_adapter *a)
{
	return if_nametoindex(a->tap) != 0;
}

/* --- ports on the host ---------------------------------------------------------------------------
 */

int svc_net_port_attach(struct service *svc, struct net_adapter *a, char *err, size_t errlen)
{
	struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);
	int r;

	if (!sw) {
		snprintf(err, errlen, "its switch is gone");
		return -ENOENT;
	}
	if (sw->error[0]) {
		snprintf(err, errlen, "switch '%s' is not up on this host: %s", sw->name,
			 sw->error);
		return -ENETDOWN;
	}
	if ((r = vsw_link_set_master(a->tap, sw->bridge, err, errlen)) < 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot put %s on %s: %s", a->tap, sw->bridge,
				 strerror(-r));
		return r;
	}
	if (a->vlan) {
		if ((r = vsw_bridge_set_vlan_filtering(sw->bridge, true, err, errlen)) < 0 ||
		    (r = vsw_bridge_port_vlan(a->tap, a->vlan, err, errlen)) < 0)
			return r;
	}
	if ((r = vsw_link_set_up(a->tap, true)) < 0) {
		snprintf(err, errlen, "cannot bring %s up: %s", a->tap, strerror(-r));
		return r;
	}
	svc_net_switch_tc(svc, sw);
	return 0;
}

void svc_net_port_detach(struct service *svc, struct net_adapter *a)
{
	struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);
	struct vsw_tc_port none = {.tap = a->tap, .ifb = a->ifb};
	char e[256];

	if (!net_tap_exists(a))
		return;
	IGNORE_RESULT(vsw_link_set_master(a->tap, NULL, e, sizeof(e)));
	IGNORE_RESULT(vsw_tc_port_apply(&none, e, sizeof(e)));
	if (sw) {
		char saved[GUID_STRING_LEN];

		/* The others' mirrors without this one. */
		memcpy(saved, a->switch_id, sizeof(saved));
		a->switch_id[0] = '\0';
		svc_net_switch_tc(svc, sw);
		memcpy(a->switch_id, saved, sizeof(saved));
	}
}

void svc_net_switch_tc(struct service *svc, const struct net_switch *sw)
{
	struct net_state *st = svc->net;
	unsigned i, j;

	for (i = 0; i < st->nadapters; i++) {
		struct net_adapter *a = &st->adapters[i];
		struct vsw_tc_port p = {.tap = a->tap, .ifb = a->ifb, .max_bps = a->max_bps};
		char e[512];

		if (strcmp(a->switch_id, sw->id) ||
		    !svc_net_vm_runs(svc_net_vm_by_id(svc, a->vm_id)) || !net_tap_exists(a))
			continue;
		for (j = 0; a->mirror == NET_MIRROR_SOURCE && j < st->nadapters; j++) {
			const struct net_adapter *d = &st->adapters[j];

			if (d != a && d->mirror == NET_MIRROR_DESTINATION &&
			    !strcmp(d->switch_id, sw->id) && net_tap_exists(d) &&
			    p.nmirrors < VSW_TC_MAX_MIRRORS)
				p.mirror_to[p.nmirrors++] = d->tap;
		}
		if (vsw_tc_port_apply(&p, e, sizeof(e)) < 0)
			pv_log(LOG_ERR, "adapter '%s' (%s): traffic control: %s", a->name, a->tap,
			       e);
	}
}

/* --- the worker's side
 * ------------------------------------------------------------------------------ */

unsigned net_queues_for(const struct vm *vm)
{
	return vm->rec.cpus < NET_MAX_QUEUES ? vm->rec.cpus : NET_MAX_QUEUES;
}

struct json_object *net_nic_json(const struct net_adapter *a, const int *fds, unsigned n)
{
	struct json_object *o = json_object_new_object(), *f = json_object_new_array();
	char mac[VSW_MAC_TEXT];
	unsigned i;

	vsw_mac_format(a->mac, mac);
	json_object_object_add(o, "id", json_object_new_string(a->id));
	for (i = 0; fds && i < n; i++)
		json_object_array_add(f, json_object_new_int(fds[i]));
	if (fds)
		json_object_object_add(o, "fds", f);
	else
		json_object_put(f);
	json_object_object_add(o, "mac", json_object_new_string(mac));
	json_object_object_add(o, "mac_spoofing", json_object_new_boolean(a->mac_spoofing));
	json_object_object_add(o, "connected", json_object_new_boolean(a->switch_id[0] != '\0'));
	json_object_object_add(o, "queues", json_object_new_int((int)n));
	if (a->legacy)
		json_object_object_add(o, "legacy", json_object_new_boolean(1));
	return o;
}

/* The TAP's queues, and the port on its switch when connected. */
int svc_net_open_port(struct service *svc, struct net_adapter *a, unsigned queues, int *fds,
		      char *err, size_t errlen)
{
	int r = vsw_tap_open(a->tap, queues, fds);
	unsigned i;

	if (r < 0) {
		snprintf(err, errlen, "cannot open TAP %s: %s", a->tap, strerror(-r));
		return r;
	}
	r = a->switch_id[0] ? svc_net_port_attach(svc, a, err, errlen)
			    : vsw_link_set_up(a->tap, true);
	if (r < 0) {
		for (i = 0; i < queues; i++)
			close(fds[i]);
		return r;
	}
	return 0;
}

int svc_net_prepare_start(struct service *svc, struct vm *vm, int *fds, unsigned maxfds,
			  unsigned *nfds, struct json_object **nics, struct api_error *err)
{
	struct net_state *st = svc->net;
	unsigned i, n = 0, q;

	*nfds = 0;
	*nics = NULL;
	for (i = 0; i < st->nadapters; i++) {
		struct net_adapter *a = &st->adapters[i];
		char e[512] = "";

		if (strcmp(a->vm_id, vm->rec.id))
			continue;
		/* The DEC 21140A has one receive and one transmit ring: one queue. */
		q = a->legacy ? 1 : net_queues_for(vm);
		if (n + q > maxfds) {
			api_error_set(err, API_ERR_HOST, "VM '%s': too many TAP queues",
				      vm->rec.name);
			goto fail;
		}
		if (svc_net_open_port(svc, a, q, fds + n, e, sizeof(e)) < 0) {
			api_error_set(err, API_ERR_INVALID,
				      "VM '%s': network adapter '%s' cannot be set up: %s",
				      vm->rec.name, a->name, e);
			goto fail;
		}
		if (!*nics)
			*nics = json_object_new_array();
		json_object_array_add(*nics, net_nic_json(a, fds + n, q));
		n += q;
	}
	*nfds = n;
	return 0;
fail:
	while (n)
		close(fds[--n]);
	json_object_put(*nics);
	*nics = NULL;
	return -EINVAL;
}

void svc_net_vm_started(struct service *svc, struct vm *vm)
{
	char e[512];
	unsigned i;

	/* tc of its switches' ports: mirrors between its ports and the others' need them all. */
	for (i = 0; i < svc->net->nswitches; i++)
		svc_net_switch_tc(svc, &svc->net->switches[i]);
	if (svc_net_apply_rules(svc, e, sizeof(e)) < 0)
		pv_log(LOG_ERR, "VM '%s': the port rules: %s", vm->rec.name, e);
}

void svc_net_vm_stopped(struct service *svc, struct vm *vm)
{
	unsigned i;
	char e[512];
	bool any = false;

	for (i = 0; i < svc->net->nadapters; i++) {
		struct net_adapter *a = &svc->net->adapters[i];

		if (strcmp(a->vm_id, vm->rec.id))
			continue;
		vsw_tc_port_release(a->ifb);
		any = true;
	}
	if (!any)
		return;
	for (i = 0; i < svc->net->nswitches; i++)
		svc_net_switch_tc(svc, &svc->net->switches[i]);
	if (svc_net_apply_rules(svc, e, sizeof(e)) < 0)
		pv_log(LOG_ERR, "VM '%s': the port rules: %s", vm->rec.name, e);
}

void svc_net_vm_removed(struct service *svc, const struct vm *vm)
{
	struct net_state *st = svc->net;
	unsigned i = 0;
	bool any = false;

	while (i < st->nadapters) {
		if (strcmp(st->adapters[i].vm_id, vm->rec.id)) {
			i++;
			continue;
		}
		vsw_tc_port_release(st->adapters[i].ifb);
		memmove(&st->adapters[i], &st->adapters[i + 1],
			sizeof(st->adapters[0]) * (st->nadapters - i - 1));
		st->nadapters--;
		any = true;
	}
	if (any && svc_net_save(svc) < 0)
		pv_log(LOG_ERR, "VM '%s': its adapters' removal was not written", vm->rec.name);
}

struct net_adapter *svc_net_find_adapter(struct service *svc, const char *vm_id, const char *id)
{
	unsigned i;

	for (i = 0; i < svc->net->nadapters; i++)
		if (!strcmp(svc->net->adapters[i].vm_id, vm_id) &&
		    !strcmp(svc->net->adapters[i].id, id))
			return &svc->net->adapters[i];
	return NULL;
}
