/*
 * The network adapter calls: add-, get-, connect-, disconnect-, set- and
 * remove-vmnetworkadapter, and the adapters as the API shows them (switch, MAC, status,
 * DHCP leases, the guest's KVP addresses, port features, the worker's counters). The host
 * side of their ports is port.c; their ACLs are acl.c.
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

#define DEFAULT_ADAPTER_NAME "Network Adapter" /* Hyper-V's */

/*
 * The adapters a call acts on: the one named by "adapter", or every adapter of the VM.
 * Fills idx[] (indexes into st->adapters), returns the count, or -1 with err set.
 */
int svc_net_select_adapters(struct service *svc, const struct vm *vm, const struct api_request *req,
			    unsigned idx[NET_MAX_VM_ADAPTERS], struct api_error *err)
{
	const char *name = NULL;
	unsigned i, n = 0;

	if (api_param_string(req, "adapter", false, 1024, &name, err) < 0)
		return -1;
	for (i = 0; i < svc->net->nadapters && n < NET_MAX_VM_ADAPTERS; i++) {
		const struct net_adapter *a = &svc->net->adapters[i];

		if (!strcmp(a->vm_id, vm->rec.id) && (!name || !strcasecmp(a->name, name)))
			idx[n++] = i;
	}
	if (n == 0) {
		if (name)
			api_error_set(
				err, API_ERR_NOT_FOUND,
				"adapter: VM '%s' has no network adapter named '%s' (see parvis "
				"get-vmnetworkadapter %s)",
				vm->rec.name, name, vm->rec.name);
		else
			api_error_set(
				err, API_ERR_NOT_FOUND,
				"VM '%s' has no network adapter (parvis add-vmnetworkadapter)",
				vm->rec.name);
		return -1;
	}
	return (int)n;
}

/* --- what the API shows --------------------------------------------------------------------------
 */

/* The worker's status entry of adapter id ("network" of its status), or NULL. */
static struct json_object *worker_nic(const struct vm *vm, const char *id)
{
	struct json_object *net, *e, *v;
	size_t i;

	if (!vm->status || !json_object_object_get_ex(vm->status, "network", &net) ||
	    !json_object_is_type(net, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(net); i++) {
		e = json_object_array_get_idx(net, i);
		if (json_object_object_get_ex(e, "id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), id))
			return e;
	}
	return NULL;
}

/* The switch's DHCP leases of a's MAC. */
static void lease_addresses(struct service *svc, const struct net_adapter *a,
			    struct json_object *arr)
{
	const struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);
	uint32_t addrs[VSW_LEASES_MAX];
	char path[1100], buf[INET_ADDRSTRLEN], *text;
	unsigned i, n;
	ssize_t len;
	int fd;

	if (!sw || !sw->dhcp)
		return;
	snprintf(path, sizeof(path), "%s/net/%s.leases", svc->state_dir, sw->id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	text = malloc(1 << 20);
	len = text ? read(fd, text, 1 << 20) : -1;
	close(fd);
	n = len > 0 ? vsw_leases_find(text, (size_t)len, a->mac, addrs, VSW_LEASES_MAX) : 0;
	free(text);
	for (i = 0; i < n; i++) {
		inet_ntop(AF_INET, &addrs[i], buf, sizeof(buf));
		json_object_array_add(arr, json_object_new_string(buf));
	}
}

/*
 * The guest's own addresses, where its KVP daemon reports them (hv_kvp_daemon's auto pool,
 * keys NetworkAddressIPv4/IPv6: addresses separated by ';'). Guest text: each one checked.
 */
static void kvp_addresses(const struct vm *vm, struct json_object *arr)
{
	struct json_object *vmbus, *kvp, *items;
	size_t i;

	if (!vm->status || !json_object_object_get_ex(vm->status, "vmbus", &vmbus) ||
	    !json_object_object_get_ex(vmbus, "kvp", &kvp) ||
	    !json_object_object_get_ex(kvp, "items", &items) ||
	    !json_object_is_type(items, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(items); i++) {
		struct json_object *it = json_object_array_get_idx(items, i), *k, *v;
		char value[512], *tok, *save = NULL;
		unsigned n = 0;

		if (!json_object_object_get_ex(it, "key", &k) ||
		    !json_object_object_get_ex(it, "value", &v) ||
		    !json_object_is_type(k, json_type_string) ||
		    !json_object_is_type(v, json_type_string) ||
		    (strcmp(json_object_get_string(k), "NetworkAddressIPv4") &&
		     strcmp(json_object_get_string(k), "NetworkAddressIPv6")))
			continue;
		snprintf(value, sizeof(value), "%s", json_object_get_string(v));
		for (tok = strtok_r(value, ";", &save); tok && n < 16;
		     tok = strtok_r(NULL, ";", &save)) {
			unsigned char b[16];

			if (inet_pton(AF_INET, tok, b) == 1 || inet_pton(AF_INET6, tok, b) == 1) {
				json_object_array_add(arr, json_object_new_string(tok));
				n++;
			}
		}
	}
}

static struct json_object *adapter_json(struct service *svc, const struct net_adapter *a)
{
	const struct vm *vm = svc_net_vm_by_id(svc, a->vm_id);
	const struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);
	struct json_object *o = json_object_new_object(), *ips = json_object_new_array(),
			   *guest = json_object_new_array(), *w = vm ? worker_nic(vm, a->id) : NULL,
			   *v;
	char mac[VSW_MAC_TEXT];
	const char *status;

	vsw_mac_format(a->mac, mac);
	json_object_object_add(o, "vm", vm ? json_object_new_string(vm->rec.name) : NULL);
	json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "switch", sw ? json_object_new_string(sw->name) : NULL);
	json_object_object_add(o, "connected", json_object_new_boolean(sw != NULL));
	json_object_object_add(o, "mac_address", json_object_new_string(mac));
	json_object_object_add(o, "dynamic_mac_address", json_object_new_boolean(a->dynamic_mac));
	json_object_object_add(o, "is_legacy", json_object_new_boolean(a->legacy));
	if (!svc_net_vm_runs(vm))
		status = "";
	else if (w && json_object_object_get_ex(w, "state", &v) &&
		 json_object_is_type(v, json_type_string))
		/* netvsp's state (docs/network.md) in Hyper-V's words */
		status = !strcmp(json_object_get_string(v), "ready")	     ? "Ok"
			 : !strcmp(json_object_get_string(v), "negotiating") ? "Negotiating"
									     : "No Contact";
	else
		status = "No Contact";
	json_object_object_add(o, "status", json_object_new_string(status));
	lease_addresses(svc, a, ips);
	if (vm)
		kvp_addresses(vm, guest);
	json_object_object_add(o, "ip_addresses", ips);
	json_object_object_add(o, "guest_ip_addresses", guest);
	json_object_object_add(o, "mac_address_spoofing", json_object_new_boolean(a->mac_spoofing));
	json_object_object_add(o, "dhcp_guard", json_object_new_boolean(a->dhcp_guard));
	json_object_object_add(o, "router_guard", json_object_new_boolean(a->router_guard));
	json_object_object_add(o, "maximum_bandwidth", json_object_new_int64((int64_t)a->max_bps));
	json_object_object_add(o, "port_mirroring",
			       json_object_new_string(a->mirror == NET_MIRROR_SOURCE ? "source"
						      : a->mirror == NET_MIRROR_DESTINATION
							      ? "destination"
							      : "none"));
	json_object_object_add(o, "vlan_id", json_object_new_int((int)a->vlan));
	json_object_object_add(o, "acls", json_object_new_int((int)a->nacls));
	json_object_object_add(o, "tap", json_object_new_string(a->tap));
	json_object_object_add(o, "worker", w ? json_object_get(w) : NULL);
	return o;
}

struct json_object *svc_net_vm_adapters_json(struct service *svc, const struct vm *vm)
{
	struct json_object *arr = json_object_new_array();
	unsigned i;

	for (i = 0; i < svc->net->nadapters; i++)
		if (!strcmp(svc->net->adapters[i].vm_id, vm->rec.id))
			json_object_array_add(arr, adapter_json(svc, &svc->net->adapters[i]));
	return arr;
}

/* --- calls -------------------------------------------------------------------------------------
 */

int svc_net_need_state(const struct vm *vm, const char *call, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_CRITICAL};

	return svc_need_state(vm, call, ok, 3, "wait for it to be Off or Running", err);
}

int svc_net_save_or_fail(struct service *svc, struct api_error *err)
{
	if (svc_net_save(svc) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write %s/network.json", svc->state_dir);
		return -EIO;
	}
	return 0;
}

void svc_net_apply_rules_logged(struct service *svc)
{
	char e[512];

	if (svc_net_apply_rules(svc, e, sizeof(e)) < 0)
		pv_log(LOG_ERR, "the port rules: %s", e);
}

/*
 * A worker call about adapter (nic-add, nic-set, nic-remove) while the lock is dropped: vm
 * may change meanwhile, and the adapter is found again by the caller afterwards.
 */
int svc_net_worker_call(struct service *svc, struct vm *vm, const char *cmd,
			struct json_object *extra, const int *fds, unsigned nfds,
			struct api_error *err)
{
	struct json_object *ans = NULL;
	int r = nfds ? svc_call_worker_fds(svc, vm, cmd, extra, fds, nfds, CONTROL_TIMEOUT_MS, &ans)
		     : svc_call_worker(svc, vm, cmd, extra, CONTROL_TIMEOUT_MS, &ans);

	if (r < 0 || !svc_worker_ok(ans)) {
		api_error_set(err, API_ERR_WORKER, "%s: the worker of VM '%s' refused: %s", cmd,
			      vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
		json_object_put(ans);
		return -EIO;
	}
	json_object_put(ans);
	return 0;
}

struct json_object *net_nic_set_extra(const struct net_adapter *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "connected", json_object_new_boolean(a->switch_id[0] != '\0'));
	json_object_object_add(o, "mac_spoofing", json_object_new_boolean(a->mac_spoofing));
	return o;
}

void svc_net_notify_worker(struct service *svc, const char *vm_id, const char *adapter_id)
{
	struct vm *vm = svc_net_vm_by_id(svc, vm_id);
	struct net_adapter *a = svc_net_find_adapter(svc, vm_id, adapter_id);
	struct api_error err = {0};

	if (!vm || !a || !svc_net_vm_runs(vm))
		return;
	if (svc_net_worker_call(svc, vm, "nic-set", net_nic_set_extra(a), NULL, 0, &err) < 0)
		pv_log(LOG_WARN, "%s", err.message);
}

struct json_object *svc_call_add_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	const char *name = DEFAULT_ADAPTER_NAME, *sw_name = NULL, *mac = NULL;
	struct net_state *st = svc->net;
	struct net_adapter a = {0}, *added;
	struct net_switch *sw = NULL;
	char why[512], vm_id[GUID_STRING_LEN], id[16];
	unsigned i, n = 0, k, nlegacy = 0;
	bool legacy = false;

	if (!vm || api_param_string(req, "adapter", false, 1024, &name, err) < 0 ||
	    api_param_string(req, "switch", false, 1024, &sw_name, err) < 0 ||
	    api_param_string(req, "static_mac_address", false, 64, &mac, err) < 0 ||
	    api_param_bool(req, "is_legacy", &legacy, err) < 0 ||
	    svc_net_need_state(vm, "add-vmnetworkadapter", err) < 0)
		return NULL;
	a.legacy = legacy;
	if (legacy && vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "is_legacy: VM '%s' is generation 2, which has only synthetic "
			      "network adapters (the legacy DEC 21140A is a PCI device of "
			      "generation 1 VMs, for guests without VMBus drivers); drop "
			      "--is-legacy",
			      vm->rec.name);
		return NULL;
	}
	/* A PCI device: the machine's PCI bus is built at start (Hyper-V: only while Off). */
	if (legacy && svc_net_vm_runs(vm)) {
		api_error_set(err, API_ERR_STATE,
			      "is_legacy: VM '%s' is %s; a legacy network adapter is added while "
			      "it is Off (parvis stop-vm %s)",
			      vm->rec.name, vm_state_name(vm->rec.state), vm->rec.name);
		return NULL;
	}
	if (vsw_name_check("adapter", name, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return NULL;
	}
	if (sw_name && !(sw = svc_net_switch_by_name(svc, sw_name))) {
		api_error_set(err, API_ERR_NOT_FOUND,
			      "switch: no switch named '%s' (see parvis get-vmswitch)", sw_name);
		return NULL;
	}
	for (i = 0; i < st->nadapters; i++) {
		if (strcmp(st->adapters[i].vm_id, vm->rec.id))
			continue;
		n++;
		nlegacy += st->adapters[i].legacy;
		if (!strcasecmp(st->adapters[i].name, name)) {
			api_error_set(
				err, API_ERR_EXISTS,
				"adapter: VM '%s' has an adapter named '%s' already (give another "
				"with --name)",
				vm->rec.name, name);
			return NULL;
		}
	}
	if (legacy && nlegacy == 4) {
		api_error_set(err, API_ERR_INVALID,
			      "is_legacy: VM '%s' has 4 legacy network adapters, as many as "
			      "Hyper-V allows",
			      vm->rec.name);
		return NULL;
	}
	if (n == NET_MAX_VM_ADAPTERS || st->nadapters == NET_MAX_ADAPTERS) {
		api_error_set(err, API_ERR_INVALID, "VM '%s' has %u network adapters: at most %d",
			      vm->rec.name, n, NET_MAX_VM_ADAPTERS);
		return NULL;
	}
	if (mac) {
		if (vsw_mac_parse("static_mac_address", mac, a.mac, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		if (net_mac_in_use(st, a.mac, NULL)) {
			api_error_set(err, API_ERR_IN_USE,
				      "static_mac_address: %s is another adapter's address", mac);
			return NULL;
		}
	} else {
		if (net_mac_allocate(st, a.mac) < 0) {
			api_error_set(
				err, API_ERR_HOST,
				"all 256 dynamic MAC addresses of this host's pool are taken; give "
				"--static-mac-address");
			return NULL;
		}
		a.dynamic_mac = true;
	}
	/* The lowest free nicN of the VM. */
	for (k = 0;; k++) {
		snprintf(id, sizeof(id), "nic%u", k);
		if (!svc_net_find_adapter(svc, vm->rec.id, id))
			break;
	}
	memcpy(a.id, id, sizeof(a.id));
	memcpy(a.vm_id, vm->rec.id, sizeof(a.vm_id));
	snprintf(a.name, sizeof(a.name), "%s", name);
	if (sw)
		memcpy(a.switch_id, sw->id, sizeof(a.switch_id));
	do {
		k = st->next_index++;
		snprintf(a.tap, sizeof(a.tap), "pvt%u", k);
		snprintf(a.ifb, sizeof(a.ifb), "pvi%u", k);
	} while (if_nametoindex(a.tap) || if_nametoindex(a.ifb));
	memcpy(vm_id, vm->rec.id, sizeof(vm_id));
	st->adapters[st->nadapters++] = a;
	added = &st->adapters[st->nadapters - 1];
	if (svc_net_vm_runs(vm)) {
		int fds[VSW_TAP_MAX_QUEUES];
		unsigned q = net_queues_for(vm);
		struct json_object *extra;
		int r;

		why[0] = '\0';
		if (svc_net_open_port(svc, added, q, fds, why, sizeof(why)) < 0) {
			st->nadapters--;
			api_error_set(err, API_ERR_HOST, "add-vmnetworkadapter: %s", why);
			return NULL;
		}
		extra = net_nic_json(added, NULL, q);
		r = svc_net_worker_call(svc, vm, "nic-add", extra, fds, q, err);
		for (i = 0; i < q; i++)
			close(fds[i]);
		added = svc_net_find_adapter(svc, vm_id, id);
		if (r < 0) {
			if (added) {
				vsw_tc_port_release(added->ifb);
				memmove(added, added + 1,
					sizeof(*added) *
						(size_t)(&st->adapters[st->nadapters] - added - 1));
				st->nadapters--;
			}
			return NULL;
		}
		if (!added) {
			api_error_set(err, API_ERR_STATE, "the adapter was removed meanwhile");
			return NULL;
		}
		svc_net_apply_rules_logged(svc);
	}
	if (svc_net_save_or_fail(svc, err) < 0)
		return NULL;
	pv_log(LOG_INFO, "VM '%s': network adapter '%s' added", vm->rec.name, added->name);
	return adapter_json(svc, added);
}

struct json_object *svc_call_get_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	struct json_object *list, *res;
	const char *name = NULL;
	struct vm *vm = NULL;
	unsigned i;

	if (api_param_string(req, "name", false, 1024, &name, err) < 0)
		return NULL;
	if (name && !(vm = svc_lookup(svc, req, err)))
		return NULL;
	list = json_object_new_array();
	for (i = 0; i < svc->net->nadapters; i++)
		if (!vm || !strcmp(svc->net->adapters[i].vm_id, vm->rec.id))
			json_object_array_add(list, adapter_json(svc, &svc->net->adapters[i]));
	res = json_object_new_object();
	json_object_object_add(res, "adapters", list);
	return res;
}

/* The selected adapters as the answer, found again after worker calls. */
static struct json_object *answer(struct service *svc, const char *vm_id, char ids[][16],
				  unsigned n)
{
	struct json_object *list = json_object_new_array(), *res = json_object_new_object();
	unsigned i;

	for (i = 0; i < n; i++) {
		struct net_adapter *a = svc_net_find_adapter(svc, vm_id, ids[i]);

		if (a)
			json_object_array_add(list, adapter_json(svc, a));
	}
	json_object_object_add(res, "adapters", list);
	return res;
}

struct json_object *svc_call_connect_adapter(struct service *svc, const struct api_request *req,
					     bool connect, struct api_error *err)
{
	const char *call = connect ? "connect-vmnetworkadapter" : "disconnect-vmnetworkadapter";
	struct vm *vm = svc_lookup(svc, req, err);
	unsigned idx[NET_MAX_VM_ADAPTERS], i;
	char ids[NET_MAX_VM_ADAPTERS][16], vm_id[GUID_STRING_LEN], why[512];
	const char *sw_name = NULL;
	struct net_switch *sw = NULL;
	int n;

	if (!vm || (connect && api_param_string(req, "switch", true, 1024, &sw_name, err) < 0) ||
	    svc_net_need_state(vm, call, err) < 0)
		return NULL;
	if (connect && !(sw = svc_net_switch_by_name(svc, sw_name))) {
		api_error_set(err, API_ERR_NOT_FOUND,
			      "switch: no switch named '%s' (see parvis get-vmswitch)", sw_name);
		return NULL;
	}
	if ((n = svc_net_select_adapters(svc, vm, req, idx, err)) < 0)
		return NULL;
	memcpy(vm_id, vm->rec.id, sizeof(vm_id));
	for (i = 0; i < (unsigned)n; i++) {
		struct net_adapter *a = &svc->net->adapters[idx[i]];

		memcpy(ids[i], a->id, sizeof(ids[i]));
		if (svc_net_vm_runs(vm) && net_tap_exists(a) && a->switch_id[0])
			svc_net_port_detach(svc, a);
		if (connect)
			memcpy(a->switch_id, sw->id, sizeof(a->switch_id));
		else
			a->switch_id[0] = '\0';
		if (svc_net_vm_runs(vm) && connect && net_tap_exists(a) &&
		    svc_net_port_attach(svc, a, why, sizeof(why)) < 0) {
			a->switch_id[0] = '\0';
			api_error_set(err, API_ERR_HOST, "%s: %s", call, why);
			IGNORE_RESULT(svc_net_save_or_fail(svc, err));
			return NULL;
		}
	}
	if (svc_net_save_or_fail(svc, err) < 0)
		return NULL;
	if (svc_net_vm_runs(vm)) {
		svc_net_apply_rules_logged(svc);
		for (i = 0; i < (unsigned)n; i++) {
			struct net_adapter *a = svc_net_find_adapter(svc, vm_id, ids[i]);

			if (!a || !(vm = svc_net_vm_by_id(svc, vm_id)) || !svc_net_vm_runs(vm))
				break;
			if (svc_net_worker_call(svc, vm, "nic-set", net_nic_set_extra(a), NULL, 0,
						err) < 0)
				return NULL;
		}
	}
	return answer(svc, vm_id, ids, (unsigned)n);
}

static int param_opt_bool(const struct api_request *req, const char *key, int *out,
			  struct api_error *err)
{
	struct json_object *v;
	bool b;

	*out = -1;
	if (!json_object_object_get_ex(req->params, key, &v))
		return 0;
	if (api_param_bool(req, key, &b, err) < 0)
		return -EINVAL;
	*out = b;
	return 0;
}

struct json_object *svc_call_set_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	unsigned idx[NET_MAX_VM_ADAPTERS], i;
	char ids[NET_MAX_VM_ADAPTERS][16], vm_id[GUID_STRING_LEN], why[512];
	int spoof, dguard, rguard, dyn, n;
	uint64_t bw = UINT64_MAX, vlan = UINT64_MAX;
	const char *mirror = NULL, *mac = NULL;
	enum net_mirror m = NET_MIRROR_NONE;
	uint8_t smac[6];
	bool live;

	if (!vm || param_opt_bool(req, "mac_address_spoofing", &spoof, err) < 0 ||
	    param_opt_bool(req, "dhcp_guard", &dguard, err) < 0 ||
	    param_opt_bool(req, "router_guard", &rguard, err) < 0 ||
	    param_opt_bool(req, "dynamic_mac_address", &dyn, err) < 0 ||
	    api_param_u64(req, "maximum_bandwidth", false, UINT64_MAX >> 1, &bw, err) < 0 ||
	    api_param_u64(req, "vlan_id", false, 4094, &vlan, err) < 0 ||
	    api_param_string(req, "port_mirroring", false, 32, &mirror, err) < 0 ||
	    api_param_string(req, "static_mac_address", false, 64, &mac, err) < 0 ||
	    svc_net_need_state(vm, "set-vmnetworkadapter", err) < 0)
		return NULL;
	if (mirror) {
		if (!strcasecmp(mirror, "none"))
			m = NET_MIRROR_NONE;
		else if (!strcasecmp(mirror, "source"))
			m = NET_MIRROR_SOURCE;
		else if (!strcasecmp(mirror, "destination"))
			m = NET_MIRROR_DESTINATION;
		else {
			api_error_set(err, API_ERR_INVALID,
				      "port_mirroring: '%.40s' is not none, source or destination",
				      mirror);
			return NULL;
		}
	}
	if (mac && vsw_mac_parse("static_mac_address", mac, smac, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return NULL;
	}
	if (mac && dyn == 1) {
		api_error_set(err, API_ERR_INVALID,
			      "give either static_mac_address or dynamic_mac_address, not both");
		return NULL;
	}
	live = svc_net_vm_runs(vm);
	if ((mac || dyn == 1) && vm->rec.state != VM_STATE_OFF) {
		api_error_set(
			err, API_ERR_STATE,
			"static_mac_address: VM '%s' is %s; its adapters' MAC addresses change "
			"while it is Off",
			vm->rec.name, vm_state_name(vm->rec.state));
		return NULL;
	}
	if ((n = svc_net_select_adapters(svc, vm, req, idx, err)) < 0)
		return NULL;
	if (mac && n > 1) {
		api_error_set(
			err, API_ERR_INVALID,
			"static_mac_address: VM '%s' has %d adapters; name one with --adapter",
			vm->rec.name, n);
		return NULL;
	}
	memcpy(vm_id, vm->rec.id, sizeof(vm_id));
	/* VLANs first, the one setting this host may refuse, before anything changes. */
	for (i = 0; vlan != UINT64_MAX && vlan && i < (unsigned)n; i++) {
		struct net_adapter *a = &svc->net->adapters[idx[i]];
		struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);
		struct vsw_link_info info;
		const char *bridge = sw ? sw->bridge : NULL;
		char probe[16];
		int r;

		if (!bridge) { /* not connected: ask the kernel with a bridge of our own */
			snprintf(probe, sizeof(probe), "pvvlanprobe");
			if (vsw_link_create(probe, "bridge", why, sizeof(why)) < 0 &&
			    vsw_link_get(probe, &info) < 0) {
				api_error_set(err, API_ERR_HOST,
					      "vlan_id: cannot test the kernel: %s", why);
				return NULL;
			}
			bridge = probe;
		}
		r = vsw_bridge_set_vlan_filtering(bridge, true, why, sizeof(why));
		if (bridge != (sw ? sw->bridge : NULL))
			IGNORE_RESULT(vsw_link_delete(bridge));
		if (r < 0) {
			api_error_set(
				err, r == -EOPNOTSUPP ? API_ERR_INVALID : API_ERR_HOST,
				"vlan_id: %s; an adapter's VLAN ID needs it (leave vlan_id 0)",
				why[0] ? why : strerror(-r));
			return NULL;
		}
	}
	if (mac && net_mac_in_use(svc->net, smac, &svc->net->adapters[idx[0]])) {
		api_error_set(err, API_ERR_IN_USE,
			      "static_mac_address: %s is another adapter's address", mac);
		return NULL;
	}
	for (i = 0; i < (unsigned)n; i++) {
		struct net_adapter *a = &svc->net->adapters[idx[i]];

		memcpy(ids[i], a->id, sizeof(ids[i]));
		if (spoof >= 0)
			a->mac_spoofing = spoof;
		if (dguard >= 0)
			a->dhcp_guard = dguard;
		if (rguard >= 0)
			a->router_guard = rguard;
		if (bw != UINT64_MAX)
			a->max_bps = bw;
		if (mirror)
			a->mirror = m;
		if (vlan != UINT64_MAX)
			a->vlan = (unsigned)vlan;
		if (mac) {
			memcpy(a->mac, smac, 6);
			a->dynamic_mac = false;
		}
		if (dyn == 1 && !a->dynamic_mac) {
			uint8_t old[6];

			memcpy(old, a->mac, 6);
			memset(a->mac, 0, 6); /* its own address does not count as taken */
			if (net_mac_allocate(svc->net, a->mac) < 0) {
				memcpy(a->mac, old, 6);
				api_error_set(err, API_ERR_HOST, "the dynamic MAC pool is full");
				return NULL;
			}
			a->dynamic_mac = true;
		}
		if (live && a->switch_id[0] && net_tap_exists(a) && vlan != UINT64_MAX) {
			struct net_switch *sw = svc_net_switch_by_id(svc, a->switch_id);

			if (sw && vsw_bridge_port_vlan(a->tap, a->vlan, why, sizeof(why)) < 0)
				pv_log(LOG_ERR, "adapter '%s': VLAN %u: %s", a->name, a->vlan, why);
		}
	}
	if (svc_net_save_or_fail(svc, err) < 0)
		return NULL;
	if (live) {
		for (i = 0; i < svc->net->nswitches; i++)
			svc_net_switch_tc(svc, &svc->net->switches[i]);
		svc_net_apply_rules_logged(svc);
		for (i = 0; spoof >= 0 && i < (unsigned)n; i++) {
			struct net_adapter *a = svc_net_find_adapter(svc, vm_id, ids[i]);

			if (!a || !(vm = svc_net_vm_by_id(svc, vm_id)) || !svc_net_vm_runs(vm))
				break;
			if (svc_net_worker_call(svc, vm, "nic-set", net_nic_set_extra(a), NULL, 0,
						err) < 0)
				return NULL;
		}
	}
	return answer(svc, vm_id, ids, (unsigned)n);
}

struct json_object *svc_call_remove_adapter(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	unsigned idx[NET_MAX_VM_ADAPTERS], i;
	char ids[NET_MAX_VM_ADAPTERS][16], vm_id[GUID_STRING_LEN];
	int n;

	if (!vm || svc_net_need_state(vm, "remove-vmnetworkadapter", err) < 0 ||
	    (n = svc_net_select_adapters(svc, vm, req, idx, err)) < 0)
		return NULL;
	memcpy(vm_id, vm->rec.id, sizeof(vm_id));
	for (i = 0; i < (unsigned)n; i++)
		memcpy(ids[i], svc->net->adapters[idx[i]].id, sizeof(ids[i]));
	for (i = 0; i < (unsigned)n; i++) {
		struct net_adapter *a;

		if ((vm = svc_net_vm_by_id(svc, vm_id)) && svc_net_vm_runs(vm)) {
			struct json_object *extra = json_object_new_object();

			json_object_object_add(extra, "id", json_object_new_string(ids[i]));
			if (svc_net_worker_call(svc, vm, "nic-remove", extra, NULL, 0, err) < 0)
				return NULL;
		}
		a = svc_net_find_adapter(svc, vm_id, ids[i]);
		if (!a)
			continue;
		svc_net_port_detach(svc, a);
		vsw_tc_port_release(a->ifb);
		memmove(a, a + 1,
			sizeof(*a) * (size_t)(&svc->net->adapters[svc->net->nadapters] - a - 1));
		svc->net->nadapters--;
	}
	svc_net_apply_rules_logged(svc);
	if (svc_net_save_or_fail(svc, err) < 0)
		return NULL;
	return json_object_new_object();
}
