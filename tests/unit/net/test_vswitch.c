/*
 * Unit tests for the virtual switch's parsers, ruleset text and lease reader
 * (src/net/switch/), and the service's MAC allocation and network file (src/vmms/network.h).
 * The kernel side (bridges, nft, tc, dnsmasq) is tests/guest/test_vmms_switch.py's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "net/switch/leases.h"
#include "net/switch/parse.h"
#include "net/switch/rules.h"
#include "vmms/network.h"

static void test_mac(void **state)
{
	static const char *const good[] = {"00:15:5d:01:02:03", "00-15-5D-01-02-03",
					   "00155D010203"};
	uint8_t m[6], want[6] = {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
	char err[256], out[VSW_MAC_TEXT];
	unsigned i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(vsw_mac_parse("mac", good[i], m, err, sizeof(err)), 0);
		assert_memory_equal(m, want, 6);
	}
	vsw_mac_format(m, out);
	assert_string_equal(out, "00:15:5d:01:02:03");
	assert_int_equal(
		vsw_mac_parse("static_mac_address", "01:00:5e:00:00:01", m, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "static_mac_address"));
	assert_non_null(strstr(err, "multicast"));
	assert_int_equal(vsw_mac_parse("m", "00:00:00:00:00:00", m, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_mac_parse("m", "00:15:5d:01:02", m, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_mac_parse("m", "00:15-5d:01:02:03", m, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_mac_parse("m", "00:15:5d:01:02:0g", m, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_mac_parse("m", "", m, err, sizeof(err)), -EINVAL);
}

static void test_prefix(void **state)
{
	struct vsw_prefix p;
	char err[256], out[VSW_PREFIX_TEXT];

	assert_int_equal(vsw_prefix_parse("ip", "10.1.2.3/8", &p, err, sizeof(err)), 0);
	vsw_prefix_format(&p, out);
	assert_string_equal(out, "10.0.0.0/8"); /* host bits cleared */
	assert_int_equal(vsw_prefix_parse("ip", "192.0.2.7", &p, err, sizeof(err)), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(vsw_prefix_parse("ip", "2001:db8::1/32", &p, err, sizeof(err)), 0);
	vsw_prefix_format(&p, out);
	assert_string_equal(out, "2001:db8::/32");
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(vsw_prefix_parse("remote_ip_address", "10.0.0.0/33", &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "remote_ip_address"));
	assert_int_equal(vsw_prefix_parse("ip", "10.0.0.0/", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_prefix_parse("ip", "10.0.0.0/-1", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_prefix_parse("ip", "/8", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_prefix_parse("ip", "host.example", &p, err, sizeof(err)), -EINVAL);
}

static void test_names(void **state)
{
	char err[256], longname[200];

	assert_int_equal(vsw_ifname_check("net_adapter", "eth0", err, sizeof(err)), 0);
	assert_int_equal(vsw_ifname_check("net_adapter", "enp0s31f6.100", err, sizeof(err)), 0);
	assert_int_equal(vsw_ifname_check("net_adapter", "0123456789abcdef", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "net_adapter"));
	assert_int_equal(vsw_ifname_check("if", "a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_ifname_check("if", "a/b", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_ifname_check("if", "..", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_ifname_check("if", "", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_name_check("name", "Default Switch", err, sizeof(err)), 0);
	assert_int_equal(vsw_name_check("name", " x", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsw_name_check("name", "a\tb", err, sizeof(err)), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(vsw_name_check("name", longname, err, sizeof(err)), -EINVAL);
}

static void test_acl_words(void **state)
{
	enum vsw_acl_dir d;
	enum vsw_acl_action a;
	char err[256];

	assert_int_equal(vsw_acl_dir_parse("direction", "Inbound", &d, err, sizeof(err)), 0);
	assert_int_equal(d, VSW_ACL_IN);
	assert_int_equal(vsw_acl_dir_parse("direction", "out", &d, err, sizeof(err)), 0);
	assert_int_equal(d, VSW_ACL_OUT);
	assert_int_equal(vsw_acl_dir_parse("direction", "both", &d, err, sizeof(err)), 0);
	assert_int_equal(d, VSW_ACL_BOTH);
	assert_int_equal(vsw_acl_dir_parse("direction", "up", &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "direction"));
	assert_int_equal(vsw_acl_action_parse("action", "DENY", &a, err, sizeof(err)), 0);
	assert_int_equal(a, VSW_ACL_DENY);
	assert_int_equal(vsw_acl_action_parse("action", "meter", &a, err, sizeof(err)), -EINVAL);
}

/* The text of a port with guards and ACLs: order and hooks as rules.h says. */
static void test_rules(void **state)
{
	struct vsw_acl acls[3] = {0};
	char err[64];
	struct vsw_port_rules port = {.tap = "pvt1",
				      .mac = {0x00, 0x15, 0x5d, 0, 0, 1},
				      .mac_guard = true,
				      .dhcp_guard = true,
				      .router_guard = true,
				      .acls = acls,
				      .nacls = 3};
	struct vsw_nat_rules nat = {.bridge = "pvbr0", .subnet = htonl(0xac1d0000), .prefix = 24};
	char *t;
	const char *deny8, *allow24, *mac;

	assert_int_equal(vsw_prefix_parse("ip", "10.0.0.0/8", &acls[0].ip, err, sizeof(err)), 0);
	acls[0].dir = VSW_ACL_IN;
	acls[0].action = VSW_ACL_DENY;
	assert_int_equal(vsw_prefix_parse("ip", "10.1.0.0/24", &acls[1].ip, err, sizeof(err)), 0);
	acls[1].dir = VSW_ACL_BOTH;
	acls[1].action = VSW_ACL_ALLOW;
	acls[2].is_mac = true;
	acls[2].dir = VSW_ACL_IN;
	acls[2].action = VSW_ACL_DENY;
	memcpy(acls[2].mac, "\x02\0\0\0\0\x09", 6);
	t = vsw_rules_render(&port, 1, &nat, 1);
	assert_non_null(t);
	assert_non_null(strstr(t, "delete table bridge parvis_ports"));
	assert_non_null(strstr(t, "ether saddr != 00:15:5d:00:00:01 counter drop"));
	assert_non_null(strstr(t, "udp sport 67 udp dport 68 counter drop"));
	assert_non_null(strstr(t, "nd-router-advert"));
	assert_non_null(strstr(t, "iifname \"pvt1\" jump from_pvt1"));
	assert_non_null(strstr(t, "oifname \"pvt1\" jump to_pvt1"));
	assert_non_null(
		strstr(t, "ip saddr 172.29.0.0/24 oifname != \"pvbr0\" counter masquerade"));
	/* to the guest: the MAC first, then /24 before /8 (the allow is the exception) */
	mac = strstr(t, "ether saddr 02:00:00:00:00:09 counter drop");
	allow24 = strstr(t, "ip saddr 10.1.0.0/24 counter accept");
	deny8 = strstr(t, "ip saddr 10.0.0.0/8 counter drop");
	assert_non_null(mac);
	assert_non_null(allow24);
	assert_non_null(deny8);
	assert_true(mac < allow24 && allow24 < deny8);
	/* from the guest: the /24 allow only (the others are inbound) */
	assert_non_null(strstr(t, "ip daddr 10.1.0.0/24 counter accept"));
	assert_null(strstr(t, "ip daddr 10.0.0.0/8"));
	free(t);
	t = vsw_rules_render(NULL, 0, NULL, 0);
	assert_non_null(t);
	assert_null(strstr(t, "table bridge parvis_ports {"));
	free(t);
}

static void test_leases(void **state)
{
	static const char text[] =
		"1733240000 00:15:5d:01:02:03 172.29.0.5 guest 01:00:15:5d:01:02:03\n"
		"1733240001 00:15:5d:01:02:04 172.29.0.6 * *\n"
		"garbage\n"
		"1 00:15:5d:01:02:03 999.0.0.1 x y\n"
		"1733240002 00:15:5d:01:02:03 172.29.0.9 ;rm -rf / *";
	uint8_t mac[6] = {0x00, 0x15, 0x5d, 1, 2, 3};
	uint32_t a[VSW_LEASES_MAX];
	unsigned n = vsw_leases_find(text, sizeof(text) - 1, mac, a, VSW_LEASES_MAX);

	assert_int_equal(n, 2);
	assert_int_equal(ntohl(a[0]), 0xac1d0005);
	assert_int_equal(ntohl(a[1]), 0xac1d0009);
	assert_int_equal(vsw_leases_find(text, sizeof(text) - 1, mac, a, 1), 1);
	assert_int_equal(ntohl(a[0]), 0xac1d0009); /* the most recent kept */
}

static struct net_state *state_new(void)
{
	struct net_state *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	st->adapters = calloc(NET_MAX_ADAPTERS, sizeof(*st->adapters));
	assert_non_null(st->adapters);
	st->mac_pool[0] = 0xab;
	st->mac_pool[1] = 0xcd;
	return st;
}

static void state_free(struct net_state *st)
{
	free(st->adapters);
	free(st);
}

/* 256 dynamic MACs per host, none twice, a static one in the pool skipped, then -ENOSPC. */
static void test_mac_allocation(void **state)
{
	struct net_state *st = state_new();
	uint8_t m[6];
	unsigned i;

	memcpy(st->adapters[0].mac, "\x00\x15\x5d\xab\xcd\x00", 6); /* a static one in the pool */
	st->nadapters = 1;
	for (i = 0; i < 255; i++) {
		assert_int_equal(net_mac_allocate(st, m), 0);
		assert_memory_equal(m, "\x00\x15\x5d\xab\xcd", 5);
		assert_false(net_mac_in_use(st, m, NULL));
		memcpy(st->adapters[st->nadapters++].mac, m, 6);
	}
	assert_int_equal(net_mac_allocate(st, m), -ENOSPC);
	/* freeing one (remove-vmnetworkadapter) makes it the next */
	memcpy(st->adapters[7].mac, "\x02\0\0\0\0\1", 6);
	assert_int_equal(net_mac_allocate(st, m), 0);
	assert_int_equal(m[5], 7);
	state_free(st);
}

static void test_state_file(void **state)
{
	static const char good[] =
		"{\"version\":1,\"mac_pool\":\"ab:cd\",\"next_index\":3,\"switches\":[{\"id\":"
		"\"4129ddbc-f907-4578-bd59-c7975b9cda2e\",\"name\":\"Default "
		"Switch\",\"switch_type\":"
		"\"nat\",\"bridge\":\"pvbr0\",\"subnet\":\"172.29.0.0/24\",\"dhcp\":true}],"
		"\"adapters\":[{\"vm_id\":\"d84ab532-733e-436d-8292-ab01392534a4\",\"id\":\"nic0\","
		"\"name\":\"Network "
		"Adapter\",\"switch_id\":\"4129ddbc-f907-4578-bd59-c7975b9cda2e\","
		"\"mac_address\":\"00:15:5d:ab:cd:00\",\"tap\":\"pvt1\",\"ifb\":\"pvi1\",\"acls\":["
		"{"
		"\"direction\":\"inbound\",\"action\":\"deny\",\"remote_ip_address\":\"10.0.0.0/"
		"8\"}]}]}";
	struct net_state *st = state_new(), *st2 = state_new();
	struct json_object *o;
	const char *text;
	char err[512], *bad;

	assert_int_equal(net_state_parse(good, sizeof(good) - 1, st, err, sizeof(err)), 0);
	assert_int_equal(st->nswitches, 1);
	assert_int_equal(st->nadapters, 1);
	assert_int_equal(st->switches[0].type, NET_SWITCH_NAT);
	assert_int_equal(st->adapters[0].nacls, 1);
	o = net_state_to_json(st);
	text = json_object_to_json_string(o);
	assert_int_equal(net_state_parse(text, strlen(text), st2, err, sizeof(err)), 0);
	assert_memory_equal(&st->switches[0], &st2->switches[0], sizeof(st->switches[0]));
	assert_memory_equal(&st->adapters[0], &st2->adapters[0], sizeof(st->adapters[0]));
	json_object_put(o);
	/* each field checked, with its name in the error */
	bad = strdup(good);
	memcpy(strstr(bad, "\"nat\""), "\"hub\"", 5);
	assert_int_equal(net_state_parse(bad, strlen(bad), st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "switch_type"));
	free(bad);
	bad = strdup(good);
	memcpy(strstr(bad, "00:15:5d:ab:cd:00"), "01:15:5d:ab:cd:00", 17);
	assert_int_equal(net_state_parse(bad, strlen(bad), st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "mac_address"));
	free(bad);
	bad = strdup(good);
	memcpy(strstr(bad, "pvt1"), "p/t1", 4);
	assert_int_equal(net_state_parse(bad, strlen(bad), st, err, sizeof(err)), -EINVAL);
	free(bad);
	assert_int_equal(net_state_parse("[]", 2, st, err, sizeof(err)), -EINVAL);
	state_free(st);
	state_free(st2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_acl_words),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_mac_allocation),
		cmocka_unit_test(test_state_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
