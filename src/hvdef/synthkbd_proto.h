/*
 * Synthetic keyboard: the messages between the host's keyboard VSP and the
 * guest's hyperv_keyboard, as in-band VMBus packets with no pipe header: a
 * message is a u32 type followed by its fields.
 *
 * Sources (read, not copied): Linux 6.1 drivers/input/serio/hyperv-keyboard.c
 * (struct synth_kbd_*, the guest's length checks); OpenVMM
 * vm/devices/uidevices/src/keyboard/protocol.rs (the LED message Windows
 * guests send). Research notes: shared/research/CONSOLE-PROTOCOLS.md section 3.
 */
#pragma once

#include <stdint.h>

#define SYNTHKBD_CLASS_GUID    "f912ad6d-2b17-48ea-bd65-f927a61c7684"
#define SYNTHKBD_INSTANCE_GUID "d34b2567-b9b6-42b9-8778-0a4ec0b955bf"

/* Versions: major in the high 16 bits (hyperv-keyboard.c SYNTH_KBD_VERSION). */
#define SYNTHKBD_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))
#define SYNTHKBD_VERSION_1_0	       SYNTHKBD_VERSION(1, 0)

enum synthkbd_msg_type {
	SYNTHKBD_PROTOCOL_REQUEST = 1,
	SYNTHKBD_PROTOCOL_RESPONSE = 2,
	SYNTHKBD_EVENT = 3,
	SYNTHKBD_LED_INDICATORS = 4,
};

struct synthkbd_protocol_request {
	uint32_t type; /* SYNTHKBD_PROTOCOL_REQUEST */
	uint32_t version;
} __attribute__((packed));
_Static_assert(sizeof(struct synthkbd_protocol_request) == 8, "synthkbd_protocol_request");

#define SYNTHKBD_PROTOCOL_ACCEPTED 0x1u
struct synthkbd_protocol_response {
	uint32_t type;	 /* SYNTHKBD_PROTOCOL_RESPONSE */
	uint32_t status; /* bit 0: accepted */
} __attribute__((packed));
_Static_assert(sizeof(struct synthkbd_protocol_response) == 8, "synthkbd_protocol_response");

/* synthkbd_keystroke.flags (hyperv-keyboard.c IS_UNICODE, IS_BREAK, IS_E0, IS_E1) */
#define SYNTHKBD_FLAG_UNICODE 0x1u
#define SYNTHKBD_FLAG_BREAK   0x2u
#define SYNTHKBD_FLAG_E0      0x4u
#define SYNTHKBD_FLAG_E1      0x8u
struct synthkbd_keystroke {
	uint32_t type;	    /* SYNTHKBD_EVENT */
	uint16_t make_code; /* scan code set 1, without prefix or break bit */
	uint16_t reserved0;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct synthkbd_keystroke) == 12, "synthkbd_keystroke");

/* LED bits as Windows' keyboard class driver sets them (OpenVMM protocol.rs). */
#define SYNTHKBD_LED_SCROLL_LOCK 0x1u
#define SYNTHKBD_LED_NUM_LOCK	 0x2u
#define SYNTHKBD_LED_CAPS_LOCK	 0x4u
struct synthkbd_led_indicators {
	uint32_t type; /* SYNTHKBD_LED_INDICATORS */
	uint16_t led_flags;
	uint16_t padding;
} __attribute__((packed));
_Static_assert(sizeof(struct synthkbd_led_indicators) == 8, "synthkbd_led_indicators");
