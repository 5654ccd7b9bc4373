/* The switches' nftables ruleset as text; see rules.h. Syntax: nft(8). */
#include "net/switch/rules.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Specificity order (rules.h): MACs first, longer prefixes first, deny before allow. */
static int acl_rank(const struct vsw_acl *a)
{
	int r = a->is_mac ? 1000 : (int)a->ip.len * 2;

	return r * 2 + (a->action == VSW_ACL_DENY);
}

static int acl_cmp(const void *pa, const void *pb)
{
	const struct vsw_acl *a = *(const struct vsw_acl *const *)pa;
	const struct vsw_acl *b = *(const struct vsw_acl *const *)pb;

	return acl_rank(b) - acl_rank(a);
}

/* The ACL entries of one direction; remote is the destination going out, the source coming in. */
static void render_acls(FILE *f, const struct vsw_port_rules *p, enum vsw_acl_dir dir)
{
	const struct vsw_acl **sorted;
	const char *side = dir == VSW_ACL_OUT ? "daddr" : "saddr";
	unsigned i, n = 0;

	if (!p->nacls)
		return;
	sorted = calloc(p->nacls, sizeof(*sorted));
	if (!sorted)
		return;
	for (i = 0; i < p->nacls; i++)
		if (p->acls[i].dir & dir)
			sorted[n++] = &p->acls[i];
	qsort(sorted, n, sizeof(*sorted), acl_cmp);
	for (i = 0; i < n; i++) {
		const struct vsw_acl *a = sorted[i];
		const char *verdict = a->action == VSW_ACL_DENY ? "drop" : "accept";

		if (a->is_mac) {
			char m[VSW_MAC_TEXT];

			vsw_mac_format(a->mac, m);
			fprintf(f, "\t\tether %s %s counter %s\n", side, m, verdict);
		} else {
			char pfx[VSW_PREFIX_TEXT];

			vsw_prefix_format(&a->ip, pfx);
			fprintf(f, "\t\t%s %s %s counter %s\n",
				a->ip.family == AF_INET ? "ip" : "ip6", side, pfx, verdict);
		}
	}
	free(sorted);
}

static void render_port(FILE *f, const struct vsw_port_rules *p)
{
	char m[VSW_MAC_TEXT];

	vsw_mac_format(p->mac, m);
	fprintf(f, "\tchain from_%s {\n", p->tap);
	if (p->mac_guard)
		fprintf(f, "\t\tether saddr != %s counter drop comment \"mac-spoofing\"\n", m);
	if (p->dhcp_guard) {
		fprintf(f, "\t\tip protocol udp udp sport 67 udp dport 68 counter drop comment "
			   "\"dhcp-guard\"\n");
		fprintf(f, "\t\tip6 nexthdr udp udp sport 547 udp dport 546 counter drop comment "
			   "\"dhcp-guard\"\n");
	}
	if (p->router_guard) {
		fprintf(f, "\t\ticmpv6 type { nd-router-advert, nd-redirect } counter drop comment "
			   "\"router-guard\"\n");
		fprintf(f, "\t\ticmp type redirect counter drop comment \"router-guard\"\n");
	}
	render_acls(f, p, VSW_ACL_OUT);
	fprintf(f, "\t}\n\tchain to_%s {\n", p->tap);
	render_acls(f, p, VSW_ACL_IN);
	fprintf(f, "\t}\n");
}

static void render_hook(FILE *f, const char *chain, const struct vsw_port_rules *ports, unsigned n,
			bool from, bool to)
{
	unsigned i;

	fprintf(f, "\tchain %s {\n\t\ttype filter hook %s priority 0; policy accept;\n", chain,
		chain);
	for (i = 0; i < n; i++) {
		if (from)
			fprintf(f, "\t\tiifname \"%s\" jump from_%s\n", ports[i].tap, ports[i].tap);
		if (to)
			fprintf(f, "\t\toifname \"%s\" jump to_%s\n", ports[i].tap, ports[i].tap);
	}
	fprintf(f, "\t}\n");
}

static void render_nat(FILE *f, const struct vsw_nat_rules *nats, unsigned n)
{
	unsigned i;

	fprintf(f, "table ip %s {\n", VSW_TABLE_NAT);
	fprintf(f, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
		   "policy accept;\n");
	for (i = 0; i < n; i++) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &nats[i].subnet, a, sizeof(a));
		fprintf(f, "\t\tip saddr %s/%u oifname != \"%s\" counter masquerade\n", a,
			nats[i].prefix, nats[i].bridge);
	}
	/*
	 * Behind the NAT, as Hyper-V's: the guests reach out, nothing from outside reaches in
	 * but the answers. Frames between two guests of the switch stay on its bridge.
	 */
	fprintf(f, "\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy "
		   "accept;\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "\t\tiifname \"%s\" accept\n", nats[i].bridge);
		fprintf(f, "\t\toifname \"%s\" ct state established,related accept\n",
			nats[i].bridge);
		fprintf(f, "\t\toifname \"%s\" counter drop\n", nats[i].bridge);
	}
	fprintf(f, "\t}\n}\n");
}

char *vsw_rules_render(const struct vsw_port_rules *ports, unsigned nports,
		       const struct vsw_nat_rules *nats, unsigned nnats)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned i;

	if (!f)
		return NULL;
	/* Declare, delete, define: one transaction whatever was there before. */
	fprintf(f, "table bridge %s\ndelete table bridge %s\n", VSW_TABLE_PORTS, VSW_TABLE_PORTS);
	fprintf(f, "table ip %s\ndelete table ip %s\n", VSW_TABLE_NAT, VSW_TABLE_NAT);
	if (nports) {
		fprintf(f, "table bridge %s {\n", VSW_TABLE_PORTS);
		for (i = 0; i < nports; i++)
			render_port(f, &ports[i]);
		render_hook(f, "forward", ports, nports, true, true);
		render_hook(f, "input", ports, nports, true, false);
		render_hook(f, "output", ports, nports, false, true);
		fprintf(f, "}\n");
	}
	if (nnats)
		render_nat(f, nats, nnats);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
