/*
 * A test VSP for the VMBus unit tests: it answers every in-band packet
 * with the same bytes (a completion if one was requested), counts opens,
 * closes and wake-ups, and can be told to stop answering (to fill rings).
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"
#include "vmbus/vmbus.h"
#include "test_util.h"

struct echo_vsp {
	struct vmbus_channel *ch;
	atomic_int opens, closes, wakes, packets, send_errors;
	atomic_bool silent;	/* consume packets without answering */
	atomic_bool busy;	/* answer BUSY: packets stay in the ring */
	atomic_int refused;	/* packets answered BUSY */
	atomic_int refuse_open; /* the open callback's result */
	atomic_int burst;	/* packets to send at the next wake */
	atomic_int burst_sent;
};

static inline int echo_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct echo_vsp *e = opaque;

	atomic_fetch_add(&e->opens, 1);
	return atomic_load(&e->refuse_open);
}

static inline int echo_packet(void *opaque, struct vmbus_channel *ch,
			      const struct vmbus_packet *pkt)
{
	struct echo_vsp *e = opaque;
	uint16_t type = (pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED) ? VMBUS_PKT_COMP
									   : VMBUS_PKT_DATA_INBAND;

	if (atomic_load(&e->busy)) {
		atomic_fetch_add(&e->refused, 1);
		return VMBUS_PACKET_BUSY;
	}
	atomic_fetch_add(&e->packets, 1);
	if (atomic_load(&e->silent))
		return VMBUS_PACKET_DONE;
	if (vmbus_channel_send(ch, type, 0, pkt->trans_id, pkt->data, pkt->len) < 0)
		atomic_fetch_add(&e->send_errors, 1);
	return VMBUS_PACKET_DONE;
}

static inline void echo_wake(void *opaque, struct vmbus_channel *ch)
{
	struct echo_vsp *e = opaque;
	uint8_t buf[64];

	atomic_fetch_add(&e->wakes, 1);
	memset(buf, 0xAB, sizeof(buf));
	while (atomic_load(&e->burst_sent) < atomic_load(&e->burst)) {
		if (vmbus_channel_send(ch, VMBUS_PKT_DATA_INBAND, 0,
				       (uint64_t)atomic_load(&e->burst_sent), buf, sizeof(buf)) < 0)
			return; /* full: the next wake continues */
		atomic_fetch_add(&e->burst_sent, 1);
	}
}

static inline void echo_close(void *opaque, struct vmbus_channel *ch)
{
	struct echo_vsp *e = opaque;

	atomic_fetch_add(&e->closes, 1);
}

static const struct vmbus_channel_ops echo_ops = {
	.open = echo_open,
	.packet = echo_packet,
	.wake = echo_wake,
	.close = echo_close,
};

#define ECHO_CLASS                                                                                 \
	GUID_INIT(0x11112222, 0x3333, 0x4444, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc)

static inline int echo_vsp_add(struct vmbus_server *s, struct echo_vsp *e, const char *name,
			       unsigned instance)
{
	struct vmbus_channel_params p = {
		.name = name,
		.class_id = ECHO_CLASS,
		.instance_id = GUID_INIT(instance, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	};

	return vmbus_channel_new(s, &p, &echo_ops, e, &e->ch);
}
