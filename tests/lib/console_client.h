/*
 * Guest-side clients of the console devices, on the test VMBus client
 * (vmbus_client.h): they play Linux's hyperv_fb (synthetic video),
 * hyperv_keyboard and hid_hyperv as those drivers speak, written from the
 * protocol (hvdef/synthvid_proto.h, synthkbd_proto.h, synthhid_proto.h).
 * Used by the unit tests of src/vsp/synthvid and src/vsp/input and by
 * bench/console.py's driver (tests/lib/console_bench.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvdef/synthhid_proto.h"
#include "hvdef/synthkbd_proto.h"
#include "hvdef/synthvid_proto.h"
#include "vmbus_client.h"

/* Connects (VMBus 5.2), asks for offers, opens the one of class_guid. 0 or -errno. */
int console_client_open(struct vmbus_client *c, const char *class_guid, unsigned ring_pages,
			struct vmbus_client_channel **ret);

/* --- synthetic video, as hyperv_fb --- */
/* A message: pipe header, synthvid header (size = 8 + len), body. */
int synthvid_client_send(struct vmbus_client_channel *ch, uint32_t type, const void *body,
			 size_t len);
/* The next host message: its synthvid type and body. 0, -ETIMEDOUT, -EPROTO. */
int synthvid_client_recv(struct vmbus_client_channel *ch, uint32_t *type, void *body, size_t *len,
			 unsigned timeout_ms);
/* Waits for a message of type (skipping others, as hyperv_fb does for FEATURE_CHANGE). */
int synthvid_client_expect(struct vmbus_client_channel *ch, uint32_t type, void *body, size_t *len,
			   unsigned timeout_ms);
/* VERSION_REQUEST; 1 accepted, 0 refused, -errno. */
int synthvid_client_version(struct vmbus_client_channel *ch, uint32_t version);
/* VRAM_LOCATION at gpa; 0 when acked with the echoed context, -ETIMEDOUT if refused. */
int synthvid_client_vram(struct vmbus_client_channel *ch, uint64_t gpa, unsigned timeout_ms);
/* SITUATION_UPDATE for one output; 0 when acked, -ETIMEDOUT if refused. */
int synthvid_client_situation(struct vmbus_client_channel *ch, uint32_t width, uint32_t height,
			      uint32_t depth, uint32_t pitch, unsigned timeout_ms);
/* One DIRT message with n rectangles (no answer). */
int synthvid_client_dirt(struct vmbus_client_channel *ch, const struct synthvid_rect *r,
			 unsigned n);

/* --- synthetic keyboard, as hyperv_keyboard --- */
/* PROTOCOL_REQUEST for version; 1 accepted, 0 refused, -errno. */
int synthkbd_client_connect(struct vmbus_client_channel *ch, uint32_t version);
/* The next keystroke event. 0 or -ETIMEDOUT. */
int synthkbd_client_next_key(struct vmbus_client_channel *ch, struct synthkbd_keystroke *ev,
			     unsigned timeout_ms);

/* --- synthetic mouse, as hid_hyperv --- */
/*
 * PROTOCOL_REQUEST(version), waits for the response and the device info,
 * checks the report descriptor's length against the message, acks. 1
 * approved (info/desc filled: desc up to *desc_len), 0 refused, -errno.
 */
int synthhid_client_connect(struct vmbus_client_channel *ch, uint32_t version,
			    struct synthhid_device_info *info, uint8_t *desc, size_t *desc_len);
/* The next INPUT_REPORT's bytes. 0 or -ETIMEDOUT. */
int synthhid_client_next_report(struct vmbus_client_channel *ch, uint8_t *report, size_t *len,
				unsigned timeout_ms);
