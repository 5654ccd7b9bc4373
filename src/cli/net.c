/*
 * parvis's network verbs, named after Hyper-V's cmdlets (New-VMSwitch, Add-VMNetworkAdapter,
 * Add-VMNetworkAdapterAcl, ...) with Unix flags; each is one API call (docs/api.md). A table
 * says which flags each verb takes and how each flag becomes a parameter; the service checks
 * the values and names the field that is wrong.
 */
#include "cli/net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum flag_kind {
	F_STRING, /* --flag VALUE -> "key": "VALUE" */
	F_ONOFF,  /* --flag on|off -> "key": true|false */
	F_COUNT,  /* --flag N -> "key": N */
	F_RATE,	  /* --flag 100M (bits per second; k, M, G: 10^3, 10^6, 10^9) -> "key": N */
	F_TRUE,	  /* --flag -> "key": true */
	F_JSON,	  /* --json */
};

struct flag {
	const char *name, *key;
	enum flag_kind kind;
};

static const struct flag flags[] = {
	{"switch-type", "switch_type", F_STRING},
	{"net-adapter", "net_adapter", F_STRING},
	{"subnet", "subnet", F_STRING},
	{"dhcp", "dhcp", F_ONOFF},
	{"new-name", "new_name", F_STRING},
	{"force", "force", F_TRUE},
	{"switch", "switch", F_STRING},
	{"name", "adapter", F_STRING},
	{"static-mac-address", "static_mac_address", F_STRING},
	{"dynamic-mac-address", "dynamic_mac_address", F_TRUE},
	{"is-legacy", "is_legacy", F_TRUE},
	{"mac-address-spoofing", "mac_address_spoofing", F_ONOFF},
	{"dhcp-guard", "dhcp_guard", F_ONOFF},
	{"router-guard", "router_guard", F_ONOFF},
	{"maximum-bandwidth", "maximum_bandwidth", F_RATE},
	{"port-mirroring", "port_mirroring", F_STRING},
	{"vlan-id", "vlan_id", F_COUNT},
	{"remote-ip-address", "remote_ip_address", F_STRING},
	{"remote-mac-address", "remote_mac_address", F_STRING},
	{"direction", "direction", F_STRING},
	{"action", "action", F_STRING},
	{"json", NULL, F_JSON},
};

enum print { P_SWITCHES, P_ADAPTERS, P_ACLS, P_NONE };

struct net_verb {
	const char *name;
	const char *flags; /* the flags it takes, "a,b,c" */
	bool needs_name;   /* the positional NAME (switch or VM) */
	enum print print;
	const char *usage, *help;
};

static const struct net_verb verbs[] = {
	{"new-vmswitch", "switch-type,net-adapter,subnet,dhcp,json", true, P_SWITCHES,
	 "new-vmswitch NAME [--switch-type external|internal|private|nat] [--net-adapter IF]\n"
	 "                  [--subnet CIDR] [--dhcp on|off] [--json]",
	 "Creates a virtual switch: external (bridged to host interface IF), internal (the host\n"
	 "gets an interface on it; --subnet gives it an address, --dhcp on a DHCP server), "
	 "private\n"
	 "(VMs only) or nat (Hyper-V's Default Switch: internal plus DHCP and masquerade through\n"
	 "the host's routes; its subnet is picked free in 172.29.N.0/24 unless --subnet). Kept in\n"
	 "the service's state and set up again when it starts. Without --switch-type: external "
	 "with\n"
	 "--net-adapter, else internal."},
	{"get-vmswitch", "json", false, P_SWITCHES, "get-vmswitch [NAME] [--json]",
	 "Lists the switches: type, bridge, uplink, subnet, DHCP server, adapters, status."},
	{"set-vmswitch", "new-name,net-adapter,dhcp,json", true, P_SWITCHES,
	 "set-vmswitch NAME [--new-name NEW] [--net-adapter IF] [--dhcp on|off] [--json]",
	 "Renames a switch, moves an external switch to another host interface, or turns an\n"
	 "internal switch's DHCP server on or off."},
	{"remove-vmswitch", "force", true, P_NONE, "remove-vmswitch NAME [--force]",
	 "Removes a switch; refused while adapters are connected to it, unless --force (they "
	 "stay,\n"
	 "disconnected)."},
	{"add-vmnetworkadapter", "switch,name,static-mac-address,is-legacy,json", true, P_ADAPTERS,
	 "add-vmnetworkadapter VM [--switch S] [--name ADAPTER] [--static-mac-address MAC] "
	 "[--is-legacy] "
	 "[--json]",
	 "Gives a VM a synthetic network adapter (hot add when it runs), connected to switch S if\n"
	 "given. Its MAC address is dynamic (00:15:5d:..., unique on this host) unless static."},
	{"get-vmnetworkadapter", "json", false, P_ADAPTERS, "get-vmnetworkadapter [VM] [--json]",
	 "The adapters: switch, MAC, status, IP addresses (the switch's DHCP leases; the guest's "
	 "KVP\n"
	 "daemon's where it runs one) and port features."},
	{"connect-vmnetworkadapter", "switch,name,json", true, P_ADAPTERS,
	 "connect-vmnetworkadapter VM --switch S [--name ADAPTER] [--json]",
	 "Connects the VM's adapters (or the one named) to switch S."},
	{"disconnect-vmnetworkadapter", "name,json", true, P_ADAPTERS,
	 "disconnect-vmnetworkadapter VM [--name ADAPTER] [--json]",
	 "Disconnects them: the guest sees its link go down."},
	{"set-vmnetworkadapter",
	 "name,mac-address-spoofing,dhcp-guard,router-guard,maximum-bandwidth,port-mirroring,vlan-"
	 "id,static-mac-address,dynamic-mac-address,json",
	 true, P_ADAPTERS,
	 "set-vmnetworkadapter VM [--name ADAPTER] [--mac-address-spoofing on|off]\n"
	 "                  [--dhcp-guard on|off] [--router-guard on|off] [--maximum-bandwidth "
	 "BITS]\n"
	 "                  [--port-mirroring none|source|destination] [--vlan-id N]\n"
	 "                  [--static-mac-address MAC | --dynamic-mac-address] [--json]",
	 "Port features: MAC-spoofing (off: frames from another source MAC are dropped), DHCP "
	 "guard\n"
	 "(DHCP server replies from the guest dropped), router guard (router advertisements and\n"
	 "redirects dropped), maximum bandwidth in bits/s each way (k, M, G suffixes; 0: none), "
	 "port\n"
	 "mirroring (a source's traffic copied to the switch's destinations), VLAN ID (needs the\n"
	 "kernel's bridge VLAN filtering). MAC addresses change while the VM is Off."},
	{"remove-vmnetworkadapter", "name", true, P_NONE,
	 "remove-vmnetworkadapter VM [--name ADAPTER]",
	 "Removes the VM's adapters, or the one named (hot remove when it runs)."},
	{"add-vmnetworkadapteracl",
	 "name,remote-ip-address,remote-mac-address,direction,action,json", true, P_ACLS,
	 "add-vmnetworkadapteracl VM [--name ADAPTER] (--remote-ip-address PREFIX |\n"
	 "                  --remote-mac-address MAC) --direction inbound|outbound|both\n"
	 "                  --action allow|deny [--json]",
	 "A port ACL entry: traffic to (inbound) or from (outbound) the guest whose remote end\n"
	 "matches is allowed or dropped; the most specific entry decides."},
	{"get-vmnetworkadapteracl", "name,json", true, P_ACLS,
	 "get-vmnetworkadapteracl VM [--name ADAPTER] [--json]", "The adapters' ACL entries."},
	{"remove-vmnetworkadapteracl", "name,remote-ip-address,remote-mac-address,direction,action",
	 true, P_NONE,
	 "remove-vmnetworkadapteracl VM [--name ADAPTER] (--remote-ip-address PREFIX |\n"
	 "                  --remote-mac-address MAC) --direction D [--action A]",
	 "Removes the matching ACL entries."},
	{0},
};

static const struct net_verb *find_verb(const char *name)
{
	const struct net_verb *v;

	for (v = verbs; v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

bool cli_net_is_verb(const char *verb)
{
	return find_verb(verb) != NULL;
}

void cli_net_usage(void)
{
	const struct net_verb *v;

	for (v = verbs; v->name; v++)
		printf("  %s\n", v->usage);
}

bool cli_net_help(const char *verb)
{
	const struct net_verb *v = find_verb(verb);

	if (v)
		printf("Usage: parvis [--socket PATH] %s\n\n%s\n", v->usage, v->help);
	return v != NULL;
}

static bool takes(const struct net_verb *v, const char *flag)
{
	size_t n = strlen(flag);
	const char *p = v->flags;

	while (p && *p) {
		if (!strncmp(p, flag, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static int usage(const struct net_verb *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage(const struct net_verb *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "parvis %s: ", v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: parvis %s\n", v->usage);
	return 2;
}

static int parse_rate(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long n;
	uint64_t mul = 1;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		mul = 1000;
	else if (*end == 'M')
		mul = 1000000;
	else if (*end == 'G')
		mul = 1000000000;
	else if (*end)
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	if (n > UINT64_MAX / 2 / mul)
		return -EINVAL;
	*ret = n * mul;
	return 0;
}

/* Fills params from argv; 0 or an exit status. */
static int parse_args(const struct net_verb *v, int argc, char **argv, struct json_object *params,
		      bool *json)
{
	const char *name = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq;
		const struct flag *f;
		char fname[64];
		size_t n;

		if (strncmp(arg, "--", 2)) {
			if (name)
				return usage(v, "unexpected argument '%s'", arg);
			name = arg;
			continue;
		}
		if (!strcmp(arg, "--help")) {
			cli_net_help(v->name);
			return -1;
		}
		eq = strchr(arg, '=');
		n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (n >= sizeof(fname))
			return usage(v, "unknown option '%s'", arg);
		memcpy(fname, arg + 2, n);
		fname[n] = '\0';
		for (f = flags;
		     f < flags + sizeof(flags) / sizeof(flags[0]) && strcmp(f->name, fname); f++)
			;
		if (f == flags + sizeof(flags) / sizeof(flags[0]))
			return usage(v, "unknown option '%s'", arg);
		if (!takes(v, fname))
			return usage(v, "--%s does not apply to this verb", fname);
		if (f->kind == F_JSON) {
			*json = true;
			continue;
		}
		if (f->kind == F_TRUE) {
			json_object_object_add(params, f->key, json_object_new_boolean(1));
			continue;
		}
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return usage(v, "%s needs a value", arg);
		switch (f->kind) {
		case F_STRING:
			json_object_object_add(params, f->key, json_object_new_string(value));
			break;
		case F_ONOFF:
			if (strcmp(value, "on") && strcmp(value, "off"))
				return usage(v, "'%s' is not on or off", value);
			json_object_object_add(params, f->key,
					       json_object_new_boolean(!strcmp(value, "on")));
			break;
		case F_COUNT:
		case F_RATE: {
			uint64_t num;

			if (parse_rate(value, &num) < 0 ||
			    (f->kind == F_COUNT && strspn(value, "0123456789") != strlen(value)))
				return usage(v,
					     f->kind == F_RATE ? "'%s' is not a rate in bits per "
								 "second (100M, 1G, 500000)"
							       : "'%s' is not a number",
					     value);
			json_object_object_add(params, f->key, json_object_new_int64((int64_t)num));
			break;
		}
		default: break;
		}
	}
	if (v->needs_name && !name)
		return usage(v, "%s",
			     strstr(v->name, "switch") ? "which switch? give its name"
						       : "which VM? give its name");
	if (name)
		json_object_object_add(params, "name", json_object_new_string(name));
	return 0;
}

static const char *str(struct json_object *o, const char *key, const char *none)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : none;
}

static void print_switches(struct json_object *list)
{
	size_t i;

	printf("%-20s %-9s %-8s %-12s %-18s %-5s %-8s %s\n", "Name", "Type", "Bridge", "NetAdapter",
	       "Subnet", "DHCP", "Adapters", "Status");
	for (i = 0; list && i < json_object_array_length(list); i++) {
		struct json_object *s = json_object_array_get_idx(list, i), *v;

		json_object_object_get_ex(s, "adapters", &v);
		printf("%-20s %-9s %-8s %-12s %-18s %-5s %-8d %s\n", str(s, "name", ""),
		       str(s, "switch_type", ""), str(s, "bridge", ""), str(s, "net_adapter", "-"),
		       str(s, "subnet", "-"),
		       json_object_object_get_ex(s, "dhcp", &v) && json_object_get_boolean(v)
			       ? "on"
			       : "off",
		       json_object_object_get_ex(s, "adapters", &v) ? json_object_get_int(v) : 0,
		       str(s, "status", ""));
	}
}

static void print_adapters(struct json_object *list)
{
	size_t i, j;

	printf("%-16s %-18s %-16s %-18s %-12s %s\n", "VM", "Name", "Switch", "MacAddress", "Status",
	       "IPAddresses");
	for (i = 0; list && i < json_object_array_length(list); i++) {
		struct json_object *a = json_object_array_get_idx(list, i), *ips;
		char addrs[256] = "";

		if (json_object_object_get_ex(a, "ip_addresses", &ips))
			for (j = 0; j < json_object_array_length(ips); j++) {
				size_t n = strlen(addrs);

				snprintf(addrs + n, sizeof(addrs) - n, "%s%s", n ? "," : "",
					 json_object_get_string(json_object_array_get_idx(ips, j)));
			}
		printf("%-16s %-18s %-16s %-18s %-12s %s\n", str(a, "vm", ""), str(a, "name", ""),
		       str(a, "switch", "-"), str(a, "mac_address", ""), str(a, "status", ""),
		       addrs);
	}
}

static void print_acls(struct json_object *list)
{
	size_t i;

	printf("%-18s %-10s %-8s %s\n", "Adapter", "Direction", "Action", "Remote");
	for (i = 0; list && i < json_object_array_length(list); i++) {
		struct json_object *a = json_object_array_get_idx(list, i);

		printf("%-18s %-10s %-8s %s\n", str(a, "adapter", ""), str(a, "direction", ""),
		       str(a, "action", ""),
		       str(a, "remote_ip_address", str(a, "remote_mac_address", "")));
	}
}

int cli_net_main(int argc, char **argv)
{
	const struct net_verb *v = find_verb(argv[0]);
	struct json_object *params = json_object_new_object(), *res = NULL, *list = NULL;
	bool json = false;
	int r;

	if (!v)
		return 2;
	r = parse_args(v, argc, argv, params, &json);
	if (r) {
		json_object_put(params);
		return r < 0 ? 0 : r;
	}
	r = cli_call(v->name, params, json, &res);
	if (r)
		return r;
	if (json) {
		printf("%s\n",
		       json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (v->print == P_SWITCHES) {
		if (!json_object_object_get_ex(res, "switches", &list)) {
			list = json_object_new_array();
			json_object_array_add(list, json_object_get(res));
			print_switches(list);
			json_object_put(list);
		} else {
			print_switches(list);
		}
	} else if (v->print == P_ADAPTERS) {
		if (!json_object_object_get_ex(res, "adapters", &list)) {
			list = json_object_new_array();
			json_object_array_add(list, json_object_get(res));
			print_adapters(list);
			json_object_put(list);
		} else {
			print_adapters(list);
		}
	} else if (v->print == P_ACLS) {
		json_object_object_get_ex(res, "acls", &list);
		print_acls(list);
	}
	json_object_put(res);
	return 0;
}
