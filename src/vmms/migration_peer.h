/*
 * The messages between two services during move-vm (migration_proto.h): frame headers checked,
 * the OFFER, VERDICT and DONE documents parsed. Every byte here comes from the peer host; the
 * parsers check all of it and are fuzzed (tests/fuzz/vmms, target migration_peer). No I/O:
 * migration_service.c reads and writes the frames over TLS.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmms/inventory.h"
#include "vmms/migration_proto.h"
#include "vmms/network.h"

#define PEER_HOST_MAX 256

/* What a source offers: the VM as its inventory has it, and what the move needs. */
struct peer_offer {
	unsigned version;
	char source[PEER_HOST_MAX]; /* the source's listener, for the history ("10.0.0.1:7070") */
	struct vm_record rec;	    /* history included: it moves with the VM */
	/* The VM's adapters, each with the name of its switch ("" when not connected). */
	struct net_adapter *adapters; /* NET_MAX_VM_ADAPTERS of them, malloc'd */
	char adapter_switch[NET_MAX_VM_ADAPTERS][VSW_NAME_MAX + 1];
	unsigned nadapters;
	/* The source's CPUID features that the VM sees (its worker's "cpu" answer), or NULL. */
	struct json_object *cpu_features; /* array of strings */
};

/* Checks a frame header; 0 with *type and *len, -EPROTO with what is wrong in err. */
int peer_frame_check(const struct peer_frame_header *h, enum peer_frame_type *type, uint32_t *len,
		     char *err, size_t errlen) must_check;
/* The frame header for type and len, in wire order. */
void peer_frame_make(struct peer_frame_header *h, enum peer_frame_type type, uint32_t len);

int peer_offer_init(struct peer_offer *o) must_check;
void peer_offer_fini(struct peer_offer *o);
/* The OFFER for a VM (a new object): rec, its adapters (switch names given), its CPU features. */
struct json_object *peer_offer_to_json(const char *source, const struct vm_record *rec,
				       const struct net_adapter *const *adapters,
				       const char *const *switch_names, unsigned nadapters,
				       struct json_object *cpu_features);
/* Parses an OFFER's bytes into o (peer_offer_init'ed). 0, or -EINVAL with why in err. */
int peer_offer_parse(const char *text, size_t len, struct peer_offer *o, char *err,
		     size_t errlen) must_check;
/*
 * Parses a VERDICT or DONE: 0 with *ok and, when not ok, the peer's reason in why (made
 * printable); -EINVAL with err when malformed.
 */
int peer_result_parse(const char *text, size_t len, bool *ok, char *why, size_t whylen, char *err,
		      size_t errlen) must_check;
/* {"ok":true} or {"ok":false,"error":why}, as text (a static-free new string: free it). */
char *peer_result_text(bool ok, const char *why);
