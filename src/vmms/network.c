/*
 * The virtual switches: setting each switch up on this host
 * (bridge, host interface, uplink, dnsmasq), the ruleset of all ports, and the switch calls
 * (new-, get-, set-, remove-vmswitch). See network.h and docs/switches.md.
 */
#include "base/compiler.h"
#include "vmms/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "net/switch/dhcp.h"
#include "net/switch/nft.h"
#include "net/switch/rules.h"
#include "net/switch/tc.h"

/* --- switches on this host -------------------------------------------------------------------- */

struct net_switch *svc_net_switch_by_name(struct service *svc, const char *name)
{
	unsigned i;

	for (i = 0; i < svc->net->nswitches; i++)
		if (!strcasecmp(svc->net->switches[i].name, name))
			return &svc->net->switches[i];
	return NULL;
}

struct net_switch *svc_net_switch_by_id(struct service *svc, const char *id)
{
	unsigned i;

	for (i = 0; id && *id && i < svc->net->nswitches; i++)
		if (!strcmp(svc->net->switches[i].id, id))
			return &svc->net->switches[i];
	return NULL;
}

static void write_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		IGNORE_RESULT(write(fd, value, strlen(value)));
		close(fd);
	}
}

static int dhcp_start(struct service *svc, const struct net_switch *s, char *err, size_t errlen)
{
	char lease[1100], pid[1100], log[1100];
	uint32_t net = ntohl(s->subnet), bcast = net | (~0u >> s->prefix);
	struct vsw_dhcp_config c = {
		.bridge = s->bridge,
		.first = htonl(net + 2),
		.last = htonl(bcast - 1),
		.prefix = s->prefix,
		.router = s->type == NET_SWITCH_NAT ? htonl(net + 1) : 0,
		.lease_file = lease,
		.pid_file = pid,
		.log_file = log,
	};

	svc_net_path(svc, lease, sizeof(lease), s->id, "leases");
	svc_net_path(svc, pid, sizeof(pid), s->id, "pid");
	svc_net_path(svc, log, sizeof(log), s->id, "dnsmasq.log");
	if (vsw_dhcp_running(pid))
		return 0;
	return vsw_dhcp_start(&c, err, errlen);
}

static void dhcp_stop(struct service *svc, const struct net_switch *s)
{
	char pid[1100];

	svc_net_path(svc, pid, sizeof(pid), s->id, "pid");
	vsw_dhcp_stop(pid);
}

/* The external switch's uplink: the host interface it bridges. */
static int uplink_attach(const struct net_switch *s, char *err, size_t errlen)
{
	struct vsw_link_info up, br;
	int r;

	if ((r = vsw_link_get(s->net_adapter, &up)) < 0) {
		snprintf(err, errlen, "net_adapter: the host has no interface '%s'",
			 s->net_adapter);
		return r;
	}
	if ((r = vsw_link_get(s->bridge, &br)) < 0)
		return r;
	if (!strcmp(up.kind, "bridge") || !strcmp(up.kind, "tun")) {
		snprintf(err, errlen,
			 "net_adapter: '%s' is a %s; an external switch bridges a network "
			 "interface (Ethernet, veth, ...)",
			 s->net_adapter, up.kind);
		return -EINVAL;
	}
	if (up.master && up.master != br.index) {
		snprintf(
			err, errlen,
			"net_adapter: '%s' is already a port of another bridge (index %u); free it "
			"first",
			s->net_adapter, up.master);
		return -EBUSY;
	}
	if ((r = vsw_link_set_master(s->net_adapter, s->bridge, err, errlen)) < 0 ||
	    (r = vsw_link_set_up(s->net_adapter, true)) < 0)
		return r;
	return 0;
}

/* Sets the switch up on this host; idempotent (a restarted service finds its bridge there). */
static int switch_realize(struct service *svc, struct net_switch *s, char *err, size_t errlen)
{
	struct vsw_link_info info;
	char path[128];
	int r;

	err[0] = '\0';
	r = vsw_link_create(s->bridge, "bridge", err, errlen);
	/* A new bridge: a dnsmasq left from before is bound to the one that is gone. */
	if (r == 0 && s->dhcp)
		dhcp_stop(svc, s);
	if (r == -EEXIST) {
		if (vsw_link_get(s->bridge, &info) < 0 || strcmp(info.kind, "bridge")) {
			snprintf(err, errlen, "interface %s exists and is not this switch's bridge",
				 s->bridge);
			return -EEXIST;
		}
		r = 0;
	}
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot make bridge %s: %s", s->bridge, strerror(-r));
		return r;
	}
	/* Private and external: the host has no address of its own on the switch, not even IPv6's
	 * link-local. */
	if (s->type == NET_SWITCH_PRIVATE || s->type == NET_SWITCH_EXTERNAL) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", s->bridge);
		write_sysctl(path, "1");
	}
	if (s->prefix && (s->type == NET_SWITCH_INTERNAL || s->type == NET_SWITCH_NAT)) {
		r = vsw_addr_add4(s->bridge, htonl(ntohl(s->subnet) + 1), s->prefix, err, errlen);
		if (r < 0 && r != -EEXIST) {
			if (!err[0])
				snprintf(err, errlen, "cannot give %s its address: %s", s->bridge,
					 strerror(-r));
			return r;
		}
	}
	if ((r = vsw_link_set_up(s->bridge, true)) < 0) {
		snprintf(err, errlen, "cannot bring %s up: %s", s->bridge, strerror(-r));
		return r;
	}
	if (s->type == NET_SWITCH_EXTERNAL && (r = uplink_attach(s, err, errlen)) < 0)
		return r;
	if (s->type == NET_SWITCH_NAT)
		write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	if (s->dhcp && (r = dhcp_start(svc, s, err, errlen)) < 0)
		return r;
	return 0;
}

static void switch_unrealize(struct service *svc, struct net_switch *s)
{
	struct vsw_link_info up, br;

	dhcp_stop(svc, s);
	if (s->type == NET_SWITCH_EXTERNAL && vsw_link_get(s->net_adapter, &up) == 0 &&
	    vsw_link_get(s->bridge, &br) == 0 && up.master == br.index)
		IGNORE_RESULT(vsw_link_set_master(s->net_adapter, NULL, NULL, 0));
	if (vsw_link_get(s->bridge, &br) == 0 && !strcmp(br.kind, "bridge"))
		IGNORE_RESULT(vsw_link_delete(s->bridge));
}

/* --- the ruleset of all ports ---------------------------------------------------------------- */

static bool vm_id_runs(struct service *svc, const char *vm_id)
{
	struct vm *vm;

	for (vm = svc->vms; vm; vm = vm->next)
		if (!strcmp(vm->rec.id, vm_id))
			return vm->pidfd >= 0 && vm_state_has_worker(vm->rec.state);
	return false;
}

int svc_net_apply_rules(struct service *svc, char *err, size_t errlen)
{
	struct net_state *st = svc->net;
	struct vsw_port_rules *ports = calloc(st->nadapters + 1, sizeof(*ports));
	struct vsw_nat_rules nats[NET_MAX_SWITCHES];
	unsigned i, np = 0, nn = 0;
	char *text;
	int r;

	if (!ports)
		return -ENOMEM;
	for (i = 0; i < st->nadapters; i++) {
		const struct net_adapter *a = &st->adapters[i];

		if (!a->switch_id[0] || !vm_id_runs(svc, a->vm_id))
			continue;
		ports[np] = (struct vsw_port_rules){
			.tap = a->tap,
			.mac_guard = !a->mac_spoofing,
			.dhcp_guard = a->dhcp_guard,
			.router_guard = a->router_guard,
			.acls = a->acls,
			.nacls = a->nacls,
		};
		memcpy(ports[np].mac, a->mac, 6);
		np++;
	}
	for (i = 0; i < st->nswitches; i++)
		if (st->switches[i].type == NET_SWITCH_NAT)
			nats[nn++] = (struct vsw_nat_rules){.bridge = st->switches[i].bridge,
							    .subnet = st->switches[i].subnet,
							    .prefix = st->switches[i].prefix};
	text = vsw_rules_render(ports, np, nats, nn);
	free(ports);
	if (!text)
		return -ENOMEM;
	r = vsw_nft_apply(text, err, errlen);
	free(text);
	return r;
}

/* --- loading --------------------------------------------------------------------------------- */

int svc_net_load(struct service *svc, char *err, size_t errlen)
{
	char path[1100], dir[1100];
	struct net_state *st = calloc(1, sizeof(*st));
	unsigned i;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!st || !(st->adapters = calloc(NET_MAX_ADAPTERS, sizeof(*st->adapters)))) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	svc->net = st;
	snprintf(dir, sizeof(dir), "%s/net", svc->state_dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	svc_net_path(svc, path, sizeof(path), NULL, NULL);
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -errno;
		}
		/* First start: this host's part of its dynamic MACs, at random. */
		if (getrandom(st->mac_pool, sizeof(st->mac_pool), 0) != sizeof(st->mac_pool)) {
			snprintf(err, errlen, "no random bytes for the MAC pool");
			return -EIO;
		}
		return svc_net_save(svc);
	}
	{
		char buf[65536];
		size_t n;
		FILE *m = open_memstream(&text, &len);

		while (m && (n = fread(buf, 1, sizeof(buf), f)) > 0 && len <= NET_STATE_FILE_MAX)
			fwrite(buf, 1, n, m);
		if (m)
			fclose(m);
	}
	fclose(f);
	r = text ? net_state_parse(text, len, st, err, errlen) : -ENOMEM;
	free(text);
	if (r < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
		return r;
	}
	for (i = 0; i < st->nswitches; i++) {
		struct net_switch *s = &st->switches[i];

		if (switch_realize(svc, s, s->error, sizeof(s->error)) < 0)
			pv_log(LOG_ERR, "switch '%s' is not up: %s", s->name, s->error);
		else
			pv_log(LOG_INFO, "switch '%s' (%s, %s) is up", s->name,
			       net_switch_type_name(s->type), s->bridge);
	}
	return 0;
}

void svc_net_resume(struct service *svc)
{
	char e[512];
	unsigned i;

	for (i = 0; i < svc->net->nadapters; i++) {
		struct net_adapter *a = &svc->net->adapters[i];

		if (a->switch_id[0] && vm_id_runs(svc, a->vm_id) &&
		    svc_net_port_attach(svc, a, e, sizeof(e)) < 0)
			pv_log(LOG_WARN, "adapter %s (%s): %s", a->name, a->tap, e);
	}
	for (i = 0; i < svc->net->nswitches; i++)
		svc_net_switch_tc(svc, &svc->net->switches[i]);
	if (svc_net_apply_rules(svc, e, sizeof(e)) < 0)
		pv_log(LOG_ERR, "the switches' rules: %s", e);
}

void svc_net_free(struct service *svc)
{
	if (!svc->net)
		return;
	free(svc->net->adapters);
	free(svc->net);
	svc->net = NULL;
}

/* --- calls ----------------------------------------------------------------------------------- */

static struct json_object *switch_json(struct service *svc, const struct net_switch *s)
{
	struct json_object *o = json_object_new_object();
	char buf[64], pid[1100];
	unsigned i, n = 0;

	for (i = 0; i < svc->net->nadapters; i++)
		n += !strcmp(svc->net->adapters[i].switch_id, s->id);
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "switch_type",
			       json_object_new_string(net_switch_type_name(s->type)));
	json_object_object_add(o, "bridge", json_object_new_string(s->bridge));
	json_object_object_add(o, "net_adapter",
			       s->net_adapter[0] ? json_object_new_string(s->net_adapter) : NULL);
	if (s->prefix) {
		net_subnet_text(s->subnet, s->prefix, buf, sizeof(buf));
		json_object_object_add(o, "subnet", json_object_new_string(buf));
		if (s->type == NET_SWITCH_INTERNAL || s->type == NET_SWITCH_NAT) {
			uint32_t host = htonl(ntohl(s->subnet) + 1);

			inet_ntop(AF_INET, &host, buf, sizeof(buf));
			json_object_object_add(o, "host_address", json_object_new_string(buf));
		}
	} else {
		json_object_object_add(o, "subnet", NULL);
	}
	json_object_object_add(o, "dhcp", json_object_new_boolean(s->dhcp));
	svc_net_path(svc, pid, sizeof(pid), s->id, "pid");
	json_object_object_add(o, "dhcp_server_pid",
			       s->dhcp && vsw_dhcp_running(pid)
				       ? json_object_new_int(vsw_dhcp_running(pid))
				       : NULL);
	json_object_object_add(o, "adapters", json_object_new_int((int)n));
	json_object_object_add(o, "status", json_object_new_string(s->error[0] ? s->error : "Up"));
	return o;
}

/* The host's IPv4 addresses overlap subnet/prefix? */
static bool subnet_taken(struct service *svc, uint32_t subnet, unsigned prefix)
{
	uint32_t mask = ~0u << (32 - prefix), net = ntohl(subnet) & mask;
	struct ifaddrs *ifa, *i;
	unsigned k;
	bool taken = false;

	for (k = 0; k < svc->net->nswitches; k++) {
		const struct net_switch *s = &svc->net->switches[k];
		uint32_t m2;

		if (!s->prefix)
			continue;
		m2 = ~0u << (32 - (s->prefix < prefix ? s->prefix : prefix));
		if ((ntohl(s->subnet) & m2) == (net & m2))
			return true;
	}
	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) & mask) == net)
			taken = true;
	freeifaddrs(ifa);
	return taken;
}

/* A NAT switch's default subnet, as Hyper-V's Default Switch picks one: 172.29.N.0/24, free. */
static int pick_subnet(struct service *svc, uint32_t *subnet, unsigned *prefix)
{
	unsigned n;

	for (n = 0; n < 256; n++) {
		uint32_t s = htonl(0xac1d0000u | n << 8); /* 172.29.n.0 */

		if (!subnet_taken(svc, s, 24)) {
			*subnet = s;
			*prefix = 24;
			return 0;
		}
	}
	return -ENOSPC;
}

static int param_bool_opt(const struct api_request *req, const char *key, int *out,
			  struct api_error *err)
{
	bool b;
	struct json_object *v;

	if (!json_object_object_get_ex(req->params, key, &v))
		return 0;
	if (api_param_bool(req, key, &b, err) < 0)
		return -EINVAL;
	*out = b;
	return 0;
}

struct json_object *svc_call_new_switch(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	const char *name, *type = NULL, *ifname = NULL, *subnet = NULL;
	struct net_switch s = {0};
	char why[512];
	int dhcp = -1, r;
	unsigned i;

	if (api_param_string(req, "name", true, 1024, &name, err) < 0 ||
	    api_param_string(req, "switch_type", false, 32, &type, err) < 0 ||
	    api_param_string(req, "net_adapter", false, 64, &ifname, err) < 0 ||
	    api_param_string(req, "subnet", false, 64, &subnet, err) < 0 ||
	    param_bool_opt(req, "dhcp", &dhcp, err) < 0)
		return NULL;
	if (vsw_name_check("name", name, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return NULL;
	}
	if (svc_net_switch_by_name(svc, name)) {
		api_error_set(err, API_ERR_EXISTS,
			      "a switch named '%s' already exists (parvis get-vmswitch)", name);
		return NULL;
	}
	if (svc->net->nswitches == NET_MAX_SWITCHES) {
		api_error_set(err, API_ERR_INVALID, "this host has %d switches already",
			      NET_MAX_SWITCHES);
		return NULL;
	}
	/* Hyper-V's New-VMSwitch: with -NetAdapterName it is external, else internal. */
	if (type && net_switch_type_parse(type, &s.type) < 0) {
		api_error_set(
			err, API_ERR_INVALID,
			"switch_type: '%.40s' is not a switch type (external, internal, private "
			"or nat)",
			type);
		return NULL;
	}
	if (!type)
		s.type = ifname ? NET_SWITCH_EXTERNAL : NET_SWITCH_INTERNAL;
	if ((s.type == NET_SWITCH_EXTERNAL) != (ifname != NULL)) {
		api_error_set(
			err, API_ERR_INVALID,
			s.type == NET_SWITCH_EXTERNAL
				? "net_adapter: an external switch needs the host interface it "
				  "bridges (--net-adapter IF)"
				: "net_adapter: only an external switch bridges a host interface");
		return NULL;
	}
	if (ifname) {
		if (vsw_ifname_check("net_adapter", ifname, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		for (i = 0; i < svc->net->nswitches; i++)
			if (!strcmp(svc->net->switches[i].net_adapter, ifname)) {
				api_error_set(err, API_ERR_IN_USE,
					      "net_adapter: '%s' is bridged by switch '%s' already",
					      ifname, svc->net->switches[i].name);
				return NULL;
			}
		snprintf(s.net_adapter, sizeof(s.net_adapter), "%s", ifname);
	}
	if (subnet && s.type != NET_SWITCH_INTERNAL && s.type != NET_SWITCH_NAT) {
		api_error_set(err, API_ERR_INVALID,
			      "subnet: a %s switch has no host address, so no subnet of its own",
			      net_switch_type_name(s.type));
		return NULL;
	}
	if (dhcp >= 0 && s.type != NET_SWITCH_INTERNAL && s.type != NET_SWITCH_NAT) {
		api_error_set(err, API_ERR_INVALID,
			      "dhcp: only internal and nat switches serve DHCP (an external one's "
			      "network has its own server)");
		return NULL;
	}
	if (dhcp == 0 && s.type == NET_SWITCH_NAT) {
		api_error_set(err, API_ERR_INVALID,
			      "dhcp: a nat switch always serves DHCP (use an internal switch "
			      "without it)");
		return NULL;
	}
	s.dhcp = s.type == NET_SWITCH_NAT || dhcp == 1;
	if (subnet) {
		if (net_subnet_parse("subnet", subnet, &s.subnet, &s.prefix, why, sizeof(why)) <
		    0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		if (subnet_taken(svc, s.subnet, s.prefix)) {
			api_error_set(
				err, API_ERR_IN_USE,
				"subnet: %s overlaps an address of this host or another switch",
				subnet);
			return NULL;
		}
	} else if (s.dhcp || s.type == NET_SWITCH_NAT) {
		if (pick_subnet(svc, &s.subnet, &s.prefix) < 0) {
			api_error_set(err, API_ERR_HOST,
				      "no free 172.29.N.0/24 subnet: give --subnet");
			return NULL;
		}
	}
	snprintf(s.name, sizeof(s.name), "%s", name);
	if (vm_id_new(s.id) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot make an ID");
		return NULL;
	}
	/* A bridge name no interface has yet. */
	do
		snprintf(s.bridge, sizeof(s.bridge), "pvbr%u", svc->net->next_index++);
	while (if_nametoindex(s.bridge));
	r = switch_realize(svc, &s, why, sizeof(why));
	if (r < 0) {
		switch_unrealize(svc, &s);
		api_error_set(err,
			      r == -EINVAL || r == -ENODEV || r == -EBUSY ? API_ERR_INVALID
									  : API_ERR_HOST,
			      "new-vmswitch '%s': %s", name, why);
		return NULL;
	}
	svc->net->switches[svc->net->nswitches++] = s;
	if (svc_net_apply_rules(svc, why, sizeof(why)) < 0)
		pv_log(LOG_ERR, "switch '%s': %s", name, why);
	if (svc_net_save(svc) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write %s/network.json", svc->state_dir);
		return NULL;
	}
	pv_log(LOG_INFO, "switch '%s' created (%s, %s)", s.name, net_switch_type_name(s.type),
	       s.bridge);
	return switch_json(svc, &svc->net->switches[svc->net->nswitches - 1]);
}

struct json_object *svc_call_get_switch(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	struct json_object *list, *res;
	const char *name = NULL;
	unsigned i;

	if (api_param_string(req, "name", false, 1024, &name, err) < 0)
		return NULL;
	if (name && !svc_net_switch_by_name(svc, name)) {
		api_error_set(err, API_ERR_NOT_FOUND,
			      "no switch named '%s' (see parvis get-vmswitch)", name);
		return NULL;
	}
	list = json_object_new_array();
	for (i = 0; i < svc->net->nswitches; i++)
		if (!name || !strcasecmp(svc->net->switches[i].name, name))
			json_object_array_add(list, switch_json(svc, &svc->net->switches[i]));
	res = json_object_new_object();
	json_object_object_add(res, "switches", list);
	return res;
}

static struct net_switch *lookup(struct service *svc, const struct api_request *req,
				 struct api_error *err)
{
	const char *name;
	struct net_switch *s;

	if (api_param_string(req, "name", true, 1024, &name, err) < 0)
		return NULL;
	s = svc_net_switch_by_name(svc, name);
	if (!s)
		api_error_set(err, API_ERR_NOT_FOUND,
			      "no switch named '%s' (see parvis get-vmswitch)", name);
	return s;
}

struct json_object *svc_call_set_switch(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	struct net_switch *s = lookup(svc, req, err), old;
	const char *new_name = NULL, *ifname = NULL;
	char why[512];
	int dhcp = -1;

	if (!s || api_param_string(req, "new_name", false, 1024, &new_name, err) < 0 ||
	    api_param_string(req, "net_adapter", false, 64, &ifname, err) < 0 ||
	    param_bool_opt(req, "dhcp", &dhcp, err) < 0)
		return NULL;
	old = *s;
	if (new_name) {
		struct net_switch *other = svc_net_switch_by_name(svc, new_name);

		if (vsw_name_check("new_name", new_name, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		if (other && other != s) {
			api_error_set(err, API_ERR_EXISTS,
				      "new_name: a switch named '%s' already exists", new_name);
			return NULL;
		}
	}
	if (ifname) {
		if (s->type != NET_SWITCH_EXTERNAL) {
			api_error_set(
				err, API_ERR_INVALID,
				"net_adapter: switch '%s' is %s; only an external switch bridges "
				"a host interface",
				s->name, net_switch_type_name(s->type));
			return NULL;
		}
		if (vsw_ifname_check("net_adapter", ifname, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
	}
	if (dhcp >= 0 && s->type != NET_SWITCH_INTERNAL) {
		api_error_set(err, API_ERR_INVALID,
			      "dhcp: only an internal switch's DHCP can be turned on or off (a nat "
			      "switch always has it, others never)");
		return NULL;
	}
	if (dhcp == 1 && !s->prefix && pick_subnet(svc, &s->subnet, &s->prefix) < 0) {
		api_error_set(err, API_ERR_HOST, "no free 172.29.N.0/24 subnet");
		return NULL;
	}
	if (ifname && strcmp(ifname, s->net_adapter)) {
		struct vsw_link_info up, br;

		if (vsw_link_get(s->net_adapter, &up) == 0 && vsw_link_get(s->bridge, &br) == 0 &&
		    up.master == br.index)
			IGNORE_RESULT(vsw_link_set_master(s->net_adapter, NULL, NULL, 0));
		snprintf(s->net_adapter, sizeof(s->net_adapter), "%s", ifname);
	}
	if (dhcp == 0 && s->dhcp)
		dhcp_stop(svc, s);
	if (dhcp >= 0)
		s->dhcp = dhcp;
	if (switch_realize(svc, s, why, sizeof(why)) < 0) {
		char again[256];

		*s = old;
		IGNORE_RESULT(switch_realize(svc, s, again, sizeof(again)));
		api_error_set(err, API_ERR_INVALID, "set-vmswitch '%s': %s", s->name, why);
		return NULL;
	}
	s->error[0] = '\0';
	if (new_name)
		snprintf(s->name, sizeof(s->name), "%s", new_name);
	if (svc_net_save(svc) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write %s/network.json", svc->state_dir);
		return NULL;
	}
	return switch_json(svc, s);
}

struct json_object *svc_call_remove_switch(struct service *svc, const struct api_request *req,
					   struct api_error *err)
{
	struct net_switch *s = lookup(svc, req, err);
	char(*gone)[2][GUID_STRING_LEN];
	unsigned i, n = 0, ngone = 0;
	bool force = false;
	char why[512];

	if (!s || api_param_bool(req, "force", &force, err) < 0)
		return NULL;
	for (i = 0; i < svc->net->nadapters; i++)
		n += !strcmp(svc->net->adapters[i].switch_id, s->id);
	if (n && !force) {
		api_error_set(err, API_ERR_IN_USE,
			      "switch '%s' has %u network adapter%s connected; disconnect them "
			      "(parvis disconnect-vmnetworkadapter) or give --force",
			      s->name, n, n == 1 ? "" : "s");
		return NULL;
	}
	gone = calloc(n + 1, sizeof(*gone));
	if (!gone) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	/* --force: the adapters stay, disconnected (as Hyper-V leaves them). */
	for (i = 0; i < svc->net->nadapters; i++) {
		struct net_adapter *a = &svc->net->adapters[i];

		if (strcmp(a->switch_id, s->id))
			continue;
		svc_net_port_detach(svc, a);
		a->switch_id[0] = '\0';
		memcpy(gone[ngone][0], a->vm_id, GUID_STRING_LEN);
		snprintf(gone[ngone++][1], GUID_STRING_LEN, "%s", a->id);
	}
	switch_unrealize(svc, s);
	pv_log(LOG_INFO, "switch '%s' removed", s->name);
	memmove(s, s + 1, sizeof(*s) * (size_t)(&svc->net->switches[svc->net->nswitches] - s - 1));
	svc->net->nswitches--;
	if (svc_net_apply_rules(svc, why, sizeof(why)) < 0)
		pv_log(LOG_ERR, "the switches' rules: %s", why);
	if (svc_net_save(svc) < 0) {
		free(gone);
		api_error_set(err, API_ERR_HOST, "cannot write %s/network.json", svc->state_dir);
		return NULL;
	}
	/* Their guests see the link go down (the lock is dropped for each). */
	for (i = 0; i < ngone; i++)
		svc_net_notify_worker(svc, gone[i][0], gone[i][1]);
	free(gone);
	return json_object_new_object();
}
