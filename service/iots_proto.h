/* iots_proto.h - pure request building and response parsing for the IoT Hub service REST API
 * (api-version 2021-04-12): URLs, bodies, header values, method results, query paging headers.
 * No I/O; the transport (iots_http.c) only moves the bytes these functions produce and read.
 * Wire forms follow what azure-iothub (Node) sends: iothub-protocol.md 5, node-sdk-behaviour.md 2.
 */
#ifndef IOTS_PROTO_H
#define IOTS_PROTO_H

#include <stddef.h>

#include "iots_error.h"

#define IOTS_API_VERSION "2021-04-12"

/* Largest response body we accept (twins are <= 32 KB per section; query pages can be bigger). */
#define IOTS_BODY_MAX (8 * 1024 * 1024)

typedef enum iots_path_kind {
    IOTS_PATH_DEVICE,  /* /devices/{id} */
    IOTS_PATH_TWIN,    /* /twins/{id} */
    IOTS_PATH_METHODS, /* /twins/{id}/methods */
    IOTS_PATH_QUERY,   /* /devices/query (device_id ignored) */
    /* module paths (iots_url_format_module; the module id is required) */
    IOTS_PATH_MODULE,         /* /devices/{id}/modules/{mid} */
    IOTS_PATH_MODULES,        /* /devices/{id}/modules (module id ignored) */
    IOTS_PATH_MODULE_TWIN,    /* /twins/{id}/modules/{mid} */
    IOTS_PATH_MODULE_METHODS, /* /twins/{id}/modules/{mid}/methods */
} iots_path_kind;

/* Splits a HostName that may carry a port ("localhost:4443", "[::1]:4443") into host and port.
 * *out_port = 0 when there is none. Errors: IOTS_ERR_CONNSTR (empty host, bad port), IOTS_ERR_ARG
 * (host too long for hostsz). Outputs are written only on success. */
iots_err iots_host_split(const char *host_name, char *host, size_t hostsz, int *out_port) IOTS_WARN_UNUSED;

/* Writes "https://{host_name}{path}?api-version=2021-04-12" with the device id percent-encoded as
 * encodeURIComponent does. host_name is used as given, port included. Errors: IOTS_ERR_ARG (empty or
 * oversized id, out too small). */
iots_err iots_url_format(const char *host_name, iots_path_kind kind, const char *device_id, char *out,
                         size_t outsz) IOTS_WARN_UNUSED;

/* As iots_url_format, for every kind: module_id (percent-encoded the same way) is required by the
 * IOTS_PATH_MODULE* kinds except IOTS_PATH_MODULES, and ignored by the others. IOTS_ERR_ARG for an
 * empty or oversized module id (128 characters at most, as a device id). */
iots_err iots_url_format_module(const char *host_name, iots_path_kind kind, const char *device_id,
                                const char *module_id, char *out, size_t outsz) IOTS_WARN_UNUSED;

/* Writes the If-Match value: the etag in double quotes unless already quoted; NULL or "*" -> "\"*\"".
 * IOTS_ERR_ARG when out is too small. */
iots_err iots_if_match_format(const char *etag, char *out, size_t outsz) IOTS_WARN_UNUSED;

/* Writes a version-4 UUID (lower-case, 36 chars + NUL) from 16 random bytes. out needs 37 bytes. */
void iots_uuid_format(const unsigned char random16[16], char out[37]);

/* Resource URI for a service SAS token: the host only. With "host:port" the port is dropped,
 * because the hub checks sr against its configured host name (see the .c). */
iots_err iots_sas_resource(const char *host_name, char *out, size_t outsz) IOTS_WARN_UNUSED;

/* 1 when a token expiring at `expiry` must be renewed at `now` (less than margin_s seconds left). */
int iots_sas_needs_renewal(long long expiry, long long now, long long margin_s);

/* Method invocation body:
 *   {"methodName":..,"payload":<payload_json or null>,"responseTimeoutInSeconds":N,"connectTimeoutInSeconds":M}
 * payload_json NULL means JSON null; otherwise it must be valid JSON (IOTS_ERR_ARG if not).
 * *out is malloc'd (caller frees). IOTS_ERR_ARG for an empty method name or negative timeouts. */
iots_err iots_method_body_format(const char *method_name, const char *payload_json, int response_timeout_s,
                                 int connect_timeout_s, char **out) IOTS_WARN_UNUSED;

/* HTTP timeout for a method call: response + connect + 15 s margin (the .NET service SDK's rule). */
long iots_method_http_timeout_s(int response_timeout_s, int connect_timeout_s);

/* Reads a 200 method answer {"status":N,"payload":<json>}. *out_payload = malloc'd JSON text of the
 * payload ("null" when absent). The hub pastes a device's non-JSON answer verbatim
 * (addendum 4), so a body of the exact form {"status":N,"payload":<bytes>} that is not JSON still
 * yields N and <bytes>. IOTS_ERR_PROTOCOL otherwise. Outputs written only on success. */
iots_err iots_method_result_parse(const char *body, size_t len, int *out_status,
                                  char **out_payload) IOTS_WARN_UNUSED;

/* {"query":"<sql>"}, malloc'd. IOTS_ERR_ARG for empty sql. */
iots_err iots_query_body_format(const char *sql, char **out) IOTS_WARN_UNUSED;

/* Device create body as azure-iothub sends it (empty keys -> the hub generates them):
 * {"deviceId":"..","authentication":{"type":"sas","symmetricKey":{"primaryKey":"","secondaryKey":""}}} */
iots_err iots_device_create_body_format(const char *device_id, char **out) IOTS_WARN_UNUSED;

/* Module create body as azure-iothub's Registry.addModule sends a module with empty keys (the hub
 * generates them): {"deviceId":"..","moduleId":"..","authentication":{"type":"sas","symmetricKey":
 * {"primaryKey":"","secondaryKey":""}}}. IOTS_ERR_ARG for an empty or oversized id. */
iots_err iots_module_create_body_format(const char *device_id, const char *module_id,
                                        char **out) IOTS_WARN_UNUSED;

/* Twin PUT (replace) body: twin_json, which must be a JSON object, re-printed compact. */
iots_err iots_twin_replace_body_format(const char *twin_json, char **out) IOTS_WARN_UNUSED;

/* Twin PATCH body {"tags":<tags_json>,"properties":{"desired":<desired_json>}}; either part may be
 * NULL (left out) but not both; each given part must be a JSON object (IOTS_ERR_ARG otherwise). */
iots_err iots_twin_patch_body_format(const char *desired_json, const char *tags_json,
                                     char **out) IOTS_WARN_UNUSED;

/* Matches one raw response header line ("Name: value\r\n") against name (case-insensitive) and
 * copies the trimmed value. Returns 1 on a match (value truncated to outsz-1), else 0. */
int iots_header_match(const char *line, size_t len, const char *name, char *out, size_t outsz);

/* Checks that a query page body is a JSON array; *out_count = its length. IOTS_ERR_PROTOCOL if not. */
iots_err iots_query_page_check(const char *body, size_t len, int *out_count) IOTS_WARN_UNUSED;

#endif
