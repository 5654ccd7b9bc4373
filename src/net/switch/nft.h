/*
 * nftables through libnftables (the library nft(8) is built on): a ruleset text (rules.h)
 * loaded in one transaction, and a table's listing. Runs in the caller's network namespace,
 * needs CAP_NET_ADMIN there.
 */
#pragma once

#include <stddef.h>

#include "base/compiler.h"

/* Runs the commands of text atomically; -EINVAL with nft's message in err if refused. */
int vsw_nft_apply(const char *text, char *err, size_t errlen) must_check;
