/* TAP queues for an adapter; see tap.h. Flags: include/uapi/linux/if_tun.h. */
#include "net/switch/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int vsw_tap_open(const char *name, unsigned queues, int *fds)
{
	struct ifreq ifr;
	unsigned i;
	int r;

	if (!queues || queues > VSW_TAP_MAX_QUEUES || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	for (i = 0; i < queues; i++) {
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			r = -errno;
			goto fail;
		}
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, name, strlen(name));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			r = -errno;
			close(fd);
			goto fail;
		}
		fds[i] = fd;
	}
	return 0;
fail:
	while (i)
		close(fds[--i]);
	return r;
}
