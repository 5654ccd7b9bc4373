/*
 * The synthetic keyboard VSP: the host side of Linux's hyperv_keyboard (and
 * Windows' synthetic keyboard), protocol 1.0. The console queues scan codes
 * (set 1, the E0/E1 prefixes and key-up as flags); the channel's loop sends
 * them. LED state comes back from Windows guests (Linux never sends it).
 *
 * Threads: the protocol on the channel's loop (vmbus.h);
 * synthkbd_send_scancode and the getters from any thread (a bounded queue,
 * a wake-up: never a send from the caller).
 *
 * Wire format: hvdef/synthkbd_proto.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hvdef/synthkbd_proto.h"
#include "vmbus/vmbus.h"

struct synthkbd;

int synthkbd_new(struct vmbus_server *s, struct synthkbd **ret) must_check;
struct synthkbd *synthkbd_free(struct synthkbd *k);

/*
 * Queues one key event: make_code (set 1, 0x01-0x7F) and SYNTHKBD_FLAG_E0 /
 * _E1 / _BREAK. Any thread. 0; -ENOTCONN if the guest's driver has not
 * negotiated; -ENOSPC if the queue is full; -EINVAL for a code that is not a
 * 7-bit make code. Each refusal is counted.
 */
int synthkbd_send_scancode(struct synthkbd *k, uint16_t make_code, uint32_t flags);

struct synthkbd_stats {
	bool ready;    /* the guest negotiated 1.0 */
	uint16_t leds; /* SYNTHKBD_LED_* last reported by the guest */
	uint64_t events_sent, events_dropped;
	uint64_t messages, bad_messages, refused_versions;
};
void synthkbd_get_stats(struct synthkbd *k, struct synthkbd_stats *st);

/* A guest message, parsed (the fuzz target calls this). */
struct synthkbd_msg {
	uint32_t type;
	uint32_t version; /* PROTOCOL_REQUEST */
	uint16_t leds;	  /* LED_INDICATORS */
};
int synthkbd_msg_parse(const uint8_t *data, size_t len, struct synthkbd_msg *msg, const char **why);
