/*
 * DIR/network.json: the switches and adapters as the service keeps them (network.h), written
 * atomically, and its parser, which checks every field with the switch's own parsers
 * (src/net/switch/parse.h) and is fuzzed (target network_state).
 */
#include "vmms/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"

#define NET_STATE_VERSION 1

static const char *const type_names[] = {
	[NET_SWITCH_EXTERNAL] = "external",
	[NET_SWITCH_INTERNAL] = "internal",
	[NET_SWITCH_PRIVATE] = "private",
	[NET_SWITCH_NAT] = "nat",
};

const char *net_switch_type_name(enum net_switch_type t)
{
	return (unsigned)t < 4 ? type_names[t] : "?";
}

int net_switch_type_parse(const char *s, enum net_switch_type *t)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		if (!strcasecmp(s, type_names[i])) {
			*t = (enum net_switch_type)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const mirror_names[] = {"none", "source", "destination"};

/* --- files ---------------------------------------------------------------------------------- */

void svc_net_path(const struct service *svc, char *buf, size_t len, const char *sw_id,
		  const char *suffix)
{
	if (sw_id)
		snprintf(buf, len, "%s/net/%s.%s", svc->state_dir, sw_id, suffix);
	else
		snprintf(buf, len, "%s/network.json", svc->state_dir);
}

void net_subnet_text(uint32_t subnet, unsigned prefix, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &subnet, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, prefix);
}

static struct json_object *acl_json(const struct vsw_acl *a)
{
	struct json_object *o = json_object_new_object();
	char buf[VSW_PREFIX_TEXT];

	json_object_object_add(o, "direction", json_object_new_string(vsw_acl_dir_name(a->dir)));
	json_object_object_add(o, "action", json_object_new_string(vsw_acl_action_name(a->action)));
	if (a->is_mac) {
		vsw_mac_format(a->mac, buf);
		json_object_object_add(o, "remote_mac_address", json_object_new_string(buf));
	} else {
		vsw_prefix_format(&a->ip, buf);
		json_object_object_add(o, "remote_ip_address", json_object_new_string(buf));
	}
	return o;
}

/* One adapter as the file holds it (also in move-vm's OFFER, migration_peer.c). */
struct json_object *net_adapter_to_json(const struct net_adapter *a)
{
	struct json_object *ao = json_object_new_object(), *acls = json_object_new_array();
	char buf[64];
	unsigned j;

	json_object_object_add(ao, "vm_id", json_object_new_string(a->vm_id));
	json_object_object_add(ao, "id", json_object_new_string(a->id));
	json_object_object_add(ao, "name", json_object_new_string(a->name));
	if (a->switch_id[0])
		json_object_object_add(ao, "switch_id", json_object_new_string(a->switch_id));
	vsw_mac_format(a->mac, buf);
	json_object_object_add(ao, "mac_address", json_object_new_string(buf));
	json_object_object_add(ao, "dynamic_mac", json_object_new_boolean(a->dynamic_mac));
	json_object_object_add(ao, "mac_address_spoofing",
			       json_object_new_boolean(a->mac_spoofing));
	json_object_object_add(ao, "dhcp_guard", json_object_new_boolean(a->dhcp_guard));
	if (a->legacy)
		json_object_object_add(ao, "legacy", json_object_new_boolean(1));
	json_object_object_add(ao, "router_guard", json_object_new_boolean(a->router_guard));
	json_object_object_add(ao, "maximum_bandwidth", json_object_new_int64((int64_t)a->max_bps));
	json_object_object_add(ao, "port_mirroring",
			       json_object_new_string(mirror_names[a->mirror]));
	json_object_object_add(ao, "vlan_id", json_object_new_int((int)a->vlan));
	json_object_object_add(ao, "tap", json_object_new_string(a->tap));
	json_object_object_add(ao, "ifb", json_object_new_string(a->ifb));
	for (j = 0; j < a->nacls; j++)
		json_object_array_add(acls, acl_json(&a->acls[j]));
	json_object_object_add(ao, "acls", acls);
	return ao;
}

struct json_object *net_state_to_json(const struct net_state *st)
{
	struct json_object *o = json_object_new_object(), *sws = json_object_new_array(),
			   *ads = json_object_new_array();
	char buf[64];
	unsigned i;

	json_object_object_add(o, "version", json_object_new_int(NET_STATE_VERSION));
	snprintf(buf, sizeof(buf), "%02x:%02x", st->mac_pool[0], st->mac_pool[1]);
	json_object_object_add(o, "mac_pool", json_object_new_string(buf));
	json_object_object_add(o, "next_index", json_object_new_int64(st->next_index));
	for (i = 0; i < st->nswitches; i++) {
		const struct net_switch *s = &st->switches[i];
		struct json_object *so = json_object_new_object();

		json_object_object_add(so, "id", json_object_new_string(s->id));
		json_object_object_add(so, "name", json_object_new_string(s->name));
		json_object_object_add(so, "switch_type",
				       json_object_new_string(net_switch_type_name(s->type)));
		json_object_object_add(so, "bridge", json_object_new_string(s->bridge));
		if (s->net_adapter[0])
			json_object_object_add(so, "net_adapter",
					       json_object_new_string(s->net_adapter));
		if (s->prefix) {
			net_subnet_text(s->subnet, s->prefix, buf, sizeof(buf));
			json_object_object_add(so, "subnet", json_object_new_string(buf));
		}
		json_object_object_add(so, "dhcp", json_object_new_boolean(s->dhcp));
		json_object_array_add(sws, so);
	}
	for (i = 0; i < st->nadapters; i++)
		json_object_array_add(ads, net_adapter_to_json(&st->adapters[i]));
	json_object_object_add(o, "switches", sws);
	json_object_object_add(o, "adapters", ads);
	return o;
}

/* --- the file's parser ------------------------------------------------------------------------ */

static const char *jstring(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static int jbool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static int copy_field(char *dst, size_t dstlen, const char *src)
{
	if (!src || strlen(src) >= dstlen)
		return -EINVAL;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int check_guid(const char *s, char out[GUID_STRING_LEN])
{
	struct guid g;

	if (!s || guid_parse(s, &g) < 0)
		return -EINVAL;
	guid_format(&g, out);
	return 0;
}

/* "a.b.c.d/n", IPv4, n 8..30. */
int net_subnet_parse(const char *field, const char *text, uint32_t *subnet, unsigned *prefix,
		     char *err, size_t errlen)
{
	struct vsw_prefix p;

	if (vsw_prefix_parse(field, text, &p, err, errlen) < 0)
		return -EINVAL;
	if (p.family != AF_INET || p.len < 8 || p.len > 30) {
		snprintf(err, errlen,
			 "%s: '%.60s' is not an IPv4 subnet of /8 to /30 (write 172.29.0.0/24)",
			 field, text);
		return -EINVAL;
	}
	memcpy(subnet, p.addr, 4);
	*prefix = p.len;
	return 0;
}

static int parse_switch(struct json_object *o, struct net_switch *s, char *err, size_t errlen)
{
	const char *v;

	*s = (struct net_switch){0};
	if (!json_object_is_type(o, json_type_object) || check_guid(jstring(o, "id"), s->id) < 0) {
		snprintf(err, errlen, "a switch has no \"id\" GUID");
		return -EINVAL;
	}
	v = jstring(o, "name");
	if (!v || vsw_name_check("switch name", v, err, errlen) < 0 ||
	    copy_field(s->name, sizeof(s->name), v) < 0) {
		if (!v)
			snprintf(err, errlen, "switch %s has no \"name\"", s->id);
		return -EINVAL;
	}
	v = jstring(o, "switch_type");
	if (!v || net_switch_type_parse(v, &s->type) < 0) {
		snprintf(err, errlen, "switch '%s': \"switch_type\" is not a switch type", s->name);
		return -EINVAL;
	}
	v = jstring(o, "bridge");
	if (!v || vsw_ifname_check("bridge", v, err, errlen) < 0 ||
	    copy_field(s->bridge, sizeof(s->bridge), v) < 0) {
		if (!v)
			snprintf(err, errlen, "switch '%s' has no \"bridge\"", s->name);
		return -EINVAL;
	}
	v = jstring(o, "net_adapter");
	if (v && (vsw_ifname_check("net_adapter", v, err, errlen) < 0 ||
		  copy_field(s->net_adapter, sizeof(s->net_adapter), v) < 0))
		return -EINVAL;
	if (s->type == NET_SWITCH_EXTERNAL && !s->net_adapter[0]) {
		snprintf(err, errlen, "external switch '%s' has no \"net_adapter\"", s->name);
		return -EINVAL;
	}
	v = jstring(o, "subnet");
	if (v && net_subnet_parse("subnet", v, &s->subnet, &s->prefix, err, errlen) < 0)
		return -EINVAL;
	if (jbool(o, "dhcp", &s->dhcp) < 0) {
		snprintf(err, errlen, "switch '%s': \"dhcp\" is not a boolean", s->name);
		return -EINVAL;
	}
	if ((s->type == NET_SWITCH_NAT && !s->prefix) || (s->dhcp && !s->prefix)) {
		snprintf(err, errlen, "switch '%s' needs a \"subnet\"", s->name);
		return -EINVAL;
	}
	return 0;
}

static int parse_acl(struct json_object *o, struct vsw_acl *a, char *err, size_t errlen)
{
	const char *d = jstring(o, "direction"), *act = jstring(o, "action"),
		   *mac = jstring(o, "remote_mac_address"), *ip = jstring(o, "remote_ip_address");

	*a = (struct vsw_acl){0};
	if (!d || !act || !mac == !ip) {
		snprintf(err, errlen,
			 "an ACL entry needs direction, action and one remote address");
		return -EINVAL;
	}
	if (vsw_acl_dir_parse("direction", d, &a->dir, err, errlen) < 0 ||
	    vsw_acl_action_parse("action", act, &a->action, err, errlen) < 0)
		return -EINVAL;
	a->is_mac = mac != NULL;
	return mac ? vsw_mac_parse("remote_mac_address", mac, a->mac, err, errlen)
		   : vsw_prefix_parse("remote_ip_address", ip, &a->ip, err, errlen);
}

int net_adapter_parse(struct json_object *o, struct net_adapter *a, char *err, size_t errlen)
{
	struct json_object *v, *acls;
	const char *s;
	unsigned i;

	memset(a, 0, sizeof(*a));
	if (!json_object_is_type(o, json_type_object) ||
	    check_guid(jstring(o, "vm_id"), a->vm_id) < 0) {
		snprintf(err, errlen, "an adapter has no \"vm_id\" GUID");
		return -EINVAL;
	}
	s = jstring(o, "id");
	if (!s || vsw_ifname_check("id", s, err, errlen) < 0 ||
	    copy_field(a->id, sizeof(a->id), s) < 0) {
		snprintf(err, errlen, "an adapter of VM %s has no valid \"id\"", a->vm_id);
		return -EINVAL;
	}
	s = jstring(o, "name");
	if (!s || vsw_name_check("adapter name", s, err, errlen) < 0 ||
	    copy_field(a->name, sizeof(a->name), s) < 0) {
		if (!s)
			snprintf(err, errlen, "adapter %s has no \"name\"", a->id);
		return -EINVAL;
	}
	s = jstring(o, "switch_id");
	if (s && check_guid(s, a->switch_id) < 0) {
		snprintf(err, errlen, "adapter %s: \"switch_id\" is not a GUID", a->id);
		return -EINVAL;
	}
	s = jstring(o, "mac_address");
	if (!s || vsw_mac_parse("mac_address", s, a->mac, err, errlen) < 0) {
		if (!s)
			snprintf(err, errlen, "adapter %s has no \"mac_address\"", a->id);
		return -EINVAL;
	}
	if (jbool(o, "dynamic_mac", &a->dynamic_mac) < 0 ||
	    jbool(o, "mac_address_spoofing", &a->mac_spoofing) < 0 ||
	    jbool(o, "dhcp_guard", &a->dhcp_guard) < 0 ||
	    jbool(o, "router_guard", &a->router_guard) < 0 || jbool(o, "legacy", &a->legacy) < 0) {
		snprintf(err, errlen, "adapter %s: a port feature is not a boolean", a->id);
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "maximum_bandwidth", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
			snprintf(err, errlen, "adapter %s: \"maximum_bandwidth\" is not a count",
				 a->id);
			return -EINVAL;
		}
		a->max_bps = (uint64_t)json_object_get_int64(v);
	}
	s = jstring(o, "port_mirroring");
	if (s) {
		for (i = 0; i < 3 && strcmp(s, mirror_names[i]); i++)
			;
		if (i == 3) {
			snprintf(err, errlen,
				 "adapter %s: \"port_mirroring\" is not none, source or "
				 "destination",
				 a->id);
			return -EINVAL;
		}
		a->mirror = (enum net_mirror)i;
	}
	if (json_object_object_get_ex(o, "vlan_id", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 4094) {
			snprintf(err, errlen, "adapter %s: \"vlan_id\" is not 0..4094", a->id);
			return -EINVAL;
		}
		a->vlan = (unsigned)json_object_get_int64(v);
	}
	s = jstring(o, "tap");
	if (!s || vsw_ifname_check("tap", s, err, errlen) < 0 ||
	    copy_field(a->tap, sizeof(a->tap), s) < 0) {
		snprintf(err, errlen, "adapter %s has no valid \"tap\"", a->id);
		return -EINVAL;
	}
	s = jstring(o, "ifb");
	if (!s || vsw_ifname_check("ifb", s, err, errlen) < 0 ||
	    copy_field(a->ifb, sizeof(a->ifb), s) < 0) {
		snprintf(err, errlen, "adapter %s has no valid \"ifb\"", a->id);
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "acls", &acls)) {
		if (!json_object_is_type(acls, json_type_array) ||
		    json_object_array_length(acls) > NET_MAX_ACLS) {
			snprintf(err, errlen, "adapter %s: \"acls\" is not an array of at most %d",
				 a->id, NET_MAX_ACLS);
			return -EINVAL;
		}
		for (i = 0; i < json_object_array_length(acls); i++)
			if (parse_acl(json_object_array_get_idx(acls, i), &a->acls[a->nacls++], err,
				      errlen) < 0)
				return -EINVAL;
	}
	return 0;
}

int net_state_parse(const char *text, size_t len, struct net_state *st, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root, *v, *arr;
	const char *s;
	unsigned i, j;
	int rc = -EINVAL;

	st->nswitches = 0;
	st->nadapters = 0;
	if (len > NET_STATE_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", NET_STATE_FILE_MAX);
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int(v) != NET_STATE_VERSION) {
		snprintf(err, errlen, "\"version\" is not %d", NET_STATE_VERSION);
		goto out;
	}
	s = jstring(root, "mac_pool");
	if (!s || strlen(s) != 5 ||
	    sscanf(s, "%2hhx:%2hhx", &st->mac_pool[0], &st->mac_pool[1]) != 2) {
		snprintf(err, errlen, "\"mac_pool\" is not two hex bytes (ab:cd)");
		goto out;
	}
	if (!json_object_object_get_ex(root, "next_index", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > 99999999) {
		snprintf(err, errlen, "\"next_index\" is not a count");
		goto out;
	}
	st->next_index = (unsigned)json_object_get_int64(v);
	if (json_object_object_get_ex(root, "switches", &arr)) {
		if (!json_object_is_type(arr, json_type_array) ||
		    json_object_array_length(arr) > NET_MAX_SWITCHES) {
			snprintf(err, errlen, "\"switches\" is not an array of at most %d",
				 NET_MAX_SWITCHES);
			goto out;
		}
		for (i = 0; i < json_object_array_length(arr); i++) {
			struct net_switch *sw = &st->switches[st->nswitches];

			if (parse_switch(json_object_array_get_idx(arr, i), sw, err, errlen) < 0)
				goto out;
			for (j = 0; j < st->nswitches; j++)
				if (!strcmp(st->switches[j].id, sw->id) ||
				    !strcasecmp(st->switches[j].name, sw->name) ||
				    !strcmp(st->switches[j].bridge, sw->bridge)) {
					snprintf(err, errlen, "switch '%s' is there twice",
						 sw->name);
					goto out;
				}
			st->nswitches++;
		}
	}
	if (json_object_object_get_ex(root, "adapters", &arr)) {
		if (!json_object_is_type(arr, json_type_array) ||
		    json_object_array_length(arr) > NET_MAX_ADAPTERS) {
			snprintf(err, errlen, "\"adapters\" is not an array of at most %d",
				 NET_MAX_ADAPTERS);
			goto out;
		}
		for (i = 0; i < json_object_array_length(arr); i++) {
			struct net_adapter *a = &st->adapters[st->nadapters];

			if (net_adapter_parse(json_object_array_get_idx(arr, i), a, err, errlen) <
			    0)
				goto out;
			for (j = 0; j < st->nadapters; j++)
				if (!strcmp(st->adapters[j].tap, a->tap) ||
				    !memcmp(st->adapters[j].mac, a->mac, 6) ||
				    (!strcmp(st->adapters[j].vm_id, a->vm_id) &&
				     !strcmp(st->adapters[j].id, a->id))) {
					snprintf(err, errlen,
						 "adapter %s of VM %s shares its TAP, MAC or id "
						 "with another",
						 a->id, a->vm_id);
					goto out;
				}
			st->nadapters++;
		}
	}
	rc = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	if (rc < 0) {
		st->nswitches = 0;
		st->nadapters = 0;
	}
	return rc;
}

int svc_net_save(struct service *svc)
{
	struct json_object *o = net_state_to_json(svc->net);
	char path[1100], tmp[1200];
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	int fd, r = 0;

	svc_net_path(svc, path, sizeof(path), NULL, NULL);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = -errno ? -errno : -EIO;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	json_object_put(o);
	if (r < 0)
		pv_log(LOG_ERR, "cannot write %s: %s", path, strerror(-r));
	return r;
}
