/*
 * The virtual switch's values as callers give them (switch names, interface names, MAC
 * addresses, address prefixes, ACL directions and actions) and as its files keep them:
 * parsers that take free text from the management API, so each one is fuzzed
 * (tests/fuzz/net, target vsw_parse) and says which field is wrong and why.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define VSW_NAME_MAX	100 /* a switch's or an adapter's name, in bytes */
#define VSW_MAC_TEXT	18  /* "00:15:5d:00:00:01" and its NUL */
#define VSW_PREFIX_TEXT 48

/* Hyper-V's dynamic MAC addresses are Microsoft's 00:15:5D block (Hyper-V Manager's range). */
#define VSW_MAC_OUI0 0x00
#define VSW_MAC_OUI1 0x15
#define VSW_MAC_OUI2 0x5d

struct vsw_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned len; /* prefix length; host bits are zero */
};

enum vsw_acl_dir { VSW_ACL_IN = 1, VSW_ACL_OUT = 2, VSW_ACL_BOTH = 3 };
enum vsw_acl_action { VSW_ACL_ALLOW, VSW_ACL_DENY };

/* One port ACL entry (Add-VMNetworkAdapterAcl): remote MAC or remote IP prefix. */
struct vsw_acl {
	enum vsw_acl_dir dir; /* in: to the guest; out: from the guest */
	enum vsw_acl_action action;
	bool is_mac;
	uint8_t mac[6];
	struct vsw_prefix ip;
};

/*
 * Each returns 0, or -EINVAL with a message in err that names field (the parameter as the
 * caller wrote it) and says what is wrong.
 */
int vsw_name_check(const char *field, const char *name, char *err, size_t errlen) must_check;
/* A host interface name as Linux takes it (dev_valid_name): 1..15 bytes, no '/', ':', blanks. */
int vsw_ifname_check(const char *field, const char *name, char *err, size_t errlen) must_check;
/*
 * A unicast MAC address: "00:15:5d:01:02:03", "00-15-5D-01-02-03" or "00155D010203" (how
 * Hyper-V writes them); not multicast, not all zeros.
 */
int vsw_mac_parse(const char *field, const char *text, uint8_t mac[6], char *err,
		  size_t errlen) must_check;
void vsw_mac_format(const uint8_t mac[6], char out[VSW_MAC_TEXT]);
/* "10.0.0.0/8", "192.0.2.7" (a /32), "2001:db8::/32", "::1"; host bits are cleared. */
int vsw_prefix_parse(const char *field, const char *text, struct vsw_prefix *p, char *err,
		     size_t errlen) must_check;
void vsw_prefix_format(const struct vsw_prefix *p, char out[VSW_PREFIX_TEXT]);
/* "in"/"inbound", "out"/"outbound", "both"; "allow", "deny" (any case). */
int vsw_acl_dir_parse(const char *field, const char *text, enum vsw_acl_dir *d, char *err,
		      size_t errlen) must_check;
int vsw_acl_action_parse(const char *field, const char *text, enum vsw_acl_action *a, char *err,
			 size_t errlen) must_check;
const char *vsw_acl_dir_name(enum vsw_acl_dir d);
const char *vsw_acl_action_name(enum vsw_acl_action a);
/* Two entries that match the same traffic the same way (add refuses duplicates). */
bool vsw_acl_same(const struct vsw_acl *a, const struct vsw_acl *b);
