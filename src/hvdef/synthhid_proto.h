/*
 * Synthetic HID (the synthetic mouse): the messages between the host's
 * mouse VSP and the guest's hid_hyperv, as in-band VMBus packets on a
 * pipe-mode channel: struct vmbus_pipe_header, struct synthhid_msg_header,
 * then the body.
 *
 * Sources (read, not copied): Linux 6.1 drivers/hid/hid-hyperv.c (struct
 * synthhid_*, mousevsc_on_receive's checks); OpenVMM
 * vm/devices/uidevices/src/mouse/protocol.rs. Research notes:
 * shared/research/CONSOLE-PROTOCOLS.md section 4.
 */
#pragma once

#include <stdint.h>

#define SYNTHHID_CLASS_GUID    "cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a"
#define SYNTHHID_INSTANCE_GUID "58f75a6d-d949-4320-99e1-a2a2576d581c"

/* Versions: major in the high 16 bits (hid-hyperv.c SYNTHHID_INPUT_VERSION). */
#define SYNTHHID_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))
#define SYNTHHID_VERSION_2_0	       SYNTHHID_VERSION(2, 0)

enum synthhid_msg_type {
	SYNTHHID_PROTOCOL_REQUEST = 0,
	SYNTHHID_PROTOCOL_RESPONSE = 1,
	SYNTHHID_INITIAL_DEVICE_INFO = 2,
	SYNTHHID_INITIAL_DEVICE_INFO_ACK = 3,
	SYNTHHID_INPUT_REPORT = 4,
};

struct synthhid_msg_header {
	uint32_t type; /* enum synthhid_msg_type */
	uint32_t size; /* body bytes */
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_msg_header) == 8, "synthhid_msg_header");

struct synthhid_protocol_request {
	uint32_t version;
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_protocol_request) == 4, "synthhid_protocol_request");

struct synthhid_protocol_response {
	uint32_t version_requested;
	uint8_t approved;
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_protocol_response) == 5, "synthhid_protocol_response");

/* hid-hyperv.c struct hv_input_dev_info */
struct synthhid_device_info {
	uint32_t size;
	uint16_t vendor;
	uint16_t product;
	uint16_t version;
	uint16_t reserved[11];
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_device_info) == 32, "synthhid_device_info");

/* USB HID class descriptor (HID 1.11 section 6.2.1), as hid-hyperv.c reads it. */
struct synthhid_hid_descriptor {
	uint8_t bLength;	 /* 9 */
	uint8_t bDescriptorType; /* 0x21 HID */
	uint16_t bcdHID;
	uint8_t bCountryCode;
	uint8_t bNumDescriptors; /* 1 */
	uint8_t bReportType;	 /* 0x22 report */
	uint16_t wReportLength;
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_hid_descriptor) == 9, "synthhid_hid_descriptor");

/* INITIAL_DEVICE_INFO body: device info, HID descriptor, report descriptor. */
struct synthhid_initial_device_info {
	struct synthhid_device_info info;
	struct synthhid_hid_descriptor hid;
	/* then the report descriptor */
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_initial_device_info) == 41, "synthhid_initial_device_info");

struct synthhid_device_info_ack {
	uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct synthhid_device_info_ack) == 1, "synthhid_device_info_ack");

/* The IDs hid_hyperv's own HID driver binds (hid-hyperv.c mousevsc_devices). */
#define SYNTHHID_VENDOR_MICROSOFT 0x045Eu
#define SYNTHHID_PRODUCT_MOUSE	  0x0621u
