/* Temporary until the VHDX back end lands (step 2 of the disk work). */
#include <errno.h>

#include "disk/disk_internal.h"

int disk_vhdx_open(const char *path, unsigned flags, struct disk **ret, char *err, size_t err_size)
{
	return disk_error(err, err_size, -ENOTSUP, "%s: VHDX is not supported yet", path);
}
