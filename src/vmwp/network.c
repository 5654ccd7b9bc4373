/* The worker's synthetic network adapters (network.h). */
#include "vmwp/network.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/aml.h"
#include "emu/dec21140/dec21140.h"
#include "hvdef/netvsp_proto.h"
#include "vsp/netvsp/netvsp.h"

#define NVSP_VERSION_1	NVSP_PROTOCOL_VERSION_1
#define NVSP_VERSION_2	NVSP_PROTOCOL_VERSION_2
#define NVSP_VERSION_4	NVSP_PROTOCOL_VERSION_4
#define NVSP_VERSION_5	NVSP_PROTOCOL_VERSION_5
#define NVSP_VERSION_6	NVSP_PROTOCOL_VERSION_6
#define NVSP_VERSION_61 NVSP_PROTOCOL_VERSION_61

/* Adapter indexes (instance GUIDs) 0..NET_MAX_ADAPTERS-1. */
#define NET_MAX_ADAPTERS 32

struct adapter {
	char id[NIC_ID_MAX];
	uint8_t mac[6];
	unsigned queues;
	struct netvsp *nv;	 /* a synthetic adapter, or */
	struct dec21140 *legacy; /* the emulated one (generation 1) */
	unsigned legacy_index;	 /* its PCI slot and line: DEC21140_FIRST_SLOT + this */
};

struct network {
	struct vmbus_server *server;
	struct guest_memory *mem;
	unsigned vcpus;
	pthread_mutex_t lock; /* adapters[] */
	struct adapter *adapters[NET_MAX_ADAPTERS];
	unsigned nlegacy; /* legacy adapters attached (indexes 0..nlegacy-1) */
};

static void close_fds(const int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

static int find(struct network *net, const char *id)
{
	int i;

	for (i = 0; i < NET_MAX_ADAPTERS; i++)
		if (net->adapters[i] && !strcmp(net->adapters[i]->id, id))
			return i;
	return -1;
}

/* Under net->lock. fds are owned from here on. */
static int attach(struct network *net, const struct nic_config *nic, int *fds, char *err,
		  size_t errlen)
{
	struct netvsp_config c = {
		.server = net->server,
		.mem = net->mem,
		.vcpus = net->vcpus,
		.mac_spoofing = nic->mac_spoofing,
		.connected = nic->connected,
		.tap_fds = fds,
		.ntap = nic->nfds,
	};
	struct adapter *a;
	int i, slot = -1, r;

	for (i = 0; i < NET_MAX_ADAPTERS; i++) {
		if (!net->adapters[i]) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (!strcmp(net->adapters[i]->id, nic->id) ||
		    !memcmp(net->adapters[i]->mac, nic->mac, 6)) {
			snprintf(err, errlen, "network adapter \"%s\": its id or MAC is taken",
				 nic->id);
			close_fds(fds, nic->nfds);
			return -EEXIST;
		}
	}
	if (slot < 0) {
		snprintf(err, errlen, "more than %u network adapters", NET_MAX_ADAPTERS);
		close_fds(fds, nic->nfds);
		return -ENOSPC;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		close_fds(fds, nic->nfds);
		return -ENOMEM;
	}
	memcpy(a->id, nic->id, sizeof(a->id));
	memcpy(a->mac, nic->mac, 6);
	memcpy(c.mac, nic->mac, 6);
	a->queues = nic->nfds;
	c.index = (unsigned)slot;
	r = netvsp_new(&c, &a->nv); /* owns the fds, also on failure */
	if (r < 0) {
		snprintf(err, errlen, "network adapter \"%s\": %s", nic->id, strerror(-r));
		free(a);
		return r;
	}
	net->adapters[slot] = a;
	return slot;
}

int network_new(struct vmbus_server *server, struct guest_memory *mem, unsigned vcpus,
		const struct nic_config *nics, unsigned n, struct network **ret, char *err,
		size_t errlen)
{
	struct network *net = calloc(1, sizeof(*net));
	unsigned i, q;
	int r;

	if (!net)
		return -ENOMEM;
	net->server = server;
	net->mem = mem;
	net->vcpus = vcpus;
	pthread_mutex_init(&net->lock, NULL);
	for (i = 0; i < n; i++) {
		int fds[NIC_MAX_QUEUES];

		if (nics[i].legacy)
			continue; /* network_attach_legacy(), once the PCI bus exists */
		/* The worker keeps its own: the next boot's adapter gets new duplicates. */
		for (q = 0; q < nics[i].nfds; q++) {
			fds[q] = fcntl(nics[i].fds[q], F_DUPFD_CLOEXEC, 3);
			if (fds[q] < 0) {
				r = -errno;
				close_fds(fds, q);
				snprintf(err, errlen, "network adapter \"%s\": %s", nics[i].id,
					 strerror(-r));
				network_free(net);
				return r;
			}
		}
		pthread_mutex_lock(&net->lock);
		r = attach(net, &nics[i], fds, err, errlen);
		pthread_mutex_unlock(&net->lock);
		if (r < 0) {
			network_free(net);
			return r;
		}
	}
	*ret = net;
	return 0;
}

struct network *network_free(struct network *net)
{
	unsigned i;

	if (!net)
		return NULL;
	network_detach_legacy(net);
	for (i = 0; i < NET_MAX_ADAPTERS; i++)
		if (net->adapters[i]) {
			netvsp_free(net->adapters[i]->nv);
			free(net->adapters[i]);
		}
	pthread_mutex_destroy(&net->lock);
	free(net);
	return NULL;
}

/* One legacy adapter: its TAP queue (a duplicate of the worker's) becomes the device's back end. */
static int attach_legacy(struct network *net, struct pci_host *pci, struct partition *p,
			 const struct nic_config *nic, bool quiesced, char *err, size_t errlen)
{
	unsigned k = net->nlegacy;
	struct dec21140_config c = {
		.name = nic->id,
		.devfn = PCI_DEVFN(DEC21140_FIRST_SLOT + k, 0),
		.io_base = (uint16_t)(DEC21140_IO_BASE + 0x80 * k),
		.mmio_base = DEC21140_MMIO_BASE + 0x1000 * k,
		.irq = partition_irq_line(p, DEC21140_FIRST_GSI + k),
		.mem = net->mem,
		.connected = nic->connected,
		.mac_spoofing = nic->mac_spoofing,
		.quiesced = quiesced,
	};
	struct adapter *a;
	int i, slot = -1, r;

	if (k >= DEC21140_MAX_ADAPTERS) {
		snprintf(err, errlen, "network adapter \"%s\": more than %u legacy adapters",
			 nic->id, DEC21140_MAX_ADAPTERS);
		return -ENOSPC;
	}
	for (i = 0; i < NET_MAX_ADAPTERS && slot < 0; i++)
		if (!net->adapters[i])
			slot = i;
	if (slot < 0) {
		snprintf(err, errlen, "more than %u network adapters", NET_MAX_ADAPTERS);
		return -ENOSPC;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	memcpy(c.mac, nic->mac, 6);
	c.backend_fd = fcntl(nic->fds[0], F_DUPFD_CLOEXEC, 3);
	if (c.backend_fd < 0) {
		r = -errno;
		free(a);
		snprintf(err, errlen, "network adapter \"%s\": %s", nic->id, strerror(-r));
		return r;
	}
	r = dec21140_new(pci, partition_pio_bus(p), partition_mmio_bus(p), &c, &a->legacy);
	if (r < 0) {
		snprintf(err, errlen, "legacy network adapter \"%s\": %s", nic->id, strerror(-r));
		free(a);
		return r;
	}
	memcpy(a->id, nic->id, sizeof(a->id));
	memcpy(a->mac, nic->mac, 6);
	a->queues = 1;
	a->legacy_index = k;
	net->adapters[slot] = a;
	net->nlegacy++;
	return 0;
}

int network_attach_legacy(struct network *net, struct pci_host *pci, struct partition *p,
			  const struct nic_config *nics, unsigned n, bool quiesced, char *err,
			  size_t errlen)
{
	unsigned i;
	int r = 0;

	pthread_mutex_lock(&net->lock);
	for (i = 0; i < n && r == 0; i++)
		if (nics[i].legacy)
			r = attach_legacy(net, pci, p, &nics[i], quiesced, err, errlen);
	pthread_mutex_unlock(&net->lock);
	return r;
}

struct dec21140 *network_legacy(struct network *net, unsigned k)
{
	struct dec21140 *d = NULL;

	if (!net)
		return NULL;
	pthread_mutex_lock(&net->lock);
	for (unsigned i = 0; i < NET_MAX_ADAPTERS && !d; i++)
		if (net->adapters[i] && net->adapters[i]->legacy &&
		    net->adapters[i]->legacy_index == k)
			d = net->adapters[i]->legacy;
	pthread_mutex_unlock(&net->lock);
	return d;
}

void network_detach_legacy(struct network *net)
{
	unsigned i;

	if (!net)
		return;
	pthread_mutex_lock(&net->lock);
	for (i = 0; i < NET_MAX_ADAPTERS; i++) {
		struct adapter *a = net->adapters[i];

		if (a && a->legacy) {
			dec21140_free(a->legacy);
			free(a);
			net->adapters[i] = NULL;
		}
	}
	net->nlegacy = 0;
	pthread_mutex_unlock(&net->lock);
}

/*
 * \_SB.PCI0._PRT: each legacy adapter's INTA# straight to its GSI (ACPI 6.4 6.2.13, a
 * zero Source: SourceIndex is the GSI, level-triggered and active low). Without it,
 * Linux would fall back to the Interrupt Line register and warn.
 */
void network_legacy_dsdt(struct aml *aml, void *opaque)
{
	struct network *net = opaque;
	unsigned k, n;

	pthread_mutex_lock(&net->lock);
	n = net->nlegacy;
	pthread_mutex_unlock(&net->lock);
	if (!n)
		return;
	aml_scope_begin(aml, "PCI0");
	aml_name(aml, "_PRT");
	aml_package_begin(aml);
	for (k = 0; k < n; k++) {
		aml_package_begin(aml);
		aml_integer(aml, (uint64_t)(DEC21140_FIRST_SLOT + k) << 16 | 0xFFFF);
		aml_integer(aml, 0); /* INTA# */
		aml_integer(aml, 0); /* no link device */
		aml_integer(aml, DEC21140_FIRST_GSI + k);
		aml_end(aml);
	}
	aml_end(aml);
	aml_end(aml);
}

int network_add(struct network *net, struct nic_config *nic, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&net->lock);
	r = attach(net, nic, nic->fds, err, errlen);
	pthread_mutex_unlock(&net->lock);
	nic->nfds = 0; /* the adapter owns them, or they are closed */
	return r < 0 ? r : 0;
}

int network_remove(struct network *net, const char *id)
{
	struct adapter *a = NULL;
	int i;

	pthread_mutex_lock(&net->lock);
	i = find(net, id);
	if (i >= 0 && net->adapters[i]->legacy) {
		pthread_mutex_unlock(&net->lock);
		return -EPERM; /* a PCI device of the machine: not hot-removable (as in Hyper-V) */
	}
	if (i >= 0) {
		a = net->adapters[i];
		net->adapters[i] = NULL;
	}
	pthread_mutex_unlock(&net->lock);
	if (!a)
		return -ENOENT;
	/* Outside the lock: the rescind waits for the channels' loops. */
	netvsp_free(a->nv);
	free(a);
	return 0;
}

int network_set(struct network *net, const char *id, const bool *connected,
		const bool *mac_spoofing)
{
	int i;

	pthread_mutex_lock(&net->lock);
	i = find(net, id);
	if (i >= 0 && net->adapters[i]->legacy) {
		if (connected)
			dec21140_set_connected(net->adapters[i]->legacy, *connected);
		if (mac_spoofing)
			dec21140_set_mac_spoofing(net->adapters[i]->legacy, *mac_spoofing);
	} else if (i >= 0) {
		if (connected)
			netvsp_set_connected(net->adapters[i]->nv, *connected);
		if (mac_spoofing)
			netvsp_set_mac_spoofing(net->adapters[i]->nv, *mac_spoofing);
	}
	pthread_mutex_unlock(&net->lock);
	return i < 0 ? -ENOENT : 0;
}

void network_default_mac(struct network *net, uint16_t worker_tag, uint8_t mac[6])
{
	unsigned idx;

	pthread_mutex_lock(&net->lock);
	/* An index no adapter's default MAC uses yet (the configured ones took 0..n-1). */
	for (idx = 0; idx < 256; idx++) {
		const uint8_t m[6] = {
			0x00,	     0x15, 0x5d, (uint8_t)(worker_tag >> 8), (uint8_t)worker_tag,
			(uint8_t)idx};
		unsigned i;
		bool taken = false;

		for (i = 0; i < NET_MAX_ADAPTERS; i++)
			if (net->adapters[i] && !memcmp(net->adapters[i]->mac, m, 6))
				taken = true;
		if (!taken) {
			memcpy(mac, m, 6);
			break;
		}
	}
	pthread_mutex_unlock(&net->lock);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

/* A legacy adapter's status (docs/control.md): the same keys where they mean the same. */
static struct json_object *legacy_json(const struct adapter *a)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();
	struct dec21140_stats st;
	char mac[18];

	dec21140_get_stats(a->legacy, &st);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", a->mac[0], a->mac[1], a->mac[2],
		 a->mac[3], a->mac[4], a->mac[5]);
	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "mac", json_object_new_string(mac));
	json_object_object_add(o, "legacy", json_object_new_boolean(1));
	json_object_object_add(o, "device", json_object_new_string("DEC 21140A"));
	json_object_object_add(o, "connected", json_object_new_boolean(st.connected));
	json_object_object_add(o, "mac_spoofing", json_object_new_boolean(st.mac_spoofing));
	/* "ready" once the guest's driver runs both processes (CSR6 ST and SR). */
	json_object_object_add(
		o, "state",
		json_object_new_string((st.csr6 & 0x2002) == 0x2002 ? "ready" : "stopped"));
	add_u64(o, "csr5", st.csr5);
	add_u64(o, "csr6", st.csr6);
	add_u64(o, "rx_packets", st.rx_packets);
	add_u64(o, "tx_packets", st.tx_packets);
	add_u64(o, "rx_bytes", st.rx_bytes);
	add_u64(o, "tx_bytes", st.tx_bytes);
	add_u64(o, "setup_frames", st.setup_frames);
	add_u64(o, "interrupts_out", st.interrupts);
	add_u64(d, "rx_missed", st.rx_missed);
	add_u64(d, "rx_filtered", st.rx_filtered);
	add_u64(d, "rx_stopped", st.rx_stopped);
	add_u64(d, "rx_truncated", st.rx_truncated);
	add_u64(d, "spoofed", st.tx_spoofed);
	add_u64(d, "tx_link_down", st.tx_link_down);
	add_u64(d, "tx_error", st.tx_backend_errors);
	add_u64(d, "bus_errors", st.bus_errors);
	add_u64(d, "ring_errors", st.ring_errors);
	add_u64(d, "guest_errors", st.guest_errors);
	json_object_object_add(o, "drops", d);
	return o;
}

static struct json_object *adapter_json(const struct adapter *a)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();
	struct netvsp_stats st;
	char mac[18], ver[16] = "", ndis[16] = "";

	netvsp_get_stats(a->nv, &st);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", a->mac[0], a->mac[1], a->mac[2],
		 a->mac[3], a->mac[4], a->mac[5]);
	{
		/* NVSP's own names for its version numbers (hyperv_net.h). */
		static const struct {
			uint32_t v;
			const char *name;
		} names[] = {{NVSP_VERSION_1, "1"}, {NVSP_VERSION_2, "2"},
			     {NVSP_VERSION_4, "4"}, {NVSP_VERSION_5, "5"},
			     {NVSP_VERSION_6, "6"}, {NVSP_VERSION_61, "6.1"}};
		unsigned k;

		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (names[k].v == st.nvsp_version)
				snprintf(ver, sizeof(ver), "%s", names[k].name);
	}
	if (st.ndis_major)
		snprintf(ndis, sizeof(ndis), "%u.%u", st.ndis_major, st.ndis_minor);
	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "mac", json_object_new_string(mac));
	json_object_object_add(o, "connected", json_object_new_boolean(st.connected));
	json_object_object_add(o, "mac_spoofing", json_object_new_boolean(st.mac_spoofing));
	json_object_object_add(o, "state", json_object_new_string(netvsp_state_name(st.state)));
	json_object_object_add(o, "nvsp_version", ver[0] ? json_object_new_string(ver) : NULL);
	json_object_object_add(o, "ndis_version", ndis[0] ? json_object_new_string(ndis) : NULL);
	json_object_object_add(o, "mtu", json_object_new_int((int)st.mtu));
	json_object_object_add(o, "queues", json_object_new_int((int)a->queues));
	json_object_object_add(o, "channels", json_object_new_int((int)st.channels));
	json_object_object_add(o, "packet_filter", json_object_new_int64(st.packet_filter));
	json_object_object_add(o, "rx_packets", json_object_new_int64((int64_t)st.rx_packets));
	json_object_object_add(o, "tx_packets", json_object_new_int64((int64_t)st.tx_packets));
	json_object_object_add(o, "rx_bytes", json_object_new_int64((int64_t)st.rx_bytes));
	json_object_object_add(o, "tx_bytes", json_object_new_int64((int64_t)st.tx_bytes));
	json_object_object_add(o, "link_indications",
			       json_object_new_int64((int64_t)st.indications));
	json_object_object_add(o, "rndis_requests",
			       json_object_new_int64((int64_t)st.rndis_requests));
	json_object_object_add(o, "rx_steered", json_object_new_int64((int64_t)st.rx_steered));
	json_object_object_add(o, "rsc_v4", json_object_new_boolean(st.rsc_v4));
	json_object_object_add(o, "rsc_v6", json_object_new_boolean(st.rsc_v6));
	json_object_object_add(o, "rx_rsc", json_object_new_int64((int64_t)st.rx_rsc));
	json_object_object_add(o, "rx_rsc_segments",
			       json_object_new_int64((int64_t)st.rx_rsc_segments));
	json_object_object_add(o, "signals_in", json_object_new_int64((int64_t)st.signals_in));
	json_object_object_add(o, "interrupts_out",
			       json_object_new_int64((int64_t)st.interrupts_out));
	json_object_object_add(d, "spoofed", json_object_new_int64((int64_t)st.drop_spoofed));
	json_object_object_add(d, "rx_no_buffer",
			       json_object_new_int64((int64_t)st.drop_rx_no_buffer));
	json_object_object_add(d, "rx_filtered",
			       json_object_new_int64((int64_t)st.drop_rx_filtered));
	json_object_object_add(d, "rx_steer", json_object_new_int64((int64_t)st.drop_rx_steer));
	json_object_object_add(d, "rx_gso", json_object_new_int64((int64_t)st.drop_rx_gso));
	json_object_object_add(d, "tx_error", json_object_new_int64((int64_t)st.drop_tx_error));
	json_object_object_add(d, "tx_link_down",
			       json_object_new_int64((int64_t)st.drop_tx_link_down));
	json_object_object_add(d, "bad_packets", json_object_new_int64((int64_t)st.bad_packets));
	json_object_object_add(d, "bad_sections", json_object_new_int64((int64_t)st.bad_sections));
	json_object_object_add(d, "bad_releases", json_object_new_int64((int64_t)st.bad_releases));
	json_object_object_add(d, "unreleased", json_object_new_int64((int64_t)st.unreleased));
	json_object_object_add(o, "drops", d);
	return o;
}

struct json_object *network_status_json(struct network *net)
{
	struct json_object *arr = json_object_new_array();
	unsigned i;

	pthread_mutex_lock(&net->lock);
	for (i = 0; i < NET_MAX_ADAPTERS; i++)
		if (net->adapters[i])
			json_object_array_add(arr, net->adapters[i]->legacy
							   ? legacy_json(net->adapters[i])
							   : adapter_json(net->adapters[i]));
	pthread_mutex_unlock(&net->lock);
	return arr;
}
