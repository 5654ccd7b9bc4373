/* Size parsing; see size.h. */
#include "base/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *s, uint64_t default_unit, uint64_t *ret)
{
	unsigned long long n;
	uint64_t unit = default_unit ? default_unit : 1;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': unit = KiB; break;
		case 'M': unit = MiB; break;
		case 'G': unit = GiB; break;
		case 'T': unit = 1024 * GiB; break;
		default: return -EINVAL;
		}
		end++;
		if (*end && strcasecmp(end, "iB") && strcasecmp(end, "B"))
			return -EINVAL;
	}
	if (n > UINT64_MAX / unit)
		return -ERANGE;
	*ret = (uint64_t)n * unit;
	return 0;
}
