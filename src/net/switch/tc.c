/* A port's shaping and mirroring with tc(8); see tc.h. */
#include "base/compiler.h"
#include "net/switch/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/switch/link.h"
#include "net/switch/run.h"

#define ARGS_MAX 64

static const char *tc_path(void)
{
	return access("/usr/sbin/tc", X_OK) == 0 ? "/usr/sbin/tc" : "/sbin/tc";
}

struct argv_buf {
	char *argv[ARGS_MAX];
	char store[ARGS_MAX][32];
	unsigned n;
};

static void arg(struct argv_buf *a, const char *s)
{
	if (a->n < ARGS_MAX - 1)
		a->argv[a->n++] = (char *)s;
	a->argv[a->n] = NULL;
}

/* A rate in bits per second, as tc writes it ("1000000bit"). */
static void arg_bits(struct argv_buf *a, uint64_t v)
{
	if (a->n >= ARGS_MAX - 1)
		return;
	snprintf(a->store[a->n], sizeof(a->store[0]), "%" PRIu64 "bit", v);
	arg(a, a->store[a->n]);
}

static void start(struct argv_buf *a)
{
	a->n = 0;
	arg(a, tc_path());
}

/* "tc qdisc del dev D root|ingress": no such qdisc is fine. */
static void qdisc_del(const char *dev, const char *where)
{
	struct argv_buf a;
	char e[256];

	start(&a);
	arg(&a, "qdisc");
	arg(&a, "del");
	arg(&a, "dev");
	arg(&a, dev);
	arg(&a, where);
	IGNORE_RESULT(vsw_run(a.argv, e, sizeof(e)));
}

/* Root HTB with class 1:1 at rate (bits/s; 0: unlimited) as the default class. */
static int htb_root(const char *dev, uint64_t bps, char *err, size_t errlen)
{
	/* "Unlimited": 100 Gbit/s, above what one TAP queue carries (JAIL-AND-NET-GROUND §7.4). */
	uint64_t rate = bps ? bps : 100000000000ull;
	struct argv_buf a;
	int r;

	start(&a);
	arg(&a, "qdisc");
	arg(&a, "add");
	arg(&a, "dev");
	arg(&a, dev);
	arg(&a, "root");
	arg(&a, "handle");
	arg(&a, "1:");
	arg(&a, "htb");
	arg(&a, "default");
	arg(&a, "1");
	if ((r = vsw_run(a.argv, err, errlen)) < 0)
		return r;
	start(&a);
	arg(&a, "class");
	arg(&a, "add");
	arg(&a, "dev");
	arg(&a, dev);
	arg(&a, "parent");
	arg(&a, "1:");
	arg(&a, "classid");
	arg(&a, "1:1");
	arg(&a, "htb");
	arg(&a, "rate");
	arg_bits(&a, rate);
	arg(&a, "ceil");
	arg_bits(&a, rate);
	return vsw_run(a.argv, err, errlen);
}

/* The u32 match-all filter head: "tc filter add dev D parent P protocol all prio 1 u32 match u32 0
 * 0". */
static void filter_head(struct argv_buf *a, const char *dev, const char *parent)
{
	start(a);
	arg(a, "filter");
	arg(a, "add");
	arg(a, "dev");
	arg(a, dev);
	arg(a, "parent");
	arg(a, parent);
	arg(a, "protocol");
	arg(a, "all");
	arg(a, "prio");
	arg(a, "1");
	arg(a, "u32");
	arg(a, "match");
	arg(a, "u32");
	arg(a, "0");
	arg(a, "0");
}

static void mirror_actions(struct argv_buf *a, const struct vsw_tc_port *p)
{
	unsigned i;

	for (i = 0; i < p->nmirrors; i++) {
		arg(a, "action");
		arg(a, "mirred");
		arg(a, "egress");
		arg(a, "mirror");
		arg(a, "dev");
		arg(a, p->mirror_to[i]);
		arg(a, "pipe");
	}
}

static int to_guest(const struct vsw_tc_port *p, char *err, size_t errlen)
{
	struct argv_buf a;
	int r = htb_root(p->tap, p->max_bps, err, errlen);

	if (r < 0 || !p->nmirrors)
		return r;
	filter_head(&a, p->tap, "1:");
	arg(&a, "flowid");
	arg(&a, "1:1");
	mirror_actions(&a, p);
	return vsw_run(a.argv, err, errlen);
}

static int from_guest(const struct vsw_tc_port *p, char *err, size_t errlen)
{
	struct argv_buf a;
	int r;

	if (p->max_bps) {
		r = vsw_link_create(p->ifb, "ifb", err, errlen);
		if (r < 0 && r != -EEXIST) {
			snprintf(err, errlen, "cannot make IFB %s: %s", p->ifb, strerror(-r));
			return r;
		}
		qdisc_del(p->ifb, "root");
		if ((r = vsw_link_set_up(p->ifb, true)) < 0 ||
		    (r = htb_root(p->ifb, p->max_bps, err, errlen)) < 0)
			return r;
	}
	start(&a);
	arg(&a, "qdisc");
	arg(&a, "add");
	arg(&a, "dev");
	arg(&a, p->tap);
	arg(&a, "handle");
	arg(&a, "ffff:");
	arg(&a, "ingress");
	if ((r = vsw_run(a.argv, err, errlen)) < 0)
		return r;
	/* One filter: a filter whose actions end in pipe ends the classification (tcf_classify). */
	filter_head(&a, p->tap, "ffff:");
	mirror_actions(&a, p);
	if (p->max_bps) {
		arg(&a, "action");
		arg(&a, "mirred");
		arg(&a, "egress");
		arg(&a, "redirect");
		arg(&a, "dev");
		arg(&a, p->ifb);
	}
	return vsw_run(a.argv, err, errlen);
}

int vsw_tc_port_apply(const struct vsw_tc_port *p, char *err, size_t errlen)
{
	int r;

	if (p->nmirrors > VSW_TC_MAX_MIRRORS)
		return -EINVAL;
	qdisc_del(p->tap, "root");
	qdisc_del(p->tap, "ingress");
	if (!p->max_bps)
		vsw_tc_port_release(p->ifb);
	if (!p->max_bps && !p->nmirrors)
		return 0;
	r = to_guest(p, err, errlen);
	if (r == 0)
		r = from_guest(p, err, errlen);
	return r;
}

void vsw_tc_port_release(const char *ifb)
{
	struct vsw_link_info info;

	if (ifb && vsw_link_get(ifb, &info) == 0 && !strcmp(info.kind, "ifb"))
		IGNORE_RESULT(vsw_link_delete(ifb));
}
