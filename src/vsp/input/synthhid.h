/*
 * The synthetic mouse VSP: the host side of Linux's hid_hyperv (and
 * Windows' synthetic HID driver), synthetic HID 2.0. The device is an
 * absolute pointer (X and Y 0-32767, five buttons, a wheel), described to
 * the guest by the report descriptor in synthhid.c; the console queues
 * pointer states and the channel's loop sends them as input reports.
 *
 * Threads: the protocol on the channel's loop (vmbus.h);
 * synthhid_send_pointer and the getters from any thread.
 *
 * Wire format: hvdef/synthhid_proto.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hvdef/synthhid_proto.h"
#include "vmbus/vmbus.h"

struct synthhid;

int synthhid_new(struct vmbus_server *s, struct synthhid **ret) must_check;
struct synthhid *synthhid_free(struct synthhid *m);

/* Buttons of synthhid_send_pointer (the report's bit order: HID button usages 1-5). */
#define SYNTHHID_BUTTON_LEFT   0x01u
#define SYNTHHID_BUTTON_RIGHT  0x02u
#define SYNTHHID_BUTTON_MIDDLE 0x04u
#define SYNTHHID_BUTTON_4      0x08u
#define SYNTHHID_BUTTON_5      0x10u
#define SYNTHHID_ABS_MAX       32767u

/*
 * Queues one pointer state: buttons held, x and y in 0..SYNTHHID_ABS_MAX
 * (clamped), wheel steps (positive: away from the user). Any thread. 0;
 * -ENOTCONN before the guest's driver acknowledged the device; -ENOSPC if
 * the queue is full. Each refusal is counted.
 */
int synthhid_send_pointer(struct synthhid *m, uint8_t buttons, uint32_t x, uint32_t y,
			  int16_t wheel);

struct synthhid_stats {
	bool ready; /* the guest acknowledged the device info */
	uint32_t version;
	uint64_t reports_sent, reports_dropped;
	uint64_t messages, bad_messages, refused_versions;
};
void synthhid_get_stats(struct synthhid *m, struct synthhid_stats *st);

/* A guest message, parsed (the fuzz target calls this). */
struct synthhid_msg {
	uint32_t type;
	uint32_t version; /* PROTOCOL_REQUEST */
};
int synthhid_msg_parse(const uint8_t *data, size_t len, struct synthhid_msg *msg, const char **why);

/* The report descriptor offered, for tests. */
extern const uint8_t synthhid_report_descriptor[];
extern const size_t synthhid_report_descriptor_size;
