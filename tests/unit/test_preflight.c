/* Unit tests for preflight.c: the data dir checks on a temp dir, and the port explanations (the
 * probe itself binds ports, so tests/integration/startup.test.js covers it in a network namespace). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preflight.h"

static void temp_dir(char *out, size_t outsz)
{
    snprintf(out, outsz, "/tmp/mh-preflight-test-XXXXXX");
    cr_assert_not_null(mkdtemp(out));
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

Test(preflight, mh_preflight_data_dir_creates_parents_succeeds)
{
    char base[64], dir[128];
    temp_dir(base, sizeof base);
    snprintf(dir, sizeof dir, "%s/a/b", base);
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_data_dir(dir, &st), MH_OK, "%s", st.text);
    struct stat sb;
    cr_assert_eq(stat(dir, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));
    cr_assert_eq(entries(dir), 0, "the write probe file is removed");
    rm_tree(base);
}

Test(preflight, mh_preflight_data_dir_file_in_the_way_fails)
{
    char base[64], file[96], dir[128], want[512];
    temp_dir(base, sizeof base);
    snprintf(file, sizeof file, "%s/f", base);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub/data", file);
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_data_dir(dir, &st), MH_ERR_ARGUMENT_INVALID);
    snprintf(want, sizeof want,
             "cannot create the data dir %s: Not a directory (%s is a file): remove that file, or set "
             "MOCKHUB_DATA_DIR to another directory",
             dir, file);
    cr_assert_str_eq(st.text, want);
    rm_tree(base);
}

Test(preflight, mh_preflight_data_dir_is_a_file_fails)
{
    char base[64], file[96];
    temp_dir(base, sizeof base);
    snprintf(file, sizeof file, "%s/f", base);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_data_dir(file, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "is a file, not a directory"), "%s", st.text);
    cr_assert_not_null(strstr(st.text, file), "%s", st.text);
    rm_tree(base);
}

Test(preflight, mh_preflight_data_dir_empty_fails)
{
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_data_dir("", &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "MOCKHUB_DATA_DIR is empty"), "%s", st.text);
}

Test(preflight, mh_preflight_port_explain_permission_denied_fails)
{
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_port_explain(443, "HTTPS", "MOCKHUB_HTTPS_PORT", EACCES, &st),
                 MH_ERR_UNAVAILABLE);
    const char *want[] = {"cannot bind HTTPS port 443: permission denied", "run as root",
                          "setcap cap_net_bind_service=+ep /", "set MOCKHUB_HTTPS_PORT above 1023"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_not_null(strstr(st.text, want[i]), "missing '%s' in: %s", want[i], st.text);
    cr_assert_null(strchr(st.text, '\n'), "one line");
}

Test(preflight, mh_preflight_port_explain_in_use_fails)
{
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_port_explain(8883, "MQTT", "MOCKHUB_MQTT_PORT", EADDRINUSE, &st),
                 MH_ERR_UNAVAILABLE);
    cr_assert_str_eq(st.text,
                     "MQTT port 8883 is already in use by another process (another mockhub, broker or "
                     "web server? `ss -ltnp 'sport = :8883'` shows which): stop it, or pick a free port "
                     "with MOCKHUB_MQTT_PORT");
}

Test(preflight, mh_preflight_port_explain_other_errno_fails)
{
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_preflight_port_explain(8443, "HTTPS", "MOCKHUB_HTTPS_PORT", EADDRNOTAVAIL, &st),
                 MH_ERR_UNAVAILABLE);
    char want[256];
    snprintf(want, sizeof want,
             "cannot bind HTTPS port 8443: %s (set MOCKHUB_HTTPS_PORT to use another port)",
             strerror(EADDRNOTAVAIL));
    cr_assert_str_eq(st.text, want);
}
