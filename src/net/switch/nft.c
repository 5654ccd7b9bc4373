/* libnftables calls; see nft.h. API: /usr/include/nftables/libnftables.h. */
#include "net/switch/nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

int vsw_nft_apply(const char *text, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	int r;

	if (!ctx)
		return -ENOMEM;
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	r = nft_run_cmd_from_buffer(ctx, text);
	if (r != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		size_t n = e ? strlen(e) : 0;

		while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
			n--;
		snprintf(err, errlen, "nftables refused the rules: %.*s", (int)n,
			 e && n ? e : "no reason given");
	}
	nft_ctx_free(ctx);
	return r ? -EINVAL : 0;
}
