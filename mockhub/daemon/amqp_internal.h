/* amqp_internal.h - what amqp.c (sockets, TLS, SASL, the event loop) and amqp_nodes.c (the nodes:
 * $cbs, $management, C2D, feedback, partitions) share. Not for use outside them.
 */
#ifndef MH_AMQP_INTERNAL_H
#define MH_AMQP_INTERNAL_H

#include <proton/connection_driver.h>
#include <proton/engine.h>

#include "amqp.h"
#include "amqp_addr.h"
#include "hub_internal.h"

/* One client connection. */
typedef struct mh_amqp_conn {
    struct mh_amqp_conn *next;
    mh_amqp *amqp;
    mh_hub *hub;
    int id;
    unsigned rights;       /* MH_RIGHT_* granted by SASL PLAIN or CBS */
    long long auth_expiry; /* seconds since the epoch; 0: never authenticated */
    long long opened_ms;   /* monotonic */
    pn_connection_driver_t driver;
} mh_amqp_conn;

/* What a link of ours serves (pn_link_get_context). */
typedef struct mh_amqp_link {
    mh_amqp_node node;
    int partition;
    long long after_seq; /* partition: last sequence number sent */
} mh_amqp_link;

long long mh_amqp_now_ms(void); /* realtime, ms since the epoch */

/* amqp_nodes.c: a remote attach (termini already copied, link not opened yet): classifies the
 * address, opens the link or refuses it (opened then closed with a condition). */
void mh_amqp_on_attach(mh_amqp_conn *c, pn_link_t *link);
/* A complete incoming delivery on one of our receiving links. */
void mh_amqp_on_delivery(mh_amqp_conn *c, pn_link_t *link, pn_delivery_t *d);
/* A sending link may send (credit or new data). */
void mh_amqp_pump(mh_amqp_conn *c, pn_link_t *link);
/* Once a second: detaches links whose token expired. */
void mh_amqp_check_expiry(mh_amqp_conn *c, long long now_s);
/* A token presented by SASL PLAIN or CBS: grants its rights to the connection. */
mh_err mh_amqp_authorize(mh_amqp_conn *c, const char *token, mh_status *st);

#endif
