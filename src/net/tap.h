/*
 * TAP devices as the back end of a synthetic NIC: each queue of a TAP is
 * one file descriptor on /dev/net/tun that carries one Ethernet frame per
 * read() or write(), preceded by a virtio-net header (IFF_VNET_HDR) that
 * describes checksum and segmentation offloads (struct tap_vnet_hdr).
 *
 * A worker either opens the queues itself (tap_open: standalone use, in
 * the network namespace it runs in) or is given queue fds that the service
 * opened (the jailed worker opens no host path): tap_queue_setup checks
 * and prepares such an fd. Library code: no logging, -errno.
 *
 * Kernel interface: include/uapi/linux/if_tun.h, virtio_net.h; notes in
 * shared/research/NETWORK-PROTOCOLS.md C.1.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

#define TAP_MAX_QUEUES 64u

/* struct virtio_net_hdr (10 bytes, host byte order: little-endian here). */
struct tap_vnet_hdr {
	uint8_t flags; /* TAP_VNET_F_* */
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};
_Static_assert(sizeof(struct tap_vnet_hdr) == 10, "virtio_net_hdr");
#define TAP_VNET_F_NEEDS_CSUM 1u
#define TAP_VNET_F_DATA_VALID 2u
#define TAP_VNET_GSO_NONE     0u
#define TAP_VNET_GSO_TCPV4    1u
#define TAP_VNET_GSO_TCPV6    4u
#define TAP_VNET_GSO_ECN      0x80u

/* TUNSETOFFLOAD flags: what the reader of the queue accepts (TUN_F_*). */
#define TAP_OFFLOAD_CSUM 0x01u
#define TAP_OFFLOAD_TSO4 0x02u
#define TAP_OFFLOAD_TSO6 0x04u

/*
 * Opens (creating it if it does not exist) the TAP `name` with nqueues
 * queues (IFF_MULTI_QUEUE when more than one), each with a vnet header
 * and non-blocking; fds[0..nqueues). -errno (-EINVAL for a bad name).
 */
int tap_open(const char *name, unsigned nqueues, int *fds) must_check;
/*
 * Prepares an inherited queue fd: it must be a TAP queue with IFF_VNET_HDR
 * (-EINVAL otherwise); sets the header size, the offloads the reader
 * accepts, O_NONBLOCK. 0 or -errno.
 */
int tap_queue_setup(int fd, unsigned offloads) must_check;
/*
 * TUNSETOFFLOAD: what the reader of the TAP accepts (TAP_OFFLOAD_*), for the whole device
 * (every queue). With TSO4/6 the kernel hands over large TCP frames (a GSO vnet header)
 * instead of segmenting them. 0 or -errno.
 */
int tap_queue_offload(int fd, unsigned offloads) must_check;
/* TUNSETQUEUE: attach (true) or detach a queue of a multi-queue TAP. 0 or -errno. */
int tap_queue_attach(int fd, bool attach) must_check;
/* The interface name of a queue fd (IFNAMSIZ bytes). 0 or -errno. */
int tap_queue_name(int fd, char *name, unsigned len) must_check;
/* True if the queue belongs to a multi-queue TAP. */
bool tap_queue_is_multi(int fd);
