/*
 * The service's virtual switches and network adapters (docs/switches.md): Hyper-V's
 * external, internal, private and NAT switches, each a kernel bridge that the service
 * recreates when it starts; each adapter of a VM a port on one switch (or none), with its
 * MAC address and port features. What is kept lives in DIR/network.json (written
 * atomically; its parser reads a file anyone with write access to the state directory may
 * have edited, so it is fuzzed: tests/fuzz/vmms, target network_state). The host side
 * (bridges, TAPs, nftables, tc, dnsmasq) is src/net/switch/.
 *
 * network.c: the state, the switches and their calls, the ruleset of all ports;
 * network_file.c: DIR/network.json; port.c: MACs, the adapters' ports, a VM's start and end;
 * adapter.c: the adapter calls; acl.c: the ACL calls.
 * Everything here runs under svc->lock.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/guid.h"
#include "net/switch/link.h"
#include "net/switch/parse.h"
#include "vmms/service_internal.h"

#define NET_MAX_SWITCHES    64
#define NET_MAX_ADAPTERS    1024
#define NET_MAX_VM_ADAPTERS 8  /* as Hyper-V's synthetic adapters per VM */
#define NET_MAX_ACLS	    64 /* per adapter */
/* TAP queues per adapter: one per vCPU, at most what the worker takes (its NIC_MAX_QUEUES). */
#define NET_MAX_QUEUES	   16
#define NET_STATE_FILE_MAX (4 * 1024 * 1024)

enum net_switch_type {
	NET_SWITCH_EXTERNAL,
	NET_SWITCH_INTERNAL,
	NET_SWITCH_PRIVATE,
	NET_SWITCH_NAT
};
enum net_mirror { NET_MIRROR_NONE, NET_MIRROR_SOURCE, NET_MIRROR_DESTINATION };

struct net_switch {
	char id[GUID_STRING_LEN];
	char name[VSW_NAME_MAX + 1];
	enum net_switch_type type;
	char bridge[VSW_IFNAME_MAX + 1];      /* pvbrN */
	char net_adapter[VSW_IFNAME_MAX + 1]; /* external: the host interface bridged; else "" */
	uint32_t subnet;		      /* internal (optional) and nat; network byte order */
	unsigned prefix; /* 0: no subnet (the host's interface has no address) */
	bool dhcp;	 /* dnsmasq serves the subnet (always on nat) */
	char error[256]; /* why it could not be set up on this host at the last try; "" when up */
};

struct net_adapter {
	char vm_id[GUID_STRING_LEN];
	char id[16]; /* the worker's adapter id ("nic0") */
	char name[VSW_NAME_MAX + 1];
	char switch_id[GUID_STRING_LEN]; /* "" when not connected */
	uint8_t mac[6];
	bool dynamic_mac;
	bool mac_spoofing; /* Hyper-V's MacAddressSpoofing: on lets the guest send as any MAC */
	bool dhcp_guard, router_guard;
	/*
	 * add-vmnetworkadapter --is-legacy (generation 1): the emulated DEC 21140A instead of
	 * netvsp, on the same TAP and switch port (docs/generation1.md); one queue.
	 */
	bool legacy;
	uint64_t max_bps; /* 0: no limit */
	enum net_mirror mirror;
	unsigned vlan; /* 0: untagged */
	char tap[VSW_IFNAME_MAX + 1], ifb[VSW_IFNAME_MAX + 1];
	struct vsw_acl acls[NET_MAX_ACLS];
	unsigned nacls;
};

struct net_state {
	struct net_switch switches[NET_MAX_SWITCHES];
	unsigned nswitches;
	struct net_adapter *adapters; /* NET_MAX_ADAPTERS of them */
	unsigned nadapters;
	uint8_t mac_pool[2]; /* this host's part of its dynamic MACs: 00:15:5d:P0:P1:xx */
	unsigned next_index; /* the next pvbrN / pvtN / pviN */
};

/* --- network.c --- */
/* Reads DIR/network.json (a first start makes a new state) and sets every switch up. */
int svc_net_load(struct service *svc, char *err, size_t errlen) must_check;
/* After the VMs are found again: the ports of running VMs back on their switches. */
void svc_net_resume(struct service *svc);
void svc_net_free(struct service *svc);
int svc_net_save(struct service *svc) must_check;
/* The state as the file holds it, and back (the file's parser: fuzzed). */
struct json_object *net_state_to_json(const struct net_state *st);
/* One adapter, and back (the file's and move-vm's OFFER's, migration_peer.c). */
struct json_object *net_adapter_to_json(const struct net_adapter *a);
int net_adapter_parse(struct json_object *o, struct net_adapter *a, char *err,
		      size_t errlen) must_check;
int net_state_parse(const char *text, size_t len, struct net_state *st, char *err,
		    size_t errlen) must_check;
struct net_switch *svc_net_switch_by_name(struct service *svc, const char *name);
struct net_switch *svc_net_switch_by_id(struct service *svc, const char *id);
/* Loads the ruleset of every port of every running VM and every NAT switch. */
int svc_net_apply_rules(struct service *svc, char *err, size_t errlen) must_check;
const char *net_switch_type_name(enum net_switch_type t);
/* network_file.c: "external" ... "nat" (any case); "a.b.c.d/n" IPv4 /8../30; the text back. */
int net_switch_type_parse(const char *s, enum net_switch_type *t);
int net_subnet_parse(const char *field, const char *text, uint32_t *subnet, unsigned *prefix,
		     char *err, size_t errlen);
void net_subnet_text(uint32_t subnet, unsigned prefix, char *buf, size_t len);
/* DIR/network.json (sw_id NULL), or DIR/net/SWITCH-ID.SUFFIX (its dnsmasq's files). */
void svc_net_path(const struct service *svc, char *buf, size_t len, const char *sw_id,
		  const char *suffix);
struct json_object *svc_call_new_switch(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_get_switch(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_set_switch(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_remove_switch(struct service *svc, const struct api_request *req,
					   struct api_error *err);

/* --- port.c (and what adapter.c and acl.c share) --- */
struct vm *svc_net_vm_by_id(struct service *svc, const char *id);
bool svc_net_vm_runs(const struct vm *vm);
bool net_tap_exists(const struct net_adapter *a);
struct net_adapter *svc_net_find_adapter(struct service *svc, const char *vm_id, const char *id);
/* TAP queues for vm: one per vCPU, at most NET_MAX_QUEUES. */
unsigned net_queues_for(const struct vm *vm);
/* The adapter as the worker takes it ("nics" entry, nic-add): fds NULL for nic-add. */
struct json_object *net_nic_json(const struct net_adapter *a, const int *fds, unsigned n);
struct json_object *net_nic_set_extra(const struct net_adapter *a);
/* Opens the TAP's queues into fds[] and puts it on its switch (or just up). */
int svc_net_open_port(struct service *svc, struct net_adapter *a, unsigned queues, int *fds,
		      char *err, size_t errlen) must_check;
/* adapter.c: the adapters a call names ("adapter", else all of the VM's); -1 with err. */
int svc_net_select_adapters(struct service *svc, const struct vm *vm, const struct api_request *req,
			    unsigned idx[NET_MAX_VM_ADAPTERS], struct api_error *err);
int svc_net_need_state(const struct vm *vm, const char *call, struct api_error *err);
int svc_net_save_or_fail(struct service *svc, struct api_error *err);
void svc_net_apply_rules_logged(struct service *svc);
/* A worker call about an adapter (nic-add, nic-set, nic-remove); drops the lock. */
int svc_net_worker_call(struct service *svc, struct vm *vm, const char *cmd,
			struct json_object *extra, const int *fds, unsigned nfds,
			struct api_error *err);

/* The lowest free dynamic MAC of pool; -ENOSPC when all 256 are taken. */
int net_mac_allocate(const struct net_state *st, uint8_t mac[6]) must_check;
bool net_mac_in_use(const struct net_state *st, const uint8_t mac[6],
		    const struct net_adapter *self);
/* A port on the switch: its TAP enslaved, its VLAN, its tc. Connected adapters of running VMs. */
int svc_net_port_attach(struct service *svc, struct net_adapter *a, char *err,
			size_t errlen) must_check;
/* Takes a disconnected port off its bridge. */
void svc_net_port_detach(struct service *svc, struct net_adapter *a);
/* tc for every port of sw's running VMs (mirroring goes between ports of one switch). */
void svc_net_switch_tc(struct service *svc, const struct net_switch *sw);
/*
 * Before a VM's worker starts: every adapter's TAP opened (one queue per vCPU) and put on its
 * switch; fds[] gets the queue descriptors to pass, *nics the "nics" of the worker's config.
 */
int svc_net_prepare_start(struct service *svc, struct vm *vm, int *fds, unsigned maxfds,
			  unsigned *nfds, struct json_object **nics,
			  struct api_error *err) must_check;
/* After it started (the ruleset now matches its TAPs), and after it ended. */
void svc_net_vm_started(struct service *svc, struct vm *vm);
void svc_net_vm_stopped(struct service *svc, struct vm *vm);
/* Tells a running worker an adapter's link changed (nic-set); drops the lock. Logs failures. */
void svc_net_notify_worker(struct service *svc, const char *vm_id, const char *adapter_id);
/* remove-vm: its adapters go with it. */
void svc_net_vm_removed(struct service *svc, const struct vm *vm);
/* The adapters of vm, as get-vmnetworkadapter shows them (a new array). */
struct json_object *svc_net_vm_adapters_json(struct service *svc, const struct vm *vm);
struct json_object *svc_call_add_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err);
struct json_object *svc_call_get_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err);
struct json_object *svc_call_connect_adapter(struct service *svc, const struct api_request *req,
					     bool connect, struct api_error *err);
struct json_object *svc_call_set_adapter(struct service *svc, const struct api_request *req,
					 struct api_error *err);
struct json_object *svc_call_remove_adapter(struct service *svc, const struct api_request *req,
					    struct api_error *err);
struct json_object *svc_call_acl(struct service *svc, const struct api_request *req,
				 enum api_call call, struct api_error *err);
