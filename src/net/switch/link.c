/*
 * rtnetlink requests for the virtual switch's links (see link.h). Message layouts are the
 * kernel's: include/uapi/linux/rtnetlink.h (ifinfomsg, ifaddrmsg), if_link.h (IFLA_*,
 * IFLA_BR_*), if_bridge.h (bridge_vlan_info, IFLA_BRIDGE_*).
 */
#include "net/switch/link.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define NL_BUF 8192

struct nl_req {
	char buf[NL_BUF];
	struct nlmsghdr *nlh;
};

static struct ifinfomsg *req_link(struct nl_req *r, uint16_t type, uint16_t flags,
				  unsigned char family)
{
	struct ifinfomsg *ifi;

	memset(r->buf, 0, sizeof(r->buf));
	r->nlh = mnl_nlmsg_put_header(r->buf);
	r->nlh->nlmsg_type = type;
	r->nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(r->nlh, sizeof(*ifi));
	ifi->ifi_family = family;
	return ifi;
}

/* The kernel's extended ack text (NLMSGERR_ATTR_MSG), if any, into err. */
static void ext_ack(const struct nlmsghdr *nlh, char *err, size_t errlen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	const struct nlattr *attr;
	const void *payload;

	if (!err || !errlen || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	if (mnl_nlmsg_get_payload_len(nlh) < off)
		return;
	payload = (const char *)e + off;
	mnl_attr_for_each_payload(payload, mnl_nlmsg_get_payload_len(nlh) - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(err, errlen, "%s", mnl_attr_get_str(attr));
	}
}

/*
 * Sends the request and reads the answers up to the ack (or the end of a dump): each data
 * message goes to cb. 0 or -errno.
 */
static int transact(struct nl_req *r, mnl_cb_t cb, void *data, char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	char *buf = NULL;
	int one = 1, rc = 0;
	unsigned portid;
	uint32_t seq = r->nlh->nlmsg_seq;

	if (err && errlen)
		err[0] = '\0';
	if (!nl)
		return -errno;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, r->nlh, r->nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);
		const struct nlmsghdr *h;
		int len;

		if (n < 0) {
			rc = -errno;
			goto out;
		}
		len = (int)n;
		for (h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != seq || h->nlmsg_pid != portid)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (mnl_nlmsg_get_payload_len(h) < sizeof(*e)) {
					rc = -EPROTO;
					goto out;
				}
				rc = e->error;
				if (rc < 0)
					ext_ack(h, err, errlen);
				goto out;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (cb && cb(h, data) < 0) {
				rc = -EPROTO;
				goto out;
			}
		}
	}
out:
	free(buf);
	mnl_socket_close(nl);
	return rc;
}

static int index_of(const char *name)
{
	unsigned i;

	if (!name || strlen(name) > VSW_IFNAME_MAX)
		return -EINVAL;
	i = if_nametoindex(name);
	return i ? (int)i : -ENODEV;
}

/* --- reading a link --------------------------------------------------------------------- */

static int br_data_cb(const struct nlattr *a, void *data)
{
	struct vsw_link_info *info = data;

	if (mnl_attr_get_type(a) == IFLA_BR_VLAN_FILTERING &&
	    mnl_attr_validate(a, MNL_TYPE_U8) == 0)
		info->vlan_filtering = mnl_attr_get_u8(a) != 0;
	return MNL_CB_OK;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	struct vsw_link_info *info = data;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
		snprintf(info->kind, sizeof(info->kind), "%.*s",
			 (int)strnlen(mnl_attr_get_str(a), mnl_attr_get_payload_len(a)),
			 mnl_attr_get_str(a));
	if (mnl_attr_get_type(a) == IFLA_INFO_DATA && !strcmp(info->kind, "bridge"))
		mnl_attr_parse_nested(a, br_data_cb, info);
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct vsw_link_info *info = data;

	if (mnl_attr_get_type(a) == IFLA_MASTER && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		info->master = mnl_attr_get_u32(a);
	if (mnl_attr_get_type(a) == IFLA_LINKINFO)
		mnl_attr_parse_nested(a, linkinfo_cb, info);
	return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct vsw_link_info *info = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	info->index = (unsigned)ifi->ifi_index;
	info->up = ifi->ifi_flags & IFF_UP;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, info) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

int vsw_link_get(const char *name, struct vsw_link_info *info)
{
	struct nl_req *r;
	int idx = index_of(name), rc;

	if (idx < 0)
		return idx;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	req_link(r, RTM_GETLINK, 0, AF_UNSPEC)->ifi_index = idx;
	*info = (struct vsw_link_info){0};
	rc = transact(r, link_msg_cb, info, NULL, 0);
	free(r);
	if (rc == 0 && !info->index)
		rc = -ENODEV;
	return rc;
}

/* --- changing links --------------------------------------------------------------------- */

int vsw_link_create(const char *name, const char *kind, char *err, size_t errlen)
{
	struct nl_req *r;
	struct nlattr *li;
	int rc;

	if (!name || !*name || strlen(name) > VSW_IFNAME_MAX)
		return -EINVAL;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	req_link(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC);
	mnl_attr_put_strz(r->nlh, IFLA_IFNAME, name);
	if (strcmp(kind, "bridge") == 0) {
		/*
		 * A bridge whose address nobody set takes the lowest of its
		 * ports' (br_stp_recalculate_bridge_id, net/bridge/br_stp_if.c):
		 * the guests' gateway MAC would change whenever a VM's TAP joins
		 * or leaves. An address given here is NET_ADDR_SET and stays.
		 * Random, locally administered, unicast.
		 */
		uint8_t mac[6];

		if (getrandom(mac, sizeof(mac), 0) != (ssize_t)sizeof(mac)) {
			free(r);
			return -EIO;
		}
		mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
		mnl_attr_put(r->nlh, IFLA_ADDRESS, sizeof(mac), mac);
	}
	li = mnl_attr_nest_start(r->nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(r->nlh, IFLA_INFO_KIND, kind);
	mnl_attr_nest_end(r->nlh, li);
	rc = transact(r, NULL, NULL, err, errlen);
	free(r);
	return rc;
}

int vsw_link_delete(const char *name)
{
	struct nl_req *r;
	int idx = index_of(name), rc;

	if (idx < 0)
		return idx;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	req_link(r, RTM_DELLINK, 0, AF_UNSPEC)->ifi_index = idx;
	rc = transact(r, NULL, NULL, NULL, 0);
	free(r);
	return rc;
}

int vsw_link_set_up(const char *name, bool up)
{
	struct nl_req *r;
	struct ifinfomsg *ifi;
	int idx = index_of(name), rc;

	if (idx < 0)
		return idx;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	ifi = req_link(r, RTM_NEWLINK, 0, AF_UNSPEC);
	ifi->ifi_index = idx;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	rc = transact(r, NULL, NULL, NULL, 0);
	free(r);
	return rc;
}

int vsw_link_set_master(const char *name, const char *master, char *err, size_t errlen)
{
	struct nl_req *r;
	int idx = index_of(name), midx = master ? index_of(master) : 0, rc;

	if (idx < 0)
		return idx;
	if (midx < 0)
		return midx;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	req_link(r, RTM_NEWLINK, 0, AF_UNSPEC)->ifi_index = idx;
	mnl_attr_put_u32(r->nlh, IFLA_MASTER, (uint32_t)midx);
	rc = transact(r, NULL, NULL, err, errlen);
	free(r);
	return rc;
}

int vsw_addr_add4(const char *name, uint32_t addr, unsigned prefix, char *err, size_t errlen)
{
	struct nl_req *r;
	struct ifaddrmsg *ifa;
	int idx = index_of(name), rc;

	if (idx < 0)
		return idx;
	if (prefix > 32)
		return -EINVAL;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r->buf, 0, sizeof(r->buf));
	r->nlh = mnl_nlmsg_put_header(r->buf);
	r->nlh->nlmsg_type = RTM_NEWADDR;
	r->nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	r->nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifa = mnl_nlmsg_put_extra_header(r->nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)idx;
	mnl_attr_put_u32(r->nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(r->nlh, IFA_ADDRESS, addr);
	rc = transact(r, NULL, NULL, err, errlen);
	free(r);
	return rc;
}

int vsw_bridge_set_vlan_filtering(const char *bridge, bool on, char *err, size_t errlen)
{
	struct nl_req *r;
	struct nlattr *li, *data;
	int idx = index_of(bridge), rc;

	if (idx < 0)
		return idx;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	req_link(r, RTM_NEWLINK, 0, AF_UNSPEC)->ifi_index = idx;
	li = mnl_attr_nest_start(r->nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(r->nlh, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(r->nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(r->nlh, IFLA_BR_VLAN_FILTERING, on ? 1 : 0);
	mnl_attr_nest_end(r->nlh, data);
	mnl_attr_nest_end(r->nlh, li);
	rc = transact(r, NULL, NULL, err, errlen);
	free(r);
	/* br_vlan_filter_toggle() is the stub returning -EOPNOTSUPP without the option. */
	if (rc == -EOPNOTSUPP && err)
		snprintf(err, errlen,
			 "this host's kernel has no bridge VLAN filtering "
			 "(CONFIG_BRIDGE_VLAN_FILTERING is not set)");
	return rc;
}

/* One IFLA_BRIDGE_VLAN_INFO on a port: RTM_SETLINK (add) or RTM_DELLINK (remove), AF_BRIDGE. */
static int port_vlan_op(int idx, uint16_t type, uint16_t vid, uint16_t flags, char *err,
			size_t errlen)
{
	struct bridge_vlan_info vi = {.flags = flags, .vid = vid};
	struct nl_req *r = malloc(sizeof(*r));
	struct nlattr *spec;
	int rc;

	if (!r)
		return -ENOMEM;
	req_link(r, type, 0, AF_BRIDGE)->ifi_index = idx;
	spec = mnl_attr_nest_start(r->nlh, IFLA_AF_SPEC);
	mnl_attr_put(r->nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi);
	mnl_attr_nest_end(r->nlh, spec);
	rc = transact(r, NULL, NULL, err, errlen);
	free(r);
	return rc;
}

int vsw_bridge_port_vlan(const char *port, unsigned vid, char *err, size_t errlen)
{
	int idx = index_of(port), rc;

	if (idx < 0)
		return idx;
	if (vid > 4094)
		return -EINVAL;
	if (vid == 0)
		return port_vlan_op(idx, RTM_SETLINK, 1,
				    BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, err, errlen);
	rc = port_vlan_op(idx, RTM_SETLINK, (uint16_t)vid,
			  BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, err, errlen);
	if (rc == 0 && vid != 1) {
		rc = port_vlan_op(idx, RTM_DELLINK, 1, 0, err, errlen);
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}
