/*
 * A virtual processor, and what a host offers, as JSON: what
 * get-vmprocessor and get-vmhostprocessor show (docs/cpu.md). Keys are
 * stable (scripts compare two hosts with them).
 */
#pragma once

#include <json-c/json.h>

#include "cpu/cpu_model.h"

/*
 * The model: name, vendor, signature, features by state, the MSRs it sets,
 * and vCPU 0's CPUID leaves (with cpuid true).
 */
struct json_object *cpu_model_report_json(const struct cpu_model *m, bool cpuid);
/* The host: its processor, what KVM offers, and each model built here for one vCPU. */
struct json_object *cpu_host_report_json(const struct cpu_host *host);
