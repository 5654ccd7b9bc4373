/*
 * A fake platform for hv/ unit tests: real guest memory (no /dev/kvm
 * needed), a TSC and a VP run time the test sets, and an MSI sink that
 * records what would have been injected.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "vid/guest_memory.h"

#define FAKE_MAX_MSI 4096
#define FAKE_TSC_HZ  UINT64_C(2500000000) /* 2.5 GHz */

struct fake_platform {
	struct guest_memory *mem;
	pthread_mutex_t lock;
	uint64_t tsc;	     /* what read_tsc returns */
	uint64_t runtime_ns; /* what vp_runtime_ns returns */
	bool tsc_fails, msi_fails;
	uint64_t msi_address[FAKE_MAX_MSI];
	uint32_t msi_data[FAKE_MAX_MSI];
	unsigned nmsi;
};

/* The fake with ram bytes of guest memory, TSC 0. */
void fake_platform_init(struct fake_platform *fp, uint64_t ram);
/* hv_create over the fake: its result. */
int fake_hv_create(struct fake_platform *fp, unsigned vps, uint64_t tsc_hz,
		   const struct hv_config *cfg, struct hv **ret);
/* Both, asserting success (default config if cfg is NULL). */
void fake_hv_new(struct fake_platform *fp, unsigned vps, uint64_t ram, const struct hv_config *cfg,
		 struct hv **ret);
void fake_hv_free(struct fake_platform *fp, struct hv *hv);
unsigned fake_msi_count(struct fake_platform *fp);

/* Guest-side helpers. */
/* The mode of a guest kernel calling the hypervisor (64-bit, CPL 0). */
static const struct vcpu_mode FAKE_KERNEL64 = {.protected_mode = true, .long_mode = true};

#define FAKE_OS_ID                                                                                 \
	UINT64_C(0x8100000000000000) /* "Linux" open-source guest id, any value works              \
				      */
void fake_enable_hypercalls(struct hv *hv, uint64_t page_gpa);
/* A 64-bit hypercall: returns RAX. */
uint64_t fake_hypercall(struct hv *hv, unsigned vp, uint64_t control, uint64_t input,
			uint64_t output);
