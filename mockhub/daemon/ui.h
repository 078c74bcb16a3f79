/* ui.h - MOCK: the web dashboard at /ui on the HTTPS port (ui.c): a login page (the only thing served
 * without a credential), the dashboard's files embedded in the binary (mockhub/daemon/ui/, turned
 * into ui_assets.c at build time by scripts/embed_assets.sh), a session cookie holding the SAS
 * token the login made, and the live log as Server-Sent Events (activity.h). The dashboard itself
 * calls the ordinary REST API with that token.
 */
#ifndef MH_UI_H
#define MH_UI_H

#include <stddef.h>

#include "http.h"

typedef struct mh_hub mh_hub;

/* One embedded file (ui_assets.c, generated). */
typedef struct mh_ui_asset {
    const char *name; /* "login.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} mh_ui_asset;

extern const mh_ui_asset mh_ui_assets[];
extern const size_t mh_ui_asset_count;

/* The routes (routes.c's table; they check the session themselves). */
void mh_ui_r_get(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_ui_r_session(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);

#endif
