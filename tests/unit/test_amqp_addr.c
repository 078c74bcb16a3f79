/* Unit tests for core/amqp_addr: link addresses as the SDKs spell them (amqp-protocol.md 3.1, 4,
 * 5.3), the Event Hubs selector filters they send, and the partition rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "amqp_addr.h"

struct addr_vec {
    const char *address;
    mh_amqp_node node;
    const char *entity;
    const char *group;
    int partition;
};

static const struct addr_vec addrs[] = {
    {"$cbs", MH_NODE_CBS, "", "", -1},                                                 /* every SDK */
    {"/messages/devicebound", MH_NODE_C2D, "", "", -1},                                /* Node Client.send */
    {"amqps://myhub.azure-devices.net/messages/devicebound", MH_NODE_C2D, "", "", -1}, /* uamqp */
    {"/messages/serviceBound/feedback", MH_NODE_FEEDBACK, "", "", -1},                 /* Node */
    {"amqps://h/messages/servicebound/feedback", MH_NODE_FEEDBACK, "", "", -1},        /* az CLI */
    {"/messages/serviceBound/filenotifications", MH_NODE_FILE_NOTIFICATIONS, "", "", -1},
    {"$management", MH_NODE_MANAGEMENT, "", "", -1},
    {"localhost/$management", MH_NODE_MANAGEMENT, "localhost", "", -1},
    {"hub/ConsumerGroups/$default/Partitions/2", MH_NODE_PARTITION, "hub", "$default", 2}, /* Node EH */
    {"amqps://h.servicebus.windows.net/hub/ConsumerGroups/$Default/Partitions/0", MH_NODE_PARTITION, "hub",
     "$Default", 0}, /* pyamqp */
    {"/devices/dev1/messages/devicebound", MH_NODE_DEVICE, "", "", -1},
    {"/devices/dev1/messages/events", MH_NODE_DEVICE, "", "", -1},
    {"/nothing/here", MH_NODE_UNKNOWN, "", "", -1},
};

Test(amqp_addr, mh_amqp_addr_parse_sdk_addresses_succeeds)
{
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        mh_amqp_addr a;
        cr_assert_eq(mh_amqp_addr_parse(addrs[i].address, &a), MH_OK, "%s", addrs[i].address);
        cr_assert_eq(a.node, addrs[i].node, "%s", addrs[i].address);
        cr_assert_str_eq(a.entity, addrs[i].entity, "%s", addrs[i].address);
        cr_assert_str_eq(a.group, addrs[i].group, "%s", addrs[i].address);
        cr_assert_eq(a.partition, addrs[i].partition, "%s", addrs[i].address);
    }
}

Test(amqp_addr, mh_amqp_addr_parse_bad_partition_fails)
{
    mh_amqp_addr a;
    cr_assert_eq(mh_amqp_addr_parse("hub/ConsumerGroups/$default/Partitions/x", &a), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_amqp_addr_parse("hub/ConsumerGroups/$default/Partitions/-1", &a),
                 MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_amqp_addr_parse(NULL, &a), MH_ERR_ARGUMENT_NULL);
    char longaddr[1100];
    memset(longaddr, 'a', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    cr_assert_eq(mh_amqp_addr_parse(longaddr, &a), MH_ERR_ARGUMENT_INVALID);
}

struct pos_vec {
    const char *selector;
    mh_eh_from from;
    int inclusive;
    long long value;
};

static const struct pos_vec positions[] = {
    {"amqp.annotation.x-opt-offset > '-1'", MH_EH_FROM_START, 0, -1},   /* earliest */
    {"amqp.annotation.x-opt-offset > '@latest'", MH_EH_FROM_END, 0, 0}, /* latest */
    {"amqp.annotation.x-opt-offset >= '17'", MH_EH_FROM_OFFSET, 1, 17},
    {"amqp.annotation.x-opt-sequence-number > '42'", MH_EH_FROM_SEQ, 0, 42}, /* Node resume */
    {"amqp.annotation.x-opt-enqueued-time > '1700000000000'", MH_EH_FROM_TIME, 0, 1700000000000LL},
    {"amqp.annotation.x-opt-enqueuedtimeutc > 1700000000000", MH_EH_FROM_TIME, 0,
     1700000000000LL}, /* az CLI */
    {"", MH_EH_FROM_END, 0, 0},
};

Test(amqp_addr, mh_eh_position_parse_sdk_filters_succeeds)
{
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        mh_eh_position p;
        cr_assert_eq(mh_eh_position_parse(positions[i].selector, &p), MH_OK, "%s", positions[i].selector);
        cr_assert_eq(p.from, positions[i].from, "%s", positions[i].selector);
        cr_assert_eq(p.inclusive, positions[i].inclusive, "%s", positions[i].selector);
        if (p.from != MH_EH_FROM_END)
            cr_assert_eq(p.value, positions[i].value, "%s", positions[i].selector);
    }
}

Test(amqp_addr, mh_eh_position_parse_other_filters_fails)
{
    mh_eh_position p;
    cr_assert_eq(mh_eh_position_parse("amqp.annotation.x-opt-partition-key > '1'", &p),
                 MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_eh_position_parse("amqp.annotation.x-opt-offset < '1'", &p), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_eh_position_parse("amqp.annotation.x-opt-offset > 'abc'", &p), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_eh_position_parse("amqp.annotation.x-opt-offset > '1", &p), MH_ERR_ARGUMENT_INVALID);
}

Test(amqp_addr, mh_eh_partition_stable_succeeds)
{
    int p = mh_eh_partition("dev1", 4);
    cr_assert(p >= 0 && p < 4);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mh_eh_partition("dev1", 4), p);
    cr_assert_eq(mh_eh_partition("dev1", 1), 0);
    int seen[4] = {0};
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "device-%d", i);
        seen[mh_eh_partition(id, 4)]++;
    }
    for (int i = 0; i < 4; i++)
        cr_assert(seen[i] > 0, "partition %d never used", i);
}

Test(amqp_addr, mh_eh_entity_name_first_label_succeeds)
{
    char out[64];
    mh_eh_entity_name("MyHub.azure-devices.net", out, sizeof out);
    cr_assert_str_eq(out, "myhub");
    mh_eh_entity_name("localhost", out, sizeof out);
    cr_assert_str_eq(out, "localhost");
}
