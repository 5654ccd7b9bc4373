/*
 * Fuzz target: the virtual switch's parsers of caller text (src/net/switch/parse.c): MAC
 * addresses, IP prefixes, interface and switch names, ACL directions and actions. The first
 * byte picks the parser; what parses is formatted and parsed again to the same value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "net/switch/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text;
	uint8_t mac[6], mac2[6];
	struct vsw_prefix p, p2;
	enum vsw_acl_dir d;
	enum vsw_acl_action a;

	if (size < 1 || size > 4096)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		if (vsw_mac_parse("mac", text, mac, err, sizeof(err)) == 0) {
			char out[VSW_MAC_TEXT];

			vsw_mac_format(mac, out);
			if (vsw_mac_parse("mac", out, mac2, err, sizeof(err)) != 0 ||
			    memcmp(mac, mac2, 6) || (mac[0] & 1))
				__builtin_trap();
		}
		break;
	case 1:
		if (vsw_prefix_parse("ip", text, &p, err, sizeof(err)) == 0) {
			char out[VSW_PREFIX_TEXT];

			vsw_prefix_format(&p, out);
			if (vsw_prefix_parse("ip", out, &p2, err, sizeof(err)) != 0 ||
			    p2.family != p.family || p2.len != p.len || memcmp(p.addr, p2.addr, 16))
				__builtin_trap();
		}
		break;
	case 2:
		if (vsw_ifname_check("if", text, err, sizeof(err)) == 0 &&
		    (strlen(text) > 15 || strchr(text, '/') || strchr(text, ':') ||
		     strchr(text, ' ')))
			__builtin_trap();
		break;
	case 3:
		if (vsw_name_check("name", text, err, sizeof(err)) == 0 &&
		    (strlen(text) > VSW_NAME_MAX || strchr(text, '/')))
			__builtin_trap();
		break;
	case 4:
		IGNORE_RESULT(vsw_acl_dir_parse("direction", text, &d, err, sizeof(err)));
		IGNORE_RESULT(vsw_acl_action_parse("action", text, &a, err, sizeof(err)));
		break;
	}
	free(text);
	return 0;
}
