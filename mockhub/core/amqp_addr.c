/* amqp_addr.c - AMQP link addresses, Event Hubs start positions and the partition rule. Pure.
 * Addresses follow amqp-protocol.md 3.1, 4 and 5.3 (case differs between SDKs). */
#include "amqp_addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADDR_MAX 1024

/* The path of address with "scheme://host[:port]" dropped, without the leading '/'. */
static const char *path_of(const char *a)
{
    const char *s = strstr(a, "://");
    if (s != NULL) {
        s += 3;
        const char *slash = strchr(s, '/');
        return slash ? slash + 1 : s + strlen(s);
    }
    return *a == '/' ? a + 1 : a;
}

/* Splits p on '/' into at most max segments (copies into buf); returns the count, -1 if more. */
static int split(const char *p, char *buf, size_t len, char **seg, int max)
{
    snprintf(buf, len, "%s", p);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    int count = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t != NULL; t = strtok_r(NULL, "/", &save)) {
        if (count == max)
            return -1;
        seg[count++] = t;
    }
    return count;
}

mh_err mh_amqp_addr_parse(const char *address, mh_amqp_addr *out)
{
    if (address == NULL || out == NULL)
        return MH_ERR_ARGUMENT_NULL;
    if (strlen(address) > ADDR_MAX)
        return MH_ERR_ARGUMENT_INVALID;
    char buf[ADDR_MAX + 1];
    char *seg[8];
    mh_amqp_addr a = {.node = MH_NODE_UNKNOWN, .partition = -1};
    int n = split(path_of(address), buf, sizeof buf, seg, 8);
    if (n == 1 && strcasecmp(seg[0], "$cbs") == 0)
        a.node = MH_NODE_CBS;
    else if (n == 1 && strcasecmp(seg[0], "$management") == 0)
        a.node = MH_NODE_MANAGEMENT;
    else if (n == 2 && strcasecmp(seg[1], "$management") == 0) {
        if (strlen(seg[0]) >= sizeof a.entity)
            return MH_ERR_ARGUMENT_INVALID;
        a.node = MH_NODE_MANAGEMENT;
        strcpy(a.entity, seg[0]);
    } else if (n == 2 && strcasecmp(seg[0], "messages") == 0 && strcasecmp(seg[1], "devicebound") == 0)
        a.node = MH_NODE_C2D;
    else if (n == 3 && strcasecmp(seg[0], "messages") == 0 && strcasecmp(seg[1], "servicebound") == 0) {
        if (strcasecmp(seg[2], "feedback") == 0)
            a.node = MH_NODE_FEEDBACK;
        else if (strcasecmp(seg[2], "filenotifications") == 0 ||
                 strcasecmp(seg[2], "fileuploadnotifications") == 0)
            a.node = MH_NODE_FILE_NOTIFICATIONS;
    } else if (n >= 2 && strcasecmp(seg[0], "devices") == 0)
        a.node = MH_NODE_DEVICE;
    else if (n == 5 && strcasecmp(seg[1], "ConsumerGroups") == 0 && strcasecmp(seg[3], "Partitions") == 0) {
        if (strlen(seg[0]) >= sizeof a.entity || strlen(seg[2]) >= sizeof a.group)
            return MH_ERR_ARGUMENT_INVALID;
        char *end = NULL;
        errno = 0;
        long p = strtol(seg[4], &end, 10);
        if (!isdigit((unsigned char)seg[4][0]) || *end != '\0' || errno != 0 || p > 999999)
            return MH_ERR_ARGUMENT_INVALID;
        a.node = MH_NODE_PARTITION;
        strcpy(a.entity, seg[0]);
        strcpy(a.group, seg[2]);
        a.partition = (int)p;
    }
    *out = a;
    return MH_OK;
}

mh_err mh_eh_position_parse(const char *sel, mh_eh_position *out)
{
    static const struct {
        const char *name;
        mh_eh_from from;
    } fields[] = {
        {"amqp.annotation.x-opt-offset", MH_EH_FROM_OFFSET},
        {"amqp.annotation.x-opt-sequence-number", MH_EH_FROM_SEQ},
        {"amqp.annotation.x-opt-enqueued-time", MH_EH_FROM_TIME},
        {"amqp.annotation.x-opt-enqueuedtimeutc", MH_EH_FROM_TIME},
    };
    mh_eh_position pos = {.from = MH_EH_FROM_END};
    if (out == NULL)
        return MH_ERR_ARGUMENT_NULL;
    if (sel == NULL || *sel == '\0') {
        *out = pos;
        return MH_OK;
    }
    while (isspace((unsigned char)*sel))
        sel++;
    size_t i, nf = sizeof fields / sizeof fields[0];
    for (i = 0; i < nf; i++) {
        size_t l = strlen(fields[i].name);
        if (strncasecmp(sel, fields[i].name, l) == 0 && (isspace((unsigned char)sel[l]) || sel[l] == '>'))
            break;
    }
    if (i == nf)
        return MH_ERR_ARGUMENT_INVALID;
    const char *p = sel + strlen(fields[i].name);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '>')
        return MH_ERR_ARGUMENT_INVALID;
    p++;
    if (*p == '=') {
        pos.inclusive = 1;
        p++;
    }
    while (isspace((unsigned char)*p))
        p++;
    char val[64];
    size_t vl = 0;
    int quoted = *p == '\'';
    if (quoted)
        p++;
    while (*p && *p != '\'' && !isspace((unsigned char)*p) && vl + 1 < sizeof val)
        val[vl++] = *p++;
    val[vl] = '\0';
    if (quoted && *p++ != '\'')
        return MH_ERR_ARGUMENT_INVALID;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0' || vl == 0)
        return MH_ERR_ARGUMENT_INVALID;
    if (strcmp(val, "@latest") == 0) {
        pos.from = MH_EH_FROM_END;
        *out = pos;
        return MH_OK;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (*end != '\0' || errno != 0)
        return MH_ERR_ARGUMENT_INVALID;
    pos.from = fields[i].from;
    pos.value = v;
    if (pos.from == MH_EH_FROM_OFFSET && v < 0)
        pos.from = MH_EH_FROM_START; /* '-1': from the beginning */
    *out = pos;
    return MH_OK;
}

int mh_eh_partition(const char *device_id, int count)
{
    uint32_t h = 2166136261u;
    if (count <= 1 || device_id == NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)device_id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return (int)(h % (uint32_t)count);
}

void mh_eh_entity_name(const char *hostname, char *out, size_t len)
{
    size_t n = strcspn(hostname, ".");
    if (n == 0 || n >= 64) {
        snprintf(out, len, "%s", "mockhub");
        return;
    }
    snprintf(out, len, "%.*s", (int)n, hostname);
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
}
