/* The network verbs of parvis (switches, adapters, ACLs): src/cli/net.c. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

/* True if verb is one of them. */
bool cli_net_is_verb(const char *verb);
/* Runs one: argv[0] is the verb. Returns the exit status. */
int cli_net_main(int argc, char **argv);
/* Prints the verbs' usage lines (for parvis help), or one verb's help; false if unknown. */
void cli_net_usage(void);
bool cli_net_help(const char *verb);

/* From main.c: one API call (0 with *result, else an exit status, the error printed). */
int cli_call(const char *name, struct json_object *params, bool json, struct json_object **result);
