/*
 * An adapter's TAP device, made by the service for a worker that cannot (its jail has no
 * /dev/net/tun and an empty network namespace): IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, with
 * IFF_MULTI_QUEUE and one queue (one descriptor) per vCPU, so that each of netvsp's channels
 * owns one. The device is not persistent: it lives while a queue descriptor is open, the
 * worker's included, and disappears with the worker.
 */
#pragma once

#include "base/compiler.h"

#define VSW_TAP_MAX_QUEUES 64

/*
 * Opens queues (1..VSW_TAP_MAX_QUEUES) queue descriptors of the TAP named name (made if it
 * does not exist), close-on-exec, into fds[]. 0 or -errno (all closed on failure).
 */
int vsw_tap_open(const char *name, unsigned queues, int *fds) must_check;
