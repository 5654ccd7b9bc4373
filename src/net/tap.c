/*
 * TAP queues (tap.h). Each call is one or two ioctls on /dev/net/tun fds
 * (if_tun.h); nothing here keeps state.
 */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int tap_queue_setup(int fd, unsigned offloads)
{
	struct ifreq ifr = {0};
	int hdr = (int)sizeof(struct tap_vnet_hdr), r;

	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return errno == EBADFD || errno == ENOTTY ? -EINVAL : -errno;
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_VNET_HDR) ||
	    !(ifr.ifr_flags & IFF_NO_PI))
		return -EINVAL;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return -errno;
	/* What we read: checksums may be left to us (TUN_F_CSUM); super-frames only if asked. */
	r = tap_queue_offload(fd, offloads);
	return r < 0 ? r : set_nonblock(fd);
}

int tap_queue_offload(int fd, unsigned offloads)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0 ? -errno : 0;
}

int tap_open(const char *name, unsigned nqueues, int *fds)
{
	unsigned i, j;
	int r;

	if (!name || !*name || strlen(name) >= IFNAMSIZ || nqueues == 0 || nqueues > TAP_MAX_QUEUES)
		return -EINVAL;
	for (i = 0; i < nqueues; i++) {
		struct ifreq ifr = {0};

		fds[i] = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fds[i] < 0) {
			r = -errno;
			goto fail;
		}
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		if (nqueues > 1)
			ifr.ifr_flags |= IFF_MULTI_QUEUE;
		if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
			r = -errno;
			/* An existing multi-queue TAP gives its one queue only with the flag. */
			if (r == -EINVAL && nqueues == 1) {
				ifr.ifr_flags |= IFF_MULTI_QUEUE;
				r = ioctl(fds[i], TUNSETIFF, &ifr) < 0 ? -errno : 0;
			}
			if (r < 0) {
				close(fds[i]);
				goto fail;
			}
		}
		r = tap_queue_setup(fds[i], TAP_OFFLOAD_CSUM);
		if (r < 0) {
			close(fds[i]);
			goto fail;
		}
	}
	return 0;
fail:
	for (j = 0; j < i; j++)
		close(fds[j]);
	return r;
}

int tap_queue_attach(int fd, bool attach)
{
	struct ifreq ifr = {0};

	ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

int tap_queue_name(int fd, char *name, unsigned len)
{
	struct ifreq ifr = {0};

	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	snprintf(name, len, "%s", ifr.ifr_name);
	return 0;
}

bool tap_queue_is_multi(int fd)
{
	struct ifreq ifr = {0};

	return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_MULTI_QUEUE);
}
