/* The checkpoint, export and import verbs of parvis (docs/checkpoints.md): src/cli/snapshot.c. */
#pragma once

#include <stdbool.h>

/* True if verb is one of them. */
bool cli_snapshot_is_verb(const char *verb);
/* Runs one: argv[0] is the verb. Returns the exit status. */
int cli_snapshot_main(int argc, char **argv);
/* Prints the verbs' usage lines (parvis help), or one verb's help; false if unknown. */
void cli_snapshot_usage(void);
bool cli_snapshot_help(const char *verb);

/* From main.c: a connection to the service (-1 with the reason printed). */
int cli_connect(void);
