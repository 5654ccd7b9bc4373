/* Network adapter settings of the worker's configuration (nic_config.h). */
#include "vmwp/nic_config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nic_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6], i;
	char end;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* A unicast address: the guest's frames carry it as their source. */
	return (mac[0] & 1) ? -EINVAL : 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long n;

	if (!*s || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int parse_onoff(const char *s, bool *ret)
{
	if (!strcmp(s, "on") || !strcmp(s, "true")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "false")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int set_id(struct nic_config *n, const char *id)
{
	size_t i, len = strlen(id);

	if (len == 0 || len >= NIC_ID_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_' ||
		      id[i] == '.'))
			return -EINVAL;
	memcpy(n->id, id, len + 1);
	return 0;
}

static int parse_fds(const char *s, struct nic_config *n)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ":", &save); tok && r == 0; tok = strtok_r(NULL, ":", &save)) {
		unsigned fd;

		if (n->nfds == NIC_MAX_QUEUES || parse_uint(tok, 1u << 20, &fd) < 0 || fd < 3)
			r = -EINVAL;
		else
			n->fds[n->nfds++] = (int)fd;
	}
	free(copy);
	return r == 0 && n->nfds ? 0 : -EINVAL;
}

/* One "key=value" of --nic. */
static int nic_option(struct nic_config *n, const char *key, const char *val)
{
	if (!strcmp(key, "tap")) {
		if (!*val || strlen(val) >= 16 || n->tap)
			return -EINVAL;
		n->tap = strdup(val);
		return n->tap ? 0 : -ENOMEM;
	}
	if (!strcmp(key, "fd"))
		return parse_fds(val, n);
	if (!strcmp(key, "mac")) {
		n->has_mac = true;
		return nic_parse_mac(val, n->mac);
	}
	if (!strcmp(key, "id"))
		return set_id(n, val);
	if (!strcmp(key, "queues"))
		return parse_uint(val, NIC_MAX_QUEUES, &n->queues) < 0 || !n->queues ? -EINVAL : 0;
	if (!strcmp(key, "mac-spoofing"))
		return parse_onoff(val, &n->mac_spoofing);
	if (!strcmp(key, "connected"))
		return parse_onoff(val, &n->connected);
	if (!strcmp(key, "legacy"))
		return parse_onoff(val, &n->legacy);
	return -ENOENT;
}

static int finish(struct nic_config *n, const char *what, char *err, size_t errlen)
{
	if (!n->tap == !n->nfds) {
		snprintf(err, errlen,
			 "%s: give either a TAP name (tap=NAME) or its queue fds (fd=N)", what);
		return -EINVAL;
	}
	if (n->nfds && n->queues && n->queues != n->nfds) {
		snprintf(err, errlen, "%s: queues=%u but %u fds", what, n->queues, n->nfds);
		return -EINVAL;
	}
	if (!n->queues)
		n->queues = n->nfds ? n->nfds : 1;
	if (n->legacy && n->queues != 1) {
		snprintf(err, errlen, "%s: a legacy adapter has one queue (queues=%u)", what,
			 n->queues);
		return -EINVAL;
	}
	return 0;
}

int nic_config_parse(const char *spec, struct nic_config *ret, char *err, size_t errlen)
{
	struct nic_config n = {.connected = true};
	char *copy = strdup(spec), *opt, *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');

		if (!eq) {
			snprintf(err, errlen, "--nic '%s': '%s' is not key=value", spec, opt);
			goto bad;
		}
		*eq = 0;
		r = nic_option(&n, opt, eq + 1);
		if (r == -ENOMEM) {
			free(copy);
			nic_config_fini(&n);
			return r;
		}
		if (r < 0) {
			snprintf(err, errlen,
				 r == -ENOENT
					 ? "--nic '%s': unknown option '%s' (tap, fd, mac, id, "
					   "queues, mac-spoofing, connected, legacy)"
					 : "--nic '%s': bad value for '%s'",
				 spec, opt);
			goto bad;
		}
	}
	free(copy);
	copy = NULL;
	if (finish(&n, "--nic", err, errlen) < 0)
		goto bad;
	*ret = n;
	return 0;
bad:
	free(copy);
	nic_config_fini(&n);
	return -EINVAL;
}

int nic_config_from_json(struct json_object *o, struct nic_config *ret, char *err, size_t errlen)
{
	struct nic_config n = {.connected = true};

	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "\"nics\": each adapter must be an object");
		return -EINVAL;
	}
	json_object_object_foreach(o, key, v)
	{
		enum json_type t = json_object_get_type(v);
		const char *s = t == json_type_string ? json_object_get_string(v) : NULL;
		int64_t i = json_object_get_int64(v);
		int r = -EINVAL;

		if (!strcmp(key, "id") && s)
			r = set_id(&n, s);
		else if (!strcmp(key, "tap") && s)
			r = nic_option(&n, "tap", s);
		else if (!strcmp(key, "mac") && s)
			r = nic_option(&n, "mac", s);
		else if (!strcmp(key, "mac_spoofing") && t == json_type_boolean)
			n.mac_spoofing = json_object_get_boolean(v), r = 0;
		else if (!strcmp(key, "connected") && t == json_type_boolean)
			n.connected = json_object_get_boolean(v), r = 0;
		else if (!strcmp(key, "legacy") && t == json_type_boolean)
			n.legacy = json_object_get_boolean(v), r = 0;
		else if (!strcmp(key, "queues") && t == json_type_int && i >= 1 &&
			 i <= NIC_MAX_QUEUES)
			n.queues = (unsigned)i, r = 0;
		else if (!strcmp(key, "fds") && t == json_type_array &&
			 json_object_array_length(v) >= 1 &&
			 json_object_array_length(v) <= NIC_MAX_QUEUES) {
			size_t k;

			r = 0;
			for (k = 0; k < json_object_array_length(v) && r == 0; k++) {
				struct json_object *e = json_object_array_get_idx(v, k);
				int64_t fd = json_object_get_int64(e);

				if (!json_object_is_type(e, json_type_int) || fd < 3 ||
				    fd > 1 << 20)
					r = -EINVAL;
				else
					n.fds[n.nfds++] = (int)fd;
			}
		}
		if (r == -ENOMEM) {
			nic_config_fini(&n);
			return r;
		}
		if (r < 0) {
			snprintf(err, errlen, "\"nics\": invalid \"%s\": %.64s", key,
				 json_object_to_json_string(v));
			nic_config_fini(&n);
			return -EINVAL;
		}
	}
	if (finish(&n, "\"nics\"", err, errlen) < 0) {
		nic_config_fini(&n);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

void nic_config_fini(struct nic_config *n)
{
	free(n->tap);
	n->tap = NULL;
}

int nic_config_check(struct nic_config *nics, unsigned n, uint16_t worker_tag, char *err,
		     size_t errlen)
{
	unsigned i, k;

	for (i = 0; i < n; i++) {
		struct nic_config *c = &nics[i];

		if (c->nfds && (!c->has_mac || !c->id[0])) {
			snprintf(err, errlen, "network adapter %u: fd= needs mac= and id=", i);
			return -EINVAL;
		}
		if (!c->id[0])
			snprintf(c->id, sizeof(c->id), "nic%u", i);
		if (!c->has_mac) {
			/* Hyper-V's dynamic range: 00:15:5D, then the worker's tag, then the index.
			 */
			const uint8_t mac[6] = {0x00,
						0x15,
						0x5d,
						(uint8_t)(worker_tag >> 8),
						(uint8_t)worker_tag,
						(uint8_t)i};

			memcpy(c->mac, mac, 6);
			c->has_mac = true;
		}
		for (k = 0; k < i; k++) {
			if (!strcmp(nics[k].id, c->id)) {
				snprintf(err, errlen, "network adapters %u and %u are both \"%s\"",
					 k, i, c->id);
				return -EINVAL;
			}
			if (!memcmp(nics[k].mac, c->mac, 6)) {
				snprintf(err, errlen,
					 "network adapters \"%s\" and \"%s\" have the same MAC",
					 nics[k].id, c->id);
				return -EINVAL;
			}
		}
	}
	return 0;
}
