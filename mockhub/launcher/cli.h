/* cli.h - the `az iot hub`-style verbs of the `mockhub` command (cli.c): device-identity,
 * device-twin, invoke-device-method, module-identity, module-twin, invoke-module-method,
 * c2d-message send, query, generate-sas-token, connection-string show and the test-control verbs
 * (`mockhub test ...`). They talk to the running hub's REST API with the owner
 * policy (or -l/--login), through the service library's HTTPS transport.
 */
#ifndef MH_CLI_H
#define MH_CLI_H

#include <stdio.h>

#include "config.h"

/* Exit codes a script can rely on. */
enum {
    MH_CLI_OK = 0,
    MH_CLI_ERR_HUB = 1,         /* the hub answered with an error (or a wait-for timed out) */
    MH_CLI_ERR_USAGE = 2,       /* bad command line */
    MH_CLI_ERR_UNREACHABLE = 3, /* no answer from the hub (not running, TLS, timeout) */
};

/* 1 when argv[0] names one of the verbs here. */
int mh_cli_handles(const char *word);

/* Runs the verb in argv (argv[0] is the verb's first word). prog is the command's name for
 * messages. Returns the exit code. */
int mh_cli_main(const mh_config *cfg, const char *prog, int argc, char **argv);

/* Prints the verbs' summary for the command's usage text. */
void mh_cli_usage(FILE *f);

#endif
